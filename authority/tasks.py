"""Celery tasks of the authority funnel: named, keyword-only, one call each."""

from celery import current_app, shared_task
from django.conf import settings
from django.utils import timezone

from authority import outbound, services

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


@shared_task(name="authority.merge_customers")
def merge_customers(*, source_id: int, target_id: int) -> None:
    """Merge a possible duplicate (queued from the pods admin) in every app."""
    services.customer_merge(
        source_id=source_id, target_id=target_id, now=timezone.now()
    )


REFRESH_AUTHORITY_FIGURES_TASK = "authority.refresh_authority_figures"
REFRESH_DELEGATION_SNAPSHOT_TASK = "authority.refresh_delegation_snapshot"


@shared_task(name=REFRESH_AUTHORITY_FIGURES_TASK)
def refresh_authority_figures(*, days: int = 2) -> int:
    """Recompute every pod's last `days` local days of authority figures (2:
    today and yesterday, every minute; 90 nightly, for late facts), then its
    period rows. Idempotent."""
    refreshed = services.authority_figures_refresh(now=timezone.now(), days=days)
    return refreshed.day_rows


@shared_task(name=REFRESH_DELEGATION_SNAPSHOT_TASK)
def refresh_delegation_snapshot() -> int:
    """Store the delegation recommendations the organisation view shows."""
    snapshot = services.delegation_snapshot_refresh(now=timezone.now())
    return len(snapshot.recommendations)


SEND_ENTITLEMENT_REMINDERS_TASK = "authority.send_entitlement_reminders"


@shared_task(name=SEND_ENTITLEMENT_REMINDERS_TASK)
def send_entitlement_reminders() -> int:
    """Remind customers whose entitlement ends within the reminder window
    (HELPDESK["ENTITLEMENT_REMINDER_DAYS"]), once per entitlement period."""
    return services.entitlement_reminders_schedule(
        now=timezone.now(),
        days_before=settings.HELPDESK.get("ENTITLEMENT_REMINDER_DAYS", 7),
    )
