"""Side effects of the authority funnel that leave the process: the signed
webhook that tells an external billing system of a grant, live events, and
the email that reminds a customer their entitlement is ending.

Delivery is at least once: the grant's id travels as the Idempotency-Key, so
the receiver applies each grant once however often it is told."""

import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from datetime import datetime

from celery import current_app, shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, ngettext
from kombu.exceptions import OperationalError as BrokerUnavailable

import pods.selectors
from authority import rules
from authority.models import (
    Entitlement,
    EntitlementReminder,
    WebhookAttempt,
    WebhookDelivery,
)

logger = logging.getLogger(__name__)

DELIVER_WEBHOOK_TASK = "authority.outbound.deliver_webhook"
WEBHOOK_TIMEOUT_SECONDS = 10
ERROR_KEPT = 300


def webhook_deliver_on_commit(*, delivery_id: int) -> None:
    """Post the webhook once the grant has committed. A broker failure is
    logged: the delivery is PENDING and the beat sweep sends it."""

    def send() -> None:
        try:
            current_app.tasks[DELIVER_WEBHOOK_TASK].apply_async(
                kwargs={"delivery_id": delivery_id}
            )
        except BrokerUnavailable:
            logger.warning("could not queue webhook %s; the sweep will", delivery_id)

    transaction.on_commit(send)


def webhook_secret() -> str:
    return settings.HELPDESK["BILLING_WEBHOOK_SECRET"] or settings.SECRET_KEY


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: following one could lead
    the request somewhere it was never configured to go."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def webhook_post(
    *, url: str, body: bytes, idempotency_key: str
) -> tuple[int | None, str]:
    """POST the signed body; (status, error). Status None: no answer at all."""
    if not url.startswith(("https://", "http://")):
        return None, "only http and https addresses are posted to"
    stamp = int(time.time())
    signature = rules.webhook_signature(
        body=body, key=webhook_secret(), timestamp=stamp
    )
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
            "X-Helpdesk-Signature": f"t={stamp},v1={signature}",
            "User-Agent": "pod-helpdesk-webhook/1",
        },
    )
    try:
        with _opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return None, str(getattr(error, "reason", error))[:ERROR_KEPT]


@shared_task(name=DELIVER_WEBHOOK_TASK)
def deliver_webhook(*, delivery_id: int) -> str:
    """Post one pending delivery; on failure schedule the next attempt."""
    now = timezone.now()
    with transaction.atomic():
        # Held while posting: a twin task waits, then finds it DELIVERED.
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(id=delivery_id, state=WebhookDelivery.State.PENDING)
            .first()
        )
        if delivery is None:
            return "not pending"
        started = time.monotonic()
        status, error = webhook_post(
            url=delivery.url,
            body=json.dumps(delivery.payload, sort_keys=True).encode(),
            idempotency_key=f"grant-{delivery.grant_id}",
        )
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=now,
            status_code=status,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        outcome = _attempt_record(delivery=delivery, status=status, now=now)
    if outcome == "retry" and not current_app.conf.task_always_eager:
        countdown = (delivery.next_attempt_at - now).total_seconds()
        current_app.tasks[DELIVER_WEBHOOK_TASK].apply_async(
            kwargs={"delivery_id": delivery_id}, countdown=max(countdown, 1)
        )
    return outcome


def _attempt_record(
    *, delivery: WebhookDelivery, status: int | None, now: datetime
) -> str:
    delivery.attempts += 1
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.delivered_at = WebhookDelivery.State.DELIVERED, now
        delivery.next_attempt_at = None
        outcome = "delivered"
    else:
        delay = rules.webhook_retry_delay(attempts=delivery.attempts)
        if delay is None:
            delivery.state, delivery.next_attempt_at = (
                WebhookDelivery.State.FAILED,
                None,
            )
            logger.error(
                "webhook %s failed after %s attempts", delivery.id, delivery.attempts
            )
            outcome = "failed"
        else:
            delivery.next_attempt_at = now + delay
            outcome = "retry"
    delivery.save(
        update_fields=["attempts", "state", "delivered_at", "next_attempt_at"]
    )
    return outcome


