"""The authority figures of the dashboards, for the API: one pod's (404 for a
pod the caller may not see, as for a missing one) and every pod's side by side
with the delegation recommendations (needs pods.view_all_pods).
`?period=1|7|30|90` (default 7)."""

from django.http import Http404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

import pods.selectors
from authority import selectors

DASHBOARD_PERMISSION = "pods.view_dashboard"
ALL_PODS_PERMISSION = "pods.view_all_pods"


class PeriodInput(serializers.Serializer):
    period = serializers.ChoiceField(
        choices=list(selectors.FIGURE_PERIODS),
        default=selectors.DEFAULT_FIGURE_PERIOD,
        help_text="Local days up to today, today included.",
    )


def _period(request) -> int:
    given = PeriodInput(data=request.query_params)
    if not given.is_valid():
        raise ValidationError(given.errors)
    return int(given.validated_data["period"])


class PodAuthorityFigures(APIView):
    @extend_schema(
        parameters=[PeriodInput],
        responses={
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="Grants by stage and action, amounts in the action's "
                "unit, budgets this month, approvals avoided and waiting, usage "
                "rate per agent; as_of: when the figures were computed.",
            ),
            404: OpenApiResponse(description="No such pod, or not yours to see."),
        },
    )
    def get(self, request, pod_id: int):
        """One pod's authority used over the period."""
        pod = pods.selectors.pod_visible_to(
            user=request.user, pod_id=pod_id, perm=DASHBOARD_PERMISSION
        )
        if pod is None:
            raise Http404
        days = _period(request)
        figures = selectors.pod_authority_figures(
            pod_id=pod.id, days=days, now=timezone.now()
        )
        if figures is None:
            return Response(
                {"pod_id": pod.id, "pod": pod.name, "period_days": days, "as_of": None}
            )
        return Response(selectors.pod_authority_document(figures=figures))


class OrganisationAuthorityFigures(APIView):
    @extend_schema(
        parameters=[PeriodInput],
        responses={
            200: OpenApiResponse(
                response=OpenApiTypes.OBJECT,
                description="Every pod's figures and the delegation recommendations.",
            ),
            403: OpenApiResponse(description="Not allowed to see every pod."),
        },
    )
    def get(self, request):
        """Every pod's authority used side by side, and what to delegate."""
        if not request.user.has_perm(ALL_PODS_PERMISSION):
            raise PermissionDenied
        figures = selectors.organisation_authority_figures(
            days=_period(request), now=timezone.now()
        )
        return Response(selectors.organisation_authority_document(figures=figures))
