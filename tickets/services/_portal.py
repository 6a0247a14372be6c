"""The customer portal writes: a signed-in customer's reply to one of their
tickets, or a new request, through the same durable pipeline as the web form.

The interface calls `portal_message_submit`, which stores the message as a JSON
envelope of the web channel from the provider "portal" (files inside, base64),
commits, and processes it at once. The customer is the one the session signed
in, put in the payload by the server: a reply threads into the ticket it names
only because that ticket is the customer's (checked again when processed, as a
merge may have moved things since). A solved ticket reopens; a closed one gets
a follow-up, as an email to it would.

The form's per-render token is the idempotency key, scoped to the customer: a
double submit or a redelivered task is one message."""

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

import pods.selectors
import pods.services
from tickets import selectors
from tickets.models import ContactReason, InboundEnvelope, Ticket
from tickets.services._assignment import ticket_open
from tickets.services._conversation import (
    Incoming,
    IncomingFile,
    inbound_message_add,
)
from tickets.services._errors import TicketsError
from tickets.services._intake import (
    IntakeRefused,
    Outcome,
    envelope_processor,
    envelope_receive,
)
from tickets.services._web import IdempotencyKeyReused, Submitted, _processed

State = InboundEnvelope.State
WEB = Ticket.Channel.WEB
PORTAL_PROVIDER = "portal"
MAX_PORTAL_TEXT = 20_000
MAX_PORTAL_SUBJECT = 250
MAX_PORTAL_FILES = 5


def max_portal_file_bytes() -> int:
    """What the files of one portal message may add up to: what one file of
    an email may be."""
    return settings.HELPDESK["MAX_ATTACHMENT_BYTES"]


