"""Delegation insights and authority usage against the database, on small
datasets with fixed times, every figure checked against values computed by
hand: approval requests, approval rate, median wait, share of contacts, the
amounts asked; the recommendation that appears and, once applied as a new rule
version, disappears; who uses their authority and who is flagged; the demo's
history; the entitlement.* template variables."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

import authority.selectors
import authority.services
import tickets.selectors
import tickets.services
from authority.models import AuthorityRequest, AuthorityRule, Grant
from tests import factories
from tests.integration.test_reply_templates import ticket_in
from tickets.models import ContactReason

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SMALL = authority.selectors.InsightThresholds(
    min_requests=3, min_grants=3, min_opportunities=3
)


@pytest.fixture
def pod():
    return factories.staffed_pod(size=4, name="Mercury")


@pytest.fixture
def funnel():
    authority.services.demo_authority_seed(now=T)


@pytest.fixture
def agents(pod):
    """The pod's three agents (the lead left out), by id."""
    return list(pod.members.exclude(id=pod.lead_id).order_by("id"))


@pytest.fixture
def lead(pod):
    return pod.lead.user


@pytest.fixture
def moving():
    return ContactReason.objects.create(name="Moving home")


def customer_ticket(pod, number, *, at, reason=None, class_pass=True):
    ticket = ticket_in(pod, email=f"c{number}@customer.example", now=at)
    if reason is not None:
        ticket = tickets.services.ticket_fields_set(
            ticket=ticket, contact_reason_id=reason.id, now=at
        )
    if class_pass:
        authority.services.entitlement_create(
            customer_id=ticket.customer_id,
            product="Class pass",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 4, 1),
            now=at,
        )
    return ticket


def ask(agent, ticket, amount, *, action="extension", at, key=None):
    return authority.services.authority_ask(
        actor=authority.services.actor_for_user(user=agent.user),
        action_code=action,
        amount=amount,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        idempotency_key=key or f"{action}-{ticket.id}-{amount}-{at.timestamp()}",
        now=at,
    ).request


def decide(request, lead, *, after, approve=True):
    verdict = (
        authority.services.request_approve
        if approve
        else authority.services.request_deny
    )
    return verdict(
        request_id=request.id,
        user=lead,
        request_hash=request.request_hash,
        note="" if approve else "no",
        now=request.created_at + after,
    )


def period(days=30):
    return authority.selectors.insight_period(now=T, days=days)


def row_of(insights, code, reason_key):
    (found,) = [
        row
        for row in insights.rows
        if row.action_type.code == code and row.reason_key == reason_key
    ]
    return found


# --- Delegation figures -------------------------------------------------------------


@pytest.fixture
def approvals(funnel, pod, agents, lead, moving):
    """Four extension approvals in the period: on a "Moving home" ticket 15
    days (approved after 2 h) and 28 (denied after 8 h); on a ticket without a
    reason 20 (approved after 4 h) and 21 (approved after 6 h). Around them,
    what must not count: a refused ask (over every limit), one before the
    period, and a ticket created before the period. Eight contacts in the
    period."""
    day = T - timedelta(days=10)
    with_reason = customer_ticket(pod, 1, at=day, reason=moving)
    without = customer_ticket(pod, 2, at=day)
    for number in range(3, 9):
        customer_ticket(pod, number, at=day, class_pass=False)
    customer_ticket(pod, 9, at=T - timedelta(days=40))
    agent = agents[0]
    for ticket, amount, hours, approve in [
        (with_reason, 15, 2, True),
        (with_reason, 28, 8, False),
        (without, 20, 4, True),
        (without, 21, 6, True),
    ]:
        asked = ask(agent, ticket, amount, at=day + timedelta(minutes=amount))
        assert asked.state == AuthorityRequest.State.PENDING
        decide(asked, lead, after=timedelta(hours=hours), approve=approve)
    refused = ask(agent, without, 70, at=day)
    assert refused.state == AuthorityRequest.State.REFUSED
    before = ask(agent, without, 22, at=T - timedelta(days=31))
    decide(before, lead, after=timedelta(hours=1))
    return with_reason, without


