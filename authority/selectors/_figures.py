"""The authority figures of the pod dashboard and the organisation view, read
from the period rows (authority.services._figures keeps them) plus three live
reads that stay cheap at any volume: the budgets this month (the rules' per-pod
monthly limits against the pods' usage counters), the approvals waiting (a
partial index), and the delegation recommendations' last snapshot.

A pod's **budget** for an action is the largest per-pod monthly limit among the
stage-2 and stage-3 rules in force that cover the pod: what its agents and
customers may grant this month without an approval. **Used** is the pod's
usage counter of the month (grants less reversals). **Approvals avoided** are
the grants made at stage 2 or 3: each would have been an approval request."""

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from hashlib import sha256
from zoneinfo import ZoneInfo

from django.db.models import Count, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

import pods.selectors
from authority import rules
from authority.models import (
    ActionType,
    AuthorityPeriod,
    AuthorityRequest,
    DelegationSnapshot,
    UsageCounter,
)
from authority.selectors._funnel import amount_words, rules_current
from authority.selectors._insights import (
    DEFAULT_PERIOD_DAYS,
    InsightThresholds,
    Recommendation,
    insight_thresholds,
)

FIGURE_PERIODS = (1, 7, 30, 90)
DEFAULT_FIGURE_PERIOD = 7
STAGES = (rules.APPROVAL, rules.AGENT, rules.SELF_SERVICE)
ZERO = Decimal("0")


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.001"))


@dataclass(frozen=True)
class StageFigures:
    stage: int
    grants: int
    granted: Decimal
    reversals: int
    reversed: Decimal


@dataclass(frozen=True)
class ActionFigures:
    """One action type in one pod: the period's grants per stage and the
    approvals, and this month's budget against what was used."""

    action_type: ActionType
    stages: tuple[StageFigures, ...]
    approvals_requested: int
    approvals_approved: int
    approvals_denied: int
    budget: Decimal | None
    used_this_month: Decimal

    @property
    def grants(self) -> int:
        return sum(stage.grants for stage in self.stages)

    @property
    def granted(self) -> Decimal:
        return sum((stage.granted for stage in self.stages), ZERO)

    @property
    def reversals(self) -> int:
        return sum(stage.reversals for stage in self.stages)

    @property
    def reversed(self) -> Decimal:
        return sum((stage.reversed for stage in self.stages), ZERO)

    @property
    def approvals_avoided(self) -> int:
        return sum(
            stage.grants
            for stage in self.stages
            if stage.stage in (rules.AGENT, rules.SELF_SERVICE)
        )

    @property
    def budget_share(self) -> Decimal | None:
        if not self.budget:
            return None
        return (self.used_this_month / self.budget).quantize(Decimal("0.001"))

    @property
    def budget_left(self) -> Decimal | None:
        if self.budget is None:
            return None
        return max(self.budget - self.used_this_month, ZERO)

    def words(self, amount: Decimal | None) -> str:
        if amount is None:
            return ""
        return amount_words(
            amount=amount,
            unit=self.action_type.unit,
            currency=self.action_type.currency,
        )

    @property
    def granted_words(self) -> str:
        return self.words(self.granted)

    @property
    def reversed_words(self) -> str:
        return self.words(self.reversed)

    @property
    def budget_words(self) -> str:
        return self.words(self.budget)

    @property
    def used_words(self) -> str:
        return self.words(self.used_this_month)

    @property
    def unit_label(self) -> str:
        if self.action_type.unit == rules.DAYS:
            return _("days")
        return self.action_type.currency


@dataclass(frozen=True)
class AgentAuthority:
    agent_id: int
    name: str
    opportunities: int
    with_grant: int
    grants: int
    rate: Decimal | None
    under_user: bool = False


