"""Reads of live chat: a session, whether anyone can answer it live, what its
visitor has not seen yet, and which sessions show a ticket's replies."""

from dataclasses import dataclass

import pods.selectors
from tickets.models import ChatSession, Message

CHAT_HISTORY_PAGE = 200  # messages per history frame; the widget asks for more


@dataclass(frozen=True)
class ChatStatus:
    """What the visitor's widget needs to know about its chat."""

    state: str
    agents_online: bool
    visitor_email: str

    @property
    def email_needed(self) -> bool:
        """Nobody can answer live and there is no address to answer later."""
        return not self.agents_online and not self.visitor_email


def chat_session(*, public_id: str, for_update: bool = False) -> ChatSession | None:
    """The session with this public id, with its ticket; None when unknown.

    With for_update (inside a transaction), the session row stays locked until
    commit: a session's messages are then stored one at a time."""
    sessions = ChatSession.objects.select_related("ticket")
    if for_update:
        sessions = sessions.select_for_update(of=("self",))
    return sessions.filter(public_id=public_id).first()


def chat_status(*, session: ChatSession) -> ChatStatus:
    """The session's state and whether an agent of its customer's pod is online.

    Before the first message there is no customer yet: the pod is the one the
    visitor would be routed to now (their email's customer, or a new customer's
    pod)."""
    return ChatStatus(
        state=session.state,
        agents_online=_pod_has_agent_online(pod_id=_pod_of(session=session)),
        visitor_email=session.visitor_email,
    )


def _pod_of(*, session: ChatSession) -> int | None:
    if session.ticket_id is not None:
        return session.ticket.pod_id
    if session.customer_id is not None:
        return pods.selectors.customer_owner(customer_id=session.customer_id).pod_id
    identities = [("CHAT", str(session.public_id))]
    if session.visitor_email:
        identities.append(("EMAIL", session.visitor_email))
    return pods.selectors.route_preview(identities=identities).pod_id


def _pod_has_agent_online(*, pod_id: int | None) -> bool:
    return pod_id is not None and bool(pods.selectors.agent_loads(pod_id=pod_id))


def chat_history(*, session: ChatSession, after: int) -> list[Message]:
    """The session's messages after the message id `after`, oldest first, at
    most a page; notes are never shown to the visitor.

    Ids of one ticket grow in the order its messages commit (each is written
    holding the ticket row), so "after the last id seen" misses nothing."""
    if session.ticket_id is None:
        return []
    return list(
        Message.objects.filter(ticket_id=session.ticket_id, id__gt=after)
        .exclude(direction=Message.Direction.NOTE)
        .select_related("author_agent__user")
        .order_by("id")[:CHAT_HISTORY_PAGE]
    )


def chat_session_ids_of_ticket(*, ticket_id: int) -> list[str]:
    """Public ids of the chat sessions that show this ticket's replies."""
    return [
        str(public_id)
        for public_id in ChatSession.objects.filter(ticket_id=ticket_id)
        .exclude(state=ChatSession.State.ENDED)
        .values_list("public_id", flat=True)
    ]


def chat_continues_by_email(*, ticket_id: int) -> bool:
    """Whether the ticket is a chat its visitor left for email (nobody was
    online to answer it live)."""
    return ChatSession.objects.filter(
        ticket_id=ticket_id, state=ChatSession.State.EMAILED
    ).exists()
