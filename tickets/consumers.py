"""Live chat over websockets: the visitor's widget, on any site that embeds it,
and the typing of agents who answer.

The visitor socket holds no staff session and sits outside the ALLOWED_HOSTS
origin check: it is authorised by the signed visitor token in its query string,
and its Origin must be the helpdesk itself or a site listed in
HELPDESK_CHAT_ALLOWED_ORIGINS. Both are checked before accept (4403 for the
origin, 4401 for the token).

Frames from the widget: message {text, client_id}, typing, history {after},
email {email}, ping. Frames to it: hello and status (the chat's state), message
(from "visitor" or "agent"), ack {client_id, id, duplicate}, history
{messages, more}, typing, error {code, message, client_id}, pong."""

import json
import time
from collections import deque
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core import signing
from django.utils import timezone

from tickets import rules, selectors, services
from tickets.models import Message

MAX_FRAME_CHARS = 64 * 1024  # a 5,000-character message JSON-escaped, with room
MESSAGES_PER_MINUTE = 30  # a person typing fast; more is a script
TYPING_EVERY_SECONDS = 2.0  # typing is forwarded at most this often


def visitor_session_id(token: str) -> str | None:
    """The public id of the session the token was signed for; None when the
    token is missing, forged or older than a day."""
    try:
        return signing.TimestampSigner(salt=rules.VISITOR_TOKEN_SALT).unsign(
            token, max_age=rules.VISITOR_TOKEN_MAX_AGE
        )
    except signing.BadSignature:  # SignatureExpired is one too
        return None


def chat_allowed_origins() -> list[str]:
    return list(getattr(settings, "HELPDESK_CHAT_ALLOWED_ORIGINS", ()))


def status_frame(status: selectors.ChatStatus) -> dict:
    return {
        "state": status.state,
        "agents_online": status.agents_online,
        "email_needed": status.email_needed,
        "email": status.visitor_email,
    }


def message_frame(message: Message) -> dict:
    """A message as the visitor sees it. Call where the author is loaded."""
    inbound = message.direction == Message.Direction.INBOUND
    frame = {
        "from": "visitor" if inbound else "agent",
        "id": message.id,
        "text": message.text,
        "at": message.created_at.isoformat(),
    }
    if inbound:
        frame["client_id"] = message.headers.get("chat_client_id", "")
    elif message.author_agent is not None:
        frame["author"] = message.author_agent.user.first_name
    return frame


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


