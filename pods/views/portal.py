"""The customer portal's sign-in and shell: a one-time link by email, no
password, no Django user.

Asking for a link answers the same for every address (no enumeration); a link
is redeemed by a POST from its page (mail scanners that fetch links must not
use them); signing in rotates the session key and keeps the customer in the
session's portal keys, which pods.middleware.PortalCustomerMiddleware reads."""

import math
import time
from collections.abc import Callable
from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pods import selectors, services

MAX_TOKEN_LENGTH = 128  # a real token is 43 characters


class SignInForm(forms.Form):
    email = forms.EmailField(
        label=gettext_lazy("Your email address"),
        max_length=254,
        help_text=gettext_lazy("The address you write to us from."),
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "inputmode": "email", "required": True}
        ),
    )


def portal_customer_required(view: Callable) -> Callable:
    """A portal page: someone not signed in to the portal goes to sign in."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if getattr(request, "portal_customer", None) is None:
            return redirect("portal-sign-in")
        return view(request, *args, **kwargs)

    return wrapper


@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """GET/POST /portal/sign-in/: ask for a sign-in link by email. Every
    address gets the same answer; too many requests from one client address
    get 429 with Retry-After."""
    if request.method == "GET":
        sent = request.GET.get("sent") == "1"
        return _sign_in_page(request, SignInForm(), sent=sent)
    form = SignInForm(data=request.POST)
    if not form.is_valid():
        return _sign_in_page(request, form, status=400)
    try:
        services.portal_link_request(
            email=form.cleaned_data["email"],
            requester_ip=client_address(request),
            now=timezone.now(),
            language=get_language() or "",
        )
    except services.PortalRateLimited as limited:
        response = _sign_in_page(
            request,
            form,
            status=429,
            limited_minutes=math.ceil(limited.retry_after / 60),
        )
        response["Retry-After"] = str(limited.retry_after)
        return response
    return redirect(reverse("portal-sign-in") + "?sent=1")


@never_cache
@require_http_methods(["GET", "POST"])
def link(request: HttpRequest, token: str) -> HttpResponse:
    """GET /portal/link/<token>/ shows a Sign in button and changes nothing;
    its POST uses the link and signs the customer in."""
    if request.method == "GET":
        usable = len(token) <= MAX_TOKEN_LENGTH and selectors.portal_link_usable(
            token_hash=selectors.portal_token_hash(token), now=timezone.now()
        )
        if not usable:
            return _link_refused(request)
        return render(request, "portal/sign_in_link.html", {"token": token})
    if len(token) > MAX_TOKEN_LENGTH:
        return _link_refused(request)
    try:
        signed_in = services.portal_link_redeem(token=token, now=timezone.now())
    except services.PortalLinkInvalid:
        return _link_refused(request)
    _session_sign_in(request, signed_in)
    return redirect("portal-home")


@never_cache
@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """POST /portal/sign-out/: forget the portal sign-in (a staff sign-in in the
    same browser is left alone) under a new session key."""
    for key in selectors.PORTAL_SESSION_KEYS:
        request.session.pop(key, None)
    request.session.cycle_key()
    messages.success(request, _("You are signed out."))
    return redirect("portal-sign-in")


@never_cache
@require_GET
@portal_customer_required
def home(request: HttpRequest) -> HttpResponse:
    """GET /portal/: the customer's overview; the panels of tickets and
    authority are included by URL name, each served by its own app."""
    return render(request, "portal/home.html", {"customer": request.portal_customer})


def client_address(request: HttpRequest) -> str:
    """The client's address. Behind the one proxy we run (TRUSTED_PROXY_HEADERS
    set), the last X-Forwarded-For entry is the address that proxy saw; entries
    before it are whatever the client sent, and are ignored."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded.strip():
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def _session_sign_in(request: HttpRequest, signed_in: services.PortalSignIn) -> None:
    # A new session key at every sign-in: a key planted before it (session
    # fixation) is worth nothing after.
    request.session.cycle_key()
    lifetime = settings.HELPDESK_PORTAL["SESSION_DAYS"] * 24 * 3600
    request.session[selectors.PORTAL_CUSTOMER_KEY] = signed_in.customer_id
    request.session[selectors.PORTAL_IDENTITY_KEY] = signed_in.identity_id
    request.session[selectors.PORTAL_EXPIRES_KEY] = time.time() + lifetime
    if not request.user.is_authenticated:
        request.session.set_expiry(lifetime)


def _link_refused(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/sign_in_expired.html", {"form": SignInForm()}, status=410
    )


def _sign_in_page(
    request: HttpRequest,
    form: SignInForm,
    *,
    status: int = 200,
    sent: bool = False,
    limited_minutes: int = 0,
) -> HttpResponse:
    return render(
        request,
        "portal/sign_in.html",
        {"form": form, "sent": sent, "limited_minutes": limited_minutes},
        status=status,
    )
