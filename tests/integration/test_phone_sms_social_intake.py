"""Phone, SMS and social in: signed JSON webhooks become envelopes, then messages
on the customer's conversation, each stored once; call events keep one record
per call whatever order they arrive in; replies leave through the provider."""

import hashlib
import hmac
import itertools
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

import pods.selectors
import pods.services
import tickets.services
from pods.models import Customer, CustomerIdentity
from tests import factories
from tests.conftest import require_postgres
from tickets import outbound, rules
from tickets.models import CallRecord, InboundEnvelope, Message, Ticket, WebhookSecret

PHONE_SECRET = "phone-secret-2026"
SMS_SECRET = "sms-secret-2026"
SOCIAL_SECRET = "mastodon-secret-2026"
CALLER = "+447700900123"
State = InboundEnvelope.State


@pytest.fixture(autouse=True)
def secrets(db, settings):
    settings.HELPDESK = {
        **settings.HELPDESK,
        "WEBHOOK_SECRETS": {"PHONE": PHONE_SECRET, "SMS": SMS_SECRET, "SOCIAL": ""},
    }
    # Social secrets are per provider, from admin.
    WebhookSecret.objects.create(
        channel="SOCIAL", provider="mastodon", secret=SOCIAL_SECRET
    )


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3, name="Mercury")


