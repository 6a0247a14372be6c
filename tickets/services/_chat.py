"""Live chat: a visitor starts a session, their messages become messages of the
session's ticket, and a chat nobody can answer live continues by email.

A visitor's message is an inbound payload like any other: it is stored and
committed as an envelope first, then processed at once (the visitor waits for
the acknowledgement). The sweep and the envelope's task may process it too;
processing is idempotent, and the message is stored once under a key made of
the session and the widget's client id, so a resend after a reconnect is the
same message.

One session, one ticket: a session never joins another open chat of its
customer. The visitor's email is not verified, and a session shows its ticket's
replies live, so continuing the customer's open chat would show a stranger who
typed that customer's address the customer's conversation.

A customer signed in to the portal starts their chat as themselves: the portal
page vouches for them with a signed token (checked by the view), and the
session is theirs from the start, answering at the address they signed in
with; it is routed like any known customer's contact (their pod, their agent)."""

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext

import pods.services
from tickets import rules, selectors
from tickets.models import ChatSession, InboundEnvelope, Message, Ticket
from tickets.selectors import ChatStatus
from tickets.services._assignment import ticket_open
from tickets.services._conversation import Incoming, inbound_message_add
from tickets.services._errors import TicketsError
from tickets.services._intake import (
    IntakeRefused,
    Outcome,
    envelope_process,
    envelope_processor,
    envelope_receive,
    envelope_retry,
)

CHAT = Ticket.Channel.CHAT
State = InboundEnvelope.State
MAX_VISITOR_NAME = 120


