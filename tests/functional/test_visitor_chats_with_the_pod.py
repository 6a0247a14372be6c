"""A visitor on a site that embeds the chat widget talks live with the pod that
owns them: over a real websocket through the ASGI application and the channel
layer in use (in-memory, or Redis on the real stack), and in headless Chromium
from the demo page and from a foreign site under a strict CSP."""

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.core import mail, signing
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

import pods.services
import tickets.services
from helpdesk.asgi import application
from pods.models import Agent
from tests import factories
from tests.functional.test_staff_receive_live_notifications import session_headers
from tickets import rules
from tickets.models import ChatSession, InboundEnvelope, Message, Ticket
from tickets.views import chat as chat_views

HOST = "127.0.0.1"
ORIGIN = f"http://{HOST}"
TIMEOUT = 5  # seconds for one frame


def fresh_address() -> str:
    """An address no earlier run used in this window: the rate limit's counter
    lives in the shared cache (Redis on the real stack)."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250}"


def chat_start(
    *,
    origin: str | None = ORIGIN,
    address: str | None = None,
    forwarded: str | None = None,
    **visitor,
) -> tuple[int, dict, object]:
    """POST /chat/session/ as the widget does."""
    client = Client(REMOTE_ADDR=address or fresh_address())
    headers = {"HTTP_HOST": HOST}
    if origin is not None:
        headers["HTTP_ORIGIN"] = origin
    if forwarded is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded
    response = client.post(
        "/chat/session/",
        data=json.dumps(visitor),
        content_type="application/json",
        **headers,
    )
    return response.status_code, response.json(), response


def visitor_socket(token: str, *, origin: str = ORIGIN) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/chat/?token={token}",
        headers=[(b"origin", origin.encode()), (b"host", HOST.encode())],
    )


def agent_socket(headers, path: str) -> WebsocketCommunicator:
    """A socket of a signed-in agent (headers from session_headers)."""
    return WebsocketCommunicator(application, path, headers=headers)


async def frames_until(socket, frame_type: str, *, kind: str | None = None) -> dict:
    """The next frame of a type (and notify kind), skipping others."""
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame.get("type") == frame_type and kind in (None, frame.get("kind")):
            return frame


def reply(ticket_id: int, agent_id: int, text: str) -> Message:
    """An agent's reply, as the workspace will send it."""
    return tickets.services.message_reply(
        ticket=Ticket.objects.get(id=ticket_id),
        agent_id=agent_id,
        text=text,
        now=timezone.now(),
    )


