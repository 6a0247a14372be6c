"""Email out: an agent's reply leaves once, threaded, from the pod's address."""

import smtplib
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.core import mail

import tickets.services
from tests import factories
from tickets import outbound, rules
from tickets.models import InboundEnvelope, Message, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def ticket(pod, now):
    received = tickets.services.envelope_receive(
        channel="EMAIL",
        source=InboundEnvelope.Source.FILE,
        raw=factories.email_bytes(
            subject="=?utf-8?q?Broken=0D=0ABcc=3A_victim=40evil.test?=",
            message_id="<q1@customer>",
        ),
        now=now,
    )
    return tickets.services.envelope_process(
        envelope_id=received.envelope.id, now=now
    ).ticket


def refuse(backend, messages):
    raise smtplib.SMTPServerDisconnected("connection lost")


def reply(ticket: Ticket, pod, now, django_capture_on_commit_callbacks) -> Message:
    with django_capture_on_commit_callbacks(execute=True):
        return tickets.services.message_reply(
            ticket=ticket, agent_id=pod.lead_id, text="We are on it.", now=now
        )


class TestMessageReply:
    def test_goes_out_once_threaded_from_the_pod(
        self, ticket, pod, now, settings, django_capture_on_commit_callbacks
    ):
        message = reply(ticket, pod, now, django_capture_on_commit_callbacks)

        assert len(mail.outbox) == 1
        sent = message_from_bytes(
            mail.outbox[0].message().as_bytes(), policy=policy.default
        )
        assert (
            sent["To"] == "Ann Lee <ann@customer.example>"
            or sent["To"].addresses[0].addr_spec == "ann@customer.example"
        )
        assert sent["Message-ID"] == message.external_id
        assert sent["In-Reply-To"] == "<q1@customer>"
        assert "<q1@customer>" in sent["References"]
        assert f"[#{ticket.id}]" in sent["Subject"]
        assert (
            sent["From"].addresses[0].addr_spec == "support+mercury@helpdesk.localhost"
        )
        assert rules.reply_message_id_verify(
            value=message.external_id, key=settings.SECRET_KEY
        ) == (ticket.id, message.id)
        message.refresh_from_db()
        assert message.delivery == Message.Delivery.SENT

    def test_a_hostile_subject_injects_no_header(
        self, ticket, pod, now, django_capture_on_commit_callbacks
    ):
        reply(ticket, pod, now, django_capture_on_commit_callbacks)

        raw = mail.outbox[0].message().as_bytes()
        sent = message_from_bytes(raw, policy=policy.default)
        assert sent["Bcc"] is None
        assert mail.outbox[0].recipients() == ["ann@customer.example"]

    def test_records_the_first_response_and_stops_the_clock(
        self, ticket, pod, now, django_capture_on_commit_callbacks
    ):
        reply(ticket, pod, now, django_capture_on_commit_callbacks)

        ticket.refresh_from_db()
        assert ticket.first_response_at == now
        assert ticket.first_response_due is None
        assert ticket.status == Ticket.Status.OPEN

    def test_a_failing_server_leaves_it_queued_with_the_reason(
        self, ticket, pod, now, monkeypatch, django_capture_on_commit_callbacks
    ):
        monkeypatch.setattr(
            "django.core.mail.backends.locmem.EmailBackend.send_messages", refuse
        )

        message = reply(ticket, pod, now, django_capture_on_commit_callbacks)

        message.refresh_from_db()
        assert message.delivery == Message.Delivery.QUEUED
        assert "connection lost" in message.delivery_error
        assert message.delivery_attempts == 1
        assert mail.outbox == []

    def test_the_last_attempt_marks_it_failed(
        self, ticket, pod, now, monkeypatch, django_capture_on_commit_callbacks
    ):
        monkeypatch.setattr(
            "django.core.mail.backends.locmem.EmailBackend.send_messages", refuse
        )
        with django_capture_on_commit_callbacks(execute=False):
            message = tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="Hi", now=now
            )
        Message.objects.filter(id=message.id).update(
            delivery_attempts=outbound.MAX_DELIVERY_ATTEMPTS - 1
        )

        outbound.deliver_email.apply(kwargs={"message_id": message.id})

        message.refresh_from_db()
        assert message.delivery == Message.Delivery.FAILED
        assert message.delivery_attempts == outbound.MAX_DELIVERY_ATTEMPTS

    def test_the_sweep_sends_what_was_left_queued(
        self, ticket, pod, now, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=False):
            message = tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="Hi", now=now
            )

        with django_capture_on_commit_callbacks(execute=True):
            outbound.deliveries_requeue(queued_before=now + timedelta(minutes=5))

        message.refresh_from_db()
        assert message.delivery == Message.Delivery.SENT
        assert len(mail.outbox) == 1

    def test_a_closed_ticket_refuses_replies(self, ticket, pod, now):
        Ticket.objects.filter(id=ticket.id).update(status=Ticket.Status.CLOSED)

        with pytest.raises(tickets.services.ReplyRefused):
            tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="hi", now=now
            )

        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND)
