"""Live chat services: sessions, visitors' messages through envelopes, stored
once; replies pushed live, or by email when nobody could answer."""

import asyncio
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core import mail

import pods.selectors
import pods.services
import tickets.selectors
import tickets.services
from pods.models import Agent, PossibleDuplicate
from pods.outbound import pod_group
from tests import factories
from tests.conftest import require_postgres
from tickets import outbound, rules
from tickets.models import ChatSession, InboundEnvelope, Message, Ticket

pytestmark = pytest.mark.django_db

State = InboundEnvelope.State


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def unstaffed_pod(db):
    """A pod whose only agent is offline: nobody can answer live."""
    made = factories.pod(name="Venus")
    factories.agent(pod=made, presence=Agent.Presence.OFFLINE)
    return made


def start(now, *, name="Ann", email="") -> ChatSession:
    return tickets.services.chat_session_start(
        visitor_name=name, visitor_email=email, origin="https://shop.example", now=now
    ).session


def say(session, text, now, *, client_id=None) -> tickets.services.ChatReceived:
    return tickets.services.chat_message_receive(
        public_id=str(session.public_id),
        client_id=client_id or uuid.uuid4().hex,
        text=text,
        now=now,
    )


def listen(group: str) -> str:
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group, channel)
    return channel


def heard(channel: str) -> dict:
    async def receive():
        return await asyncio.wait_for(get_channel_layer().receive(channel), 5)

    return async_to_sync(receive)()


class TestChatSessionStart:
    def test_starts_an_active_chat_when_an_agent_is_online(self, pod, now):
        started = tickets.services.chat_session_start(
            visitor_name="  Ann  ",
            visitor_email="",
            origin="https://shop.example",
            now=now,
        )

        session = ChatSession.objects.get()
        assert started.session == session
        assert (session.visitor_name, session.state, session.ticket_id) == (
            "Ann",
            ChatSession.State.ACTIVE,
            None,
        )
        assert started.status.agents_online
        assert not started.status.email_needed

    def test_asks_for_an_email_when_nobody_is_online(self, unstaffed_pod, now):
        started = tickets.services.chat_session_start(
            visitor_name="", visitor_email="", origin="", now=now
        )

        assert started.status.state == ChatSession.State.ACTIVE
        assert not started.status.agents_online
        assert started.status.email_needed

    def test_with_an_email_and_nobody_online_continues_by_email(
        self, unstaffed_pod, now
    ):
        started = tickets.services.chat_session_start(
            visitor_name="", visitor_email=" Ann@Customer.Example ", origin="", now=now
        )

        session = ChatSession.objects.get()
        assert session.state == ChatSession.State.EMAILED
        assert session.visitor_email == "ann@customer.example"
        assert started.status.state == ChatSession.State.EMAILED
        assert not started.status.email_needed

    def test_refuses_an_address_that_is_not_one_and_stores_nothing(self, pod, now):
        with pytest.raises(tickets.services.ChatRefused) as refused:
            tickets.services.chat_session_start(
                visitor_name="", visitor_email="ann@", origin="", now=now
            )

        assert refused.value.code == "invalid_email"
        assert not ChatSession.objects.exists()


