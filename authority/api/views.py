"""The authority API: what may be asked, what the engine would decide, asking
(with an idempotency key), the approvals, and grants with their reversal.

Scoped by pod: another pod's request, grant, customer or ticket answers 404
like a missing one (pods.backends decides); a missing role permission is a
403. Each view parses, authorises, makes one call into the services or
selectors, and maps their refusals to the API's error format."""

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import (
    APIException,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

import pods.selectors
import tickets.selectors
from authority import selectors, services
from authority.api import serializers
from authority.models import AuthorityRequest

IDEMPOTENCY_HEADER = "Idempotency-Key"
ASK = "authority.add_authorityrequest"
READ_REQUESTS = "authority.view_authorityrequest"
DECIDE = "authority.add_approvaldecision"
READ_GRANTS = "authority.view_grant"
REVERSE = "authority.add_grant"
ALL_PODS = "pods.view_all_pods"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with its current state."
    default_code = "conflict"


class Unprocessable(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


def require(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def valid(serializer_class, data) -> dict:
    given = serializer_class(data=data)
    if not given.is_valid():
        raise ValidationError(given.errors)
    return given.validated_data


def pod_ids_seen(request, *, pod: int | None = None) -> list[int] | None:
    """The pods whose records the caller reads (None: every pod)."""
    if request.user.is_superuser or request.user.has_perm(ALL_PODS):
        return [pod] if pod else None
    home = pods.selectors.home_pod_id(user_id=request.user.pk)
    return [home] if home else []


def visible_customer(request, customer_id: int, perm: str):
    """The customer's facts if their pod is the caller's (else 404)."""
    customer = pods.selectors.customer_facts(customer_id=customer_id)
    # The backend decides scope; an unsaved request carries only the pod.
    if customer is None or not request.user.has_perm(
        perm, AuthorityRequest(pod_id=customer.pod_id)
    ):
        raise NotFound(gettext("No such customer."))
    return customer


def visible_ticket(request, ticket_id: int | None) -> None:
    if ticket_id is None:
        return
    ticket = tickets.selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None or not request.user.has_perm("tickets.view_ticket", ticket):
        raise NotFound(gettext("No such ticket."))


def visible_request(request, request_id: int, perm: str = READ_REQUESTS):
    asked = selectors.request_detail(request_id=request_id)
    if asked is None or not request.user.has_perm(READ_REQUESTS, asked):
        raise Http404
    if perm != READ_REQUESTS and not request.user.has_perm(perm, asked):
        raise PermissionDenied
    return asked


def the_actor(request) -> services.Actor:
    try:
        return services.actor_for_user(user=request.user)
    except services.AuthorityRefused as exc:
        raise PermissionDenied(str(exc)) from exc


# --- Action types and the preview ----------------------------------------------------


class ActionTypeList(APIView):
    @extend_schema(responses=serializers.ActionTypeOutput(many=True))
    def get(self, request):
        """The actions that may be asked for (granted, or sent to approval)."""
        require(request, ASK)
        return Response(
            serializers.ActionTypeOutput(
                selectors.action_types_active(), many=True
            ).data
        )


class DecisionPreview(APIView):
    @extend_schema(
        request=serializers.AskInput,
        responses={
            200: serializers.PreviewOutput,
            400: OpenApiResponse(description="Not a valid ask; the reason."),
            404: OpenApiResponse(description="No such customer or ticket."),
        },
    )
    def post(self, request):
        """What the engine would decide if you asked now, with its reasons.
        Nothing is written or reserved: only an ask decides."""
        require(request, ASK)
        data = valid(serializers.AskInput, request.data)
        actor = the_actor(request)
        visible_customer(request, data["customer"], ASK)
        visible_ticket(request, data.get("ticket"))
        try:
            preview = services.authority_preview(
                actor=actor,
                action_code=data["action"],
                amount=data["amount"],
                customer_id=data["customer"],
                ticket_id=data.get("ticket"),
                effect_starts_on=data.get("effect_starts_on"),
                now=timezone.now(),
            )
        except services.AuthorityRefused as exc:
            raise ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]}
            ) from exc
        return Response(serializers.PreviewOutput(preview).data)


