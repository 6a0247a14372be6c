"""Stage 3 in the customer portal: a signed-in customer sees their
entitlements, is offered only the actions their rules allow now (and told why
not otherwise), extends once however often the form is sent, is refused over
the limit with nothing changed, cannot touch another customer's entitlement,
and the pod sees the grant on the customer's ticket panel. Customers are
reminded before an entitlement ends, once per period."""

import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import formats

import authority.services
import authority.tasks
import pods.selectors
from authority.models import (
    AuditEvent,
    AuthorityRequest,
    Entitlement,
    EntitlementReminder,
    Grant,
    LedgerEntry,
    UsageCounter,
)
from pods.models import Customer, CustomerIdentity
from tests import factories
from tests.conftest import require_postgres
from tests.integration.test_reply_templates import ticket_in

pytestmark = pytest.mark.django_db

PANEL = "portal-entitlements-panel"
ACTION = "portal-action"


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def ticket(pod, now):
    """A customer of 100 days (past the 30 days self-service extensions need)."""
    return ticket_in(pod, email="minji@customer.example", now=now - timedelta(days=100))


@pytest.fixture
def funnel(ticket, now):
    """The demo rules; a class pass of 90 days, 40 of them gone."""
    authority.services.demo_authority_seed(now=now, customer_ids=[ticket.customer_id])
    return Entitlement.objects.get(customer_id=ticket.customer_id)


def sign_in(client, customer_id: int) -> None:
    """What the portal's sign-in link leaves in the session."""
    identity = CustomerIdentity.objects.filter(
        customer_id=customer_id, kind="EMAIL"
    ).first()
    session = client.session
    session["portal_customer_id"] = customer_id
    session["portal_identity_id"] = identity.id
    session["portal_expires_at"] = time.time() + 3600
    session.save()


@pytest.fixture
def customer_client(client, ticket):
    sign_in(client, ticket.customer_id)
    return client


def post_action(client, *, action, amount, entitlement="", key, htmx=False):
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(
        reverse(ACTION),
        {"action": action, "amount": amount, "entitlement": entitlement, "key": key},
        **extra,
    )


def effects(customer_id: int) -> dict:
    """Everything a grant changes, to compare before and after a refusal."""
    return {
        "entitlements": list(
            Entitlement.objects.filter(customer_id=customer_id)
            .order_by("id")
            .values_list("id", "ends_on", "paused_from", "paused_until", "updated_at")
        ),
        "grants": Grant.objects.count(),
        "ledger": LedgerEntry.objects.count(),
        "usage": sorted(
            UsageCounter.objects.exclude(count=0, amount=0).values_list(
                "scope", "scope_id", "action_type_id", "period_start", "amount", "count"
            )
        ),
    }


def day(value: date) -> str:
    return formats.date_format(value, "DATE_FORMAT")


class TestWhoMaySee:
    def test_without_a_portal_customer_the_panel_and_the_action_are_404(
        self, client, funnel
    ):
        assert client.get(reverse(PANEL)).status_code == 404
        response = post_action(
            client, action="extension", amount="3", entitlement=funnel.id, key="k"
        )
        assert response.status_code == 404
        assert Grant.objects.count() == 0

    def test_a_staff_user_is_not_a_portal_customer(self, client, pod, funnel):
        client.force_login(pod.lead.user)
        assert client.get(reverse(PANEL)).status_code == 404

    def test_another_customers_entitlement_is_404_and_nothing_changes(
        self, customer_client, pod, funnel, now
    ):
        other = ticket_in(pod, email="joe@else.example", now=now - timedelta(days=200))
        theirs = authority.services.entitlement_create(
            customer_id=other.customer_id,
            product="Class pass",
            starts_on=now.date() - timedelta(days=10),
            ends_on=now.date() + timedelta(days=20),
            now=now,
        )
        before = effects(other.customer_id)

        response = post_action(
            customer_client,
            action="extension",
            amount="3",
            entitlement=theirs.id,
            key="steal",
        )

        assert response.status_code == 404
        assert effects(other.customer_id) == before
        assert AuthorityRequest.objects.count() == 0
        panel = customer_client.get(reverse(PANEL)).content.decode()
        assert f'data-entitlement="{theirs.id}"' not in panel


