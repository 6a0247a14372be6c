"""In real Chromium, through the live ASGI server: an agent opens a ticket,
grants a refund from the authority panel and reads why it was allowed, asks
for approval above their limit; the pod lead, in a second browser, sees the
request arrive in the approval queue without reloading and approves it; the
agent's panel shows it granted, live."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

import authority.services
from authority.models import AuthorityRequest, Grant
from tests import factories
from tests.functional.test_agent_works_the_queue import sign_in
from tests.integration.test_reply_templates import ticket_in

LIVE_TIMEOUT_MS = 10_000


@pytest.mark.browser
class TestAgentAndLeadSettleARefund:
    def test_grant_ask_approve_live(self, page, browser, asgi_server):
        now = timezone.now()
        pod = factories.staffed_pod(size=2, name="Mercury")
        factories.agent(pod=pod, username="ana")
        lead = pod.lead.user
        ticket = ticket_in(
            pod, email="minji@customer.example", now=now - timedelta(days=100)
        )
        authority.services.demo_authority_seed(
            now=now, customer_ids=[ticket.customer_id]
        )

        # The lead watches the approval queue in their own browser.
        lead_context = browser.new_context(base_url=asgi_server.url)
        lead_context.set_default_timeout(10_000)
        queue = lead_context.new_page()
        sign_in(queue, lead.username)
        queue.get_by_role("link", name="Approvals").click()
        expect(queue.get_by_text("Nothing is waiting for approval.")).to_be_visible()
        queue.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )

        # The agent grants within their own rule, and reads why.
        sign_in(page, "ana")
        page.goto(f"/tickets/{ticket.id}/")
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )
        refund = page.locator("#authority-panel [data-action='refund']")
        expect(refund).to_contain_text("You may grant up to £50 now.")
        refund.get_by_label(re.compile("Amount")).fill("30")
        refund.get_by_label("Note (optional)").fill("parcel arrived broken")
        refund.get_by_role("button", name="Grant").click()

        outcome = page.locator("#authority-outcome")
        expect(outcome).to_contain_text("Granted: £30 refund.")
        expect(outcome).to_contain_text("£30 is within the £50 limit per grant")
        expect(outcome).to_contain_text(
            "0 of 2 allowed (refund) for this customer in 90 days"
        )
        expect(page.locator("#authority-grants")).to_contain_text("£30 refund")

        # Above the limit the button says what will happen: ask for approval.
        refund = page.locator("#authority-panel [data-action='refund']")
        amount = refund.get_by_label(re.compile("Amount"))
        amount.fill("80")
        button = refund.locator("[data-ask-button]")
        expect(button).to_have_text("Ask for approval")
        button.click()
        expect(outcome).to_contain_text("Sent for approval: £80 refund.")
        expect(outcome).to_contain_text("£80 is over the £50 limit per grant")
        expect(page.locator("#authority-pending")).to_contain_text("£80 refund")
        request = AuthorityRequest.objects.get(state="PENDING")

        # The request arrives in the lead's queue without a reload.
        card = queue.locator(f"#approval-{request.id}")
        expect(card).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        expect(card).to_contain_text("£80 refund")
        expect(card).to_contain_text("Minji Kim")
        expect(card).to_contain_text("£30 refund")  # the customer's recent grant
        card.get_by_label("Note (optional)").fill("broken twice, fine")
        card.get_by_role("button", name="Approve").click()
        expect(queue.locator(".messages")).to_contain_text(
            "Approved and granted: £80 refund."
        )
        expect(card).to_have_count(0)

        # The agent's panel shows it granted, live.
        expect(outcome).to_contain_text("Granted: £80 refund.", timeout=LIVE_TIMEOUT_MS)
        expect(page.locator("#authority-grants")).to_contain_text("£80 refund")
        expect(page.locator("#authority-pending")).to_have_count(0)
        assert Grant.objects.filter(request=request, approved_by=lead).exists()
        assert Grant.objects.count() == 2
        lead_context.close()