@pytest.mark.django_db(transaction=True)
class TestVisitorChatsOverTheSocket:
    def test_messages_typing_and_replies_flow_both_ways(self):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod)
        headers = session_headers(agent.user)
        status, started, _ = chat_start(name="Ann")

        async def scenario():
            visitor = visitor_socket(started["token"])
            connected, _ = await visitor.connect()
            hello = await visitor.receive_json_from(timeout=TIMEOUT)
            staff = agent_socket(headers, "/ws/notifications/")
            await staff.connect()
            await frames_until(staff, "hello")
            typist = agent_socket(headers, "/ws/chat/agent/")
            await typist.connect()

            await visitor.send_json_to(
                {"type": "message", "text": "My meter is broken", "client_id": "c1"}
            )
            ack = await frames_until(visitor, "ack")
            echo = await frames_until(visitor, "message")
            created = await frames_until(staff, "notify", kind="message.created")

            await visitor.send_json_to({"type": "typing"})
            visitor_typing = await frames_until(staff, "notify", kind="chat.typing")

            await typist.send_json_to(
                {"type": "typing", "ticket_id": created["ticket_id"]}
            )
            agent_typing = await frames_until(visitor, "typing")

            sent = await database_sync_to_async(reply)(
                created["ticket_id"], agent.id, "Sorry! Sending someone today."
            )
            answer = await frames_until(visitor, "message")
            for socket in (visitor, staff, typist):
                await socket.disconnect()
            return (
                connected,
                hello,
                ack,
                echo,
                created,
                visitor_typing,
                agent_typing,
                sent,
                answer,
            )

        (
            connected,
            hello,
            ack,
            echo,
            created,
            visitor_typing,
            agent_typing,
            sent,
            answer,
        ) = async_to_sync(scenario)()

        assert status == 201
        assert connected
        assert hello == {
            "type": "hello",
            "state": "ACTIVE",
            "agents_online": True,
            "email_needed": False,
            "email": "",
        }
        message = Message.objects.get(direction=Message.Direction.INBOUND)
        assert (message.channel, message.text) == ("CHAT", "My meter is broken")
        assert message.ticket.pod_id == pod.id
        assert ack == {
            "type": "ack",
            "client_id": "c1",
            "id": message.id,
            "duplicate": False,
        }
        assert (echo["from"], echo["id"], echo["client_id"]) == (
            "visitor",
            message.id,
            "c1",
        )
        assert created["ticket_id"] == message.ticket_id
        assert visitor_typing["ticket_id"] == message.ticket_id
        assert agent_typing == {"type": "typing", "from": "agent"}
        assert answer == {
            "type": "message",
            "from": "agent",
            "id": sent.id,
            "text": "Sorry! Sending someone today.",
            "author": agent.user.first_name,
            "at": sent.created_at.isoformat(),
        }
        sent.refresh_from_db()
        assert sent.delivery == Message.Delivery.SENT
        assert InboundEnvelope.objects.get().source == InboundEnvelope.Source.CHAT

    def test_after_a_reconnect_nothing_is_missed_or_doubled(self):
        pod = factories.staffed_pod(size=2)
        _, started, _ = chat_start()

        async def scenario():
            first = visitor_socket(started["token"])
            await first.connect()
            await first.receive_json_from(timeout=TIMEOUT)
            await first.send_json_to(
                {"type": "message", "text": "Hello", "client_id": "c1"}
            )
            ack = await frames_until(first, "ack")
            await first.disconnect()

            ticket_id = await database_sync_to_async(
                lambda: Message.objects.get(id=ack["id"]).ticket_id
            )()
            missed = await database_sync_to_async(reply)(
                ticket_id, pod.lead_id, "Replied while you were away"
            )

            again = visitor_socket(started["token"])
            await again.connect()
            await again.receive_json_from(timeout=TIMEOUT)
            await again.send_json_to({"type": "history", "after": ack["id"]})
            history = await frames_until(again, "history")
            # The widget never heard the ack of a resend: it sends it again.
            await again.send_json_to(
                {"type": "message", "text": "Hello", "client_id": "c1"}
            )
            resent = await frames_until(again, "ack")
            await again.disconnect()
            return ack, missed, history, resent

        ack, missed, history, resent = async_to_sync(scenario)()

        assert [frame["id"] for frame in history["messages"]] == [missed.id]
        assert history["messages"][0]["text"] == "Replied while you were away"
        assert history["more"] is False
        assert resent == {
            "type": "ack",
            "client_id": "c1",
            "id": ack["id"],
            "duplicate": True,
        }
        assert Message.objects.filter(direction=Message.Direction.INBOUND).count() == 1

    def test_empty_too_long_and_malformed_frames_get_clear_errors(self):
        factories.staffed_pod(size=2)
        _, started, _ = chat_start()

        async def scenario():
            socket = visitor_socket(started["token"])
            await socket.connect()
            await socket.receive_json_from(timeout=TIMEOUT)
            errors = []
            for frame in (
                {"type": "message", "text": "  ", "client_id": "c1"},
                {"type": "message", "text": "x" * 5001, "client_id": "c2"},
                {"type": "message", "text": "hi", "client_id": "not ok!"},
                {"type": "history", "after": "yesterday"},
                {"type": "dance"},
            ):
                await socket.send_json_to(frame)
                errors.append(await socket.receive_json_from(timeout=TIMEOUT))
            await socket.send_to(text_data="{not json")
            errors.append(await socket.receive_json_from(timeout=TIMEOUT))
            await socket.send_json_to({"type": "ping"})
            pong = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.disconnect()
            return errors, pong

        errors, pong = async_to_sync(scenario)()

        assert [(error["type"], error["code"]) for error in errors] == [
            ("error", "empty"),
            ("error", "too_long"),
            ("error", "bad_client_id"),
            ("error", "malformed"),
            ("error", "unknown_type"),
            ("error", "malformed"),
        ]
        assert errors[1]["client_id"] == "c2"
        assert "5000" in errors[1]["message"]
        assert pong == {"type": "pong"}  # still connected
        assert not InboundEnvelope.objects.exists()
        assert not Message.objects.exists()

    def test_nobody_online_the_visitor_is_told_and_the_chat_goes_to_email(self):
        pod = factories.pod()
        agent = factories.agent(pod=pod, presence=Agent.Presence.OFFLINE)
        _, started, _ = chat_start(name="Ann")

        async def scenario():
            socket = visitor_socket(started["token"])
            await socket.connect()
            hello = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.send_json_to(
                {"type": "message", "text": "Anyone there?", "client_id": "c1"}
            )
            ack = await frames_until(socket, "ack")
            await socket.send_json_to(
                {"type": "email", "email": "ann@customer.example"}
            )
            status = await frames_until(socket, "status")
            await socket.disconnect()
            return hello, ack, status

        hello, ack, status = async_to_sync(scenario)()

        assert (started["agents_online"], started["email_needed"]) == (False, True)
        assert (hello["agents_online"], hello["email_needed"]) == (False, True)
        assert status == {
            "type": "status",
            "state": "EMAILED",
            "agents_online": False,
            "email_needed": False,
            "email": "ann@customer.example",
        }
        ticket_id = Message.objects.get(id=ack["id"]).ticket_id
        sent = reply(ticket_id, agent.id, "Back now; here is the answer.")
        assert sent.channel == "EMAIL"
        assert [email.recipients() for email in mail.outbox] == [
            ["ann@customer.example"]
        ]

    def test_agent_typing_reaches_only_chats_of_their_pod(self):
        factories.staffed_pod(size=2)
        elsewhere = factories.staffed_pod(size=2)
        pods.services.pods_accepting_set(pod_ids=[elsewhere.id], accepting=False)
        outsider = factories.agent(pod=elsewhere)
        headers = session_headers(outsider.user)
        _, started, _ = chat_start()

        async def scenario():
            visitor = visitor_socket(started["token"])
            await visitor.connect()
            await visitor.receive_json_from(timeout=TIMEOUT)
            await visitor.send_json_to(
                {"type": "message", "text": "Hello", "client_id": "c1"}
            )
            ack = await frames_until(visitor, "ack")
            await frames_until(visitor, "message")
            ticket_id = await database_sync_to_async(
                lambda: Message.objects.get(id=ack["id"]).ticket_id
            )()
            typist = agent_socket(headers, "/ws/chat/agent/")
            await typist.connect()
            await typist.send_json_to({"type": "typing", "ticket_id": ticket_id})
            refused = await typist.receive_json_from(timeout=TIMEOUT)
            nothing = await visitor.receive_nothing(timeout=0.3)
            for socket in (visitor, typist):
                await socket.disconnect()
            return refused, nothing

        refused, nothing = async_to_sync(scenario)()

        assert refused == {"type": "error", "code": "not_found"}
        assert nothing


