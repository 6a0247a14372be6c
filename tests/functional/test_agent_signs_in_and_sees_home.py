"""An agent signs in, sees who they are and their pod, goes live over the websocket
and signs out; every kind of user gets working pages."""

import re

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.urls import reverse
from playwright.sync_api import expect

from pods.models import Agent
from pods.outbound import user_group
from tests import factories

LIVE_TIMEOUT_MS = 5_000
WRONG_LOGIN = "Please enter a correct username and password"


@pytest.mark.browser
class TestAgentSignsInInTheBrowser:
    def test_agent_sees_pod_and_presence_goes_live_and_signs_out(
        self, page, asgi_server
    ):
        pod = factories.staffed_pod(size=3)
        factories.agent(pod=pod, username="ana")

        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("ana")
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        expect(page).to_have_url(f"{asgi_server.url}/")
        expect(page.get_by_role("heading", name=pod.name)).to_be_visible()
        expect(page.locator("#my-presence")).to_have_text("Online")
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )

        page.locator(".usermenu > summary").click()
        page.get_by_role("button", name="Sign out").click()

        expect(page).to_have_url(re.compile(r"/accounts/login/$"))
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    def test_live_notification_shows_as_a_toast(self, page, asgi_server):
        agent = factories.agent(pod=factories.staffed_pod(size=2), username="ana")
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("ana")
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )

        asgi_server.run(
            get_channel_layer().group_send(
                user_group(agent.user_id),
                {"type": "notify", "kind": "ticket", "text": "<b>Ticket</b> for you"},
            )
        )

        toast = page.locator(".toast")
        expect(toast).to_have_text(re.compile(r"<b>Ticket</b> for you"))
        toast.get_by_role("button", name="Dismiss notification").click()
        expect(toast).to_have_count(0)

    def test_agent_changes_presence(self, page, asgi_server):
        factories.agent(pod=factories.staffed_pod(size=2), username="ana")
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("ana")
        page.get_by_label("Password").fill(factories.PASSWORD)
        page.get_by_role("button", name="Sign in").click()

        page.get_by_label("Your presence").select_option("AWAY")
        page.get_by_role("button", name="Set presence").click()

        expect(page.get_by_role("status").first).to_contain_text("You are now away")
        expect(page.locator("#my-presence")).to_have_text("Away")

    def test_wrong_password_shows_the_error_and_stays_on_sign_in(
        self, page, asgi_server
    ):
        factories.agent(pod=factories.pod(), username="ana")

        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("ana")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("alert")).to_contain_text(WRONG_LOGIN)
        expect(page).to_have_url(re.compile(r"/accounts/login/$"))
        expect(page.get_by_label("Username")).to_have_value("ana")


INLINE_CODE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|\sstyle=|\son[a-z]+=|<style", re.IGNORECASE
)


def assert_page(response, *texts: str, status: int = 200) -> str:
    """The page answered with the status, shows every text and carries no inline
    script, style or event handler (a strict CSP is planned)."""
    html = response.content.decode()
    assert response.status_code == status, html[:500]
    for text in texts:
        assert text in html, f"{text!r} not on the page"
    assert not INLINE_CODE.search(html), INLINE_CODE.search(html).group(0)
    return html


