"""The decision engine: pure and deterministic. Given what is asked, the rules
that apply and the usage read from the database, decide granted now, needs
approval or refused, with every check that led there as a Reason.

Stages: 3 is customer self-service, 2 the agent's own authority, 1 business
approval. A customer reaches stage-3 rules only; an agent stage 2 and 3 (an
agent may do for a customer what the customer could do alone). When no direct
rule allows the ask, a stage-1 rule that does turns it into a request for
approval; otherwise it is refused. Every limit of the rule a grant runs under
is hard, approval included: a pod's monthly budget is never overspent."""

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

APPROVAL, AGENT, SELF_SERVICE = 1, 2, 3
MONEY, DAYS = "MONEY", "DAYS"
ACTOR_AGENT, ACTOR_CUSTOMER = "AGENT", "CUSTOMER"


class Outcome(StrEnum):
    GRANTED = "GRANTED"
    NEEDS_APPROVAL = "NEEDS_APPROVAL"
    REFUSED = "REFUSED"


@dataclass(frozen=True)
class RuleTerms:
    """One version of a rule, as the engine needs it."""

    rule_id: int
    version: int
    name: str
    stage: int
    max_per_grant: Decimal | None = None
    customer_period_days: int | None = None
    customer_max_count: int | None = None
    customer_max_total: Decimal | None = None
    agent_daily_total: Decimal | None = None
    pod_monthly_total: Decimal | None = None
    min_tenure_days: int | None = None
    cooldown_days: int | None = None
    # Scope fields set: which of pod, contact reason, segment, role (more is
    # more specific; the most specific rule of a stage is the one that applies).
    specificity: tuple[bool, bool, bool, bool] = (False, False, False, False)

    @property
    def history_days(self) -> int:
        return max(self.customer_period_days or 0, self.cooldown_days or 0)


@dataclass(frozen=True)
class Ask:
    action_name: str
    unit: str
    currency: str
    amount: Decimal
    actor: str
    now: datetime


@dataclass(frozen=True)
class Usage:
    """What has been used already. `customer_grants` holds (when, amount) of
    this action for the customer over the longest window any candidate rule
    looks at, reversals netted out."""

    customer_since: datetime
    customer_grants: tuple[tuple[datetime, Decimal], ...] = ()
    agent_today: Decimal = Decimal("0")
    pod_month: Decimal = Decimal("0")


@dataclass(frozen=True)
class Reason:
    """One check, passed or failed, with the figures to say it in words."""

    code: str
    ok: bool
    params: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "params": self.params}


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rule: RuleTerms | None
    reasons: tuple[Reason, ...]

    @property
    def stage(self) -> int | None:
        return self.rule.stage if self.rule else None


def decide(*, ask: Ask, candidates: Sequence[RuleTerms], usage: Usage) -> Decision:
    """The engine's answer for `ask` under `candidates` (the current rules of
    the action whose scope matches)."""
    invalid = amount_problem(ask=ask)
    if invalid:
        return Decision(Outcome.REFUSED, None, (invalid,))
    direct = direct_rules(candidates=candidates, actor=ask.actor)
    failed: list[Reason] = []
    for rule in direct:
        reasons = rule_checks(ask=ask, rule=rule, usage=usage)
        if all(reason.ok for reason in reasons):
            return Decision(Outcome.GRANTED, rule, tuple(reasons))
        failed.extend(reason for reason in reasons if not reason.ok)
    approval = most_specific(candidates=candidates, stage=APPROVAL)
    if approval is None or ask.actor != ACTOR_AGENT:
        no_rule = () if direct else (Reason("no_rule", False, {"actor": ask.actor}),)
        return Decision(Outcome.REFUSED, None, (*no_rule, *failed))
    reasons = rule_checks(ask=ask, rule=approval, usage=usage)
    if all(reason.ok for reason in reasons):
        return Decision(
            Outcome.NEEDS_APPROVAL,
            approval,
            (*failed, *reasons, Reason("needs_approval", True, {})),
        )
    return Decision(Outcome.REFUSED, approval, (*failed, *reasons))


def recheck(*, ask: Ask, rule: RuleTerms, usage: Usage) -> Decision:
    """At execution of an approved request: does the rule it was approved under
    still allow it with today's usage?"""
    reasons = tuple(rule_checks(ask=ask, rule=rule, usage=usage))
    if all(reason.ok for reason in reasons):
        return Decision(Outcome.GRANTED, rule, reasons)
    return Decision(Outcome.REFUSED, rule, reasons)


