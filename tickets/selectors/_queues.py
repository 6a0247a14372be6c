"""Reads of ticket lists: a pod's tickets, filtered."""

from django.db.models import QuerySet

from tickets.models import Ticket


def tickets_filtered(
    *,
    pod_id: int | None,
    every_pod: bool = False,
    status: str = "",
    channel: str = "",
    customer_id: int | None = None,
) -> QuerySet[Ticket]:
    """Tickets of the pod (or of every pod), narrowed by the filters given."""
    if every_pod:
        tickets = Ticket.objects.all()
    elif pod_id is None:
        return Ticket.objects.none()
    else:
        tickets = Ticket.objects.filter(pod_id=pod_id)
    if status:
        tickets = tickets.filter(status=status)
    if channel:
        tickets = tickets.filter(channel=channel)
    if customer_id is not None:
        tickets = tickets.filter(customer_id=customer_id)
    return tickets
