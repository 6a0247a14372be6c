from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tickets import selectors
from tickets.models import (
    Attachment,
    InboundEnvelope,
    Message,
    SatisfactionSurvey,
    Ticket,
)
from tickets.rules import FIGURE_PERIODS

MAX_TEXT_LENGTH = 100_000


class CustomerInput(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class TicketCreateInput(serializers.Serializer):
    customer = CustomerInput()
    subject = serializers.CharField(max_length=250)
    text = serializers.CharField(max_length=MAX_TEXT_LENGTH)
    priority = serializers.ChoiceField(choices=Ticket.Priority.choices, required=False)

    def validate_customer(self, customer: dict) -> dict:
        if not customer.get("email") and not customer.get("phone"):
            raise serializers.ValidationError("Give the customer's email or phone.")
        return customer


class TicketFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=Ticket.Status.choices, required=False)
    channel = serializers.ChoiceField(choices=Ticket.Channel.choices, required=False)
    customer = serializers.IntegerField(required=False, min_value=1)


class TicketSearchInput(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="Words to find.")


# A pattern, not an enum: drf-spectacular names enums by field name, and pods'
# identity "kind" enum already claims the name (a second one is a schema
# warning, which `check --deploy` fails on).
@extend_schema_field(
    {
        "type": "string",
        "pattern": "^(reply|note)$",
        "description": "reply: to the customer, in their channel; "
        "note: internal, never sent.",
    }
)
class MessageKindField(serializers.ChoiceField):
    pass


class MessageInput(serializers.Serializer):
    kind = MessageKindField(
        choices=[("reply", "Reply to the customer"), ("note", "Internal note")]
    )
    text = serializers.CharField(max_length=MAX_TEXT_LENGTH)


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["OPEN", "PENDING", "SOLVED"])


class MergeInput(serializers.Serializer):
    into = serializers.IntegerField(
        min_value=1, help_text="The ticket that receives this one's messages."
    )


class TicketOutput(serializers.ModelSerializer):
    class Meta:
        model = Ticket
        fields = [
            "id",
            "pod",
            "customer",
            "assignee",
            "status",
            "priority",
            "channel",
            "subject",
            "contact_reason",
            "merged_into",
            "follow_up_of",
            "created_at",
            "updated_at",
            "first_response_at",
            "last_customer_message_at",
            "last_agent_reply_at",
            "solved_at",
            "closed_at",
            "first_response_due",
            "next_response_due",
            "resolution_due",
        ]
        read_only_fields = fields


class AttachmentOutput(serializers.ModelSerializer):
    class Meta:
        model = Attachment
        fields = ["id", "name", "content_type", "size", "sha256", "inline"]
        read_only_fields = fields


class MessageOutput(serializers.ModelSerializer):
    author_agent_name = serializers.CharField(
        source="author_agent.__str__", default=None, read_only=True
    )
    attachments = AttachmentOutput(many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "ticket",
            "direction",
            "channel",
            "author_agent",
            "author_agent_name",
            "author_customer",
            "author_name",
            "author_address",
            "text",
            "visible_text",
            "html",
            "is_automatic",
            "delivery",
            "created_at",
            "attachments",
        ]
        read_only_fields = fields


class TimelineMessageOutput(MessageOutput):
    """A message in a customer's timeline, with the ticket it belongs to."""

    ticket_subject = serializers.CharField(source="ticket.subject", read_only=True)
    ticket_status = serializers.CharField(source="ticket.status", read_only=True)

    class Meta(MessageOutput.Meta):
        fields = [*MessageOutput.Meta.fields, "ticket_subject", "ticket_status"]
        read_only_fields = fields


class SatisfactionOutput(serializers.ModelSerializer):
    """The customer's rating of a solve; never the survey's link."""

    class Meta:
        model = SatisfactionSurvey
        fields = [
            "rating",
            "comment",
            "agent",
            "channel",
            "solved_at",
            "sent_at",
            "expires_at",
            "answered_at",
        ]
        read_only_fields = fields


class TicketDetailOutput(TicketOutput):
    """The ticket with its thread, passed in the context as "thread", and the
    customer's satisfaction rating (one query, whatever the thread's size)."""

    messages = serializers.SerializerMethodField()
    satisfaction = serializers.SerializerMethodField()

    class Meta(TicketOutput.Meta):
        fields = [*TicketOutput.Meta.fields, "messages", "satisfaction"]
        read_only_fields = fields

    @extend_schema_field(MessageOutput(many=True))
    def get_messages(self, ticket: Ticket) -> list:
        return MessageOutput(self.context["thread"], many=True).data

    @extend_schema_field(SatisfactionOutput(allow_null=True))
    def get_satisfaction(self, ticket: Ticket) -> dict | None:
        """The latest answered survey, else the latest one waiting; null when
        the customer was never asked."""
        survey = selectors.csat_of_ticket(ticket_id=ticket.id)
        return SatisfactionOutput(survey).data if survey else None


class ContactAcceptedOutput(serializers.Serializer):
    """A contact stored but not (or not yet) a ticket the caller may see: it
    failed processing and waits for a retry, or it went to another pod."""

    envelope = serializers.IntegerField()
    state = serializers.ChoiceField(choices=InboundEnvelope.State.choices)
    ticket = serializers.IntegerField(allow_null=True)


class SatisfactionFilterInput(serializers.Serializer):
    pod = serializers.IntegerField(min_value=1, help_text="The pod's id.")
    days = serializers.IntegerField(
        min_value=1,
        max_value=366,
        default=30,
        help_text="How many days back from now, by when customers answered.",
    )


class AgentSatisfactionOutput(serializers.Serializer):
    agent = serializers.IntegerField(source="agent_id")
    average = serializers.DecimalField(max_digits=3, decimal_places=2)
    count = serializers.IntegerField()


