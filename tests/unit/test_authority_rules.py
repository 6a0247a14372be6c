"""The decision engine, property by property: whatever the rules and the usage,
it never grants past a limit or a failed condition, never lets a customer use
an agent's or an approver's rule, sends an agent to approval only under a
stage-1 rule that itself holds, answers the same ask the same way, and agrees
with the "limits left" the agent panel shows. Period boundaries fall at local
midnight in the pod's time zone.

The expectations are worked out by an oracle written from the rule's terms
(`breaches`), not by calling the engine's own checks."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authority import rules
from authority.rules import (
    ACTOR_AGENT,
    ACTOR_CUSTOMER,
    AGENT,
    APPROVAL,
    DAYS,
    MONEY,
    SELF_SERVICE,
    Ask,
    Outcome,
    RuleTerms,
    Usage,
    amount_allowed,
    decide,
)

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
CENT = Decimal("0.01")
# Enough to find a broken limit in seconds on a busy two-core machine; the
# oracle test, which pins the whole outcome, gets more.
PROPERTY = settings(max_examples=150, deadline=None, database=None)
THOROUGH = settings(max_examples=400, deadline=None, database=None)


# --- The oracle ----------------------------------------------------------------------


def smallest(unit: str) -> Decimal:
    return Decimal("1") if unit == DAYS else CENT


def breaches(*, ask: Ask, rule: RuleTerms, usage: Usage) -> list[str]:
    """Every limit or condition of `rule` that granting `ask` would break."""
    broken = []
    if rule.max_per_grant is not None and ask.amount > rule.max_per_grant:
        broken.append("per_grant")
    if rule.customer_period_days:
        window = timedelta(days=rule.customer_period_days)
        recent = [
            amount for at, amount in usage.customer_grants if ask.now - at < window
        ]
        if (
            rule.customer_max_count is not None
            and len(recent) + 1 > rule.customer_max_count
        ):
            broken.append("customer_count")
        if (
            rule.customer_max_total is not None
            and sum(recent, Decimal(0)) + ask.amount > rule.customer_max_total
        ):
            broken.append("customer_total")
    if rule.cooldown_days and any(
        ask.now - at < timedelta(days=rule.cooldown_days)
        for at, _ in usage.customer_grants
    ):
        broken.append("cooldown")
    if rule.min_tenure_days and (
        (ask.now - usage.customer_since) < timedelta(days=rule.min_tenure_days)
    ):
        broken.append("tenure")
    if (
        ask.actor == ACTOR_AGENT
        and rule.agent_daily_total is not None
        and usage.agent_today + ask.amount > rule.agent_daily_total
    ):
        broken.append("agent_day")
    if (
        rule.pod_monthly_total is not None
        and usage.pod_month + ask.amount > rule.pod_monthly_total
    ):
        broken.append("pod_month")
    return broken


# --- Strategies ---------------------------------------------------------------------


def quantities(unit: str, *, high: int) -> st.SearchStrategy[Decimal]:
    """Positive amounts of the unit: whole days, or money in pence."""
    if unit == DAYS:
        return st.integers(1, high).map(Decimal)
    return st.integers(1, high * 100).map(lambda pence: Decimal(pence) / 100)


def optional(strategy: st.SearchStrategy, *, rarely: bool = False) -> st.SearchStrategy:
    """None (no such limit) or a value; `rarely` present for the conditions, so
    that enough asks pass every other check to reach the one under test."""
    nones = [st.none()] * (3 if rarely else 1)
    return st.one_of(*nones, strategy)


@st.composite
def rule_terms(draw, *, unit: str, rule_id: int, stage: int | None = None):
    money = quantities(unit, high=300)
    period = draw(optional(st.integers(1, 120)))
    return RuleTerms(
        rule_id=rule_id,
        version=draw(st.integers(1, 5)),
        name=f"rule {rule_id}",
        stage=stage if stage is not None else draw(st.sampled_from([1, 2, 3])),
        max_per_grant=draw(optional(money)),
        customer_period_days=period,
        customer_max_count=draw(optional(st.integers(1, 8))) if period else None,
        customer_max_total=draw(optional(money)) if period else None,
        agent_daily_total=draw(optional(money)),
        pod_monthly_total=draw(optional(money)),
        min_tenure_days=draw(optional(st.integers(1, 400), rarely=True)),
        cooldown_days=draw(optional(st.integers(1, 90), rarely=True)),
        specificity=draw(st.tuples(*[st.booleans()] * 4)),
    )


@st.composite
def usages(draw, *, unit: str):
    grant_ages = st.integers(0, 150 * 24 * 3600)
    grants = draw(
        st.lists(st.tuples(grant_ages, quantities(unit, high=80)), max_size=4)
    )
    return Usage(
        customer_since=NOW - timedelta(seconds=draw(st.integers(0, 800 * 24 * 3600))),
        customer_grants=tuple(
            sorted((NOW - timedelta(seconds=age), amount) for age, amount in grants)
        ),
        agent_today=draw(st.one_of(st.just(Decimal(0)), quantities(unit, high=300))),
        pod_month=draw(st.one_of(st.just(Decimal(0)), quantities(unit, high=600))),
    )


@st.composite
def cases(
    draw,
    *,
    one_per_stage: bool = False,
    actor: str | None = None,
    unit: str | None = None,
):
    """(ask, candidates, usage): up to four rules of one action."""
    unit = unit or draw(st.sampled_from([MONEY, DAYS]))
    if one_per_stage:
        stages = draw(st.lists(st.sampled_from([1, 2, 3]), unique=True, max_size=3))
    else:
        stages = draw(st.lists(st.sampled_from([1, 2, 3]), max_size=4))
    candidates = [
        draw(rule_terms(unit=unit, rule_id=index + 1, stage=stage))
        for index, stage in enumerate(stages)
    ]
    usage = draw(usages(unit=unit))
    edges = edge_amounts(candidates=candidates, usage=usage, unit=unit)
    amounts = quantities(unit, high=200)
    ask = Ask(
        action_name="Refund",
        unit=unit,
        currency="GBP" if unit == MONEY else "",
        amount=draw(st.one_of(amounts, *[st.sampled_from(edges)] * 2 if edges else [])),
        actor=actor or draw(st.sampled_from([ACTOR_AGENT, ACTOR_CUSTOMER])),
        now=NOW,
    )
    return ask, candidates, usage


def edge_amounts(
    *, candidates: list[RuleTerms], usage: Usage, unit: str
) -> list[Decimal]:
    """Amounts at a limit and one unit either side of it, where an off-by-one
    in the engine would show."""
    step = smallest(unit)
    recent_total = sum((amount for _, amount in usage.customer_grants), Decimal(0))
    lefts = []
    for rule in candidates:
        lefts += [
            rule.max_per_grant,
            rule.pod_monthly_total and rule.pod_monthly_total - usage.pod_month,
            rule.agent_daily_total and rule.agent_daily_total - usage.agent_today,
            rule.customer_max_total and rule.customer_max_total - recent_total,
        ]
    edges = {
        left + delta
        for left in lefts
        if left is not None
        for delta in (-step, Decimal(0), step)
    }
    return sorted(edge for edge in edges if edge >= step)


def with_amount(ask: Ask, amount: Decimal) -> Ask:
    return Ask(ask.action_name, ask.unit, ask.currency, amount, ask.actor, ask.now)


# --- Properties ---------------------------------------------------------------------


class TestDecideNeverGrantsPastARule:
    @given(case=cases())
    @PROPERTY
    def test_a_grant_keeps_every_limit_and_condition_of_its_rule(self, case):
        ask, candidates, usage = case

        decision = decide(ask=ask, candidates=candidates, usage=usage)

        if decision.outcome == Outcome.GRANTED:
            assert decision.rule in candidates
            assert breaches(ask=ask, rule=decision.rule, usage=usage) == []
            assert all(reason.ok for reason in decision.reasons)

    @given(case=cases())
    @PROPERTY
    def test_an_approval_request_keeps_the_limits_of_the_approval_rule(self, case):
        ask, candidates, usage = case

        decision = decide(ask=ask, candidates=candidates, usage=usage)

        if decision.outcome == Outcome.NEEDS_APPROVAL:
            assert decision.rule in candidates
            assert breaches(ask=ask, rule=decision.rule, usage=usage) == []

    @given(case=cases(actor=ACTOR_CUSTOMER))
    @PROPERTY
    def test_a_customer_is_granted_under_self_service_only_and_never_queued(self, case):
        ask, candidates, usage = case

        decision = decide(ask=ask, candidates=candidates, usage=usage)

        assert decision.outcome != Outcome.NEEDS_APPROVAL
        if decision.outcome == Outcome.GRANTED:
            assert decision.rule.stage == SELF_SERVICE

    @given(case=cases(actor=ACTOR_AGENT))
    @PROPERTY
    def test_an_agent_reaches_approval_only_under_a_stage_1_rule(self, case):
        ask, candidates, usage = case

        decision = decide(ask=ask, candidates=candidates, usage=usage)

        if decision.outcome == Outcome.NEEDS_APPROVAL:
            assert decision.rule.stage == APPROVAL
        if decision.outcome == Outcome.GRANTED:
            assert decision.rule.stage in (AGENT, SELF_SERVICE)
        if not any(rule.stage == APPROVAL for rule in candidates):
            assert decision.outcome != Outcome.NEEDS_APPROVAL

    @given(case=cases())
    @PROPERTY
    def test_the_reasons_say_why_when_refused(self, case):
        ask, candidates, usage = case

        decision = decide(ask=ask, candidates=candidates, usage=usage)

        if decision.outcome == Outcome.REFUSED:
            assert decision.reasons
            assert not all(reason.ok for reason in decision.reasons)


LIMITS = (
    "max_per_grant",
    "customer_max_total",
    "customer_max_count",
    "agent_daily_total",
    "pod_monthly_total",
    "min_tenure_days",
    "cooldown_days",
)


@st.composite
def one_limit_at_its_edge(draw, *, limit: str):
    """A stage-2 rule with only `limit`, and an agent's ask at that limit or
    one unit either side of it."""
    unit = draw(st.sampled_from([MONEY, DAYS]))
    usage = draw(usages(unit=unit))
    value = draw(
        st.integers(1, 8) if limit == "customer_max_count" else st.integers(1, 300)
    )
    money_limit = limit.endswith("total") or limit == "max_per_grant"
    terms = {limit: Decimal(value) if money_limit else value}
    if limit.startswith("customer_"):
        terms["customer_period_days"] = draw(st.integers(1, 120))
    rule = RuleTerms(rule_id=1, version=1, name="one", stage=AGENT, **terms)
    step = smallest(unit)
    recent_total = sum(
        (
            amount
            for at, amount in usage.customer_grants
            if NOW - at < timedelta(days=terms.get("customer_period_days", 0))
        ),
        Decimal(0),
    )
    left = {
        "max_per_grant": lambda: rule.max_per_grant,
        "customer_max_total": lambda: rule.customer_max_total - recent_total,
        "agent_daily_total": lambda: rule.agent_daily_total - usage.agent_today,
        "pod_monthly_total": lambda: rule.pod_monthly_total - usage.pod_month,
    }.get(limit, lambda: draw(quantities(unit, high=50)))()
    amount = max(left + draw(st.sampled_from([-step, Decimal(0), step])), step)
    ask = Ask("Refund", unit, "GBP" if unit == MONEY else "", amount, ACTOR_AGENT, NOW)
    return ask, rule, usage


class TestEachLimitIsExactAtItsEdge:
    """One limit at a time, asked at it and a unit either side: granted exactly
    when the oracle says it holds (an off-by-one in any check shows here)."""

    @pytest.mark.parametrize("limit", LIMITS)
    @given(data=st.data())
    @PROPERTY
    def test_granted_exactly_when_the_limit_holds(self, limit, data):
        ask, rule, usage = data.draw(one_limit_at_its_edge(limit=limit))

        decision = decide(ask=ask, candidates=[rule], usage=usage)

        holds = not breaches(ask=ask, rule=rule, usage=usage)
        assert (decision.outcome == Outcome.GRANTED) is holds, decision.reasons


class TestDecideMatchesTheOracleWithOneRulePerStage:
    """With at most one rule per stage (the usual configuration) the outcome is
    fully determined: the agent's own rule, then self-service, then approval."""

    @given(case=cases(one_per_stage=True))
    @THOROUGH
    def test_the_outcome_is_the_oracles(self, case):
        ask, candidates, usage = case
        by_stage = {rule.stage: rule for rule in candidates}
        order = (AGENT, SELF_SERVICE) if ask.actor == ACTOR_AGENT else (SELF_SERVICE,)
        expected_outcome, expected_rule = Outcome.REFUSED, None
        for stage in order:
            rule = by_stage.get(stage)
            if rule and not breaches(ask=ask, rule=rule, usage=usage):
                expected_outcome, expected_rule = Outcome.GRANTED, rule
                break
        else:
            approval = by_stage.get(APPROVAL)
            if (
                ask.actor == ACTOR_AGENT
                and approval
                and not breaches(ask=ask, rule=approval, usage=usage)
            ):
                expected_outcome, expected_rule = Outcome.NEEDS_APPROVAL, approval

        decision = decide(ask=ask, candidates=candidates, usage=usage)

        assert decision.outcome == expected_outcome
        if expected_rule is not None:
            assert decision.rule == expected_rule


