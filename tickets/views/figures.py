"""The tickets panels of the dashboards: htmx fragments the pages of pods
include by URL name, each also a CSV download.

- pod-figures-live: a pod's queue now and each agent's load (refetched live)
- pod-figures: a pod's figures of the period (?period=1|7|30|90)
- organisation-figures: every pod side by side on the same figures
- my-figures-panel: an agent's own figures of the period

Every panel says as of when its figures are: period figures are read from the
pod's period row (one row, whatever the period and the size of the tables) and
are as of its last refresh; live ones are as of the request.

Who sees what (pods.backends decides): a pod's panels answer 404 for a pod the
user may not view (pods.view_dashboard: a lead their pod, admins any pod, an
agent none), like a missing pod; the organisation's need pods.view_all_pods
(403); an agent's own figures need only being an agent (404 for anyone else).

A period other than 1, 7, 30 or 90 days answers 400 with the reason, as the
dashboard pages do: a mistyped link learns what to fix instead of silently
getting other figures than it asked for. `?format=csv&table=<name>` answers one
table as CSV (one row per figure, agent, reason, template or pod, each with the
as-of time); an unknown table is a 400 too."""

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from hashlib import sha256
from statistics import median
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.http import urlencode
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

import pods.selectors
from tickets import rules, selectors
from tickets.views import _figure_csv

DASHBOARD_PERMISSION = "pods.view_dashboard"
ALL_PODS_PERMISSION = "pods.view_all_pods"
DEFAULT_PERIOD = 7
PERIOD_LABELS = {
    1: _("Today"),
    7: _("Last 7 days"),
    30: _("Last 30 days"),
    90: _("Last 90 days"),
}
# An agent this loaded (open tickets against capacity), and this much more
# than the pod's median, holds up the queue: seed 002's bottleneck.
BOTTLENECK_LOAD = Decimal("0.8")
BOTTLENECK_GAP = Decimal("0.25")
ONLINE = "ONLINE"
# Meters go amber from this share of capacity (the bottleneck's threshold).
LOAD_HIGH = BOTTLENECK_LOAD
TOP_REASONS = 10
TOP_TEMPLATES = 10
# Not a freshness bound (the key holds the rows' revision): room for the
# cache to drop the keys of past refreshes it never reads again.
PANEL_CACHE_SECONDS = 24 * 60 * 60
EMPTY = "—"

TABLE_LABELS = {
    "queue": _("Queue now"),
    "agents": _("Agents"),
    "figures": _("Figures"),
    "reasons": _("Contact reasons"),
    "templates": _("Reply templates"),
    "pods": _("Pods"),
}
LIVE_TABLES = ("queue", "agents")
POD_TABLES = ("figures", "agents", "reasons", "templates")
ORGANISATION_TABLES = ("pods",)
MY_TABLES = ("figures",)


# --- Input ----------------------------------------------------------------------------


