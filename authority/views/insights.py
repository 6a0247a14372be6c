"""Delegation insights and authority usage: which approvals should become an
agent's own decision (or the customer's), applied by an admin in one click, and
how much agents use the authority they hold, under-users flagged to their lead.

Admins see every pod; a pod lead sees their pod's usage and the organisation's
delegation figures, read-only; agents are refused. The figures are also served
as CSV (`?format=csv&table=...`) and JSON (`?format=json`)."""

import csv
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

import pods.selectors
from authority import selectors, services

VIEW_PERMISSION = "authority.view_insights"
APPLY_PERMISSION = "authority.change_authorityrule"
TABLES = ("delegation", "agent-grants", "recommendations", "usage")
# A spreadsheet runs a cell that starts like a formula: names are data.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InsightsForm(forms.Form):
    days = forms.TypedChoiceField(
        label=_("Period"),
        choices=[(days, days) for days in selectors.PERIOD_DAYS],
        coerce=int,
        required=False,
        empty_value=selectors.DEFAULT_PERIOD_DAYS,
    )
    format = forms.ChoiceField(
        choices=[("html", "HTML"), ("csv", "CSV"), ("json", "JSON")],
        required=False,
    )
    table = forms.ChoiceField(
        choices=[(table, table) for table in TABLES], required=False
    )


class ApplyForm(forms.Form):
    key = forms.CharField(max_length=200)
    days = forms.TypedChoiceField(
        choices=[(days, days) for days in selectors.PERIOD_DAYS],
        coerce=int,
        required=False,
        empty_value=selectors.DEFAULT_PERIOD_DAYS,
    )


def _require_viewer(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied


def _visible_pod_ids(user) -> list[int]:
    """The pods whose usage the user reads, as the permission backend says:
    every pod for admins, their own for a lead."""
    return [
        pod.id
        for pod in pods.selectors.pod_list()
        if user.has_perm(VIEW_PERMISSION, pod)
    ]


def _bad_request(form: forms.Form) -> HttpResponse:
    problems = "; ".join(
        str(error) for errors in form.errors.values() for error in errors
    )
    return HttpResponse(
        gettext("Cannot show these insights: %(problems)s") % {"problems": problems},
        status=400,
        content_type="text/plain; charset=utf-8",
    )


@login_required
@require_GET
def insights(request: HttpRequest) -> HttpResponse:
    """GET /authority/insights/[?days=7|30|90][&format=csv&table=...|json]."""
    _require_viewer(request)
    form = InsightsForm(data=request.GET)
    if not form.is_valid():
        return _bad_request(form)
    days, shape = form.cleaned_data["days"], form.cleaned_data["format"] or "html"
    period = selectors.insight_period(now=timezone.now(), days=days)
    delegation = selectors.delegation_insights(period=period)
    usage = selectors.authority_usage(
        period=period, pod_ids=_visible_pod_ids(request.user)
    )
    if shape == "csv":
        table = form.cleaned_data["table"] or "delegation"
        return _csv(table=table, days=days, delegation=delegation, usage=usage)
    if shape == "json":
        return _json(delegation=delegation, usage=usage)
    can_apply = request.user.has_perm(APPLY_PERMISSION)
    return render(
        request,
        "authority/insights.html",
        {
            "days": days,
            "period_choices": selectors.PERIOD_DAYS,
            "delegation": delegation,
            "rows": _rows_shown(delegation.rows),
            "most_requests": max((row.requests for row in delegation.rows), default=0),
            "usage": usage,
            "can_apply": can_apply,
            "tables": TABLES,
            "thresholds": selectors.insight_thresholds(),
        },
    )


def _rows_shown(rows: list) -> list:
    """Every action's total, and its reasons when they tell more than the total
    (a lone "no reason set" row repeats it)."""
    shown = []
    for row in rows:
        if row.is_total:
            shown.append(row)
            continue
        siblings = [
            other
            for other in rows
            if other.action_type.id == row.action_type.id and not other.is_total
        ]
        if len(siblings) > 1 or row.reason_key != selectors.NO_REASON:
            shown.append(row)
    return shown


@login_required
@require_POST
def insights_apply(request: HttpRequest) -> HttpResponse:
    """POST /authority/insights/apply/ key, days: apply a recommendation (a new
    rule version); admins only."""
    if not request.user.has_perm(APPLY_PERMISSION):
        raise PermissionDenied
    form = ApplyForm(data=request.POST)
    if not form.is_valid():
        return _bad_request(form)
    days = form.cleaned_data["days"]
    target = f"{reverse('authority-insights')}?{urlencode({'days': days})}"
    try:
        applied = services.delegation_apply(
            key=form.cleaned_data["key"],
            user=request.user,
            now=timezone.now(),
            days=days,
        )
    except services.DelegationRefused as refused:
        messages.error(
            request,
            gettext("Not applied: %(why)s.") % {"why": "; ".join(refused.problems)},
        )
        return redirect(target)
    if applied.rule is None:
        messages.warning(
            request,
            gettext(
                "Nothing to apply: this recommendation was applied already, or "
                "the figures no longer make it."
            ),
        )
    else:
        messages.success(
            request,
            gettext("Applied: “%(rule)s” version %(version)s. %(note)s")
            % {
                "rule": applied.rule.name,
                "version": applied.rule.version,
                "note": applied.rule.change_note,
            },
        )
    return redirect(target)


# --- CSV and JSON -------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(*, table: str, days: int, delegation, usage) -> HttpResponse:
    header, rows = {
        "delegation": _delegation_table,
        "agent-grants": _agent_grants_table,
        "recommendations": _recommendations_table,
        "usage": _usage_table,
    }[table](delegation=delegation, usage=usage)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="authority-{table}-{days}d.csv"'
    )
    writer = csv.writer(response)
    writer.writerow([str(name) for name in header])
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return response


