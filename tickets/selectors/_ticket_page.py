"""Reads for the agent workspace's pages: the ticket page in one call (the
ticket and everything around it, in a constant number of queries whatever the
length of its thread or the customer's history), one queue row, colleagues to
invite, an attachment to download."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet

import pods.selectors
from tickets import rules
from tickets.models import (
    Attachment,
    ContactReason,
    Message,
    Tag,
    Ticket,
    TicketCollaborator,
)
from tickets.selectors._chat import chat_continues_by_email
from tickets.selectors._queues import BREACHING_WINDOW
from tickets.selectors._threads import customer_reachable_by_email
from tickets.selectors._workspace import ticket_collaborators

# The customer card lists this many of their other tickets, newest first.
CUSTOMER_TICKETS_SHOWN = 20
COLLEAGUES_SHOWN = 10
# Rows and dues are marked "due soon" within the window the Breaching view lists.
DUE_SOON_WINDOW = BREACHING_WINDOW
# Conversational channels are answered in kind; everything else by email. The
# same decision as tickets.services message_reply makes (its _reply_channel):
# the composer names the channel before the reply is written.
REPLIED_IN_KIND = frozenset(
    {Ticket.Channel.SMS, Ticket.Channel.SOCIAL, Ticket.Channel.CHAT}
)


@dataclass(frozen=True)
class TicketPage:
    """The ticket page's data. `ticket` has its pod, customer (with pod and
    primary agent), assignee, reason and tags loaded; `thread` its messages with
    authors, call records and attachments, each with `quoted_text` (what an
    email quoted of the earlier conversation, else "") and `note_parts` (a note
    cut around the names it mentions, else ())."""

    ticket: Ticket
    thread: list[Message]
    last_message_id: int
    collaborators: list[TicketCollaborator]
    reply_channel: str | None
    identities: list[tuple[str, str]]
    customer_tickets: list[Ticket]
    customer_tickets_more: bool
    members: list
    reasons: list[ContactReason]


def _ticket_with_relations() -> QuerySet[Ticket]:
    return Ticket.objects.select_related(
        "pod",
        "customer__pod",
        "customer__primary_agent__user",
        "assignee__user",
        "contact_reason",
    ).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))


def ticket_page(*, ticket_id: int, customer_history: bool = True) -> TicketPage:
    """Everything the ticket page shows about the ticket (call after the
    permission check on ticket_current's answer). Without customer_history (a
    colleague invited from another pod) the customer's identities and other
    tickets are not read. Raises Ticket.DoesNotExist."""
    ticket = _ticket_with_relations().get(id=ticket_id)
    thread = list(ticket_thread_for_page(ticket_id=ticket.id))
    for message in thread:
        message.quoted_text = _quoted_part(
            text=message.text, visible_text=message.visible_text
        )
        message.note_parts = _note_parts(message)
    identities = (
        pods.selectors.customer_identities(customer_id=ticket.customer_id)
        if customer_history
        else []
    )
    others = (
        list(
            Ticket.objects.filter(
                customer_id=ticket.customer_id, merged_into__isnull=True
            )
            .exclude(id=ticket.id)
            .order_by("-created_at", "-id")[: CUSTOMER_TICKETS_SHOWN + 1]
        )
        if customer_history
        else []
    )
    return TicketPage(
        ticket=ticket,
        thread=thread,
        last_message_id=thread[-1].id if thread else 0,
        collaborators=list(ticket_collaborators(ticket_id=ticket.id)),
        reply_channel=ticket_reply_channel(ticket=ticket, identities=identities),
        identities=identities,
        customer_tickets=others[:CUSTOMER_TICKETS_SHOWN],
        customer_tickets_more=len(others) > CUSTOMER_TICKETS_SHOWN,
        members=list(pods.selectors.active_members(pod_id=ticket.pod_id)),
        reasons=list(contact_reasons_active()),
    )


def _quoted_part(*, text: str, visible_text: str) -> str:
    """What an email quoted below the customer's own words (the earlier
    conversation), to fold away; "" when nothing was quoted."""
    if not visible_text or visible_text == text:
        return ""
    own, full = visible_text.strip(), text.strip()
    return full[len(own) :].strip() if full.startswith(own) else full


def _note_parts(message: Message) -> tuple[rules.NotePart, ...]:
    """A note with mentions cut into text and the names to highlight; () for
    every other message (the page shows its text as it is)."""
    handles = [mention.handle for mention in message.mentions.all()]
    if message.direction != Message.Direction.NOTE or not handles:
        return ()
    return rules.mention_parts(message.text, handles=handles)


def ticket_thread_for_page(*, ticket_id: int) -> QuerySet[Message]:
    """The ticket's messages in order, with what the page shows of each: the
    author, the call record of a phone message, the attachments, the names a
    note mentions. Three queries."""
    return (
        Message.objects.filter(ticket_id=ticket_id)
        .select_related("author_agent__user", "author_customer", "call__agent__user")
        .prefetch_related("attachments", "mentions")
        .order_by("created_at", "id")
    )


def ticket_for_page_header(*, ticket_id: int) -> Ticket:
    """The ticket with what its header and side panel show. Raises
    Ticket.DoesNotExist."""
    return _ticket_with_relations().get(id=ticket_id)


def ticket_reply_channel(
    *, ticket: Ticket, identities: list[tuple[str, str]] | None = None
) -> str | None:
    """The channel a reply to the customer goes out in, or None when there is no
    way to reach them. Pass the customer's identities when already read."""
    by_email = ticket.channel == Ticket.Channel.CHAT and chat_continues_by_email(
        ticket_id=ticket.id
    )
    if ticket.channel in REPLIED_IN_KIND and not by_email:
        return ticket.channel
    if customer_reachable_by_email(
        customer_id=ticket.customer_id, identities=identities or None
    ):
        return Ticket.Channel.EMAIL
    return ticket.channel if by_email else None