class _Budget:
    """At most `count` events in any `seconds`, on the monotonic clock."""

    def __init__(self, *, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds
        self.times: deque[float] = deque()

    def spend(self) -> bool:
        now = time.monotonic()
        while self.times and now - self.times[0] >= self.seconds:
            self.times.popleft()
        if len(self.times) >= self.count:
            return False
        self.times.append(now)
        return True


class ChatVisitorConsumer(AsyncJsonWebsocketConsumer):
    public_id = ""
    group = ""

    async def connect(self) -> None:
        if not rules.chat_origin_allowed(
            origin=_header(self.scope, b"origin"),
            host=_header(self.scope, b"host") or "",
            allowed=chat_allowed_origins(),
        ):
            await self.close(code=4403)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin1"))
        public_id = visitor_session_id(query.get("token", [""])[0])
        if public_id is None:
            await self.close(code=4401)
            return
        try:
            status = await database_sync_to_async(services.chat_session_join)(
                public_id=public_id, now=timezone.now()
            )
        except services.ChatSessionUnknown:
            await self.close(code=4401)
            return
        self.public_id = public_id
        self.group = rules.chat_session_group(public_id)
        self.status = status
        self.messages = _Budget(count=MESSAGES_PER_MINUTE, seconds=60)
        self.typing = _Budget(count=1, seconds=TYPING_EVERY_SECONDS)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", **status_frame(status)})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # Parsed here rather than by the JSON consumer: a malformed frame earns an
        # error frame, not a dropped connection.
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self.send_error("malformed", "send JSON text frames under 64 KB")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("malformed", "the frame is not JSON")
            return
        if not isinstance(content, dict):
            await self.send_error("malformed", "the frame is not a JSON object")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        handlers = {
            "message": self.visitor_message,
            "typing": self.visitor_typing,
            "history": self.history,
            "email": self.email,
            "ping": self.ping,
        }
        handler = handlers.get(content.get("type"))
        if handler is None:
            await self.send_error("unknown_type", "unknown frame type")
            return
        await handler(content)

    async def visitor_message(self, content: dict) -> None:
        client_id = content.get("client_id")
        client_id = client_id if isinstance(client_id, str) else None
        if not self.messages.spend():
            await self.send_error(
                "slow_down", "too many messages; wait a moment", client_id=client_id
            )
            return
        try:
            received, frame = await self.message_store(
                client_id=client_id, text=content.get("text")
            )
        except services.ChatRefused as exc:
            await self.send_error(exc.code, str(exc), client_id=client_id)
            return
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "id": received.message.id,
                "duplicate": received.duplicate,
            }
        )
        if not received.duplicate:
            # The visitor's other tabs of the same chat show it too.
            await self.channel_layer.group_send(
                self.group, {"type": "chat.message", **frame}
            )
        await self.status_send(received.status)

    @database_sync_to_async
    def message_store(self, *, client_id, text) -> tuple:
        received = services.chat_message_receive(
            public_id=self.public_id, client_id=client_id, text=text, now=timezone.now()
        )
        return received, message_frame(received.message)

    async def visitor_typing(self, content: dict) -> None:
        if self.typing.spend():
            await database_sync_to_async(services.chat_typing_announce)(
                public_id=self.public_id
            )

    async def history(self, content: dict) -> None:
        after = content.get("after", 0)
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            await self.send_error("malformed", "after must be a message id or 0")
            return
        frames = await self.history_frames(after=after)
        await self.send_json(
            {
                "type": "history",
                "after": after,
                "messages": frames,
                "more": len(frames) == selectors.CHAT_HISTORY_PAGE,
            }
        )

    @database_sync_to_async
    def history_frames(self, *, after: int) -> list[dict]:
        session = selectors.chat_session(public_id=self.public_id)
        if session is None:
            return []
        return [
            message_frame(message)
            for message in selectors.chat_history(session=session, after=after)
        ]

    async def email(self, content: dict) -> None:
        email = content.get("email")
        if not self.messages.spend():
            await self.send_error("slow_down", "too many attempts; wait a moment")
            return
        if not isinstance(email, str):
            await self.send_error("invalid_email", "email must be a string")
            return
        try:
            status = await database_sync_to_async(services.chat_email_provide)(
                public_id=self.public_id, email=email, now=timezone.now()
            )
        except services.ChatRefused as exc:
            await self.send_error(exc.code, str(exc))
            return
        await self.status_send(status, always=True)

    async def ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def status_send(self, status: selectors.ChatStatus, always=False) -> None:
        """Tell the widget the chat's status when it changed (or when asked)."""
        if always or status != self.status:
            self.status = status
            await self.send_json({"type": "status", **status_frame(status)})

    async def send_error(
        self, code: str, message: str, *, client_id: str | None = None
    ) -> None:
        frame = {"type": "error", "code": code, "message": message}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send_json(frame)

    # --- Events from the session's group -----------------------------------------

    async def chat_message(self, event: dict) -> None:
        await self.send_json(
            {key: value for key, value in event.items() if key != "type"}
            | {"type": "message"}
        )

    async def chat_typing(self, event: dict) -> None:
        await self.send_json({"type": "typing", "from": event.get("from", "agent")})


