"""Delegation insights and authority usage: what the approval traffic says
should be delegated a stage down, and how much agents use the authority they
hold. Every figure is aggregated in the database, in a constant number of
queries however many requests, grants and tickets there are.

Delegation, per action type and contact reason over a period: the approval
requests (stage 1, every state but refused: they reached an approver or wait
for one), the share approved of those decided, the median wait from asking to
the verdict, their share of all contacts (tickets created in the period), and
the amounts asked. When an action's requests are many and nearly all approved,
the bulk of them is recommended for agents (stage 2); when agents' grants of an
action are many, small and almost never reversed, for customers (stage 3).

Usage, per agent and pod over a period: an agent's **opportunities** are the
tickets they solved in the period (the assignee at the solve) on which a grant
was allowed: a stage-2 or stage-3 rule in force covers the ticket's pod and
contact reason (an empty scope field covers all) and, for an action that
changes an entitlement, the customer holds one. The rules in force at the end
of the period stand in for those at each solve, and agent-role and segment
scopes are not looked at. The **usage rate** is the share of opportunities that
carry a grant made by an agent's own authority (stage 2 or 3). An agent with at
least `min_opportunities` whose rate is under `under_use_ratio` of the pod's
median (of the agents who had any opportunity) is flagged to the pod lead."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import pods.selectors
import tickets.selectors
from authority import rules
from authority.models import (
    ActionType,
    AuthorityRequest,
    AuthorityRule,
    Entitlement,
    Grant,
)
from authority.selectors._funnel import (
    amount_words,
    entitlement_for_action,
    rules_current,
)

PERIOD_DAYS = (7, 30, 90)
DEFAULT_PERIOD_DAYS = 30
# Reason keys of the delegation rows: a contact reason's id, or one of these.
ALL_REASONS = -1
NO_REASON = 0
DELEGATE_TO_AGENTS, DELEGATE_TO_CUSTOMERS = "1to2", "2to3"


@dataclass(frozen=True)
class InsightThresholds:
    """When a recommendation is made and an agent flagged; override any of them
    in settings.HELPDESK["AUTHORITY_INSIGHTS"]."""

    min_requests: int = 20
    min_approval_rate: Decimal = Decimal("0.90")
    min_grants: int = 20
    max_reversal_rate: Decimal = Decimal("0.02")
    # Stage 2 to 3 only for small amounts: the agents' 90th percentile at most
    # this share of their limit per grant.
    self_service_share: Decimal = Decimal("0.5")
    min_opportunities: int = 10
    under_use_ratio: Decimal = Decimal("0.5")


def insight_thresholds() -> InsightThresholds:
    configured = settings.HELPDESK.get("AUTHORITY_INSIGHTS", {})
    defaults = InsightThresholds()
    return InsightThresholds(
        **{
            name: type(getattr(defaults, name))(str(value))
            for name, value in configured.items()
            if hasattr(defaults, name)
        }
    )


@dataclass(frozen=True)
class InsightPeriod:
    start: datetime
    end: datetime
    days: int


def insight_period(*, now: datetime, days: int = DEFAULT_PERIOD_DAYS) -> InsightPeriod:
    """The `days` before `now`."""
    return InsightPeriod(start=now - timedelta(days=days), end=now, days=days)


# --- Percentiles in the database ----------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """One figure's values: a queryset of `.values(action=..., reason=..., ...)`
    and the SQL of the value over its columns. Grouped by (action, reason) and,
    with `all_reasons`, by action alone too (reason ALL_REASONS)."""

    name: str
    rows: QuerySet
    value_sql: str
    all_reasons: bool = True


@dataclass(frozen=True)
class _Spread:
    median: float | None
    p90: float | None
    maximum: float | None


def _seconds_between(start_column: str, end_column: str) -> str:
    if connection.vendor == "postgresql":
        return f'EXTRACT(EPOCH FROM ("{end_column}" - "{start_column}"))'
    return f'((julianday("{end_column}") - julianday("{start_column}")) * 86400.0)'


def _spreads(series: Sequence[_Series]) -> dict[tuple[str, int, int], _Spread]:
    """Median, 90th percentile (interpolated like percentile_cont) and maximum of
    each series per (action, reason) and per action, in one query for all of
    them."""
    postgres = connection.vendor == "postgresql"
    branches, params = [], []
    for number, one in enumerate(series):
        sql, rows_params = one.rows.order_by().query.sql_with_params()
        reason_keys = [f'COALESCE("reason", {NO_REASON})']
        if one.all_reasons and not postgres:
            reason_keys.append(str(ALL_REASONS))
        for reason_key in reason_keys:
            # Only our own column names and Django's compiled SQL go into the
            # text; every value is a parameter.
            branches.append(
                f'SELECT %s AS "series", "action", {reason_key} AS "reason", '  # noqa: S608
                f'{one.value_sql} AS "v" FROM ({sql}) AS "rows"'
            )
            params += [number, *rows_params]
    if not branches:
        return {}
    union = " UNION ALL ".join(branches)
    query = (
        _spreads_by_percentile_sql(union) if postgres else _spreads_by_rank_sql(union)
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        found = cursor.fetchall()
    names = [one.name for one in series]
    if postgres:
        return {
            (names[number], action, reason): _Spread(median, p90, maximum)
            for number, action, reason, median, p90, maximum in found
        }
    return {
        (names[number], action, reason): _Spread(
            _interpolated(median_low, median_high, median_part),
            _interpolated(p90_low, p90_high, p90_part),
            maximum,
        )
        for (
            number,
            action,
            reason,
            median_low,
            median_high,
            median_part,
            p90_low,
            p90_high,
            p90_part,
            maximum,
        ) in found
    }


def _spreads_by_percentile_sql(union: str) -> str:
    """PostgreSQL: percentile_cont per (series, action, reason) and, in the same
    pass (a grouping set), per (series, action) over every reason."""
    return (
        'SELECT "series", "action", '  # noqa: S608
        f'CASE WHEN GROUPING("reason") = 1 THEN {ALL_REASONS} ELSE "reason" END, '
        'percentile_cont(0.5) WITHIN GROUP (ORDER BY "v"), '
        'percentile_cont(0.9) WITHIN GROUP (ORDER BY "v"), MAX("v") '
        f'FROM ({union}) AS "u" WHERE "v" IS NOT NULL '
        "GROUP BY GROUPING SETS "
        '(("series", "action", "reason"), ("series", "action"))'
    )


def _spreads_by_rank_sql(union: str) -> str:
    """SQLite has no percentile_cont: rank the values in a window and pick the
    two around each percentile's position (interpolated by the caller, per
    group)."""

    def around(fraction: float) -> str:
        position = f'{fraction} * ("n" - 1)'
        whole = f"CAST({position} AS INTEGER)"
        return (
            f'MAX(CASE WHEN "rn" = 1 + {whole} THEN "v" END), '
            f'MAX(CASE WHEN "rn" = 2 + {whole} THEN "v" END), '
            f"MAX({position} - {whole})"
        )

    return (
        f'WITH "u" AS ({union}), "ranked" AS ('  # noqa: S608
        'SELECT "series", "action", "reason", "v", '
        'ROW_NUMBER() OVER (PARTITION BY "series", "action", "reason" '
        'ORDER BY "v") AS "rn", '
        'COUNT(*) OVER (PARTITION BY "series", "action", "reason") AS "n" '
        'FROM "u" WHERE "v" IS NOT NULL) '
        f'SELECT "series", "action", "reason", {around(0.5)}, {around(0.9)}, '
        'MAX("v") FROM "ranked" GROUP BY "series", "action", "reason"'
    )


def _interpolated(low, high, part) -> float | None:
    if low is None:
        return None
    if high is None or not part:
        return float(low)
    return float(low) + float(part) * (float(high) - float(low))


def _decimal(value: float | None, places: str = "0.01") -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal(places))


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001"))


# --- Delegation insights ------------------------------------------------------------


@dataclass(frozen=True)
class DelegationRow:
    """Approval requests of one action type and contact reason in the period."""

    action_type: ActionType
    reason_key: int  # a contact reason's id, NO_REASON or ALL_REASONS
    reason_name: str
    requests: int
    approved: int
    denied: int
    waiting: int
    approval_rate: Decimal | None  # approved / (approved + denied)
    median_wait_hours: Decimal | None
    contact_share: Decimal | None  # requests / every contact in the period
    asked_median: Decimal | None
    asked_p90: Decimal | None
    approved_p90: Decimal | None
    approved_max: Decimal | None

    @property
    def is_total(self) -> bool:
        return self.reason_key == ALL_REASONS

    @property
    def wait_words(self) -> str:
        return wait_words(hours=self.median_wait_hours)

    @property
    def asked_median_words(self) -> str:
        return _amount_of(self.action_type, self.asked_median)

    @property
    def asked_p90_words(self) -> str:
        return _amount_of(self.action_type, self.asked_p90)

    @property
    def approved_p90_words(self) -> str:
        return _amount_of(self.action_type, self.approved_p90)


@dataclass(frozen=True)
class AgentGrantRow:
    """Agents' own grants (stage 2) of one action type in the period."""

    action_type: ActionType
    grants: int
    reversed: int
    reversal_rate: Decimal | None
    amount_median: Decimal | None
    amount_p90: Decimal | None
    amount_max: Decimal | None

    @property
    def amount_median_words(self) -> str:
        return _amount_of(self.action_type, self.amount_median)

    @property
    def amount_p90_words(self) -> str:
        return _amount_of(self.action_type, self.amount_p90)