@pytest.mark.django_db(transaction=True)
class TestVisitorSocketIsRefused:
    def connect(self, path_token: str, *, origin: str = ORIGIN):
        async def scenario():
            socket = visitor_socket(path_token, origin=origin)
            connected, code = await socket.connect()
            await socket.disconnect()
            return connected, code

        return async_to_sync(scenario)()

    def test_without_a_valid_token_before_accept(self):
        factories.staffed_pod(size=2)
        _, started, _ = chat_start()
        session_id = started["session"]

        class Yesterday(signing.TimestampSigner):
            def timestamp(self):
                return signing.b62_encode(int(time.time()) - 25 * 3600)

        tokens = {
            "missing": "",
            "garbage": "not-a-token",
            "tampered": started["token"][:-2] + "xx",
            "another salt": signing.TimestampSigner(salt="other").sign(session_id),
            "expired": Yesterday(salt=rules.VISITOR_TOKEN_SALT).sign(session_id),
            "unknown session": signing.TimestampSigner(
                salt=rules.VISITOR_TOKEN_SALT
            ).sign(str(uuid.uuid4())),
        }

        results = {name: self.connect(token) for name, token in tokens.items()}

        assert results == dict.fromkeys(tokens, (False, 4401))
        assert self.connect(started["token"]) == (True, None)

    def test_the_agent_side_needs_a_signed_in_user(self):
        async def scenario():
            socket = WebsocketCommunicator(
                application,
                "/ws/chat/agent/",
                headers=[(b"origin", ORIGIN.encode()), (b"host", HOST.encode())],
            )
            connected, code = await socket.connect()
            await socket.disconnect()
            return connected, code

        assert async_to_sync(scenario)() == (False, 4401)

    def test_from_a_site_not_allowed_to_embed_the_widget(self, settings):
        factories.staffed_pod(size=2)
        _, started, _ = chat_start()
        settings.HELPDESK_CHAT_ALLOWED_ORIGINS = ["https://shop.example"]

        refused = self.connect(started["token"], origin="https://evil.example")
        listed = self.connect(started["token"], origin="https://shop.example")

        assert refused == (False, 4403)
        assert listed == (True, None)