class TestDelegationInsights:
    def test_figures_per_action_over_every_reason(self, approvals):
        insights = authority.selectors.delegation_insights(period=period())

        total = row_of(insights, "extension", authority.selectors.ALL_REASONS)
        assert insights.contacts == 8
        assert (total.requests, total.approved, total.denied, total.waiting) == (
            4,
            3,
            1,
            0,
        )
        assert total.approval_rate == Decimal("0.750")
        assert total.median_wait_hours == Decimal("5.0")  # of 2, 4, 6, 8 h
        assert total.contact_share == Decimal("0.500")  # 4 of 8 contacts
        assert total.asked_median == Decimal("20.50")  # of 15, 20, 21, 28
        assert total.asked_p90 == Decimal("25.90")  # 21 + 0.7 * (28 - 21)
        assert total.approved_p90 == Decimal("20.80")  # 20 + 0.8 * (21 - 20)
        assert total.approved_max == Decimal("21.00")

    def test_figures_per_contact_reason(self, approvals, moving):
        insights = authority.selectors.delegation_insights(period=period())

        by_reason = row_of(insights, "extension", moving.id)
        no_reason = row_of(insights, "extension", authority.selectors.NO_REASON)
        assert by_reason.reason_name == "Moving home"
        assert (by_reason.requests, by_reason.approved, by_reason.denied) == (2, 1, 1)
        assert by_reason.approval_rate == Decimal("0.500")
        assert by_reason.median_wait_hours == Decimal("5.0")  # of 2 and 8 h
        assert by_reason.asked_p90 == Decimal("26.70")  # 15 + 0.9 * 13
        assert by_reason.approved_max == Decimal("15.00")
        assert (no_reason.requests, no_reason.approved) == (2, 2)
        assert no_reason.median_wait_hours == Decimal("5.0")  # of 4 and 6 h
        assert no_reason.approved_p90 == Decimal("20.90")
        assert no_reason.contact_share == Decimal("0.250")

    def test_a_shorter_period_leaves_older_requests_out(self, approvals):
        week = authority.selectors.delegation_insights(period=period(days=7))
        quarter = authority.selectors.delegation_insights(period=period(days=90))

        assert week.rows == []
        total = row_of(quarter, "extension", authority.selectors.ALL_REASONS)
        assert total.requests == 5  # the one asked 31 days ago too

    def test_no_recommendation_below_the_approval_rate(self, approvals):
        insights = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        )

        assert insights.recommendations == []

    @pytest.mark.parametrize("count", [2, 12])
    def test_runs_the_same_queries_whatever_the_volume(
        self, funnel, pod, agents, lead, count, django_assert_num_queries
    ):
        for number in range(count):
            ticket = customer_ticket(pod, number, at=T - timedelta(days=3))
            asked = ask(agents[0], ticket, 20, at=T - timedelta(days=2))
            decide(asked, lead, after=timedelta(hours=3))
            ask(agents[1], ticket, 5, action="credit", at=T - timedelta(days=1))

        # action types, reason names, contacts, counts, agents' grants,
        # percentiles of every series (one query), the rules in force
        with django_assert_num_queries(7):
            insights = authority.selectors.delegation_insights(period=period())

        assert row_of(insights, "extension", -1).requests == count


@pytest.fixture
def delegable(funnel, pod, agents, lead):
    """Five extension approvals of 15, 16, 18, 20 and 21 days, all approved
    after 1 to 5 hours, and one extension of 10 days an agent granted alone
    (stage 2, under the rule a recommendation would change)."""
    for number, amount in enumerate([15, 16, 18, 20, 21]):
        ticket = customer_ticket(pod, number, at=T - timedelta(days=5))
        asked = ask(agents[number % 3], ticket, amount, at=T - timedelta(days=4))
        decide(asked, lead, after=timedelta(hours=number + 1))
    ticket = customer_ticket(pod, 99, at=T - timedelta(days=5))
    granted = ask(agents[0], ticket, 10, at=T - timedelta(days=4))
    return Grant.objects.get(request=granted)


