"""The JSON payloads of the phone, SMS and social webhooks (docs/channels.md).

Each parser takes the raw body and returns a frozen value, or raises
PayloadInvalid (a ValueError) whose message names the field and says what it
must be: the webhook answers 400 with it and the envelope keeps it as the
reason. Unknown fields are ignored, so providers may send more than we read.
The same parser runs when the webhook accepts the body and when the envelope
is processed, so both always agree on what is valid.
"""

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import phonenumbers

MAX_TEXT_CHARS = 10_000
MAX_NAME_CHARS = 200
MAX_MEDIA_ITEMS = 10
MAX_URL_CHARS = 500
MAX_CALL_SECONDS = 7 * 24 * 3600  # longer is a provider's clock error, not a call
CALL_EVENTS = ("ringing", "answered", "ended", "missed")
CALL_STATES = {
    "ringing": "RINGING",
    "answered": "ANSWERED",
    "ended": "ENDED",
    "missed": "MISSED",
}
# A call only moves forward; ENDED and MISSED are both final, so whichever is
# recorded first stays.
CALL_STATE_ORDER = {"RINGING": 0, "ANSWERED": 1, "ENDED": 2, "MISSED": 2}

# Lower-case, no ":" so that "provider:..." keys and identities split unambiguously.
PROVIDER = re.compile(r"^[a-z0-9_-]{1,40}$")
# Provider ids (message ids, call ids, thread ids) are printable ASCII without
# spaces: what every provider issues, and safe in keys and logs.
PROVIDER_ID = re.compile(r"^[\x21-\x7e]+$")
# The part after "provider:" in a social identity (pods.rules.SOCIAL_IDENTITY).
SOCIAL_USER_ID = re.compile(r"^[\w.@+-]{1,200}$")
CONTENT_TYPE = re.compile(r"^[\w.+-]{1,50}/[\w.+-]{1,50}$")


class PayloadInvalid(ValueError):
    """The body is not a valid payload of its channel; the message says why."""


@dataclass(frozen=True)
class CallEvent:
    """One event of a phone call, as the telephony provider reported it."""

    event: str  # one of CALL_EVENTS
    call_id: str
    provider: str
    caller: str  # E.164
    callee: str  # E.164, or "" when not given
    agent_username: str = ""
    agent_id: int | None = None
    duration_seconds: int | None = None
    recording_url: str = ""
    occurred_at: datetime | None = None

    @property
    def state(self) -> str:
        return CALL_STATES[self.event]

    @property
    def envelope_key(self) -> str:
        """The envelope's external key: one envelope per event of a call. The
        provider has no ":" and the event is last, so no two calls share a key."""
        return f"{self.provider}:{self.call_id}:{self.event}"


@dataclass(frozen=True)
class MediaLink:
    url: str
    content_type: str


@dataclass(frozen=True)
class SmsMessage:
    """One text message from a customer's phone."""

    id: str
    provider: str
    sender: str  # E.164
    recipient: str  # E.164, or ""
    text: str
    received_at: datetime | None = None
    media: tuple[MediaLink, ...] = ()

    @property
    def envelope_key(self) -> str:
        return f"{self.provider}:{self.id}"


@dataclass(frozen=True)
class SocialMessage:
    """One direct message from a customer on a social network."""

    id: str
    provider: str
    sender_id: str
    handle: str
    name: str
    text: str
    thread_id: str = ""
    received_at: datetime | None = None

    @property
    def identity(self) -> str:
        """The customer's SOCIAL identity: the network's stable user id, never the
        handle, which its owner can change and someone else can then take."""
        return f"{self.provider}:{self.sender_id}"

    @property
    def envelope_key(self) -> str:
        return self.id


def call_event_parse(body: bytes, *, default_region: str) -> CallEvent:
    """Parse a call event of POST /inbound/phone/. Raises PayloadInvalid."""
    payload = _json_object(body)
    event = payload.get("event")
    if event not in CALL_EVENTS:
        raise PayloadInvalid(f"'event' must be one of {', '.join(CALL_EVENTS)}")
    agent_username, agent_id = _agent(payload.get("agent"))
    return CallEvent(
        event=event,
        call_id=_provider_id(payload, "call_id", max_chars=120),
        provider=_provider(payload),
        caller=_phone(payload, "from", default_region=default_region),
        callee=_phone(payload, "to", default_region=default_region, required=False),
        agent_username=agent_username,
        agent_id=agent_id,
        duration_seconds=_seconds(payload, "duration"),
        recording_url=_https_url(payload.get("recording_url"), "recording_url"),
        occurred_at=_moment(payload, "occurred_at"),
    )


