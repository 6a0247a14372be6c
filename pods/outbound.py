"""Side effects of pods that leave the process, scheduled after commit."""

import logging
import smtplib

from asgiref.sync import async_to_sync
from celery import current_app, shared_task
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext
from kombu.exceptions import OperationalError as BrokerUnavailable

from pods import selectors

logger = logging.getLogger(__name__)

# Runs in tickets: a split moves open tickets along with their customers, and only
# the app above pods may touch tickets. Enqueued by name, never imported.
RUN_POD_SPLIT_TASK = "tickets.run_pod_split"
# Tickets reacts to presence: an agent online takes the pod's backlog, an agent
# offline gives their tickets back to the pod queue.
PRESENCE_CHANGED_TASK = "tickets.agent_presence_changed"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def pod_group(pod_id: int) -> str:
    return f"pod.{pod_id}"


def enqueue_on_commit(task_name: str, **kwargs) -> None:
    """Queue a task once the current transaction commits.

    A broker failure is logged, not raised: the caller's write has committed, and
    the periodic sweeps find work whose task never left."""

    def send() -> None:
        try:
            current_app.tasks[task_name].apply_async(kwargs=kwargs)
        except BrokerUnavailable:
            logger.exception(
                "could not queue %s %s; a sweep will retry", task_name, kwargs
            )

    transaction.on_commit(send)


def broadcast_on_commit(group: str, event: dict) -> None:
    """Publish an event to a websocket group once the transaction commits."""

    def send() -> None:
        layer = get_channel_layer()
        try:
            async_to_sync(layer.group_send)(group, event)
        except Exception:
            logger.exception("could not broadcast %s to %s", event.get("type"), group)

    transaction.on_commit(send)


def pod_split_enqueue(*, split_id: int) -> None:
    enqueue_on_commit(RUN_POD_SPLIT_TASK, split_id=split_id)


def pod_split_announce(*, split_id: int) -> None:
    """Tell both leads, live, that the split is done."""
    split = selectors.split_for_run(split_id=split_id)
    event = {
        "type": "notify",
        "kind": "pod.split.done",
        "text": gettext(
            "%(pod)s has split: %(customers)s customers and %(agents)s agents "
            "moved to %(new_pod)s."
        )
        % {
            "pod": split.source.name,
            "customers": split.customers_moved,
            "agents": split.agents_moved,
            "new_pod": split.new_pod.name,
        },
        "split_id": split.id,
    }
    for pod in (split.source, split.new_pod):
        if pod.lead_id:
            broadcast_on_commit(user_group(pod.lead.user_id), event)
        broadcast_on_commit(pod_group(pod.id), event)


def agent_presence_announce(
    *, agent_id: int, pod_id: int | None, presence: str
) -> None:
    enqueue_on_commit(
        PRESENCE_CHANGED_TASK, agent_id=agent_id, pod_id=pod_id, presence=presence
    )
    if pod_id is not None:
        broadcast_on_commit(
            pod_group(pod_id),
            {
                "type": "notify",
                "kind": "agent.presence",
                "agent_id": agent_id,
                "presence": presence,
                "text": "",
            },
        )


# --- Customer portal: the sign-in link by email -------------------------------------

SEND_PORTAL_LINK_TASK = "pods.outbound.send_portal_link"
# Sent by no person: auto-responders must not answer it (RFC 3834).
AUTOMATIC_HEADERS = {
    "Auto-Submitted": "auto-generated",
    "X-Auto-Response-Suppress": "All",
}


def portal_link_send(*, link_id: int, token: str) -> None:
    """Email the sign-in link once the link is committed.

    The token travels to the worker in the task's arguments: the database holds
    only its hash, so the message is the one place it is ever written."""
    enqueue_on_commit(SEND_PORTAL_LINK_TASK, link_id=link_id, token=token)


@shared_task(
    name=SEND_PORTAL_LINK_TASK,
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    max_retries=3,
)
def send_portal_link(*, link_id: int, token: str) -> bool:
    """Send the email of a sign-in link still usable; False when it no longer is
    (used, superseded or expired before a retry got through)."""
    delivery = selectors.portal_link_delivery(link_id=link_id)
    if delivery is None or not delivery.usable:
        return False
    with translation.override(delivery.language or settings.LANGUAGE_CODE):
        portal_link_email(delivery=delivery, token=token).send()
    return True


def portal_link_email(
    *, delivery: selectors.PortalLinkDelivery, token: str
) -> EmailMessage:
    public = settings.HELPDESK["PUBLIC_URL"].rstrip("/")
    context = {
        "name": delivery.display_name,
        "link": public + reverse("portal-link", kwargs={"token": token}),
        "sign_in": public + reverse("portal-sign-in"),
        "minutes": settings.HELPDESK_PORTAL["LINK_MINUTES"],
    }
    return EmailMessage(
        subject=gettext("Your sign-in link"),
        body=render_to_string("portal/sign_in_email.txt", context),
        from_email=settings.HELPDESK["REPLY_ADDRESS"],
        to=[delivery.address],
        headers=AUTOMATIC_HEADERS,
    )
