"""The rollups agree with a direct recomputation from the raw rows: a seeded
random history of a few hundred tickets over about 100 days in two pods with
different time zones (one crossing a daylight-saving change), made through the
real services; every pod's period figures read from its period row equal the
figures recomputed from the tickets for the same local days, for every period.
"""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import tickets.selectors
import tickets.services
from pods.models import Agent, Pod
from tests import factories
from tickets.models import ContactReason, PodDayFigures, SatisfactionSurvey, Ticket
from tickets.rules import FIGURE_PERIODS

START = datetime(2026, 1, 20, 8, 0, tzinfo=UTC)  # New York changes clocks Mar 8
DAYS = 100
NOW = START + timedelta(days=DAYS, hours=3)
TICKETS = 260
CUSTOMERS = 90


class History:
    """Tickets opened, assigned, answered (sometimes from a template), solved,
    reopened, rated and merged at random but seeded moments."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.pods = [
            self._pod("London", "Europe/London"),
            self._pod("New York", "America/New_York"),
        ]
        self.agents = {
            pod.id: [
                factories.agent(pod=pod, presence=Agent.Presence.OFFLINE)
                for _ in range(3)
            ]
            for pod in self.pods
        }
        self.reasons = [
            ContactReason.objects.create(name=name)
            for name in ("Refund", "Moving home", "Meter reading")
        ]
        admin = factories.admin_user()
        self.templates = [
            tickets.services.reply_template_create(
                title=f"Template {number}",
                body="Thanks for getting in touch.",
                pod_id=None,
                language="en",
                user=admin,
                now=START - timedelta(days=1),
            )
            for number in range(2)
        ]

    def _pod(self, name: str, zone: str) -> Pod:
        pod = factories.pod(name=name)
        Pod.objects.filter(id=pod.id).update(time_zone=zone)
        return pod

    def moment(self, after: datetime, *, hours: float) -> datetime:
        return after + timedelta(seconds=self.random.uniform(30, hours * 3600))

    def make(self) -> None:
        for _ in range(TICKETS):
            self.one_ticket()

    def one_ticket(self) -> None:
        chance = self.random.random
        opened = START + timedelta(seconds=self.random.uniform(0, DAYS * 86400))
        customer = self.random.randrange(CUSTOMERS)
        result = tickets.services.ticket_open(
            identities=[("EMAIL", f"c{customer}@customer.example")],
            channel=self.random.choice(["EMAIL", "WEB", "SMS"]),
            subject="Help",
            now=opened,
        )
        if not result.created:
            return
        ticket = result.ticket
        if chance() < 0.8:
            ticket = tickets.services.ticket_fields_set(
                ticket=ticket,
                now=opened,
                contact_reason_id=self.random.choice(self.reasons).id,
            )
        if chance() < 0.1:
            self.merge(ticket, opened)
            return
        if chance() < 0.15:
            return  # waits in the queue
        agent = self.random.choice(self.agents[ticket.pod_id])
        tickets.services.ticket_assign(ticket=ticket, agent_id=agent.id, now=opened)
        moment = opened
        for _ in range(self.random.choice([0, 1, 1, 1, 2, 3])):
            moment = self.moment(moment, hours=30)
            self.reply(ticket, agent, moment)
        if chance() < 0.25:
            return
        moment = self.moment(moment, hours=50)
        self.solve(ticket, moment)
        if chance() < 0.2:
            moment = self.moment(moment, hours=40)
            tickets.services.ticket_reopen(ticket=ticket, agent_id=agent.id, now=moment)
            tickets.services.ticket_assign(
                ticket=Ticket.objects.get(id=ticket.id), agent_id=agent.id, now=moment
            )
            moment = self.moment(moment, hours=20)
            self.solve(ticket, moment)

    def reply(self, ticket: Ticket, agent: Agent, moment: datetime) -> None:
        ticket = Ticket.objects.get(id=ticket.id)
        if self.random.random() < 0.4:
            tickets.services.reply_from_template_send(
                ticket=ticket,
                agent_id=agent.id,
                template_id=self.random.choice(self.templates).id,
                text="Thanks for getting in touch.",
                now=moment,
            )
        else:
            tickets.services.message_reply(
                ticket=ticket, agent_id=agent.id, text="On it.", now=moment
            )

    def solve(self, ticket: Ticket, moment: datetime) -> None:
        tickets.services.ticket_solve(
            ticket=Ticket.objects.get(id=ticket.id), now=moment
        )
        if self.random.random() < 0.6:
            survey = SatisfactionSurvey.objects.get(
                ticket_id=ticket.id, solved_at=moment
            )
            tickets.services.satisfaction_survey_answer(
                token=survey.token,
                rating=self.random.randint(1, 5),
                comment="",
                now=self.moment(moment, hours=36),
            )

    def merge(self, ticket: Ticket, moment: datetime) -> None:
        target = (
            Ticket.objects.filter(
                customer_id=ticket.customer_id, merged_into__isnull=True
            )
            .exclude(id=ticket.id)
            .exclude(status=Ticket.Status.CLOSED)
            .first()
        )
        if target is not None:
            tickets.services.ticket_merge(
                source=ticket, target=target, agent_id=None, now=moment
            )


@pytest.fixture
def history(db) -> History:
    made = History(seed=2026)
    made.make()
    tickets.services.figures_rollups_refresh(days=DAYS + 10, now=NOW)
    return made


def without_as_of(figures):
    return replace(figures, as_of=None)


class TestRollupsAgreeWithRawRows:
    def test_every_period_of_every_pod(self, history, django_assert_num_queries):
        assert_every_kind_of_fact(history)
        for period_days in FIGURE_PERIODS:
            for pod in history.pods:
                with django_assert_num_queries(1):
                    rolled = tickets.selectors.pod_figures(
                        pod_id=pod.id, period_days=period_days
                    )
                raw = tickets.selectors.pod_figures_from_raw(
                    pod_id=pod.id,
                    start=rolled.first_day,
                    end=rolled.last_day + timedelta(days=1),
                )

                assert rolled.period_days == period_days
                assert rolled.as_of == NOW
                assert without_as_of(rolled) == raw
                if period_days == 90:
                    assert rolled.contacts > 50
                    assert rolled.csat.answered > 10
                    assert rolled.continuity.repeat_contacts > 10
                    assert rolled.reopened > 0
        with django_assert_num_queries(1):
            every = tickets.selectors.organisation_figures(period_days=30)
        assert [figures.pod_name for figures in every] == ["London", "New York"]

    def test_a_refresh_again_changes_nothing(self, history):
        rows = list(PodDayFigures.objects.order_by("pod", "day").values())
        before = tickets.selectors.organisation_figures(period_days=90)

        tickets.services.figures_rollups_refresh(days=DAYS + 10, now=NOW)

        assert list(PodDayFigures.objects.order_by("pod", "day").values()) == rows
        assert tickets.selectors.organisation_figures(period_days=90) == before


def assert_every_kind_of_fact(history: History) -> None:
    assert Ticket.objects.count() > 200
    assert Ticket.objects.filter(reopened_count__gt=0).exists()
    assert Ticket.objects.filter(merged_into__isnull=False).exists()
    assert SatisfactionSurvey.objects.filter(rating__isnull=False).count() > 50
    assert {pod.id for pod in history.pods} == set(
        Ticket.objects.values_list("pod_id", flat=True)
    )
