"""Rollups of a pod's work for its dashboard: a row per pod per local day, exact
and recomputed from the tickets (idempotently), and a row per pod per period
merged from the day rows, which is all a dashboard page reads."""

import uuid

from django.db import models
from django.db.models import F, Q

FIGURE_PERIODS = (1, 7, 30, 90)  # tickets.rules.FIGURE_PERIODS, for the constraint


class PodDayFigures(models.Model):
    """A pod's figures of one local day (the pod's time zone). The histograms
    count durations in seconds in the fixed buckets of tickets.rules; the maps
    are {contact reason id (0: none): contacts} and {template id: [uses, rated,
    rated 4 or 5, rating sum]}. See tickets.rules.FigureTotals for each
    figure's definition."""

    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    computed_at = models.DateTimeField()
    contacts = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    first_response_histogram = models.JSONField(default=dict)
    solved = models.PositiveIntegerField(default=0)
    resolution_histogram = models.JSONField(default=dict)
    one_touch = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    rated_1 = models.PositiveIntegerField(default=0)
    rated_2 = models.PositiveIntegerField(default=0)
    rated_3 = models.PositiveIntegerField(default=0)
    rated_4 = models.PositiveIntegerField(default=0)
    rated_5 = models.PositiveIntegerField(default=0)
    repeat_contacts = models.PositiveIntegerField(default=0)
    same_pod = models.PositiveIntegerField(default=0)
    both_assigned = models.PositiveIntegerField(default=0)
    same_agent = models.PositiveIntegerField(default=0)
    reasons = models.JSONField(default=dict)
    templates = models.JSONField(default=dict)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pod", "day"], name="pod_day_figures_once"),
            models.CheckConstraint(
                condition=Q(one_touch__lte=F("solved")) & Q(reopened__lte=F("solved")),
                name="pod_day_figures_of_solved",
            ),
            models.CheckConstraint(
                condition=Q(repeat_contacts__lte=F("contacts"))
                & Q(same_pod__lte=F("repeat_contacts"))
                & Q(both_assigned__lte=F("repeat_contacts"))
                & Q(same_agent__lte=F("both_assigned")),
                name="pod_day_figures_continuity_nested",
            ),
        ]

    def __str__(self) -> str:
        return f"pod {self.pod_id} on {self.day}"


class AgentDayFigures(models.Model):
    """An agent's figures of one local day in one pod: tickets solved as
    assignee (with one reply, reopened), first responses they made with their
    durations, ratings of surveys about them."""

    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("pods.Agent", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    computed_at = models.DateTimeField()
    solved = models.PositiveIntegerField(default=0)
    one_touch = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    first_response_histogram = models.JSONField(default=dict)
    rated_1 = models.PositiveIntegerField(default=0)
    rated_2 = models.PositiveIntegerField(default=0)
    rated_3 = models.PositiveIntegerField(default=0)
    rated_4 = models.PositiveIntegerField(default=0)
    rated_5 = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            # Also the index of an agent's own figures (agent, days).
            models.UniqueConstraint(
                fields=["agent", "day", "pod"], name="agent_day_figures_once"
            ),
            models.CheckConstraint(
                condition=Q(one_touch__lte=F("solved")) & Q(reopened__lte=F("solved")),
                name="agent_day_figures_of_solved",
            ),
        ]
        indexes = [
            # A pod's day is replaced as a whole.
            models.Index(fields=["pod", "day"], name="agent_day_figures_pod"),
        ]

    def __str__(self) -> str:
        return f"agent {self.agent_id} in pod {self.pod_id} on {self.day}"


class PodPeriodFigures(models.Model):
    """A pod's figures of the last `period_days` local days including today,
    merged from its day rows, as of a refresh: what dashboards read (one row,
    whatever the period). `figures` is tickets.rules.PeriodTotals as JSON, with
    the names of the reasons, templates and agents it mentions; `headline` the
    same without the per-agent, per-reason and per-template detail (what the
    organisation view shows of every pod: a small fraction to decode).
    `revision` is new at every write: what rendered panels are cached by."""

    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    period_days = models.PositiveSmallIntegerField()
    first_day = models.DateField()
    last_day = models.DateField()
    # The pod's customers when the row was refreshed: contacts per customer.
    customers = models.PositiveIntegerField()
    as_of = models.DateTimeField()
    figures = models.JSONField()
    # Null on rows written before it existed, until their next refresh.
    headline = models.JSONField(null=True)
    revision = models.UUIDField(default=uuid.uuid4)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pod", "period_days"], name="pod_period_figures_once"
            ),
            models.CheckConstraint(
                condition=Q(period_days__in=FIGURE_PERIODS),
                name="pod_period_figures_known_period",
            ),
            models.CheckConstraint(
                condition=Q(first_day__lte=F("last_day")),
                name="pod_period_figures_days_ordered",
            ),
        ]
        indexes = [
            # The organisation view reads every pod's row of one period.
            models.Index(fields=["period_days", "pod"], name="pod_period_figures_all"),
        ]

    def __str__(self) -> str:
        return f"pod {self.pod_id}, {self.period_days} days as of {self.as_of}"
