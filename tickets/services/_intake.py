"""The durable intake pipeline: store every inbound payload as an envelope and
commit, then process it (parse, identify and route, thread, store the message)
in a task. Processing is idempotent, so a redelivered task, a sweep and a retry
from admin can all run it again safely."""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError, IntegrityError, InterfaceError, transaction
from django.db import OperationalError as DatabaseUnavailable

from tickets import outbound, selectors
from tickets.models import InboundEnvelope, Message, Ticket
from tickets.services._errors import TicketsError

logger = logging.getLogger(__name__)

State = InboundEnvelope.State
REQUEUE_BATCH = 500


class IntakeRefused(TicketsError):
    """The payload cannot become a message; the reason is kept on the envelope."""


class IntakeQuarantined(TicketsError):
    """The payload needs a person to look at it before it may become a message."""


@dataclass(frozen=True)
class Outcome:
    """What processing an envelope came to."""

    state: str
    ticket: Ticket | None = None
    message: Message | None = None
    note: str = ""


@dataclass(frozen=True)
class Received:
    envelope: InboundEnvelope
    created: bool


@dataclass
class _Processors:
    by_channel: dict[str, Callable[..., Outcome]] = field(default_factory=dict)
    # A provider whose payloads a channel's processor does not read (the
    # customer portal's messages on the web channel) has its own.
    by_provider: dict[tuple[str, str], Callable[..., Outcome]] = field(
        default_factory=dict
    )


PROCESSORS = _Processors()


def envelope_processor(channel: str, *, provider: str = ""):
    """Register the function that processes envelopes of a channel, or only
    those of one provider on it."""

    def register(processor: Callable[..., Outcome]) -> Callable[..., Outcome]:
        if provider:
            PROCESSORS.by_provider[(channel, provider)] = processor
        else:
            PROCESSORS.by_channel[channel] = processor
        return processor

    return register


def envelope_receive(
    *,
    channel: str,
    source: str,
    raw: bytes,
    now: datetime,
    provider: str = "",
    external_key: str = "",
    meta: dict | None = None,
    refused: str = "",
) -> Received:
    """Store the payload and commit; processing is queued after commit.

    An exact redelivery (same provider event id, or same bytes) returns the first
    envelope with created=False and stores nothing. With `refused` (the interface
    found the body malformed) the envelope is kept as FAILED with that reason and
    nothing is queued."""
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    try:
        with transaction.atomic():
            envelope = InboundEnvelope.objects.create(
                channel=channel,
                provider=provider,
                source=source,
                raw=raw,
                raw_sha256=raw_sha256,
                external_key=(external_key or raw_sha256)[:255],
                meta=meta or {},
                state=State.FAILED if refused else State.RECEIVED,
                error=refused,
                received_at=now,
            )
            if not refused:
                outbound.envelope_process_enqueue(envelope_id=envelope.id)
    except IntegrityError:
        envelope = InboundEnvelope.objects.get(
            channel=channel,
            provider=provider,
            external_key=(external_key or raw_sha256)[:255],
        )
        return Received(envelope=envelope, created=False)
    return Received(envelope=envelope, created=True)


def envelope_process(*, envelope_id: int, now: datetime) -> InboundEnvelope:
    """Process a received envelope once; return it in its final state.

    The envelope row stays locked while it is processed, so a duplicate task
    skips it. A message whose delivery key is already stored (a race between two
    envelopes of one message) makes the envelope DUPLICATE. If the database
    itself fails the transaction rolls back, the envelope stays RECEIVED, and the
    sweep tries again."""
    with transaction.atomic():
        try:
            envelope = InboundEnvelope.objects.select_for_update(skip_locked=True).get(
                id=envelope_id, state=State.RECEIVED
            )
        except InboundEnvelope.DoesNotExist:
            return InboundEnvelope.objects.get(id=envelope_id)
        envelope.attempts += 1
        outcome = _outcome_of(envelope=envelope, now=now)
        envelope.state = outcome.state
        envelope.error = outcome.note
        envelope.ticket = outcome.ticket
        envelope.message = outcome.message
        envelope.processed_at = now
        envelope.save(
            update_fields=[
                "attempts",
                "meta",
                "state",
                "error",
                "ticket",
                "message",
                "processed_at",
            ]
        )
    return envelope


def _outcome_of(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    processor = PROCESSORS.by_provider.get(
        (envelope.channel, envelope.provider)
    ) or PROCESSORS.by_channel.get(envelope.channel)
    if processor is None:
        return Outcome(State.FAILED, note=f"no processor for {envelope.channel}")
    try:
        with transaction.atomic():
            return processor(envelope=envelope, now=now)
    except IntegrityError as exc:
        return _duplicate_or_failure(envelope=envelope, error=exc)
    except IntakeQuarantined as exc:
        return Outcome(State.QUARANTINED, note=str(exc))
    except (DatabaseUnavailable, InterfaceError):
        raise  # the database is away: roll back, leave RECEIVED for the sweep
    except (TicketsError, ValueError) as exc:
        return Outcome(State.FAILED, note=_reason(exc))
    except Exception as exc:
        # A bug must not wedge the envelope: keep it FAILED with the reason, to be
        # retried from admin once fixed.
        logger.exception("envelope %s failed unexpectedly", envelope.id)
        return Outcome(State.FAILED, note=_reason(exc))


def _duplicate_or_failure(
    *, envelope: InboundEnvelope, error: DatabaseError
) -> Outcome:
    key = envelope.meta.get("dedupe_key", "")
    existing = selectors.message_delivered(channel=envelope.channel, dedupe_key=key)
    if existing is not None:
        return Outcome(
            State.DUPLICATE,
            ticket=existing.ticket,
            message=existing,
            note="a concurrent delivery of the same message was stored first",
        )
    return Outcome(State.FAILED, note=_reason(error))


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}"[:2000] if str(exc) else name


def envelopes_requeue(*, received_before: datetime) -> int:
    """Queue again envelopes whose processing never ran (the broker was down at
    commit, or a worker was lost); return how many."""
    waiting = selectors.envelopes_waiting(
        received_before=received_before, limit=REQUEUE_BATCH
    )
    for envelope_id in waiting:
        with transaction.atomic():
            outbound.envelope_process_enqueue(envelope_id=envelope_id)
    return len(waiting)


def envelope_retry(*, envelope_id: int) -> bool:
    """Send a failed or quarantined envelope through processing again (from
    admin, after a fix or a person's look); False if it is in another state."""
    with transaction.atomic():
        retried = InboundEnvelope.objects.filter(
            id=envelope_id, state__in=[State.FAILED, State.QUARANTINED]
        ).update(state=State.RECEIVED, error="")
        if retried:
            outbound.envelope_process_enqueue(envelope_id=envelope_id)
    return bool(retried)
