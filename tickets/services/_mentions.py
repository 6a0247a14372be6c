"""@mentions in internal notes: every active agent a note names is told live,
the way an invitation tells them, and one from outside the ticket's pod is
invited onto the ticket first, so the mention leads somewhere they can open
(that ticket only; tickets.backends decides)."""

from datetime import datetime

from django.utils.translation import gettext

import pods.selectors
import pods.services
from tickets import rules, selectors
from tickets.models import Message, NoteMention, Ticket, TicketCollaborator


def note_mentions_record(
    *, ticket: Ticket, note: Message, author_id: int, now: datetime
) -> list[NoteMention]:
    """Record the colleagues the note mentions and tell them after commit;
    invite those of another pod who are not on the ticket yet. A name that is
    no active agent, and the author's own, stay plain text. Call inside the
    note's transaction."""
    handles = rules.mention_handles(note.text)
    colleagues = [
        colleague
        for colleague in selectors.agents_mentioned(handles=handles)
        if colleague.agent_id != author_id
    ]
    if not colleagues:
        return []
    mentions = NoteMention.objects.bulk_create(
        [
            NoteMention(
                message=note,
                agent_id=colleague.agent_id,
                handle=colleague.username,
                created_at=now,
            )
            for colleague in colleagues
        ]
    )
    _outsiders_invite(
        ticket=ticket,
        agent_ids=[c.agent_id for c in colleagues if c.pod_id != ticket.pod_id],
        invited_by_id=author_id,
        now=now,
    )
    author = pods.selectors.agent_brief(agent_id=author_id)
    for colleague in colleagues:
        _colleague_tell(
            ticket=ticket,
            note=note,
            user_id=colleague.user_id,
            author_name=author.name if author else "",
        )
    return mentions


def _outsiders_invite(
    *, ticket: Ticket, agent_ids: list[int], invited_by_id: int, now: datetime
) -> None:
    # One already on the ticket keeps their invitation: the partial unique
    # constraint on active invitations turns theirs into no row.
    TicketCollaborator.objects.bulk_create(
        [
            TicketCollaborator(
                ticket=ticket,
                agent_id=agent_id,
                invited_by_id=invited_by_id,
                invited_at=now,
            )
            for agent_id in agent_ids
        ],
        ignore_conflicts=True,
    )


def _colleague_tell(
    *, ticket: Ticket, note: Message, user_id: int, author_name: str
) -> None:
    pods.services.user_event_publish(
        user_id=user_id,
        event={
            "type": "notify",
            "kind": "ticket.mentioned",
            "ticket_id": ticket.id,
            "message_id": note.id,
            "text": gettext("%(name)s mentioned you on #%(number)s: %(subject)s")
            % {
                "name": author_name or gettext("A colleague"),
                "number": ticket.id,
                "subject": ticket.subject[:80],
            },
        },
    )