class TestWhatIsOffered:
    def test_the_entitlement_with_days_left_and_the_actions_allowed(
        self, customer_client, funnel, now
    ):
        response = customer_client.get(reverse(PANEL))

        assert response.status_code == 200
        page = response.content.decode()
        assert f'data-entitlement="{funnel.id}"' in page
        assert "50 days left" in page
        assert '<progress class="portal-entitlement__progress" max="90" value="40"' in (
            page
        )
        assert "Extend by up to 7 days" in page
        assert "Allowed 1 time in any 90 days; you have 1 left." in page
        assert "Pause for up to 14 days" in page
        assert 'name="action" value="extension"' in page
        assert 'name="action" value="pause"' in page
        # Refunds and credits are agents' (stage 2) in the demo: not offered.
        assert 'value="refund"' not in page
        assert 'value="credit"' not in page

    def test_a_used_extension_is_explained_not_offered(
        self, customer_client, funnel, now
    ):
        post_action(
            customer_client,
            action="extension",
            amount="2",
            entitlement=funnel.id,
            key="a",
        )

        page = customer_client.get(reverse(PANEL)).content.decode()

        assert 'name="action" value="extension"' not in page
        assert "You have used your 1 class extension allowed in 90 days." in page
        again = day((now + timedelta(days=91)).date())
        assert f"You can do this yourself again from {again}" in page
        assert "Ask us instead" in page
        # The pause is still there.
        assert 'name="action" value="pause"' in page

    def test_a_new_customer_is_told_when_extensions_open(self, client, pod, now):
        fresh = ticket_in(
            pod, email="new@customer.example", now=now - timedelta(days=5)
        )
        authority.services.demo_authority_seed(
            now=now, customer_ids=[fresh.customer_id]
        )
        sign_in(client, fresh.customer_id)

        page = client.get(reverse(PANEL)).content.decode()

        assert 'name="action" value="extension"' not in page
        assert "This opens once you have been with us for 30 days (5 so far)." in page
        assert f"again from {day((now + timedelta(days=26)).date())}" in page

    def test_a_paused_pass_says_so_and_offers_no_second_pause(
        self, customer_client, funnel, now
    ):
        post_action(
            customer_client, action="pause", amount="10", entitlement=funnel.id, key="p"
        )

        page = customer_client.get(reverse(PANEL)).content.decode()

        until = day((now + timedelta(days=10)).date())
        assert f"paused from {day(now.date())} until {until}" in page
        assert 'name="action" value="pause"' not in page
        assert f"It is paused already, until {until}." in page

    def test_a_self_service_credit_rule_offers_a_small_credit(
        self, customer_client, funnel, ticket, now
    ):
        authority.services.rule_create(
            terms={
                "name": "Small credit customers choose",
                "action_type": authority.selectors.action_type_by_code(code="credit"),
                "stage": 3,
                "max_per_grant": Decimal("5"),
                "customer_period_days": 30,
                "customer_max_count": 1,
                "valid_from": now - timedelta(days=1),
            },
            user=None,
            note="test",
            now=now,
        )

        page = customer_client.get(reverse(PANEL)).content.decode()
        assert "Account credit of up to £5" in page
        assert 'name="action" value="credit"' in page

        response = post_action(customer_client, action="credit", amount="5", key="c")

        assert response.status_code == 200
        assert "we have added £5 of credit" in response.content.decode()
        entry = LedgerEntry.objects.get()
        assert (entry.customer_id, entry.amount) == (ticket.customer_id, Decimal("5"))


