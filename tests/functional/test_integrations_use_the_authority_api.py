"""Integrations use the authority API: the action types, a preview of the
engine's decision that writes nothing, asking with an Idempotency-Key (a
replay answers the same status and body, another body under the key is a
422), the approval queue and its verdicts, cancelling, grants and their
reversal; documented in the OpenAPI schema. Another pod's customer, request or
grant is a 404; a missing role permission a 403."""

from datetime import timedelta

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import authority.services
from authority.models import AuditEvent, AuthorityRequest, Grant, UsageCounter
from tests import factories
from tests.integration.test_reply_templates import ticket_in

pytestmark = pytest.mark.django_db

REQUESTS = "/api/authority/requests/"
GRANTS = "/api/authority/grants/"
PREVIEW = "/api/authority/decisions/"


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod, username="ana")


@pytest.fixture
def colleague(pod):
    return factories.agent(pod=pod, username="bo")


@pytest.fixture
def lead(pod):
    return pod.lead.user


@pytest.fixture
def ticket(pod, now):
    return ticket_in(pod, email="minji@customer.example", now=now - timedelta(days=100))


@pytest.fixture
def funnel(now):
    authority.services.demo_authority_seed(now=now)


@pytest.fixture
def other_pod():
    return factories.staffed_pod(size=2, name="Venus")


