"""The pods API: pods, agents, customers by identity, a routing preview, presence.

Every object answers 404 outside the caller's pod (pods.backends decides)."""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from pods import rules, selectors, services
from pods.api import serializers
from pods.models import Pod


def require_perm(request, perm: str, obj) -> None:
    if not request.user.has_perm(perm, obj):
        raise Http404


class PodList(generics.ListAPIView):
    serializer_class = serializers.PodOutput

    def get_queryset(self):
        pods = selectors.pod_list()
        if self.request.user.has_perm("pods.view_all_pods"):
            return pods
        return pods.filter(id=selectors.home_pod_id(user_id=self.request.user.pk))


def visible_pod(request, pod_id: int) -> Pod:
    """The pod, if the caller may see it; 404 otherwise (no existence oracle)."""
    try:
        pod = selectors.pod_detail(pod_id=pod_id)
    except Pod.DoesNotExist:
        raise Http404 from None
    require_perm(request, "pods.view_pod", pod)
    return pod


class PodDetail(generics.RetrieveAPIView):
    serializer_class = serializers.PodOutput

    def get_object(self):
        return visible_pod(self.request, self.kwargs["pod_id"])


class PodAgents(generics.ListAPIView):
    serializer_class = serializers.AgentOutput
    pagination_class = None

    def get_queryset(self):
        pod = visible_pod(self.request, self.kwargs["pod_id"])
        return selectors.pod_members(pod_id=pod.id)


class CustomerLookup(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind", str, required=True, enum=list(rules.IDENTITY_KINDS)
            ),
            OpenApiParameter("value", str, required=True),
        ],
        responses=serializers.CustomerOutput,
    )
    def get(self, request):
        """Find a customer by one of their identities (email, phone, ...)."""
        kind, raw = (
            request.query_params.get("kind", ""),
            request.query_params.get("value", ""),
        )
        try:
            value = rules.normalise_identity(kind, raw)
        except rules.InvalidIdentity as exc:
            raise ValidationError({"value": [str(exc)]}) from exc
        customer = selectors.customer_lookup(kind=kind, value=value)
        if customer is None:
            raise Http404
        require_perm(request, "pods.view_customer", customer)
        return Response(serializers.CustomerOutput(customer).data)


class RoutingPreview(APIView):
    @extend_schema(
        request=serializers.RoutingPreviewInput,
        responses=serializers.RoutingPreviewOutput,
    )
    def post(self, request):
        """Where a contact with these identities would go now; nothing is created."""
        data = serializers.RoutingPreviewInput(data=request.data)
        data.is_valid(raise_exception=True)
        pairs = [
            (item["kind"], item["value"]) for item in data.validated_data["identities"]
        ]
        try:
            normalised = services.identities_normalise(identities=pairs)
        except services.InvalidContact as exc:
            raise ValidationError({"identities": [str(exc)]}) from exc
        preview = selectors.route_preview(identities=normalised)
        if preview.pod_id is not None:
            # The backend decides scope; an unsaved Pod carries only the id it needs.
            require_perm(request, "pods.view_pod", Pod(pk=preview.pod_id))
        return Response(serializers.RoutingPreviewOutput(preview.as_dict()).data)


class MyPresence(APIView):
    @extend_schema(request=serializers.PresenceInput, responses=serializers.AgentOutput)
    def put(self, request):
        """Set the calling agent's presence (online, away, offline)."""
        agent = selectors.agent_for_user(user_id=request.user.pk)
        if agent is None:
            raise Http404
        data = serializers.PresenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.agent_presence_set(
            agent=agent, presence=data.validated_data["presence"], now=timezone.now()
        )
        return Response(serializers.AgentOutput(agent).data, status=status.HTTP_200_OK)


class PodStaffing(APIView):
    @extend_schema(responses=serializers.PodStaffingOutput)
    def get(self, request, pod_id: int) -> Response:
        """A pod's staffing figures now (the pod dashboard's): customers, agents
        by tier, open seats, customers per agent, cost per customer, progress
        to the split. 404 for a pod whose dashboard the caller may not see."""
        try:
            staffing = selectors.pod_staffing(pod_id=pod_id)
        except Pod.DoesNotExist:
            raise Http404 from None
        require_perm(request, "pods.view_dashboard", staffing.pod)
        return Response(serializers.PodStaffingOutput(staffing).data)


class OrganisationStaffing(APIView):
    @extend_schema(responses=serializers.PodStaffingOutput(many=True))
    def get(self, request) -> Response:
        """Every open pod's staffing figures, by name (needs pods.view_all_pods)."""
        if not request.user.has_perm("pods.view_all_pods"):
            raise PermissionDenied
        rows = selectors.organisation_staffing()
        return Response(serializers.PodStaffingOutput(rows, many=True).data)