@dataclass(frozen=True)
class Recommendation:
    """Move the bulk of an action one stage down: raise the target rule's limit
    per grant to `limit` (rule_id: the rule revised), or create the rule
    (rule_id None). `key` names it for delegation_apply; it holds the limit, so
    once applied the same key is recommended no more."""

    key: str
    kind: str  # DELEGATE_TO_AGENTS or DELEGATE_TO_CUSTOMERS
    action_type: ActionType
    reason_id: int | None
    reason_name: str
    to_stage: int
    limit: Decimal
    current_limit: Decimal | None
    rule_id: int | None
    count: int  # approval requests, or agents' grants
    rate: Decimal  # the approval rate, or the reversal rate
    median_wait_hours: Decimal | None
    days: int

    @property
    def text(self) -> str:
        return recommendation_words(recommendation=self)

    @property
    def limit_words(self) -> str:
        return _amount_of(self.action_type, self.limit)

    @property
    def current_limit_words(self) -> str:
        return _amount_of(self.action_type, self.current_limit)


def _amount_of(action_type: ActionType, amount: Decimal | None) -> str:
    if amount is None:
        return ""
    return amount_words(
        amount=amount, unit=action_type.unit, currency=action_type.currency
    )


@dataclass(frozen=True)
class DelegationInsights:
    period: InsightPeriod
    contacts: int
    rows: list[DelegationRow]
    agent_grants: list[AgentGrantRow]
    recommendations: list[Recommendation] = field(default_factory=list)


