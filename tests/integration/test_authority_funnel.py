"""The authority funnel's services against the database: an agent grants
within their rule, goes to approval over it, a lead approves once; the same
ask twice runs once; a rule change leaves past grants' basis alone; a
reversal undoes usage, ledger and entitlement; the audit chain verifies and
finds a changed row."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

import authority.selectors
import authority.services
from authority.models import (
    AuditEvent,
    AuthorityRequest,
    Grant,
    LedgerEntry,
    UsageCounter,
)
from tests import factories
from tests.integration.test_reply_templates import ticket_in
from tickets.models import Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def funnel(now):
    authority.services.demo_authority_seed(now=now)


@pytest.fixture
def ticket(pod, now):
    ticket = ticket_in(
        pod, email="minji@customer.example", now=now - timedelta(days=100)
    )
    return ticket


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod, username="ana")


@pytest.fixture
def lead(pod):
    return pod.lead.user


def ask(agent_user, ticket, amount, *, key="k1", action="refund", now):
    return authority.services.authority_ask(
        actor=authority.services.actor_for_user(user=agent_user),
        action_code=action,
        amount=amount,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        idempotency_key=key,
        now=now,
    )


class TestAgentGrants:
    def test_within_the_limit_is_granted_with_its_effects(
        self, funnel, agent, ticket, now
    ):
        asked = ask(agent.user, ticket, "30", now=now)

        request = asked.request
        assert request.state == AuthorityRequest.State.GRANTED
        assert request.stage == 2
        grant = Grant.objects.get(request=request)
        assert grant.amount == Decimal("30")
        assert grant.rule.name == "Refunds an agent decides"
        assert LedgerEntry.objects.get(grant=grant).amount == Decimal("30")
        pod_month = UsageCounter.objects.get(scope="POD_MONTH", scope_id=ticket.pod_id)
        assert pod_month.amount == Decimal("30")
        assert pod_month.count == 1
        words = authority.services.reasons_sentence(request)
        assert "£30 is within the £50 limit per grant" in words
        notes = Message.objects.filter(ticket=ticket, direction="NOTE")
        assert any("Granted £30 refund" in note.text for note in notes)
        told = Message.objects.filter(
            ticket=ticket, direction="OUTBOUND", is_automatic=True
        )
        assert any("refunded £30" in message.text for message in told)

    def test_over_the_limit_goes_to_approval_and_nothing_is_granted(
        self, funnel, agent, ticket, now
    ):
        asked = ask(agent.user, ticket, "80", now=now)

        assert asked.request.state == AuthorityRequest.State.PENDING
        assert asked.request.stage == 1
        assert asked.request.due_at == now + timedelta(hours=8)
        assert not Grant.objects.exists()
        assert not LedgerEntry.objects.exists()
        assert "over the £50 limit" in authority.services.reasons_sentence(
            asked.request
        )

    def test_over_every_limit_is_refused(self, funnel, agent, ticket, now):
        asked = ask(agent.user, ticket, "800", now=now)

        assert asked.request.state == AuthorityRequest.State.REFUSED
        assert not Grant.objects.exists()

    def test_the_same_ask_twice_runs_once_and_a_changed_one_is_refused(
        self, funnel, agent, ticket, now
    ):
        first = ask(agent.user, ticket, "30", now=now)
        again = ask(agent.user, ticket, "30", now=now)

        assert again.replayed
        assert again.request.id == first.request.id
        assert Grant.objects.count() == 1
        assert LedgerEntry.objects.count() == 1
        with pytest.raises(authority.services.IdempotencyConflict):
            ask(agent.user, ticket, "31", now=now)
        assert Grant.objects.count() == 1

    def test_per_customer_count_sends_the_third_refund_to_approval(
        self, funnel, agent, ticket, now
    ):
        ask(agent.user, ticket, "10", key="a", now=now)
        ask(agent.user, ticket, "10", key="b", now=now)
        third = ask(agent.user, ticket, "10", key="c", now=now)

        assert third.request.state == AuthorityRequest.State.PENDING
        assert "2 of 2 allowed" in authority.services.reasons_sentence(third.request)

    def test_a_customer_cannot_use_an_agent_rule(self, funnel, ticket, now):
        asked = authority.services.authority_ask(
            actor=authority.services.actor_for_customer(customer_id=ticket.customer_id),
            action_code="refund",
            amount="5",
            customer_id=ticket.customer_id,
            ticket_id=None,
            idempotency_key="self",
            now=now,
        )

        assert asked.request.state == AuthorityRequest.State.REFUSED
        assert not Grant.objects.exists()

    def test_an_unknown_action_or_another_customers_ticket_is_refused(
        self, funnel, agent, ticket, pod, now
    ):
        other = ticket_in(pod, email="other@customer.example", now=now)
        with pytest.raises(authority.services.AuthorityRefused):
            ask(agent.user, ticket, "5", action="teleport", now=now)
        with pytest.raises(authority.services.AuthorityRefused):
            authority.services.authority_ask(
                actor=authority.services.actor_for_user(user=agent.user),
                action_code="refund",
                amount="5",
                customer_id=ticket.customer_id,
                ticket_id=other.id,
                idempotency_key="x",
                now=now,
            )
        assert not AuthorityRequest.objects.exists()


class TestApprovals:
    def test_the_lead_approves_once_and_the_grant_follows(
        self, funnel, agent, lead, ticket, now
    ):
        pending = ask(agent.user, ticket, "80", now=now).request

        authority.services.request_approve(
            request_id=pending.id,
            user=lead,
            request_hash=pending.request_hash,
            note="fair",
            now=now,
        )

        grant = Grant.objects.get(request=pending)
        assert grant.stage == 1
        assert grant.approved_by_id == lead.id
        with pytest.raises(authority.services.ApprovalRefused):
            authority.services.request_approve(
                request_id=pending.id,
                user=lead,
                request_hash=pending.request_hash,
                note="",
                now=now,
            )
        assert Grant.objects.count() == 1

    def test_nobody_approves_their_own_request(self, funnel, pod, ticket, lead, now):
        pending = ask(lead, ticket, "80", now=now).request

        with pytest.raises(authority.services.ApprovalRefused):
            authority.services.request_approve(
                request_id=pending.id,
                user=lead,
                request_hash=pending.request_hash,
                note="",
                now=now,
            )
        assert not Grant.objects.exists()

    def test_an_approval_of_a_changed_request_is_refused(
        self, funnel, agent, lead, ticket, now
    ):
        pending = ask(agent.user, ticket, "80", now=now).request

        with pytest.raises(authority.services.ApprovalRefused):
            authority.services.request_approve(
                request_id=pending.id,
                user=lead,
                request_hash="0" * 64,
                note="",
                now=now,
            )
        assert not Grant.objects.exists()

    def test_a_denial_needs_a_note(self, funnel, agent, lead, ticket, now):
        pending = ask(agent.user, ticket, "80", now=now).request
        with pytest.raises(authority.services.ApprovalRefused):
            authority.services.request_deny(
                request_id=pending.id,
                user=lead,
                request_hash=pending.request_hash,
                note=" ",
                now=now,
            )
        authority.services.request_deny(
            request_id=pending.id,
            user=lead,
            request_hash=pending.request_hash,
            note="refunded last week already",
            now=now,
        )
        pending.refresh_from_db()
        assert pending.state == AuthorityRequest.State.DENIED


class TestRulesAndReversals:
    def test_a_rule_change_keeps_the_basis_of_past_grants(
        self, funnel, agent, ticket, now
    ):
        grant = Grant.objects.get(
            request=ask(agent.user, ticket, "30", now=now).request
        )
        old = grant.rule
        terms = {
            name: getattr(old, name)
            for name in ("name", "action_type", "stage", "valid_from")
        }

        new = authority.services.rule_revise(
            rule_id=old.id,
            terms={**terms, "max_per_grant": Decimal("20")},
            user=None,
            note="tighter",
            now=now,
        )

        grant.refresh_from_db()
        assert grant.rule_id == old.id
        assert grant.rule.max_per_grant == Decimal("50")
        assert new.version == old.version + 1
        assert new.lineage == old.lineage
        second = ask(agent.user, ticket, "30", key="k2", now=now)
        assert second.request.state == AuthorityRequest.State.PENDING

    def test_an_overlapping_rule_is_refused_with_the_reason(self, funnel, now):
        old = authority.selectors.rules_current(now=now).get(
            name="Refunds an agent decides"
        )
        with pytest.raises(authority.services.RuleInvalid) as refused:
            authority.services.rule_create(
                terms={
                    "name": "Twin",
                    "action_type": old.action_type,
                    "stage": 2,
                    "valid_from": now,
                },
                user=None,
                note="",
                now=now,
            )
        assert "already covers" in str(refused.value)

    def test_a_reversal_undoes_usage_ledger_and_is_once(
        self, funnel, agent, lead, ticket, now
    ):
        grant = Grant.objects.get(
            request=ask(agent.user, ticket, "30", now=now).request
        )

        authority.services.grant_reverse(
            grant_id=grant.id, user=lead, reason="duplicate", now=now
        )

        assert sum(e.amount for e in LedgerEntry.objects.all()) == 0
        pod_month = UsageCounter.objects.get(scope="POD_MONTH", scope_id=ticket.pod_id)
        assert pod_month.amount == 0
        assert pod_month.count == 0
        with pytest.raises(authority.services.ReversalRefused):
            authority.services.grant_reverse(
                grant_id=grant.id, user=lead, reason="again", now=now
            )

    def test_an_extension_moves_the_entitlement_end(self, agent, ticket, now):
        authority.services.demo_authority_seed(
            now=now, customer_ids=[ticket.customer_id]
        )
        before = authority.selectors.entitlements_of_customer(
            customer_id=ticket.customer_id
        )[0]

        asked = ask(agent.user, ticket, "7", action="extension", now=now)

        assert asked.request.state == AuthorityRequest.State.GRANTED
        after = authority.selectors.entitlements_of_customer(
            customer_id=ticket.customer_id
        )[0]
        assert after.ends_on == before.ends_on + timedelta(days=7)


class TestAudit:
    def test_the_chain_verifies_and_finds_a_changed_row(
        self, funnel, agent, ticket, now
    ):
        ask(agent.user, ticket, "30", now=now)
        ask(agent.user, ticket, "80", key="k2", now=now)
        chain = authority.services.pod_chain(ticket.pod_id)
        assert authority.selectors.audit_chain_verify(chain=chain).broken_at is None

        event = AuditEvent.objects.filter(chain=chain).order_by("seq").first()
        if connection.vendor == "postgresql":
            with (
                pytest.raises(Exception, match="append-only"),
                connection.cursor() as cursor,
            ):
                cursor.execute(
                    "UPDATE authority_auditevent SET actor_label='x' WHERE id=%s",
                    [event.id],
                )
            return
        AuditEvent.objects.filter(id=event.id).update(actor_label="mallory")
        check = authority.selectors.audit_chain_verify(chain=chain)
        assert check.broken_at == event.seq
        assert check.problem == "content changed"


class TestRuleAmountsAsStored:
    def test_an_amount_typed_differently_is_not_a_change(self, funnel, now):
        rule = authority.selectors.rules_current(now=now).get(name="Goodwill credit")
        terms = {
            name: getattr(rule, name)
            for name in ("name", "action_type", "stage", "valid_from")
        }

        revised = authority.services.rule_revise(
            rule_id=rule.id,
            terms={
                **terms,
                "max_per_grant": 30,
                "agent_daily_total": "200",
                "pod_monthly_total": Decimal("3000"),
            },
            user=None,
            note="same money, typed otherwise",
            now=now,
        )

        event = AuditEvent.objects.filter(kind="RULE_CHANGED").latest("id")
        assert revised.max_per_grant == Decimal("30.00")
        assert "max_per_grant" not in event.details["changed"]
        assert "agent_daily_total" not in event.details["changed"]

    def test_whole_days_given_as_a_plain_number_are_checked(self, funnel, now):
        rule = authority.selectors.rules_current(now=now).get(
            name="Extensions an agent decides"
        )

        problems = authority.services.rule_problems(
            terms={
                "name": "Longer",
                "action_type": rule.action_type,
                "stage": 2,
                "max_per_grant": 21,
                "valid_from": now,
            },
            lineage=rule.lineage,
        )

        assert problems == []
