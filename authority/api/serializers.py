"""Input and output of the authority API: shapes only. What is allowed is the
engine's (authority.services); who may ask is the views' (has_perm).

Choice-like fields are plain strings with a pattern, not enums: drf-spectacular
names enums by field name, and "state" and "kind" are claimed elsewhere (a
second one is a schema warning, which `check --deploy` fails on)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from authority import selectors

MAX_NOTE = 2_000
REQUEST_STATES = ("GRANTED", "PENDING", "DENIED", "REFUSED", "CANCELLED")


def pattern_field(values, description: str):
    return extend_schema_field(
        {
            "type": "string",
            "pattern": f"^({'|'.join(values)})$",
            "description": description,
        }
    )


@pattern_field(REQUEST_STATES, "GRANTED, PENDING, DENIED, REFUSED or CANCELLED.")
class RequestStateField(serializers.ChoiceField):
    pass


# --- Inputs -------------------------------------------------------------------------


class AskInput(serializers.Serializer):
    action = serializers.SlugField(
        max_length=40, help_text="The action type's code, e.g. refund."
    )
    amount = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="Money in the action's currency, or whole days.",
    )
    customer = serializers.IntegerField(min_value=1)
    ticket = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The ticket it is for (its contact reason can matter).",
    )
    effect_starts_on = serializers.DateField(
        required=False,
        allow_null=True,
        help_text="For a pause: the day it starts (ISO date, from today up to "
        "HELPDESK['PAUSE_START_MAX_DAYS'] days ahead, before the entitlement "
        "ends). Default: the day it is granted.",
    )


class RequestInput(AskInput):
    note = serializers.CharField(
        max_length=MAX_NOTE,
        required=False,
        allow_blank=True,
        default="",
        help_text="For the approver, if it goes to approval.",
    )


class RequestFilterInput(serializers.Serializer):
    state = RequestStateField(choices=REQUEST_STATES, required=False)
    customer = serializers.IntegerField(min_value=1, required=False)
    pod = serializers.IntegerField(
        min_value=1, required=False, help_text="For those who see every pod."
    )


class GrantFilterInput(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1, required=False)
    pod = serializers.IntegerField(
        min_value=1, required=False, help_text="For those who see every pod."
    )


class ApproveInput(serializers.Serializer):
    request_hash = serializers.CharField(
        max_length=64,
        help_text="The request_hash you read: a verdict binds to what was shown.",
    )
    note = serializers.CharField(
        max_length=MAX_NOTE, required=False, allow_blank=True, default=""
    )


class DenyInput(ApproveInput):
    note = serializers.CharField(
        max_length=MAX_NOTE, help_text="Why not: the agent reads it."
    )


class ReverseInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why it is undone.")


# --- Outputs ------------------------------------------------------------------------


class ActionTypeOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    unit = serializers.CharField(help_text="MONEY or DAYS.")
    currency = serializers.CharField(help_text="ISO 4217, for money.")
    effect = serializers.CharField(help_text="REFUND, CREDIT, EXTEND, PAUSE, RECORD.")
    product = serializers.CharField()


class RuleBriefOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()
    stage = serializers.IntegerField(
        help_text="1 business approval, 2 the agent, 3 customer self-service."
    )


class ReasonOutput(serializers.Serializer):
    code = serializers.CharField()
    ok = serializers.BooleanField()
    params = serializers.DictField()
    text = serializers.CharField(help_text="The check in plain words.")


def reasons_out(reasons, action_type) -> list[dict]:
    words = selectors.reasons_words(reasons=reasons, action_type=action_type)
    return [
        {**reason, "params": reason.get("params", {}), "text": text}
        for reason, (_ok, text) in zip(reasons, words, strict=True)
    ]


class PreviewOutput(serializers.Serializer):
    outcome = serializers.CharField(help_text="GRANTED, NEEDS_APPROVAL or REFUSED.")
    action = serializers.CharField(source="action_type.code")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    customer = serializers.IntegerField(source="customer_id")
    ticket = serializers.IntegerField(source="ticket_id", allow_null=True)
    stage = serializers.IntegerField(source="rule.stage", allow_null=True)
    rule = RuleBriefOutput(allow_null=True)
    reasons = serializers.SerializerMethodField()

    @extend_schema_field(ReasonOutput(many=True))
    def get_reasons(self, preview) -> list[dict]:
        return reasons_out(preview.reasons, preview.action_type)


class AskedOutput(serializers.Serializer):
    """The answer to an ask, as it was when asked: the same for a replay."""

    request = serializers.IntegerField(source="id")
    outcome = serializers.SerializerMethodField(
        help_text="GRANTED, PENDING (waits for approval) or REFUSED."
    )
    action = serializers.CharField(source="action_type.code")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    unit = serializers.CharField(source="action_type.unit")
    currency = serializers.CharField(source="action_type.currency")
    customer = serializers.IntegerField(source="customer_id")
    ticket = serializers.IntegerField(source="ticket_id", allow_null=True)
    effect_starts_on = serializers.DateField(
        allow_null=True, help_text="A pause's chosen first day, if one was chosen."
    )
    stage = serializers.IntegerField(allow_null=True)
    rule = RuleBriefOutput(allow_null=True)
    reasons = serializers.SerializerMethodField()
    grant = serializers.SerializerMethodField()
    due_at = serializers.DateTimeField(allow_null=True)
    note = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_outcome(self, request) -> str:
        # A stage-1 request is granted only by an approval, later.
        if request.state == "REFUSED":
            return "REFUSED"
        if request.state == "GRANTED" and request.stage != 1:
            return "GRANTED"
        return "PENDING"

    @extend_schema_field(ReasonOutput(many=True))
    def get_reasons(self, request) -> list[dict]:
        return reasons_out(request.reasons, request.action_type)

    def get_grant(self, request) -> int | None:
        if self.get_outcome(request) != "GRANTED":
            return None
        return request.grant.id


class DecisionOutput(serializers.Serializer):
    verdict = serializers.CharField(help_text="APPROVE or DENY.")
    note = serializers.CharField()
    approver = serializers.IntegerField(source="approver_id")
    decided_at = serializers.DateTimeField()


class RequestOutput(serializers.Serializer):
    """A request as it stands now."""

    id = serializers.IntegerField()
    state = serializers.CharField(
        help_text="GRANTED, PENDING, DENIED, REFUSED or CANCELLED."
    )
    action = serializers.CharField(source="action_type.code")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    unit = serializers.CharField(source="action_type.unit")
    currency = serializers.CharField(source="action_type.currency")
    customer = serializers.IntegerField(source="customer_id")
    pod = serializers.IntegerField(source="pod_id")
    ticket = serializers.IntegerField(source="ticket_id", allow_null=True)
    agent = serializers.IntegerField(source="agent_id", allow_null=True)
    effect_starts_on = serializers.DateField(
        allow_null=True, help_text="A pause's chosen first day, if one was chosen."
    )
    stage = serializers.IntegerField(allow_null=True)
    rule = RuleBriefOutput(allow_null=True)
    reasons = serializers.SerializerMethodField()
    note = serializers.CharField()
    request_hash = serializers.CharField(help_text="Send it back with approve or deny.")
    created_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    grant = serializers.SerializerMethodField()
    decision = serializers.SerializerMethodField()

    @extend_schema_field(ReasonOutput(many=True))
    def get_reasons(self, request) -> list[dict]:
        return reasons_out(request.reasons, request.action_type)

    def get_grant(self, request) -> int | None:
        grant = getattr(request, "grant", None)
        return grant.id if grant else None

    @extend_schema_field(DecisionOutput(allow_null=True))
    def get_decision(self, request) -> dict | None:
        decision = getattr(request, "decision", None)
        return DecisionOutput(decision).data if decision else None


class GrantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text="GRANT, or REVERSAL of `reverses`.")
    action = serializers.CharField(source="action_type.code")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    unit = serializers.CharField(source="action_type.unit")
    currency = serializers.CharField()
    customer = serializers.IntegerField(source="customer_id")
    pod = serializers.IntegerField(source="pod_id")
    ticket = serializers.IntegerField(source="ticket_id", allow_null=True)
    agent = serializers.IntegerField(source="agent_id", allow_null=True)
    request = serializers.IntegerField(source="request_id", allow_null=True)
    stage = serializers.IntegerField()
    rule = RuleBriefOutput()
    approved_by = serializers.IntegerField(source="approved_by_id", allow_null=True)
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True)
    reversed_by = serializers.SerializerMethodField()
    ends_before = serializers.DateField(allow_null=True)
    ends_after = serializers.DateField(allow_null=True)
    reasons = serializers.SerializerMethodField()
    granted_at = serializers.DateTimeField()

    def get_reversed_by(self, grant) -> int | None:
        reversal = getattr(grant, "reversal", None)
        return reversal.id if reversal else None

    @extend_schema_field(ReasonOutput(many=True))
    def get_reasons(self, grant) -> list[dict]:
        return reasons_out(grant.reasons, grant.action_type)
