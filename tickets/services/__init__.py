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
from tickets.services._chat import (
    ChatReceived,
    ChatRefused,
    ChatSessionUnknown,
    ChatStarted,
    chat_email_provide,
    chat_envelope_process,
    chat_message_receive,
    chat_session_join,
    chat_session_start,
    chat_typing_announce,
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
from tickets.services._demo import demo_configuration_seed, demo_contact_seed
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
from tickets.services._messaging import (
    sms_envelope_process,
    social_envelope_process,
)
from tickets.services._phone import call_envelope_process
from tickets.services._pod_moves import customer_merge, pod_split_run
from tickets.services._proficiency import proficiency_recompute
from tickets.services._sla import sla_breaches_detect
from tickets.services._web import (
    Contact,
    ContactInvalid,
    IdempotencyKeyReused,
    Submitted,
    api_envelope_process,
    contact_submit,
    web_envelope_process,
)

__all__ = [
    "BACKLOG_BATCH",
    "ChatReceived",
    "ChatRefused",
    "ChatSessionUnknown",
    "ChatStarted",
    "Checkpoint",
    "Contact",
    "ContactInvalid",
    "IdempotencyKeyReused",
    "Incoming",
    "IncomingFile",
    "IntakeQuarantined",
    "IntakeRefused",
    "MergeRefused",
    "Opened",
    "Outcome",
    "Received",
    "ReplyRefused",
    "Submitted",
    "TicketsError",
    "TransitionRefused",
    "agent_loads_reconcile",
    "agent_tickets_requeue",
    "api_envelope_process",
    "backlog_drain",
    "backlogs_drain",
    "call_envelope_process",
    "chat_email_provide",
    "chat_envelope_process",
    "chat_message_receive",
    "chat_session_join",
    "chat_session_start",
    "chat_typing_announce",
    "contact_submit",
    "customer_merge",
    "demo_configuration_seed",
    "demo_contact_seed",
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
    "sms_envelope_process",
    "social_envelope_process",
    "ticket_merge",
    "ticket_open",
    "ticket_pending_set",
    "ticket_resume",
    "ticket_solve",
    "tickets_lifecycle_advance",
    "web_envelope_process",
]
