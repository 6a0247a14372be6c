"""The tickets API: integrations create tickets and read them, agents write on
them, and every message of a customer reads as one timeline.

Tickets and customers answer 404 outside the caller's pod, never 403
(pods.backends decides); a missing model permission is a 403."""

from datetime import timedelta
from functools import partial

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
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
from tickets import selectors, services
from tickets.api import serializers
from tickets.models import Ticket

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 200


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the ticket's state."
    default_code = "conflict"


class Unprocessable(APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"


class OldestFirstPagination(api_settings.DEFAULT_PAGINATION_CLASS):
    """The project's cursor pages, oldest first: a timeline reads forwards."""

    ordering = "id"


def require_model_perm(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


def visible_ticket(request, ticket_id: int) -> Ticket:
    """The ticket (or the one it was merged into) if the caller may see it; 404
    otherwise, so another pod's ticket is indistinguishable from a missing one."""
    ticket = selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None or not request.user.has_perm("tickets.view_ticket", ticket):
        raise Http404
    return ticket


def tickets_visible(request, **filters) -> QuerySet[Ticket]:
    """Tickets of the caller's pod, or of every pod for those who see all."""
    require_model_perm(request, "tickets.view_ticket")
    return selectors.tickets_filtered(
        pod_id=pods.selectors.home_pod_id(user_id=request.user.pk),
        every_pod=request.user.has_perm("pods.view_all_pods"),
        **filters,
    )


def flat_errors(errors, prefix: str = "") -> dict[str, list]:
    """Nested serializer errors as dotted field names ("customer.email"), so the
    error format's `fields` stays one level deep."""
    if not isinstance(errors, dict):
        return {prefix or api_settings.NON_FIELD_ERRORS_KEY: errors}
    flat: dict[str, list] = {}
    for name, value in errors.items():
        flat.update(flat_errors(value, f"{prefix}.{name}" if prefix else name))
    return flat


def valid(serializer_class, data) -> dict:
    given = serializer_class(data=data)
    if not given.is_valid():
        raise ValidationError(flat_errors(given.errors))
    return given.validated_data


class TicketListCreate(generics.ListAPIView):
    serializer_class = serializers.TicketOutput

    def get_queryset(self):
        filters = valid(serializers.TicketFilterInput, self.request.query_params)
        return tickets_visible(
            self.request,
            status=filters.get("status", ""),
            channel=filters.get("channel", ""),
            customer_id=filters.get("customer"),
        )

    @extend_schema(parameters=[serializers.TicketFilterInput])
    def get(self, request, *args, **kwargs):
        """Tickets of your pod (every pod if you may see all), newest first."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=serializers.TicketCreateInput,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                str,
                OpenApiParameter.HEADER,
                description="Repeat a request with the same key (and the same "
                "body) to get the same ticket back instead of a second one.",
            )
        ],
        responses={
            201: serializers.TicketOutput,
            200: OpenApiResponse(
                serializers.TicketOutput,
                description="A repeat of an earlier request with the same key.",
            ),
            202: OpenApiResponse(
                serializers.ContactAcceptedOutput,
                description="Stored, but not a ticket you may see: processing "
                "failed and waits for a retry, or it went to another pod.",
            ),
        },
    )
    def post(self, request):
        """Open a ticket for a customer, as an integration (channel API)."""
        require_model_perm(request, "tickets.add_ticket")
        data = valid(serializers.TicketCreateInput, request.data)
        key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
        if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise ValidationError(
                {IDEMPOTENCY_HEADER: [f"at most {MAX_IDEMPOTENCY_KEY} characters"]}
            )
        customer = data["customer"]
        try:
            submitted = services.contact_submit(
                channel=Ticket.Channel.API,
                contact=services.Contact(
                    name=customer.get("name", ""),
                    email=customer.get("email", ""),
                    phone=customer.get("phone", ""),
                    subject=data["subject"],
                    text=data["text"],
                    priority=data.get("priority", ""),
                    # Keys are the caller's own: two integrations may both use "1".
                    idempotency_key=f"user-{request.user.pk}:{key}" if key else "",
                ),
                now=timezone.now(),
                meta={
                    "request_id": getattr(request, "request_id", ""),
                    "user_id": request.user.pk,
                },
            )
        except services.ContactInvalid as exc:
            raise ValidationError({f"customer.{exc.field}": [str(exc)]}) from exc
        except services.IdempotencyKeyReused as exc:
            raise Unprocessable(str(exc), code="idempotency_key_reused") from exc
        ticket = submitted.envelope.ticket
        if ticket is None or not request.user.has_perm("tickets.view_ticket", ticket):
            return Response(
                serializers.ContactAcceptedOutput(
                    {
                        "envelope": submitted.envelope.id,
                        "state": submitted.envelope.state,
                        "ticket": None,
                    }
                ).data,
                status=status.HTTP_202_ACCEPTED,
            )
        return Response(
            serializers.TicketOutput(ticket).data,
            status=status.HTTP_201_CREATED if submitted.created else status.HTTP_200_OK,
            headers={"Location": reverse("api-ticket-detail", args=[ticket.id])},
        )


class TicketDetail(APIView):
    @extend_schema(responses=serializers.TicketDetailOutput)
    def get(self, request, ticket_id: int):
        """The ticket with every message of its thread, in order. A merged
        ticket answers as the ticket it was merged into."""
        ticket = visible_ticket(request, ticket_id)
        thread = selectors.ticket_thread(ticket_id=ticket.id)
        return Response(
            serializers.TicketDetailOutput(ticket, context={"thread": thread}).data
        )


class TicketMessages(APIView):
    @extend_schema(
        request=serializers.MessageInput,
        responses={
            201: serializers.MessageOutput,
            409: OpenApiResponse(description="The reply cannot be sent; the reason."),
        },
    )
    def post(self, request, ticket_id: int):
        """Reply to the customer in their channel, or add an internal note, as
        the calling agent."""
        ticket = changeable_ticket(request, ticket_id)
        agent = pods.selectors.agent_for_user(user_id=request.user.pk)
        if agent is None:
            raise PermissionDenied("Only agents write on tickets.")
        data = valid(serializers.MessageInput, request.data)
        write = services.message_reply if data["kind"] == "reply" else services.note_add
        try:
            message = write(
                ticket=ticket, agent_id=agent.id, text=data["text"], now=timezone.now()
            )
        except services.ReplyRefused as exc:
            raise Conflict(str(exc), code="reply_refused") from exc
        return Response(
            serializers.MessageOutput(message).data, status=status.HTTP_201_CREATED
        )


def changeable_ticket(request, ticket_id: int) -> Ticket:
    ticket = visible_ticket(request, ticket_id)
    if not request.user.has_perm("tickets.change_ticket", ticket):
        raise PermissionDenied
    return ticket


class TicketStatus(APIView):
    @extend_schema(
        request=serializers.StatusInput,
        responses={
            200: serializers.TicketOutput,
            409: OpenApiResponse(description="The ticket cannot move there now."),
        },
    )
    def post(self, request, ticket_id: int):
        """Move the ticket: PENDING waits on the customer (the resolution clock
        pauses), OPEN resumes a pending ticket or reopens a solved one (a
        reopen, noted on its timeline; a closed ticket is never reopened),
        SOLVED solves it."""
        ticket = changeable_ticket(request, ticket_id)
        target = valid(serializers.StatusInput, request.data)["status"]
        agent = pods.selectors.agent_for_user(user_id=request.user.pk)
        move = {
            "PENDING": services.ticket_pending_set,
            "OPEN": partial(
                services.ticket_back_to_open, agent_id=agent.id if agent else None
            ),
            "SOLVED": services.ticket_solve,
        }[target]
        try:
            ticket = move(ticket=ticket, now=timezone.now())
        except services.TransitionRefused as exc:
            raise Conflict(str(exc), code="transition_refused") from exc
        return Response(serializers.TicketOutput(ticket).data)


class TicketMerge(APIView):
    @extend_schema(
        request=serializers.MergeInput,
        responses={
            200: serializers.TicketOutput,
            409: OpenApiResponse(description="The tickets cannot be merged."),
        },
    )
    def post(self, request, ticket_id: int):
        """Merge this ticket into another of the same customer; answers with
        the ticket merged into."""
        source = changeable_ticket(request, ticket_id)
        target = changeable_ticket(
            request, valid(serializers.MergeInput, request.data)["into"]
        )
        agent = pods.selectors.agent_for_user(user_id=request.user.pk)
        try:
            merged = services.ticket_merge(
                source=source,
                target=target,
                agent_id=agent.id if agent else None,
                now=timezone.now(),
            )
        except services.MergeRefused as exc:
            raise Conflict(str(exc), code="merge_refused") from exc
        return Response(serializers.TicketOutput(merged).data)


class TicketSearch(generics.ListAPIView):
    serializer_class = serializers.TicketOutput

    def get_queryset(self):
        query = valid(serializers.TicketSearchInput, self.request.query_params)["q"]
        return selectors.tickets_search(
            query=query, tickets=tickets_visible(self.request)
        )

    @extend_schema(parameters=[serializers.TicketSearchInput])
    def get(self, request, *args, **kwargs):
        """Your visible tickets whose subject or any message holds the words."""
        return super().get(request, *args, **kwargs)


class CustomerTimeline(generics.ListAPIView):
    serializer_class = serializers.TimelineMessageOutput
    pagination_class = OldestFirstPagination

    def get_queryset(self):
        customer_id = self.kwargs["customer_id"]
        try:
            owner = pods.selectors.customer_owner(customer_id=customer_id)
        except ObjectDoesNotExist:
            raise Http404 from None
        # The backend decides scope; an unsaved Ticket carries only the pod.
        if not self.request.user.has_perm(
            "tickets.view_ticket", Ticket(pod_id=owner.pod_id)
        ):
            raise Http404
        return selectors.customer_timeline(customer_id=customer_id)

    def get(self, request, *args, **kwargs):
        """Every message of every ticket of the customer, on every channel,
        oldest first."""
        return super().get(request, *args, **kwargs)


class PodSatisfaction(APIView):
    @extend_schema(
        parameters=[serializers.SatisfactionFilterInput],
        responses=serializers.PodSatisfactionOutput,
    )
    def get(self, request):
        """The pod's customer satisfaction over the last `days`: its average
        rating, how many customers answered, and the same for each agent. A pod
        you cannot see does not exist (404)."""
        require_model_perm(request, "tickets.view_ticket")
        filters = valid(serializers.SatisfactionFilterInput, request.query_params)
        pod = pods.selectors.pod_by_id_or_name(reference=str(filters["pod"]))
        if pod is None or not request.user.has_perm("tickets.view_ticket", pod):
            raise Http404
        end = timezone.now()
        figures = selectors.csat_by_pod(
            pod_id=pod.id, start=end - timedelta(days=filters["days"]), end=end
        )
        return Response(serializers.PodSatisfactionOutput(figures).data)


# --- Dashboard figures ----------------------------------------------------------------

DASHBOARD_PERMISSION = "pods.view_dashboard"


def dashboard_pod(request, pod_id: int):
    """The pod if the caller may see its dashboard; 404 otherwise, so another
    pod is indistinguishable from a missing one."""
    pod = pods.selectors.pod_visible_to(
        user=request.user, pod_id=pod_id, perm=DASHBOARD_PERMISSION
    )
    if pod is None:
        raise Http404
    return pod


class PodFiguresDetail(APIView):
    @extend_schema(
        parameters=[serializers.FigurePeriodInput],
        responses={
            200: serializers.PodFiguresOutput,
            404: OpenApiResponse(
                description="No such pod, not yours to see, or its figures are "
                "not computed yet (the message says which)."
            ),
        },
    )
    def get(self, request, pod_id: int):
        """A pod's figures over the period (1, 7, 30 or 90 local days up to
        today), from its rollup; as_of says when they were computed. Leads
        see their pod, admins any pod."""
        pod = dashboard_pod(request, pod_id)
        period = valid(serializers.FigurePeriodInput, request.query_params)["period"]
        figures = selectors.pod_figures(pod_id=pod.id, period_days=period)
        if figures is None:
            raise NotFound("This pod's figures are not computed yet.")
        return Response(serializers.PodFiguresOutput(figures).data)


class OrganisationFiguresList(APIView):
    @extend_schema(
        parameters=[serializers.FigurePeriodInput],
        responses=serializers.OrganisationFiguresOutput,
    )
    def get(self, request):
        """Every pod's figures over the period, side by side (for those who
        may see every pod)."""
        require_model_perm(request, "pods.view_all_pods")
        period = valid(serializers.FigurePeriodInput, request.query_params)["period"]
        rows = selectors.organisation_figures(period_days=period)
        return Response(
            serializers.OrganisationFiguresOutput(
                {"period_days": period, "pods": rows}
            ).data
        )


class MyFigures(APIView):
    @extend_schema(
        parameters=[serializers.FigurePeriodInput],
        responses={
            200: serializers.MyFiguresOutput,
            404: OpenApiResponse(description="You are not an agent."),
        },
    )
    def get(self, request):
        """Your own figures as an agent over the period of your pod."""
        # pods.middleware read the signed-in agent already; a token call did not.
        agent = getattr(request, "agent", None) or pods.selectors.agent_for_user(
            user_id=request.user.pk
        )
        if agent is None:
            raise NotFound("Only agents have figures of their own.")
        period = valid(serializers.FigurePeriodInput, request.query_params)["period"]
        figures = selectors.agent_figures(agent_id=agent.id, period_days=period)
        return Response(serializers.MyFiguresOutput(figures).data)
