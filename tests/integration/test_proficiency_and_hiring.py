"""Proficiency is recomputed from ticket facts; new hires fill the pod that needs
them most."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

import pods.services
import tickets.services
from pods.models import Agent, AgentKpiSnapshot, Seat
from tests import factories
from tickets.models import SatisfactionSurvey


@pytest.mark.django_db
class TestProficiencyRecompute:
    def test_scores_agents_from_solved_tickets_and_sets_their_tier(self, now):
        pod = factories.pod()
        busy = factories.agent(pod=pod, capacity=50)
        day = datetime.combine(now.date() - timedelta(days=1), time(12), tzinfo=UTC)
        for number in range(40):
            opened = tickets.services.ticket_open(
                identities=[("EMAIL", f"c{number}@example.com")],
                channel="EMAIL",
                subject="s",
                now=day,
            )
            tickets.services.ticket_solve(
                ticket=opened.ticket, now=day + timedelta(minutes=4)
            )

        scored = tickets.services.proficiency_recompute(
            period_end=now.date(), days=1, now=now
        )

        snapshot = AgentKpiSnapshot.objects.get(agent=busy)
        busy.refresh_from_db()
        assert scored == 1
        assert snapshot.contacts_per_day == Decimal("40.00")
        assert snapshot.handle_minutes == Decimal("4.00")
        assert snapshot.csat is None
        # 40/day meets the 40 target (1.0); 4 min beats the 8 min target (capped 1.2):
        # (1.0 * 0.30 + 1.2 * 0.20) / 0.50 = 1.08 -> High
        assert snapshot.score == Decimal("1.080")
        assert busy.tier == "HIGH"
        assert busy.proficiency_score == snapshot.score

    def test_one_touch_is_the_share_solved_with_a_single_reply(self, now):
        pod = factories.pod()
        agent = factories.agent(pod=pod, capacity=50)
        day = datetime.combine(now.date() - timedelta(days=1), time(12), tzinfo=UTC)
        replies_per_ticket = [1, 1, 1, 2, 0]
        for number, replies in enumerate(replies_per_ticket):
            ticket = tickets.services.ticket_open(
                identities=[("EMAIL", f"t{number}@example.com")],
                channel="EMAIL",
                subject="s",
                now=day,
            ).ticket
            for _ in range(replies):
                tickets.services.message_reply(
                    ticket=ticket, agent_id=agent.id, text="Done", now=day
                )
            tickets.services.ticket_solve(ticket=ticket, now=day + timedelta(hours=1))

        tickets.services.proficiency_recompute(period_end=now.date(), days=1, now=now)

        # Four tickets had replies; three of them needed exactly one.
        snapshot = AgentKpiSnapshot.objects.get(agent=agent)
        assert snapshot.one_touch_rate == Decimal("0.750")

    def test_a_rerun_replaces_the_reading_for_the_same_period(self, now):
        agent = factories.agent(pod=factories.pod())
        values = {"handle_minutes": None, "csat": None, "one_touch_rate": None}

        for contacts in (Decimal(10), Decimal(30)):
            pods.services.agent_proficiency_record(
                agent_id=agent.id,
                contacts_per_day=contacts,
                period_start=date(2026, 10, 1),
                period_end=date(2026, 10, 31),
                now=now,
                **values,
            )

        snapshots = AgentKpiSnapshot.objects.filter(agent=agent)
        assert snapshots.count() == 1
        assert snapshots.get().contacts_per_day == Decimal(30)

    def test_csat_of_surveys_answered_in_the_period_joins_the_score(self, now):
        agent = factories.agent(pod=factories.pod(), capacity=50)
        day = datetime.combine(now.date() - timedelta(days=1), time(12), tzinfo=UTC)
        for number in range(4):
            opened = tickets.services.ticket_open(
                identities=[("EMAIL", f"r{number}@example.com")],
                channel="EMAIL",
                subject="s",
                now=day,
            )
            tickets.services.ticket_solve(
                ticket=opened.ticket, now=day + timedelta(minutes=4)
            )
        tickets.services.proficiency_recompute(period_end=now.date(), days=1, now=now)
        unrated = AgentKpiSnapshot.objects.get(agent=agent)

        for survey, rating in zip(
            SatisfactionSurvey.objects.order_by("id"), [5, 4, 5, 4], strict=True
        ):
            tickets.services.satisfaction_survey_answer(
                token=survey.token,
                rating=rating,
                comment="",
                now=day + timedelta(hours=2),
            )
        tickets.services.proficiency_recompute(period_end=now.date(), days=1, now=now)

        rated = AgentKpiSnapshot.objects.get(agent=agent)
        # Without CSAT: 4/day of the 40 target (0.1 * 0.30) and 4 min against
        # 8 (capped 1.2 * 0.20): 0.27 / 0.50 = 0.540. The survey messages are
        # automatic, no replies: one-touch has no reading.
        assert (unrated.csat, unrated.one_touch_rate) == (None, None)
        assert unrated.score == Decimal("0.540")
        # With CSAT (5 + 4 + 5 + 4) / 4 = 4.50, the 4.50 target (1.0 * 0.30):
        # 0.57 / 0.80 = 0.7125 -> 0.713.
        assert rated.csat == Decimal("4.50")
        assert rated.score == Decimal("0.713")


@pytest.mark.django_db
class TestAgentHire:
    def test_new_hire_fills_the_pod_with_most_open_seats(self):
        crowded = factories.staffed_pod(size=9)
        thin = factories.staffed_pod(size=3)

        hired = factories.agent(pod=None)

        assert hired.pod_id == thin.id
        assert Seat.objects.get(agent=hired).pod_id == thin.id
        assert crowded.seats.filter(agent__isnull=True).count() == 1

    def test_ties_go_to_the_pod_lacking_the_hires_tier(self):
        highs = factories.pod(target_size=4)
        lows = factories.pod(target_size=4)
        factories.agent(pod=highs, tier=Agent.Tier.HIGH)
        factories.agent(pod=lows, tier=Agent.Tier.LOW)

        hired = factories.agent(pod=None, tier=Agent.Tier.HIGH)

        assert hired.pod_id == lows.id

    def test_hire_joins_the_role_group(self):
        lead = factories.agent(pod=factories.pod(), role=Agent.Role.LEAD)

        assert list(lead.user.groups.values_list("name", flat=True)) == ["Pod leads"]
        assert lead.pod.lead_id == lead.id
