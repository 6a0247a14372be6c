"""The customer portal's tickets: a signed-in customer sees and writes into
their own tickets only, through the durable intake.

Customers A and B live in the same pod; every check that A reaches nothing of
B's is a 404 with nothing of B in the answer and nothing stored."""

import itertools
import random
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import NoReverseMatch, reverse

import tickets.selectors
import tickets.services
import tickets.views.portal
from pods.models import Agent, CustomerIdentity
from tests import factories
from tickets.models import (
    Attachment,
    InboundEnvelope,
    Message,
    SatisfactionSurvey,
    Ticket,
)

pytestmark = pytest.mark.django_db

# Each browser gets its own client address: the posting limit counts per
# address in the shared cache (Redis on the real stack outlives a test).
_addresses = itertools.count(random.randrange(1, 2**16) * 256)
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3)


def open_ticket(*, email: str, subject: str, text: str, now, name: str = "") -> Ticket:
    """A ticket of the customer with this email, with their first message."""
    ticket = tickets.services.ticket_open(
        identities=[("EMAIL", email)],
        channel="EMAIL",
        subject=subject,
        display_name=name,
        now=now,
    ).ticket
    tickets.services.inbound_message_add(
        ticket=ticket,
        incoming=tickets.services.Incoming(
            channel="EMAIL", text=text, author_address=email
        ),
        now=now,
    )
    return Ticket.objects.get(id=ticket.id)


def portal_client(customer_id: int) -> Client:
    """A browser signed in to the portal as the customer.

    Sets the session keys the portal's sign-in writes (pods.selectors
    PORTAL_*_KEY: the customer, the email identity they signed in with, when
    the sign-in ends) directly, as the one-time link's redemption would; the
    pods middleware turns them into request.portal_customer."""
    client = Client(REMOTE_ADDR=fresh_address())
    identity = CustomerIdentity.objects.filter(
        customer_id=customer_id, kind="EMAIL"
    ).first()
    session = client.session
    session["portal_customer_id"] = customer_id
    session["portal_identity_id"] = identity.id
    session["portal_expires_at"] = time.time() + 3600
    session.save()
    return client


def fresh_address() -> str:
    number = next(_addresses)
    return f"10.{number >> 16 & 255}.{number >> 8 & 255}.{number & 255}"


@pytest.fixture
def world(pod, now):
    """Customers A and B, one ticket each, A's browser signed in."""
    earlier = now - timedelta(hours=1)
    a_ticket = open_ticket(
        email="ann@a.example",
        name="Ann A",
        subject="Ann's meter",
        text="Ann's reading is 111.",
        now=earlier,
    )
    b_ticket = open_ticket(
        email="bob@b.example",
        name="Bob B",
        subject="Bob's secret subject",
        text="Bob's private words.",
        now=earlier,
    )
    return {
        "a": a_ticket,
        "b": b_ticket,
        "client": portal_client(a_ticket.customer_id),
        "agent_id": Agent.objects.filter(pod=pod).values_list("id", flat=True)[0],
    }


def sign_in_url() -> str | None:
    try:
        return reverse("portal-sign-in")
    except NoReverseMatch:
        return None


def reply(client: Client, ticket_id: int, *, text: str, token: str = "a" * 32, **more):
    return client.post(
        reverse("portal-ticket-reply", args=[ticket_id]),
        {"message": text, "token": token, **more},
    )


def agent_reply(ticket: Ticket, *, agent_id: int, text: str, now) -> Message:
    return tickets.services.message_reply(
        ticket=ticket, agent_id=agent_id, text=text, now=now
    )


def envelopes() -> int:
    return InboundEnvelope.objects.count()