def delegation_insights(
    *, period: InsightPeriod, thresholds: InsightThresholds | None = None
) -> DelegationInsights:
    """The delegation figures of the period, per action type and contact reason
    (and per action type over every reason), the agents' own grants per action
    type, and what to delegate. Seven queries, whatever the volume."""
    thresholds = thresholds or insight_thresholds()
    action_types = {action.id: action for action in ActionType.objects.all()}
    reason_names = tickets.selectors.contact_reason_names()
    contacts = sum(
        tickets.selectors.contacts_by_reason(
            start=period.start, end=period.end
        ).values()
    )
    requests = _approval_requests(period=period)
    counts = _request_counts(requests=requests)
    stage_two = _stage_two_grants(period=period)
    spreads = _spreads(
        [
            _Series(
                "wait",
                requests.filter(
                    state__in=[
                        AuthorityRequest.State.GRANTED,
                        AuthorityRequest.State.DENIED,
                    ],
                    decided_at__isnull=False,
                ).values(
                    action=_action_column(),
                    reason=_reason_column(),
                    asked=_column("created_at"),
                    decided=_column("decided_at"),
                ),
                _seconds_between("asked", "decided"),
            ),
            _Series(
                "asked",
                requests.values(
                    action=_action_column(),
                    reason=_reason_column(),
                    value=_column("amount"),
                ),
                '"value"',
            ),
            _Series(
                "approved",
                requests.filter(state=AuthorityRequest.State.GRANTED).values(
                    action=_action_column(),
                    reason=_reason_column(),
                    value=_column("amount"),
                ),
                '"value"',
            ),
            _Series(
                "agent_grants",
                stage_two.values(
                    action=_action_column(),
                    reason=_column("stage"),  # one group per action
                    value=_column("amount"),
                ),
                '"value"',
                all_reasons=False,
            ),
        ]
    )
    rows = _delegation_rows(
        counts=counts,
        spreads=spreads,
        action_types=action_types,
        reason_names=reason_names,
        contacts=contacts,
    )
    agent_grants = _agent_grant_rows(
        stage_two=stage_two, spreads=spreads, action_types=action_types
    )
    recommendations = _recommendations(
        rows=rows,
        agent_grants=agent_grants,
        in_force=_rules_by_scope(now=period.end),
        thresholds=thresholds,
        days=period.days,
    )
    return DelegationInsights(
        period=period,
        contacts=contacts,
        rows=rows,
        agent_grants=agent_grants,
        recommendations=recommendations,
    )


