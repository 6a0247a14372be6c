"""Reads for the customer portal: a signed-in customer's tickets, one of them
with the conversation they may see, its attachments and its waiting survey.

Every read takes the customer's family of ids (the customer and everyone
merged into them) and finds nothing outside it: another customer's ticket or
file is None, exactly like a missing one. What a customer sees of a
conversation is what was said with them: their messages and the replies,
never internal notes nor automatic mail that reached us (auto-replies,
bounces)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from tickets.models import Attachment, Message, SatisfactionSurvey, Ticket
from tickets.selectors._threads import MERGE_CHAIN_LIMIT

PORTAL_TICKETS_SHOWN = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SEEN_BY_CUSTOMER = Q(direction=Message.Direction.OUTBOUND) | Q(
    direction=Message.Direction.INBOUND, is_automatic=False
)


@dataclass(frozen=True)
class PortalCursor:
    """Where a page of the customer's tickets ends: the last row's activity
    time and id (rows are newest activity first)."""

    updated_at: datetime
    ticket_id: int

    def encode(self) -> str:
        micros = (self.updated_at - _EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.ticket_id}"

    @classmethod
    def decode(cls, value: str) -> "PortalCursor | None":
        """The cursor a "more" link carries, or None for anything else."""
        micros, dot, ticket_id = value.partition(".")
        if not dot or not micros.isdigit() or not ticket_id.isdigit():
            return None
        try:
            updated_at = _EPOCH + timedelta(microseconds=int(micros))
        except OverflowError:
            return None
        return cls(updated_at=updated_at, ticket_id=int(ticket_id))


@dataclass(frozen=True)
class PortalTicketRow:
    id: int
    subject: str
    status: str
    channel: str
    created_at: datetime
    updated_at: datetime
    # An agent replied after the customer last wrote.
    unread: bool


@dataclass(frozen=True)
class PortalTickets:
    rows: list[PortalTicketRow]
    more: PortalCursor | None  # where the next page starts; None: no more


def portal_tickets(
    *,
    customer_ids: Sequence[int],
    after: PortalCursor | None = None,
    limit: int = PORTAL_TICKETS_SHOWN,
) -> PortalTickets:
    """The customer's tickets, newest activity first, `limit` at a time after
    the cursor (merged-away tickets are part of the ticket they joined). One
    query."""
    tickets = Ticket.objects.filter(
        customer_id__in=list(customer_ids), merged_into__isnull=True
    )
    if after is not None:
        tickets = tickets.filter(
            Q(updated_at__lt=after.updated_at)
            | Q(updated_at=after.updated_at, id__lt=after.ticket_id)
        )
    found = list(
        tickets.order_by("-updated_at", "-id").values_list(
            "id",
            "subject",
            "status",
            "channel",
            "created_at",
            "updated_at",
            "last_agent_reply_at",
            "last_customer_message_at",
        )[: limit + 1]
    )
    rows = [_row(*values) for values in found[:limit]]
    more = (
        PortalCursor(updated_at=rows[-1].updated_at, ticket_id=rows[-1].id)
        if len(found) > limit
        else None
    )
    return PortalTickets(rows=rows, more=more)


def _row(
    ticket_id, subject, status, channel, created_at, updated_at, replied, wrote
) -> PortalTicketRow:
    return PortalTicketRow(
        id=ticket_id,
        subject=subject,
        status=status,
        channel=channel,
        created_at=created_at,
        updated_at=updated_at,
        unread=replied is not None and (wrote is None or replied > wrote),
    )


def portal_ticket(*, customer_ids: Sequence[int], ticket_id: int) -> Ticket | None:
    """The customer's ticket, or the ticket it was merged into when that is
    theirs too; None for anyone else's ticket and for a missing one."""
    family = set(customer_ids)
    ticket = Ticket.objects.filter(id=ticket_id, customer_id__in=family).first()
    for _ in range(MERGE_CHAIN_LIMIT):
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = Ticket.objects.filter(
            id=ticket.merged_into_id, customer_id__in=family
        ).first()
    return None


def portal_thread(*, ticket_id: int) -> list[Message]:
    """The conversation of the ticket as its customer sees it, in order, with
    attachments. Two queries. Survey invitations are left out: they are
    stored with marks in place of their links (tickets.outbound), and the
    portal's ticket page offers the survey itself while it waits."""
    return list(
        Message.objects.filter(SEEN_BY_CUSTOMER, ticket_id=ticket_id)
        .exclude(headers__has_key="survey_id")
        .select_related("author_agent__user")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
    )


def portal_attachment(
    *, customer_ids: Sequence[int], attachment_id: int
) -> Attachment | None:
    """A file of a message the customer may see on a ticket of theirs; None
    otherwise (another customer's, an internal note's, a missing one)."""
    return (
        Attachment.objects.filter(
            Q(message__direction=Message.Direction.OUTBOUND)
            | Q(
                message__direction=Message.Direction.INBOUND,
                message__is_automatic=False,
            ),
            id=attachment_id,
            message__ticket__customer_id__in=list(customer_ids),
        )
        .only("id", "file", "name", "content_type", "size")
        .first()
    )


def portal_survey_waiting(*, ticket_id: int, now: datetime) -> str | None:
    """The token of the ticket's latest survey still waiting for an answer, or
    None."""
    return (
        SatisfactionSurvey.objects.filter(
            ticket_id=ticket_id, rating__isnull=True, expires_at__gt=now
        )
        .order_by("-solved_at", "-id")
        .values_list("token", flat=True)
        .first()
    )