class TestPanelCost:
    def test_the_panel_reads_the_same_queries_however_much_history(
        self, customer_client, funnel, ticket, now
    ):
        def panel_queries() -> int:
            with CaptureQueriesContext(connection) as captured:
                response = customer_client.get(reverse(PANEL), HTTP_HX_REQUEST="true")
            assert response.status_code == 200
            assert "<html" not in response.content.decode()
            return len(captured)

        first = panel_queries()
        for index in range(3):
            authority.services.entitlement_create(
                customer_id=ticket.customer_id,
                product=f"Course {index}",
                starts_on=now.date(),
                ends_on=now.date() + timedelta(days=30),
                now=now,
            )
        post_action(
            customer_client,
            action="extension",
            amount="2",
            entitlement=funnel.id,
            key="a",
        )
        post_action(
            customer_client, action="pause", amount="2", entitlement=funnel.id, key="b"
        )
        post_action(
            customer_client, action="pause", amount="2", entitlement=funnel.id, key="c"
        )

        assert panel_queries() == first
        # Without htmx (no JavaScript) the panel is a whole page.
        assert "<html" in customer_client.get(reverse(PANEL)).content.decode()


class TestSelfServiceAction:
    def test_an_extension_is_granted_at_stage_3_and_moves_the_end(
        self, customer_client, funnel, ticket, now
    ):
        response = post_action(
            customer_client,
            action="extension",
            amount="7",
            entitlement=funnel.id,
            key="k",
        )

        assert response.status_code == 200
        page = response.content.decode()
        end = funnel.ends_on + timedelta(days=7)
        assert "now runs 7 days longer" in page
        assert "<html" in page  # the whole page, without JavaScript
        funnel.refresh_from_db()
        assert funnel.ends_on == end
        grant = Grant.objects.get()
        assert (grant.stage, grant.customer_id, grant.ticket_id, grant.agent_id) == (
            3,
            ticket.customer_id,
            None,
            None,
        )
        assert grant.request.actor_key == f"customer:{ticket.customer_id}"

    def test_a_double_submit_executes_once(self, customer_client, funnel, now):
        first = post_action(
            customer_client,
            action="extension",
            amount="7",
            entitlement=funnel.id,
            key="same",
        )
        second = post_action(
            customer_client,
            action="extension",
            amount="7",
            entitlement=funnel.id,
            key="same",
        )

        assert first.status_code == second.status_code == 200
        assert "now runs 7 days longer" in second.content.decode()
        assert "it was done once" in second.content.decode()
        assert Grant.objects.count() == 1
        assert AuthorityRequest.objects.count() == 1
        funnel.refresh_from_db()
        assert funnel.ends_on == funnel.starts_on + timedelta(days=97)
        counter = UsageCounter.objects.get(scope=UsageCounter.Scope.CUSTOMER)
        assert (counter.count, counter.amount) == (1, Decimal("7"))

    def test_the_same_key_with_other_values_is_refused(self, customer_client, funnel):
        post_action(
            customer_client,
            action="extension",
            amount="3",
            entitlement=funnel.id,
            key="k",
        )

        response = post_action(
            customer_client,
            action="extension",
            amount="5",
            entitlement=funnel.id,
            key="k",
        )

        assert response.status_code == 409
        assert "sent already with other values" in response.content.decode()
        assert Grant.objects.count() == 1

    def test_beyond_the_limit_is_refused_with_the_reason_and_nothing_changes(
        self, customer_client, funnel, ticket
    ):
        before = effects(ticket.customer_id)

        response = post_action(
            customer_client,
            action="extension",
            amount="8",
            entitlement=funnel.id,
            key="k",
        )

        assert response.status_code == 200
        page = response.content.decode()
        assert 'data-outcome="refused"' in page
        assert "8 days is more than the 7 days allowed at a time." in page
        assert effects(ticket.customer_id) == before
        assert AuthorityRequest.objects.get().state == AuthorityRequest.State.REFUSED

    def test_a_second_extension_in_the_period_is_refused_and_nothing_changes(
        self, customer_client, funnel, ticket
    ):
        post_action(
            customer_client,
            action="extension",
            amount="2",
            entitlement=funnel.id,
            key="a",
        )
        before = effects(ticket.customer_id)

        response = post_action(
            customer_client,
            action="extension",
            amount="2",
            entitlement=funnel.id,
            key="b",
        )

        page = response.content.decode()
        assert "Not done: 2 days class extension." in page
        assert "You have used your 1 class extension allowed in 90 days." in page
        assert effects(ticket.customer_id) == before

    def test_htmx_swaps_the_panel_with_the_outcome(self, customer_client, funnel):
        response = post_action(
            customer_client,
            action="extension",
            amount="3",
            entitlement=funnel.id,
            key="k",
            htmx=True,
        )

        assert response.status_code == 200
        page = response.content.decode()
        assert 'id="portal-entitlements-body"' in page
        assert "<html" not in page
        assert 'data-outcome="granted"' in page

    def test_bad_input_is_a_clear_error_and_stores_nothing(
        self, customer_client, funnel
    ):
        response = post_action(
            customer_client,
            action="extension",
            amount="lots",
            entitlement=funnel.id,
            key="k",
        )
        assert response.status_code == 422
        assert "Check the number you entered" in response.content.decode()

        response = post_action(customer_client, action="nothing", amount="1", key="k")
        assert response.status_code == 409
        assert "no such action" in response.content.decode()

        # An extension names the entitlement it changes.
        response = post_action(customer_client, action="extension", amount="1", key="k")
        assert response.status_code == 409
        assert AuthorityRequest.objects.count() == 0

    def test_an_older_entitlement_of_the_product_is_not_the_one_changed(
        self, customer_client, funnel, ticket, now
    ):
        older = authority.services.entitlement_create(
            customer_id=ticket.customer_id,
            product="Class pass",
            starts_on=funnel.starts_on - timedelta(days=200),
            ends_on=funnel.starts_on - timedelta(days=110),
            now=now,
        )
        page = customer_client.get(reverse(PANEL)).content.decode()
        older_row = page.split(f'data-entitlement="{older.id}"')[1].split("</li>")[0]
        assert "portal-action" not in older_row

        response = post_action(
            customer_client,
            action="extension",
            amount="1",
            entitlement=older.id,
            key="k",
        )

        assert response.status_code == 409
        assert "applies to your latest Class pass only" in response.content.decode()
        assert Grant.objects.count() == 0