class TestSignedOut:
    def test_pages_send_an_anonymous_visitor_to_the_sign_in(self, world):
        anonymous = Client()
        expected = sign_in_url()

        for url in (
            reverse("portal-ticket", args=[world["a"].id]),
            reverse("portal-contact"),
        ):
            response = anonymous.get(url)
            if expected is None:  # pods' portal pages not installed yet
                assert response.status_code == 404
            else:
                assert response.status_code == 302
                assert response["Location"] == expected
            assert b"Ann" not in response.content

    def test_panels_downloads_and_replies_answer_404_and_store_nothing(
        self, world, now
    ):
        attachment = self._attachment_on(world["a"], now=now)
        anonymous = Client()
        before = (envelopes(), Message.objects.count())

        panel = anonymous.get(reverse("portal-tickets-panel"))
        download = anonymous.get(reverse("portal-attachment", args=[attachment.id]))
        posted = reply(anonymous, world["a"].id, text="hi")

        assert panel.status_code == download.status_code == 404
        assert posted.status_code in (302, 404)
        assert (envelopes(), Message.objects.count()) == before

    def test_a_staff_sign_in_is_no_portal_sign_in(self, world):
        staff = Client()
        staff.force_login(factories.admin_user())

        response = staff.get(reverse("portal-tickets-panel"))

        assert response.status_code == 404

    @staticmethod
    def _attachment_on(ticket: Ticket, *, now) -> Attachment:
        tickets.services.inbound_message_add(
            ticket=ticket,
            incoming=tickets.services.Incoming(
                channel="EMAIL",
                text="a file",
                files=[
                    tickets.services.IncomingFile(
                        name="bill.pdf",
                        content_type="application/pdf",
                        data=b"%PDF-1.4",
                        sha256="0" * 64,
                    )
                ],
            ),
            now=now,
        )
        return Attachment.objects.get(message__ticket=ticket)


class TestTicketsPanel:
    def test_lists_only_the_customers_tickets_with_status_in_words(self, world):
        response = world["client"].get(reverse("portal-tickets-panel"))

        body = response.content.decode()
        assert response.status_code == 200
        assert "Ann&#x27;s meter" in body
        assert reverse("portal-ticket", args=[world["a"].id]) in body
        assert "Bob" not in body
        assert reverse("portal-ticket", args=[world["b"].id]) not in body
        assert "Received" in body or "In progress" in body

    def test_marks_a_ticket_an_agent_answered_since_the_customer_wrote(
        self, world, now
    ):
        client = world["client"]
        assert "New reply" not in client.get(reverse("portal-tickets-panel")).text

        agent_reply(world["a"], agent_id=world["agent_id"], text="Fixed.", now=now)
        marked = client.get(reverse("portal-tickets-panel")).text
        reply(client, world["a"].id, text="Thanks!")
        after_reply = client.get(reverse("portal-tickets-panel")).text

        assert "New reply" in marked
        assert "New reply" not in after_reply

    def test_newest_activity_first_twenty_at_a_time_with_more(self, pod, now):
        first = open_ticket(email="c@c.example", subject="T0", text="x", now=now)
        for index in range(1, 25):
            open_ticket(
                email="c@c.example",
                subject=f"T{index}",
                text="x",
                now=now + timedelta(minutes=index),
            )
        client = portal_client(first.customer_id)

        page_one = tickets.selectors.portal_tickets(customer_ids=[first.customer_id])
        page_two = tickets.selectors.portal_tickets(
            customer_ids=[first.customer_id], after=page_one.more
        )
        more_html = client.get(
            reverse("portal-tickets-panel"), {"after": page_one.more.encode()}
        ).text

        assert [row.subject for row in page_one.rows] == [
            f"T{index}" for index in range(24, 4, -1)
        ]
        assert [row.subject for row in page_two.rows] == [
            f"T{index}" for index in range(4, -1, -1)
        ]
        assert page_two.more is None
        assert "T4" in more_html
        assert "T0" in more_html
        assert "T5" not in more_html

    def test_a_mangled_cursor_is_a_clear_400(self, world):
        response = world["client"].get(
            reverse("portal-tickets-panel"), {"after": "nonsense"}
        )

        assert response.status_code == 400

    def test_reads_in_a_constant_number_of_queries(
        self, world, django_assert_max_num_queries
    ):
        # The session, the middleware's customer (identity, facts), the rows.
        with django_assert_max_num_queries(6):
            world["client"].get(reverse("portal-tickets-panel"))


