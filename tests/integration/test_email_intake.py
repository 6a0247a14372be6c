"""Email in: envelopes become messages on the right ticket, once."""

from datetime import timedelta

import pytest

import tickets.services
from tests import factories
from tickets.models import InboundEnvelope, Message, Ticket

pytestmark = pytest.mark.django_db

State = InboundEnvelope.State


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3)


def ingest(raw: bytes, now) -> InboundEnvelope:
    received = tickets.services.envelope_receive(
        channel="EMAIL", source=InboundEnvelope.Source.FILE, raw=raw, now=now
    )
    return tickets.services.envelope_process(envelope_id=received.envelope.id, now=now)


def reply_to(message: Message, **fields) -> bytes:
    return factories.email_bytes(
        in_reply_to=message.external_id, references=message.external_id, **fields
    )


class TestNewEmail:
    def test_becomes_a_ticket_in_the_customers_pod(self, pod, now):
        envelope = ingest(factories.email_bytes(subject="Meter reading"), now)

        assert envelope.state == State.PROCESSED
        ticket = envelope.ticket
        assert (ticket.pod_id, ticket.channel, ticket.subject) == (
            pod.id,
            "EMAIL",
            "Meter reading",
        )
        message = Message.objects.get(ticket=ticket)
        assert message.direction == Message.Direction.INBOUND
        assert "12345" in message.text
        assert message.author_address == "ann@customer.example"
        assert message.author_name == "Ann Lee"

    def test_keeps_attachments_under_generated_names(self, pod, now):
        raw = factories.email_bytes(
            attachments=[("../../etc/passwd.pdf", "application/pdf", b"%PDF-1.4 x")]
        )

        envelope = ingest(raw, now)

        attachment = envelope.message.attachments.get()
        assert attachment.name.endswith("passwd.pdf")
        assert "/" not in attachment.name
        assert ".." not in attachment.name
        assert ".." not in attachment.file.name
        assert attachment.file.name.startswith("attachments/")
        assert attachment.size == len(b"%PDF-1.4 x")
        assert attachment.file.read() == b"%PDF-1.4 x"

    def test_an_ambiguous_sender_is_quarantined_not_matched(self, pod, now):
        raw = factories.email_bytes(sender='"ann@customer.example"@evil.test')

        envelope = ingest(raw, now)

        assert envelope.state in (State.QUARANTINED, State.PROCESSED)
        if envelope.state == State.PROCESSED:
            # Parsed strictly, the address is the attacker's, never Ann's.
            assert envelope.message.author_address != "ann@customer.example"
        assert not Message.objects.filter(author_address="ann@customer.example")

    def test_an_automatic_reply_opens_nothing(self, pod, now):
        raw = factories.email_bytes(
            subject="Out of office", headers={"Auto-Submitted": "auto-replied"}
        )

        envelope = ingest(raw, now)

        assert envelope.state == State.IGNORED
        assert not Ticket.objects.exists()


class TestRedelivery:
    def test_the_same_bytes_are_stored_once(self, pod, now):
        raw = factories.email_bytes()
        first = tickets.services.envelope_receive(
            channel="EMAIL", source="FILE", raw=raw, now=now
        )

        again = tickets.services.envelope_receive(
            channel="EMAIL", source="FILE", raw=raw, now=now
        )

        assert first.created
        assert not again.created
        assert again.envelope.id == first.envelope.id
        assert InboundEnvelope.objects.count() == 1

    def test_the_same_message_by_another_route_is_a_duplicate(self, pod, now):
        raw = factories.email_bytes(message_id="<one@customer.example>")
        ingest(raw, now)

        envelope = ingest(b"Received: from relay.example\r\n" + raw, now)

        assert envelope.state == State.DUPLICATE
        assert Message.objects.count() == 1
        assert Ticket.objects.count() == 1

    def test_two_messages_sharing_an_id_are_both_kept_and_flagged(self, pod, now):
        ingest(factories.email_bytes(message_id="<same@x>", body="first"), now)

        envelope = ingest(
            factories.email_bytes(message_id="<same@x>", body="other"), now
        )

        assert envelope.state == State.PROCESSED
        assert Message.objects.count() == 2
        assert envelope.message.external_id_conflict

    def test_without_a_message_id_the_bytes_decide(self, pod, now):
        ingest(factories.email_bytes(message_id=None, body="a"), now)
        ingest(factories.email_bytes(message_id=None, body="b"), now)

        assert Message.objects.count() == 2


