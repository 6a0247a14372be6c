"""The satisfaction survey: asked in the customer's channel when a ticket is
solved, answered from its link, and read back per ticket, agent and pod."""

import re
from datetime import timedelta
from decimal import Decimal
from email import message_from_bytes, policy

import pytest
from django.core import mail

import pods.services
import tickets.selectors
import tickets.services
from tests import factories
from tickets.models import ChatSession, Message, SatisfactionSurvey, Ticket

pytestmark = pytest.mark.django_db

LINK = re.compile(r"(https?://\S+/survey/([A-Za-z0-9_-]+)/\?rating=([1-5]))")


class RecordingProvider:
    """An SMS provider that records what it sends."""

    sent: list[tuple[int, str]] = []

    def send(self, *, message: Message) -> str:
        type(self).sent.append((message.id, message.text))
        return f"provider-{message.id}"


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def solve(django_capture_on_commit_callbacks):
    """Solve a ticket as an agent does, running what waits for the commit
    (the survey's delivery)."""

    def run(ticket: Ticket, *, now) -> Ticket:
        with django_capture_on_commit_callbacks(execute=True):
            return tickets.services.ticket_solve(ticket=ticket, now=now)

    return run


def open_ticket(
    *,
    now,
    channel: str = "EMAIL",
    identities=(("EMAIL", "ann@customer.example"),),
    name: str = "Ann Lee",
) -> Ticket:
    return tickets.services.ticket_open(
        identities=list(identities),
        channel=channel,
        subject="My meter reading",
        now=now,
        display_name=name,
    ).ticket


def survey_messages(ticket: Ticket) -> list[Message]:
    return list(Message.objects.filter(ticket=ticket, is_automatic=True))


