"""An agent of the ticket's pod, or a colleague invited onto it, reopens a solved
ticket that is not done after all: from the ticket page (button or the "o"
key), or by API (status OPEN). It counts as a reopen and shows on the
timeline; a closed ticket is refused with the reason and nothing changes.
Through HTTP and in headless Chromium."""

import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework.test import APIClient

import tickets.services
from pods.models import Agent
from tests import factories
from tests.functional.test_agent_signs_in_and_sees_home import assert_page
from tests.functional.test_agent_works_the_queue import (
    HTMX,
    LIVE_TIMEOUT_MS,
    sign_in,
    signed_in,
    ticket_in,
)
from tickets.models import Message, Ticket


@pytest.fixture
def pod(db):
    made = factories.staffed_pod(size=2)
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def other_pod(pod):
    made = factories.staffed_pod(size=2)
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod, username="ana")


@pytest.fixture
def outsider(other_pod):
    return factories.agent(pod=other_pod, username="cy")


def solved_ticket(pod, agent) -> Ticket:
    ticket = ticket_in(pod, subject="Meter swapped")
    tickets.services.ticket_assign(ticket=ticket, agent_id=agent.id, now=timezone.now())
    return tickets.services.ticket_solve(ticket=ticket, now=timezone.now())


def reopen(client, ticket, **extra):
    return client.post(reverse("ticket-reopen", args=[ticket.id]), **extra)


@pytest.mark.django_db
class TestReopenFromTheTicketPage:
    def test_a_solved_ticket_offers_reopen_and_an_open_one_does_not(
        self, client, pod, agent
    ):
        solved = solved_ticket(pod, agent)
        still_open = ticket_in(pod)
        client = signed_in(client, agent)

        solved_page = client.get(reverse("ticket-detail", args=[solved.id]))
        open_page = client.get(reverse("ticket-detail", args=[still_open.id]))

        assert_page(solved_page, 'id="action-reopen"', 'aria-keyshortcuts="O"')
        assert 'id="action-reopen"' not in assert_page(open_page)

    def test_reopens_counts_and_notes_it_on_the_timeline(self, client, pod, agent):
        ticket = solved_ticket(pod, agent)

        response = reopen(signed_in(client, agent), ticket, **HTMX)

        html = assert_page(
            response, f"Reopened: #{ticket.id} is open again.", "Reopened the ticket."
        )
        assert "badge--status-open" in html
        ticket.refresh_from_db()
        assert (ticket.status, ticket.assignee_id, ticket.reopened_count) == (
            "OPEN",
            agent.id,
            1,
        )
        note = Message.objects.get(ticket=ticket, headers__event="ticket.reopened")
        assert (note.direction, note.author_agent_id) == ("NOTE", agent.id)

    def test_without_htmx_it_goes_back_to_the_page_with_a_message(
        self, client, pod, agent
    ):
        ticket = solved_ticket(pod, agent)

        response = reopen(signed_in(client, agent), ticket, follow=True)

        assert_page(response, f"Reopened: #{ticket.id} is open again.")
        assert response.redirect_chain == [
            (reverse("ticket-detail", args=[ticket.id]), 302)
        ]

    def test_a_colleague_invited_from_another_pod_may_reopen_it(
        self, client, pod, agent, outsider
    ):
        ticket = solved_ticket(pod, agent)
        tickets.services.collaborator_invite(
            ticket=ticket,
            agent_id=outsider.id,
            invited_by_id=agent.id,
            now=timezone.now(),
        )

        response = reopen(signed_in(client, outsider), ticket, **HTMX)

        assert_page(response, "Reopened the ticket.")
        assert Ticket.objects.get(id=ticket.id).reopened_count == 1

    def test_another_pods_agent_not_invited_gets_404_and_nothing_changes(
        self, client, pod, agent, outsider
    ):
        ticket = solved_ticket(pod, agent)

        response = reopen(signed_in(client, outsider), ticket, **HTMX)

        assert response.status_code == 404
        ticket.refresh_from_db()
        assert (ticket.status, ticket.reopened_count) == ("SOLVED", 0)

    def test_a_closed_ticket_is_refused_with_the_reason(self, client, pod, agent):
        ticket = solved_ticket(pod, agent)
        Ticket.objects.filter(id=ticket.id).update(status=Ticket.Status.CLOSED)
        client = signed_in(client, agent)
        notes = Message.objects.filter(direction="NOTE").count()

        page = client.get(reverse("ticket-detail", args=[ticket.id]))
        refused = reopen(client, ticket, **HTMX)

        assert 'id="action-reopen"' not in assert_page(page)
        assert_page(
            refused,
            f"#{ticket.id} is closed and cannot be reopened: the customer&#x27;s "
            "next message opens a follow-up.",
            status=409,
        )
        ticket.refresh_from_db()
        assert (ticket.status, ticket.reopened_count) == ("CLOSED", 0)
        assert Message.objects.filter(direction="NOTE").count() == notes


@pytest.mark.django_db
class TestReopenByApi:
    def test_status_open_reopens_a_solved_ticket(self, pod, agent):
        ticket = solved_ticket(pod, agent)
        api = APIClient()
        api.force_authenticate(agent.user)

        response = api.post(
            f"/api/tickets/{ticket.id}/status/", {"status": "OPEN"}, format="json"
        )

        assert response.status_code == 200
        assert response.json()["status"] == "OPEN"
        ticket.refresh_from_db()
        assert ticket.reopened_count == 1
        assert Message.objects.filter(
            ticket=ticket, headers__event="ticket.reopened", author_agent=agent
        ).exists()

    def test_a_closed_ticket_is_a_409_with_the_reason(self, pod, agent):
        ticket = solved_ticket(pod, agent)
        Ticket.objects.filter(id=ticket.id).update(status=Ticket.Status.CLOSED)
        api = APIClient()
        api.force_authenticate(agent.user)

        response = api.post(
            f"/api/tickets/{ticket.id}/status/", {"status": "OPEN"}, format="json"
        )

        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "transition_refused"
        assert "is closed and cannot be reopened" in str(error)
        assert Ticket.objects.get(id=ticket.id).reopened_count == 0


@pytest.mark.browser
class TestReopenInTheBrowser:
    def test_the_o_key_reopens_a_solved_ticket(self, page, asgi_server):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod, username="ana")
        ticket = solved_ticket(pod, agent)
        sign_in(page, "ana")
        page.goto(f"/tickets/{ticket.id}/")

        page.keyboard.press("?")
        expect(page.locator("#shortcuts")).to_contain_text("Reopen a solved ticket")
        page.keyboard.press("Escape")
        page.keyboard.press("o")

        expect(page.locator("#ticket-notice")).to_contain_text(
            f"Reopened: #{ticket.id} is open again.", timeout=LIVE_TIMEOUT_MS
        )
        expect(page.locator("#ticket-header .badge").first).to_have_text(
            re.compile("Open")
        )
        expect(page.locator("#action-reopen")).to_have_count(0)
        ticket.refresh_from_db()
        assert (ticket.status, ticket.reopened_count) == ("OPEN", 1)


def test_an_anonymous_post_changes_nothing(db):
    pod = factories.staffed_pod(size=2)
    ticket = solved_ticket(pod, factories.agent(pod=pod))

    response = reopen(Client(), ticket)

    assert response.status_code == 302
    assert Ticket.objects.get(id=ticket.id).status == Ticket.Status.SOLVED
