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
from tickets.services._conversation import (
    Incoming,
    IncomingFile,
    ReplyRefused,
    inbound_message_add,
    message_reply,
    note_add,
    participants_add,
)
from tickets.services._email_intake import email_envelope_process
from tickets.services._errors import TicketsError
from tickets.services._intake import (
    IntakeQuarantined,
    IntakeRefused,
    Outcome,
    Received,
    envelope_process,
    envelope_processor,
    envelope_receive,
    envelope_retry,
    envelopes_requeue,
)
from tickets.services._lifecycle import (
    MergeRefused,
    ticket_merge,
    ticket_pending_set,
    ticket_resume,
    tickets_lifecycle_advance,
)
from tickets.services._mailbox import (
    Checkpoint,
    mailbox_checkpoint,
    mailbox_message_store,
)
from tickets.services._pod_moves import customer_merge, pod_split_run
from tickets.services._proficiency import proficiency_recompute
from tickets.services._sla import sla_breaches_detect

__all__ = [
    "BACKLOG_BATCH",
    "Checkpoint",
    "Incoming",
    "IncomingFile",
    "IntakeQuarantined",
    "IntakeRefused",
    "MergeRefused",
    "Opened",
    "Outcome",
    "Received",
    "ReplyRefused",
    "TicketsError",
    "TransitionRefused",
    "agent_loads_reconcile",
    "agent_tickets_requeue",
    "backlog_drain",
    "backlogs_drain",
    "customer_merge",
    "email_envelope_process",
    "envelope_process",
    "envelope_processor",
    "envelope_receive",
    "envelope_retry",
    "envelopes_requeue",
    "idle_tickets_requeue",
    "inbound_message_add",
    "mailbox_checkpoint",
    "mailbox_message_store",
    "message_reply",
    "note_add",
    "participants_add",
    "pod_split_run",
    "proficiency_recompute",
    "sla_breaches_detect",
    "ticket_merge",
    "ticket_open",
    "ticket_pending_set",
    "ticket_resume",
    "ticket_solve",
    "tickets_lifecycle_advance",
]
