"""The web form and the API go through the durable pipeline: one envelope per
contact, one ticket per idempotency key, and nothing lost when processing fails."""

import hashlib
import json

import pytest
from django.db import OperationalError

import tickets.services
import tickets.services._web
from pods.models import Customer, CustomerIdentity
from tests import factories
from tests.conftest import require_postgres
from tickets.models import ContactReason, InboundEnvelope, Message, Ticket

State = InboundEnvelope.State


def contact(**fields) -> tickets.services.Contact:
    given = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "subject": "Meter reading",
        "text": "My meter reads 01234.",
        **fields,
    }
    return tickets.services.Contact(**given)


def submit(now, *, channel: str = "WEB", **fields) -> tickets.services.Submitted:
    return tickets.services.contact_submit(
        channel=channel, contact=contact(**fields), now=now
    )


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3)


@pytest.mark.django_db
class TestContactSubmit:
    def test_web_contact_becomes_a_ticket_with_its_message(self, pod, now):
        submitted = submit(now, idempotency_key="a" * 32)

        envelope = submitted.envelope
        ticket = Ticket.objects.get()
        message = Message.objects.get()
        assert submitted.created
        assert (envelope.state, envelope.channel, envelope.source) == (
            State.PROCESSED,
            "WEB",
            "FORM",
        )
        assert submitted.ticket_id == ticket.id == envelope.ticket_id
        assert (ticket.channel, ticket.subject, ticket.pod_id) == (
            "WEB",
            "Meter reading",
            pod.id,
        )
        assert (message.direction, message.channel, message.text) == (
            "INBOUND",
            "WEB",
            "My meter reads 01234.",
        )
        assert (message.author_name, message.author_address) == (
            "Ada Lovelace",
            "ada@example.com",
        )
        assert Customer.objects.get().display_name == "Ada Lovelace"

    def test_envelope_holds_the_documented_json_payload(self, pod, now):
        submitted = submit(now, idempotency_key="k1", reason=None)

        payload = json.loads(bytes(submitted.envelope.raw))

        assert payload == {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "",
            "subject": "Meter reading",
            "text": "My meter reads 01234.",
            "reason": None,
            "priority": "",
            "idempotency_key": "k1",
        }

    def test_repeat_with_the_same_key_is_the_same_ticket(self, pod, now):
        first = submit(now, idempotency_key="b" * 32)

        again = submit(now, idempotency_key="b" * 32)

        assert not again.created
        assert again.envelope.id == first.envelope.id
        assert again.ticket_id == first.ticket_id
        assert Ticket.objects.count() == Message.objects.count() == 1
        assert InboundEnvelope.objects.count() == 1

    def test_same_key_with_other_words_is_refused_and_nothing_is_added(self, pod, now):
        submit(now, idempotency_key="c" * 32)

        with pytest.raises(tickets.services.IdempotencyKeyReused):
            submit(now, idempotency_key="c" * 32, text="Something else entirely.")

        assert InboundEnvelope.objects.count() == Message.objects.count() == 1

    def test_identical_keyless_contacts_are_two_tickets(self, pod, now):
        first = submit(now, channel="API")
        second = submit(now, channel="API")

        assert first.ticket_id != second.ticket_id
        assert Ticket.objects.filter(channel="API").count() == 2

    def test_one_key_on_two_channels_is_two_contacts(self, pod, now):
        submit(now, channel="WEB", idempotency_key="shared")
        submit(now, channel="API", idempotency_key="shared")

        assert sorted(Ticket.objects.values_list("channel", flat=True)) == [
            "API",
            "WEB",
        ]

    def test_invalid_email_is_refused_before_anything_is_stored(self, pod, now):
        with pytest.raises(tickets.services.ContactInvalid) as refused:
            submit(now, email="not an address")

        assert refused.value.field == "email"
        assert not InboundEnvelope.objects.exists()
        assert not Customer.objects.exists()

    def test_invalid_phone_is_named_as_the_fault(self, pod, now):
        with pytest.raises(tickets.services.ContactInvalid) as refused:
            submit(now, channel="API", phone="call me maybe")

        assert refused.value.field == "phone"
        assert not InboundEnvelope.objects.exists()

    def test_contact_without_email_or_phone_is_refused(self, pod, now):
        with pytest.raises(tickets.services.ContactInvalid):
            submit(now, channel="API", email="")

        assert not InboundEnvelope.objects.exists()

    def test_api_contact_identifies_by_email_and_phone_with_its_priority(
        self, pod, now
    ):
        submitted = submit(
            now, channel="API", phone="+44 20 7946 0000", priority="HIGH"
        )

        ticket = Ticket.objects.get(id=submitted.ticket_id)
        assert (ticket.channel, ticket.priority) == ("API", "HIGH")
        assert submitted.envelope.source == "API"
        assert set(
            CustomerIdentity.objects.filter(customer_id=ticket.customer_id).values_list(
                "kind", "value"
            )
        ) == {("EMAIL", "ada@example.com"), ("PHONE", "+442079460000")}

    def test_known_customer_writes_into_their_own_pod(self, pod, now):
        other = factories.staffed_pod(size=3)
        first = submit(now, channel="API")

        second = submit(now, channel="WEB", idempotency_key="again")

        owner = Ticket.objects.get(id=first.ticket_id)
        assert owner.pod_id in {pod.id, other.id}
        assert Ticket.objects.get(id=second.ticket_id).customer_id == owner.customer_id
        assert Ticket.objects.get(id=second.ticket_id).pod_id == owner.pod_id

    def test_active_contact_reason_is_kept_and_inactive_is_ignored(self, pod, now):
        moving = ContactReason.objects.create(name="Moving home")
        retired = ContactReason.objects.create(name="Old tariff", active=False)

        kept = submit(now, idempotency_key="r1", reason=moving.id)
        ignored = submit(now, idempotency_key="r2", reason=retired.id)

        assert Ticket.objects.get(id=kept.ticket_id).contact_reason_id == moving.id
        assert Ticket.objects.get(id=ignored.ticket_id).contact_reason_id is None

    def test_a_contact_that_cannot_be_routed_is_kept_failed_with_the_reason(self, now):
        submitted = submit(now, idempotency_key="d" * 32)  # no pod exists at all

        envelope = InboundEnvelope.objects.get()
        assert submitted.ticket_id is None
        assert envelope.state == State.FAILED
        assert "NoPodAvailable" in envelope.error
        assert json.loads(bytes(envelope.raw))["text"] == "My meter reads 01234."
        assert not Ticket.objects.exists()

    def test_a_database_failure_while_processing_leaves_it_for_the_sweep(
        self, pod, now, monkeypatch
    ):
        def database_away(**kwargs):
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(tickets.services._web, "envelope_process", database_away)

        submitted = submit(now, idempotency_key="f" * 32)

        assert submitted.created
        assert submitted.ticket_id is None
        assert InboundEnvelope.objects.get().state == State.RECEIVED
        assert not Ticket.objects.exists()


