"""Phone in: a call's events from the telephony provider become one message on
the caller's phone ticket, holding the call record, and the caller's customer
card pops up live on the answering agent's screen.

Each event of a call is its own webhook, delivered at least once and in any
order. The first event seen of a call, whichever it is, opens or continues the
caller's phone ticket and records the call; every later event updates that
record (rules.call_facts_apply), so any order of arrival ends the same and a
call never has a second ticket, message or record. Agents add call notes with
note_add on the call's ticket."""

import dataclasses
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

import pods.selectors
import pods.services
from tickets import rules
from tickets.models import CallRecord, InboundEnvelope, Ticket
from tickets.services._assignment import ticket_open
from tickets.services._conversation import Incoming, inbound_message_add
from tickets.services._intake import IntakeRefused, Outcome, envelope_processor

State = InboundEnvelope.State
PHONE = Ticket.Channel.PHONE
SCREEN_POP = "call.ringing"
# CallFacts fields whose CallRecord field has another name.
FIELD_NAMES = {"agent_id": "agent"}


@envelope_processor(PHONE)
def call_envelope_process(*, envelope: InboundEnvelope, now: datetime) -> Outcome:
    """Record one event of a call (see the module docstring) and, while the call
    rings or has just been answered, show the caller's card to the answering
    agent (to the whole pod when the provider names no agent). Raises
    IntakeRefused."""
    try:
        event = rules.call_event_parse(
            bytes(envelope.raw), default_region=_phone_region()
        )
    except rules.PayloadInvalid as exc:
        raise IntakeRefused(str(exc)) from exc
    key = rules.provider_dedupe_key(
        provider=event.provider, external_id=f"call:{event.call_id}"
    )
    envelope.meta["dedupe_key"] = key
    at = event.occurred_at or now
    agent = _agent_find(username=event.agent_username, agent_id=event.agent_id)
    call = _call_locked(event=event) or _call_record(
        event=event, key=key, at=at, now=now
    )
    _call_update(call=call, event=event, at=at, agent_id=agent.id if agent else None)
    if _pops_up(call=call, event=event, agent=agent):
        _screen_pop(call=call, agent=agent)
    named = event.agent_username or event.agent_id
    note = f"no active agent {named}; the call is kept without one"
    return Outcome(
        State.PROCESSED,
        ticket=call.ticket,
        message=call.message,
        note=note if named and agent is None else "",
    )


def _call_locked(*, event: rules.CallEvent) -> CallRecord | None:
    """The call's record, locked until commit: the events of one call are
    applied one at a time."""
    return (
        CallRecord.objects.select_for_update(of=("self",))
        .select_related("ticket", "message")
        .filter(provider=event.provider, call_id=event.call_id)
        .first()
    )


def _call_record(
    *, event: rules.CallEvent, key: str, at: datetime, now: datetime
) -> CallRecord:
    """Open or continue the caller's phone ticket and record the call on a
    message of its own."""
    ticket = ticket_open(
        identities=[("PHONE", event.caller)],
        channel=PHONE,
        subject=f"Call from {event.caller}",
        continue_open=True,
        now=now,
    ).ticket
    try:
        with transaction.atomic():
            message = inbound_message_add(
                ticket=ticket,
                incoming=Incoming(
                    channel=PHONE,
                    text=f"Incoming call from {event.caller}",
                    author_address=event.caller,
                    external_id=event.call_id,
                    dedupe_key=key,
                    headers={"provider": event.provider} if event.provider else {},
                ),
                now=now,
            )
            return CallRecord.objects.create(
                ticket=ticket,
                message=message,
                provider=event.provider,
                call_id=event.call_id,
                state=CallRecord.State.RINGING,
                from_number=event.caller,
                started_at=at,
            )
    except IntegrityError:
        # Another event of this call recorded it first: ticket_open waited for
        # the customer row that event held, so its record has committed. Update
        # that one.
        call = _call_locked(event=event)
        if call is None:
            raise
        return call


def _call_update(
    *, call: CallRecord, event: rules.CallEvent, at: datetime, agent_id: int | None
) -> None:
    """Apply the event to the locked record, saving only the fields it changed."""
    names = [field.name for field in dataclasses.fields(rules.CallFacts)]
    known = rules.CallFacts(**{name: getattr(call, name) for name in names})
    facts = rules.call_facts_apply(known, event=event, at=at, agent_id=agent_id)
    changed = [
        name
        for name, value in dataclasses.asdict(facts).items()
        if getattr(call, name) != value
    ]
    for name in changed:
        setattr(call, name, getattr(facts, name))
    if changed:
        call.save(update_fields=[FIELD_NAMES.get(name, name) for name in changed])


def _agent_find(*, username: str, agent_id: int | None):
    """The active agent the provider named (by username or agent id), or None."""
    if not username and agent_id is None:
        return None
    users = get_user_model().objects.filter(is_active=True)
    users = (
        users.filter(username=username)
        if username
        else users.filter(agent__id=agent_id)
    )
    user_id = users.values_list("id", flat=True).first()
    return pods.selectors.agent_for_user(user_id=user_id) if user_id else None


def _pops_up(*, call: CallRecord, event: rules.CallEvent, agent) -> bool:
    """Whether this event shows the caller's card: a ringing call, or a call just
    answered by a known agent. A late event of a call already over shows
    nothing."""
    if event.event == "ringing":
        return call.state == CallRecord.State.RINGING
    return (
        event.event == "answered"
        and agent is not None
        and call.state == CallRecord.State.ANSWERED
    )


def _screen_pop(*, call: CallRecord, agent) -> None:
    """Send the caller's card live, after commit, to the answering agent, or to
    the pod that owns the customer when no agent is named."""
    card = _customer_card(ticket=call.ticket, number=call.from_number)
    event = {
        "type": "notify",
        "kind": SCREEN_POP,
        "ticket_id": call.ticket_id,
        "call_id": call.call_id,
        "from": call.from_number,
        "customer": card,
        "text": f"Call from {card['name'] or call.from_number}",
    }
    if agent is not None:
        pods.services.user_event_publish(user_id=agent.user_id, event=event)
    else:
        pods.services.pod_event_publish(pod_id=call.ticket.pod_id, event=event)


def _customer_card(*, ticket: Ticket, number: str) -> dict:
    """Who is calling, at a glance: the customer, their pod, how to reach them,
    how many tickets they have open and their most recent ticket before this
    call's (JSON-safe: the Redis channel layer carries no datetimes)."""
    customer = pods.selectors.customer_lookup(kind="PHONE", value=number)
    customer_id = customer.id if customer else ticket.customer_id
    tickets = Ticket.objects.filter(customer_id=customer_id, merged_into__isnull=True)
    last = (
        tickets.exclude(id=ticket.id)
        .order_by("-created_at", "-id")
        .values("id", "subject", "status", "channel", "created_at")
        .first()
    )
    if last is not None:
        last["created_at"] = last["created_at"].isoformat()
    return {
        "id": customer_id,
        "name": customer.display_name if customer else "",
        "pod": {"id": customer.pod_id, "name": customer.pod.name}
        if customer
        else {"id": ticket.pod_id, "name": ""},
        "identities": [
            {"kind": kind, "value": value}
            for kind, value in pods.selectors.customer_identities(
                customer_id=customer_id
            )
        ],
        "open_tickets": tickets.filter(status__in=Ticket.OPEN_STATUSES).count(),
        "last_ticket": last,
    }


def _phone_region() -> str:
    return getattr(settings, "HELPDESK_PHONE_REGION", "GB")
