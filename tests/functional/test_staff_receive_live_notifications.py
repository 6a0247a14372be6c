"""Websockets through the ASGI application and the channel layer in use (in-memory
by default, Redis on the real stack): sign-in, origin checks, group delivery, and a
pod split announced live to both leads."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

import pods.services
from helpdesk.asgi import application
from pods.outbound import pod_group, user_group
from tests import factories

ORIGIN = (b"origin", b"http://127.0.0.1")


def session_headers(user, *, origin=ORIGIN) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"
    return [origin, (b"cookie", cookie.encode()), (b"host", b"127.0.0.1")]


def communicator(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/notifications/", headers=headers)


@pytest.mark.django_db(transaction=True)
class TestNotificationSocket:
    def test_signed_in_agent_receives_events_for_them_and_their_pod(self):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod)
        headers = session_headers(agent.user)

        async def scenario():
            socket = communicator(headers)
            connected, _ = await socket.connect()
            hello = await socket.receive_json_from(timeout=5)
            layer = get_channel_layer()
            await layer.group_send(
                user_group(agent.user_id),
                {"type": "notify", "kind": "t", "text": "one"},
            )
            first = await socket.receive_json_from(timeout=5)
            await layer.group_send(
                pod_group(pod.id), {"type": "notify", "kind": "t", "text": "pod"}
            )
            second = await socket.receive_json_from(timeout=5)
            await socket.send_json_to({"type": "ping"})
            pong = await socket.receive_json_from(timeout=5)
            await socket.disconnect()
            return connected, hello, first, second, pong

        connected, hello, first, second, pong = async_to_sync(scenario)()

        assert connected
        assert hello == {"type": "hello", "groups": 2}
        assert first["text"] == "one"
        assert second["text"] == "pod"
        assert pong == {"type": "pong"}

    def test_anonymous_socket_is_refused(self):
        async def scenario():
            socket = communicator([ORIGIN, (b"host", b"127.0.0.1")])
            connected, code = await socket.connect()
            await socket.disconnect()
            return connected, code

        connected, code = async_to_sync(scenario)()

        assert connected is False
        assert code == 4401

    def test_socket_from_a_foreign_origin_is_refused_before_accept(self):
        agent = factories.agent(pod=factories.pod())
        headers = session_headers(agent.user, origin=(b"origin", b"https://evil.test"))

        async def scenario():
            socket = communicator(headers)
            connected, _ = await socket.connect()
            await socket.disconnect()
            return connected

        assert async_to_sync(scenario)() is False

    def test_both_leads_hear_live_that_their_pod_split(self, now):
        pod = factories.staffed_pod(size=4)
        lead = pod.lead
        headers = session_headers(lead.user)

        def split_now():
            split = pods.services.pod_split_request(
                pod_id=pod.id, reason="test", now=now
            )
            return split.id

        async def scenario():
            socket = communicator(headers)
            await socket.connect()
            await socket.receive_json_from(timeout=5)
            await database_sync_to_async(split_now)()
            events = [await socket.receive_json_from(timeout=10)]
            await socket.disconnect()
            return events

        events = async_to_sync(scenario)()

        assert events[0]["type"] == "notify"
        assert events[0]["kind"] == "pod.split.done"
        assert pod.name in events[0]["text"]
