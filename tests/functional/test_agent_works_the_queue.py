"""An agent works their pod's queue in the workspace: the views with their
counts and filters, taking a ticket, the ticket page with the whole
conversation and the customer, replying in the customer's channel (with the
collision check), notes, status, fields, hand-over, inviting a colleague from
another pod, attachments; never another pod's tickets. Through HTTP with the
test client, and in headless Chromium through the live server."""

import hashlib
import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

import pods.services
import tickets.services
from pods.models import Agent, Pod
from tests import factories
from tests.functional.test_agent_signs_in_and_sees_home import assert_page
from tickets.models import (
    CallRecord,
    ContactReason,
    Message,
    SlaPolicy,
    Ticket,
    TicketCollaborator,
)
from tickets.views.workspace import content_disposition, download_type

HTMX = {"HTTP_HX_REQUEST": "true"}
LIVE_TIMEOUT_MS = 10_000


# --- Arrange ------------------------------------------------------------------------


@pytest.fixture
def pod(db):
    made = factories.staffed_pod(size=3)
    # Nobody online: new tickets wait unassigned in the pod queue.
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def agent(pod):
    return Agent.objects.filter(pod=pod, role=Agent.Role.AGENT).order_by("id").first()


@pytest.fixture
def colleague(pod, agent):
    return Agent.objects.filter(pod=pod).exclude(id=agent.id).order_by("id").first()


@pytest.fixture
def other_pod(pod):
    made = factories.staffed_pod(size=2)
    Agent.objects.filter(pod=made).update(presence=Agent.Presence.OFFLINE)
    return made


@pytest.fixture
def outsider(other_pod):
    return Agent.objects.filter(pod=other_pod, role=Agent.Role.AGENT).first()


_addresses = iter(range(1, 10**6))


def ticket_in(
    pod: Pod,
    *,
    subject: str = "My meter reading",
    channel: str = "EMAIL",
    text: str = "Hello, my reading is 12345.",
    now=None,
    **incoming,
) -> Ticket:
    """A new customer's ticket in this pod, with their first message."""
    now = now or timezone.now()
    number = next(_addresses)
    others = list(Pod.objects.exclude(id=pod.id).values_list("id", flat=True))
    identity = (
        ("EMAIL", f"customer{number}@customer.example")
        if channel in ("EMAIL", "WEB", "API", "CHAT")
        else ("PHONE", f"+4420790{number:05d}")
    )
    # New customers go to the least-loaded pod: close the others for a moment.
    pods.services.pods_accepting_set(pod_ids=others, accepting=False)
    try:
        ticket = tickets.services.ticket_open(
            identities=[identity],
            channel=channel,
            subject=subject,
            display_name=f"Customer {number}",
            now=now,
        ).ticket
    finally:
        pods.services.pods_accepting_set(pod_ids=others, accepting=True)
    with transaction.atomic():  # the service locks the ticket row until commit
        tickets.services.inbound_message_add(
            ticket=ticket,
            incoming=tickets.services.Incoming(
                channel=channel,
                text=text,
                author_name=f"Customer {number}",
                author_address=identity[1],
                **incoming,
            ),
            now=now,
        )
    ticket.refresh_from_db()
    return ticket


def signed_in(client, agent):
    client.force_login(agent.user)
    return client


