"""The authority panel on the ticket page: what this agent may grant this
customer right now, one form per action (grant, or ask for approval), and the
customer's grants, pending requests and entitlements.

The ticket page includes the panel by URL name ('ticket-authority', an htmx
fragment); every action answers the panel again, with its outcome. Each form
carries an idempotency key made when it was rendered, so a double click or a
resent form executes once. Who may use it: whoever sees the ticket (its pod,
or a colleague invited onto it) and may ask for grants; another pod's ticket
answers 404 like a missing one (pods.backends and tickets.backends decide)."""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

import pods.selectors
import tickets.selectors
from authority import selectors, services

ASK_PERMISSION = "authority.add_authorityrequest"
MAX_NOTE = 2_000
MAX_REASON = 500
PANEL_ID = "authority-panel-body"


class AskForm(forms.Form):
    action = forms.SlugField(max_length=40)
    amount = forms.DecimalField(
        label=_("Amount"),
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
    )
    note = forms.CharField(
        label=_("Note (optional)"), required=False, max_length=MAX_NOTE, strip=True
    )
    key = forms.CharField(max_length=100)
    # A pause's first day (the engine checks it is allowed); empty: today.
    effect_starts_on = forms.DateField(label=_("Starting on"), required=False)


class ReverseForm(forms.Form):
    reason = forms.CharField(label=_("Why"), max_length=MAX_REASON, strip=True)


# --- Access -------------------------------------------------------------------------


def _panel_ticket(request: HttpRequest, ticket_id: int):
    """The ticket if the user sees it (else 404) and may ask (else 403)."""
    ticket = tickets.selectors.ticket_current(ticket_id=ticket_id)
    if ticket is None or not request.user.has_perm("tickets.view_ticket", ticket):
        raise Http404
    if not request.user.has_perm(ASK_PERMISSION):
        raise PermissionDenied
    return ticket


# --- Pages --------------------------------------------------------------------------


