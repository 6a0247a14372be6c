"""Pod splits: a full pod becomes two, every customer and open ticket accounted for.

The pod here is small (10 agents, a threshold of 200) so each test builds it from
scratch through the real services: customers arrive by contact, agents solve
tickets and become primary agents, the threshold queues the split."""

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import pods.outbound
import pods.services
import tickets.selectors
import tickets.services
import tickets.services._pod_moves
from pods import rules
from pods.models import (
    Agent,
    Customer,
    CustomerAssignment,
    Pod,
    PodSplit,
    PodSplitCustomer,
    Seat,
)
from tests import factories
from tests.conftest import require_postgres
from tickets.models import Ticket

THRESHOLD = 200


def open_ticket(address, *, now):
    return tickets.services.ticket_open(
        identities=[("EMAIL", address)],
        channel=Ticket.Channel.EMAIL,
        subject="Help",
        now=now,
    ).ticket


def database_state() -> dict:
    """Every row a split may touch, to compare before and after."""
    return {
        "customers": sorted(
            Customer.objects.values_list("id", "pod_id", "primary_agent_id")
        ),
        "tickets": sorted(
            Ticket.objects.values_list("id", "pod_id", "assignee_id", "status")
        ),
        "agents": sorted(
            Agent.objects.values_list("id", "pod_id", "role", "open_ticket_count")
        ),
        "pods": sorted(
            Pod.objects.values_list(
                "id", "lead_id", "state", "customer_count", "accepts_new_customers"
            )
        ),
        "seats": sorted(Seat.objects.values_list("id", "pod_id", "agent_id")),
        "history": sorted(
            CustomerAssignment.objects.values_list("id", "customer_id", "to_pod_id")
        ),
        "splits": sorted(
            PodSplit.objects.values_list(
                "id", "state", "new_pod_id", "customers_moved", "tickets_moved"
            )
        ),
        "planned": PodSplitCustomer.objects.count(),
    }


def active_members(pod):
    return list(pod.members.filter(left_on__isnull=True))


@pytest.fixture
def mercury(now):
    """A staffed pod of 10 that has just reached its threshold of 200 customers:
    two thirds of them have a primary agent, a third have an open ticket, and a
    few tickets wait unassigned in the pod queue."""
    pod = factories.pod(name="Mercury", threshold=THRESHOLD)
    factories.agent(
        pod=pod, role=Agent.Role.LEAD, tier="HIGH", hired_on=date(2019, 1, 1)
    )
    # The two most senior after the lead were hired the same day: proficiency
    # decides, and the more proficient one was created second. The new lead's
    # tier differs from the lead's, the harder case for a balanced tier mix.
    senior_but_weaker = factories.agent(pod=pod, tier="HIGH", hired_on=date(2020, 3, 1))
    senior_and_stronger = factories.agent(
        pod=pod, tier="MIDDLE", hired_on=date(2020, 3, 1)
    )
    Agent.objects.filter(id=senior_but_weaker.id).update(
        proficiency_score=Decimal("0.850")
    )
    Agent.objects.filter(id=senior_and_stronger.id).update(
        proficiency_score=Decimal("1.100")
    )
    for index, tier in enumerate(["LOW", "LOW", "MIDDLE", "LOW", "HIGH", "MIDDLE"]):
        factories.agent(pod=pod, tier=tier, hired_on=date(2021, 1 + index, 1))
    factories.agent(pod=pod, tier="LOW", hired_on=date(2023, 5, 1))
    for number in range(THRESHOLD):
        ticket = open_ticket(f"customer{number}@example.com", now=now)
        if number % 3:
            tickets.services.ticket_solve(ticket=ticket, now=now)
    Agent.objects.filter(pod=pod).update(presence=Agent.Presence.AWAY)
    for number in range(1, THRESHOLD, 20):
        open_ticket(f"customer{number}@example.com", now=now)  # queued: all away
    Agent.objects.filter(pod=pod).update(presence=Agent.Presence.ONLINE)
    pod.refresh_from_db()
    return pod


@pytest.fixture
def queued_split(mercury):
    return PodSplit.objects.get(source=mercury, state=PodSplit.State.QUEUED)


def facts_before(pod) -> dict:
    """What the invariants are checked against: taken before the split runs."""
    members = active_members(pod)
    open_tickets = Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES)
    return {
        "pod_id": pod.id,
        "customers": set(Customer.objects.filter(pod=pod).values_list("id", flat=True)),
        "primary": dict(
            Customer.objects.filter(pod=pod).values_list("id", "primary_agent_id")
        ),
        "members": {m.id for m in members},
        "lead_id": pod.lead_id,
        "expected_new_lead": min(
            (m for m in members if m.id != pod.lead_id),
            key=lambda m: (m.hired_on, -m.proficiency_score, m.id),
        ).id,
        "open_tickets": {
            t.id: (t.customer_id, t.assignee_id, t.status) for t in open_tickets
        },
    }