class PortalMessageInvalid(TicketsError):
    """The message cannot be accepted as it is (empty, too long, too many or too
    large files); nothing was stored. `field` names the part at fault."""

    def __init__(self, *, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


@dataclass(frozen=True)
class PortalFile:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class PortalMessage:
    """What a signed-in customer sent from the portal. `customer_id` comes from
    their session, never from the form."""

    customer_id: int
    text: str
    idempotency_key: str
    ticket_id: int | None = None  # a reply; None: a new request
    subject: str = ""
    reason: int | None = None  # a ContactReason id, for a new request
    files: Sequence[PortalFile] = ()


def portal_message_submit(
    *, message: PortalMessage, now: datetime, meta: dict | None = None
) -> Submitted:
    """Store the customer's message as an envelope, commit, and process it now;
    return the envelope in the state processing left it (its ticket: the one
    replied to, its follow-up, or the new request's).

    A repeat under the same idempotency key returns the first envelope and
    stores nothing. Raises PortalMessageInvalid (nothing stored) and
    IdempotencyKeyReused (the key came with a different message before). The
    caller checks first that a replied-to ticket is the customer's."""
    _message_check(message)
    raw = json.dumps(_payload(message), sort_keys=True, ensure_ascii=False).encode()
    key = _portal_key(customer_id=message.customer_id, key=message.idempotency_key)
    received = envelope_receive(
        channel=WEB,
        source=InboundEnvelope.Source.FORM,
        provider=PORTAL_PROVIDER,
        raw=raw,
        now=now,
        external_key=key,
        meta=meta,
    )
    envelope = received.envelope
    if not received.created and envelope.raw_sha256 != hashlib.sha256(raw).hexdigest():
        raise IdempotencyKeyReused(
            "this idempotency key was already used for a different message"
        )
    return Submitted(
        envelope=_processed(envelope=envelope, now=now), created=received.created
    )


def _message_check(message: PortalMessage) -> None:
    if not message.idempotency_key:
        raise PortalMessageInvalid(field="token", reason="an idempotency key is needed")
    if not message.text.strip():
        raise PortalMessageInvalid(field="text", reason="the message is empty")
    if len(message.text) > MAX_PORTAL_TEXT:
        raise PortalMessageInvalid(field="text", reason="the message is too long")
    if message.ticket_id is None and not message.subject.strip():
        raise PortalMessageInvalid(field="subject", reason="a request needs a subject")
    if len(message.subject) > MAX_PORTAL_SUBJECT:
        raise PortalMessageInvalid(field="subject", reason="the subject is too long")
    if len(message.files) > MAX_PORTAL_FILES:
        raise PortalMessageInvalid(field="files", reason="too many files")
    if any(not file.data for file in message.files):
        raise PortalMessageInvalid(field="files", reason="a file is empty")
    if sum(len(file.data) for file in message.files) > max_portal_file_bytes():
        raise PortalMessageInvalid(field="files", reason="the files are too large")


def _payload(message: PortalMessage) -> dict:
    return {
        "customer": message.customer_id,
        "ticket": message.ticket_id,
        "subject": message.subject,
        "text": message.text,
        "reason": message.reason,
        "idempotency_key": message.idempotency_key,
        "files": [
            {
                "name": file.name,
                "content_type": file.content_type,
                "data": base64.b64encode(file.data).decode("ascii"),
            }
            for file in message.files
        ],
    }


def _portal_key(*, customer_id: int, key: str) -> str:
    """The envelope key and message delivery key of a portal message: the
    form's token, scoped to the customer who sent it."""
    return hashlib.sha256(
        f"{PORTAL_PROVIDER}\0{customer_id}\0{key}".encode()
    ).hexdigest()


# --- Processing -------------------------------------------------------------------


@envelope_processor(WEB, provider=PORTAL_PROVIDER)
def portal_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Turn a portal message into a message on the customer's ticket (a reply)
    or on a new ticket of theirs (a request)."""
    message = _message_parse(bytes(envelope.raw))
    key = _portal_key(customer_id=message.customer_id, key=message.idempotency_key)
    envelope.meta["dedupe_key"] = key
    existing = selectors.message_delivered(channel=WEB, dedupe_key=key)
    if existing is not None:
        return Outcome(
            State.DUPLICATE,
            ticket=existing.ticket,
            message=existing,
            note=f"the same portal message is message {existing.id}",
        )
    customer = pods.selectors.customer_facts(customer_id=message.customer_id)
    if customer is None:
        raise IntakeRefused(f"customer {message.customer_id} no longer exists")
    ticket, opened = _ticket_for(message=message, customer=customer, now=now)
    stored = inbound_message_add(
        ticket=ticket,
        incoming=Incoming(
            channel=WEB,
            text=message.text,
            author_name=customer.display_name,
            author_address=_email_of(customer.customer_id),
            dedupe_key=key,
            files=[
                IncomingFile(
                    name=file.name,
                    content_type=file.content_type,
                    data=file.data,
                    sha256=hashlib.sha256(file.data).hexdigest(),
                )
                for file in message.files
            ],
        ),
        now=now,
        opened=opened,
    )
    return Outcome(State.PROCESSED, ticket=ticket, message=stored)


def _ticket_for(
    *, message: PortalMessage, customer: pods.selectors.CustomerFacts, now: datetime
) -> tuple[Ticket, bool]:
    """The ticket the message goes on, and whether it was opened for it (in this
    transaction): the replied-to ticket (after merges), a follow-up of it when
    it is closed, or a new request."""
    if message.ticket_id is None:
        ticket = _ticket_open_for(customer=customer, subject=message.subject, now=now)
        if message.reason is not None and _reason_active(message.reason):
            ticket.contact_reason_id = message.reason
            ticket.save(update_fields=["contact_reason"])
        return ticket, True
    ticket = selectors.ticket_current(ticket_id=message.ticket_id)
    if ticket is None or ticket.customer_id not in customer.family_ids:
        raise IntakeRefused(
            f"ticket {message.ticket_id} is not a ticket of customer "
            f"{customer.customer_id}"
        )
    if ticket.status != Ticket.Status.CLOSED:
        return ticket, False
    follow_up = _ticket_open_for(
        customer=customer,
        subject=ticket.subject,
        now=now,
        follow_up_of_id=ticket.id,
    )
    return follow_up, True


def _ticket_open_for(
    *,
    customer: pods.selectors.CustomerFacts,
    subject: str,
    now: datetime,
    follow_up_of_id: int | None = None,
) -> Ticket:
    identities = [
        (kind, value)
        for kind, value in pods.selectors.customer_identities(
            customer_id=customer.customer_id
        )
        if kind == "EMAIL"
    ]
    if not identities:
        raise IntakeRefused(f"customer {customer.customer_id} has no email identity")
    try:
        ticket = ticket_open(
            identities=identities,
            channel=WEB,
            subject=subject or "(no subject)",
            display_name=customer.display_name,
            follow_up_of_id=follow_up_of_id,
            now=now,
        ).ticket
    except pods.services.PodsError as exc:
        raise IntakeRefused(f"{type(exc).__name__}: {exc}") from exc
    if ticket.customer_id not in customer.family_ids:
        # Their identities led elsewhere (moved by a merge since): nothing of
        # this transaction may stay.
        raise IntakeRefused(
            f"the identities of customer {customer.customer_id} belong to "
            f"customer {ticket.customer_id}"
        )
    return ticket


def _email_of(customer_id: int) -> str:
    return next(
        (
            value
            for kind, value in pods.selectors.customer_identities(
                customer_id=customer_id
            )
            if kind == "EMAIL"
        ),
        "",
    )


def _message_parse(raw: bytes) -> PortalMessage:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeRefused(f"not a JSON portal message: {exc}") from exc
    if not isinstance(payload, dict):
        raise IntakeRefused("a portal message is a JSON object")
    ids = {name: payload.get(name) for name in ("customer", "ticket", "reason")}
    if not _is_id(ids["customer"]) or any(
        value is not None and not _is_id(value)
        for value in (ids["ticket"], ids["reason"])
    ):
        raise IntakeRefused("customer, ticket and reason are ids")
    strings = {
        name: payload.get(name) or "" for name in ("subject", "text", "idempotency_key")
    }
    if not all(isinstance(value, str) for value in strings.values()):
        raise IntakeRefused("subject, text and idempotency_key are strings")
    if not strings["text"].strip():
        raise IntakeRefused("the portal message has no text")
    return PortalMessage(
        customer_id=ids["customer"],
        ticket_id=ids["ticket"],
        reason=ids["reason"],
        files=_files_parse(payload.get("files") or []),
        **strings,
    )


def _files_parse(files: object) -> list[PortalFile]:
    if not isinstance(files, list):
        raise IntakeRefused("files are a list")
    parsed = []
    for file in files:
        if not isinstance(file, dict) or not all(
            isinstance(file.get(name), str) for name in ("name", "content_type", "data")
        ):
            raise IntakeRefused("a file has a name, a content type and base64 data")
        try:
            data = base64.b64decode(file["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise IntakeRefused(f"a file's data is not base64: {exc}") from exc
        parsed.append(
            PortalFile(name=file["name"], content_type=file["content_type"], data=data)
        )
    return parsed


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _reason_active(reason_id: int) -> bool:
    return ContactReason.objects.filter(id=reason_id, active=True).exists()
