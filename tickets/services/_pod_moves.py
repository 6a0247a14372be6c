"""Orchestrations across pods and tickets: open tickets follow their customers
when a pod splits or two customers merge."""

import logging
from datetime import datetime

from django.db import connection, transaction
from django.db.models import QuerySet

import pods.selectors
import pods.services
from tickets.models import Ticket
from tickets.services._assignment import assignee_slots_release

logger = logging.getLogger(__name__)

SPLIT_BATCH_SIZE = 5000  # customers per transaction: short locks, bounded memory


def pod_split_run(*, split_id: int, now: datetime) -> int:
    """Run a queued pod split to the end; return how many customers moved.

    Each batch moves customers and their open tickets in one transaction, so the
    data is consistent after any batch and a rerun (after a crash, or a duplicate
    task) continues where the last committed batch ended."""
    split = pods.services.pod_split_prepare(split_id=split_id, now=now)
    if split.state == split.State.DONE:
        return 0
    moved = 0
    after = 0
    while True:
        with transaction.atomic():
            batch = pods.services.pod_split_move_batch(
                split=split, limit=SPLIT_BATCH_SIZE, now=now, after=after
            )
            if not batch.customer_ids:
                break
            tickets = _tickets_follow_customers(batch=batch)
            pods.services.pod_split_tickets_moved(split=split, count=tickets)
        moved += len(batch.customer_ids)
        after = batch.customer_ids[-1]
    _tickets_of_staying_customers_requeue(split=split)
    pods.services.pod_split_finish(split_id=split_id, now=now)
    logger.info("pod split %s finished: %s customers moved", split_id, moved)
    return moved


def _tickets_of_staying_customers_requeue(*, split) -> int:
    """Return to the old pod's queue the open tickets of customers who stayed but
    whose agent moved: the agent can no longer see the old pod's tickets. Runs
    after the last batch, when every ticket still in the old pod belongs to a
    customer who stays; a rerun finds nothing left to do."""
    with transaction.atomic():
        # Locked first: a duplicate run of the split reaching this step at the
        # same time waits, then finds the tickets unassigned, instead of freeing
        # the same agents' slots a second time.
        held = list(
            Ticket.objects.select_for_update()
            .filter(
                pod_id=split.source_id,
                status__in=Ticket.OPEN_STATUSES,
                assignee_id__in=split.plan.get("moving_agents", ()),
            )
            .values_list("id", flat=True)
        )
        return _open_tickets_move(
            tickets=Ticket.objects.filter(id__in=held),
            to_pod_id=split.source_id,
            keep=set(),
        )


def _tickets_follow_customers(*, batch: pods.services.SplitBatch) -> int:
    if connection.vendor == "postgresql":
        return _tickets_follow_customers_sql(batch=batch)
    open_tickets = Ticket.objects.filter(
        customer_id__in=batch.customer_ids, status__in=Ticket.OPEN_STATUSES
    )
    return _open_tickets_move(
        tickets=open_tickets,
        to_pod_id=batch.new_pod_id,
        keep=set(batch.moving_agent_ids),
    )


# The same move as _open_tickets_move, in one statement with the ids as array
# parameters: a batch of 5,000 customers compiles no 5,000-placeholder IN lists
# and reads each ticket once. Returns, per released assignee, how many tickets
# went back to the queue, and how many tickets moved in all.
FOLLOW_SQL = """
WITH open_tickets AS (
    SELECT id, assignee_id,
           (assignee_id IS NOT NULL
            AND NOT assignee_id = ANY(%(keep)s::bigint[])) AS requeue
    FROM {table}
    WHERE customer_id = ANY(%(customers)s::bigint[]) AND status IN %(open)s
    FOR UPDATE
), moved AS (
    UPDATE {table} AS ticket SET
        pod_id = %(pod)s,
        assignee_id = CASE WHEN o.requeue THEN NULL ELSE ticket.assignee_id END,
        status = CASE WHEN o.requeue THEN %(new)s ELSE ticket.status END,
        assigned_at = CASE WHEN o.requeue THEN NULL ELSE ticket.assigned_at END
    FROM open_tickets AS o
    WHERE ticket.id = o.id AND (o.requeue OR ticket.pod_id <> %(pod)s)
    RETURNING o.assignee_id, o.requeue
)
SELECT assignee_id, count(*) FILTER (WHERE requeue), count(*)
FROM moved GROUP BY assignee_id
"""


def _tickets_follow_customers_sql(*, batch: pods.services.SplitBatch) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            FOLLOW_SQL.format(table=Ticket._meta.db_table),
            {
                "keep": list(batch.moving_agent_ids),
                "customers": batch.customer_ids,
                "open": tuple(Ticket.OPEN_STATUSES),
                "pod": batch.new_pod_id,
                "new": Ticket.Status.NEW,
            },
        )
        rows = cursor.fetchall()
    for agent_id, requeued, _ in rows:
        if agent_id is not None and requeued:
            pods.services.agent_load_release(agent_id=agent_id, count=requeued)
    return sum(moved for _, _, moved in rows)


def _open_tickets_move(
    *, tickets: QuerySet[Ticket], to_pod_id: int, keep: set[int]
) -> int:
    """Move open tickets to another pod. Their assignee keeps them when in `keep`
    (agents of that pod); otherwise the ticket returns to the pod's queue and the
    assignee's slot is freed. Return how many tickets moved."""
    left_behind = tickets.filter(assignee__isnull=False).exclude(assignee_id__in=keep)
    assignee_slots_release(tickets=left_behind)
    requeued = left_behind.update(
        pod_id=to_pod_id, assignee=None, status=Ticket.Status.NEW, assigned_at=None
    )
    followed = tickets.exclude(pod_id=to_pod_id).update(pod_id=to_pod_id)
    return requeued + followed


def customer_merge(*, source_id: int, target_id: int, now: datetime) -> None:
    """Merge two customers and move the source's tickets onto the target, in one
    transaction. Raises pods.services.MergeRefused."""
    with transaction.atomic():
        target = pods.services.customer_merge(
            source_id=source_id, target_id=target_id, now=now
        )
        target_pod_agents = set(
            pods.selectors.active_members(pod_id=target.pod_id).values_list(
                "id", flat=True
            )
        )
        _open_tickets_move(
            tickets=Ticket.objects.filter(
                customer_id=source_id, status__in=Ticket.OPEN_STATUSES
            ),
            to_pod_id=target.pod_id,
            keep=target_pod_agents,
        )
        Ticket.objects.filter(customer_id=source_id).update(customer_id=target.id)
