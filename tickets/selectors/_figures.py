"""Reads of a pod's figures for dashboards: a period's figures from its one
period row (constant time whatever the period and the size of the tables),
an agent's own from their day rows, the live queue and agent load, and the
same period figures recomputed directly from the raw tickets (what tests and
the check compare the rollups with).

Figure definitions: tickets.rules.FigureTotals; the refresh:
tickets.services.figures_refresh / figures_periods_refresh."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from hashlib import sha256

from django.db.models import Case, Count, Min, Q, When
from django.utils.translation import gettext

import pods.selectors
from tickets import rules
from tickets.models import (
    AgentDayFigures,
    ContactReason,
    Message,
    PodPeriodFigures,
    ReplyTemplate,
    SatisfactionSurvey,
    TemplateUse,
    Ticket,
)
from tickets.rules import MEDIAN, NO_REASON, P90, AgentTotals, FigureTotals
from tickets.selectors._queues import BREACHING_WINDOW

PER_THOUSAND_PLACES = Decimal("0.01")
PER_CUSTOMER_PLACES = Decimal("0.0001")
# Due within this window counts as "due soon" on the live panel: the queue's
# "breaching" view's window, so both say the same.
DUE_SOON_WINDOW = BREACHING_WINDOW


# --- What the selectors return ----------------------------------------------------


@dataclass(frozen=True)
class DurationFigures:
    """Durations in seconds: how many, median and p90 (within 5%, read off the
    histogram), and the histogram itself ({bucket: count})."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None
    histogram: Mapping[int, int]


@dataclass(frozen=True)
class CsatFigures:
    """Surveys answered: count per rating 1..5, the share of 4 and 5 (CSAT),
    the mean rating."""

    answered: int
    ratings: tuple[int, ...]
    satisfied_rate: Decimal | None
    mean: Decimal | None


@dataclass(frozen=True)
class ContinuityFigures:
    """Repeat contacts (customer had an earlier ticket), how many went to the
    same pod as that ticket, and of those where both tickets had an assignee,
    how many to the same agent."""

    repeat_contacts: int
    same_pod: int
    same_pod_rate: Decimal | None
    both_assigned: int
    same_agent: int
    same_agent_rate: Decimal | None


@dataclass(frozen=True)
class ReasonFigures:
    """Contacts for one reason (reason_id None: none given), against the
    previous equal period, with a per-day series (oldest first)."""

    reason_id: int | None
    name: str
    contacts: int
    previous_contacts: int
    trend: str  # rules.Trend: UP, DOWN, FLAT, NEW
    change: Decimal | None  # (contacts - previous) / previous
    series: tuple[int, ...]


@dataclass(frozen=True)
class TemplateFigures:
    """A reply template's uses in the pod, and the surveys answered on solves
    that followed a use on their ticket."""

    template_id: int
    title: str
    uses: int
    rated: int
    satisfied_rate: Decimal | None
    mean_rating: Decimal | None


@dataclass(frozen=True)
class AgentPeriodFigures:
    """One agent's work in the pod in the period."""

    agent_id: int
    name: str
    handled: int  # tickets solved as assignee
    one_touch_rate: Decimal | None
    reopened: int
    first_response: DurationFigures  # first responses they made
    csat: CsatFigures


@dataclass(frozen=True)
class FigureSeries:
    """Per local day of the period, oldest first: for sparklines."""

    days: tuple[date, ...]
    contacts: tuple[int, ...]
    solved: tuple[int, ...]
    first_response_median_seconds: tuple[float | None, ...]
    csat: tuple[Decimal | None, ...]


@dataclass(frozen=True)
class PodFigures:
    """A pod's figures over the local days first_day..last_day (period_days of
    them, today last), as of a refresh (None when recomputed from raw)."""

    pod_id: int
    pod_name: str
    time_zone: str
    period_days: int
    first_day: date
    last_day: date
    as_of: datetime | None
    customers: int
    contacts: int
    contacts_per_customer: Decimal | None
    contacts_per_1000_customers: Decimal | None
    first_response: DurationFigures
    resolution: DurationFigures
    solved: int
    one_touch: int
    one_touch_rate: Decimal | None
    reopened: int
    reopen_rate: Decimal | None
    csat: CsatFigures
    continuity: ContinuityFigures
    reasons: tuple[ReasonFigures, ...]  # most contacts first
    templates: tuple[TemplateFigures, ...]  # most used first
    agents: tuple[AgentPeriodFigures, ...]  # by name
    series: FigureSeries