class TestTicketPage:
    def test_shows_the_whole_conversation_but_never_notes_or_automatic_mail(
        self, world, now
    ):
        ticket = world["a"]
        agent_reply(ticket, agent_id=world["agent_id"], text="We are on it.", now=now)
        tickets.services.note_add(
            ticket=ticket, agent_id=world["agent_id"], text="SECRET NOTE", now=now
        )
        tickets.services.ticket_event_note(
            ticket_id=ticket.id, text="GRANT EVENT NOTE", now=now
        )
        tickets.services.inbound_message_add(
            ticket=ticket,
            incoming=tickets.services.Incoming(
                channel="EMAIL", text="OUT OF OFFICE", is_automatic=True
            ),
            now=now,
        )

        body = world["client"].get(reverse("portal-ticket", args=[ticket.id])).text

        assert "Ann&#x27;s reading is 111." in body
        assert "We are on it." in body
        assert "SECRET NOTE" not in body
        assert "GRANT EVENT NOTE" not in body
        assert "OUT OF OFFICE" not in body

    def test_another_customers_ticket_is_404_like_a_missing_one(self, world):
        client = world["client"]

        other = client.get(reverse("portal-ticket", args=[world["b"].id]))
        missing = client.get(reverse("portal-ticket", args=[world["b"].id + 999]))

        assert other.status_code == missing.status_code == 404
        assert b"Bob" not in other.content

    def test_a_message_body_with_markup_shows_escaped(self, world, now):
        tickets.services.inbound_message_add(
            ticket=world["a"],
            incoming=tickets.services.Incoming(
                channel="EMAIL", text=XSS, html=XSS, author_name=XSS
            ),
            now=now,
        )
        Ticket.objects.filter(id=world["a"].id).update(subject=XSS)

        body = world["client"].get(reverse("portal-ticket", args=[world["a"].id])).text
        panel = world["client"].get(reverse("portal-tickets-panel")).text

        for page in (body, panel):
            assert "<script>window.__xss" not in page
            assert 'onerror="window' not in page
        assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in body

    def test_links_the_waiting_survey_of_this_ticket_only(self, world, now):
        for ticket in (world["a"], world["b"]):
            tickets.services.ticket_solve(ticket=ticket, now=now)
        a_token, b_token = (
            SatisfactionSurvey.objects.get(ticket=ticket).token
            for ticket in (world["a"], world["b"])
        )

        body = world["client"].get(reverse("portal-ticket", args=[world["a"].id])).text

        assert reverse("survey", args=[a_token]) in body
        assert b_token not in body
        # The invitation's stored text (marks in place of links) is not shown.
        assert "[rating link" not in body

    def test_a_survey_link_shows_nothing_of_any_ticket(self, world, now):
        tickets.services.ticket_solve(ticket=world["b"], now=now)
        b_token = SatisfactionSurvey.objects.get(ticket=world["b"]).token

        # Opened in A's signed-in browser: still only the survey of its token.
        page = world["client"].get(reverse("survey", args=[b_token])).text

        for words in ("Bob&#x27;s secret subject", "Bob's private", "Ann"):
            assert words not in page
        assert "How did we do?" in page

    def test_a_merged_ticket_redirects_to_the_one_it_joined(self, world, now):
        other = open_ticket(email="ann@a.example", subject="Again", text="x", now=now)
        tickets.services.ticket_merge(
            source=other, target=world["a"], agent_id=world["agent_id"], now=now
        )

        response = world["client"].get(reverse("portal-ticket", args=[other.id]))

        assert response.status_code == 302
        assert response["Location"] == reverse("portal-ticket", args=[world["a"].id])


