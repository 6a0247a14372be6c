"""Every signed-in page shows times in the agent's own time zone.

One place for every staff request (pages, htmx fragments, downloads, admin):
the zone is active for the whole request, so templates, forms and messages all
show the agent's wall time. The agent read here is kept on the request
(request.agent) for views and template tags that need it again."""

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
