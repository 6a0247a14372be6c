"""An agent @mentions colleagues in an internal note: the composer suggests
agents as a name is typed, the note shows the names highlighted (escaped), each
colleague is told live on their notifications socket, and one from another pod
is invited onto that ticket (and no other). Through HTTP, over the real
websocket, and in headless Chromium."""

import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from helpdesk.asgi import application
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
from tests.functional.test_staff_receive_live_notifications import session_headers
from tickets.models import Message, NoteMention, TicketCollaborator


@pytest.fixture
def pod(db):
    made = factories.staffed_pod(size=2, name="Mercury")
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def other_pod(pod):
    made = factories.staffed_pod(size=2, name="Venus")
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


def named(pod, username: str, first: str, last: str = "") -> Agent:
    made = factories.agent(pod=pod, username=username, presence="OFFLINE")
    made.user.first_name, made.user.last_name = first, last
    made.user.save()
    return made


@pytest.fixture
def ana(pod):
    return named(pod, "ana", "Ana", "Lee")


@pytest.fixture
def bo(pod):
    return named(pod, "bo", "Bo", "Park")


@pytest.fixture
def cy(other_pod):
    return named(other_pod, "cy", "Cy", "Kim")


def note(client, ticket, text: str):
    return client.post(
        reverse("ticket-message-add", args=[ticket.id]),
        {"kind": "note", "text": text},
        **HTMX,
    )


@pytest.mark.django_db
class TestMentionInANote:
    def test_the_note_shows_the_mentions_highlighted_and_escaped(
        self, client, pod, ana, bo
    ):
        ticket = ticket_in(pod)
        client = signed_in(client, ana)

        added = note(client, ticket, "<b>@bo</b> can you call them? @nobody knows")

        html = assert_page(added, "Note added.")
        assert '&lt;b&gt;<mark class="mention">@bo</mark>&lt;/b&gt; can you' in html
        assert "@nobody knows" in html
        assert '<mark class="mention">@nobody' not in html
        assert "<b>@bo" not in html
        assert NoteMention.objects.get().agent_id == bo.id

    def test_a_colleague_of_another_pod_opens_that_ticket_and_no_other(
        self, client, pod, ana, cy
    ):
        ticket = ticket_in(pod, subject="The one they were asked on")
        other = ticket_in(pod, subject="Not theirs")

        note(signed_in(client, ana), ticket, "@cy do you know this meter?")
        outsider = signed_in(Client(), cy)
        page = outsider.get(reverse("ticket-detail", args=[ticket.id]))
        elsewhere = outsider.get(reverse("ticket-detail", args=[other.id]))

        assert_page(page, "The one they were asked on", "Leave this ticket")
        assert elsewhere.status_code == 404
        invite = TicketCollaborator.objects.get()
        assert (invite.ticket_id, invite.agent_id, invite.invited_by_id) == (
            ticket.id,
            cy.id,
            ana.id,
        )

    def test_an_unknown_name_or_yourself_is_no_error_and_tells_nobody(
        self, client, pod, ana
    ):
        ticket = ticket_in(pod)

        added = note(signed_in(client, ana), ticket, "@ana @ghost check this")

        assert_page(added, "Note added.", "@ana @ghost check this")
        assert Message.objects.filter(direction="NOTE").count() == 1
        assert not NoteMention.objects.exists()


