"""Panels of other apps rendered into the page that includes them, so its first
paint needs no further round trip.

    {% load panels %}
    {% panel 'pod-figures' pod.id period=period as slot %}
    {% if slot %}
      <section id="pod-figures" class="panel-slot" {{ slot.attributes }}>
        {% if slot.html %}{{ slot.html }}{% else %}<p>Loading…</p>{% endif %}
      </section>
    {% endif %}

The panel is found by its URL name (reverse, then resolve: never by importing
the app that serves it) and its view is called in this process with a GET
request derived from the page's: the same user, session, language, time zone
and agent, the HX-Request header a fragment expects, and the keyword arguments
as its query string. When it answers 200 with HTML its body is inlined;
otherwise (404 or 403 for this user, an error, an async view) the slot falls
back to the htmx placeholder (hx-get, hx-trigger=load), as before inlining.
No URL of that name (the app does not serve it): no slot at all (None).

`slot.attributes` is `data-panel-src="<url>"` always (where the panel comes
from: what a live refetch or a test reads), plus `hx-get` and `hx-trigger`
when the browser still has to fetch it."""

import copy
import inspect
import logging
from dataclasses import dataclass

from django import template
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.urls import NoReverseMatch, resolve, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django_htmx.middleware import HtmxDetails

register = template.Library()
logger = logging.getLogger(__name__)

# What django.middleware.csrf writes on the request's META when a view asks
# for a token: carried back to the page's request so its response sets it.
CSRF_KEYS = ("CSRF_COOKIE", "CSRF_COOKIE_NEEDS_UPDATE")


@dataclass(frozen=True)
class PanelSlot:
    url: str
    html: SafeString | None

    @property
    def inlined(self) -> bool:
        return self.html is not None

    @property
    def attributes(self) -> SafeString:
        source = format_html('data-panel-src="{}"', self.url)
        if self.inlined:
            return source
        return format_html('{} hx-get="{}" hx-trigger="load"', source, self.url)


@register.simple_tag(takes_context=True)
def panel(context: template.Context, name: str, *args, **query) -> PanelSlot | None:
    """The panel `name` (URL arguments `args`, query string `query`) for the
    page being rendered: inlined when it answers 200, else a placeholder."""
    try:
        path = reverse(name, args=args)
    except NoReverseMatch:
        return None
    url = f"{path}?{urlencode(query)}" if query else path
    request = context.get("request")
    html = None if request is None else panel_html(request, path=path, query=query)
    return PanelSlot(url=url, html=html)


def panel_html(request: HttpRequest, *, path: str, query: dict) -> SafeString | None:
    """The panel's HTML as its view answers `request`'s user at `path`, or
    None when it does not answer 200 with HTML."""
    match = resolve(path)
    if inspect.iscoroutinefunction(match.func):
        return None
    sub = panel_request(request, path=path, query=query, match=match)
    try:
        response = match.func(sub, *match.args, **match.kwargs)
        if hasattr(response, "render") and callable(response.render):
            response = response.render()
    except (Http404, PermissionDenied):
        return None
    except Exception:
        # The page stays up: the browser fetches the panel, whose own request
        # then answers (and logs) the error.
        logger.exception("panel %s failed in-process; left to the browser", path)
        return None
    finally:
        for key in CSRF_KEYS:
            if key in sub.META:
                request.META[key] = sub.META[key]
    return _html_of(response)


def panel_request(
    request: HttpRequest, *, path: str, query: dict, match
) -> HttpRequest:
    """A GET of the panel as htmx would send it from this page: the page's
    request (user, session, language, agent) with the panel's path, query
    string and HX-Request header."""
    sub = copy.copy(request)
    sub.method = "GET"
    sub.path = sub.path_info = path
    query_string = urlencode(query)
    sub.GET = QueryDict(query_string)
    sub.POST = QueryDict()
    sub.META = {
        **request.META,
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query_string,
        "HTTP_HX_REQUEST": "true",
        "HTTP_HX_CURRENT_URL": request.build_absolute_uri(),
    }
    sub.resolver_match = match
    if hasattr(request, "htmx"):
        sub.htmx = HtmxDetails(sub)
    return sub


def _html_of(response: HttpResponse) -> SafeString | None:
    if response.status_code != 200 or getattr(response, "streaming", False):
        return None
    if not response.get("Content-Type", "").startswith("text/html"):
        return None
    # The panel's view escaped what it rendered; the page inlines it as is.
    return mark_safe(response.content.decode(response.charset))  # noqa: S308