def pdf_file(name: str = "bill.pdf", data: bytes = b"%PDF-1.4 bill"):
    return tickets.services.IncomingFile(
        name=name,
        content_type="application/pdf",
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def queries_for(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = run()
    assert response.status_code == 200, response.content[:300]
    return len(captured)


# --- The queue ----------------------------------------------------------------------


@pytest.mark.django_db
class TestQueuePage:
    def test_lists_the_pods_unassigned_tickets_most_urgent_first(
        self, client, pod, agent, other_pod
    ):
        SlaPolicy.objects.create(name="All", first_response_minutes=60)
        later = ticket_in(pod, subject="Later one")
        late = ticket_in(
            pod, subject="Late one", now=timezone.now() - timedelta(hours=3)
        )
        elsewhere = ticket_in(other_pod, subject="Not ours")

        html = assert_page(
            signed_in(client, agent).get(reverse("queue")),
            "Late one",
            "Later one",
            'aria-current="page">Unassigned <span class="tabs__count">2</span>',
            "due--late",
            "Take",
        )

        assert html.index("Late one") < html.index("Later one")
        assert "Not ours" not in html
        assert f'data-ticket-id="{elsewhere.id}"' not in html
        assert f'data-ticket-id="{late.id}"' in html
        assert f'data-ticket-id="{later.id}"' in html

    def test_counts_every_view_and_lists_mine(self, client, pod, agent):
        mine = ticket_in(pod, subject="For me")
        ticket_in(pod, subject="Waiting")
        tickets.services.ticket_take(
            ticket_id=mine.id, agent_id=agent.id, now=timezone.now()
        )

        html = assert_page(
            signed_in(client, agent).get(reverse("queue"), {"view": "mine"}),
            "For me",
        )

        assert 'Unassigned <span class="tabs__count">1</span>' in html
        assert 'All open <span class="tabs__count">2</span>' in html
        assert 'aria-current="page">Mine <span class="tabs__count">1</span>' in html
        assert "Waiting" not in html

    def test_filters_narrow_the_rows_and_stay_in_the_links(self, client, pod, agent):
        ticket_in(pod, subject="By email")
        ticket_in(pod, subject="By text", channel="SMS")

        html = assert_page(
            signed_in(client, agent).get(reverse("queue"), {"channel": "SMS"}),
            "By text",
            '<option value="SMS" selected>',
            "view=mine&amp;channel=SMS",
        )

        assert "By email" not in html

    def test_a_stale_filter_is_ignored(self, client, pod, agent):
        ticket_in(pod, subject="Still here")

        assert_page(
            signed_in(client, agent).get(
                reverse("queue"), {"channel": "FAX", "reason": "x", "after": "junk"}
            ),
            "Still here",
        )

    def test_load_more_continues_after_the_last_row(self, client, pod, agent):
        made = [ticket_in(pod, subject=f"Ticket number {n}") for n in range(27)]
        client = signed_in(client, agent)

        first = assert_page(client.get(reverse("queue")), 'id="queue-more"')
        cursor = re.search(r'hx-get="/queue/rows/\?([^"]+)"', first).group(1)
        more = client.get(f"/queue/rows/?{cursor.replace('&amp;', '&')}", **HTMX)

        rest = assert_page(more)
        shown = set(map(int, re.findall(r'data-ticket-id="(\d+)"', first + rest)))
        assert shown == {ticket.id for ticket in made}
        assert 'id="queue-more"' not in rest
        assert "<html" not in rest

    def test_live_refresh_answers_the_panel_alone(self, client, pod, agent):
        ticket_in(pod, subject="Fresh")

        response = signed_in(client, agent).get(
            reverse("queue"), HTTP_HX_TARGET="queue-panel", **HTMX
        )

        html = assert_page(response, 'id="queue-panel"', "Fresh")
        assert "<html" not in html
        assert "queue-filters" not in html

    def test_shows_times_in_the_agents_zone(self, client, pod, agent):
        Pod.objects.filter(id=pod.id).update(time_zone="Asia/Seoul")
        ticket_in(pod)

        assert_page(
            signed_in(client, agent).get(reverse("queue")), "Times in Asia/Seoul"
        )

    def test_user_without_a_pod_gets_a_friendly_page(self, client):
        loner = factories.agent(pod=None)

        assert_page(signed_in(client, loner).get(reverse("queue")), "not in a pod")

    def test_runs_the_same_queries_for_5_and_50_tickets(
        self, client, pod, agent, django_assert_num_queries
    ):
        reason = ContactReason.objects.create(name="Billing")
        client = signed_in(client, agent)

        def fill(count):
            for _ in range(count):
                ticket = ticket_in(pod)
                tickets.services.ticket_fields_set(
                    ticket=ticket,
                    now=timezone.now(),
                    contact_reason_id=reason.id,
                    tags=["billing", "urgent"],
                )

        fill(5)
        small = queries_for(lambda: client.get(reverse("queue")))
        fill(45)
        large = queries_for(lambda: client.get(reverse("queue")))

        assert small == large
        # session, user, agent, reasons, queue page (2), counts, permissions (2)
        with django_assert_num_queries(9):
            client.get(reverse("queue"))


# --- Taking a ticket ----------------------------------------------------------------


@pytest.mark.django_db
class TestTakeFromTheQueue:
    def test_htmx_take_answers_the_row_now_theirs(self, client, pod, agent):
        ticket = ticket_in(pod)

        response = signed_in(client, agent).post(
            reverse("ticket-take", args=[ticket.id]), **HTMX
        )

        html = assert_page(response, f'id="queue-row-{ticket.id}"', "badge--mine")
        assert "data-take" not in html
        ticket.refresh_from_db()
        assert ticket.assignee_id == agent.id

    def test_a_ticket_a_colleague_has_answers_409_naming_them(
        self, client, pod, agent, colleague
    ):
        ticket = ticket_in(pod)
        tickets.services.ticket_take(
            ticket_id=ticket.id, agent_id=colleague.id, now=timezone.now()
        )

        response = signed_in(client, agent).post(
            reverse("ticket-take", args=[ticket.id]), **HTMX
        )

        name = colleague.user.get_full_name()
        assert_page(response, f"{name} already has this ticket.", status=409)
        ticket.refresh_from_db()
        assert ticket.assignee_id == colleague.id

    def test_without_javascript_taking_opens_the_ticket(self, client, pod, agent):
        ticket = ticket_in(pod)

        response = signed_in(client, agent).post(
            reverse("ticket-take", args=[ticket.id]), follow=True
        )

        assert response.redirect_chain[-1][0] == reverse(
            "ticket-detail", args=[ticket.id]
        )
        assert_page(response, f"#{ticket.id} is yours.")

    def test_an_invited_colleague_from_another_pod_may_not_hold_it(
        self, client, pod, agent, outsider
    ):
        ticket = ticket_in(pod)
        tickets.services.collaborator_invite(
            ticket=ticket,
            agent_id=outsider.id,
            invited_by_id=agent.id,
            now=timezone.now(),
        )

        response = signed_in(client, outsider).post(
            reverse("ticket-take", args=[ticket.id]), **HTMX
        )

        assert response.status_code == 409
        ticket.refresh_from_db()
        assert ticket.assignee_id is None


# --- The ticket page ----------------------------------------------------------------


@pytest.mark.django_db
class TestTicketPage:
    def test_shows_the_conversation_across_channels_and_the_customer(
        self, client, pod, agent, colleague
    ):
        ticket = ticket_in(
            pod,
            subject="Refund please",
            text="Can I have my refund?\n\n> On Monday you wrote:\n> Hello",
            visible_text="Can I have my refund?",
            files=[pdf_file()],
        )
        tickets.services.note_add(
            ticket=ticket,
            agent_id=colleague.id,
            text="Checked the bill.",
            now=timezone.now(),
        )
        earlier = ticket_in(pod, subject="Moving home")
        Ticket.objects.filter(id=earlier.id).update(customer=ticket.customer)

        html = assert_page(
            signed_in(client, agent).get(reverse("ticket-detail", args=[ticket.id])),
            "Refund please",
            "Can I have my refund?",
            "Show the quoted text",
            "&gt; On Monday you wrote:",
            "Checked the bill.",
            "badge--note",
            "Internal note",
            "bill.pdf",
            reverse(
                "attachment-download",
                args=[
                    Message.objects.filter(ticket=ticket).first().attachments.get().id
                ],
            ),
            "Reply by email",
            f"#{earlier.id} Moving home",
            "How to reach them",
            ticket.customer.display_name,
            'name="seen_message_id"',
            "workspace.js",
            "workspace.css",
        )

        assert html.count("Can I have my refund?") == 1  # not again in the fold
        last = Message.objects.filter(ticket=ticket).order_by("-id").first()
        assert f'name="seen_message_id" value="{last.id}"' in html
        assert f'data-last-message-id="{last.id}"' in html
        assert reverse("ticket-templates", args=[ticket.id]) in html
        assert 'hx-trigger="intersect once"' in html

    def test_a_call_shows_its_record_and_recording(self, client, pod, agent):
        ticket = ticket_in(pod, channel="PHONE", subject="Call", text="Incoming call")
        message = Message.objects.get(ticket=ticket)
        started = timezone.now() - timedelta(minutes=10)
        CallRecord.objects.create(
            ticket=ticket,
            message=message,
            call_id="call-1",
            state=CallRecord.State.ENDED,
            from_number="+442079000001",
            agent=agent,
            started_at=started,
            answered_at=started,
            ended_at=started + timedelta(minutes=4, seconds=12),
            duration_seconds=252,
            recording_url="https://recordings.example/call-1.mp3",
        )
        bad = Message.objects.create(
            ticket=ticket,
            direction=Message.Direction.INBOUND,
            channel="PHONE",
            text="Second call",
            created_at=timezone.now(),
        )
        CallRecord.objects.create(
            ticket=ticket,
            message=bad,
            call_id="call-2",
            state=CallRecord.State.MISSED,
            from_number="+442079000001",
            started_at=timezone.now(),
            recording_url="javascript:alert(1)",
        )

        html = assert_page(
            signed_in(client, agent).get(reverse("ticket-detail", args=[ticket.id])),
            "Answered by",
            "4\xa0minutes",
            "https://recordings.example/call-1.mp3",
            "Listen to the recording",
            "Missed",
        )

        assert "javascript:alert" not in html

    def test_the_reply_is_named_for_the_channel_it_goes_out_in(
        self, client, pod, agent
    ):
        ticket = ticket_in(pod, channel="SMS", subject="Text", text="Hi by text")
        client = signed_in(client, agent)

        page = client.get(reverse("ticket-detail", args=[ticket.id]))
        client.post(
            reverse("ticket-message-add", args=[ticket.id]),
            {"kind": "reply", "text": "Hi back", "seen_message_id": 0},
        )

        assert_page(page, "Reply by SMS")
        reply = Message.objects.get(ticket=ticket, direction="OUTBOUND")
        assert reply.channel == "SMS"

    def test_a_customer_without_an_address_gets_a_note_only(self, client, pod, agent):
        ticket = ticket_in(pod, channel="PHONE", subject="Call", text="Missed call")

        html = assert_page(
            signed_in(client, agent).get(reverse("ticket-detail", args=[ticket.id])),
            "no email address yet",
        )

        assert 'value="reply" id="composer-kind-reply" disabled' in html
        assert 'value="note" id="composer-kind-note" checked' in html

    def test_a_merged_ticket_opens_as_the_one_it_went_into(self, client, pod, agent):
        target = ticket_in(pod, subject="Kept")
        source = ticket_in(pod, subject="Merged")
        Ticket.objects.filter(id=source.id).update(customer=target.customer)
        tickets.services.ticket_merge(
            source=source, target=target, agent_id=agent.id, now=timezone.now()
        )

        response = signed_in(client, agent).get(
            reverse("ticket-detail", args=[source.id])
        )

        assert response.status_code == 302
        assert response["Location"] == reverse("ticket-detail", args=[target.id])

    def test_runs_the_same_queries_for_5_and_50_messages(
        self, client, pod, agent, colleague, django_assert_num_queries
    ):
        ticket = ticket_in(pod, files=[pdf_file()])
        client = signed_in(client, agent)
        url = reverse("ticket-detail", args=[ticket.id])

        def fill(count):
            for n in range(count):
                tickets.services.note_add(
                    ticket=ticket,
                    agent_id=colleague.id,
                    text=f"note {n} for @{agent.user.username}",
                    now=timezone.now(),
                )
            for _ in range(count // 5):
                other = ticket_in(pod)
                Ticket.objects.filter(id=other.id).update(customer=ticket.customer)

        fill(5)
        small = queries_for(lambda: client.get(url))
        fill(45)
        large = queries_for(lambda: client.get(url))

        assert small == large
        # session, user, agent, ticket, permissions (2), home pod, ticket with
        # relations, tags, thread, attachments, mentions, identities, other
        # tickets, collaborators, members, reasons
        with django_assert_num_queries(17):
            client.get(url)

    def test_live_refresh_answers_fragments_out_of_band(self, client, pod, agent):
        ticket = ticket_in(pod, subject="Live")

        response = signed_in(client, agent).get(
            reverse("ticket-live", args=[ticket.id]), **HTMX
        )

        html = assert_page(response)
        assert html.count('hx-swap-oob="true"') == 3
        assert 'id="ticket-notice" hx-swap-oob="innerHTML"' in html
        assert "composer-form" not in html


@pytest.mark.django_db
class TestAnotherPodsTicket:
    @pytest.mark.parametrize(
        ("method", "name", "data"),
        [
            ("get", "ticket-detail", {}),
            ("get", "ticket-live", {}),
            ("get", "ticket-colleagues", {"q": "a"}),
            ("post", "ticket-take", {}),
            ("post", "ticket-message-add", {"kind": "reply", "text": "Hi"}),
            ("post", "ticket-message-add", {"kind": "note", "text": "Hi"}),
            ("post", "ticket-status", {"status": "SOLVED"}),
            ("post", "ticket-fields", {"priority": "HIGH"}),
            ("post", "ticket-assign", {"agent": ""}),
            ("post", "ticket-invite", {"agent": "1"}),
            ("post", "ticket-leave", {}),
        ],
    )
    def test_answers_404_and_changes_nothing(
        self, client, pod, other_pod, outsider, method, name, data
    ):
        ticket = ticket_in(pod, subject="Ours")
        before = Message.objects.filter(ticket=ticket).count()

        response = getattr(signed_in(client, outsider), method)(
            reverse(name, args=[ticket.id]), data
        )

        assert response.status_code == 404
        ticket.refresh_from_db()
        assert (ticket.status, ticket.assignee_id, ticket.priority) == (
            Ticket.Status.NEW,
            None,
            Ticket.Priority.NORMAL,
        )
        assert Message.objects.filter(ticket=ticket).count() == before
        assert not TicketCollaborator.objects.filter(ticket=ticket).exists()

    def test_a_missing_ticket_is_404_too(self, client, outsider):
        response = signed_in(client, outsider).get(
            reverse("ticket-detail", args=[9999])
        )

        assert_page(response, "Page not found", status=404)


# --- Writing on the ticket ------------------------------------------------------------


@pytest.mark.django_db
class TestWritingOnTheTicket:
    def test_a_reply_goes_out_by_email_and_shows_in_the_thread(
        self, client, pod, agent, mailoutbox, django_capture_on_commit_callbacks
    ):
        ticket = ticket_in(pod)
        seen = Message.objects.filter(ticket=ticket).last().id

        with django_capture_on_commit_callbacks(execute=True):
            response = signed_in(client, agent).post(
                reverse("ticket-message-add", args=[ticket.id]),
                {
                    "kind": "reply",
                    "text": "Your refund is on its way.",
                    "seen_message_id": seen,
                },
                **HTMX,
            )

        html = assert_page(response, "Your refund is on its way.", "Reply sent.")
        assert response["HX-Trigger-After-Settle"] == "workspace:message-sent"
        reply = Message.objects.get(ticket=ticket, direction=Message.Direction.OUTBOUND)
        assert (reply.channel, reply.author_agent_id) == ("EMAIL", agent.id)
        assert f'data-last-message-id="{reply.id}"' in html
        assert [mail.body.strip() for mail in mailoutbox][-1].startswith(
            "Your refund is on its way."
        )

    def test_a_note_stays_inside(self, client, pod, agent, mailoutbox):
        ticket = ticket_in(pod)

        response = signed_in(client, agent).post(
            reverse("ticket-message-add", args=[ticket.id]),
            {"kind": "note", "text": "Customer is upset.", "seen_message_id": 0},
        )

        assert response.status_code == 302
        note = Message.objects.get(ticket=ticket, direction=Message.Direction.NOTE)
        assert note.text == "Customer is upset."
        assert mailoutbox == []

    def test_a_colleagues_reply_since_the_page_opened_asks_first(
        self, client, pod, agent, colleague
    ):
        ticket = ticket_in(pod)
        seen = Message.objects.filter(ticket=ticket).last().id
        tickets.services.message_reply(
            ticket=ticket,
            agent_id=colleague.id,
            text="I have refunded you already.",
            now=timezone.now(),
        )
        client = signed_in(client, agent)
        url = reverse("ticket-message-add", args=[ticket.id])
        mine = {"kind": "reply", "text": "Refund coming.", "seen_message_id": seen}

        asked = client.post(url, mine, **HTMX)

        html = assert_page(
            asked,
            f"{colleague.user.get_full_name()} replied while you were writing",
            "I have refunded you already.",
            'name="confirm" value="1"',
            "Send anyway",
            status=409,
        )
        assert asked["HX-Retarget"] == "#composer-alert"
        assert "<html" not in html
        assert not Message.objects.filter(ticket=ticket, author_agent=agent).exists()

        sent = client.post(url, {**mine, "confirm": "1"}, **HTMX)

        assert sent.status_code == 200
        assert Message.objects.filter(
            ticket=ticket, author_agent=agent, text="Refund coming."
        ).exists()

    def test_without_javascript_the_prompt_keeps_the_text(
        self, client, pod, agent, colleague
    ):
        ticket = ticket_in(pod)
        seen = Message.objects.filter(ticket=ticket).last().id
        tickets.services.message_reply(
            ticket=ticket, agent_id=colleague.id, text="Done.", now=timezone.now()
        )

        response = signed_in(client, agent).post(
            reverse("ticket-message-add", args=[ticket.id]),
            {"kind": "reply", "text": "My careful answer", "seen_message_id": seen},
        )

        html = assert_page(
            response, "Send anyway", "My careful answer</textarea>", status=409
        )
        assert f'name="seen_message_id" value="{seen}"' in html

    def test_the_agents_own_reply_and_notes_do_not_collide(
        self, client, pod, agent, colleague
    ):
        ticket = ticket_in(pod)
        seen = Message.objects.filter(ticket=ticket).last().id
        tickets.services.message_reply(
            ticket=ticket, agent_id=agent.id, text="First.", now=timezone.now()
        )
        tickets.services.note_add(
            ticket=ticket, agent_id=colleague.id, text="FYI", now=timezone.now()
        )

        response = signed_in(client, agent).post(
            reverse("ticket-message-add", args=[ticket.id]),
            {"kind": "reply", "text": "Second.", "seen_message_id": seen},
            **HTMX,
        )

        assert response.status_code == 200

    def test_an_empty_message_is_refused_with_the_reason(self, client, pod, agent):
        ticket = ticket_in(pod)

        response = signed_in(client, agent).post(
            reverse("ticket-message-add", args=[ticket.id]),
            {"kind": "reply", "text": "  "},
            **HTMX,
        )

        assert_page(response, "errorlist", status=422)
        assert not Message.objects.filter(ticket=ticket, author_agent=agent).exists()


# --- Status, fields, assignee ------------------------------------------------------


@pytest.mark.django_db
class TestTicketActions:
    def test_waits_on_the_customer_then_reopens(self, client, pod, agent):
        ticket = ticket_in(pod)
        client = signed_in(client, agent)
        url = reverse("ticket-status", args=[ticket.id])

        waiting = client.post(url, {"status": "PENDING"}, **HTMX)
        ticket.refresh_from_db()
        pending = ticket.status
        reopened = client.post(url, {"status": "OPEN"}, **HTMX)

        assert_page(waiting, "Waiting on the customer.", "Reopen")
        assert pending == Ticket.Status.PENDING
        assert_page(reopened, "Reopened.")
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.OPEN

    def test_solving_goes_back_to_the_queue(self, client, pod, agent):
        ticket = ticket_in(pod)
        tickets.services.ticket_take(
            ticket_id=ticket.id, agent_id=agent.id, now=timezone.now()
        )
        client = signed_in(client, agent)

        response = client.post(
            reverse("ticket-status", args=[ticket.id]),
            {"status": "SOLVED", "next": "/queue/?view=mine"},
            **HTMX,
        )

        assert response.status_code == 204
        assert response["HX-Redirect"] == "/queue/?view=mine"
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.SOLVED
        assert_page(client.get("/queue/?view=mine"), f"#{ticket.id} is solved")

    def test_a_refused_move_says_why_and_changes_nothing(self, client, pod, agent):
        ticket = ticket_in(pod)
        tickets.services.ticket_solve(ticket=ticket, now=timezone.now())

        response = signed_in(client, agent).post(
            reverse("ticket-status", args=[ticket.id]), {"status": "PENDING"}, **HTMX
        )

        assert_page(response, "notice--error", "cannot wait", status=409)
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.SOLVED

    def test_sets_priority_reason_and_tags(self, client, pod, agent):
        ticket = ticket_in(pod)
        reason = ContactReason.objects.create(name="Moving home")

        response = signed_in(client, agent).post(
            reverse("ticket-fields", args=[ticket.id]),
            {"priority": "URGENT", "reason": reason.id, "tags": "Move, keys ,,"},
            **HTMX,
        )

        assert_page(response, "Saved.", "Urgent priority")
        ticket.refresh_from_db()
        assert ticket.priority == Ticket.Priority.URGENT
        assert ticket.contact_reason_id == reason.id
        assert sorted(tag.name for tag in ticket.tags.all()) == ["keys", "move"]

    def test_hands_over_and_back_to_the_queue(self, client, pod, agent, colleague):
        ticket = ticket_in(pod)
        client = signed_in(client, agent)
        url = reverse("ticket-assign", args=[ticket.id])

        handed = client.post(url, {"agent": colleague.id}, **HTMX)
        ticket.refresh_from_db()
        holder = ticket.assignee_id
        back = client.post(url, {"agent": ""}, **HTMX)

        assert_page(handed, "Handed over.")
        assert holder == colleague.id
        assert_page(back, "Back in the pod queue.")
        ticket.refresh_from_db()
        assert ticket.assignee_id is None

    def test_takes_from_the_ticket_page(self, client, pod, agent):
        ticket = ticket_in(pod)

        response = signed_in(client, agent).post(
            reverse("ticket-take", args=[ticket.id]), {"surface": "ticket"}, **HTMX
        )

        html = assert_page(response, 'class="ticket-side" hx-swap-oob="true"')
        assert 'id="action-take"' not in html
        ticket.refresh_from_db()
        assert ticket.assignee_id == agent.id


# --- Invite a colleague ---------------------------------------------------------------


@pytest.mark.django_db
class TestInvitedColleague:
    def test_finds_colleagues_of_any_pod(self, client, pod, agent, outsider):
        ticket = ticket_in(pod)
        outsider.user.first_name = "Minji"
        outsider.user.save()

        response = signed_in(client, agent).get(
            reverse("ticket-colleagues", args=[ticket.id]), {"q": "minji"}, **HTMX
        )

        html = assert_page(response, "Minji", outsider.pod.name, "Invite")
        assert f'name="agent" value="{outsider.id}"' in html

    def test_opens_that_ticket_and_no_other_and_loses_it_on_leaving(
        self, client, pod, agent, outsider
    ):
        ticket = ticket_in(pod, subject="Needs a specialist", files=[pdf_file()])
        other = ticket_in(pod, subject="Not for them")
        attachment = Message.objects.get(ticket=ticket).attachments.get()
        invited = signed_in(client.__class__(), agent).post(
            reverse("ticket-invite", args=[ticket.id]), {"agent": outsider.id}, **HTMX
        )
        client = signed_in(client, outsider)

        page = client.get(reverse("ticket-detail", args=[ticket.id]))
        hidden = client.get(reverse("ticket-detail", args=[other.id]))
        note = client.post(
            reverse("ticket-message-add", args=[ticket.id]),
            {"kind": "note", "text": "Specialist here."},
        )
        download = client.get(reverse("attachment-download", args=[attachment.id]))
        left = client.post(reverse("ticket-leave", args=[ticket.id]), follow=True)
        after = client.get(reverse("ticket-detail", args=[ticket.id]))

        assert_page(invited, "Invited; they have been told.")
        html = assert_page(
            page,
            "Needs a specialist",
            "Leave this ticket",
            "invited onto this ticket only",
        )
        assert "How to reach them" not in html
        assert hidden.status_code == 404
        assert note.status_code == 302
        assert download.status_code == 200
        assert_page(left, f"You left #{ticket.id}.")
        assert after.status_code == 404

    def test_inviting_twice_says_so(self, client, pod, agent, outsider):
        ticket = ticket_in(pod)
        client = signed_in(client, agent)
        url = reverse("ticket-invite", args=[ticket.id])
        client.post(url, {"agent": outsider.id}, **HTMX)

        again = client.post(url, {"agent": outsider.id}, **HTMX)

        assert_page(again, "already on this ticket", status=409)
        assert TicketCollaborator.objects.filter(ticket=ticket).count() == 1


# --- Attachments ----------------------------------------------------------------------


@pytest.mark.django_db
class TestAttachmentDownload:
    def test_downloads_with_a_safe_name_and_no_sniffing(self, client, pod, agent):
        hostile = '..\\..\\evil"; filename=x.html\r\nX-Bad: 1\u202egnp.exe'
        ticket = ticket_in(pod, files=[pdf_file(name=hostile, data=b"%PDF-1.4 hi")])
        attachment = Message.objects.get(ticket=ticket).attachments.get()

        response = signed_in(client, agent).get(
            reverse("attachment-download", args=[attachment.id])
        )

        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"%PDF-1.4 hi"
        disposition = response["Content-Disposition"]
        assert disposition.startswith('attachment; filename="')
        assert "filename*=UTF-8''" in disposition
        assert "\r" not in disposition
        assert "\n" not in disposition
        assert "\u202e" not in disposition
        assert "%E2%80%AE" not in disposition
        assert "\\" not in disposition
        assert disposition.count('"') == 2
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert "no-store" in response["Cache-Control"]

    def test_html_is_served_as_bytes(self, client, pod, agent):
        data = b"<script>alert(1)</script>"
        page = tickets.services.IncomingFile(
            name="page.html",
            content_type="text/html; charset=utf-8",
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
        )
        ticket = ticket_in(pod, files=[page])
        attachment = Message.objects.get(ticket=ticket).attachments.get()

        response = signed_in(client, agent).get(
            reverse("attachment-download", args=[attachment.id])
        )

        assert response["Content-Type"] == "application/octet-stream"

    def test_another_pods_attachment_is_404(self, client, pod, outsider):
        ticket = ticket_in(pod, files=[pdf_file()])
        attachment = Message.objects.get(ticket=ticket).attachments.get()

        response = signed_in(client, outsider).get(
            reverse("attachment-download", args=[attachment.id])
        )

        assert response.status_code == 404

    @pytest.mark.parametrize(
        ("given", "served"),
        [
            ("application/pdf", "application/pdf"),
            ("image/PNG", "image/png"),
            ("text/plain; charset=utf-8", "text/plain"),
            ("text/html", "application/octet-stream"),
            ("image/svg+xml", "application/octet-stream"),
            ("application/xhtml+xml", "application/octet-stream"),
            ("text/javascript", "application/octet-stream"),
            ("application/x-sh", "application/octet-stream"),
            ("", "application/octet-stream"),
            ("nonsense", "application/octet-stream"),
            ("text/<b>", "application/octet-stream"),
        ],
    )
    def test_download_type(self, given, served):
        assert download_type(given) == served

    @pytest.mark.parametrize(
        ("name", "fallback", "encoded"),
        [
            ("bill.pdf", "bill.pdf", "bill.pdf"),
            ("영수증.pdf", "___.pdf", "%EC%98%81%EC%88%98%EC%A6%9D.pdf"),
            ("Café menu.pdf", "Cafe menu.pdf", "Caf%C3%A9%20menu.pdf"),
            ("../../etc/passwd", "passwd", "passwd"),
            ('a"b;c.txt', "a_b_c.txt", "a%22b%3Bc.txt"),
            (".hidden", "hidden", "hidden"),
            ("\r\n", "attachment", "attachment"),
        ],
    )
    def test_content_disposition(self, name, fallback, encoded):
        assert content_disposition(name) == (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
        )


# --- In the browser -----------------------------------------------------------------


def on_server(asgi_server, function, /, **kwargs):
    """Run a service as a request would: in a worker thread of the live server,
    so what it publishes after commit reaches the server's channel layer (the
    in-memory layer belongs to the server's event loop; Playwright holds this
    thread's)."""
    return asgi_server.run(sync_to_async(function)(**kwargs), timeout=15)


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.mark.browser
class TestAgentWorksTheQueueInTheBrowser:
    def test_a_ticket_arrives_live_is_taken_by_keyboard_and_answered(
        self, page, asgi_server
    ):
        pod = factories.staffed_pod(size=2)
        Agent.objects.filter(pod=pod).update(presence=Agent.Presence.OFFLINE)
        factories.agent(pod=pod, username="ana", presence=Agent.Presence.OFFLINE)
        sign_in(page, "ana")
        page.goto("/queue/")
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )
        expect(page.get_by_text("Nobody is waiting")).to_be_visible()

        ticket = on_server(asgi_server, ticket_in, pod=pod, subject="My boiler is cold")

        row = page.locator(f"#queue-row-{ticket.id}")
        expect(row).to_be_visible(timeout=LIVE_TIMEOUT_MS)
        page.keyboard.press("j")
        expect(row.locator(".queue-row__link")).to_be_focused()
        page.keyboard.press("t")
        expect(row.get_by_text("You", exact=True)).to_be_visible()
        expect(row.locator(".queue-row__link")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(rf"/tickets/{ticket.id}/$"))
        expect(
            page.get_by_role("heading", name=re.compile("My boiler is cold"))
        ).to_be_visible()
        page.keyboard.press("r")
        expect(page.locator("#composer-text")).to_be_focused()
        page.keyboard.type("An engineer comes tomorrow at nine.")
        page.keyboard.press("Control+Enter")

        thread = page.locator("#thread")
        expect(thread).to_contain_text("An engineer comes tomorrow at nine.")
        expect(page.locator("#ticket-notice")).to_contain_text("Reply sent.")
        expect(page.locator("#composer-text")).to_have_value("")
        assert Message.objects.filter(
            ticket=ticket,
            direction="OUTBOUND",
            text="An engineer comes tomorrow at nine.",
        ).exists()

        page.keyboard.press("Escape")  # leaves the composer
        page.keyboard.press("?")
        expect(page.locator("#shortcuts")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#shortcuts")).to_be_hidden()
        page.keyboard.press("s")
        expect(page.locator("#solve-dialog")).to_be_visible()
        page.keyboard.press("Escape")  # changed their mind
        expect(page.locator("#solve-dialog")).to_be_hidden()
        page.keyboard.press("Escape")
        expect(page).to_have_url(re.compile(r"/queue/$"))
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.OPEN

        page.go_back()
        page.keyboard.press("s")
        page.keyboard.press("Enter")

        expect(page).to_have_url(re.compile(r"/queue/$"))
        expect(page.get_by_role("status").first).to_contain_text(
            f"#{ticket.id} is solved"
        )
        ticket.refresh_from_db()
        assert ticket.status == Ticket.Status.SOLVED

    def test_a_ticket_a_colleague_takes_leaves_unassigned_live(self, page, asgi_server):
        pod = factories.staffed_pod(size=2)
        Agent.objects.filter(pod=pod).update(presence=Agent.Presence.OFFLINE)
        factories.agent(pod=pod, username="ana", presence=Agent.Presence.OFFLINE)
        colleague = (
            Agent.objects.filter(pod=pod, role=Agent.Role.AGENT)
            .exclude(user__username="ana")
            .first()
        )
        ticket = ticket_in(pod, subject="Taken by a colleague")
        sign_in(page, "ana")
        page.goto("/queue/")
        page.wait_for_function(
            "document.body.dataset.live === 'connected'", timeout=LIVE_TIMEOUT_MS
        )
        row = page.locator(f"#queue-row-{ticket.id}")
        expect(row).to_be_visible()

        on_server(
            asgi_server,
            tickets.services.ticket_take,
            ticket_id=ticket.id,
            agent_id=colleague.id,
            now=timezone.now(),
        )

        expect(row).to_have_count(0, timeout=LIVE_TIMEOUT_MS)
        expect(
            page.locator(".tabs__link[aria-current=page] .tabs__count")
        ).to_have_text("0")
