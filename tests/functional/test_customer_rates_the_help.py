"""A customer whose ticket was solved rates the help with one click from the
link in our message; the rating lands on the ticket, the agent and the pod."""

import json
import random
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from playwright.sync_api import expect
from rest_framework.test import APIClient

import pods.services
import tickets.services
from pods.models import Agent, Pod
from tests import factories
from tickets.models import SatisfactionSurvey, Ticket
from tickets.views import survey as survey_views

LINK = re.compile(r"https?://\S+/survey/[A-Za-z0-9_-]+/\?rating=([1-5])")


def a_client() -> Client:
    # A random client address: answers are rate-limited per address, and the
    # cache may be a Redis shared with other test runs.
    octets = ".".join(str(random.randrange(256)) for _ in range(3))
    return Client(REMOTE_ADDR=f"10.{octets}")


@pytest.fixture
def client():
    return a_client()


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3, name="Mercury")


def solved_ticket(
    *, now, email: str = "ann@customer.example", pod: Pod | None = None
) -> Ticket:
    """A ticket of a new customer (in `pod` when given: the other pods are
    closed to new customers meanwhile), solved at `now`."""
    others = (
        list(Pod.objects.exclude(id=pod.id).values_list("id", flat=True)) if pod else []
    )
    pods.services.pods_accepting_set(pod_ids=others, accepting=False)
    try:
        ticket = tickets.services.ticket_open(
            identities=[("EMAIL", email)],
            channel="EMAIL",
            subject="My meter reading",
            now=now,
            display_name="Ann Lee",
        ).ticket
    finally:
        pods.services.pods_accepting_set(pod_ids=others, accepting=True)
    return tickets.services.ticket_solve(ticket=ticket, now=now)


def survey_of(ticket: Ticket) -> SatisfactionSurvey:
    return SatisfactionSurvey.objects.get(ticket=ticket)


def url(survey: SatisfactionSurvey, rating: int | None = None) -> str:
    return f"/survey/{survey.token}/" + (f"?rating={rating}" if rating else "")


@pytest.mark.django_db
class TestSurveyPage:
    def test_opening_a_link_shows_its_rating_chosen_and_records_nothing(
        self, client, pod, now
    ):
        survey = survey_of(solved_ticket(now=now))

        page = client.get(url(survey, 4))

        html = page.content.decode()
        survey.refresh_from_db()
        assert page.status_code == 200
        assert re.search(r'<input[^>]*value="4"[^>]*checked', html)
        assert len(re.findall(r"checked", html)) == 1
        assert "data-send-at-once" in html
        assert 'type="submit"' in html  # the button, for browsers without JS
        assert 'name="comment"' in html
        assert (survey.rating, survey.answered_at) == (None, None)

    def test_opening_a_link_after_answering_changes_nothing(self, client, pod, now):
        survey = survey_of(solved_ticket(now=now))
        tickets.services.satisfaction_survey_answer(
            token=survey.token, rating=5, comment="Lovely", now=now
        )

        page = client.get(url(survey, 1))

        survey.refresh_from_db()
        assert page.status_code == 200
        assert (survey.rating, survey.comment) == (5, "Lovely")

    def test_without_a_rating_nothing_is_chosen_or_sent_at_once(self, client, pod, now):
        survey = survey_of(solved_ticket(now=now))

        html = client.get(url(survey) + "?rating=9").content.decode()

        assert "checked" not in html
        assert "data-send-at-once" not in html

    def test_is_a_customer_page_never_cached_indexed_or_scripted_inline(
        self, client, pod, now
    ):
        survey = survey_of(solved_ticket(now=now))

        page = client.get(url(survey, 5))

        html = page.content.decode()
        assert "no-store" in page["Cache-Control"]
        assert 'name="robots" content="noindex, nofollow"' in html
        assert "<style" not in html
        assert " style=" not in html
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
        assert "tickets/survey.js" in html
        assert "/ws/notifications/" not in html  # not the staff layout
        assert 'lang="en"' in html
        assert re.search(r"<legend>\s*Your rating", html)

    def test_an_unknown_and_an_expired_link_are_the_same_404(self, client, pod, now):
        survey = survey_of(solved_ticket(now=now))
        SatisfactionSurvey.objects.filter(id=survey.id).update(expires_at=now)

        expired = client.get(url(survey, 5))
        unknown = client.get("/survey/not-a-real-token-at-all/?rating=5")

        assert expired.status_code == unknown.status_code == 404
        assert expired.content == unknown.content
        assert "This link has expired" in expired.content.decode()


