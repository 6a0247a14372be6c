"""Reply templates against the real database: versions, replies that count their
use, suggested edits and who may decide them, satisfaction of the tickets where
each template was used, and what the composer reads."""

import importlib
import secrets
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, connection, transaction

import pods.services
import tickets.selectors
import tickets.services
from pods.models import Pod
from tests import factories
from tickets import rules
from tickets.models import (
    Message,
    ReplyTemplate,
    ReplyTemplateVersion,
    SatisfactionSurvey,
    TemplateSuggestion,
    TemplateUse,
    Ticket,
)

pytestmark = pytest.mark.django_db

BACKFILL = importlib.import_module(
    "tickets.migrations.0007_mentions_and_template_counters"
)

GREETING = "Hi {{ customer.first_name }}, this is {{ agent.first_name }}."


def ticket_in(pod: Pod, *, email: str, now, name: str = "Minji Kim") -> Ticket:
    """An email ticket from a new customer, routed to `pod` (the only pod open
    to new customers while it is opened)."""
    others = list(Pod.objects.exclude(id=pod.id).values_list("id", flat=True))
    pods.services.pods_accepting_set(pod_ids=others, accepting=False)
    try:
        opened = tickets.services.ticket_open(
            identities=[("EMAIL", email)],
            channel="EMAIL",
            subject="Moving home",
            display_name=name,
            now=now,
        )
    finally:
        pods.services.pods_accepting_set(pod_ids=others, accepting=True)
    assert opened.ticket.pod_id == pod.id
    return opened.ticket


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.fixture
def lead(pod):
    return pod.lead


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod)


@pytest.fixture
def admin():
    return factories.admin_user()


@pytest.fixture
def ticket(pod, other_pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now)


def template_of(pod_id, *, user, now, title="Moving home", body=GREETING, **fields):
    return tickets.services.reply_template_create(
        title=title,
        body=body,
        pod_id=pod_id,
        language=fields.pop("language", "en"),
        user=user,
        now=now,
        **fields,
    )


@pytest.fixture
def template(pod, lead, now):
    return template_of(pod.id, user=lead.user, now=now)


def survey(ticket: Ticket, *, solved_at, rating: int | None) -> SatisfactionSurvey:
    """A survey of a solve at `solved_at`, answered an hour later through the
    service (which counts it for the templates used before the solve) unless
    rating is None."""
    asked = SatisfactionSurvey.objects.create(
        ticket=ticket,
        pod_id=ticket.pod_id,
        solved_at=solved_at,
        token=secrets.token_hex(16),
        channel=ticket.channel,
        expires_at=solved_at + timedelta(days=7),
    )
    if rating is None:
        return asked
    return tickets.services.satisfaction_survey_answer(
        token=asked.token,
        rating=rating,
        comment="",
        now=solved_at + timedelta(hours=1),
    )


def send(ticket, agent, template, now, text="Hi Minji, all sorted.") -> Message:
    return tickets.services.reply_from_template_send(
        ticket=ticket, agent_id=agent.id, template_id=template.id, text=text, now=now
    )


class TestReplyTemplateCreate:
    def test_lead_writes_version_one_for_their_pod(self, pod, lead, now):
        template = template_of(pod.id, user=lead.user, now=now)

        assert (template.pod_id, template.version, template.use_count) == (pod.id, 1, 0)
        version = ReplyTemplateVersion.objects.get(template=template)
        assert (version.version, version.title, version.body) == (
            1,
            "Moving home",
            GREETING,
        )
        assert version.created_by == lead.user

    def test_admin_writes_a_global_template(self, admin, now):
        template = template_of(None, user=admin, now=now, language="ko")

        assert template.pod_id is None
        assert template.language == "ko"

    @pytest.mark.parametrize("whose", ["agent", "lead_global", "other_lead"])
    def test_refuses_who_does_not_keep_the_pods_templates(
        self, whose, pod, other_pod, agent, lead, now
    ):
        user, pod_id = {
            "agent": (agent.user, pod.id),
            "lead_global": (lead.user, None),
            "other_lead": (other_pod.lead.user, pod.id),
        }[whose]

        with pytest.raises(tickets.services.TemplateEditRefused):
            template_of(pod_id, user=user, now=now)

        assert not ReplyTemplate.objects.exists()

    @pytest.mark.parametrize(
        ("title", "body", "language"),
        [
            ("", GREETING, "en"),
            ("Hello", "  ", "en"),
            ("Hello", "Hi {{ customer.first_name|upper }}", "en"),
            ("Hello", "{% if vip %}Dear{% endif %}", "en"),
            ("Hello", GREETING, "xx"),
            ("x" * (rules.MAX_TEMPLATE_TITLE + 1), GREETING, "en"),
        ],
    )
    def test_refuses_what_cannot_be_sent_as_written(
        self, pod, lead, now, title, body, language
    ):
        with pytest.raises(tickets.services.TemplateInvalid):
            template_of(
                pod.id,
                user=lead.user,
                now=now,
                title=title,
                body=body,
                language=language,
            )

        assert not ReplyTemplate.objects.exists()
        assert not ReplyTemplateVersion.objects.exists()


