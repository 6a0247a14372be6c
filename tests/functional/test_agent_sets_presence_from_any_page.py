"""An agent sees their presence in the header of every page and changes it from
there, landing back on the page they were on."""

import pytest
from django.template import Context, Template
from django.urls import reverse
from playwright.sync_api import expect

from pods.models import Agent
from tests import factories
from tests.functional.test_agent_signs_in_and_sees_home import assert_page

MENU_FORM = f'action="{reverse("presence-set")}"'


@pytest.mark.browser
class TestAgentSetsPresenceInTheBrowser:
    def test_agent_goes_away_from_the_pod_page_and_stays_there(self, page, asgi_server):
        pod = factories.staffed_pod(size=2)
        factories.agent(pod=pod, username="ana")
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("ana")
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"/pods/{pod.id}/")

        page.locator(".usermenu > summary").click()
        page.get_by_label("Presence", exact=True).select_option("AWAY")
        page.get_by_role("button", name="Set", exact=True).click()

        expect(page).to_have_url(f"{asgi_server.url}/pods/{pod.id}/")
        expect(page.get_by_role("status").first).to_contain_text("You are now away")
        expect(page.locator(".usermenu > summary .badge--presence")).to_have_text(
            "Away"
        )


@pytest.mark.django_db
class TestPresenceInTheHeader:
    def test_agent_sees_their_presence_and_the_form_on_pod_pages(self, client):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod, presence=Agent.Presence.AWAY)
        client.force_login(agent.user)
        detail_url = reverse("pod-detail", args=[pod.id])

        listing = assert_page(client.get(reverse("pod-list")), MENU_FORM)
        detail = assert_page(client.get(detail_url), MENU_FORM)

        assert 'badge--presence-away">Away</span>' in listing
        assert 'name="next" value="/pods/"' in listing
        assert f'name="next" value="{detail_url}"' in detail
        assert '<option value="AWAY" selected>Away</option>' in detail

    def test_agent_sets_presence_and_returns_to_the_page(self, client):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod, presence=Agent.Presence.ONLINE)
        client.force_login(agent.user)
        detail_url = reverse("pod-detail", args=[pod.id])

        response = client.post(
            reverse("presence-set"),
            {"presence": Agent.Presence.AWAY, "next": detail_url},
            follow=True,
        )

        assert response.redirect_chain == [(detail_url, 302)]
        assert_page(response, "You are now away")
        agent.refresh_from_db()
        assert agent.presence == Agent.Presence.AWAY

    def test_unknown_presence_changes_nothing_and_returns_to_the_page(self, client):
        agent = factories.agent(pod=factories.staffed_pod(size=2))
        changed_at = agent.presence_changed_at
        client.force_login(agent.user)

        response = client.post(
            reverse("presence-set"),
            {"presence": "BUSY", "next": reverse("pod-list")},
            follow=True,
        )

        assert response.redirect_chain == [(reverse("pod-list"), 302)]
        assert_page(response, "Choose online, away or offline.")
        agent.refresh_from_db()
        assert agent.presence == Agent.Presence.ONLINE
        assert agent.presence_changed_at == changed_at

    def test_next_on_another_site_goes_home(self, client):
        agent = factories.agent(pod=factories.staffed_pod(size=2))
        client.force_login(agent.user)

        response = client.post(
            reverse("presence-set"),
            {"presence": Agent.Presence.OFFLINE, "next": "https://evil.example/"},
        )

        assert response.status_code == 302
        assert response["Location"] == reverse("home")

    def test_user_without_agent_profile_has_no_presence_to_set(self, admin_client):
        listing = assert_page(admin_client.get(reverse("pod-list")))
        refused = admin_client.post(
            reverse("presence-set"), {"presence": Agent.Presence.ONLINE}
        )

        assert MENU_FORM not in listing
        assert "badge--presence" not in listing
        assert refused.status_code == 404


@pytest.mark.django_db
class TestUserMenuTag:
    def test_reads_the_agent_in_one_query(self, rf, django_assert_num_queries):
        agent = factories.agent(pod=factories.staffed_pod(size=2))
        request = rf.get("/pods/")
        request.user = agent.user
        template = Template("{% load pods_presence %}{% user_menu %}")

        with django_assert_num_queries(1):
            html = template.render(Context({"user": agent.user, "request": request}))

        assert 'badge--presence-online">Online</span>' in html
        assert 'name="next" value="/pods/"' in html