@pytest.mark.django_db
class TestSurveyAnswer:
    def test_posting_records_the_rating_and_thanks_the_customer(self, client, pod, now):
        survey = survey_of(solved_ticket(now=now))

        sent = client.post(url(survey), {"rating": "4", "comment": ""})
        thanks = client.get(sent["Location"])

        survey.refresh_from_db()
        assert sent.status_code == 302
        assert sent["Location"] == f"/survey/{survey.token}/thanks/"
        assert survey.rating == 4
        assert thanks.status_code == 200
        assert "You rated us 4 out of 5." in thanks.content.decode()
        assert 'name="comment"' in thanks.content.decode()

    def test_a_comment_added_from_the_thanks_page_keeps_the_rating(
        self, client, pod, now
    ):
        survey = survey_of(solved_ticket(now=now))
        client.post(url(survey), {"rating": "4", "comment": ""})

        client.post(url(survey), {"rating": "4", "comment": "Mina was great."})

        survey.refresh_from_db()
        assert (survey.rating, survey.comment) == (4, "Mina was great.")

    @pytest.mark.parametrize("rating", ["", "0", "6", "five"])
    def test_a_missing_or_bad_rating_is_a_400_and_records_nothing(
        self, client, pod, now, rating
    ):
        survey = survey_of(solved_ticket(now=now))

        page = client.post(url(survey), {"rating": rating, "comment": "hm"})

        survey.refresh_from_db()
        assert page.status_code == 400
        assert 'role="alert"' in page.content.decode()
        assert (survey.rating, survey.comment) == (None, "")

    def test_an_expired_link_is_a_404_and_the_answer_stays(self, client, pod, now):
        survey = survey_of(solved_ticket(now=now))
        tickets.services.satisfaction_survey_answer(
            token=survey.token, rating=3, comment="", now=now
        )
        SatisfactionSurvey.objects.filter(id=survey.id).update(expires_at=now)

        page = client.post(url(survey), {"rating": "1", "comment": ""})

        survey.refresh_from_db()
        assert page.status_code == 404
        assert "This link has expired" in page.content.decode()
        assert survey.rating == 3

    def test_the_thanks_of_an_unanswered_survey_leads_to_the_survey(
        self, client, pod, now
    ):
        survey = survey_of(solved_ticket(now=now))

        page = client.get(f"/survey/{survey.token}/thanks/")

        assert page.status_code == 302
        assert page["Location"] == f"/survey/{survey.token}/"


@pytest.fixture
def clock(monkeypatch):
    """Time stands at 12:00:10, ten seconds into a ten-minute window."""
    frozen = datetime(2030, 1, 1, 12, 0, 10, tzinfo=UTC)
    monkeypatch.setattr(survey_views.timezone, "now", lambda: frozen)
    return frozen


@pytest.mark.django_db
class TestSurveyRateLimit:
    def test_too_many_posts_from_one_address_wait_with_retry_after(
        self, client, pod, clock, monkeypatch
    ):
        monkeypatch.setattr(survey_views, "SURVEY_POSTS_PER_WINDOW", 2)
        survey = survey_of(solved_ticket(now=clock))
        for rating in ("2", "3"):
            client.post(url(survey), {"rating": rating, "comment": ""})

        refused = client.post(url(survey), {"rating": "5", "comment": ""})

        survey.refresh_from_db()
        assert refused.status_code == 429
        assert refused["Retry-After"] == "590"  # the window ends at 12:10:00
        assert survey.rating == 3

    def test_another_address_is_not_held_back(self, client, pod, clock, monkeypatch):
        monkeypatch.setattr(survey_views, "SURVEY_POSTS_PER_WINDOW", 1)
        survey = survey_of(solved_ticket(now=clock))
        client.post(url(survey), {"rating": "2", "comment": ""})

        sent = a_client().post(url(survey), {"rating": "5", "comment": ""})

        survey.refresh_from_db()
        assert sent.status_code == 302
        assert survey.rating == 5

    def test_opening_links_is_not_counted(self, client, pod, clock, monkeypatch):
        monkeypatch.setattr(survey_views, "SURVEY_POSTS_PER_WINDOW", 1)
        survey = survey_of(solved_ticket(now=clock))
        for _ in range(3):
            client.get(url(survey, 5))

        sent = client.post(url(survey), {"rating": "5", "comment": ""})

        assert sent.status_code == 302


@pytest.fixture
def api():
    return APIClient()


def fresh(user):
    """The user as a new request sees them: no permission or pod cache yet."""
    return get_user_model().objects.get(pk=user.pk)


def member_of(pod: Pod) -> Agent:
    return Agent.objects.filter(pod=pod, role="AGENT").order_by("id").first()