class TestChatMessageReceive:
    def test_first_message_opens_a_chat_ticket_through_an_envelope(self, pod, now):
        session = start(now, name="Ann")

        received = say(session, "  My meter is broken\nsince Monday ", now)

        envelope = InboundEnvelope.objects.get()
        assert (envelope.channel, envelope.source, envelope.state) == (
            "CHAT",
            InboundEnvelope.Source.CHAT,
            State.PROCESSED,
        )
        message = received.message
        assert envelope.message_id == message.id
        assert (message.direction, message.channel, message.text) == (
            Message.Direction.INBOUND,
            "CHAT",
            "My meter is broken\nsince Monday",
        )
        assert message.author_name == "Ann"
        ticket = message.ticket
        assert (ticket.pod_id, ticket.channel, ticket.subject) == (
            pod.id,
            "CHAT",
            "My meter is broken",
        )
        assert ticket.assignee_id is not None  # an agent was online to take it
        session.refresh_from_db()
        assert (session.ticket_id, session.customer_id) == (
            ticket.id,
            ticket.customer_id,
        )
        assert ("CHAT", str(session.public_id)) in pods.selectors.customer_identities(
            customer_id=ticket.customer_id
        )
        assert not received.duplicate
        assert received.status.agents_online

    def test_later_messages_join_the_sessions_ticket(self, pod, now):
        session = start(now)
        first = say(session, "Hello", now).message

        second = say(session, "Are you there?", now).message

        assert second.ticket_id == first.ticket_id
        assert Ticket.objects.count() == 1

    def test_a_resend_after_a_reconnect_is_stored_once(self, pod, now):
        session = start(now)
        first = say(session, "Hello", now, client_id="c-1")

        again = say(session, "Hello", now, client_id="c-1")

        assert again.duplicate
        assert again.message.id == first.message.id
        assert Message.objects.count() == 1
        assert InboundEnvelope.objects.count() == 1

    @pytest.mark.parametrize(
        ("text", "code"),
        [("   ", "empty"), ("x" * (rules.MAX_CHAT_TEXT + 1), "too_long")],
    )
    def test_refuses_empty_and_too_long_text_storing_nothing(
        self, pod, now, text, code
    ):
        session = start(now)

        with pytest.raises(tickets.services.ChatRefused) as refused:
            say(session, text, now)

        assert refused.value.code == code
        assert not InboundEnvelope.objects.exists()
        assert not Message.objects.exists()
        assert not Ticket.objects.exists()

    def test_refuses_an_unknown_session_storing_nothing(self, pod, now):
        with pytest.raises(tickets.services.ChatSessionUnknown):
            tickets.services.chat_message_receive(
                public_id=str(uuid.uuid4()), client_id="c1", text="hi", now=now
            )

        assert not InboundEnvelope.objects.exists()

    def test_a_stranger_typing_a_customers_email_never_joins_their_chat(self, pod, now):
        customer_session = start(now, email="ann@customer.example")
        private = say(customer_session, "My account number is 12345", now).message
        stranger = start(now, email="ann@customer.example")

        opened = say(stranger, "Hi, what is my account number?", now).message

        assert opened.ticket_id != private.ticket_id
        stranger.refresh_from_db()
        history = tickets.selectors.chat_history(session=stranger, after=0)
        assert [message.id for message in history] == [opened.id]

    def test_a_message_when_nobody_is_online_leaves_the_chat_for_email(self, pod, now):
        session = start(now, email="ann@customer.example")
        assert session.state == ChatSession.State.ACTIVE
        for agent in Agent.objects.filter(pod=pod):
            pods.services.agent_presence_set(
                agent=agent, presence=Agent.Presence.OFFLINE, now=now
            )

        received = say(session, "Anyone?", now)

        assert received.status.state == ChatSession.State.EMAILED
        assert not received.status.agents_online
        session.refresh_from_db()
        assert session.state == ChatSession.State.EMAILED

    def test_a_message_after_the_ticket_closed_opens_a_follow_up(self, pod, now):
        session = start(now)
        first = say(session, "Hello", now).message
        Ticket.objects.filter(id=first.ticket_id).update(status=Ticket.Status.CLOSED)

        later = say(session, "Me again", now).message

        assert later.ticket_id != first.ticket_id
        assert later.ticket.follow_up_of_id == first.ticket_id

    def test_refuses_a_message_in_an_ended_chat_storing_nothing(self, pod, now):
        session = start(now)
        ChatSession.objects.filter(id=session.id).update(state=ChatSession.State.ENDED)

        with pytest.raises(tickets.services.ChatRefused) as refused:
            say(session, "Hello?", now)

        assert refused.value.code == "ended"
        assert not InboundEnvelope.objects.exists()
        assert not Message.objects.exists()

    def test_a_failure_is_kept_on_the_envelope_and_a_resend_retries_it(
        self, pod, now, monkeypatch
    ):
        session = start(now)

        def no_pod(**kwargs):
            raise pods.services.NoPodAvailable("no pod is open to new customers")

        monkeypatch.setattr(pods.services, "contact_route", no_pod)
        with pytest.raises(tickets.services.ChatRefused) as refused:
            say(session, "Hello?", now, client_id="c1")
        monkeypatch.undo()
        envelope = InboundEnvelope.objects.get()
        assert refused.value.code == "not_stored"
        assert "no pod" not in str(refused.value)  # the reason is for staff
        assert (envelope.state, envelope.error) == (
            State.FAILED,
            "IntakeRefused: no pod is open to new customers",
        )

        resent = say(session, "Hello?", now, client_id="c1")

        envelope.refresh_from_db()
        assert envelope.state == State.PROCESSED
        assert envelope.message_id == resent.message.id
        assert Message.objects.count() == 1