def agents_rule():
    return AuthorityRule.objects.get(
        name="Extensions an agent decides", superseded_at__isnull=True
    )


class TestRecommendations:
    def test_frequent_and_approved_moves_to_stage_two_up_to_the_p90(self, delegable):
        insights = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        )

        (found,) = insights.recommendations
        assert found.kind == authority.selectors.DELEGATE_TO_AGENTS
        # p90 of 15..21 is 20.6 days: a round three weeks, no more than granted
        assert found.limit == Decimal("21")
        assert found.current_limit == Decimal("14")
        assert found.rule_id == agents_rule().id
        assert found.text == (
            "Move class extension up to 21 days to stage 2: 5 requests in 30 "
            "days, 100% approved, median wait 3 h"
        )

    def test_fewer_requests_than_the_threshold_recommend_nothing(self, delegable):
        insights = authority.selectors.delegation_insights(period=period())

        assert insights.recommendations == []  # 5 requests, default needs 20

    def test_apply_writes_one_new_version_and_past_grants_keep_theirs(
        self, delegable, agents, pod
    ):
        admin = factories.admin_user()
        before = agents_rule()
        (found,) = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        ).recommendations

        applied = authority.services.delegation_apply(
            key=found.key, user=admin, now=T, thresholds=SMALL
        )
        again = authority.services.delegation_apply(
            key=found.key, user=admin, now=T, thresholds=SMALL
        )

        rule = applied.rule
        before.refresh_from_db()
        assert (rule.lineage, rule.version) == (before.lineage, 2)
        assert rule.max_per_grant == Decimal("21")
        assert rule.customer_max_total == before.customer_max_total  # kept
        assert rule.created_by == admin
        assert "5 requests in 30 days, 100% approved" in rule.change_note
        assert before.superseded_at == T
        assert before.max_per_grant == Decimal("14")
        assert again.rule is None
        assert AuthorityRule.objects.filter(lineage=rule.lineage).count() == 2
        delegable.refresh_from_db()
        assert delegable.rule_id == before.id  # the basis of the past grant
        assert (
            authority.selectors.delegation_insights(
                period=period(), thresholds=SMALL
            ).recommendations
            == []
        )
        ticket = customer_ticket(pod, 100, at=T)
        now_granted = ask(agents[1], ticket, 20, at=T + timedelta(minutes=5))
        assert now_granted.state == AuthorityRequest.State.GRANTED
        assert now_granted.rule_id == rule.id

    def test_apply_is_refused_with_the_reason_when_the_terms_break_a_rule(
        self, funnel, pod, agents, lead
    ):
        # Approved up to 40 days, over the agents' 30 days per customer.
        for number, amount in enumerate([35, 36, 38, 40]):
            ticket = customer_ticket(pod, number, at=T - timedelta(days=5))
            asked = ask(agents[0], ticket, amount, at=T - timedelta(days=4))
            decide(asked, lead, after=timedelta(hours=2))
        (found,) = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        ).recommendations
        versions = AuthorityRule.objects.count()

        with pytest.raises(authority.services.DelegationRefused) as refused:
            authority.services.delegation_apply(
                key=found.key, user=factories.admin_user(), now=T, thresholds=SMALL
            )

        assert found.limit == Decimal("40")
        assert "more than the customer's total" in str(refused.value)
        assert AuthorityRule.objects.count() == versions
        assert agents_rule().version == 1

    def test_an_unknown_or_stale_key_applies_nothing(self, delegable):
        versions = AuthorityRule.objects.count()

        for key in ["1to2:extension:all:99", "nonsense", "1to2:teleport:all:1"]:
            applied = authority.services.delegation_apply(
                key=key, user=factories.admin_user(), now=T, thresholds=SMALL
            )
            assert applied.rule is None

        assert AuthorityRule.objects.count() == versions

    def test_a_reason_alone_gets_a_rule_scoped_to_it(
        self, funnel, pod, agents, lead, moving
    ):
        # Moving-home extensions are all approved; the others are mostly not.
        for number, amount in enumerate([15, 16, 17]):
            ticket = customer_ticket(
                pod, number, at=T - timedelta(days=5), reason=moving
            )
            decide(
                ask(agents[0], ticket, amount, at=T - timedelta(days=4)),
                lead,
                after=timedelta(hours=1),
            )
        for number, amount in enumerate([20, 22, 24], start=10):
            ticket = customer_ticket(pod, number, at=T - timedelta(days=5))
            asked = ask(agents[0], ticket, amount, at=T - timedelta(days=4))
            decide(asked, lead, after=timedelta(hours=1), approve=False)
        (found,) = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        ).recommendations

        applied = authority.services.delegation_apply(
            key=found.key, user=factories.admin_user(), now=T, thresholds=SMALL
        )

        assert found.reason_id == moving.id
        assert "for “Moving home”" in found.text
        assert applied.rule.contact_reason_id == moving.id
        assert applied.rule.stage == AuthorityRule.Stage.AGENT
        assert applied.rule.max_per_grant == Decimal("17")
        assert applied.rule.version == 1
        assert agents_rule().version == 1  # the general rule is left alone

    def test_small_unreversed_agent_grants_move_to_self_service(
        self, funnel, pod, agents
    ):
        for number, amount in enumerate([5, 10, 10, 12]):
            ticket = customer_ticket(pod, number, at=T - timedelta(days=5))
            ask(
                agents[number % 3],
                ticket,
                amount,
                action="credit",
                at=T - timedelta(days=4),
            )

        insights = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        )
        (found,) = insights.recommendations
        applied = authority.services.delegation_apply(
            key=found.key, user=factories.admin_user(), now=T, thresholds=SMALL
        )

        (credits,) = insights.agent_grants
        assert (credits.grants, credits.reversed) == (4, 0)
        assert credits.amount_median == Decimal("10.00")
        assert credits.amount_p90 == Decimal("11.40")  # 10 + 0.7 * (12 - 10)
        assert found.kind == authority.selectors.DELEGATE_TO_CUSTOMERS
        assert found.limit == Decimal("12.00")  # £15 rounded, but £12 at most
        assert found.text.startswith("Let customers take account credit up to £12")
        rule = applied.rule
        assert (rule.stage, rule.max_per_grant, rule.agent_role) == (
            AuthorityRule.Stage.SELF_SERVICE,
            Decimal("12.00"),
            "",
        )
        # nobody looks at a self-service grant: once per customer per quarter
        assert (rule.customer_period_days, rule.customer_max_count) == (90, 1)

    def test_a_reversal_keeps_agent_grants_with_the_agents(
        self, funnel, pod, agents, lead
    ):
        for number, amount in enumerate([5, 10, 10, 12]):
            ticket = customer_ticket(pod, number, at=T - timedelta(days=5))
            made = ask(
                agents[0], ticket, amount, action="credit", at=T - timedelta(days=4)
            )
        authority.services.grant_reverse(
            grant_id=made.grant.id,
            user=lead,
            reason="duplicate",
            now=T - timedelta(days=3),
        )

        insights = authority.selectors.delegation_insights(
            period=period(), thresholds=SMALL
        )

        (credits,) = insights.agent_grants
        assert credits.reversal_rate == Decimal("0.250")
        assert insights.recommendations == []


