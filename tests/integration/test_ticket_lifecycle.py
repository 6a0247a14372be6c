"""SLA clocks and breaches, pending and solved tickets on the clock, merges, search."""

from datetime import UTC, datetime, time, timedelta

import pytest

import tickets.selectors
import tickets.services
from tests import factories
from tickets.models import (
    BusinessHours,
    BusinessHoursInterval,
    Message,
    SlaEvent,
    SlaPolicy,
    Ticket,
)

pytestmark = pytest.mark.django_db

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=2)


@pytest.fixture
def policy(db):
    return SlaPolicy.objects.create(
        name="Standard",
        first_response_minutes=60,
        next_response_minutes=120,
        resolution_minutes=24 * 60,
    )


def open_ticket(*, now, channel="EMAIL", address="ann@customer.example", **fields):
    return tickets.services.ticket_open(
        identities=[("EMAIL", address)],
        channel=channel,
        subject=fields.pop("subject", "Help"),
        now=now,
        **fields,
    ).ticket


def customer_writes(ticket: Ticket, *, now, text="more") -> Message:
    return tickets.services.inbound_message_add(
        ticket=ticket,
        incoming=tickets.services.Incoming(channel=ticket.channel, text=text),
        now=now,
    )


class TestSlaClocks:
    def test_start_at_open_from_the_policy(self, pod, policy):
        ticket = open_ticket(now=MONDAY_9)

        assert ticket.sla_policy_id == policy.id
        assert ticket.first_response_due == MONDAY_9 + timedelta(hours=1)
        assert ticket.resolution_due == MONDAY_9 + timedelta(days=1)
        assert ticket.sla_check_at == ticket.first_response_due

    def test_count_in_business_hours(self, pod, policy):
        hours = BusinessHours.objects.create(name="Office", timezone="Europe/London")
        for weekday in range(5):
            BusinessHoursInterval.objects.create(
                hours=hours, weekday=weekday, opens=time(9), closes=time(17)
            )
        policy.business_hours = hours
        policy.save()
        friday_16_30 = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)

        ticket = open_ticket(now=friday_16_30)

        # 30 minutes on Friday, the other 30 on Monday morning.
        assert ticket.first_response_due == datetime(2026, 11, 30, 9, 30, tzinfo=UTC)

    def test_the_most_specific_policy_wins(self, pod, policy):
        urgent = SlaPolicy.objects.create(
            name="Urgent email", priority="URGENT", first_response_minutes=15
        )

        ticket = open_ticket(now=MONDAY_9, priority="URGENT")

        assert ticket.sla_policy_id == urgent.id
        assert ticket.first_response_due == MONDAY_9 + timedelta(minutes=15)

    def test_a_customer_message_after_a_reply_starts_the_next_response_clock(
        self, pod, policy
    ):
        ticket = open_ticket(now=MONDAY_9)
        tickets.services.message_reply(
            ticket=ticket, agent_id=pod.lead_id, text="On it", now=MONDAY_9
        )
        later = MONDAY_9 + timedelta(hours=3)

        customer_writes(ticket, now=later)

        ticket.refresh_from_db()
        assert ticket.first_response_due is None
        assert ticket.next_response_due == later + timedelta(hours=2)

    def test_pending_pauses_the_resolution_clock(self, pod, policy):
        ticket = open_ticket(now=MONDAY_9)
        tickets.services.ticket_pending_set(ticket=ticket, now=MONDAY_9)

        customer_writes(ticket, now=MONDAY_9 + timedelta(hours=5))

        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.OPEN
        assert ticket.resolution_due == MONDAY_9 + timedelta(days=1, hours=5)


