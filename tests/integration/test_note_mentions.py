"""@mentions in internal notes, against the real database and the channel
layer in use: who is recorded, told and invited, and what stays plain text."""

import asyncio
from datetime import date

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

import tickets.selectors
import tickets.services
from pods.models import Agent
from pods.outbound import user_group
from tests import factories
from tests.integration.test_reply_templates import ticket_in
from tickets.models import Message, NoteMention, TicketCollaborator

pytestmark = pytest.mark.django_db


class Inbox:
    """What the channel layer delivers to some groups: what the open pages of
    those users (or that pod) receive."""

    def __init__(self, *groups: str) -> None:
        self.layer = get_channel_layer()
        self.channel = async_to_sync(self.layer.new_channel)()
        for group in groups:
            async_to_sync(self.layer.group_add)(group, self.channel)

    def events(self, *, kind: str | None = None) -> list[dict]:
        async def drain() -> list[dict]:
            events = []
            while True:
                try:
                    events.append(
                        await asyncio.wait_for(self.layer.receive(self.channel), 0.3)
                    )
                except TimeoutError:
                    return events

        return [
            event
            for event in async_to_sync(drain)()
            if kind is None or event.get("kind") == kind
        ]


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.fixture
def author(pod):
    made = factories.agent(pod=pod, username="ana")
    made.user.first_name, made.user.last_name = "Ana", "Lee"
    made.user.save()
    return made


@pytest.fixture
def podmate(pod):
    return factories.agent(pod=pod, username="bo")


@pytest.fixture
def outsider(other_pod):
    return factories.agent(pod=other_pod, username="cy.kim")


@pytest.fixture
def ticket(pod, other_pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now)


def note(ticket, author, text, now, capture) -> Message:
    with capture(execute=True):
        return tickets.services.note_add(
            ticket=ticket, agent_id=author.id, text=text, now=now
        )


class TestNoteMentions:
    def test_records_and_tells_each_colleague_named(
        self,
        ticket,
        author,
        podmate,
        outsider,
        now,
        django_capture_on_commit_callbacks,
    ):
        inbox = Inbox(user_group(podmate.user_id), user_group(outsider.user_id))

        made = note(
            ticket,
            author,
            "@bo and @CY.KIM: can you check the meter?",
            now,
            django_capture_on_commit_callbacks,
        )

        assert list(
            NoteMention.objects.filter(message=made)
            .order_by("id")
            .values_list("agent_id", "handle")
        ) == [(podmate.id, "bo"), (outsider.id, "cy.kim")]
        told = inbox.events(kind="ticket.mentioned")
        assert len(told) == 2
        assert {event["ticket_id"] for event in told} == {ticket.id}
        assert {event["message_id"] for event in told} == {made.id}
        assert told[0]["text"] == f"Ana Lee mentioned you on #{ticket.id}: Moving home"

    def test_invites_a_colleague_of_another_pod_onto_this_ticket_only(
        self,
        pod,
        ticket,
        author,
        podmate,
        outsider,
        now,
        django_capture_on_commit_callbacks,
    ):
        elsewhere = ticket_in(pod, email="other@customer.example", now=now)

        note(ticket, author, "@cy.kim @bo", now, django_capture_on_commit_callbacks)

        invites = TicketCollaborator.objects.filter(left_at__isnull=True)
        assert list(invites.values_list("ticket_id", "agent_id", "invited_by_id")) == [
            (ticket.id, outsider.id, author.id)
        ]
        outsider.user.refresh_from_db()
        assert outsider.user.has_perm("tickets.view_ticket", ticket)
        assert not outsider.user.has_perm("tickets.view_ticket", elsewhere)

    def test_a_colleague_already_on_the_ticket_is_told_not_invited_again(
        self, ticket, author, outsider, now, django_capture_on_commit_callbacks
    ):
        tickets.services.collaborator_invite(
            ticket=ticket, agent_id=outsider.id, invited_by_id=author.id, now=now
        )
        inbox = Inbox(user_group(outsider.user_id))

        note(ticket, author, "@cy.kim again", now, django_capture_on_commit_callbacks)

        assert TicketCollaborator.objects.filter(agent=outsider).count() == 1
        assert len(inbox.events(kind="ticket.mentioned")) == 1

    def test_unknown_names_yourself_and_former_agents_stay_text(
        self, pod, ticket, author, now, django_capture_on_commit_callbacks
    ):
        gone = factories.agent(pod=pod, username="gone")
        Agent.objects.filter(id=gone.id).update(left_on=date(2026, 1, 1))
        locked = factories.agent(pod=pod, username="locked")
        locked.user.is_active = False
        locked.user.save()
        inbox = Inbox(
            user_group(author.user_id),
            user_group(gone.user_id),
            user_group(locked.user_id),
        )

        made = note(
            ticket,
            author,
            "@ana @nobody @gone @locked mail ana@example.com",
            now,
            django_capture_on_commit_callbacks,
        )

        assert made.text == "@ana @nobody @gone @locked mail ana@example.com"
        assert not NoteMention.objects.exists()
        assert not TicketCollaborator.objects.exists()
        assert inbox.events(kind="ticket.mentioned") == []

    def test_a_reply_mentions_nobody(
        self, ticket, author, podmate, now, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            tickets.services.message_reply(
                ticket=ticket, agent_id=author.id, text="Hi @bo", now=now
            )

        assert not NoteMention.objects.exists()

    def test_the_ticket_page_cuts_the_note_around_its_mentions(
        self, ticket, author, podmate, now, django_capture_on_commit_callbacks
    ):
        note(
            ticket,
            author,
            "ask @Bo, not @zed.",
            now,
            django_capture_on_commit_callbacks,
        )

        page = tickets.selectors.ticket_page(ticket_id=ticket.id)

        shown = next(m for m in page.thread if m.direction == Message.Direction.NOTE)
        assert [(part.text, part.mention) for part in shown.note_parts] == [
            ("ask ", False),
            ("@Bo", True),
            (", not @zed.", False),
        ]
        assert all(m.note_parts == () for m in page.thread if m is not shown)


class TestAgentsToMention:
    def test_by_prefix_of_username_or_name_own_pod_first_at_most_ten(
        self, pod, other_pod, author, podmate, outsider
    ):
        factories.agent(pod=other_pod, username="bob.far")
        for n in range(12):
            factories.agent(pod=other_pod, username=f"zz{n:02d}")

        def usernames(prefix):
            return [
                agent.username
                for agent in tickets.selectors.agents_to_mention(
                    prefix=prefix, pod_id=pod.id, excluding_user_id=author.user_id
                )
            ]

        assert usernames("bo") == ["bo", "bob.far"]
        assert usernames("CY") == ["cy.kim"]
        assert usernames("zz") == [f"zz{n:02d}" for n in range(10)]
        assert "ana" not in usernames("an")  # never yourself
        ours = set(
            Agent.objects.filter(pod=pod).values_list("user__username", flat=True)
        )
        in_pod = [username in ours for username in usernames("")]
        assert len(in_pod) == 10
        assert in_pod == [True] * (len(ours) - 1) + [False] * (11 - len(ours))
