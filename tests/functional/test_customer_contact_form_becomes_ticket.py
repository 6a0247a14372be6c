"""A customer writes through the public contact form: the message becomes a
ticket in their pod, they see its reference, and nothing they send is lost or
stored twice."""

import random
import re
from datetime import UTC, datetime

import pytest
from django.db import OperationalError
from django.test import Client

import tickets.services._web
from tests import factories
from tickets.models import ContactReason, InboundEnvelope, Message, Ticket
from tickets.views import contact as contact_views


def a_client() -> Client:
    # A random client address: the form's rate limit counts per address, and the
    # cache may be a Redis shared with other test runs.
    octets = ".".join(str(random.randrange(256)) for _ in range(3))
    return Client(REMOTE_ADDR=f"10.{octets}")


@pytest.fixture
def client():
    return a_client()


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3)


def token_of(page) -> str:
    return re.search(r'name="token" value="([0-9a-f]{32})"', page.content.decode())[1]


def answers(client, **fields) -> dict:
    return {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "subject": "A moth in the relay",
        "message": "Found a bug, literally.",
        "website": "",
        "token": token_of(client.get("/contact/")),
        **fields,
    }


def nothing_stored() -> bool:
    return not (
        InboundEnvelope.objects.exists()
        or Ticket.objects.exists()
        or Message.objects.exists()
    )


@pytest.mark.django_db
class TestContactForm:
    def test_page_offers_the_form_with_active_reasons_only(self, client):
        ContactReason.objects.create(name="Moving home")
        ContactReason.objects.create(name="Retired reason", active=False)

        page = client.get("/contact/")

        html = page.content.decode()
        assert page.status_code == 200
        assert 'name="email"' in html
        assert "Moving home" in html
        assert "Retired reason" not in html
        assert "no-store" in page["Cache-Control"]

    def test_each_rendering_carries_its_own_token(self, client):
        assert token_of(client.get("/contact/")) != token_of(client.get("/contact/"))

    def test_page_has_no_inline_script_or_style(self, client):
        html = client.get("/contact/").content.decode()

        assert "<style" not in html
        assert " style=" not in html
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))

    def test_message_becomes_a_ticket_and_the_customer_sees_its_reference(
        self, client, pod
    ):
        reason = ContactReason.objects.create(name="Moving home")

        sent = client.post("/contact/", answers(client, reason=str(reason.id)))
        thanks = client.get(sent["Location"])

        ticket = Ticket.objects.get()
        message = Message.objects.get()
        assert sent.status_code == 302
        assert sent["Location"].startswith("/contact/thanks/")
        assert f"#{ticket.id}" in thanks.content.decode()
        assert (ticket.channel, ticket.subject, ticket.pod_id) == (
            "WEB",
            "A moth in the relay",
            pod.id,
        )
        assert ticket.contact_reason_id == reason.id
        assert (message.text, message.author_address) == (
            "Found a bug, literally.",
            "grace@example.com",
        )
        assert InboundEnvelope.objects.get().source == "FORM"

    def test_a_double_submit_is_one_ticket(self, client, pod):
        sent = answers(client)

        first = client.post("/contact/", sent)
        second = client.post("/contact/", sent)

        ticket = Ticket.objects.get()
        assert first.status_code == second.status_code == 302
        assert all(
            f"#{ticket.id}" in client.get(response["Location"]).content.decode()
            for response in (first, second)
        )
        assert Message.objects.count() == InboundEnvelope.objects.count() == 1

    def test_invalid_fields_are_named_and_nothing_is_stored(self, client, pod):
        page = client.post(
            "/contact/", answers(client, name="", email="not-an-address", message="")
        )

        errors = page.context["form"].errors
        assert page.status_code == 200
        assert set(errors) == {"name", "email", "message"}
        assert 'aria-invalid="true"' in page.content.decode()
        assert 'value="Grace Hopper"' not in page.content.decode()  # name was blank
        assert "A moth in the relay" in page.content.decode()  # kept for the fix
        assert nothing_stored()

    def test_an_address_the_helpdesk_cannot_reply_to_is_a_field_error(
        self, client, pod
    ):
        # Django's EmailField accepts it; the customer identity rules do not.
        page = client.post("/contact/", answers(client, email="grace@localhost"))

        assert page.status_code == 200
        assert "email" in page.context["form"].errors
        assert nothing_stored()

    def test_the_bot_trap_refuses_quietly_and_stores_nothing(self, client, pod):
        page = client.post("/contact/", answers(client, website="http://spam.test"))

        assert page.status_code == 400
        assert nothing_stored()

    def test_a_tampered_token_asks_again_with_a_fresh_one(self, client, pod):
        page = client.post("/contact/", answers(client, token="../../etc"))

        html = page.content.decode()
        assert page.status_code == 200
        assert "expired" in html
        assert re.search(r'name="token" value="[0-9a-f]{32}"', html)
        assert "Found a bug, literally." in html
        assert nothing_stored()

    def test_a_reused_token_with_other_words_asks_before_sending_again(
        self, client, pod
    ):
        sent = answers(client)
        client.post("/contact/", sent)

        page = client.post("/contact/", {**sent, "message": "And another thing."})

        assert page.status_code == 200
        assert token_of(page) != sent["token"]
        assert page.context["form"].non_field_errors()
        assert Message.objects.count() == 1

    def test_the_customer_is_thanked_even_when_the_ticket_must_wait(self, client):
        # No pod exists yet: the contact cannot be routed, and is kept for a retry.
        sent = client.post("/contact/", answers(client))
        thanks = client.get(sent["Location"])

        envelope = InboundEnvelope.objects.get()
        assert sent.status_code == 302
        assert thanks.status_code == 200
        assert (
            "#" not in thanks.content.decode().split("<main", 1)[1].split("</main")[0]
        )
        assert envelope.state == "FAILED"
        assert b"Found a bug, literally." in bytes(envelope.raw)

    def test_the_customer_is_thanked_when_the_database_fails_after_storing(
        self, client, pod, monkeypatch
    ):
        def database_away(**kwargs):
            raise OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(tickets.services._web, "envelope_process", database_away)

        sent = client.post("/contact/", answers(client))

        assert sent.status_code == 302
        assert client.get(sent["Location"]).status_code == 200
        assert InboundEnvelope.objects.get().state == "RECEIVED"  # for the sweep

    def test_a_forged_receipt_is_not_found(self, client):
        page = client.get("/contact/thanks/eyJ0aWNrZXQiOjF9:forged:sig/")

        assert page.status_code == 404


