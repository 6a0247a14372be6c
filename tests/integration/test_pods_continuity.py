"""Continuity: a customer who writes again reaches the pod that owns them and, when
they can take it, the agent who last settled their case."""

import random
from datetime import timedelta

import pytest

import pods.services
import tickets.services
from pods.models import Agent, Customer
from tests import factories
from tickets.models import Ticket

CUSTOMERS = 200
REPEAT_CONTACTS = 1000
SEED = 20261123
OPEN_AT_ONCE = 24  # of 12 agents' 36 slots: some agents are full at any time


def open_ticket(address, *, now):
    return tickets.services.ticket_open(
        identities=[("EMAIL", address)],
        channel=Ticket.Channel.EMAIL,
        subject="Again",
        now=now,
    ).ticket


def previous_agent_can_take(customer: Customer) -> bool:
    previous = customer.primary_agent
    return (
        previous is not None
        and previous.pod_id == customer.pod_id
        and previous.left_on is None
        and previous.presence == Agent.Presence.ONLINE
        and previous.open_ticket_count < previous.capacity
    )


@pytest.mark.django_db
class TestRepeatContactContinuity:
    def test_a_thousand_repeat_contacts_reach_the_owner_and_the_previous_agent(
        self, now
    ):
        rng = random.Random(SEED)
        for size in (3, 4, 5):
            factories.staffed_pod(size=size)
        Agent.objects.update(capacity=3)  # small, so "at capacity" happens
        addresses = [f"customer{number}@example.com" for number in range(CUSTOMERS)]
        for address in addresses:
            tickets.services.ticket_solve(ticket=open_ticket(address, now=now), now=now)
        agents = list(Agent.objects.all())
        pod_of_agent = {agent.id: agent.pod_id for agent in agents}
        still_open: list[Ticket] = []
        reached_owner = to_previous = elsewhere = 0

        for step in range(REPEAT_CONTACTS):
            clock = now + timedelta(minutes=step + 1)
            address = rng.choice(addresses)
            customer = Customer.objects.select_related("primary_agent").get(
                identities__value=address
            )
            expect_previous = previous_agent_can_take(customer)

            ticket = open_ticket(
                address.upper() if rng.random() < 0.2 else address, now=clock
            )

            assert ticket.customer_id == customer.id
            assert ticket.pod_id == customer.pod_id
            reached_owner += 1
            if expect_previous:
                assert ticket.assignee_id == customer.primary_agent_id
                to_previous += 1
            else:
                assert ticket.assignee_id is None or (
                    pod_of_agent[ticket.assignee_id] == customer.pod_id
                )
                elsewhere += 1
            # Meanwhile agents settle cases, and come and go.
            still_open.append(ticket)
            while len(still_open) > OPEN_AT_ONCE:
                solved = still_open.pop(rng.randrange(len(still_open)))
                tickets.services.ticket_solve(ticket=solved, now=clock)
            if rng.random() < 0.05:
                agent = rng.choice(agents)
                agent.refresh_from_db()
                presence = rng.choice(
                    [Agent.Presence.ONLINE, Agent.Presence.AWAY, Agent.Presence.ONLINE]
                )
                pods.services.agent_presence_set(
                    agent=agent, presence=presence, now=clock
                )

        assert reached_owner == REPEAT_CONTACTS
        # The scenario must exercise both branches, or it proves little.
        assert to_previous > REPEAT_CONTACTS // 4
        assert elsewhere > REPEAT_CONTACTS // 20
