"""The authority panels of the pod dashboard and the organisation view: htmx
fragments the pods app's pages include by URL name, and their CSV.

A pod the user may not see answers 404 like a missing one (pods.backends
decides with `pods.view_dashboard`); the organisation panel needs
`pods.view_all_pods`. `?period=1|7|30|90` (default 7) chooses the figures;
`&format=csv[&table=summary|actions|agents|recommendations]` downloads them."""

import csv
from collections.abc import Callable
from hashlib import sha256
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

import pods.selectors
from authority import selectors

DASHBOARD_PERMISSION = "pods.view_dashboard"
ALL_PODS_PERMISSION = "pods.view_all_pods"
POD_TABLES = ("summary", "actions", "agents")
ORGANISATION_TABLES = (*POD_TABLES, "recommendations")
# A spreadsheet runs a cell that starts like a formula: names are data.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class FiguresForm(forms.Form):
    period = forms.TypedChoiceField(
        label=_("Period"),
        choices=[(days, days) for days in selectors.FIGURE_PERIODS],
        coerce=int,
        required=False,
        empty_value=selectors.DEFAULT_FIGURE_PERIOD,
    )
    format = forms.ChoiceField(
        choices=[("html", "HTML"), ("csv", "CSV")], required=False
    )
    table = forms.ChoiceField(
        choices=[(table, table) for table in ORGANISATION_TABLES], required=False
    )


def _bad_request(form: forms.Form) -> HttpResponse:
    problems = "; ".join(
        str(error) for errors in form.errors.values() for error in errors
    )
    return HttpResponse(
        gettext("Cannot show these figures: %(problems)s") % {"problems": problems},
        status=400,
        content_type="text/plain; charset=utf-8",
    )


def visible_pod(user, pod_id: int):
    """The pod if the user may see its dashboard, else 404 (like a missing one)."""
    pod = pods.selectors.pod_visible_to(
        user=user, pod_id=pod_id, perm=DASHBOARD_PERMISSION
    )
    if pod is None:
        raise Http404
    return pod


@login_required
@require_GET
def pod_authority_figures(request: HttpRequest, pod_id: int) -> HttpResponse:
    """GET /pods/<pod_id>/authority/figures/?period=[&format=csv&table=]."""
    pod = visible_pod(request.user, pod_id)
    form = FiguresForm(data=request.GET)
    if form.is_valid() and form.cleaned_data["table"] not in (*POD_TABLES, ""):
        form.add_error("table", gettext("This table belongs to the organisation."))
    if not form.is_valid():
        return _bad_request(form)
    days = form.cleaned_data["period"]
    now = timezone.now()
    if form.cleaned_data["format"] == "csv":
        figures = selectors.pod_authority_figures(pod_id=pod.id, days=days, now=now)
        return _csv(
            table=form.cleaned_data["table"] or "summary",
            name=f"authority-pod-{pod.id}-{days}d",
            pods=[figures] if figures else [],
            recommendations=[],
        )
    revision = selectors.pod_authority_revision(pod_id=pod.id, days=days, now=now)

    def context() -> dict:
        figures = selectors.pod_authority_figures(pod_id=pod.id, days=days, now=now)
        return {
            "pod": pod,
            "days": days,
            "figures": figures,
            "stage_bars": _stage_bars(figures) if figures else [],
        }

    return cached_panel(
        request,
        # The approvals link shows to those who may decide approvals.
        key=revision
        and ("pod", pod.id, days, revision, _may_decide_approvals(request.user)),
        template="authority/figures/pod_panel.html",
        context=context,
    )


def _may_decide_approvals(user) -> bool:
    return user.has_perm("authority.add_approvaldecision")


def _stage_bars(figures) -> list[tuple[str, int]]:
    stages = figures.grants_by_stage
    return [
        (gettext("After approval"), stages[1]),
        (gettext("By agents"), stages[2]),
        (gettext("By customers"), stages[3]),
    ]


@login_required
@require_GET
def organisation_authority_figures(request: HttpRequest) -> HttpResponse:
    """GET /organisation/authority/figures/?period=[&format=csv&table=]."""
    if not request.user.has_perm(ALL_PODS_PERMISSION):
        raise PermissionDenied
    form = FiguresForm(data=request.GET)
    if not form.is_valid():
        return _bad_request(form)
    days = form.cleaned_data["period"]
    now = timezone.now()
    if form.cleaned_data["format"] == "csv":
        figures = selectors.organisation_authority_figures(days=days, now=now)
        return _csv(
            table=form.cleaned_data["table"] or "summary",
            name=f"authority-organisation-{days}d",
            pods=figures.pods,
            recommendations=figures.recommendations,
        )
    revision = selectors.organisation_authority_revision(days=days, now=now)
    can_read_insights = request.user.has_perm("authority.view_insights")

    def context() -> dict:
        figures = selectors.organisation_authority_figures(days=days, now=now)
        return {
            "days": days,
            "figures": figures,
            "avoided_bars": [
                (pod.pod_name, pod.approvals_avoided) for pod in figures.pods
            ],
            "can_read_insights": can_read_insights,
        }

    return cached_panel(
        request,
        key=("organisation", days, revision, can_read_insights),
        template="authority/figures/organisation_panel.html",
        context=context,
    )


