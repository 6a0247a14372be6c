"""A pod lead works the approval queue: the pod's requests waiting, the most
overdue first, each with its case (customer, ticket, agent, amount, the
engine's reasons, the agent's note, the customer's recent grants); approving
grants at once, denying needs a note, a stale or own request is refused with a
clear message, a budget spent meanwhile stops the grant. Admins see every pod
with a filter; agents get 403; another pod's request is a 404. Through HTTP
with the test client."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

import authority.services
from authority.models import ActionType, AuthorityRequest, Grant
from tests import factories
from tests.integration.test_reply_templates import ticket_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "approval-list"}
QUEUE = "/authority/approvals/"


@pytest.fixture
def pod():
    return factories.staffed_pod(size=3, name="Mercury")


@pytest.fixture
def agent(pod):
    return factories.agent(pod=pod, username="ana")


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


def ask(user, ticket, amount, *, key, now, action="refund", note=""):
    return authority.services.authority_ask(
        actor=authority.services.actor_for_user(user=user),
        action_code=action,
        amount=amount,
        customer_id=ticket.customer_id,
        ticket_id=ticket.id,
        idempotency_key=key,
        note=note,
        now=now,
    ).request


def decide(client, request, verdict, *, note="", request_hash=None, **extra):
    return client.post(
        reverse(f"authority-{verdict}", args=[request.id]),
        {"request_hash": request_hash or request.request_hash, "note": note},
        **extra,
    )


def text_of(response) -> str:
    return " ".join(response.content.decode().split())


class TestTheQueueShowsTheCase:
    def test_pending_requests_most_overdue_first_with_their_context(
        self, client, funnel, agent, lead, ticket, now
    ):
        ask(agent.user, ticket, "30", key="granted-earlier", now=now)
        late = ask(agent.user, ticket, "90", key="late", now=now - timedelta(hours=10))
        fresh = ask(
            agent.user, ticket, "80", key="fresh", now=now, note="parcel lost twice"
        )
        client.force_login(lead)

        response = client.get(QUEUE)

        assert response.status_code == 200
        page = text_of(response)
        assert page.index("£90 refund") < page.index("£80 refund")
        assert f'id="approval-{late.id}"' in page
        assert "approval--overdue" in page.split(f'id="approval-{fresh.id}"')[0]
        assert "Overdue by" in page
        assert "Due in" in page
        assert "Minji Kim" in page
        assert f'href="/tickets/{ticket.id}/"' in page
        assert "Moving home" in page
        assert agent.user.get_full_name() in page
        assert "£80 is over the £50 limit per grant" in page
        assert "needs approval" in page
        assert "parcel lost twice" in page
        assert "recent grants" in page
        assert "£30 refund" in page
        assert page.count(">Approve</button>") == 2

    def test_the_staff_navigation_links_it_for_deciders_only(
        self, client, funnel, agent, lead
    ):
        client.force_login(lead)
        assert 'href="/authority/approvals/"' in client.get("/").content.decode()
        client.force_login(agent.user)
        assert 'href="/authority/approvals/"' not in client.get("/").content.decode()

    def test_nothing_waiting_says_so(self, client, funnel, lead):
        client.force_login(lead)

        assert "Nothing is waiting for approval." in text_of(client.get(QUEUE))


class TestTheLeadDecides:
    def test_approving_grants_at_once_and_leaves_the_queue(
        self, client, funnel, agent, lead, ticket, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        client.force_login(lead)

        response = decide(client, request, "approve", note="fine", **HTMX)

        assert response.status_code == 200
        page = text_of(response)
        assert "Approved and granted: £80 refund." in page
        assert f'id="approval-{request.id}"' not in page
        grant = Grant.objects.get(request=request)
        assert grant.amount == Decimal("80")
        assert grant.approved_by == lead
        assert grant.stage == 1

    def test_denying_needs_a_note_the_agent_reads(
        self, client, funnel, agent, lead, ticket, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        client.force_login(lead)

        refused = decide(client, request, "deny", note=" ", **HTMX)
        request.refresh_from_db()
        assert refused.status_code == 409
        assert "say why, in a note the agent will read" in text_of(refused)
        assert request.state == AuthorityRequest.State.PENDING

        denied = decide(client, request, "deny", note="refunded last week", **HTMX)

        assert denied.status_code == 200
        assert "Denied: £80 refund." in text_of(denied)
        request.refresh_from_db()
        assert request.state == AuthorityRequest.State.DENIED
        assert request.decision.note == "refunded last week"
        assert not Grant.objects.exists()

    def test_a_request_decided_meanwhile_is_refused_clearly(
        self, client, funnel, agent, lead, ticket, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        authority.services.request_deny(
            request_id=request.id,
            user=factories.admin_user(),
            request_hash=request.request_hash,
            note="no",
            now=now,
        )
        client.force_login(lead)

        response = decide(client, request, "approve", **HTMX)

        assert response.status_code == 409
        assert "this request is no longer waiting (Denied)" in text_of(response)
        assert not Grant.objects.exists()

    def test_a_stale_form_is_refused_clearly(
        self, client, funnel, agent, lead, ticket, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        client.force_login(lead)

        response = decide(client, request, "approve", request_hash="0" * 64, **HTMX)

        assert response.status_code == 409
        assert "the request changed since you read it" in text_of(response)
        assert not Grant.objects.exists()

    def test_an_own_request_is_shown_but_not_decidable(
        self, client, funnel, lead, ticket, now
    ):
        request = ask(lead, ticket, "80", key="mine", now=now)
        client.force_login(lead)

        page = text_of(client.get(QUEUE))
        response = decide(client, request, "approve", **HTMX)

        assert "This is your own request: another approver decides it." in page
        assert ">Approve</button>" not in page
        assert response.status_code == 409
        assert "your own" in text_of(response)
        assert not Grant.objects.exists()

    def test_a_budget_spent_meanwhile_stops_the_grant_with_the_reasons(
        self, client, funnel, agent, lead, ticket, now
    ):
        goodwill = ActionType.objects.create(
            code="goodwill",
            name="Goodwill",
            unit="MONEY",
            currency="GBP",
            effect="CREDIT",
            created_at=now,
        )
        authority.services.rule_create(
            terms={
                "name": "Goodwill the lead approves",
                "action_type": goodwill,
                "stage": 1,
                "pod_monthly_total": Decimal("100"),
                "valid_from": now - timedelta(days=1),
            },
            user=None,
            note="small budget",
            now=now,
        )
        first = ask(agent.user, ticket, "80", key="a", action="goodwill", now=now)
        second = ask(agent.user, ticket, "60", key="b", action="goodwill", now=now)
        client.force_login(lead)
        decide(client, first, "approve", **HTMX)

        response = decide(client, second, "approve", **HTMX)

        assert response.status_code == 409
        page = text_of(response)
        assert "Not granted: the rule no longer allows it" in page
        assert "£20 of the pod&#x27;s £100 monthly budget left" in page
        second.refresh_from_db()
        assert second.state == AuthorityRequest.State.PENDING
        assert Grant.objects.filter(action_type=goodwill).count() == 1

    def test_without_htmx_it_returns_to_the_queue_with_a_message(
        self, client, funnel, agent, lead, ticket, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        client.force_login(lead)

        response = decide(client, request, "approve", follow=True)

        assert response.redirect_chain[-1][0] == QUEUE
        assert "Approved and granted: £80 refund." in text_of(response)


class TestWhoSeesWhat:
    def test_an_agent_gets_403_and_nothing_is_decided(
        self, client, funnel, agent, ticket, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        colleague = factories.agent(pod=ticket.pod, username="bo")
        client.force_login(colleague.user)

        assert client.get(QUEUE).status_code == 403
        assert decide(client, request, "approve").status_code == 403
        request.refresh_from_db()
        assert request.state == AuthorityRequest.State.PENDING

    def test_another_pods_lead_neither_sees_nor_decides_it(
        self, client, funnel, agent, ticket, other_pod, now
    ):
        request = ask(agent.user, ticket, "80", key="k", now=now)
        client.force_login(other_pod.lead.user)

        page = text_of(client.get(QUEUE))
        response = decide(client, request, "approve")

        assert "£80 refund" not in page
        assert response.status_code == 404
        assert not Grant.objects.exists()

    def test_an_admin_sees_every_pod_filters_one_and_decides(
        self, client, funnel, agent, ticket, other_pod, now
    ):
        mine = ask(agent.user, ticket, "80", key="k", now=now)
        other_ticket = ticket_in(other_pod, email="joe@customer.example", now=now)
        other_agent = factories.agent(pod=other_pod, username="vic")
        theirs = ask(other_agent.user, other_ticket, "70", key="v", now=now)
        admin = factories.admin_user()
        client.force_login(admin)

        everything = text_of(client.get(QUEUE))
        filtered = text_of(client.get(QUEUE, {"pod": other_pod.id}))
        response = decide(client, theirs, "approve", **HTMX)

        assert f'id="approval-{mine.id}"' in everything
        assert f'id="approval-{theirs.id}"' in everything
        assert f'id="approval-{mine.id}"' not in filtered
        assert f'id="approval-{theirs.id}"' in filtered
        assert response.status_code == 200
        assert Grant.objects.get(request=theirs).approved_by == admin

    def test_the_queues_queries_do_not_grow_with_its_rows(
        self, client, funnel, agent, lead, ticket, now, django_assert_num_queries
    ):
        ask(agent.user, ticket, "80", key="first", now=now)
        client.force_login(lead)
        client.get(QUEUE, **HTMX)
        with django_assert_num_queries(QUEUE_QUERIES):
            assert client.get(QUEUE, **HTMX).status_code == 200

        others = [
            ticket_in(ticket.pod, email=f"c{index}@customer.example", now=now)
            for index in range(4)
        ]
        for index, other in enumerate(others):
            ask(agent.user, other, "30", key=f"g{index}", now=now)
            ask(agent.user, other, "90", key=f"p{index}", now=now)
        assert AuthorityRequest.objects.filter(state="PENDING").count() == 5

        with django_assert_num_queries(QUEUE_QUERIES):
            assert client.get(QUEUE, **HTMX).status_code == 200


# Session, user and agent (the time zone middleware), the user's and the
# role's permissions, the user's pod, the requests with their case, the
# customers' recent grants, and whether the user may decide (once for the pod).
QUEUE_QUERIES = 9
