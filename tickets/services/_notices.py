"""What apps above tickets say on a ticket: a note for the pod (a grant made,
an approval asked) and an automatic message to the customer in their channel
(what was granted). The authority app calls these; nothing here decides."""

from datetime import datetime

from django.db import transaction

from tickets import selectors
from tickets.models import Message, Ticket
from tickets.services._conversation import _message_announce, outbound_message_send


def ticket_event_note(
    *, ticket_id: int, text: str, now: datetime, agent_id: int | None = None
) -> Message | None:
    """An internal note on the ticket (None when the ticket is gone), shown
    live to whoever has it open."""
    ticket = selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None:
        return None
    with transaction.atomic():
        message = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.NOTE,
            channel=ticket.channel,
            author_agent_id=agent_id,
            text=text,
            is_automatic=agent_id is None,
            created_at=now,
        )
        _message_announce(ticket=ticket, message=message)
    return message


def customer_notice_send(*, ticket_id: int, text: str, now: datetime) -> Message | None:
    """Tell the customer in the ticket's channel, as an automatic message that
    neither answers the ticket's SLA nor reopens it. None when there is nowhere
    to write (no email address for an email ticket)."""
    ticket = selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None:
        return None
    channel = selectors.ticket_reply_channel(ticket=ticket)
    if channel is None:
        return None
    with transaction.atomic():
        message = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.OUTBOUND,
            channel=channel,
            text=text,
            is_automatic=True,
            delivery=Message.Delivery.QUEUED,
            created_at=now,
        )
        Ticket.objects.filter(id=ticket.id).update(updated_at=now)
        outbound_message_send(ticket=ticket, message=message)
    return message
