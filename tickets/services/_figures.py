"""Refresh of the pods' figure rollups: day rows recomputed from the raw rows
(grouped queries, a fixed number per day whatever the number of pods or
tickets), then period rows merged from the day rows.

A day is a local day of each pod (its time zone): the statements of a day
select every pod's own UTC range at once, a range per time zone. Rows are
upserted on their unique keys, so a refresh is idempotent and two refreshes
racing for the same day both succeed (the later one's counts stay)."""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import (
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Coalesce

import pods.selectors
from tickets import rules
from tickets.models import (
    AgentDayFigures,
    Message,
    PodDayFigures,
    PodPeriodFigures,
    SatisfactionSurvey,
    TemplateUse,
    Ticket,
)
from tickets.rules import FIGURE_PERIODS, NO_REASON, AgentTotals, FigureTotals
from tickets.selectors._figures import agent_totals_of_row, figure_names

_DAY_FIELDS = [
    "computed_at",
    "contacts",
    "first_responses",
    "first_response_histogram",
    "solved",
    "resolution_histogram",
    "one_touch",
    "reopened",
    "rated_1",
    "rated_2",
    "rated_3",
    "rated_4",
    "rated_5",
    "repeat_contacts",
    "same_pod",
    "both_assigned",
    "same_agent",
    "reasons",
    "templates",
]
_AGENT_FIELDS = [
    "computed_at",
    "solved",
    "one_touch",
    "reopened",
    "first_responses",
    "first_response_histogram",
    "rated_1",
    "rated_2",
    "rated_3",
    "rated_4",
    "rated_5",
]


@dataclass(frozen=True)
class _PodRef:
    id: int
    name: str
    time_zone: str
    customers: int


def _pods(pod_ids: Sequence[int] | None) -> list[_PodRef]:
    pods_found = pods.selectors.pod_list()
    if pod_ids is not None:
        pods_found = pods_found.filter(id__in=list(pod_ids))
    return [
        _PodRef(id=pod_id, name=name, time_zone=zone, customers=customers)
        for pod_id, name, zone, customers in pods_found.values_list(
            "id", "name", "time_zone", "customer_count"
        )
    ]


@dataclass(frozen=True)
class FiguresRefreshed:
    day_rows: int
    period_rows: int


def figures_rollups_refresh(
    *,
    days: Iterable[date] | int,
    now: datetime,
    pod_ids: Sequence[int] | None = None,
    closed_days_again: bool = True,
) -> FiguresRefreshed:
    """Recompute the day rows of the days (figures_refresh), then the period
    rows from them (figures_periods_refresh): what the beat tasks and the
    command run."""
    day_rows = figures_refresh(
        days=days, pod_ids=pod_ids, now=now, closed_days_again=closed_days_again
    )
    period_rows = figures_periods_refresh(now=now, pod_ids=pod_ids)
    return FiguresRefreshed(day_rows=day_rows, period_rows=period_rows)


# --- Day rows ---------------------------------------------------------------------


def figures_refresh(
    *,
    days: Iterable[date] | int,
    pod_ids: Sequence[int] | None = None,
    now: datetime,
    closed_days_again: bool = True,
) -> int:
    """Recompute the day rows of the given local days (or of the last `days`
    local days up to today, today by each pod's clock) for the given pods
    (None: every pod not closed) from the raw rows. Return the day rows
    written.

    closed_days_again=False skips a pod's day whose row was computed after
    the day ended: no new event can fall on a day gone by, only late changes
    to its facts (a reopen, a merge), which the nightly run (True) picks up.
    The minute's run so computes yesterday once after midnight, then today
    only."""
    pods_found = _pods(pod_ids)
    if not pods_found:
        return 0
    if isinstance(days, int):
        day_list = _last_days(pods=pods_found, days=days, now=now)
    else:
        day_list = sorted(set(days))
    closed = (
        set()
        if closed_days_again
        else _closed_rows(pods=pods_found, days=day_list, now=now)
    )
    written = 0
    for day in day_list:
        open_pods = [pod for pod in pods_found if (pod.id, day) not in closed]
        if open_pods:
            written += _day_refresh(pods=open_pods, day=day, now=now)
    return written


def _closed_rows(
    *, pods: list[_PodRef], days: list[date], now: datetime
) -> set[tuple[int, date]]:
    zones = {pod.id: pod.time_zone for pod in pods}
    rows = PodDayFigures.objects.filter(
        pod_id__in=list(zones), day__in=days
    ).values_list("pod_id", "day", "computed_at")
    return {
        (pod_id, day)
        for pod_id, day, computed_at in rows
        if computed_at >= rules.local_day_bounds(day, zones[pod_id])[1]
    }


def _last_days(*, pods: list[_PodRef], days: int, now: datetime) -> list[date]:
    # Pods in time zones a day apart (Kiribati, Samoa) share most days.
    todays = {rules.local_day(now, pod.time_zone) for pod in pods}
    return sorted(
        {
            day
            for today in todays
            for day in rules.period_days(last_day=today, days=days)
        }
    )


def _day_refresh(*, pods: list[_PodRef], day: date, now: datetime) -> int:
    ranges = _ranges(pods=pods, day=day, now=now)
    if not ranges:
        return 0
    facts = _DayFacts(pod_ids=[pod.id for pod in pods])
    facts.read(ranges)
    with transaction.atomic():
        _day_rows_write(facts=facts, pod_ids=sorted(facts.totals), day=day, now=now)
    return len(facts.totals)


def _ranges(*, pods: list[_PodRef], day: date, now: datetime) -> list[tuple]:
    """(pod ids, start, end) per time zone: the UTC range of the local day;
    a day that has not begun for a pod is skipped."""
    by_zone: dict[str, list[int]] = defaultdict(list)
    for pod in pods:
        by_zone[pod.time_zone].append(pod.id)
    ranges = []
    for zone, ids in sorted(by_zone.items()):
        start, end = rules.local_day_bounds(day, zone)
        if start <= now:
            ranges.append((sorted(ids), start, end))
    return ranges


class _DayFacts:
    """One local day's facts of every pod, read in six statements."""

    def __init__(self, *, pod_ids: list[int]) -> None:
        self.totals: dict[int, dict] = {}
        self.pod_ids = pod_ids

    def read(self, ranges: list[tuple]) -> None:
        # Every pod asked for gets a row, empty days included: the row says
        # the day was computed.
        for ids, _, _ in ranges:
            for pod_id in ids:
                self.totals[pod_id] = _empty_totals()
        self._contacts(ranges)
        self._first_responses(ranges)
        self._solves(ranges)
        self._surveys(ranges)
        self._template_uses(ranges)
        self._template_ratings(ranges)

    def _pod(self, pod_id: int) -> dict:
        return self.totals[pod_id]

    def _contacts(self, ranges: list[tuple]) -> None:
        condition, params = _sql_ranges("t.pod_id", "t.created_at", ranges)
        with connection.cursor() as cursor:
            cursor.execute(_contacts_sql(condition), params)
            rows = cursor.fetchall()
        for pod_id, reason, assignee, previous_pod, previous_assignee in rows:
            totals = self._pod(pod_id)
            totals["contacts"] += 1
            totals["reasons"][reason or NO_REASON] += 1
            if previous_pod is None:
                continue
            totals["repeat_contacts"] += 1
            totals["same_pod"] += previous_pod == pod_id
            if assignee is not None and previous_assignee is not None:
                totals["both_assigned"] += 1
                totals["same_agent"] += assignee == previous_assignee

    def _first_responses(self, ranges: list[tuple]) -> None:
        first_author = (
            Message.objects.filter(
                ticket_id=OuterRef("id"),
                direction=Message.Direction.OUTBOUND,
                is_automatic=False,
            )
            .order_by("created_at", "id")
            .values("author_agent_id")[:1]
        )
        rows = (
            Ticket.objects.filter(
                _orm_ranges("first_response_at", ranges), merged_into__isnull=True
            )
            .annotate(
                responder=Coalesce(
                    Subquery(first_author, output_field=IntegerField()),
                    F("assignee_id"),
                    output_field=IntegerField(),
                ),
                waited=ExpressionWrapper(
                    F("first_response_at") - F("created_at"),
                    output_field=DurationField(),
                ),
            )
            .values_list("pod_id", "responder", "waited")
        )
        for pod_id, responder, waited in rows:
            seconds = waited.total_seconds()
            _histogram_add(self._pod(pod_id)["first_response"], seconds)
            if responder is not None:
                agent = self._pod(pod_id)["agents"][responder]
                _histogram_add(agent["first_response"], seconds)

    def _solves(self, ranges: list[tuple]) -> None:
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
            Ticket.objects.filter(
                _orm_ranges("solved_at", ranges), merged_into__isnull=True
            )
            .annotate(
                replies=Subquery(replies, output_field=IntegerField()),
                took=ExpressionWrapper(
                    F("solved_at") - F("created_at"), output_field=DurationField()
                ),
            )
            .values_list("pod_id", "assignee_id", "took", "reopened_count", "replies")
        )
        for pod_id, assignee, took, reopened, replies_count in rows:
            totals = self._pod(pod_id)
            one_touch = int(replies_count == 1)
            was_reopened = int(reopened > 0)
            _histogram_add(totals["resolution"], took.total_seconds())
            totals["one_touch"] += one_touch
            totals["reopened"] += was_reopened
            if assignee is not None:
                agent = totals["agents"][assignee]
                agent["solved"] += 1
                agent["one_touch"] += one_touch
                agent["reopened"] += was_reopened

    def _surveys(self, ranges: list[tuple]) -> None:
        rows = (
            SatisfactionSurvey.objects.filter(
                _orm_ranges("answered_at", ranges), rating__isnull=False
            )
            .values("pod_id", "agent_id", "rating")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("pod_id", "agent_id", "rating", "n")
        )
        for pod_id, agent_id, rating, count in rows:
            if pod_id not in self.totals:
                continue  # a closed pod's late answer
            totals = self._pod(pod_id)
            totals["ratings"][rating - 1] += count
            if agent_id is not None:
                totals["agents"][agent_id]["ratings"][rating - 1] += count

    def _template_uses(self, ranges: list[tuple]) -> None:
        rows = (
            TemplateUse.objects.filter(
                _orm_ranges("used_at", ranges, pod_field="ticket__pod_id")
            )
            .values("ticket__pod_id", "template_id")
            .annotate(n=Count("id"))
            .order_by()
            .values_list("ticket__pod_id", "template_id", "n")
        )
        for pod_id, template_id, count in rows:
            self._pod(pod_id)["templates"][template_id][0] += count

    def _template_ratings(self, ranges: list[tuple]) -> None:
        condition, params = _sql_ranges("s.pod_id", "s.answered_at", ranges)
        sql = f"""
            SELECT s.pod_id, u.template_id, s.rating, COUNT(DISTINCT s.id)
            FROM {SatisfactionSurvey._meta.db_table} s
            JOIN {TemplateUse._meta.db_table} u
              ON u.ticket_id = s.ticket_id AND u.used_at <= s.solved_at
            WHERE s.rating IS NOT NULL AND ({condition})
            GROUP BY s.pod_id, u.template_id, s.rating
        """  # noqa: S608 - table names from the models, values as parameters
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        for pod_id, template_id, rating, count in rows:
            if pod_id not in self.totals:
                continue
            tally = self._pod(pod_id)["templates"][template_id]
            tally[1] += count
            tally[2] += count if rating in rules.SATISFIED_RATINGS else 0
            tally[3] += count * rating


