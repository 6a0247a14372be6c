"""The authority rollups the dashboards read: day rows recomputed from grants,
requests and solved tickets, then period rows merged from the day rows.

Day rows belong to a pod's local day (Pod.time_zone, midnight to midnight
there). A refresh deletes and re-inserts a pod's rows for the days asked, in
one transaction under a per-pod lock, so it is idempotent and late facts (a
reversal, a grant on a ticket solved earlier, a decision) land the next time
the day is refreshed: every minute for today and yesterday, nightly for the
last 90 days. Period rows (1 = today, 7, 30, 90 days, today included) are then
merged from at most 90 day rows per pod and stored as one JSON document each,
with the time of the merge (`as_of`).

Usage follows the insights' definitions (authority.selectors._insights): an
opportunity is a ticket of the pod solved that day, by its assignee, that a
stage-2 or stage-3 rule in force at the end of the day covers; it carries a
grant when an agent made one on it by their own authority."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Case, Count, IntegerField, Sum, Value, When

import pods.selectors
import tickets.selectors
from authority import rules, selectors
from authority.models import (
    ActionType,
    AuthorityAgentDay,
    AuthorityDay,
    AuthorityPeriod,
    AuthorityRequest,
    AuthorityRule,
    DelegationSnapshot,
    Entitlement,
    Grant,
)

FIGURE_PERIODS = selectors.FIGURE_PERIODS
LONGEST_PERIOD = max(FIGURE_PERIODS)
# pg_advisory_xact_lock's first key: this module's refreshes of one pod queue
# behind each other (the minute's and the night's would both insert a day).
REFRESH_LOCK_SPACE = 7_301
ZERO = Decimal("0")


@dataclass(frozen=True)
class FiguresRefreshed:
    pods: int
    days: int  # pod-days recomputed
    day_rows: int
    agent_rows: int


def authority_figures_refresh(
    *, now: datetime, days: int = 2, pod_ids: Sequence[int] | None = None
) -> FiguresRefreshed:
    """Recompute the last `days` local days (today included) of each pod (None:
    every pod that is not closed), then its period rows."""
    if days < 1:
        raise ValueError("days must be at least 1")
    context = _RefreshContext.read()
    pods_seen = _pods(pod_ids=pod_ids)
    day_rows = agent_rows = 0
    for pod_id, time_zone in pods_seen:
        today = _local_today(now=now, time_zone=time_zone)
        made = authority_days_refresh(
            pod_id=pod_id,
            time_zone=time_zone,
            first_day=today - timedelta(days=days - 1),
            last_day=today,
            context=context,
        )
        day_rows += made[0]
        agent_rows += made[1]
        authority_periods_refresh(
            pod_id=pod_id, time_zone=time_zone, now=now, context=context
        )
    return FiguresRefreshed(
        pods=len(pods_seen),
        days=len(pods_seen) * days,
        day_rows=day_rows,
        agent_rows=agent_rows,
    )


@dataclass(frozen=True)
class _RefreshContext:
    """What every pod's refresh reads once: the agents (ids and names), every
    rule version of stages 2 and 3 (to know which were in force on a past day),
    and the products of entitlement actions."""

    agent_names: dict[int, str]
    members: dict[int, list[int]]  # pod id -> its current members' ids
    rule_versions: tuple[AuthorityRule, ...]

    @classmethod
    def read(cls) -> "_RefreshContext":
        agents = pods.selectors.agents_of_pods(pod_ids=None)
        members: dict[int, list[int]] = defaultdict(list)
        for agent in agents:
            members[agent.pod_id].append(agent.id)
        versions = tuple(
            AuthorityRule.objects.filter(
                stage__in=[rules.AGENT, rules.SELF_SERVICE],
                is_active=True,
                action_type__is_active=True,
            )
            .select_related("action_type")
            .order_by("id")
        )
        return cls(
            agent_names={agent.id: agent.name for agent in agents},
            members=dict(members),
            rule_versions=versions,
        )


def _pods(*, pod_ids: Sequence[int] | None) -> list[tuple[int, str]]:
    found = pods.selectors.pod_list().values_list("id", "time_zone").order_by("id")
    if pod_ids is not None:
        found = found.filter(id__in=list(pod_ids))
    return [(pod_id, time_zone or "UTC") for pod_id, time_zone in found]


def _local_today(*, now: datetime, time_zone: str) -> date:
    return now.astimezone(ZoneInfo(time_zone)).date()


def local_day_bounds(*, first_day: date, last_day: date, time_zone: str) -> list:
    """The instants where each local day from first_day to last_day starts, and
    where the last one ends (one more than the days): DST days are 23 or 25
    hours long."""
    zone = ZoneInfo(time_zone or "UTC")
    count = (last_day - first_day).days + 1
    return [
        datetime.combine(first_day + timedelta(days=offset), time.min, tzinfo=zone)
        for offset in range(count + 1)
    ]


def _day_number(column: str, bounds: list[datetime]) -> Case:
    """Which local day (0, 1, ...) an instant of `column` falls in, in SQL: a
    CASE over the day boundaries, portable and right across DST changes."""
    return Case(
        *[
            When(
                **{f"{column}__gte": start, f"{column}__lt": end},
                then=Value(number),
            )
            for number, (start, end) in enumerate(pairwise(bounds))
        ],
        output_field=IntegerField(),
    )


def authority_days_refresh(
    *,
    pod_id: int,
    time_zone: str,
    first_day: date,
    last_day: date,
    context: "_RefreshContext | None" = None,
) -> tuple[int, int]:
    """Recompute the pod's day rows from first_day to last_day (local days),
    replacing what was there. Returns (day rows, agent rows) written."""
    if last_day < first_day:
        raise ValueError("last_day is before first_day")
    if context is None:
        context = _RefreshContext.read()
    bounds = local_day_bounds(
        first_day=first_day, last_day=last_day, time_zone=time_zone
    )
    days = [first_day + timedelta(days=n) for n in range(len(bounds) - 1)]
    day_rows = _day_rows(pod_id=pod_id, days=days, bounds=bounds)
    agent_rows = _agent_rows(pod_id=pod_id, days=days, bounds=bounds, context=context)
    with transaction.atomic():
        _pod_locked(pod_id=pod_id)
        AuthorityDay.objects.filter(
            pod_id=pod_id, day__gte=first_day, day__lte=last_day
        ).delete()
        AuthorityAgentDay.objects.filter(
            pod_id=pod_id, day__gte=first_day, day__lte=last_day
        ).delete()
        AuthorityDay.objects.bulk_create(day_rows)
        AuthorityAgentDay.objects.bulk_create(agent_rows)
    return len(day_rows), len(agent_rows)


def _pod_locked(*, pod_id: int) -> None:
    """Two refreshes of one pod at once would both insert its days: the second
    waits here until the first commits (SQLite takes one writer at a time)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [REFRESH_LOCK_SPACE, pod_id]
        )


