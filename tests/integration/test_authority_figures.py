"""The authority figures of the pod dashboard and the organisation view.

A small fixed day of grants, approvals, a denial, a reversal and a customer's
own pause, every figure checked against values computed by hand; a seeded
generated history of about a hundred days in two pods of different time zones
(across both DST changes) whose rollups must equal a recomputation straight
from the raw grants, requests and solved tickets; refreshes that change
nothing when run again; who may see which panel; the CSV and API documents;
query counts that do not grow with the data."""

import csv
import io
import random
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import authority.selectors
import authority.services
import authority.tasks
from authority.models import (
    AuthorityAgentDay,
    AuthorityDay,
    AuthorityPeriod,
    AuthorityRequest,
    Grant,
)
from pods.models import Pod
from tests import factories
from tests.integration.test_authority_insights import (
    ask,
    customer_ticket,
    decide,
    solved,
)

pytestmark = pytest.mark.django_db

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday; London is on GMT
LONDON = "Europe/London"


def refresh(now=T, days=40, pod_ids=None):
    return authority.services.authority_figures_refresh(
        now=now, days=days, pod_ids=pod_ids
    )


def figures_of(pod, days, now=T):
    return authority.selectors.pod_authority_figures(pod_id=pod.id, days=days, now=now)


def action_of(figures, code):
    (found,) = [a for a in figures.actions if a.action_type.code == code]
    return found


def stage_of(action, stage):
    (found,) = [s for s in action.stages if s.stage == stage]
    return found


@pytest.fixture
def pod():
    made = factories.staffed_pod(size=4, name="Mercury")
    Pod.objects.filter(id=made.id).update(time_zone=LONDON)
    made.refresh_from_db()
    return made


@pytest.fixture
def funnel():
    authority.services.demo_authority_seed(now=T)


@pytest.fixture
def agents(pod):
    return list(pod.members.exclude(id=pod.lead_id).order_by("id"))


@pytest.fixture
def lead(pod):
    return pod.lead.user


@pytest.fixture
def day(funnel, pod, agents, lead):
    """By hand, in the London pod:
    - 1 March 10:05, agent 0 refunds £30 (stage 2) on a ticket solved 10:30;
    - 2 March 09:05, agent 1 refunds £20 (stage 2), solved 09:30, and the lead
      reverses it at 11:30; agent 1 solves another ticket with no grant;
    - 2 March 09:30, agent 0 asks a £120 refund (over £50: stage 1), the lead
      approves at 10:30: a stage-1 grant;
    - 2 March, agent 1 asks a 30-day extension (stage 1), denied after 1 h;
    - 2 March, agent 0 asks a £200 refund: still waiting;
    - 2 March, a customer pauses their class pass for 5 days (stage 3);
    - 20 February, agent 0 gives £10 credit (stage 2), solved that day.
    """
    first = solved(
        pod,
        1,
        agents[0],
        at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        grant=("refund", 30),
    )
    second = solved(
        pod,
        2,
        agents[1],
        at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        grant=("refund", 20),
    )
    solved(pod, 3, agents[1], at=datetime(2026, 3, 2, 9, 10, tzinfo=UTC))
    reversed_grant = Grant.objects.get(ticket_id=second.id)
    authority.services.grant_reverse(
        grant_id=reversed_grant.id,
        user=lead,
        reason="charged twice",
        now=datetime(2026, 3, 2, 11, 30, tzinfo=UTC),
    )
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    approved = ask(agents[0], first, 120, at=at, action="refund")
    assert approved.state == AuthorityRequest.State.PENDING
    decide(approved, lead, after=timedelta(hours=1))
    ticket = customer_ticket(pod, 4, at=at)
    denied = ask(agents[1], ticket, 30, at=at + timedelta(minutes=1))
    decide(denied, lead, after=timedelta(hours=1), approve=False)
    waiting = ask(agents[0], ticket, 200, at=at + timedelta(minutes=2), action="refund")
    assert waiting.state == AuthorityRequest.State.PENDING
    paused = authority.services.authority_ask(
        actor=authority.services.actor_for_customer(customer_id=ticket.customer_id),
        action_code="pause",
        amount=5,
        customer_id=ticket.customer_id,
        ticket_id=None,
        idempotency_key="pause-1",
        now=at + timedelta(minutes=3),
    ).request
    assert (paused.state, paused.stage) == (AuthorityRequest.State.GRANTED, 3)
    solved(
        pod,
        5,
        agents[0],
        at=datetime(2026, 2, 20, 15, 0, tzinfo=UTC),
        grant=("credit", 10),
    )
    refresh()


