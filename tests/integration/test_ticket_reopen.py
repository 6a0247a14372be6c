"""An agent reopening a solved ticket, against the real database and the
channel layer in use: what a reopen changes, counts, notes and announces; what
is refused and left untouched."""

from datetime import timedelta

import pytest

import tickets.services
from pods.models import Agent
from pods.outbound import pod_group
from tests import factories
from tests.integration.test_note_mentions import Inbox
from tests.integration.test_reply_templates import ticket_in
from tickets.models import Message, SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.fixture
def author(pod):
    return factories.agent(pod=pod, username="ana")


@pytest.fixture
def podmate(pod):
    return factories.agent(pod=pod, username="bo")


@pytest.fixture
def ticket(pod, other_pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now)


def solved(ticket, agent, now) -> Ticket:
    tickets.services.ticket_assign(ticket=ticket, agent_id=agent.id, now=now)
    return tickets.services.ticket_solve(ticket=ticket, now=now)


class TestTicketReopen:
    def test_a_solved_ticket_goes_back_to_its_agent_counted_and_noted(
        self, pod, ticket, author, podmate, now, django_capture_on_commit_callbacks
    ):
        solved(ticket, author, now)
        inbox = Inbox(pod_group(pod.id))
        later = now + timedelta(hours=2)

        with django_capture_on_commit_callbacks(execute=True):
            reopened = tickets.services.ticket_reopen(
                ticket=ticket, agent_id=podmate.id, now=later
            )

        reopened.refresh_from_db()
        assert (reopened.status, reopened.assignee_id) == ("OPEN", author.id)
        assert (reopened.reopened_count, reopened.solved_at) == (1, None)
        assert reopened.updated_at == later
        timeline = Message.objects.filter(ticket=ticket, headers__event__isnull=False)
        assert list(
            timeline.values_list("direction", "author_agent_id", "headers", "text")
        ) == [
            ("NOTE", podmate.id, {"event": "ticket.reopened"}, "Reopened the ticket.")
        ]
        announced = inbox.events(kind="ticket.reopened")
        assert [event["ticket_id"] for event in announced] == [ticket.id]

    def test_an_agent_who_cannot_take_it_now_leaves_it_to_the_queue(
        self, ticket, author, now
    ):
        solved(ticket, author, now)
        Agent.objects.filter(id=author.id).update(presence=Agent.Presence.OFFLINE)

        reopened = tickets.services.ticket_reopen(
            ticket=ticket, agent_id=author.id, now=now
        )

        assert (reopened.status, reopened.assignee_id) == ("NEW", None)
        assert reopened.reopened_count == 1

    @pytest.mark.parametrize(
        ("status", "says"),
        [
            ("CLOSED", "is closed and cannot be reopened: the customer's next"),
            ("OPEN", "is open: only a solved ticket is reopened"),
            ("PENDING", "is pending: only a solved ticket is reopened"),
        ],
    )
    def test_refuses_anything_but_a_solved_ticket_and_changes_nothing(
        self, ticket, author, now, status, says
    ):
        Ticket.objects.filter(id=ticket.id).update(status=status)
        messages = Message.objects.count()

        with pytest.raises(tickets.services.ReopenRefused, match=says):
            tickets.services.ticket_reopen(ticket=ticket, agent_id=author.id, now=now)

        ticket.refresh_from_db()
        assert (ticket.status, ticket.reopened_count) == (status, 0)
        assert Message.objects.count() == messages

    def test_back_to_open_resumes_a_pending_ticket_without_a_reopen(
        self, ticket, author, now
    ):
        tickets.services.ticket_assign(ticket=ticket, agent_id=author.id, now=now)
        tickets.services.ticket_pending_set(ticket=ticket, now=now)

        back = tickets.services.ticket_back_to_open(
            ticket=ticket, agent_id=author.id, now=now
        )

        assert (back.status, back.reopened_count) == ("OPEN", 0)

    def test_back_to_open_reopens_a_solved_ticket(self, ticket, author, now):
        solved(ticket, author, now)

        back = tickets.services.ticket_back_to_open(
            ticket=ticket, agent_id=author.id, now=now
        )

        assert (back.status, back.reopened_count) == ("OPEN", 1)

    def test_solved_again_after_a_reopen_asks_the_customer_again(
        self, ticket, author, now
    ):
        solved(ticket, author, now)
        tickets.services.ticket_reopen(ticket=ticket, agent_id=author.id, now=now)

        tickets.services.ticket_solve(ticket=ticket, now=now + timedelta(hours=1))

        ticket.refresh_from_db()
        assert (ticket.status, ticket.reopened_count) == ("SOLVED", 1)
        assert SatisfactionSurvey.objects.filter(ticket=ticket).count() == 2