class TestDecideIsDeterministic:
    @given(case=cases(), data=st.data())
    @PROPERTY
    def test_the_same_ask_gets_the_same_answer_in_any_rule_order(self, case, data):
        ask, candidates, usage = case
        shuffled = data.draw(st.permutations(candidates))

        first = decide(ask=ask, candidates=candidates, usage=usage)
        again = decide(ask=ask, candidates=candidates, usage=usage)
        reordered = decide(ask=ask, candidates=shuffled, usage=usage)

        assert first == again
        assert (reordered.outcome, reordered.rule) == (first.outcome, first.rule)

    @given(
        case=cases(),
        amount=st.one_of(
            st.integers(-500, 0).map(Decimal),
            st.integers(1, 10**6)
            .map(lambda n: Decimal(n) / 1000)
            .filter(lambda value: value != value.quantize(CENT)),
        ),
    )
    @PROPERTY
    def test_a_malformed_amount_is_refused_without_a_rule(self, case, amount):
        ask, candidates, usage = case

        decision = decide(
            ask=with_amount(ask, amount), candidates=candidates, usage=usage
        )

        assert decision.outcome == Outcome.REFUSED
        assert decision.rule is None

    @given(case=cases(unit=DAYS))
    @PROPERTY
    def test_days_must_be_whole(self, case):
        ask, candidates, usage = case

        decision = decide(
            ask=with_amount(ask, ask.amount + Decimal("0.5")),
            candidates=candidates,
            usage=usage,
        )

        assert decision.outcome == Outcome.REFUSED
        assert [reason.code for reason in decision.reasons] == ["days_not_whole"]


