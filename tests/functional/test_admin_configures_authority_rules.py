"""An admin configures the funnel in Django admin: action types whose database
constraints read as form errors; rules validated by the engine's own checks
(overlap, inconsistent limits) and saved through the services, a change being
a new version with its note, the old one read-only and listed with the
version history and its audit trail; entitlements edited without undoing a
grant made meanwhile. The funnel's records are read-only: nothing
append-only can be added, changed or deleted; the audit chain is verified on
demand; a failed billing webhook is sent again. Through HTTP with the test
client."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection

import authority.services
from authority.models import (
    ActionType,
    AuditEvent,
    AuthorityRule,
    Entitlement,
    Grant,
    WebhookDelivery,
)
from tests import factories
from tests.integration.test_reply_templates import ticket_in

pytestmark = pytest.mark.django_db

RULES = "/admin/authority/authorityrule/"
ACTION_TYPES = "/admin/authority/actiontype/"


@pytest.fixture
def admin(client):
    user = factories.admin_user(username="root")
    client.force_login(user)
    return user


@pytest.fixture
def refund(now):
    return ActionType.objects.create(
        code="refund",
        name="Refund",
        unit="MONEY",
        currency="GBP",
        effect="REFUND",
        created_at=now,
    )


def rule_form(action_type, **overrides) -> dict:
    form = {
        "name": "Refunds an agent decides",
        "action_type": action_type.id,
        "stage": "2",
        "is_active": "on",
        "pod": "",
        "agent_role": "",
        "contact_reason": "",
        "customer_segment": "",
        "max_per_grant": "50",
        "customer_period_days": "",
        "customer_max_count": "",
        "customer_max_total": "",
        "agent_daily_total": "",
        "pod_monthly_total": "",
        "min_tenure_days": "",
        "cooldown_days": "",
        "approver_group": "",
        "approval_hours": "24",
        "valid_from_0": "2020-01-01",
        "valid_from_1": "00:00:00",
        "valid_to_0": "",
        "valid_to_1": "",
        "change_note": "",
    }
    form.update(overrides)
    return form


def errors_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return " ".join(response.content.decode().split())


class TestActionTypes:
    def test_a_valid_action_type_is_saved(self, client, admin):
        response = client.post(
            f"{ACTION_TYPES}add/",
            {
                "code": "credit",
                "name": "Account credit",
                "unit": "MONEY",
                "currency": "GBP",
                "effect": "CREDIT",
                "product": "",
                "webhook_url": "",
                "is_active": "on",
            },
        )

        assert response.status_code == 302
        credit = ActionType.objects.get(code="credit")
        assert credit.created_at is not None

    @pytest.mark.parametrize(
        ("fields", "said"),
        [
            (
                {"unit": "MONEY", "currency": "", "effect": "REFUND"},
                "A money action needs its currency",
            ),
            (
                {"unit": "MONEY", "currency": "GBP", "effect": "EXTEND"},
                "Extending or pausing an entitlement is counted in days.",
            ),
            (
                {"unit": "DAYS", "currency": "", "effect": "REFUND"},
                "A refund or a credit is counted in money.",
            ),
        ],
    )
    def test_the_database_constraints_read_as_form_errors(
        self, client, admin, fields, said
    ):
        response = client.post(
            f"{ACTION_TYPES}add/",
            {"code": "x", "name": "X", "product": "", "webhook_url": "", **fields},
        )

        page = errors_of(response)
        assert said in page
        assert "is violated" not in page
        assert not ActionType.objects.exists()


class TestRules:
    def test_a_new_rule_is_version_1_with_who_made_it(self, client, admin, refund):
        response = client.post(f"{RULES}add/", rule_form(refund))

        assert response.status_code == 302
        rule = AuthorityRule.objects.get()
        assert rule.version == 1
        assert rule.created_by == admin
        event = AuditEvent.objects.get(kind="RULE_CHANGED")
        assert event.actor == admin
        assert event.subject == f"rule:{rule.lineage}"

    def test_an_overlapping_rule_is_a_form_error(self, client, admin, refund):
        client.post(f"{RULES}add/", rule_form(refund))

        response = client.post(f"{RULES}add/", rule_form(refund, name="Twin"))

        assert "already covers this action, stage and scope" in errors_of(response)
        assert AuthorityRule.objects.count() == 1

    @pytest.mark.parametrize(
        ("fields", "said"),
        [
            (
                {"max_per_grant": "500", "pod_monthly_total": "100"},
                "the limit per grant is more than the pod&#x27;s monthly budget",
            ),
            (
                {"customer_max_count": "2"},
                "a per-customer limit needs the period it counts over",
            ),
            ({"max_per_grant": "0"}, "Limits are more than zero"),
            (
                {"stage": "3", "agent_role": "LEAD"},
                "a self-service rule cannot be limited to an agent role",
            ),
        ],
    )
    def test_inconsistent_limits_are_form_errors(
        self, client, admin, refund, fields, said
    ):
        response = client.post(f"{RULES}add/", rule_form(refund, **fields))

        page = errors_of(response)
        assert said in page
        assert "is violated" not in page
        assert not AuthorityRule.objects.exists()

    def test_a_change_needs_a_note_and_becomes_a_new_version(
        self, client, admin, refund
    ):
        client.post(f"{RULES}add/", rule_form(refund))
        first = AuthorityRule.objects.get()
        url = f"{RULES}{first.id}/change/"

        unexplained = client.post(url, rule_form(refund, max_per_grant="60"))
        assert "Say why the rule changes." in errors_of(unexplained)
        assert AuthorityRule.objects.count() == 1

        response = client.post(
            url,
            rule_form(refund, max_per_grant="60", change_note="more room"),
        )

        assert response.status_code == 302
        first.refresh_from_db()
        current = AuthorityRule.objects.get(superseded_at__isnull=True)
        assert first.superseded_at is not None
        assert first.max_per_grant == Decimal("50")
        assert current.version == 2
        assert current.lineage == first.lineage
        assert current.max_per_grant == Decimal("60")
        assert current.change_note == "more room"
        assert current.created_by == admin

    def test_past_grants_keep_the_version_that_allowed_them(
        self, client, admin, refund, now
    ):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod)
        ticket = ticket_in(pod, email="a@customer.example", now=now)
        client.post(f"{RULES}add/", rule_form(refund))
        first = AuthorityRule.objects.get()
        authority.services.authority_ask(
            actor=authority.services.actor_for_user(user=agent.user),
            action_code="refund",
            amount="40",
            customer_id=ticket.customer_id,
            ticket_id=ticket.id,
            idempotency_key="k",
            now=now,
        )

        client.post(
            f"{RULES}{first.id}/change/",
            rule_form(refund, max_per_grant="20", change_note="tighter"),
        )

        assert Grant.objects.get().rule == first

    def test_the_list_shows_current_versions_and_the_history_all(
        self, client, admin, refund
    ):
        client.post(f"{RULES}add/", rule_form(refund), follow=True)
        first = AuthorityRule.objects.get()
        saved = client.post(
            f"{RULES}{first.id}/change/",
            rule_form(refund, max_per_grant="60", change_note="more room"),
            follow=True,
        )
        current = AuthorityRule.objects.get(superseded_at__isnull=True)

        listed = client.get(RULES).content.decode()
        superseded = client.get(RULES, {"version": "superseded"}).content.decode()
        history = client.get(
            RULES, {"lineage": str(first.lineage), "version": "all"}
        ).content.decode()

        assert "Saved as a new version" in saved.content.decode()
        assert f"{RULES}{current.id}/change/" in listed
        assert f"{RULES}{first.id}/change/" not in listed
        assert f"{RULES}{first.id}/change/" in superseded
        assert f"{RULES}{current.id}/change/" in history
        assert f"{RULES}{first.id}/change/" in history
        assert f"lineage={first.lineage}" in listed

    def test_the_change_page_shows_who_changed_what_and_why(
        self, client, admin, refund
    ):
        client.post(f"{RULES}add/", rule_form(refund))
        first = AuthorityRule.objects.get()
        client.post(
            f"{RULES}{first.id}/change/",
            rule_form(refund, max_per_grant="60", change_note="more room"),
        )
        current = AuthorityRule.objects.get(superseded_at__isnull=True)

        page = " ".join(
            client.get(f"{RULES}{current.id}/change/").content.decode().split()
        )

        assert "more room" in page
        assert "root" in page
        # Only what changed is listed, money compared as stored.
        assert "<td>max_per_grant: 50.00 → 60.00</td>" in page
        assert "(current)" in page

    def test_a_superseded_version_is_read_only(self, client, admin, refund):
        client.post(f"{RULES}add/", rule_form(refund))
        first = AuthorityRule.objects.get()
        client.post(
            f"{RULES}{first.id}/change/",
            rule_form(refund, max_per_grant="60", change_note="more room"),
        )

        page = client.get(f"{RULES}{first.id}/change/").content.decode()
        response = client.post(
            f"{RULES}{first.id}/change/",
            rule_form(refund, max_per_grant="99", change_note="sneaky"),
        )

        assert 'name="_save"' not in page
        assert response.status_code == 403
        assert AuthorityRule.objects.count() == 2
        assert not AuthorityRule.objects.filter(max_per_grant=Decimal("99")).exists()

    def test_rules_are_never_deleted(self, client, admin, refund):
        client.post(f"{RULES}add/", rule_form(refund))
        rule = AuthorityRule.objects.get()

        response = client.post(f"{RULES}{rule.id}/delete/", {"post": "yes"})

        assert response.status_code == 403
        assert AuthorityRule.objects.filter(id=rule.id).exists()


class TestEntitlements:
    @pytest.fixture
    def customer_id(self, now):
        pod = factories.staffed_pod(size=2)
        return ticket_in(pod, email="e@customer.example", now=now).customer_id

    def test_an_admin_adds_and_corrects_one(self, client, admin, customer_id):
        client.post(
            "/admin/authority/entitlement/add/",
            {
                "customer": customer_id,
                "product": "Class pass",
                "starts_on": "2026-01-01",
                "ends_on": "2026-03-31",
            },
        )
        entitlement = Entitlement.objects.get()

        response = client.post(
            f"/admin/authority/entitlement/{entitlement.id}/change/",
            {
                "product": "Class pass",
                "starts_on": "2026-01-01",
                "ends_on": "2026-04-30",
                "paused_from": "",
                "paused_until": "",
                "seen_updated_at": entitlement.updated_at.isoformat(),
            },
        )

        assert response.status_code == 302
        entitlement.refresh_from_db()
        assert str(entitlement.ends_on) == "2026-04-30"

    def test_dates_out_of_order_are_a_form_error(self, client, admin, customer_id):
        response = client.post(
            "/admin/authority/entitlement/add/",
            {
                "customer": customer_id,
                "product": "Class pass",
                "starts_on": "2026-03-01",
                "ends_on": "2026-01-31",
            },
        )

        assert "an entitlement ends after it starts" in errors_of(response)
        assert not Entitlement.objects.exists()

    def test_an_edit_never_undoes_a_grant_made_meanwhile(
        self, client, admin, customer_id, now
    ):
        entitlement = authority.services.entitlement_create(
            customer_id=customer_id,
            product="Class pass",
            starts_on=now.date(),
            ends_on=now.date() + timedelta(days=30),
            now=now,
        )
        seen = entitlement.updated_at
        # A grant extends it after the admin opened the form.
        authority.services.entitlement_change(
            entitlement_id=entitlement.id,
            product="Class pass",
            starts_on=entitlement.starts_on,
            ends_on=entitlement.ends_on + timedelta(days=14),
            paused_from=None,
            paused_until=None,
            seen_updated_at=None,
            now=now + timedelta(seconds=5),
        )

        response = client.post(
            f"/admin/authority/entitlement/{entitlement.id}/change/",
            {
                "product": "Class pass",
                "starts_on": str(entitlement.starts_on),
                "ends_on": str(entitlement.ends_on - timedelta(days=1)),
                "paused_from": "",
                "paused_until": "",
                "seen_updated_at": seen.isoformat(),
            },
            follow=True,
        )

        page = " ".join(response.content.decode().split())
        assert "Nothing was saved: the entitlement changed since you opened it" in page
        entitlement.refresh_from_db()
        assert entitlement.ends_on == now.date() + timedelta(days=44)


class TestWhatTheFunnelWrote:
    @pytest.fixture
    def history(self, now, django_capture_on_commit_callbacks):
        pod = factories.staffed_pod(size=2)
        agent = factories.agent(pod=pod)
        ticket = ticket_in(pod, email="h@customer.example", now=now)
        authority.services.demo_authority_seed(now=now)
        ActionType.objects.filter(code="refund").update(
            webhook_url="http://127.0.0.1:9/billing"
        )
        # The billing webhook is posted after commit (inline here): nobody
        # listens on port 9, so its first attempt fails.
        with django_capture_on_commit_callbacks(execute=True):
            authority.services.authority_ask(
                actor=authority.services.actor_for_user(user=agent.user),
                action_code="refund",
                amount="30",
                customer_id=ticket.customer_id,
                ticket_id=ticket.id,
                idempotency_key="k",
                now=now,
            )
        return ticket

    @pytest.mark.parametrize(
        "model",
        ["grant", "ledgerentry", "auditevent", "approvaldecision", "authorityrequest"],
    )
    def test_append_only_records_cannot_be_added_changed_or_deleted(
        self, client, admin, history, model
    ):
        listed = client.get(f"/admin/authority/{model}/")
        added = client.get(f"/admin/authority/{model}/add/")

        assert listed.status_code == 200
        assert added.status_code == 403
        first = listed.context["cl"].result_list[:1]
        for row in first:
            change = client.post(f"/admin/authority/{model}/{row.pk}/change/", {})
            delete = client.post(
                f"/admin/authority/{model}/{row.pk}/delete/", {"post": "yes"}
            )
            assert change.status_code == 403
            assert delete.status_code == 403
            assert type(row).objects.filter(pk=row.pk).exists()

    def test_the_audit_chain_is_verified_on_demand(self, client, admin, history):
        page = " ".join(
            client.get("/admin/authority/auditevent/verify/").content.decode().split()
        )
        assert "Every chain verifies" in page
        assert f"pod:{history.pod_id}" in page
        if connection.vendor == "postgresql":
            return  # the database refuses the tampering itself (0002)
        event = AuditEvent.objects.filter(chain=f"pod:{history.pod_id}").first()
        AuditEvent.objects.filter(id=event.id).update(actor_label="mallory")

        page = " ".join(
            client.get("/admin/authority/auditevent/verify/").content.decode().split()
        )
        verified = client.post(
            "/admin/authority/auditevent/",
            {"action": "verify_chains", "_selected_action": [event.id]},
            follow=True,
        )

        assert f"broken at #{event.seq}: content changed" in page
        assert f"Chain pod:{history.pod_id} is broken at event #{event.seq}" in (
            verified.content.decode()
        )

    def test_a_failed_webhook_is_sent_again_with_its_attempts_listed(
        self, client, admin, history, now, django_capture_on_commit_callbacks
    ):
        delivery = WebhookDelivery.objects.get()
        assert delivery.attempts == 1  # posted inline, nobody listening
        WebhookDelivery.objects.filter(id=delivery.id).update(
            state=WebhookDelivery.State.FAILED, next_attempt_at=None
        )
        page = client.get(
            f"/admin/authority/webhookdelivery/{delivery.id}/change/"
        ).content.decode()
        assert "Connection refused" in page

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                "/admin/authority/webhookdelivery/",
                {"action": "retry_now", "_selected_action": [delivery.id]},
                follow=True,
            )

        assert "1 webhook queued to be sent now." in response.content.decode()
        delivery.refresh_from_db()
        # Sent again at once (tasks run inline here): a second attempt logged.
        assert delivery.attempts == 2
        assert delivery.attempt_log.count() == 2


class TestWhoMayConfigure:
    def test_an_agent_never_reaches_the_admin(self, client, refund):
        agent = factories.agent(pod=factories.staffed_pod(size=2))
        client.force_login(agent.user)

        response = client.get(RULES)

        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]

    def test_staff_without_the_permission_gets_403(self, client, refund):
        client.force_login(factories.user(staff=True))

        assert client.get(RULES).status_code == 403
        assert client.post(f"{RULES}add/", rule_form(refund)).status_code == 403
        assert not AuthorityRule.objects.exists()
