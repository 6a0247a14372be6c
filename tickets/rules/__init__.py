"""Pure rules of tickets: status transitions, email parsing, threading, SLA maths.

No Django, no ORM, no clock: every function takes what it needs and returns a value,
so each is unit-tested without a database.
"""

from tickets.rules._dedupe import email_dedupe_key, provider_dedupe_key
from tickets.rules._signatures import (
    reply_message_id,
    reply_message_id_verify,
    webhook_signature,
    webhook_signature_valid,
)
from tickets.rules._sla import (
    ALWAYS_OPEN,
    BusinessHours,
    SlaDue,
    SlaMetric,
    SlaPolicyFacts,
    SlaTargets,
    business_deadline,
    business_minutes_between,
    sla_breaches,
    sla_due_on_agent_reply,
    sla_due_on_customer_message,
    sla_due_on_open,
    sla_next_due,
    sla_policy_choose,
    sla_resolution_paused,
)
from tickets.rules._transitions import (
    OPEN_STATUSES,
    TRANSITIONS,
    can_transition,
    is_open,
)

__all__ = [
    "ALWAYS_OPEN",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "BusinessHours",
    "SlaDue",
    "SlaMetric",
    "SlaPolicyFacts",
    "SlaTargets",
    "business_deadline",
    "business_minutes_between",
    "can_transition",
    "email_dedupe_key",
    "is_open",
    "provider_dedupe_key",
    "reply_message_id",
    "reply_message_id_verify",
    "sla_breaches",
    "sla_due_on_agent_reply",
    "sla_due_on_customer_message",
    "sla_due_on_open",
    "sla_next_due",
    "sla_policy_choose",
    "sla_resolution_paused",
    "webhook_signature",
    "webhook_signature_valid",
]