def _column(name: str) -> F:
    return F(name)


def _action_column():
    return _column("action_type_id")


def _reason_column() -> F:
    # A join on the ticket's primary key, as request_detail's select_related
    # does: a correlated subquery per request costs ten times more.
    return F("ticket__contact_reason_id")


def _approval_requests(*, period: InsightPeriod) -> QuerySet[AuthorityRequest]:
    return AuthorityRequest.objects.filter(
        stage=rules.APPROVAL,
        created_at__gte=period.start,
        created_at__lt=period.end,
    ).exclude(state=AuthorityRequest.State.REFUSED)


def _request_counts(
    *, requests: QuerySet[AuthorityRequest]
) -> dict[tuple[int, int], dict[str, int]]:
    states = AuthorityRequest.State
    rows = (
        requests.annotate(reason=_reason_column())
        .values("action_type_id", "reason")
        .annotate(
            requests=Count("id"),
            approved=Count("id", filter=Q(state=states.GRANTED)),
            denied=Count("id", filter=Q(state=states.DENIED)),
            waiting=Count("id", filter=Q(state=states.PENDING)),
        )
        .order_by()
    )
    counts: dict[tuple[int, int], dict[str, int]] = {}
    for row in rows:
        figures = {
            name: row[name] for name in ("requests", "approved", "denied", "waiting")
        }
        counts[(row["action_type_id"], row["reason"] or NO_REASON)] = figures
        total = counts.setdefault(
            (row["action_type_id"], ALL_REASONS), dict.fromkeys(figures, 0)
        )
        for name, value in figures.items():
            total[name] += value
    return counts


def _stage_two_grants(*, period: InsightPeriod) -> QuerySet[Grant]:
    return Grant.objects.filter(
        kind=Grant.Kind.GRANT,
        stage=rules.AGENT,
        granted_at__gte=period.start,
        granted_at__lt=period.end,
    )


def _delegation_rows(
    *,
    counts: dict[tuple[int, int], dict[str, int]],
    spreads: dict[tuple[str, int, int], _Spread],
    action_types: dict[int, ActionType],
    reason_names: dict[int, str],
    contacts: int,
) -> list[DelegationRow]:
    empty = _Spread(None, None, None)
    rows = []
    for (action_id, reason_key), figures in counts.items():
        wait = spreads.get(("wait", action_id, reason_key), empty)
        asked = spreads.get(("asked", action_id, reason_key), empty)
        approved = spreads.get(("approved", action_id, reason_key), empty)
        rows.append(
            DelegationRow(
                action_type=action_types[action_id],
                reason_key=reason_key,
                reason_name=_reason_name(reason_key, reason_names),
                requests=figures["requests"],
                approved=figures["approved"],
                denied=figures["denied"],
                waiting=figures["waiting"],
                approval_rate=_rate(
                    figures["approved"], figures["approved"] + figures["denied"]
                ),
                median_wait_hours=_decimal(
                    None if wait.median is None else wait.median / 3600, "0.1"
                ),
                contact_share=_rate(figures["requests"], contacts),
                asked_median=_decimal(asked.median),
                asked_p90=_decimal(asked.p90),
                approved_p90=_decimal(approved.p90),
                approved_max=_decimal(approved.maximum),
            )
        )
    # Busiest actions first; within one, its total, then its reasons by volume.
    totals = {row.action_type.id: row.requests for row in rows if row.is_total}
    rows.sort(
        key=lambda row: (
            -totals.get(row.action_type.id, 0),
            row.action_type.name,
            not row.is_total,
            -row.requests,
            row.reason_name,
        )
    )
    return rows


