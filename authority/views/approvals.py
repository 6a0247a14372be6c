"""The approval queue: stage-1 requests waiting for a decision, the most
overdue first, each with its case (customer, ticket, the asking agent, the
engine's reasons, the agent's note, the customer's recent grants) and the
forms to approve or deny.

Leads see their pod's requests; admins who may approve for any pod see every
pod's, with a pod filter. A verdict is bound to the request as it was shown
(its hash travels in the form) and four eyes hold on the server: an own
request is shown but never decidable. Another pod's request answers 404."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

import pods.selectors
from authority import selectors, services

DECIDE_PERMISSION = "authority.add_approvaldecision"
APPROVE_ANY_PERMISSION = "authority.approve_any"
ALL_PODS_PERMISSION = "pods.view_all_pods"
LIST_ID = "approval-list"
# The queue shows the most overdue first; a lead never has this many waiting.
MAX_ROWS = 200


class DecideForm(forms.Form):
    request_hash = forms.CharField(max_length=64)
    note = forms.CharField(
        label=_("Note"), required=False, max_length=2_000, strip=True
    )


class PodFilterForm(forms.Form):
    pod = forms.IntegerField(min_value=1, required=False)


def _require_decider(request: HttpRequest) -> None:
    if not request.user.has_perm(DECIDE_PERMISSION):
        raise PermissionDenied


def _sees_every_pod(user) -> bool:
    return user.has_perm(APPROVE_ANY_PERMISSION) or user.has_perm(ALL_PODS_PERMISSION)


def _pod_ids(request: HttpRequest) -> tuple[list[int] | None, int | None]:
    """Whose requests the user sees (None: every pod) and the pod filtered on."""
    if _sees_every_pod(request.user):
        # The list's refresh asks with GET; a decision's form carries the filter.
        form = PodFilterForm(
            data={"pod": request.GET.get("pod") or request.POST.get("pod") or ""}
        )
        chosen = form.cleaned_data.get("pod") if form.is_valid() else None
        return ([chosen] if chosen else None), chosen
    home = pods.selectors.home_pod_id(user_id=request.user.pk)
    return ([home] if home else []), None


# --- The queue ----------------------------------------------------------------------


@login_required
@require_GET
def approval_queue(request: HttpRequest) -> HttpResponse:
    """GET /authority/approvals/[?pod=]: the requests waiting for a decision.
    An htmx request for the list (the live refresh) gets the list alone."""
    _require_decider(request)
    context = _queue_context(request)
    if request.htmx and request.htmx.target == LIST_ID:
        return render(request, "authority/approvals/_list.html", context)
    return render(request, "authority/approvals/queue.html", context)


def _queue_context(request: HttpRequest) -> dict:
    now = timezone.now()
    user = request.user
    pod_ids, chosen = _pod_ids(request)
    waiting = list(selectors.requests_pending(pod_ids=pod_ids)[: MAX_ROWS + 1])
    more = len(waiting) > MAX_ROWS
    waiting = waiting[:MAX_ROWS]
    recent = selectors.grants_recent_of_customers(
        customer_ids=[asked.customer_id for asked in waiting], now=now
    )
    may_decide = _decider(user)
    every_pod = _sees_every_pod(user)
    query = urlencode({"pod": chosen}) if chosen else ""
    return {
        "rows": [
            _row(asked, user=user, recent=recent, may_decide=may_decide, now=now)
            for asked in waiting
        ],
        "more": more,
        "every_pod": every_pod,
        "pods": list(pods.selectors.pod_list()) if every_pod else [],
        "chosen_pod": chosen,
        "refresh_url": f"{reverse('authority-approvals')}?{query}"
        if query
        else reverse("authority-approvals"),
        "query": query,
        "now": now,
    }


def _decider(user):
    """approver_may_decide, asked once per approver group and pod: the answer
    depends on nothing else once own requests are set apart."""
    answers: dict[tuple, bool] = {}

    def may_decide(asked) -> bool:
        if asked.agent_id and asked.agent.user_id == user.pk:
            return False
        key = (asked.rule.approver_group_id if asked.rule_id else None, asked.pod_id)
        if key not in answers:
            answers[key] = services.approver_may_decide(user=user, request=asked)
        return answers[key]

    return may_decide


def _row(asked, *, user, recent, may_decide, now) -> dict:
    action_type = asked.action_type
    own = bool(asked.agent_id and asked.agent.user_id == user.pk)
    return {
        "request": asked,
        "words": services.request_words(asked),
        "reasons": selectors.reasons_words(
            reasons=asked.reasons, action_type=action_type
        ),
        "overdue": asked.due_at is not None and asked.due_at < now,
        "own": own,
        "can_decide": not own and may_decide(asked),
        "recent": [
            {
                "grant": grant,
                "words": selectors.amount_words(
                    amount=grant.amount,
                    unit=grant.action_type.unit,
                    currency=grant.action_type.currency,
                ),
            }
            for grant in recent.get(asked.customer_id, [])
        ],
    }


# --- Decisions ----------------------------------------------------------------------


@login_required
@require_POST
def approval_approve(request: HttpRequest, request_id: int) -> HttpResponse:
    """POST /authority/approvals/<id>/approve/ request_hash, note: approve
    and execute the request."""
    return _decide(request, request_id, approve=True)


@login_required
@require_POST
def approval_deny(request: HttpRequest, request_id: int) -> HttpResponse:
    """POST /authority/approvals/<id>/deny/ request_hash, note (required)."""
    return _decide(request, request_id, approve=False)


def _decide(request: HttpRequest, request_id: int, *, approve: bool) -> HttpResponse:
    _require_decider(request)
    asked = selectors.request_detail(request_id=request_id)
    if asked is None or not request.user.has_perm(DECIDE_PERMISSION, asked):
        raise Http404
    form = DecideForm(data=request.POST)
    status = 200
    if not form.is_valid():
        messages.error(request, gettext("The form was incomplete: read it again."))
        status = 422
    else:
        status = _verdict(request, asked, form.cleaned_data, approve=approve)
    if request.htmx:
        return render(
            request,
            "authority/approvals/_list.html",
            _queue_context(request),
            status=status,
        )
    target = reverse("authority-approvals")
    pod = request.POST.get("pod", "")
    return redirect(f"{target}?{urlencode({'pod': pod})}" if pod.isdigit() else target)


def _verdict(request: HttpRequest, asked, answers: dict, *, approve: bool) -> int:
    """Record the verdict; say what happened. Answers the HTTP status."""
    what = services.request_words(asked)
    decide = services.request_approve if approve else services.request_deny
    try:
        decide(
            request_id=asked.id,
            user=request.user,
            request_hash=answers["request_hash"],
            note=answers["note"],
            now=timezone.now(),
        )
    except services.ApprovalCannotExecute as exc:
        messages.error(
            request,
            gettext("Not granted: %(why)s. Deny it, or wait for the next period.")
            % {"why": str(exc)},
        )
        return 409
    except services.ApprovalRefused as exc:
        messages.error(request, gettext("Not recorded: %(why)s.") % {"why": str(exc)})
        return 409
    if approve:
        messages.success(
            request, gettext("Approved and granted: %(what)s.") % {"what": what}
        )
    else:
        messages.success(request, gettext("Denied: %(what)s.") % {"what": what})
    return 200