@dataclass(frozen=True)
class AgentFigures:
    """An agent's own figures over the period of their pod (in every pod they
    worked in), as of their pod's refresh."""

    agent_id: int
    period_days: int
    first_day: date | None
    last_day: date | None
    as_of: datetime | None
    handled: int
    one_touch: int
    one_touch_rate: Decimal | None
    reopened: int
    first_response: DurationFigures
    csat: CsatFigures
    handled_series: tuple[int, ...]


@dataclass(frozen=True)
class AgentLive:
    agent_id: int
    name: str
    role: str
    presence: str
    open_tickets: int
    capacity: int
    handled_today: int  # tickets they solved today (the pod's local day)
    tier: str
    proficiency_score: Decimal


@dataclass(frozen=True)
class PodLive:
    """The pod's queue and agents now."""

    pod_id: int
    as_of: datetime
    time_zone: str
    unassigned: int  # new or open, nobody assigned
    open: int  # new or open
    pending: int
    oldest_waiting_since: datetime | None  # created_at of the oldest unassigned
    sla_breached: int  # new or open, past their SLA due time
    sla_due_soon: int  # new or open, due within DUE_SOON_WINDOW (not yet past)
    handled_today: int
    agents: tuple[AgentLive, ...]


# --- Building figures from totals (shared by rollups and raw) ---------------------


def _durations(histogram: Mapping[int, int]) -> DurationFigures:
    return DurationFigures(
        count=sum(histogram.values()),
        median_seconds=rules.histogram_quantile(histogram, MEDIAN),
        p90_seconds=rules.histogram_quantile(histogram, P90),
        histogram=dict(histogram),
    )


def _csat(ratings: tuple[int, ...]) -> CsatFigures:
    answered, satisfied, mean = rules.ratings_csat(ratings)
    return CsatFigures(
        answered=answered,
        ratings=tuple(ratings),
        satisfied_rate=satisfied,
        mean=mean,
    )


def _agent_period(agent_id: int, name: str, totals: AgentTotals) -> AgentPeriodFigures:
    return AgentPeriodFigures(
        agent_id=agent_id,
        name=name,
        handled=totals.solved,
        one_touch_rate=rules.share(totals.one_touch, totals.solved),
        reopened=totals.reopened,
        first_response=_durations(totals.first_response),
        csat=_csat(totals.ratings),
    )


def _reasons(period: rules.PeriodTotals, names: Mapping) -> tuple[ReasonFigures, ...]:
    found = []
    for reason, contacts in period.totals.reasons.items():
        previous = period.previous_reasons.get(reason, 0)
        direction, change = rules.trend(contacts, previous)
        found.append(
            ReasonFigures(
                reason_id=None if reason == NO_REASON else reason,
                name=names.get(str(reason)) or _reason_fallback(reason),
                contacts=contacts,
                previous_contacts=previous,
                trend=direction,
                change=change,
                series=period.reason_series.get(reason, ()),
            )
        )
    return tuple(sorted(found, key=lambda one: (-one.contacts, one.name)))


def _reason_fallback(reason: int) -> str:
    if reason == NO_REASON:
        return gettext("No reason given")
    return gettext("Reason #%(id)s") % {"id": reason}


def _templates(
    period: rules.PeriodTotals, names: Mapping
) -> tuple[TemplateFigures, ...]:
    found = [
        TemplateFigures(
            template_id=template,
            title=names.get(str(template))
            or gettext("Template #%(id)s") % {"id": template},
            uses=tally.uses,
            rated=tally.rated,
            satisfied_rate=rules.share(tally.satisfied, tally.rated),
            mean_rating=rules.ratio(
                tally.rating_sum, tally.rated, places=rules.MEAN_PLACES
            ),
        )
        for template, tally in period.totals.templates.items()
    ]
    return tuple(sorted(found, key=lambda one: (-one.uses, one.title, one.template_id)))


