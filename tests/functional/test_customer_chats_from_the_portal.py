"""In headless Chromium: a signed-in customer opens the chat on a portal page
and it starts as them, without asking who they are; the next customer signing
in in the same tab never sees that chat."""

import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from playwright.sync_api import expect

from pods.models import Customer, CustomerIdentity
from tests import factories
from tickets.models import Message, Ticket


def customer(*, pod, name: str, email: str) -> Customer:
    now = timezone.now()
    made = Customer.objects.create(pod=pod, display_name=name, created_at=now)
    CustomerIdentity.objects.create(
        customer=made, kind="EMAIL", value=email, created_at=now
    )
    return made


def sign_in(page, base_url: str, of: Customer) -> None:
    """Give the browser a portal session of the customer (what redeeming the
    one-time link leaves behind)."""
    session = SessionStore()
    session["portal_customer_id"] = of.id
    session["portal_identity_id"] = CustomerIdentity.objects.get(customer=of).id
    session["portal_expires_at"] = time.time() + 3600
    session.create()
    page.context.clear_cookies()
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": session.session_key,
                "url": base_url,
            }
        ]
    )


def wait_for_message(text: str, *, timeout: float = 10) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = Message.objects.filter(text=text).first()
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"no message {text!r} was stored")


@pytest.mark.browser
def test_a_signed_in_customer_chats_as_themselves(page, asgi_server):
    pod = factories.staffed_pod(size=2)
    ann = customer(pod=pod, name="Ann A", email="ann@a.example")
    bob = customer(pod=pod, name="Bob B", email="bob@b.example")
    sign_in(page, asgi_server.url, ann)
    page.goto("/portal/")

    page.get_by_role("button", name="Chat").click()
    expect(page.get_by_role("button", name="Start chat")).to_be_visible()
    expect(page.get_by_label("Your name (optional)")).to_have_count(0)
    expect(page.get_by_label("Your email (optional)")).to_have_count(0)
    page.get_by_role("button", name="Start chat").click()
    expect(page.locator("#helpdesk-chat")).to_have_attribute(
        "data-connection", "connected"
    )
    composer = page.get_by_role("textbox", name="Message")
    composer.fill("Ann asks from the portal")
    composer.press("Enter")

    message = wait_for_message("Ann asks from the portal")
    ticket = Ticket.objects.get(id=message.ticket_id)
    assert (ticket.customer_id, ticket.pod_id) == (ann.id, pod.id)
    assert message.author_address == "ann@a.example"

    # Ann signs out; Bob signs in in the same tab: Ann's chat is not resumed.
    sign_in(page, asgi_server.url, bob)
    page.reload()
    page.get_by_role("button", name="Chat").click()
    expect(page.get_by_role("button", name="Start chat")).to_be_visible()
    expect(page.get_by_role("log")).to_be_hidden()
    assert "Ann asks" not in page.locator("#helpdesk-chat").inner_text()
