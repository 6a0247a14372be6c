"""Pod counters and agent load, merging customers, recording proficiency."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

import pods.services
import tickets.selectors
import tickets.services
from pods.models import (
    Agent,
    AgentKpiSnapshot,
    Customer,
    CustomerAssignment,
    CustomerIdentity,
    Pod,
    PossibleDuplicate,
)
from tests import factories
from tests.conftest import require_postgres
from tickets.models import Ticket


def open_ticket(address, *, now, phone=None):
    identities = [("EMAIL", address)] + ([("PHONE", phone)] if phone else [])
    return tickets.services.ticket_open(
        identities=identities, channel=Ticket.Channel.EMAIL, subject="Help", now=now
    ).ticket


@pytest.mark.django_db
class TestPodCustomerCountsReconcile:
    def test_corrects_a_drifted_counter_and_reports_it(self, now):
        drifted, right = factories.staffed_pod(size=2), factories.staffed_pod(size=2)
        for number in range(6):
            pods.services.customer_identify(
                identities=[("EMAIL", f"c{number}@example.com")], now=now
            )
        actual = Customer.objects.filter(pod=drifted).count()
        Pod.objects.filter(id=drifted.id).update(customer_count=actual + 40)

        corrections = pods.services.pod_customer_counts_reconcile(now=now)

        assert corrections == {drifted.id: (actual + 40, actual)}
        counts = dict(Pod.objects.values_list("id", "customer_count"))
        assert counts[drifted.id] == actual
        assert counts[right.id] == Customer.objects.filter(pod=right).count()

    def test_reports_nothing_when_every_counter_is_right(self, now):
        factories.staffed_pod(size=2)
        pods.services.customer_identify(identities=[("EMAIL", "a@x.com")], now=now)

        assert pods.services.pod_customer_counts_reconcile(now=now) == {}

    def test_does_not_count_merged_customers(self, now):
        factories.staffed_pod(size=2)
        ann = pods.services.customer_identify(
            identities=[("EMAIL", "a@x.com")], now=now
        )
        bob = pods.services.customer_identify(
            identities=[("EMAIL", "b@x.com")], now=now
        )
        tickets.services.customer_merge(
            source_id=bob.customer_id, target_id=ann.customer_id, now=now
        )

        assert pods.services.pod_customer_counts_reconcile(now=now) == {}
        assert Pod.objects.get(id=ann.pod_id).customer_count == 1


@pytest.mark.django_db
class TestAgentLoadTake:
    def test_counts_a_ticket_for_an_online_agent_under_capacity(self, now):
        agent = factories.agent(pod=factories.pod(), capacity=2)

        taken = pods.services.agent_load_take(agent_id=agent.id, now=now)

        agent.refresh_from_db()
        assert taken
        assert agent.open_ticket_count == 1
        assert agent.last_assigned_at == now

    @pytest.mark.parametrize(
        ("presence", "open_tickets"),
        [(Agent.Presence.ONLINE, 2), (Agent.Presence.AWAY, 0)],
    )
    def test_refuses_an_agent_at_capacity_or_not_online(
        self, now, presence, open_tickets
    ):
        agent = factories.agent(pod=factories.pod(), capacity=2, presence=presence)
        Agent.objects.filter(id=agent.id).update(open_ticket_count=open_tickets)

        taken = pods.services.agent_load_take(agent_id=agent.id, now=now)

        agent.refresh_from_db()
        assert not taken
        assert agent.open_ticket_count == open_tickets
        assert agent.last_assigned_at is None

    def test_release_never_goes_below_zero(self, now):
        agent = factories.agent(pod=factories.pod())
        pods.services.agent_load_take(agent_id=agent.id, now=now)

        pods.services.agent_load_release(agent_id=agent.id, count=3)

        agent.refresh_from_db()
        assert agent.open_ticket_count == 0


@pytest.mark.django_db(transaction=True)
class TestAgentLoadTakeRacing:
    def test_twenty_contacts_racing_for_three_slots_get_exactly_three(
        self, now, run_concurrently
    ):
        require_postgres()
        agent = factories.agent(pod=factories.pod(), capacity=3)

        results = run_concurrently(
            lambda index: pods.services.agent_load_take(agent_id=agent.id, now=now),
            count=20,
        )

        agent.refresh_from_db()
        assert results.count(True) == 3
        assert results.count(False) == 17
        assert agent.open_ticket_count == 3


@pytest.mark.django_db
class TestCustomerMerge:
    def test_moves_identities_history_and_tickets_onto_the_target(self, now):
        home, other = factories.staffed_pod(size=3), factories.staffed_pod(size=3)
        ann_ticket = open_ticket("ann@example.com", now=now)
        bob_ticket = open_ticket("bob@example.com", now=now, phone="07700900123")
        ann = Customer.objects.get(id=ann_ticket.customer_id)
        bob = Customer.objects.get(id=bob_ticket.customer_id)
        assert {ann.pod_id, bob.pod_id} == {home.id, other.id}
        open_ticket("bob@example.com", now=now)  # a second ticket, still open
        tickets.services.ticket_solve(ticket=bob_ticket, now=now)
        pods.services.customer_identify(
            identities=[("EMAIL", "ann@example.com"), ("PHONE", "07700900123")],
            now=now,
        )

        tickets.services.customer_merge(source_id=bob.id, target_id=ann.id, now=now)

        bob.refresh_from_db()
        assert bob.merged_into_id == ann.id
        assert set(
            CustomerIdentity.objects.filter(customer=ann).values_list(
                "value", flat=True
            )
        ) == {"ann@example.com", "bob@example.com", "+447700900123"}
        assert CustomerAssignment.objects.filter(customer=ann).count() == 2
        assert not CustomerAssignment.objects.filter(customer=bob).exists()
        assert not Ticket.objects.filter(customer=bob).exists()
        assert Ticket.objects.filter(customer=ann).count() == 3
        moved_open = Ticket.objects.filter(
            customer=ann, status__in=Ticket.OPEN_STATUSES
        ).exclude(id=ann_ticket.id)
        assert [t.pod_id for t in moved_open] == [ann.pod_id]
        assert moved_open.get().assignee_id is None  # its agent is in another pod
        assert PossibleDuplicate.objects.get().resolution == "MERGED"
        assert dict(Pod.objects.values_list("id", "customer_count")) == {
            ann.pod_id: 1,
            bob.pod_id: 0,
        }
        loads = dict(Agent.objects.values_list("id", "open_ticket_count"))
        assert loads == dict.fromkeys(loads, 0) | (
            tickets.selectors.open_load_by_agent()
        )

    def test_routes_the_merged_customers_address_to_the_target(self, now):
        factories.staffed_pod(size=3)
        ann = pods.services.customer_identify(
            identities=[("EMAIL", "a@x.com")], now=now
        )
        bob = pods.services.customer_identify(
            identities=[("EMAIL", "b@x.com")], now=now
        )
        tickets.services.customer_merge(
            source_id=bob.customer_id, target_id=ann.customer_id, now=now
        )

        again = pods.services.customer_identify(
            identities=[("EMAIL", "b@x.com")], now=now
        )

        assert again.customer_id == ann.customer_id
        assert not again.created

    def test_refuses_to_merge_a_customer_into_themselves(self, now):
        factories.staffed_pod(size=3)
        ticket = open_ticket("ann@example.com", now=now)
        before = (
            list(Customer.objects.values_list("id", "merged_into_id", "pod_id")),
            list(CustomerIdentity.objects.values_list("id", "customer_id")),
            list(Ticket.objects.values_list("id", "customer_id", "pod_id")),
            list(Pod.objects.values_list("id", "customer_count")),
        )

        with pytest.raises(pods.services.MergeRefused):
            tickets.services.customer_merge(
                source_id=ticket.customer_id, target_id=ticket.customer_id, now=now
            )

        after = (
            list(Customer.objects.values_list("id", "merged_into_id", "pod_id")),
            list(CustomerIdentity.objects.values_list("id", "customer_id")),
            list(Ticket.objects.values_list("id", "customer_id", "pod_id")),
            list(Pod.objects.values_list("id", "customer_count")),
        )
        assert after == before

    def test_refuses_to_merge_an_already_merged_customer(self, now):
        factories.staffed_pod(size=3)
        ids = [
            pods.services.customer_identify(
                identities=[("EMAIL", f"{name}@x.com")], now=now
            ).customer_id
            for name in ("ann", "bob", "cat")
        ]
        tickets.services.customer_merge(source_id=ids[1], target_id=ids[0], now=now)

        with pytest.raises(pods.services.MergeRefused):
            tickets.services.customer_merge(source_id=ids[1], target_id=ids[2], now=now)

        assert Customer.objects.get(id=ids[1]).merged_into_id == ids[0]
        assert Customer.objects.get(id=ids[2]).merged_into_id is None


@pytest.mark.django_db
class TestAgentProficiencyRecord:
    def test_scores_the_agent_and_sets_their_tier(self, now):
        agent = factories.agent(pod=factories.pod(), tier=Agent.Tier.LOW)

        snapshot = pods.services.agent_proficiency_record(
            agent_id=agent.id,
            contacts_per_day=Decimal(48),
            handle_minutes=Decimal("6.5"),
            csat=Decimal("4.70"),
            one_touch_rate=Decimal("0.800"),
            period_start=date(2026, 1, 1),
            period_end=date(2026, 1, 31),
            now=now,
        )

        agent.refresh_from_db()
        assert snapshot.score >= Decimal("1.000")
        assert snapshot.tier == Agent.Tier.HIGH
        assert (agent.proficiency_score, agent.tier) == (snapshot.score, "HIGH")

    def test_a_rerun_of_the_same_period_replaces_its_reading(self, now):
        agent = factories.agent(pod=factories.pod())
        period = {"period_start": date(2026, 1, 1), "period_end": date(2026, 1, 31)}
        good = {
            "contacts_per_day": Decimal(40),
            "handle_minutes": Decimal(8),
            "csat": Decimal("4.5"),
            "one_touch_rate": Decimal("0.7"),
        }
        poor = {
            "contacts_per_day": Decimal(10),
            "handle_minutes": Decimal(30),
            "csat": None,
            "one_touch_rate": Decimal("0.2"),
        }
        pods.services.agent_proficiency_record(
            agent_id=agent.id, now=now, **good, **period
        )

        rerun = pods.services.agent_proficiency_record(
            agent_id=agent.id, now=now + timedelta(hours=1), **poor, **period
        )

        agent.refresh_from_db()
        snapshot = AgentKpiSnapshot.objects.get(agent=agent)
        assert snapshot.id == rerun.id
        assert snapshot.csat is None
        assert snapshot.tier == Agent.Tier.LOW == agent.tier
        assert snapshot.score == agent.proficiency_score < Decimal("0.800")