# The customer's previous ticket (by creation, merged duplicates aside): one
# backward probe of the customer index per contact of the day. A row per
# contact, added up in Python: a grouped query would evaluate the probe once
# per aggregate that mentions it, and a join to the previous ticket by id was
# planned as a hash of the whole table.
_PREVIOUS = """
    FROM {table} e
    WHERE e.customer_id = t.customer_id AND e.merged_into_id IS NULL
      AND e.created_at <= t.created_at
      AND (e.created_at < t.created_at OR e.id < t.id)
    ORDER BY e.created_at DESC, e.id DESC
    LIMIT 1
"""


def _contacts_sql(condition: str) -> str:
    table = Ticket._meta.db_table
    previous = _PREVIOUS.format(table=table)
    if connection.vendor == "postgresql":
        return f"""
            SELECT t.pod_id, t.contact_reason_id, t.assignee_id,
                   p.pod_id, p.assignee_id
            FROM {table} t
            LEFT JOIN LATERAL (SELECT e.pod_id, e.assignee_id {previous}) p ON true
            WHERE t.merged_into_id IS NULL AND ({condition})
        """  # noqa: S608 - table names from the models, values as parameters
    # SQLite has no LATERAL: two probes (the embedded default's data is small).
    return f"""
        SELECT t.pod_id, t.contact_reason_id, t.assignee_id,
               (SELECT e.pod_id {previous}), (SELECT e.assignee_id {previous})
        FROM {table} t
        WHERE t.merged_into_id IS NULL AND ({condition})
    """  # noqa: S608 - table names from the models, values as parameters