class TestAmountAllowedAgreesWithDecide:
    """The panel's "up to X" is exactly the most the engine grants."""

    @given(case=cases(one_per_stage=True), data=st.data())
    @PROPERTY
    def test_granting_exactly_the_allowed_amount_succeeds_and_a_unit_more_fails(
        self, case, data
    ):
        ask, _, usage = case
        stage = SELF_SERVICE if ask.actor == ACTOR_CUSTOMER else AGENT
        rule = data.draw(rule_terms(unit=ask.unit, rule_id=1, stage=stage))

        allowed = amount_allowed(ask=ask, rule=rule, usage=usage)

        step = smallest(ask.unit)
        if allowed is None:
            assert rule.max_per_grant is None
            assert rule.agent_daily_total is None or ask.actor == ACTOR_CUSTOMER
            assert rule.pod_monthly_total is None
            assert rule.customer_max_total is None or not rule.customer_period_days
            return
        assert allowed >= 0
        if allowed >= step:
            at_limit = decide(
                ask=with_amount(ask, allowed), candidates=[rule], usage=usage
            )
            assert at_limit.outcome == Outcome.GRANTED, at_limit.reasons
        over = decide(
            ask=with_amount(ask, max(allowed, Decimal(0)) + step),
            candidates=[rule],
            usage=usage,
        )
        assert over.outcome != Outcome.GRANTED
        if allowed == 0:
            least = decide(ask=with_amount(ask, step), candidates=[rule], usage=usage)
            assert least.outcome != Outcome.GRANTED

    def test_a_count_or_condition_in_the_way_allows_nothing(self):
        rule = RuleTerms(
            rule_id=1,
            version=1,
            name="cooled",
            stage=AGENT,
            max_per_grant=Decimal("50"),
            cooldown_days=30,
        )
        usage = Usage(
            customer_since=NOW - timedelta(days=400),
            customer_grants=((NOW - timedelta(days=29, hours=23), Decimal("5")),),
        )
        ask = Ask("Refund", MONEY, "GBP", Decimal("1"), ACTOR_AGENT, NOW)

        assert amount_allowed(ask=ask, rule=rule, usage=usage) == 0
        assert decide(ask=ask, candidates=[rule], usage=usage).outcome == (
            Outcome.REFUSED
        )


