"""A merged customer's authority history is the survivor's: grants made to the
duplicate count against the survivor's per-customer limits and show on their
ticket's panel, and the duplicate's entitlements become the survivor's, so a
second identity cannot be used to get a limit twice."""

from datetime import date, timedelta

import pytest
from celery import current_app

import authority.selectors
import authority.services
import pods.admin
import pods.selectors
from authority.models import AuthorityRequest, Entitlement, Grant
from pods.models import Customer
from tests import factories
from tests.integration.test_reply_templates import ticket_in
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def funnel(now):
    authority.services.demo_authority_seed(now=now)


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod, username="ana")


@pytest.fixture
def survivor_ticket(pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now - timedelta(days=200))


@pytest.fixture
def duplicate_ticket(pod, now):
    return ticket_in(pod, email="minji.kim@work.example", now=now - timedelta(days=50))


def refund(agent, ticket, amount, *, key, now):
    return authority.services.authority_ask(
        actor=authority.services.actor_for_user(user=agent.user),
        action_code="refund",
        amount=amount,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        idempotency_key=key,
        now=now,
    )


def merge(duplicate_ticket, survivor_ticket, now):
    authority.services.customer_merge(
        source_id=duplicate_ticket.customer_id,
        target_id=survivor_ticket.customer_id,
        now=now,
    )


class TestLimitsFollowTheMerge:
    def test_the_duplicates_grants_count_against_the_survivors_limit(
        self, funnel, agent, survivor_ticket, duplicate_ticket, now
    ):
        # The rule allows 2 refunds per customer in 90 days: both used by the
        # duplicate before anyone saw it was the same person.
        for key in ("a", "b"):
            asked = refund(agent, duplicate_ticket, "40", key=key, now=now)
            assert asked.request.state == AuthorityRequest.State.GRANTED

        merge(duplicate_ticket, survivor_ticket, now)
        survivor_ticket.refresh_from_db()
        third = refund(agent, survivor_ticket, "10", key="c", now=now)

        assert third.request.state != AuthorityRequest.State.GRANTED
        assert Grant.objects.count() == 2
        assert "2 of 2 allowed (refund) for this customer in 90 days" in (
            authority.services.reasons_sentence(third.request)
        )

    def test_the_agents_panel_offers_no_more_than_the_engine_allows(
        self, funnel, agent, survivor_ticket, duplicate_ticket, now
    ):
        for key in ("a", "b"):
            refund(agent, duplicate_ticket, "40", key=key, now=now)
        merge(duplicate_ticket, survivor_ticket, now)

        options = authority.selectors.authority_options(
            customer=pods.selectors.customer_facts(
                customer_id=survivor_ticket.customer_id
            ),
            agent_id=agent.id,
            agent_role=agent.role,
            contact_reason_id=None,
            entitlements=[],
            now=now,
        )

        (refunds,) = [o for o in options if o.action_type.code == "refund"]
        assert not refunds.can_grant

    def test_without_a_merge_each_customer_has_their_own_limit(
        self, funnel, agent, survivor_ticket, duplicate_ticket, now
    ):
        for key in ("a", "b"):
            refund(agent, duplicate_ticket, "40", key=key, now=now)

        third = refund(agent, survivor_ticket, "10", key="c", now=now)

        assert third.request.state == AuthorityRequest.State.GRANTED

    def test_a_chain_of_merges_keeps_every_absorbed_customer(
        self, pod, survivor_ticket, duplicate_ticket, now
    ):
        third_ticket = ticket_in(pod, email="mk@other.example", now=now)
        merge(third_ticket, duplicate_ticket, now)
        merge(duplicate_ticket, survivor_ticket, now)

        facts = pods.selectors.customer_facts(customer_id=survivor_ticket.customer_id)
        assert set(facts.family_ids) == {
            survivor_ticket.customer_id,
            duplicate_ticket.customer_id,
            third_ticket.customer_id,
        }
        # Asking by any old id answers for the survivor.
        assert (
            pods.selectors.customer_facts(
                customer_id=third_ticket.customer_id
            ).customer_id
            == survivor_ticket.customer_id
        )


class TestHistoryFollowsTheMerge:
    def test_the_survivor_lists_the_duplicates_grants(
        self, funnel, agent, survivor_ticket, duplicate_ticket, now
    ):
        granted = refund(agent, duplicate_ticket, "20", key="a", now=now)
        merge(duplicate_ticket, survivor_ticket, now)

        facts = pods.selectors.customer_facts(customer_id=survivor_ticket.customer_id)
        listed = authority.selectors.grants_of_customer_listed(
            customer_ids=facts.family_ids
        )
        assert [grant.request_id for grant in listed] == [granted.request.id]

    def test_the_duplicates_entitlement_becomes_the_survivors(
        self, survivor_ticket, duplicate_ticket, now
    ):
        held = authority.services.entitlement_create(
            customer_id=duplicate_ticket.customer_id,
            product="Yoga classes",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
            now=now,
        )
        merge(duplicate_ticket, survivor_ticket, now)

        held.refresh_from_db()
        assert held.customer_id == survivor_ticket.customer_id
        assert list(
            authority.selectors.entitlements_of_customer(
                customer_id=survivor_ticket.customer_id
            )
        ) == [held]
        # Tickets and identities moved too, in the same merge.
        assert Ticket.objects.get(id=duplicate_ticket.id).customer_id == (
            survivor_ticket.customer_id
        )
        assert Customer.objects.get(id=duplicate_ticket.customer_id).merged_into_id == (
            survivor_ticket.customer_id
        )

    def test_a_refused_merge_moves_nothing(self, survivor_ticket, now):
        held = Entitlement.objects.create(
            customer_id=survivor_ticket.customer_id,
            product="Yoga classes",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
            created_at=now,
            updated_at=now,
        )
        with pytest.raises(pods.services.MergeRefused):
            merge(survivor_ticket, survivor_ticket, now)

        held.refresh_from_db()
        assert held.customer_id == survivor_ticket.customer_id


def test_the_admins_merge_action_queues_the_merge_of_every_app():
    task = current_app.tasks[pods.admin.MERGE_CUSTOMERS_TASK]

    assert task.name == "authority.merge_customers"