@pytest.mark.django_db
class TestChatSessionEndpoint:
    def test_answers_a_token_for_the_session_and_the_socket_to_open(self):
        factories.staffed_pod(size=2)

        status, body, response = chat_start(name="Ann", email="ann@customer.example")

        session = ChatSession.objects.get()
        assert status == 201
        assert body["session"] == str(session.public_id)
        assert (
            signing.TimestampSigner(salt=rules.VISITOR_TOKEN_SALT).unsign(
                body["token"], max_age=rules.VISITOR_TOKEN_MAX_AGE
            )
            == body["session"]
        )
        assert body["websocket"] == f"ws://{HOST}/ws/chat/"
        assert body["expires_in"] == 24 * 3600
        assert (body["state"], body["agents_online"], body["email"]) == (
            "ACTIVE",
            True,
            "ann@customer.example",
        )
        assert (session.visitor_name, session.origin) == ("Ann", ORIGIN)
        assert response["Cache-Control"] == "no-store"
        assert response["Access-Control-Allow-Origin"] == ORIGIN

    def test_a_listed_site_may_call_it_across_origins(self, settings):
        settings.HELPDESK_CHAT_ALLOWED_ORIGINS = ["https://shop.example"]
        client = Client()

        preflight = client.options(
            "/chat/session/",
            HTTP_HOST=HOST,
            HTTP_ORIGIN="https://shop.example",
            HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        )

        assert preflight.status_code == 204
        assert preflight["Access-Control-Allow-Origin"] == "https://shop.example"
        assert preflight["Access-Control-Allow-Methods"] == "POST"
        assert preflight["Access-Control-Allow-Headers"] == "Content-Type"
        assert not ChatSession.objects.exists()

    @pytest.mark.parametrize("origin", ["https://evil.example", None])
    def test_refuses_a_site_not_listed_and_stores_nothing(self, origin):
        factories.staffed_pod(size=2)

        status, body, response = chat_start(origin=origin)

        assert status == 403
        assert body["error"]["code"] == "origin_refused"
        assert "Access-Control-Allow-Origin" not in response
        assert not ChatSession.objects.exists()

    def test_limits_the_chats_one_address_starts(self, monkeypatch):
        factories.staffed_pod(size=2)
        monkeypatch.setattr(chat_views, "SESSIONS_PER_WINDOW", 2)
        address = fresh_address()

        answers = [chat_start(address=address) for _ in range(3)]
        other = chat_start()

        assert [status for status, _, _ in answers] == [201, 201, 429]
        _, body, response = answers[2]
        assert body["error"]["code"] == "too_many_sessions"
        assert 0 < int(response["Retry-After"]) <= chat_views.WINDOW_SECONDS
        assert other[0] == 201
        assert ChatSession.objects.count() == 3

    def test_behind_our_proxy_counts_the_address_the_proxy_saw(
        self, monkeypatch, settings
    ):
        factories.staffed_pod(size=2)
        settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
        monkeypatch.setattr(chat_views, "SESSIONS_PER_WINDOW", 1)
        proxy, visitor = fresh_address(), fresh_address()

        # The visitor makes up a first entry each time; the proxy appends theirs.
        answers = [
            chat_start(address=proxy, forwarded=f"{made_up}, {visitor}")
            for made_up in ("192.0.2.1", "192.0.2.2")
        ]
        neighbour = chat_start(address=proxy, forwarded=fresh_address())

        assert [status for status, _, _ in answers] == [201, 429]
        assert neighbour[0] == 201

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (b"[1]", "malformed"),
            (b"{nope", "malformed"),
            (b'{"name": 7}', "malformed"),
            (b'{"email": "ann@"}', "invalid_email"),
        ],
    )
    def test_refuses_a_malformed_body_or_email_storing_nothing(self, body, code):
        factories.staffed_pod(size=2)

        response = Client(REMOTE_ADDR=fresh_address()).post(
            "/chat/session/",
            data=body,
            content_type="application/json",
            HTTP_HOST=HOST,
            HTTP_ORIGIN=ORIGIN,
        )

        assert response.status_code == 400
        assert response.json()["error"]["code"] == code
        assert not ChatSession.objects.exists()

    def test_only_post_starts_a_chat(self):
        response = Client().get("/chat/session/", HTTP_HOST=HOST, HTTP_ORIGIN=ORIGIN)

        assert response.status_code == 405


@pytest.mark.django_db
class TestDemoPage:
    def test_embeds_the_widget_with_one_script_tag_and_nothing_inline(self):
        response = Client().get("/chat/demo/", HTTP_HOST=HOST)

        page = response.content.decode()
        assert response.status_code == 200
        assert (
            f'<script src="{ORIGIN}/static/chat/widget.js" '
            f'data-helpdesk="{ORIGIN}" async></script>'
        ) in page
        assert all(" src=" in tag for tag in re.findall(r"<script[^>]*>", page))
        assert "<style" not in page
        assert " style=" not in page


