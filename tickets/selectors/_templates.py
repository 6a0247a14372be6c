"""Reads of reply templates: what an agent can reply with on a ticket, what fills
a template's variables, how each template does (uses, satisfaction), and the
suggested edits waiting for a lead."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, F, Q, QuerySet

from tickets import rules
from tickets.models import (
    ReplyTemplate,
    ReplyTemplateVersion,
    TemplateSuggestion,
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
    # The answered surveys of solves that followed a use of the template on
    # their ticket (a ticket solved and rated again counts again), and their
    # mean rating.
    rating_average: float | None
    ratings: int


def template_stats(*, templates: Iterable[ReplyTemplate]) -> dict[int, TemplateStats]:
    """Uses, last use and the satisfaction of the tickets where each template
    was used, from the counters the services keep on the templates: no query,
    however many uses and surveys there are."""
    return {
        template.id: TemplateStats(
            uses=template.use_count,
            last_used_at=template.last_used_at,
            rating_average=template.rating_average,
            ratings=template.rated_count,
        )
        for template in templates
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
