"""The workspace's queues, taking tickets, and colleagues invited onto one."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model

import tickets.selectors
import tickets.services
from pods.models import Agent
from tests import factories
from tests.conftest import require_postgres
from tickets.models import SlaPolicy, Ticket
from tickets.selectors import QueueCursor, QueueFilters, QueueView

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def pod(db):
    made = factories.staffed_pod(size=3)
    # Nobody online: new tickets wait unassigned in the pod queue.
    Agent.objects.filter(pod=made).update(presence="OFFLINE")
    return made


@pytest.fixture
def agent(pod):
    return Agent.objects.filter(pod=pod, role="AGENT").order_by("id").first()


def open_ticket(n: int, *, now=NOON, **fields) -> Ticket:
    return tickets.services.ticket_open(
        identities=[("EMAIL", f"q{n}@customer.example")],
        channel=fields.pop("channel", "EMAIL"),
        subject=f"Ticket {n}",
        now=now,
        **fields,
    ).ticket


def page(pod, view=QueueView.OPEN, agent=None, **options):
    return tickets.selectors.queue_page(
        pod_id=pod.id,
        view=view,
        agent_id=agent.id if agent else None,
        now=NOON,
        **options,
    )


@pytest.mark.django_db
class TestQueuePage:
    def test_sorts_by_sla_due_with_undated_tickets_last(self, pod):
        SlaPolicy.objects.create(
            name="Email", channel="EMAIL", first_response_minutes=60
        )
        late = open_ticket(1, now=NOON - timedelta(hours=2))
        soon = open_ticket(2, now=NOON)
        undated = open_ticket(3, channel="SMS")

        rows = page(pod).tickets

        assert [ticket.id for ticket in rows] == [late.id, soon.id, undated.id]

    def test_keyset_pages_cover_every_ticket_once(self, pod):
        SlaPolicy.objects.create(name="All", first_response_minutes=60)
        made = {
            open_ticket(n, now=NOON + timedelta(minutes=n % 4)).id for n in range(11)
        }
        made |= {open_ticket(100 + n, channel="SMS").id for n in range(2)}
        SlaPolicy.objects.all().delete()
        Ticket.objects.filter(channel="SMS").update(sla_due_at=None)

        seen, cursor = [], None
        while True:
            result = page(pod, after=cursor, limit=4)
            seen += [ticket.id for ticket in result.tickets]
            cursor = result.next_cursor
            if cursor is None:
                break

        assert sorted(seen) == sorted(made)
        assert len(seen) == len(set(seen))

    def test_views_and_counts_agree(self, pod, agent):
        SlaPolicy.objects.create(name="All", first_response_minutes=10)
        mine = open_ticket(1, now=NOON - timedelta(days=1))
        tickets.services.ticket_take(ticket_id=mine.id, agent_id=agent.id, now=NOON)
        waiting = open_ticket(2)
        tickets.services.ticket_take(ticket_id=waiting.id, agent_id=agent.id, now=NOON)
        tickets.services.ticket_pending_set(ticket=waiting, now=NOON)
        fresh = open_ticket(3, now=NOON + timedelta(hours=5))

        counts = tickets.selectors.queue_counts(
            pod_id=pod.id, agent_id=agent.id, now=NOON
        )

        views = {
            view: {t.id for t in page(pod, view, agent).tickets} for view in QueueView
        }
        assert views[QueueView.UNASSIGNED] == {fresh.id}
        assert views[QueueView.MINE] == {mine.id, waiting.id}
        assert views[QueueView.PENDING] == {waiting.id}
        assert views[QueueView.BREACHING] == {mine.id}
        assert views[QueueView.OPEN] == {mine.id, fresh.id}
        assert counts == {view: len(ids) for view, ids in views.items()}

    def test_filters_narrow_the_view(self, pod):
        sms = open_ticket(1, channel="SMS")
        urgent = open_ticket(2, priority="URGENT")
        tickets.services.ticket_fields_set(ticket=urgent, tags=["Boiler"], now=NOON)

        by_channel = page(pod, filters=QueueFilters(channel="SMS")).tickets
        by_priority = page(pod, filters=QueueFilters(priority="URGENT")).tickets
        by_tag = page(pod, filters=QueueFilters(tag="boiler")).tickets

        assert [t.id for t in by_channel] == [sms.id]
        assert [t.id for t in by_priority] == [urgent.id]
        assert [t.id for t in by_tag] == [urgent.id]

    def test_runs_two_queries_whatever_the_size(self, pod, django_assert_num_queries):
        for n in range(30):
            ticket = open_ticket(n)
            tickets.services.ticket_fields_set(ticket=ticket, tags=["a", "b"], now=NOON)

        with django_assert_num_queries(2):
            rows = page(pod).tickets
            for ticket in rows:
                assert ticket.customer.pod_id == pod.id
                assert len(ticket.tags.all()) == 2

    def test_a_garbled_cursor_is_no_cursor(self):
        assert QueueCursor.decode("yesterday|x") is None
        cursor = QueueCursor(due=NOON, id=7)
        assert QueueCursor.decode(cursor.encode()) == cursor


@pytest.mark.django_db
class TestTicketTake:
    def test_takes_an_unassigned_ticket(self, pod, agent):
        ticket = open_ticket(1)

        taken = tickets.services.ticket_take(
            ticket_id=ticket.id, agent_id=agent.id, now=NOON
        )

        assert (taken.assignee_id, taken.status) == (agent.id, "OPEN")
        agent.refresh_from_db()
        assert agent.open_ticket_count == 1

    def test_refuses_a_ticket_someone_has(self, pod, agent):
        ticket = open_ticket(1)
        other = Agent.objects.filter(pod=pod).exclude(id=agent.id).first()
        tickets.services.ticket_take(ticket_id=ticket.id, agent_id=other.id, now=NOON)

        with pytest.raises(tickets.services.TakeRefused, match="already has"):
            tickets.services.ticket_take(
                ticket_id=ticket.id, agent_id=agent.id, now=NOON
            )

        assert Ticket.objects.get(id=ticket.id).assignee_id == other.id
        agent.refresh_from_db()
        assert agent.open_ticket_count == 0


@pytest.mark.django_db
class TestTicketTakeAcrossPods:
    def test_an_agent_of_another_pod_cannot_take(self, pod):
        ticket = open_ticket(1)
        outsider = factories.agent(pod=factories.pod())

        with pytest.raises(tickets.services.TakeRefused, match="pod"):
            tickets.services.ticket_take(
                ticket_id=ticket.id, agent_id=outsider.id, now=NOON
            )

        assert Ticket.objects.get(id=ticket.id).assignee_id is None


@pytest.mark.django_db(transaction=True)
class TestTicketTakeRace:
    def test_two_agents_taking_at_once_one_wins(self, pod, run_concurrently):
        require_postgres()
        ticket = open_ticket(1)
        agents = list(Agent.objects.filter(pod=pod).order_by("id")[:2])

        results = run_concurrently(
            lambda index: tickets.services.ticket_take(
                ticket_id=ticket.id, agent_id=agents[index].id, now=NOON
            ),
            count=2,
        )

        winners = [r for r in results if isinstance(r, Ticket)]
        losers = [r for r in results if isinstance(r, tickets.services.TakeRefused)]
        assert (len(winners), len(losers)) == (1, 1)
        assert sum(a.open_ticket_count for a in Agent.objects.filter(pod=pod)) == 1


@pytest.mark.django_db
class TestTicketAssign:
    def test_hands_over_within_the_pod_and_moves_the_load(self, pod, agent):
        ticket = open_ticket(1)
        tickets.services.ticket_take(ticket_id=ticket.id, agent_id=agent.id, now=NOON)
        colleague = Agent.objects.filter(pod=pod).exclude(id=agent.id).first()

        tickets.services.ticket_assign(ticket=ticket, agent_id=colleague.id, now=NOON)

        agent.refresh_from_db()
        colleague.refresh_from_db()
        assert Ticket.objects.get(id=ticket.id).assignee_id == colleague.id
        assert (agent.open_ticket_count, colleague.open_ticket_count) == (0, 1)

    def test_refuses_an_agent_of_another_pod(self, pod):
        ticket = open_ticket(1)
        outsider = factories.agent(pod=factories.pod())

        with pytest.raises(tickets.services.TakeRefused):
            tickets.services.ticket_assign(
                ticket=ticket, agent_id=outsider.id, now=NOON
            )

        assert Ticket.objects.get(id=ticket.id).assignee_id is None


def fresh(user):
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.django_db
class TestInvitedColleague:
    def test_sees_and_writes_on_that_ticket_only_until_they_leave(self, pod, agent):
        ticket = open_ticket(1)
        other_ticket = open_ticket(2)
        specialist = factories.agent(pod=factories.pod(), role="SPECIALIST")
        assert not fresh(specialist.user).has_perm("tickets.view_ticket", ticket)

        tickets.services.collaborator_invite(
            ticket=ticket, agent_id=specialist.id, invited_by_id=agent.id, now=NOON
        )

        invited = fresh(specialist.user)
        assert invited.has_perm("tickets.view_ticket", ticket)
        assert invited.has_perm("tickets.change_ticket", ticket)
        assert not invited.has_perm("tickets.view_ticket", other_ticket)
        assert not invited.has_perm("tickets.delete_ticket", ticket)

        tickets.services.collaborator_leave(
            ticket=ticket, agent_id=specialist.id, now=NOON
        )

        assert not fresh(specialist.user).has_perm("tickets.view_ticket", ticket)

    def test_cannot_be_invited_twice(self, pod, agent):
        ticket = open_ticket(1)
        colleague = factories.agent(pod=factories.pod())
        tickets.services.collaborator_invite(
            ticket=ticket, agent_id=colleague.id, invited_by_id=agent.id, now=NOON
        )

        with pytest.raises(tickets.services.InviteRefused):
            tickets.services.collaborator_invite(
                ticket=ticket, agent_id=colleague.id, invited_by_id=agent.id, now=NOON
            )


@pytest.mark.django_db
class TestRepliesSince:
    def test_finds_a_colleagues_reply_after_the_page_opened(self, pod, agent):
        ticket = open_ticket(1)
        seen = tickets.services.note_add(
            ticket=ticket, agent_id=agent.id, text="looking", now=NOON
        )
        colleague = Agent.objects.filter(pod=pod).exclude(id=agent.id).first()
        tickets.services.message_reply(
            ticket=ticket, agent_id=colleague.id, text="Sorted!", now=NOON
        )

        newer = tickets.selectors.replies_since(
            ticket_id=ticket.id, after_message_id=seen.id, excluding_agent_id=agent.id
        )

        assert [m.author_agent_id for m in newer] == [colleague.id]
