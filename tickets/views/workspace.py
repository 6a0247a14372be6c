"""The agent workspace: the pod's queues, the ticket page and what agents do on
it (take, reply, note, move, hand over, invite a colleague, leave), and
attachment downloads.

Every page works without JavaScript: forms post and redirect back with a
message. With htmx the same endpoints answer fragments instead: a queue row,
the queue panel, or the ticket page's header, thread and side panel swapped
out of band, so the composer (and what is being typed in it) is never
replaced. Another pod's ticket or attachment answers 404 like a missing one
(pods.backends and tickets.backends decide who sees what).

Times show in the agent's time zone, activated for every signed-in request by
pods.middleware."""

import unicodedata
from collections.abc import Callable
from urllib.parse import quote, urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

import pods.selectors
from tickets import rules, selectors, services
from tickets.models import Ticket
from tickets.selectors import QueueCursor, QueueFilters, QueueView

MAX_MESSAGE_LENGTH = 20_000
MAX_QUERY_LENGTH = 100
MAX_TAGS = 20
# A long conversation opens on its latest messages; earlier ones are folded.
LATEST_SHOWN = 6
# The live refresh asks for as many rows as the agent has loaded, up to this.
MAX_QUEUE_ROWS = 200
# Types a browser could render or run, whatever the Content-Disposition says:
# served as bytes.
ACTIVE_CONTENT_MARKERS = ("html", "xml", "svg", "javascript", "ecmascript", "x-sh")

QUEUE_VIEW_LABELS = {
    QueueView.UNASSIGNED: _("Unassigned"),
    QueueView.OPEN: _("All open"),
    QueueView.MINE: _("Mine"),
    QueueView.PENDING: _("Pending"),
    QueueView.BREACHING: _("Breaching SLA"),
}
STATUS_MOVES: dict[str, Callable] = {
    Ticket.Status.PENDING: services.ticket_pending_set,
    Ticket.Status.OPEN: services.ticket_resume,
    Ticket.Status.SOLVED: services.ticket_solve,
}


# --- Forms --------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    view = forms.ChoiceField(
        choices=[(view.value, label) for view, label in QUEUE_VIEW_LABELS.items()],
        required=False,
    )
    channel = forms.ChoiceField(
        label=_("Channel"),
        choices=[("", _("Any channel")), *Ticket.Channel.choices],
        required=False,
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[
            ("", _("Any status")),
            *(
                (value, label)
                for value, label in Ticket.Status.choices
                if value in Ticket.OPEN_STATUSES
            ),
        ],
        required=False,
    )
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=[("", _("Any priority")), *Ticket.Priority.choices],
        required=False,
    )
    tag = forms.CharField(label=_("Tag"), max_length=50, required=False)
    reason = forms.TypedChoiceField(
        label=_("Contact reason"), coerce=int, empty_value=None, required=False
    )
    after = forms.CharField(max_length=100, required=False)
    limit = forms.IntegerField(min_value=1, max_value=MAX_QUEUE_ROWS, required=False)

    def __init__(self, *args, reasons, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [
            ("", gettext("Any reason")),
            *((reason.id, reason.name) for reason in reasons),
        ]

    def answers(self) -> dict:
        """The valid filters; an invalid one (a stale link) is left out."""
        self.is_valid()
        return self.cleaned_data


class MessageForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[("reply", _("Reply")), ("note", _("Internal note"))]
    )
    text = forms.CharField(
        label=_("Message"), max_length=MAX_MESSAGE_LENGTH, strip=True
    )
    # The last message the page showed: the collision check's starting point.
    seen_message_id = forms.IntegerField(min_value=0, required=False)
    confirm = forms.BooleanField(required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[(status, status) for status in STATUS_MOVES])
    next = forms.CharField(required=False, max_length=500)


