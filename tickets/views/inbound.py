"""Inbound webhooks: authenticate, store the payload as an envelope, answer.

Each answers only after the envelope has committed (202), so a provider that
sees a 2xx may forget the message; when the database is away the request fails
with a 5xx and the provider retries. A missing or wrong signature is a 401 and
nothing is stored; an exact redelivery is a 200 that stores nothing."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from tickets import rules, selectors, services
from tickets.models import InboundEnvelope, Ticket

SIGNATURE_HEADER = "X-Helpdesk-Signature"

# Checks a channel's body before it is queued: the reason it is malformed, or "".
BodyCheck = Callable[[bytes], str]


def error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"error": {"code": code, "message": message, "fields": {}}}, status=status
    )


def webhook_accept(
    request: HttpRequest,
    *,
    channel: str,
    provider: str = "",
    check: BodyCheck | None = None,
    external_key: Callable[[bytes], str] | None = None,
) -> JsonResponse:
    """The shared webhook flow of every channel (see the module docstring)."""
    limit = settings.HELPDESK["MAX_INBOUND_BYTES"]
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return error(413, "too_large", f"the body is over the {limit}-byte limit")
    body = request.read(limit + 1)
    if len(body) > limit:
        return error(413, "too_large", f"the body is over the {limit}-byte limit")
    secrets = selectors.webhook_secrets(channel=channel, provider=provider)
    if not rules.webhook_signature_valid(
        secrets=secrets, body=body, header=request.headers.get(SIGNATURE_HEADER)
    ):
        return error(
            401,
            "bad_signature",
            f"{SIGNATURE_HEADER} must be sha256=<hex HMAC-SHA256 of the body> "
            "under this channel's secret",
        )
    problem = check(body) if check else ("" if body.strip() else "the body is empty")
    received = services.envelope_receive(
        channel=channel,
        provider=provider,
        source=InboundEnvelope.Source.WEBHOOK,
        raw=body,
        now=timezone.now(),
        external_key="" if problem or external_key is None else external_key(body),
        meta={"request_id": getattr(request, "request_id", "")},
        refused=problem,
    )
    if problem:
        return error(400, "malformed", problem)
    return JsonResponse(
        {
            "envelope": received.envelope.id,
            "state": received.envelope.state,
            "duplicate": not received.created,
        },
        status=202 if received.created else 200,
    )


@csrf_exempt
@require_POST
def inbound_email(request: HttpRequest) -> JsonResponse:
    """POST /inbound/email/: one raw RFC 822 message as the body."""
    return webhook_accept(request, channel=Ticket.Channel.EMAIL)


def _parsed_webhook(
    request: HttpRequest,
    *,
    channel: str,
    parse: Callable[[bytes], object],
    provider: str = "",
) -> JsonResponse:
    """webhook_accept for a JSON channel: the body is parsed once, after the
    signature check, both to refuse it with the reason and to key the envelope by
    the provider's event id."""
    parsed = []

    def check(body: bytes) -> str:
        try:
            parsed.append(parse(body))
        except rules.PayloadInvalid as exc:
            return str(exc)
        return ""

    return webhook_accept(
        request,
        channel=channel,
        provider=provider,
        check=check,
        external_key=lambda body: parsed[-1].envelope_key,
    )


def _phone_region() -> str:
    return getattr(settings, "HELPDESK_PHONE_REGION", "GB")


@csrf_exempt
@require_POST
def inbound_phone(request: HttpRequest) -> JsonResponse:
    """POST /inbound/phone/: one call event as JSON (docs/channels.md)."""
    return _parsed_webhook(
        request,
        channel=Ticket.Channel.PHONE,
        parse=lambda body: rules.call_event_parse(body, default_region=_phone_region()),
    )


@csrf_exempt
@require_POST
def inbound_sms(request: HttpRequest) -> JsonResponse:
    """POST /inbound/sms/: one text message as JSON (docs/channels.md)."""
    return _parsed_webhook(
        request,
        channel=Ticket.Channel.SMS,
        parse=lambda body: rules.sms_parse(body, default_region=_phone_region()),
    )


@csrf_exempt
@require_POST
def inbound_social(request: HttpRequest, provider: str) -> JsonResponse:
    """POST /inbound/social/<provider>/: one direct message as JSON, signed with
    the provider's secret (docs/channels.md)."""
    try:
        provider = rules.social_provider_normalise(provider)
    except rules.PayloadInvalid as exc:
        return error(404, "unknown_provider", str(exc))
    return _parsed_webhook(
        request,
        channel=Ticket.Channel.SOCIAL,
        provider=provider,
        parse=lambda body: rules.social_message_parse(body, provider=provider),
    )
