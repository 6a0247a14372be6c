"""Reads of customer satisfaction: the survey a link opens, a ticket's rating,
and average ratings per agent and per pod over a period."""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, F, Sum

from tickets.models import SatisfactionSurvey

TOKEN_MAX_LENGTH = 64  # the column's width: anything longer is no token of ours
AVERAGE_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class AgentCsat:
    agent_id: int
    average: Decimal
    count: int


@dataclass(frozen=True)
class PodCsat:
    pod_id: int
    start: datetime
    end: datetime
    # None when nobody answered in the period.
    average: Decimal | None
    count: int
    agents: list[AgentCsat]


def survey_by_token(*, token: str, now: datetime) -> SatisfactionSurvey | None:
    """The survey a link opens, with its agent and pod for the page; None when
    the token is unknown or the link has expired (the customer is told the same
    for both, so a link reveals nothing about another)."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    return (
        SatisfactionSurvey.objects.select_related("pod", "agent__user")
        .filter(token=token, expires_at__gt=now)
        .first()
    )


def csat_of_ticket(*, ticket_id: int) -> SatisfactionSurvey | None:
    """The ticket's satisfaction: its most recently answered survey, else its
    latest one still waiting for an answer; None when none was sent."""
    return (
        SatisfactionSurvey.objects.filter(ticket_id=ticket_id)
        .order_by(F("answered_at").desc(nulls_last=True), "-solved_at", "-id")
        .first()
    )


def csat_by_agent(*, start: datetime, end: datetime) -> list[AgentCsat]:
    """Each agent's average rating and the number of ratings, of surveys
    answered in [start, end), by agent id."""
    rows = _rating_sums(
        SatisfactionSurvey.objects.filter(agent__isnull=False), start=start, end=end
    )
    return [
        AgentCsat(agent_id=agent_id, average=_average(total, count), count=count)
        for agent_id, total, count in rows
    ]


def csat_by_pod(*, pod_id: int, start: datetime, end: datetime) -> PodCsat:
    """The pod's average rating and count of surveys answered in [start, end)
    (the pod that solved the ticket), and the same for each of its agents, in
    one query. Surveys of tickets solved by nobody count for the pod only."""
    rows = _rating_sums(
        SatisfactionSurvey.objects.filter(pod_id=pod_id), start=start, end=end
    )
    total = sum(row_total for _, row_total, _ in rows)
    count = sum(row_count for _, _, row_count in rows)
    return PodCsat(
        pod_id=pod_id,
        start=start,
        end=end,
        average=_average(total, count) if count else None,
        count=count,
        agents=[
            AgentCsat(agent_id=agent_id, average=_average(sub, n), count=n)
            for agent_id, sub, n in rows
            if agent_id is not None
        ],
    )


def _rating_sums(surveys, *, start: datetime, end: datetime) -> list[tuple]:
    # Sums and counts, not AVG: exact on both databases (SQLite's AVG is a
    # float), rounded once here.
    return list(
        surveys.filter(
            rating__isnull=False, answered_at__gte=start, answered_at__lt=end
        )
        .values("agent_id")
        .annotate(total=Sum("rating"), n=Count("id"))
        .order_by("agent_id")
        .values_list("agent_id", "total", "n")
    )


def _average(total: int, count: int) -> Decimal:
    return (Decimal(total) / Decimal(count)).quantize(
        AVERAGE_PLACES, rounding=ROUND_HALF_UP
    )