def _reason_name(reason_key: int, reason_names: dict[int, str]) -> str:
    if reason_key == ALL_REASONS:
        return _("All reasons")
    if reason_key == NO_REASON:
        return _("No reason set")
    return reason_names.get(reason_key, _("Reason #%(id)s") % {"id": reason_key})


def _agent_grant_rows(
    *,
    stage_two: QuerySet[Grant],
    spreads: dict[tuple[str, int, int], _Spread],
    action_types: dict[int, ActionType],
) -> list[AgentGrantRow]:
    counted = (
        stage_two.values("action_type_id")
        .annotate(
            grants=Count("id"),
            reversed=Count("id", filter=Q(reversal__isnull=False)),
        )
        .order_by()
    )
    empty = _Spread(None, None, None)
    rows = []
    for row in counted:
        action_id = row["action_type_id"]
        spread = spreads.get(("agent_grants", action_id, rules.AGENT), empty)
        rows.append(
            AgentGrantRow(
                action_type=action_types[action_id],
                grants=row["grants"],
                reversed=row["reversed"],
                reversal_rate=_rate(row["reversed"], row["grants"]),
                amount_median=_decimal(spread.median),
                amount_p90=_decimal(spread.p90),
                amount_max=_decimal(spread.maximum),
            )
        )
    rows.sort(key=lambda row: (-row.grants, row.action_type.name))
    return rows


# --- Recommendations ----------------------------------------------------------------


def _rules_by_scope(
    *, now: datetime
) -> dict[tuple[int, int, int | None], AuthorityRule]:
    """The rules in force with no scope but, at most, a contact reason, by
    (action, stage, reason): the ones a recommendation revises."""
    found = rules_current(now=now).filter(
        pod__isnull=True, agent_role="", customer_segment=""
    )
    return {
        (rule.action_type_id, rule.stage, rule.contact_reason_id): rule
        for rule in found.order_by("id")
    }


def _recommendations(
    *,
    rows: list[DelegationRow],
    agent_grants: list[AgentGrantRow],
    in_force: dict[tuple[int, int, int | None], AuthorityRule],
    thresholds: InsightThresholds,
    days: int,
) -> list[Recommendation]:
    found = []
    delegated_actions = set()
    # Totals first (rows are sorted so), then reasons of actions whose total
    # was not enough on its own.
    for row in sorted(rows, key=lambda row: not row.is_total):
        if row.reason_key == NO_REASON:
            continue  # no rule can be scoped to "no reason"
        if not row.is_total and row.action_type.id in delegated_actions:
            continue
        recommendation = _to_agents(
            row=row, in_force=in_force, thresholds=thresholds, days=days
        )
        if recommendation:
            found.append(recommendation)
            delegated_actions.add(row.action_type.id)
    for row in agent_grants:
        recommendation = _to_customers(
            row=row, in_force=in_force, thresholds=thresholds, days=days
        )
        if recommendation:
            found.append(recommendation)
    return found


def _to_agents(
    *,
    row: DelegationRow,
    in_force: dict[tuple[int, int, int | None], AuthorityRule],
    thresholds: InsightThresholds,
    days: int,
) -> Recommendation | None:
    if (
        row.requests < thresholds.min_requests
        or row.approval_rate is None
        or row.approval_rate < thresholds.min_approval_rate
        or row.approved_p90 is None
    ):
        return None
    reason_id = None if row.is_total else row.reason_key
    target = in_force.get((row.action_type.id, AuthorityRule.Stage.AGENT, reason_id))
    limit = limit_proposed(
        value=row.approved_p90, maximum=row.approved_max, unit=row.action_type.unit
    )
    if not _raises(target=target, limit=limit):
        return None
    return Recommendation(
        key=_key(DELEGATE_TO_AGENTS, row.action_type, reason_id, limit),
        kind=DELEGATE_TO_AGENTS,
        action_type=row.action_type,
        reason_id=reason_id,
        reason_name=row.reason_name,
        to_stage=AuthorityRule.Stage.AGENT,
        limit=limit,
        current_limit=target.max_per_grant if target else None,
        rule_id=target.id if target else None,
        count=row.requests,
        rate=row.approval_rate,
        median_wait_hours=row.median_wait_hours,
        days=days,
    )