def _agents(
    period: rules.PeriodTotals, names: Mapping, members: Iterable[int]
) -> tuple[AgentPeriodFigures, ...]:
    # The pod's members (when the row was refreshed), and whoever else worked
    # in the pod in the period.
    agent_ids = set(members) | set(period.totals.agents)
    found = [
        _agent_period(
            agent,
            names.get(str(agent)) or gettext("Agent #%(id)s") % {"id": agent},
            period.totals.agents.get(agent, AgentTotals()),
        )
        for agent in agent_ids
    ]
    return tuple(sorted(found, key=lambda one: (one.name, one.agent_id)))


def pod_figures_build(
    *,
    pod_id: int,
    pod_name: str,
    time_zone: str,
    period_days: int,
    customers: int,
    as_of: datetime | None,
    period: rules.PeriodTotals,
    names: Mapping[str, Mapping[str, str]],
) -> PodFigures:
    """The figures of a period row's totals (names: {"reasons"|"templates"|
    "agents": {id: name}, "members": [agent id]}; members are listed even
    without work)."""
    totals: FigureTotals = period.totals
    solved = totals.solved
    return PodFigures(
        pod_id=pod_id,
        pod_name=pod_name,
        time_zone=time_zone,
        period_days=period_days,
        first_day=period.first_day,
        last_day=period.last_day,
        as_of=as_of,
        customers=customers,
        contacts=totals.contacts,
        contacts_per_customer=rules.ratio(
            totals.contacts, customers, places=PER_CUSTOMER_PLACES
        ),
        contacts_per_1000_customers=rules.ratio(
            totals.contacts * 1000, customers, places=PER_THOUSAND_PLACES
        ),
        first_response=_durations(totals.first_response),
        resolution=_durations(totals.resolution),
        solved=solved,
        one_touch=totals.one_touch,
        one_touch_rate=rules.share(totals.one_touch, solved),
        reopened=totals.reopened,
        reopen_rate=rules.share(totals.reopened, solved),
        csat=_csat(totals.ratings),
        continuity=ContinuityFigures(
            repeat_contacts=totals.repeat_contacts,
            same_pod=totals.same_pod,
            same_pod_rate=rules.share(totals.same_pod, totals.repeat_contacts),
            both_assigned=totals.both_assigned,
            same_agent=totals.same_agent,
            same_agent_rate=rules.share(totals.same_agent, totals.both_assigned),
        ),
        reasons=_reasons(period, names.get("reasons", {})),
        templates=_templates(period, names.get("templates", {})),
        agents=_agents(period, names.get("agents", {}), names.get("members", ())),
        series=FigureSeries(
            days=tuple(rules.period_days(last_day=period.last_day, days=period_days)),
            contacts=period.contacts_series,
            solved=period.solved_series,
            first_response_median_seconds=period.first_response_median_series,
            csat=period.csat_series,
        ),
    )


# --- Period rows: what pages read -------------------------------------------------

_PERIOD_ROW_FIELDS = (
    "pod_id",
    "pod__name",
    "pod__time_zone",
    "period_days",
    "customers",
    "as_of",
    "figures",
)


def _from_period_row(row: tuple) -> PodFigures:
    pod_id, name, time_zone, days, customers, as_of, figures = row
    return pod_figures_build(
        pod_id=pod_id,
        pod_name=name,
        time_zone=time_zone,
        period_days=days,
        customers=customers,
        as_of=as_of,
        period=rules.PeriodTotals.from_json(figures["period"]),
        names=figures.get("names", {}),
    )


def pod_figures(*, pod_id: int, period_days: int) -> PodFigures | None:
    """The pod's figures of the last `period_days` local days (1, 7, 30, 90),
    from its period row, in one query; None before the first refresh."""
    row = (
        PodPeriodFigures.objects.filter(pod_id=pod_id, period_days=period_days)
        .values_list(*_PERIOD_ROW_FIELDS)
        .first()
    )
    return None if row is None else _from_period_row(row)


