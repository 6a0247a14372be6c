"""API conventions shared by every app's api/: one error format and cursor pages.

Referenced from REST_FRAMEWORK settings by dotted path, never imported by apps."""

import logging

from rest_framework import status
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class IdCursorPagination(CursorPagination):
    """Keyset pages ordered by a unique key, stable under concurrent inserts."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200


def error_response(exc, context) -> Response | None:
    """Render every API error as {"error": {"code", "message", "fields"}}."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    fields = {}
    if isinstance(detail, dict) and "detail" in detail:
        message = str(detail["detail"])
        code = getattr(detail["detail"], "code", "error")
    elif isinstance(detail, dict):
        fields = {
            key: [str(item) for item in _as_list(value)]
            for key, value in detail.items()
        }
        message = "Some fields are invalid."
        code = "invalid"
    else:
        message = "; ".join(str(item) for item in _as_list(detail))
        code = "invalid"
    if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        logger.error("API error %s: %s", response.status_code, message)
    response.data = {"error": {"code": code, "message": message, "fields": fields}}
    return response


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]