@dataclass(frozen=True)
class PodAuthorityFigures:
    pod_id: int
    pod_name: str
    time_zone: str
    days: int
    first_day: date | None
    last_day: date | None
    as_of: datetime | None  # None: never refreshed yet
    month: date
    actions: list[ActionFigures]
    agents: list[AgentAuthority]
    approvals_waiting: int
    grants_per_day: list[int]
    avoided_per_day: list[int]
    median_rate: Decimal | None

    @property
    def grants_by_stage(self) -> dict[int, int]:
        return {
            stage: sum(
                found.grants
                for action in self.actions
                for found in action.stages
                if found.stage == stage
            )
            for stage in STAGES
        }

    @property
    def grants(self) -> int:
        return sum(action.grants for action in self.actions)

    @property
    def reversals(self) -> int:
        return sum(action.reversals for action in self.actions)

    @property
    def approvals_avoided(self) -> int:
        return sum(action.approvals_avoided for action in self.actions)

    @property
    def approvals_requested(self) -> int:
        return sum(action.approvals_requested for action in self.actions)

    @property
    def approvals_approved(self) -> int:
        return sum(action.approvals_approved for action in self.actions)

    @property
    def approvals_denied(self) -> int:
        return sum(action.approvals_denied for action in self.actions)

    @property
    def opportunities(self) -> int:
        return sum(agent.opportunities for agent in self.agents)

    @property
    def with_grant(self) -> int:
        return sum(agent.with_grant for agent in self.agents)

    @property
    def rate(self) -> Decimal | None:
        return _rate(self.with_grant, self.opportunities)

    @property
    def under_users(self) -> list[AgentAuthority]:
        return [agent for agent in self.agents if agent.under_user]

    @property
    def as_of_local(self) -> datetime | None:
        if self.as_of is None:
            return None
        return self.as_of.astimezone(ZoneInfo(self.time_zone))


@dataclass(frozen=True)
class OrganisationAuthorityFigures:
    days: int
    pods: list[PodAuthorityFigures]
    recommendations: list[Recommendation]
    recommendations_days: int
    recommendations_as_of: datetime | None


def pod_authority_figures(
    *,
    pod_id: int,
    days: int,
    now: datetime,
    thresholds: InsightThresholds | None = None,
) -> PodAuthorityFigures | None:
    """The pod's authority figures over its last `days` local days, from the
    period row (None: the pod has none yet), with this month's budgets and the
    approvals waiting read live. Five queries, whatever the volume."""
    row = (
        AuthorityPeriod.objects.select_related("pod")
        .filter(pod_id=pod_id, days=days)
        .first()
    )
    if row is None:
        return None
    action_types = _action_types()
    pod = (row.pod_id, row.pod.name, row.pod.time_zone or "UTC")
    month = _month_of(now=now, time_zone=pod[2])
    budgets = _budgets(pod_months={pod_id: month}, now=now)
    waiting = _waiting(pod_ids=[pod_id])
    return _pod_figures(
        row=row,
        pod=pod,
        month=month,
        action_types=action_types,
        budgets=budgets,
        waiting=waiting,
        thresholds=thresholds or insight_thresholds(),
    )


def organisation_authority_figures(
    *,
    days: int,
    now: datetime,
    thresholds: InsightThresholds | None = None,
) -> OrganisationAuthorityFigures:
    """Every open pod's authority figures side by side (pods without a period
    row yet left out) and the delegation recommendations' last snapshot. Seven
    queries, whatever the number of pods."""
    open_pod_ids = list(pods.selectors.pod_list().values_list("id", flat=True))
    rows = list(
        AuthorityPeriod.objects.select_related("pod")
        .filter(pod_id__in=open_pod_ids, days=days)
        .order_by("pod__name", "pod_id")
    )
    action_types = _action_types()
    months = {
        row.pod_id: _month_of(now=now, time_zone=row.pod.time_zone or "UTC")
        for row in rows
    }
    budgets = _budgets(pod_months=months, now=now)
    waiting = _waiting(pod_ids=list(months))
    thresholds = thresholds or insight_thresholds()
    snapshot = DelegationSnapshot.objects.filter(days=DEFAULT_PERIOD_DAYS).first()
    return OrganisationAuthorityFigures(
        days=days,
        pods=[
            _pod_figures(
                row=row,
                pod=(row.pod_id, row.pod.name, row.pod.time_zone or "UTC"),
                month=months[row.pod_id],
                action_types=action_types,
                budgets=budgets,
                waiting=waiting,
                thresholds=thresholds,
            )
            for row in rows
        ],
        recommendations=_recommendations(snapshot=snapshot, action_types=action_types),
        recommendations_days=DEFAULT_PERIOD_DAYS,
        recommendations_as_of=snapshot.as_of if snapshot else None,
    )


