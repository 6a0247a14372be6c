"""Reads of ticket lists: a pod's tickets filtered, and the workspace queues."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from django.db.models import Count, F, Q, QuerySet

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


# --- The workspace's queues -------------------------------------------------------

QUEUE_PAGE_SIZE = 25
# "Breaching" shows what is late and what will be within this window.
BREACHING_WINDOW = timedelta(minutes=30)
WORKABLE = (Ticket.Status.NEW, Ticket.Status.OPEN)


class QueueView(StrEnum):
    UNASSIGNED = "unassigned"
    OPEN = "open"
    MINE = "mine"
    PENDING = "pending"
    BREACHING = "breaching"


@dataclass(frozen=True)
class QueueFilters:
    channel: str = ""
    status: str = ""
    priority: str = ""
    tag: str = ""
    reason_id: int | None = None


@dataclass(frozen=True)
class QueueCursor:
    """Where a page ends: the last row's SLA due time (None sorts last) and id."""

    due: datetime | None
    id: int

    def encode(self) -> str:
        return f"{self.due.isoformat() if self.due else '-'}|{self.id}"

    @classmethod
    def decode(cls, value: str) -> "QueueCursor | None":
        due, _, ticket_id = value.partition("|")
        try:
            return cls(
                due=None if due == "-" else datetime.fromisoformat(due),
                id=int(ticket_id),
            )
        except ValueError:
            return None


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    next_cursor: QueueCursor | None


def _view_condition(*, view: QueueView, agent_id: int | None, now: datetime) -> Q:
    if view is QueueView.UNASSIGNED:
        return Q(assignee__isnull=True, status__in=WORKABLE)
    if view is QueueView.OPEN:
        return Q(status__in=WORKABLE)
    if view is QueueView.MINE:
        return Q(assignee_id=agent_id, status__in=Ticket.OPEN_STATUSES)
    if view is QueueView.PENDING:
        return Q(status=Ticket.Status.PENDING)
    return Q(status__in=WORKABLE, sla_due_at__lte=now + BREACHING_WINDOW)


def _filters_condition(filters: QueueFilters) -> Q:
    condition = Q()
    if filters.channel:
        condition &= Q(channel=filters.channel)
    if filters.status:
        condition &= Q(status=filters.status)
    if filters.priority:
        condition &= Q(priority=filters.priority)
    if filters.tag:
        condition &= Q(tags__name=filters.tag)
    if filters.reason_id is not None:
        condition &= Q(contact_reason_id=filters.reason_id)
    return condition


def _after(cursor: QueueCursor) -> Q:
    # Rows sort by (sla_due_at ASC NULLS LAST, id): after a dated row come later
    # dates, the same date with a higher id, then every undated row.
    if cursor.due is None:
        return Q(sla_due_at__isnull=True, id__gt=cursor.id)
    return (
        Q(sla_due_at__gt=cursor.due)
        | Q(sla_due_at=cursor.due, id__gt=cursor.id)
        | Q(sla_due_at__isnull=True)
    )


def queue_page(
    *,
    pod_id: int,
    view: QueueView,
    agent_id: int | None,
    now: datetime,
    filters: QueueFilters = QueueFilters(),
    after: QueueCursor | None = None,
    limit: int = QUEUE_PAGE_SIZE,
) -> QueuePage:
    """One page of a pod queue, most urgent first (by SLA due, undated last),
    with the rows' assignee, customer, reason and tags: two queries whatever
    the pod's size."""
    tickets = Ticket.objects.filter(
        _view_condition(view=view, agent_id=agent_id, now=now),
        _filters_condition(filters),
        pod_id=pod_id,
        merged_into__isnull=True,
    )
    if filters.tag:
        tickets = tickets.distinct()
    if after is not None:
        tickets = tickets.filter(_after(after))
    rows = list(
        tickets.select_related("assignee__user", "customer", "contact_reason")
        .prefetch_related("tags")
        .order_by(F("sla_due_at").asc(nulls_last=True), "id")[: limit + 1]
    )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return QueuePage(
        tickets=rows,
        next_cursor=QueueCursor(due=last.sla_due_at, id=last.id) if last else None,
    )


def queue_counts(
    *, pod_id: int, agent_id: int | None, now: datetime
) -> dict[QueueView, int]:
    """How many tickets each queue view holds, in one query over the pod's open
    tickets."""
    counts = Ticket.objects.filter(
        pod_id=pod_id, status__in=Ticket.OPEN_STATUSES, merged_into__isnull=True
    ).aggregate(
        **{
            view.value: Count(
                "id", filter=_view_condition(view=view, agent_id=agent_id, now=now)
            )
            for view in QueueView
        }
    )
    return {view: counts[view.value] for view in QueueView}
