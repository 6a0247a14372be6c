"""Pages of pods: the home page, the pod list and a pod's detail; the pod
dashboard, the organisation view and an agent's own figures."""

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from pods import selectors, services
from pods.models import Agent, Pod


@login_required
def home(request: HttpRequest) -> HttpResponse:
    agent = selectors.agent_for_user(user_id=request.user.pk)
    return render(
        request,
        "pods/home.html",
        {
            "agent": agent,
            "pod": agent.pod if agent else None,
            "presences": Agent.Presence.choices,
            "can_see_all_pods": request.user.has_perm("pods.view_all_pods"),
        },
    )


@login_required
def pod_list(request: HttpRequest) -> HttpResponse:
    pods = [
        pod
        for pod in selectors.pod_list()
        if request.user.has_perm("pods.view_pod", pod)
    ]
    return render(request, "pods/pod_list.html", {"pods": pods})


@login_required
def pod_detail(request: HttpRequest, pod_id: int) -> HttpResponse:
    pod = selectors.pod_visible_to(
        user=request.user, pod_id=pod_id, perm="pods.view_pod"
    )
    if pod is None:
        raise Http404
    return render(
        request,
        "pods/pod_detail.html",
        {
            "pod": pod,
            "members": selectors.pod_members(pod_id=pod.id),
            "open_seats": selectors.pod_open_seats(pod_id=pod.id),
            "splits": selectors.pod_splits(pod_id=pod.id)[:20],
            "threshold_percent": min(
                100, round(100 * pod.customer_count / pod.split_threshold)
            ),
        },
    )


@login_required
@require_POST
def presence_set(request: HttpRequest) -> HttpResponse:
    """Set the signed-in agent's presence (from the home page or the header menu)
    and go back to the page the form was on."""
    agent = selectors.agent_for_user(user_id=request.user.pk)
    if agent is None:
        raise Http404
    presence = request.POST.get("presence", "")
    if presence not in Agent.Presence.values:
        messages.error(request, _("Choose online, away or offline."))
        return _back(request)
    services.agent_presence_set(agent=agent, presence=presence, now=timezone.now())
    messages.success(
        request,
        _("You are now %(presence)s.")
        % {"presence": agent.get_presence_display().lower()},
    )
    return _back(request)


def _back(request: HttpRequest) -> HttpResponse:
    """Redirect to the form's `next` page when it is on this site, else home."""
    next_url = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(next_url if safe else "home")


# --- Dashboards: a pod's, the organisation's, an agent's own figures ----------------

PERIODS = (1, 7, 30, 90)
DEFAULT_PERIOD = 7
PERIOD_LABELS = {
    1: gettext_lazy("Today"),
    7: gettext_lazy("7 days"),
    30: gettext_lazy("30 days"),
    90: gettext_lazy("90 days"),
}
TIER_ORDER = (Agent.Tier.HIGH, Agent.Tier.MIDDLE, Agent.Tier.LOW)


class BadPeriod(ValueError):
    """?period= is not one of PERIODS."""


def period_of(request: HttpRequest) -> int:
    """The period the page and its panels show, in days. Raises BadPeriod."""
    raw = request.GET.get("period", "")
    if raw == "":
        return DEFAULT_PERIOD
    if not raw.isdigit() or int(raw) not in PERIODS:
        raise BadPeriod(raw)
    return int(raw)


def _bad_period() -> HttpResponse:
    return HttpResponseBadRequest(
        _("Choose a period of 1, 7, 30 or 90 days."), content_type="text/plain"
    )


def _period_context(period: int) -> dict:
    return {
        "period": period,
        "periods": [(days, PERIOD_LABELS[days]) for days in PERIODS],
    }


