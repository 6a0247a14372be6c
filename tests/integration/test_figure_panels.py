"""The tickets panels of the dashboards over HTTP: who may read which panel
(pages and API), the figures they show and download (CSV, JSON) against the
period rows and against values computed by hand, bad periods refused, and
query counts that do not grow with the data.

A small fixed dataset in a UTC pod, refreshed through the real rollup
services; today is March 11 2026, the 7-day period March 5 to 11.

    ticket customer created        reason  agent  replies          solved   survey
    T1     c1       Mar 10 09:00   Refund  A      09:20 (template) 10:00    5
    T2     c2       Mar 10 12:00   Refund  B      13:00, 13:30     14:00    3
    T3     c3       Mar 11 08:00   Moving  A      -                -        -
    T4     c4       Mar 11 09:00   -       -      -                -        -
"""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

import pods.services
import tickets.selectors
import tickets.services
from pods.models import Agent
from tests import factories
from tickets.models import ContactReason, SatisfactionSurvey, Ticket
from tickets.views import figures as panels
from tickets.views._figure_csv import POD_FIGURES

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


class Floor:
    """Two pods (Mercury with lead L and agents A and B; Venus with its lead),
    an admin, and the tickets of the table in Mercury."""

    def __init__(self) -> None:
        self.pod = factories.pod(name="Mercury")
        self.other = factories.pod(name="Venus")
        offline = Agent.Presence.OFFLINE
        self.lead = factories.agent(
            pod=self.pod, role=Agent.Role.LEAD, presence=offline
        )
        self.a = factories.agent(pod=self.pod, presence=offline, capacity=4)
        self.b = factories.agent(pod=self.pod, presence=offline, capacity=4)
        self.other_lead = factories.agent(
            pod=self.other, role=Agent.Role.LEAD, presence=offline
        )
        self.admin = factories.admin_user()
        # New customers go to the least loaded pod open to them: Mercury only.
        pods.services.pods_accepting_set(pod_ids=[self.other.id], accepting=False)
        self.refund = ContactReason.objects.create(name="Refund")
        self.moving = ContactReason.objects.create(name="Moving home")
        self.template = tickets.services.reply_template_create(
            title="Refund on its way",
            body="Your refund is on its way.",
            pod_id=self.pod.id,
            language="en",
            user=self.admin,
            now=at(1, 9),
        )
        self.tickets: dict[str, Ticket] = {}

    def open(self, name, customer, when, *, reason=None, agent=None) -> Ticket:
        ticket = tickets.services.ticket_open(
            identities=[("EMAIL", f"{customer}@customer.example")],
            channel="EMAIL",
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
        survey = SatisfactionSurvey.objects.get(ticket_id=self.tickets[name].id)
        tickets.services.satisfaction_survey_answer(
            token=survey.token, rating=rating, comment="", now=when
        )

    def refresh(self, now=NOW) -> None:
        # The table's days: the days before hold nothing to count.
        tickets.services.figures_refresh(days=2, now=now)
        tickets.services.figures_periods_refresh(now=now)


@pytest.fixture
def floor() -> Floor:
    floor = Floor()
    a, b = floor.a, floor.b
    floor.open("T1", "c1", at(10, 9), reason=floor.refund, agent=a)
    floor.reply("T1", a, at(10, 9, 20), template=True)
    floor.solve("T1", at(10, 10))
    floor.rate("T1", 5, at(10, 11))
    floor.open("T2", "c2", at(10, 12), reason=floor.refund, agent=b)
    floor.reply("T2", b, at(10, 13))
    floor.reply("T2", b, at(10, 13, 30))
    floor.solve("T2", at(10, 14))
    floor.rate("T2", 3, at(11, 9))
    floor.open("T3", "c3", at(11, 8), reason=floor.moving, agent=a)
    floor.open("T4", "c4", at(11, 9))
    floor.refresh()
    return floor


def signed_in(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def panel_urls(pod_id: int) -> dict[str, str]:
    return {
        "live": reverse("pod-figures-live", args=[pod_id]),
        "pod": reverse("pod-figures", args=[pod_id]),
        "api": reverse("api-pod-figures", args=[pod_id]),
    }


# --- Who sees what --------------------------------------------------------------------


class TestPanelPermissions:
    def test_lead_reads_their_pod_panels_and_own_figures(self, client, floor):
        signed_in(client, floor.lead.user)
        for url in panel_urls(floor.pod.id).values():
            assert client.get(url).status_code == 200, url
        assert client.get(reverse("my-figures-panel")).status_code == 200
        assert client.get(reverse("api-my-figures")).status_code == 200

    def test_lead_gets_404_for_another_pod_as_for_a_missing_one(self, client, floor):
        signed_in(client, floor.lead.user)
        for url in [
            *panel_urls(floor.other.id).values(),
            *panel_urls(999_999).values(),
        ]:
            assert client.get(url).status_code == 404, url

    def test_lead_may_not_read_the_organisation(self, client, floor):
        signed_in(client, floor.lead.user)
        assert client.get(reverse("organisation-figures")).status_code == 403
        assert client.get(reverse("api-organisation-figures")).status_code == 403

    def test_agent_sees_no_pod_panel_but_their_own_figures(self, client, floor):
        signed_in(client, floor.a.user)
        for url in panel_urls(floor.pod.id).values():
            assert client.get(url).status_code == 404, url
        assert client.get(reverse("organisation-figures")).status_code == 403
        assert client.get(reverse("api-organisation-figures")).status_code == 403
        assert client.get(reverse("my-figures-panel")).status_code == 200
        assert client.get(reverse("api-my-figures")).status_code == 200

    def test_admin_reads_any_pod_and_the_organisation(self, client, floor):
        signed_in(client, floor.admin)
        for pod in (floor.pod, floor.other):
            for url in panel_urls(pod.id).values():
                assert client.get(url).status_code == 200, url
        assert client.get(reverse("organisation-figures")).status_code == 200
        assert client.get(reverse("api-organisation-figures")).status_code == 200

    def test_admin_who_is_no_agent_has_no_figures_of_their_own(self, client, floor):
        signed_in(client, floor.admin)
        assert client.get(reverse("my-figures-panel")).status_code == 404
        response = client.get(reverse("api-my-figures"))
        assert response.status_code == 404
        assert "agents" in response.json()["error"]["message"]

    def test_signed_out_is_sent_to_sign_in(self, client, floor):
        response = client.get(reverse("pod-figures", args=[floor.pod.id]))
        assert response.status_code == 302
        assert reverse("login") in response["Location"]
        api = client.get(reverse("api-pod-figures", args=[floor.pod.id]))
        assert api.status_code in (401, 403)

    def test_csv_of_another_pod_is_refused_too(self, client, floor):
        signed_in(client, floor.other_lead.user)
        response = client.get(
            reverse("pod-figures", args=[floor.pod.id]), {"format": "csv"}
        )
        assert response.status_code == 404
        assert b"Contacts" not in response.content


class TestBadInput:
    @pytest.mark.parametrize("period", ["5", "abc", "0", "-7", "365"])
    def test_a_period_outside_the_choices_is_a_400_that_says_why(
        self, client, floor, period
    ):
        signed_in(client, floor.lead.user)
        for url in (
            reverse("pod-figures", args=[floor.pod.id]),
            reverse("pod-figures-live", args=[floor.pod.id]),
            reverse("my-figures-panel"),
        ):
            response = client.get(url, {"period": period})
            assert response.status_code == 400, url
            assert "1, 7, 30 or 90" in response.content.decode()

    def test_api_refuses_a_bad_period_with_the_field(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(
            reverse("api-pod-figures", args=[floor.pod.id]), {"period": "5"}
        )
        assert response.status_code == 400
        assert "period" in response.json()["error"]["fields"]

    def test_an_unknown_table_is_a_400(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(
            reverse("pod-figures", args=[floor.pod.id]),
            {"format": "csv", "table": "secrets"},
        )
        assert response.status_code == 400
        assert "figures, agents, reasons, templates" in response.content.decode()

    def test_the_default_period_is_seven_days(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(reverse("pod-figures", args=[floor.pod.id]))
        assert response.context["period"] == 7
        assert response.context["figures"].period_days == 7


# --- What the panels show -------------------------------------------------------------


class TestPodPanel:
    def test_shows_the_hand_computed_figures_of_the_week(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(
            reverse("pod-figures", args=[floor.pod.id]), {"period": 7}
        )
        figures = response.context["figures"]
        assert (figures.first_day, figures.last_day) == (date(2026, 3, 5), NOW.date())
        assert figures.contacts == 4
        html = response.content.decode()
        tiles = response.context["words"]
        # First responses 20 min (T1) and 1 h (T2); solves 1 h and 2 h: the
        # histograms' quantiles are within 5%, shown as words of those values.
        durations = {
            "first_response": (figures.first_response, 1200, 3600),
            "resolution": (figures.resolution, 3600, 7200),
        }
        for name, (found, median_seconds, p90_seconds) in durations.items():
            assert found.median_seconds == pytest.approx(median_seconds, rel=0.05)
            assert found.p90_seconds == pytest.approx(p90_seconds, rel=0.05)
            assert tiles[name]["median"] == panels.duration_words(found.median_seconds)
            assert tiles[name]["p90"] == panels.duration_words(found.p90_seconds)
            assert tiles[name]["median"] in html
        assert tiles["first_response"]["median"] in ("19 min", "20 min", "21 min")
        assert tiles["one_touch"] == "50%"
        assert tiles["reopen"] == "0%"
        assert tiles["csat"]["satisfied"] == "50%"
        assert tiles["csat"]["mean"] == "4.0"
        for shown in ("50%", "Refund", "Moving home", "Refund on its way"):
            assert shown in html
        assert 'id="figure-contacts"' in html
        assert "As of" in html

    def test_reasons_carry_their_trend_and_templates_their_satisfaction(
        self, client, floor
    ):
        signed_in(client, floor.lead.user)
        response = client.get(reverse("pod-figures", args=[floor.pod.id]))
        reasons = {row["reason"].name: row for row in response.context["reasons"]}
        assert reasons["Refund"]["reason"].contacts == 2
        assert reasons["Refund"]["trend"]["tone"] == "new"
        assert reasons["Moving home"]["reason"].contacts == 1
        (template,) = response.context["templates"]
        assert template["template"].uses == 1
        assert template["satisfied"] == "100%"

    def test_agents_are_listed_with_what_they_handled(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(reverse("pod-figures", args=[floor.pod.id]))
        handled = {
            row["agent"].agent_id: row["agent"].handled
            for row in response.context["agents"]
        }
        assert handled[floor.a.id] == 1
        assert handled[floor.b.id] == 1

    def test_before_the_first_refresh_it_says_so(self, client, db):
        pod = factories.pod(name="Fresh")
        lead = factories.agent(pod=pod, role=Agent.Role.LEAD)
        signed_in(client, lead.user)
        response = client.get(reverse("pod-figures", args=[pod.id]))
        assert response.status_code == 200
        assert "No figures yet" in response.content.decode()
        api = client.get(reverse("api-pod-figures", args=[pod.id]))
        assert api.status_code == 404
        assert "not computed yet" in api.json()["error"]["message"]

    def test_csv_figures_match_the_period_row(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(
            reverse("pod-figures", args=[floor.pod.id]),
            {"period": 7, "format": "csv"},
        )
        header, *rows = csv_rows(response)
        assert header[:4] == ["Pod", "Figure", "Key", "Value"]
        values = {row[2]: row[3] for row in rows}
        figures = tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=7)
        assert values["contacts"] == "4"
        assert values["solved"] == "2"
        assert values["one_touch_rate"] == "0.500"
        assert values["csat_satisfied_rate"] == "0.500"
        assert values["csat_rating_5"] == "1"
        assert float(values["first_response_median_seconds"]) == pytest.approx(
            figures.first_response.median_seconds, abs=0.1
        )
        assert float(values["first_response_median_seconds"]) == pytest.approx(
            1200, rel=0.05
        )
        assert len(rows) == len(POD_FIGURES)
        # Every row carries the period and the as-of time.
        assert {row[-1] for row in rows} == {figures.as_of.isoformat()}
        assert {row[-3] for row in rows} == {"2026-03-05"}

    @pytest.mark.parametrize(
        ("table", "expected"),
        [
            ("agents", {"Agent", "Tickets handled"}),
            ("reasons", {"Contact reason", "Contacts in the period before"}),
            ("templates", {"Template", "Uses"}),
        ],
    )
    def test_csv_tables_have_one_row_each(self, client, floor, table, expected):
        signed_in(client, floor.lead.user)
        response = client.get(
            reverse("pod-figures", args=[floor.pod.id]),
            {"period": 7, "format": "csv", "table": table},
        )
        header, *rows = csv_rows(response)
        assert expected <= set(header)
        figures = tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=7)
        assert len(rows) == len(getattr(figures, table))
        assert all(row[-1] == figures.as_of.isoformat() for row in rows)
        if table == "reasons":
            by_name = {row[1]: row for row in rows}
            assert by_name["Refund"][3] == "2"
            assert by_name["Refund"][5] == "NEW"

    def test_csv_neutralises_names_a_spreadsheet_would_run(self, client, floor):
        ContactReason.objects.filter(id=floor.refund.id).update(name="=HYPERLINK(1)")
        floor.refresh()
        signed_in(client, floor.lead.user)
        response = client.get(
            reverse("pod-figures", args=[floor.pod.id]),
            {"format": "csv", "table": "reasons"},
        )
        names = [row[1] for row in csv_rows(response)[1:]]
        assert "'=HYPERLINK(1)" in names
        assert "=HYPERLINK(1)" not in names


class TestLivePanel:
    def test_shows_the_queue_now_and_every_agent(self, client, floor):
        signed_in(client, floor.lead.user)
        response = client.get(reverse("pod-figures-live", args=[floor.pod.id]))
        live = response.context["live"]
        # T4 waits for someone; T3 (A's) and T4 are open.
        assert live.unassigned == 1
        assert live.open == 2
        assert live.oldest_waiting_since == at(11, 9)
        html = response.content.decode()
        assert {row["agent"].agent_id for row in response.context["agents"]} == {
            floor.lead.id,
            floor.a.id,
            floor.b.id,
        }
        assert f'id="live-agent-{floor.a.id}"' in html
        assert "1 of 4" in html  # A holds T3, of a capacity of 4

    def test_highlights_the_bottleneck(self, client, floor):
        for name in ("T5", "T6", "T7"):
            floor.open(name, name.lower(), at(11, 10), agent=floor.a)
        signed_in(client, floor.lead.user)
        response = client.get(reverse("pod-figures-live", args=[floor.pod.id]))
        flagged = [
            row["agent"].agent_id
            for row in response.context["agents"]
            if row["bottleneck"]
        ]
        assert flagged == [floor.a.id]
        html = response.content.decode()
        assert "Bottleneck" in html
        assert "data-bottleneck" in html

    def test_handled_today_counts_todays_solves(self, client, floor):
        from django.utils import timezone

        floor.solve("T3", timezone.now())
        signed_in(client, floor.lead.user)
        response = client.get(reverse("pod-figures-live", args=[floor.pod.id]))
        live = response.context["live"]
        assert live.handled_today == 1
        row = next(
            row
            for row in response.context["agents"]
            if row["agent"].agent_id == floor.a.id
        )
        assert row["agent"].handled_today == 1

    def test_csv_of_the_queue_and_the_agents(self, client, floor):
        signed_in(client, floor.lead.user)
        url = reverse("pod-figures-live", args=[floor.pod.id])
        queue = {
            row[1]: row[2] for row in csv_rows(client.get(url, {"format": "csv"}))[1:]
        }
        assert queue["unassigned"] == "1"
        assert queue["open"] == "2"
        agents = csv_rows(client.get(url, {"format": "csv", "table": "agents"}))
        assert {row[1] for row in agents[1:]} == {
            str(floor.lead.id),
            str(floor.a.id),
            str(floor.b.id),
        }


class TestOrganisationPanel:
    def test_every_refreshed_pod_side_by_side(self, client, floor):
        signed_in(client, floor.admin)
        response = client.get(reverse("organisation-figures"), {"period": 30})
        names = [row["figures"].pod_name for row in response.context["pods"]]
        assert names == ["Mercury", "Venus"]
        html = response.content.decode()
        assert f'id="organisation-figures-pod-{floor.pod.id}"' in html
        mercury = response.context["pods"][0]
        assert mercury["first_response"]["median"] in html
        assert mercury["csat"] == "50%"

    def test_csv_has_one_row_per_pod(self, client, floor):
        signed_in(client, floor.admin)
        response = client.get(
            reverse("organisation-figures"), {"period": 30, "format": "csv"}
        )
        header, *rows = csv_rows(response)
        assert [row[0] for row in rows] == ["Mercury", "Venus"]
        mercury = dict(zip(header, rows[0], strict=True))
        assert mercury["Contacts"] == "4"
        assert mercury["Period (days)"] == "30"
        assert mercury["As of"]


class TestMyFiguresPanel:
    def test_an_agent_reads_their_own(self, client, floor):
        signed_in(client, floor.b.user)
        response = client.get(reverse("my-figures-panel"), {"period": 7})
        figures = response.context["figures"]
        assert figures.agent_id == floor.b.id
        assert figures.handled == 1
        assert figures.csat.ratings == (0, 0, 1, 0, 0)
        # B's one first response took 1 h (within the histogram's 5%).
        assert figures.first_response.median_seconds == pytest.approx(3600, rel=0.05)
        assert "As of" in response.content.decode()

    def test_csv_of_their_figures(self, client, floor):
        signed_in(client, floor.a.user)
        response = client.get(
            reverse("my-figures-panel"), {"period": 7, "format": "csv"}
        )
        values = {row[2]: row[3] for row in csv_rows(response)[1:]}
        assert values["handled"] == "1"
        assert values["one_touch"] == "1"
        assert values["csat_rating_5"] == "1"


# --- API ------------------------------------------------------------------------------


class TestFiguresApi:
    def test_pod_figures_match_the_selector(self, client, floor):
        signed_in(client, floor.lead.user)
        body = client.get(
            reverse("api-pod-figures", args=[floor.pod.id]), {"period": 7}
        ).json()
        figures = tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=7)
        assert body["pod_id"] == floor.pod.id
        assert body["period_days"] == 7
        assert body["first_day"] == "2026-03-05"
        assert body["contacts"] == figures.contacts == 4
        assert body["first_response"]["count"] == 2
        assert body["first_response"]["median_seconds"] == pytest.approx(
            figures.first_response.median_seconds
        )
        assert Decimal(body["one_touch_rate"]) == figures.one_touch_rate
        assert body["csat"]["ratings"] == [0, 0, 1, 0, 1]
        assert Decimal(body["csat"]["satisfied_rate"]) == Decimal("0.5")
        assert [reason["name"] for reason in body["reasons"]] == [
            reason.name for reason in figures.reasons
        ]
        assert body["templates"][0]["title"] == "Refund on its way"
        assert {agent["agent_id"] for agent in body["agents"]} >= {
            floor.a.id,
            floor.b.id,
        }
        assert len(body["series"]["days"]) == 7
        assert body["as_of"] is not None

    def test_organisation_lists_every_pod(self, client, floor):
        signed_in(client, floor.admin)
        body = client.get(reverse("api-organisation-figures"), {"period": 90}).json()
        assert body["period_days"] == 90
        assert [pod["pod_name"] for pod in body["pods"]] == ["Mercury", "Venus"]
        assert body["pods"][0]["contacts"] == 4

    def test_my_figures(self, client, floor):
        signed_in(client, floor.a.user)
        body = client.get(reverse("api-my-figures"), {"period": 7}).json()
        assert body["agent_id"] == floor.a.id
        assert body["handled"] == 1
        assert body["csat"]["ratings"] == [0, 0, 0, 0, 1]
        assert len(body["handled_series"]) == 7


# --- Cost -----------------------------------------------------------------------------


class TestQueryCounts:
    """Panels read the period rows: the number of queries stays the same when
    the pod has more tickets, agents or the organisation more pods."""

    def count(self, client, url, params=None) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url, params or {})
        assert response.status_code == 200
        return len(queries)

    def test_pod_panel_and_api(self, client, floor):
        signed_in(client, floor.lead.user)
        urls = [
            reverse("pod-figures", args=[floor.pod.id]),
            reverse("api-pod-figures", args=[floor.pod.id]),
        ]
        before = [self.count(client, url, {"period": 90}) for url in urls]
        for number in range(5):
            floor.open(f"M{number}", f"m{number}", at(11, 10), reason=floor.moving)
        factories.agent(pod=floor.pod, presence=Agent.Presence.OFFLINE)
        floor.refresh()
        after = [self.count(client, url, {"period": 90}) for url in urls]
        # Session, user, agent, pod, permissions (2), home pod, the period row;
        # the panel reads the row's revision first (its HTML is cached by it),
        # and the row only when the cache has no HTML of that revision yet.
        assert after == before == [9, 8]
        assert self.count(client, urls[0], {"period": 90}) == 8

    def test_live_panel(self, client, floor):
        signed_in(client, floor.lead.user)
        url = reverse("pod-figures-live", args=[floor.pod.id])
        before = self.count(client, url)
        for number in range(5):
            floor.open(f"M{number}", f"m{number}", at(11, 10), agent=floor.b)
        factories.agent(pod=floor.pod, presence=Agent.Presence.OFFLINE)
        # As the pod panel, less the period row, plus the pod again in the
        # selector, the queue, today's solves and the members.
        assert self.count(client, url) == before == 11

    def test_organisation_panel(self, client, floor):
        signed_in(client, floor.admin)
        url = reverse("organisation-figures")
        before = self.count(client, url, {"period": 30})
        factories.pod(name="Mars")
        factories.pod(name="Jupiter")
        floor.refresh()
        # Session, user, agent, permissions (2), the rows' revisions, and the
        # period rows' headlines when the cache has no HTML of those revisions.
        assert self.count(client, url, {"period": 30}) == before == 7
        assert self.count(client, url, {"period": 30}) == 6


# --- Pure parts -----------------------------------------------------------------------


def agent(agent_id: int, open_tickets: int, capacity: int = 8):
    return SimpleNamespace(
        agent_id=agent_id, open_tickets=open_tickets, capacity=capacity
    )


class TestBottleneck:
    def test_the_most_loaded_agent_above_the_rest(self):
        agents = [agent(1, 7), agent(2, 2), agent(3, 3)]
        assert panels.bottleneck_ids(agents) == {1}

    def test_nobody_when_everyone_is_loaded_alike(self):
        assert panels.bottleneck_ids([agent(1, 7), agent(2, 7), agent(3, 7)]) == set()

    def test_nobody_below_the_threshold(self):
        assert panels.bottleneck_ids([agent(1, 5), agent(2, 0)]) == set()

    def test_load_is_against_each_capacity(self):
        agents = [agent(1, 4, capacity=4), agent(2, 6, capacity=12), agent(3, 1)]
        assert panels.bottleneck_ids(agents) == {1}


class TestWords:
    @pytest.mark.parametrize(
        ("seconds", "words"),
        [
            (None, "—"),
            (42, "42 s"),
            (840, "14 min"),
            (3600, "1 h"),
            (11_100, "3 h 5 min"),
            (187_200, "2 d 4 h"),
            (172_800, "2 d"),
        ],
    )
    def test_durations(self, seconds, words):
        assert panels.duration_words(seconds) == words

    @pytest.mark.parametrize(
        ("rate", "words"),
        [
            (None, "—"),
            (Decimal("0.625"), "62%"),
            (Decimal("0.045"), "4.5%"),
            (Decimal("1"), "100%"),
            (Decimal("0"), "0%"),
        ],
    )
    def test_percents(self, rate, words):
        assert panels.percent_words(rate) == words


class TestTeamLoad:
    def test_open_tickets_against_the_capacity_of_those_online(self):
        agents = [
            SimpleNamespace(open_tickets=6, capacity=8, presence="ONLINE"),
            SimpleNamespace(open_tickets=2, capacity=8, presence="ONLINE"),
            SimpleNamespace(open_tickets=4, capacity=8, presence="OFFLINE"),
        ]
        assert panels.team_load(agents) == {
            "held": 12,
            "capacity": 16,
            "online": 2,
            "percent": 75,
        }

    def test_nobody_online_has_no_percentage(self):
        agents = [SimpleNamespace(open_tickets=1, capacity=8, presence="AWAY")]
        assert panels.team_load(agents)["percent"] is None
