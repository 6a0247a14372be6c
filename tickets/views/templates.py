"""Reply templates in the workspace: the composer's panel on a ticket (search,
preview rendered for the ticket, send, suggest an edit from this case) and the
pages where leads keep their pod's templates (edit, versions, suggested edits).

The ticket panel is a set of htmx fragments the ticket page includes by URL name;
requested without htmx, each comes inside a page of its own, so it also works
without JavaScript. A ticket of another pod answers 404, like a missing one."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

import pods.selectors
from tickets import rules, selectors, services
from tickets.models import ReplyTemplate, Ticket

# The composer shows the most used matches; a search narrows them further.
COMPOSER_TEMPLATES = 25
MAX_REPLY_LENGTH = 20_000
MAX_QUERY_LENGTH = 100


# --- Forms --------------------------------------------------------------------------


class TemplateSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Search templates"), required=False, max_length=MAX_QUERY_LENGTH
    )
    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("Any language")), *settings.LANGUAGES],
    )


class TemplateReplyForm(forms.Form):
    # Prefixed, like the suggestion form: the panel lives inside the ticket
    # page, whose own composer has a "text" field too.
    prefix = "template-reply"

    text = forms.CharField(
        label=_("Your reply"),
        max_length=MAX_REPLY_LENGTH,
        help_text=_("Make it yours before sending: what you send is what is kept."),
        widget=forms.Textarea(attrs={"rows": 10}),
    )


class TemplateTextForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=rules.MAX_TEMPLATE_TITLE)
    body = forms.CharField(
        label=_("Text"),
        max_length=rules.MAX_TEMPLATE_BODY,
        help_text=_(
            "Variables in double braces are filled in for each ticket, for "
            "example {{ customer.first_name }}."
        ),
        widget=forms.Textarea(attrs={"rows": 12}),
    )


class SuggestionForm(TemplateTextForm):
    prefix = "template-suggestion"

    reason = forms.CharField(
        label=_("Why (what happened on this case)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class TemplateEditForm(TemplateTextForm):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    active = forms.BooleanField(
        label=_("Offered in the composer"), required=False, initial=True
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class TemplateCreateForm(TemplateEditForm):
    # "" is every pod (admins only); a lead is offered their pod alone.
    pod = forms.TypedChoiceField(
        label=_("For"), coerce=int, empty_value=None, required=False
    )

    def __init__(self, *args, pods: list[tuple[int | str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pod"].choices = pods


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("accept", _("Accept")), ("reject", _("Reject"))]
    )
    note = forms.CharField(
        label=_("Note for the agent"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


# --- The composer's panel on a ticket ----------------------------------------------


def _visible_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    """The ticket (or the one it was merged into) if the user may see it, else
    404: another pod's ticket is indistinguishable from a missing one."""
    ticket = selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None or not request.user.has_perm("tickets.view_ticket", ticket):
        raise Http404
    return ticket


def _require(request: HttpRequest, perm: str, obj=None) -> None:
    if not request.user.has_perm(perm, obj):
        raise PermissionDenied


def _usable_template(ticket: Ticket, template_id: int) -> ReplyTemplate:
    template = selectors.template_for_pod(template_id=template_id, pod_id=ticket.pod_id)
    if template is None:
        raise Http404
    return template


def _panel(
    request: HttpRequest, fragment: str, context: dict, *, status: int = 200
) -> HttpResponse:
    """The fragment alone for htmx; inside a page of its own otherwise."""
    if request.htmx:
        return render(request, fragment, context, status=status)
    return render(
        request,
        "tickets/templates/ticket_panel_page.html",
        {**context, "fragment": fragment},
        status=status,
    )


