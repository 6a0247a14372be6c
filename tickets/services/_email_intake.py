"""Email in: an envelope of raw RFC 822 bytes becomes a message on the right
ticket, or a refusal with its reason.

Threading trusts nothing the sender wrote on its own: an In-Reply-To, a
References id or a [#123] subject reference leads into a ticket only when the
sender is that ticket's customer or someone they copied. Anyone else starts a
new ticket, so a stranger can never post into someone else's conversation."""

import re
from datetime import datetime

from django.conf import settings

import pods.selectors
import pods.services
from tickets import rules, selectors
from tickets.models import InboundEnvelope, Message, Ticket
from tickets.services._assignment import ticket_open
from tickets.services._conversation import (
    Incoming,
    IncomingFile,
    inbound_message_add,
    mail_domain,
    participants_add,
)
from tickets.services._intake import (
    IntakeQuarantined,
    IntakeRefused,
    Outcome,
    envelope_processor,
)

State = InboundEnvelope.State
EMAIL = Ticket.Channel.EMAIL
OUR_REPLY_ID = re.compile(rb"<t\d+\.m\d+\.[0-9a-f]{20}@[^<>@\s]+>")


@envelope_processor(EMAIL)
def email_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Turn a raw email into a message on its ticket (see the module docstring)."""
    try:
        parsed = rules.email_parse(
            bytes(envelope.raw),
            max_attachment_bytes=settings.HELPDESK["MAX_ATTACHMENT_BYTES"],
        )
    except rules.EmailUnparseable as exc:
        raise IntakeRefused(f"not an email: {exc}") from exc
    key = rules.email_dedupe_key(
        message_id=parsed.message_id,
        raw_sha256=parsed.raw_sha256,
        sender=parsed.from_address,
        subject=parsed.subject,
        text=parsed.text,
        attachment_hashes=[attachment.sha256 for attachment in parsed.attachments],
    )
    envelope.meta["dedupe_key"] = key
    existing = selectors.message_delivered(channel=EMAIL, dedupe_key=key)
    if existing is not None:
        return Outcome(
            State.DUPLICATE,
            ticket=existing.ticket,
            message=existing,
            note=f"the same email is message {existing.id}",
        )
    if parsed.is_bounce:
        return _bounce_record(parsed=parsed, raw=bytes(envelope.raw), key=key, now=now)
    if parsed.from_ambiguous or not parsed.from_address:
        raise IntakeQuarantined(
            "the sender address is missing or ambiguous; check the From header "
            "before letting it reach a customer's tickets"
        )
    ticket = _ticket_threaded(parsed=parsed)
    if parsed.is_auto_reply and ticket is None:
        return Outcome(State.IGNORED, note="an automatic reply with no ticket to join")
    opened = ticket is None or ticket.status == Ticket.Status.CLOSED
    if opened:
        ticket = ticket_open(
            identities=[("EMAIL", parsed.from_address)],
            channel=EMAIL,
            subject=parsed.subject or "(no subject)",
            display_name=parsed.from_name,
            follow_up_of_id=ticket.id if ticket else None,
            now=now,
        ).ticket
    message = inbound_message_add(
        ticket=ticket,
        incoming=_incoming(parsed=parsed, key=key),
        now=now,
        opened=opened,
    )
    if not parsed.is_auto_reply:
        participants_add(ticket=ticket, emails=_copied(parsed), now=now)
    return Outcome(State.PROCESSED, ticket=ticket, message=message)


def _incoming(*, parsed, key: str, automatic: bool = False) -> Incoming:
    return Incoming(
        channel=EMAIL,
        text=parsed.text,
        visible_text=parsed.visible_text if parsed.visible_text != parsed.text else "",
        html=parsed.html,
        author_name=parsed.from_name,
        author_address=parsed.from_address,
        external_id=parsed.message_id,
        dedupe_key=key,
        external_id_conflict=selectors.external_id_taken(
            channel=EMAIL, external_id=parsed.message_id
        ),
        is_automatic=automatic or parsed.is_auto_reply or parsed.is_bounce,
        headers=parsed.headers,
        files=[
            IncomingFile(
                name=attachment.filename,
                content_type=attachment.content_type,
                data=attachment.data,
                sha256=attachment.sha256,
                inline=attachment.inline,
                content_id=attachment.content_id,
            )
            for attachment in parsed.attachments
        ],
    )


def _ticket_threaded(*, parsed) -> Ticket | None:
    """The ticket this email continues, if its sender may write into it."""
    for ticket_id in _thread_candidates(parsed=parsed):
        ticket = selectors.ticket_current(ticket_id=ticket_id)
        if ticket is not None and _sender_may_write(
            ticket=ticket, sender=parsed.from_address
        ):
            return ticket
    return None


def _thread_candidates(*, parsed) -> list[int]:
    """Tickets named by the email, most specific first: the message it replies
    to, the references newest first, then a [#123] in the subject."""
    ids = [*parsed.in_reply_to, *reversed(parsed.references)]
    known = selectors.ticket_ids_by_external_ids(channel=EMAIL, external_ids=ids)
    candidates = [known[message_id] for message_id in ids if message_id in known]
    reference = rules.ticket_reference_find(parsed.subject)
    if reference is not None:
        candidates.append(reference)
    return list(dict.fromkeys(candidates))


def _sender_may_write(*, ticket: Ticket, sender: str) -> bool:
    try:
        identities = pods.services.identities_normalise(identities=[("EMAIL", sender)])
    except pods.services.InvalidContact:
        return False
    owners = pods.selectors.customers_by_identities(identities=identities)
    if ticket.customer_id in owners.values():
        return True
    return selectors.ticket_participant(ticket_id=ticket.id, email=identities[0][1])


def _copied(parsed) -> list[str]:
    """Addresses the customer copied, who may write into the ticket too; never
    our own addresses."""
    domain = mail_domain().lower()
    return [
        address.lower()
        for address in (*parsed.to, *parsed.cc)
        if address and address.rpartition("@")[2].lower() != domain
    ]


def _bounce_record(*, parsed, raw: bytes, key: str, now: datetime) -> Outcome:
    """Mark the reply that bounced, and keep the bounce on its ticket (without
    reopening it or answering: bounces never start a conversation)."""
    bounced = _our_message_in(raw)
    if bounced is None:
        return Outcome(State.IGNORED, note="a bounce for no message of ours")
    Message.objects.filter(id=bounced.id).update(
        delivery=Message.Delivery.BOUNCED,
        delivery_error=(parsed.subject or "bounced")[:500],
    )
    message = inbound_message_add(
        ticket=bounced.ticket,
        incoming=_incoming(parsed=parsed, key=key, automatic=True),
        now=now,
    )
    return Outcome(State.PROCESSED, ticket=bounced.ticket, message=message)


def _our_message_in(raw: bytes) -> Message | None:
    """The outbound message whose Message-ID (signed by us) the bounce quotes."""
    for match in OUR_REPLY_ID.finditer(raw):
        value = match.group().decode("ascii", "replace")
        if rules.reply_message_id_verify(value=value, key=settings.SECRET_KEY):
            found = (
                Message.objects.select_related("ticket")
                .filter(
                    channel=EMAIL,
                    direction=Message.Direction.OUTBOUND,
                    external_id=value,
                )
                .first()
            )
            if found is not None:
                return found
    return None