class ChatRefused(TicketsError):
    """The chat cannot do that; `code` names the reason for the widget."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ChatSessionUnknown(ChatRefused):
    """No chat session has that public id."""

    def __init__(self) -> None:
        super().__init__("unknown_session", "this chat session does not exist")


@dataclass(frozen=True)
class ChatStarted:
    session: ChatSession
    status: ChatStatus


@dataclass(frozen=True)
class ChatReceived:
    message: Message
    duplicate: bool  # the same client id was stored before: nothing new
    status: ChatStatus


def chat_session_start(
    *,
    visitor_name: str,
    visitor_email: str,
    origin: str,
    now: datetime,
    customer_id: int | None = None,
    identity_id: int | None = None,
) -> ChatStarted:
    """Start a chat for a visitor (name and email optional). When no agent of
    their pod is online and they gave an email, the chat continues by email from
    the start. Raises ChatRefused (an email that is not one).

    With customer_id and identity_id, which only a verified portal identity
    token may supply, the chat is that signed-in customer's: their name and the
    address of the email identity they signed in with replace the visitor's.
    Raises ChatRefused when that identity is no longer theirs."""
    session = ChatSession(origin=origin[:200], started_at=now, last_seen_at=now)
    if customer_id is None:
        session.visitor_name = visitor_name.strip()[:MAX_VISITOR_NAME]
        if visitor_email.strip():
            session.visitor_email = _email_normalise(visitor_email)
    else:
        _signed_in_customer_take(
            session=session, customer_id=customer_id, identity_id=identity_id
        )
    status = selectors.chat_status(session=session)
    if _leaves_for_email(status):
        session.state = ChatSession.State.EMAILED
        status = replace(status, state=session.state)
    session.save(force_insert=True)
    return ChatStarted(session=session, status=status)


def _signed_in_customer_take(
    *, session: ChatSession, customer_id: int, identity_id: int | None
) -> None:
    """Make the unsaved session the signed-in customer's (a merged customer's
    chat goes to the customer they were merged into, as the sign-in does)."""
    facts = (
        pods.selectors.portal_customer(customer_id=customer_id, identity_id=identity_id)
        if identity_id is not None
        else None
    )
    address = (
        pods.selectors.email_identity_address(identity_id=identity_id)
        if facts is not None
        else None
    )
    if facts is None or not address:
        raise ChatRefused(
            "identity_unknown",
            gettext("You are no longer signed in here. Sign in again to chat."),
        )
    session.customer_id = facts.customer_id
    session.visitor_name = facts.display_name[:MAX_VISITOR_NAME]
    session.visitor_email = address


def chat_session_join(*, public_id: str, now: datetime) -> ChatStatus:
    """Note that the visitor's widget is connected and return the chat's status.
    Raises ChatSessionUnknown."""
    session = selectors.chat_session(public_id=_uuid(public_id))
    if session is None:
        raise ChatSessionUnknown
    ChatSession.objects.filter(id=session.id).update(last_seen_at=now)
    return selectors.chat_status(session=session)


def chat_message_receive(
    *, public_id: str, client_id: str, text: str, now: datetime
) -> ChatReceived:
    """Store the visitor's message on the session's ticket (opening one for the
    first message) and return it with the chat's status; a resend under the
    same client id returns the stored message. An empty or too long message, or
    one in an ended chat, is refused before anything is stored. Raises
    ChatRefused."""
    session_id = _uuid(public_id)
    try:
        line = rules.chat_line_check(
            session=str(session_id), client_id=client_id, text=text
        )
    except rules.ChatLineInvalid as exc:
        raise ChatRefused(exc.code, str(exc)) from exc
    session = selectors.chat_session(public_id=session_id)
    if session is None:
        raise ChatSessionUnknown
    if session.state == ChatSession.State.ENDED:
        raise ChatRefused("ended", "this chat has ended; start a new one")
    key = rules.chat_dedupe_key(session=line.session, client_id=line.client_id)
    received = envelope_receive(
        channel=CHAT,
        source=InboundEnvelope.Source.CHAT,
        raw=rules.chat_line_encode(line),
        external_key=key,
        meta={"dedupe_key": key, "chat_session": line.session},
        now=now,
    )
    envelope = _envelope_settle(
        envelope=received.envelope, created=received.created, now=now
    )
    if envelope.message_id is None:
        # The reason stays on the envelope for staff; the visitor learns only
        # that the message did not get in (their widget sends it again later).
        raise ChatRefused("not_stored", "the message could not be stored just now")
    return ChatReceived(
        message=envelope.message,
        duplicate=not received.created or envelope.state == State.DUPLICATE,
        status=_chat_settle(public_id=session_id, now=now),
    )


def _envelope_settle(
    *, envelope: InboundEnvelope, created: bool, now: datetime
) -> InboundEnvelope:
    """Process the envelope now and return it in its final state."""
    if not created and envelope.state == State.FAILED:
        # The widget resends until acknowledged: a resend retries what failed
        # (no pod was open, say), as a retry from admin would.
        envelope_retry(envelope_id=envelope.id)
    envelope = envelope_process(envelope_id=envelope.id, now=now)
    if envelope.state == State.RECEIVED:
        # The envelope's own task took it between commit and this call (its row
        # is locked, so processing skipped it): wait for that transaction to end,
        # then process it, which is a no-op unless the task rolled back.
        with transaction.atomic():
            list(
                InboundEnvelope.objects.select_for_update()
                .filter(id=envelope.id)
                .values_list("id", flat=True)
            )
        envelope = envelope_process(envelope_id=envelope.id, now=now)
    return envelope


@envelope_processor(CHAT)
def chat_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Add a visitor's message to their session's ticket, or open the ticket
    (see the module docstring). Raises IntakeRefused."""
    try:
        line = rules.chat_line_parse(bytes(envelope.raw))
    except rules.ChatLineInvalid as exc:
        raise IntakeRefused(str(exc)) from exc
    key = rules.chat_dedupe_key(session=line.session, client_id=line.client_id)
    envelope.meta["dedupe_key"] = key
    existing = selectors.message_delivered(channel=CHAT, dedupe_key=key)
    if existing is not None:
        return Outcome(
            State.DUPLICATE,
            ticket=existing.ticket,
            message=existing,
            note=f"the same chat message is message {existing.id}",
        )
    # Locked until commit: two first messages of a session racing in open one
    # ticket, not two.
    session = selectors.chat_session(public_id=_uuid(line.session), for_update=True)
    if session is None:
        raise IntakeRefused(f"no chat session {line.session}")
    if session.state == ChatSession.State.ENDED:
        raise IntakeRefused("the chat has ended")
    ticket = _session_ticket(session=session, text=line.text, now=now)
    message = inbound_message_add(
        ticket=ticket,
        incoming=Incoming(
            channel=CHAT,
            text=line.text,
            author_name=session.visitor_name,
            author_address=session.visitor_email,
            dedupe_key=key,
            headers={"chat_session": line.session, "chat_client_id": line.client_id},
        ),
        now=now,
    )
    session.last_seen_at = now
    session.save(update_fields=["ticket", "customer", "last_seen_at"])
    return Outcome(State.PROCESSED, ticket=ticket, message=message)