# What a period row's figures are made of: every stored field (its figures as
# the database's text, not decoded), the pod's name and zone.
_REVISION_FIELDS = ("pod_id", "pod__name", "pod__time_zone", "first_day", "last_day")


def _period_rows_stored(rows) -> list[tuple]:
    return list(
        rows.annotate(stored=Cast("figures", output_field=TextField())).values_list(
            *_REVISION_FIELDS, "as_of", "stored"
        )
    )


def pod_authority_revision(*, pod_id: int, days: int, now: datetime) -> str | None:
    """A digest of everything pod_authority_figures(pod_id, days, now) is made
    of: the period row as stored (its figures as text, not decoded), the pod's
    name and zone, this month's budgets and usage, the approvals waiting, the
    action types and the thresholds. Equal digests, equal figures: what the
    rendered panel is cached by. None before the first refresh. Five small
    queries on indexes."""
    rows = _period_rows_stored(AuthorityPeriod.objects.filter(pod_id=pod_id, days=days))
    return _revision_of(rows, now=now, snapshot=None) if rows else None


def organisation_authority_revision(*, days: int, now: datetime) -> str:
    """As pod_authority_revision, of organisation_authority_figures(days, now):
    every open pod's period row, and the recommendations' snapshot."""
    open_pod_ids = list(pods.selectors.pod_list().values_list("id", flat=True))
    rows = _period_rows_stored(
        AuthorityPeriod.objects.filter(pod_id__in=open_pod_ids, days=days).order_by(
            "pod_id"
        )
    )
    snapshot = (
        DelegationSnapshot.objects.filter(days=DEFAULT_PERIOD_DAYS)
        .values_list()
        .first()
    )
    return _revision_of(rows, now=now, snapshot=snapshot)


def _revision_of(rows: list[tuple], *, now: datetime, snapshot) -> str:
    months = {row[0]: _month_of(now=now, time_zone=row[2] or "UTC") for row in rows}
    parts = (
        rows,
        sorted(months.items()),
        sorted(
            (pod_id, sorted(actions.items()))
            for pod_id, actions in _budgets(pod_months=months, now=now).items()
        ),
        sorted(_waiting(pod_ids=list(months)).items()),
        list(ActionType.objects.order_by("id").values_list()),
        insight_thresholds(),
        snapshot,
    )
    return sha256(repr(parts).encode()).hexdigest()


def _action_types() -> dict[int, ActionType]:
    return {action.id: action for action in ActionType.objects.all()}


def _month_of(*, now: datetime, time_zone: str) -> date:
    return rules.month_start(local_now=now.astimezone(ZoneInfo(time_zone)))


def _budgets(
    *, pod_months: dict[int, date], now: datetime
) -> dict[int, dict[int, tuple[Decimal | None, Decimal]]]:
    """Per pod, per action with a budget or a use this month: (budget, used).
    Two queries for any number of pods."""
    limits = (
        rules_current(now=now)
        .filter(
            stage__in=[rules.AGENT, rules.SELF_SERVICE],
            pod_monthly_total__isnull=False,
        )
        .values_list("pod_id", "action_type_id", "pod_monthly_total")
    )
    found: dict[int, dict[int, list]] = {pod_id: {} for pod_id in pod_months}
    for rule_pod_id, action_id, limit in limits:
        for pod_id in [rule_pod_id] if rule_pod_id else pod_months:
            if pod_id not in found:
                continue
            budget = found[pod_id].setdefault(action_id, [None, ZERO])
            budget[0] = limit if budget[0] is None else max(budget[0], limit)
    used = UsageCounter.objects.filter(
        scope=UsageCounter.Scope.POD_MONTH,
        scope_id__in=list(pod_months),
        period_start__in=set(pod_months.values()),
    ).values_list("scope_id", "action_type_id", "period_start", "amount")
    for pod_id, action_id, month, amount in used:
        if pod_months.get(pod_id) == month:
            found[pod_id].setdefault(action_id, [None, ZERO])[1] = amount
    return {
        pod_id: {action_id: tuple(pair) for action_id, pair in actions.items()}
        for pod_id, actions in found.items()
    }