class TestReply:
    def test_threads_into_the_same_ticket_exactly_once(self, world):
        client, ticket = world["client"], world["a"]

        first = reply(client, ticket.id, text="My new reading is 222.")
        again = reply(client, ticket.id, text="My new reading is 222.")

        stored = Message.objects.filter(ticket=ticket, text="My new reading is 222.")
        envelope = InboundEnvelope.objects.get(provider="portal")
        assert first.status_code == again.status_code == 302
        assert first["Location"] == reverse("portal-ticket", args=[ticket.id])
        assert stored.count() == 1
        message = stored.get()
        assert (message.direction, message.channel, message.author_customer_id) == (
            "INBOUND",
            "WEB",
            ticket.customer_id,
        )
        assert (envelope.channel, envelope.state, envelope.message_id) == (
            "WEB",
            "PROCESSED",
            message.id,
        )

    def test_a_redelivered_envelope_stores_nothing_more(self, world, now):
        reply(world["client"], world["a"].id, text="Once only.")
        envelope = InboundEnvelope.objects.get(provider="portal")
        InboundEnvelope.objects.filter(id=envelope.id).update(state="RECEIVED")

        redone = tickets.services.envelope_process(envelope_id=envelope.id, now=now)

        assert redone.state == "DUPLICATE"
        assert Message.objects.filter(text="Once only.").count() == 1

    def test_a_token_sent_again_with_other_words_is_refused(self, world):
        client, ticket = world["client"], world["a"]
        reply(client, ticket.id, text="First words.")

        response = reply(client, ticket.id, text="Other words.")

        assert response.status_code == 400
        assert "already sent with other words" in response.text
        assert not Message.objects.filter(text="Other words.").exists()
        assert 'value="' + "a" * 32 + '"' not in response.text  # a fresh token

    def test_an_expired_form_keeps_the_words_and_stores_nothing(self, world):
        before = envelopes()

        response = reply(world["client"], world["a"].id, text="Kept", token="")

        assert response.status_code == 400
        assert "This form has expired" in response.text
        assert "\nKept</textarea>" in response.text
        assert envelopes() == before

    def test_to_another_customers_ticket_is_404_and_stores_nothing(self, world):
        before = (envelopes(), Message.objects.count())

        response = reply(world["client"], world["b"].id, text="Let me in")

        assert response.status_code == 404
        assert (envelopes(), Message.objects.count()) == before

    def test_processing_refuses_a_ticket_that_is_not_the_customers(self, world, now):
        # The view checks first; processing checks again (a forged envelope, a
        # merge in between): the envelope fails and the ticket gets nothing.
        submitted = tickets.services.portal_message_submit(
            message=tickets.services.PortalMessage(
                customer_id=world["a"].customer_id,
                ticket_id=world["b"].id,
                text="Forged",
                idempotency_key="f" * 32,
            ),
            now=now,
        )

        assert submitted.envelope.state == "FAILED"
        assert "not a ticket of customer" in submitted.envelope.error
        assert not Message.objects.filter(text="Forged").exists()

    def test_a_solved_ticket_reopens(self, world, now):
        tickets.services.ticket_solve(ticket=world["a"], now=now)

        reply(world["client"], world["a"].id, text="Still broken.")

        ticket = Ticket.objects.get(id=world["a"].id)
        assert ticket.status in (Ticket.Status.NEW, Ticket.Status.OPEN)
        assert ticket.reopened_count == 1

    def test_a_closed_ticket_gets_a_follow_up_like_an_email_would(self, world, now):
        Ticket.objects.filter(id=world["a"].id).update(
            status=Ticket.Status.CLOSED, closed_at=now, solved_at=now
        )

        response = reply(world["client"], world["a"].id, text="About that again.")

        follow_up = Ticket.objects.get(follow_up_of=world["a"])
        assert response["Location"] == reverse("portal-ticket", args=[follow_up.id])
        assert follow_up.customer_id == world["a"].customer_id
        assert Message.objects.get(text="About that again.").ticket_id == follow_up.id
        assert Ticket.objects.get(id=world["a"].id).status == Ticket.Status.CLOSED

    def test_too_many_posts_from_one_address_wait_and_store_nothing(
        self, world, monkeypatch
    ):
        monkeypatch.setattr(tickets.views.portal, "PORTAL_POSTS_PER_WINDOW", 2)
        reply(world["client"], world["a"].id, text="One", token="1" * 32)
        reply(world["client"], world["a"].id, text="Two", token="2" * 32)

        refused = reply(world["client"], world["a"].id, text="Three", token="3" * 32)

        assert refused.status_code == 429
        assert int(refused["Retry-After"]) > 0
        assert "Please wait a moment" in refused.text
        assert not Message.objects.filter(text="Three").exists()

    def test_fields_naming_another_customer_or_ticket_are_ignored(self, world):
        reply(
            world["client"],
            world["a"].id,
            text="Mine.",
            customer_id=world["b"].customer_id,
            customer=world["b"].customer_id,
            ticket=world["b"].id,
        )

        assert Message.objects.get(text="Mine.").ticket_id == world["a"].id
        assert not Message.objects.filter(ticket=world["b"], text="Mine.").exists()


