"""Messages on tickets: a customer's message arriving (reopening, SLA), an agent's
reply going out in the customer's channel, internal notes."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

import pods.selectors
import pods.services
from tickets import outbound, rules, selectors
from tickets.models import Attachment, Message, Ticket, TicketParticipant
from tickets.services._errors import TicketsError
from tickets.services._mentions import note_mentions_record
from tickets.services._sla import (
    SLA_FIELDS,
    sla_agent_replied,
    sla_customer_wrote,
    sla_pause_ended,
)


class ReplyRefused(TicketsError):
    """The reply cannot be sent (closed ticket, no address to reach the customer)."""


@dataclass(frozen=True)
class IncomingFile:
    name: str
    content_type: str
    data: bytes
    sha256: str
    inline: bool = False
    content_id: str = ""


@dataclass(frozen=True)
class Incoming:
    """A customer's message as a channel parsed it."""

    channel: str
    text: str
    visible_text: str = ""
    html: str = ""
    author_name: str = ""
    author_address: str = ""
    external_id: str = ""
    dedupe_key: str = ""
    external_id_conflict: bool = False
    is_automatic: bool = False
    headers: dict = field(default_factory=dict)
    files: Sequence[IncomingFile] = ()


def inbound_message_add(
    *, ticket: Ticket, incoming: Incoming, now: datetime, opened: bool = False
) -> Message:
    """Add the customer's message to the ticket: a solved ticket reopens, a pending
    one resumes, the reply clock starts. Automatic mail (auto-replies, bounces) is
    kept on the ticket but changes nothing. Call inside a transaction; the ticket
    row is locked until commit.

    `opened`: the caller created this ticket in the current transaction, so it
    holds the row and the instance is current; it is not read again."""
    if not opened:
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
    message = Message.objects.create(
        ticket=ticket,
        direction=Message.Direction.INBOUND,
        channel=incoming.channel,
        author_customer_id=ticket.customer_id,
        author_name=incoming.author_name[:200],
        author_address=incoming.author_address[:254],
        text=incoming.text,
        visible_text=incoming.visible_text,
        html=incoming.html,
        external_id=incoming.external_id[:255],
        dedupe_key=incoming.dedupe_key,
        external_id_conflict=incoming.external_id_conflict,
        is_automatic=incoming.is_automatic,
        headers=incoming.headers,
        created_at=now,
    )
    _attachments_store(message=message, files=incoming.files, now=now)
    if not incoming.is_automatic:
        _ticket_customer_wrote(ticket=ticket, now=now)
    _message_announce(ticket=ticket, message=message)
    return message


def _attachments_store(
    *, message: Message, files: Sequence[IncomingFile], now: datetime
) -> None:
    for incoming in files:
        attachment = Attachment(
            message=message,
            name=incoming.name[:200],
            content_type=incoming.content_type[:100],
            size=len(incoming.data),
            sha256=incoming.sha256,
            inline=incoming.inline,
            content_id=incoming.content_id[:255],
            created_at=now,
        )
        # A file written here outlives a rolled-back transaction as an orphan;
        # it is never referenced, so it is unreachable, and costs only space.
        attachment.file.save("upload", ContentFile(incoming.data), save=False)
        attachment.save()


def _ticket_customer_wrote(*, ticket: Ticket, now: datetime) -> None:
    fields = ["last_customer_message_at", "updated_at", *SLA_FIELDS]
    if ticket.status == Ticket.Status.SOLVED:
        fields += ticket_reopen_apply(ticket=ticket, now=now)
    elif ticket.status == Ticket.Status.PENDING:
        sla_pause_ended(ticket=ticket, resumed_at=now)
        ticket.status = Ticket.Status.OPEN
        ticket.pending_since = None
        fields += ["status", "pending_since"]
    ticket.last_customer_message_at = now
    ticket.updated_at = now
    sla_customer_wrote(ticket=ticket, at=now)
    ticket.save(update_fields=fields)


def ticket_reopen_apply(*, ticket: Ticket, now: datetime) -> list[str]:
    """Reopen a solved ticket for its last assignee if they can take it now, else
    for the pod queue (no save; call holding the row lock). Return the fields
    to save."""
    keeps_assignee = ticket.assignee_id is not None and (
        pods.services.agent_load_take(agent_id=ticket.assignee_id, now=now)
    )
    if not keeps_assignee:
        ticket.assignee_id = None
        ticket.assigned_at = None
    ticket.status = Ticket.Status.OPEN if keeps_assignee else Ticket.Status.NEW
    ticket.solved_at = None
    ticket.reopened_count += 1
    ticket.agent_active_at = now if keeps_assignee else None
    return [
        "status",
        "solved_at",
        "reopened_count",
        "assignee",
        "assigned_at",
        "agent_active_at",
    ]