class TestReplyTemplateUpdate:
    def update(self, template, user, now, **changes):
        fields = {
            "title": template.title,
            "body": template.body,
            "language": template.language,
            "active": template.active,
            **changes,
        }
        return tickets.services.reply_template_update(
            template=template, user=user, now=now, **fields
        )

    def test_new_text_is_a_new_version_and_the_old_one_stays(self, template, lead, now):
        later = now + timedelta(minutes=5)

        updated = self.update(
            template, lead.user, later, body="Hello {{ customer.name }}"
        )

        assert (updated.version, updated.body, updated.updated_at) == (
            2,
            "Hello {{ customer.name }}",
            later,
        )
        assert list(
            template.versions.order_by("version").values_list("version", "body")
        ) == [(1, GREETING), (2, "Hello {{ customer.name }}")]

    def test_retiring_a_template_writes_no_version(self, template, lead, now):
        updated = self.update(template, lead.user, now, active=False)

        assert (updated.active, updated.version) == (False, 1)
        assert template.versions.count() == 1

    def test_saving_nothing_changes_nothing(self, template, lead, now):
        later = now + timedelta(hours=1)

        updated = self.update(template, lead.user, later)

        assert (updated.version, updated.updated_at) == (1, template.updated_at)

    def test_refuses_to_overwrite_a_version_saved_meanwhile(self, template, lead, now):
        self.update(template, lead.user, now, body="Second {{ customer.name }}")

        with pytest.raises(tickets.services.TemplateEditConflict):
            self.update(template, lead.user, now, body="Stale edit", based_on_version=1)

        template.refresh_from_db()
        assert (template.version, template.body) == (2, "Second {{ customer.name }}")

    def test_refuses_the_lead_of_another_pod(self, template, other_pod, now):
        with pytest.raises(tickets.services.TemplateEditRefused):
            self.update(template, other_pod.lead.user, now, body="Mine now")

        template.refresh_from_db()
        assert (template.version, template.body) == (1, GREETING)


class TestReplyFromTemplateSend:
    def test_sends_what_the_agent_wrote_and_counts_the_use(
        self, ticket, agent, template, now
    ):
        message = send(ticket, agent, template, now, text="Hi Minji! Edited by me.")

        assert message.direction == Message.Direction.OUTBOUND
        assert message.text == "Hi Minji! Edited by me."
        use = TemplateUse.objects.get()
        assert (use.template_id, use.version, use.ticket_id, use.message_id) == (
            template.id,
            1,
            ticket.id,
            message.id,
        )
        assert (use.agent_id, use.used_at) == (agent.id, now)
        template.refresh_from_db()
        assert template.use_count == 1

    def test_each_send_counts(self, ticket, agent, template, now):
        send(ticket, agent, template, now)
        send(ticket, agent, template, now + timedelta(minutes=1))

        template.refresh_from_db()
        assert template.use_count == 2
        assert TemplateUse.objects.count() == 2

    def test_a_global_template_is_usable_in_every_pod(self, ticket, agent, admin, now):
        template = template_of(None, user=admin, now=now)

        send(ticket, agent, template, now)

        template.refresh_from_db()
        assert template.use_count == 1

    def test_refuses_another_pods_template_and_sends_nothing(
        self, ticket, agent, other_pod, now
    ):
        theirs = template_of(other_pod.id, user=other_pod.lead.user, now=now)

        with pytest.raises(tickets.services.TemplateUnavailable):
            send(ticket, agent, theirs, now)

        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
        assert not TemplateUse.objects.exists()
        theirs.refresh_from_db()
        assert theirs.use_count == 0

    def test_refuses_a_retired_template(self, ticket, agent, template, now):
        ReplyTemplate.objects.filter(id=template.id).update(active=False)

        with pytest.raises(tickets.services.TemplateUnavailable):
            send(ticket, agent, template, now)

        assert not TemplateUse.objects.exists()

    def test_refuses_a_reply_still_showing_a_marker(self, ticket, agent, template, now):
        with pytest.raises(tickets.services.TemplateReplyIncomplete) as refused:
            send(
                ticket,
                agent,
                template,
                now,
                text="Hi Minji, this is [agent.first_name].",
            )

        assert refused.value.missing == ("agent.first_name",)
        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
        assert not TemplateUse.objects.exists()

    def test_a_refused_reply_counts_no_use(self, ticket, agent, template, now):
        Ticket.objects.filter(id=ticket.id).update(status=Ticket.Status.CLOSED)

        with pytest.raises(tickets.services.ReplyRefused):
            send(ticket, agent, template, now)

        assert not TemplateUse.objects.exists()
        template.refresh_from_db()
        assert template.use_count == 0