class TestSatisfactionSurveySend:
    def test_an_email_ticket_gets_the_links_by_email_marked_automatic(
        self, pod, now, solve
    ):
        ticket = open_ticket(now=now)

        solved = solve(ticket, now=now)

        survey = SatisfactionSurvey.objects.get()
        message = Message.objects.get(ticket=ticket, direction="OUTBOUND")
        sent = message_from_bytes(
            mail.outbox[0].message().as_bytes(), policy=policy.default
        )
        links = LINK.findall(sent.get_content())
        assert (survey.ticket_id, survey.pod_id, survey.agent_id) == (
            ticket.id,
            pod.id,
            solved.assignee_id,
        )
        assert (survey.channel, survey.solved_at, survey.sent_at) == ("EMAIL", now, now)
        assert survey.expires_at == now + timedelta(days=14)
        assert survey.rating is None
        assert len(mail.outbox) == 1
        assert mail.outbox[0].recipients() == ["ann@customer.example"]
        assert sent["Auto-Submitted"] == "auto-generated"
        assert sent["Message-ID"] == message.external_id
        assert [rating for _, _, rating in links] == ["5", "4", "3", "2", "1"]
        assert {token for _, token, _ in links} == {survey.token}
        assert links[0][0] == (f"http://127.0.0.1:8000/survey/{survey.token}/?rating=5")
        assert "Hi Ann," in sent.get_content()
        assert (message.is_automatic, message.author_agent_id) == (True, None)
        assert message.delivery == Message.Delivery.SENT

    def test_the_thread_agents_read_holds_no_link_to_answer(self, pod, now, solve):
        ticket = open_ticket(now=now)

        solve(ticket, now=now)

        survey = SatisfactionSurvey.objects.get()
        stored = Message.objects.get(ticket=ticket, direction="OUTBOUND")
        assert survey.token not in stored.text
        assert not LINK.search(stored.text)
        assert survey.token in mail.outbox[0].body
        assert len(LINK.findall(mail.outbox[0].body)) == 5

    def test_links_use_the_public_address(self, pod, now, solve, settings):
        settings.HELPDESK = {
            **settings.HELPDESK,
            "PUBLIC_URL": "https://help.example.com/",
            "SURVEY_DAYS": 3,
        }

        solve(open_ticket(now=now), now=now)

        survey = SatisfactionSurvey.objects.get()
        assert (
            f"https://help.example.com/survey/{survey.token}/?rating=3"
            in mail.outbox[0].body
        )
        assert survey.expires_at == now + timedelta(days=3)

    def test_an_agents_reply_carries_no_auto_submitted_header(
        self, pod, now, django_capture_on_commit_callbacks
    ):
        ticket = open_ticket(now=now)

        with django_capture_on_commit_callbacks(execute=True):
            tickets.services.message_reply(
                ticket=ticket, agent_id=pod.lead_id, text="On it", now=now
            )

        assert "Auto-Submitted" not in mail.outbox[0].message()

    def test_a_web_form_ticket_is_asked_by_email(self, pod, now, solve):
        solve(open_ticket(now=now, channel="WEB"), now=now)

        assert SatisfactionSurvey.objects.get().channel == "EMAIL"
        assert len(mail.outbox) == 1

    def test_an_sms_ticket_is_asked_by_sms_through_the_provider(
        self, pod, now, solve, settings
    ):
        settings.HELPDESK = {
            **settings.HELPDESK,
            "REPLY_PROVIDERS": {
                **settings.HELPDESK["REPLY_PROVIDERS"],
                "SMS": f"{__name__}.{RecordingProvider.__name__}",
            },
        }
        RecordingProvider.sent = []
        ticket = open_ticket(
            now=now, channel="SMS", identities=[("PHONE", "+447700900123")]
        )

        solve(ticket, now=now)

        survey = SatisfactionSurvey.objects.get()
        (message,) = survey_messages(ticket)
        assert survey.channel == message.channel == "SMS"
        assert [message_id for message_id, _ in RecordingProvider.sent] == [message.id]
        assert f"/survey/{survey.token}/?rating=5" in RecordingProvider.sent[0][1]
        assert mail.outbox == []

    def test_a_chat_whose_widget_is_open_is_asked_in_the_chat(self, pod, now, solve):
        ticket = open_ticket(
            now=now, channel="CHAT", identities=[("CHAT", "visitor-7f3a")]
        )
        ChatSession.objects.create(ticket=ticket, started_at=now, last_seen_at=now)

        solve(ticket, now=now)

        survey = SatisfactionSurvey.objects.get()
        (message,) = survey_messages(ticket)
        assert survey.channel == message.channel == "CHAT"
        assert message.delivery == Message.Delivery.SENT
        assert mail.outbox == []

    def test_a_customer_we_cannot_reach_is_not_asked(self, pod, now, solve):
        ticket = open_ticket(
            now=now, channel="PHONE", identities=[("PHONE", "+447700900124")]
        )

        solve(ticket, now=now)

        assert not SatisfactionSurvey.objects.exists()
        assert survey_messages(ticket) == []
        assert mail.outbox == []

    def test_a_merged_ticket_is_not_asked(self, pod, now, solve):
        source = open_ticket(now=now)
        target = open_ticket(now=now)
        tickets.services.ticket_merge(
            source=source, target=target, agent_id=None, now=now
        )
        source.refresh_from_db()

        asked = tickets.services.satisfaction_survey_send(ticket=source, now=now)

        assert asked is None
        assert not SatisfactionSurvey.objects.exists()
        assert not Message.objects.filter(is_automatic=True).exists()

    def test_a_ticket_solved_then_merged_is_not_asked_again(self, pod, now, solve):
        source = open_ticket(now=now)
        solve(source, now=now)
        SatisfactionSurvey.objects.all().delete()
        Ticket.objects.filter(id=source.id).update(merged_into=open_ticket(now=now))

        asked = tickets.services.satisfaction_survey_send(ticket=source, now=now)

        assert asked is None
        assert not SatisfactionSurvey.objects.exists()

    def test_the_same_solve_is_asked_once(self, pod, now, solve):
        ticket = solve(open_ticket(now=now), now=now)

        again = tickets.services.satisfaction_survey_send(ticket=ticket, now=now)

        assert again is None
        assert SatisfactionSurvey.objects.count() == 1
        assert len(survey_messages(ticket)) == 1

    def test_a_ticket_reopened_and_solved_again_is_asked_again(self, pod, now, solve):
        ticket = solve(open_ticket(now=now), now=now)
        tickets.services.inbound_message_add(
            ticket=ticket,
            incoming=tickets.services.Incoming(channel="EMAIL", text="Not yet!"),
            now=now + timedelta(hours=1),
        )

        solve(ticket, now=now + timedelta(hours=2))

        surveys = SatisfactionSurvey.objects.order_by("solved_at")
        assert [survey.solved_at for survey in surveys] == [
            now,
            now + timedelta(hours=2),
        ]
        assert surveys[0].token != surveys[1].token

    def test_a_ticket_no_longer_solved_is_not_asked(self, pod, now):
        ticket = open_ticket(now=now)

        asked = tickets.services.satisfaction_survey_send(ticket=ticket, now=now)

        assert asked is None
        assert not SatisfactionSurvey.objects.exists()

    def test_the_auto_solve_of_a_pending_ticket_asks_too(
        self, pod, now, django_capture_on_commit_callbacks
    ):
        ticket = open_ticket(now=now - timedelta(days=10))
        tickets.services.ticket_pending_set(ticket=ticket, now=now - timedelta(days=9))

        with django_capture_on_commit_callbacks(execute=True):
            tickets.services.tickets_lifecycle_advance(
                now=now, pending_days=7, solved_days=4
            )

        assert SatisfactionSurvey.objects.get().ticket_id == ticket.id
        assert len(mail.outbox) == 1

    def test_tokens_are_random_not_derived_from_ids(self, pod, now, solve):
        first = solve(open_ticket(now=now), now=now)
        second = solve(
            open_ticket(now=now, identities=[("EMAIL", "bo@customer.example")]),
            now=now,
        )

        tokens = [
            SatisfactionSurvey.objects.get(ticket=ticket).token
            for ticket in (first, second)
        ]
        assert len(set(tokens)) == 2
        assert all(len(token) >= 43 for token in tokens)
        assert not any(str(first.id) == token for token in tokens)