@pytest.mark.django_db(transaction=True)
class TestChatMessageRace:
    def test_two_first_messages_racing_open_one_ticket(self, run_concurrently, now):
        require_postgres()  # SQLite runs one writer at a time: there is no race
        factories.staffed_pod(size=3)
        session = start(now)

        results = run_concurrently(
            lambda index: say(session, f"message {index}", now), count=4
        )

        assert not [result for result in results if isinstance(result, Exception)]
        assert Ticket.objects.count() == 1
        assert Message.objects.count() == 4


class TestChatHistory:
    def test_gives_the_messages_after_an_id_without_notes(self, pod, now):
        session = start(now)
        first = say(session, "one", now).message
        ticket = first.ticket
        tickets.services.note_add(
            ticket=ticket, agent_id=pod.lead_id, text="internal", now=now
        )
        reply = tickets.services.message_reply(
            ticket=ticket, agent_id=pod.lead_id, text="two", now=now
        )
        session.refresh_from_db()

        history = tickets.selectors.chat_history(session=session, after=first.id)

        assert [message.id for message in history] == [reply.id]

    def test_is_one_query_with_the_authors(self, pod, now, django_assert_num_queries):
        session = start(now)
        ticket = say(session, "one", now).message.ticket
        for text in ("two", "three"):
            tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text=text, now=now
            )
        session.refresh_from_db()

        with django_assert_num_queries(1):
            names = [
                message.author_agent.user.first_name
                for message in tickets.selectors.chat_history(session=session, after=0)
                if message.author_agent
            ]

        assert len(names) == 2


class TestChatReply:
    def test_reaches_the_sessions_widgets_and_is_sent(
        self, pod, now, django_capture_on_commit_callbacks
    ):
        session = start(now)
        ticket = say(session, "Hello", now).message.ticket
        widget = listen(rules.chat_session_group(str(session.public_id)))

        with django_capture_on_commit_callbacks(execute=True):
            reply = tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="Hi Ann", now=now
            )

        event = heard(widget)
        assert event == {
            "type": "chat.message",
            "from": "agent",
            "id": reply.id,
            "text": "Hi Ann",
            "author": pod.lead.user.first_name,
            "at": reply.created_at.isoformat(),
        }
        reply.refresh_from_db()
        assert (reply.channel, reply.delivery) == ("CHAT", Message.Delivery.SENT)

    def test_stays_queued_when_the_layer_is_away_and_the_sweep_sends_it(
        self, pod, now, monkeypatch, django_capture_on_commit_callbacks
    ):
        session = start(now)
        ticket = say(session, "Hello", now).message.ticket

        class Away:
            async def group_send(self, group, event):
                raise ConnectionError("redis is down")

        monkeypatch.setattr(outbound, "get_channel_layer", Away)
        with django_capture_on_commit_callbacks(execute=True):
            reply = tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="Hi", now=now
            )
        reply.refresh_from_db()
        assert reply.delivery == Message.Delivery.QUEUED

        monkeypatch.undo()
        with django_capture_on_commit_callbacks(execute=True):
            outbound.deliveries_requeue(queued_before=now.replace(year=now.year + 1))

        reply.refresh_from_db()
        assert reply.delivery == Message.Delivery.SENT

    def test_a_reply_queued_as_a_task_is_pushed_by_the_task(self, pod, now):
        session = start(now)
        ticket = say(session, "Hello", now).message.ticket
        queued = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.OUTBOUND,
            channel=Ticket.Channel.CHAT,
            author_agent_id=pod.lead_id,
            text="From before the push",
            delivery=Message.Delivery.QUEUED,
            created_at=now,
        )
        widget = listen(rules.chat_session_group(str(session.public_id)))

        outcome = outbound.deliver_reply.apply(kwargs={"message_id": queued.id}).get()

        assert outcome == "sent"
        assert heard(widget)["id"] == queued.id
        queued.refresh_from_db()
        assert queued.delivery == Message.Delivery.SENT


