"""A visitor starts a chat in the widget on /chat/demo/ (one browser context);
an agent signed in to the workspace (another context) sees the ticket arrive in
the live queue, takes it, opens it, answers with a reply template from the
composer's template panel, and the visitor's widget shows the reply live.

Real headless Chromium through the project's ASGI application; on the real
stack (HELPDESK_REAL_STACK=1) the database is PostgreSQL and the channel layer
Redis, so the pod's event and the chat reply cross Redis."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

import tickets.services
from pods.models import Agent
from tests import factories
from tests.functional.test_agent_works_the_queue import (
    LIVE_TIMEOUT_MS,
    sign_in,
    ticket_in,
)
from tests.functional.test_visitor_chats_with_the_pod import (
    visitor_writes,
    wait_for_ticket,
)
from tickets.models import Message, ReplyTemplate, TemplateUse, Ticket

TEMPLATE_BODY = (
    "Hi {{ customer.first_name }}, an engineer is on the way to you today. "
    "{{ agent.first_name }}"
)
REPLY = "Hi Ann, an engineer is on the way to you today. Ana"


@pytest.mark.browser
class TestTemplateReplyReachesTheChatWidget:
    def test_agent_takes_the_chat_from_the_queue_and_answers_with_a_template(
        self, page, browser, asgi_server
    ):
        pod = factories.staffed_pod(size=2, name="Mercury")
        Agent.objects.filter(pod=pod).update(presence=Agent.Presence.OFFLINE)
        ana = factories.agent(pod=pod, username="ana", capacity=1)
        ana.user.first_name = "Ana"
        ana.user.save()
        # Ana is online (the visitor is told someone is there) but busy on
        # another case: the chat waits in the pod's queue for someone to take.
        busy = ticket_in(pod, subject="Already on it")
        assert busy.assignee_id == ana.id
        template = tickets.services.reply_template_create(
            title="Engineer on the way",
            body=TEMPLATE_BODY,
            pod_id=pod.id,
            language="en",
            user=pod.lead.user,
            now=timezone.now(),
        )

        sign_in(page, "ana")
        page.goto("/queue/")
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )
        visitor_context = browser.new_context(base_url=asgi_server.url)
        visitor_context.set_default_timeout(10_000)
        try:
            visitor = visitor_context.new_page()
            visitor.goto("/chat/demo/")
            visitor_writes(visitor, "My boiler is cold")
            ticket_id = wait_for_ticket("My boiler is cold")

            # The chat arrives in the agent's queue without a reload; they take it.
            row = page.locator(f"#queue-row-{ticket_id}")
            expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
            expect(row).to_contain_text("Unassigned")
            row.get_by_role("button", name=re.compile("Take")).click()
            expect(row.get_by_text("You", exact=True)).to_be_visible()
            row.locator(".queue-row__link").click()
            expect(page).to_have_url(re.compile(rf"/tickets/{ticket_id}/$"))
            expect(page.locator("#thread")).to_contain_text("My boiler is cold")

            # The composer's template panel: pick, preview, send.
            page.locator(".composer__templates > summary").click()
            panel = page.locator("#ticket-templates")
            panel.get_by_role("link", name="Engineer on the way").click()
            preview = page.locator("#template-preview-panel")
            expect(preview.get_by_role("textbox")).to_have_value(REPLY)
            preview.get_by_role("button", name="Send reply").click()

            log = visitor.get_by_role("log")
            expect(log).to_contain_text(REPLY, timeout=LIVE_TIMEOUT_MS)
            expect(page.locator("#thread")).to_contain_text(
                REPLY, timeout=LIVE_TIMEOUT_MS
            )
        finally:
            visitor_context.close()

        ticket = Ticket.objects.get(id=ticket_id)
        assert (ticket.channel, ticket.assignee_id) == ("CHAT", ana.id)
        sent = Message.objects.get(ticket=ticket, direction="OUTBOUND")
        assert (sent.channel, sent.text, sent.author_agent_id) == (
            "CHAT",
            REPLY,
            ana.id,
        )
        assert sent.delivery == Message.Delivery.SENT
        assert TemplateUse.objects.get().message_id == sent.id
        assert ReplyTemplate.objects.get(id=template.id).use_count == 1
