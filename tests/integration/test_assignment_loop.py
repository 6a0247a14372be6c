"""Assignment is a loop, not a moment: nothing waits forever because nobody was
online when it arrived, and nothing stays with an agent who is gone."""

from datetime import timedelta

import pytest

import pods.services
import tickets.services
from pods.models import Agent
from tests import factories
from tickets.models import Ticket
from tickets.selectors import open_load_by_agent


def contact(number: int, now) -> Ticket:
    return tickets.services.ticket_open(
        identities=[("EMAIL", f"customer{number}@example.com")],
        channel="EMAIL",
        subject=f"question {number}",
        now=now + timedelta(seconds=number),
    ).ticket


def loads_agree() -> bool:
    counted = open_load_by_agent()
    return all(
        counted.get(agent.id, 0) == agent.open_ticket_count
        for agent in Agent.objects.all()
    )


@pytest.fixture
def quiet_pod():
    pod = factories.pod()
    lead = factories.agent(pod=pod, role="LEAD", presence="OFFLINE", capacity=2)
    agent = factories.agent(pod=pod, presence="OFFLINE", capacity=3)
    return pod, lead, agent


@pytest.mark.django_db(transaction=True)
class TestAssignmentLoop:
    def test_backlog_waits_then_goes_to_the_agent_who_comes_online(
        self, quiet_pod, now
    ):
        _, _, agent = quiet_pod
        waiting = [contact(n, now) for n in range(5)]
        assert Ticket.objects.filter(assignee__isnull=True).count() == 5

        pods.services.agent_presence_set(agent=agent, presence="ONLINE", now=now)

        assigned = list(
            Ticket.objects.filter(assignee=agent).order_by("created_at", "id")
        )
        assert [t.id for t in assigned] == [t.id for t in waiting[:3]]  # oldest first
        assert all(t.status == "OPEN" for t in assigned)
        assert Ticket.objects.filter(assignee__isnull=True).count() == 2
        assert loads_agree()

    def test_solving_frees_a_slot_for_the_next_waiting_ticket(self, quiet_pod, now):
        _, _, agent = quiet_pod
        pods.services.agent_presence_set(agent=agent, presence="ONLINE", now=now)
        tickets_in = [contact(n, now) for n in range(4)]
        first = Ticket.objects.get(id=tickets_in[0].id)

        tickets.services.ticket_solve(ticket=first, now=now)

        assert Ticket.objects.get(id=tickets_in[3].id).assignee_id == agent.id
        assert loads_agree()

    def test_agent_going_offline_gives_tickets_back_to_colleagues(self, quiet_pod, now):
        _, lead, agent = quiet_pod
        pods.services.agent_presence_set(agent=agent, presence="ONLINE", now=now)
        held = [contact(n, now) for n in range(2)]
        pods.services.agent_presence_set(agent=lead, presence="ONLINE", now=now)

        pods.services.agent_presence_set(agent=agent, presence="OFFLINE", now=now)

        moved = Ticket.objects.filter(id__in=[t.id for t in held])
        assert {t.assignee_id for t in moved} == {lead.id}
        assert Ticket.objects.filter(assignee=agent).count() == 0
        assert loads_agree()

    def test_idle_assignment_returns_to_the_queue(self, quiet_pod, now):
        _, _, agent = quiet_pod
        pods.services.agent_presence_set(agent=agent, presence="ONLINE", now=now)
        stale = contact(1, now - timedelta(hours=2))
        fresh = contact(2, now)

        returned = tickets.services.idle_tickets_requeue(
            idle_since=now - timedelta(minutes=30), now=now
        )

        stale.refresh_from_db()
        fresh.refresh_from_db()
        assert returned == 1
        assert fresh.assignee_id == agent.id
        # the agent is still online and under capacity, so the loop offers it again
        assert stale.assignee_id == agent.id
        assert stale.assigned_at == now
        assert loads_agree()

    def test_pending_tickets_stay_with_an_agent_who_goes_offline(self, quiet_pod, now):
        _, _, agent = quiet_pod
        pods.services.agent_presence_set(agent=agent, presence="ONLINE", now=now)
        waiting_on_customer = contact(1, now)
        Ticket.objects.filter(id=waiting_on_customer.id).update(status="PENDING")

        pods.services.agent_presence_set(agent=agent, presence="OFFLINE", now=now)

        waiting_on_customer.refresh_from_db()
        assert waiting_on_customer.assignee_id == agent.id