class TestTemplateSuggestionCreate:
    def suggest(
        self, template, agent, ticket, now, body="Hey {{ customer.first_name }}!"
    ):
        return tickets.services.template_suggestion_create(
            template=template,
            agent=agent,
            ticket=ticket,
            title=template.title,
            body=body,
            reason="Customers answer warmer greetings.",
            now=now,
        )

    def test_agent_suggests_an_edit_from_a_case(self, template, agent, ticket, now):
        suggestion = self.suggest(template, agent, ticket, now)

        assert suggestion.state == TemplateSuggestion.State.PROPOSED
        assert (suggestion.based_on_version, suggestion.ticket_id) == (1, ticket.id)
        assert suggestion.suggested_by == agent
        template.refresh_from_db()
        assert template.body == GREETING  # nothing changes until the lead decides

    def test_refuses_a_suggestion_that_changes_nothing(
        self, template, agent, ticket, now
    ):
        with pytest.raises(tickets.services.SuggestionRefused):
            self.suggest(template, agent, ticket, now, body=GREETING)

        assert not TemplateSuggestion.objects.exists()

    def test_refuses_a_template_the_case_cannot_use(
        self, other_pod, agent, ticket, now
    ):
        theirs = template_of(other_pod.id, user=other_pod.lead.user, now=now)

        with pytest.raises(tickets.services.SuggestionRefused):
            self.suggest(theirs, agent, ticket, now)

        assert not TemplateSuggestion.objects.exists()


@pytest.fixture
def suggestion(template, agent, ticket, now):
    return tickets.services.template_suggestion_create(
        template=template,
        agent=agent,
        ticket=ticket,
        title="Moving home (warmer)",
        body="Hey {{ customer.first_name }}, congrats on the move!",
        reason="",
        now=now,
    )


