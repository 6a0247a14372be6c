"""A dashboard follows a pod over the notifications socket: the socket joins
that pod's events only if the user may see its dashboard (the one permission
backend decides), one followed pod at a time; anything else is refused and
nothing of that pod reaches the socket."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from helpdesk.asgi import application
from pods.outbound import pod_group
from tests import factories

ORIGIN = (b"origin", b"http://127.0.0.1")
NOTHING_WITHIN = 0.3  # seconds a refused socket is watched for stray events


def session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    cookie = f"{settings.SESSION_COOKIE_NAME}={session}"
    return [ORIGIN, (b"cookie", cookie.encode()), (b"host", b"127.0.0.1")]


def follow_then_listen(user, follows: list, *, event_to: int) -> dict:
    """Connect as the user, send each follow request, then publish an event to
    the pod `event_to`: the answers to the follows, and whether the event
    arrived."""
    headers = session_headers(user)

    async def scenario():
        socket = WebsocketCommunicator(
            application, "/ws/notifications/", headers=headers
        )
        connected, _ = await socket.connect()
        assert connected
        await socket.receive_json_from(timeout=5)  # hello
        answers = []
        for pod in follows:
            await socket.send_json_to({"type": "follow", "pod": pod})
            answers.append(await socket.receive_json_from(timeout=5))
        await get_channel_layer().group_send(
            pod_group(event_to),
            {"type": "notify", "kind": "ticket.created", "text": "", "ticket_id": 1},
        )
        if await socket.receive_nothing(timeout=NOTHING_WITHIN):
            received = None
        else:
            received = await socket.receive_json_from(timeout=5)
        await socket.disconnect()
        return {"answers": answers, "received": received}

    return async_to_sync(scenario)()


@pytest.fixture
def mercury():
    return factories.staffed_pod(size=2, name="Mercury")


@pytest.fixture
def venus():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.mark.django_db(transaction=True)
class TestFollowAPod:
    def test_an_admin_follows_any_pod_and_hears_its_events(self, mercury):
        admin = factories.admin_user()

        result = follow_then_listen(admin, [mercury.id], event_to=mercury.id)

        assert result["answers"] == [{"type": "following", "pod": mercury.id}]
        assert result["received"]["kind"] == "ticket.created"

    def test_a_lead_may_not_follow_another_pod(self, mercury, venus):
        result = follow_then_listen(mercury.lead.user, [venus.id], event_to=venus.id)

        assert result["answers"] == [{"type": "follow.refused", "pod": venus.id}]
        assert result["received"] is None

    def test_a_lead_following_their_own_pod_is_already_there(self, mercury):
        result = follow_then_listen(
            mercury.lead.user, [mercury.id], event_to=mercury.id
        )

        assert result["answers"] == [{"type": "following", "pod": mercury.id}]
        assert result["received"]["kind"] == "ticket.created"

    def test_an_agent_may_not_follow_another_pod(self, mercury, venus):
        agent = factories.agent(pod=mercury)

        result = follow_then_listen(agent.user, [venus.id], event_to=venus.id)

        assert result["answers"] == [{"type": "follow.refused", "pod": venus.id}]
        assert result["received"] is None

    @pytest.mark.parametrize("pod", ["1", None, 10**9, 1.0, True, [1]])
    def test_a_request_that_names_no_pod_one_may_see_is_refused(self, mercury, pod):
        admin = factories.admin_user()

        result = follow_then_listen(admin, [pod], event_to=mercury.id)

        assert result["answers"] == [{"type": "follow.refused", "pod": pod}]
        assert result["received"] is None

    def test_following_another_pod_leaves_the_one_followed_before(self, mercury, venus):
        admin = factories.admin_user()

        result = follow_then_listen(admin, [mercury.id, venus.id], event_to=mercury.id)

        assert [answer["type"] for answer in result["answers"]] == [
            "following",
            "following",
        ]
        assert result["received"] is None

    def test_a_demoted_admin_is_refused_on_the_same_connection(self, mercury, venus):
        # An admin demoted while their page is open: the permission is read
        # afresh for each follow, not from the connection's start.
        admin = factories.admin_user()
        headers = session_headers(admin)

        async def scenario():
            socket = WebsocketCommunicator(
                application, "/ws/notifications/", headers=headers
            )
            await socket.connect()
            await socket.receive_json_from(timeout=5)
            await socket.send_json_to({"type": "follow", "pod": mercury.id})
            first = await socket.receive_json_from(timeout=5)
            await demote()
            await socket.send_json_to({"type": "follow", "pod": venus.id})
            second = await socket.receive_json_from(timeout=5)
            await socket.disconnect()
            return first, second

        @database_sync_to_async
        def demote():
            admin.groups.clear()

        first, second = async_to_sync(scenario)()

        assert first == {"type": "following", "pod": mercury.id}
        assert second == {"type": "follow.refused", "pod": venus.id}