def _session_ticket(*, session: ChatSession, text: str, now: datetime) -> Ticket:
    """The session's ticket (followed through merges), or a new one when it has
    none or its ticket closed. Call holding the session row."""
    current = (
        selectors.ticket_current(ticket_id=session.ticket_id)
        if session.ticket_id is not None
        else None
    )
    if current is None or current.status == Ticket.Status.CLOSED:
        identities = [("CHAT", str(session.public_id))]
        if session.visitor_email:
            identities.append(("EMAIL", session.visitor_email))
        try:
            current = ticket_open(
                identities=identities,
                channel=CHAT,
                subject=rules.conversation_subject(
                    text=text,
                    fallback=f"Chat with {session.visitor_name or 'a visitor'}",
                ),
                display_name=session.visitor_name,
                follow_up_of_id=current.id if current else None,
                now=now,
            ).ticket
        except (pods.services.NoPodAvailable, pods.services.InvalidContact) as exc:
            raise IntakeRefused(str(exc)) from exc
    session.ticket = current
    session.customer_id = current.customer_id
    return current


def chat_email_provide(*, public_id: str, email: str, now: datetime) -> ChatStatus:
    """Keep the address the visitor left to be answered at; when nobody can
    answer live, the chat continues by email from now on (replies go there).
    Only a session without an address may give one: the customer behind it is
    then known by the session alone. Raises ChatRefused."""
    address = _email_normalise(email)
    with transaction.atomic():
        session = selectors.chat_session(public_id=_uuid(public_id), for_update=True)
        if session is None:
            raise ChatSessionUnknown
        if session.visitor_email:
            raise ChatRefused(
                "email_known", "this chat already has an address to answer at"
            )
        session.visitor_email = address
        if session.customer_id is not None:
            # The session's own identity finds its customer; the address joins
            # them. An address that is another customer's is recorded as a
            # possible duplicate for a person to merge, never attached.
            pods.services.customer_identify(
                identities=[("CHAT", str(session.public_id)), ("EMAIL", address)],
                trusted=True,
                now=now,
            )
        status = selectors.chat_status(session=session)
        if _leaves_for_email(status):
            session.state = ChatSession.State.EMAILED
            status = replace(status, state=session.state)
        session.last_seen_at = now
        session.save(update_fields=["visitor_email", "state", "last_seen_at"])
    return status


def chat_typing_announce(*, public_id: str) -> bool:
    """Tell the agents of the session's pod that the visitor is typing; False
    when the chat has no ticket yet (there is nothing to look at)."""
    session = selectors.chat_session(public_id=_uuid(public_id))
    if session is None or session.ticket_id is None:
        return False
    pods.services.pod_event_publish(
        pod_id=session.ticket.pod_id,
        event={
            "type": "notify",
            "kind": "chat.typing",
            "ticket_id": session.ticket_id,
            "text": "",
        },
    )
    return True


def _chat_settle(*, public_id: uuid.UUID, now: datetime) -> ChatStatus:
    """The chat's status after a message; a chat nobody can answer live whose
    visitor gave an address continues by email."""
    with transaction.atomic():
        session = selectors.chat_session(public_id=public_id, for_update=True)
        status = selectors.chat_status(session=session)
        if not _leaves_for_email(status):
            return status
        session.state = ChatSession.State.EMAILED
        session.save(update_fields=["state"])
    return replace(status, state=session.state)


def _leaves_for_email(status: ChatStatus) -> bool:
    return (
        status.state == ChatSession.State.ACTIVE
        and not status.agents_online
        and bool(status.visitor_email)
    )


def _email_normalise(email: str) -> str:
    try:
        return pods.services.identities_normalise(identities=[("EMAIL", email)])[0][1]
    except pods.services.InvalidContact as exc:
        raise ChatRefused(
            "invalid_email", f"{email.strip()[:80]!r} is not an email address"
        ) from exc


def _uuid(public_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return uuid.UUID(str(public_id))
    except ValueError as exc:
        raise ChatSessionUnknown from exc