class PodSatisfactionOutput(serializers.Serializer):
    """Ratings customers gave in the period on tickets the pod solved."""

    pod = serializers.IntegerField(source="pod_id")
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    average = serializers.DecimalField(max_digits=3, decimal_places=2, allow_null=True)
    count = serializers.IntegerField()
    agents = AgentSatisfactionOutput(many=True)


# --- Dashboard figures --------------------------------------------------------------
# Shapes of tickets.selectors' figure dataclasses; rates are shares 0..1 and
# durations seconds. Named Figure* so the schema's components stay unique.

# Generous: a Decimal with more digits than max_digits would fail to render.
FIGURE_DIGITS = 20


def _rate(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=FIGURE_DIGITS, decimal_places=3, allow_null=True, **kwargs
    )


class FigurePeriodInput(serializers.Serializer):
    period = serializers.ChoiceField(
        choices=list(FIGURE_PERIODS),
        default=7,
        help_text="Local days of the pod up to today, today included.",
    )


class FigureDurationOutput(serializers.Serializer):
    count = serializers.IntegerField()
    median_seconds = serializers.FloatField(
        allow_null=True, help_text="Within 5% of the exact median."
    )
    p90_seconds = serializers.FloatField(
        allow_null=True, help_text="Within 5% of the exact 90th percentile."
    )


class FigureCsatOutput(serializers.Serializer):
    answered = serializers.IntegerField()
    ratings = serializers.ListField(
        child=serializers.IntegerField(), help_text="Surveys per rating, 1 to 5."
    )
    satisfied_rate = _rate(help_text="Share rated 4 or 5.")
    mean = serializers.DecimalField(
        max_digits=FIGURE_DIGITS, decimal_places=2, allow_null=True
    )


class FigureContinuityOutput(serializers.Serializer):
    repeat_contacts = serializers.IntegerField()
    same_pod = serializers.IntegerField()
    same_pod_rate = _rate()
    both_assigned = serializers.IntegerField()
    same_agent = serializers.IntegerField()
    same_agent_rate = _rate()


class FigureReasonOutput(serializers.Serializer):
    reason_id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    contacts = serializers.IntegerField()
    previous_contacts = serializers.IntegerField()
    trend = serializers.CharField(help_text="UP, DOWN, FLAT or NEW.")
    change = _rate(help_text="(contacts - previous) / previous.")
    series = serializers.ListField(
        child=serializers.IntegerField(), help_text="Contacts per day, oldest first."
    )


class FigureTemplateOutput(serializers.Serializer):
    template_id = serializers.IntegerField()
    title = serializers.CharField()
    uses = serializers.IntegerField()
    rated = serializers.IntegerField()
    satisfied_rate = _rate()
    mean_rating = serializers.DecimalField(
        max_digits=FIGURE_DIGITS, decimal_places=2, allow_null=True
    )


class FigureAgentOutput(serializers.Serializer):
    agent_id = serializers.IntegerField()
    name = serializers.CharField()
    handled = serializers.IntegerField()
    one_touch_rate = _rate()
    reopened = serializers.IntegerField()
    first_response = FigureDurationOutput()
    csat = FigureCsatOutput()


class FigureSeriesOutput(serializers.Serializer):
    days = serializers.ListField(child=serializers.DateField())
    contacts = serializers.ListField(child=serializers.IntegerField())
    solved = serializers.ListField(child=serializers.IntegerField())
    first_response_median_seconds = serializers.ListField(
        child=serializers.FloatField(allow_null=True)
    )
    csat = serializers.ListField(child=_rate())


class PodFiguresOutput(serializers.Serializer):
    """A pod's figures over its local days first_day..last_day, as of the
    refresh they were computed at."""

    pod_id = serializers.IntegerField()
    pod_name = serializers.CharField()
    time_zone = serializers.CharField()
    period_days = serializers.IntegerField()
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    as_of = serializers.DateTimeField(allow_null=True)
    customers = serializers.IntegerField()
    contacts = serializers.IntegerField()
    contacts_per_customer = serializers.DecimalField(
        max_digits=FIGURE_DIGITS, decimal_places=4, allow_null=True
    )
    contacts_per_1000_customers = serializers.DecimalField(
        max_digits=FIGURE_DIGITS, decimal_places=2, allow_null=True
    )
    first_response = FigureDurationOutput()
    resolution = FigureDurationOutput()
    solved = serializers.IntegerField()
    one_touch = serializers.IntegerField()
    one_touch_rate = _rate()
    reopened = serializers.IntegerField()
    reopen_rate = _rate()
    csat = FigureCsatOutput()
    continuity = FigureContinuityOutput()
    reasons = FigureReasonOutput(many=True)
    templates = FigureTemplateOutput(many=True)
    agents = FigureAgentOutput(many=True)
    series = FigureSeriesOutput()


class OrganisationFiguresOutput(serializers.Serializer):
    period_days = serializers.IntegerField()
    pods = PodFiguresOutput(many=True)


class MyFiguresOutput(serializers.Serializer):
    """The calling agent's own figures over their pod's period (first_day,
    last_day and as_of are null before its first refresh)."""

    agent_id = serializers.IntegerField()
    period_days = serializers.IntegerField()
    first_day = serializers.DateField(allow_null=True)
    last_day = serializers.DateField(allow_null=True)
    as_of = serializers.DateTimeField(allow_null=True)
    handled = serializers.IntegerField()
    one_touch = serializers.IntegerField()
    one_touch_rate = _rate()
    reopened = serializers.IntegerField()
    first_response = FigureDurationOutput()
    csat = FigureCsatOutput()
    handled_series = serializers.ListField(
        child=serializers.IntegerField(), help_text="Handled per day, oldest first."
    )