def _delegation_table(*, delegation, usage) -> tuple[list, list]:
    header = [
        _("Action"),
        _("Contact reason"),
        _("Approval requests"),
        _("Approved"),
        _("Denied"),
        _("Waiting"),
        _("Approval rate"),
        _("Median wait (hours)"),
        _("Share of all contacts"),
        _("Asked, median"),
        _("Asked, 90th percentile"),
        _("Approved, 90th percentile"),
        _("Approved, largest"),
    ]
    rows = [
        [
            row.action_type.name,
            row.reason_name,
            row.requests,
            row.approved,
            row.denied,
            row.waiting,
            row.approval_rate,
            row.median_wait_hours,
            row.contact_share,
            row.asked_median,
            row.asked_p90,
            row.approved_p90,
            row.approved_max,
        ]
        for row in delegation.rows
    ]
    return header, rows


def _agent_grants_table(*, delegation, usage) -> tuple[list, list]:
    header = [
        _("Action"),
        _("Agents' grants"),
        _("Reversed"),
        _("Reversal rate"),
        _("Amount, median"),
        _("Amount, 90th percentile"),
        _("Amount, largest"),
    ]
    rows = [
        [
            row.action_type.name,
            row.grants,
            row.reversed,
            row.reversal_rate,
            row.amount_median,
            row.amount_p90,
            row.amount_max,
        ]
        for row in delegation.agent_grants
    ]
    return header, rows


def _recommendations_table(*, delegation, usage) -> tuple[list, list]:
    header = [_("Recommendation"), _("Stage"), _("Limit per grant"), _("Key")]
    rows = [
        [found.text, found.to_stage, found.limit, found.key]
        for found in delegation.recommendations
    ]
    return header, rows


def _usage_table(*, delegation, usage) -> tuple[list, list]:
    header = [
        _("Pod"),
        _("Agent"),
        _("Opportunities"),
        _("With a grant"),
        _("Usage rate"),
        _("Pod median rate"),
        _("Grants made"),
        _("Amounts granted"),
        _("Uses authority rarely"),
    ]
    rows = [
        [
            pod.name,
            agent.name,
            agent.opportunities,
            agent.with_grant,
            agent.rate,
            pod.median_rate,
            agent.grants,
            agent.amounts_words,
            gettext("yes") if agent.under_user else "",
        ]
        for pod in usage
        for agent in pod.agents
    ]
    return header, rows


def _json(*, delegation, usage) -> HttpResponse:
    def number(value):
        return None if value is None else str(value)

    body = {
        "period": {
            "start": delegation.period.start.isoformat(),
            "end": delegation.period.end.isoformat(),
            "days": delegation.period.days,
        },
        "contacts": delegation.contacts,
        "delegation": [
            {
                "action": row.action_type.code,
                "reason_id": row.reason_key if row.reason_key > 0 else None,
                "all_reasons": row.is_total,
                "reason": row.reason_name,
                "requests": row.requests,
                "approved": row.approved,
                "denied": row.denied,
                "waiting": row.waiting,
                "approval_rate": number(row.approval_rate),
                "median_wait_hours": number(row.median_wait_hours),
                "contact_share": number(row.contact_share),
                "asked_median": number(row.asked_median),
                "asked_p90": number(row.asked_p90),
                "approved_p90": number(row.approved_p90),
                "approved_max": number(row.approved_max),
            }
            for row in delegation.rows
        ],
        "agent_grants": [
            {
                "action": row.action_type.code,
                "grants": row.grants,
                "reversed": row.reversed,
                "reversal_rate": number(row.reversal_rate),
                "amount_median": number(row.amount_median),
                "amount_p90": number(row.amount_p90),
                "amount_max": number(row.amount_max),
            }
            for row in delegation.agent_grants
        ],
        "recommendations": [
            {
                "key": found.key,
                "text": found.text,
                "action": found.action_type.code,
                "reason_id": found.reason_id,
                "to_stage": found.to_stage,
                "limit": number(found.limit),
                "current_limit": number(found.current_limit),
                "rule_id": found.rule_id,
            }
            for found in delegation.recommendations
        ],
        "usage": [
            {
                "pod_id": pod.pod_id,
                "pod": pod.name,
                "opportunities": pod.opportunities,
                "with_grant": pod.with_grant,
                "rate": number(pod.rate),
                "median_rate": number(pod.median_rate),
                "agents": [
                    {
                        "agent_id": agent.agent_id,
                        "name": agent.name,
                        "opportunities": agent.opportunities,
                        "with_grant": agent.with_grant,
                        "rate": number(agent.rate),
                        "grants": agent.grants,
                        "money": {
                            currency: number(total) for currency, total in agent.money
                        },
                        "days": agent.days,
                        "under_user": agent.under_user,
                    }
                    for agent in pod.agents
                ],
            }
            for pod in usage
        ],
    }
    return HttpResponse(
        json.dumps(body),
        content_type="application/json",
    )