@pytest.mark.django_db
class TestWebEnvelopeProcess:
    def receive(self, now, payload, *, channel="WEB", external_key=""):
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return tickets.services.envelope_receive(
            channel=channel,
            source="FORM" if channel == "WEB" else "API",
            raw=raw,
            now=now,
            external_key=external_key,
        ).envelope

    def test_malformed_payload_is_failed_with_its_reason(self, pod, now):
        envelope = self.receive(now, b"{not json")

        processed = tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert processed.state == State.FAILED
        assert "not a JSON contact" in processed.error
        assert not Ticket.objects.exists()

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            ({"email": "a@example.com", "text": ""}, "no text"),
            ({"text": "hello"}, "neither an email nor a phone"),
            ({"email": "a@example.com", "text": "x", "priority": "NOW"}, "priority"),
            ({"email": ["a@example.com"], "text": "x"}, "must be strings"),
            ({"email": "a@example.com", "text": "x", "reason": "1"}, "ContactReason"),
            (["a list"], "JSON object"),
        ],
    )
    def test_incomplete_payload_is_failed_with_its_reason(
        self, pod, now, payload, reason
    ):
        envelope = self.receive(now, payload)

        processed = tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert processed.state == State.FAILED
        assert reason in processed.error
        assert not Message.objects.exists()

    def test_processing_again_adds_nothing(self, pod, now):
        envelope = self.receive(now, {"email": "a@example.com", "text": "hi"})
        tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        again = tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert again.state == State.PROCESSED
        assert Message.objects.count() == 1

    def test_two_envelopes_of_one_keyed_contact_store_one_message(self, pod, now):
        payload = {"email": "a@example.com", "text": "hi", "idempotency_key": "k"}
        first = self.receive(now, payload, external_key="first")
        second = self.receive(now, payload, external_key="second")

        tickets.services.envelope_process(envelope_id=first.id, now=now)
        duplicate = tickets.services.envelope_process(envelope_id=second.id, now=now)

        message = Message.objects.get()
        expected = hashlib.sha256(b"WEB\0k").hexdigest()
        assert message.dedupe_key == expected == duplicate.meta["dedupe_key"]
        assert duplicate.state == State.DUPLICATE
        assert duplicate.message_id == message.id

    def test_keyless_contact_is_delivered_once_by_its_raw_bytes(self, pod, now):
        envelope = self.receive(now, {"email": "a@example.com", "text": "hi"})

        processed = tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert Message.objects.get().dedupe_key == processed.raw_sha256


@pytest.mark.django_db(transaction=True)
class TestConcurrentRepeats:
    def test_ten_simultaneous_submits_of_one_form_make_one_ticket(
        self, now, run_concurrently
    ):
        require_postgres()
        factories.staffed_pod(size=3)

        results = run_concurrently(
            lambda index: submit(now, idempotency_key="e" * 32), count=10
        )

        assert [r for r in results if isinstance(r, Exception)] == []
        assert {r.ticket_id for r in results} == {Ticket.objects.get().id}
        assert sum(r.created for r in results) == 1
        assert InboundEnvelope.objects.count() == Message.objects.count() == 1
