"""Every contact in one database: tickets and their messages on every channel, the
raw inbound envelopes they came from, and the SLA policies that time them."""

from tickets.models._channels import (
    CallRecord,
    ChatSession,
    MailboxCheckpoint,
    WebhookSecret,
)
from tickets.models._figures import AgentDayFigures, PodDayFigures, PodPeriodFigures
from tickets.models._intake import InboundEnvelope
from tickets.models._messages import Attachment, Message, NoteMention
from tickets.models._sla import (
    BusinessHours,
    BusinessHoursInterval,
    Holiday,
    SlaEvent,
    SlaPolicy,
)
from tickets.models._tickets import (
    Channel,
    ContactReason,
    Tag,
    Ticket,
    TicketParticipant,
)
from tickets.models._workspace import (
    ReplyTemplate,
    ReplyTemplateVersion,
    SatisfactionSurvey,
    TemplateSuggestion,
    TemplateUse,
    TicketCollaborator,
)

__all__ = [
    "AgentDayFigures",
    "Attachment",
    "BusinessHours",
    "BusinessHoursInterval",
    "CallRecord",
    "Channel",
    "ChatSession",
    "ContactReason",
    "Holiday",
    "InboundEnvelope",
    "MailboxCheckpoint",
    "Message",
    "NoteMention",
    "PodDayFigures",
    "PodPeriodFigures",
    "ReplyTemplate",
    "ReplyTemplateVersion",
    "SatisfactionSurvey",
    "SlaEvent",
    "SlaPolicy",
    "Tag",
    "TemplateSuggestion",
    "TemplateUse",
    "Ticket",
    "TicketCollaborator",
    "TicketParticipant",
    "WebhookSecret",
]
