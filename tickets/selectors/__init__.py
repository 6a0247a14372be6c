"""Reads of tickets: keyword-only selectors. This facade re-exports them."""

from tickets.selectors._chat import (
    CHAT_HISTORY_PAGE,
    ChatStatus,
    chat_continues_by_email,
    chat_history,
    chat_session,
    chat_session_ids_of_ticket,
    chat_status,
)
from tickets.selectors._facts import (
    AgentFacts,
    agent_facts,
    open_load_by_agent,
    open_tickets_of_pod,
    pods_with_backlog,
)
from tickets.selectors._intake import (
    envelopes_waiting,
    external_id_taken,
    message_delivered,
    webhook_secrets,
)
from tickets.selectors._queues import (
    QUEUE_PAGE_SIZE,
    QueueCursor,
    QueueFilters,
    QueuePage,
    QueueView,
    queue_counts,
    queue_page,
    tickets_filtered,
)
from tickets.selectors._sla import sla_policy_facts, tickets_due_before
from tickets.selectors._threads import (
    customer_email,
    customer_timeline,
    open_ticket_on_channel,
    ticket_current,
    ticket_ids_by_external_ids,
    ticket_participant,
    ticket_thread,
    tickets_search,
)
from tickets.selectors._workspace import (
    invited_ticket_ids,
    replies_since,
    ticket_collaborators,
)

__all__ = [
    "CHAT_HISTORY_PAGE",
    "QUEUE_PAGE_SIZE",
    "AgentFacts",
    "ChatStatus",
    "QueueCursor",
    "QueueFilters",
    "QueuePage",
    "QueueView",
    "agent_facts",
    "chat_continues_by_email",
    "chat_history",
    "chat_session",
    "chat_session_ids_of_ticket",
    "chat_status",
    "customer_email",
    "customer_timeline",
    "envelopes_waiting",
    "external_id_taken",
    "invited_ticket_ids",
    "message_delivered",
    "open_load_by_agent",
    "open_ticket_on_channel",
    "open_tickets_of_pod",
    "pods_with_backlog",
    "queue_counts",
    "queue_page",
    "replies_since",
    "sla_policy_facts",
    "ticket_collaborators",
    "ticket_current",
    "ticket_ids_by_external_ids",
    "ticket_participant",
    "ticket_thread",
    "tickets_due_before",
    "tickets_filtered",
    "tickets_search",
    "webhook_secrets",
]
