"""A pod's dashboard is open in the browser (its lead's, or an admin's who works
in no pod and follows it); a customer's email arrives through the real intake
(a signed POST to /inbound/email/ on the live server); the queue-now count on
the open page goes up without a reload, and the page says when it updated.

Real headless Chromium through the project's ASGI application; on the real
stack (HELPDESK_REAL_STACK=1) the database is PostgreSQL and the channel layer
Redis, so the pod's event crosses Redis."""

import urllib.request

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from pods.models import Agent
from tests import factories
from tests.functional.test_agent_works_the_queue import LIVE_TIMEOUT_MS, sign_in
from tickets.models import Ticket, WebhookSecret

SECRET = "dashboard-email-secret"
UNASSIGNED = "#live-unassigned .figure-tile__value"


def live_panel_served() -> bool:
    try:
        reverse("pod-figures-live", args=[1])
    except NoReverseMatch:
        return False
    return True


def email_arrives(server_url: str, *, subject: str) -> int:
    """Post a customer's email to the intake webhook as a mail provider would."""
    body = factories.email_bytes(
        sender="Grace Lee <grace@customer.example>", subject=subject
    )
    request = urllib.request.Request(  # noqa: S310 (the test's own server)
        f"{server_url}/inbound/email/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "message/rfc822",
            "X-Helpdesk-Signature": factories.signature(body=body, secret=SECRET),
        },
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
        return response.status


@pytest.mark.browser
class TestDashboardUpdatesLive:
    @pytest.mark.parametrize("viewer", ["lead", "admin"])
    def test_the_queue_count_goes_up_when_an_email_arrives(
        self, page, asgi_server, viewer
    ):
        if not live_panel_served():
            pytest.skip("the tickets app does not serve pod-figures-live yet")
        WebhookSecret.objects.create(channel="EMAIL", secret=SECRET)
        pod = factories.staffed_pod(size=3, name="Mercury")
        # Nobody online: the new ticket waits unassigned in the pod's queue.
        Agent.objects.filter(pod=pod).update(presence=Agent.Presence.OFFLINE)
        if viewer == "lead":
            pod.lead.user.username = "lea"
            pod.lead.user.save()
        else:
            factories.admin_user(username="ada")
        sign_in(page, "lea" if viewer == "lead" else "ada")

        page.goto(f"/pods/{pod.id}/dashboard/")
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )
        dashboard = page.locator("[data-pod-dashboard]")
        expect(dashboard).to_have_attribute(
            "data-following", str(pod.id), timeout=LIVE_TIMEOUT_MS
        )
        expect(page.locator(UNASSIGNED)).to_have_text("0")
        page.evaluate("window.dashboardNotReloaded = true")

        status = email_arrives(asgi_server.url, subject="My boiler is cold")

        assert status == 202
        expect(page.locator(UNASSIGNED)).to_have_text("1", timeout=LIVE_TIMEOUT_MS)
        assert page.evaluate("window.dashboardNotReloaded") is True
        expect(page.locator("[data-live-updated]")).to_contain_text("Updated")
        expect(page.locator("[data-live-updated] time")).to_have_count(1)
        ticket = Ticket.objects.get(subject="My boiler is cold")
        assert (ticket.pod_id, ticket.assignee_id) == (pod.id, None)