ROUTED = object()  # whoever routing gave the ticket to


def asked(now, solve, *, address: str = "ann@customer.example", agent=ROUTED):
    """A survey of a ticket solved at `now`: by the agent routing chose, by
    `agent`, or from the pod queue (None)."""
    ticket = open_ticket(now=now, identities=[("EMAIL", address)])
    if agent is not ROUTED:
        tickets.services.ticket_assign(
            ticket=ticket, agent_id=agent.id if agent else None, now=now
        )
    solve(ticket, now=now)
    return SatisfactionSurvey.objects.get(ticket=ticket)


def answer(survey: SatisfactionSurvey, rating: int, *, now, comment: str = ""):
    return tickets.services.satisfaction_survey_answer(
        token=survey.token, rating=rating, comment=comment, now=now
    )


class TestSatisfactionSurveyAnswer:
    def test_records_the_rating_and_comment(self, pod, now, solve):
        survey = asked(now, solve)

        answer(survey, 4, now=now + timedelta(hours=1), comment="  Quick, thanks ")

        survey.refresh_from_db()
        assert (survey.rating, survey.comment) == (4, "Quick, thanks")
        assert survey.answered_at == now + timedelta(hours=1)

    def test_can_be_changed_while_the_link_lasts(self, pod, now, solve):
        survey = asked(now, solve)
        answer(survey, 2, now=now)

        answer(survey, 5, now=now + timedelta(days=13), comment="Sorted after all")

        survey.refresh_from_db()
        assert (survey.rating, survey.comment) == (5, "Sorted after all")
        assert survey.answered_at == now + timedelta(days=13)

    def test_the_same_answer_again_changes_nothing(self, pod, now, solve):
        survey = asked(now, solve)
        answer(survey, 5, now=now, comment="Great")

        again = answer(survey, 5, now=now + timedelta(hours=2), comment="Great")

        survey.refresh_from_db()
        assert again.id == survey.id
        assert survey.answered_at == now

    def test_an_expired_link_is_refused_and_the_answer_stays(self, pod, now, solve):
        survey = asked(now, solve)
        answer(survey, 3, now=now)

        with pytest.raises(tickets.services.SurveyExpired):
            answer(survey, 1, now=survey.expires_at)

        survey.refresh_from_db()
        assert (survey.rating, survey.answered_at) == (3, now)

    def test_an_expired_link_never_answered_stays_unanswered(self, pod, now, solve):
        survey = asked(now, solve)

        with pytest.raises(tickets.services.SurveyExpired):
            answer(survey, 5, now=now + timedelta(days=15))

        survey.refresh_from_db()
        assert survey.rating is None
        assert survey.answered_at is None

    @pytest.mark.parametrize("token", ["", "no-such-token", "x" * 500])
    def test_an_unknown_token_is_refused(self, pod, now, solve, token):
        survey = asked(now, solve)

        with pytest.raises(tickets.services.SurveyUnknown):
            tickets.services.satisfaction_survey_answer(
                token=token, rating=5, comment="", now=now
            )

        survey.refresh_from_db()
        assert survey.rating is None

    @pytest.mark.parametrize("rating", [0, 6, -1, True])
    def test_a_rating_outside_one_to_five_is_refused(self, pod, now, solve, rating):
        survey = asked(now, solve)

        with pytest.raises(tickets.services.RatingInvalid):
            answer(survey, rating, now=now)

        survey.refresh_from_db()
        assert survey.rating is None

    def test_a_token_of_one_ticket_never_answers_another(self, pod, now, solve):
        first = asked(now, solve, address="a@customer.example")
        second = asked(now, solve, address="b@customer.example")

        answer(first, 1, now=now, comment="Slow")

        second.refresh_from_db()
        first.refresh_from_db()
        assert first.rating == 1
        assert (second.rating, second.comment, second.answered_at) == (None, "", None)

    def test_an_overlong_comment_is_cut_to_the_limit(self, pod, now, solve):
        survey = asked(now, solve)

        answer(survey, 4, now=now, comment="x" * 6_000)

        survey.refresh_from_db()
        assert len(survey.comment) == tickets.services.MAX_SURVEY_COMMENT_LENGTH


