"""Reads of reply templates: what an agent can reply with on a ticket, what fills
a template's variables, how each template does (uses, satisfaction), and the
suggested edits waiting for a lead."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery

from tickets import rules
from tickets.models import (
    ReplyTemplate,
    ReplyTemplateVersion,
    SatisfactionSurvey,
    TemplateSuggestion,
    TemplateUse,
    Ticket,
)


def templates_for_agent(
    *, pod_id: int, query: str = "", language: str | None = None
) -> QuerySet[ReplyTemplate]:
    """The active templates an agent of the pod can reply with (global ones and
    the pod's own), most used first; `query` keeps those whose title or body
    holds every word of it."""
    templates = ReplyTemplate.objects.filter(
        Q(pod__isnull=True) | Q(pod_id=pod_id), active=True
    )
    for word in query.split():
        templates = templates.filter(Q(title__icontains=word) | Q(body__icontains=word))
    if language:
        templates = templates.filter(language=language)
    return templates.order_by("-use_count", "title", "id")


def template_for_pod(*, template_id: int, pod_id: int) -> ReplyTemplate | None:
    """The template if an agent of the pod can reply with it (active, global or
    the pod's own), else None."""
    return templates_for_agent(pod_id=pod_id).filter(id=template_id).first()


def reply_templates_kept(
    *, pod_id: int | None, every_pod: bool = False
) -> QuerySet[ReplyTemplate]:
    """The templates a lead looks after, active or not: global ones and their
    pod's (every pod's with every_pod), global first, with their pod and the
    number of suggested edits waiting."""
    templates = ReplyTemplate.objects.all()
    if not every_pod:
        templates = templates.filter(Q(pod__isnull=True) | Q(pod_id=pod_id))
    return (
        templates.select_related("pod")
        .annotate(
            suggestions_waiting=Count(
                "suggestions",
                filter=Q(suggestions__state=TemplateSuggestion.State.PROPOSED),
            )
        )
        .order_by(F("pod__name").asc(nulls_first=True), "title", "id")
    )


def reply_template_kept(
    *, template_id: int, pod_id: int | None, every_pod: bool = False
) -> ReplyTemplate | None:
    """One template of reply_templates_kept, or None."""
    return (
        reply_templates_kept(pod_id=pod_id, every_pod=every_pod)
        .filter(id=template_id)
        .first()
    )


def template_versions(*, template_id: int) -> QuerySet[ReplyTemplateVersion]:
    """Every version of the template, newest first, with who wrote it."""
    return (
        ReplyTemplateVersion.objects.filter(template_id=template_id)
        .select_related("created_by")
        .order_by("-version", "-id")
    )


def suggestions_for_lead(
    *, pod_id: int | None, include_global: bool = False, every_pod: bool = False
) -> QuerySet[TemplateSuggestion]:
    """The suggested edits waiting for a decision, oldest first: on the pod's
    templates, on global ones with include_global, on all with every_pod; with
    their template, author and ticket."""
    scope = Q(template__pod_id=pod_id)
    if include_global:
        scope |= Q(template__pod__isnull=True)
    suggestions = TemplateSuggestion.objects.filter(
        state=TemplateSuggestion.State.PROPOSED
    )
    if not every_pod:
        suggestions = suggestions.filter(scope)
    return suggestions.select_related(
        "template__pod", "suggested_by__user", "ticket"
    ).order_by("created_at", "id")


def suggestions_of_template(*, template_id: int) -> QuerySet[TemplateSuggestion]:
    """The template's suggested edits waiting for a decision, oldest first."""
    return (
        TemplateSuggestion.objects.filter(
            template_id=template_id, state=TemplateSuggestion.State.PROPOSED
        )
        .select_related("suggested_by__user", "ticket")
        .order_by("created_at", "id")
    )


def suggestion_for_decision(*, suggestion_id: int) -> TemplateSuggestion | None:
    return (
        TemplateSuggestion.objects.select_related("template", "suggested_by")
        .filter(id=suggestion_id)
        .first()
    )


# --- How each template does -------------------------------------------------------


@dataclass(frozen=True)
class TemplateStats:
    uses: int
    last_used_at: datetime | None
    # Of the solves that followed a use of the template (a ticket solved twice
    # after it counts twice), the answered surveys: their mean and their tickets.
    rating_average: float | None
    rated_tickets: int


def template_stats(*, template_ids: list[int]) -> dict[int, TemplateStats]:
    """Uses, last use and the satisfaction of the tickets where each template
    was used, in two queries. A survey counts for a template when the template
    was used on its ticket before the solve it rates."""
    if not template_ids:
        return {}
    uses = (
        ReplyTemplate.objects.filter(id__in=template_ids)
        .annotate(
            last_used_at=Subquery(
                TemplateUse.objects.filter(template_id=OuterRef("pk"))
                .order_by("-used_at")
                .values("used_at")[:1]
            )
        )
        .order_by()
        .values_list("id", "use_count", "last_used_at")
    )
    ratings = _ratings_after_use(template_ids=template_ids)
    return {
        template_id: TemplateStats(
            uses=use_count,
            last_used_at=last_used_at,
            rating_average=ratings.get(template_id, (None, 0))[0],
            rated_tickets=ratings.get(template_id, (None, 0))[1],
        )
        for template_id, use_count, last_used_at in uses
    }


def _ratings_after_use(*, template_ids: list[int]) -> dict[int, tuple[float, int]]:
    """The mean of the answered surveys that followed each template's first use
    on their ticket, and their tickets.

    Grouped from the uses of these templates (by the template_use index), each
    (template, ticket) once, then joined to the tickets' surveys: the cost grows
    with the uses of the templates asked about. A correlated subquery per
    template instead scanned every answered survey once per template (6x slower
    with 150k uses and 100k surveys on PostgreSQL). The ORM cannot join a
    grouped subquery, hence SQL; the values are parameters."""
    placeholders = ", ".join(["%s"] * len(template_ids))
    sql = (
        "SELECT used.template_id, AVG(survey.rating), "  # noqa: S608 - tables from model meta
        "COUNT(DISTINCT survey.ticket_id) "
        "FROM (SELECT template_id, ticket_id, MIN(used_at) AS first_used_at "
        f"FROM {TemplateUse._meta.db_table} "
        f"WHERE template_id IN ({placeholders}) "
        "GROUP BY template_id, ticket_id) used "
        f"JOIN {SatisfactionSurvey._meta.db_table} survey "
        "ON survey.ticket_id = used.ticket_id "
        "AND survey.solved_at >= used.first_used_at "
        "WHERE survey.rating IS NOT NULL "
        "GROUP BY used.template_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(template_ids))
        return {
            template_id: (float(average), rated)
            for template_id, average, rated in cursor.fetchall()
        }


# --- What fills the variables -------------------------------------------------------

VariableProvider = Callable[[Ticket], Mapping[str, str]]
# The hook for variables owned by apps above tickets (the authority app's
# entitlement.* fields: days left, plan end): tickets never imports them, so they
# register a provider from their AppConfig.ready() with
# template_variable_provider_add. A provider takes the ticket and returns
# {"entitlement.days_left": "12", ...}; it adds names, never replaces these.
_variable_providers: list[VariableProvider] = []


def template_variable_provider_add(*, provider: VariableProvider) -> None:
    """Let `provider` fill more template variables for every ticket (call once
    per process, from an AppConfig.ready())."""
    if provider not in _variable_providers:
        _variable_providers.append(provider)


def template_variables_for_ticket(*, ticket: Ticket, sender=None) -> dict[str, str]:
    """The values of the template variables for this ticket, in one query (plus
    one per registered provider): the customer's names, the sending agent's first
    name (`sender`, a user; the assignee when not given), the ticket's number
    and subject, and the pod's name. A missing value is an empty string."""
    display_name, subject, pod_name, assignee_first_name = (
        Ticket.objects.filter(id=ticket.id)
        .values_list(
            "customer__display_name",
            "subject",
            "pod__name",
            "assignee__user__first_name",
        )
        .get()
    )
    # A name without a space is all first name: Korean names are written family
    # name first and without one, so Korean templates greet {{ customer.name }}.
    first_name, _, last_name = (display_name or "").strip().partition(" ")
    variables = {
        "customer.first_name": first_name,
        "customer.last_name": last_name.strip(),
        "customer.name": (display_name or "").strip(),
        "agent.first_name": (
            sender.first_name if sender is not None else assignee_first_name or ""
        ),
        "ticket.number": str(ticket.id),
        "ticket.subject": subject,
        "pod.name": pod_name,
    }
    for provider in _variable_providers:
        for name, value in provider(ticket).items():
            variables.setdefault(name, str(value))
    return variables


# --- What an agent and a lead look at -----------------------------------------------


@dataclass(frozen=True)
class TemplatePreview:
    template: ReplyTemplate
    text: str  # rendered for the ticket; a marker shows where a value is missing
    missing: tuple[str, ...]


def template_preview(
    *, template: ReplyTemplate, ticket: Ticket, sender=None
) -> TemplatePreview:
    """The template as it would read on this ticket when `sender` replies, and
    the variables it could not fill."""
    variables = template_variables_for_ticket(ticket=ticket, sender=sender)
    return TemplatePreview(
        template=template,
        text=rules.template_render(body=template.body, variables=variables),
        missing=rules.template_variables_missing(
            body=template.body, variables=variables
        ),
    )


@dataclass(frozen=True)
class SuggestionReview:
    suggestion: TemplateSuggestion
    # From the template's current text to the suggested one.
    diff: tuple[rules.DiffPart, ...]
    title_changed: bool
    # Written against an older version than the template's current one: the
    # diff then also undoes what changed since.
    outdated: bool


def suggestion_reviews(
    *, suggestions: Iterable[TemplateSuggestion]
) -> list[SuggestionReview]:
    """What each suggestion would change in its template's current text (no
    query: the suggestions carry their template)."""
    return [
        SuggestionReview(
            suggestion=suggestion,
            diff=rules.template_diff(old=suggestion.template.body, new=suggestion.body),
            title_changed=suggestion.title != suggestion.template.title,
            outdated=suggestion.based_on_version != suggestion.template.version,
        )
        for suggestion in suggestions
    ]