class FieldsForm(forms.Form):
    priority = forms.ChoiceField(label=_("Priority"), choices=Ticket.Priority.choices)
    reason = forms.TypedChoiceField(
        label=_("Contact reason"), coerce=int, empty_value=None, required=False
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=1000,
        help_text=_("Separate tags with commas."),
    )

    def __init__(self, *args, reasons, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].choices = [
            ("", gettext("No reason yet")),
            *((reason.id, reason.name) for reason in reasons),
        ]

    def clean_tags(self) -> list[str]:
        tags = [tag.strip() for tag in self.cleaned_data["tags"].split(",")]
        tags = [tag for tag in tags if tag]
        if len(tags) > MAX_TAGS:
            raise forms.ValidationError(
                gettext("At most %(count)s tags.") % {"count": MAX_TAGS}
            )
        return tags


class AgentChoiceForm(forms.Form):
    # Blank: back to the pod queue (assigning) or nobody (inviting).
    agent = forms.IntegerField(min_value=1, required=False)


class ColleagueSearchForm(forms.Form):
    q = forms.CharField(
        label=_("Find a colleague"), max_length=MAX_QUERY_LENGTH, required=False
    )


class MentionSearchForm(forms.Form):
    # What follows the @ so far: the start of a username or a name.
    q = forms.CharField(label=_("Name"), max_length=150, required=False)


# --- Request plumbing ---------------------------------------------------------------


def _agent(request: HttpRequest):
    """The signed-in user's Agent (with its pod), read once per request (by
    pods.middleware, which shows times in the agent's zone)."""
    if not hasattr(request, "agent"):
        request.agent = pods.selectors.agent_for_user(user_id=request.user.pk)
    return request.agent


def _agent_required(request: HttpRequest):
    agent = _agent(request)
    if agent is None:
        raise PermissionDenied
    return agent


def workspace_view(view: Callable) -> Callable:
    """Signed in (times are already in the agent's zone: pods.middleware)."""
    return login_required(view)


def _require(request: HttpRequest, perm: str, obj=None) -> None:
    if not request.user.has_perm(perm, obj):
        raise PermissionDenied


def _visible_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    """The ticket (or the one it was merged into) if the user may see it, else
    404: another pod's ticket is indistinguishable from a missing one."""
    ticket = selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None or not request.user.has_perm("tickets.view_ticket", ticket):
        raise Http404
    return ticket


def _changeable_ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    ticket = _visible_ticket(request, ticket_id)
    _require(request, "tickets.change_ticket", ticket)
    return ticket


def _next_url(request: HttpRequest, default: str) -> str:
    """The form's `next` page when it is on this site, else the default."""
    next_url = request.POST.get("next", "") or request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return next_url if safe else default


def _navigate(request: HttpRequest, url: str) -> HttpResponse:
    """Go to another page: htmx follows HX-Redirect, a browser the 302."""
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


# --- Queues -------------------------------------------------------------------------


@workspace_view
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """GET /queue/?view=&channel=&status=&priority=&tag=&reason=: the agent's
    pod queue, most urgent first, with the count of every view. An htmx
    request for the panel (the live refresh) gets the panel alone."""
    _require(request, "tickets.view_ticket")
    agent = _agent(request)
    if agent is None or agent.pod_id is None:
        return render(request, "tickets/workspace/queue_no_pod.html", {"me": agent})
    context = _queue_context(request, agent)
    if request.htmx and request.htmx.target == "queue-panel":
        return render(request, "tickets/workspace/_queue_panel.html", context)
    return render(request, "tickets/workspace/queue.html", context)


@workspace_view
@require_GET
def queue_rows(request: HttpRequest) -> HttpResponse:
    """GET /queue/rows/?after=...: the next rows of the queue (load more)."""
    _require(request, "tickets.view_ticket")
    agent = _agent(request)
    if agent is None or agent.pod_id is None:
        raise Http404
    context = _queue_context(request, agent, counts=False)
    if not request.htmx:
        return redirect(f"{reverse('queue')}?{request.GET.urlencode()}")
    return render(request, "tickets/workspace/_queue_rows.html", context)


