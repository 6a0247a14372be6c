"""The dashboards through HTTP: a lead reads their own pod's dashboard (an admin
any pod's), an admin the organisation view, an agent only their own figures;
the period chosen reaches every panel; the pods figures (customers per agent,
cost per customer, tiers, open seats, progress to the split) match values
computed by hand, on the page and in the CSV; the query count does not grow
with the number of pods."""

import csv
import io
import re
from decimal import Decimal

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

import pods.services
from pods.models import Agent, Pod, PodSplit, Seat
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def agent_cost(settings):
    settings.HELPDESK = {
        **settings.HELPDESK,
        "AGENT_MONTHLY_COST": Decimal("4250.00"),
        "AGENT_COST_CURRENCY": "EUR",
    }


@pytest.fixture
def pod():
    # A lead and three agents: tiers cycle High, Middle, Low, High.
    made = factories.staffed_pod(size=4, name="Mercury", threshold=10_000)
    Pod.objects.filter(id=made.id).update(customer_count=9_000)
    made.refresh_from_db()
    return made


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.fixture
def lead(pod):
    return pod.lead


@pytest.fixture
def agent(pod):
    return Agent.objects.filter(pod=pod, role=Agent.Role.AGENT).order_by("id").first()


@pytest.fixture
def admin():
    return factories.admin_user()


def signed_in(client, user):
    client.force_login(user)
    return client


def dashboard(pod, **query) -> str:
    url = reverse("pod-dashboard", args=[pod.id])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def route_exists(name: str, *args) -> bool:
    try:
        reverse(name, args=args)
    except NoReverseMatch:
        return False
    return True


class TestWhoSeesWhat:
    @pytest.mark.parametrize(
        ("who", "whose", "status"),
        [
            ("lead", "own", 200),
            ("lead", "other", 404),
            ("agent", "own", 404),
            ("agent", "other", 404),
            ("admin", "own", 200),
            ("admin", "other", 200),
        ],
    )
    def test_pod_dashboard(
        self, client, pod, other_pod, lead, agent, admin, who, whose, status
    ):
        user = {"lead": lead.user, "agent": agent.user, "admin": admin}[who]
        target = pod if whose == "own" else other_pod

        response = signed_in(client, user).get(dashboard(target))

        assert response.status_code == status
        if status == 200:
            assert target.name in response.content.decode()

    def test_a_missing_pod_is_not_found(self, client, admin):
        assert (
            signed_in(client, admin).get("/pods/999999/dashboard/").status_code == 404
        )

    @pytest.mark.parametrize(
        ("who", "status"), [("lead", 403), ("agent", 403), ("admin", 200)]
    )
    def test_organisation(self, client, pod, lead, agent, admin, who, status):
        user = {"lead": lead.user, "agent": agent.user, "admin": admin}[who]

        response = signed_in(client, user).get(reverse("organisation"))

        assert response.status_code == status

    def test_an_agent_reads_their_own_figures(self, client, agent):
        response = signed_in(client, agent.user).get(reverse("my-figures"))

        html = response.content.decode()
        assert response.status_code == 200
        assert "My figures" in html
        if route_exists("my-figures-panel"):
            # Rendered into the page (no hx-get left for the browser).
            assert f'data-panel-src="{reverse("my-figures-panel")}?period=7"' in html
            assert 'hx-get="/me/figures/panel/' not in html

    def test_someone_who_is_no_agent_has_no_own_figures(self, client, admin):
        assert signed_in(client, admin).get(reverse("my-figures")).status_code == 404

    @pytest.mark.parametrize("name", ["organisation", "my-figures"])
    def test_signed_out_visitors_are_sent_to_sign_in(self, client, name):
        response = client.get(reverse(name))

        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]

    def test_the_header_links_each_person_to_what_they_may_see(
        self, client, pod, lead, agent, admin
    ):
        lead_page = signed_in(client, lead.user).get("/").content.decode()
        agent_page = signed_in(client, agent.user).get("/").content.decode()
        admin_page = signed_in(client, admin).get("/").content.decode()

        assert f'href="{dashboard(pod)}"' in lead_page
        assert 'href="/organisation/"' not in lead_page
        assert 'href="/me/figures/"' in lead_page
        assert f'href="{dashboard(pod)}"' not in agent_page
        assert 'href="/organisation/"' not in agent_page
        assert 'href="/me/figures/"' in agent_page
        assert 'href="/organisation/"' in admin_page

    def test_pod_list_and_detail_link_to_the_dashboard_for_leads_only(
        self, client, pod, lead, agent
    ):
        for_lead = signed_in(client, lead.user)
        lead_list = for_lead.get("/pods/").content.decode()
        lead_detail = for_lead.get(f"/pods/{pod.id}/").content.decode()
        agent_detail = (
            signed_in(client, agent.user).get(f"/pods/{pod.id}/").content.decode()
        )

        assert f'href="{dashboard(pod)}"' in lead_list
        assert f'href="{dashboard(pod)}"' in lead_detail
        assert f'href="{dashboard(pod)}"' not in agent_detail


