"""SLA clocks on tickets: started at open, moved by messages and pauses, and the
breach sweep that tells the pod lead once per breach."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

import pods.selectors
import pods.services
from tickets import rules, selectors
from tickets.models import SlaEvent, Ticket

logger = logging.getLogger(__name__)

SLA_FIELDS = [
    "sla_policy",
    "first_response_due",
    "next_response_due",
    "resolution_due",
    "sla_due_at",
    "sla_check_at",
]
BREACH_BATCH = 500  # tickets per sweep transaction


def _policy_of(ticket: Ticket) -> rules.SlaPolicyFacts | None:
    if ticket.sla_policy_id is None:
        return None
    return next(
        (
            policy
            for policy in selectors.sla_policy_facts()
            if policy.policy_id == ticket.sla_policy_id
        ),
        None,
    )


def _due_of(ticket: Ticket) -> rules.SlaDue:
    return rules.SlaDue(
        first_response_due=ticket.first_response_due,
        next_response_due=ticket.next_response_due,
        resolution_due=ticket.resolution_due,
    )


def _due_apply(ticket: Ticket, due: rules.SlaDue, *, reported_until=None) -> None:
    ticket.first_response_due = due.first_response_due
    ticket.next_response_due = due.next_response_due
    ticket.resolution_due = due.resolution_due
    ticket.sla_due_at = rules.sla_next_due(due=due)
    pending = [
        due_at
        for due_at in (
            due.first_response_due,
            due.next_response_due,
            due.resolution_due,
        )
        if due_at is not None and (reported_until is None or due_at > reported_until)
    ]
    ticket.sla_check_at = min(pending, default=None)


def sla_start(*, ticket: Ticket) -> None:
    """Choose the ticket's SLA policy and start its clocks (no save: the caller
    creates or saves the ticket with SLA_FIELDS)."""
    policy = rules.sla_policy_choose(
        policies=selectors.sla_policy_facts(),
        priority=ticket.priority,
        channel=ticket.channel,
        pod_id=ticket.pod_id,
    )
    ticket.sla_policy_id = policy.policy_id if policy else None
    _due_apply(
        ticket, rules.sla_due_on_open(policy=policy, opened_at=ticket.created_at)
    )


def sla_customer_wrote(*, ticket: Ticket, at: datetime) -> None:
    """A customer message owes them a reply (no save)."""
    awaiting = ticket.first_response_due is not None or (
        ticket.next_response_due is not None
    )
    due = rules.sla_due_on_customer_message(
        policy=_policy_of(ticket),
        due=_due_of(ticket),
        received_at=at,
        awaiting_reply=awaiting,
    )
    _due_apply(ticket, due)


def sla_agent_replied(*, ticket: Ticket) -> None:
    """An agent reply meets the response clocks (no save)."""
    _due_apply(ticket, rules.sla_due_on_agent_reply(due=_due_of(ticket)))


def sla_pause_ended(*, ticket: Ticket, resumed_at: datetime) -> None:
    """The ticket leaves PENDING: push resolution by the time spent waiting."""
    if ticket.pending_since is None:
        return
    due = rules.sla_resolution_paused(
        policy=_policy_of(ticket),
        due=_due_of(ticket),
        paused_from=ticket.pending_since,
        resumed_at=resumed_at,
    )
    _due_apply(ticket, due)


def sla_breaches_detect(*, now: datetime) -> int:
    """Record each breach of open tickets once and tell the pod lead live; move
    every checked ticket's watch on to its next unreported due time. Return how
    many breaches were recorded."""
    recorded = 0
    while True:
        with transaction.atomic():
            tickets = list(
                selectors.tickets_due_before(moment=now).select_for_update(
                    skip_locked=True
                )[:BREACH_BATCH]
            )
            for ticket in tickets:
                recorded += _breaches_record(ticket=ticket, now=now)
        if len(tickets) < BREACH_BATCH:
            return recorded


def _breaches_record(*, ticket: Ticket, now: datetime) -> int:
    due = _due_of(ticket)
    recorded = 0
    for metric in rules.sla_breaches(due=due, now=now):
        due_at = getattr(due, f"{metric.lower()}_due")
        try:
            with transaction.atomic():
                SlaEvent.objects.create(
                    ticket=ticket,
                    pod_id=ticket.pod_id,
                    metric=metric.value,
                    due_at=due_at,
                    breached_at=now,
                )
        except IntegrityError:
            continue  # reported by an earlier sweep
        recorded += 1
        _breach_announce(ticket=ticket, metric=metric.value)
    _due_apply(ticket, due, reported_until=now)
    ticket.save(update_fields=["sla_check_at"])
    return recorded


def _breach_announce(*, ticket: Ticket, metric: str) -> None:
    label = SlaEvent.Metric(metric).label
    event = {
        "type": "notify",
        "kind": "sla.breach",
        "ticket_id": ticket.id,
        "metric": metric,
        "text": gettext("SLA breached on #%(number)s: %(metric)s (%(subject)s)")
        % {"number": ticket.id, "metric": label, "subject": ticket.subject[:80]},
    }
    lead_user_id = pods.selectors.pod_lead_user_id(pod_id=ticket.pod_id)
    if lead_user_id is not None:
        pods.services.user_event_publish(user_id=lead_user_id, event=event)
    pods.services.pod_event_publish(pod_id=ticket.pod_id, event=event)
    logger.info("SLA %s breached on ticket %s", metric, ticket.id)