class TestChatEmailProvide:
    def test_an_address_left_when_nobody_is_online_turns_the_chat_to_email(
        self, unstaffed_pod, now, django_capture_on_commit_callbacks
    ):
        session = start(now)
        ticket = say(session, "Is anyone there?", now).message.ticket

        status = tickets.services.chat_email_provide(
            public_id=str(session.public_id), email="Ann@Customer.Example", now=now
        )

        assert status.state == ChatSession.State.EMAILED
        assert not status.email_needed
        assert ("EMAIL", "ann@customer.example") in pods.selectors.customer_identities(
            customer_id=ticket.customer_id
        )
        agent = Agent.objects.get(pod=unstaffed_pod)
        with django_capture_on_commit_callbacks(execute=True):
            reply = tickets.services.message_reply(
                ticket=ticket, agent_id=agent.id, text="Sorry for the wait", now=now
            )
        assert reply.channel == Ticket.Channel.EMAIL
        assert mail.outbox[0].recipients() == ["ann@customer.example"]
        assert f"[#{ticket.id}]" in mail.outbox[0].subject
        ticket.refresh_from_db()
        assert ticket.channel == Ticket.Channel.CHAT

    def test_refuses_an_address_that_is_not_one_and_changes_nothing(
        self, unstaffed_pod, now
    ):
        session = start(now)

        with pytest.raises(tickets.services.ChatRefused) as refused:
            tickets.services.chat_email_provide(
                public_id=str(session.public_id), email="not an email", now=now
            )

        assert refused.value.code == "invalid_email"
        session.refresh_from_db()
        assert (session.visitor_email, session.state) == ("", ChatSession.State.ACTIVE)

    def test_refuses_a_second_address(self, unstaffed_pod, now):
        session = start(now, email="ann@customer.example")

        with pytest.raises(tickets.services.ChatRefused) as refused:
            tickets.services.chat_email_provide(
                public_id=str(session.public_id), email="bob@customer.example", now=now
            )

        assert refused.value.code == "email_known"
        session.refresh_from_db()
        assert session.visitor_email == "ann@customer.example"

    def test_another_customers_address_is_a_possible_duplicate_and_replies_stay_live(
        self, unstaffed_pod, now, django_capture_on_commit_callbacks
    ):
        known = start(now, email="ann@customer.example")
        say(known, "First chat", now)
        session = start(now)
        ticket = say(session, "Second chat", now).message.ticket

        tickets.services.chat_email_provide(
            public_id=str(session.public_id), email="ann@customer.example", now=now
        )

        assert PossibleDuplicate.objects.count() == 1
        agent = Agent.objects.get(pod=unstaffed_pod)
        with django_capture_on_commit_callbacks(execute=True):
            reply = tickets.services.message_reply(
                ticket=ticket, agent_id=agent.id, text="Hello", now=now
            )
        assert reply.channel == Ticket.Channel.CHAT
        assert not mail.outbox


class TestChatTypingAnnounce:
    def test_tells_the_pod_which_ticket_the_visitor_is_typing_on(
        self, pod, now, django_capture_on_commit_callbacks
    ):
        session = start(now)
        ticket = say(session, "Hello", now).message.ticket
        agents = listen(pod_group(pod.id))

        with django_capture_on_commit_callbacks(execute=True):
            told = tickets.services.chat_typing_announce(
                public_id=str(session.public_id)
            )

        assert told
        assert heard(agents) == {
            "type": "notify",
            "kind": "chat.typing",
            "ticket_id": ticket.id,
            "text": "",
        }

    def test_says_nothing_before_the_first_message(self, pod, now):
        session = start(now)

        assert not tickets.services.chat_typing_announce(
            public_id=str(session.public_id)
        )