@pytest.fixture
def outsider(other_pod):
    return factories.agent(pod=other_pod, username="vic")


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def ask(client, ticket, amount, *, key="key-1", action="refund", note=""):
    return client.post(
        REQUESTS,
        {
            "action": action,
            "amount": amount,
            "customer": ticket.customer_id,
            "ticket": ticket.id,
            "note": note,
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def pending_request(agent, ticket, now, amount="80", key="p"):
    return authority.services.authority_ask(
        actor=authority.services.actor_for_user(user=agent.user),
        action_code="refund",
        amount=amount,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        idempotency_key=key,
        now=now,
    ).request


class TestActionTypesAndPreview:
    def test_agents_read_the_action_types(self, funnel, agent):
        response = api_as(agent.user).get("/api/authority/action-types/")

        assert response.status_code == 200
        assert {row["code"] for row in response.json()} == {
            "refund",
            "credit",
            "extension",
            "pause",
        }

    def test_a_user_without_a_role_gets_403(self, funnel):
        response = api_as(factories.user()).get("/api/authority/action-types/")

        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"

    def test_the_preview_says_what_would_happen_and_writes_nothing(
        self, funnel, agent, ticket
    ):
        client = api_as(agent.user)
        body = {"action": "refund", "customer": ticket.customer_id}

        within = client.post(PREVIEW, {**body, "amount": "30"}, format="json")
        above = client.post(PREVIEW, {**body, "amount": "80"}, format="json")

        assert within.status_code == above.status_code == 200
        assert within.json()["outcome"] == "GRANTED"
        assert within.json()["rule"]["stage"] == 2
        assert "£30 is within the £50 limit per grant" in [
            reason["text"] for reason in within.json()["reasons"]
        ]
        assert above.json()["outcome"] == "NEEDS_APPROVAL"
        assert above.json()["stage"] == 1
        assert not AuthorityRequest.objects.exists()
        assert not UsageCounter.objects.exists()
        assert not AuditEvent.objects.exclude(kind="RULE_CHANGED").exists()

    def test_the_preview_refuses_bad_asks_with_a_message(
        self, funnel, agent, ticket, outsider
    ):
        client = api_as(agent.user)

        unknown = client.post(
            PREVIEW,
            {"action": "teleport", "amount": "5", "customer": ticket.customer_id},
            format="json",
        )
        nobody = client.post(
            PREVIEW,
            {"action": "refund", "amount": "5", "customer": 999_999},
            format="json",
        )
        as_outsider = api_as(outsider.user).post(
            PREVIEW,
            {"action": "refund", "amount": "5", "customer": ticket.customer_id},
            format="json",
        )
        as_admin = api_as(factories.admin_user()).post(
            PREVIEW,
            {"action": "refund", "amount": "5", "customer": ticket.customer_id},
            format="json",
        )

        assert unknown.status_code == 400
        assert "no such action: teleport" in str(unknown.json()["error"])
        assert nobody.status_code == 404
        assert nobody.json()["error"]["message"] == "No such customer."
        assert as_outsider.status_code == 404
        assert as_admin.status_code == 403
        assert "only agents ask for grants" in as_admin.json()["error"]["message"]


class TestAsking:
    def test_granted_within_the_rule_with_its_reasons_and_where_to_read_it(
        self, funnel, agent, ticket
    ):
        response = ask(api_as(agent.user), ticket, "30", note="late parcel")

        assert response.status_code == 201
        body = response.json()
        grant = Grant.objects.get()
        assert body["outcome"] == "GRANTED"
        assert body["grant"] == grant.id
        assert body["amount"] == "30.00"
        assert body["currency"] == "GBP"
        assert body["rule"] == {
            "id": grant.rule_id,
            "name": "Refunds an agent decides",
            "version": 1,
            "stage": 2,
        }
        assert "£30 is within the £50 limit per grant" in [
            reason["text"] for reason in body["reasons"]
        ]
        assert response["Location"] == f"{REQUESTS}{body['request']}/"
        assert response["Idempotent-Replayed"] == "false"

    def test_a_replay_answers_the_same_status_and_body_and_runs_once(
        self, funnel, agent, lead, ticket, now
    ):
        client = api_as(agent.user)
        first = ask(client, ticket, "80", key="once")
        request = AuthorityRequest.objects.get()
        # Approved in between: the replay still answers what the ask answered.
        authority.services.request_approve(
            request_id=request.id,
            user=lead,
            request_hash=request.request_hash,
            note="",
            now=now,
        )

        again = ask(client, ticket, "80", key="once")

        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again.json()["outcome"] == "PENDING"
        assert again["Idempotent-Replayed"] == "true"
        assert AuthorityRequest.objects.count() == 1
        assert Grant.objects.count() == 1

    def test_the_same_key_with_another_body_is_a_422(self, funnel, agent, ticket):
        client = api_as(agent.user)
        ask(client, ticket, "30", key="reused")

        response = ask(client, ticket, "31", key="reused")

        assert response.status_code == 422
        assert response.json()["error"]["code"] == "idempotency_key_reused"
        assert Grant.objects.count() == 1

    def test_the_key_is_required(self, funnel, agent, ticket):
        response = api_as(agent.user).post(
            REQUESTS,
            {"action": "refund", "amount": "30", "customer": ticket.customer_id},
            format="json",
        )

        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]["fields"]
        assert not AuthorityRequest.objects.exists()

    def test_above_the_rule_waits_for_approval_and_beyond_it_is_refused(
        self, funnel, agent, ticket
    ):
        client = api_as(agent.user)

        pending = ask(client, ticket, "80", key="a")
        refused = ask(client, ticket, "800", key="b")

        assert pending.status_code == refused.status_code == 201
        assert pending.json()["outcome"] == "PENDING"
        assert pending.json()["due_at"] is not None
        assert pending.json()["grant"] is None
        assert refused.json()["outcome"] == "REFUSED"
        assert "£800 is over the £500 limit per grant" in [
            reason["text"] for reason in refused.json()["reasons"]
        ]
        assert not Grant.objects.exists()

    def test_bad_asks_are_4xx_with_a_message_and_store_nothing(
        self, funnel, agent, ticket, outsider, other_pod, now
    ):
        client = api_as(agent.user)
        theirs = ticket_in(other_pod, email="joe@customer.example", now=now)

        unknown = ask(client, ticket, "5", action="teleport", key="u")
        bad_amount = ask(client, ticket, "lots", key="n")
        nobody = client.post(
            REQUESTS,
            {"action": "refund", "amount": "5", "customer": 999_999},
            format="json",
            HTTP_IDEMPOTENCY_KEY="c",
        )
        other_ticket = client.post(
            REQUESTS,
            {
                "action": "refund",
                "amount": "5",
                "customer": ticket.customer_id,
                "ticket": theirs.id,
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="t",
        )

        assert unknown.status_code == 400
        assert "no such action: teleport" in str(unknown.json()["error"])
        assert bad_amount.status_code == 400
        assert "amount" in bad_amount.json()["error"]["fields"]
        assert nobody.status_code == 404
        assert other_ticket.status_code == 404
        assert not AuthorityRequest.objects.exists()


class TestTheApprovalQueue:
    def test_pending_requests_of_the_pod_only(
        self, funnel, agent, ticket, outsider, other_pod, now
    ):
        mine = pending_request(agent, ticket, now)
        pending_request(agent, ticket, now, amount="30", key="granted")
        theirs_ticket = ticket_in(other_pod, email="joe@customer.example", now=now)
        theirs = pending_request(outsider, theirs_ticket, now, key="v")

        response = api_as(agent.user).get(REQUESTS, {"state": "PENDING"})
        detail = api_as(agent.user).get(f"{REQUESTS}{theirs.id}/")

        assert response.status_code == 200
        assert [row["id"] for row in response.json()["results"]] == [mine.id]
        assert response.json()["results"][0]["request_hash"] == mine.request_hash
        assert detail.status_code == 404

    def test_a_lead_approves_and_it_is_granted(self, funnel, agent, lead, ticket, now):
        request = pending_request(agent, ticket, now)

        response = api_as(lead).post(
            f"{REQUESTS}{request.id}/approve/",
            {"request_hash": request.request_hash, "note": "fine"},
            format="json",
        )

        assert response.status_code == 200
        body = response.json()
        assert body["state"] == "GRANTED"
        assert body["decision"]["verdict"] == "APPROVE"
        assert body["grant"] == Grant.objects.get(request=request).id

    def test_a_stale_approval_is_refused_with_the_reason(
        self, funnel, agent, lead, ticket, now
    ):
        request = pending_request(agent, ticket, now)

        response = api_as(lead).post(
            f"{REQUESTS}{request.id}/approve/",
            {"request_hash": "0" * 64},
            format="json",
        )

        assert response.status_code == 409
        assert "changed since you read it" in response.json()["error"]["message"]
        assert not Grant.objects.exists()

    def test_a_denial_needs_a_note(self, funnel, agent, lead, ticket, now):
        request = pending_request(agent, ticket, now)
        client = api_as(lead)

        bare = client.post(
            f"{REQUESTS}{request.id}/deny/",
            {"request_hash": request.request_hash},
            format="json",
        )
        denied = client.post(
            f"{REQUESTS}{request.id}/deny/",
            {"request_hash": request.request_hash, "note": "refunded last week"},
            format="json",
        )

        assert bare.status_code == 400
        assert "note" in bare.json()["error"]["fields"]
        assert denied.status_code == 200
        assert denied.json()["state"] == "DENIED"
        assert denied.json()["decision"]["note"] == "refunded last week"

    def test_an_agent_gets_403_and_another_pods_lead_404(
        self, funnel, agent, colleague, ticket, other_pod, now
    ):
        request = pending_request(agent, ticket, now)
        body = {"request_hash": request.request_hash, "note": "x"}

        as_agent = api_as(colleague.user).post(
            f"{REQUESTS}{request.id}/approve/", body, format="json"
        )
        as_other_lead = api_as(other_pod.lead.user).post(
            f"{REQUESTS}{request.id}/approve/", body, format="json"
        )

        assert as_agent.status_code == 403
        assert as_other_lead.status_code == 404
        request.refresh_from_db()
        assert request.state == AuthorityRequest.State.PENDING

    def test_the_requester_cancels_and_nobody_else(
        self, funnel, agent, colleague, ticket, now
    ):
        request = pending_request(agent, ticket, now)

        by_colleague = api_as(colleague.user).post(f"{REQUESTS}{request.id}/cancel/")
        cancelled = api_as(agent.user).post(f"{REQUESTS}{request.id}/cancel/")
        again = api_as(agent.user).post(f"{REQUESTS}{request.id}/cancel/")

        assert by_colleague.status_code == 403
        assert cancelled.status_code == 200
        assert cancelled.json()["state"] == "CANCELLED"
        assert again.status_code == 409

    def test_the_lists_cost_the_same_for_more_rows(
        self, funnel, agent, ticket, now, django_assert_num_queries
    ):
        # A token, as an integration calls: the user is read on every request.
        client = APIClient()
        token = Token.objects.create(user=agent.user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        pending_request(agent, ticket, now, key="first")
        client.get(REQUESTS)
        with django_assert_num_queries(LIST_QUERIES):
            assert client.get(REQUESTS).status_code == 200
        for index in range(4):
            pending_request(agent, ticket, now, amount="20", key=f"g{index}")

        with django_assert_num_queries(LIST_QUERIES):
            assert len(client.get(REQUESTS).json()["results"]) == 5
        with django_assert_num_queries(LIST_QUERIES):
            assert client.get(GRANTS).status_code == 200


# The token with its user, the user's and the role's permissions, the user's
# pod, the page of rows.
LIST_QUERIES = 5


class TestGrants:
    def test_a_customers_grants_with_the_rule_version(self, funnel, agent, ticket, now):
        pending_request(agent, ticket, now, amount="30", key="g")

        response = api_as(agent.user).get(GRANTS, {"customer": ticket.customer_id})

        assert response.status_code == 200
        (row,) = response.json()["results"]
        assert row["amount"] == "30.00"
        assert row["kind"] == "GRANT"
        assert row["rule"]["version"] == 1
        assert row["reversed_by"] is None

    def test_another_pods_customer_is_a_404(self, funnel, agent, ticket, outsider):
        response = api_as(outsider.user).get(GRANTS, {"customer": ticket.customer_id})

        assert response.status_code == 404

    def test_a_lead_reverses_once(self, funnel, agent, lead, ticket, now):
        pending_request(agent, ticket, now, amount="30", key="g")
        grant = Grant.objects.get()
        client = api_as(lead)

        reversed_ = client.post(
            f"{GRANTS}{grant.id}/reverse/", {"reason": "charged twice"}, format="json"
        )
        twice = client.post(
            f"{GRANTS}{grant.id}/reverse/", {"reason": "again"}, format="json"
        )

        assert reversed_.status_code == 201
        assert reversed_.json()["kind"] == "REVERSAL"
        assert reversed_.json()["reverses"] == grant.id
        assert reversed_.json()["amount"] == "-30.00"
        assert twice.status_code == 409
        assert Grant.objects.filter(kind="REVERSAL").count() == 1

    def test_an_agent_gets_403_and_another_pods_lead_404(
        self, funnel, agent, ticket, other_pod, now
    ):
        pending_request(agent, ticket, now, amount="30", key="g")
        grant = Grant.objects.get()
        body = {"reason": "no"}

        as_agent = api_as(agent.user).post(
            f"{GRANTS}{grant.id}/reverse/", body, format="json"
        )
        as_other_lead = api_as(other_pod.lead.user).post(
            f"{GRANTS}{grant.id}/reverse/", body, format="json"
        )

        assert as_agent.status_code == 403
        assert as_other_lead.status_code == 404
        assert not Grant.objects.filter(kind="REVERSAL").exists()


class TestDocumented:
    def test_the_schema_describes_every_endpoint(self):
        client = api_as(factories.user())

        paths = client.get(
            "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
        ).json()["paths"]

        assert {
            "/api/authority/action-types/",
            "/api/authority/decisions/",
            "/api/authority/requests/",
            "/api/authority/requests/{request_id}/",
            "/api/authority/requests/{request_id}/approve/",
            "/api/authority/requests/{request_id}/deny/",
            "/api/authority/requests/{request_id}/cancel/",
            "/api/authority/grants/",
            "/api/authority/grants/{grant_id}/reverse/",
        } <= set(paths)
        parameters = paths["/api/authority/requests/"]["post"]["parameters"]
        assert {"name": "Idempotency-Key", "required": True}.items() <= next(
            parameter
            for parameter in parameters
            if parameter["name"] == "Idempotency-Key"
        ).items()