def amount_problem(*, ask: Ask) -> Reason | None:
    if ask.amount <= 0:
        return Reason("amount_not_positive", False, {"amount": str(ask.amount)})
    if ask.unit == DAYS and ask.amount != ask.amount.to_integral_value():
        return Reason("days_not_whole", False, {"amount": str(ask.amount)})
    if ask.unit == MONEY and ask.amount != ask.amount.quantize(Decimal("0.01")):
        return Reason("money_too_precise", False, {"amount": str(ask.amount)})
    return None


def direct_rules(*, candidates: Sequence[RuleTerms], actor: str) -> list[RuleTerms]:
    """The rules that let this actor act alone, in the order to try them: an
    agent's own (stage 2) before self-service (stage 3)."""
    stages = (AGENT, SELF_SERVICE) if actor == ACTOR_AGENT else (SELF_SERVICE,)
    found = (most_specific(candidates=candidates, stage=stage) for stage in stages)
    return [rule for rule in found if rule is not None]


def most_specific(*, candidates: Sequence[RuleTerms], stage: int) -> RuleTerms | None:
    at_stage = [rule for rule in candidates if rule.stage == stage]
    if not at_stage:
        return None
    return max(
        at_stage,
        key=lambda rule: (sum(rule.specificity), rule.specificity, -rule.rule_id),
    )


def rule_checks(*, ask: Ask, rule: RuleTerms, usage: Usage) -> list[Reason]:
    """Every limit and condition of `rule`, each as a Reason."""
    checks = [
        per_grant_check(ask=ask, rule=rule),
        *customer_checks(ask=ask, rule=rule, usage=usage),
        tenure_check(ask=ask, rule=rule, usage=usage),
        agent_day_check(ask=ask, rule=rule, usage=usage),
        pod_month_check(ask=ask, rule=rule, usage=usage),
    ]
    return [check for check in checks if check is not None]


def per_grant_check(*, ask: Ask, rule: RuleTerms) -> Reason | None:
    if rule.max_per_grant is None:
        return None
    return Reason(
        "per_grant",
        ask.amount <= rule.max_per_grant,
        {
            "amount": str(ask.amount),
            "limit": str(rule.max_per_grant),
            "stage": rule.stage,
        },
    )


def customer_checks(*, ask: Ask, rule: RuleTerms, usage: Usage) -> list[Reason]:
    reasons = []
    if rule.customer_period_days and (
        rule.customer_max_count is not None or rule.customer_max_total is not None
    ):
        since = ask.now - timedelta(days=rule.customer_period_days)
        recent = [amount for at, amount in usage.customer_grants if at > since]
        if rule.customer_max_count is not None:
            reasons.append(
                Reason(
                    "customer_count",
                    len(recent) < rule.customer_max_count,
                    {
                        "count": len(recent),
                        "limit": rule.customer_max_count,
                        "days": rule.customer_period_days,
                    },
                )
            )
        if rule.customer_max_total is not None:
            used = sum(recent, Decimal("0"))
            reasons.append(
                Reason(
                    "customer_total",
                    used + ask.amount <= rule.customer_max_total,
                    {
                        "used": str(used),
                        "limit": str(rule.customer_max_total),
                        "days": rule.customer_period_days,
                    },
                )
            )
    if rule.cooldown_days:
        since = ask.now - timedelta(days=rule.cooldown_days)
        last = max((at for at, _ in usage.customer_grants), default=None)
        reasons.append(
            Reason(
                "cooldown",
                last is None or last <= since,
                {
                    "days": rule.cooldown_days,
                    "days_ago": None if last is None else (ask.now - last).days,
                },
            )
        )
    return reasons


def tenure_check(*, ask: Ask, rule: RuleTerms, usage: Usage) -> Reason | None:
    if not rule.min_tenure_days:
        return None
    tenure = (ask.now - usage.customer_since).days
    return Reason(
        "tenure",
        tenure >= rule.min_tenure_days,
        {"days": tenure, "limit": rule.min_tenure_days},
    )


def agent_day_check(*, ask: Ask, rule: RuleTerms, usage: Usage) -> Reason | None:
    if rule.agent_daily_total is None or ask.actor != ACTOR_AGENT:
        return None
    left = rule.agent_daily_total - usage.agent_today
    return Reason(
        "agent_day",
        ask.amount <= left,
        {"left": str(max(left, Decimal("0"))), "limit": str(rule.agent_daily_total)},
    )