def contact_reasons_active() -> QuerySet[ContactReason]:
    return ContactReason.objects.filter(active=True).order_by("name", "id")


def queue_row(*, ticket_id: int) -> Ticket | None:
    """One ticket as a queue row shows it (after taking it, say)."""
    return (
        Ticket.objects.select_related("assignee__user", "customer", "contact_reason")
        .prefetch_related("tags")
        .filter(id=ticket_id)
        .first()
    )


@dataclass(frozen=True)
class Colleague:
    agent_id: int
    name: str
    role: str
    pod_name: str


def colleagues_to_invite(
    *, ticket: Ticket, query: str, excluding_user_id: int, limit: int = COLLEAGUES_SHOWN
) -> list[Colleague]:
    """Active agents of any pod whose name, username or pod matches every word of
    the query, who are not already on the ticket: one query."""
    words = query.split()[:4]
    if not words:
        return []
    # Read from the user side: pods has no agent search of its own yet.
    users = get_user_model().objects.filter(
        is_active=True, agent__isnull=False, agent__left_on__isnull=True
    )
    for word in words:
        users = users.filter(
            Q(first_name__icontains=word)
            | Q(last_name__icontains=word)
            | Q(username__icontains=word)
            | Q(agent__pod__name__icontains=word)
        )
    users = users.exclude(id=excluding_user_id).exclude(
        agent__id__in=TicketCollaborator.objects.filter(
            ticket_id=ticket.id, left_at__isnull=True
        ).values("agent_id")
    )
    if ticket.assignee_id is not None:
        users = users.exclude(agent__id=ticket.assignee_id)
    rows = users.order_by("first_name", "last_name", "username", "id").values_list(
        "agent__id",
        "first_name",
        "last_name",
        "username",
        "agent__role",
        "agent__pod__name",
    )[:limit]
    return [
        Colleague(
            agent_id=agent_id,
            name=f"{first} {last}".strip() or username,
            role=role,
            pod_name=pod_name or "",
        )
        for agent_id, first, last, username, role, pod_name in rows
    ]


def attachment_for_download(*, attachment_id: int) -> Attachment | None:
    """The attachment with its message's ticket (whose permission decides)."""
    return (
        Attachment.objects.select_related("message__ticket")
        .filter(id=attachment_id)
        .first()
    )