class TestSatisfactionSelectors:
    def test_survey_by_token_opens_until_the_link_expires(self, pod, now, solve):
        survey = asked(now, solve)

        found = tickets.selectors.survey_by_token(token=survey.token, now=now)
        expired = tickets.selectors.survey_by_token(
            token=survey.token, now=survey.expires_at
        )

        assert found.id == survey.id
        assert expired is None
        assert tickets.selectors.survey_by_token(token="nope", now=now) is None

    def test_csat_of_ticket_is_the_latest_answer_else_the_one_waiting(
        self, pod, now, solve
    ):
        ticket = open_ticket(now=now)
        assert tickets.selectors.csat_of_ticket(ticket_id=ticket.id) is None
        solve(ticket, now=now)
        first = SatisfactionSurvey.objects.get()
        waiting = tickets.selectors.csat_of_ticket(ticket_id=ticket.id)
        answer(first, 2, now=now)
        tickets.services.inbound_message_add(
            ticket=ticket,
            incoming=tickets.services.Incoming(channel="EMAIL", text="Still broken"),
            now=now + timedelta(hours=1),
        )
        solve(ticket, now=now + timedelta(hours=2))

        latest = tickets.selectors.csat_of_ticket(ticket_id=ticket.id)

        assert waiting.id == first.id
        assert (latest.id, latest.rating) == (first.id, 2)

    def test_averages_by_agent_and_pod_over_the_period(self, now, solve):
        other_pod = factories.staffed_pod(size=2)
        elsewhere = asked(now, solve, address="o@customer.example")
        answer(elsewhere, 1, now=now)
        # New customers now all go to Venus.
        pods.services.pods_accepting_set(pod_ids=[other_pod.id], accepting=False)
        pod = factories.pod(name="Venus")
        ana = factories.agent(pod=pod, capacity=20)
        ben = factories.agent(pod=pod, capacity=20)
        start, end = now - timedelta(days=1), now + timedelta(days=1)
        given = [(ana, 5), (ana, 4), (ana, 4), (ben, 2), (None, 3)]
        for number, (agent, rating) in enumerate(given):
            survey = asked(now, solve, address=f"c{number}@example.com", agent=agent)
            answer(survey, rating, now=now)
        late = asked(now, solve, address="late@customer.example", agent=ben)
        answer(late, 1, now=end)  # answered after the period
        asked(now, solve, address="quiet@customer.example", agent=ben)

        by_agent = {
            row.agent_id: (row.average, row.count)
            for row in tickets.selectors.csat_by_agent(start=start, end=end)
        }
        venus = tickets.selectors.csat_by_pod(pod_id=pod.id, start=start, end=end)

        assert elsewhere.pod_id == other_pod.id
        # Ana: (5 + 4 + 4) / 3 = 4.333 -> 4.33; Ben: 2 / 1.
        assert by_agent[ana.id] == (Decimal("4.33"), 3)
        assert by_agent[ben.id] == (Decimal("2.00"), 1)
        # The pod: (5 + 4 + 4 + 2 + 3) / 5 = 3.60; the queue's 3 counts for the
        # pod only, the other pod's 1 not at all.
        assert (venus.average, venus.count) == (Decimal("3.60"), 5)
        assert [(row.agent_id, row.average, row.count) for row in venus.agents] == [
            (ana.id, Decimal("4.33"), 3),
            (ben.id, Decimal("2.00"), 1),
        ]

    def test_a_pod_nobody_rated_has_no_average(self, pod, now):
        figures = tickets.selectors.csat_by_pod(
            pod_id=pod.id, start=now - timedelta(days=30), end=now
        )

        assert (figures.average, figures.count, figures.agents) == (None, 0, [])
