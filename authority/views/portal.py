"""The customer portal's self-service panel: the customer's entitlements and
what remains of each, the stage-3 actions their rules allow right now (each
with its limit in plain words, or why not), and what they did themselves.

The portal home includes the panel by URL name ('portal-entitlements-panel',
an htmx fragment). An action (POST 'portal-action') answers the panel again
with its outcome when htmx sent it, or a whole page without JavaScript. Each
form carries an idempotency key made when it was rendered, so a double submit
or a reloaded result page executes once and shows the same answer.

Who: the customer signed in to the portal (request.portal_customer, set by
pods.middleware.PortalCustomerMiddleware). No customer, or an entitlement of
another customer, answers 404 exactly like one that does not exist."""

import secrets
from decimal import Decimal

from django import forms
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from authority import selectors, services

# The portal home's slot is #portal-entitlements; the panel inside it has its
# own id, which its forms swap.
PANEL_ID = "portal-entitlements-body"
KEY_BYTES = 16  # 128 bits: a key nobody guesses, within the 100-character limit


class PortalActionForm(forms.Form):
    action = forms.SlugField(max_length=40)
    amount = forms.DecimalField(
        max_digits=14, decimal_places=2, min_value=Decimal("0.01")
    )
    entitlement = forms.IntegerField(required=False, min_value=1)
    key = forms.CharField(max_length=100)
    # A pause's first day (the engine checks it is allowed); empty: today.
    effect_starts_on = forms.DateField(required=False)


def _portal_customer(request: HttpRequest):
    customer = getattr(request, "portal_customer", None)
    if customer is None:
        raise Http404
    return customer


@require_GET
def portal_entitlements_panel(request: HttpRequest) -> HttpResponse:
    """GET /portal/entitlements/panel/: the fragment of the portal home (a
    whole page when opened without htmx, e.g. without JavaScript)."""
    customer = _portal_customer(request)
    if request.htmx:
        return _panel(request, customer)
    return _panel(request, customer, template="authority/portal/page.html")


@require_POST
def portal_action(request: HttpRequest) -> HttpResponse:
    """POST /portal/actions/ action, amount, entitlement (for an extension or
    a pause), key: the customer's own ask, decided and executed now by the
    engine (granted, or refused with its reasons)."""
    customer = _portal_customer(request)
    form = PortalActionForm(data=request.POST)
    if not form.is_valid():
        return _answer(request, customer, error=_form_error(form), status=422)
    answers = form.cleaned_data
    try:
        asked = services.portal_action_ask(
            customer=customer,
            action_code=answers["action"],
            amount=answers["amount"],
            entitlement_id=answers["entitlement"],
            idempotency_key=answers["key"],
            effect_starts_on=answers["effect_starts_on"],
            now=timezone.now(),
        )
    except services.EntitlementNotFound:
        raise Http404 from None
    except services.IdempotencyConflict:
        return _answer(
            request,
            customer,
            error=gettext(
                "That form was sent already with other values. "
                "Here is how things stand now: try again."
            ),
            status=409,
        )
    except services.AuthorityRefused as exc:
        return _answer(request, customer, error=str(exc), status=409)
    return _answer(request, customer, asked=asked)


def _form_error(form: PortalActionForm) -> str:
    if form.errors.keys() == {"effect_starts_on"}:
        return gettext("Check the day you chose and try again.")
    return gettext("Check the number you entered and try again.")


# --- Rendering ----------------------------------------------------------------------


