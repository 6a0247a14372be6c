"""One rate limiter for the public endpoints (contact form, survey, chat): a
fixed window counted per client address in the shared cache (Redis on the real
stack, so every web process counts together)."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from tickets import rules

logger = logging.getLogger(__name__)


def client_address(request: HttpRequest) -> str:
    """The client's address. Behind the one proxy we run (TRUSTED_PROXY_HEADERS
    set, see settings), the last X-Forwarded-For entry is the address that proxy
    saw; entries before it are whatever the client sent, and are ignored."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and forwarded.strip():
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def window_hit(
    *, scope: str, request: HttpRequest, limit: int, seconds: int, at: float
) -> int:
    """Count one hit of the client in the current window of `seconds`; return 0
    while within `limit`, else the seconds until the window ends (Retry-After).

    When the cache is away the hit goes through: a customer's message or
    rating matters more than a missed count."""
    window = rules.rate_window(at=at, seconds=seconds)
    key = f"tickets:{scope}:{client_address(request)}:{window.index}"
    try:
        cache.add(key, 0, timeout=seconds)
        hits = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        return 0
    except Exception:
        logger.warning("%s rate limit not counted", scope, exc_info=True)
        return 0
    return window.retry_after if hits > limit else 0