def _to_customers(
    *,
    row: AgentGrantRow,
    in_force: dict[tuple[int, int, int | None], AuthorityRule],
    thresholds: InsightThresholds,
    days: int,
) -> Recommendation | None:
    """Stage 2 to 3: frequent, small, almost never reversed. Never scoped to a
    contact reason: a customer acting alone has no ticket to have one."""
    agents_rule = in_force.get((row.action_type.id, AuthorityRule.Stage.AGENT, None))
    if (
        row.grants < thresholds.min_grants
        or row.reversal_rate is None
        or row.reversal_rate > thresholds.max_reversal_rate
        or row.amount_p90 is None
        or agents_rule is None
        or agents_rule.max_per_grant is None
        or Decimal(str(row.amount_p90))
        > agents_rule.max_per_grant * thresholds.self_service_share
    ):
        return None
    target = in_force.get((row.action_type.id, AuthorityRule.Stage.SELF_SERVICE, None))
    limit = limit_proposed(
        value=row.amount_p90, maximum=row.amount_max, unit=row.action_type.unit
    )
    if not _raises(target=target, limit=limit):
        return None
    return Recommendation(
        key=_key(DELEGATE_TO_CUSTOMERS, row.action_type, None, limit),
        kind=DELEGATE_TO_CUSTOMERS,
        action_type=row.action_type,
        reason_id=None,
        reason_name=_("All reasons"),
        to_stage=AuthorityRule.Stage.SELF_SERVICE,
        limit=limit,
        current_limit=target.max_per_grant if target else None,
        rule_id=target.id if target else None,
        count=row.grants,
        rate=row.reversal_rate,
        median_wait_hours=None,
        days=days,
    )


def _raises(*, target, limit: Decimal) -> bool:
    """A recommendation only ever widens: a rule without a limit per grant, or
    with one already as high, has nothing to gain."""
    if limit <= 0:
        return False
    if target is None:
        return True
    return target.max_per_grant is not None and target.max_per_grant < limit


def _key(kind: str, action_type: ActionType, reason_id: int | None, limit) -> str:
    return f"{kind}:{action_type.code}:{reason_id or 'all'}:{limit.normalize():f}"


def limit_proposed(*, value: Decimal, maximum: Decimal | None, unit: str) -> Decimal:
    """The 90th percentile rounded up to a round figure (whole weeks of days
    above a week; money to 5, 10 or 50), never above the largest amount
    actually granted."""
    value = Decimal(str(value))
    if unit == rules.DAYS:
        step = Decimal(7) if value > 7 else Decimal(1)
    elif value <= 100:
        step = Decimal(5)
    elif value <= 1000:
        step = Decimal(10)
    else:
        step = Decimal(50)
    rounded = (value / step).to_integral_value(rounding=ROUND_CEILING) * step
    if maximum is not None:
        rounded = min(rounded, Decimal(str(maximum)))
    if unit == rules.DAYS:
        rounded = Decimal(math.floor(rounded))
    return rounded.quantize(Decimal("1") if unit == rules.DAYS else Decimal("0.01"))


def recommendation_by_key(
    *, key: str, period: InsightPeriod, thresholds: InsightThresholds | None = None
) -> Recommendation | None:
    """The recommendation `key` names if the period's figures still make it."""
    insights = delegation_insights(period=period, thresholds=thresholds)
    return next((found for found in insights.recommendations if found.key == key), None)


# --- Words --------------------------------------------------------------------------


def wait_words(*, hours: Decimal | float | None) -> str:
    """45 min, 6 h, 3 days."""
    if hours is None:
        return _("unknown")
    hours = float(hours)
    if hours < 1:
        minutes = max(1, round(hours * 60))
        return ngettext("%(n)d min", "%(n)d min", minutes) % {"n": minutes}
    if hours < 48:
        whole = round(hours)
        return ngettext("%(n)d h", "%(n)d h", whole) % {"n": whole}
    days = round(hours / 24)
    return ngettext("%(n)d day", "%(n)d days", days) % {"n": days}


def percent_words(*, rate: Decimal | None) -> str:
    if rate is None:
        return _("unknown")
    return _("%(percent)s%%") % {
        "percent": formats.number_format(rate * 100, decimal_pos=0, use_l10n=True)
    }