def assert_split_is_whole(split: PodSplit, before: dict) -> None:
    split.refresh_from_db()
    source = Pod.objects.get(id=before["pod_id"])
    new_pod = split.new_pod
    new_pod.refresh_from_db()
    staying = set(Customer.objects.filter(pod=source).values_list("id", flat=True))
    moved = set(Customer.objects.filter(pod=new_pod).values_list("id", flat=True))

    # Every customer in exactly one of the two pods, halves within one customer.
    assert staying | moved == before["customers"]
    assert not staying & moved
    assert abs(len(staying) - len(moved)) <= 1
    assert abs(len(staying) - len(moved)) / len(before["customers"]) <= 0.01
    assert (source.customer_count, new_pod.customer_count) == (
        len(staying),
        len(moved),
    )
    assert source.customer_count + new_pod.customer_count == len(before["customers"])

    # Members: halves, a balanced tier mix, the right new lead.
    source_members = {m.id for m in active_members(source)}
    new_members = {m.id for m in active_members(new_pod)}
    assert source_members | new_members == before["members"]
    assert abs(len(source_members) - len(new_members)) <= 1
    tiers = dict(Agent.objects.values_list("id", "tier"))
    mix_source = rules.tier_mix(tiers[a] for a in source_members)
    mix_new = rules.tier_mix(tiers[a] for a in new_members)
    assert all(abs(mix_source[t] - mix_new[t]) <= 1 for t in rules.TIERS)
    assert source.lead_id == before["lead_id"]
    assert new_pod.lead_id == before["expected_new_lead"]
    assert Agent.objects.get(id=new_pod.lead_id).role == Agent.Role.LEAD
    assert new_pod.parent_id == source.id

    # Customers follow their primary agent; nobody keeps an agent of another pod.
    moving_agents = new_members
    followers = {c for c, a in before["primary"].items() if a in moving_agents}
    assert followers <= moved
    for customer_id, pod_id, agent_pod_id in Customer.objects.filter(
        primary_agent__isnull=False
    ).values_list("id", "pod_id", "primary_agent__pod_id"):
        assert pod_id == agent_pod_id, customer_id

    # Open tickets went with their customers, kept their agent only if the agent
    # went too, and every agent's load still matches the tickets they hold.
    pod_of = dict(Customer.objects.values_list("id", "pod_id"))
    for ticket in Ticket.objects.filter(id__in=before["open_tickets"]):
        customer_id, assignee_id, _ = before["open_tickets"][ticket.id]
        assert ticket.pod_id == pod_of[customer_id]
        if customer_id in moved:
            if assignee_id in moving_agents:
                assert ticket.assignee_id == assignee_id
            else:
                assert ticket.assignee_id is None
                assert ticket.status == Ticket.Status.NEW
    for ticket in Ticket.objects.filter(
        status__in=Ticket.OPEN_STATUSES, assignee__isnull=False
    ).select_related("assignee"):
        assert ticket.assignee.pod_id == ticket.pod_id, ticket.id
    loads = dict(Agent.objects.values_list("id", "open_ticket_count"))
    assert loads == dict.fromkeys(loads, 0) | tickets.selectors.open_load_by_agent()

    # Seats: both pods reach their target size.
    for pod in (source, new_pod):
        assert Seat.objects.filter(pod=pod).count() == pod.target_size
        assert Seat.objects.filter(pod=pod, agent__isnull=False).count() == len(
            active_members(pod)
        )

    # History and the split record.
    history = CustomerAssignment.objects.filter(
        reason=CustomerAssignment.Reason.SPLIT, split=split
    )
    assert sorted(history.values_list("customer_id", flat=True)) == sorted(moved)
    assert set(history.values_list("from_pod_id", "to_pod_id")) == {
        (source.id, new_pod.id)
    }
    moved_tickets = [
        t
        for t, (customer_id, _, _) in before["open_tickets"].items()
        if customer_id in moved
    ]
    assert split.state == PodSplit.State.DONE
    assert split.customers_before == len(before["customers"])
    assert split.customers_moved == len(moved)
    assert split.tickets_moved == len(moved_tickets)
    assert split.agents_moved == len(new_members)
    assert (
        split.seats_opened
        == Seat.objects.filter(
            reason=Seat.Reason.SPLIT, pod__in=[source, new_pod]
        ).count()
    )
    assert split.finished_at is not None
    for pod in (source, new_pod):
        assert pod.state == Pod.State.ACTIVE
        assert pod.accepts_new_customers