def _answer(
    request: HttpRequest,
    customer,
    *,
    asked: services.Asked | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    """The panel with the outcome: swapped in by htmx (always 200, so htmx
    swaps it; the outcome is in the panel), else as a whole page."""
    if request.htmx:
        return _panel(request, customer, asked=asked, error=error)
    return _panel(
        request,
        customer,
        asked=asked,
        error=error,
        status=status,
        template="authority/portal/page.html",
    )


def _panel(
    request: HttpRequest,
    customer,
    *,
    asked: services.Asked | None = None,
    error: str = "",
    status: int = 200,
    template: str = "authority/portal/_panel.html",
) -> HttpResponse:
    now = timezone.now()
    service = selectors.self_service_of_customer(customer=customer, now=now)
    context = {
        "panel_id": PANEL_ID,
        "entitlements": [
            _entitlement_view(item, now=now) for item in service.entitlements
        ],
        "options": [_option_view(option, now=now) for option in service.options],
        "recent": [_recent_view(request_) for request_ in service.recent],
        "outcome": _outcome_view(asked) if asked else None,
        "error": error,
    }
    return render(request, template, context, status=status)


def _entitlement_view(item: selectors.PortalEntitlement, *, now) -> dict:
    return {
        "item": item,
        "entitlement": item.entitlement,
        "percent_used": (
            round(100 * item.days_used / item.days_total) if item.days_total else 100
        ),
        "options": [
            _option_view(option, now=now, entitlement=item.entitlement)
            for option in item.options
        ],
    }


def _title(action_type, allowed: str | None) -> str:
    """ "Extend by up to 7 days": what the action does, with its limit."""
    if allowed is None:
        return action_type.name
    effect = action_type.effect
    if effect == "EXTEND":
        return gettext("Extend by up to %(amount)s") % {"amount": allowed}
    if effect == "PAUSE":
        return gettext("Pause for up to %(amount)s") % {"amount": allowed}
    if effect == "REFUND":
        return gettext("A refund of up to %(amount)s") % {"amount": allowed}
    if effect == "CREDIT":
        return gettext("Account credit of up to %(amount)s") % {"amount": allowed}
    return gettext("%(action)s, up to %(amount)s") % {
        "action": action_type.name,
        "amount": allowed,
    }


def _verb(action_type) -> str:
    return {
        "EXTEND": gettext("Extend"),
        "PAUSE": gettext("Pause"),
        "REFUND": gettext("Refund me"),
        "CREDIT": gettext("Add the credit"),
    }.get(action_type.effect, action_type.name)


def _option_view(option: selectors.SelfServiceOption, *, now, entitlement=None) -> dict:
    action_type = option.action_type
    days = action_type.unit == "DAYS"
    starts = (
        selectors.pause_start_bounds(
            now=now, ends_on=entitlement.ends_on if entitlement else None
        )
        if action_type.effect == "PAUSE"
        else None
    )
    allowed = (
        None
        if option.allowed is None
        else selectors.amount_words(
            amount=option.allowed, unit=action_type.unit, currency=action_type.currency
        )
    )
    return {
        "option": option,
        "action_type": action_type,
        "offered": option.offered,
        "title": _title(action_type, allowed if option.offered else None),
        "verb": _verb(action_type),
        "limits": selectors.self_service_limit_words(option=option),
        "why_not": [
            selectors.self_service_reason_words(reason=reason, action_type=action_type)
            for reason in option.blockers
        ],
        "possible_from": option.possible_from,
        "key": secrets.token_urlsafe(KEY_BYTES),
        "step": "1" if days else "0.01",
        "max": option.allowed,
        "amount_label": gettext("Days") if days else action_type.currency,
        # A pause's first day: today unless chosen, up to the engine's limit.
        "starts_min": starts[0] if starts else None,
        "starts_max": starts[1] if starts else None,
    }


def _recent_view(asked) -> dict:
    grant = getattr(asked, "grant", None)
    return {
        "request": asked,
        "words": services.request_words(asked),
        "done": asked.state == asked.State.GRANTED,
        "reversed": grant is not None and getattr(grant, "reversal", None) is not None,
    }


def _outcome_view(asked: services.Asked) -> dict:
    done = asked.request
    if asked.granted:
        headline = services.customer_words(grant=done.grant)
        reasons = []
    else:
        headline = gettext("Not done: %(what)s.") % {
            "what": services.request_words(done)
        }
        reasons = [
            selectors.self_service_reason_words(
                reason=reason, action_type=done.action_type
            )
            for reason in done.reasons
            if not reason["ok"]
        ]
    return {
        "granted": asked.granted,
        "replayed": asked.replayed,
        "headline": headline,
        "reasons": reasons,
    }