class TestHandComputedDay:
    def test_today(self, day, pod):
        figures = figures_of(pod, 1)

        assert (figures.first_day, figures.last_day) == (
            date(2026, 3, 2),
            date(2026, 3, 2),
        )
        assert figures.as_of == T
        assert figures.grants_by_stage == {1: 1, 2: 1, 3: 1}
        assert figures.approvals_avoided == 2  # the £20 refund and the pause
        assert figures.reversals == 1
        assert (
            figures.approvals_requested,
            figures.approvals_approved,
            figures.approvals_denied,
        ) == (3, 1, 1)
        assert figures.approvals_waiting == 1
        refund = action_of(figures, "refund")
        assert stage_of(refund, 1).grants == 1
        assert stage_of(refund, 1).granted == Decimal("120.00")
        assert (stage_of(refund, 2).granted, stage_of(refund, 2).reversed) == (
            Decimal("20.00"),
            Decimal("20.00"),
        )
        assert (refund.approvals_requested, refund.approvals_approved) == (2, 1)
        assert refund.granted_words == "£140"
        extension = action_of(figures, "extension")
        assert (extension.grants, extension.approvals_denied) == (0, 1)
        pause = action_of(figures, "pause")
        assert (pause.grants, pause.granted, pause.granted_words) == (
            1,
            Decimal("5.00"),
            "5 days",
        )

    def test_the_week_adds_yesterday_and_the_month_adds_february(self, day, pod):
        week, month = figures_of(pod, 7), figures_of(pod, 30)

        assert week.grants_by_stage == {1: 1, 2: 2, 3: 1}
        assert stage_of(action_of(week, "refund"), 2).granted == Decimal("50.00")
        assert {a.action_type.code for a in week.actions if a.grants} == {
            "refund",
            "pause",
        }
        assert month.grants_by_stage == {1: 1, 2: 3, 3: 1}
        assert action_of(month, "credit").granted_words == "£10"
        assert week.grants_per_day == [0, 0, 0, 0, 0, 1, 3]
        assert week.avoided_per_day == [0, 0, 0, 0, 0, 1, 2]

    def test_budgets_this_month_against_the_usage_counters(self, day, pod):
        figures = figures_of(pod, 7)

        refund = action_of(figures, "refund")
        # 30 + 20 + 120 granted in March, 20 reversed; the agents' pod limit
        assert refund.budget == Decimal("5000.00")
        assert refund.used_this_month == Decimal("150.00")
        assert refund.budget_share == Decimal("0.030")
        assert refund.budget_left == Decimal("4850.00")
        credit = action_of(figures, "credit")  # a budget, used in February only
        assert (credit.budget, credit.used_this_month) == (Decimal("3000.00"), 0)
        assert action_of(figures, "pause").budget is None
        assert figures.month == date(2026, 3, 1)

    def test_usage_rate_per_agent(self, day, pod, agents):
        figures = figures_of(pod, 7)

        by_agent = {agent.agent_id: agent for agent in figures.agents}
        # agent 0: ticket 1 (refund) solved 1 March; agent 1: tickets 2 (refund,
        # reversed but made) and 3 (none) on 2 March
        assert (by_agent[agents[0].id].opportunities, by_agent[agents[0].id].rate) == (
            1,
            Decimal("1.000"),
        )
        assert by_agent[agents[1].id].with_grant == 1
        assert by_agent[agents[1].id].rate == Decimal("0.500")
        assert by_agent[agents[0].id].grants == 1  # own grants: £30 (not £120)
        assert by_agent[agents[2].id].opportunities == 0  # shown, with none
        assert (figures.opportunities, figures.with_grant) == (3, 2)
        assert figures.median_rate == Decimal("0.750")
        month = {a.agent_id: a for a in figures_of(pod, 30).agents}
        assert month[agents[0].id].opportunities == 2  # the credit ticket too

    def test_a_grant_late_in_the_local_evening_counts_that_local_day(
        self, funnel, agents
    ):
        seoul = factories.staffed_pod(size=2, name="Seoul")
        Pod.objects.filter(id=seoul.id).update(time_zone="Asia/Seoul")
        agent = seoul.members.exclude(id=seoul.lead_id).get()
        # 1 March 16:00 UTC is 2 March 01:00 in Seoul
        solved(
            seoul,
            1,
            agent,
            at=datetime(2026, 3, 1, 15, 0, tzinfo=UTC),
            grant=("refund", 15),
        )
        refresh()

        rows = AuthorityDay.objects.filter(pod_id=seoul.id)
        assert [(row.day, row.grants) for row in rows] == [(date(2026, 3, 2), 1)]
        agent_day = AuthorityAgentDay.objects.get(pod_id=seoul.id, agent=agent)
        assert agent_day.day == date(2026, 3, 2)  # solved 01:30 local
        today = figures_of(seoul, 1, now=datetime(2026, 3, 1, 16, 0, tzinfo=UTC))
        assert today is not None
        assert today.last_day == date(2026, 3, 2)