def _waiting(*, pod_ids: Sequence[int]) -> dict[int, int]:
    return dict(
        AuthorityRequest.objects.filter(
            state=AuthorityRequest.State.PENDING, pod_id__in=list(pod_ids)
        )
        .values("pod_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("pod_id", "n")
    )


def _pod_figures(
    *,
    row: AuthorityPeriod,
    pod: tuple[int, str, str],
    month: date,
    action_types: dict[int, ActionType],
    budgets: dict[int, dict[int, tuple[Decimal | None, Decimal]]],
    waiting: dict[int, int],
    thresholds: InsightThresholds,
) -> PodAuthorityFigures:
    figures = row.figures
    pod_id, name, time_zone = pod
    return PodAuthorityFigures(
        pod_id=pod_id,
        pod_name=name,
        time_zone=time_zone,
        days=row.days,
        first_day=row.first_day,
        last_day=row.last_day,
        as_of=row.as_of,
        month=month,
        actions=_actions(
            stored=figures.get("actions", []),
            budgets=budgets.get(pod_id, {}),
            action_types=action_types,
        ),
        agents=_agents(stored=figures.get("agents", []), thresholds=thresholds),
        approvals_waiting=waiting.get(pod_id, 0),
        grants_per_day=figures.get("grants_per_day", []),
        avoided_per_day=figures.get("avoided_per_day", []),
        median_rate=_median_rate(figures.get("agents", [])),
    )


def _actions(
    *,
    stored: list[dict],
    budgets: dict[int, tuple[Decimal | None, Decimal]],
    action_types: dict[int, ActionType],
) -> list[ActionFigures]:
    by_action: dict[int, list[dict]] = defaultdict(list)
    for one in stored:
        by_action[one["action_type_id"]].append(one)
    found = []
    for action_id in set(by_action) | set(budgets):
        if action_id not in action_types:
            continue
        parts = by_action.get(action_id, [])
        budget, used = budgets.get(action_id, (None, ZERO))
        found.append(
            ActionFigures(
                action_type=action_types[action_id],
                stages=tuple(
                    StageFigures(
                        stage=one["stage"],
                        grants=one["grants"],
                        granted=Decimal(one["granted"]),
                        reversals=one["reversals"],
                        reversed=Decimal(one["reversed"]),
                    )
                    for one in sorted(parts, key=lambda one: one["stage"])
                ),
                approvals_requested=sum(one["approvals_requested"] for one in parts),
                approvals_approved=sum(one["approvals_approved"] for one in parts),
                approvals_denied=sum(one["approvals_denied"] for one in parts),
                budget=budget,
                used_this_month=used,
            )
        )
    found.sort(key=lambda action: (action.action_type.name, action.action_type.id))
    return found


def _median_rate(stored: list[dict]) -> Decimal | None:
    rates = [
        _rate(one["with_grant"], one["opportunities"])
        for one in stored
        if one["opportunities"]
    ]
    if not rates:
        return None
    return Decimal(str(statistics.median(rates))).quantize(Decimal("0.001"))


def _agents(
    *, stored: list[dict], thresholds: InsightThresholds
) -> list[AgentAuthority]:
    """The insights' rule: an agent with enough opportunities whose rate is
    under a share of the pod's median is flagged, and listed first."""
    median = _median_rate(stored)
    agents = []
    for one in stored:
        rate = _rate(one["with_grant"], one["opportunities"])
        under = (
            median is not None
            and median > 0
            and rate is not None
            and one["opportunities"] >= thresholds.min_opportunities
            and rate < median * thresholds.under_use_ratio
        )
        agents.append(
            AgentAuthority(
                agent_id=one["agent_id"],
                name=one["name"] or _("Agent #%(id)s") % {"id": one["agent_id"]},
                opportunities=one["opportunities"],
                with_grant=one["with_grant"],
                grants=one["grants"],
                rate=rate,
                under_user=under,
            )
        )
    agents.sort(key=lambda agent: (not agent.under_user, agent.name, agent.agent_id))
    return agents


def _recommendations(
    *, snapshot: DelegationSnapshot | None, action_types: dict[int, ActionType]
) -> list[Recommendation]:
    if snapshot is None:
        return []

    def decimal(value: str | None) -> Decimal | None:
        return None if value is None else Decimal(value)

    return [
        Recommendation(
            key=one["key"],
            kind=one["kind"],
            action_type=action_types[one["action_type_id"]],
            reason_id=one["reason_id"],
            reason_name=one["reason_name"]
            if one["reason_id"] is not None
            else _("All reasons"),
            to_stage=one["to_stage"],
            limit=Decimal(one["limit"]),
            current_limit=decimal(one["current_limit"]),
            rule_id=one["rule_id"],
            count=one["count"],
            rate=Decimal(one["rate"]),
            median_wait_hours=decimal(one["median_wait_hours"]),
            days=snapshot.days,
        )
        for one in snapshot.recommendations
        if one["action_type_id"] in action_types
    ]


# --- Documents (the API's JSON; CSV is built from the same figures) ---------------


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def pod_authority_document(*, figures: PodAuthorityFigures) -> dict:
    """The pod's figures as plain JSON values (amounts as strings)."""
    return {
        "pod_id": figures.pod_id,
        "pod": figures.pod_name,
        "time_zone": figures.time_zone,
        "period_days": figures.days,
        "first_day": figures.first_day.isoformat() if figures.first_day else None,
        "last_day": figures.last_day.isoformat() if figures.last_day else None,
        "as_of": figures.as_of.isoformat() if figures.as_of else None,
        "grants_by_stage": {
            str(stage): count for stage, count in figures.grants_by_stage.items()
        },
        "grants": figures.grants,
        "reversals": figures.reversals,
        "approvals_avoided": figures.approvals_avoided,
        "approvals_requested": figures.approvals_requested,
        "approvals_approved": figures.approvals_approved,
        "approvals_denied": figures.approvals_denied,
        "approvals_waiting": figures.approvals_waiting,
        "budget_month": figures.month.isoformat(),
        "actions": [
            {
                "action": action.action_type.code,
                "name": action.action_type.name,
                "unit": action.action_type.unit,
                "currency": action.action_type.currency,
                "grants": action.grants,
                "granted": _number(action.granted),
                "reversals": action.reversals,
                "reversed": _number(action.reversed),
                "approvals_avoided": action.approvals_avoided,
                "approvals_requested": action.approvals_requested,
                "approvals_approved": action.approvals_approved,
                "approvals_denied": action.approvals_denied,
                "budget": _number(action.budget),
                "used_this_month": _number(action.used_this_month),
                "stages": [
                    {
                        "stage": stage.stage,
                        "grants": stage.grants,
                        "granted": _number(stage.granted),
                        "reversals": stage.reversals,
                        "reversed": _number(stage.reversed),
                    }
                    for stage in action.stages
                ],
            }
            for action in figures.actions
        ],
        "usage": {
            "opportunities": figures.opportunities,
            "with_grant": figures.with_grant,
            "rate": _number(figures.rate),
            "median_rate": _number(figures.median_rate),
            "agents": [
                {
                    "agent_id": agent.agent_id,
                    "name": agent.name,
                    "opportunities": agent.opportunities,
                    "with_grant": agent.with_grant,
                    "rate": _number(agent.rate),
                    "grants": agent.grants,
                    "under_user": agent.under_user,
                }
                for agent in figures.agents
            ],
        },
        "grants_per_day": figures.grants_per_day,
        "avoided_per_day": figures.avoided_per_day,
    }


def organisation_authority_document(*, figures: OrganisationAuthorityFigures) -> dict:
    """Every pod's figures and the delegation recommendations, as JSON values."""
    return {
        "period_days": figures.days,
        "pods": [pod_authority_document(figures=pod) for pod in figures.pods],
        "recommendations": {
            "period_days": figures.recommendations_days,
            "as_of": (
                figures.recommendations_as_of.isoformat()
                if figures.recommendations_as_of
                else None
            ),
            "items": [
                {
                    "key": found.key,
                    "text": found.text,
                    "action": found.action_type.code,
                    "reason_id": found.reason_id,
                    "to_stage": found.to_stage,
                    "limit": _number(found.limit),
                    "current_limit": _number(found.current_limit),
                    "count": found.count,
                    "rate": _number(found.rate),
                }
                for found in figures.recommendations
            ],
        },
    }