def pod_figures_revision(*, pod_id: int, period_days: int) -> str | None:
    """The revision of the pod's period row (new at every refresh), with the
    pod's name and zone the figures are shown with; None before the first
    refresh. What a rendered panel of these figures is cached by."""
    row = (
        PodPeriodFigures.objects.filter(pod_id=pod_id, period_days=period_days)
        .values_list("revision", "pod__name", "pod__time_zone")
        .first()
    )
    return None if row is None else _revision_text([row])


def organisation_figures(*, period_days: int) -> list[PodFigures]:
    """Every pod's figures of the period, by pod name, in one query."""
    rows = (
        PodPeriodFigures.objects.filter(period_days=period_days)
        .order_by("pod__name", "pod_id")
        .values_list(*_PERIOD_ROW_FIELDS)
    )
    return [_from_period_row(row) for row in rows]


def organisation_headlines(*, period_days: int) -> list[PodFigures]:
    """Every pod's pod-wide figures of the period, by pod name, in one query:
    organisation_figures without the per-agent, per-reason and per-template
    detail nor the series (empty), read from each period row's headline (a
    small part of the row to decode; the whole row for a row refreshed before
    headlines existed)."""
    rows = (
        PodPeriodFigures.objects.filter(period_days=period_days)
        .order_by("pod__name", "pod_id")
        .annotate(detail=Case(When(headline__isnull=True, then="figures")))
        .values_list(*_PERIOD_ROW_FIELDS[:-1], "headline", "detail")
    )
    return [
        _from_period_row((*row[:-2], row[-2] or headline_of(row[-1]))) for row in rows
    ]


def headline_of(figures: Mapping) -> dict:
    """A period row's headline computed from its whole figures."""
    period = rules.PeriodTotals.from_json(figures["period"])
    return {"period": rules.period_headline(period).to_json()}


def organisation_figures_revision(*, period_days: int) -> str:
    """What organisation_figures shows changes only with this: every pod's
    period row's revision, name and zone (one query on the period's index)."""
    rows = (
        PodPeriodFigures.objects.filter(period_days=period_days)
        .order_by("pod_id")
        .values_list("revision", "pod__name", "pod__time_zone")
    )
    return _revision_text(rows)


def _revision_text(rows: Iterable[tuple]) -> str:
    return sha256(repr([tuple(map(str, row)) for row in rows]).encode()).hexdigest()


_AGENT_DAY_FIELDS = (
    "day",
    "solved",
    "one_touch",
    "reopened",
    "first_response_histogram",
    "rated_1",
    "rated_2",
    "rated_3",
    "rated_4",
    "rated_5",
)


def agent_totals_of_row(row: Mapping) -> AgentTotals:
    return AgentTotals(
        solved=row["solved"],
        one_touch=row["one_touch"],
        reopened=row["reopened"],
        first_response=rules.histogram_from_json(row["first_response_histogram"]),
        ratings=tuple(row[f"rated_{rating}"] for rating in range(1, 6)),
    )


def agent_figures(*, agent_id: int, period_days: int) -> AgentFigures:
    """The agent's own figures of the last `period_days` local days of their
    pod (the days of its period row, in every pod they worked in): three
    queries."""
    brief = pods.selectors.agent_brief(agent_id=agent_id)
    window = (
        PodPeriodFigures.objects.filter(pod_id=brief.pod_id, period_days=period_days)
        .values_list("first_day", "last_day", "as_of")
        .first()
        if brief is not None and brief.pod_id is not None
        else None
    )
    if window is None:
        return _agent_figures(agent_id, period_days, None, None, None, {})
    first_day, last_day, as_of = window
    rows = AgentDayFigures.objects.filter(
        agent_id=agent_id, day__gte=first_day, day__lte=last_day
    ).values(*_AGENT_DAY_FIELDS)
    by_day: dict[date, AgentTotals] = defaultdict(AgentTotals)
    for row in rows:
        by_day[row["day"]] = by_day[row["day"]] + agent_totals_of_row(row)
    return _agent_figures(agent_id, period_days, first_day, last_day, as_of, by_day)


