"""Each pod figure on a small fixed dataset, made through the real services,
against values computed by hand: from the rollups (day rows, then the period
row) and straight from the raw rows.

The pod keeps Seoul time (UTC+9): "May 7 05:00" below is Seoul time, May 6 in
UTC, and counts on May 7. Today is May 7; the 7-day period is May 1 to 7, the
one before it April 24 to 30.

    ticket customer created       reason  agent first reply     solved        survey
    T0     c1       Apr 28 10:00  Refund  A     Apr 28 10:30    Apr 28 11:00  -
    T8     c6       Apr 30 20:00  -       B     May 1 08:00     May 1 09:00   -
    T1     c1       May 5 09:00   Refund  A     09:20 template  May 5 10:00   5 May 5
    T2     c2       May 6 08:00   Refund  B     09:00, 09:30    May 6 12:00   3 May 7
    T7     c2       May 6 08:05   merged into T2 (not a contact)
    T3     c3       May 6 23:30   Moving  A     00:30 template  May 7 01:00,  -
                                                reopened 02:00, May 7 03:00   4 May 7
    T4     c1       May 7 05:00   Moving  B     -               -             -
    T5     c4       May 7 06:00   -       -     -               -             -
    T6p    c5       May 2 10:00   moved to the other pod, A
    T6     c5       May 7 07:00   Refund  A     -               -             -
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import pods.services
import tickets.selectors
import tickets.services
from pods.models import Agent, Pod
from tests import factories
from tickets.models import ContactReason, PodDayFigures, SatisfactionSurvey, Ticket

SEOUL = ZoneInfo("Asia/Seoul")
TODAY = date(2026, 5, 7)
NOW = datetime(2026, 5, 7, 15, 0, tzinfo=SEOUL)


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SEOUL)


class Floor:
    """The pod, its two agents, a template and the tickets of the table."""

    def __init__(self) -> None:
        self.pod = factories.pod(name="Seoul")
        Pod.objects.filter(id=self.pod.id).update(time_zone="Asia/Seoul")
        self.other = factories.pod(name="Busan")
        # New customers are routed to the least loaded pod open to them.
        pods.services.pods_accepting_set(pod_ids=[self.other.id], accepting=False)
        self.a = factories.agent(pod=self.pod, presence=Agent.Presence.OFFLINE)
        self.b = factories.agent(pod=self.pod, presence=Agent.Presence.OFFLINE)
        self.refund = ContactReason.objects.create(name="Refund")
        self.moving = ContactReason.objects.create(name="Moving home")
        self.template = tickets.services.reply_template_create(
            title="Refund on its way",
            body="Your refund is on its way.",
            pod_id=self.pod.id,
            language="en",
            user=factories.admin_user(),
            now=at(4, 1, 9),
        )
        self.tickets: dict[str, Ticket] = {}

    def open(
        self, name, customer, when, *, reason=None, agent=None, channel="EMAIL"
    ) -> Ticket:
        ticket = tickets.services.ticket_open(
            identities=[("EMAIL", f"{customer}@customer.example")],
            channel=channel,
            subject=name,
            now=when,
        ).ticket
        assert ticket.pod_id == self.pod.id
        if reason is not None:
            ticket = tickets.services.ticket_fields_set(
                ticket=ticket, now=when, contact_reason_id=reason.id
            )
        if agent is not None:
            ticket = tickets.services.ticket_assign(
                ticket=ticket, agent_id=agent.id, now=when
            )
        self.tickets[name] = ticket
        return ticket

    def reply(self, name, agent, when, *, template=False) -> None:
        ticket = Ticket.objects.get(id=self.tickets[name].id)
        if template:
            tickets.services.reply_from_template_send(
                ticket=ticket,
                agent_id=agent.id,
                template_id=self.template.id,
                text="Your refund is on its way.",
                now=when,
            )
        else:
            tickets.services.message_reply(
                ticket=ticket, agent_id=agent.id, text="Looking into it.", now=when
            )

    def solve(self, name, when) -> None:
        ticket = Ticket.objects.get(id=self.tickets[name].id)
        tickets.services.ticket_solve(ticket=ticket, now=when)

    def rate(self, name, rating, when) -> None:
        survey = (
            SatisfactionSurvey.objects.filter(ticket_id=self.tickets[name].id)
            .order_by("-solved_at")
            .first()
        )
        tickets.services.satisfaction_survey_answer(
            token=survey.token, rating=rating, comment="", now=when
        )


@pytest.fixture
def floor(db) -> Floor:
    floor = Floor()
    a, b = floor.a, floor.b
    floor.open("T0", "c1", at(4, 28, 10), reason=floor.refund, agent=a)
    floor.reply("T0", a, at(4, 28, 10, 30))
    floor.solve("T0", at(4, 28, 11))
    floor.open("T8", "c6", at(4, 30, 20), agent=b)
    floor.reply("T8", b, at(5, 1, 8))
    floor.solve("T8", at(5, 1, 9))
    floor.open("T6p", "c5", at(5, 2, 10), agent=a)
    floor.reply("T6p", a, at(5, 2, 10, 10))
    floor.solve("T6p", at(5, 2, 11))
    # c5's earlier case was handled by the other pod (the customer moved).
    Ticket.objects.filter(id=floor.tickets["T6p"].id).update(pod=floor.other)
    floor.open("T1", "c1", at(5, 5, 9), reason=floor.refund, agent=a)
    floor.reply("T1", a, at(5, 5, 9, 20), template=True)
    floor.solve("T1", at(5, 5, 10))
    floor.rate("T1", 5, at(5, 5, 12))
    floor.open("T2", "c2", at(5, 6, 8), reason=floor.refund, agent=b)
    floor.open("T7", "c2", at(5, 6, 8, 5), channel="WEB")
    tickets.services.ticket_merge(
        source=floor.tickets["T7"],
        target=floor.tickets["T2"],
        agent_id=b.id,
        now=at(5, 6, 8, 10),
    )
    floor.reply("T2", b, at(5, 6, 9))
    floor.reply("T2", b, at(5, 6, 9, 30))
    floor.solve("T2", at(5, 6, 12))
    floor.rate("T2", 3, at(5, 7, 10))
    floor.open("T3", "c3", at(5, 6, 23, 30), reason=floor.moving, agent=a)
    floor.reply("T3", a, at(5, 7, 0, 30), template=True)
    floor.solve("T3", at(5, 7, 1))
    tickets.services.ticket_reopen(
        ticket=floor.tickets["T3"], agent_id=a.id, now=at(5, 7, 2)
    )
    # A is offline, so the reopened ticket went to the queue: A takes it back.
    tickets.services.ticket_assign(
        ticket=Ticket.objects.get(id=floor.tickets["T3"].id),
        agent_id=a.id,
        now=at(5, 7, 2, 5),
    )
    floor.solve("T3", at(5, 7, 3))
    floor.rate("T3", 4, at(5, 7, 4))
    floor.open("T4", "c1", at(5, 7, 5), reason=floor.moving, agent=b)
    floor.open("T5", "c4", at(5, 7, 6))
    floor.open("T6", "c5", at(5, 7, 7), reason=floor.refund, agent=a)
    Pod.objects.filter(id=floor.pod.id).update(customer_count=6)
    return floor


def rolled_up(floor: Floor, *, period_days: int):
    tickets.services.figures_refresh(days=90, pod_ids=[floor.pod.id], now=NOW)
    tickets.services.figures_periods_refresh(now=NOW)
    return tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=period_days)


def assert_week(figures, floor: Floor) -> None:
    """The hand-computed figures of May 1 to 7."""
    assert (figures.first_day, figures.last_day) == (date(2026, 5, 1), TODAY)
    # Contacts: T1, T2, T3, T4, T5, T6 (T7 merged, T6p in the other pod).
    assert figures.contacts == 6
    assert figures.customers == 6
    assert figures.contacts_per_customer == Decimal("1.0000")
    assert figures.contacts_per_1000_customers == Decimal("1000.00")
    # First responses: T8 12 h, T1 20 min, T2 1 h, T3 1 h.
    assert figures.first_response.count == 4
    assert figures.first_response.median_seconds == pytest.approx(3600, rel=0.05)
    assert figures.first_response.p90_seconds == pytest.approx(43200, rel=0.05)
    # Solved: T8 13 h, T1 1 h, T2 4 h, T3 3.5 h (created to its last solve).
    assert figures.solved == 4
    assert figures.resolution.median_seconds == pytest.approx(12600, rel=0.05)
    assert figures.resolution.p90_seconds == pytest.approx(46800, rel=0.05)
    # One reply: T8, T1, T3 (T2 had two); reopened: T3.
    assert (figures.one_touch, figures.one_touch_rate) == (3, Decimal("0.750"))
    assert (figures.reopened, figures.reopen_rate) == (1, Decimal("0.250"))
    # Ratings 5 (T1), 3 (T2), 4 (T3).
    assert figures.csat.ratings == (0, 0, 1, 1, 1)
    assert figures.csat.answered == 3
    assert figures.csat.satisfied_rate == Decimal("0.667")
    assert figures.csat.mean == Decimal("4.00")
    # Repeat: T1 (after T0: same pod, A and A), T4 (after T1: same pod, B
    # after A), T6 (after T6p: other pod, A and A).
    continuity = figures.continuity
    assert continuity.repeat_contacts == 3
    assert (continuity.same_pod, continuity.same_pod_rate) == (2, Decimal("0.667"))
    assert continuity.both_assigned == 3
    assert (continuity.same_agent, continuity.same_agent_rate) == (
        2,
        Decimal("0.667"),
    )
    reasons = {reason.name: reason for reason in figures.reasons}
    assert [reason.name for reason in figures.reasons][:2] == ["Refund", "Moving home"]
    refund = reasons["Refund"]
    assert (refund.contacts, refund.previous_contacts) == (3, 1)
    assert (refund.trend, refund.change) == ("UP", Decimal("2.000"))
    assert refund.series == (0, 0, 0, 0, 1, 1, 1)
    moving = reasons["Moving home"]
    assert (moving.contacts, moving.previous_contacts, moving.trend) == (2, 0, "NEW")
    unexplained = reasons["No reason given"]
    assert unexplained.reason_id is None
    assert (unexplained.contacts, unexplained.previous_contacts) == (1, 1)
    assert unexplained.trend == "FLAT"
    (template,) = figures.templates
    assert (template.template_id, template.uses, template.rated) == (
        floor.template.id,
        2,
        2,
    )
    assert template.satisfied_rate == Decimal("1.000")
    assert template.mean_rating == Decimal("4.50")
    agents = {agent.agent_id: agent for agent in figures.agents}
    a, b = agents[floor.a.id], agents[floor.b.id]
    assert (a.handled, a.one_touch_rate, a.reopened) == (2, Decimal("1.000"), 1)
    assert a.first_response.count == 2
    assert a.first_response.median_seconds == pytest.approx(1200, rel=0.05)
    assert (a.csat.answered, a.csat.satisfied_rate) == (2, Decimal("1.000"))
    assert (b.handled, b.one_touch_rate, b.reopened) == (2, Decimal("0.500"), 0)
    assert b.first_response.count == 2
    assert (b.csat.answered, b.csat.satisfied_rate) == (1, Decimal("0.000"))
    assert figures.series.days[-1] == TODAY
    assert figures.series.contacts == (0, 0, 0, 0, 1, 2, 3)
    assert figures.series.solved == (1, 0, 0, 0, 1, 1, 1)


class TestHandComputedFigures:
    def test_the_week_from_the_rollups(self, floor):
        figures = rolled_up(floor, period_days=7)

        assert_week(figures, floor)
        assert figures.as_of == NOW
        assert figures.time_zone == "Asia/Seoul"

    def test_the_week_from_the_raw_rows(self, floor):
        figures = tickets.selectors.pod_figures_from_raw(
            pod_id=floor.pod.id, start=date(2026, 5, 1), end=TODAY + timedelta(days=1)
        )

        assert_week(figures, floor)
        assert figures.as_of is None

    def test_today(self, floor):
        figures = rolled_up(floor, period_days=1)

        assert figures.first_day == figures.last_day == TODAY
        # T4 at 05:00 Seoul is May 6 in UTC and counts today.
        assert figures.contacts == 3
        assert figures.first_response.count == 1
        assert figures.first_response.median_seconds == pytest.approx(3600, rel=0.05)
        assert figures.solved == 1
        assert figures.resolution.median_seconds == pytest.approx(12600, rel=0.05)
        assert (figures.one_touch_rate, figures.reopen_rate) == (
            Decimal("1.000"),
            Decimal("1.000"),
        )
        assert figures.csat.ratings == (0, 0, 1, 1, 0)
        reasons = {reason.name: reason for reason in figures.reasons}
        assert (
            reasons["Moving home"].previous_contacts,
            reasons["Moving home"].trend,
        ) == (
            1,
            "FLAT",
        )
        assert reasons["No reason given"].trend == "NEW"

    def test_an_agents_own_figures(self, floor):
        rolled_up(floor, period_days=7)

        mine = tickets.selectors.agent_figures(agent_id=floor.a.id, period_days=7)

        assert mine.handled == 2
        assert mine.first_response.count == 2
        assert mine.csat.ratings == (0, 0, 0, 1, 1)
        assert mine.handled_series == (0, 0, 0, 0, 1, 0, 1)
        assert mine.as_of == NOW


class TestRefresh:
    def test_running_twice_changes_nothing(self, floor):
        first = rolled_up(floor, period_days=30)
        rows = list(PodDayFigures.objects.order_by("pod", "day").values())

        second = rolled_up(floor, period_days=30)

        assert list(PodDayFigures.objects.order_by("pod", "day").values()) == rows
        assert second == first

    def test_a_late_reopen_is_picked_up_by_the_refresh_of_its_day(self, floor):
        rolled_up(floor, period_days=7)
        later = NOW + timedelta(minutes=5)
        tickets.services.ticket_reopen(
            ticket=floor.tickets["T1"], agent_id=floor.a.id, now=later
        )

        # The minute's refresh covers today and yesterday: May 5 keeps T1.
        tickets.services.figures_refresh(days=2, now=later)
        tickets.services.figures_periods_refresh(now=later)
        stale = tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=7)
        tickets.services.figures_refresh(days=90, now=later)
        tickets.services.figures_periods_refresh(now=later)
        fresh = tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=7)

        assert stale.solved == 4
        assert fresh.solved == 3
        assert fresh.series.solved == (1, 0, 0, 0, 0, 1, 1)
        assert fresh.as_of == later
        raw = tickets.selectors.pod_figures_from_raw(
            pod_id=floor.pod.id, start=date(2026, 5, 1), end=TODAY + timedelta(days=1)
        )
        assert fresh.resolution == raw.resolution
        assert fresh.one_touch == raw.one_touch == 2

    def test_the_minutes_run_computes_a_closed_day_once(self, floor):
        before_midnight = at(5, 6, 23, 59)
        tickets.services.figures_refresh(days=2, now=before_midnight)
        later = NOW + timedelta(minutes=1)

        # May 6 was computed before it ended: computed again, once.
        tickets.services.figures_refresh(days=2, now=NOW, closed_days_again=False)
        tickets.services.figures_refresh(days=2, now=later, closed_days_again=False)

        computed = dict(
            PodDayFigures.objects.filter(pod=floor.pod).values_list(
                "day", "computed_at"
            )
        )
        assert computed[date(2026, 5, 6)] == NOW
        assert computed[TODAY] == later


class TestLiveFigures:
    def test_queue_and_agents_now(self, floor):
        live = tickets.selectors.pod_live_figures(pod_id=floor.pod.id, now=NOW)

        # Open: T4 (B), T5 (nobody), T6 (A); none pending.
        assert (live.unassigned, live.open, live.pending) == (1, 3, 0)
        assert live.oldest_waiting_since == at(5, 7, 6)
        # Solved today in Seoul: T3 by A.
        assert live.handled_today == 1
        agents = {agent.agent_id: agent for agent in live.agents}
        assert agents[floor.a.id].handled_today == 1
        assert agents[floor.a.id].open_tickets == 1
        assert agents[floor.b.id].open_tickets == 1
        assert agents[floor.b.id].handled_today == 0
