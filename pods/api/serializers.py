from rest_framework import serializers

from pods.models import Agent, Customer, CustomerIdentity, Pod


class PodOutput(serializers.ModelSerializer):
    lead = serializers.CharField(source="lead.__str__", default=None, read_only=True)

    class Meta:
        model = Pod
        fields = [
            "id",
            "name",
            "lead",
            "state",
            "target_size",
            "split_threshold",
            "customer_count",
            "accepts_new_customers",
            "parent",
            "created_at",
        ]
        read_only_fields = fields


class AgentOutput(serializers.ModelSerializer):
    name = serializers.CharField(source="__str__", read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "name",
            "pod",
            "role",
            "presence",
            "capacity",
            "open_ticket_count",
            "tier",
            "proficiency_score",
            "hired_on",
        ]
        read_only_fields = fields


class IdentityOutput(serializers.ModelSerializer):
    class Meta:
        model = CustomerIdentity
        fields = ["kind", "value"]
        read_only_fields = fields


class CustomerOutput(serializers.ModelSerializer):
    identities = IdentityOutput(many=True, read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "display_name",
            "pod",
            "primary_agent",
            "segment",
            "created_at",
            "identities",
        ]
        read_only_fields = fields


class IdentityInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CustomerIdentity.Kind.choices)
    value = serializers.CharField(max_length=320)


class RoutingPreviewInput(serializers.Serializer):
    identities = IdentityInput(many=True, allow_empty=False, max_length=10)


class RoutingPreviewOutput(serializers.Serializer):
    customer = serializers.IntegerField(allow_null=True)
    pod = serializers.IntegerField(allow_null=True)
    agent = serializers.IntegerField(allow_null=True)
    new_customer = serializers.BooleanField()


class PresenceInput(serializers.Serializer):
    presence = serializers.ChoiceField(choices=Agent.Presence.choices)


class TiersOutput(serializers.Serializer):
    HIGH = serializers.IntegerField()
    MIDDLE = serializers.IntegerField()
    LOW = serializers.IntegerField()


class PodStaffingOutput(serializers.Serializer):
    """A pod's people and customers now (pods.selectors.PodStaffing); the cost per
    customer is a month of its agents at agent_monthly_cost over its customers."""

    pod_id = serializers.IntegerField(source="pod.id")
    pod = serializers.CharField(source="pod.name")
    state = serializers.CharField(source="pod.state")
    customers = serializers.IntegerField()
    split_threshold = serializers.IntegerField(source="pod.split_threshold")
    split_progress_percent = serializers.IntegerField(source="split_progress")
    agents = serializers.IntegerField()
    tiers = TiersOutput()
    open_seats = serializers.IntegerField()
    customers_per_agent = serializers.DecimalField(
        max_digits=12, decimal_places=1, allow_null=True
    )
    agent_monthly_cost = serializers.DecimalField(max_digits=12, decimal_places=2)
    cost_per_customer = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )
    currency = serializers.CharField(source="cost_currency")