class TestRefresh:
    def test_a_second_refresh_changes_nothing(self, day, pod):
        before = _stored()

        refresh()
        refresh(days=2)

        assert _stored() == before

    def test_a_reversal_after_the_refresh_lands_at_the_next_one(self, day, pod, lead):
        grant = Grant.objects.get(amount=Decimal("120.00"))
        authority.services.grant_reverse(
            grant_id=grant.id, user=lead, reason="wrong order", now=T
        )
        assert figures_of(pod, 1).reversals == 1  # not yet

        refresh(now=T + timedelta(minutes=1), days=2)

        figures = figures_of(pod, 1, now=T + timedelta(minutes=1))
        assert figures.reversals == 2
        assert stage_of(action_of(figures, "refund"), 1).reversed == Decimal("120.00")
        assert figures.as_of == T + timedelta(minutes=1)

    def test_the_command_recomputes_every_pod_up_to_now(self, funnel, pod, agents):
        now = timezone.now()
        solved(pod, 1, agents[0], at=now - timedelta(hours=2), grant=("credit", 5))
        out = io.StringIO()

        call_command("refresh_authority_figures", "--days", "3", stdout=out)
        call_command("refresh_authority_figures", "--days", "3", stdout=out)

        assert "1 pods, 3 pod-days" in out.getvalue()
        assert AuthorityDay.objects.get(pod_id=pod.id).grants == 1
        assert authority.tasks.refresh_authority_figures(days=2) == 1
        assert figures_of(pod, 1, now=now).grants_by_stage == {1: 0, 2: 1, 3: 0}

    def test_the_delegation_snapshot_keeps_the_recommendations(self, funnel):
        snapshot = authority.services.delegation_snapshot_refresh(now=T)

        figures = authority.selectors.organisation_authority_figures(days=7, now=T)

        assert snapshot.recommendations == []
        assert figures.recommendations_as_of == T

    def test_the_snapshot_gives_the_insights_recommendation_in_words(
        self, funnel, pod, agents, lead
    ):
        for number, amount in enumerate([15, 16, 18, 20, 21]):
            ticket = customer_ticket(pod, number, at=T - timedelta(days=5))
            asked = ask(agents[number % 3], ticket, amount, at=T - timedelta(days=4))
            decide(asked, lead, after=timedelta(hours=number + 1))
        small = authority.selectors.InsightThresholds(min_requests=3)

        authority.services.delegation_snapshot_refresh(now=T, thresholds=small)
        figures = authority.selectors.organisation_authority_figures(days=7, now=T)

        (found,) = figures.recommendations
        assert found.text == (
            "Move class extension up to 21 days to stage 2: 5 requests in 30 "
            "days, 100% approved, median wait 3 h"
        )
        assert found.key == "1to2:extension:all:21"


