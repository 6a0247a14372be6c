"""Side effects of tickets that leave the process: replies by email and through
SMS and social providers, scheduled after commit, and their private tasks.

Delivery is at least once: a worker that dies after the provider accepted a
message but before the SENT state committed sends it again. Email carries the
same Message-ID both times, so the receiving side can tell."""

import logging
import re
import smtplib
from datetime import datetime

from asgiref.sync import async_to_sync
from celery import current_app, shared_task
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext
from kombu.exceptions import OperationalError as BrokerUnavailable

import pods.selectors
from tickets import rules, selectors
from tickets.models import Message, SatisfactionSurvey, Ticket

logger = logging.getLogger(__name__)

DELIVER_EMAIL_TASK = "tickets.outbound.deliver_email"
DELIVER_REPLY_TASK = "tickets.outbound.deliver_reply"
PROCESS_ENVELOPE_TASK = "tickets.process_envelope"
MAX_DELIVERY_ATTEMPTS = 8
REFERENCES_KEPT = 20  # the newest ids; enough for any client to thread
RETRYABLE = (smtplib.SMTPException, OSError, ConnectionError, TimeoutError)
# Sent by no person (the satisfaction survey): auto-responders must not answer it
# (RFC 3834), and Exchange's out-of-office replies heed only the second header.
AUTOMATIC_HEADERS = {
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
}


def enqueue_on_commit(task_name: str, **kwargs) -> None:
    """Queue a task once the current transaction commits.

    A broker failure is logged, not raised: the write has committed, and the
    sweeps (tickets.sweep_inbound, tickets.sweep_outbound) find work whose task
    never left."""

    def send() -> None:
        try:
            current_app.tasks[task_name].apply_async(kwargs=kwargs)
        except BrokerUnavailable:
            logger.warning(
                "could not queue %s %s; a sweep will retry", task_name, kwargs
            )

    transaction.on_commit(send)


def envelope_process_enqueue(*, envelope_id: int) -> None:
    enqueue_on_commit(PROCESS_ENVELOPE_TASK, envelope_id=envelope_id)


def message_deliver(*, message_id: int, channel: str) -> None:
    """Deliver an outbound message after commit, in its channel.

    A chat reply is pushed to the visitor's open widgets right after commit, not
    through a task: the visitor is waiting, and a queue of emails must not hold
    it up. One the layer could not take stays QUEUED for the outbound sweep; a
    visitor who was away reads it from the history when their widget returns."""
    if channel == Ticket.Channel.EMAIL:
        enqueue_on_commit(DELIVER_EMAIL_TASK, message_id=message_id)
    elif channel == Ticket.Channel.CHAT:
        transaction.on_commit(
            lambda: chat_reply_push(message_id=message_id), robust=True
        )
    else:
        enqueue_on_commit(DELIVER_REPLY_TASK, message_id=message_id)


