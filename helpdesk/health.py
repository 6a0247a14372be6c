"""Liveness and readiness for load balancers and orchestrators."""

import logging
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answers; nothing else is checked."""
    return JsonResponse({"status": "ok"})


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def check_redis() -> str:
    if not settings.REDIS_URL:
        return "not configured (embedded default)"
    probe_key = f"readyz:{uuid.uuid4().hex}"
    cache.set(probe_key, "1", timeout=5)
    if cache.get(probe_key) != "1":
        raise ConnectionError("value written to Redis was not read back")
    cache.delete(probe_key)
    return "ok"


def check_channel_layer() -> str:
    layer = get_channel_layer()
    if layer is None:
        raise ConnectionError("no channel layer configured")
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.send)(channel, {"type": "readyz.probe"})
    message = async_to_sync(layer.receive)(channel)
    if message.get("type") != "readyz.probe":
        raise ConnectionError("probe message was not received back")
    return type(layer).__name__


READINESS_CHECKS = {
    "database": check_database,
    "redis": check_redis,
    "channel_layer": check_channel_layer,
}


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Every part the app needs answers; 503 names the parts that do not."""
    results, failing = {}, []
    for name, check in READINESS_CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"failing: {type(exc).__name__}: {exc}"
            failing.append(name)
    status = 503 if failing else 200
    return JsonResponse(
        {"status": "failing" if failing else "ready", "failing": failing, **results},
        status=status,
    )
