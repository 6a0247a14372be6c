"""The chat widget's HTTP side: start a chat from any site that embeds the
widget, and a demo page that embeds it the way a customer's site does.

The widget itself is a static file (static/chat/widget.js); once a chat has
started, everything goes over the visitor websocket (tickets.consumers)."""

import json

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from tickets import rules, services
from tickets.views._throttle import window_hit

# Chats one address may start per window: generous for an office behind one
# NAT address, tight for a script filling the database with empty sessions.
SESSIONS_PER_WINDOW = 30
WINDOW_SECONDS = 600
MAX_BODY_BYTES = 4096  # a name and an email address
PREFLIGHT_CACHE_SECONDS = 600
VISITOR_SOCKET_PATH = "/ws/chat/"
WIDGET_FILE = "chat/widget.js"  # under STATIC_URL


def _error(
    status: int, code: str, message: str, *, fields: dict | None = None
) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": fields or {}}},
        status=status,
    )


def _allowed_origins() -> list[str]:
    return list(getattr(settings, "HELPDESK_CHAT_ALLOWED_ORIGINS", ()))


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    """Let the embedding page read the answer (its origin was checked)."""
    if origin:
        response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


@csrf_exempt  # acts for no signed-in user; the Origin is checked instead
@require_http_methods(["POST", "OPTIONS"])
def chat_session_start(request: HttpRequest) -> HttpResponse:
    """POST /chat/session/ {"name"?, "email"?, "identity"?}: start a chat and
    answer the signed visitor token with the websocket to open with it (201).
    With the identity token of a signed-in customer's portal page, the chat is
    theirs (name and email sent with it are ignored). 403 for a site that may
    not embed the widget, 400 for a malformed body or email or an identity
    token that is expired, forged or no longer theirs, 429 with Retry-After
    when the address started too many chats."""
    origin = request.headers.get("Origin")
    if not rules.chat_origin_allowed(
        origin=origin, host=request.get_host(), allowed=_allowed_origins()
    ):
        return _error(403, "origin_refused", "this site may not start chats here")
    if request.method == "OPTIONS":
        preflight = _cors(HttpResponse(status=204), origin)
        preflight["Access-Control-Allow-Methods"] = "POST"
        preflight["Access-Control-Allow-Headers"] = "Content-Type"
        preflight["Access-Control-Max-Age"] = str(PREFLIGHT_CACHE_SECONDS)
        return preflight
    wait = window_hit(
        scope="chat-sessions",
        request=request,
        limit=SESSIONS_PER_WINDOW,
        seconds=WINDOW_SECONDS,
        at=timezone.now().timestamp(),
    )
    if wait:
        refused = _error(
            429,
            "too_many_sessions",
            f"too many chats started from this address; try again in {wait} s",
        )
        refused["Retry-After"] = str(wait)
        return _cors(refused, origin)
    visitor, problem = _visitor(request.body)
    if problem:
        return _cors(_error(400, "malformed", problem), origin)
    signed_in = None
    if visitor["identity"]:
        signed_in, code, problem = _portal_identity(visitor["identity"])
        if signed_in is None:
            return _cors(
                _error(400, code, problem, fields={"identity": [problem]}), origin
            )
    try:
        started = _start(visitor=visitor, signed_in=signed_in, origin=origin or "")
    except services.ChatRefused as exc:
        field = "identity" if signed_in else "email"
        return _cors(
            _error(400, exc.code, str(exc), fields={field: [str(exc)]}), origin
        )
    public_id = str(started.session.public_id)
    scheme = "wss" if request.is_secure() else "ws"
    answer = JsonResponse(
        {
            "session": public_id,
            "token": signing.TimestampSigner(salt=rules.VISITOR_TOKEN_SALT).sign(
                public_id
            ),
            "expires_in": rules.VISITOR_TOKEN_MAX_AGE,
            "websocket": f"{scheme}://{request.get_host()}{VISITOR_SOCKET_PATH}",
            "state": started.status.state,
            "agents_online": started.status.agents_online,
            "email_needed": started.status.email_needed,
            "email": started.status.visitor_email,
        },
        status=201,
    )
    answer["Cache-Control"] = "no-store"  # the token is the visitor's key
    return _cors(answer, origin)


