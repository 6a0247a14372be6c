"""Celery tasks of tickets: thin, named, idempotent wrappers around one service."""

from celery import shared_task
from django.utils import timezone

from tickets import services


@shared_task(name="tickets.run_pod_split")
def run_pod_split(*, split_id: int) -> int:
    """Run a queued pod split (queued by pods when a pod reaches its threshold)."""
    return services.pod_split_run(split_id=split_id, now=timezone.now())


@shared_task(name="tickets.reconcile_agent_loads")
def reconcile_agent_loads() -> int:
    return services.agent_loads_reconcile()


@shared_task(name="tickets.merge_customers")
def merge_customers(*, source_id: int, target_id: int) -> None:
    """Merge a possible duplicate (queued from the pods admin)."""
    services.customer_merge(
        source_id=source_id, target_id=target_id, now=timezone.now()
    )