def participants_add(*, ticket: Ticket, emails: Sequence[str], now: datetime) -> None:
    """Allow these addresses to write into the ticket by email (people the
    customer copied)."""
    ours = {settings.HELPDESK["REPLY_ADDRESS"].lower()}
    TicketParticipant.objects.bulk_create(
        [
            TicketParticipant(ticket=ticket, email=email, added_at=now)
            for email in dict.fromkeys(emails)
            if email and email not in ours
        ],
        ignore_conflicts=True,
    )


# --- Agents write -----------------------------------------------------------------


def message_reply(
    *, ticket: Ticket, agent_id: int, text: str, now: datetime, html: str = ""
) -> Message:
    """Reply to the customer in their channel (email for email, web form, API and
    phone tickets; SMS, social and chat in kind), delivered after commit by a
    retried task. Raises ReplyRefused."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        if ticket.status == Ticket.Status.CLOSED:
            raise ReplyRefused(
                _("the ticket is closed; the customer's next message opens a follow-up")
            )
        channel = _reply_channel(ticket=ticket)
        message = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.OUTBOUND,
            channel=channel,
            author_agent_id=agent_id,
            text=text,
            html=rules.html_sanitise(html) if html else "",
            delivery=Message.Delivery.QUEUED,
            created_at=now,
        )
        _ticket_agent_replied(ticket=ticket, now=now)
        outbound_message_send(ticket=ticket, message=message)
    return message


def outbound_message_send(*, ticket: Ticket, message: Message) -> None:
    """Send a saved outbound message once the transaction commits and tell the
    ticket's viewers. An email gets a signed Message-ID first, so the
    customer's answer threads back to this ticket."""
    if message.channel == Ticket.Channel.EMAIL:
        message.external_id = rules.reply_message_id(
            ticket_id=ticket.id,
            message_id=message.id,
            key=settings.SECRET_KEY,
            domain=mail_domain(),
        )
        message.save(update_fields=["external_id"])
    outbound.message_deliver(message_id=message.id, channel=message.channel)
    _message_announce(ticket=ticket, message=message)


def _reply_channel(*, ticket: Ticket) -> str:
    channel = selectors.ticket_reply_channel(ticket=ticket)
    if channel is None:
        raise ReplyRefused(_("the customer has no email address to reply to"))
    return channel


def _ticket_agent_replied(*, ticket: Ticket, now: datetime) -> None:
    fields = ["last_agent_reply_at", "agent_active_at", "updated_at", *SLA_FIELDS]
    if ticket.first_response_at is None:
        ticket.first_response_at = now
        fields.append("first_response_at")
    if ticket.status == Ticket.Status.NEW:
        ticket.status = Ticket.Status.OPEN
        fields.append("status")
    ticket.last_agent_reply_at = ticket.agent_active_at = ticket.updated_at = now
    sla_agent_replied(ticket=ticket)
    ticket.save(update_fields=fields)


def note_add(*, ticket: Ticket, agent_id: int, text: str, now: datetime) -> Message:
    """Add an internal note (never sent to the customer). Colleagues it
    @mentions are told live; one from another pod is invited onto the ticket."""
    with transaction.atomic():
        message = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.NOTE,
            channel=ticket.channel,
            author_agent_id=agent_id,
            text=text,
            created_at=now,
        )
        Ticket.objects.filter(id=ticket.id, assignee_id=agent_id).update(
            agent_active_at=now
        )
        note_mentions_record(ticket=ticket, note=message, author_id=agent_id, now=now)
        _message_announce(ticket=ticket, message=message)
    return message


def mail_domain() -> str:
    return settings.HELPDESK["REPLY_ADDRESS"].rpartition("@")[2] or "localhost"


def _message_announce(*, ticket: Ticket, message: Message) -> None:
    pods.services.pod_event_publish(
        pod_id=ticket.pod_id,
        event={
            "type": "notify",
            "kind": "message.created",
            "ticket_id": ticket.id,
            "message_id": message.id,
            "direction": message.direction,
            "channel": message.channel,
            "text": "",
        },
    )