# --- Rendered panels, cached ---------------------------------------------------------

PANEL_CACHE_PREFIX = "authority-panel"
# Not a freshness bound (the key holds the figures' revision): room for the
# cache to drop the keys of past revisions it never reads again.
PANEL_CACHE_SECONDS = 24 * 60 * 60


def cached_panel(
    request: HttpRequest,
    *,
    key: tuple | None,
    template: str,
    context: Callable[[], dict],
) -> HttpResponse:
    """The panel rendered from `context()`, or its HTML as rendered before for
    the same key (the figures' revision: a digest of everything they are made
    of, the live parts included, so any change means a new key) and the same
    viewer's language, time zone and date. A None key is not cached."""
    if not key:
        return render(request, template, context())
    viewer = (
        translation.get_language(),
        timezone.get_current_timezone_name(),
        timezone.localdate().isoformat(),
    )
    digest = sha256(repr((*key, *viewer)).encode()).hexdigest()
    cache_key = f"{PANEL_CACHE_PREFIX}:{digest}"
    html = cache.get(cache_key)
    if html is None:
        html = render_to_string(template, context(), request=request)
        cache.set(cache_key, html, PANEL_CACHE_SECONDS)
    return HttpResponse(html)


# --- CSV ----------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(*, table: str, name: str, pods: list, recommendations: list) -> HttpResponse:
    header, rows = {
        "summary": _summary_table,
        "actions": _actions_table,
        "agents": _agents_table,
        "recommendations": _recommendations_table,
    }[table](pods=pods, recommendations=recommendations)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{table}.csv"'
    writer = csv.writer(response)
    writer.writerow([str(column) for column in header])
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return response


def _period_cells(pod) -> list:
    return [
        pod.pod_name,
        pod.days,
        pod.first_day,
        pod.last_day,
        pod.as_of.isoformat() if pod.as_of else "",
    ]


PERIOD_HEADER = (_("Pod"), _("Days"), _("First day"), _("Last day"), _("As of"))


def _summary_table(*, pods: list, recommendations: list) -> tuple[list, list]:
    header = [
        *PERIOD_HEADER,
        _("Grants after approval (stage 1)"),
        _("Grants by agents (stage 2)"),
        _("Grants by customers (stage 3)"),
        _("Reversals"),
        _("Approvals avoided"),
        _("Approvals requested"),
        _("Approved"),
        _("Denied"),
        _("Approvals waiting"),
        _("Opportunities"),
        _("With a grant"),
        _("Usage rate"),
    ]
    rows = []
    for pod in pods:
        stages = pod.grants_by_stage
        rows.append(
            [
                *_period_cells(pod),
                stages[1],
                stages[2],
                stages[3],
                pod.reversals,
                pod.approvals_avoided,
                pod.approvals_requested,
                pod.approvals_approved,
                pod.approvals_denied,
                pod.approvals_waiting,
                pod.opportunities,
                pod.with_grant,
                pod.rate,
            ]
        )
    return header, rows


def _actions_table(*, pods: list, recommendations: list) -> tuple[list, list]:
    header = [
        *PERIOD_HEADER,
        _("Action"),
        _("Unit"),
        _("Currency"),
        _("Stage"),
        _("Grants"),
        _("Granted"),
        _("Reversals"),
        _("Reversed"),
        _("Approvals requested"),
        _("Approved"),
        _("Denied"),
        _("Monthly budget"),
        _("Used this month"),
    ]
    rows = []
    for pod in pods:
        for action in pod.actions:
            budget = [action.budget, action.used_this_month]
            approvals = [
                action.approvals_requested,
                action.approvals_approved,
                action.approvals_denied,
            ]
            kind = [
                action.action_type.name,
                action.action_type.unit,
                action.action_type.currency,
            ]
            if not action.stages:
                rows.append(
                    [*_period_cells(pod), *kind, "", 0, 0, 0, 0, *approvals, *budget]
                )
            for stage in action.stages:
                rows.append(
                    [
                        *_period_cells(pod),
                        *kind,
                        stage.stage,
                        stage.grants,
                        stage.granted,
                        stage.reversals,
                        stage.reversed,
                        *(approvals if stage.stage == 1 else [0, 0, 0]),
                        *budget,
                    ]
                )
    return header, rows


def _agents_table(*, pods: list, recommendations: list) -> tuple[list, list]:
    header = [
        *PERIOD_HEADER,
        _("Agent"),
        _("Opportunities"),
        _("With a grant"),
        _("Usage rate"),
        _("Grants made"),
        _("Uses authority rarely"),
    ]
    rows = [
        [
            *_period_cells(pod),
            agent.name,
            agent.opportunities,
            agent.with_grant,
            agent.rate,
            agent.grants,
            gettext("yes") if agent.under_user else "",
        ]
        for pod in pods
        for agent in pod.agents
    ]
    return header, rows


def _recommendations_table(*, pods: list, recommendations: list) -> tuple[list, list]:
    header = [_("Recommendation"), _("Stage"), _("Limit per grant"), _("Key")]
    rows = [
        [found.text, found.to_stage, found.limit, found.key]
        for found in recommendations
    ]
    return header, rows