@login_required
@require_GET
def ticket_templates(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET /tickets/<id>/templates/?q=&language=: the templates an agent can
    answer this ticket with, most used first, with their satisfaction."""
    ticket = _visible_ticket(request, ticket_id)
    _require(request, "tickets.view_replytemplate")
    search = TemplateSearchForm(data=request.GET)
    answers = search.cleaned_data if search.is_valid() else {}
    templates = list(
        selectors.templates_for_agent(
            pod_id=ticket.pod_id,
            query=answers.get("q", ""),
            language=answers.get("language") or None,
        )[:COMPOSER_TEMPLATES]
    )
    stats = selectors.template_stats(templates=templates)
    return _panel(
        request,
        "tickets/templates/composer_list.html",
        {
            "ticket": ticket,
            "search": search,
            "rows": [(template, stats[template.id]) for template in templates],
            "searched": bool(answers.get("q") or answers.get("language")),
        },
    )


@login_required
@require_GET
def ticket_template_preview(
    request: HttpRequest, ticket_id: int, template_id: int
) -> HttpResponse:
    """GET /tickets/<id>/templates/<template_id>/preview/: the template as it
    reads on this ticket, the variables it could not fill, and the forms to send
    it (edited) or to suggest an edit of the template."""
    ticket = _visible_ticket(request, ticket_id)
    _require(request, "tickets.view_replytemplate")
    template = _usable_template(ticket, template_id)
    preview = selectors.template_preview(
        template=template, ticket=ticket, sender=request.user
    )
    return _preview_panel(
        request,
        ticket=ticket,
        preview=preview,
        reply=TemplateReplyForm(initial={"text": preview.text}),
    )


def _preview_panel(
    request: HttpRequest,
    *,
    ticket: Ticket,
    preview,
    reply: TemplateReplyForm,
    suggestion: SuggestionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    template = preview.template
    return _panel(
        request,
        "tickets/templates/composer_preview.html",
        {
            "ticket": ticket,
            "preview": preview,
            "reply": reply,
            "suggestion": suggestion
            or SuggestionForm(initial={"title": template.title, "body": template.body}),
            "suggestion_open": suggestion is not None,
            "can_send": request.user.has_perm("tickets.change_ticket", ticket),
            "can_suggest": request.user.has_perm("tickets.add_templatesuggestion"),
            "variable_names": rules.TEMPLATE_VARIABLE_NAMES,
        },
        status=status,
    )


def _form_status(request: HttpRequest) -> int:
    # htmx swaps only successful responses in: a form with errors is a 200 for
    # it, a 400 for a plain browser.
    return 200 if request.htmx else 400


def _agent(request: HttpRequest):
    agent = pods.selectors.agent_for_user(user_id=request.user.pk)
    if agent is None:
        raise PermissionDenied
    return agent


@login_required
@require_POST
def ticket_template_send(
    request: HttpRequest, ticket_id: int, template_id: int
) -> HttpResponse:
    """POST /tickets/<id>/templates/<template_id>/send/: reply to the customer
    with the (edited) template text; the use is counted."""
    ticket = _visible_ticket(request, ticket_id)
    _require(request, "tickets.change_ticket", ticket)
    template = _usable_template(ticket, template_id)
    agent = _agent(request)
    reply = TemplateReplyForm(data=request.POST)
    if reply.is_valid():
        try:
            message = services.reply_from_template_send(
                ticket=ticket,
                agent_id=agent.id,
                template_id=template.id,
                text=reply.cleaned_data["text"],
                now=timezone.now(),
            )
        except services.TemplateUnavailable:
            raise Http404 from None
        except services.TemplateReplyIncomplete as exc:
            reply.add_error("text", str(exc))
        except services.ReplyRefused as exc:
            reply.add_error(None, str(exc))
        else:
            return _sent(request, ticket=ticket, message=message)
    preview = selectors.template_preview(
        template=template, ticket=ticket, sender=request.user
    )
    return _preview_panel(
        request,
        ticket=ticket,
        preview=preview,
        reply=reply,
        status=_form_status(request),
    )


def _sent(request: HttpRequest, *, ticket: Ticket, message) -> HttpResponse:
    if not request.htmx:
        messages.success(request, gettext("Your reply is on its way."))
        return _back(request, default=reverse("ticket-templates", args=[ticket.id]))
    response = render(
        request,
        "tickets/templates/composer_sent.html",
        {"ticket": ticket, "message": message},
    )
    # The ticket page listens for this to show the new message in the thread.
    response["HX-Trigger"] = "tickets:reply-sent"
    return response


@login_required
@require_POST
def ticket_template_suggest(
    request: HttpRequest, ticket_id: int, template_id: int
) -> HttpResponse:
    """POST /tickets/<id>/templates/<template_id>/suggest/: suggest an edit of
    the template from this case, for the pod lead to decide."""
    ticket = _visible_ticket(request, ticket_id)
    _require(request, "tickets.add_templatesuggestion")
    template = _usable_template(ticket, template_id)
    agent = _agent(request)
    suggestion = SuggestionForm(data=request.POST)
    if suggestion.is_valid():
        answers = suggestion.cleaned_data
        try:
            services.template_suggestion_create(
                template=template,
                agent=agent,
                ticket=ticket,
                title=answers["title"],
                body=answers["body"],
                reason=answers["reason"],
                now=timezone.now(),
            )
        except (services.SuggestionRefused, services.TemplateInvalid) as exc:
            suggestion.add_error(None, str(exc))
        else:
            return _panel(
                request,
                "tickets/templates/composer_suggested.html",
                {"ticket": ticket, "template": template},
                status=201,
            )
    preview = selectors.template_preview(
        template=template, ticket=ticket, sender=request.user
    )
    return _preview_panel(
        request,
        ticket=ticket,
        preview=preview,
        reply=TemplateReplyForm(initial={"text": preview.text}),
        suggestion=suggestion,
        status=_form_status(request),
    )


# --- Pages for leads ----------------------------------------------------------------


def _scope(request: HttpRequest) -> dict:
    """Whose templates the user keeps: their pod's and the global ones, or every
    pod's for those who see all pods."""
    return {
        "pod_id": pods.selectors.home_pod_id(user_id=request.user.pk),
        "every_pod": request.user.has_perm("pods.view_all_pods"),
    }


@login_required
@require_GET
def reply_template_list(request: HttpRequest) -> HttpResponse:
    """GET /templates/: the pod's and the global templates with their uses,
    satisfaction, versions and suggested edits waiting."""
    _require(request, "tickets.view_replytemplate")
    templates = list(selectors.reply_templates_kept(**_scope(request)))
    stats = selectors.template_stats(templates=templates)
    rows = [
        (
            template,
            stats[template.id],
            request.user.has_perm("tickets.change_replytemplate", template),
        )
        for template in templates
    ]
    return render(
        request,
        "tickets/templates/template_list.html",
        {
            "rows": rows,
            "can_add": request.user.has_perm("tickets.add_replytemplate"),
            "can_decide": request.user.has_perm("tickets.change_templatesuggestion"),
        },
    )


def _creatable_pods(request: HttpRequest) -> list[tuple[int | str, str]]:
    """The scopes the user may create a template for: their pod (leads), or
    every pod and all pods at once (admins)."""
    choices: list[tuple[int | str, str]] = []
    probe = ReplyTemplate()
    if request.user.has_perm("tickets.add_replytemplate", probe):
        choices.append(("", gettext("Every pod")))
    for pod in pods.selectors.pod_list():
        probe.pod_id = pod.id
        if request.user.has_perm("tickets.add_replytemplate", probe):
            choices.append((pod.id, pod.name))
    return choices


@login_required
@require_http_methods(["GET", "POST"])
def reply_template_create(request: HttpRequest) -> HttpResponse:
    """GET/POST /templates/new/: write a new template for the pod (leads) or
    for any pod or every pod (admins)."""
    _require(request, "tickets.add_replytemplate")
    choices = _creatable_pods(request)
    if not choices:
        raise PermissionDenied
    if request.method == "GET":
        form = TemplateCreateForm(pods=choices, initial={"language": "en"})
        return _create_page(request, form=form)
    form = TemplateCreateForm(data=request.POST, pods=choices)
    if form.is_valid():
        answers = form.cleaned_data
        try:
            template = services.reply_template_create(
                title=answers["title"],
                body=answers["body"],
                pod_id=answers["pod"],
                language=answers["language"],
                active=answers["active"],
                user=request.user,
                now=timezone.now(),
            )
        except services.TemplateEditRefused:
            raise PermissionDenied from None
        except services.TemplateInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, gettext("Template created."))
            return redirect("reply-template-detail", template_id=template.id)
    return _create_page(request, form=form, status=400)


