"""Writes of tickets: open a ticket routed to its customer's pod, solve it, and the
orchestrations that move tickets with their customers (pod splits, merges)."""

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, QuerySet

import pods.selectors
import pods.services
from tickets import rules, selectors
from tickets.models import Ticket

logger = logging.getLogger(__name__)

SPLIT_BATCH_SIZE = 5000  # customers per transaction: short locks, bounded memory


class TicketsError(Exception):
    """Base of the errors raised by tickets services."""


class TransitionRefused(TicketsError):
    """The ticket cannot move to that status from its current one."""


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    customer_created: bool


def ticket_open(
    *,
    identities: Sequence[tuple[str, str]],
    channel: str,
    subject: str,
    now: datetime,
    display_name: str = "",
    trusted: bool = False,
) -> Opened:
    """Open a ticket in the customer's pod, assigned to the agent routing chose
    (or waiting in the pod queue). Raises pods.services.InvalidContact and
    pods.services.NoPodAvailable."""
    with transaction.atomic():
        route = pods.services.contact_route(
            identities=identities,
            now=now,
            display_name=display_name,
            trusted=trusted,
            lock_customer=True,
        )
        assignee = route.agent_id
        if assignee is not None and not pods.services.agent_load_take(
            agent_id=assignee, now=now
        ):
            assignee = None  # the last slot went to a concurrent contact: queue it
        ticket = Ticket.objects.create(
            pod_id=route.pod_id,
            customer_id=route.customer_id,
            assignee_id=assignee,
            channel=channel,
            subject=subject[:250],
            status=Ticket.Status.OPEN if assignee else Ticket.Status.NEW,
            created_at=now,
            updated_at=now,
            assigned_at=now if assignee else None,
            agent_active_at=now if assignee else None,
        )
    return Opened(ticket=ticket, customer_created=route.customer_created)


def ticket_solve(*, ticket: Ticket, now: datetime) -> Ticket:
    """Solve the ticket, free its assignee's slot and make them the customer's
    primary agent. Raises TransitionRefused."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        if not rules.can_transition(ticket.status, Ticket.Status.SOLVED):
            raise TransitionRefused(
                f"a {ticket.status.lower()} ticket cannot be solved"
            )
        ticket.status = Ticket.Status.SOLVED
        ticket.solved_at = now
        ticket.updated_at = now
        ticket.save(update_fields=["status", "solved_at", "updated_at"])
        if ticket.assignee_id:
            pods.services.agent_load_release(agent_id=ticket.assignee_id)
            pods.services.customer_primary_agent_set(
                customer_id=ticket.customer_id, agent_id=ticket.assignee_id
            )
    if ticket.assignee_id:
        backlog_drain(pod_id=ticket.pod_id, now=now)  # a slot just freed up
    return ticket


# --- The assignment loop ------------------------------------------------------------

BACKLOG_BATCH = 50  # tickets locked per pass: short transactions, no starvation


def backlog_drain(*, pod_id: int, now: datetime) -> int:
    """Give the pod's unassigned tickets, oldest first, to its available agents
    until either runs out; return how many were assigned.

    Rows are taken with SKIP LOCKED, so two drains of one pod (an agent coming
    online while another solves a ticket) share the work instead of waiting."""
    assigned = 0
    while True:
        with transaction.atomic():
            backlog = list(
                Ticket.objects.select_for_update(skip_locked=True)
                .filter(
                    pod_id=pod_id, assignee__isnull=True, status__in=BACKLOG_STATUSES
                )
                .order_by("created_at", "id")[:BACKLOG_BATCH]
            )
            # Stop at the first ticket nobody can take: the pod has no free agent.
            taken = sum(
                1
                for _ in itertools.takewhile(
                    lambda ticket: _ticket_offer(ticket=ticket, now=now), backlog
                )
            )
        assigned += taken
        if taken < len(backlog) or len(backlog) < BACKLOG_BATCH:
            return assigned


BACKLOG_STATUSES = (Ticket.Status.NEW, Ticket.Status.OPEN)


def _ticket_offer(*, ticket: Ticket, now: datetime) -> bool:
    owner = pods.selectors.customer_owner(customer_id=ticket.customer_id)
    agent_id = pods.selectors.agent_for_contact(owner=owner)
    if agent_id is None or not pods.services.agent_load_take(
        agent_id=agent_id, now=now
    ):
        return False
    ticket.assignee_id = agent_id
    ticket.status = Ticket.Status.OPEN
    ticket.assigned_at = ticket.agent_active_at = ticket.updated_at = now
    ticket.save(
        update_fields=[
            "assignee",
            "status",
            "assigned_at",
            "agent_active_at",
            "updated_at",
        ]
    )
    return True


def agent_tickets_requeue(*, agent_id: int, now: datetime) -> int:
    """Return the agent's new and open tickets to their pod's queue (the agent went
    offline); pending tickets wait on the customer and stay. Return how many."""
    return _tickets_requeue(
        tickets=Ticket.objects.select_for_update().filter(
            assignee_id=agent_id, status__in=BACKLOG_STATUSES
        ),
        now=now,
    )


def idle_tickets_requeue(*, idle_since: datetime, now: datetime) -> int:
    """Return tickets whose agent has done nothing on them since `idle_since` to
    their pod's queue. Return how many."""
    return _tickets_requeue(
        tickets=Ticket.objects.select_for_update(skip_locked=True).filter(
            assignee__isnull=False,
            status__in=BACKLOG_STATUSES,
            agent_active_at__lt=idle_since,
        ),
        now=now,
    )


