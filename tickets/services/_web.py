"""The web form and the API: a contact someone typed, or an integration sent,
goes through the same durable pipeline as every other channel.

The interface calls `contact_submit`, which stores the contact as a JSON
envelope, commits, and processes it at once so the answer can name the ticket.
If processing cannot finish now, the envelope is kept (RECEIVED for the sweep,
FAILED with its reason for admin) and the contact is never lost.

An idempotency key (the form's per-render token, an integration's
Idempotency-Key header scoped to its user) makes a repeated submission the
same envelope, hence the same ticket."""

import hashlib
import json
import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime

from django.db import DatabaseError, transaction

import pods.services
from tickets import selectors
from tickets.models import ContactReason, InboundEnvelope, Ticket
from tickets.services._assignment import ticket_open
from tickets.services._conversation import Incoming, inbound_message_add
from tickets.services._errors import TicketsError
from tickets.services._intake import (
    IntakeRefused,
    Outcome,
    envelope_process,
    envelope_processor,
    envelope_receive,
)

logger = logging.getLogger(__name__)

State = InboundEnvelope.State
WEB = Ticket.Channel.WEB
API = Ticket.Channel.API
SOURCES = {WEB: InboundEnvelope.Source.FORM, API: InboundEnvelope.Source.API}
MAX_KEY_LENGTH = 255