class ChatAgentConsumer(AsyncJsonWebsocketConsumer):
    """An agent's side of chats: their typing on a ticket reaches the visitor.
    Behind the staff stack (session sign-in, ALLOWED_HOSTS origins)."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        self.typing = _Budget(count=1, seconds=TYPING_EVERY_SECONDS)
        await self.accept()

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})
        elif content.get("type") == "typing":
            await self.agent_typing(content.get("ticket_id"))

    async def agent_typing(self, ticket_id) -> None:
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int):
            await self.send_json({"type": "error", "code": "malformed"})
            return
        if not self.typing.spend():
            return
        groups = await self.typing_groups(ticket_id=ticket_id)
        if groups is None:
            await self.send_json({"type": "error", "code": "not_found"})
            return
        for group in groups:
            await self.channel_layer.group_send(
                group, {"type": "chat.typing", "from": "agent"}
            )

    @database_sync_to_async
    def typing_groups(self, *, ticket_id: int) -> list[str] | None:
        """The groups of the ticket's chats, or None when the agent may not work
        on the ticket (another pod's ticket looks like a missing one)."""
        ticket = selectors.ticket_current(ticket_id=ticket_id)
        if ticket is None or not self.scope["user"].has_perm(
            "tickets.change_ticket", ticket
        ):
            return None
        return [
            rules.chat_session_group(public_id)
            for public_id in selectors.chat_session_ids_of_ticket(ticket_id=ticket.id)
        ]


# --- Who is on a ticket: the workspace's presence and collision warnings ----------

PRESENCE_FRAME_CHARS = 1024  # typing, changed and ping are a few bytes each
CHANGES_PER_WINDOW = 10  # "changed" relays per window: a page saving, not a loop
CHANGES_WINDOW_SECONDS = 10.0


def ticket_group(ticket_id: int) -> str:
    return f"ticket.{ticket_id}"


class TicketPresenceConsumer(AsyncJsonWebsocketConsumer):
    """Who else is on a ticket's page, live, so two agents do not answer the
    customer twice. Each page's socket joins the ticket's group and announces
    its agent viewing, typing (throttled; a reply or a note), having changed
    the ticket (the other pages refresh) and leaving; a newcomer learns who is
    already there from their answers. Behind the staff stack (session sign-in,
    ALLOWED_HOSTS origins), and refused before accept unless the user may see
    the ticket: 4401 signed out, 4403 no permission to see tickets at all, 4404
    a missing ticket or another pod's (the two look the same, as on pages).

    Frames from the page: typing {kind: "reply"|"note"}, changed, ping. Frames
    to it: hello {sid}, viewing {sid, user_id, name}, typing {sid, user_id,
    name, kind}, left {sid}, changed {sid}, pong. `sid` tells connections
    apart (one agent may have the ticket open in two tabs)."""

    group = ""
    sid = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=4401)
            return
        refusal, ticket_id, name = await self.ticket_of_page(
            ticket_id=self.scope["url_route"]["kwargs"]["ticket_id"]
        )
        if refusal:
            await self.close(code=refusal)
            return
        import secrets  # here, not above: this section is appended to the module

        self.sid = secrets.token_hex(8)
        self.group = ticket_group(ticket_id)
        self.me = {"sid": self.sid, "user_id": user.pk, "name": name}
        self.typing = _Budget(count=1, seconds=TYPING_EVERY_SECONDS)
        self.changes = _Budget(count=CHANGES_PER_WINDOW, seconds=CHANGES_WINDOW_SECONDS)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "sid": self.sid})
        await self.channel_layer.group_send(
            self.group,
            {"type": "presence.joined", "reply_to": self.channel_name, **self.me},
        )

    @database_sync_to_async
    def ticket_of_page(self, *, ticket_id: int) -> tuple[int, int, str]:
        """(0, the ticket's id, the user's name) when the user may see the
        ticket (a merged one answers as the ticket it went into), else (the
        close code, 0, "")."""
        user = self.scope["user"]
        if not user.has_perm("tickets.view_ticket"):
            return 4403, 0, ""
        ticket = selectors.ticket_current(ticket_id=ticket_id)
        if ticket is None or not user.has_perm("tickets.view_ticket", ticket):
            return 4404, 0, ""
        return 0, ticket.id, user.get_full_name() or user.get_username()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_send(
                self.group, {"type": "presence.left", "sid": self.sid}
            )
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        # Parsed here: a malformed frame is ignored, not a dropped connection.
        if text_data is None or len(text_data) > PRESENCE_FRAME_CHARS:
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            return
        if isinstance(content, dict):
            await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind == "typing" and self.typing.spend():
            await self.channel_layer.group_send(
                self.group,
                {
                    "type": "presence.typing",
                    "kind": "note" if content.get("kind") == "note" else "reply",
                    **self.me,
                },
            )
        elif kind == "changed" and self.changes.spend():
            await self.channel_layer.group_send(
                self.group, {"type": "presence.changed", "sid": self.sid}
            )

    # --- Events from the ticket's group ------------------------------------------

    def _theirs(self, event: dict) -> bool:
        return event.get("sid") != self.sid

    @staticmethod
    def _person(event: dict) -> dict:
        return {
            "sid": event["sid"],
            "user_id": event["user_id"],
            "name": event["name"],
        }

    async def presence_joined(self, event: dict) -> None:
        if not self._theirs(event):
            return
        await self.send_json({"type": "viewing", **self._person(event)})
        # Tell the newcomer this page is here too.
        await self.channel_layer.send(
            event["reply_to"], {"type": "presence.here", **self.me}
        )

    async def presence_here(self, event: dict) -> None:
        await self.send_json({"type": "viewing", **self._person(event)})

    async def presence_typing(self, event: dict) -> None:
        if self._theirs(event):
            await self.send_json(
                {"type": "typing", "kind": event["kind"], **self._person(event)}
            )

    async def presence_left(self, event: dict) -> None:
        if self._theirs(event):
            await self.send_json({"type": "left", "sid": event["sid"]})

    async def presence_changed(self, event: dict) -> None:
        if self._theirs(event):
            await self.send_json({"type": "changed", "sid": event["sid"]})