def _day_rows(
    *, pod_id: int, days: list[date], bounds: list[datetime]
) -> list[AuthorityDay]:
    rows: dict[tuple[int, int, int], AuthorityDay] = {}

    def row(number: int, action_id: int, stage: int) -> AuthorityDay:
        key = (number, action_id, stage)
        if key not in rows:
            rows[key] = AuthorityDay(
                pod_id=pod_id, day=days[number], action_type_id=action_id, stage=stage
            )
        return rows[key]

    start, end = bounds[0], bounds[-1]
    granted = (
        Grant.objects.filter(pod_id=pod_id, granted_at__gte=start, granted_at__lt=end)
        .annotate(number=_day_number("granted_at", bounds))
        .values("number", "action_type_id", "stage", "kind")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by()
    )
    for found in granted:
        one = row(found["number"], found["action_type_id"], found["stage"])
        if found["kind"] == Grant.Kind.REVERSAL:
            one.reversals, one.reversed = found["count"], -found["total"]
        else:
            one.grants, one.granted = found["count"], found["total"]
    stage_one = AuthorityRequest.objects.filter(pod_id=pod_id, stage=rules.APPROVAL)
    asked = (
        stage_one.filter(created_at__gte=start, created_at__lt=end)
        .exclude(state=AuthorityRequest.State.REFUSED)
        .annotate(number=_day_number("created_at", bounds))
        .values("number", "action_type_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for found in asked:
        row(
            found["number"], found["action_type_id"], rules.APPROVAL
        ).approvals_requested = found["count"]
    decided = (
        stage_one.filter(
            decided_at__gte=start,
            decided_at__lt=end,
            state__in=[AuthorityRequest.State.GRANTED, AuthorityRequest.State.DENIED],
        )
        .annotate(number=_day_number("decided_at", bounds))
        .values("number", "action_type_id", "state")
        .annotate(count=Count("id"))
        .order_by()
    )
    for found in decided:
        one = row(found["number"], found["action_type_id"], rules.APPROVAL)
        if found["state"] == AuthorityRequest.State.GRANTED:
            one.approvals_approved = found["count"]
        else:
            one.approvals_denied = found["count"]
    return [rows[key] for key in sorted(rows)]


def _agent_rows(
    *,
    pod_id: int,
    days: list[date],
    bounds: list[datetime],
    context: _RefreshContext,
) -> list[AuthorityAgentDay]:
    rows: dict[tuple[int, int], AuthorityAgentDay] = {}

    def row(number: int, agent_id: int) -> AuthorityAgentDay:
        if (number, agent_id) not in rows:
            rows[(number, agent_id)] = AuthorityAgentDay(
                pod_id=pod_id, day=days[number], agent_id=agent_id
            )
        return rows[(number, agent_id)]

    agent_ids = sorted(context.agent_names)
    # The pod's grants only (its index), not every grant of every pod: a
    # grant is made in the pod of the ticket's customer.
    marked = Grant.objects.filter(
        pod_id=pod_id,
        kind=Grant.Kind.GRANT,
        stage__in=[rules.AGENT, rules.SELF_SERVICE],
        agent__isnull=False,
        ticket__isnull=False,
    ).values("ticket_id")
    for number, (start, end) in enumerate(pairwise(bounds)):
        scopes = _opportunity_scopes(
            pod_id=pod_id, at=end, versions=context.rule_versions
        )
        solved = tickets.selectors.solved_by_agent(
            start=start,
            end=end,
            agent_ids=agent_ids,
            scopes=scopes,
            marked_ticket_ids=marked,
        )
        for agent_id, counted in solved.items():
            one = row(number, agent_id)
            one.opportunities, one.with_grant = counted.solved, counted.marked
    own = (
        Grant.objects.filter(
            pod_id=pod_id,
            kind=Grant.Kind.GRANT,
            stage__in=[rules.AGENT, rules.SELF_SERVICE],
            agent__isnull=False,
            granted_at__gte=bounds[0],
            granted_at__lt=bounds[-1],
        )
        .annotate(number=_day_number("granted_at", bounds))
        .values("number", "agent_id")
        .annotate(count=Count("id"))
        .order_by()
    )
    for found in own:
        row(found["number"], found["agent_id"]).grants = found["count"]
    return [rows[key] for key in sorted(rows)]


def rules_in_force_at(
    *, versions: Iterable[AuthorityRule], at: datetime
) -> list[AuthorityRule]:
    """The versions that applied at `at`: valid then and not yet superseded."""
    return [
        rule
        for rule in versions
        if rule.valid_from <= at
        and (rule.valid_to is None or rule.valid_to > at)
        and (rule.superseded_at is None or rule.superseded_at > at)
    ]


def _opportunity_scopes(
    *, pod_id: int, at: datetime, versions: Iterable[AuthorityRule]
) -> list[tickets.selectors.SolvedScope]:
    """The pod's tickets some stage-2 or stage-3 rule in force at `at` covers
    (an entitlement action only for its holders), as the insights scope them."""
    scopes: dict[tuple[int | None, str | None], bool] = {}
    for rule in rules_in_force_at(versions=versions, at=at):
        if rule.pod_id not in (None, pod_id):
            continue
        effect = rule.action_type.effect
        needs_entitlement = effect in (
            ActionType.Effect.EXTEND,
            ActionType.Effect.PAUSE,
        )
        product = rule.action_type.product if needs_entitlement else None
        scopes[(rule.contact_reason_id, product)] = needs_entitlement
    found = []
    for (reason_id, product), needs_entitlement in sorted(
        scopes.items(), key=lambda item: str(item[0])
    ):
        holders = None
        if needs_entitlement:
            holders = Entitlement.objects.all()
            if product:
                holders = holders.filter(product=product)
            holders = holders.values("customer_id")
        found.append(
            tickets.selectors.SolvedScope(
                pod_id=pod_id, contact_reason_id=reason_id, customer_ids=holders
            )
        )
    return found


# --- Periods ------------------------------------------------------------------------


def authority_periods_refresh(
    *,
    pod_id: int,
    time_zone: str,
    now: datetime,
    context: "_RefreshContext | None" = None,
) -> list[AuthorityPeriod]:
    """Merge the pod's day rows into its period rows (1, 7, 30 and 90 local
    days up to today), stored with as_of = now."""
    today = _local_today(now=now, time_zone=time_zone)
    first = today - timedelta(days=LONGEST_PERIOD - 1)
    day_rows = list(
        AuthorityDay.objects.filter(
            pod_id=pod_id, day__gte=first, day__lte=today
        ).values()
    )
    agent_rows = list(
        AuthorityAgentDay.objects.filter(
            pod_id=pod_id, day__gte=first, day__lte=today
        ).values()
    )
    if context is None:
        context = _RefreshContext.read()
    periods = []
    for days in FIGURE_PERIODS:
        since = today - timedelta(days=days - 1)
        periods.append(
            AuthorityPeriod(
                pod_id=pod_id,
                days=days,
                first_day=since,
                last_day=today,
                figures=period_figures_merge(
                    day_rows=[one for one in day_rows if one["day"] >= since],
                    agent_rows=[one for one in agent_rows if one["day"] >= since],
                    first_day=since,
                    last_day=today,
                    names=context.agent_names,
                    members=context.members.get(pod_id, ()),
                ),
                as_of=now,
            )
        )
    AuthorityPeriod.objects.bulk_create(
        periods,
        update_conflicts=True,
        unique_fields=["pod", "days"],
        update_fields=["first_day", "last_day", "figures", "as_of"],
    )
    return periods


DAY_COUNTS = (
    "grants",
    "reversals",
    "approvals_requested",
    "approvals_approved",
    "approvals_denied",
)
DAY_AMOUNTS = ("granted", "reversed")
AGENT_COUNTS = ("opportunities", "with_grant", "grants")


def period_figures_merge(
    *,
    day_rows: list[dict],
    agent_rows: list[dict],
    first_day: date,
    last_day: date,
    names: dict[int, str],
    members: Sequence[int] = (),
) -> dict:
    """One period's figures from its day rows (dicts of the model's fields):
    per action type and stage the sums, per agent the sums, and per day the
    grants and the approvals avoided (stage 2 and 3 grants), for a sparkline.
    Amounts are strings (JSON has no decimals)."""
    actions: dict[tuple[int, int], dict] = {}
    length = (last_day - first_day).days + 1
    grants_per_day, avoided_per_day = [0] * length, [0] * length
    for one in day_rows:
        key = (one["action_type_id"], one["stage"])
        merged = actions.setdefault(
            key,
            {
                "action_type_id": key[0],
                "stage": key[1],
                **dict.fromkeys(DAY_COUNTS, 0),
                **dict.fromkeys(DAY_AMOUNTS, ZERO),
            },
        )
        for name in (*DAY_COUNTS, *DAY_AMOUNTS):
            merged[name] += one[name]
        index = (one["day"] - first_day).days
        grants_per_day[index] += one["grants"]
        if one["stage"] in (rules.AGENT, rules.SELF_SERVICE):
            avoided_per_day[index] += one["grants"]
    # The pod's current members are shown even with nothing in the period.
    agents: dict[int, dict] = {
        agent_id: {"agent_id": agent_id, **dict.fromkeys(AGENT_COUNTS, 0)}
        for agent_id in {*members, *(one["agent_id"] for one in agent_rows)}
    }
    for one in agent_rows:
        merged = agents[one["agent_id"]]
        for name in AGENT_COUNTS:
            merged[name] += one[name]
    return {
        "first_day": first_day.isoformat(),
        "last_day": last_day.isoformat(),
        "actions": [
            {
                **merged,
                **{name: f"{merged[name]:.2f}" for name in DAY_AMOUNTS},
            }
            for _key, merged in sorted(actions.items())
        ],
        "agents": [
            {**merged, "name": names.get(agent_id, "")}
            for agent_id, merged in sorted(agents.items())
        ],
        "grants_per_day": grants_per_day,
        "avoided_per_day": avoided_per_day,
    }


# --- Delegation snapshot ------------------------------------------------------------


def delegation_snapshot_refresh(
    *,
    now: datetime,
    days: int = selectors.DEFAULT_PERIOD_DAYS,
    thresholds: selectors.InsightThresholds | None = None,
) -> DelegationSnapshot:
    """Store the delegation recommendations of the last `days` days, for the
    organisation view (the insights page computes its own, live)."""
    insights = selectors.delegation_insights(
        period=selectors.insight_period(now=now, days=days), thresholds=thresholds
    )
    recommendations = [
        {
            "key": found.key,
            "kind": found.kind,
            "action_type_id": found.action_type.id,
            "reason_id": found.reason_id,
            "reason_name": found.reason_name if found.reason_id is not None else "",
            "to_stage": found.to_stage,
            "limit": str(found.limit),
            "current_limit": (
                None if found.current_limit is None else str(found.current_limit)
            ),
            "rule_id": found.rule_id,
            "count": found.count,
            "rate": str(found.rate),
            "median_wait_hours": (
                None
                if found.median_wait_hours is None
                else str(found.median_wait_hours)
            ),
        }
        for found in insights.recommendations
    ]
    snapshot, _created = DelegationSnapshot.objects.update_or_create(
        days=days, defaults={"recommendations": recommendations, "as_of": now}
    )
    return snapshot
