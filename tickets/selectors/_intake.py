"""Reads for intake: webhook secrets, waiting envelopes, what a delivery matches."""

from datetime import datetime

from django.conf import settings

from tickets.models import InboundEnvelope, Message, WebhookSecret


def webhook_secrets(*, channel: str, provider: str = "") -> list[str]:
    """Secrets that may sign a webhook of the channel: the environment's and every
    active one from admin (for the provider, or for any provider when blank)."""
    from_environment = settings.HELPDESK["WEBHOOK_SECRETS"].get(channel, "")
    from_admin = WebhookSecret.objects.filter(
        channel=channel, provider__in={"", provider}, active=True
    ).values_list("secret", flat=True)
    return [secret for secret in (from_environment, *from_admin) if secret]


def envelopes_waiting(*, received_before: datetime, limit: int) -> list[int]:
    """Envelopes still waiting for processing, oldest first."""
    return list(
        InboundEnvelope.objects.filter(
            state=InboundEnvelope.State.RECEIVED, received_at__lt=received_before
        )
        .order_by("received_at", "id")
        .values_list("id", flat=True)[:limit]
    )


def message_delivered(*, channel: str, dedupe_key: str) -> Message | None:
    """The message already stored under this delivery key, if any."""
    if not dedupe_key:
        return None
    return Message.objects.filter(channel=channel, dedupe_key=dedupe_key).first()


def external_id_taken(*, channel: str, external_id: str) -> bool:
    return (
        bool(external_id)
        and Message.objects.filter(channel=channel, external_id=external_id).exists()
    )