class TestLimitProposed:
    @pytest.mark.parametrize(
        ("value", "maximum", "unit", "expected"),
        [
            ("20.6", "21", "DAYS", "21"),
            ("25.4", "28", "DAYS", "28"),
            ("5.5", "6", "DAYS", "6"),
            ("20.6", "20", "DAYS", "20"),
            ("43.2", "60", "MONEY", "45.00"),
            ("230", "400", "MONEY", "230.00"),
            ("1234", "2000", "MONEY", "1250.00"),
        ],
    )
    def test_rounds_up_to_a_round_figure_never_above_the_largest(
        self, value, maximum, unit, expected
    ):
        assert authority.selectors.limit_proposed(
            value=Decimal(value), maximum=Decimal(maximum), unit=unit
        ) == Decimal(expected)


# --- Authority usage ----------------------------------------------------------------


def solved(pod, number, agent, *, at, grant=None, reason=None, class_pass=True):
    """A ticket of the pod solved by `agent` at `at`; with grant (action,
    amount), the agent granted it on the ticket first."""
    ticket = customer_ticket(pod, number, at=at, reason=reason, class_pass=class_pass)
    ticket = tickets.services.ticket_assign(ticket=ticket, agent_id=agent.id, now=at)
    if grant:
        action, amount = grant
        made = ask(agent, ticket, amount, action=action, at=at + timedelta(minutes=5))
        assert made.state == AuthorityRequest.State.GRANTED
    return tickets.services.ticket_solve(ticket=ticket, now=at + timedelta(minutes=30))


