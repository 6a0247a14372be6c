"""Periodic jobs of pods (Celery beat)."""

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from pods import selectors, services

STALLED_SPLIT_AGE = timedelta(minutes=10)


@shared_task(name="pods.reconcile_customer_counts")
def reconcile_customer_counts() -> dict:
    corrections = services.pod_customer_counts_reconcile(now=timezone.now())
    return {str(pod_id): list(pair) for pod_id, pair in corrections.items()}


@shared_task(name="pods.requeue_stalled_splits")
def requeue_stalled_splits() -> int:
    """A split whose task was lost (broker down, worker killed) is queued again;
    every step of a split is idempotent, so a duplicate run changes nothing."""
    stalled = selectors.splits_stalled(
        requested_before=timezone.now() - STALLED_SPLIT_AGE
    )
    services.pod_split_requeue(split_ids=stalled)
    return len(stalled)


@shared_task(name="pods.prune_portal_links")
def prune_portal_links() -> int:
    """Old sign-in links and link requests go: the tables stay the size of a
    month's sign-ins."""
    return services.portal_links_prune(now=timezone.now())