def _tickets_requeue(*, tickets: QuerySet[Ticket], now: datetime) -> int:
    """Unassign the tickets (a locking queryset), free their agents' slots, then let
    each pod's available agents take them."""
    with transaction.atomic():
        # Lock by reading the rows; PostgreSQL refuses FOR UPDATE with GROUP BY.
        rows = list(tickets.values_list("id", "pod_id"))
        unassigned = Ticket.objects.filter(id__in=[ticket_id for ticket_id, _ in rows])
        _assignee_slots_release(tickets=unassigned)
        count = unassigned.update(
            assignee=None, status=Ticket.Status.NEW, assigned_at=None, updated_at=now
        )
    for pod_id in sorted({pod_id for _, pod_id in rows}):
        backlog_drain(pod_id=pod_id, now=now)
    return count


def _assignee_slots_release(*, tickets: QuerySet[Ticket]) -> None:
    """Free one slot per ticket for each assignee (one UPDATE per agent)."""
    held = tickets.filter(assignee__isnull=False).values_list("assignee_id")
    for agent_id, count in held.annotate(n=Count("id")).values_list("assignee_id", "n"):
        pods.services.agent_load_release(agent_id=agent_id, count=count)


def backlogs_drain(*, now: datetime) -> int:
    """Drain every pod that has unassigned tickets (the periodic safety net)."""
    return sum(
        backlog_drain(pod_id=pod_id, now=now)
        for pod_id in selectors.pods_with_backlog()
    )


# --- Proficiency ------------------------------------------------------------------


def proficiency_recompute(*, period_end: date, days: int, now: datetime) -> int:
    """Score every agent who solved tickets in the `days` before period_end from
    ticket facts; return how many were scored. CSAT and one-touch resolution join
    the score once surveys and messages exist (a KPI without a reading is left out
    by the scoring rule)."""
    end = datetime.combine(period_end, time.min, tzinfo=UTC)
    start = end - timedelta(days=days)
    facts = selectors.agent_facts(start=start, end=end)
    for fact in facts:
        pods.services.agent_proficiency_record(
            agent_id=fact.agent_id,
            contacts_per_day=Decimal(fact.solved) / days,
            handle_minutes=fact.median_handle_minutes,
            csat=None,
            one_touch_rate=None,
            period_start=start.date(),
            period_end=period_end,
            now=now,
        )
    return len(facts)


# --- Orchestrations across pods and tickets ------------------------------------------