class TestSlaBreaches:
    def test_are_recorded_once_and_told_to_the_lead(self, pod, policy, settings):
        ticket = open_ticket(now=MONDAY_9)
        late = MONDAY_9 + timedelta(hours=2)

        first = tickets.services.sla_breaches_detect(now=late)
        again = tickets.services.sla_breaches_detect(now=late + timedelta(minutes=1))

        assert (first, again) == (1, 0)
        event = SlaEvent.objects.get()
        assert (event.ticket_id, event.metric) == (ticket.id, "FIRST_RESPONSE")
        ticket.refresh_from_db()
        assert ticket.sla_check_at == ticket.resolution_due

    def test_the_resolution_breach_follows_later(self, pod, policy):
        open_ticket(now=MONDAY_9)
        tickets.services.sla_breaches_detect(now=MONDAY_9 + timedelta(hours=2))

        tickets.services.sla_breaches_detect(now=MONDAY_9 + timedelta(days=2))

        assert sorted(SlaEvent.objects.values_list("metric", flat=True)) == [
            "FIRST_RESPONSE",
            "RESOLUTION",
        ]

    def test_a_reply_in_time_means_no_breach(self, pod, policy):
        ticket = open_ticket(now=MONDAY_9)
        tickets.services.message_reply(
            ticket=ticket,
            agent_id=pod.lead_id,
            text="Hi",
            now=MONDAY_9 + timedelta(minutes=30),
        )

        tickets.services.sla_breaches_detect(now=MONDAY_9 + timedelta(hours=2))

        assert not SlaEvent.objects.exists()


class TestLifecycleAdvance:
    def test_solves_long_pending_and_closes_long_solved(self, pod):
        waiting = open_ticket(now=MONDAY_9, address="a@x.example")
        tickets.services.ticket_pending_set(ticket=waiting, now=MONDAY_9)
        done = open_ticket(now=MONDAY_9, address="b@x.example")
        tickets.services.ticket_solve(ticket=done, now=MONDAY_9)
        fresh = open_ticket(now=MONDAY_9, address="c@x.example")

        solved, closed = tickets.services.tickets_lifecycle_advance(
            now=MONDAY_9 + timedelta(days=8), pending_days=7, solved_days=4
        )

        assert (solved, closed) == (1, 1)
        statuses = dict(Ticket.objects.values_list("id", "status"))
        assert statuses[waiting.id] == Ticket.Status.SOLVED
        assert statuses[done.id] == Ticket.Status.CLOSED
        assert statuses[fresh.id] in (Ticket.Status.NEW, Ticket.Status.OPEN)


class TestTicketMerge:
    def test_moves_messages_and_closes_the_source(self, pod, now):
        target = open_ticket(now=now)
        source = open_ticket(now=now, channel="SMS")
        customer_writes(source, now=now, text="from sms")

        tickets.services.ticket_merge(
            source=source, target=target, agent_id=pod.lead_id, now=now
        )

        source.refresh_from_db()
        assert source.status == Ticket.Status.CLOSED
        assert source.merged_into_id == target.id
        assert Message.objects.filter(ticket=target, text="from sms").exists()
        assert tickets.selectors.ticket_current(ticket_id=source.id).id == target.id

    def test_refuses_tickets_of_two_customers(self, pod, now):
        ann = open_ticket(now=now)
        bob = open_ticket(now=now, address="bob@customer.example")

        with pytest.raises(tickets.services.MergeRefused):
            tickets.services.ticket_merge(
                source=bob, target=ann, agent_id=None, now=now
            )

        bob.refresh_from_db()
        assert bob.merged_into_id is None
        assert bob.status != Ticket.Status.CLOSED


class TestSearch:
    def test_finds_words_in_subjects_and_messages(self, pod, now):
        boiler = open_ticket(now=now, subject="Boiler broken")
        meter = open_ticket(now=now, subject="Question", address="b@x.example")
        customer_writes(meter, now=now, text="my smart meter shows zero")
        open_ticket(now=now, subject="Other", address="c@x.example")

        assert list(tickets.selectors.tickets_search(query="boiler")) == [boiler]
        assert list(tickets.selectors.tickets_search(query="meter")) == [meter]
        assert not tickets.selectors.tickets_search(query="   ").exists()