@pytest.fixture
def clock(monkeypatch):
    """Time stands at 12:00:10, ten seconds into a ten-minute window, so a window
    cannot end half-way through a test."""
    frozen = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)
    monkeypatch.setattr(contact_views.timezone, "now", lambda: frozen)
    return frozen


@pytest.mark.django_db
@pytest.mark.usefixtures("clock")
class TestContactRateLimit:
    def test_too_many_posts_from_one_address_wait_with_retry_after(
        self, client, pod, monkeypatch
    ):
        monkeypatch.setattr(contact_views, "CONTACT_POSTS_PER_WINDOW", 2)
        for number in range(2):
            client.post("/contact/", answers(client, subject=f"question {number}"))

        refused = client.post("/contact/", answers(client, subject="one too many"))

        assert refused.status_code == 429
        assert refused["Retry-After"] == "590"  # the window ends at 12:10:00
        assert Ticket.objects.count() == 2
        assert not Ticket.objects.filter(subject="one too many").exists()

    def test_another_address_is_not_held_back(self, client, pod, monkeypatch):
        monkeypatch.setattr(contact_views, "CONTACT_POSTS_PER_WINDOW", 1)
        client.post("/contact/", answers(client))
        other = a_client()

        page = other.post("/contact/", answers(other, subject="from elsewhere"))

        assert page.status_code == 302
