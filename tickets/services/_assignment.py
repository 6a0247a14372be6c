"""Open and solve tickets, and the assignment loop: a pod's backlog is drained
whenever an agent can take work, and tickets of absent agents return to it."""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils.translation import gettext

import pods.selectors
import pods.services
from tickets import rules, selectors
from tickets.models import Ticket
from tickets.services._errors import TicketsError
from tickets.services._satisfaction import satisfaction_survey_send
from tickets.services._sla import sla_start


class TransitionRefused(TicketsError):
    """The ticket cannot move to that status from its current one."""


@dataclass(frozen=True)
class Opened:
    ticket: Ticket
    customer_created: bool
    created: bool = True


def ticket_open(
    *,
    identities: Sequence[tuple[str, str]],
    channel: str,
    subject: str,
    now: datetime,
    display_name: str = "",
    trusted: bool = False,
    priority: str = Ticket.Priority.NORMAL,
    continue_open: bool = False,
    follow_up_of_id: int | None = None,
) -> Opened:
    """Open a ticket in the customer's pod, assigned to the agent routing chose
    (or waiting in the pod queue), with its SLA clocks started.

    With continue_open (conversational channels: SMS, social, chat, phone), the
    customer's open ticket on the channel is returned instead when there is one;
    the customer row is locked first, so two messages racing in from a new
    contact end in one ticket. Raises pods.services.InvalidContact and
    pods.services.NoPodAvailable."""
    with transaction.atomic():
        route = pods.services.contact_route(
            identities=identities,
            now=now,
            display_name=display_name,
            trusted=trusted,
            lock_customer=True,
        )
        if continue_open:
            existing = selectors.open_ticket_on_channel(
                customer_id=route.customer_id, channel=channel
            )
            if existing is not None:
                return Opened(
                    ticket=existing,
                    customer_created=route.customer_created,
                    created=False,
                )
        assignee = route.agent_id
        if assignee is not None and not pods.services.agent_load_take(
            agent_id=assignee, now=now
        ):
            assignee = None  # the last slot went to a concurrent contact: queue it
        ticket = Ticket(
            pod_id=route.pod_id,
            customer_id=route.customer_id,
            assignee_id=assignee,
            channel=channel,
            priority=priority,
            subject=subject[:250],
            status=Ticket.Status.OPEN if assignee else Ticket.Status.NEW,
            follow_up_of_id=follow_up_of_id,
            created_at=now,
            updated_at=now,
            assigned_at=now if assignee else None,
            agent_active_at=now if assignee else None,
        )
        sla_start(ticket=ticket)
        ticket.save(force_insert=True)
        ticket_announce(ticket=ticket, kind="ticket.created", toast=True)
    return Opened(ticket=ticket, customer_created=route.customer_created)


def ticket_announce(*, ticket: Ticket, kind: str, toast: bool = False) -> None:
    """Tell the pod's open pages, after commit, that the ticket changed; with
    toast, pages also pop a notice (only new tickets: a notice for every take
    and solve would drown the pod)."""
    pods.services.pod_event_publish(
        pod_id=ticket.pod_id,
        event={
            "type": "notify",
            "kind": kind,
            "ticket_id": ticket.id,
            "channel": ticket.channel,
            "status": ticket.status,
            "assignee_id": ticket.assignee_id,
            "text": f"#{ticket.id} {ticket.subject[:80]}" if toast else "",
        },
    )


def ticket_solve(*, ticket: Ticket, now: datetime) -> Ticket:
    """Solve the ticket, free its assignee's slot, make them the customer's
    primary agent, then ask the customer to rate the help. Raises
    TransitionRefused."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        if not rules.can_transition(ticket.status, Ticket.Status.SOLVED):
            raise TransitionRefused(
                gettext("a %(status)s ticket cannot be solved")
                % {"status": ticket.get_status_display().lower()}
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
        ticket_announce(ticket=ticket, kind="ticket.solved")
    if ticket.assignee_id:
        backlog_drain(pod_id=ticket.pod_id, now=now)  # a slot just freed up
    satisfaction_survey_send(ticket=ticket, now=now)
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
        assignee_slots_release(tickets=unassigned)
        count = unassigned.update(
            assignee=None, status=Ticket.Status.NEW, assigned_at=None, updated_at=now
        )
    for pod_id in sorted({pod_id for _, pod_id in rows}):
        backlog_drain(pod_id=pod_id, now=now)
    return count


def assignee_slots_release(*, tickets: QuerySet[Ticket]) -> None:
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


def agent_loads_reconcile() -> int:
    """Reset agents' open-ticket counters from the tickets; return fixes made."""
    return pods.services.agent_load_set(loads=selectors.open_load_by_agent())