class TestTemplateSuggestionDecide:
    def decide(self, suggestion, user, now, *, accept=True, note=""):
        return tickets.services.template_suggestion_decide(
            suggestion=suggestion, user=user, accept=accept, note=note, now=now
        )

    def test_lead_accepts_and_the_suggestion_becomes_the_next_version(
        self, suggestion, template, lead, agent, now
    ):
        decision = self.decide(suggestion, lead.user, now, note="Lovely, thanks!")

        assert (decision.version, decision.was_outdated) == (2, False)
        template.refresh_from_db()
        assert (template.version, template.title, template.body) == (
            2,
            "Moving home (warmer)",
            "Hey {{ customer.first_name }}, congrats on the move!",
        )
        version = template.versions.get(version=2)
        assert version.created_by == agent.user  # credited to who wrote it
        suggestion.refresh_from_db()
        assert suggestion.state == TemplateSuggestion.State.ACCEPTED
        assert (suggestion.decided_by, suggestion.decided_at) == (lead, now)
        assert suggestion.decision_note == "Lovely, thanks!"

    def test_lead_rejects_with_a_note_and_the_template_stays(
        self, suggestion, template, lead, now
    ):
        decision = self.decide(
            suggestion, lead.user, now, accept=False, note="Too casual"
        )

        assert decision.version is None
        template.refresh_from_db()
        assert (template.version, template.body) == (1, GREETING)
        suggestion.refresh_from_db()
        assert suggestion.state == TemplateSuggestion.State.REJECTED
        assert suggestion.decision_note == "Too casual"

    @pytest.mark.parametrize("who", ["agent", "other_lead"])
    def test_refuses_who_is_not_the_lead_of_the_templates_pod(
        self, who, suggestion, template, agent, other_pod, now
    ):
        user = agent.user if who == "agent" else other_pod.lead.user

        with pytest.raises(tickets.services.SuggestionDecisionRefused):
            self.decide(suggestion, user, now)

        suggestion.refresh_from_db()
        template.refresh_from_db()
        assert suggestion.state == TemplateSuggestion.State.PROPOSED
        assert suggestion.decided_at is None
        assert (template.version, template.versions.count()) == (1, 1)

    def test_a_global_template_is_decided_by_an_admin_not_a_lead(
        self, admin, lead, agent, ticket, now
    ):
        template = template_of(None, user=admin, now=now)
        suggestion = tickets.services.template_suggestion_create(
            template=template,
            agent=agent,
            ticket=ticket,
            title=template.title,
            body="Hello {{ customer.first_name }}",
            reason="",
            now=now,
        )

        with pytest.raises(tickets.services.SuggestionDecisionRefused):
            self.decide(suggestion, lead.user, now)
        decision = self.decide(suggestion, admin, now)

        assert decision.version == 2
        suggestion.refresh_from_db()
        assert suggestion.decided_by is None  # the admin is not an agent

    def test_an_outdated_suggestion_can_be_accepted_and_says_so(
        self, suggestion, template, lead, now
    ):
        tickets.services.reply_template_update(
            template=template,
            title=template.title,
            body="Lead's own edit {{ customer.name }}",
            language="en",
            active=True,
            user=lead.user,
            now=now,
        )

        decision = self.decide(suggestion, lead.user, now)

        assert (decision.version, decision.was_outdated) == (3, True)
        template.refresh_from_db()
        assert template.body == suggestion.body

    def test_a_suggestion_is_decided_once(self, suggestion, template, lead, now):
        self.decide(suggestion, lead.user, now, accept=False)

        with pytest.raises(tickets.services.SuggestionDecisionRefused):
            self.decide(suggestion, lead.user, now, accept=True)

        template.refresh_from_db()
        assert template.version == 1


class TestTemplatesForAgent:
    def test_offers_global_and_own_pod_active_templates_most_used_first(
        self, pod, other_pod, lead, admin, now
    ):
        rare = template_of(pod.id, user=lead.user, now=now, title="Rare")
        popular = template_of(None, user=admin, now=now, title="Popular")
        template_of(pod.id, user=lead.user, now=now, title="Retired", active=False)
        template_of(other_pod.id, user=other_pod.lead.user, now=now, title="Theirs")
        ReplyTemplate.objects.filter(id=popular.id).update(use_count=9)

        offered = tickets.selectors.templates_for_agent(pod_id=pod.id)

        assert [t.title for t in offered] == [popular.title, rare.title]

    def test_search_matches_every_word_in_title_or_body(self, pod, lead, now):
        template_of(
            pod.id, user=lead.user, now=now, title="Refund sent", body="Money back"
        )
        template_of(pod.id, user=lead.user, now=now, title="Moving home")
        template_of(
            pod.id,
            user=lead.user,
            now=now,
            title="이사 안내",
            body="이사 날짜",
            language="ko",
        )

        def titles(query, language=None):
            found = tickets.selectors.templates_for_agent(
                pod_id=pod.id, query=query, language=language
            )
            return [t.title for t in found]

        assert titles("REFUND") == ["Refund sent"]
        assert titles("refund money") == ["Refund sent"]
        assert titles("refund moving") == []
        assert titles("이사") == ["이사 안내"]
        assert titles("", language="ko") == ["이사 안내"]

    @pytest.mark.parametrize("count", [3, 30])
    def test_the_composer_list_takes_one_query_whatever_the_data(
        self, pod, lead, ticket, agent, now, count, django_assert_num_queries
    ):
        for index in range(count):
            template = template_of(pod.id, user=lead.user, now=now, title=f"T{index}")
            send(ticket, agent, template, now)
            survey(ticket, solved_at=now + timedelta(minutes=index + 1), rating=4)

        # the templates, with their counters: the uses and surveys are not read
        with django_assert_num_queries(1):
            templates = list(tickets.selectors.templates_for_agent(pod_id=pod.id)[:25])
            stats = tickets.selectors.template_stats(templates=templates)

        assert len(stats) == min(count, 25)
        assert all(each.uses == 1 for each in stats.values())