def _orm_ranges(field: str, ranges: list[tuple], *, pod_field: str = "pod_id") -> Q:
    condition = Q()
    for ids, start, end in ranges:
        condition |= Q(
            **{f"{pod_field}__in": ids, f"{field}__gte": start, f"{field}__lt": end}
        )
    return condition


def _sql_ranges(pod_column: str, column: str, ranges: list[tuple]) -> tuple[str, list]:
    adapt = connection.ops.adapt_datetimefield_value
    parts, params = [], []
    for ids, start, end in ranges:
        marks = ", ".join(["%s"] * len(ids))
        parts.append(
            f"({pod_column} IN ({marks}) AND {column} >= %s AND {column} < %s)"
        )
        params.extend([*ids, adapt(start), adapt(end)])
    return " OR ".join(parts), params


def _histogram_add(histogram: dict, seconds: float) -> None:
    bucket = rules.duration_bucket(seconds)
    histogram[bucket] = histogram.get(bucket, 0) + 1


def _empty_agent() -> dict:
    return {
        "solved": 0,
        "one_touch": 0,
        "reopened": 0,
        "first_response": {},
        "ratings": [0] * 5,
    }


def _empty_totals() -> dict:
    return {
        "contacts": 0,
        "first_response": {},
        "resolution": {},
        "one_touch": 0,
        "reopened": 0,
        "ratings": [0] * 5,
        "repeat_contacts": 0,
        "same_pod": 0,
        "both_assigned": 0,
        "same_agent": 0,
        "reasons": defaultdict(int),
        "templates": defaultdict(lambda: [0, 0, 0, 0]),
        "agents": defaultdict(_empty_agent),
    }