def _queue_context(request: HttpRequest, agent, *, counts: bool = True) -> dict:
    now = timezone.now()
    reasons = list(selectors.contact_reasons_active())
    form = QueueFilterForm(data=request.GET, reasons=reasons)
    answers = form.answers()
    view = QueueView(answers.get("view") or QueueView.UNASSIGNED)
    filters = QueueFilters(
        channel=answers.get("channel", ""),
        status=answers.get("status", ""),
        priority=answers.get("priority", ""),
        tag=(answers.get("tag") or "").strip().lower(),
        reason_id=answers.get("reason"),
    )
    after = QueueCursor.decode(answers["after"]) if answers.get("after") else None
    page = selectors.queue_page(
        pod_id=agent.pod_id,
        view=view,
        agent_id=agent.id,
        now=now,
        filters=filters,
        after=after,
        limit=answers.get("limit") or selectors.QUEUE_PAGE_SIZE,
    )
    filter_query = {
        key: value
        for key, value in {
            "channel": filters.channel,
            "status": filters.status,
            "priority": filters.priority,
            "tag": filters.tag,
            "reason": filters.reason_id or "",
        }.items()
        if value
    }
    view_counts = (
        selectors.queue_counts(pod_id=agent.pod_id, agent_id=agent.id, now=now)
        if counts
        else {}
    )
    return {
        "me": agent,
        "presences": agent.Presence.choices,
        "pod": agent.pod,
        "view": view,
        "views": [
            (each, label, view_counts.get(each))
            for each, label in QUEUE_VIEW_LABELS.items()
        ],
        "filters": form,
        "panel_query": urlencode({"view": view.value, **filter_query}),
        "filter_querystring": urlencode(filter_query),
        "filtered": bool(filter_query),
        "rows": page.tickets,
        "next_cursor": page.next_cursor.encode() if page.next_cursor else "",
        "now": now,
        "soon": now + selectors.DUE_SOON_WINDOW,
        "zone": timezone.get_current_timezone_name(),
    }


