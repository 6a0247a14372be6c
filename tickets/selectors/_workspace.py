"""Reads for the workspace: who is invited where, what changed since a page
was opened."""

from django.db.models import QuerySet

from tickets.models import Message, TicketCollaborator


def invited_ticket_ids(*, user_id: int) -> frozenset[int]:
    """Tickets the user was invited onto and has not left."""
    return frozenset(
        TicketCollaborator.objects.filter(
            agent__user_id=user_id, left_at__isnull=True
        ).values_list("ticket_id", flat=True)
    )


def ticket_collaborators(*, ticket_id: int) -> QuerySet[TicketCollaborator]:
    return (
        TicketCollaborator.objects.filter(ticket_id=ticket_id, left_at__isnull=True)
        .select_related("agent__user", "agent__pod")
        .order_by("invited_at", "id")
    )


def replies_since(
    *, ticket_id: int, after_message_id: int, excluding_agent_id: int | None
) -> QuerySet[Message]:
    """Replies to the customer written by others after the given message: the
    collision check before a reply goes out."""
    replies = Message.objects.filter(
        ticket_id=ticket_id,
        id__gt=after_message_id,
        direction=Message.Direction.OUTBOUND,
        is_automatic=False,
    )
    if excluding_agent_id is not None:
        replies = replies.exclude(author_agent_id=excluding_agent_id)
    return replies.select_related("author_agent__user").order_by("id")
