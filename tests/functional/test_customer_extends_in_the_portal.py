"""In real Chromium, through the live ASGI server: a customer asks for a
sign-in link, opens it from the email, signs in with its button, extends their
class pass by themselves (stage 3) and sees the new end date; the pod lead then
opens the customer's ticket and finds the customer's grant on the authority
panel, marked stage 3."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import formats, timezone
from playwright.sync_api import expect

import authority.services
from authority.models import Entitlement, Grant
from pods.models import PortalLink
from tests import factories
from tests.functional.test_agent_works_the_queue import sign_in
from tests.integration.test_reply_templates import ticket_in

LINK_PATH = re.compile(r"https?://[^/\s]+(/portal/link/[A-Za-z0-9_-]+/)")


def day(value) -> str:
    return formats.date_format(value, "DATE_FORMAT")


def link_path_from_the_email(address: str) -> str:
    """The server runs in this process (uvicorn in a thread) and sends mail to
    the test's locmem outbox, as any email would leave the helpdesk."""
    sent = [message for message in mail.outbox if message.to == [address]]
    assert len(sent) == 1
    found = LINK_PATH.search(sent[0].body)
    assert found, sent[0].body
    return found.group(1)


@pytest.mark.browser
class TestCustomerExtendsInThePortal:
    def test_sign_in_from_the_email_extend_and_the_pod_sees_it(
        self, page, browser, asgi_server
    ):
        now = timezone.now()
        pod = factories.staffed_pod(size=2, name="Mercury")
        # A customer of 100 days: past the 30 days self-service extensions need.
        ticket = ticket_in(
            pod, email="minji@customer.example", now=now - timedelta(days=100)
        )
        authority.services.demo_authority_seed(
            now=now, customer_ids=[ticket.customer_id]
        )
        entitlement = Entitlement.objects.get(customer_id=ticket.customer_id)
        extended_end = entitlement.ends_on + timedelta(days=7)

        # The customer asks for a link: the page answers as for any address.
        page.goto("/portal/")
        expect(page).to_have_url(re.compile(r"/portal/sign-in/$"))
        page.get_by_label("Your email address").fill("Minji@Customer.example")
        page.get_by_role("button", name="Email me a sign-in link").click()
        expect(page.get_by_role("status")).to_contain_text(
            "If that address is known to us, a sign-in link is on its way"
        )

        # Opening the link shows a button and signs in no one (mail scanners
        # fetch links); the button signs in.
        page.goto(link_path_from_the_email("minji@customer.example"))
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Sign in to your account"
        )
        assert PortalLink.objects.get().used_at is None
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/portal/$"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Minji Kim")
        expect(page.get_by_role("banner")).to_contain_text("Minji Kim")
        # The overview composes the apps' panels: their requests (tickets) ...
        expect(page.locator("#portal-tickets")).to_contain_text("Moving home")
        nav = page.get_by_role("navigation", name="Portal")
        expect(nav.get_by_role("link", name="New request")).to_be_visible()
        # Mobile first: on a phone's width nothing scrolls sideways.
        page.set_viewport_size({"width": 360, "height": 740})
        expect(page.locator("#portal-entitlements")).to_contain_text("Class pass")
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        ), "the overview scrolls sideways at 360px"
        page.set_viewport_size({"width": 1280, "height": 800})

        # ... and the class pass with the extension their rules allow (authority).
        passes = page.locator("#portal-entitlements")
        expect(passes).to_contain_text("Class pass")
        expect(passes).to_contain_text("50 days left")
        expect(passes).to_contain_text(f"to {day(entitlement.ends_on)}")
        extension = passes.locator("[data-action='extension']")
        expect(extension).to_contain_text("Extend by up to 7 days")
        extension.get_by_label("Days").fill("7")
        extension.get_by_role("button", name="Extend").click()

        # Granted at once, and the pass shows its new end.
        outcome = passes.locator(".portal-outcome")
        expect(outcome).to_contain_text("now runs 7 days longer")
        expect(passes).to_contain_text(f"to {day(extended_end)}")
        expect(passes).to_contain_text("57 days left")
        entitlement.refresh_from_db()
        assert entitlement.ends_on == extended_end
        grant = Grant.objects.get()
        assert (grant.stage, grant.customer_id, grant.agent_id) == (
            3,
            ticket.customer_id,
            None,
        )

        # A portal sign-in opens no staff page.
        page.goto("/queue/")
        expect(page).to_have_url(re.compile(r"/accounts/login/"))

        # The pod lead, in their own browser, sees the grant on the customer's
        # ticket: the authority panel lists it, made at stage 3.
        lead_context = browser.new_context(base_url=asgi_server.url)
        lead_context.set_default_timeout(10_000)
        lead = lead_context.new_page()
        sign_in(lead, pod.lead.user.username)
        lead.goto(f"/tickets/{ticket.id}/")
        granted = lead.locator(f"#authority-panel [data-grant='{grant.id}']")
        expect(granted).to_be_visible()
        expect(granted).to_contain_text("stage 3")
        expect(granted).to_contain_text("extension")
        lead_context.close()