class TestWindowEdges:
    """The rolling windows are strict at their far end: a grant exactly N days
    ago has left an N-day window."""

    @pytest.mark.parametrize(
        ("age", "granted"),
        [
            (timedelta(days=30), True),
            (timedelta(days=30) - timedelta(microseconds=1), False),
        ],
    )
    def test_cooldown_ends_exactly_n_days_later(self, age, granted):
        rule = RuleTerms(rule_id=1, version=1, name="r", stage=AGENT, cooldown_days=30)
        usage = Usage(
            customer_since=NOW - timedelta(days=400),
            customer_grants=((NOW - age, Decimal("5")),),
        )
        ask = Ask("Refund", MONEY, "GBP", Decimal("5"), ACTOR_AGENT, NOW)

        decision = decide(ask=ask, candidates=[rule], usage=usage)

        assert (decision.outcome == Outcome.GRANTED) is granted

    @pytest.mark.parametrize(
        ("age", "granted"),
        [
            (timedelta(days=90), True),
            (timedelta(days=90) - timedelta(seconds=1), False),
        ],
    )
    def test_the_customer_count_forgets_a_grant_n_days_old(self, age, granted):
        rule = RuleTerms(
            rule_id=1,
            version=1,
            name="r",
            stage=AGENT,
            customer_period_days=90,
            customer_max_count=1,
        )
        usage = Usage(
            customer_since=NOW - timedelta(days=400),
            customer_grants=((NOW - age, Decimal("5")),),
        )
        ask = Ask("Refund", MONEY, "GBP", Decimal("5"), ACTOR_AGENT, NOW)

        decision = decide(ask=ask, candidates=[rule], usage=usage)

        assert (decision.outcome == Outcome.GRANTED) is granted


