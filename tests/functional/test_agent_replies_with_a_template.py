"""An agent answers a ticket with a template: searches the composer's panel,
previews the template filled in for the ticket, makes it their own and sends it;
suggests a better version from the case, and the pod lead accepts it as the next
version. Another pod's ticket, template or suggestion answers 404."""

import pytest
from django.urls import reverse

import tickets.services
from tests import factories
from tests.integration.test_reply_templates import survey, ticket_in
from tickets.models import (
    Message,
    ReplyTemplate,
    TemplateSuggestion,
    TemplateUse,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
BODY = (
    "Hi {{ customer.first_name }},\n\nCongratulations on the move! "
    "You have {{ entitlement.days_left }} days left.\n\n{{ agent.first_name }}"
)

# What the agent sends: the preview, made their own.
EDITED = "Hi Minji,\n\nCongratulations! 12 days left.\n\nAna"


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.fixture
def agent(pod):
    made = factories.agent(pod=pod, username="ana")
    made.user.first_name = "Ana"
    made.user.save()
    return made


@pytest.fixture
def ticket(pod, other_pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now)


@pytest.fixture
def template(pod, now):
    return tickets.services.reply_template_create(
        title="Moving home",
        body=BODY,
        pod_id=pod.id,
        language="en",
        user=pod.lead.user,
        now=now,
    )


def url(name, *args):
    return reverse(name, args=args)


class TestAgentRepliesWithATemplate:
    def test_searches_previews_edits_and_sends(self, client, agent, ticket, template):
        client.force_login(agent.user)

        found = client.get(
            url("ticket-templates", ticket.id), {"q": "move"}, headers=HTMX
        )
        missed = client.get(
            url("ticket-templates", ticket.id), {"q": "refund"}, headers=HTMX
        )
        preview = client.get(
            url("ticket-template-preview", ticket.id, template.id), headers=HTMX
        )
        sent = client.post(
            url("ticket-template-send", ticket.id, template.id),
            {"template-reply-text": EDITED},
            headers=HTMX,
        )

        assert found.status_code == 200
        assert "Moving home" in found.content.decode()
        assert "<html" not in found.content.decode()  # a fragment for htmx
        assert "Moving home" not in missed.content.decode()
        page = preview.content.decode()
        assert "Hi Minji," in page
        assert "[entitlement.days_left]" in page  # shown as missing, to fill in
        assert "Ana" in page  # signed by the agent who is replying
        assert sent.status_code == 200
        assert sent["HX-Trigger"] == "tickets:reply-sent"
        message = Message.objects.get(direction=Message.Direction.OUTBOUND)
        assert message.text == EDITED
        assert message.author_agent_id == agent.id
        assert TemplateUse.objects.get().message_id == message.id
        template.refresh_from_db()
        assert template.use_count == 1

    def test_list_shows_uses_and_satisfaction(
        self, client, agent, ticket, template, now
    ):
        tickets.services.reply_from_template_send(
            ticket=ticket,
            agent_id=agent.id,
            template_id=template.id,
            text="Hi",
            now=now,
        )
        survey(ticket, solved_at=now, rating=5)
        client.force_login(agent.user)

        page = client.get(url("ticket-templates", ticket.id), headers=HTMX)

        content = page.content.decode()
        assert "used once" in content
        assert "satisfaction 5.0 of 5 on 1 rated ticket" in content

    def test_a_marker_left_in_the_text_is_refused_and_the_text_kept(
        self, client, agent, ticket, template
    ):
        client.force_login(agent.user)
        text = "Hi Minji, you have [entitlement.days_left] days left."

        response = client.post(
            url("ticket-template-send", ticket.id, template.id),
            {"template-reply-text": text},
            headers=HTMX,
        )

        content = response.content.decode()
        assert response.status_code == 200  # htmx swaps only successes in
        assert "Fill in [entitlement.days_left] before sending." in content
        assert "you have [entitlement.days_left] days left." in content
        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
        assert not TemplateUse.objects.exists()

    def test_without_htmx_the_panel_is_a_page_and_sending_redirects(
        self, client, agent, ticket, template
    ):
        client.force_login(agent.user)

        page = client.get(url("ticket-templates", ticket.id))
        sent = client.post(
            url("ticket-template-send", ticket.id, template.id),
            {"template-reply-text": "Hi Minji!"},
        )

        assert page.status_code == 200
        assert "<html" in page.content.decode()
        assert sent.status_code == 302
        assert sent["Location"] == url("ticket-templates", ticket.id)

    @pytest.mark.parametrize("count", [3, 20])
    def test_the_composer_list_runs_the_same_queries_whatever_the_data(
        self, client, agent, ticket, pod, now, count, django_assert_num_queries
    ):
        for index in range(count):
            made = tickets.services.reply_template_create(
                title=f"Template {index}",
                body=BODY,
                pod_id=pod.id if index % 2 else None,
                language="en",
                user=factories.admin_user(),
                now=now,
            )
            tickets.services.reply_from_template_send(
                ticket=ticket,
                agent_id=agent.id,
                template_id=made.id,
                text="Hi",
                now=now,
            )
        client.force_login(agent.user)
        client.get(url("ticket-templates", ticket.id), headers=HTMX)  # warm up

        # session, user, agent (its time zone), permissions (user's and groups'),
        # home pod, ticket, templates (with their counted uses and ratings)
        with django_assert_num_queries(8):
            response = client.get(url("ticket-templates", ticket.id), headers=HTMX)

        assert response.content.decode().count('hx-target="#template-preview"') == count


class TestAnotherPodsWorkIsNotThere:
    def test_another_pods_ticket_answers_404_everywhere(
        self, client, other_pod, ticket, template
    ):
        stranger = factories.agent(pod=other_pod)
        client.force_login(stranger.user)

        responses = [
            client.get(url("ticket-templates", ticket.id), headers=HTMX),
            client.get(url("ticket-template-preview", ticket.id, template.id)),
            client.post(
                url("ticket-template-send", ticket.id, template.id),
                {"template-reply-text": "Hi"},
            ),
            client.post(
                url("ticket-template-suggest", ticket.id, template.id),
                {
                    "template-suggestion-title": "Mine",
                    "template-suggestion-body": "Hello",
                },
            ),
        ]

        assert [r.status_code for r in responses] == [404, 404, 404, 404]
        assert "Minji" not in "".join(r.content.decode() for r in responses)
        assert not Message.objects.filter(direction=Message.Direction.OUTBOUND).exists()
        assert not TemplateSuggestion.objects.exists()

    def test_another_pods_template_is_not_offered_on_my_ticket(
        self, client, agent, ticket, other_pod, now
    ):
        theirs = tickets.services.reply_template_create(
            title="Venus only",
            body="Hi",
            pod_id=other_pod.id,
            language="en",
            user=other_pod.lead.user,
            now=now,
        )
        client.force_login(agent.user)

        listed = client.get(url("ticket-templates", ticket.id), headers=HTMX)
        preview = client.get(url("ticket-template-preview", ticket.id, theirs.id))
        sent = client.post(
            url("ticket-template-send", ticket.id, theirs.id),
            {"template-reply-text": "Hi"},
        )

        assert "Venus only" not in listed.content.decode()
        assert (preview.status_code, sent.status_code) == (404, 404)
        assert not TemplateUse.objects.exists()

    def test_signed_out_visitors_are_sent_to_sign_in(self, client, ticket, template):
        response = client.get(url("ticket-templates", ticket.id))

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


class TestAgentSuggestsAndTheLeadDecides:
    def suggest(self, client, ticket, template, body):
        return client.post(
            url("ticket-template-suggest", ticket.id, template.id),
            {
                "template-suggestion-title": template.title,
                "template-suggestion-body": body,
                "template-suggestion-reason": "She loved the personal touch.",
            },
            headers=HTMX,
        )

    def test_agent_suggests_from_the_case_and_the_lead_accepts(
        self, client, agent, ticket, template, pod
    ):
        client.force_login(agent.user)
        better = BODY.replace("Congratulations", "Huge congratulations")

        suggested = self.suggest(client, ticket, template, better)
        client.force_login(pod.lead.user)
        waiting = client.get(url("template-suggestions"))
        suggestion = TemplateSuggestion.objects.get()
        decided = client.post(
            url("template-suggestion-decide", suggestion.id),
            {"decision": "accept", "note": "Yes!", "next": url("template-suggestions")},
        )
        detail = client.get(url("reply-template-detail", template.id))

        assert suggested.status_code == 201
        assert suggestion.ticket_id == ticket.id
        assert suggestion.suggested_by == agent
        content = waiting.content.decode()
        assert "She loved the personal touch." in content
        assert "<ins>" in content
        assert "Huge" in content
        assert decided.status_code == 302
        template.refresh_from_db()
        assert (template.version, template.body) == (2, better)
        suggestion.refresh_from_db()
        assert suggestion.state == TemplateSuggestion.State.ACCEPTED
        assert suggestion.decision_note == "Yes!"
        assert "Version 2: Moving home" in detail.content.decode()
        assert "Version 1: Moving home" in detail.content.decode()

    def test_the_lead_sees_a_suggestion_written_against_an_older_version(
        self, client, agent, ticket, template, pod, now
    ):
        client.force_login(agent.user)
        self.suggest(client, ticket, template, "Hey {{ customer.first_name }}")
        tickets.services.reply_template_update(
            template=template,
            title=template.title,
            body="Lead's version {{ customer.name }}",
            language="en",
            active=True,
            user=pod.lead.user,
            now=now,
        )
        client.force_login(pod.lead.user)

        page = client.get(url("template-suggestions")).content.decode()

        assert "Written against version 1; the template is now at version 2." in page

    def test_a_suggestion_that_changes_nothing_is_explained(
        self, client, agent, ticket, template
    ):
        client.force_login(agent.user)

        response = self.suggest(client, ticket, template, BODY)

        assert response.status_code == 200
        assert "change something first" in response.content.decode()
        assert not TemplateSuggestion.objects.exists()

    def test_only_the_templates_lead_decides(
        self, client, agent, ticket, template, other_pod
    ):
        client.force_login(agent.user)
        self.suggest(client, ticket, template, "Hey {{ customer.first_name }}")
        suggestion = TemplateSuggestion.objects.get()
        decide = url("template-suggestion-decide", suggestion.id)

        by_agent = client.post(decide, {"decision": "accept"})
        agent_list = client.get(url("template-suggestions"))
        client.force_login(other_pod.lead.user)
        by_other_lead = client.post(decide, {"decision": "accept"})
        other_list = client.get(url("template-suggestions")).content.decode()

        assert (by_agent.status_code, agent_list.status_code) == (403, 403)
        assert by_other_lead.status_code == 404
        assert "Moving home" not in other_list
        suggestion.refresh_from_db()
        template.refresh_from_db()
        assert suggestion.state == TemplateSuggestion.State.PROPOSED
        assert template.version == 1


class TestLeadKeepsThePodsTemplates:
    def test_list_shows_the_pods_and_the_global_templates(
        self, client, pod, other_pod, template, now
    ):
        tickets.services.reply_template_create(
            title="Venus only",
            body="Hi",
            pod_id=other_pod.id,
            language="en",
            user=other_pod.lead.user,
            now=now,
        )
        tickets.services.demo_templates_seed(now=now)
        client.force_login(pod.lead.user)

        page = client.get(url("reply-templates")).content.decode()

        assert "Moving home" in page
        assert "이사 안내" in page
        assert "Venus only" not in page

    def test_edit_makes_a_new_version(self, client, pod, template):
        client.force_login(pod.lead.user)

        response = client.post(
            url("reply-template-detail", template.id),
            {
                "title": "Moving home",
                "body": "Hi {{ customer.first_name }}, new text",
                "language": "en",
                "active": "on",
                "version": "1",
            },
        )

        assert response.status_code == 302
        template.refresh_from_db()
        assert (template.version, template.body) == (
            2,
            "Hi {{ customer.first_name }}, new text",
        )

    def test_an_edit_over_a_newer_version_is_refused_and_kept_on_screen(
        self, client, pod, template, now
    ):
        tickets.services.reply_template_update(
            template=template,
            title=template.title,
            body="Saved meanwhile",
            language="en",
            active=True,
            user=pod.lead.user,
            now=now,
        )
        client.force_login(pod.lead.user)

        response = client.post(
            url("reply-template-detail", template.id),
            {
                "title": "Moving home",
                "body": "My stale edit",
                "language": "en",
                "version": "1",
            },
        )

        assert response.status_code == 400
        assert "Someone saved this template while you were editing" in (
            response.content.decode()
        )
        assert "My stale edit" in response.content.decode()
        template.refresh_from_db()
        assert (template.version, template.body) == (2, "Saved meanwhile")

    def test_a_template_with_a_filter_is_refused_with_the_reason(
        self, client, pod, template
    ):
        client.force_login(pod.lead.user)

        response = client.post(
            url("reply-template-detail", template.id),
            {
                "title": "Moving home",
                "body": "Hi {{ customer.first_name|upper }}",
                "language": "en",
                "version": "1",
            },
        )

        assert response.status_code == 400
        assert "{{ customer.first_name|upper }}" in response.content.decode()
        template.refresh_from_db()
        assert template.version == 1

    def test_agents_read_templates_but_do_not_edit_them(self, client, agent, template):
        client.force_login(agent.user)

        page = client.get(url("reply-template-detail", template.id))
        edit = client.post(
            url("reply-template-detail", template.id),
            {"title": "Mine", "body": "Hello", "language": "en", "version": "1"},
        )
        create = client.get(url("reply-template-create"))

        assert page.status_code == 200
        assert 'name="body"' not in page.content.decode()
        assert (edit.status_code, create.status_code) == (403, 403)
        template.refresh_from_db()
        assert template.title == "Moving home"

    def test_a_lead_reads_a_global_template_and_only_an_admin_edits_it(
        self, client, pod, now
    ):
        admin = factories.admin_user()
        shared = tickets.services.reply_template_create(
            title="Shared", body="Hi", pod_id=None, language="en", user=admin, now=now
        )
        client.force_login(pod.lead.user)
        fields = {"title": "Shared", "body": "Hello", "language": "en", "version": "1"}

        by_lead = client.post(url("reply-template-detail", shared.id), fields)
        client.force_login(admin)
        by_admin = client.post(url("reply-template-detail", shared.id), fields)

        assert (by_lead.status_code, by_admin.status_code) == (403, 302)
        shared.refresh_from_db()
        assert (shared.version, shared.body) == (2, "Hello")

    def test_another_pods_template_answers_404(self, client, other_pod, template):
        client.force_login(other_pod.lead.user)

        response = client.get(url("reply-template-detail", template.id))

        assert response.status_code == 404

    def test_lead_creates_a_template_for_the_pod(self, client, pod):
        client.force_login(pod.lead.user)

        form = client.get(url("reply-template-create"))
        created = client.post(
            url("reply-template-create"),
            {
                "title": "Payment plan",
                "pod": str(pod.id),
                "language": "en",
                "body": "Hi {{ customer.first_name }}, let's find a plan that works.",
                "active": "on",
            },
        )
        global_try = client.post(
            url("reply-template-create"),
            {"title": "Everyone", "pod": "", "language": "en", "body": "Hi"},
        )

        assert form.status_code == 200
        assert created.status_code == 302
        template = ReplyTemplate.objects.get(title="Payment plan")
        assert (template.pod_id, template.version) == (pod.id, 1)
        assert global_try.status_code == 403
        assert not ReplyTemplate.objects.filter(title="Everyone").exists()


class TestAdminWritesTemplatesInDjangoAdmin:
    def test_a_change_in_admin_is_a_new_version(self, client):
        admin = factories.admin_user()
        admin.is_superuser = True
        admin.save()
        client.force_login(admin)
        fields = {
            "title": "Welcome",
            "language": "en",
            "active": "on",
            "body": "Hi {{ customer.first_name }}",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        }

        added = client.post(reverse("admin:tickets_replytemplate_add"), fields)
        template = ReplyTemplate.objects.get()
        fields["versions-INITIAL_FORMS"] = "1"
        fields["versions-TOTAL_FORMS"] = "1"
        fields["body"] = "Hello {{ customer.first_name }}"
        changed = client.post(
            reverse("admin:tickets_replytemplate_change", args=[template.id]), fields
        )
        refused = client.post(
            reverse("admin:tickets_replytemplate_change", args=[template.id]),
            {**fields, "body": "{{ customer.first_name|upper }}"},
        )

        assert (added.status_code, changed.status_code) == (302, 302)
        assert refused.status_code == 200  # the form again, with the reason
        template.refresh_from_db()
        assert (template.version, template.body) == (
            2,
            "Hello {{ customer.first_name }}",
        )
        assert list(template.versions.values_list("version", flat=True)) == [2, 1]
