"""The panel tag (pods.templatetags.panels): a page renders another app's panel
into itself by URL name, called in-process as the page's user with the
htmx request the panel expects; a panel that answers 404 or 403 to that user,
or a page rendered without a request, falls back to the htmx placeholder."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from pods.templatetags.panels import panel_request
from tests import factories

pytestmark = pytest.mark.django_db

SLOT = Template(
    "{% load panels %}{% panel name pod_id period=period as slot %}"
    "{% if slot %}<section {{ slot.attributes }}>"
    "{% if slot.inlined %}{{ slot.html }}{% else %}placeholder{% endif %}"
    "</section>{% else %}no slot{% endif %}"
)
ORGANISATION_SLOT = Template(
    "{% load panels %}{% panel 'organisation-figures' period=30 as slot %}"
    "<section {{ slot.attributes }}>"
    "{% if slot.inlined %}{{ slot.html }}{% else %}placeholder{% endif %}</section>"
)


def page_request(user, path="/pods/1/dashboard/?period=7"):
    request = RequestFactory().get(path, HTTP_ACCEPT_LANGUAGE="en")
    request.user = user
    request.session = SessionStore()
    request.htmx = HtmxDetails(request)
    return request


def rendered(template, request, **context) -> str:
    return template.render(Context({"request": request, **context}))


@pytest.fixture
def mercury():
    return factories.staffed_pod(size=2, name="Mercury")


@pytest.fixture
def venus():
    return factories.staffed_pod(size=2, name="Venus")


class TestPanelTag:
    def test_inlines_the_panel_its_view_answers_to_the_pages_user(self, mercury):
        request = page_request(mercury.lead.user)

        html = rendered(SLOT, request, name="pod-figures", pod_id=mercury.id, period=30)

        url = reverse("pod-figures", args=[mercury.id])
        assert f'data-panel-src="{url}?period=30"' in html
        assert "hx-get" not in html
        assert 'id="pod-figures-panel"' in html
        assert 'data-period="30"' in html

    def test_a_panel_that_answers_404_leaves_the_htmx_placeholder(
        self, mercury, venus, caplog
    ):
        # Venus's lead may not see Mercury: its panel answers 404 to them.
        request = page_request(venus.lead.user)

        html = rendered(SLOT, request, name="pod-figures", pod_id=mercury.id, period=7)

        url = reverse("pod-figures", args=[mercury.id])
        assert f'hx-get="{url}?period=7" hx-trigger="load"' in html
        assert "placeholder" in html
        assert "pod-figures-panel" not in html
        assert "failed in-process" not in caplog.text  # a 404, not an error

    def test_a_panel_that_answers_403_leaves_the_htmx_placeholder(
        self, mercury, caplog
    ):
        # The organisation's panels need every pod's view: a lead gets 403.
        request = page_request(mercury.lead.user)

        html = rendered(ORGANISATION_SLOT, request)

        assert f'hx-get="{reverse("organisation-figures")}?period=30"' in html
        assert "placeholder" in html
        assert "failed in-process" not in caplog.text  # a 403, not an error

    def test_the_same_panel_inlines_for_someone_who_may_see_it(self, mercury):
        request = page_request(factories.admin_user())

        html = rendered(ORGANISATION_SLOT, request)

        assert "hx-get" not in html
        assert 'id="organisation-figures-panel"' in html

    def test_a_url_name_nobody_serves_gives_no_slot(self, mercury):
        request = page_request(mercury.lead.user)

        html = rendered(
            SLOT, request, name="no-such-panel", pod_id=mercury.id, period=7
        )

        assert html == "no slot"

    def test_without_a_request_the_browser_fetches_it(self, mercury):
        html = SLOT.render(
            Context({"name": "pod-figures", "pod_id": mercury.id, "period": 7})
        )

        assert "hx-get=" in html
        assert "placeholder" in html

    def test_the_panel_is_asked_as_htmx_would_ask_it(self, mercury):
        request = page_request(mercury.lead.user)
        path = reverse("pod-figures", args=[mercury.id])

        sub = panel_request(request, path=path, query={"period": 90}, match=None)

        assert sub.method == "GET"
        assert sub.path == path
        assert sub.GET["period"] == "90"
        assert sub.META["QUERY_STRING"] == "period=90"
        assert bool(sub.htmx) is True
        assert (sub.user, sub.session) == (request.user, request.session)
        # The page's own request is left as it was.
        assert not request.htmx
        assert request.GET["period"] == "7"


class TestDashboardPages:
    def test_the_pod_dashboard_inlines_its_panels(self, client, mercury):
        client.force_login(mercury.lead.user)

        html = client.get(
            reverse("pod-dashboard", args=[mercury.id]), {"period": 30}
        ).content.decode()

        assert 'id="pod-figures-panel"' in html
        assert 'data-live-panel data-refresh-url="' in html
        # Nothing left for the browser to fetch before the first paint.
        assert 'hx-trigger="load"' not in html
