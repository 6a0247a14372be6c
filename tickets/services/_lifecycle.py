"""The life of a ticket after it opens: waiting on the customer, solved, closed
by the clock, merged into another."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext as _

import pods.services
from tickets import rules
from tickets.models import Message, Ticket
from tickets.services._assignment import (
    TransitionRefused,
    ticket_announce,
    ticket_solve,
)
from tickets.services._conversation import ticket_reopen_apply
from tickets.services._errors import TicketsError
from tickets.services._sla import SLA_FIELDS, sla_pause_ended

LIFECYCLE_BATCH = 500  # tickets per transaction in the hourly sweep


class MergeRefused(TicketsError):
    """The two tickets cannot be merged."""


class ReopenRefused(TransitionRefused):
    """The ticket cannot be reopened: it is not solved (a closed one never is)."""


def ticket_pending_set(*, ticket: Ticket, now: datetime) -> Ticket:
    """Wait on the customer: the resolution clock pauses until they write (or
    the ticket is solved). Raises TransitionRefused."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        if not rules.can_transition(ticket.status, Ticket.Status.PENDING):
            raise TransitionRefused(
                _("a %(status)s ticket cannot wait")
                % {"status": ticket.get_status_display().lower()}
            )
        ticket.status = Ticket.Status.PENDING
        ticket.pending_since = ticket.updated_at = ticket.agent_active_at = now
        ticket.save(
            update_fields=["status", "pending_since", "updated_at", "agent_active_at"]
        )
        ticket_announce(ticket=ticket, kind="ticket.pending")
    return ticket


def ticket_resume(*, ticket: Ticket, now: datetime) -> Ticket:
    """Take a pending ticket back to open (the agent resumes it), pushing the
    resolution due time by the pause. Raises TransitionRefused."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        if ticket.status != Ticket.Status.PENDING:
            raise TransitionRefused(
                _("a %(status)s ticket is not waiting")
                % {"status": ticket.get_status_display().lower()}
            )
        sla_pause_ended(ticket=ticket, resumed_at=now)
        ticket.status = Ticket.Status.OPEN
        ticket.pending_since = None
        ticket.updated_at = now
        ticket.save(
            update_fields=["status", "pending_since", "updated_at", *SLA_FIELDS]
        )
    return ticket


def ticket_reopen(*, ticket: Ticket, agent_id: int | None, now: datetime) -> Ticket:
    """Reopen a solved ticket that is not done after all: it goes back to its
    last assignee if they can take it now, else to the pod queue (as when the
    customer writes again), counts as a reopen, and a note on its timeline
    says who reopened it. A closed ticket is never reopened: the customer's
    next message opens a follow-up. Raises ReopenRefused."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        _reopen_check(ticket)
        fields = ticket_reopen_apply(ticket=ticket, now=now)
        ticket.updated_at = now
        ticket.save(update_fields=[*fields, "updated_at"])
        Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.NOTE,
            channel=ticket.channel,
            author_agent_id=agent_id,
            text=_("Reopened the ticket."),
            headers={"event": "ticket.reopened"},
            created_at=now,
        )
        ticket_announce(ticket=ticket, kind="ticket.reopened")
    return ticket


def _reopen_check(ticket: Ticket) -> None:
    if ticket.status == Ticket.Status.CLOSED:
        raise ReopenRefused(
            _(
                "#%(number)s is closed and cannot be reopened: the customer's "
                "next message opens a follow-up."
            )
            % {"number": ticket.id}
        )
    if ticket.status != Ticket.Status.SOLVED or not rules.can_transition(
        ticket.status, Ticket.Status.OPEN
    ):
        raise ReopenRefused(
            _("#%(number)s is %(status)s: only a solved ticket is reopened.")
            % {"number": ticket.id, "status": ticket.get_status_display().lower()}
        )


def ticket_back_to_open(
    *, ticket: Ticket, agent_id: int | None, now: datetime
) -> Ticket:
    """Back to open from wherever the ticket rests: a pending one resumes
    (ticket_resume), a solved one is reopened (ticket_reopen). Raises
    TransitionRefused, ReopenRefused for a ticket that is not solved."""
    with transaction.atomic():
        # Locked first, so the status read is the one acted on.
        status = (
            Ticket.objects.select_for_update()
            .filter(id=ticket.id)
            .values_list("status", flat=True)
            .get()
        )
        if status == Ticket.Status.PENDING:
            return ticket_resume(ticket=ticket, now=now)
        return ticket_reopen(ticket=ticket, agent_id=agent_id, now=now)


def tickets_lifecycle_advance(
    *, now: datetime, pending_days: int, solved_days: int
) -> tuple[int, int]:
    """Solve tickets pending longer than pending_days (the customer never came
    back) and close tickets solved longer than solved_days (a later message
    from the customer then opens a follow-up). Return (solved, closed)."""
    solved = 0
    for ticket in Ticket.objects.filter(
        status=Ticket.Status.PENDING,
        pending_since__lt=now - timedelta(days=pending_days),
    ).only("id")[:LIFECYCLE_BATCH]:
        try:
            ticket_solve(ticket=ticket, now=now)
        except TransitionRefused:
            continue  # the customer wrote in the meantime
        solved += 1
    closed = Ticket.objects.filter(
        status=Ticket.Status.SOLVED, solved_at__lt=now - timedelta(days=solved_days)
    ).update(status=Ticket.Status.CLOSED, closed_at=now, sla_check_at=None)
    return solved, closed


def ticket_merge(
    *, source: Ticket, target: Ticket, agent_id: int | None, now: datetime
) -> Ticket:
    """Merge the source ticket into the target of the same customer: its messages
    move, it closes pointing at the target, and a note on each says so. Raises
    MergeRefused."""
    if source.id == target.id:
        raise MergeRefused(_("a ticket cannot be merged into itself"))
    with transaction.atomic():
        first, second = sorted([source.id, target.id])
        locked = Ticket.objects.select_for_update().in_bulk([first, second])
        source, target = locked[source.id], locked[target.id]
        _merge_check(source=source, target=target)
        Message.objects.filter(ticket_id=source.id).update(ticket_id=target.id)
        if source.assignee_id and source.is_open:
            pods.services.agent_load_release(agent_id=source.assignee_id)
        source.status = Ticket.Status.CLOSED
        source.merged_into = target
        source.closed_at = source.updated_at = now
        source.sla_check_at = None
        source.save(
            update_fields=[
                "status",
                "merged_into",
                "closed_at",
                "updated_at",
                "sla_check_at",
            ]
        )
        target.updated_at = now
        target.save(update_fields=["updated_at"])
        for ticket, text in (
            (source, _("Merged into #%(number)s.") % {"number": target.id}),
            (
                target,
                _("#%(number)s was merged into this ticket.") % {"number": source.id},
            ),
        ):
            Message.objects.create(
                ticket=ticket,
                direction=Message.Direction.NOTE,
                channel=ticket.channel,
                author_agent_id=agent_id,
                text=text,
                created_at=now,
            )
    return target


def _merge_check(*, source: Ticket, target: Ticket) -> None:
    if source.customer_id != target.customer_id:
        raise MergeRefused(_("tickets of two different customers cannot be merged"))
    if source.merged_into_id is not None:
        raise MergeRefused(
            _("#%(number)s is already merged into #%(target)s")
            % {"number": source.id, "target": source.merged_into_id}
        )
    if target.status == Ticket.Status.CLOSED:
        raise MergeRefused(
            _("#%(number)s is closed; merge into an open ticket")
            % {"number": target.id}
        )