@login_required
@require_GET
def ticket_authority(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET /tickets/<id>/authority/[?shown=<request id>]: the panel (with the
    outcome of the agent's last ask on it, while they stay)."""
    ticket = _panel_ticket(request, ticket_id)
    shown = request.GET.get("shown", "")
    return _panel(request, ticket, shown_id=int(shown) if shown.isdigit() else None)


@login_required
@require_POST
def ticket_authority_ask(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """POST /tickets/<id>/authority/ask/ action, amount, note, key: grant now,
    or ask for approval, as the engine decides; the panel answers with the
    outcome and its reasons."""
    ticket = _panel_ticket(request, ticket_id)
    form = AskForm(data=request.POST)
    if not form.is_valid():
        return _answer(request, ticket, failed=form, status=422)
    answers = form.cleaned_data
    try:
        asked = services.authority_ask(
            actor=services.actor_for_user(user=request.user),
            action_code=answers["action"],
            amount=answers["amount"],
            customer_id=ticket.customer_id,
            ticket_id=ticket.id,
            idempotency_key=answers["key"],
            note=answers["note"],
            effect_starts_on=answers["effect_starts_on"],
            now=timezone.now(),
        )
    except services.IdempotencyConflict:
        return _answer(
            request,
            ticket,
            error=gettext(
                "That form was sent already with other values. The panel is "
                "fresh now: try again."
            ),
            status=409,
        )
    except services.AuthorityRefused as exc:
        return _answer(request, ticket, error=str(exc), failed=form, status=409)
    return _answer(request, ticket, shown_id=asked.request.id)


@login_required
@require_POST
def ticket_authority_cancel(
    request: HttpRequest, ticket_id: int, request_id: int
) -> HttpResponse:
    """POST /tickets/<id>/authority/requests/<request id>/cancel/: the asking
    agent withdraws their request."""
    ticket = _panel_ticket(request, ticket_id)
    asked = selectors.request_detail(request_id=request_id)
    if asked is None or asked.customer_id != ticket.customer_id:
        raise Http404
    try:
        services.request_cancel(
            request_id=asked.id, user=request.user, now=timezone.now()
        )
    except services.ApprovalRefused as exc:
        return _answer(request, ticket, error=str(exc), status=409)
    return _answer(
        request,
        ticket,
        notice=gettext("Request for %(what)s cancelled.")
        % {"what": services.request_words(asked)},
    )


@login_required
@require_POST
def ticket_authority_reverse(
    request: HttpRequest, ticket_id: int, grant_id: int
) -> HttpResponse:
    """POST /tickets/<id>/authority/grants/<grant id>/reverse/ reason: a lead
    undoes a grant of this ticket's customer (a new, negative entry)."""
    ticket = _panel_ticket(request, ticket_id)
    grant = selectors.grant_detail(grant_id=grant_id)
    if (
        grant is None
        or grant.customer_id != ticket.customer_id
        or not request.user.has_perm("authority.view_grant", grant)
    ):
        raise Http404
    if not request.user.has_perm("authority.add_grant", grant):
        raise PermissionDenied
    form = ReverseForm(data=request.POST)
    if not form.is_valid():
        return _answer(
            request,
            ticket,
            error=gettext("Say why the grant is reversed."),
            status=422,
        )
    try:
        services.grant_reverse(
            grant_id=grant.id,
            user=request.user,
            reason=form.cleaned_data["reason"],
            now=timezone.now(),
        )
    except services.ReversalRefused as exc:
        return _answer(request, ticket, error=str(exc), status=409)
    return _answer(
        request,
        ticket,
        notice=gettext("Grant #%(id)s reversed.") % {"id": grant.id},
    )


# --- Rendering ----------------------------------------------------------------------


def _answer(
    request: HttpRequest,
    ticket,
    *,
    shown_id: int | None = None,
    notice: str = "",
    error: str = "",
    failed: AskForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """After an action: the panel again (htmx), or back to the ticket page."""
    if request.htmx:
        return _panel(
            request,
            ticket,
            shown_id=shown_id,
            notice=notice,
            error=error,
            failed=failed,
            status=status,
        )
    if error or failed is not None:
        messages.error(request, error or _failed_words(failed))
    elif notice:
        messages.success(request, notice)
    elif shown_id is not None:
        shown = selectors.request_of_ticket_shown(
            request_id=shown_id, ticket_id=ticket.id
        )
        messages.info(request, _outcome_words(shown))
    return redirect(reverse("ticket-detail", args=[ticket.id]))


def _failed_words(failed: AskForm) -> str:
    if failed.errors.keys() == {"effect_starts_on"}:
        return gettext("Check the day the pause starts and try again.")
    return gettext("Check the amount and try again.")


def _panel(
    request: HttpRequest,
    ticket,
    *,
    shown_id: int | None = None,
    notice: str = "",
    error: str = "",
    failed: AskForm | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "authority/panel/_panel.html",
        _panel_context(
            request,
            ticket,
            shown_id=shown_id,
            notice=notice,
            error=error,
            failed=failed,
        ),
        status=status,
    )


def _panel_context(
    request: HttpRequest,
    ticket,
    *,
    shown_id: int | None,
    notice: str,
    error: str,
    failed: AskForm | None,
) -> dict:
    now = timezone.now()
    user = request.user
    agent = pods.selectors.agent_role_of_user(user_id=user.pk)
    customer = pods.selectors.customer_facts(customer_id=ticket.customer_id)
    entitlements = selectors.entitlements_of_customer(customer_id=customer.customer_id)
    options = (
        selectors.authority_options(
            customer=customer,
            agent_id=agent.agent_id,
            agent_role=agent.role,
            contact_reason_id=ticket.contact_reason_id,
            entitlements=entitlements,
            now=now,
        )
        if agent
        else []
    )
    # A colleague invited from another pod acts on this ticket; the customer's
    # other grants and requests are for their pod (the backend decides).
    whole_customer = user.has_perm("authority.view_grant", ticket)
    grants = [
        grant
        for grant in selectors.grants_of_customer_listed(
            customer_ids=customer.family_ids
        )
        if whole_customer or grant.ticket_id == ticket.id
    ]
    pending = [
        asked
        for asked in selectors.requests_pending_of_customer(
            customer_id=customer.customer_id
        )
        if whole_customer or asked.ticket_id == ticket.id
    ]
    shown = (
        selectors.request_of_ticket_shown(request_id=shown_id, ticket_id=ticket.id)
        if shown_id
        else None
    )
    if shown is not None and not (shown.agent_id and shown.agent.user_id == user.pk):
        shown = None
    refresh_url = reverse("ticket-authority", args=[ticket.id])
    return {
        "ticket": ticket,
        "customer": customer,
        "is_agent": agent is not None,
        "options": [
            _option_view(option, failed=failed, entitlements=entitlements, now=now)
            for option in options
        ],
        "grants": [_grant_view(grant, user=user, now=now) for grant in grants],
        "pending": [
            {
                "request": asked,
                "words": services.request_words(asked),
                "overdue": asked.due_at is not None and asked.due_at < now,
                "can_cancel": bool(asked.agent_id and asked.agent.user_id == user.pk),
            }
            for asked in pending
        ],
        "entitlements": [
            {
                "entitlement": entitlement,
                "days_left": max((entitlement.ends_on - now.date()).days, 0),
                "paused": bool(
                    entitlement.paused_until
                    and entitlement.paused_from
                    and entitlement.paused_from <= now.date() < entitlement.paused_until
                ),
                "pause_ahead": bool(
                    entitlement.paused_from and entitlement.paused_from > now.date()
                ),
            }
            for entitlement in entitlements
        ],
        "shown": _shown_view(shown) if shown else None,
        "notice": notice,
        "error": error,
        "refresh_url": f"{refresh_url}?shown={shown.id}" if shown else refresh_url,
        # The script and styles come with the first load into the ticket page's
        # slot; the panel's own refreshes swap the panel alone.
        "with_assets": not (request.htmx and request.htmx.target == PANEL_ID),
    }


def _amount(value, action_type) -> str:
    return selectors.amount_words(
        amount=value, unit=action_type.unit, currency=action_type.currency
    )


def _pause_starts(action_type, *, entitlements, now):
    """The days a pause may start on (None for any other action): up to the
    engine's limit and before the entitlement it changes ends."""
    if action_type.effect != "PAUSE":
        return None
    matching = [
        entitlement
        for entitlement in entitlements
        if not action_type.product or entitlement.product == action_type.product
    ]
    latest = max(matching, key=lambda item: (item.ends_on, item.id), default=None)
    return selectors.pause_start_bounds(
        now=now, ends_on=latest.ends_on if latest else None
    )


def _option_view(option, *, failed: AskForm | None, entitlements, now) -> dict:
    action_type = option.action_type
    mine = failed is not None and failed.data.get("action") == action_type.code
    starts = _pause_starts(action_type, entitlements=entitlements, now=now)
    return {
        "option": option,
        "action_type": action_type,
        "allowed": (
            None if option.allowed is None else _amount(option.allowed, action_type)
        ),
        "ceiling": (
            None if option.ceiling is None else _amount(option.ceiling, action_type)
        ),
        "blockers": [
            text
            for _ok, text in selectors.reasons_words(
                reasons=option.blockers, action_type=action_type
            )
        ],
        # A failed form keeps what was typed and its key (nothing was stored).
        "form": failed if mine else None,
        "key": (failed.data.get("key") if mine else "") or uuid.uuid4().hex,
        "step": "1" if action_type.unit == "DAYS" else "0.01",
        "unit_label": (
            gettext("days") if action_type.unit == "DAYS" else action_type.currency
        ),
        "starts_min": starts[0] if starts else None,
        "starts_max": starts[1] if starts else None,
    }


def _grant_view(grant, *, user, now) -> dict:
    reversal = getattr(grant, "reversal", None)
    return {
        "grant": grant,
        "words": _amount(grant.amount, grant.action_type),
        "reversed": reversal is not None,
        "can_reverse": (
            grant.kind == grant.Kind.GRANT
            and reversal is None
            and user.has_perm("authority.add_grant", grant)
        ),
        "why": (
            "; ".join(
                text
                for _ok, text in selectors.reasons_words(
                    reasons=grant.reasons, action_type=grant.action_type
                )
            )
        ),
    }


def _outcome_words(shown) -> str:
    if shown is None:
        return ""
    what = services.request_words(shown)
    state = shown.State
    if shown.state == state.GRANTED:
        return gettext("Granted: %(what)s.") % {"what": what}
    if shown.state == state.PENDING:
        return gettext("Sent for approval: %(what)s.") % {"what": what}
    if shown.state == state.DENIED:
        return gettext("Denied: %(what)s.") % {"what": what}
    if shown.state == state.CANCELLED:
        return gettext("Cancelled: %(what)s.") % {"what": what}
    return gettext("Not possible: %(what)s.") % {"what": what}


def _shown_view(shown) -> dict:
    decision = getattr(shown, "decision", None)
    return {
        "request": shown,
        "headline": _outcome_words(shown),
        "reasons": selectors.reasons_words(
            reasons=shown.reasons, action_type=shown.action_type
        ),
        "decision_note": decision.note if decision else "",
    }