@pytest.mark.django_db
class TestPodSplitRequest:
    def test_queues_one_split_when_the_pod_reaches_its_threshold(
        self, now, django_capture_on_commit_callbacks
    ):
        pod = factories.staffed_pod(size=4, threshold=5)

        with django_capture_on_commit_callbacks() as queued:
            for number in range(8):
                pods.services.customer_identify(
                    identities=[("EMAIL", f"c{number}@example.com")], now=now
                )

        split = PodSplit.objects.get()
        assert (split.source_id, split.state) == (pod.id, PodSplit.State.QUEUED)
        assert len(queued) == 1

    def test_the_queued_task_runs_the_split(
        self, now, django_capture_on_commit_callbacks
    ):
        pod = factories.staffed_pod(size=4, threshold=6)

        with django_capture_on_commit_callbacks(execute=True):
            for number in range(6):
                pods.services.customer_identify(
                    identities=[("EMAIL", f"c{number}@example.com")], now=now
                )

        split = PodSplit.objects.get()
        assert split.state == PodSplit.State.DONE
        assert Customer.objects.filter(pod=pod).count() == 3
        assert Customer.objects.filter(pod=split.new_pod).count() == 3

    def test_refuses_a_pod_with_one_member_and_queues_nothing(self, now):
        pod = factories.pod()
        factories.agent(pod=pod, role=Agent.Role.LEAD)

        with pytest.raises(pods.services.SplitRefused):
            pods.services.pod_split_request(pod_id=pod.id, now=now)

        assert not PodSplit.objects.exists()


@pytest.mark.django_db
class TestPodSplitRun:
    def test_divides_the_pod_into_two_whole_halves(self, now, mercury, queued_split):
        before = facts_before(mercury)
        hired_together = mercury.members.filter(hired_on=date(2020, 3, 1))
        stronger = hired_together.order_by("-proficiency_score").first()

        moved = tickets.services.pod_split_run(split_id=queued_split.id, now=now)

        assert moved == THRESHOLD // 2
        assert_split_is_whole(queued_split, before)
        # Two members equally senior after the lead: the more proficient leads.
        assert before["expected_new_lead"] == stronger.id

    def test_a_second_run_changes_nothing(self, now, mercury, queued_split):
        tickets.services.pod_split_run(split_id=queued_split.id, now=now)
        after_first = database_state()

        moved = tickets.services.pod_split_run(
            split_id=queued_split.id, now=now + timedelta(minutes=5)
        )

        assert moved == 0
        assert database_state() == after_first

    def test_a_split_killed_after_its_first_batch_completes_on_rerun(
        self, now, mercury, queued_split, monkeypatch
    ):
        before = facts_before(mercury)
        monkeypatch.setattr(tickets.services._pod_moves, "SPLIT_BATCH_SIZE", 30)
        tickets_moved = pods.services.pod_split_tickets_moved
        calls = []

        def killed_in_second_batch(**kwargs):
            calls.append(kwargs)
            if len(calls) == 2:
                raise RuntimeError("worker killed")
            return tickets_moved(**kwargs)

        monkeypatch.setattr(
            pods.services, "pod_split_tickets_moved", killed_in_second_batch
        )
        with pytest.raises(RuntimeError, match="worker killed"):
            tickets.services.pod_split_run(split_id=queued_split.id, now=now)
        queued_split.refresh_from_db()
        new_pod = queued_split.new_pod
        assert queued_split.state == PodSplit.State.MOVING
        assert queued_split.customers_moved == 30
        assert Customer.objects.filter(pod=new_pod).count() == 30
        assert CustomerAssignment.objects.filter(split=queued_split).count() == 30
        assert pods.services.pod_customer_counts_reconcile(now=now) == {}

        tickets.services.pod_split_run(split_id=queued_split.id, now=now)

        assert_split_is_whole(queued_split, before)

    def test_contacts_during_a_split_land_where_their_customer_is(
        self, now, mercury, queued_split, monkeypatch
    ):
        venus = factories.staffed_pod(size=4, name="Venus")
        before = facts_before(mercury)
        monkeypatch.setattr(tickets.services._pod_moves, "SPLIT_BATCH_SIZE", 40)
        move_batch = pods.services.pod_split_move_batch
        batches, contacts = [], {}

        def contacts_after_the_first_batch(*, split, **kwargs):
            batches.append(split.id)
            if len(batches) == 2:
                contacts.update(_contacts_of_every_kind(split=split, now=now))
            return move_batch(split=split, **kwargs)

        monkeypatch.setattr(
            pods.services, "pod_split_move_batch", contacts_after_the_first_batch
        )

        tickets.services.pod_split_run(split_id=queued_split.id, now=now)

        queued_split.refresh_from_db()
        new_pod_id = queued_split.new_pod_id
        assert contacts["moved"].pod_id == new_pod_id
        assert contacts["moved"].assignee_id in (
            None,
            *queued_split.new_pod.members.values_list("id", flat=True),
        )
        assert contacts["waiting"].pod_id == mercury.id  # then moved with them
        assert contacts["staying"].pod_id == mercury.id
        assert contacts["new"].pod_id == venus.id
        for ticket in contacts.values():
            ticket = Ticket.objects.get(id=ticket.id)
            assert ticket.pod_id == Customer.objects.get(id=ticket.customer_id).pod_id
        assert Ticket.objects.get(id=contacts["waiting"].id).pod_id == new_pod_id
        before["open_tickets"].update(
            (t.id, (t.customer_id, t.assignee_id, t.status))
            for t in (contacts["waiting"], contacts["staying"])
        )
        assert_split_is_whole(queued_split, before)


