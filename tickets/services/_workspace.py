"""What agents do to tickets in the workspace: take one from the queue, hand it
to a colleague, set its priority, reason and tags, invite a colleague in."""

from collections.abc import Sequence
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

import pods.selectors
import pods.services
from tickets.models import Tag, Ticket, TicketCollaborator
from tickets.services._assignment import ticket_announce
from tickets.services._errors import TicketsError

TAKEABLE = (Ticket.Status.NEW, Ticket.Status.OPEN)


class TakeRefused(TicketsError):
    """Someone else has the ticket, or it is not open to take."""


class InviteRefused(TicketsError):
    """The colleague cannot be invited onto the ticket."""


def ticket_take(*, ticket_id: int, agent_id: int, now: datetime) -> Ticket:
    """Give the unassigned ticket to the agent. One conditional UPDATE decides,
    so of two agents taking the same ticket at once exactly one gets it; the
    other gets TakeRefused, as does an agent of another pod."""
    brief = pods.selectors.agent_brief(agent_id=agent_id)
    with transaction.atomic():
        taken = Ticket.objects.filter(
            id=ticket_id,
            pod_id=brief.pod_id if brief else None,
            assignee__isnull=True,
            status__in=TAKEABLE,
        ).update(
            assignee_id=agent_id,
            status=Ticket.Status.OPEN,
            assigned_at=now,
            agent_active_at=now,
            updated_at=now,
        )
        if not taken:
            raise TakeRefused(_why_not_takeable(ticket_id))
        # Taking is a choice: it counts against capacity even above it.
        pods.services.agent_load_take(agent_id=agent_id, now=now, force=True)
        ticket = Ticket.objects.get(id=ticket_id)
        ticket_announce(ticket=ticket, kind="ticket.taken")
    return ticket


def _why_not_takeable(ticket_id: int) -> str:
    ticket = (
        Ticket.objects.select_related("assignee__user").filter(id=ticket_id).first()
    )
    if ticket is None:
        return _("the ticket does not exist")
    if ticket.assignee_id is not None:
        name = ticket.assignee.user.get_full_name() or ticket.assignee.user.username
        return _("%(name)s already has this ticket") % {"name": name}
    if ticket.status in TAKEABLE:
        return _("only an agent of the ticket's pod can take it")
    return _("a %(status)s ticket cannot be taken") % {
        "status": ticket.get_status_display().lower()
    }


def ticket_assign(*, ticket: Ticket, agent_id: int | None, now: datetime) -> Ticket:
    """Hand the ticket to another agent of its pod, or back to the queue (None).
    Raises TakeRefused for an agent outside the pod."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        if agent_id is not None:
            brief = pods.selectors.agent_brief(agent_id=agent_id)
            if brief is None or brief.pod_id != ticket.pod_id:
                raise TakeRefused(_("only an agent of the ticket's pod can hold it"))
        if agent_id == ticket.assignee_id:
            return ticket
        if ticket.assignee_id is not None and ticket.is_open:
            pods.services.agent_load_release(agent_id=ticket.assignee_id)
        if agent_id is not None and ticket.is_open:
            pods.services.agent_load_take(agent_id=agent_id, now=now, force=True)
        ticket.assignee_id = agent_id
        ticket.assigned_at = now if agent_id else None
        ticket.agent_active_at = now if agent_id else None
        if agent_id is None and ticket.status == Ticket.Status.OPEN:
            ticket.status = Ticket.Status.NEW
        ticket.updated_at = now
        ticket.save(
            update_fields=[
                "assignee",
                "assigned_at",
                "agent_active_at",
                "status",
                "updated_at",
            ]
        )
        ticket_announce(ticket=ticket, kind="ticket.assigned")
    return ticket


def ticket_fields_set(
    *,
    ticket: Ticket,
    now: datetime,
    priority: str | None = None,
    contact_reason_id: int | None = None,
    clear_reason: bool = False,
    tags: Sequence[str] | None = None,
) -> Ticket:
    """Set the ticket's priority, contact reason and tags (those given)."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(id=ticket.id)
        fields = ["updated_at"]
        if priority is not None:
            ticket.priority = priority
            fields.append("priority")
        if contact_reason_id is not None or clear_reason:
            ticket.contact_reason_id = None if clear_reason else contact_reason_id
            fields.append("contact_reason")
        ticket.updated_at = now
        ticket.save(update_fields=fields)
        if tags is not None:
            ticket.tags.set(_tags_get_or_create(tags))
    return ticket


def _tags_get_or_create(names: Sequence[str]) -> list[Tag]:
    wanted = sorted({name.strip().lower()[:50] for name in names if name.strip()})
    Tag.objects.bulk_create([Tag(name=name) for name in wanted], ignore_conflicts=True)
    return list(Tag.objects.filter(name__in=wanted))


def collaborator_invite(
    *, ticket: Ticket, agent_id: int, invited_by_id: int, now: datetime
) -> TicketCollaborator:
    """Invite a colleague (any pod) onto this one ticket: they see it and may
    write on it until they leave; they are told live. Raises InviteRefused."""
    if agent_id == ticket.assignee_id:
        raise InviteRefused(_("the ticket is already theirs"))
    colleague = pods.selectors.agent_brief(agent_id=agent_id)
    if colleague is None:
        raise InviteRefused(_("no such colleague"))
    try:
        with transaction.atomic():
            invite = TicketCollaborator.objects.create(
                ticket=ticket,
                agent_id=agent_id,
                invited_by_id=invited_by_id,
                invited_at=now,
            )
    except IntegrityError:
        raise InviteRefused(_("they are already on this ticket")) from None
    pods.services.user_event_publish(
        user_id=colleague.user_id,
        event={
            "type": "notify",
            "kind": "ticket.invited",
            "ticket_id": ticket.id,
            "text": _("You were invited to help on #%(number)s: %(subject)s")
            % {"number": ticket.id, "subject": ticket.subject[:80]},
        },
    )
    return invite


def collaborator_leave(*, ticket: Ticket, agent_id: int, now: datetime) -> bool:
    """End the colleague's access to the ticket; False if they were not on it."""
    return bool(
        TicketCollaborator.objects.filter(
            ticket=ticket, agent_id=agent_id, left_at__isnull=True
        ).update(left_at=now)
    )