def stats_of(*templates: ReplyTemplate) -> dict:
    fresh = ReplyTemplate.objects.filter(id__in=[t.id for t in templates])
    return tickets.selectors.template_stats(templates=fresh)


class TestTemplateStats:
    def test_uses_last_use_and_satisfaction_of_tickets_where_it_was_used(
        self, pod, other_pod, template, agent, ticket, now
    ):
        second = ticket_in(pod, email="ann@customer.example", now=now)
        send(ticket, agent, template, now)
        send(ticket, agent, template, now + timedelta(minutes=1))  # same ticket again
        send(second, agent, template, now + timedelta(minutes=2))
        survey(ticket, solved_at=now - timedelta(days=1), rating=1)  # before the use
        survey(ticket, solved_at=now + timedelta(hours=1), rating=5)
        survey(second, solved_at=now + timedelta(hours=1), rating=4)
        survey(second, solved_at=now + timedelta(hours=2), rating=None)  # unanswered

        stats = stats_of(template)[template.id]

        assert stats.uses == 3
        assert stats.last_used_at == now + timedelta(minutes=2)
        assert stats.rating_average == pytest.approx(4.5)
        assert stats.ratings == 2

    def test_a_template_never_used_has_no_figures(self, template):
        stats = stats_of(template)

        assert stats[template.id] == tickets.selectors.TemplateStats(
            uses=0, last_used_at=None, rating_average=None, ratings=0
        )

    def test_another_templates_use_does_not_count(
        self, pod, lead, template, agent, ticket, now
    ):
        other = template_of(pod.id, user=lead.user, now=now, title="Other")
        send(ticket, agent, other, now)
        survey(ticket, solved_at=now + timedelta(hours=1), rating=2)

        stats = stats_of(template, other)

        assert stats[template.id].ratings == 0
        assert stats[other.id].rating_average == pytest.approx(2)

    def test_a_changed_answer_replaces_its_rating_and_counts_once(
        self, template, agent, ticket, now
    ):
        send(ticket, agent, template, now)
        asked = survey(ticket, solved_at=now + timedelta(hours=1), rating=2)

        for rating, comment in ((5, ""), (5, "Lovely"), (4, "Lovely")):
            tickets.services.satisfaction_survey_answer(
                token=asked.token,
                rating=rating,
                comment=comment,
                now=now + timedelta(hours=3),
            )

        template.refresh_from_db()
        assert (template.rated_count, template.rating_sum) == (1, 4)

    def test_the_last_use_never_goes_back_in_time(self, template, agent, ticket, now):
        send(ticket, agent, template, now)
        send(ticket, agent, template, now - timedelta(hours=1))  # a late commit

        template.refresh_from_db()
        assert (template.use_count, template.last_used_at) == (2, now)

    def test_the_counters_cannot_hold_an_impossible_mean(self, template):
        with pytest.raises(IntegrityError), transaction.atomic():
            ReplyTemplate.objects.filter(id=template.id).update(
                rated_count=1, rating_sum=6
            )

    def test_the_migration_counts_what_was_there_as_the_services_do(
        self, pod, lead, template, agent, ticket, now
    ):
        other = template_of(pod.id, user=lead.user, now=now, title="Other")
        second = ticket_in(pod, email="ann@customer.example", now=now)
        send(ticket, agent, template, now)
        send(second, agent, template, now + timedelta(minutes=5))
        send(second, agent, other, now + timedelta(minutes=6))
        survey(ticket, solved_at=now - timedelta(days=1), rating=1)  # before the use
        survey(ticket, solved_at=now + timedelta(hours=1), rating=5)
        survey(second, solved_at=now + timedelta(hours=1), rating=3)
        counted = stats_of(template, other)
        ReplyTemplate.objects.update(
            use_count=0, last_used_at=None, rated_count=0, rating_sum=0
        )

        BACKFILL.template_counters_backfill(
            django_apps, SimpleNamespace(connection=connection)
        )

        assert stats_of(template, other) == counted
        assert counted[template.id] == tickets.selectors.TemplateStats(
            uses=2,
            last_used_at=now + timedelta(minutes=5),
            rating_average=4.0,
            ratings=2,
        )


