"""SMS and social in: an envelope of a provider's JSON becomes a message on the
customer's open conversation on that channel, or a refusal with its reason.

Both channels are conversations without subjects or threading headers: a
customer's message continues their open ticket on the channel, else opens one.
The provider's message id makes a delivery the same message, so a redelivery
through any envelope is stored once."""

from datetime import datetime

from django.conf import settings

from tickets import rules, selectors
from tickets.models import InboundEnvelope, Ticket
from tickets.services._assignment import ticket_open
from tickets.services._conversation import Incoming, inbound_message_add
from tickets.services._intake import IntakeRefused, Outcome, envelope_processor

State = InboundEnvelope.State
SMS = Ticket.Channel.SMS
SOCIAL = Ticket.Channel.SOCIAL


@envelope_processor(SMS)
def sms_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Add a text message to the sender's open SMS ticket, or open one. Media is
    kept as links in the text, never fetched. Raises IntakeRefused."""
    try:
        sms = rules.sms_parse(bytes(envelope.raw), default_region=_phone_region())
    except rules.PayloadInvalid as exc:
        raise IntakeRefused(str(exc)) from exc
    key = rules.provider_dedupe_key(provider=sms.provider, external_id=sms.id)
    envelope.meta["dedupe_key"] = key
    duplicate = _duplicate_of(channel=SMS, key=key)
    if duplicate is not None:
        return duplicate
    text = rules.sms_text_with_media(text=sms.text, media=sms.media)
    ticket = ticket_open(
        identities=[("PHONE", sms.sender)],
        channel=SMS,
        subject=rules.conversation_subject(
            text=sms.text, fallback=f"SMS from {sms.sender}"
        ),
        continue_open=True,
        now=now,
    ).ticket
    message = inbound_message_add(
        ticket=ticket,
        incoming=Incoming(
            channel=SMS,
            text=text,
            author_address=sms.sender,
            external_id=sms.id,
            dedupe_key=key,
            headers=_headers(
                provider=sms.provider,
                to=sms.recipient,
                received_at=sms.received_at,
                media=[
                    {"url": item.url, "content_type": item.content_type}
                    for item in sms.media
                ],
            ),
        ),
        now=now,
    )
    return Outcome(State.PROCESSED, ticket=ticket, message=message)


@envelope_processor(SOCIAL)
def social_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Add a direct message to the sender's open social ticket, or open one. The
    sender is known by the network's user id, not their handle. Raises
    IntakeRefused."""
    try:
        social = rules.social_message_parse(
            bytes(envelope.raw), provider=envelope.provider
        )
    except rules.PayloadInvalid as exc:
        raise IntakeRefused(str(exc)) from exc
    key = rules.provider_dedupe_key(provider=social.provider, external_id=social.id)
    envelope.meta["dedupe_key"] = key
    duplicate = _duplicate_of(channel=SOCIAL, key=key)
    if duplicate is not None:
        return duplicate
    shown = social.name or social.handle or social.sender_id
    ticket = ticket_open(
        identities=[("SOCIAL", social.identity)],
        channel=SOCIAL,
        subject=rules.conversation_subject(
            text=social.text, fallback=f"{social.provider} message from {shown}"
        ),
        display_name=social.name or social.handle,
        continue_open=True,
        now=now,
    ).ticket
    message = inbound_message_add(
        ticket=ticket,
        incoming=Incoming(
            channel=SOCIAL,
            text=social.text,
            author_name=social.name,
            author_address=f"@{social.handle}" if social.handle else social.identity,
            external_id=social.id,
            dedupe_key=key,
            headers=_headers(
                provider=social.provider,
                sender_id=social.sender_id,
                handle=social.handle,
                thread_id=social.thread_id,
                received_at=social.received_at,
            ),
        ),
        now=now,
    )
    return Outcome(State.PROCESSED, ticket=ticket, message=message)


def _duplicate_of(*, channel: str, key: str) -> Outcome | None:
    """The outcome of a message already stored under the key (it came through
    another envelope); a race with that envelope is caught by the database."""
    existing = selectors.message_delivered(channel=channel, dedupe_key=key)
    if existing is None:
        return None
    return Outcome(
        State.DUPLICATE,
        ticket=existing.ticket,
        message=existing,
        note=f"the same {channel.lower()} message is message {existing.id}",
    )


def _headers(*, received_at: datetime | None, **fields) -> dict:
    """What the provider told beyond the text, for the record (JSON-safe)."""
    headers = {name: value for name, value in fields.items() if value}
    if received_at is not None:
        headers["received_at"] = received_at.isoformat()
    return headers


def _phone_region() -> str:
    return getattr(settings, "HELPDESK_PHONE_REGION", "GB")
