"""An admin opens the authority insights, sees that class extensions are asked
for again and again and nearly always approved, and applies the recommendation
in one click: the agents' rule gets a new version and the recommendation is
gone. A pod lead reads their own pod's usage and the organisation's figures
but cannot apply; an agent is refused. The figures come as CSV and JSON too."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

import authority.services
from authority.models import AuthorityRule
from tests import factories
from tests.integration.test_authority_insights import (
    ask,
    customer_ticket,
    decide,
    solved,
)

pytestmark = pytest.mark.django_db

INSIGHTS = reverse("authority-insights")
APPLY = reverse("authority-insights-apply")
AMOUNTS = [15, 16, 18, 20, 21] * 4  # twenty extensions, every one approved


@pytest.fixture
def pod():
    return factories.staffed_pod(size=4, name="Mercury")


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=3, name="Venus")


@pytest.fixture
def agents(pod):
    return list(pod.members.exclude(id=pod.lead_id).order_by("id"))


@pytest.fixture
def floor(pod, other_pod, agents, now):
    """Twenty extension approvals this month; in each pod, tickets its agents
    solved, some with a grant."""
    authority.services.demo_authority_seed(now=now)
    lead = pod.lead.user
    for number, amount in enumerate(AMOUNTS):
        ticket = customer_ticket(pod, number, at=now - timedelta(days=5))
        asked = ask(agents[number % 3], ticket, amount, at=now - timedelta(days=4))
        decide(asked, lead, after=timedelta(hours=2 + number % 5))
    solved(pod, 100, agents[0], at=now - timedelta(days=2), grant=("refund", 30))
    solved(pod, 101, agents[1], at=now - timedelta(days=2))
    venus = list(other_pod.members.exclude(id=other_pod.lead_id))
    solved(other_pod, 200, venus[0], at=now - timedelta(days=2))


def agents_rule():
    return AuthorityRule.objects.get(
        name="Extensions an agent decides", superseded_at__isnull=True
    )


class TestAdminAppliesADelegationRecommendation:
    def test_sees_the_recommendation_applies_it_and_it_is_gone(self, client, floor):
        admin = factories.admin_user(username="boss")
        client.force_login(admin)

        page = client.get(INSIGHTS).content.decode()
        (key,) = {
            line.split('value="')[1].split('"')[0]
            for line in page.splitlines()
            if 'name="key"' in line
        }
        applied = client.post(APPLY, {"key": key, "days": "30"}, follow=True)
        again = client.post(APPLY, {"key": key, "days": "30"}, follow=True)

        text = (
            "Move class extension up to 21 days to stage 2: 20 requests in 30 "
            "days, 100% approved"
        )
        assert text in page
        assert "Mercury" in page
        assert "Venus" in page
        assert applied.status_code == 200
        assert "Applied: “Extensions an agent decides” version 2." in (
            applied.content.decode()
        )
        assert 'name="key"' not in applied.content.decode()  # nothing left
        assert "Nothing to apply" in again.content.decode()
        rule = agents_rule()
        assert (rule.version, rule.max_per_grant, rule.created_by) == (2, 21, admin)
        assert AuthorityRule.objects.filter(lineage=rule.lineage).count() == 2

    def test_a_refused_apply_says_why_and_changes_nothing(self, client, floor):
        rule = agents_rule()
        authority.services.rule_revise(
            rule_id=rule.id,
            terms={
                "name": rule.name,
                "action_type": rule.action_type,
                "stage": rule.stage,
                "max_per_grant": rule.max_per_grant,
                "customer_period_days": 90,
                "customer_max_total": Decimal(16),  # under the 21 days recommended
                "valid_from": rule.valid_from,
            },
            user=None,
            note="tighter",
            now=rule.created_at,
        )
        client.force_login(factories.admin_user())
        page = client.get(INSIGHTS).content.decode()
        key = page.split('name="key" value="')[1].split('"')[0]

        refused = client.post(APPLY, {"key": key, "days": "30"}, follow=True)

        assert "Not applied: the limit per grant is more than the customer" in (
            refused.content.decode()
        )
        assert agents_rule().version == 2  # the tightening, nothing more

    def test_bad_input_is_a_clear_400(self, client, floor):
        client.force_login(factories.admin_user())

        wrong_period = client.get(INSIGHTS, {"days": "5"})
        wrong_format = client.get(INSIGHTS, {"format": "xml"})
        no_key = client.post(APPLY, {"days": "30"})

        assert wrong_period.status_code == 400
        assert "5 is not one of the available choices" in wrong_period.content.decode()
        assert wrong_format.status_code == 400
        assert no_key.status_code == 400
        assert agents_rule().version == 1


class TestWhoSeesWhat:
    def test_a_lead_reads_their_pod_and_the_organisation_but_cannot_apply(
        self, client, floor, pod
    ):
        client.force_login(pod.lead.user)

        page = client.get(INSIGHTS)
        applied = client.post(APPLY, {"key": "1to2:extension:all:21", "days": "30"})

        body = page.content.decode()
        assert page.status_code == 200
        assert "Move class extension up to 21 days" in body  # read-only
        assert 'name="key"' not in body
        assert "Mercury" in body
        assert "Venus" not in body
        assert applied.status_code == 403
        assert agents_rule().version == 1

    def test_a_leads_csv_and_json_hold_their_pod_alone(self, client, floor, pod):
        client.force_login(pod.lead.user)

        usage = client.get(INSIGHTS, {"format": "csv", "table": "usage"})
        body = client.get(INSIGHTS, {"format": "json"}).json()

        rows = list(csv.DictReader(io.StringIO(usage.content.decode())))
        assert usage["Content-Type"] == "text/csv; charset=utf-8"
        assert {row["Pod"] for row in rows} == {"Mercury"}
        assert [pod_usage["pod"] for pod_usage in body["usage"]] == ["Mercury"]
        refunder = next(row for row in rows if row["With a grant"] == "1")
        assert (refunder["Opportunities"], refunder["Amounts granted"]) == ("1", "£30")

    def test_an_agent_is_refused(self, client, floor, agents):
        client.force_login(agents[0].user)

        page = client.get(INSIGHTS)
        figures = client.get(INSIGHTS, {"format": "csv"})
        applied = client.post(APPLY, {"key": "1to2:extension:all:21", "days": "30"})

        assert (page.status_code, figures.status_code, applied.status_code) == (
            403,
            403,
            403,
        )
        assert agents_rule().version == 1

    def test_signed_out_goes_to_the_login(self, client, floor):
        assert client.get(INSIGHTS).status_code == 302


class TestFiguresAsCsv:
    def test_the_delegation_table_as_csv(self, client, floor):
        client.force_login(factories.admin_user())

        response = client.get(INSIGHTS, {"format": "csv", "days": "90"})

        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert response["Content-Disposition"] == (
            'attachment; filename="authority-delegation-90d.csv"'
        )
        total = next(row for row in rows if row["Contact reason"] == "All reasons")
        assert total["Action"] == "Class extension"
        assert (total["Approval requests"], total["Approved"], total["Denied"]) == (
            "20",
            "20",
            "0",
        )
        assert total["Approval rate"] == "1.000"
        assert total["Approved, largest"] == "21.00"

    def test_a_name_that_looks_like_a_formula_is_not_run(self, client, floor, agents):
        user = agents[0].user
        user.first_name, user.last_name = "=HYPERLINK(1)", ""
        user.save()
        client.force_login(factories.admin_user())

        response = client.get(INSIGHTS, {"format": "csv", "table": "usage"})

        assert "'=HYPERLINK(1)" in response.content.decode()