def _day_rows_write(*, facts: _DayFacts, pod_ids: list[int], day: date, now) -> None:
    pod_rows, agent_rows = [], []
    for pod_id in pod_ids:
        totals = facts.totals[pod_id]
        pod_rows.append(_pod_day_row(pod_id=pod_id, day=day, totals=totals, now=now))
        agent_rows.extend(
            _agent_day_row(pod_id=pod_id, agent_id=agent, day=day, one=one, now=now)
            for agent, one in sorted(totals["agents"].items())
        )
    PodDayFigures.objects.bulk_create(
        pod_rows,
        update_conflicts=True,
        unique_fields=["pod", "day"],
        update_fields=_DAY_FIELDS,
    )
    # An agent with figures on this day before and none now (a solve reopened,
    # a ticket moved) loses their row.
    stale = Q()
    for pod_id in pod_ids:
        kept = [row.agent_id for row in agent_rows if row.pod_id == pod_id]
        stale |= Q(pod_id=pod_id) & ~Q(agent_id__in=kept)
    AgentDayFigures.objects.filter(stale, day=day).delete()
    AgentDayFigures.objects.bulk_create(
        agent_rows,
        update_conflicts=True,
        unique_fields=["agent", "day", "pod"],
        update_fields=_AGENT_FIELDS,
    )