def _stored():
    return (
        sorted(
            tuple(v for k, v in row.items() if k != "id")
            for row in AuthorityDay.objects.values()
        ),
        sorted(
            tuple(v for k, v in row.items() if k != "id")
            for row in AuthorityAgentDay.objects.values()
        ),
        sorted(
            (row["pod_id"], row["days"], row["figures"] == row["figures"])
            for row in AuthorityPeriod.objects.values()
        ),
        {(row.pod_id, row.days): row.figures for row in AuthorityPeriod.objects.all()},
    )


# --- Generated history: rollups against a recomputation from raw rows --------------


NOW = datetime(2026, 4, 10, 13, 0, tzinfo=UTC)  # after both DST changes


def _history(rng, pods_and_agents, leads):
    """Tickets over 100 days in both pods, solved by their agent, with stage-2
    refunds, credits and extensions, stage-1 refunds approved or denied hours
    later (sometimes across midnight), customers' own pauses and reversals
    days later."""
    start = NOW - timedelta(days=100)
    for number in range(1, 71):
        pod, agents = rng.choice(pods_and_agents)
        lead = leads[pod.id]
        at = start + timedelta(minutes=rng.randrange(0, 100 * 24 * 60 - 600))
        agent = rng.choice(agents)
        roll = rng.random()
        grant = None
        if roll < 0.35:
            grant = ("refund", rng.randrange(5, 50))
        elif roll < 0.5:
            grant = ("credit", rng.randrange(5, 30))
        elif roll < 0.6:
            grant = ("extension", rng.randrange(1, 14))
        ticket = solved(pod, number, agent, at=at, grant=grant)
        if grant and rng.random() < 0.2:
            made = Grant.objects.get(ticket_id=ticket.id, kind=Grant.Kind.GRANT)
            authority.services.grant_reverse(
                grant_id=made.id,
                user=lead,
                reason="changed mind",
                now=min(at + timedelta(hours=rng.randrange(1, 72)), NOW),
            )
        if rng.random() < 0.3:
            asked = ask(agent, ticket, rng.randrange(60, 400), action="refund", at=at)
            if rng.random() < 0.8:
                decide(
                    asked,
                    lead,
                    after=timedelta(hours=rng.randrange(1, 20)),
                    approve=rng.random() < 0.75,
                )
        if rng.random() < 0.15:
            authority.services.authority_ask(
                actor=authority.services.actor_for_customer(
                    customer_id=ticket.customer_id
                ),
                action_code="pause",
                amount=rng.randrange(1, 14),
                customer_id=ticket.customer_id,
                ticket_id=None,
                idempotency_key=f"pause-{number}",
                now=at + timedelta(hours=1),
            )


def _raw_days(pod_id: int, time_zone: str) -> dict:
    """Day rows computed in Python from the raw rows: every instant turned
    into its local date with zoneinfo."""
    zone = ZoneInfo(time_zone)
    found = defaultdict(Counter)

    def local(at):
        return at.astimezone(zone).date()

    for grant in Grant.objects.filter(pod_id=pod_id):
        key = (local(grant.granted_at), grant.action_type_id, grant.stage)
        if grant.kind == Grant.Kind.REVERSAL:
            found[key]["reversals"] += 1
            found[key]["reversed"] += -grant.amount
        else:
            found[key]["grants"] += 1
            found[key]["granted"] += grant.amount
    for request in AuthorityRequest.objects.filter(pod_id=pod_id, stage=1):
        if request.state != AuthorityRequest.State.REFUSED:
            key = (local(request.created_at), request.action_type_id, 1)
            found[key]["approvals_requested"] += 1
        if request.state == AuthorityRequest.State.GRANTED:
            found[(local(request.decided_at), request.action_type_id, 1)][
                "approvals_approved"
            ] += 1
        if request.state == AuthorityRequest.State.DENIED:
            found[(local(request.decided_at), request.action_type_id, 1)][
                "approvals_denied"
            ] += 1
    return {key: dict(counts) for key, counts in found.items()}


