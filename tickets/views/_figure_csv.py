"""The dashboard panels' tables as CSV: one row per figure (a stable key, its
label, the value in its unit), or per agent, contact reason, template or pod;
every row with its period and the as-of time of its figures. Values are
machine-readable: durations in seconds, rates as shares 0..1."""

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# A spreadsheet runs a cell that starts like a formula: names are data.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COUNT, SECONDS, SHARE, RATING, PER_CUSTOMER, TIME = (
    "count",
    "seconds",
    "share",
    "rating",
    "per customer",
    "time",
)


@dataclass(frozen=True)
class Figure:
    """One figure: a stable key, its label, its unit, and how to read its
    value off the figures (tickets.selectors' dataclasses)."""

    key: str
    label: Any
    unit: str
    read: Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    label: Any
    read: Callable[[Any], Any]


def _rating(rating: int) -> Callable[[Any], int]:
    return lambda figures: figures.csat.ratings[rating - 1]


def _durations(prefix: str, count, median, p90) -> tuple[Figure, ...]:
    return (
        Figure(f"{prefix}_count", count, COUNT, attrgetter(f"{prefix}.count")),
        Figure(
            f"{prefix}_median_seconds",
            median,
            SECONDS,
            attrgetter(f"{prefix}.median_seconds"),
        ),
        Figure(
            f"{prefix}_p90_seconds", p90, SECONDS, attrgetter(f"{prefix}.p90_seconds")
        ),
    )


FIRST_RESPONSE = _durations(
    "first_response",
    _("First responses"),
    _("First response time, median"),
    _("First response time, 90th percentile"),
)
RATING_LABELS = {
    1: _("Surveys rated 1"),
    2: _("Surveys rated 2"),
    3: _("Surveys rated 3"),
    4: _("Surveys rated 4"),
    5: _("Surveys rated 5"),
}
CSAT = (
    Figure("csat_answered", _("Surveys answered"), COUNT, attrgetter("csat.answered")),
    *(
        Figure(f"csat_rating_{rating}", label, COUNT, _rating(rating))
        for rating, label in RATING_LABELS.items()
    ),
    Figure(
        "csat_satisfied_rate",
        _("CSAT (rated 4 or 5)"),
        SHARE,
        attrgetter("csat.satisfied_rate"),
    ),
    Figure("csat_mean", _("Mean rating"), RATING, attrgetter("csat.mean")),
)
SOLVES = (
    Figure("one_touch", _("Solved with one reply"), COUNT, attrgetter("one_touch")),
    Figure(
        "one_touch_rate",
        _("One-touch resolution"),
        SHARE,
        attrgetter("one_touch_rate"),
    ),
    Figure("reopened", _("Solved tickets reopened"), COUNT, attrgetter("reopened")),
)


def _continuity(key: str, label, unit: str) -> Figure:
    return Figure(key, label, unit, attrgetter(f"continuity.{key}"))


# Every figure of a pod's period: a row each in the pod's figures CSV, a column
# each in the organisation's (the API holds the same).
POD_FIGURES = (
    Figure("customers", _("Customers"), COUNT, attrgetter("customers")),
    Figure("contacts", _("Contacts"), COUNT, attrgetter("contacts")),
    Figure(
        "contacts_per_customer",
        _("Contacts per customer"),
        PER_CUSTOMER,
        attrgetter("contacts_per_customer"),
    ),
    Figure(
        "contacts_per_1000_customers",
        _("Contacts per 1,000 customers"),
        COUNT,
        attrgetter("contacts_per_1000_customers"),
    ),
    *FIRST_RESPONSE,
    *_durations(
        "resolution",
        _("Tickets solved (resolution times)"),
        _("Resolution time, median"),
        _("Resolution time, 90th percentile"),
    ),
    Figure("solved", _("Tickets solved"), COUNT, attrgetter("solved")),
    *SOLVES,
    Figure("reopen_rate", _("Reopen rate"), SHARE, attrgetter("reopen_rate")),
    *CSAT,
    _continuity("repeat_contacts", _("Repeat contacts"), COUNT),
    _continuity("same_pod", _("Repeat contacts in the same pod"), COUNT),
    _continuity("same_pod_rate", _("Continuity: same pod"), SHARE),
    _continuity("both_assigned", _("Repeat contacts with both assigned"), COUNT),
    _continuity("same_agent", _("Repeat contacts with the same agent"), COUNT),
    _continuity("same_agent_rate", _("Continuity: same agent"), SHARE),
)
AGENT_FIGURES = (
    Figure("handled", _("Tickets handled"), COUNT, attrgetter("handled")),
    *SOLVES,
    *FIRST_RESPONSE,
    *CSAT,
)
LIVE_FIGURES = (
    Figure("unassigned", _("Unassigned"), COUNT, attrgetter("unassigned")),
    Figure("open", _("Open"), COUNT, attrgetter("open")),
    Figure("pending", _("Pending"), COUNT, attrgetter("pending")),
    Figure(
        "oldest_waiting_since",
        _("Oldest waiting since"),
        TIME,
        attrgetter("oldest_waiting_since"),
    ),
    Figure("sla_breached", _("Past their SLA"), COUNT, attrgetter("sla_breached")),
    Figure("sla_due_soon", _("SLA due soon"), COUNT, attrgetter("sla_due_soon")),
    Figure("handled_today", _("Handled today"), COUNT, attrgetter("handled_today")),
)