def _pod_day_row(*, pod_id: int, day: date, totals: dict, now) -> PodDayFigures:
    ratings = totals["ratings"]
    return PodDayFigures(
        pod_id=pod_id,
        day=day,
        computed_at=now,
        contacts=totals["contacts"],
        first_responses=sum(totals["first_response"].values()),
        first_response_histogram=_histogram_json(totals["first_response"]),
        solved=sum(totals["resolution"].values()),
        resolution_histogram=_histogram_json(totals["resolution"]),
        one_touch=totals["one_touch"],
        reopened=totals["reopened"],
        rated_1=ratings[0],
        rated_2=ratings[1],
        rated_3=ratings[2],
        rated_4=ratings[3],
        rated_5=ratings[4],
        repeat_contacts=totals["repeat_contacts"],
        same_pod=totals["same_pod"],
        both_assigned=totals["both_assigned"],
        same_agent=totals["same_agent"],
        reasons={str(key): count for key, count in sorted(totals["reasons"].items())},
        templates={
            str(key): tally for key, tally in sorted(totals["templates"].items())
        },
    )


def _agent_day_row(
    *, pod_id: int, agent_id: int, day: date, one: dict, now
) -> AgentDayFigures:
    ratings = one["ratings"]
    return AgentDayFigures(
        pod_id=pod_id,
        agent_id=agent_id,
        day=day,
        computed_at=now,
        solved=one["solved"],
        one_touch=one["one_touch"],
        reopened=one["reopened"],
        first_responses=sum(one["first_response"].values()),
        first_response_histogram=_histogram_json(one["first_response"]),
        rated_1=ratings[0],
        rated_2=ratings[1],
        rated_3=ratings[2],
        rated_4=ratings[3],
        rated_5=ratings[4],
    )


def _histogram_json(histogram: dict) -> dict[str, int]:
    return {str(bucket): count for bucket, count in sorted(histogram.items())}


# --- Period rows ------------------------------------------------------------------


def figures_periods_refresh(
    *, now: datetime, pod_ids: Sequence[int] | None = None
) -> int:
    """Merge each pod's day rows into its period rows (1, 7, 30 and 90 local
    days up to today), with the previous equal periods' reasons and the names
    they mention; as of the older refresh of its today and yesterday rows.
    Rows of closed pods go. A fixed number of queries whatever the number of
    pods. Return the period rows written."""
    pods_found = _pods(pod_ids)
    todays = {pod.id: rules.local_day(now, pod.time_zone) for pod in pods_found}
    longest = max(FIGURE_PERIODS)
    first_today = min(todays.values(), default=now.date())
    by_pod = _day_totals(
        pod_ids=list(todays),
        since=first_today - timedelta(days=2 * longest),
        # Agents are shown for the periods themselves, never the previous ones.
        agents_since=first_today - timedelta(days=longest),
    )
    periods = {
        pod.id: {
            days: rules.period_totals(
                days=rules.period_days(last_day=todays[pod.id], days=days),
                by_day=by_pod[pod.id]["totals"],
                previous_days=rules.previous_period_days(
                    last_day=todays[pod.id], days=days
                ),
            )
            for days in FIGURE_PERIODS
        }
        for pod in pods_found
    }
    names = _names(periods)
    rows = [
        PodPeriodFigures(
            pod_id=pod.id,
            period_days=days,
            first_day=period.first_day,
            last_day=period.last_day,
            customers=pod.customers,
            as_of=_as_of(by_pod[pod.id]["computed"], today=todays[pod.id]) or now,
            figures={"period": period.to_json(), "names": names[pod.id]},
            headline={"period": rules.period_headline(period).to_json()},
            revision=uuid.uuid4(),
        )
        for pod in pods_found
        for days, period in periods[pod.id].items()
    ]
    with transaction.atomic():
        if pod_ids is None:
            PodPeriodFigures.objects.exclude(pod_id__in=list(todays)).delete()
        PodPeriodFigures.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["pod", "period_days"],
            update_fields=[
                "first_day",
                "last_day",
                "customers",
                "as_of",
                "figures",
                "headline",
                "revision",
            ],
        )
    return len(rows)