def chat_reply_push(*, message_id: int) -> str:
    """Push one queued chat reply to its sessions' widgets and mark it SENT.

    At least once: a push repeated by the sweep reaches a widget that already
    shows the message, and the widget shows each message id once."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update(of=("self",))
            .select_related("author_agent__user")
            .filter(id=message_id, delivery=Message.Delivery.QUEUED)
            .first()
        )
        if message is None:
            return "not queued"
        try:
            _chat_reply_send(message)
        except Exception:
            # The channel layer is away (Redis down, a full channel): leave the
            # reply QUEUED; the sweep pushes it again.
            logger.exception("could not push chat reply %s", message_id)
            return "not sent"
        _delivery_mark(message, state=Message.Delivery.SENT)
    return "sent"


def _chat_reply_send(message: Message) -> None:
    author = message.author_agent.user.first_name if message.author_agent else ""
    event = {
        "type": "chat.message",
        "from": "agent",
        "id": message.id,
        "text": customer_text(message),
        "author": author,
        "at": message.created_at.isoformat(),
    }
    layer = get_channel_layer()
    for public_id in selectors.chat_session_ids_of_ticket(ticket_id=message.ticket_id):
        async_to_sync(layer.group_send)(rules.chat_session_group(public_id), event)


def deliveries_requeue(*, queued_before: datetime, limit: int = 500) -> int:
    """Queue again the deliveries whose task never ran (broker down at commit)."""
    waiting = list(
        Message.objects.filter(
            delivery=Message.Delivery.QUEUED, created_at__lt=queued_before
        )
        .order_by("created_at", "id")
        .values_list("id", "channel")[:limit]
    )
    for message_id, channel in waiting:
        with transaction.atomic():
            message_deliver(message_id=message_id, channel=channel)
    return len(waiting)


# --- What the customer reads ------------------------------------------------------

# A survey message is stored with these marks instead of its links: the thread is
# read by agents, and a link there would let them rate their own work.
SURVEY_LINK_MARK = "[rating link {rating}]"
SURVEY_LINK_MARKS = re.compile(r"\[rating link ([1-5])\]")


def survey_link(*, token: str, rating: int) -> str:
    """The absolute address of the survey page with the rating chosen."""
    base = settings.HELPDESK["PUBLIC_URL"].rstrip("/")
    return f"{base}{reverse('survey', kwargs={'token': token})}?rating={rating}"


def customer_text(message: Message) -> str:
    """The message's text as it goes out: survey link marks become the links of
    the survey the message carries (headers["survey_id"])."""
    survey_id = (message.headers or {}).get("survey_id")
    if not survey_id:
        return message.text
    token = (
        SatisfactionSurvey.objects.filter(id=survey_id)
        .values_list("token", flat=True)
        .first()
    )
    return SURVEY_LINK_MARKS.sub(
        lambda mark: (
            survey_link(token=token, rating=int(mark.group(1))) if token else ""
        ),
        message.text,
    )


# --- Email ----------------------------------------------------------------------


@shared_task(name=DELIVER_EMAIL_TASK, bind=True, max_retries=MAX_DELIVERY_ATTEMPTS)
def deliver_email(self, *, message_id: int) -> str:
    """Send one email reply through Django's email backend, once."""
    with transaction.atomic():
        # Held while sending: a duplicate task for the same message waits here,
        # then finds it SENT.
        message = (
            Message.objects.select_for_update()
            .select_related("ticket")
            .filter(id=message_id, delivery=Message.Delivery.QUEUED)
            .first()
        )
        if message is None:
            return "not queued"
        try:
            _reply_email(message).send()
        except RETRYABLE as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            _delivery_mark(message, state=Message.Delivery.SENT)
            return "sent"
    return _delivery_failed(self, message=message, error=error)


def _delivery_failed(task, *, message: Message, error: str) -> str:
    attempts = message.delivery_attempts + 1
    final = attempts >= MAX_DELIVERY_ATTEMPTS
    Message.objects.filter(id=message.id).update(
        delivery_attempts=attempts,
        delivery_error=error,
        delivery=Message.Delivery.FAILED if final else Message.Delivery.QUEUED,
    )
    logger.warning(
        "delivery of message %s failed (%s): %s", message.id, attempts, error
    )
    if final:
        return "failed"
    if task.request.is_eager:
        # Inline (the embedded default, tests): a retry would block the request
        # that queued it; the message stays QUEUED for the outbound sweep.
        return "queued"
    raise task.retry(countdown=min(30 * 2**attempts, 3600))


def _delivery_mark(message: Message, *, state: str, external_id: str = "") -> None:
    message.delivery = state
    message.delivery_attempts += 1
    message.delivery_error = ""
    message.sent_at = timezone.now()
    fields = ["delivery", "delivery_attempts", "delivery_error", "sent_at"]
    if external_id:
        message.external_id = external_id[:255]
        fields.append("external_id")
    message.save(update_fields=fields)