@pytest.fixture
def floor(funnel, pod, agents):
    """Agent 0 solved 4 tickets, one with a £30 refund; agent 1 solved 4, two
    with an extension of 5 days; agent 2 solved 4 with none. Outside the
    period: agent 2 solved one more, with a refund."""
    day = T - timedelta(days=6)
    plan = [
        (agents[0], [("refund", 30), None, None, None]),
        (agents[1], [("extension", 5), ("extension", 5), None, None]),
        (agents[2], [None, None, None, None]),
    ]
    number = 0
    for agent, grants in plan:
        for grant in grants:
            number += 1
            solved(pod, number, agent, at=day + timedelta(hours=number), grant=grant)
    solved(pod, 99, agents[2], at=T - timedelta(days=40), grant=("refund", 20))


class TestAuthorityUsage:
    def test_opportunities_grants_and_rates_per_agent(self, floor, pod, agents):
        (usage,) = authority.selectors.authority_usage(
            period=period(), pod_ids=[pod.id], thresholds=SMALL
        )

        by_agent = {agent.agent_id: agent for agent in usage.agents}
        first, second, third = (by_agent[agent.id] for agent in agents)
        assert (first.opportunities, first.with_grant, first.rate) == (
            4,
            1,
            Decimal("0.250"),
        )
        assert first.grants == 1
        assert first.money == (("GBP", Decimal("30.00")),)
        assert first.amounts_words == "£30"
        assert (second.with_grant, second.rate, second.days) == (
            2,
            Decimal("0.500"),
            10,
        )
        assert second.amounts_words == "10 days"
        assert (third.opportunities, third.with_grant, third.grants) == (4, 0, 0)
        assert by_agent[pod.lead_id].opportunities == 0
        assert (usage.opportunities, usage.with_grant) == (12, 3)
        assert usage.rate == Decimal("0.250")

    def test_an_agent_under_half_the_pods_median_is_flagged(self, floor, pod, agents):
        (usage,) = authority.selectors.authority_usage(
            period=period(), pod_ids=[pod.id], thresholds=SMALL
        )

        # rates 0.25, 0.5 and 0: median 0.25, half of it 0.125
        assert usage.median_rate == Decimal("0.250")
        assert [agent.agent_id for agent in usage.under_users] == [agents[2].id]
        assert usage.agents[0].agent_id == agents[2].id  # flagged ones first

    def test_too_few_opportunities_are_never_flagged(self, floor, pod):
        (usage,) = authority.selectors.authority_usage(
            period=period(), pod_ids=[pod.id]
        )  # the default needs 10 opportunities

        assert usage.median_rate == Decimal("0.250")
        assert usage.under_users == []

    def test_only_the_pods_asked_for(self, floor, pod):
        other = factories.staffed_pod(size=2, name="Venus")

        shown = authority.selectors.authority_usage(period=period(), pod_ids=[other.id])

        assert [found.name for found in shown] == ["Venus"]
        assert all(agent.opportunities == 0 for agent in shown[0].agents)

    def test_an_opportunity_is_a_ticket_some_rule_in_force_covers(
        self, pod, agents, moving
    ):
        admin = factories.admin_user()
        authority.services.demo_authority_seed(now=T)
        AuthorityRule.objects.update(is_active=False)
        extension = authority.selectors.action_type_by_code(code="extension")
        refund = authority.selectors.action_type_by_code(code="refund")
        for terms in [
            {"action_type": extension, "stage": 2, "max_per_grant": Decimal("7")},
            {
                "action_type": refund,
                "stage": 2,
                "contact_reason": moving,
                "max_per_grant": Decimal("20"),
            },
        ]:
            authority.services.rule_create(
                terms={"name": "t", "valid_from": T - timedelta(days=1), **terms},
                user=admin,
                note="",
                now=T,
            )
        at = T - timedelta(hours=12)
        solved(pod, 1, agents[0], at=at, class_pass=True)  # may extend
        solved(pod, 2, agents[0], at=at, class_pass=False, reason=moving)  # refund
        solved(pod, 3, agents[0], at=at, class_pass=False)  # nothing allowed

        (usage,) = authority.selectors.authority_usage(
            period=period(), pod_ids=[pod.id]
        )

        by_agent = {agent.agent_id: agent for agent in usage.agents}
        assert by_agent[agents[0].id].opportunities == 2

    def test_runs_five_queries_whatever_the_size(
        self, floor, pod, django_assert_num_queries
    ):
        factories.staffed_pod(size=3, name="Venus")

        # pods, agents, rules in force, solved tickets, grants made
        with django_assert_num_queries(5):
            shown = authority.selectors.authority_usage(period=period(), pod_ids=None)

        assert len(shown) == 2


