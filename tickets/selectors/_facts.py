"""Reads of ticket facts: open loads, backlogs, KPI readings for proficiency."""

import statistics
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from tickets.models import Message, Ticket
from tickets.selectors._satisfaction import csat_by_agent


def open_tickets_of_pod(*, pod_id: int) -> QuerySet[Ticket]:
    return Ticket.objects.filter(pod_id=pod_id, status__in=Ticket.OPEN_STATUSES)


def open_load_by_agent() -> dict[int, int]:
    """Open tickets held by each agent, counted from the tickets themselves."""
    return dict(
        Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES, assignee__isnull=False)
        .values_list("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )


def pods_with_backlog() -> list[int]:
    return list(
        Ticket.objects.filter(assignee__isnull=True, status__in=["NEW", "OPEN"])
        .order_by("pod_id")
        .values_list("pod_id", flat=True)
        .distinct()
    )


@dataclass(frozen=True)
class AgentFacts:
    agent_id: int
    solved: int
    median_handle_minutes: Decimal | None
    # Of the solved tickets the agent replied on, the share solved with one
    # reply and never reopened; None when they replied on none.
    one_touch_rate: Decimal | None = None
    # Average rating of the surveys answered in the period about tickets the
    # agent solved; None when nobody answered.
    csat: Decimal | None = None


def agent_facts(*, start: datetime, end: datetime) -> list[AgentFacts]:
    """Tickets each agent solved in [start, end), their median handle time
    (assigned to solved, computed in the database on PostgreSQL), one-touch
    rate, and the average rating of surveys answered in the period."""
    solved = Ticket.objects.filter(
        solved_at__gte=start, solved_at__lt=end, assignee__isnull=False
    )
    counts = dict(
        solved.values_list("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    medians = _median_handle_minutes(start=start, end=end)
    one_touch = _one_touch_rates(solved=solved)
    csat = {row.agent_id: row.average for row in csat_by_agent(start=start, end=end)}
    return [
        AgentFacts(
            agent_id=agent_id,
            solved=n,
            median_handle_minutes=medians.get(agent_id),
            one_touch_rate=one_touch.get(agent_id),
            csat=csat.get(agent_id),
        )
        for agent_id, n in sorted(counts.items())
    ]


def _one_touch_rates(*, solved: QuerySet[Ticket]) -> dict[int, Decimal]:
    # Automatic messages (the satisfaction survey) are no reply of the agent's.
    replies = (
        Message.objects.filter(
            ticket_id=OuterRef("id"),
            direction=Message.Direction.OUTBOUND,
            is_automatic=False,
        )
        .order_by()
        .values("ticket_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    rows = (
        solved.annotate(replies=Subquery(replies))
        .filter(replies__gte=1)
        .values("assignee_id")
        .annotate(
            replied=Count("id"),
            one_touch=Count("id", filter=Q(replies=1, reopened_count=0)),
        )
        .values_list("assignee_id", "replied", "one_touch")
    )
    return {
        agent_id: (Decimal(one) / Decimal(replied)).quantize(Decimal("0.001"))
        for agent_id, replied, one in rows
    }


MEDIAN_HANDLE_SQL = """
    SELECT assignee_id,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY EXTRACT(EPOCH FROM solved_at - assigned_at) / 60.0
           )
    FROM tickets_ticket
    WHERE solved_at >= %s AND solved_at < %s
      AND assignee_id IS NOT NULL AND assigned_at IS NOT NULL
    GROUP BY assignee_id
"""


def _median_handle_minutes(*, start: datetime, end: datetime) -> dict[int, Decimal]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(MEDIAN_HANDLE_SQL, [start, end])
            rows = cursor.fetchall()
        return {agent: Decimal(str(round(value, 2))) for agent, value in rows}
    # The embedded SQLite default has no percentile function; its data is small.
    durations: dict[int, list[float]] = {}
    pairs = Ticket.objects.filter(
        solved_at__gte=start,
        solved_at__lt=end,
        assignee__isnull=False,
        assigned_at__isnull=False,
    ).values_list("assignee_id", "assigned_at", "solved_at")
    for agent_id, assigned, solved in pairs:
        durations.setdefault(agent_id, []).append(
            (solved - assigned).total_seconds() / 60
        )
    return {
        agent: Decimal(str(round(statistics.median(values), 2)))
        for agent, values in durations.items()
    }