def webhooks_due(*, now: datetime, limit: int = 500) -> list[int]:
    return list(
        WebhookDelivery.objects.filter(
            state=WebhookDelivery.State.PENDING, next_attempt_at__lte=now
        )
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )


# --- Entitlement reminders ---------------------------------------------------------

SEND_REMINDER_TASK = "authority.outbound.send_entitlement_reminder"
PORTAL_SIGN_IN_PATH = "/portal/sign-in/"


def entitlement_reminder_send_on_commit(*, reminder_id: int) -> None:
    """Email the reminder once its row has committed. A broker failure is
    logged: the reminder stays unsent and the next scheduled run queues it."""

    def send() -> None:
        try:
            current_app.tasks[SEND_REMINDER_TASK].apply_async(
                kwargs={"reminder_id": reminder_id}
            )
        except BrokerUnavailable:
            logger.warning(
                "could not queue reminder %s; the next run will", reminder_id
            )

    transaction.on_commit(send)


@shared_task(name=SEND_REMINDER_TASK)
def send_entitlement_reminder(*, reminder_id: int) -> str:
    """Send one reminder, once: the row stays locked while the email leaves,
    so a twin task waits, then finds it sent."""
    now = timezone.now()
    with transaction.atomic():
        reminder = (
            EntitlementReminder.objects.select_for_update()
            .filter(id=reminder_id, sent_at__isnull=True)
            .exclude(address="")
            .first()
        )
        if reminder is None:
            return "not due"
        entitlement = Entitlement.objects.get(id=reminder.entitlement_id)
        if entitlement.ends_on != reminder.ends_on:
            # Extended (or shortened) since it fell due: this period's reminder
            # would name the wrong day, and the new end has its own.
            reminder.sent_at = now
            reminder.save(update_fields=["sent_at"])
            return "moved"
        reminder.attempts += 1
        try:
            reminder_email(reminder=reminder, entitlement=entitlement, now=now).send()
        except (OSError, smtplib.SMTPException) as error:
            logger.warning("reminder %s not sent: %s", reminder.id, error)
            reminder.save(update_fields=["attempts"])
            return "failed"
        reminder.sent_at = now
        reminder.save(update_fields=["attempts", "sent_at"])
    return "sent"


def reminder_email(
    *, reminder: EntitlementReminder, entitlement: Entitlement, now: datetime
) -> EmailMessage:
    """The reminder, in the site's language (the customer's is not known
    outside a request), with the link to sign in to the portal."""
    facts = pods.selectors.customer_facts(customer_id=reminder.customer_id)
    with translation.override(settings.LANGUAGE_CODE):
        days_left = max((entitlement.ends_on - now.date()).days, 0)
        end = formats.date_format(entitlement.ends_on, "DATE_FORMAT")
        subject = gettext("Your %(product)s ends on %(end)s") % {
            "product": entitlement.product,
            "end": end,
        }
        body = "\n\n".join(
            [
                gettext("Hello %(name)s,")
                % {"name": (facts.display_name if facts else "") or gettext("there")},
                ngettext(
                    "Your %(product)s runs until %(end)s: %(days)d day left.",
                    "Your %(product)s runs until %(end)s: %(days)d days left.",
                    days_left,
                )
                % {"product": entitlement.product, "end": end, "days": days_left},
                gettext(
                    "If you need more time, you may be able to extend or pause it "
                    "yourself. Sign in to your account to see what you can do:"
                ),
                portal_sign_in_url(),
                gettext("Or simply reply to this email and we will help."),
            ]
        )
    return EmailMessage(
        subject=subject.replace("\r", " ").replace("\n", " ")[:250],
        body=body,
        from_email=settings.HELPDESK["REPLY_ADDRESS"],
        to=[reminder.address],
        headers={
            "Auto-Submitted": "auto-generated",
            "X-Helpdesk-Reminder": str(reminder.id),
        },
    )


def portal_sign_in_url() -> str:
    try:
        path = reverse("portal-sign-in")
    except NoReverseMatch:
        path = PORTAL_SIGN_IN_PATH
    return settings.HELPDESK["PUBLIC_URL"].rstrip("/") + path