class TestThreading:
    def test_a_reply_from_the_customer_joins_their_ticket(self, pod, now):
        first = ingest(factories.email_bytes(), now).message

        envelope = ingest(reply_to(first, subject="Re: My meter reading"), now)

        assert envelope.ticket_id == first.ticket_id
        assert Ticket.objects.count() == 1

    def test_a_strangers_forged_reply_opens_a_new_ticket(self, pod, now):
        first = ingest(factories.email_bytes(), now).message

        envelope = ingest(
            reply_to(first, sender="Mallory <mallory@evil.test>", body="pay me"), now
        )

        assert envelope.ticket_id != first.ticket_id
        assert not Message.objects.filter(
            ticket_id=first.ticket_id, text__contains="pay me"
        ).exists()

    def test_a_subject_reference_works_for_the_customer_only(self, pod, now):
        ticket = ingest(factories.email_bytes(), now).ticket
        subject = f"Re: [#{ticket.id}] My meter reading"

        own = ingest(factories.email_bytes(subject=subject, body="more"), now)
        stranger = ingest(
            factories.email_bytes(subject=subject, sender="eve@evil.test"), now
        )

        assert own.ticket_id == ticket.id
        assert stranger.ticket_id != ticket.id

    def test_someone_the_customer_copied_may_reply(self, pod, now):
        first = ingest(factories.email_bytes(cc="Bob <bob@family.example>"), now)

        envelope = ingest(reply_to(first.message, sender="bob@family.example"), now)

        assert envelope.ticket_id == first.ticket_id

    def test_a_reply_to_our_reply_joins_the_ticket(self, pod, now):
        ticket = ingest(factories.email_bytes(), now).ticket
        agent_id = pod.members.first().id
        ours = tickets.services.message_reply(
            ticket=ticket, agent_id=agent_id, text="Thanks!", now=now
        )

        envelope = ingest(reply_to(ours), now)

        assert envelope.ticket_id == ticket.id

    def test_a_reply_reopens_a_solved_ticket(self, pod, now):
        first = ingest(factories.email_bytes(), now)
        tickets.services.ticket_solve(ticket=first.ticket, now=now)

        ingest(reply_to(first.message, body="still broken"), now)

        ticket = Ticket.objects.get(id=first.ticket_id)
        assert ticket.status in (Ticket.Status.OPEN, Ticket.Status.NEW)
        assert ticket.reopened_count == 1
        assert ticket.solved_at is None

    def test_a_reply_to_a_closed_ticket_opens_a_follow_up(self, pod, now):
        first = ingest(factories.email_bytes(), now)
        tickets.services.ticket_solve(ticket=first.ticket, now=now)
        tickets.services.tickets_lifecycle_advance(
            now=now + timedelta(days=10), pending_days=7, solved_days=4
        )

        envelope = ingest(reply_to(first.message), now)

        assert envelope.ticket_id != first.ticket_id
        assert envelope.ticket.follow_up_of_id == first.ticket_id

    def test_an_automatic_reply_on_a_ticket_does_not_reopen_it(self, pod, now):
        first = ingest(factories.email_bytes(), now)
        tickets.services.ticket_solve(ticket=first.ticket, now=now)

        envelope = ingest(
            reply_to(first.message, headers={"Auto-Submitted": "auto-replied"}), now
        )

        assert envelope.message.is_automatic
        assert Ticket.objects.get(id=first.ticket_id).status == Ticket.Status.SOLVED


class TestBounces:
    def test_a_bounce_marks_our_reply_and_opens_nothing(self, pod, now):
        ticket = ingest(factories.email_bytes(), now).ticket
        ours = tickets.services.message_reply(
            ticket=ticket, agent_id=pod.members.first().id, text="Hi", now=now
        )
        bounce = factories.email_bytes(
            sender="MAILER-DAEMON@mx.customer.example",
            subject="Undelivered Mail Returned to Sender",
            body=f"Delivery failed.\n\nMessage-ID: {ours.external_id}\n",
            headers={"Auto-Submitted": "auto-replied", "Return-Path": "<>"},
        )

        ingest(bounce, now)

        ours.refresh_from_db()
        assert ours.delivery == Message.Delivery.BOUNCED
        assert Ticket.objects.count() == 1

    def test_a_bounce_for_a_forged_id_is_ignored(self, pod, now):
        bounce = factories.email_bytes(
            sender="MAILER-DAEMON@mx.example",
            subject="Undelivered Mail Returned to Sender",
            body="Message-ID: <t1.m1.0123456789abcdef0123@helpdesk.localhost>\n",
            headers={"Auto-Submitted": "auto-replied", "Return-Path": "<>"},
        )

        envelope = ingest(bounce, now)

        assert envelope.state == State.IGNORED
        assert not Ticket.objects.exists()


class TestEnvelopeProcess:
    def test_processing_twice_changes_nothing(self, pod, now):
        envelope = ingest(factories.email_bytes(), now)

        again = tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert again.state == State.PROCESSED
        assert again.attempts == 1
        assert Message.objects.count() == 1

    def test_an_empty_body_fails_with_its_reason(self, pod, now):
        envelope = ingest(b"", now)

        assert envelope.state == State.FAILED
        assert envelope.error
        assert not Ticket.objects.exists()

    def test_the_sweep_processes_envelopes_whose_task_never_ran(
        self, pod, now, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False):
            received = tickets.services.envelope_receive(
                channel="EMAIL", source="WEBHOOK", raw=factories.email_bytes(), now=now
            )
        assert InboundEnvelope.objects.get().state == State.RECEIVED

        with django_capture_on_commit_callbacks(execute=True):
            requeued = tickets.services.envelopes_requeue(
                received_before=now + timedelta(minutes=5)
            )

        assert requeued == 1
        received.envelope.refresh_from_db()
        assert received.envelope.state == State.PROCESSED

    def test_a_failed_envelope_can_be_retried(
        self, pod, now, django_capture_on_commit_callbacks
    ):
        envelope = ingest(b"", now)
        InboundEnvelope.objects.filter(id=envelope.id).update(
            raw=factories.email_bytes()
        )

        with django_capture_on_commit_callbacks(execute=True):
            assert tickets.services.envelope_retry(envelope_id=envelope.id)

        envelope.refresh_from_db()
        assert envelope.state == State.PROCESSED
        assert envelope.attempts == 2