def recommendation_words(*, recommendation: Recommendation) -> str:
    """ "Move class extension up to 28 days to stage 2: 312 requests in 30 days,
    97% approved, median wait 6 h"."""
    action_type = recommendation.action_type
    limit = amount_words(
        amount=recommendation.limit,
        unit=action_type.unit,
        currency=action_type.currency,
    )
    action = action_type.name.lower()
    if recommendation.reason_id is not None:
        action = _("%(action)s for “%(reason)s”") % {
            "action": action,
            "reason": recommendation.reason_name,
        }
    if recommendation.kind == DELEGATE_TO_AGENTS:
        return _(
            "Move %(action)s up to %(limit)s to stage 2: %(count)s requests in "
            "%(days)s days, %(rate)s approved, median wait %(wait)s"
        ) % {
            "action": action,
            "limit": limit,
            "count": recommendation.count,
            "days": recommendation.days,
            "rate": percent_words(rate=recommendation.rate),
            "wait": wait_words(hours=recommendation.median_wait_hours),
        }
    return _(
        "Let customers take %(action)s up to %(limit)s themselves (stage 3): "
        "%(count)s agent grants in %(days)s days, %(rate)s reversed"
    ) % {
        "action": action,
        "limit": limit,
        "count": recommendation.count,
        "days": recommendation.days,
        "rate": percent_words(rate=recommendation.rate),
    }


# --- Authority usage ----------------------------------------------------------------


@dataclass(frozen=True)
class AgentUsage:
    agent_id: int
    name: str
    pod_id: int
    opportunities: int
    with_grant: int  # opportunities that carry an agent's own grant
    rate: Decimal | None
    grants: int  # own grants made in the period (stage 2 and 3)
    money: tuple[tuple[str, Decimal], ...]  # (currency, total) granted
    days: int  # days granted (extensions, pauses)
    under_user: bool = False

    @property
    def amounts_words(self) -> str:
        """£65, 12 days."""
        parts = [
            amount_words(amount=total, unit=rules.MONEY, currency=currency)
            for currency, total in self.money
        ]
        if self.days:
            parts.append(amount_words(amount=self.days, unit=rules.DAYS, currency=""))
        return ", ".join(parts)


@dataclass(frozen=True)
class PodUsage:
    pod_id: int
    name: str
    agents: list[AgentUsage]
    opportunities: int
    with_grant: int
    rate: Decimal | None
    median_rate: Decimal | None  # of the agents who had any opportunity
    grants: int

    @property
    def under_users(self) -> list[AgentUsage]:
        return [agent for agent in self.agents if agent.under_user]


def authority_usage(
    *,
    period: InsightPeriod,
    pod_ids: Sequence[int] | None,
    thresholds: InsightThresholds | None = None,
) -> list[PodUsage]:
    """Per pod (None: every pod) and agent: opportunities, those with a grant,
    the usage rate, grants made and their amounts, under-users flagged (see the
    module's docstring for the definitions). Five queries."""
    thresholds = thresholds or insight_thresholds()
    pods_shown = list(pods.selectors.pod_list().values_list("id", "name"))
    if pod_ids is not None:
        wanted = set(pod_ids)
        pods_shown = [(pod_id, name) for pod_id, name in pods_shown if pod_id in wanted]
    agents = pods.selectors.agents_of_pods(
        pod_ids=[pod_id for pod_id, _name in pods_shown]
    )
    agent_ids = [agent.id for agent in agents]
    solved = tickets.selectors.solved_by_agent(
        start=period.start,
        end=period.end,
        agent_ids=agent_ids,
        scopes=_opportunity_scopes(now=period.end),
        marked_ticket_ids=Grant.objects.filter(
            kind=Grant.Kind.GRANT,
            stage__in=[rules.AGENT, rules.SELF_SERVICE],
            agent__isnull=False,
            ticket__isnull=False,
        ).values("ticket_id"),
    )
    granted = _own_grants(period=period, agent_ids=agent_ids)
    by_pod: dict[int, list[AgentUsage]] = {pod_id: [] for pod_id, _name in pods_shown}
    for agent in agents:
        counted = solved.get(agent.id)
        opportunities = counted.solved if counted else 0
        with_grant = counted.marked if counted else 0
        made = granted.get(agent.id, {"grants": 0, "money": (), "days": 0})
        by_pod[agent.pod_id].append(
            AgentUsage(
                agent_id=agent.id,
                name=agent.name,
                pod_id=agent.pod_id,
                opportunities=opportunities,
                with_grant=with_grant,
                rate=_rate(with_grant, opportunities),
                **made,
            )
        )
    return [
        _pod_usage(
            pod_id=pod_id, name=name, agents=by_pod[pod_id], thresholds=thresholds
        )
        for pod_id, name in pods_shown
    ]