class TestTemplateVariablesForTicket:
    def test_fills_customer_agent_ticket_and_pod(self, pod, ticket, agent, now):
        Ticket.objects.filter(id=ticket.id).update(assignee=agent)
        agent.user.first_name = "Oliver"
        agent.user.save()

        variables = tickets.selectors.template_variables_for_ticket(ticket=ticket)

        assert {name: variables[name] for name in rules.TEMPLATE_VARIABLE_NAMES} == {
            "customer.first_name": "Minji",
            "customer.last_name": "Kim",
            "customer.name": "Minji Kim",
            "agent.first_name": "Oliver",
            "ticket.number": str(ticket.id),
            "ticket.subject": "Moving home",
            "pod.name": "Mercury",
        }

    def test_the_sender_signs_rather_than_the_assignee(self, ticket, lead):
        variables = tickets.selectors.template_variables_for_ticket(
            ticket=ticket, sender=lead.user
        )

        assert variables["agent.first_name"] == lead.user.first_name

    def test_a_korean_name_without_a_space_is_all_first_name(self, pod, now):
        ticket = ticket_in(pod, email="kim@customer.example", now=now, name="김민지")

        variables = tickets.selectors.template_variables_for_ticket(ticket=ticket)

        assert (
            variables["customer.name"] == variables["customer.first_name"] == "김민지"
        )
        assert variables["customer.last_name"] == ""

    def test_registered_providers_add_variables_but_never_replace(
        self, ticket, monkeypatch
    ):
        from tickets.selectors import _templates

        monkeypatch.setattr(_templates, "_variable_providers", [])

        def entitlements(ticket):
            return {"entitlement.days_left": 12, "pod.name": "Not this"}

        tickets.selectors.template_variable_provider_add(provider=entitlements)
        variables = tickets.selectors.template_variables_for_ticket(ticket=ticket)

        assert variables["entitlement.days_left"] == "12"
        assert variables["pod.name"] == "Mercury"

    def test_preview_renders_and_names_what_is_missing(self, ticket, pod, lead, now):
        template = template_of(
            pod.id,
            user=lead.user,
            now=now,
            body="Hi {{ customer.first_name }}, {{ entitlement.days_left }} days left",
        )

        preview = tickets.selectors.template_preview(template=template, ticket=ticket)

        assert preview.text == "Hi Minji, [entitlement.days_left] days left"
        assert preview.missing == ("entitlement.days_left",)


class TestSuggestionsForLead:
    def test_lists_the_pods_waiting_suggestions_oldest_first(
        self, suggestion, template, agent, ticket, other_pod, now
    ):
        later = tickets.services.template_suggestion_create(
            template=template,
            agent=agent,
            ticket=ticket,
            title=template.title,
            body="Another {{ customer.name }}",
            reason="",
            now=now + timedelta(minutes=1),
        )

        mine = tickets.selectors.suggestions_for_lead(pod_id=template.pod_id)
        theirs = tickets.selectors.suggestions_for_lead(pod_id=other_pod.id)

        assert list(mine) == [suggestion, later]
        assert list(theirs) == []

    def test_decided_suggestions_leave_the_list(self, suggestion, lead, now):
        tickets.services.template_suggestion_decide(
            suggestion=suggestion, user=lead.user, accept=False, note="", now=now
        )

        assert not tickets.selectors.suggestions_for_lead(pod_id=lead.pod_id).exists()

    def test_review_diffs_against_the_current_text(self, suggestion):
        (review,) = tickets.selectors.suggestion_reviews(suggestions=[suggestion])

        assert review.title_changed
        assert not review.outdated
        kept = "".join(p.text for p in review.diff if p.kind != "insert")
        assert kept == GREETING


class TestDemoTemplatesSeed:
    def test_creates_friendly_templates_in_english_and_korean_once(self, now):
        created = tickets.services.demo_templates_seed(now=now)
        again = tickets.services.demo_templates_seed(now=now)

        templates = ReplyTemplate.objects.all()
        assert created == templates.count() >= 6
        assert again == 0
        assert {t.language for t in templates} == {"en", "ko"}
        assert all(t.pod_id is None and t.versions.count() == 1 for t in templates)
        for template in templates:
            assert rules.template_placeholders_malformed(template.body) == ()
            assert set(rules.template_variables(template.body)) <= set(
                rules.TEMPLATE_VARIABLE_NAMES
            )