@pytest.fixture
def split_task_held(monkeypatch):
    """Tasks run inline in tests, and in a transactional test the commit that
    queues the split would run it at once; hold the task so the test runs it."""
    monkeypatch.setattr(pods.outbound, "pod_split_enqueue", lambda *, split_id: None)


@pytest.mark.django_db(transaction=True)
class TestPodSplitRunTwiceAtOnce:
    def test_a_duplicate_task_running_alongside_moves_and_counts_each_customer_once(
        self, now, split_task_held, request, run_concurrently, monkeypatch
    ):
        require_postgres()
        mercury = request.getfixturevalue("mercury")
        split = PodSplit.objects.get(source=mercury, state=PodSplit.State.QUEUED)
        before = facts_before(mercury)
        monkeypatch.setattr(tickets.services._pod_moves, "SPLIT_BATCH_SIZE", 10)

        results = run_concurrently(
            lambda index: tickets.services.pod_split_run(split_id=split.id, now=now),
            count=2,
        )

        assert [r for r in results if isinstance(r, Exception)] == []
        assert sum(results) == THRESHOLD // 2
        assert_split_is_whole(split, before)


def _contacts_of_every_kind(*, split: PodSplit, now) -> dict:
    """One contact from a customer already moved, one planned but still waiting,
    one who stays, and one new: each lands in the pod that owns them now."""
    planned = PodSplitCustomer.objects.filter(split=split)
    moved = planned.filter(customer__pod_id=split.new_pod_id).first().customer_id
    waiting = planned.filter(customer__pod_id=split.source_id).last().customer_id
    staying = (
        Customer.objects.filter(pod_id=split.source_id)
        .exclude(id__in=planned.values("customer_id"))
        .first()
        .id
    )

    def address(customer_id):
        return Customer.objects.get(id=customer_id).identities.get().value

    return {
        "moved": open_ticket(address(moved), now=now),
        "waiting": open_ticket(address(waiting), now=now),
        "staying": open_ticket(address(staying), now=now),
        "new": open_ticket("newcomer@example.com", now=now),
    }


@pytest.mark.django_db
class TestSplitPodCommand:
    def test_dry_run_shows_the_plan_and_changes_nothing(self, mercury):
        before = database_state()
        out = io.StringIO()

        call_command("split_pod", "Mercury", "--dry-run", stdout=out)

        assert database_state() == before
        expected_lead = facts_before(mercury)["expected_new_lead"]
        assert f"new lead: agent {expected_lead}" in out.getvalue()
        assert f"customers moving: {THRESHOLD // 2}" in out.getvalue()

    def test_runs_the_split_of_a_pod_named_on_the_command_line(self, mercury):
        before = facts_before(mercury)
        out = io.StringIO()

        call_command("split_pod", str(mercury.id), stdout=out)

        split = PodSplit.objects.get(source=mercury)
        assert_split_is_whole(split, before)
        assert "done" in out.getvalue()

    def test_refuses_an_unknown_pod(self):
        factories.staffed_pod(size=4, name="Mercury")
        before = database_state()

        with pytest.raises(CommandError, match="no pod"):
            call_command("split_pod", "Pluto", "--dry-run", stdout=io.StringIO())

        assert database_state() == before