def _opportunity_scopes(*, now: datetime) -> list[tickets.selectors.SolvedScope]:
    """Where an agent could grant: the pod and reason scope of each stage-2 and
    stage-3 rule in force; an entitlement action only for its holders."""
    scopes = {}
    for rule in (
        rules_current(now=now)
        .filter(
            stage__in=[rules.AGENT, rules.SELF_SERVICE], action_type__is_active=True
        )
        .select_related("action_type")
    ):
        effect = rule.action_type.effect
        needs_entitlement = effect in (
            ActionType.Effect.EXTEND,
            ActionType.Effect.PAUSE,
        )
        product = rule.action_type.product if needs_entitlement else None
        scopes[(rule.pod_id, rule.contact_reason_id, product)] = needs_entitlement
    found = []
    for (pod_id, reason_id, product), needs_entitlement in sorted(
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


def _own_grants(
    *, period: InsightPeriod, agent_ids: list[int]
) -> dict[int, dict[str, Any]]:
    rows = (
        Grant.objects.filter(
            kind=Grant.Kind.GRANT,
            stage__in=[rules.AGENT, rules.SELF_SERVICE],
            agent_id__in=agent_ids,
            granted_at__gte=period.start,
            granted_at__lt=period.end,
        )
        .values("agent_id", "action_type__unit", "currency")
        .annotate(grants=Count("id"), total=Sum("amount"))
        .order_by("agent_id", "action_type__unit", "currency")
    )
    made: dict[int, dict[str, Any]] = {}
    for row in rows:
        figures = made.setdefault(
            row["agent_id"], {"grants": 0, "money": (), "days": 0}
        )
        figures["grants"] += row["grants"]
        if row["action_type__unit"] == rules.DAYS:
            figures["days"] += int(row["total"])
        else:
            figures["money"] += ((row["currency"], row["total"]),)
    return made


def _pod_usage(
    *,
    pod_id: int,
    name: str,
    agents: list[AgentUsage],
    thresholds: InsightThresholds,
) -> PodUsage:
    counted = [agent.rate for agent in agents if agent.rate is not None]
    median = Decimal(str(statistics.median(counted))) if counted else None
    flagged = [
        _flagged(agent=agent, median=median, thresholds=thresholds) for agent in agents
    ]
    opportunities = sum(agent.opportunities for agent in agents)
    with_grant = sum(agent.with_grant for agent in agents)
    return PodUsage(
        pod_id=pod_id,
        name=name,
        agents=sorted(flagged, key=lambda agent: (not agent.under_user, agent.name)),
        opportunities=opportunities,
        with_grant=with_grant,
        rate=_rate(with_grant, opportunities),
        median_rate=median.quantize(Decimal("0.001")) if median is not None else None,
        grants=sum(agent.grants for agent in agents),
    )


def _flagged(
    *, agent: AgentUsage, median: Decimal | None, thresholds: InsightThresholds
) -> AgentUsage:
    under = (
        median is not None
        and median > 0
        and agent.rate is not None
        and agent.opportunities >= thresholds.min_opportunities
        and agent.rate < median * thresholds.under_use_ratio
    )
    if not under:
        return agent
    return replace(agent, under_user=True)


# --- Template variables -------------------------------------------------------------


def entitlement_template_variables(*, customer_id: int, today: date) -> dict[str, str]:
    """The entitlement.* variables of reply templates for the customer's latest
    ending entitlement: product, end date and days left (none: no variables, so
    a template using them shows them as missing)."""
    entitlement = entitlement_for_action(customer_id=customer_id, product="")
    if entitlement is None:
        return {}
    return {
        "entitlement.product": entitlement.product,
        "entitlement.ends_on": formats.date_format(entitlement.ends_on, "DATE_FORMAT"),
        "entitlement.days_left": str(max(0, (entitlement.ends_on - today).days)),
    }