@pytest.mark.django_db
class TestRatingLandsOnTheTicketAndThePod:
    def test_the_ticket_detail_shows_the_rating_never_the_link(self, api, pod, now):
        ticket = solved_ticket(now=now, pod=pod)
        survey = survey_of(ticket)
        tickets.services.satisfaction_survey_answer(
            token=survey.token, rating=5, comment="Thanks!", now=now
        )
        api.force_authenticate(member_of(pod).user)

        detail = api.get(f"/api/tickets/{ticket.id}/")

        satisfaction = detail.json()["satisfaction"]
        assert (satisfaction["rating"], satisfaction["comment"]) == (5, "Thanks!")
        assert satisfaction["agent"] == ticket.assignee_id
        assert survey.token not in json.dumps(satisfaction)

    def test_a_ticket_never_asked_has_no_satisfaction(self, api, pod, now):
        ticket = tickets.services.ticket_open(
            identities=[("EMAIL", "new@customer.example")],
            channel="EMAIL",
            subject="Hello",
            now=now,
        ).ticket
        api.force_authenticate(member_of(pod).user)

        detail = api.get(f"/api/tickets/{ticket.id}/").json()

        assert detail["satisfaction"] is None

    def test_the_ticket_detail_reads_the_rating_in_constant_queries(
        self, api, pod, now
    ):
        quiet = solved_ticket(now=now, pod=pod, email="q@customer.example")
        busy = solved_ticket(now=now, pod=pod, email="b@customer.example")
        for number in range(5):
            tickets.services.note_add(
                ticket=busy, agent_id=pod.lead_id, text=f"note {number}", now=now
            )
        user = member_of(pod).user

        counts = []
        for ticket in (quiet, busy):
            api.force_authenticate(fresh(user))
            with CaptureQueriesContext(connection) as queries:
                api.get(f"/api/tickets/{ticket.id}/")
            counts.append(len(queries))

        assert counts[0] == counts[1]

    def test_the_pods_satisfaction_with_each_agent(self, api, pod, now):
        given = {}
        for number, rating in enumerate([5, 4, 2]):
            ticket = solved_ticket(now=now, pod=pod, email=f"c{number}@example.com")
            tickets.services.satisfaction_survey_answer(
                token=survey_of(ticket).token, rating=rating, comment="", now=now
            )
            given.setdefault(ticket.assignee_id, []).append(rating)
        api.force_authenticate(member_of(pod).user)

        figures = api.get("/api/satisfaction/", {"pod": pod.id, "days": 7}).json()

        assert (figures["pod"], figures["count"]) == (pod.id, 3)
        assert Decimal(figures["average"]) == Decimal("3.67")  # 11 / 3
        assert {
            row["agent"]: (Decimal(row["average"]), row["count"])
            for row in figures["agents"]
        } == {
            agent_id: (
                (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01")),
                len(ratings),
            )
            for agent_id, ratings in given.items()
        }

    def test_another_pods_satisfaction_does_not_exist(self, api, pod, now):
        theirs = factories.staffed_pod(size=2)
        api.force_authenticate(member_of(pod).user)

        response = api.get("/api/satisfaction/", {"pod": theirs.id})
        missing = api.get("/api/satisfaction/", {"pod": 999_999})

        assert response.status_code == missing.status_code == 404

    def test_an_administrator_sees_any_pod(self, api, pod, now):
        api.force_authenticate(factories.admin_user())

        response = api.get("/api/satisfaction/", {"pod": pod.id})

        assert response.status_code == 200
        assert (response.json()["average"], response.json()["count"]) == (None, 0)

    def test_the_pod_is_required(self, api, pod):
        api.force_authenticate(member_of(pod).user)

        response = api.get("/api/satisfaction/", {"days": 0})

        assert response.status_code == 400
        assert {"pod", "days"} <= set(response.json()["error"]["fields"])


@pytest.mark.browser
class TestCustomerRatesInTheBrowser:
    def test_one_click_on_the_emailed_link_records_the_rating(
        self, asgi_server, browser, settings, now
    ):
        settings.HELPDESK = {**settings.HELPDESK, "PUBLIC_URL": asgi_server.url}
        factories.staffed_pod(size=2, name="Mercury")
        # Committed as it happens (transactional test): the email goes out.
        ticket = solved_ticket(now=now)
        links = {int(link[1]): link[0] for link in LINK.finditer(mail.outbox[0].body)}
        context = browser.new_context()
        context.set_default_timeout(10_000)
        mailbox = context.new_page()
        # The customer's mail client: the message's link, as they see it.
        mailbox.set_content(f'<a href="{links[4]}">4 - Good</a>')

        mailbox.get_by_role("link", name="4 - Good").click()

        expect(mailbox).to_have_url(re.compile(r"/survey/[A-Za-z0-9_-]+/thanks/$"))
        expect(mailbox.get_by_text("You rated us 4 out of 5.")).to_be_visible()
        assert survey_of(ticket).rating == 4
        context.close()
