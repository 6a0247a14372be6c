"""A call rings: the telephony provider posts a signed ringing event to
/inbound/phone/, and the answering agent's open page hears it over its
notifications websocket, with the caller's customer card (who they are, their
pod, how to reach them, their open tickets and last ticket) before they pick up.
"""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

import tickets.services
from helpdesk.asgi import application
from tests import factories
from tickets.models import CallRecord, Ticket

SECRET = "phone-secret-2026"
CALLER = "+447700900123"
ORIGIN = (b"origin", b"http://127.0.0.1")
EVENT_TIMEOUT = 10  # seconds; processing runs inline after the webhook's commit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def phone_secret(settings):
    settings.HELPDESK = {
        **settings.HELPDESK,
        "WEBHOOK_SECRETS": {**settings.HELPDESK["WEBHOOK_SECRETS"], "PHONE": SECRET},
    }


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"
    return [ORIGIN, (b"cookie", cookie.encode()), (b"host", b"127.0.0.1")]


def ring(**fields) -> int:
    """The provider posts a signed ringing event; return the HTTP status."""
    body = json.dumps(
        {"event": "ringing", "call_id": "CA-77", "from": CALLER} | fields
    ).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return (
        Client()
        .post(
            "/inbound/phone/",
            data=body,
            content_type="application/json",
            HTTP_X_HELPDESK_SIGNATURE=signature,
        )
        .status_code
    )


async def screen_pop(socket: WebsocketCommunicator) -> dict:
    """The next call.ringing event, past the pod's other live events (the new
    ticket, its message)."""
    while True:
        event = await socket.receive_json_from(timeout=EVENT_TIMEOUT)
        if event.get("kind") == "call.ringing":
            return event


@pytest.fixture
def known_caller(now):
    """A customer who wrote by email three days ago, now calling."""
    pod = factories.staffed_pod(size=3, name="Mercury")
    earlier = tickets.services.ticket_open(
        identities=[("EMAIL", "ada@example.com"), ("PHONE", CALLER)],
        channel=Ticket.Channel.EMAIL,
        subject="Meter reads zero",
        display_name="Ada Lovelace",
        now=now - timedelta(days=3),
    ).ticket
    return pod, earlier


class TestPhoneScreenPop:
    def test_the_answering_agent_sees_the_callers_card_as_the_phone_rings(
        self, known_caller
    ):
        pod, earlier = known_caller
        agent = factories.agent(pod=pod, username="mercury.agent9")
        headers = session_headers(agent.user)

        async def scenario():
            socket = WebsocketCommunicator(
                application, "/ws/notifications/", headers=headers
            )
            connected, _ = await socket.connect()
            await socket.receive_json_from(timeout=EVENT_TIMEOUT)  # hello
            status = await database_sync_to_async(ring)(agent="mercury.agent9")
            event = await screen_pop(socket)
            await socket.disconnect()
            return connected, status, event

        connected, status, event = async_to_sync(scenario)()

        assert connected
        assert status == 202
        call = CallRecord.objects.get(call_id="CA-77")
        assert call.state == CallRecord.State.RINGING
        assert event["type"] == "notify"
        assert (event["ticket_id"], event["call_id"]) == (call.ticket_id, "CA-77")
        assert event["text"] == "Call from Ada Lovelace"
        card = event["customer"]
        assert card["id"] == earlier.customer_id
        assert card["name"] == "Ada Lovelace"
        assert card["pod"] == {"id": pod.id, "name": "Mercury"}
        assert {(i["kind"], i["value"]) for i in card["identities"]} == {
            ("EMAIL", "ada@example.com"),
            ("PHONE", CALLER),
        }
        assert card["open_tickets"] == 2  # the email ticket and this call's
        assert card["last_ticket"]["id"] == earlier.id
        assert card["last_ticket"]["subject"] == "Meter reads zero"

    def test_with_no_agent_named_the_callers_pod_sees_it_and_no_other_pod(
        self, known_caller
    ):
        pod, _ = known_caller
        colleague = factories.agent(pod=pod)
        stranger = factories.agent(pod=factories.staffed_pod(size=2))
        colleague_headers = session_headers(colleague.user)
        stranger_headers = session_headers(stranger.user)

        async def scenario():
            sockets = [
                WebsocketCommunicator(application, "/ws/notifications/", headers=h)
                for h in (colleague_headers, stranger_headers)
            ]
            for socket in sockets:
                await socket.connect()
                await socket.receive_json_from(timeout=EVENT_TIMEOUT)  # hello
            status = await database_sync_to_async(ring)()
            event = await screen_pop(sockets[0])
            stranger_heard = not await sockets[1].receive_nothing(timeout=0.5)
            for socket in sockets:
                await socket.disconnect()
            return status, event, stranger_heard

        status, event, stranger_heard = async_to_sync(scenario)()

        assert status == 202
        assert event["customer"]["name"] == "Ada Lovelace"
        assert stranger_heard is False

    def test_a_redelivered_ringing_event_rings_once(self, known_caller):
        pod, _ = known_caller
        agent = factories.agent(pod=pod, username="mercury.agent8")
        headers = session_headers(agent.user)

        async def scenario():
            socket = WebsocketCommunicator(
                application, "/ws/notifications/", headers=headers
            )
            await socket.connect()
            await socket.receive_json_from(timeout=EVENT_TIMEOUT)  # hello
            first = await database_sync_to_async(ring)(agent="mercury.agent8")
            await screen_pop(socket)
            again = await database_sync_to_async(ring)(agent="mercury.agent8")
            quiet = await socket.receive_nothing(timeout=0.5)
            await socket.disconnect()
            return first, again, quiet

        first, again, quiet = async_to_sync(scenario)()

        assert (first, again) == (202, 200)
        assert quiet
        assert CallRecord.objects.count() == 1
