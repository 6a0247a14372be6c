"""Counts of contacts for the insights of apps above tickets (the authority
funnel's delegation insights and authority usage): contacts per reason and the
tickets each agent solved. Each is one aggregate query; the caller says which
tickets count, tickets never asks."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from tickets.models import ContactReason, Ticket


def contacts_by_reason(*, start: datetime, end: datetime) -> dict[int | None, int]:
    """Tickets created in [start, end) per contact reason (None: no reason set),
    merged tickets left out (their contact lives on in the one they joined)."""
    rows = (
        Ticket.objects.filter(
            created_at__gte=start, created_at__lt=end, merged_into__isnull=True
        )
        .values("contact_reason_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("contact_reason_id", "n")
    )
    return dict(rows)


def contact_reason_names() -> dict[int, str]:
    """Every contact reason's name by id, retired ones included (old figures
    still name them)."""
    return dict(ContactReason.objects.values_list("id", "name"))


@dataclass(frozen=True)
class SolvedScope:
    """Which solved tickets count: those of the pod (None: any pod) with the
    contact reason (None: any reason), and, when `customer_ids` is given (a
    queryset of customer ids), only those customers' tickets."""

    pod_id: int | None = None
    contact_reason_id: int | None = None
    customer_ids: Any = None


@dataclass(frozen=True)
class SolvedCount:
    agent_id: int
    solved: int
    # Of those, the tickets whose id is among the caller's `marked_ticket_ids`.
    marked: int


def solved_by_agent(
    *,
    start: datetime,
    end: datetime,
    agent_ids: Sequence[int],
    scopes: Sequence[SolvedScope],
    marked_ticket_ids: Any,
) -> dict[int, SolvedCount]:
    """Tickets each agent (the assignee who solved it) solved in [start, end)
    that fall in any of `scopes`, and how many of them are among
    `marked_ticket_ids` (a queryset of ticket ids), in one query."""
    if not scopes or not agent_ids:
        return {}
    rows = (
        Ticket.objects.filter(
            _any_scope(scopes),
            solved_at__gte=start,
            solved_at__lt=end,
            assignee_id__in=list(agent_ids),
        )
        .values("assignee_id")
        .annotate(
            solved=Count("id"),
            marked=Count("id", filter=Q(id__in=marked_ticket_ids)),
        )
        .order_by()
        .values_list("assignee_id", "solved", "marked")
    )
    return {
        agent_id: SolvedCount(agent_id=agent_id, solved=solved, marked=marked)
        for agent_id, solved, marked in rows
    }


def _any_scope(scopes: Sequence[SolvedScope]) -> Q:
    conditions = []
    for scope in scopes:
        condition = Q()
        if scope.pod_id is not None:
            condition &= Q(pod_id=scope.pod_id)
        if scope.contact_reason_id is not None:
            condition &= Q(contact_reason_id=scope.contact_reason_id)
        if scope.customer_ids is not None:
            condition &= Q(customer_id__in=scope.customer_ids)
        if not condition:
            return Q()  # a scope without conditions takes every ticket
        conditions.append(condition)
    combined = conditions[0]
    for condition in conditions[1:]:
        combined |= condition
    return combined
