"""Reads of tickets."""

from django.db.models import Count, QuerySet

from tickets.models import Ticket


def open_tickets_of_pod(*, pod_id: int) -> QuerySet[Ticket]:
    return Ticket.objects.filter(pod_id=pod_id, status__in=Ticket.OPEN_STATUSES)


def open_load_by_agent() -> dict[int, int]:
    """Open tickets held by each agent, counted from the tickets themselves."""
    return dict(
        Ticket.objects.filter(status__in=Ticket.OPEN_STATUSES, assignee__isnull=False)
        .values_list("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )


def pods_with_backlog() -> list[int]:
    return list(
        Ticket.objects.filter(assignee__isnull=True, status__in=["NEW", "OPEN"])
        .order_by("pod_id")
        .values_list("pod_id", flat=True)
        .distinct()
    )