@login_required
def pod_dashboard(request: HttpRequest, pod_id: int) -> HttpResponse:
    """A pod's dashboard for its lead (admins: any pod): the panels of tickets
    and authority by URL name, and the pod's own staffing figures."""
    try:
        period = period_of(request)
        staffing = selectors.pod_staffing(pod_id=pod_id)
    except BadPeriod:
        return _bad_period()
    except Pod.DoesNotExist:
        raise Http404 from None
    pod = staffing.pod
    if not request.user.has_perm("pods.view_dashboard", pod):
        raise Http404
    if request.GET.get("format") == "csv":
        return _staffing_csv([staffing], filename=f"pod-{pod.id}-staffing.csv")
    return render(
        request,
        "pods/dashboard.html",
        {
            **_period_context(period),
            "pod": pod,
            "staffing": staffing,
            "tier_rows": _tier_rows(staffing),
            "open_seats": _open_seats_by_reason(pod.id),
            "splits": selectors.pod_splits(pod_id=pod.id)[:10],
        },
    )


@login_required
def organisation(request: HttpRequest) -> HttpResponse:
    """Every pod side by side, for those who may see every pod."""
    if not request.user.has_perm("pods.view_all_pods"):
        raise PermissionDenied
    try:
        period = period_of(request)
    except BadPeriod:
        return _bad_period()
    pods = selectors.organisation_staffing()
    if request.GET.get("format") == "csv":
        return _staffing_csv(pods, filename="organisation-staffing.csv")
    return render(
        request,
        "pods/organisation.html",
        {
            **_period_context(period),
            "pods": pods,
            # A pod without agents or customers has no ratio: no bar, not a zero.
            "customers_per_agent_rows": [
                (row.pod.name, row.customers_per_agent)
                for row in pods
                if row.customers_per_agent is not None
            ],
            "cost_rows": [
                (row.pod.name, row.cost_per_customer)
                for row in pods
                if row.cost_per_customer is not None
            ],
            "cost_currency": settings.HELPDESK["AGENT_COST_CURRENCY"],
            "splits": selectors.split_history(limit=20),
        },
    )


@login_required
def my_figures(request: HttpRequest) -> HttpResponse:
    """An agent's own figures (the tickets panel by URL name)."""
    agent = getattr(request, "agent", None) or selectors.agent_for_user(
        user_id=request.user.pk
    )
    if agent is None:
        raise Http404
    try:
        period = period_of(request)
    except BadPeriod:
        return _bad_period()
    return render(
        request, "pods/my_figures.html", {**_period_context(period), "agent": agent}
    )


def _open_seats_by_reason(pod_id: int) -> list[dict]:
    """Open seats grouped by why they opened, oldest first: a new pod's ten
    founding seats are one line, not ten."""
    groups: dict[str, dict] = {}
    for seat in selectors.pod_open_seats(pod_id=pod_id):
        group = groups.setdefault(
            seat.reason,
            {"reason": seat.get_reason_display(), "seats": 0, "since": seat.opened_at},
        )
        group["seats"] += 1
    return list(groups.values())


def _tier_rows(staffing: selectors.PodStaffing) -> list[tuple[str, int, str]]:
    labels = dict(Agent.Tier.choices)
    return [
        (labels[tier], staffing.tiers[tier], f"tier-{tier.lower()}")
        for tier in TIER_ORDER
    ]


STAFFING_CSV_HEADER = (
    "pod_id",
    "pod",
    "state",
    "customers",
    "split_threshold",
    "split_progress_percent",
    "agents",
    "tier_high",
    "tier_middle",
    "tier_low",
    "open_seats",
    "customers_per_agent",
    "agent_monthly_cost",
    "cost_per_customer",
    "currency",
)


def _staffing_csv(rows: list[selectors.PodStaffing], *, filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(STAFFING_CSV_HEADER)
    for row in rows:
        writer.writerow(
            [
                row.pod.id,
                _csv_text(row.pod.name),
                row.pod.state,
                row.customers,
                row.pod.split_threshold,
                row.split_progress,
                row.agents,
                row.tiers[Agent.Tier.HIGH],
                row.tiers[Agent.Tier.MIDDLE],
                row.tiers[Agent.Tier.LOW],
                row.open_seats,
                "" if row.customers_per_agent is None else row.customers_per_agent,
                row.agent_monthly_cost,
                "" if row.cost_per_customer is None else row.cost_per_customer,
                row.cost_currency,
            ]
        )
    return response


def _csv_text(value: str) -> str:
    """A name as a spreadsheet reads it: one starting with = + - @ would run
    as a formula (CSV injection), so it is quoted with an apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value