# --- Requests -----------------------------------------------------------------------


class RequestListCreate(generics.ListAPIView):
    serializer_class = serializers.RequestOutput

    def get_queryset(self):
        require(self.request, READ_REQUESTS)
        filters = valid(serializers.RequestFilterInput, self.request.query_params)
        return selectors.requests_listed(
            pod_ids=pod_ids_seen(self.request, pod=filters.get("pod")),
            state=filters.get("state", ""),
            customer_id=filters.get("customer"),
        )

    @extend_schema(parameters=[serializers.RequestFilterInput])
    def get(self, request, *args, **kwargs):
        """Requests of your pod (every pod if you may see all), newest first;
        `state=PENDING` is the approval queue."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=serializers.RequestInput,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="Your key for this ask (1 to 100 characters). Sent "
                "again with the same body, the first answer comes back and "
                "nothing runs twice; with another body, a 422.",
            )
        ],
        responses={
            201: serializers.AskedOutput,
            400: OpenApiResponse(description="No key, or not a valid ask."),
            403: OpenApiResponse(description="Only agents ask."),
            404: OpenApiResponse(description="No such customer or ticket."),
            422: OpenApiResponse(description="The key was used for another ask."),
        },
    )
    def post(self, request):
        """Ask, as the calling agent: granted at once within your rule, sent
        for approval above it, or refused, each with the engine's reasons."""
        require(request, ASK)
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if not key:
            raise ValidationError(
                {
                    IDEMPOTENCY_HEADER: [
                        gettext("This header is required (1 to 100 characters).")
                    ]
                }
            )
        data = valid(serializers.RequestInput, request.data)
        actor = the_actor(request)
        visible_customer(request, data["customer"], ASK)
        visible_ticket(request, data.get("ticket"))
        try:
            asked = services.authority_ask(
                actor=actor,
                action_code=data["action"],
                amount=data["amount"],
                customer_id=data["customer"],
                ticket_id=data.get("ticket"),
                idempotency_key=key,
                note=data["note"],
                effect_starts_on=data.get("effect_starts_on"),
                now=timezone.now(),
            )
        except services.IdempotencyConflict as exc:
            raise Unprocessable(str(exc), code="idempotency_key_reused") from exc
        except services.AuthorityRefused as exc:
            raise ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]}
            ) from exc
        return Response(
            serializers.AskedOutput(asked.request).data,
            status=status.HTTP_201_CREATED,
            headers={
                "Location": reverse("api-authority-request", args=[asked.request.id]),
                "Idempotent-Replayed": "true" if asked.replayed else "false",
            },
        )


class RequestDetail(APIView):
    @extend_schema(responses=serializers.RequestOutput)
    def get(self, request, request_id: int):
        """The request as it stands: its state, reasons, grant and verdict."""
        require(request, READ_REQUESTS)
        return Response(
            serializers.RequestOutput(visible_request(request, request_id)).data
        )


class RequestApprove(APIView):
    @extend_schema(
        request=serializers.ApproveInput,
        responses={
            200: serializers.RequestOutput,
            409: OpenApiResponse(
                description="Not recorded (decided already, changed since read, "
                "your own, not your approval group's), or approved but the rule "
                "no longer allows it (nothing changed); the reason."
            ),
        },
    )
    def post(self, request, request_id: int):
        """Approve a pending request: it is granted at once."""
        require(request, DECIDE)
        asked = visible_request(request, request_id, DECIDE)
        data = valid(serializers.ApproveInput, request.data)
        try:
            services.request_approve(
                request_id=asked.id,
                user=request.user,
                request_hash=data["request_hash"],
                note=data["note"],
                now=timezone.now(),
            )
        except services.ApprovalCannotExecute as exc:
            raise Conflict(str(exc), code="cannot_execute") from exc
        except services.ApprovalRefused as exc:
            raise Conflict(str(exc), code="approval_refused") from exc
        return Response(
            serializers.RequestOutput(
                selectors.request_detail(request_id=asked.id)
            ).data
        )