def sms_parse(body: bytes, *, default_region: str) -> SmsMessage:
    """Parse a text message of POST /inbound/sms/. Raises PayloadInvalid."""
    payload = _json_object(body)
    media = _media(payload.get("media"))
    return SmsMessage(
        id=_provider_id(payload, "id", max_chars=200),
        provider=_provider(payload),
        sender=_phone(payload, "from", default_region=default_region),
        recipient=_phone(payload, "to", default_region=default_region, required=False),
        # A picture message may come without words.
        text=_text(payload, "text", required=not media),
        received_at=_moment(payload, "received_at"),
        media=media,
    )


def social_message_parse(body: bytes, *, provider: str) -> SocialMessage:
    """Parse a direct message of POST /inbound/social/<provider>/ (the provider
    comes from the URL: see social_provider_normalise). Raises PayloadInvalid."""
    payload = _json_object(body)
    sender = payload.get("from")
    if not isinstance(sender, dict):
        raise PayloadInvalid("'from' must be an object with 'id', 'handle', 'name'")
    sender_id = sender.get("id")
    if not isinstance(sender_id, str) or not SOCIAL_USER_ID.match(sender_id):
        raise PayloadInvalid(
            "'from.id' must be 1-200 letters, digits or . _ @ + - characters"
        )
    return SocialMessage(
        id=_provider_id(payload, "id", max_chars=200),
        provider=provider,
        sender_id=sender_id,
        handle=_short_text(sender, "handle", field_name="from.handle"),
        name=_short_text(sender, "name", field_name="from.name"),
        text=_text(payload, "text"),
        thread_id=_provider_id(payload, "thread_id", max_chars=200, required=False),
        received_at=_moment(payload, "received_at"),
    )


def social_provider_normalise(value: str) -> str:
    """The provider name of a social webhook URL, lower-cased; raises
    PayloadInvalid when it cannot name a provider."""
    provider = value.strip().lower()
    if not PROVIDER.match(provider):
        raise PayloadInvalid(
            "the provider must be 1-40 letters, digits, '-' or '_' characters"
        )
    return provider


def call_state_after(*, current: str, event: str) -> str:
    """The call's state once `event` is applied: a call never goes back (an
    'answered' that arrives after 'ended' leaves it ENDED), and the first final
    state stays."""
    target = CALL_STATES[event]
    if CALL_STATE_ORDER[target] > CALL_STATE_ORDER[current]:
        return target
    return current


@dataclass(frozen=True)
class CallFacts:
    """What is known of a call so far: its call record without the ids."""

    state: str
    started_at: datetime
    to_number: str = ""
    agent_id: int | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    recording_url: str = ""


def call_facts_apply(
    facts: CallFacts | None, *, event: CallEvent, at: datetime, agent_id: int | None
) -> CallFacts:
    """The call once `event` (seen at `at`, answered by `agent_id` if known) is
    applied to what was known (None: the first event seen of the call).

    Events come at least once each and in any order, so the order must not
    matter: the state only moves forward, the call started at the earliest
    moment seen, each time is set by its own event, and the agent named by
    'answered' wins over any other. Other facts (an agent named by no 'answered',
    the duration, the recording) keep the first value given."""
    if facts is None:
        facts = CallFacts(state=CALL_STATES["ringing"], started_at=at)
    answered = event.event == "answered"
    final = event.event in ("ended", "missed")
    if agent_id is None or (facts.agent_id is not None and not answered):
        agent_id = facts.agent_id
    return replace(
        facts,
        state=call_state_after(current=facts.state, event=event.event),
        started_at=min(facts.started_at, at),
        to_number=facts.to_number or event.callee,
        agent_id=agent_id,
        answered_at=at if answered and facts.answered_at is None else facts.answered_at,
        ended_at=at if final and facts.ended_at is None else facts.ended_at,
        duration_seconds=(
            event.duration_seconds
            if facts.duration_seconds is None
            else facts.duration_seconds
        ),
        recording_url=facts.recording_url or event.recording_url,
    )


def sms_text_with_media(*, text: str, media: tuple[MediaLink, ...]) -> str:
    """The message text with its media as links below it: the files are never
    fetched (their URLs are the sender's choice), an agent opens them if needed."""
    links = [f"[{item.content_type}] {item.url}" for item in media]
    return "\n".join(part for part in (text, *links) if part)