def _stored_days(pod_id: int) -> dict:
    names = (
        "grants",
        "granted",
        "reversals",
        "reversed",
        "approvals_requested",
        "approvals_approved",
        "approvals_denied",
    )
    return {
        (row.day, row.action_type_id, row.stage): {
            name: getattr(row, name) for name in names if getattr(row, name)
        }
        for row in AuthorityDay.objects.filter(pod_id=pod_id)
    }


@pytest.fixture
def history(funnel):
    london = factories.staffed_pod(size=4, name="London")
    angeles = factories.staffed_pod(size=4, name="Los Angeles")
    Pod.objects.filter(id=london.id).update(time_zone=LONDON)
    Pod.objects.filter(id=angeles.id).update(time_zone="America/Los_Angeles")
    made = []
    for pod in (london, angeles):
        pod.refresh_from_db()
        made.append((pod, list(pod.members.exclude(id=pod.lead_id))))
    leads = {pod.id: pod.lead.user for pod, _agents in made}
    _history(random.Random(2026), made, leads)
    authority.services.authority_figures_refresh(now=NOW, days=101)
    return [pod for pod, _agents in made]


class TestRollupsAgreeWithRawRows:
    def test_every_day_row_equals_the_raw_rows_of_that_local_day(self, history):
        for pod in history:
            raw = _raw_days(pod.id, pod.time_zone)
            assert _stored_days(pod.id) == {
                key: {name: value for name, value in counts.items() if value}
                for key, counts in raw.items()
            }
        assert AuthorityDay.objects.count() > 40
        assert Grant.objects.filter(kind=Grant.Kind.REVERSAL).exists()

    @pytest.mark.parametrize("days", [1, 7, 30, 90])
    def test_every_period_equals_the_raw_rows_and_the_insights_usage(
        self, history, days
    ):
        for pod in history:
            figures = figures_of(pod, days, now=NOW)
            first = NOW.astimezone(ZoneInfo(pod.time_zone)).date() - timedelta(
                days=days - 1
            )
            raw = _raw_days(pod.id, pod.time_zone)
            expected = Counter()
            for (day, _action, stage), counts in raw.items():
                if day >= first:
                    expected[f"stage{stage}"] += counts.get("grants", 0)
                    for name in ("reversals", "approvals_requested"):
                        expected[name] += counts.get(name, 0)
            assert figures.grants_by_stage == {
                stage: expected[f"stage{stage}"] for stage in (1, 2, 3)
            }
            assert figures.reversals == expected["reversals"]
            assert figures.approvals_requested == expected["approvals_requested"]
            zone = ZoneInfo(pod.time_zone)
            start = datetime.combine(first, datetime.min.time(), tzinfo=zone)
            end = datetime.combine(
                figures.last_day + timedelta(days=1), datetime.min.time(), tzinfo=zone
            )
            (usage,) = authority.selectors.authority_usage(
                period=authority.selectors.InsightPeriod(
                    start=start, end=end, days=days
                ),
                pod_ids=[pod.id],
            )
            assert {
                agent.agent_id: (agent.opportunities, agent.with_grant, agent.grants)
                for agent in figures.agents
            } == {
                agent.agent_id: (agent.opportunities, agent.with_grant, agent.grants)
                for agent in usage.agents
            }
            assert figures.median_rate == usage.median_rate

    def test_the_minute_refresh_over_a_full_one_changes_nothing(self, history):
        before = _stored()

        authority.services.authority_figures_refresh(now=NOW, days=2)
        authority.services.authority_figures_refresh(now=NOW, days=101)

        assert _stored() == before


# --- Panels, CSV and API ------------------------------------------------------------