# --- In the browser -------------------------------------------------------------------


def chat_host(page):
    return page.locator("#helpdesk-chat")


def visitor_writes(page, text: str) -> None:
    page.get_by_role("button", name="Chat").click()
    page.get_by_label("Your name (optional)").fill("Ann")
    page.get_by_role("button", name="Start chat").click()
    expect(chat_host(page)).to_have_attribute("data-connection", "connected")
    composer = page.get_by_role("textbox", name="Message")
    composer.fill(text)
    composer.press("Enter")
    expect(page.get_by_role("log").locator(".message--pending")).to_have_count(0)


def wait_for_ticket(text: str, *, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = Message.objects.filter(text=text).values_list("ticket_id").first()
        if found:
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"no message {text!r} was stored")


def agent_answers(asgi_server, *, ticket_id: int, agent_id: int, text: str) -> None:
    """Reply as an agent would, on the server's event loop: the in-memory channel
    layer's queues belong to it."""
    asgi_server.run(database_sync_to_async(reply)(ticket_id, agent_id, text))


@pytest.mark.browser
class TestVisitorChatsInTheBrowser:
    def test_visitor_on_the_demo_page_sees_the_agent_typing_then_replying(
        self, page, asgi_server
    ):
        pod = factories.staffed_pod(size=2)
        page.goto("/chat/demo/")

        visitor_writes(page, "Hello, my meter is broken")

        ticket_id = wait_for_ticket("Hello, my meter is broken")
        session = ChatSession.objects.get(ticket_id=ticket_id)
        asgi_server.run(
            get_channel_layer().group_send(
                rules.chat_session_group(str(session.public_id)),
                {"type": "chat.typing", "from": "agent"},
            )
        )
        expect(page.get_by_text("An agent is typing…")).to_be_visible()
        agent_answers(
            asgi_server,
            ticket_id=ticket_id,
            agent_id=pod.lead_id,
            text="We are sending someone today.",
        )
        log = page.get_by_role("log")
        expect(log).to_contain_text("We are sending someone today.")
        expect(page.get_by_text("An agent is typing…")).to_be_hidden()

        # Keyboard: Escape closes the panel and gives focus back to the launcher.
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_be_hidden()
        expect(page.get_by_role("button", name="Chat")).to_be_focused()

        # A reload keeps the chat: the token is in this tab's sessionStorage.
        page.reload()
        page.get_by_role("button", name="Chat").click()
        expect(page.get_by_role("log")).to_contain_text("Hello, my meter is broken")
        expect(page.get_by_role("log")).to_contain_text("We are sending someone today.")
        assert Message.objects.filter(direction="INBOUND").count() == 1

    def test_a_foreign_site_with_a_strict_csp_embeds_the_widget(
        self, page, asgi_server, settings
    ):
        pod = factories.staffed_pod(size=2)
        helpdesk = asgi_server.url
        socket = helpdesk.replace("http://", "ws://")
        with shop_site(
            body=(
                "<!doctype html><html><head><title>Shop</title></head>"
                "<body><h1>Shop</h1>"
                f'<script src="{helpdesk}/static/chat/widget.js" '
                f'data-helpdesk="{helpdesk}" async></script></body></html>'
            ),
            # Nothing inline, nothing from anywhere but the helpdesk.
            policy=(
                "default-src 'none'; "
                f"script-src {helpdesk}; style-src {helpdesk}; "
                f"connect-src {helpdesk} {socket}"
            ),
        ) as shop:
            settings.HELPDESK_CHAT_ALLOWED_ORIGINS = [shop]
            violations = []
            page.on(
                "console",
                lambda message: (
                    violations.append(message.text)
                    if "Content Security Policy" in message.text
                    else None
                ),
            )
            page.goto(f"{shop}/")

            visitor_writes(page, "Hello from the shop")

            ticket_id = wait_for_ticket("Hello from the shop")
            agent_answers(
                asgi_server,
                ticket_id=ticket_id,
                agent_id=pod.lead_id,
                text="Hi, shopper!",
            )
            expect(page.get_by_role("log")).to_contain_text("Hi, shopper!")

        assert ChatSession.objects.get().origin == shop
        assert violations == []


@contextmanager
def shop_site(*, body: str, policy: str) -> Iterator[str]:
    """A customer's site on another origin (localhost, another port): one page
    served with the given Content-Security-Policy. On loopback like the helpdesk,
    so Chromium's private network checks stay out of the way."""
    page = body.encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", policy)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
