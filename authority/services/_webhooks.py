"""Sending a billing webhook again by hand: an admin's retry of deliveries that
failed (their attempts spent) or wait for their next attempt."""

from collections.abc import Sequence
from datetime import datetime

from django.db import transaction

from authority import outbound
from authority.models import WebhookDelivery


def webhook_retry(*, delivery_ids: Sequence[int], now: datetime) -> int:
    """Make these deliveries due now and queue them (after commit); delivered
    ones are left alone. Answers how many were queued. A delivery being posted
    at this moment (its row locked by the task) is skipped: its outcome is
    about to be known."""
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                id__in=list(delivery_ids),
                state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.FAILED],
            )
            .values_list("id", flat=True)
        )
        WebhookDelivery.objects.filter(id__in=due).update(
            state=WebhookDelivery.State.PENDING, next_attempt_at=now
        )
        for delivery_id in due:
            outbound.webhook_deliver_on_commit(delivery_id=delivery_id)
    return len(due)