def signed(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post(
    client: Client,
    path: str,
    payload: dict | None = None,
    *,
    raw: bytes | None = None,
    secret: str | None = None,
    signature: str | None = None,
):
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = {}
    if signature is not None:
        headers["HTTP_X_HELPDESK_SIGNATURE"] = signature
    elif secret is not None:
        headers["HTTP_X_HELPDESK_SIGNATURE"] = signed(body, secret)
    return client.post(path, data=body, content_type="application/json", **headers)


def sms_payload(**fields) -> dict:
    return {"id": "SM1", "provider": "acme", "from": CALLER, "text": "Hi"} | fields


def social_payload(**fields) -> dict:
    return {
        "id": "DM1",
        "from": {"id": "98765", "handle": "ada", "name": "Ada Lovelace"},
        "text": "My meter reads zero",
    } | fields


def call_payload(event: str, **fields) -> dict:
    return {"event": event, "call_id": "CA1", "from": CALLER} | fields


WEBHOOKS = {
    "phone": ("/inbound/phone/", call_payload("ringing"), PHONE_SECRET),
    "sms": ("/inbound/sms/", sms_payload(), SMS_SECRET),
    "social": ("/inbound/social/mastodon/", social_payload(), SOCIAL_SECRET),
}


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """Post a signed webhook and run what its commit queued (processing, in
    tests inline), as the worker would."""

    def run(channel: str, payload: dict | None = None, **options):
        path, default, secret = WEBHOOKS[channel]
        if channel == "social" and "provider" in options:
            path = f"/inbound/social/{options.pop('provider')}/"
        with django_capture_on_commit_callbacks(execute=True):
            return post(
                client,
                path,
                default if payload is None else payload,
                secret=options.pop("secret", secret),
                **options,
            )

    return run


def envelope_of(response) -> InboundEnvelope:
    return InboundEnvelope.objects.get(id=response.json()["envelope"])


class TestWebhookSignature:
    @pytest.mark.parametrize("channel", WEBHOOKS)
    @pytest.mark.parametrize(
        "signature", [None, "sha256=" + "0" * 64, "sha256=", "md5=abc"]
    )
    def test_missing_or_wrong_signature_is_401_and_stores_nothing(
        self, client, pod, channel, signature
    ):
        path, payload, _ = WEBHOOKS[channel]

        response = post(client, path, payload, signature=signature)

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "bad_signature"
        assert not InboundEnvelope.objects.exists()
        assert not Message.objects.exists()

    def test_another_channels_secret_does_not_sign(self, client, pod):
        response = post(
            client, "/inbound/phone/", call_payload("ringing"), secret=SMS_SECRET
        )

        assert response.status_code == 401
        assert not InboundEnvelope.objects.exists()

    def test_one_social_providers_secret_does_not_sign_for_another(self, client, pod):
        WebhookSecret.objects.create(channel="SOCIAL", provider="other", secret="o")

        response = post(
            client, "/inbound/social/mastodon/", social_payload(), secret="o"
        )

        assert response.status_code == 401
        assert not InboundEnvelope.objects.exists()

    def test_an_environment_secret_signs(self, client, pod, settings):
        settings.HELPDESK = {
            **settings.HELPDESK,
            "WEBHOOK_SECRETS": {"SOCIAL": "env-social"},
        }

        response = post(
            client, "/inbound/social/mastodon/", social_payload(), secret="env-social"
        )

        assert response.status_code == 202

    def test_an_oversized_body_is_413_and_stores_nothing(self, client, pod, settings):
        settings.HELPDESK = {**settings.HELPDESK, "MAX_INBOUND_BYTES": 100}

        response = post(
            client, "/inbound/sms/", sms_payload(text="x" * 200), secret=SMS_SECRET
        )

        assert response.status_code == 413
        assert not InboundEnvelope.objects.exists()

    def test_a_provider_name_that_cannot_be_one_is_404(self, client, pod):
        response = post(
            client,
            f"/inbound/social/{'a' * 41}/",
            social_payload(),
            secret=SOCIAL_SECRET,
        )

        assert response.status_code == 404
        assert not InboundEnvelope.objects.exists()


class TestMalformedBody:
    @pytest.mark.parametrize("channel", WEBHOOKS)
    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (b"{not json", "the body is not valid JSON"),
            (b"[]", "the body must be a JSON object"),
            (b"", "the body is not valid JSON"),
        ],
    )
    def test_is_400_with_the_reason_and_the_envelope_kept_failed(
        self, client, pod, channel, raw, reason
    ):
        path, _, secret = WEBHOOKS[channel]

        response = post(client, path, raw=raw, secret=secret)

        assert response.status_code == 400
        assert response.json()["error"]["code"] == "malformed"
        assert reason in response.json()["error"]["message"]
        envelope = InboundEnvelope.objects.get()
        assert envelope.state == State.FAILED
        assert reason in envelope.error
        assert bytes(envelope.raw) == raw
        assert not Message.objects.exists()
        assert not Ticket.objects.exists()

    @pytest.mark.parametrize(
        ("channel", "fields", "reason"),
        [
            ("phone", {"event": "hold"}, "'event' must be one of ringing, answered"),
            ("phone", {"call_id": None}, "'call_id' must be a string"),
            ("phone", {"from": "nobody"}, "'from' must be a phone number in E.164"),
            ("phone", {"to": "x"}, "'to' must be a phone number"),
            ("phone", {"duration": -5}, "'duration' must be a number of seconds"),
            ("phone", {"recording_url": "http://r.example/1"}, "'recording_url'"),
            ("phone", {"agent": ["a"]}, "'agent' must be the answering agent's"),
            ("phone", {"occurred_at": "10:00"}, "'occurred_at' must be an ISO 8601"),
            ("sms", {"id": ""}, "'id' must be a string of 1-200"),
            ("sms", {"from": "+44"}, "'from' must be a phone number"),
            ("sms", {"text": ""}, "'text' must be a string of 1-10000 characters"),
            ("sms", {"text": "x" * 10_001}, "'text' must be a string of 1-10000"),
            ("sms", {"media": [{"url": "http://m.example/a"}]}, "'media[0].url'"),
            ("sms", {"received_at": "soon"}, "'received_at' must be an ISO 8601"),
            ("social", {"from": {"id": "a b"}}, "'from.id' must be 1-200"),
            ("social", {"from": None}, "'from' must be an object"),
            ("social", {"text": 5}, "'text' must be a string"),
        ],
    )
    def test_an_invalid_field_is_400_naming_it(
        self, client, pod, channel, fields, reason
    ):
        path, payload, secret = WEBHOOKS[channel]
        if channel == "phone":
            payload = call_payload("ringing")

        response = post(client, path, payload | fields, secret=secret)

        assert response.status_code == 400
        assert reason in response.json()["error"]["message"]
        envelope = InboundEnvelope.objects.get()
        assert (envelope.state, envelope.error) == (
            State.FAILED,
            response.json()["error"]["message"],
        )
        assert not Message.objects.exists()


