"""The demo's history: a small pod with one contact per customer (as seed_demo
makes them) gets weeks of solved work from the same customers, whose rollups
fill every figure of the pod dashboard; once, and the same every time."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, F

import tickets.selectors
import tickets.services
from pods.models import Agent, Customer
from tests import factories
from tickets.models import (
    Message,
    ReplyTemplate,
    SatisfactionSurvey,
    TemplateUse,
    Ticket,
)

CUSTOMERS = 30
DAYS = 45
CHANNELS = ["EMAIL", "CHAT", "PHONE", "SMS", "WEB"]


@pytest.fixture
def floor(now):
    """A pod of a lead and five agents, the demo templates, and one contact of
    each customer in the last days, assigned by routing."""
    pod = factories.staffed_pod(size=6)
    tickets.services.demo_templates_seed(now=now - timedelta(days=DAYS + 1))
    for number in range(CUSTOMERS):
        tickets.services.demo_contact_seed(
            email=f"customer{number}@example.com",
            name=f"Customer{number} Smith",
            channel=CHANNELS[number % len(CHANNELS)],
            subject="Question",
            text="Hello, could you help?",
            now=now - timedelta(hours=5 + number * 7),
        )
    return pod


def history_ticket_ids(pod_id: int) -> list[int]:
    return list(
        Message.objects.filter(
            ticket__pod_id=pod_id, external_id__endswith="@demo-history.example>"
        ).values_list("ticket_id", flat=True)
    )


def fingerprint(pod_id: int) -> list[tuple]:
    """What the history is, without its ids and tokens."""
    ids = history_ticket_ids(pod_id)
    messages = Counter(
        Message.objects.filter(ticket_id__in=ids).values_list("ticket_id", flat=True)
    )
    ratings = dict(
        SatisfactionSurvey.objects.filter(ticket_id__in=ids).values_list(
            "ticket_id", "rating"
        )
    )
    rows = Ticket.objects.filter(id__in=ids).values_list(
        "id",
        "customer_id",
        "assignee_id",
        "channel",
        "status",
        "contact_reason_id",
        "created_at",
        "first_response_at",
        "solved_at",
        "reopened_count",
    )
    return sorted(
        ((*row[1:], messages[row[0]], ratings[row[0]]) for row in rows),
        key=lambda made: (made[0], made[5]),  # customer, created at
    )


@pytest.mark.django_db
class TestDemoHistorySeed:
    def test_fills_every_figure_of_the_pod_dashboard(self, floor, now):
        made = tickets.services.demo_history_seed(
            now=now, days=DAYS, pod_ids=[floor.id]
        )
        tickets.services.figures_rollups_refresh(days=DAYS, now=now, pod_ids=[floor.id])

        figures = tickets.selectors.pod_figures(pod_id=floor.id, period_days=30)
        assert made > CUSTOMERS
        assert figures.contacts > CUSTOMERS / 2
        assert figures.first_response.median_seconds > 0
        assert 0 < figures.one_touch_rate < 1
        assert figures.reopened <= figures.solved / 4
        assert figures.csat.answered > 0
        assert figures.csat.satisfied_rate >= Decimal("0.6")
        assert figures.continuity.repeat_contacts > 0
        assert figures.continuity.same_agent_rate > 0
        assert len([r for r in figures.reasons if r.reason_id is not None]) >= 3
        assert sum(template.uses for template in figures.templates) > 0
        channels = Ticket.objects.filter(id__in=history_ticket_ids(floor.id))
        assert channels.values("channel").distinct().count() >= 4

    def test_history_is_solved_and_counted_where_it_is_counted(self, floor, now):
        loads = tickets.selectors.open_load_by_agent()

        tickets.services.demo_history_seed(now=now, days=DAYS, pod_ids=[floor.id])

        ids = history_ticket_ids(floor.id)
        history = Ticket.objects.filter(id__in=ids)
        assert not history.filter(status__in=Ticket.OPEN_STATUSES).exists()
        assert not history.filter(first_response_at__lt=F("created_at")).exists()
        assert tickets.selectors.open_load_by_agent() == loads
        assert {agent.id: agent.open_ticket_count for agent in Agent.objects.all()} == {
            agent_id: loads.get(agent_id, 0) for agent_id in agent_ids()
        }
        uses = dict(
            TemplateUse.objects.values("template_id")
            .annotate(n=Count("id"))
            .values_list("template_id", "n")
        )
        assert uses
        for template in ReplyTemplate.objects.all():
            assert template.use_count == uses.get(template.id, 0)
            assert template.rated_count <= template.use_count
        latest = history.order_by("-solved_at", "-id").first()
        customer = Customer.objects.get(id=latest.customer_id)
        assert customer.primary_agent_id == latest.assignee_id

    def test_customers_are_older_than_their_history(self, floor, now):
        tickets.services.demo_history_seed(now=now, days=DAYS, pod_ids=[floor.id])

        # Rules read tenure ("a customer for 30 days"): it must not be younger
        # than the contacts the customer made.
        history = Ticket.objects.filter(id__in=history_ticket_ids(floor.id))
        assert history.exists()
        assert not history.filter(customer__created_at__gt=F("created_at")).exists()

    def test_a_second_run_adds_nothing(self, floor, now):
        first = tickets.services.demo_history_seed(
            now=now, days=DAYS, pod_ids=[floor.id]
        )
        counts = (Ticket.objects.count(), Message.objects.count())
        used = list(ReplyTemplate.objects.values_list("id", "use_count", "rated_count"))

        again = tickets.services.demo_history_seed(
            now=now + timedelta(hours=1), days=DAYS, pod_ids=[floor.id]
        )

        assert first > 0
        assert again == 0
        assert (Ticket.objects.count(), Message.objects.count()) == counts
        assert (
            list(ReplyTemplate.objects.values_list("id", "use_count", "rated_count"))
            == used
        )

    def test_the_same_seed_makes_the_same_history(self, floor, now):
        tickets.services.demo_history_seed(now=now, days=DAYS, pod_ids=[floor.id])
        made = fingerprint(floor.id)
        Ticket.objects.filter(id__in=history_ticket_ids(floor.id)).delete()

        tickets.services.demo_history_seed(now=now, days=DAYS, pod_ids=[floor.id])
        remade = fingerprint(floor.id)
        Ticket.objects.filter(id__in=history_ticket_ids(floor.id)).delete()
        tickets.services.demo_history_seed(
            now=now, days=DAYS, pod_ids=[floor.id], seed=7
        )

        assert remade == made
        assert fingerprint(floor.id) != made

    def test_gives_the_proficiency_run_readings_to_score(self, floor, now):
        tickets.services.demo_history_seed(now=now, days=DAYS, pod_ids=[floor.id])

        scored = tickets.services.proficiency_recompute(
            period_end=now.date(), days=30, now=now
        )

        agents = Agent.objects.filter(pod=floor, role=Agent.Role.AGENT)
        assert scored >= agents.count()
        assert all(agent.proficiency_score > 0 for agent in agents)


def agent_ids() -> list[int]:
    return list(Agent.objects.values_list("id", flat=True))
