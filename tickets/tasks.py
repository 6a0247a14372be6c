"""Celery tasks of tickets: thin, named, idempotent wrappers around one service."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError as DatabaseUnavailable
from django.utils import timezone

from tickets import outbound, services


@shared_task(name="tickets.run_pod_split")
def run_pod_split(*, split_id: int) -> int:
    """Run a queued pod split (queued by pods when a pod reaches its threshold)."""
    return services.pod_split_run(split_id=split_id, now=timezone.now())


@shared_task(name="tickets.reconcile_agent_loads")
def reconcile_agent_loads() -> int:
    return services.agent_loads_reconcile()


@shared_task(name="tickets.agent_presence_changed")
def agent_presence_changed(*, agent_id: int, pod_id: int | None, presence: str) -> int:
    """An agent came online (take the pod's backlog) or went offline (give back
    their tickets). Told by pods through its outbound queue."""
    now = timezone.now()
    if presence == "OFFLINE":
        return services.agent_tickets_requeue(agent_id=agent_id, now=now)
    if presence == "ONLINE" and pod_id is not None:
        return services.backlog_drain(pod_id=pod_id, now=now)
    return 0


@shared_task(name="tickets.drain_backlogs")
def drain_backlogs() -> int:
    return services.backlogs_drain(now=timezone.now())


@shared_task(name="tickets.requeue_idle_tickets")
def requeue_idle_tickets() -> int:
    now = timezone.now()
    idle = timedelta(minutes=settings.HELPDESK["IDLE_ASSIGNMENT_MINUTES"])
    return services.idle_tickets_requeue(idle_since=now - idle, now=now)


@shared_task(name="tickets.recompute_proficiency")
def recompute_proficiency() -> int:
    """Nightly: score agents on the last 30 days of ticket facts."""
    now = timezone.now()
    return services.proficiency_recompute(period_end=now.date(), days=30, now=now)


# --- Intake and delivery ----------------------------------------------------------


@shared_task(
    name="tickets.process_envelope",
    autoretry_for=(DatabaseUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=None,
)
def process_envelope(*, envelope_id: int) -> str:
    """Process one stored inbound envelope (queued after its commit)."""
    return services.envelope_process(envelope_id=envelope_id, now=timezone.now()).state


@shared_task(name="tickets.sweep_inbound")
def sweep_inbound() -> int:
    """Queue again envelopes whose processing never started."""
    now = timezone.now()
    wait = timedelta(seconds=settings.HELPDESK["INBOUND_RETRY_SECONDS"])
    return services.envelopes_requeue(received_before=now - wait)


@shared_task(name="tickets.sweep_outbound")
def sweep_outbound() -> int:
    """Queue again replies whose delivery task never ran."""
    return outbound.deliveries_requeue(
        queued_before=timezone.now() - timedelta(minutes=2)
    )


@shared_task(name="tickets.detect_sla_breaches")
def detect_sla_breaches() -> int:
    return services.sla_breaches_detect(now=timezone.now())


@shared_task(name="tickets.advance_lifecycle")
def advance_lifecycle() -> tuple[int, int]:
    """Hourly: solve long-pending tickets, close long-solved ones."""
    return services.tickets_lifecycle_advance(
        now=timezone.now(),
        pending_days=settings.HELPDESK["PENDING_AUTO_SOLVE_DAYS"],
        solved_days=settings.HELPDESK["SOLVED_AUTO_CLOSE_DAYS"],
    )


# --- Dashboard figures ------------------------------------------------------------


@shared_task(name="tickets.refresh_figures")
def refresh_figures(*, days: int = 2) -> int:
    """Recompute every pod's last `days` local days of figures, then its
    period rows. Idempotent. Every minute (2 days): today, and yesterday once
    after it ended; nightly (90): every day again, for late reopens, merges
    and reassignments."""
    return services.figures_rollups_refresh(
        days=days, now=timezone.now(), closed_days_again=days > 2
    ).day_rows
