"""Demo data for `manage.py seed_demo`, made through the same intake as real
contacts: emails as raw RFC 822 envelopes, other channels as opened tickets
with the customer's first message."""

from datetime import datetime, time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.db import transaction

from tickets.models import (
    BusinessHours,
    BusinessHoursInterval,
    ContactReason,
    InboundEnvelope,
    SlaPolicy,
    Ticket,
    WebhookSecret,
)
from tickets.services._assignment import ticket_open
from tickets.services._conversation import Incoming, inbound_message_add
from tickets.services._intake import envelope_process, envelope_receive

CONTACT_REASONS = [
    "Bill query",
    "Meter reading",
    "Moving home",
    "Payment plan",
    "Refund",
    "Smart meter",
    "Tariff change",
]
WEBHOOK_CHANNELS = ["EMAIL", "SMS", "PHONE", "SOCIAL"]


def demo_configuration_seed(*, webhook_secret: str) -> None:
    """Contact reasons, UK office hours, two SLA policies and the demo webhook
    secret of each channel; idempotent."""
    with transaction.atomic():
        for name in CONTACT_REASONS:
            ContactReason.objects.get_or_create(name=name)
        hours, created = BusinessHours.objects.get_or_create(
            name="UK office", defaults={"timezone": "Europe/London"}
        )
        if created:
            BusinessHoursInterval.objects.bulk_create(
                [
                    BusinessHoursInterval(
                        hours=hours, weekday=day, opens=time(8), closes=time(20)
                    )
                    for day in range(5)
                ]
                + [
                    BusinessHoursInterval(
                        hours=hours, weekday=5, opens=time(9), closes=time(17)
                    )
                ]
            )
        SlaPolicy.objects.get_or_create(
            name="Standard",
            defaults={
                "first_response_minutes": 240,
                "next_response_minutes": 480,
                "resolution_minutes": 3 * 24 * 60,
                "business_hours": hours,
                "position": 100,
            },
        )
        SlaPolicy.objects.get_or_create(
            name="Urgent",
            defaults={
                "priority": Ticket.Priority.URGENT,
                "first_response_minutes": 60,
                "next_response_minutes": 120,
                "resolution_minutes": 8 * 60,
                "position": 10,
            },
        )
        for channel in WEBHOOK_CHANNELS:
            WebhookSecret.objects.get_or_create(
                channel=channel,
                secret=webhook_secret,
                defaults={"note": "seed_demo; replace in production"},
            )


def demo_contact_seed(
    *, email: str, name: str, channel: str, subject: str, text: str, now: datetime
) -> Ticket:
    """One customer contact on the channel, as it would arrive."""
    if channel == Ticket.Channel.EMAIL:
        received = envelope_receive(
            channel=channel,
            source=InboundEnvelope.Source.FILE,
            raw=_demo_email(
                email=email, name=name, subject=subject, text=text, now=now
            ),
            now=now,
        )
        return envelope_process(envelope_id=received.envelope.id, now=now).ticket
    with transaction.atomic():
        ticket = ticket_open(
            identities=[("EMAIL", email)],
            channel=channel,
            subject=subject,
            display_name=name,
            now=now,
        ).ticket
        inbound_message_add(
            ticket=ticket,
            incoming=Incoming(
                channel=channel, text=text, author_name=name, author_address=email
            ),
            now=now,
        )
    return ticket


def _demo_email(*, email: str, name: str, subject: str, text: str, now) -> bytes:
    message = EmailMessage()
    message["From"] = f"{name} <{email}>"
    message["To"] = "support@helpdesk.localhost"
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain="demo.example")
    message.set_content(text)
    return bytes(message)