def _day_totals(
    *, pod_ids: list[int], since: date, agents_since: date
) -> dict[int, dict]:
    """Every pod's day totals since the day (their agents' since
    agents_since), with the refresh times: two queries."""
    agents: dict[tuple[int, date], dict[int, AgentTotals]] = defaultdict(dict)
    for row in AgentDayFigures.objects.filter(
        pod_id__in=pod_ids, day__gte=agents_since
    ).values("pod_id", "agent_id", "day", *_AGENT_FIELDS):
        agents[row["pod_id"], row["day"]][row["agent_id"]] = agent_totals_of_row(row)
    by_pod: dict[int, dict] = {
        pod_id: {"totals": {}, "computed": {}} for pod_id in pod_ids
    }
    for row in PodDayFigures.objects.filter(pod_id__in=pod_ids, day__gte=since).values(
        "pod_id", "day", *_DAY_FIELDS
    ):
        pod_id, day = row["pod_id"], row["day"]
        by_pod[pod_id]["totals"][day] = _pod_totals_of_row(
            row, agents=agents.get((pod_id, day), {})
        )
        by_pod[pod_id]["computed"][day] = row["computed_at"]
    return by_pod


def _pod_totals_of_row(row: dict, *, agents: dict[int, AgentTotals]) -> FigureTotals:
    return FigureTotals(
        contacts=row["contacts"],
        first_response=rules.histogram_from_json(row["first_response_histogram"]),
        resolution=rules.histogram_from_json(row["resolution_histogram"]),
        one_touch=row["one_touch"],
        reopened=row["reopened"],
        ratings=tuple(row[f"rated_{rating}"] for rating in range(1, 6)),
        repeat_contacts=row["repeat_contacts"],
        same_pod=row["same_pod"],
        both_assigned=row["both_assigned"],
        same_agent=row["same_agent"],
        reasons={int(key): count for key, count in row["reasons"].items()},
        templates={
            int(key): rules.TemplateTally(*tally)
            for key, tally in row["templates"].items()
        },
        agents=agents,
    )


def _as_of(computed: dict[date, datetime], *, today: date) -> datetime | None:
    recent = [
        computed[day] for day in (today, today - timedelta(days=1)) if day in computed
    ]
    return min(recent, default=None)


def _names(periods: dict[int, dict[int, rules.PeriodTotals]]) -> dict[int, dict]:
    reasons: set[int] = set()
    templates: set[int] = set()
    agents: dict[int, set[int]] = {}
    for pod_id, by_days in periods.items():
        longest = by_days[max(by_days)]
        reasons |= set(longest.totals.reasons) | set(longest.previous_reasons)
        templates |= set(longest.totals.templates)
        agents[pod_id] = set(longest.totals.agents)
    return figure_names(reasons=reasons, templates=templates, agent_ids_by_pod=agents)