class ContactInvalid(TicketsError):
    """The contact's email or phone cannot identify a customer; nothing was
    stored. `field` names the part at fault ("email" or "phone")."""

    def __init__(self, *, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


class IdempotencyKeyReused(TicketsError):
    """The idempotency key was used before for a different contact."""


@dataclass(frozen=True)
class Contact:
    """A contact as the web form or an integration sent it: the JSON payload of
    its envelope."""

    name: str
    email: str
    subject: str
    text: str
    phone: str = ""
    reason: int | None = None  # a ContactReason id
    priority: str = ""
    idempotency_key: str = ""


@dataclass(frozen=True)
class Submitted:
    envelope: InboundEnvelope
    created: bool  # False: a repeat of an earlier submission with the same key

    @property
    def ticket_id(self) -> int | None:
        return self.envelope.ticket_id


def contact_submit(
    *, channel: str, contact: Contact, now: datetime, meta: dict | None = None
) -> Submitted:
    """Store the contact as an envelope of the channel (WEB or API), commit, and
    process it now; return the envelope in the state processing left it.

    A repeat with the same idempotency key returns the first envelope (with its
    ticket) and stores nothing. Without a key every call is a new contact.
    Raises ContactInvalid (nothing stored) and IdempotencyKeyReused (the key
    came with a different contact before)."""
    _identities_check(contact=contact)
    if not contact.idempotency_key:
        # A nonce keeps two identical keyless contacts apart (a monitor that
        # reports the same alert twice means two tickets).
        payload = {**asdict(contact), "nonce": uuid.uuid4().hex}
    else:
        payload = asdict(contact)
    raw = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    received = envelope_receive(
        channel=channel,
        source=SOURCES[channel],
        raw=raw,
        now=now,
        external_key=_contact_key(channel=channel, key=contact.idempotency_key),
        meta=meta,
    )
    envelope = received.envelope
    if not received.created and envelope.raw_sha256 != hashlib.sha256(raw).hexdigest():
        raise IdempotencyKeyReused(
            "this idempotency key was already used for a different contact"
        )
    return Submitted(
        envelope=_processed(envelope=envelope, now=now), created=received.created
    )


def _contact_key(*, channel: str, key: str) -> str:
    """The envelope key and message delivery key of a contact with an
    idempotency key; "" without one."""
    if not key:
        return ""
    return hashlib.sha256(f"{channel}\0{key}".encode()).hexdigest()


def _identities_check(*, contact: Contact) -> None:
    if not contact.email and not contact.phone:
        raise ContactInvalid(field="email", reason="an email or a phone is needed")
    for field, kind, value in (
        ("email", "EMAIL", contact.email),
        ("phone", "PHONE", contact.phone),
    ):
        if not value:
            continue
        try:
            pods.services.identities_normalise(identities=[(kind, value)])
        except pods.services.InvalidContact as exc:
            raise ContactInvalid(field=field, reason=str(exc)) from exc


def _processed(*, envelope: InboundEnvelope, now: datetime) -> InboundEnvelope:
    """The envelope after processing it here, or after the worker that already
    holds it has finished. A database failure leaves it RECEIVED for the sweep:
    the contact is stored, so the caller still answers that it arrived."""
    try:
        processed = envelope_process(envelope_id=envelope.id, now=now)
        if processed.state == State.RECEIVED:
            # Locked by a worker (or a concurrent repeat): waiting for the row
            # lock waits for that transaction to end, then reads its outcome.
            with transaction.atomic():
                processed = InboundEnvelope.objects.select_for_update().get(
                    id=envelope.id
                )
    except DatabaseError:
        logger.warning("envelope %s left for the sweep", envelope.id, exc_info=True)
        return envelope
    return processed


# --- Processing -------------------------------------------------------------------


@envelope_processor(WEB)
def web_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Turn a web form contact into a new ticket with its first message."""
    return _contact_process(envelope=envelope, channel=WEB, now=now)


@envelope_processor(API)
def api_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Turn an integration's contact into a new ticket with its first message."""
    return _contact_process(envelope=envelope, channel=API, now=now)


def _contact_process(
    *, envelope: InboundEnvelope, channel: str, now: datetime
) -> Outcome:
    contact = _contact_parse(bytes(envelope.raw))
    key = _contact_key(channel=channel, key=contact.idempotency_key)
    envelope.meta["dedupe_key"] = key or envelope.raw_sha256
    existing = selectors.message_delivered(
        channel=channel, dedupe_key=envelope.meta["dedupe_key"]
    )
    if existing is not None:
        return Outcome(
            State.DUPLICATE,
            ticket=existing.ticket,
            message=existing,
            note=f"the same contact is message {existing.id}",
        )
    identities = [
        (kind, value)
        for kind, value in (("EMAIL", contact.email), ("PHONE", contact.phone))
        if value
    ]
    try:
        ticket = ticket_open(
            identities=identities,
            channel=channel,
            subject=contact.subject or "(no subject)",
            display_name=contact.name,
            priority=contact.priority or Ticket.Priority.NORMAL,
            now=now,
        ).ticket
    except pods.services.PodsError as exc:
        raise IntakeRefused(f"{type(exc).__name__}: {exc}") from exc
    if contact.reason is not None and _reason_active(contact.reason):
        ticket.contact_reason_id = contact.reason
        ticket.save(update_fields=["contact_reason"])
    message = inbound_message_add(
        ticket=ticket,
        incoming=Incoming(
            channel=channel,
            text=contact.text,
            author_name=contact.name,
            author_address=contact.email,
            dedupe_key=envelope.meta["dedupe_key"],
        ),
        now=now,
    )
    return Outcome(State.PROCESSED, ticket=ticket, message=message)


def _contact_parse(raw: bytes) -> Contact:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeRefused(f"not a JSON contact: {exc}") from exc
    if not isinstance(payload, dict):
        raise IntakeRefused("a contact is a JSON object")
    strings = {
        name: payload.get(name) or ""
        for name in (
            "name",
            "email",
            "phone",
            "subject",
            "text",
            "priority",
            "idempotency_key",
        )
    }
    if not all(isinstance(value, str) for value in strings.values()):
        raise IntakeRefused("contact fields must be strings")
    if not strings["text"].strip():
        raise IntakeRefused("the contact has no text")
    if not strings["email"] and not strings["phone"]:
        raise IntakeRefused("the contact has neither an email nor a phone")
    if strings["priority"] and strings["priority"] not in Ticket.Priority.values:
        raise IntakeRefused(f"unknown priority {strings['priority']!r}")
    reason = payload.get("reason")
    if reason is not None and (isinstance(reason, bool) or not isinstance(reason, int)):
        raise IntakeRefused("the contact reason is a ContactReason id")
    return Contact(reason=reason, **strings)


def _reason_active(reason_id: int) -> bool:
    return ContactReason.objects.filter(id=reason_id, active=True).exists()
