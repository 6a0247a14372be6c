"""Two agents on one ticket see each other live: who is viewing, who is typing
(a reply or a note), and a reply sent while the other was writing asks before
it goes out. Over the ticket's presence socket through the ASGI application and
the channel layer in use (in-memory, or Redis on the real stack), and in two
headless Chromium contexts."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from playwright.sync_api import expect

import tickets.services
from helpdesk.asgi import application
from pods.models import Agent
from tests import factories
from tests.functional.test_agent_works_the_queue import (
    LIVE_TIMEOUT_MS,
    sign_in,
    ticket_in,
)
from tests.functional.test_staff_receive_live_notifications import (
    ORIGIN,
    session_headers,
)

TIMEOUT = 5  # seconds for one frame
QUIET = 0.3  # seconds to be sure no frame comes


def presence_socket(headers, ticket_id: int) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application, f"/ws/tickets/{ticket_id}/", headers=headers
    )


def named(agent: Agent, first: str, last: str) -> Agent:
    agent.user.first_name, agent.user.last_name = first, last
    agent.user.save(update_fields=["first_name", "last_name"])
    return agent


@pytest.fixture
def pod(transactional_db):
    made = factories.staffed_pod(size=3)
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def ana(pod):
    return named(factories.agent(pod=pod, username="ana"), "Ana", "Lee")


@pytest.fixture
def minji(pod):
    return named(factories.agent(pod=pod, username="minji"), "Minji", "Kim")


@pytest.fixture
def ticket(pod):
    return ticket_in(pod, subject="Two of us")


@pytest.mark.django_db(transaction=True)
class TestTicketPresenceSocket:
    def test_two_agents_see_each_other_viewing_typing_and_leaving(
        self, ana, minji, ticket
    ):
        ana_headers = session_headers(ana.user)
        minji_headers = session_headers(minji.user)

        async def scenario():
            first = presence_socket(ana_headers, ticket.id)
            connected, _ = await first.connect()
            hello = await first.receive_json_from(timeout=TIMEOUT)
            second = presence_socket(minji_headers, ticket.id)
            await second.connect()
            second_hello = await second.receive_json_from(timeout=TIMEOUT)
            ana_sees = await first.receive_json_from(timeout=TIMEOUT)
            minji_sees = await second.receive_json_from(timeout=TIMEOUT)
            await second.send_json_to({"type": "typing", "kind": "reply"})
            typing = await first.receive_json_from(timeout=TIMEOUT)
            await second.send_json_to({"type": "typing", "kind": "reply"})
            throttled = await first.receive_nothing(timeout=QUIET)
            await second.send_json_to({"type": "changed"})
            changed = await first.receive_json_from(timeout=TIMEOUT)
            own_echo = await second.receive_nothing(timeout=QUIET)
            await second.disconnect()
            left = await first.receive_json_from(timeout=TIMEOUT)
            await first.disconnect()
            return (
                connected,
                hello,
                second_hello,
                ana_sees,
                minji_sees,
                typing,
                throttled,
                changed,
                own_echo,
                left,
            )

        (
            connected,
            hello,
            second_hello,
            ana_sees,
            minji_sees,
            typing,
            throttled,
            changed,
            own_echo,
            left,
        ) = async_to_sync(scenario)()

        assert connected
        assert hello["type"] == "hello"
        assert hello["sid"]
        assert ana_sees == {
            "type": "viewing",
            "sid": second_hello["sid"],
            "user_id": minji.user_id,
            "name": "Minji Kim",
        }
        assert minji_sees == {
            "type": "viewing",
            "sid": hello["sid"],
            "user_id": ana.user_id,
            "name": "Ana Lee",
        }
        assert typing == {
            "type": "typing",
            "kind": "reply",
            "sid": second_hello["sid"],
            "user_id": minji.user_id,
            "name": "Minji Kim",
        }
        assert throttled, "a second typing frame within 2 s is not relayed"
        assert changed == {"type": "changed", "sid": second_hello["sid"]}
        assert own_echo, "a page is not told about its own changes"
        assert left == {"type": "left", "sid": second_hello["sid"]}

    def test_a_note_is_announced_as_a_note(self, ana, minji, ticket):
        ana_headers = session_headers(ana.user)
        minji_headers = session_headers(minji.user)

        async def scenario():
            first = presence_socket(ana_headers, ticket.id)
            await first.connect()
            await first.receive_json_from(timeout=TIMEOUT)
            second = presence_socket(minji_headers, ticket.id)
            await second.connect()
            await first.receive_json_from(timeout=TIMEOUT)  # viewing
            await second.send_json_to({"type": "typing", "kind": "note"})
            typing = await first.receive_json_from(timeout=TIMEOUT)
            await second.disconnect()
            await first.disconnect()
            return typing

        assert async_to_sync(scenario)()["kind"] == "note"

    def test_malformed_frames_are_ignored_and_the_socket_stays(self, ana, ticket):
        headers = session_headers(ana.user)

        async def scenario():
            socket = presence_socket(headers, ticket.id)
            await socket.connect()
            await socket.receive_json_from(timeout=TIMEOUT)
            await socket.send_to(text_data="{not json")
            await socket.send_to(text_data=json.dumps([1, 2]))
            await socket.send_to(text_data="x" * 5000)
            await socket.send_json_to({"type": "ping"})
            pong = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.disconnect()
            return pong

        assert async_to_sync(scenario)() == {"type": "pong"}

    def test_another_pods_agent_is_refused_before_accept(self, ticket):
        outsider = factories.agent(pod=factories.staffed_pod(size=2))
        headers = session_headers(outsider.user)

        async def scenario():
            socket = presence_socket(headers, ticket.id)
            connected, code = await socket.connect()
            await socket.disconnect()
            return connected, code

        assert async_to_sync(scenario)() == (False, 4404)

    def test_a_missing_ticket_looks_the_same(self, ana):
        headers = session_headers(ana.user)

        async def scenario():
            socket = presence_socket(headers, 999_999)
            result = await socket.connect()
            await socket.disconnect()
            return result

        assert async_to_sync(scenario)() == (False, 4404)

    def test_signed_out_and_role_without_tickets_are_refused(self, ticket):
        nobody = factories.user()  # no role: no ticket permission at all

        async def scenario(headers):
            socket = presence_socket(headers, ticket.id)
            result = await socket.connect()
            await socket.disconnect()
            return result

        anonymous = async_to_sync(scenario)([ORIGIN, (b"host", b"127.0.0.1")])
        roleless = async_to_sync(scenario)(session_headers(nobody))

        assert anonymous == (False, 4401)
        assert roleless == (False, 4403)

    def test_an_invited_colleague_from_another_pod_joins(self, ana, ticket):
        outsider = factories.agent(pod=factories.staffed_pod(size=2))
        tickets.services.collaborator_invite(
            ticket=ticket,
            agent_id=outsider.id,
            invited_by_id=ana.id,
            now=timezone.now(),
        )
        headers = session_headers(outsider.user)

        async def scenario():
            socket = presence_socket(headers, ticket.id)
            connected, _ = await socket.connect()
            await socket.disconnect()
            return connected

        assert async_to_sync(scenario)() is True


@pytest.mark.browser
class TestTwoAgentsInTheBrowser:
    def test_see_each_other_and_the_second_reply_asks_first(
        self, asgi_server, browser, ana, minji, ticket
    ):
        contexts = [browser.new_context(base_url=asgi_server.url) for _ in range(2)]
        for context in contexts:
            context.set_default_timeout(LIVE_TIMEOUT_MS)
        ana_page, minji_page = (context.new_page() for context in contexts)
        for page, username in ((ana_page, "ana"), (minji_page, "minji")):
            sign_in(page, username)
            page.goto(f"/tickets/{ticket.id}/")
            page.wait_for_function("document.body.dataset.presence === 'connected'")

        expect(ana_page.locator("#presence")).to_contain_text("Minji Kim is viewing")
        expect(minji_page.locator("#presence")).to_contain_text("Ana Lee is viewing")

        minji_page.locator("#composer-text").press_sequentially("We have refunded")
        expect(ana_page.locator("#presence")).to_contain_text(
            "Minji Kim is typing a reply…"
        )
        ana_page.keyboard.press("r")
        ana_page.keyboard.type("I will refund you today.")
        minji_page.locator("#composer-text").press("Control+Enter")
        expect(minji_page.locator("#ticket-notice")).to_contain_text("Reply sent.")
        # Ana's conversation shows Minji's reply live, without a reload.
        expect(ana_page.locator("#thread")).to_contain_text("We have refunded")

        ana_page.locator("#composer-text").press("Control+Enter")

        prompt = ana_page.locator("#composer-alert")
        expect(prompt).to_contain_text("Minji Kim replied while you were writing")
        expect(prompt).to_contain_text("We have refunded")
        expect(ana_page.locator("#composer-text")).to_have_value(
            "I will refund you today."
        )
        prompt.get_by_role("button", name="Send anyway").click()
        expect(ana_page.locator("#ticket-notice")).to_contain_text("Reply sent.")
        expect(ana_page.locator("#thread")).to_contain_text("I will refund you today.")
        expect(prompt).to_be_empty()
        replies = ticket_replies(ticket.id)
        assert replies == ["We have refunded", "I will refund you today."]

        minji_page.close()
        expect(ana_page.locator("#presence")).to_be_hidden()
        for context in contexts:
            context.close()


def ticket_replies(ticket_id: int) -> list[str]:
    from tickets.models import Message

    return list(
        Message.objects.filter(ticket_id=ticket_id, direction="OUTBOUND")
        .order_by("id")
        .values_list("text", flat=True)
    )
