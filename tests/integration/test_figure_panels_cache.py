"""The period panels' rendered HTML is cached by what it is made of: a refresh
of the rows means new HTML at once; a live change (an approval asked) too;
never another viewer's language, time zone or permission-dependent parts.
And the organisation's figures are the pod rows' headlines, the same pod-wide
numbers as each pod's own figures."""

import dataclasses
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.urls import reverse

import authority.selectors
import tickets.selectors
from authority.models import AuthorityRequest
from pods.models import Agent
from tests import factories

# The authority figures' hand-computed day and its fixtures, used by name.
from tests.integration.test_authority_figures import (  # noqa: F401 (fixtures)
    T,
    agents,
    day,
    funnel,
    lead,
    pod,
    refresh,
)
from tests.integration.test_authority_insights import ask, customer_ticket, solved
from tests.integration.test_figure_panels import NOW, Floor, at

pytestmark = pytest.mark.django_db

CONTACTS = re.compile(r'id="figure-contacts">.*?figure-tile__value">(\d+)<', re.DOTALL)
WAITING = re.compile(r'data-figure="approvals-waiting">(\d+) ')
AVOIDED = re.compile(r'data-figure="approvals-avoided">(\d+) ')


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()


@pytest.fixture
def floor() -> Floor:
    floor = Floor()
    floor.open("T1", "c1", at(10, 9), reason=floor.refund, agent=floor.a)
    floor.open("T2", "c2", at(11, 8), reason=floor.moving)
    floor.refresh()
    return floor


def panel_html(client, user, url, **headers) -> str:
    client.force_login(user)
    response = client.get(url, {"period": 7}, **headers)
    assert response.status_code == 200
    return response.content.decode()


class TestPodFiguresCache:
    def test_a_refresh_shows_at_once_and_nothing_before_it(self, client, floor):
        url = reverse("pod-figures", args=[floor.pod.id])
        first = panel_html(client, floor.lead.user, url)
        floor.open("T3", "c3", at(11, 10))
        floor.open("T4", "c4", at(11, 11))

        before_refresh = panel_html(client, floor.lead.user, url)
        floor.refresh()
        after_refresh = panel_html(client, floor.lead.user, url)

        assert CONTACTS.search(first).group(1) == "2"
        # The rows did not change yet: the same figures, as the rows say.
        assert before_refresh == first
        assert CONTACTS.search(after_refresh).group(1) == "4"

    def test_every_refresh_is_a_new_revision_even_at_the_same_time(self, floor):
        before = tickets.selectors.pod_figures_revision(
            pod_id=floor.pod.id, period_days=7
        )

        floor.refresh(now=NOW)

        after = tickets.selectors.pod_figures_revision(
            pod_id=floor.pod.id, period_days=7
        )
        assert None not in (before, after)
        assert after != before

    def test_never_another_viewers_language(self, client, floor):
        url = reverse("pod-figures", args=[floor.pod.id])

        korean = panel_html(client, floor.lead.user, url, HTTP_ACCEPT_LANGUAGE="ko")
        english = panel_html(client, floor.lead.user, url, HTTP_ACCEPT_LANGUAGE="en")

        assert "문의" in korean
        assert "문의" not in english
        assert ">Contacts<" in english

    def test_never_another_viewers_time_zone(self, client, floor):
        Agent.objects.filter(id=floor.lead.id).update(time_zone="Asia/Seoul")
        url = reverse("pod-figures", args=[floor.pod.id])

        seoul = panel_html(client, floor.lead.user, url)
        site = panel_html(client, floor.admin, url)

        assert "KST" in seoul
        assert "KST" not in site


class TestOrganisationFiguresCache:
    def test_a_refresh_shows_at_once(self, client, floor):
        url = reverse("organisation-figures")
        first = panel_html(client, floor.admin, url)
        floor.open("T3", "c3", at(11, 10))
        floor.refresh()

        second = panel_html(client, floor.admin, url)

        row = re.compile(
            rf'id="organisation-figures-pod-{floor.pod.id}">.*?class="num">(\d+)<',
            re.DOTALL,
        )
        assert row.search(first).group(1) == "2"
        assert row.search(second).group(1) == "3"

    def test_a_renamed_pod_shows_its_new_name(self, client, floor):
        url = reverse("organisation-figures")
        panel_html(client, floor.admin, url)
        floor.pod.name = "Mercury East"
        floor.pod.save(update_fields=["name"])

        assert "Mercury East" in panel_html(client, floor.admin, url)