class TestPeriod:
    def test_seven_days_by_default(self, client, pod, lead):
        html = signed_in(client, lead.user).get(dashboard(pod)).content.decode()

        assert re.search(r'href="\?period=7" aria-current="page"', html)
        assert len(re.findall(r'\?period=\d+" aria-current="page"', html)) == 1

    @pytest.mark.parametrize("period", [1, 7, 30, 90])
    def test_the_chosen_period_is_marked_and_reaches_every_panel(
        self, client, pod, lead, period
    ):
        html = (
            signed_in(client, lead.user)
            .get(dashboard(pod, period=period))
            .content.decode()
        )

        assert re.search(rf'href="\?period={period}" aria-current="page"', html)
        for name in ("pod-figures", "pod-authority-figures"):
            if route_exists(name, pod.id):
                url = reverse(name, args=[pod.id])
                assert f'data-panel-src="{url}?period={period}"' in html
        panels = re.findall(r'(?:hx-get|data-panel-src)="[^"]*\?period=(\d+)"', html)
        assert set(panels) <= {str(period)}

    def test_the_organisation_passes_the_period_to_its_panels_and_links(
        self, client, pod, admin
    ):
        html = signed_in(client, admin).get("/organisation/?period=30").content.decode()

        assert f'href="{dashboard(pod)}?period=30"' in html
        panels = re.findall(r'(?:hx-get|data-panel-src)="[^"]*\?period=(\d+)"', html)
        assert set(panels) <= {"30"}
        for name in ("organisation-figures", "organisation-authority-figures"):
            if route_exists(name):
                assert f'data-panel-src="{reverse(name)}?period=30"' in html

    @pytest.mark.parametrize("raw", ["5", "abc", "-7", "7.0", "0"])
    def test_a_period_that_is_not_offered_is_refused_with_the_choices(
        self, client, pod, lead, admin, agent, raw
    ):
        responses = [
            signed_in(client, lead.user).get(dashboard(pod, period=raw)),
            signed_in(client, admin).get(f"/organisation/?period={raw}"),
            signed_in(client, agent.user).get(f"/me/figures/?period={raw}"),
        ]

        for response in responses:
            assert response.status_code == 400
            assert "1, 7, 30 or 90 days" in response.content.decode()


class TestPodFigures:
    def test_staffing_figures_match_the_hand_computed_values(self, client, pod, lead):
        # 4 agents (the lead and three), 9,000 customers, 4,250.00 a month each:
        # 9,000 / 4 = 2,250.0 customers per agent;
        # 4 x 4,250.00 / 9,000 = 1.8888... -> 1.89 a customer a month;
        # 10 seats for a target of 10, 4 filled: 6 open; 9,000 of 10,000 = 90%.
        html = signed_in(client, lead.user).get(dashboard(pod)).content.decode()

        assert re.search(r'id="pod-agents">4 of a target of 10<', html)
        assert 'id="pod-customers-per-agent">2,250.0<' in html
        assert 'id="pod-cost-per-customer">1.89 EUR<' in html
        assert 'id="pod-open-seats">6<' in html
        assert "6 open: Pod founded" in html
        assert "Agents by proficiency tier: High 2; Middle 1; Low 1." in html
        assert "Customers against the split threshold: 9,000 of 10,000 (90%)." in html
        assert "chart__fill--near" in html

    def test_agents_who_left_and_filled_seats_are_not_counted(
        self, client, pod, lead, agent
    ):
        Agent.objects.filter(id=agent.id).update(left_on=timezone.localdate())
        Seat.objects.create(
            pod=pod, reason=Seat.Reason.GROWTH, opened_at=timezone.now()
        )

        html = signed_in(client, lead.user).get(dashboard(pod)).content.decode()

        # 3 agents: 9,000 / 3 = 3,000.0; 3 x 4,250.00 / 9,000 = 1.4166... -> 1.42.
        assert 'id="pod-customers-per-agent">3,000.0<' in html
        assert 'id="pod-cost-per-customer">1.42 EUR<' in html
        assert 'id="pod-open-seats">7<' in html
        reasons = html.split('id="pod-open-seat-reasons"')[1].split("</ul>")[0]
        assert "6 open: Pod founded" in reasons
        assert "1 open: Growth" in reasons

    def test_the_csv_carries_the_same_figures(self, client, pod, lead):
        response = signed_in(client, lead.user).get(dashboard(pod, format="csv"))

        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert rows == [
            {
                "pod_id": str(pod.id),
                "pod": "Mercury",
                "state": "ACTIVE",
                "customers": "9000",
                "split_threshold": "10000",
                "split_progress_percent": "90",
                "agents": "4",
                "tier_high": "2",
                "tier_middle": "1",
                "tier_low": "1",
                "open_seats": "6",
                "customers_per_agent": "2250.0",
                "agent_monthly_cost": "4250.00",
                "cost_per_customer": "1.89",
                "currency": "EUR",
            }
        ]

    def test_the_split_history_shows_the_pods_splits(
        self, client, pod, lead, now, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):  # the split runs
            pods.services.pod_split_request(pod_id=pod.id, reason="test", now=now)
        split = PodSplit.objects.select_related("new_pod").get(source=pod)

        html = signed_in(client, lead.user).get(dashboard(pod)).content.decode()

        history = html.split('id="splits-heading"')[1]
        assert "No splits yet" not in history
        assert f"<td>{split.new_pod.name}</td>" in history
        assert split.get_state_display() in history

    def test_pages_have_no_inline_script_or_style(self, client, pod, lead, admin):
        pages = [
            signed_in(client, lead.user).get(dashboard(pod)).content.decode(),
            signed_in(client, admin).get("/organisation/").content.decode(),
        ]

        for html in pages:
            assert not re.search(r"<script(?![^>]*\bsrc=)", html)
            assert "<style" not in html
            assert "style=" not in html
            assert "pods/dashboard.js" in html