# The pod's lists: one row per item, these columns.
POD_LISTS = {
    "agents": (
        Column(_("Agent"), attrgetter("name")),
        Column(_("Agent id"), attrgetter("agent_id")),
        Column(_("Tickets handled"), attrgetter("handled")),
        Column(_("One-touch resolution"), attrgetter("one_touch_rate")),
        Column(_("Solved tickets reopened"), attrgetter("reopened")),
        Column(_("First responses"), attrgetter("first_response.count")),
        Column(
            _("First response time, median (seconds)"),
            attrgetter("first_response.median_seconds"),
        ),
        Column(
            _("First response time, 90th percentile (seconds)"),
            attrgetter("first_response.p90_seconds"),
        ),
        Column(_("Surveys answered"), attrgetter("csat.answered")),
        Column(_("CSAT (rated 4 or 5)"), attrgetter("csat.satisfied_rate")),
        Column(_("Mean rating"), attrgetter("csat.mean")),
    ),
    "reasons": (
        Column(_("Contact reason"), attrgetter("name")),
        Column(_("Reason id"), attrgetter("reason_id")),
        Column(_("Contacts"), attrgetter("contacts")),
        Column(_("Contacts in the period before"), attrgetter("previous_contacts")),
        Column(_("Trend"), attrgetter("trend")),
        Column(_("Change"), attrgetter("change")),
        Column(
            _("Contacts per day"),
            lambda reason: " ".join(str(count) for count in reason.series),
        ),
    ),
    "templates": (
        Column(_("Template"), attrgetter("title")),
        Column(_("Template id"), attrgetter("template_id")),
        Column(_("Uses"), attrgetter("uses")),
        Column(_("Surveys answered"), attrgetter("rated")),
        Column(_("CSAT (rated 4 or 5)"), attrgetter("satisfied_rate")),
        Column(_("Mean rating"), attrgetter("mean_rating")),
    ),
}
LIVE_AGENTS = (
    Column(_("Agent"), attrgetter("name")),
    Column(_("Agent id"), attrgetter("agent_id")),
    Column(_("Role"), attrgetter("role")),
    Column(_("Presence"), attrgetter("presence")),
    Column(_("Open tickets"), attrgetter("open_tickets")),
    Column(_("Capacity"), attrgetter("capacity")),
    Column(_("Handled today"), attrgetter("handled_today")),
    Column(_("Tier"), attrgetter("tier")),
    Column(_("Proficiency"), attrgetter("proficiency_score")),
)
FIGURE_COLUMNS = [_("Figure"), _("Key"), _("Value"), _("Unit")]
PERIOD_COLUMNS = [_("Period (days)"), _("First day"), _("Last day"), _("As of")]


# --- Cells and responses --------------------------------------------------------------


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _response(
    filename: str, header: Sequence, rows: Iterable[Sequence]
) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow([str(name) for name in header])
    for row in rows:
        writer.writerow([_cell(value) for value in row])
    return response


def _figure_cells(figure: Figure, figures) -> list:
    return [str(figure.label), figure.key, figure.read(figures), figure.unit]


def _period_cells(figures) -> list:
    return [figures.period_days, figures.first_day, figures.last_day, figures.as_of]


# --- The panels' tables ---------------------------------------------------------------


def pod_csv(figures, *, table: str) -> HttpResponse:
    """A pod's figures of the period (table "figures"), or its agents, contact
    reasons or templates, one row each."""
    if table == "figures":
        header = [_("Pod"), *FIGURE_COLUMNS, *PERIOD_COLUMNS]
        rows = [
            [figures.pod_name, *_figure_cells(figure, figures), *_period_cells(figures)]
            for figure in POD_FIGURES
        ]
    else:
        columns = POD_LISTS[table]
        header = [_("Pod"), *(column.label for column in columns), *PERIOD_COLUMNS]
        rows = [
            [
                figures.pod_name,
                *(column.read(item) for column in columns),
                *_period_cells(figures),
            ]
            for item in getattr(figures, table)
        ]
    return _response(
        f"pod-{figures.pod_id}-{table}-{figures.period_days}d.csv", header, rows
    )


def live_csv(live, *, table: str, bottleneck_ids: set[int]) -> HttpResponse:
    """A pod's queue now (table "queue"), or its agents now."""
    if table == "queue":
        header = [*FIGURE_COLUMNS, _("As of")]
        rows = [[*_figure_cells(figure, live), live.as_of] for figure in LIVE_FIGURES]
    else:
        header = [
            *(column.label for column in LIVE_AGENTS),
            _("Bottleneck"),
            _("As of"),
        ]
        rows = [
            [
                *(column.read(agent) for column in LIVE_AGENTS),
                gettext("yes") if agent.agent_id in bottleneck_ids else "",
                live.as_of,
            ]
            for agent in live.agents
        ]
    return _response(f"pod-{live.pod_id}-live-{table}.csv", header, rows)


def organisation_csv(pods: Sequence, *, period: int) -> HttpResponse:
    """Every pod's figures of the period, a row per pod, a column per figure."""
    header = [
        _("Pod"),
        _("Pod id"),
        *(figure.label for figure in POD_FIGURES),
        *PERIOD_COLUMNS,
    ]
    rows = [
        [
            figures.pod_name,
            figures.pod_id,
            *(figure.read(figures) for figure in POD_FIGURES),
            *_period_cells(figures),
        ]
        for figures in pods
    ]
    return _response(f"organisation-figures-{period}d.csv", header, rows)


def agent_csv(figures, *, agent_name: str) -> HttpResponse:
    """An agent's own figures of the period, a row each."""
    header = [_("Agent"), *FIGURE_COLUMNS, *PERIOD_COLUMNS]
    rows = [
        [agent_name, *_figure_cells(figure, figures), *_period_cells(figures)]
        for figure in AGENT_FIGURES
    ]
    return _response(f"my-figures-{figures.period_days}d.csv", header, rows)
