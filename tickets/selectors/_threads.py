"""Reads of conversations: threading lookups, a ticket's thread, a customer's
timeline across every ticket and channel, and search."""

from collections.abc import Sequence

from django.db import connection
from django.db.models import Q, QuerySet

import pods.selectors
from tickets.models import Message, Ticket, TicketParticipant

MERGE_CHAIN_LIMIT = 20  # merges are rare; a longer chain means a cycle crept in


def ticket_current(*, ticket_id: int) -> Ticket | None:
    """The ticket, or the ticket it was merged into (followed to the end)."""
    ticket = Ticket.objects.filter(id=ticket_id).first()
    for _ in range(MERGE_CHAIN_LIMIT):
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = Ticket.objects.filter(id=ticket.merged_into_id).first()
    return ticket


def ticket_ids_by_external_ids(
    *, channel: str, external_ids: Sequence[str]
) -> dict[str, int]:
    """Which ticket holds the message with each external id (first one stored)."""
    if not external_ids:
        return {}
    found: dict[str, int] = {}
    rows = (
        Message.objects.filter(channel=channel, external_id__in=list(external_ids))
        .order_by("id")
        .values_list("external_id", "ticket_id")
    )
    for external_id, ticket_id in rows:
        found.setdefault(external_id, ticket_id)
    return found


def ticket_participant(*, ticket_id: int, email: str) -> bool:
    return TicketParticipant.objects.filter(ticket_id=ticket_id, email=email).exists()


def open_ticket_on_channel(*, customer_id: int, channel: str) -> Ticket | None:
    """The customer's latest open ticket on the channel: an SMS or chat that
    arrives while one is open continues it."""
    return (
        Ticket.objects.filter(
            customer_id=customer_id,
            channel=channel,
            status__in=Ticket.OPEN_STATUSES,
            merged_into__isnull=True,
        )
        .order_by("-created_at", "-id")
        .first()
    )


def ticket_thread(*, ticket_id: int) -> QuerySet[Message]:
    """The ticket's messages in order, with authors and attachments."""
    return (
        Message.objects.filter(ticket_id=ticket_id)
        .select_related("author_agent__user", "author_customer")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def customer_timeline(
    *, customer_id: int, include_notes: bool = True
) -> QuerySet[Message]:
    """Every message of every ticket of the customer on every channel, in order."""
    messages = Message.objects.filter(ticket__customer_id=customer_id)
    if not include_notes:
        messages = messages.exclude(direction=Message.Direction.NOTE)
    return (
        messages.select_related("ticket", "author_agent__user")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def customer_email(*, customer_id: int) -> str:
    """Where to email the customer: the address of their latest inbound email."""
    return (
        Message.objects.filter(
            ticket__customer_id=customer_id,
            channel=Ticket.Channel.EMAIL,
            direction=Message.Direction.INBOUND,
        )
        .exclude(author_address="")
        .order_by("-created_at", "-id")
        .values_list("author_address", flat=True)
        .first()
        or ""
    )


def customer_reachable_by_email(
    *, customer_id: int, identities: list[tuple[str, str]] | None = None
) -> bool:
    """Whether the customer has an email address to write to (an email identity,
    or the address of an email they sent). Pass their identities when already
    read."""
    if identities is None:
        identities = pods.selectors.customer_identities(customer_id=customer_id)
    return any(kind == "EMAIL" for kind, _ in identities) or bool(
        customer_email(customer_id=customer_id)
    )


def tickets_search(
    *, query: str, tickets: QuerySet[Ticket] | None = None
) -> QuerySet[Ticket]:
    """Tickets whose subject or any message matches the words of the query.

    On PostgreSQL: full-text search in the 'simple' configuration, on the GIN
    indexes of migration 0004 (the expressions here must stay identical to
    theirs). Elsewhere: a case-insensitive substring match."""
    tickets = Ticket.objects.all() if tickets is None else tickets
    query = query.strip()
    if not query:
        return tickets.none()
    if connection.vendor == "postgresql":
        matching = _tickets_matching_fulltext(query)
    else:
        matching = Q(subject__icontains=query) | Q(
            id__in=Message.objects.filter(text__icontains=query).values("ticket_id")
        )
    return tickets.filter(matching)


def _tickets_matching_fulltext(query: str) -> Q:
    from django.contrib.postgres.search import SearchQuery, SearchVector

    words = SearchQuery(query, config="simple", search_type="plain")
    in_messages = (
        Message.objects.annotate(document=SearchVector("text", config="simple"))
        .filter(document=words)
        .values("ticket_id")
    )
    in_subjects = (
        Ticket.objects.annotate(document=SearchVector("subject", config="simple"))
        .filter(document=words)
        .values("id")
    )
    return Q(id__in=in_messages) | Q(id__in=in_subjects)