class TestRacingSubmits:
    @pytest.mark.django_db(transaction=True)
    def test_simultaneous_submits_of_one_form_execute_once(
        self, ticket, funnel, run_concurrently, now
    ):
        require_postgres()
        customer = pods.selectors.customer_facts(customer_id=ticket.customer_id)

        def submit(_index):
            return authority.services.portal_action_ask(
                customer=customer,
                action_code="extension",
                amount="5",
                entitlement_id=funnel.id,
                idempotency_key="one-form",
                now=now,
            )

        answers = run_concurrently(submit, count=6)

        assert all(not isinstance(answer, Exception) for answer in answers), answers
        assert {answer.request.id for answer in answers} == {
            AuthorityRequest.objects.get().id
        }
        assert sum(not answer.replayed for answer in answers) == 1
        assert Grant.objects.count() == 1
        funnel.refresh_from_db()
        assert funnel.ends_on == funnel.starts_on + timedelta(days=95)

    def test_a_form_without_its_csrf_token_is_refused(self, ticket, funnel):
        client = Client(enforce_csrf_checks=True)
        sign_in(client, ticket.customer_id)

        response = post_action(
            client, action="extension", amount="3", entitlement=funnel.id, key="k"
        )

        assert response.status_code == 403
        assert AuthorityRequest.objects.count() == 0


class TestThePodSeesIt:
    def test_the_grant_shows_on_the_agents_ticket_panel_with_its_audit(
        self, client, customer_client, funnel, ticket, pod
    ):
        post_action(
            customer_client,
            action="extension",
            amount="4",
            entitlement=funnel.id,
            key="k",
        )
        grant = Grant.objects.get()

        agent = pod.lead.user
        client.force_login(agent)
        panel = client.get(reverse("ticket-authority", args=[ticket.id]))

        assert panel.status_code == 200
        page = panel.content.decode()
        assert f'data-grant="{grant.id}"' in page
        assert "stage 3" in page
        event = AuditEvent.objects.get(kind="GRANTED")
        assert event.chain == f"pod:{pod.id}"
        assert event.actor_label == f"customer:{ticket.customer_id}"

    def test_the_customer_sees_what_they_did(self, customer_client, funnel):
        post_action(
            customer_client,
            action="extension",
            amount="4",
            entitlement=funnel.id,
            key="k",
        )
        post_action(
            customer_client,
            action="extension",
            amount="4",
            entitlement=funnel.id,
            key="l",
        )

        page = customer_client.get(reverse(PANEL)).content.decode()
        recent = page.split('id="portal-self-service-recent"')[1]
        assert recent.count("4 days class extension") == 2
        assert "done" in recent
        assert "not possible" in recent