def _reply_email(message: Message) -> EmailMessage:
    ticket = message.ticket
    thread = list(
        Message.objects.filter(ticket_id=ticket.id, channel=Ticket.Channel.EMAIL)
        .exclude(external_id="")
        .exclude(id=message.id)
        .order_by("created_at", "id")
        .values_list("external_id", "direction", "author_address")
    )
    inbound = [row for row in thread if row[1] == Message.Direction.INBOUND]
    headers = {
        "Message-ID": message.external_id,
        "X-Helpdesk-Ticket": str(ticket.id),
    }
    if inbound:
        headers["In-Reply-To"] = inbound[-1][0]
    if thread:
        headers["References"] = " ".join(row[0] for row in thread[-REFERENCES_KEPT:])
    if message.is_automatic:
        headers.update(AUTOMATIC_HEADERS)
    recipient = inbound[-1][2] if inbound else _customer_email(ticket.customer_id)
    return EmailMessage(
        subject=_header_safe(f"Re: [#{ticket.id}] {ticket.subject}"),
        body=customer_text(message),
        from_email=pod_reply_address(pod_id=ticket.pod_id),
        to=[recipient],
        headers=headers,
    )


def _customer_email(customer_id: int) -> str:
    return next(
        value
        for kind, value in pods.selectors.customer_identities(customer_id=customer_id)
        if kind == "EMAIL"
    )


def _header_safe(value: str) -> str:
    # Django refuses CR/LF in headers (BadHeaderError); a subject from a customer
    # may carry them or their Unicode cousins, so they become spaces here.
    for breaker in ("\r", "\n", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"):
        value = value.replace(breaker, " ")
    return value[:250]


def pod_reply_address(*, pod_id: int) -> str:
    """The pod's reply address: its own when set in admin, else REPLY_ADDRESS
    with the pod's name as a plus tag (support+mercury@...)."""
    pod = pods.selectors.pod_by_id_or_name(reference=str(pod_id))
    name = gettext("%(pod)s support") % {"pod": pod.name} if pod else gettext("Support")
    name = _header_safe(name).replace('"', "")
    if pod is not None and pod.reply_address:
        return f'"{name}" <{pod.reply_address}>'
    local, _, domain = settings.HELPDESK["REPLY_ADDRESS"].rpartition("@")
    tag = "".join(
        ch for ch in (pod.name if pod else str(pod_id)).lower() if ch.isalnum()
    )
    return f'"{name}" <{local}+{tag}@{domain}>'


# --- SMS and social ---------------------------------------------------------------


class LoggingReplyProvider:
    """The default provider: records the reply in the log and sends nothing, so
    the demo and tests need no account anywhere."""

    def send(self, *, message: Message) -> str:
        logger.info(
            "reply %s on %s for ticket %s: %s",
            message.id,
            message.channel,
            message.ticket_id,
            message.text[:200],
        )
        return f"logged-{message.id}"


def reply_provider(channel: str):
    return import_string(settings.HELPDESK["REPLY_PROVIDERS"][channel])()


@shared_task(name=DELIVER_REPLY_TASK, bind=True, max_retries=MAX_DELIVERY_ATTEMPTS)
def deliver_reply(self, *, message_id: int) -> str:
    """Send one SMS or social reply through the channel's provider, once."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(id=message_id, delivery=Message.Delivery.QUEUED)
            .first()
        )
        if message is None:
            return "not queued"
        if message.channel == Ticket.Channel.CHAT:
            # Queued as a task before chat replies were pushed on commit.
            _chat_reply_send(message)
            _delivery_mark(message, state=Message.Delivery.SENT)
            return "sent"
        if message.channel not in settings.HELPDESK["REPLY_PROVIDERS"]:
            _delivery_mark(message, state=Message.Delivery.SENT)
            return "sent"
        # What the provider sends; the stored thread keeps the marks.
        message.text = customer_text(message)
        try:
            external_id = reply_provider(message.channel).send(message=message)
        except RETRYABLE as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            _delivery_mark(
                message, state=Message.Delivery.SENT, external_id=external_id
            )
            return "sent"
    return _delivery_failed(self, message=message, error=error)