class TestRedelivery:
    @pytest.mark.parametrize("channel", WEBHOOKS)
    def test_the_same_event_again_is_200_duplicate_with_no_new_rows(
        self, deliver, pod, channel
    ):
        first = deliver(channel)
        counts = (
            InboundEnvelope.objects.count(),
            Message.objects.count(),
            Ticket.objects.count(),
        )

        again = deliver(channel)

        assert first.status_code == 202
        assert again.status_code == 200
        assert again.json() == {
            "envelope": first.json()["envelope"],
            "state": State.PROCESSED,
            "duplicate": True,
        }
        assert counts == (1, 1, 1)
        assert (
            InboundEnvelope.objects.count(),
            Message.objects.count(),
            Ticket.objects.count(),
        ) == counts

    def test_the_same_sms_in_another_key_order_is_a_duplicate(self, deliver, pod):
        deliver("sms", sms_payload())
        reordered = dict(reversed(sms_payload().items()))

        again = deliver("sms", reordered)

        assert again.status_code == 200
        assert again.json()["duplicate"] is True
        assert Message.objects.count() == 1

    def test_the_same_sms_id_through_two_envelopes_is_one_message(self, pod, now):
        raw = json.dumps(sms_payload()).encode()
        reordered = json.dumps(dict(reversed(sms_payload().items()))).encode()
        first, second = (
            tickets.services.envelope_receive(
                channel="SMS", source=InboundEnvelope.Source.FILE, raw=body, now=now
            ).envelope
            for body in (raw, reordered)
        )

        stored = tickets.services.envelope_process(envelope_id=first.id, now=now)
        repeated = tickets.services.envelope_process(envelope_id=second.id, now=now)

        assert first.id != second.id
        assert stored.state == State.PROCESSED
        assert repeated.state == State.DUPLICATE
        assert repeated.message_id == stored.message_id
        assert Message.objects.count() == 1

    def test_the_same_message_id_from_two_sms_providers_is_two_messages(
        self, deliver, pod
    ):
        deliver("sms", sms_payload(provider="acme"))
        other = deliver("sms", sms_payload(provider="other", text="Again"))

        assert other.status_code == 202
        assert Message.objects.count() == 2

    def test_an_event_of_another_call_with_a_look_alike_key_is_not_a_duplicate(
        self, deliver, pod
    ):
        deliver("phone", call_payload("ringing", provider="acme", call_id="CA1"))
        other = deliver("phone", call_payload("ringing", call_id="acme:CA1"))

        assert other.status_code == 202
        assert CallRecord.objects.count() == 2


class TestSmsIntake:
    def test_a_new_number_becomes_a_customer_and_an_sms_ticket(self, deliver, pod):
        response = deliver(
            "sms",
            sms_payload(
                to="+447700900999",
                text="Boiler broken\nsince Monday",
                received_at="2024-05-01T09:00:00Z",
                media=[
                    {"url": "https://m.example/p.jpg", "content_type": "image/jpeg"}
                ],
            ),
        )

        envelope = envelope_of(response)
        assert envelope.state == State.PROCESSED
        ticket = envelope.ticket
        assert (ticket.channel, ticket.subject, ticket.pod_id) == (
            Ticket.Channel.SMS,
            "Boiler broken",
            pod.id,
        )
        assert pods.selectors.customer_identities(customer_id=ticket.customer_id) == [
            ("PHONE", CALLER)
        ]
        message = envelope.message
        assert message.direction == Message.Direction.INBOUND
        assert message.text == (
            "Boiler broken\nsince Monday\n[image/jpeg] https://m.example/p.jpg"
        )
        assert (message.external_id, message.author_address) == ("SM1", CALLER)
        assert message.dedupe_key == rules.provider_dedupe_key(
            provider="acme", external_id="SM1"
        )
        assert message.headers["to"] == "+447700900999"
        assert message.headers["received_at"] == "2024-05-01T09:00:00+00:00"

    def test_the_next_sms_continues_the_open_ticket(self, deliver, pod):
        first = envelope_of(deliver("sms", sms_payload(id="SM1")))

        second = envelope_of(
            deliver("sms", sms_payload(id="SM2", **{"from": "07700 900123"}))
        )

        assert second.ticket_id == first.ticket_id
        assert Ticket.objects.count() == 1
        assert Message.objects.filter(ticket_id=first.ticket_id).count() == 2

    def test_an_sms_after_the_ticket_is_solved_opens_another(self, deliver, pod, now):
        first = envelope_of(deliver("sms", sms_payload(id="SM1")))
        tickets.services.ticket_solve(ticket=first.ticket, now=now)

        second = envelope_of(deliver("sms", sms_payload(id="SM2")))

        assert second.ticket_id != first.ticket_id
        assert second.ticket.customer_id == first.ticket.customer_id

    def test_media_links_are_stored_never_fetched(self, deliver, pod, monkeypatch):
        import socket

        def no_network(*args, **kwargs):
            raise AssertionError("an inbound SMS must not open a connection")

        monkeypatch.setattr(socket, "create_connection", no_network)
        monkeypatch.setattr(socket.socket, "connect", no_network)

        response = deliver(
            "sms",
            sms_payload(
                media=[{"url": "https://169.254.169.254/x", "content_type": "a/b"}]
            ),
        )

        assert envelope_of(response).state == State.PROCESSED