@pytest.mark.django_db
class TestSuggestionsWhileTyping:
    def url(self, ticket):
        return reverse("ticket-mentions", args=[ticket.id])

    def test_active_agents_by_prefix_own_pod_first_at_most_ten(
        self, client, pod, other_pod, ana, bo, cy
    ):
        ticket = ticket_in(pod)
        named(other_pod, "bob", "Bob", "Far")
        gone = named(pod, "bogus", "Bogus")
        gone.user.is_active = False
        gone.user.save()
        for n in range(12):
            named(other_pod, f"zed{n:02d}", "Zed")
        client = signed_in(client, ana)

        bos = client.get(self.url(ticket), {"q": "bo"}).json()
        zeds = client.get(self.url(ticket), {"q": "zed"}).json()
        by_name = client.get(self.url(ticket), {"q": "ki"}).json()

        assert bos == {
            "agents": [
                {
                    "username": "bo",
                    "name": "Bo Park",
                    "pod": "Mercury",
                    "outside_pod": False,
                },
                {
                    "username": "bob",
                    "name": "Bob Far",
                    "pod": "Venus",
                    "outside_pod": True,
                },
            ]
        }
        assert len(zeds["agents"]) == 10
        assert [agent["username"] for agent in by_name["agents"]] == ["cy"]

    def test_a_prefix_too_long_is_a_400_with_the_reason(self, client, pod, ana):
        ticket = ticket_in(pod)

        refused = signed_in(client, ana).get(self.url(ticket), {"q": "x" * 151})

        assert refused.status_code == 400
        assert "q" in refused.json()["errors"]

    def test_only_staff_who_may_write_on_the_ticket_ask(
        self, client, pod, other_pod, ana, cy
    ):
        ticket = ticket_in(pod)

        anonymous = Client().get(self.url(ticket), {"q": "a"})
        stranger = signed_in(Client(), cy).get(self.url(ticket), {"q": "a"})
        admin = Client()
        admin.force_login(factories.admin_user())  # sees every pod, is no agent
        no_agent = admin.get(self.url(ticket), {"q": "a"})

        assert anonymous.status_code == 302
        assert "/accounts/login/" in anonymous["Location"]
        assert stranger.status_code == 404  # another pod's ticket does not exist
        assert no_agent.status_code == 403


@pytest.mark.django_db(transaction=True)
class TestMentionedColleagueIsToldLive:
    def test_their_notifications_socket_receives_the_mention(self):
        pod = factories.staffed_pod(size=2, name="Mercury")
        elsewhere = factories.staffed_pod(size=2, name="Venus")
        author = named(pod, "ana", "Ana", "Lee")
        outsider = named(elsewhere, "cy", "Cy", "Kim")
        ticket = ticket_in(pod, subject="Meter fault")
        headers = session_headers(outsider.user)
        writer = signed_in(Client(), author)

        async def scenario():
            socket = WebsocketCommunicator(
                application, "/ws/notifications/", headers=headers
            )
            await socket.connect()
            await socket.receive_json_from(timeout=5)  # hello
            added = await database_sync_to_async(note)(
                writer, ticket, "@cy could you look at the meter?"
            )
            frame = await socket.receive_json_from(timeout=5)
            await socket.disconnect()
            return added, frame

        added, frame = async_to_sync(scenario)()

        assert added.status_code == 200
        assert frame["type"] == "notify"
        assert frame["kind"] == "ticket.mentioned"
        assert frame["ticket_id"] == ticket.id
        assert frame["text"] == f"Ana Lee mentioned you on #{ticket.id}: Meter fault"


@pytest.mark.browser
class TestMentionInTheBrowser:
    def test_typing_at_suggests_colleagues_and_enter_picks_one(self, page, asgi_server):
        pod = factories.staffed_pod(size=2, name="Mercury")
        named(pod, "ana", "Ana", "Lee")
        bo = named(pod, "bo", "Bo", "Park")
        ticket = ticket_in(pod, subject="Boiler")
        sign_in(page, "ana")
        page.goto(f"/tickets/{ticket.id}/")

        page.keyboard.press("n")
        composer = page.locator("#composer-text")
        expect(composer).to_be_focused()
        page.keyboard.type("Could you call them, @b")
        suggestions = page.get_by_role("listbox", name="Colleagues to mention")
        expect(suggestions).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        option = suggestions.get_by_role("option", name=re.compile("Bo Park"))
        expect(option).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Enter")
        expect(suggestions).to_be_hidden()
        expect(composer).to_have_value("Could you call them, @bo ")
        page.keyboard.type("please?")
        page.keyboard.press("Control+Enter")

        mention = page.locator("#thread mark.mention")
        expect(mention).to_have_text("@bo", timeout=LIVE_TIMEOUT_MS)
        assert NoteMention.objects.get().agent_id == bo.id

    def test_no_suggestions_in_a_reply(self, page, asgi_server):
        pod = factories.staffed_pod(size=2)
        named(pod, "ana", "Ana", "Lee")
        named(pod, "bo", "Bo", "Park")
        ticket = ticket_in(pod)
        sign_in(page, "ana")
        page.goto(f"/tickets/{ticket.id}/")

        page.keyboard.press("r")
        page.keyboard.type("Hello @b")

        page.wait_for_timeout(500)
        expect(page.get_by_role("listbox", name="Colleagues to mention")).to_be_hidden()
