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