def _create_page(
    request: HttpRequest, *, form: TemplateCreateForm, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "tickets/templates/template_create.html",
        {"form": form, "variable_names": rules.TEMPLATE_VARIABLE_NAMES},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def reply_template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    """GET/POST /templates/<id>/: the template, its versions and the suggested
    edits waiting (each as a diff of the current text); its keepers edit it
    here, and every change of its text is a new version."""
    _require(request, "tickets.view_replytemplate")
    template = selectors.reply_template_kept(template_id=template_id, **_scope(request))
    if template is None:
        raise Http404
    can_edit = request.user.has_perm("tickets.change_replytemplate", template)
    if request.method == "GET":
        return _detail_page(request, template=template, form=_edit_form(template))
    if not can_edit:
        raise PermissionDenied
    form = TemplateEditForm(data=request.POST)
    if form.is_valid():
        answers = form.cleaned_data
        try:
            services.reply_template_update(
                template=template,
                title=answers["title"],
                body=answers["body"],
                language=answers["language"],
                active=answers["active"],
                based_on_version=answers["version"],
                user=request.user,
                now=timezone.now(),
            )
        except services.TemplateEditRefused:
            raise PermissionDenied from None
        except services.TemplateEditConflict as exc:
            form.add_error(
                None,
                gettext(
                    "Someone saved this template while you were editing "
                    "(%(detail)s). Your text is below: compare it with the "
                    "latest version before saving again."
                )
                % {"detail": exc},
            )
        except services.TemplateInvalid as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, gettext("Saved."))
            return redirect("reply-template-detail", template_id=template.id)
    return _detail_page(request, template=template, form=form, status=400)