class TestPeriodsInThePodsTimeZone:
    """A grant at 23:59:59.999 local and one at 00:00 local count against
    different days, and across a month end against different months, in the
    pod's zone, whatever UTC says."""

    @pytest.mark.parametrize(
        "zone", ["Pacific/Auckland", "America/Los_Angeles", "Asia/Seoul"]
    )
    def test_local_midnight_separates_days_and_months(self, zone):
        from authority.selectors import periods_at

        local = ZoneInfo(zone)
        before = datetime(2026, 1, 31, 23, 59, 59, 999000, tzinfo=local)
        after = datetime(2026, 2, 1, 0, 0, tzinfo=local)

        early = periods_at(now=before.astimezone(UTC), time_zone=zone)
        late = periods_at(now=after.astimezone(UTC), time_zone=zone)

        assert (early.day, early.month) == (before.date(), before.date().replace(day=1))
        assert (late.day, late.month) == (after.date(), after.date())
        assert early.day != late.day
        assert early.month != late.month

    def test_the_same_instant_is_another_day_in_another_zone(self):
        from authority.selectors import periods_at

        instant = datetime(2026, 1, 31, 12, 30, tzinfo=UTC)  # 01:30 Feb 1 in Auckland

        assert periods_at(now=instant, time_zone="Pacific/Auckland").month == (
            datetime(2026, 2, 1).date()
        )
        assert periods_at(now=instant, time_zone="UTC").month == (
            datetime(2026, 1, 1).date()
        )
        assert periods_at(now=instant, time_zone="").day == instant.date()

    @given(
        instant=st.datetimes(
            min_value=datetime(2024, 1, 1),
            max_value=datetime(2030, 12, 31),
            timezones=st.just(UTC),
        ),
        zone=st.sampled_from(["Pacific/Auckland", "America/New_York", "Europe/London"]),
    )
    @settings(max_examples=200, deadline=None, database=None)
    def test_the_day_and_month_are_the_local_ones(self, instant, zone):
        local = instant.astimezone(ZoneInfo(zone))

        assert rules.day_start(local_now=local) == local.date()
        assert rules.month_start(local_now=local) == local.date().replace(day=1)