def _start(
    *, visitor: dict, signed_in: tuple[int, int] | None, origin: str
) -> services.ChatStarted:
    if signed_in is None:
        return services.chat_session_start(
            visitor_name=visitor["name"],
            visitor_email=visitor["email"],
            origin=origin,
            now=timezone.now(),
        )
    # Who they are comes from the signed token alone, never from the body.
    customer_id, identity_id = signed_in
    return services.chat_session_start(
        visitor_name="",
        visitor_email="",
        origin=origin,
        customer_id=customer_id,
        identity_id=identity_id,
        now=timezone.now(),
    )


def portal_chat_token(*, customer_id: int, identity_id: int) -> str:
    """The identity token a signed-in customer's portal page hands the widget
    (tickets.templatetags.portal_chat): their customer and the email identity
    they signed in with, signed now, good for rules.PORTAL_CHAT_TOKEN_MAX_AGE."""
    return signing.dumps(
        {"customer": customer_id, "identity": identity_id},
        salt=rules.PORTAL_CHAT_TOKEN_SALT,
    )


def portal_chat_owner(*, customer_id: int) -> str:
    """Whose chats the widget may resume on this page: an opaque mark of the
    customer (the widget keeps a chat in the tab's storage, which outlives a
    sign-out and the next customer's sign-in in the same tab)."""
    return salted_hmac(
        rules.PORTAL_CHAT_TOKEN_SALT, f"owner:{customer_id}"
    ).hexdigest()[:32]


def _portal_identity(token: str) -> tuple[tuple[int, int] | None, str, str]:
    """(customer id, identity id) from a portal identity token, or None with
    the error code and message."""
    try:
        payload = signing.loads(
            token,
            salt=rules.PORTAL_CHAT_TOKEN_SALT,
            max_age=rules.PORTAL_CHAT_TOKEN_MAX_AGE,
        )
    except signing.SignatureExpired:
        return (
            None,
            "identity_expired",
            gettext(
                "This page is too old to start a chat as you. Reload it and try again."
            ),
        )
    except signing.BadSignature:
        payload = None
    ids = (
        (payload.get("customer"), payload.get("identity"))
        if isinstance(payload, dict)
        else ()
    )
    if len(ids) != 2 or not all(type(value) is int for value in ids):
        return (
            None,
            "identity_invalid",
            gettext("This page cannot start a chat as you. Reload it and try again."),
        )
    return ids, "", ""


def _visitor(body: bytes) -> tuple[dict, str]:
    """The visitor's name and email (and the portal's identity token) from the
    body, or the reason it is malformed."""
    if len(body) > MAX_BODY_BYTES:
        return {}, f"the body is over {MAX_BODY_BYTES} bytes"
    try:
        payload = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return {}, "the body must be a JSON object"
    if not isinstance(payload, dict):
        return {}, "the body must be a JSON object"
    visitor = {
        "name": payload.get("name") or "",
        "email": payload.get("email") or "",
        "identity": payload.get("identity") or "",
    }
    if not all(isinstance(value, str) for value in visitor.values()):
        return {}, "name, email and identity must be strings"
    return visitor, ""


@require_GET
def chat_demo(request: HttpRequest) -> HttpResponse:
    """GET /chat/demo/: a stand-in for a customer's site, embedding the widget
    with the one tag a customer would paste."""
    # The file's stable name, not its hashed one: a customer's tag must keep
    # working across deploys (WhiteNoise serves it with a short cache life).
    static_url = settings.STATIC_URL
    if "://" not in static_url:
        static_url = "/" + static_url.lstrip("/")
    return render(
        request,
        "tickets/chat_demo.html",
        {
            "helpdesk": f"{request.scheme}://{request.get_host()}",
            "widget_src": request.build_absolute_uri(f"{static_url}{WIDGET_FILE}"),
        },
    )
