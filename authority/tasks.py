"""Celery tasks of the authority funnel: named, keyword-only, one call each."""

from celery import current_app, shared_task
from django.utils import timezone

from authority import outbound

SWEEP_WEBHOOKS_TASK = "authority.sweep_webhooks"


@shared_task(name=SWEEP_WEBHOOKS_TASK)
def sweep_webhooks() -> int:
    """Queue every billing webhook whose next attempt is due."""
    due = outbound.webhooks_due(now=timezone.now())
    for delivery_id in due:
        current_app.tasks[outbound.DELIVER_WEBHOOK_TASK].apply_async(
            kwargs={"delivery_id": delivery_id}
        )
    return len(due)