@pytest.fixture
def people(day, pod, agents, lead):
    """The hand-computed day, another pod, and a £7 credit granted an hour
    ago: the panels read the budget of the real clock's month."""
    other = factories.staffed_pod(size=2, name="Venus")
    solved(
        pod,
        50,
        agents[2],
        at=timezone.now() - timedelta(hours=1),
        grant=("credit", 7),
    )
    refresh()
    return {
        "admin": factories.admin_user(),
        "lead": lead,
        "other_lead": other.lead.user,
        "agent": agents[0].user,
        "other": other,
    }


def _get(client, user, url):
    client.logout()
    if user is not None:
        client.force_login(user)
    return client.get(url)


class TestPermissions:
    @pytest.mark.parametrize(
        ("who", "panel", "api"),
        [
            ("admin", 200, 200),
            ("lead", 200, 200),
            ("other_lead", 404, 404),
            ("agent", 404, 404),
        ],
    )
    def test_a_pod_panel_answers_only_who_may_see_the_pod(
        self, client, people, pod, who, panel, api
    ):
        user = people[who]

        page = _get(client, user, reverse("pod-authority-figures", args=[pod.id]))
        data = _get(client, user, f"/api/pods/{pod.id}/authority/figures/")
        csv_file = _get(
            client,
            user,
            reverse("pod-authority-figures", args=[pod.id]) + "?format=csv",
        )

        assert (page.status_code, data.status_code, csv_file.status_code) == (
            panel,
            api,
            panel,
        )
        if panel == 200:
            assert "Authority used" in page.content.decode()

    @pytest.mark.parametrize(
        ("who", "status"),
        [("admin", 200), ("lead", 403), ("other_lead", 403), ("agent", 403)],
    )
    def test_the_organisation_panel_needs_every_pod(self, client, people, who, status):
        user = people[who]

        page = _get(client, user, reverse("organisation-authority-figures"))
        data = _get(client, user, "/api/organisation/authority/figures/")

        assert (page.status_code, data.status_code) == (status, status)

    def test_a_missing_pod_is_a_404_and_strangers_sign_in(self, client, people, pod):
        missing = _get(client, people["admin"], "/pods/999999/authority/figures/")
        anonymous = _get(client, None, reverse("pod-authority-figures", args=[pod.id]))
        api_anonymous = _get(client, None, f"/api/pods/{pod.id}/authority/figures/")

        assert missing.status_code == 404
        assert anonymous.status_code == 302
        assert api_anonymous.status_code in (401, 403)

    def test_a_bad_period_is_refused_with_the_reason(self, client, people, pod):
        url = reverse("pod-authority-figures", args=[pod.id])

        page = _get(client, people["lead"], url + "?period=5")
        data = _get(
            client, people["lead"], f"/api/pods/{pod.id}/authority/figures/?period=x"
        )
        table = _get(client, people["lead"], url + "?format=csv&table=recommendations")

        assert page.status_code == 400
        assert "5 is not one of the available choices" in page.content.decode()
        assert data.status_code == 400
        assert "period" in data.json()["error"]["fields"]
        assert table.status_code == 400
        assert "belongs to the organisation" in table.content.decode()


