"""A pause from a chosen day (seed 003's right "to set a start"), in the
portal, on the agent's ticket panel and through the API, decided by the engine
with the same limits, idempotency and audit as a pause from today: the
entitlement is paused from that day and ends as many days later; a day in the
past, too far ahead, not before the end, or over the pause already set is
refused with the reason in words and nothing changes; the same form sent
twice runs once, and the same key with another day is a conflict. An approved
pause whose day has passed meanwhile is not executed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

import authority.selectors
import authority.services
from authority.models import (
    ActionType,
    AuditEvent,
    AuthorityRequest,
    Entitlement,
    Grant,
    UsageCounter,
    WebhookDelivery,
)
from tests import factories
from tests.integration.test_portal_self_service import day, effects, sign_in
from tests.integration.test_reply_templates import ticket_in

pytestmark = pytest.mark.django_db

ACTION = "portal-action"
PANEL = "portal-entitlements-panel"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "authority-panel-body"}
REQUESTS = "/api/authority/requests/"
PREVIEW = "/api/authority/decisions/"


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def ticket(pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now - timedelta(days=100))


@pytest.fixture
def funnel(ticket, now):
    """The demo rules (customers pause up to 14 days, once in 60); a class
    pass of 90 days, 40 of them gone: it ends in 50 days."""
    authority.services.demo_authority_seed(now=now, customer_ids=[ticket.customer_id])
    return Entitlement.objects.get(customer_id=ticket.customer_id)


@pytest.fixture
def customer_client(client, ticket):
    sign_in(client, ticket.customer_id)
    return client


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod, username="ana")


def pause(client, entitlement, *, days=10, starts_on=None, key="p", htmx=False):
    data = {"action": "pause", "amount": days, "entitlement": entitlement.id}
    data["key"] = key
    if starts_on is not None:
        data["effect_starts_on"] = str(starts_on)
    extra = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(reverse(ACTION), data, **extra)


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def api_pause(client, ticket, *, days=10, starts_on=None, key="key-1"):
    body = {
        "action": "pause",
        "amount": days,
        "customer": ticket.customer_id,
        "ticket": ticket.id,
    }
    if starts_on is not None:
        body["effect_starts_on"] = str(starts_on)
    return client.post(REQUESTS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


class TestPortalPauseFromAChosenDay:
    def test_the_form_offers_the_days_the_engine_allows(
        self, customer_client, funnel, now
    ):
        page = customer_client.get(reverse(PANEL)).content.decode()

        today = now.date()
        assert 'name="effect_starts_on"' in page
        assert f'min="{today.isoformat()}"' in page
        assert f'max="{(today + timedelta(days=30)).isoformat()}"' in page
        # Only the pause has a start: the extension's form is as it was.
        extension = page.split('data-action="extension"')[1].split("</section>")[0]
        assert "effect_starts_on" not in extension

    def test_the_latest_day_offered_is_before_the_end(
        self, customer_client, funnel, now
    ):
        Entitlement.objects.filter(id=funnel.id).update(
            ends_on=now.date() + timedelta(days=12)
        )

        page = customer_client.get(reverse(PANEL)).content.decode()

        assert f'max="{(now.date() + timedelta(days=11)).isoformat()}"' in page

    def test_paused_from_that_day_and_the_end_moves_by_the_days(
        self, customer_client, funnel, ticket, now
    ):
        start = now.date() + timedelta(days=5)
        end = funnel.ends_on

        response = pause(customer_client, funnel, days=10, starts_on=start)

        assert response.status_code == 200
        page = response.content.decode()
        assert 'data-outcome="granted"' in page
        assert (
            f"will be paused for 10 days from {day(start)}; "
            f"it now ends on {day(end + timedelta(days=10))}"
        ) in " ".join(page.split())
        funnel.refresh_from_db()
        assert (funnel.paused_from, funnel.paused_until, funnel.ends_on) == (
            start,
            start + timedelta(days=10),
            end + timedelta(days=10),
        )
        grant = Grant.objects.get()
        assert (
            grant.stage,
            grant.entitlement_id,
            grant.ends_before,
            grant.ends_after,
        ) == (
            3,
            funnel.id,
            end,
            end + timedelta(days=10),
        )
        request = grant.request
        assert request.effect_starts_on == start
        assert authority.services.request_words(request) == (
            f"10 days class pause from {day(start)}"
        )
        event = AuditEvent.objects.get(kind="GRANTED")
        assert event.details["effect_starts_on"] == start.isoformat()
        # The panel says the pause is still to come.
        panel = customer_client.get(reverse(PANEL)).content.decode()
        assert (
            f"a pause from {day(start)} until {day(start + timedelta(days=10))}"
            in panel
        )
        assert f"10 days class pause from {day(start)}" in panel

    def test_without_a_day_it_starts_today_as_before(
        self, customer_client, funnel, now
    ):
        pause(customer_client, funnel, days=3)

        funnel.refresh_from_db()
        assert (funnel.paused_from, funnel.paused_until) == (
            now.date(),
            now.date() + timedelta(days=3),
        )
        assert AuthorityRequest.objects.get().effect_starts_on is None


class TestRefusedDaysChangeNothing:
    @pytest.mark.parametrize(
        ("offset", "words"),
        [
            (-1, "A pause cannot start before today (you chose {start})."),
            (31, "A pause can start at most 30 days ahead, by {latest}."),
        ],
    )
    def test_before_today_or_too_far_ahead(
        self, customer_client, funnel, ticket, now, offset, words
    ):
        start = now.date() + timedelta(days=offset)
        before = effects(ticket.customer_id)

        response = pause(customer_client, funnel, starts_on=start)

        page = " ".join(response.content.decode().split())
        assert 'data-outcome="refused"' in page
        latest = day(now.date() + timedelta(days=30))
        assert words.format(start=day(start), latest=latest) in page
        assert effects(ticket.customer_id) == before
        assert AuthorityRequest.objects.get().state == AuthorityRequest.State.REFUSED

    def test_not_before_the_end(self, customer_client, funnel, ticket, now):
        end = now.date() + timedelta(days=10)
        Entitlement.objects.filter(id=funnel.id).update(ends_on=end)
        before = effects(ticket.customer_id)

        response = pause(customer_client, funnel, starts_on=end)

        page = " ".join(response.content.decode().split())
        assert f"It ends on {day(end)}: a pause must start before that." in page
        assert effects(ticket.customer_id) == before

    def test_over_the_pause_already_set(self, customer_client, funnel, ticket, now):
        # Set by the pod (the admin), so the customer's own cooldown is clear.
        set_from, set_until = (now.date() + timedelta(days=d) for d in (3, 8))
        Entitlement.objects.filter(id=funnel.id).update(
            paused_from=set_from, paused_until=set_until
        )
        before = effects(ticket.customer_id)

        response = pause(
            customer_client, funnel, days=4, starts_on=now.date() + timedelta(days=6)
        )

        page = " ".join(response.content.decode().split())
        assert 'data-outcome="refused"' in page
        assert (
            f"It overlaps your pause from {day(set_from)} until {day(set_until)}."
            in page
        )
        assert effects(ticket.customer_id) == before
        reasons = AuthorityRequest.objects.get().reasons
        assert reasons[-1]["code"] == "pause_overlaps"

    def test_one_pause_at_a_time_even_clear_of_the_one_set(
        self, customer_client, funnel, ticket, now
    ):
        set_until = now.date() + timedelta(days=8)
        Entitlement.objects.filter(id=funnel.id).update(
            paused_from=now.date() + timedelta(days=3), paused_until=set_until
        )
        before = effects(ticket.customer_id)

        response = pause(
            customer_client, funnel, days=4, starts_on=now.date() + timedelta(days=20)
        )

        assert f"It is paused already, until {day(set_until)}." in " ".join(
            response.content.decode().split()
        )
        assert effects(ticket.customer_id) == before

    def test_a_day_that_is_not_a_date_is_a_clear_error(
        self, customer_client, funnel, ticket
    ):
        before = effects(ticket.customer_id)

        response = pause(customer_client, funnel, starts_on="31/31/2030")

        assert response.status_code == 422
        assert "Check the day you chose" in response.content.decode()
        assert effects(ticket.customer_id) == before
        assert AuthorityRequest.objects.count() == 0

    def test_only_a_pause_has_a_start(self, customer_client, funnel, now):
        response = customer_client.post(
            reverse(ACTION),
            {
                "action": "extension",
                "amount": "2",
                "entitlement": funnel.id,
                "key": "e",
                "effect_starts_on": str(now.date() + timedelta(days=2)),
            },
        )

        assert response.status_code == 409
        assert "only a pause can start on a chosen day" in response.content.decode()
        assert AuthorityRequest.objects.count() == 0


class TestOnceOnly:
    def test_the_same_form_twice_pauses_once(self, customer_client, funnel, now):
        start = now.date() + timedelta(days=4)

        first = pause(customer_client, funnel, starts_on=start, key="same")
        second = pause(customer_client, funnel, starts_on=start, key="same")

        assert first.status_code == second.status_code == 200
        assert "it was done once" in second.content.decode()
        assert Grant.objects.count() == 1
        funnel.refresh_from_db()
        assert funnel.paused_from == start
        counter = UsageCounter.objects.get(scope=UsageCounter.Scope.CUSTOMER)
        assert (counter.count, counter.amount) == (1, Decimal("10"))

    def test_the_same_key_with_another_day_is_a_conflict(
        self, customer_client, funnel, ticket, now
    ):
        pause(
            customer_client, funnel, starts_on=now.date() + timedelta(days=4), key="k"
        )
        after_first = effects(ticket.customer_id)

        response = pause(
            customer_client, funnel, starts_on=now.date() + timedelta(days=6), key="k"
        )

        assert response.status_code == 409
        assert "sent already with other values" in response.content.decode()
        assert effects(ticket.customer_id) == after_first
        assert AuthorityRequest.objects.count() == 1

    def test_a_chosen_day_and_no_day_are_different_asks(
        self, customer_client, funnel, now
    ):
        pause(customer_client, funnel, key="k")

        response = pause(customer_client, funnel, starts_on=now.date(), key="k")

        assert response.status_code == 409
        assert Grant.objects.count() == 1


class TestAgentPanel:
    def test_the_agent_pauses_from_a_chosen_day(
        self, client, funnel, agent, ticket, now
    ):
        client.force_login(agent.user)
        url = reverse("ticket-authority", args=[ticket.id])
        panel = client.get(url, **HTMX).content.decode()
        pause_form = panel.split('data-action="pause"')[1].split("</section>")[0]
        assert 'name="effect_starts_on"' in pause_form
        assert f'max="{(now.date() + timedelta(days=30)).isoformat()}"' in pause_form
        start = now.date() + timedelta(days=2)

        response = client.post(
            reverse("ticket-authority-ask", args=[ticket.id]),
            {
                "action": "pause",
                "amount": "7",
                "key": "agent-form",
                "note": "",
                "effect_starts_on": start.isoformat(),
            },
            **HTMX,
        )

        assert response.status_code == 200
        page = " ".join(response.content.decode().split())
        assert f"Granted: 7 days class pause from {day(start)}." in page
        assert f"a pause from {day(start)} until {day(start + timedelta(days=7))}" in (
            page
        )
        funnel.refresh_from_db()
        assert (funnel.paused_from, funnel.paused_until) == (
            start,
            start + timedelta(days=7),
        )
        grant = Grant.objects.get()
        assert (grant.agent_id, grant.ticket_id) == (agent.id, ticket.id)

    def test_too_far_ahead_is_refused_on_the_panel(
        self, client, funnel, agent, ticket, now
    ):
        client.force_login(agent.user)
        before = effects(ticket.customer_id)
        start = now.date() + timedelta(days=45)

        response = client.post(
            reverse("ticket-authority-ask", args=[ticket.id]),
            {
                "action": "pause",
                "amount": "7",
                "key": "far",
                "effect_starts_on": start.isoformat(),
            },
            **HTMX,
        )

        page = " ".join(response.content.decode().split())
        assert f"Not possible: 7 days class pause from {day(start)}." in page
        latest = day(now.date() + timedelta(days=30))
        assert f"a pause can start at most 30 days ahead, by {latest}" in page
        assert effects(ticket.customer_id) == before


class TestApi:
    def test_a_pause_from_a_chosen_day(self, funnel, agent, ticket, now):
        client = api_as(agent.user)
        start = now.date() + timedelta(days=3)

        response = api_pause(client, ticket, starts_on=start)

        assert response.status_code == 201, response.json()
        body = response.json()
        assert (body["outcome"], body["effect_starts_on"]) == (
            "GRANTED",
            start.isoformat(),
        )
        funnel.refresh_from_db()
        assert funnel.paused_from == start
        detail = client.get(f"{REQUESTS}{body['request']}/").json()
        assert detail["effect_starts_on"] == start.isoformat()

        replay = api_pause(client, ticket, starts_on=start)
        assert replay.status_code == 201
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json() == body

        other = api_pause(client, ticket, starts_on=start + timedelta(days=1))
        assert other.status_code == 422
        assert other.json()["error"]["code"] == "idempotency_key_reused"
        assert Grant.objects.count() == 1

    def test_a_bad_day_is_a_400_with_the_reason(self, funnel, agent, ticket):
        response = api_pause(api_as(agent.user), ticket, starts_on="next tuesday")

        assert response.status_code == 400
        assert "effect_starts_on" in str(response.json())
        assert "YYYY-MM-DD" in str(response.json())
        assert AuthorityRequest.objects.count() == 0

    def test_a_day_for_a_refund_is_a_400(self, funnel, agent, ticket, now):
        response = api_as(agent.user).post(
            REQUESTS,
            {
                "action": "refund",
                "amount": "10",
                "customer": ticket.customer_id,
                "ticket": ticket.id,
                "effect_starts_on": str(now.date() + timedelta(days=1)),
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="r",
        )

        assert response.status_code == 400
        assert "only a pause can start on a chosen day" in str(response.json())
        assert AuthorityRequest.objects.count() == 0

    def test_too_far_is_refused_with_the_reason_and_previewed_alike(
        self, funnel, agent, ticket, now
    ):
        client = api_as(agent.user)
        start = now.date() + timedelta(days=31)
        before = effects(ticket.customer_id)
        preview = client.post(
            PREVIEW,
            {
                "action": "pause",
                "amount": 5,
                "customer": ticket.customer_id,
                "effect_starts_on": start.isoformat(),
            },
            format="json",
        )
        assert preview.status_code == 200
        assert preview.json()["outcome"] == "REFUSED"
        assert preview.json()["reasons"][-1]["code"] == "pause_start_too_far"

        response = api_pause(client, ticket, days=5, starts_on=start)

        assert response.status_code == 201
        body = response.json()
        assert body["outcome"] == "REFUSED"
        assert body["reasons"][-1]["code"] == "pause_start_too_far"
        assert "at most 30 days ahead" in body["reasons"][-1]["text"]
        assert effects(ticket.customer_id) == before


class TestWhatTheGrantTells:
    def test_the_billing_system_hears_the_days_of_the_pause(
        self, customer_client, funnel, now
    ):
        ActionType.objects.filter(code="pause").update(
            webhook_url="https://billing.example/hooks"
        )
        start = now.date() + timedelta(days=7)

        pause(customer_client, funnel, days=5, starts_on=start)

        payload = WebhookDelivery.objects.get().payload
        assert (payload["paused_from"], payload["paused_until"]) == (
            start.isoformat(),
            (start + timedelta(days=5)).isoformat(),
        )


class TestApproval:
    @pytest.fixture
    def approval_rule(self, funnel, now):
        authority.services.rule_create(
            terms={
                "name": "Long pauses the lead approves",
                "action_type": authority.selectors.action_type_by_code(code="pause"),
                "stage": 1,
                "max_per_grant": Decimal("30"),
                "valid_from": now - timedelta(days=1),
            },
            user=None,
            note="test",
            now=now,
        )

    def ask_long_pause(self, agent, ticket, start, now):
        return authority.services.authority_ask(
            actor=authority.services.actor_for_user(user=agent.user),
            action_code="pause",
            amount=20,
            customer_id=ticket.customer_id,
            ticket_id=ticket.id,
            idempotency_key="long",
            effect_starts_on=start,
            now=now,
        ).request

    def test_approved_in_time_it_pauses_from_the_day_chosen(
        self, approval_rule, funnel, agent, ticket, pod, now
    ):
        start = now.date() + timedelta(days=2)
        asked = self.ask_long_pause(agent, ticket, start, now)
        assert asked.state == AuthorityRequest.State.PENDING

        authority.services.request_approve(
            request_id=asked.id,
            user=pod.lead.user,
            request_hash=asked.request_hash,
            note="",
            now=now + timedelta(hours=3),
        )

        funnel.refresh_from_db()
        assert (funnel.paused_from, funnel.paused_until) == (
            start,
            start + timedelta(days=20),
        )

    def test_approved_after_the_day_has_passed_nothing_runs(
        self, approval_rule, funnel, agent, ticket, pod, now
    ):
        start = now.date() + timedelta(days=1)
        asked = self.ask_long_pause(agent, ticket, start, now)
        before = effects(ticket.customer_id)

        with pytest.raises(authority.services.ApprovalCannotExecute) as refused:
            authority.services.request_approve(
                request_id=asked.id,
                user=pod.lead.user,
                request_hash=asked.request_hash,
                note="",
                now=now + timedelta(days=2),
            )

        assert "a pause cannot start in the past" in str(refused.value)
        assert effects(ticket.customer_id) == before
        asked.refresh_from_db()
        assert asked.state == AuthorityRequest.State.PENDING