def _edit_form(template: ReplyTemplate) -> TemplateEditForm:
    return TemplateEditForm(
        initial={
            "title": template.title,
            "body": template.body,
            "language": template.language,
            "active": template.active,
            "version": template.version,
        }
    )


def _detail_page(
    request: HttpRequest, *, template: ReplyTemplate, form, status: int = 200
) -> HttpResponse:
    suggestions = selectors.suggestions_of_template(template_id=template.id)
    for suggestion in suggestions:
        suggestion.template = template  # the diff reads the current text
    return render(
        request,
        "tickets/templates/template_detail.html",
        {
            "template": template,
            "form": form,
            "can_edit": request.user.has_perm("tickets.change_replytemplate", template),
            "can_decide": request.user.has_perm(
                "tickets.change_templatesuggestion", template
            ),
            "versions": selectors.template_versions(template_id=template.id),
            "reviews": selectors.suggestion_reviews(suggestions=suggestions),
            "variable_names": rules.TEMPLATE_VARIABLE_NAMES,
            "next": request.get_full_path(),
        },
        status=status,
    )


@login_required
@require_GET
def template_suggestion_list(request: HttpRequest) -> HttpResponse:
    """GET /templates/suggestions/: the suggested edits waiting for the user's
    decision, each as a diff of the template's current text."""
    _require(request, "tickets.change_templatesuggestion")
    scope = _scope(request)
    suggestions = [
        suggestion
        for suggestion in selectors.suggestions_for_lead(
            pod_id=scope["pod_id"],
            include_global=scope["every_pod"],
            every_pod=scope["every_pod"],
        )
        if request.user.has_perm(
            "tickets.change_templatesuggestion", suggestion.template
        )
    ]
    return render(
        request,
        "tickets/templates/suggestion_list.html",
        {
            "reviews": selectors.suggestion_reviews(suggestions=suggestions),
            "can_decide": True,  # the list holds only what the user may decide
            "next": request.get_full_path(),
        },
    )


@login_required
@require_POST
def template_suggestion_decide(
    request: HttpRequest, suggestion_id: int
) -> HttpResponse:
    """POST /templates/suggestions/<id>/decide/: accept (a new version) or
    reject a suggested edit, with a note for its author."""
    _require(request, "tickets.change_templatesuggestion")
    suggestion = selectors.suggestion_for_decision(suggestion_id=suggestion_id)
    if suggestion is None or not request.user.has_perm(
        "tickets.change_templatesuggestion", suggestion.template
    ):
        raise Http404
    form = DecisionForm(data=request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose to accept or reject the edit."))
        return _back(request, default=reverse("template-suggestions"))
    try:
        decision = services.template_suggestion_decide(
            suggestion=suggestion,
            user=request.user,
            accept=form.cleaned_data["decision"] == "accept",
            note=form.cleaned_data["note"],
            now=timezone.now(),
        )
    except services.SuggestionDecisionRefused as exc:
        messages.error(request, str(exc))
    else:
        if decision.version is not None:
            messages.success(
                request,
                gettext("Accepted: “%(title)s” is now at version %(version)s.")
                % {"title": suggestion.template.title, "version": decision.version},
            )
        else:
            messages.success(request, gettext("Rejected; the agent is told why."))
    return _back(request, default=reverse("template-suggestions"))


def _back(request: HttpRequest, *, default: str) -> HttpResponse:
    """Redirect to the form's `next` page when it is on this site, else default."""
    next_url = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(next_url if safe else default)