class TestOrganisationHeadlines:
    def test_equal_the_pod_rows_pod_wide_figures(self, floor):
        floor.open("T3", "c3", at(11, 10), reason=floor.refund, agent=floor.b)
        floor.refresh()

        for period in (1, 7, 30, 90):
            headlines = tickets.selectors.organisation_headlines(period_days=period)
            assert [one.pod_id for one in headlines] == [
                floor.pod.id,
                floor.other.id,
            ]
            for headline in headlines:
                whole = tickets.selectors.pod_figures(
                    pod_id=headline.pod_id, period_days=period
                )
                assert headline == pod_wide(whole)
                assert (headline.reasons, headline.agents) == ((), ())

    def test_a_row_written_before_headlines_is_read_whole(self, floor):
        from tickets.models import PodPeriodFigures

        PodPeriodFigures.objects.update(headline=None)

        (mercury, _venus) = tickets.selectors.organisation_headlines(period_days=7)

        whole = tickets.selectors.pod_figures(pod_id=floor.pod.id, period_days=7)
        assert mercury == pod_wide(whole)
        assert mercury.contacts == 2


def pod_wide(figures):
    """The figures without their per-agent, per-reason and per-template detail
    nor the series' values."""
    return dataclasses.replace(
        figures,
        reasons=(),
        templates=(),
        agents=(),
        series=dataclasses.replace(
            figures.series,
            contacts=(),
            solved=(),
            first_response_median_seconds=(),
            csat=(),
        ),
    )


class TestAuthorityFiguresCache:
    def test_an_approval_asked_shows_at_once_without_a_refresh(
        self,
        client,
        day,  # noqa: F811
        pod,  # noqa: F811
        agents,  # noqa: F811
        lead,  # noqa: F811
    ):
        url = reverse("pod-authority-figures", args=[pod.id])
        before = panel_html(client, lead, url)
        revision = authority.selectors.pod_authority_revision(
            pod_id=pod.id, days=7, now=T
        )
        ticket = customer_ticket(pod, 60, at=T)
        asked = ask(
            agents[1], ticket, 300, at=T + timedelta(minutes=5), action="refund"
        )
        assert asked.state == AuthorityRequest.State.PENDING

        after = panel_html(client, lead, url)

        assert int(WAITING.search(after).group(1)) == (
            int(WAITING.search(before).group(1)) + 1
        )
        assert (
            authority.selectors.pod_authority_revision(pod_id=pod.id, days=7, now=T)
            != revision
        )

    def test_a_refresh_at_the_same_time_shows_the_new_grants(
        self,
        client,
        day,  # noqa: F811
        pod,  # noqa: F811
        agents,  # noqa: F811
        lead,  # noqa: F811
    ):
        # The merge time (as_of) stays T: the stored figures tell the change.
        admin = factories.admin_user()
        urls = [
            reverse("pod-authority-figures", args=[pod.id]),
            reverse("organisation-authority-figures"),
        ]
        before = [panel_html(client, admin, url) for url in urls]
        solved(pod, 70, agents[2], at=T - timedelta(hours=2), grant=("credit", 5))
        refresh(now=T)

        after = [panel_html(client, admin, url) for url in urls]

        for old, new in zip(before, after, strict=True):
            assert new != old
        assert AVOIDED.search(after[0]).group(1) == str(
            int(AVOIDED.search(before[0]).group(1)) + 1
        )

    def test_never_another_users_approvals_link(
        self,
        client,
        day,  # noqa: F811
        pod,  # noqa: F811
        lead,  # noqa: F811
    ):
        # Reads every pod's dashboard, decides no approval.
        reader = factories.user()
        reader.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="pods",
                codename__in=["view_all_pods", "view_dashboard"],
            )
        )
        url = reverse("pod-authority-figures", args=[pod.id])
        approvals = reverse("authority-approvals")
        assert lead.has_perm("authority.add_approvaldecision")
        assert not reader.has_perm("authority.add_approvaldecision")

        for_lead = panel_html(client, lead, url)
        for_reader = panel_html(client, reader, url)
        for_lead_again = panel_html(client, lead, url)

        assert approvals in for_lead
        assert approvals not in for_reader
        assert WAITING.search(for_reader).group(1) == WAITING.search(for_lead).group(1)
        assert for_lead_again == for_lead