@workspace_view
@require_POST
def ticket_take(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/take/: take the unassigned ticket. From a queue row
    (htmx) the answer is the row, or the row with who has it and a 409; from
    the ticket page, its fragments."""
    ticket = _changeable_ticket(request, ticket_id)
    agent = _agent_required(request)
    error = None
    # ticket_take does not look at pods: an invited colleague from another pod
    # may write on the ticket but never hold it.
    if agent.pod_id != ticket.pod_id:
        error = gettext("Only an agent of the ticket's pod can take it.")
    else:
        try:
            services.ticket_take(
                ticket_id=ticket.id, agent_id=agent.id, now=timezone.now()
            )
        except services.TakeRefused:
            error = _why_not_yours(selectors.queue_row(ticket_id=ticket.id))
    status = 409 if error else 200
    if request.htmx and request.POST.get("surface") == "ticket":
        return _live(request, ticket, status=status, error=error)
    if request.htmx:
        now = timezone.now()
        return render(
            request,
            "tickets/workspace/_queue_row.html",
            {
                "ticket": selectors.queue_row(ticket_id=ticket.id),
                "me": agent,
                "refusal": error,
                "now": now,
                "soon": now + selectors.DUE_SOON_WINDOW,
            },
            status=status,
        )
    if error:
        messages.error(request, error)
        return redirect(_next_url(request, reverse("queue")))
    messages.success(request, gettext("#%(number)s is yours.") % {"number": ticket.id})
    return redirect("ticket-detail", ticket_id=ticket.id)


def _why_not_yours(ticket: Ticket | None) -> str:
    """Why a take failed, in the agent's language: who has the ticket now, or
    the status that keeps it from being taken."""
    if ticket is not None and ticket.assignee is not None:
        user = ticket.assignee.user
        name = user.get_full_name() or user.get_username()
        return gettext("%(name)s already has this ticket.") % {"name": name}
    status = ticket.get_status_display().lower() if ticket else ""
    return gettext("This ticket is %(status)s and cannot be taken.") % {
        "status": status
    }


# --- The ticket page ----------------------------------------------------------------


@workspace_view
@require_GET
def ticket_detail(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET /tickets/<id>/: the ticket, its conversation on every channel, the
    customer and their history, and everything the agent does on it. A merged
    ticket redirects to the ticket it was merged into."""
    ticket = _visible_ticket(request, ticket_id)
    if ticket.id != ticket_id:
        return redirect("ticket-detail", ticket_id=ticket.id)
    return render(
        request, "tickets/workspace/ticket.html", _ticket_context(request, ticket)
    )


@workspace_view
@require_GET
def ticket_live(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET /tickets/<id>/live/: the ticket page's header, thread and side panel
    as out-of-band fragments, for the page's live refresh."""
    return _live(request, _visible_ticket(request, ticket_id))


def _ticket_context(
    request: HttpRequest, ticket: Ticket, *, composer: MessageForm | None = None
) -> dict:
    agent = _agent(request)
    # A colleague invited from another pod sees this ticket, not the customer's
    # other tickets and identities: their pod scope decides, as everywhere.
    history = request.user.has_perm("pods.view_customer", ticket)
    page = selectors.ticket_page(ticket_id=ticket.id, customer_history=history)
    ticket = page.ticket
    now = timezone.now()
    can_change = request.user.has_perm("tickets.change_ticket", ticket)
    composer = composer or MessageForm(
        initial={"kind": "reply", "seen_message_id": page.last_message_id}
    )
    thread = page.thread
    folded = thread[:-LATEST_SHOWN] if len(thread) > LATEST_SHOWN + 2 else []
    return {
        "me": agent,
        "presences": agent.Presence.choices if agent else (),
        "page": page,
        "ticket": ticket,
        "thread_folded": folded,
        "thread_shown": thread[len(folded) :],
        "customer_history": history,
        "can_change": can_change,
        # Messages have an agent for author: a user without one reads only.
        "can_write": can_change and agent is not None,
        "can_take": (
            can_change
            and agent is not None
            and agent.pod_id == ticket.pod_id
            and ticket.assignee_id is None
            and ticket.status in (Ticket.Status.NEW, Ticket.Status.OPEN)
        ),
        # An agent of the pod, or a colleague invited onto the ticket.
        "can_reopen": can_change and ticket.status == Ticket.Status.SOLVED,
        "moves": [
            status
            for status in (
                Ticket.Status.PENDING,
                Ticket.Status.OPEN,
                Ticket.Status.SOLVED,
            )
            if rules.can_transition(ticket.status, status)
            # Back to open is resuming a pending ticket (ticket_resume); a
            # solved one reopens when the customer writes.
            and (status != Ticket.Status.OPEN or ticket.status == Ticket.Status.PENDING)
        ],
        "composer": composer,
        "fields": FieldsForm(
            reasons=page.reasons,
            initial={
                "priority": ticket.priority,
                "reason": ticket.contact_reason_id,
                "tags": ", ".join(tag.name for tag in ticket.tags.all()),
            },
        ),
        "priorities": Ticket.Priority.choices,
        "reply_open": page.reply_channel is not None
        and ticket.status != Ticket.Status.CLOSED,
        "now": now,
        "soon": now + selectors.DUE_SOON_WINDOW,
        "zone": timezone.get_current_timezone_name(),
        "sla_dues": [
            (label, due)
            for label, due in (
                (_("First reply due"), ticket.first_response_due),
                (_("Next reply due"), ticket.next_response_due),
                (_("Resolution due"), ticket.resolution_due),
            )
            if due is not None and ticket.is_open
        ],
    }


def _live(
    request: HttpRequest,
    ticket: Ticket,
    *,
    status: int = 200,
    notice: str | None = None,
    error: str | None = None,
    trigger: str | None = None,
) -> HttpResponse:
    """The ticket page's changing parts, read afresh, out of band."""
    context = _ticket_context(request, ticket)
    context.update(oob=True, notice=notice, error=error)
    response = render(
        request, "tickets/workspace/_ticket_live.html", context, status=status
    )
    if trigger:
        # After settle: listeners read the swapped thread (its last message).
        response["HX-Trigger-After-Settle"] = trigger
    return response


def _done(
    request: HttpRequest,
    ticket: Ticket,
    *,
    notice: str = "",
    error: str = "",
    trigger: str | None = None,
) -> HttpResponse:
    """After an action on the ticket page: its fragments (htmx) or back to the
    page with a message."""
    if request.htmx:
        return _live(
            request,
            ticket,
            status=409 if error else 200,
            notice=notice or None,
            error=error or None,
            trigger=trigger,
        )
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    return redirect("ticket-detail", ticket_id=ticket.id)


@workspace_view
@require_POST
def ticket_message_add(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/messages/ kind=reply|note, text, seen_message_id
    [, confirm=1]: reply to the customer in their channel, or add an internal
    note. A reply when a colleague has replied since the page was opened
    answers 409 with their reply and a "Send anyway" (confirm=1)."""
    ticket = _changeable_ticket(request, ticket_id)
    agent = _agent_required(request)
    form = MessageForm(data=request.POST)
    if not form.is_valid():
        return _composer_answer(request, ticket, form, status=422)
    answers = form.cleaned_data
    reply = answers["kind"] == "reply"
    if reply and not answers["confirm"]:
        collisions = list(
            selectors.replies_since(
                ticket_id=ticket.id,
                after_message_id=answers["seen_message_id"] or 0,
                excluding_agent_id=agent.id,
            )
        )
        if collisions:
            return _composer_answer(
                request, ticket, form, collisions=collisions, status=409
            )
    write = services.message_reply if reply else services.note_add
    try:
        write(
            ticket=ticket, agent_id=agent.id, text=answers["text"], now=timezone.now()
        )
    except services.ReplyRefused as exc:
        return _composer_answer(request, ticket, form, refusal=str(exc), status=409)
    return _done(
        request,
        ticket,
        notice=gettext("Reply sent.") if reply else gettext("Note added."),
        trigger="workspace:message-sent",
    )


def _composer_answer(
    request: HttpRequest,
    ticket: Ticket,
    form: MessageForm,
    *,
    status: int,
    collisions=(),
    refusal: str = "",
) -> HttpResponse:
    """The composer's alert (htmx) or the page with the composer as it was
    sent, its text kept, and what stopped it."""
    alert = {"form": form, "collisions": collisions, "refusal": refusal}
    if request.htmx:
        response = render(
            request,
            "tickets/workspace/_composer_alert.html",
            {**alert, "ticket": ticket},
            status=status,
        )
        response["HX-Retarget"] = "#composer-alert"
        response["HX-Reswap"] = "innerHTML"
        return response
    context = _ticket_context(request, ticket, composer=form)
    context["composer_alert"] = alert
    return render(request, "tickets/workspace/ticket.html", context, status=status)


@workspace_view
@require_POST
def ticket_status_set(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/status/ status=PENDING|OPEN|SOLVED: wait on the
    customer, reopen a pending ticket, or solve it (then back to the queue)."""
    ticket = _changeable_ticket(request, ticket_id)
    form = StatusForm(data=request.POST)
    if not form.is_valid():
        return _done(request, ticket, error=gettext("Choose a status."))
    target = form.cleaned_data["status"]
    try:
        STATUS_MOVES[target](ticket=ticket, now=timezone.now())
    except services.TransitionRefused as exc:
        return _done(request, ticket, error=str(exc))
    if target == Ticket.Status.SOLVED:
        messages.success(
            request,
            gettext("#%(number)s is solved; the customer is asked how it went.")
            % {"number": ticket.id},
        )
        return _navigate(request, _next_url(request, reverse("queue")))
    notice = {
        Ticket.Status.PENDING: gettext("Waiting on the customer."),
        Ticket.Status.OPEN: gettext("Reopened."),
    }[target]
    return _done(request, ticket, notice=notice)


@workspace_view
@require_POST
def ticket_fields_edit(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/fields/ priority, reason, tags: set them."""
    ticket = _changeable_ticket(request, ticket_id)
    form = FieldsForm(data=request.POST, reasons=selectors.contact_reasons_active())
    if not form.is_valid():
        problems = "; ".join(
            str(error) for errors in form.errors.values() for error in errors
        )
        return _done(request, ticket, error=problems)
    answers = form.cleaned_data
    services.ticket_fields_set(
        ticket=ticket,
        now=timezone.now(),
        priority=answers["priority"],
        contact_reason_id=answers["reason"],
        clear_reason=answers["reason"] is None,
        tags=answers["tags"],
    )
    return _done(request, ticket, notice=gettext("Saved."))


@workspace_view
@require_POST
def ticket_assign_to(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/assign/ agent=<id>|"": hand the ticket to an agent of
    its pod, or back to the pod queue."""
    ticket = _changeable_ticket(request, ticket_id)
    form = AgentChoiceForm(data=request.POST)
    if not form.is_valid():
        return _done(request, ticket, error=gettext("Choose a colleague."))
    agent_id = form.cleaned_data["agent"]
    try:
        services.ticket_assign(ticket=ticket, agent_id=agent_id, now=timezone.now())
    except services.TakeRefused as exc:
        return _done(request, ticket, error=str(exc))
    if agent_id is None:
        return _done(request, ticket, notice=gettext("Back in the pod queue."))
    return _done(request, ticket, notice=gettext("Handed over."))


@workspace_view
@require_GET
def ticket_colleagues(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET /tickets/<id>/colleagues/?q=: colleagues of any pod to invite onto
    the ticket (htmx: the results alone; else a page of its own)."""
    ticket = _changeable_ticket(request, ticket_id)
    search = ColleagueSearchForm(data=request.GET)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    context = {
        "ticket": ticket,
        "query": query,
        "colleagues": selectors.colleagues_to_invite(
            ticket=ticket, query=query, excluding_user_id=request.user.pk
        ),
    }
    if request.htmx:
        return render(request, "tickets/workspace/_colleagues.html", context)
    me = _agent(request)
    context.update(me=me, presences=me.Presence.choices if me else ())
    return render(request, "tickets/workspace/colleagues_page.html", context)


@workspace_view
@require_POST
def ticket_invite(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/invite/ agent=<id>: invite a colleague of any pod onto
    this ticket; they are told live and may see and write on it."""
    ticket = _changeable_ticket(request, ticket_id)
    agent = _agent_required(request)
    form = AgentChoiceForm(data=request.POST)
    if not form.is_valid() or form.cleaned_data["agent"] is None:
        return _done(request, ticket, error=gettext("Choose a colleague."))
    try:
        services.collaborator_invite(
            ticket=ticket,
            agent_id=form.cleaned_data["agent"],
            invited_by_id=agent.id,
            now=timezone.now(),
        )
    except services.InviteRefused as exc:
        return _done(request, ticket, error=str(exc))
    return _done(request, ticket, notice=gettext("Invited; they have been told."))


@workspace_view
@require_GET
def ticket_mentions(request: HttpRequest, ticket_id: int) -> JsonResponse:
    """GET /tickets/<id>/mentions/?q=: the composer's suggestions after an @,
    as JSON: active agents of any pod whose username or name starts with q,
    the ticket's pod first, at most 10. A note mentioning one from another pod
    invites them onto this ticket (outside_pod says so)."""
    ticket = _changeable_ticket(request, ticket_id)
    _agent_required(request)
    form = MentionSearchForm(data=request.GET)
    if not form.is_valid():
        return JsonResponse({"errors": form.errors}, status=400)
    agents = selectors.agents_to_mention(
        prefix=form.cleaned_data["q"],
        pod_id=ticket.pod_id,
        excluding_user_id=request.user.pk,
    )
    return JsonResponse(
        {
            "agents": [
                {
                    "username": agent.username,
                    "name": agent.name,
                    "pod": agent.pod_name,
                    "outside_pod": agent.pod_id != ticket.pod_id,
                }
                for agent in agents
            ]
        }
    )


@workspace_view
@require_POST
def ticket_reopen(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/reopen/: reopen a solved ticket that is not done (an
    agent of its pod or a colleague invited onto it); a closed one is refused
    with why."""
    ticket = _changeable_ticket(request, ticket_id)
    agent = _agent(request)
    try:
        services.ticket_reopen(
            ticket=ticket,
            agent_id=agent.id if agent else None,
            now=timezone.now(),
        )
    except services.ReopenRefused as exc:
        return _done(request, ticket, error=str(exc))
    return _done(
        request,
        ticket,
        notice=gettext("Reopened: #%(number)s is open again.") % {"number": ticket.id},
    )


@workspace_view
@require_POST
def ticket_leave(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/leave/: an invited colleague is done with the ticket
    (and no longer sees it unless it is in their pod)."""
    ticket = _visible_ticket(request, ticket_id)
    agent = _agent_required(request)
    left = services.collaborator_leave(
        ticket=ticket, agent_id=agent.id, now=timezone.now()
    )
    if not left:
        return _done(request, ticket, error=gettext("You were not invited onto it."))
    messages.success(request, gettext("You left #%(number)s.") % {"number": ticket.id})
    return _navigate(request, reverse("queue"))


# --- Attachments --------------------------------------------------------------------


@login_required
@require_GET
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """GET /attachments/<id>/: the file, always as a download, for those who
    may see its ticket (404 for everyone else)."""
    attachment = selectors.attachment_for_download(attachment_id=attachment_id)
    if attachment is None or not request.user.has_perm(
        "tickets.view_ticket", attachment.message.ticket
    ):
        raise Http404
    return attachment_response(attachment)


def attachment_response(attachment) -> FileResponse:
    """The file as a download with the safe headers, for staff and for the
    portal alike (404 when the stored file is gone)."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404 from None
    response = FileResponse(handle, content_type=download_type(attachment.content_type))
    response["Content-Disposition"] = content_disposition(attachment.name)
    response["X-Content-Type-Options"] = "nosniff"
    # Opened directly anyway, the file runs nothing and reaches nothing.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    # Access ends when a colleague leaves the ticket or the customer signs
    # out: no copies kept on the way or on a shared computer.
    response["Cache-Control"] = "private, no-store"
    return response


def download_type(content_type: str) -> str:
    """The type to serve a customer's file as: its own, unless a browser could
    render or run it (or it is malformed), then bytes."""
    kind = content_type.split(";", 1)[0].strip().lower()
    main, slash, sub = kind.partition("/")
    well_formed = (
        slash
        and main
        and sub
        and all(ch.isalnum() or ch in "!#$&^_.+-" for ch in main + sub)
    )
    if not well_formed or any(marker in kind for marker in ACTIVE_CONTENT_MARKERS):
        return "application/octet-stream"
    return kind


def content_disposition(name: str) -> str:
    """`attachment` with the file's name as an ASCII fallback and in full as
    RFC 5987 UTF-8 (RFC 6266): no path, no control or bidi characters, no
    quote that could end the parameter."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        ch for ch in name if unicodedata.category(ch)[0] not in "CZ" or ch == " "
    )
    name = name.strip().lstrip(".") or "attachment"
    fallback = "".join(_ascii_fallback(ch) for ch in name)
    return (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
    )


def _ascii_fallback(ch: str) -> str:
    """The character for the ASCII file name: itself, its unaccented letter
    ("é" is "e"), else "_"; never one that ends or escapes the quoted name."""
    base = ch if ch.isascii() else unicodedata.normalize("NFKD", ch)[0]
    return base if base.isascii() and base not in '"\\;%' else "_"