# --- Demo history -------------------------------------------------------------------


class TestDemoHistory:
    def test_seeds_once_and_the_insights_recommend_delegating_extensions(self, funnel):
        pod = factories.staffed_pod(size=8, name="Mercury")
        others = [
            customer_ticket(pod, number, at=T - timedelta(days=2)).customer_id
            for number in range(45)
        ]

        first = authority.services.demo_authority_history_seed(
            now=T, pod_id=pod.id, customer_ids=others
        )
        counts = (AuthorityRequest.objects.count(), Grant.objects.count())
        again = authority.services.demo_authority_history_seed(
            now=T, pod_id=pod.id, customer_ids=others
        )

        assert first["tickets"] == 62
        assert first["requests"] > 60
        assert again == {"tickets": 0, "requests": 0, "grants": 0}
        assert (AuthorityRequest.objects.count(), Grant.objects.count()) == counts
        assert AuthorityRequest.objects.filter(state="DENIED").count() >= 2
        assert Grant.objects.filter(kind=Grant.Kind.REVERSAL).count() == 1
        insights = authority.selectors.delegation_insights(period=period())
        (found,) = insights.recommendations
        assert found.action_type.code == "extension"
        assert found.rule_id == agents_rule().id
        assert found.limit > Decimal("14")
        (usage,) = authority.selectors.authority_usage(
            period=period(), pod_ids=[pod.id]
        )
        assert len(usage.under_users) == 1
        assert Decimal("0.1") < usage.rate < Decimal("0.35")


# --- Template variables -------------------------------------------------------------


class TestEntitlementTemplateVariables:
    def test_the_latest_ending_entitlement_fills_the_variables(self, pod):
        ticket = customer_ticket(pod, 1, at=T)
        authority.services.entitlement_create(
            customer_id=ticket.customer_id,
            product="Yoga pass",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 2, 1),
            now=T,
        )

        variables = authority.selectors.entitlement_template_variables(
            customer_id=ticket.customer_id, today=date(2026, 3, 20)
        )

        assert variables == {
            "entitlement.product": "Class pass",
            "entitlement.ends_on": "April 1, 2026",
            "entitlement.days_left": "12",
        }

    def test_the_registered_provider_fills_a_template_for_the_ticket(self, pod):
        ticket = customer_ticket(pod, 1, at=T)

        variables = tickets.selectors.template_variables_for_ticket(ticket=ticket)

        assert variables["entitlement.product"] == "Class pass"
        assert variables["entitlement.ends_on"] == "April 1, 2026"
        assert int(variables["entitlement.days_left"]) >= 0

    def test_without_an_entitlement_the_variables_are_missing(self, pod):
        ticket = customer_ticket(pod, 1, at=T, class_pass=False)

        variables = tickets.selectors.template_variables_for_ticket(ticket=ticket)

        assert "entitlement.days_left" not in variables
