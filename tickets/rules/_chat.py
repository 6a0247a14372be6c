"""Live chat: what a visitor may send, what makes two sends the same message,
which sites may open the visitor socket, and the per-address session budget."""

import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_CHAT_TEXT = 5000  # characters; a chat line, not a document
# The signed visitor token: its salt keeps a signature made for anything else
# (cookies, password resets) from passing as one; it lives a day.
VISITOR_TOKEN_SALT = "tickets.chat.visitor"  # noqa: S105 - a namespace, not a secret
VISITOR_TOKEN_MAX_AGE = 24 * 60 * 60  # seconds
# The portal's identity token: a signed-in customer's page hands the widget
# their customer and email identity, so the chat starts as them. Its own salt:
# neither a visitor token nor any other signature passes as one. It lives long
# enough to read a page before asking, short enough to be useless once leaked;
# every page render signs a new one.
PORTAL_CHAT_TOKEN_SALT = "tickets.chat.portal-identity"  # noqa: S105 - a namespace
PORTAL_CHAT_TOKEN_MAX_AGE = 10 * 60  # seconds
# The widget names each message it sends; a reconnect resends under the same name.
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ChatLineInvalid(ValueError):
    """The visitor's message cannot be stored; `code` says why, for the widget."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ChatLine:
    """One message of a visitor, as stored in its envelope."""

    session: str
    client_id: str
    text: str


def chat_line_check(*, session: str, client_id: object, text: object) -> ChatLine:
    """Return the line as it will be stored (the text without surrounding blank
    space), or raise ChatLineInvalid."""
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise ChatLineInvalid(
            "bad_client_id", "client_id must be 1 to 64 letters, digits, - or _"
        )
    if not isinstance(text, str) or not text.strip():
        raise ChatLineInvalid("empty", "the message is empty")
    text = text.strip()
    if len(text) > MAX_CHAT_TEXT:
        raise ChatLineInvalid(
            "too_long",
            f"the message has {len(text)} characters; at most {MAX_CHAT_TEXT} fit",
        )
    return ChatLine(session=session, client_id=client_id, text=text)


def chat_line_encode(line: ChatLine) -> bytes:
    return json.dumps(
        {"session": line.session, "client_id": line.client_id, "text": line.text},
        ensure_ascii=False,
        sort_keys=True,
    ).encode("utf-8")


def chat_line_parse(raw: bytes) -> ChatLine:
    """Read a stored line back; raise ChatLineInvalid when it is not one."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ChatLineInvalid("malformed", "the chat line is not UTF-8 JSON") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("session"), str):
        raise ChatLineInvalid("malformed", "the chat line names no session")
    return chat_line_check(
        session=payload["session"],
        client_id=payload.get("client_id"),
        text=payload.get("text"),
    )


def chat_dedupe_key(*, session: str, client_id: str) -> str:
    """The key under which a visitor's message is stored once: a resend after a
    reconnect carries the same client id in the same session."""
    return hashlib.sha256(f"chat\0{session}\0{client_id}".encode()).hexdigest()


def chat_session_group(public_id: str) -> str:
    """The channel-layer group of a chat session's open widgets."""
    return f"chat.{public_id}"


def chat_origin_allowed(
    *, origin: str | None, host: str, allowed: Sequence[str]
) -> bool:
    """Whether a page from `origin` may start and hold a chat.

    The helpdesk's own pages (the origin's host is the request's Host) always
    may; other sites only when listed exactly (scheme, host and port, as a
    browser sends them: "https://shop.example") or when the list holds "*". A
    missing or opaque ("null") origin is refused unless the list holds "*"."""
    if "*" in allowed:
        return True
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    if parts.netloc == host.strip().lower():
        return True
    listed = {entry.strip().lower().rstrip("/") for entry in allowed}
    return f"{parts.scheme}://{parts.netloc}" in listed


@dataclass(frozen=True)
class RateWindow:
    index: int  # which fixed window `at` falls in
    retry_after: int  # whole seconds until the next window opens


def rate_window(*, at: float, seconds: int) -> RateWindow:
    """The fixed window of `seconds` that the instant `at` (a Unix time) is in."""
    index = math.floor(at / seconds)
    return RateWindow(
        index=index, retry_after=max(1, math.ceil((index + 1) * seconds - at))
    )