def pod_split_run(*, split_id: int, now: datetime) -> int:
    """Run a queued pod split to the end; return how many customers moved.

    Each batch moves customers and their open tickets in one transaction, so the
    data is consistent after any batch and a rerun (after a crash, or a duplicate
    task) continues where the last committed batch ended."""
    split = pods.services.pod_split_prepare(split_id=split_id, now=now)
    if split.state == split.State.DONE:
        return 0
    moved = 0
    after = 0
    while True:
        with transaction.atomic():
            batch = pods.services.pod_split_move_batch(
                split=split, limit=SPLIT_BATCH_SIZE, now=now, after=after
            )
            if not batch.customer_ids:
                break
            tickets = _tickets_follow_customers(batch=batch)
            pods.services.pod_split_tickets_moved(split=split, count=tickets)
        moved += len(batch.customer_ids)
        after = batch.customer_ids[-1]
    _tickets_of_staying_customers_requeue(split=split)
    pods.services.pod_split_finish(split_id=split_id, now=now)
    logger.info("pod split %s finished: %s customers moved", split_id, moved)
    return moved


def _tickets_of_staying_customers_requeue(*, split) -> int:
    """Return to the old pod's queue the open tickets of customers who stayed but
    whose agent moved: the agent can no longer see the old pod's tickets. Runs
    after the last batch, when every ticket still in the old pod belongs to a
    customer who stays; a rerun finds nothing left to do."""
    with transaction.atomic():
        # Locked first: a duplicate run of the split reaching this step at the
        # same time waits, then finds the tickets unassigned, instead of freeing
        # the same agents' slots a second time.
        held = list(
            Ticket.objects.select_for_update()
            .filter(
                pod_id=split.source_id,
                status__in=Ticket.OPEN_STATUSES,
                assignee_id__in=split.plan.get("moving_agents", ()),
            )
            .values_list("id", flat=True)
        )
        return _open_tickets_move(
            tickets=Ticket.objects.filter(id__in=held),
            to_pod_id=split.source_id,
            keep=set(),
        )


def _tickets_follow_customers(*, batch: pods.services.SplitBatch) -> int:
    open_tickets = Ticket.objects.filter(
        customer_id__in=batch.customer_ids, status__in=Ticket.OPEN_STATUSES
    )
    return _open_tickets_move(
        tickets=open_tickets,
        to_pod_id=batch.new_pod_id,
        keep=set(batch.moving_agent_ids),
    )


def _open_tickets_move(
    *, tickets: QuerySet[Ticket], to_pod_id: int, keep: set[int]
) -> int:
    """Move open tickets to another pod. Their assignee keeps them when in `keep`
    (agents of that pod); otherwise the ticket returns to the pod's queue and the
    assignee's slot is freed. Return how many tickets moved."""
    left_behind = tickets.filter(assignee__isnull=False).exclude(assignee_id__in=keep)
    _assignee_slots_release(tickets=left_behind)
    requeued = left_behind.update(
        pod_id=to_pod_id, assignee=None, status=Ticket.Status.NEW, assigned_at=None
    )
    followed = tickets.exclude(pod_id=to_pod_id).update(pod_id=to_pod_id)
    return requeued + followed


def customer_merge(*, source_id: int, target_id: int, now: datetime) -> None:
    """Merge two customers and move the source's tickets onto the target, in one
    transaction. Raises pods.services.MergeRefused."""
    with transaction.atomic():
        target = pods.services.customer_merge(
            source_id=source_id, target_id=target_id, now=now
        )
        target_pod_agents = set(
            pods.selectors.active_members(pod_id=target.pod_id).values_list(
                "id", flat=True
            )
        )
        _open_tickets_move(
            tickets=Ticket.objects.filter(
                customer_id=source_id, status__in=Ticket.OPEN_STATUSES
            ),
            to_pod_id=target.pod_id,
            keep=target_pod_agents,
        )
        Ticket.objects.filter(customer_id=source_id).update(customer_id=target.id)


def agent_loads_reconcile() -> int:
    """Reset agents' open-ticket counters from the tickets; return fixes made."""
    return pods.services.agent_load_set(loads=selectors.open_load_by_agent())