@pytest.mark.django_db
class TestPagesRenderForEveryKindOfUser:
    def test_anonymous_sees_sign_in_and_is_sent_there_from_home(self, client):
        sign_in = client.get(reverse("login") + "?next=/pods/")
        home = client.get(reverse("home"))

        html = assert_page(sign_in, "Sign in", 'name="next" value="/pods/"')
        assert 'for="id_username"' in html
        assert 'for="id_password"' in html
        assert "notifications.js" not in html
        assert home.status_code == 302
        assert home["Location"].startswith(reverse("login"))

    def test_agent_sees_home_pod_and_pod_list(self, client):
        pod = factories.staffed_pod(size=3)
        other = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod, presence=Agent.Presence.AWAY)
        client.force_login(agent.user)

        home = assert_page(
            client.get(reverse("home")),
            pod.name,
            "Away",
            reverse("presence-set"),
            "notifications.js",
            'lang="en"',
        )
        detail = assert_page(
            client.get(reverse("pod-detail", args=[pod.id])),
            pod.name,
            str(pod.lead),
            "Members",
            "Split history",
        )
        listing = assert_page(client.get(reverse("pod-list")), pod.name)
        hidden = client.get(reverse("pod-detail", args=[other.id]))

        assert "See all pods" not in home
        assert reverse("admin:index") not in home
        members = detail.split('id="members-heading"', 1)[1]
        assert members.count('class="badge badge--presence ') == 4
        assert detail.count('class="badge badge--presence ') == 5  # and the header's
        assert other.name not in listing
        assert_page(hidden, "Page not found", status=404)

    def test_lead_sees_their_pod_with_open_seats(self, client):
        pod = factories.staffed_pod(size=3)
        client.force_login(pod.lead.user)

        home = assert_page(client.get(reverse("home")), pod.name, "Pod lead")
        detail = assert_page(
            client.get(reverse("pod-detail", args=[pod.id])),
            "Hiring needs",
            "of a target of 10",
        )

        assert 'id="home-pod-customers"' in home
        assert "open since" in detail

    def test_admin_sees_every_pod_and_the_split_preview(self, admin_client):
        pod = factories.staffed_pod(size=4)
        other = factories.staffed_pod(size=2)
        lonely = factories.pod()

        home = assert_page(
            admin_client.get(reverse("home")), "Your account has no agent profile"
        )
        listing = assert_page(
            admin_client.get(reverse("pod-list")), pod.name, other.name
        )
        assert_page(admin_client.get(reverse("pod-detail", args=[pod.id])), pod.name)
        preview = admin_client.get(
            reverse("admin:pods_pod_split_preview", args=[pod.id])
        )
        refused = admin_client.get(
            reverse("admin:pods_pod_split_preview", args=[lonely.id])
        )

        assert reverse("admin:index") in home
        assert reverse("pod-list") in home
        assert lonely.name in listing
        preview_html = preview.content.decode()
        assert preview.status_code == 200
        assert "Split now" in preview_html
        assert "Leads the new pod" in preview_html
        assert "Proficiency mix" in preview_html
        assert refused.status_code == 200
        assert "cannot be split now" in refused.content.decode()
        assert 'value="Split now"' not in refused.content.decode()

    def test_admin_password_change_uses_the_same_pages(self, admin_client):
        # The admin renders registration/password_change_form.html too.
        response = admin_client.get(reverse("admin:password_change"))

        assert_page(response, "Change password", 'for="id_old_password"')

    def test_user_without_agent_profile_gets_a_friendly_home(self, client):
        user = factories.user()
        client.force_login(user)

        home = assert_page(
            client.get(reverse("home")),
            "Your account has no agent profile",
            "ask an admin",
        )

        assert reverse("pod-list") not in home
        assert "Presence" not in home

    def test_password_change_pages_render(self, client):
        user = factories.user()
        client.force_login(user)

        form = client.get(reverse("password_change"))
        changed = client.post(
            reverse("password_change"),
            {
                "old_password": factories.PASSWORD,
                "new_password1": "a-fresh-pass-2026",
                "new_password2": "a-fresh-pass-2026",
            },
            follow=True,
        )

        assert_page(form, "Change password", 'for="id_old_password"')
        assert_page(changed, "Password changed")

    def test_password_change_shows_field_errors(self, client):
        client.force_login(factories.user())

        refused = client.post(
            reverse("password_change"),
            {"old_password": "wrong", "new_password1": "x", "new_password2": "y"},
        )

        html = assert_page(refused, 'aria-invalid="true"', 'class="errorlist"')
        assert 'id="id_old_password_error"' in html

    def test_sign_out_returns_to_sign_in(self, client):
        client.force_login(factories.user())

        response = client.post(reverse("logout"), follow=True)

        assert_page(response, "Sign in")
        assert response.redirect_chain[-1][0] == reverse("login")


class TestStandalonePages:
    def test_server_error_page_renders_without_request_or_database(self):
        html = render_to_string("500.html")

        assert "Something went wrong" in html
        assert "css/helpdesk.css" in html
        assert not INLINE_CODE.search(html)

    def test_signed_out_page_renders(self, rf):
        request = rf.get("/")
        request.user = AnonymousUser()

        html = render_to_string("registration/logged_out.html", request=request)

        assert "You have signed out" in html
