"""Writes of tickets: keyword-only `<entity>_<verb>` services that own their
transactions. This facade re-exports them; each lives in the module of its flow."""

from tickets.services._assignment import (
    BACKLOG_BATCH,
    Opened,
    TransitionRefused,
    agent_loads_reconcile,
    agent_tickets_requeue,
    backlog_drain,
    backlogs_drain,
    idle_tickets_requeue,
    ticket_open,
    ticket_solve,
)
from tickets.services._errors import TicketsError
from tickets.services._pod_moves import customer_merge, pod_split_run
from tickets.services._proficiency import proficiency_recompute

__all__ = [
    "BACKLOG_BATCH",
    "Opened",
    "TicketsError",
    "TransitionRefused",
    "agent_loads_reconcile",
    "agent_tickets_requeue",
    "backlog_drain",
    "backlogs_drain",
    "customer_merge",
    "idle_tickets_requeue",
    "pod_split_run",
    "proficiency_recompute",
    "ticket_open",
    "ticket_solve",
]