class TestOrganisation:
    def test_every_pod_side_by_side_with_its_figures(
        self, client, pod, other_pod, admin
    ):
        html = signed_in(client, admin).get("/organisation/").content.decode()

        mercury = html.split(f'id="organisation-pod-{pod.id}"')[1].split("</tr>")[0]
        assert ">Mercury</a>" in mercury
        assert '<td class="num">9,000</td>' in mercury
        assert '<td class="num">2,250.0</td>' in mercury
        assert '<td class="num">1.89</td>' in mercury
        assert '<span class="visually-hidden">High</span> 2</span>' in mercury
        assert "(90%)" in mercury
        assert f'id="organisation-pod-{other_pod.id}"' in html
        # Venus has no customers: no cost per customer, and no bar for it.
        assert "Cost per customer a month in EUR, by pod: Mercury 1.9." in html

    def test_the_csv_has_a_row_per_pod(self, client, pod, other_pod, admin):
        response = signed_in(client, admin).get("/organisation/?format=csv")

        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [row["pod"] for row in rows] == ["Mercury", "Venus"]
        assert rows[1]["cost_per_customer"] == ""

    def test_a_name_like_a_formula_is_not_run_by_a_spreadsheet(
        self, client, pod, admin
    ):
        Pod.objects.filter(id=pod.id).update(name="=HYPERLINK(1)")

        response = signed_in(client, admin).get("/organisation/?format=csv")

        assert "'=HYPERLINK(1)" in response.content.decode()


class TestQueryCounts:
    def test_the_pod_dashboard_reads_a_fixed_number_of_queries(
        self, client, pod, lead, django_assert_num_queries
    ):
        signed_in(client, lead.user)

        # session, user, agent (time zone), pod with its staffing, permissions
        # (the user's, their groups', their home pod), open seats, splits: 9;
        # the panels rendered into the page (pods.templatetags.panels) share
        # the session, user and permissions, and read the pod again: the live
        # one 5 (queue, today's solves, members), the period's figures 3 (its
        # row's revision, the row), authority's 3 (here no period row yet).
        with django_assert_num_queries(20):
            response = client.get(dashboard(pod))

        assert response.status_code == 200
        assert 'id="pod-figures-panel"' in response.content.decode()

    def test_the_organisation_does_not_read_more_with_more_pods(
        self, client, pod, admin, django_assert_max_num_queries
    ):
        signed_in(client, admin)
        with django_assert_max_num_queries(99) as one_pod:
            client.get("/organisation/")
        for _ in range(3):
            factories.staffed_pod(size=2)

        with django_assert_max_num_queries(len(one_pod.captured_queries)):
            response = client.get("/organisation/")

        assert response.content.decode().count('id="organisation-pod-') == 4


class TestStaffingApi:
    def test_a_lead_reads_their_pods_staffing(self, client, pod, lead):
        response = signed_in(client, lead.user).get(f"/api/pods/{pod.id}/staffing/")

        assert response.status_code == 200
        assert response.json() == {
            "pod_id": pod.id,
            "pod": "Mercury",
            "state": "ACTIVE",
            "customers": 9000,
            "split_threshold": 10000,
            "split_progress_percent": 90,
            "agents": 4,
            "tiers": {"HIGH": 2, "MIDDLE": 1, "LOW": 1},
            "open_seats": 6,
            "customers_per_agent": "2250.0",
            "agent_monthly_cost": "4250.00",
            "cost_per_customer": "1.89",
            "currency": "EUR",
        }

    @pytest.mark.parametrize(("who", "status"), [("lead", 404), ("agent", 404)])
    def test_another_pods_staffing_is_not_found(
        self, client, pod, other_pod, lead, agent, who, status
    ):
        user = {"lead": lead.user, "agent": agent.user}[who]
        target = other_pod if who == "lead" else pod

        response = signed_in(client, user).get(f"/api/pods/{target.id}/staffing/")

        assert response.status_code == status

    def test_the_organisation_lists_every_pod_for_admins_only(
        self, client, pod, other_pod, lead, admin
    ):
        refused = signed_in(client, lead.user).get("/api/organisation/staffing/")
        listed = signed_in(client, admin).get("/api/organisation/staffing/")

        assert refused.status_code == 403
        assert [row["pod"] for row in listed.json()] == ["Mercury", "Venus"]
        assert listed.json()[1]["cost_per_customer"] is None