class TestAttachments:
    def upload(self, world, *files, text="With files", token="b" * 32):
        return world["client"].post(
            reverse("portal-ticket-reply", args=[world["a"].id]),
            {"message": text, "token": token, "files": list(files)},
        )

    def test_a_reply_carries_files_the_owner_downloads_safely(self, world):
        response = self.upload(
            world,
            SimpleUploadedFile("../../etc/x.html", XSS.encode(), "text/html"),
            SimpleUploadedFile("note.txt", b"plain", "text/plain"),
        )
        html, text = Attachment.objects.order_by("id")

        download = world["client"].get(reverse("portal-attachment", args=[html.id]))
        plain = world["client"].get(reverse("portal-attachment", args=[text.id]))

        assert response.status_code == 302
        assert download.status_code == plain.status_code == 200
        assert b"".join(download.streaming_content) == XSS.encode()
        assert download["Content-Type"] == "application/octet-stream"
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download["Content-Disposition"].startswith("attachment;")
        assert "filename*=UTF-8''x.html" in download["Content-Disposition"]
        assert "/" not in download["Content-Disposition"].split("filename=")[1]
        assert plain["Content-Type"] == "text/plain"
        assert "x.html" not in html.file.name  # a generated name in storage
        page = world["client"].get(reverse("portal-ticket", args=[world["a"].id]))
        assert reverse("portal-attachment", args=[html.id]) in page.text

    def test_another_customer_and_the_media_path_get_404(self, world):
        self.upload(world, SimpleUploadedFile("a.pdf", b"%PDF", "application/pdf"))
        attachment = Attachment.objects.get()
        bob = portal_client(world["b"].customer_id)

        theirs = bob.get(reverse("portal-attachment", args=[attachment.id]))
        direct = world["client"].get(
            (settings.MEDIA_URL or "/media/") + attachment.file.name
        )

        assert theirs.status_code == 404
        assert direct.status_code == 404

    def test_a_notes_file_is_not_the_customers(self, world, now):
        note = tickets.services.note_add(
            ticket=world["a"], agent_id=world["agent_id"], text="n", now=now
        )
        attachment = Attachment(
            message=note, name="internal.pdf", content_type="application/pdf"
        )
        attachment.size, attachment.sha256, attachment.created_at = 3, "0" * 64, now
        attachment.file.save("x", ContentFile(b"abc"), save=True)

        response = world["client"].get(
            reverse("portal-attachment", args=[attachment.id])
        )

        assert response.status_code == 404

    def test_more_than_five_files_are_refused_and_nothing_is_stored(self, world):
        files = [
            SimpleUploadedFile(f"f{index}.txt", b"x", "text/plain")
            for index in range(tickets.services.MAX_PORTAL_FILES + 1)
        ]
        before = (envelopes(), Message.objects.count())

        response = self.upload(world, *files)

        assert response.status_code == 400
        assert "Attach at most 5 files." in response.text
        assert (envelopes(), Message.objects.count()) == before

    def test_files_larger_than_an_emails_attachment_are_refused(self, world, settings):
        settings.HELPDESK = {**settings.HELPDESK, "MAX_ATTACHMENT_BYTES": 2**20}
        before = envelopes()

        response = self.upload(
            world,
            SimpleUploadedFile("a.bin", b"x" * (2**19 + 1), "application/pdf"),
            SimpleUploadedFile("b.bin", b"x" * (2**19), "application/pdf"),
        )

        assert response.status_code == 400
        assert "add up to 1 MB at most" in response.text
        assert envelopes() == before

    def test_an_empty_file_is_refused(self, world):
        response = self.upload(world, SimpleUploadedFile("e.txt", b"", "text/plain"))

        assert response.status_code == 400
        assert not Attachment.objects.exists()


class TestContact:
    def test_the_form_asks_nothing_about_who_they_are(self, world):
        body = world["client"].get(reverse("portal-contact")).text

        assert 'name="subject"' in body
        assert 'name="email"' not in body
        assert 'name="name"' not in body

    def test_a_request_becomes_a_ticket_of_the_signed_in_customer_once(self, world):
        form = {
            "subject": "New meter",
            "message": "Please fit a new meter.",
            "token": "c" * 32,
            "email": "bob@b.example",  # ignored: who they are is the session's
            "customer_id": world["b"].customer_id,
        }

        first = world["client"].post(reverse("portal-contact"), form)
        again = world["client"].post(reverse("portal-contact"), form)

        ticket = Ticket.objects.get(subject="New meter")
        assert first.status_code == again.status_code == 302
        assert first["Location"] == reverse("portal-ticket", args=[ticket.id])
        assert ticket.customer_id == world["a"].customer_id
        assert ticket.channel == "WEB"
        message = Message.objects.get(ticket=ticket)
        assert message.text == "Please fit a new meter."
        assert message.author_address == "ann@a.example"

    def test_a_request_without_subject_is_a_clear_error(self, world):
        before = Ticket.objects.count()

        response = world["client"].post(
            reverse("portal-contact"), {"message": "x", "token": "d" * 32}
        )

        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.text
        assert Ticket.objects.count() == before
