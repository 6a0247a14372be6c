"""Reads for intake: webhook secrets, waiting envelopes, what a delivery matches."""

from datetime import datetime

from django.conf import settings
from django.db import connection

from tickets.models import InboundEnvelope, Message

_SECRETS_SQL = (
    "SELECT secret FROM tickets_webhooksecret"
    " WHERE channel = %s AND provider IN (%s, %s) AND active = %s"
)


def webhook_secrets(*, channel: str, provider: str = "") -> list[str]:
    """Secrets that may sign a webhook of the channel: the environment's and every
    active one from admin (for the provider, or for any provider when blank)."""
    from_environment = settings.HELPDESK["WEBHOOK_SECRETS"].get(channel, "")
    # Read on every webhook request, before anything is stored: plain SQL.
    with connection.cursor() as cursor:
        cursor.execute(_SECRETS_SQL, [channel, "", provider, True])
        from_admin = [secret for (secret,) in cursor.fetchall()]
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


# Every inbound message asks both before it is stored, and nearly always the
# answer is no: a plain read of the unique (channel, dedupe_key) index, or of
# the (channel, external_id) index, costs a fraction of building the ORM query.
_DELIVERED_SQL = "SELECT id FROM tickets_message WHERE channel = %s AND dedupe_key = %s"
_EXTERNAL_ID_SQL = (
    "SELECT 1 FROM tickets_message WHERE channel = %s AND external_id = %s LIMIT 1"
)


def message_delivered(*, channel: str, dedupe_key: str) -> Message | None:
    """The message already stored under this delivery key (with its ticket), if
    any."""
    if not dedupe_key:
        return None
    with connection.cursor() as cursor:
        cursor.execute(_DELIVERED_SQL, [channel, dedupe_key])
        row = cursor.fetchone()
    if row is None:
        return None
    return Message.objects.select_related("ticket").get(id=row[0])


def external_id_taken(*, channel: str, external_id: str) -> bool:
    """Whether a message of the channel already carries this external id."""
    if not external_id:
        return False
    with connection.cursor() as cursor:
        cursor.execute(_EXTERNAL_ID_SQL, [channel, external_id])
        return cursor.fetchone() is not None