def _agent_figures(agent_id, period_days, first_day, last_day, as_of, by_day):
    totals = AgentTotals()
    for one in by_day.values():
        totals = totals + one
    days = rules.period_days(last_day=last_day, days=period_days) if last_day else []
    return AgentFigures(
        agent_id=agent_id,
        period_days=period_days,
        first_day=first_day,
        last_day=last_day,
        as_of=as_of,
        handled=totals.solved,
        one_touch=totals.one_touch,
        one_touch_rate=rules.share(totals.one_touch, totals.solved),
        reopened=totals.reopened,
        first_response=_durations(totals.first_response),
        csat=_csat(totals.ratings),
        handled_series=tuple(
            by_day[day].solved if day in by_day else 0 for day in days
        ),
    )


# --- Live -------------------------------------------------------------------------

WORKABLE = (Ticket.Status.NEW, Ticket.Status.OPEN)


def pod_live_figures(*, pod_id: int, now: datetime) -> PodLive:
    """The pod's queue now (unassigned, open, pending, the oldest waiting, SLA
    breached and due soon) and each current member's presence, open tickets
    against capacity and tickets solved today: four queries on indexes."""
    pod = pods.selectors.pod_detail(pod_id=pod_id)
    queue = Ticket.objects.filter(
        pod_id=pod_id, status__in=Ticket.OPEN_STATUSES, merged_into__isnull=True
    ).aggregate(
        unassigned=Count("id", filter=Q(status__in=WORKABLE, assignee__isnull=True)),
        open=Count("id", filter=Q(status__in=WORKABLE)),
        pending=Count("id", filter=Q(status=Ticket.Status.PENDING)),
        oldest=Min("created_at", filter=Q(status__in=WORKABLE, assignee__isnull=True)),
        breached=Count("id", filter=Q(status__in=WORKABLE, sla_due_at__lte=now)),
        due_soon=Count(
            "id",
            filter=Q(
                status__in=WORKABLE,
                sla_due_at__gt=now,
                sla_due_at__lte=now + DUE_SOON_WINDOW,
            ),
        ),
    )
    start, _ = rules.local_day_bounds(
        rules.local_day(now, pod.time_zone), pod.time_zone
    )
    handled = dict(
        Ticket.objects.filter(
            pod_id=pod_id,
            solved_at__gte=start,
            solved_at__lte=now,
            merged_into__isnull=True,
            assignee__isnull=False,
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("assignee_id", "n")
    )
    agents = tuple(
        AgentLive(
            agent_id=member.id,
            name=str(member),
            role=member.role,
            presence=member.presence,
            open_tickets=member.open_ticket_count,
            capacity=member.capacity,
            handled_today=handled.get(member.id, 0),
            tier=member.tier,
            proficiency_score=member.proficiency_score,
        )
        for member in pods.selectors.pod_members(pod_id=pod_id)
    )
    return PodLive(
        pod_id=pod_id,
        as_of=now,
        time_zone=pod.time_zone,
        unassigned=queue["unassigned"],
        open=queue["open"],
        pending=queue["pending"],
        oldest_waiting_since=queue["oldest"],
        sla_breached=queue["breached"],
        sla_due_soon=queue["due_soon"],
        handled_today=sum(handled.values()),
        agents=agents,
    )


# --- Straight from the raw rows: what the rollups must agree with -----------------


def pod_figures_from_raw(*, pod_id: int, start: date, end: date) -> PodFigures:
    """The pod's figures over its local days start <= day < end, recomputed
    from the raw tickets, messages, surveys and template uses (row by row in
    Python, not the refresh's grouped queries); the reasons' trend against the
    equal period before. Slow on a big pod: for tests and checks."""
    pod = pods.selectors.pod_detail(pod_id=pod_id)
    days_count = (end - start).days
    days = rules.period_days(last_day=end - timedelta(days=1), days=days_count)
    previous = rules.previous_period_days(last_day=days[-1], days=days_count)
    window = (
        rules.local_day_bounds(previous[0], pod.time_zone)[0],
        rules.local_day_bounds(days[-1], pod.time_zone)[1],
    )
    raw = _RawDays(pod_id=pod_id, time_zone=pod.time_zone, window=window)
    period = rules.period_totals(days=days, by_day=raw.by_day(), previous_days=previous)
    return pod_figures_build(
        pod_id=pod_id,
        pod_name=pod.name,
        time_zone=pod.time_zone,
        period_days=days_count,
        customers=pod.customer_count,
        as_of=None,
        period=period,
        names=figure_names(
            reasons=period.totals.reasons,
            templates=period.totals.templates,
            agent_ids_by_pod={pod_id: set(period.totals.agents)},
        )[pod_id],
    )


def figure_names(
    *, reasons, templates, agent_ids_by_pod: Mapping[int, set[int]]
) -> dict[int, dict[str, dict[str, str]]]:
    """Names for a period row, per pod: its reasons and templates named in the
    totals, its current members and anyone else with figures. Three queries."""
    reason_names = dict(
        ContactReason.objects.filter(id__in=list(reasons)).values_list("id", "name")
    )
    template_names = dict(
        ReplyTemplate.objects.filter(id__in=list(templates)).values_list("id", "title")
    )
    members = pods.selectors.agents_of_pods(pod_ids=None)
    agent_names = {agent.id: agent.name for agent in members}
    named = {}
    for pod_id, agent_ids in agent_ids_by_pod.items():
        pod_members = sorted(agent.id for agent in members if agent.pod_id == pod_id)
        ids = agent_ids | set(pod_members)
        named[pod_id] = {
            "members": pod_members,
            "reasons": {str(key): name for key, name in reason_names.items()},
            "templates": {str(key): name for key, name in template_names.items()},
            "agents": {
                str(agent): agent_names.get(agent)
                or gettext("Agent #%(id)s") % {"id": agent}
                for agent in ids
            },
        }
    return named


class _RawDays:
    """The pod's raw facts in a UTC window, each put on its local day."""

    def __init__(self, *, pod_id: int, time_zone: str, window: tuple) -> None:
        self.pod_id = pod_id
        self.time_zone = time_zone
        self.window = window
        self.days: dict[date, dict] = defaultdict(_empty_day)

    def day_of(self, moment: datetime) -> dict:
        return self.days[rules.local_day(moment, self.time_zone)]

    def by_day(self) -> dict[date, FigureTotals]:
        self._contacts()
        self._first_responses()
        self._solves()
        self._surveys()
        self._template_uses()
        return {day: _totals_of(facts) for day, facts in self.days.items()}

    def _in_window(self, field: str) -> Q:
        return Q(**{f"{field}__gte": self.window[0], f"{field}__lt": self.window[1]})

    def _contacts(self) -> None:
        contacts = list(
            Ticket.objects.filter(
                self._in_window("created_at"),
                pod_id=self.pod_id,
                merged_into__isnull=True,
            ).values_list(
                "id", "customer_id", "created_at", "contact_reason_id", "assignee_id"
            )
        )
        history = defaultdict(list)
        for row in Ticket.objects.filter(
            customer_id__in={customer for _, customer, *_ in contacts},
            merged_into__isnull=True,
        ).values_list("customer_id", "created_at", "id", "pod_id", "assignee_id"):
            history[row[0]].append(row[1:])
        for ticket_id, customer, created, reason, assignee in contacts:
            day = self.day_of(created)
            day["contacts"] += 1
            day["reasons"][reason or NO_REASON] += 1
            earlier = [
                row for row in history[customer] if row[:2] < (created, ticket_id)
            ]
            if not earlier:
                continue
            _, _, previous_pod, previous_assignee = max(earlier)
            day["repeat_contacts"] += 1
            day["same_pod"] += previous_pod == self.pod_id
            if assignee is not None and previous_assignee is not None:
                day["both_assigned"] += 1
                day["same_agent"] += assignee == previous_assignee

    def _first_responses(self) -> None:
        answered = list(
            Ticket.objects.filter(
                self._in_window("first_response_at"),
                pod_id=self.pod_id,
                merged_into__isnull=True,
            ).values_list("id", "created_at", "first_response_at", "assignee_id")
        )
        first_author = {}
        for ticket_id, author in (
            Message.objects.filter(
                ticket_id__in=[row[0] for row in answered],
                direction=Message.Direction.OUTBOUND,
                is_automatic=False,
            )
            .order_by("ticket_id", "created_at", "id")
            .values_list("ticket_id", "author_agent_id")
        ):
            first_author.setdefault(ticket_id, author)
        for ticket_id, created, responded, assignee in answered:
            seconds = (responded - created).total_seconds()
            day = self.day_of(responded)
            day["first_response"].append(seconds)
            agent = first_author.get(ticket_id) or assignee
            if agent is not None:
                day["agents"][agent]["first_response"].append(seconds)

    def _solves(self) -> None:
        solved = list(
            Ticket.objects.filter(
                self._in_window("solved_at"),
                pod_id=self.pod_id,
                merged_into__isnull=True,
            ).values_list(
                "id", "created_at", "solved_at", "reopened_count", "assignee_id"
            )
        )
        replies = Counter(
            Message.objects.filter(
                ticket_id__in=[row[0] for row in solved],
                direction=Message.Direction.OUTBOUND,
                is_automatic=False,
            ).values_list("ticket_id", flat=True)
        )
        for ticket_id, created, solved_at, reopened, assignee in solved:
            day = self.day_of(solved_at)
            one_touch = replies[ticket_id] == 1
            day["resolution"].append((solved_at - created).total_seconds())
            day["one_touch"] += one_touch
            day["reopened"] += reopened > 0
            if assignee is not None:
                agent = day["agents"][assignee]
                agent["solved"] += 1
                agent["one_touch"] += one_touch
                agent["reopened"] += reopened > 0

    def _surveys(self) -> None:
        surveys = list(
            SatisfactionSurvey.objects.filter(
                self._in_window("answered_at"),
                pod_id=self.pod_id,
                rating__isnull=False,
            ).values_list("ticket_id", "solved_at", "answered_at", "agent_id", "rating")
        )
        uses = defaultdict(list)
        for ticket_id, template, used_at in TemplateUse.objects.filter(
            ticket_id__in={row[0] for row in surveys}
        ).values_list("ticket_id", "template_id", "used_at"):
            uses[ticket_id].append((template, used_at))
        for ticket_id, solved_at, answered, agent, rating in surveys:
            day = self.day_of(answered)
            day["ratings"][rating - 1] += 1
            if agent is not None:
                day["agents"][agent]["ratings"][rating - 1] += 1
            for template in {t for t, used in uses[ticket_id] if used <= solved_at}:
                tally = day["templates"][template]
                tally[1] += 1
                tally[2] += rating in rules.SATISFIED_RATINGS
                tally[3] += rating

    def _template_uses(self) -> None:
        for template, used_at in TemplateUse.objects.filter(
            self._in_window("used_at"), ticket__pod_id=self.pod_id
        ).values_list("template_id", "used_at"):
            self.day_of(used_at)["templates"][template][0] += 1


def _empty_agent() -> dict:
    return {
        "solved": 0,
        "one_touch": 0,
        "reopened": 0,
        "first_response": [],
        "ratings": [0] * 5,
    }


def _empty_day() -> dict:
    return {
        "contacts": 0,
        "first_response": [],
        "resolution": [],
        "one_touch": 0,
        "reopened": 0,
        "ratings": [0] * 5,
        "repeat_contacts": 0,
        "same_pod": 0,
        "both_assigned": 0,
        "same_agent": 0,
        "reasons": Counter(),
        "templates": defaultdict(lambda: [0, 0, 0, 0]),
        "agents": defaultdict(_empty_agent),
    }


def _totals_of(facts: dict) -> FigureTotals:
    return FigureTotals(
        contacts=facts["contacts"],
        first_response=rules.histogram_of(facts["first_response"]),
        resolution=rules.histogram_of(facts["resolution"]),
        one_touch=facts["one_touch"],
        reopened=facts["reopened"],
        ratings=tuple(facts["ratings"]),
        repeat_contacts=facts["repeat_contacts"],
        same_pod=facts["same_pod"],
        both_assigned=facts["both_assigned"],
        same_agent=facts["same_agent"],
        reasons=dict(sorted(facts["reasons"].items())),
        templates={
            template: rules.TemplateTally(*tally)
            for template, tally in sorted(facts["templates"].items())
        },
        agents={
            agent: AgentTotals(
                solved=one["solved"],
                one_touch=one["one_touch"],
                reopened=one["reopened"],
                first_response=rules.histogram_of(one["first_response"]),
                ratings=tuple(one["ratings"]),
            )
            for agent, one in sorted(facts["agents"].items())
        },
    )