@pytest.mark.django_db(transaction=True)
class TestConcurrentDelivery:
    def test_twenty_sms_from_one_new_number_make_one_customer_and_one_ticket(
        self, run_concurrently
    ):
        require_postgres()
        factories.staffed_pod(size=3)

        def send(index: int) -> int:
            response = post(
                Client(),
                "/inbound/sms/",
                sms_payload(id=f"SM{index}", text=f"message {index}"),
                secret=SMS_SECRET,
            )
            return response.status_code

        statuses = run_concurrently(send, count=20)

        assert statuses == [202] * 20
        assert set(InboundEnvelope.objects.values_list("state", flat=True)) == {
            State.PROCESSED
        }
        identity = CustomerIdentity.objects.get(kind="PHONE", value=CALLER)
        assert Customer.objects.count() == 1
        ticket = Ticket.objects.get()
        assert (ticket.customer_id, ticket.status in Ticket.OPEN_STATUSES) == (
            identity.customer_id,
            True,
        )
        assert Message.objects.filter(ticket=ticket).count() == 20

    def test_one_sms_through_racing_envelopes_is_stored_once(self, run_concurrently):
        require_postgres()
        factories.staffed_pod(size=3)
        orders = list(itertools.permutations(sms_payload().items()))[:6]

        def receive(index: int) -> str:
            # Different bytes, so six envelopes: only the message key is shared.
            raw = json.dumps(dict(orders[index])).encode()
            return tickets.services.envelope_receive(
                channel="SMS",
                source=InboundEnvelope.Source.FILE,
                raw=raw,
                now=timezone.now(),
            ).envelope.state

        run_concurrently(receive, count=len(orders))

        states = sorted(InboundEnvelope.objects.values_list("state", flat=True))
        assert states == [State.DUPLICATE] * 5 + [State.PROCESSED]
        assert Message.objects.count() == 1

    def test_events_of_one_call_racing_make_one_record(self, run_concurrently):
        require_postgres()
        pod = factories.staffed_pod(size=3)
        events = [
            call_payload("ringing", occurred_at="2024-05-01T09:00:00Z"),
            call_payload(
                "answered",
                agent=pod.lead.user.username,
                occurred_at="2024-05-01T09:00:05Z",
            ),
            call_payload("ended", duration=30, occurred_at="2024-05-01T09:00:35Z"),
        ]

        def send(index: int) -> int:
            return post(
                Client(), "/inbound/phone/", events[index], secret=PHONE_SECRET
            ).status_code

        statuses = run_concurrently(send, count=len(events))

        assert statuses == [202] * 3
        assert set(InboundEnvelope.objects.values_list("state", flat=True)) == {
            State.PROCESSED
        }
        call = CallRecord.objects.get()
        assert (call.state, call.agent_id, call.duration_seconds) == (
            CallRecord.State.ENDED,
            pod.lead.id,
            30,
        )
        assert (Ticket.objects.count(), Message.objects.count()) == (1, 1)


class TestSocialIntake:
    def test_a_direct_message_becomes_a_social_ticket(self, deliver, pod):
        response = deliver("social", social_payload(thread_id="T-9"))

        envelope = envelope_of(response)
        assert (envelope.state, envelope.provider) == (State.PROCESSED, "mastodon")
        ticket = envelope.ticket
        assert ticket.channel == Ticket.Channel.SOCIAL
        customer = pods.selectors.customer_lookup(kind="SOCIAL", value="mastodon:98765")
        assert customer.id == ticket.customer_id
        assert customer.display_name == "Ada Lovelace"
        message = envelope.message
        assert (message.author_name, message.author_address) == (
            "Ada Lovelace",
            "@ada",
        )
        assert message.headers["thread_id"] == "T-9"

    def test_a_changed_handle_is_still_the_same_customer(self, deliver, pod):
        first = envelope_of(deliver("social", social_payload(id="DM1")))
        renamed = social_payload(id="DM2")
        renamed["from"] = {"id": "98765", "handle": "countess"}

        second = envelope_of(deliver("social", renamed))

        assert second.ticket_id == first.ticket_id

    def test_the_same_user_id_on_another_network_is_another_customer(
        self, deliver, pod
    ):
        WebhookSecret.objects.create(
            channel="SOCIAL", provider="bluesky", secret="bsky"
        )
        first = envelope_of(deliver("social"))

        second = envelope_of(deliver("social", provider="BlueSky", secret="bsky"))

        assert second.provider == "bluesky"
        assert second.ticket.customer_id != first.ticket.customer_id