class RequestDeny(APIView):
    @extend_schema(
        request=serializers.DenyInput,
        responses={
            200: serializers.RequestOutput,
            409: OpenApiResponse(description="Not recorded; the reason."),
        },
    )
    def post(self, request, request_id: int):
        """Deny a pending request, with a note the agent reads."""
        require(request, DECIDE)
        asked = visible_request(request, request_id, DECIDE)
        data = valid(serializers.DenyInput, request.data)
        try:
            services.request_deny(
                request_id=asked.id,
                user=request.user,
                request_hash=data["request_hash"],
                note=data["note"],
                now=timezone.now(),
            )
        except services.ApprovalRefused as exc:
            raise Conflict(str(exc), code="approval_refused") from exc
        return Response(
            serializers.RequestOutput(
                selectors.request_detail(request_id=asked.id)
            ).data
        )


class RequestCancel(APIView):
    @extend_schema(
        request=None,
        responses={
            200: serializers.RequestOutput,
            403: OpenApiResponse(description="Not your request."),
            409: OpenApiResponse(description="No longer waiting."),
        },
    )
    def post(self, request, request_id: int):
        """Withdraw your own pending request."""
        require(request, ASK)
        asked = visible_request(request, request_id)
        if asked.agent is None or asked.agent.user_id != request.user.pk:
            raise PermissionDenied(
                gettext("Only the agent who asked can cancel a request.")
            )
        try:
            services.request_cancel(
                request_id=asked.id, user=request.user, now=timezone.now()
            )
        except services.ApprovalRefused as exc:
            raise Conflict(str(exc), code="cancel_refused") from exc
        return Response(
            serializers.RequestOutput(
                selectors.request_detail(request_id=asked.id)
            ).data
        )


# --- Grants -------------------------------------------------------------------------


class GrantList(generics.ListAPIView):
    serializer_class = serializers.GrantOutput

    def get_queryset(self):
        require(self.request, READ_GRANTS)
        filters = valid(serializers.GrantFilterInput, self.request.query_params)
        customer_id = filters.get("customer")
        if customer_id is not None:
            customer_id = visible_customer(
                self.request, customer_id, READ_GRANTS
            ).customer_id
        return selectors.grants_listed(
            pod_ids=pod_ids_seen(self.request, pod=filters.get("pod")),
            customer_id=customer_id,
        )

    @extend_schema(parameters=[serializers.GrantFilterInput])
    def get(self, request, *args, **kwargs):
        """Grants and reversals of your pod (or of one customer), newest
        first, each with the rule version that allowed it."""
        return super().get(request, *args, **kwargs)


class GrantReverse(APIView):
    @extend_schema(
        request=serializers.ReverseInput,
        responses={
            201: serializers.GrantOutput,
            409: OpenApiResponse(description="Reversed already, or a reversal."),
        },
    )
    def post(self, request, grant_id: int):
        """Undo a grant with a new, negative entry (answers the reversal)."""
        require(request, REVERSE)
        grant = selectors.grant_detail(grant_id=grant_id)
        if grant is None or not request.user.has_perm(READ_GRANTS, grant):
            raise Http404
        if not request.user.has_perm(REVERSE, grant):
            raise PermissionDenied
        data = valid(serializers.ReverseInput, request.data)
        try:
            reversal = services.grant_reverse(
                grant_id=grant.id,
                user=request.user,
                reason=data["reason"],
                now=timezone.now(),
            )
        except services.ReversalRefused as exc:
            raise Conflict(str(exc), code="reversal_refused") from exc
        return Response(
            serializers.GrantOutput(selectors.grant_detail(grant_id=reversal.id)).data,
            status=status.HTTP_201_CREATED,
        )