def pod_month_check(*, ask: Ask, rule: RuleTerms, usage: Usage) -> Reason | None:
    if rule.pod_monthly_total is None:
        return None
    left = rule.pod_monthly_total - usage.pod_month
    return Reason(
        "pod_month",
        ask.amount <= left,
        {"left": str(max(left, Decimal("0"))), "limit": str(rule.pod_monthly_total)},
    )


# --- Periods -----------------------------------------------------------------------


def day_start(*, local_now: datetime) -> date:
    """The day a grant counts against, in the pod's time zone (`local_now` is
    already in it)."""
    return local_now.date()


def month_start(*, local_now: datetime) -> date:
    return local_now.date().replace(day=1)


# --- Limits left (the agent panel) ---------------------------------------------


def amount_allowed(*, ask: Ask, rule: RuleTerms, usage: Usage) -> Decimal | None:
    """The most that `rule` would grant right now (None: no money limit at
    all), 0 when a count or condition already stands in the way."""
    blockers = [
        reason
        for reason in rule_checks(ask=_probe(ask), rule=rule, usage=usage)
        if not reason.ok and reason.code in ("customer_count", "cooldown", "tenure")
    ]
    if blockers:
        return Decimal("0")
    caps = [rule.max_per_grant]
    recent_since = ask.now - timedelta(days=rule.customer_period_days or 0)
    if rule.customer_max_total is not None and rule.customer_period_days:
        used = sum(
            (amount for at, amount in usage.customer_grants if at > recent_since),
            Decimal("0"),
        )
        caps.append(rule.customer_max_total - used)
    if rule.agent_daily_total is not None and ask.actor == ACTOR_AGENT:
        caps.append(rule.agent_daily_total - usage.agent_today)
    if rule.pod_monthly_total is not None:
        caps.append(rule.pod_monthly_total - usage.pod_month)
    known = [cap for cap in caps if cap is not None]
    if not known:
        return None
    best = max(min(known), Decimal("0"))
    return best.to_integral_value(rounding="ROUND_FLOOR") if ask.unit == DAYS else best


def _probe(ask: Ask) -> Ask:
    """The smallest possible ask, to see which non-amount checks block."""
    smallest = Decimal("1") if ask.unit == DAYS else Decimal("0.01")
    return Ask(ask.action_name, ask.unit, ask.currency, smallest, ask.actor, ask.now)


# --- Pauses from a chosen day ----------------------------------------------------


def pause_start_problem(
    *,
    starts_on: date,
    days: int,
    today: date,
    max_days_ahead: int,
    ends_on: date,
    paused_from: date | None,
    paused_until: date | None,
) -> Reason | None:
    """Why a pause of `days` days cannot start on `starts_on`, or None when it
    can: not before today, at most `max_days_ahead` days ahead, before the
    entitlement ends, clear of the pause already set. An entitlement holds one
    pause at a time, so a pause still to come or running stops a second one
    even where they would not overlap (it can be set once the first is over)."""
    start = starts_on.isoformat()
    if starts_on < today:
        return Reason("pause_start_past", False, {"start": start})
    latest = today + timedelta(days=max_days_ahead)
    if starts_on > latest:
        return Reason(
            "pause_start_too_far",
            False,
            {"start": start, "latest": latest.isoformat(), "days": max_days_ahead},
        )
    if starts_on >= ends_on:
        return Reason(
            "pause_start_after_end", False, {"start": start, "end": ends_on.isoformat()}
        )
    if paused_until is None or paused_until <= today:
        return None
    began = paused_from or today
    if starts_on < paused_until and began < starts_on + timedelta(days=days):
        return Reason(
            "pause_overlaps",
            False,
            {
                "start": start,
                "from": began.isoformat(),
                "until": paused_until.isoformat(),
            },
        )
    return Reason("already_paused", False, {"until": paused_until.isoformat()})


# --- Hashes ------------------------------------------------------------------------


def request_hash(*, fields: dict[str, Any]) -> str:
    """What an idempotency key and an approval are bound to: the request's
    content, canonically serialised."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def audit_digest(*, prev_digest: str, content: dict[str, Any], key: str) -> str:
    """The link of an audit chain: keyed, so rewriting the chain needs the key."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    message = f"{prev_digest}|{canonical}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature(*, body: bytes, key: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


# --- Retries -----------------------------------------------------------------------

WEBHOOK_MAX_ATTEMPTS = 10


def webhook_retry_delay(*, attempts: int) -> timedelta | None:
    """Back off 30 s, 1 min, 2 min ... up to 4 h between attempts; None once
    the attempts are spent (the delivery is then FAILED, retryable by hand)."""
    if attempts >= WEBHOOK_MAX_ATTEMPTS:
        return None
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 4 * 3600))