class TestDocuments:
    def test_pod_csv_per_action(self, client, people, pod):
        url = reverse("pod-authority-figures", args=[pod.id])

        response = _get(
            client, people["lead"], url + "?period=1&format=csv&table=actions"
        )

        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        refunds = {row["Stage"]: row for row in rows if row["Action"] == "Refund"}
        assert response["Content-Type"].startswith("text/csv")
        assert refunds["1"]["Grants"] == "1"
        assert refunds["1"]["Granted"] == "120.00"
        assert refunds["1"]["Approvals requested"] == "2"
        assert refunds["2"]["Reversed"] == "20.00"
        assert refunds["2"]["Monthly budget"] == "5000.00"
        (credit,) = [row for row in rows if row["Action"] == "Account credit"]
        # no credit today (the stored period), £7 this month (the live budget)
        assert (credit["Stage"], credit["Grants"]) == ("", "0")
        assert (credit["Monthly budget"], credit["Used this month"]) == (
            "3000.00",
            "7.00",
        )
        assert {row["Pod"] for row in rows} == {"Mercury"}

    def test_pod_csv_summary_and_agents(self, client, people, pod, agents):
        url = reverse("pod-authority-figures", args=[pod.id])

        (summary,) = csv.DictReader(
            io.StringIO(
                _get(
                    client, people["lead"], url + "?period=7&format=csv"
                ).content.decode()
            )
        )
        rows = list(
            csv.DictReader(
                io.StringIO(
                    _get(
                        client,
                        people["lead"],
                        url + "?period=7&format=csv&table=agents",
                    ).content.decode()
                )
            )
        )

        assert summary["Grants by agents (stage 2)"] == "2"
        assert summary["Approvals avoided"] == "3"
        assert summary["Approvals waiting"] == "1"
        assert summary["Usage rate"] == "0.667"
        assert len(rows) == 4  # the lead too
        assert sorted(row["Opportunities"] for row in rows) == ["0", "0", "1", "2"]

    def test_pod_api_document(self, client, people, pod):
        data = _get(
            client, people["lead"], f"/api/pods/{pod.id}/authority/figures/?period=1"
        ).json()

        assert data["grants_by_stage"] == {"1": 1, "2": 1, "3": 1}
        assert data["approvals_avoided"] == 2
        assert data["approvals_waiting"] == 1
        assert data["as_of"] == T.isoformat()
        (refund,) = [a for a in data["actions"] if a["action"] == "refund"]
        assert (refund["granted"], refund["reversed"], refund["budget"]) == (
            "140.00",
            "20.00",
            "5000.00",
        )
        assert data["usage"]["opportunities"] == 2

    def test_organisation_side_by_side(self, client, people, pod):
        data = _get(
            client, people["admin"], "/api/organisation/authority/figures/?period=7"
        ).json()
        page = _get(
            client, people["admin"], reverse("organisation-authority-figures")
        ).content.decode()

        assert [one["pod"] for one in data["pods"]] == ["Mercury", "Venus"]
        assert data["pods"][0]["approvals_avoided"] == 3
        assert data["pods"][1]["grants"] == 0
        assert data["recommendations"]["items"] == []
        assert "Mercury" in page
        assert "Venus" in page
        assert reverse("authority-insights") in page


# --- Query counts -------------------------------------------------------------------


class TestQueryCounts:
    def test_pod_figures_read_five_queries_whatever_the_volume(
        self, day, pod, django_assert_num_queries
    ):
        # the period row with its pod, action types, rules in force, usage
        # counters, approvals waiting
        with django_assert_num_queries(5):
            figures = figures_of(pod, 90)
        assert figures.grants == 5

    @pytest.mark.parametrize("extra_pods", [0, 3])
    def test_organisation_figures_read_seven_queries_whatever_the_pods(
        self, day, extra_pods, django_assert_num_queries
    ):
        for number in range(extra_pods):
            factories.staffed_pod(size=2, name=f"Extra {number}")
        refresh()
        with django_assert_num_queries(7):
            figures = authority.selectors.organisation_authority_figures(days=30, now=T)
        assert len(figures.pods) == 1 + extra_pods

    def test_the_panels_run_the_same_queries_with_more_data(
        self, client, people, pod, agents
    ):
        url = reverse("pod-authority-figures", args=[pod.id])
        organisation = reverse("organisation-authority-figures")
        client.force_login(people["admin"])
        client.get(url)

        def counted(path):
            # Each rendered afresh (the panels cache their HTML by revision).
            cache.clear()
            with CaptureQueriesContext(connection) as queries:
                assert client.get(path).status_code == 200
            return len(queries)

        before = (counted(url), counted(organisation))
        for number in range(6):
            solved(
                pod,
                100 + number,
                agents[number % 3],
                at=T - timedelta(days=number),
                grant=("credit", 5),
            )
        refresh()

        assert (counted(url), counted(organisation)) == before