def conversation_subject(*, text: str, fallback: str) -> str:
    """A ticket subject for a conversation without one: its first line, cut at a
    word, or the fallback when it has no words."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if not first_line:
        return fallback
    if len(first_line) <= 80:
        return first_line
    return first_line[:80].rsplit(" ", 1)[0].rstrip() + "…"


# --- Fields -------------------------------------------------------------------------


def _json_object(body: bytes) -> dict:
    try:
        payload = json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys)
    except PayloadInvalid:
        raise
    except UnicodeDecodeError as exc:
        raise PayloadInvalid("the body must be UTF-8 encoded JSON") from exc
    except RecursionError as exc:
        raise PayloadInvalid("the body is nested too deeply") from exc
    except ValueError as exc:  # bad syntax, or a number too long to convert
        raise PayloadInvalid(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise PayloadInvalid("the body must be a JSON object")
    return payload


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    # Two parsers can read a repeated key differently (first or last wins); the
    # value that was signed must be the one that is used, so refuse the doubt.
    payload = {}
    for key, value in pairs:
        if key in payload:
            raise PayloadInvalid(f"the key '{key}' appears twice")
        payload[key] = value
    return payload


def _provider(payload: dict) -> str:
    value = payload.get("provider", "")
    if value == "" or value is None:
        return ""
    if not isinstance(value, str) or not PROVIDER.match(value.lower()):
        raise PayloadInvalid(
            "'provider' must be 1-40 letters, digits, '-' or '_' characters"
        )
    return value.lower()


def _provider_id(
    payload: dict, field_name: str, *, max_chars: int, required: bool = True
) -> str:
    value = payload.get(field_name)
    if value is None and not required:
        return ""
    if (
        not isinstance(value, str)
        or len(value) > max_chars
        or not PROVIDER_ID.match(value)
    ):
        raise PayloadInvalid(
            f"'{field_name}' must be a string of 1-{max_chars} printable characters "
            "without spaces"
        )
    return value


def _phone(
    payload: dict, field_name: str, *, default_region: str, required: bool = True
) -> str:
    value = payload.get(field_name)
    if value is None and not required:
        return ""
    reason = f"'{field_name}' must be a phone number in E.164 or national form"
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        raise PayloadInvalid(reason)
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException as exc:
        raise PayloadInvalid(reason) from exc
    if not phonenumbers.is_possible_number(number):
        raise PayloadInvalid(reason)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _text(payload: dict, field_name: str, *, required: bool = True) -> str:
    value = payload.get(field_name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise PayloadInvalid(
            f"'{field_name}' must be a string of 1-{MAX_TEXT_CHARS} characters"
        )
    text = _storable(value)
    if required and not text.strip():
        raise PayloadInvalid(
            f"'{field_name}' must be a string of 1-{MAX_TEXT_CHARS} characters"
        )
    return text


def _short_text(payload: dict, key: str, *, field_name: str) -> str:
    value = payload.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
        raise PayloadInvalid(
            f"'{field_name}' must be a string of at most {MAX_NAME_CHARS} characters"
        )
    return " ".join(_storable(value).split())  # no line breaks in a name


def _storable(value: str) -> str:
    # PostgreSQL text holds neither NUL nor lone surrogates (JSON can carry both
    # as escapes); drop the first and replace the second rather than lose the text.
    value = value.replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8")


def _agent(value: object) -> tuple[str, int | None]:
    """(username, agent id) of the answering agent: a string is a username, a
    positive integer an agent id."""
    if value is None:
        return "", None
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value < 2**63:
        return "", value
    if isinstance(value, str) and 1 <= len(value) <= 150 and value == value.strip():
        return value, None
    raise PayloadInvalid("'agent' must be the answering agent's username or id")


def _seconds(payload: dict, field_name: str) -> int | None:
    value = payload.get(field_name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= MAX_CALL_SECONDS
    ):
        raise PayloadInvalid(
            f"'{field_name}' must be a number of seconds from 0 to {MAX_CALL_SECONDS}"
        )
    return round(value)


def _https_url(value: object, field_name: str) -> str:
    if value is None or value == "":
        return ""
    reason = f"'{field_name}' must be an https URL of at most {MAX_URL_CHARS} chars"
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise PayloadInvalid(reason)
    try:
        parts = urlsplit(value)
    except ValueError as exc:
        raise PayloadInvalid(reason) from exc
    if (
        parts.scheme.lower() != "https"
        or not parts.hostname
        or any(char.isspace() or ord(char) < 0x20 for char in value)
    ):
        raise PayloadInvalid(reason)
    return value


def _moment(payload: dict, field_name: str) -> datetime | None:
    value = payload.get(field_name)
    if value is None:
        return None
    reason = f"'{field_name}' must be an ISO 8601 time with a UTC offset"
    if not isinstance(value, str) or len(value) > 40:
        raise PayloadInvalid(reason)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadInvalid(reason) from exc
    if moment.utcoffset() is None:
        raise PayloadInvalid(reason)
    return moment


def _media(value: object) -> tuple[MediaLink, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_MEDIA_ITEMS:
        raise PayloadInvalid(
            f"'media' must be a list of at most {MAX_MEDIA_ITEMS} objects"
        )
    links = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise PayloadInvalid(f"'media[{index}]' must be an object")
        url = _https_url(item.get("url"), f"media[{index}].url")
        if not url:
            raise PayloadInvalid(f"'media[{index}].url' must be an https URL")
        content_type = item.get("content_type")
        if not isinstance(content_type, str) or not CONTENT_TYPE.match(content_type):
            raise PayloadInvalid(
                f"'media[{index}].content_type' must be a media type like image/jpeg"
            )
        links.append(MediaLink(url=url, content_type=content_type.lower()))
    return tuple(links)
