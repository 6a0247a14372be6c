"""Every signed-in page shows times in the agent's own time zone.

One place for every staff request (pages, htmx fragments, downloads, admin):
the zone is active for the whole request, so templates, forms and messages all
show the agent's wall time. The agent read here is kept on the request
(request.agent) for views and template tags that need it again.

The customer portal's requests know their customer the same way: once, here
(request.portal_customer)."""

import time
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from pods import rules, selectors


class AgentTimeZoneMiddleware:
    """Activate the signed-in agent's time zone (pods.rules.display_time_zone);
    a signed-in user who is no agent sees the site's zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        request.agent = selectors.agent_for_user(user_id=user.pk)
        with timezone.override(agent_zone(request.agent)):
            return self.get_response(request)


def agent_zone(agent) -> ZoneInfo:
    """The agent's display zone; the site's zone for no agent, UTC for a zone
    name this machine does not know (a typo in admin must not break pages)."""
    name = settings.TIME_ZONE
    if agent is not None:
        name = rules.display_time_zone(
            agent_zone=agent.time_zone,
            pod_zone=agent.pod.time_zone if agent.pod is not None else None,
            site_zone=settings.TIME_ZONE,
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class PortalCustomerMiddleware:
    """Set request.portal_customer: the customer signed in to the portal (a
    pods.selectors.CustomerFacts), or None.

    A customer is never a Django user: the portal keys of the session are read
    here and nowhere else. Once the customer (or the email identity they signed
    in with) is gone, or the portal sign-in has outlived its lifetime, the keys
    are dropped and the request is anonymous to the portal."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.portal_customer = portal_customer_of(request)
        # The email identity they signed in with, for pages that vouch for it
        # (the chat widget's identity token); None when no one is signed in.
        request.portal_identity_id = (
            request.session.get(selectors.PORTAL_IDENTITY_KEY)
            if request.portal_customer is not None
            else None
        )
        return self.get_response(request)


def portal_customer_of(request: HttpRequest) -> selectors.CustomerFacts | None:
    session = getattr(request, "session", None)
    if session is None or selectors.PORTAL_CUSTOMER_KEY not in session:
        return None
    facts = None
    try:
        customer_id = int(session[selectors.PORTAL_CUSTOMER_KEY])
        identity_id = int(session.get(selectors.PORTAL_IDENTITY_KEY))
        expires_at = float(session.get(selectors.PORTAL_EXPIRES_KEY, 0))
    except (TypeError, ValueError):
        expires_at = 0
    if expires_at > time.time():
        facts = selectors.portal_customer(
            customer_id=customer_id, identity_id=identity_id
        )
    if facts is None:
        for key in selectors.PORTAL_SESSION_KEYS:
            session.pop(key, None)
    return facts