class PanelForm(forms.Form):
    period = forms.TypedChoiceField(
        choices=[(days, days) for days in rules.FIGURE_PERIODS],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
        error_messages={
            "invalid_choice": _("Choose a period of 1, 7, 30 or 90 days."),
        },
    )
    format = forms.ChoiceField(
        choices=[("html", "HTML"), ("csv", "CSV")],
        required=False,
        error_messages={"invalid_choice": _("Choose the format html or csv.")},
    )
    table = forms.ChoiceField(choices=(), required=False)

    def __init__(self, *args, tables: Iterable[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        tables = tuple(tables)
        self.tables = tables
        self.fields["table"].choices = [(table, table) for table in tables]
        self.fields["table"].error_messages["invalid_choice"] = gettext(
            "Choose the table %(tables)s."
        ) % {"tables": ", ".join(tables)}

    @property
    def days(self) -> int:
        return self.cleaned_data["period"]

    @property
    def wants_csv(self) -> bool:
        return self.cleaned_data["format"] == "csv"

    @property
    def table_name(self) -> str:
        return self.cleaned_data["table"] or self.tables[0]


class BadRequest(Exception):
    """The panel's query string is not one it answers; the message says why."""


def _panel_form(request: HttpRequest, tables: Iterable[str]) -> PanelForm:
    form = PanelForm(data=request.GET, tables=tables)
    if not form.is_valid():
        raise BadRequest(
            "; ".join(str(error) for errors in form.errors.values() for error in errors)
        )
    return form


def _bad_request(problem: BadRequest) -> HttpResponse:
    return HttpResponse(
        gettext("Cannot show these figures: %(problem)s") % {"problem": problem},
        status=400,
        content_type="text/plain; charset=utf-8",
    )


def panel_view(view: Callable) -> Callable:
    """Signed in, GET only, and a bad query string answered 400 with why."""

    def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadRequest as problem:
            return _bad_request(problem)

    answer.__doc__, answer.__name__ = view.__doc__, view.__name__
    return login_required(require_GET(answer))


def downloads(url: str, tables: Iterable[str], period: int | None = None) -> list:
    """(label, url) of each of a panel's CSV tables."""
    links = []
    for table in tables:
        query = {"format": "csv", "table": table}
        if period is not None:
            query = {"period": period, **query}
        links.append((TABLE_LABELS[table], f"{url}?{urlencode(query)}"))
    return links


# --- Access ---------------------------------------------------------------------------


def dashboard_pod(request: HttpRequest, pod_id: int):
    """The pod if the user may see its dashboard, else 404: another pod is
    indistinguishable from a missing one."""
    pod = pods.selectors.pod_visible_to(
        user=request.user, pod_id=pod_id, perm=DASHBOARD_PERMISSION
    )
    if pod is None:
        raise Http404
    return pod


def require_all_pods(request: HttpRequest) -> None:
    if not request.user.has_perm(ALL_PODS_PERMISSION):
        raise PermissionDenied


def own_agent(request: HttpRequest):
    """The signed-in user's Agent (read once by pods.middleware), else 404."""
    agent = getattr(request, "agent", None)
    if agent is None:
        agent = pods.selectors.agent_for_user(user_id=request.user.pk)
    if agent is None:
        raise Http404
    return agent


# --- Rendered panels, cached ---------------------------------------------------------

PANEL_CACHE_PREFIX = "tickets-panel"


def viewer_key(request: HttpRequest) -> tuple:
    """What of the viewer changes a period panel's HTML: the language, and the
    time zone and its date ("as of 14:02" today, with the date otherwise).
    These panels show nothing else of the user (who may see them at all is
    checked before the cache is read)."""
    return (
        translation.get_language(),
        timezone.get_current_timezone_name(),
        timezone.localdate().isoformat(),
    )


def cached_panel(
    request: HttpRequest,
    *,
    key: tuple | None,
    template: str,
    context: Callable[[], dict],
) -> HttpResponse:
    """The panel rendered from `context()`, or its HTML as rendered before for
    the same key and viewer. The key names the rows' revision, which every
    refresh renews: a refresh means a new key (the old one expires unread),
    so nothing is guessed with a time to live. A None key is not cached."""
    if key is None:
        return render(request, template, context())
    digest = sha256(repr((*key, *viewer_key(request))).encode()).hexdigest()
    cache_key = f"{PANEL_CACHE_PREFIX}:{digest}"
    html = cache.get(cache_key)
    if html is None:
        html = render_to_string(template, context(), request=request)
        cache.set(cache_key, html, PANEL_CACHE_SECONDS)
    return HttpResponse(html)


# --- Panels ---------------------------------------------------------------------------


@panel_view
def pod_figures_live(request: HttpRequest, pod_id: int) -> HttpResponse:
    """GET /pods/<id>/figures/live/[?format=csv&table=queue|agents]: the queue
    now (unassigned, open, pending, oldest waiting, SLA) and each member's
    presence, open tickets against capacity and tickets handled today."""
    form = _panel_form(request, LIVE_TABLES)
    pod = dashboard_pod(request, pod_id)
    live = selectors.pod_live_figures(pod_id=pod.id, now=timezone.now())
    if form.wants_csv:
        return _figure_csv.live_csv(
            live, table=form.table_name, bottleneck_ids=bottleneck_ids(live.agents)
        )
    return render(request, "tickets/figures/_live.html", _live_context(pod, live))


@panel_view
def pod_figures(request: HttpRequest, pod_id: int) -> HttpResponse:
    """GET /pods/<id>/figures/?period=1|7|30|90[&format=csv&table=figures|
    agents|reasons|templates]: the pod's figures of the period (the HTML
    cached by its period row's revision)."""
    form = _panel_form(request, POD_TABLES)
    pod = dashboard_pod(request, pod_id)
    if form.wants_csv:
        figures = selectors.pod_figures(pod_id=pod.id, period_days=form.days)
        if figures is None:
            raise Http404
        return _figure_csv.pod_csv(figures, table=form.table_name)
    revision = selectors.pod_figures_revision(pod_id=pod.id, period_days=form.days)
    return cached_panel(
        request,
        key=None if revision is None else ("pod", pod.id, form.days, revision),
        template="tickets/figures/_pod.html",
        context=lambda: _pod_context(
            pod,
            selectors.pod_figures(pod_id=pod.id, period_days=form.days),
            period=form.days,
        ),
    )


@panel_view
def organisation_figures(request: HttpRequest) -> HttpResponse:
    """GET /organisation/figures/?period=[&format=csv]: every pod side by side
    on the period's figures (those who may see every pod); the HTML cached by
    the revisions of the pods' period rows."""
    require_all_pods(request)
    form = _panel_form(request, ORGANISATION_TABLES)
    if form.wants_csv:
        rows = selectors.organisation_headlines(period_days=form.days)
        return _figure_csv.organisation_csv(rows, period=form.days)
    revision = selectors.organisation_figures_revision(period_days=form.days)
    return cached_panel(
        request,
        key=("organisation", form.days, revision),
        template="tickets/figures/_organisation.html",
        context=lambda: _organisation_context(
            selectors.organisation_headlines(period_days=form.days),
            period=form.days,
        ),
    )


@panel_view
def my_figures_panel(request: HttpRequest) -> HttpResponse:
    """GET /me/figures/panel/?period=[&format=csv]: the signed-in agent's own
    figures of the period."""
    form = _panel_form(request, MY_TABLES)
    agent = own_agent(request)
    figures = selectors.agent_figures(agent_id=agent.id, period_days=form.days)
    if form.wants_csv:
        return _figure_csv.agent_csv(figures, agent_name=str(agent))
    return render(
        request,
        "tickets/figures/_mine.html",
        _mine_context(figures, period=form.days),
    )


# --- Words ----------------------------------------------------------------------------


def duration_words(seconds: float | None) -> str:
    """45 s, 14 min, 3 h 5 min, 2 d 4 h: at most two units."""
    if seconds is None:
        return EMPTY
    seconds = max(round(seconds), 0)
    if seconds < 60:
        return gettext("%(seconds)d s") % {"seconds": seconds}
    minutes = round(seconds / 60)
    if minutes < 60:
        return gettext("%(minutes)d min") % {"minutes": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes == 0:
            return gettext("%(hours)d h") % {"hours": hours}
        return gettext("%(hours)d h %(minutes)d min") % {
            "hours": hours,
            "minutes": minutes,
        }
    days, hours = divmod(hours, 24)
    if hours == 0:
        return gettext("%(days)d d") % {"days": days}
    return gettext("%(days)d d %(hours)d h") % {"days": days, "hours": hours}


def percent_words(rate: Decimal | None) -> str:
    """62%, 4.5% (a decimal below 10%, where it still tells something)."""
    if rate is None:
        return EMPTY
    percent = Decimal(rate) * 100
    places = 1 if percent < 10 and percent != percent.to_integral_value() else 0
    return gettext("%(percent)s%%") % {
        "percent": formats.number_format(round(percent, places), places, use_l10n=True)
    }


def number_words(value: Decimal | int | None, places: int = 0) -> str:
    if value is None:
        return EMPTY
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


def trend_view(direction: str, change: Decimal | None) -> dict:
    """An arrow and its words: the arrow is decoration, the words say it."""
    if direction == rules.Trend.NEW:
        return {
            "tone": "new",
            "arrow": "★",
            "short": pgettext("trend", "new"),
            "words": gettext("None in the previous period"),
        }
    if direction == rules.Trend.FLAT or change is None:
        return {
            "tone": "flat",
            "arrow": "→",
            "short": pgettext("trend", "same"),
            "words": gettext("As many as in the previous period"),
        }
    size = percent_words(abs(change))
    if direction == rules.Trend.UP:
        words = gettext("Up %(change)s on the period before") % {"change": size}
        return {"tone": "up", "arrow": "▲", "short": f"+{size}", "words": words}
    words = gettext("Down %(change)s on the period before") % {"change": size}
    return {"tone": "down", "arrow": "▼", "short": f"-{size}", "words": words}


def as_of_view(as_of: datetime | None) -> dict | None:
    """When the figures were computed, for the "as of" line: the time alone
    today (the viewer's zone), with the date otherwise."""
    if as_of is None:
        return None
    local = timezone.localtime(as_of)
    return {
        "moment": as_of,
        "today": local.date() == timezone.localdate(),
    }


# --- Live panel -----------------------------------------------------------------------


def _load(open_tickets: int, capacity: int) -> Decimal:
    return Decimal(open_tickets) / Decimal(max(capacity, 1))


def bottleneck_ids(agents) -> set[int]:
    """Seed 002's bottleneck: agents whose load (open tickets against capacity)
    is high (BOTTLENECK_LOAD or more) and well above the pod's median load
    (BOTTLENECK_GAP or more), so a pod loaded evenly singles nobody out: its
    team load tells that story."""
    loads = {
        agent.agent_id: _load(agent.open_tickets, agent.capacity) for agent in agents
    }
    middle = median(loads.values()) if len(loads) > 1 else Decimal(0)
    return {
        agent_id
        for agent_id, load in loads.items()
        if load >= BOTTLENECK_LOAD and load - middle >= BOTTLENECK_GAP
    }


def team_load(agents) -> dict:
    """Open tickets held against the capacity of the agents online now."""
    online = [agent for agent in agents if agent.presence == ONLINE]
    held = sum(agent.open_tickets for agent in agents)
    capacity = sum(agent.capacity for agent in online)
    return {
        "held": held,
        "capacity": capacity,
        "online": len(online),
        "percent": round(Decimal(held) * 100 / capacity) if capacity else None,
    }


def _live_context(pod, live) -> dict:
    bottlenecks = bottleneck_ids(live.agents)
    now = live.as_of
    waiting = (
        (now - live.oldest_waiting_since).total_seconds()
        if live.oldest_waiting_since is not None
        else None
    )
    return {
        "pod": pod,
        "live": live,
        "downloads": downloads(reverse("pod-figures-live", args=[pod.id]), LIVE_TABLES),
        "as_of": as_of_view(live.as_of),
        "oldest_waiting_words": duration_words(waiting),
        "agents": [
            {
                "agent": agent,
                "load_percent": round(_load(agent.open_tickets, agent.capacity) * 100),
                "load_high": agent.capacity * LOAD_HIGH,
                "full": agent.open_tickets >= agent.capacity,
                "bottleneck": agent.agent_id in bottlenecks,
            }
            for agent in live.agents
        ],
        "has_bottleneck": bool(bottlenecks),
        "bottleneck_percent": round(BOTTLENECK_LOAD * 100),
        "bottleneck_gap": round(BOTTLENECK_GAP * 100),
        "team_load": team_load(live.agents),
    }


# --- Pod panel ------------------------------------------------------------------------


def _durations_view(durations) -> dict:
    return {
        "count": durations.count,
        "median": duration_words(durations.median_seconds),
        "p90": duration_words(durations.p90_seconds),
    }


def _csat_view(csat) -> dict:
    return {
        "answered": csat.answered,
        "satisfied": percent_words(csat.satisfied_rate),
        "mean": number_words(csat.mean, 1),
        "rating_rows": [
            (
                gettext("%(rating)s stars") % {"rating": rating},
                count,
                f"rating-{rating}",
            )
            for rating, count in zip(
                range(5, 0, -1), reversed(csat.ratings), strict=True
            )
        ],
    }


def _series_minutes(values: Iterable[float | None]) -> list[float | None]:
    return [None if value is None else round(value / 60, 1) for value in values]


def _pod_context(pod, figures, *, period: int) -> dict:
    context: dict[str, Any] = {
        "pod": pod,
        "figures": figures,
        "period": period,
        "period_label": PERIOD_LABELS[period],
        "downloads": downloads(
            reverse("pod-figures", args=[pod.id]), POD_TABLES, period
        ),
    }
    if figures is None:
        return context
    return {
        **context,
        "as_of": as_of_view(figures.as_of),
        "words": {
            "per_1000": number_words(figures.contacts_per_1000_customers, 1),
            "customers": number_words(figures.customers),
            "first_response": _durations_view(figures.first_response),
            "resolution": _durations_view(figures.resolution),
            "one_touch": percent_words(figures.one_touch_rate),
            "reopen": percent_words(figures.reopen_rate),
            "csat": _csat_view(figures.csat),
            "same_pod": percent_words(figures.continuity.same_pod_rate),
            "same_agent": percent_words(figures.continuity.same_agent_rate),
        },
        "series": {
            "contacts": list(figures.series.contacts),
            "solved": list(figures.series.solved),
            "first_response_minutes": _series_minutes(
                figures.series.first_response_median_seconds
            ),
            "csat": [
                None if value is None else value * 100 for value in figures.series.csat
            ],
        },
        "reasons": [
            {
                "reason": reason,
                "trend": trend_view(reason.trend, reason.change),
            }
            for reason in figures.reasons[:TOP_REASONS]
        ],
        "more_reasons": max(len(figures.reasons) - TOP_REASONS, 0),
        "templates": [
            {
                "template": template,
                "satisfied": percent_words(template.satisfied_rate),
                "mean": number_words(template.mean_rating, 1),
            }
            for template in figures.templates[:TOP_TEMPLATES]
        ],
        "more_templates": max(len(figures.templates) - TOP_TEMPLATES, 0),
        "agents": [
            {
                "agent": agent,
                "one_touch": percent_words(agent.one_touch_rate),
                "first_response": _durations_view(agent.first_response),
                "csat": percent_words(agent.csat.satisfied_rate),
            }
            for agent in figures.agents
        ],
        "most_handled": max((agent.handled for agent in figures.agents), default=0),
    }


# --- Organisation panel ---------------------------------------------------------------


def _organisation_context(rows, *, period: int) -> dict:
    as_ofs = [row.as_of for row in rows if row.as_of is not None]
    return {
        "period": period,
        "downloads": downloads(
            reverse("organisation-figures"), ORGANISATION_TABLES, period
        ),
        "period_label": PERIOD_LABELS[period],
        "as_of": as_of_view(min(as_ofs)) if as_ofs else None,
        "pods": [
            {
                "figures": row,
                "per_1000": number_words(row.contacts_per_1000_customers, 1),
                "first_response": _durations_view(row.first_response),
                "resolution": _durations_view(row.resolution),
                "one_touch": percent_words(row.one_touch_rate),
                "reopen": percent_words(row.reopen_rate),
                "csat": percent_words(row.csat.satisfied_rate),
                "same_pod": percent_words(row.continuity.same_pod_rate),
                "same_agent": percent_words(row.continuity.same_agent_rate),
            }
            for row in rows
        ],
        "first_response_rows": [
            (row.pod_name, round(row.first_response.median_seconds / 60, 1))
            for row in rows
            if row.first_response.median_seconds is not None
        ],
        "csat_rows": [
            (row.pod_name, row.csat.satisfied_rate * 100)
            for row in rows
            if row.csat.satisfied_rate is not None
        ],
    }


# --- An agent's own panel -------------------------------------------------------------


def _mine_context(figures, *, period: int) -> dict:
    return {
        "figures": figures,
        "period": period,
        "downloads": downloads(reverse("my-figures-panel"), MY_TABLES, period),
        "period_label": PERIOD_LABELS[period],
        "as_of": as_of_view(figures.as_of),
        "words": {
            "one_touch": percent_words(figures.one_touch_rate),
            "first_response": _durations_view(figures.first_response),
            "csat": _csat_view(figures.csat),
        },
        "handled_series": list(figures.handled_series),
    }