class TestCallLifecycle:
    def test_ringing_answered_ended_is_one_ticket_message_and_record(
        self, deliver, pod
    ):
        agent = pod.lead
        deliver(
            "phone",
            call_payload(
                "ringing", to="+442079460000", occurred_at="2024-05-01T09:00:00Z"
            ),
        )
        deliver(
            "phone",
            call_payload(
                "answered",
                agent=agent.user.username,
                occurred_at="2024-05-01T09:00:07Z",
            ),
        )
        ended = deliver(
            "phone",
            call_payload(
                "ended",
                duration=125,
                recording_url="https://rec.example/CA1.mp3",
                occurred_at="2024-05-01T09:02:12Z",
            ),
        )

        call = CallRecord.objects.get()
        assert call.state == CallRecord.State.ENDED
        assert call.agent_id == agent.id
        assert (call.from_number, call.to_number) == (CALLER, "+442079460000")
        assert call.started_at.isoformat() == "2024-05-01T09:00:00+00:00"
        assert call.answered_at.isoformat() == "2024-05-01T09:00:07+00:00"
        assert call.ended_at.isoformat() == "2024-05-01T09:02:12+00:00"
        assert (call.duration_seconds, call.recording_url) == (
            125,
            "https://rec.example/CA1.mp3",
        )
        ticket = Ticket.objects.get()
        assert (ticket.channel, call.ticket_id) == (Ticket.Channel.PHONE, ticket.id)
        message = Message.objects.get()
        assert (message.id, message.text) == (
            call.message_id,
            f"Incoming call from {CALLER}",
        )
        assert envelope_of(ended).message_id == message.id
        assert set(InboundEnvelope.objects.values_list("state", flat=True)) == {
            State.PROCESSED
        }

    def test_events_out_of_order_end_the_same(self, deliver, pod):
        agent = pod.lead
        deliver(
            "phone",
            call_payload("ended", duration=60, occurred_at="2024-05-01T09:01:05Z"),
        )
        deliver(
            "phone",
            call_payload(
                "answered", agent=agent.id, occurred_at="2024-05-01T09:00:05Z"
            ),
        )
        deliver("phone", call_payload("ringing", occurred_at="2024-05-01T09:00:00Z"))

        call = CallRecord.objects.get()
        assert call.state == CallRecord.State.ENDED
        assert call.agent_id == agent.id
        assert call.started_at.isoformat() == "2024-05-01T09:00:00+00:00"
        assert call.answered_at.isoformat() == "2024-05-01T09:00:05+00:00"
        assert call.duration_seconds == 60
        assert (Ticket.objects.count(), Message.objects.count()) == (1, 1)

    def test_answered_with_no_ringing_records_the_call(self, deliver, pod, now):
        deliver("phone", call_payload("answered"))

        call = CallRecord.objects.get()
        assert call.state == CallRecord.State.ANSWERED
        assert call.answered_at == call.started_at
        assert abs(call.started_at - now) < timedelta(minutes=1)

    def test_a_missed_call_stays_missed(self, deliver, pod):
        deliver("phone", call_payload("ringing"))
        deliver("phone", call_payload("missed"))
        deliver("phone", call_payload("ended"))

        call = CallRecord.objects.get()
        assert call.state == CallRecord.State.MISSED
        assert call.answered_at is None

    def test_a_second_call_continues_the_open_phone_ticket(self, deliver, pod):
        deliver("phone", call_payload("ringing", call_id="CA1"))

        deliver("phone", call_payload("ringing", call_id="CA2"))

        assert Ticket.objects.count() == 1
        assert CallRecord.objects.count() == Message.objects.count() == 2

    def test_a_later_event_is_a_few_queries_on_the_call_record(
        self, deliver, pod, now, django_assert_max_num_queries
    ):
        deliver("phone", call_payload("ringing"))
        envelope = tickets.services.envelope_receive(
            channel="PHONE",
            source=InboundEnvelope.Source.FILE,
            raw=json.dumps(call_payload("ended", duration=3)).encode(),
            now=now,
        ).envelope

        # Lock and save the envelope, lock and update the record: no ticket,
        # customer or routing reads once the call is known.
        with django_assert_max_num_queries(8):
            tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert CallRecord.objects.get().state == CallRecord.State.ENDED

    def test_an_unknown_agent_is_noted_and_the_call_kept(self, deliver, pod):
        response = deliver("phone", call_payload("answered", agent="nobody"))

        envelope = envelope_of(response)
        assert envelope.state == State.PROCESSED
        assert "no active agent nobody" in envelope.error
        assert CallRecord.objects.get().agent_id is None

    def test_agents_add_call_notes_on_the_calls_ticket(self, deliver, pod, now):
        deliver("phone", call_payload("ringing"))
        call = CallRecord.objects.get()

        note = tickets.services.note_add(
            ticket=call.ticket, agent_id=pod.lead_id, text="Wants a callback", now=now
        )

        assert (note.direction, note.channel, note.ticket_id) == (
            Message.Direction.NOTE,
            Ticket.Channel.PHONE,
            call.ticket_id,
        )
        assert note.delivery == Message.Delivery.NOT_SENT