class TestReminders:
    def ending_in(self, customer_id, days, now, product="Yoga classes"):
        return authority.services.entitlement_create(
            customer_id=customer_id,
            product=product,
            starts_on=now.date() - timedelta(days=60),
            ends_on=now.date() + timedelta(days=days),
            now=now,
        )

    def run(self, capture):
        with capture(execute=True):
            return authority.tasks.send_entitlement_reminders()

    def test_once_per_period_with_a_link_to_sign_in(
        self, ticket, now, mailoutbox, django_capture_on_commit_callbacks
    ):
        held = self.ending_in(ticket.customer_id, 5, now)

        assert self.run(django_capture_on_commit_callbacks) == 1
        assert self.run(django_capture_on_commit_callbacks) == 0

        assert len(mailoutbox) == 1
        email = mailoutbox[0]
        assert email.to == ["minji@customer.example"]
        assert "Yoga classes" in email.subject
        assert day(held.ends_on) in email.subject
        assert "5 days left" in email.body
        assert "/portal/sign-in/" in email.body
        assert email.extra_headers["Auto-Submitted"] == "auto-generated"
        reminder = EntitlementReminder.objects.get()
        assert reminder.sent_at is not None

    def test_again_after_an_extension_moves_the_end(
        self,
        customer_client,
        funnel,
        ticket,
        now,
        mailoutbox,
        django_capture_on_commit_callbacks,
    ):
        Entitlement.objects.filter(id=funnel.id).update(
            ends_on=now.date() + timedelta(days=3)
        )
        self.run(django_capture_on_commit_callbacks)
        post_action(
            customer_client,
            action="extension",
            amount="2",
            entitlement=funnel.id,
            key="k",
        )

        self.run(django_capture_on_commit_callbacks)
        self.run(django_capture_on_commit_callbacks)

        assert len(mailoutbox) == 2
        assert day(now.date() + timedelta(days=5)) in mailoutbox[1].subject
        assert EntitlementReminder.objects.count() == 2

    def test_none_before_the_window_nor_for_ended_entitlements(
        self, ticket, now, mailoutbox, django_capture_on_commit_callbacks
    ):
        self.ending_in(ticket.customer_id, 8, now, product="Later")
        self.ending_in(ticket.customer_id, -1, now, product="Ended")

        assert self.run(django_capture_on_commit_callbacks) == 0
        assert mailoutbox == []

    def test_none_for_a_merged_away_customer(
        self, pod, ticket, now, mailoutbox, django_capture_on_commit_callbacks
    ):
        duplicate = ticket_in(pod, email="mk@work.example", now=now)
        moved = self.ending_in(duplicate.customer_id, 4, now, product="Moved")
        authority.services.customer_merge(
            source_id=duplicate.customer_id, target_id=ticket.customer_id, now=now
        )
        # A row left behind on the merged-away customer (written before the
        # merge moved entitlements): nobody to remind.
        stale = Entitlement.objects.create(
            customer_id=duplicate.customer_id,
            product="Stale",
            starts_on=now.date(),
            ends_on=now.date() + timedelta(days=2),
            created_at=now,
            updated_at=now,
        )
        assert Customer.objects.get(id=duplicate.customer_id).merged_into_id

        self.run(django_capture_on_commit_callbacks)

        assert [email.subject.split(" ends")[0] for email in mailoutbox] == [
            "Your Moved"
        ]
        assert not EntitlementReminder.objects.filter(entitlement=stale).exists()
        assert EntitlementReminder.objects.get().entitlement_id == moved.id

    def test_the_beat_runs_it(self):
        entries = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()]
        assert authority.tasks.SEND_ENTITLEMENT_REMINDERS_TASK in entries
        assert settings.HELPDESK["ENTITLEMENT_REMINDER_DAYS"] == 7