class TestScreenPop:
    @pytest.fixture
    def published(self, monkeypatch):
        sent = []
        monkeypatch.setattr(
            pods.services,
            "user_event_publish",
            lambda **kwargs: sent.append(("user", kwargs["user_id"], kwargs["event"])),
        )
        original = pods.services.pod_event_publish

        def pod_publish(*, pod_id, event):
            if event["kind"] == "call.ringing":
                sent.append(("pod", pod_id, event))
            else:
                original(pod_id=pod_id, event=event)

        monkeypatch.setattr(pods.services, "pod_event_publish", pod_publish)
        return sent

    def test_ringing_pops_the_card_for_the_named_agent(
        self, deliver, pod, now, published
    ):
        previous = tickets.services.ticket_open(
            identities=[("PHONE", CALLER), ("EMAIL", "ada@example.com")],
            channel=Ticket.Channel.EMAIL,
            subject="Bill too high",
            display_name="Ada Lovelace",
            now=now - timedelta(days=3),
        ).ticket
        agent = pod.lead

        deliver("phone", call_payload("ringing", agent=agent.user.username))

        ((audience, user_id, event),) = published
        call = CallRecord.objects.get()
        assert (audience, user_id) == ("user", agent.user_id)
        assert event["kind"] == "call.ringing"
        assert (event["ticket_id"], event["call_id"]) == (call.ticket_id, "CA1")
        assert event["text"] == "Call from Ada Lovelace"
        assert event["customer"] == {
            "id": previous.customer_id,
            "name": "Ada Lovelace",
            "pod": {"id": pod.id, "name": "Mercury"},
            "identities": [
                {"kind": "PHONE", "value": CALLER},
                {"kind": "EMAIL", "value": "ada@example.com"},
            ],
            "open_tickets": 2,
            "last_ticket": {
                "id": previous.id,
                "subject": "Bill too high",
                "status": previous.status,
                "channel": "EMAIL",
                "created_at": previous.created_at.isoformat(),
            },
        }
        json.dumps(event)  # travels through the Redis channel layer

    def test_ringing_for_no_named_agent_pops_for_the_pod(self, deliver, pod, published):
        deliver("phone", call_payload("ringing"))

        ((audience, pod_id, event),) = published
        assert (audience, pod_id) == ("pod", pod.id)
        assert event["text"] == f"Call from {CALLER}"
        assert event["customer"]["last_ticket"] is None

    def test_answered_by_a_known_agent_pops_for_them(self, deliver, pod, published):
        deliver("phone", call_payload("ringing"))
        agent = pod.lead

        deliver("phone", call_payload("answered", agent=agent.user.username))

        assert [(audience, target) for audience, target, _ in published] == [
            ("pod", pod.id),
            ("user", agent.user_id),
        ]

    def test_a_late_ringing_after_the_call_ended_pops_nothing(
        self, deliver, pod, published
    ):
        deliver("phone", call_payload("ended"))

        deliver("phone", call_payload("ringing"))

        assert published == []


class RecordingProvider:
    """A reply provider that records what it sends."""

    sent: list[int] = []

    def send(self, *, message: Message) -> str:
        type(self).sent.append(message.id)
        return f"provider-{message.id}"


class FlakyProvider:
    """Fails with a connection error the first time, then sends."""

    calls = 0

    def send(self, *, message: Message) -> str:
        type(self).calls += 1
        if type(self).calls == 1:
            raise ConnectionError("provider unreachable")
        return "flaky-1"


class DownProvider:
    def send(self, *, message: Message) -> str:
        raise ConnectionError("provider down")


class TestSmsReply:
    @pytest.fixture
    def sms_ticket(self, deliver, pod) -> Ticket:
        return envelope_of(deliver("sms")).ticket

    def reply(self, ticket, pod, now, capture) -> Message:
        with capture(execute=True):
            message = tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="On our way", now=now
            )
        message.refresh_from_db()
        return message

    def attempt(self, message: Message) -> Message:
        """One more delivery attempt, as the retry or the outbound sweep makes."""
        outbound.deliver_reply.apply(kwargs={"message_id": message.id})
        message.refresh_from_db()
        return message

    def use(self, settings, provider: type) -> None:
        settings.HELPDESK = {
            **settings.HELPDESK,
            "REPLY_PROVIDERS": {
                **settings.HELPDESK["REPLY_PROVIDERS"],
                "SMS": f"{__name__}.{provider.__name__}",
            },
        }

    def test_is_delivered_through_the_configured_provider_once(
        self, sms_ticket, pod, now, settings, django_capture_on_commit_callbacks
    ):
        self.use(settings, RecordingProvider)
        RecordingProvider.sent = []

        message = self.reply(sms_ticket, pod, now, django_capture_on_commit_callbacks)
        again = outbound.deliver_reply.apply(kwargs={"message_id": message.id}).get()

        assert (message.channel, message.delivery) == (
            Ticket.Channel.SMS,
            Message.Delivery.SENT,
        )
        assert message.external_id == f"provider-{message.id}"
        assert RecordingProvider.sent == [message.id]
        assert again == "not queued"

    def test_the_logging_provider_is_the_default(
        self, sms_ticket, pod, now, django_capture_on_commit_callbacks, caplog
    ):
        caplog.set_level("INFO", logger="tickets.outbound")

        message = self.reply(sms_ticket, pod, now, django_capture_on_commit_callbacks)

        assert message.delivery == Message.Delivery.SENT
        assert message.external_id == f"logged-{message.id}"
        assert "On our way" in caplog.text

    def test_a_connection_error_leaves_it_queued_with_the_error(
        self, sms_ticket, pod, now, settings, django_capture_on_commit_callbacks
    ):
        self.use(settings, DownProvider)

        message = self.reply(sms_ticket, pod, now, django_capture_on_commit_callbacks)

        assert message.delivery == Message.Delivery.QUEUED
        assert message.delivery_attempts == 1
        assert message.delivery_error == "ConnectionError: provider down"
        assert message.sent_at is None

    def test_the_next_attempt_sends_a_queued_reply_once(
        self, sms_ticket, pod, now, settings, django_capture_on_commit_callbacks
    ):
        self.use(settings, FlakyProvider)
        FlakyProvider.calls = 0
        message = self.reply(sms_ticket, pod, now, django_capture_on_commit_callbacks)

        sent = self.attempt(message)
        self.attempt(sent)

        assert (sent.delivery, sent.external_id) == (Message.Delivery.SENT, "flaky-1")
        assert sent.delivery_error == ""
        assert FlakyProvider.calls == 2

    def test_a_provider_that_stays_down_fails_after_the_last_attempt(
        self, sms_ticket, pod, now, settings, django_capture_on_commit_callbacks
    ):
        self.use(settings, DownProvider)
        message = self.reply(sms_ticket, pod, now, django_capture_on_commit_callbacks)

        for _ in range(outbound.MAX_DELIVERY_ATTEMPTS - 1):
            message = self.attempt(message)

        assert message.delivery == Message.Delivery.FAILED
        assert message.delivery_attempts == outbound.MAX_DELIVERY_ATTEMPTS
        assert message.delivery_error == "ConnectionError: provider down"
