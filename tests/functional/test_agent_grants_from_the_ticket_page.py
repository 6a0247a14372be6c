"""An agent grants from the authority panel on the ticket page: the panel says
what they may grant this customer now (limits left, the approval ceiling, or
why not, in words), grants within their rule, asks for approval above it,
executes a double submission once, cancels their own request; a lead reverses
a grant with a reason. Another pod's ticket is a 404; the panel's queries do
not grow with the customer's history. Through HTTP with the test client."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

import authority.services
import tickets.services
from authority.models import ActionType, AuthorityRequest, Grant, LedgerEntry
from tests import factories
from tests.integration.test_reply_templates import ticket_in

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "authority-panel-body"}


# --- Arrange ------------------------------------------------------------------------


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
def funnel(ticket, now):
    authority.services.demo_authority_seed(now=now, customer_ids=[ticket.customer_id])


@pytest.fixture
def outsider():
    other = factories.staffed_pod(size=2, name="Venus")
    return factories.agent(pod=other, username="vic")


def panel_url(ticket) -> str:
    return reverse("ticket-authority", args=[ticket.id])


def ask_url(ticket) -> str:
    return reverse("ticket-authority-ask", args=[ticket.id])


def signed_in(client, user):
    client.force_login(user)
    return client


def ask(client, ticket, amount, *, action="refund", key="form-key-1", note=""):
    return client.post(
        ask_url(ticket),
        {"action": action, "amount": amount, "key": key, "note": note},
        **HTMX,
    )


def text_of(response) -> str:
    return " ".join(response.content.decode().split())


# --- What the panel says --------------------------------------------------------------


class TestThePanelSaysWhatTheAgentMayGrant:
    def test_limits_left_the_approval_ceiling_and_entitlements(
        self, client, funnel, agent, ticket
    ):
        response = signed_in(client, agent.user).get(panel_url(ticket), **HTMX)

        assert response.status_code == 200
        page = text_of(response)
        assert "You may grant up to £50 now." in page
        assert "Above that, ask for approval, up to £500." in page
        assert "You may grant up to £30 now." in page  # goodwill credit
        assert "You may grant up to 14 days now." in page  # class extension
        assert "Class pass" in page
        assert "50 days left" in page
        assert page.count('name="key"') == 4  # one idempotency key per action

    def test_every_form_gets_its_own_fresh_idempotency_key(
        self, client, funnel, agent, ticket
    ):
        signed_in(client, agent.user)
        first = client.get(panel_url(ticket), **HTMX).content.decode()
        second = client.get(panel_url(ticket), **HTMX).content.decode()

        keys = [line for line in first.splitlines() if 'name="key"' in line]
        assert len(set(keys)) == 4
        assert not set(keys) & {
            line for line in second.splitlines() if 'name="key"' in line
        }

    def test_limits_left_shrink_after_grants_then_only_approval_remains(
        self, client, funnel, agent, ticket
    ):
        signed_in(client, agent.user)
        ask(client, ticket, "40", key="a")
        page = text_of(client.get(panel_url(ticket), **HTMX))
        # £100 per customer in 90 days: £60 left, under the £50 per grant.
        assert "You may grant up to £50 now." in page
        ask(client, ticket, "45", key="b")

        page = text_of(client.get(panel_url(ticket), **HTMX))

        # Two refunds in 90 days is the agent's limit: approval is the way.
        section = page.split("Refund")[1].split("Account credit")[0]
        assert "You may grant" not in section
        assert "Needs approval, up to £500." in section
        assert "Ask for approval" in section

    def test_not_available_says_why_in_words(self, client, funnel, agent, ticket, now):
        ActionType.objects.create(
            code="fee-waiver",
            name="Fee waiver",
            unit="MONEY",
            currency="GBP",
            effect="RECORD",
            created_at=now,
        )
        other = ticket_in(ticket.pod, email="new@customer.example", now=now)

        signed_in(client, agent.user)
        page = text_of(client.get(panel_url(ticket), **HTMX))
        no_pass = text_of(client.get(panel_url(other), **HTMX))

        assert "Not available: no rule lets you grant this; ask your pod lead" in page
        assert "Not available: the customer has no Class pass to change" in no_pass

    def test_a_user_who_is_not_an_agent_reads_but_cannot_ask(
        self, client, funnel, ticket
    ):
        admin = factories.admin_user()

        response = signed_in(client, admin).get(panel_url(ticket), **HTMX)

        assert response.status_code == 200
        assert "Only agents grant or ask for approval." in text_of(response)
        assert 'name="amount"' not in response.content.decode()


# --- Granting and asking ----------------------------------------------------------


class TestTheAgentGrantsOrAsks:
    def test_within_the_limit_is_granted_with_the_reasons_in_words(
        self, client, funnel, agent, ticket
    ):
        response = ask(signed_in(client, agent.user), ticket, "30", note="late parcel")

        assert response.status_code == 200
        page = text_of(response)
        assert "Granted: £30 refund." in page
        assert "£30 is within the £50 limit per grant" in page
        assert "0 of 2 allowed (refund) for this customer in 90 days" in page
        grant = Grant.objects.get()
        assert grant.amount == Decimal("30")
        assert grant.request.note == "late parcel"
        assert grant.agent == agent
        assert LedgerEntry.objects.get(grant=grant).amount == Decimal("30")
        # The panel keeps the outcome on refresh while the agent stays.
        assert f"?shown={grant.request_id}" in response.content.decode()

    def test_over_the_limit_goes_to_approval_and_is_listed_waiting(
        self, client, funnel, agent, ticket
    ):
        response = ask(signed_in(client, agent.user), ticket, "80")

        page = text_of(response)
        assert "Sent for approval: £80 refund." in page
        assert "£80 is over the £50 limit per grant" in page
        assert "An approver decides by" in page
        assert "Cancel request" in page
        request = AuthorityRequest.objects.get()
        assert request.state == AuthorityRequest.State.PENDING
        assert not Grant.objects.exists()

    def test_over_every_limit_is_refused_with_reasons(
        self, client, funnel, agent, ticket
    ):
        page = text_of(ask(signed_in(client, agent.user), ticket, "800"))

        assert "Not possible: £800 refund." in page
        assert "£800 is over the £500 limit per grant" in page
        assert not Grant.objects.exists()

    def test_a_double_submission_executes_once(self, client, funnel, agent, ticket):
        signed_in(client, agent.user)

        first = ask(client, ticket, "30", key="double")
        second = ask(client, ticket, "30", key="double")

        assert first.status_code == second.status_code == 200
        assert "Granted: £30 refund." in text_of(second)
        assert Grant.objects.count() == 1
        assert LedgerEntry.objects.count() == 1
        assert AuthorityRequest.objects.count() == 1

    def test_a_key_sent_again_with_another_amount_is_refused(
        self, client, funnel, agent, ticket
    ):
        signed_in(client, agent.user)
        ask(client, ticket, "30", key="reused")

        response = ask(client, ticket, "35", key="reused")

        assert response.status_code == 409
        assert "That form was sent already with other values" in text_of(response)
        assert Grant.objects.count() == 1

    @pytest.mark.parametrize("amount", ["", "abc", "-5", "0", "1.234"])
    def test_a_bad_amount_is_a_form_error_and_stores_nothing(
        self, client, funnel, agent, ticket, amount
    ):
        response = ask(signed_in(client, agent.user), ticket, amount)

        assert response.status_code == 422
        assert 'class="errorlist"' in response.content.decode()
        assert 'aria-invalid="true"' in response.content.decode()
        assert not AuthorityRequest.objects.exists()

    def test_an_unknown_action_is_refused_with_a_message(
        self, client, funnel, agent, ticket
    ):
        response = ask(signed_in(client, agent.user), ticket, "5", action="teleport")

        assert response.status_code == 409
        assert "no such action: teleport" in text_of(response)
        assert not AuthorityRequest.objects.exists()

    def test_without_htmx_the_page_reloads_with_the_outcome(
        self, client, funnel, agent, ticket
    ):
        signed_in(client, agent.user)

        response = client.post(
            ask_url(ticket),
            {"action": "refund", "amount": "30", "key": "plain"},
            follow=True,
        )

        assert response.redirect_chain[-1][0] == reverse(
            "ticket-detail", args=[ticket.id]
        )
        assert "Granted: £30 refund." in text_of(response)


class TestTheAgentCancelsTheirRequest:
    def test_the_requester_cancels(self, client, funnel, agent, ticket):
        signed_in(client, agent.user)
        ask(client, ticket, "80")
        request = AuthorityRequest.objects.get()

        response = client.post(
            reverse("ticket-authority-cancel", args=[ticket.id, request.id]), **HTMX
        )

        assert response.status_code == 200
        assert "Request for £80 refund cancelled." in text_of(response)
        request.refresh_from_db()
        assert request.state == AuthorityRequest.State.CANCELLED

    def test_a_colleague_cannot_cancel_it(
        self, client, funnel, agent, colleague, ticket
    ):
        ask(signed_in(client, agent.user), ticket, "80")
        request = AuthorityRequest.objects.get()

        signed_in(client, colleague.user)
        page = client.get(panel_url(ticket), **HTMX).content.decode()
        response = client.post(
            reverse("ticket-authority-cancel", args=[ticket.id, request.id]), **HTMX
        )

        assert "Cancel request" not in page
        assert response.status_code == 409
        assert "only the agent who asked can cancel" in text_of(response)
        request.refresh_from_db()
        assert request.state == AuthorityRequest.State.PENDING


class TestALeadReversesAGrant:
    def test_with_a_reason_a_new_negative_entry_undoes_it(
        self, client, funnel, agent, lead, ticket
    ):
        ask(signed_in(client, agent.user), ticket, "30")
        grant = Grant.objects.get()
        signed_in(client, lead)
        assert "Reverse grant" in client.get(panel_url(ticket), **HTMX).content.decode()

        response = client.post(
            reverse("ticket-authority-reverse", args=[ticket.id, grant.id]),
            {"reason": "charged twice by mistake"},
            **HTMX,
        )

        assert response.status_code == 200
        page = text_of(response)
        assert f"Grant #{grant.id} reversed." in page
        assert f"reversal of #{grant.id}" in page
        reversal = Grant.objects.get(reverses=grant)
        assert reversal.amount == Decimal("-30")
        assert reversal.approved_by == lead

    def test_without_a_reason_nothing_is_reversed(
        self, client, funnel, agent, lead, ticket
    ):
        ask(signed_in(client, agent.user), ticket, "30")
        grant = Grant.objects.get()

        response = signed_in(client, lead).post(
            reverse("ticket-authority-reverse", args=[ticket.id, grant.id]),
            {"reason": "  "},
            **HTMX,
        )

        assert response.status_code == 422
        assert "Say why the grant is reversed." in text_of(response)
        assert not Grant.objects.filter(kind=Grant.Kind.REVERSAL).exists()

    def test_an_agent_may_not_reverse(self, client, funnel, agent, ticket):
        ask(signed_in(client, agent.user), ticket, "30")
        grant = Grant.objects.get()

        page = client.get(panel_url(ticket), **HTMX).content.decode()
        response = client.post(
            reverse("ticket-authority-reverse", args=[ticket.id, grant.id]),
            {"reason": "oops"},
            **HTMX,
        )

        assert "Reverse grant" not in page
        assert response.status_code == 403
        assert not Grant.objects.filter(kind=Grant.Kind.REVERSAL).exists()


# --- Who may use it ---------------------------------------------------------------


class TestAccess:
    def test_another_pods_agent_gets_404_and_nothing_is_stored(
        self, client, funnel, outsider, agent, ticket
    ):
        ask(signed_in(client, agent.user), ticket, "80")
        request = AuthorityRequest.objects.get()
        signed_in(client, outsider.user)

        assert client.get(panel_url(ticket), **HTMX).status_code == 404
        assert ask(client, ticket, "30", key="other").status_code == 404
        assert (
            client.post(
                reverse("ticket-authority-cancel", args=[ticket.id, request.id]),
                **HTMX,
            ).status_code
            == 404
        )
        assert AuthorityRequest.objects.count() == 1
        assert not Grant.objects.exists()

    def test_signed_out_goes_to_sign_in(self, client, funnel, ticket):
        response = client.get(panel_url(ticket))

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_who_sees_the_ticket_but_may_not_ask_gets_403(self, client, funnel, ticket):
        reader = factories.user()
        reader.user_permissions.add(
            Permission.objects.get(codename="view_ticket"),
            Permission.objects.get(codename="view_all_pods"),
        )

        response = signed_in(client, reader).get(panel_url(ticket), **HTMX)

        assert response.status_code == 403

    def test_an_invited_colleague_acts_on_this_ticket_only(
        self, client, funnel, agent, outsider, ticket, now
    ):
        ask(signed_in(client, agent.user), ticket, "30", key="on-ticket")
        elsewhere = tickets.services.ticket_open(
            identities=[("EMAIL", "minji@customer.example")],
            channel="EMAIL",
            subject="Another matter",
            display_name="Minji Kim",
            now=now,
        ).ticket
        authority.services.authority_ask(
            actor=authority.services.actor_for_user(user=agent.user),
            action_code="credit",
            amount="10",
            customer_id=ticket.customer_id,
            ticket_id=elsewhere.id,
            idempotency_key="elsewhere",
            now=now,
        )
        tickets.services.collaborator_invite(
            ticket=ticket,
            agent_id=outsider.id,
            invited_by_id=agent.id,
            now=now,
        )

        page = text_of(signed_in(client, outsider.user).get(panel_url(ticket), **HTMX))

        assert "Refund" in page
        assert "£30 refund" in page  # this ticket's grant
        assert "£10 account credit" not in page  # a grant on another ticket


# --- Cost ---------------------------------------------------------------------------


class TestThePanelsQueries:
    def test_do_not_grow_with_actions_grants_and_requests(
        self, client, funnel, agent, ticket, django_assert_num_queries, now
    ):
        signed_in(client, agent.user)
        client.get(panel_url(ticket), **HTMX)  # session and permissions warm
        with django_assert_num_queries(PANEL_QUERIES):
            assert client.get(panel_url(ticket), **HTMX).status_code == 200

        for index in range(3):
            ActionType.objects.create(
                code=f"extra-{index}",
                name=f"Extra {index}",
                unit="MONEY",
                currency="GBP",
                effect="RECORD",
                created_at=now,
            )
        for index, amount in enumerate(["10", "20", "90", "700", "5"]):
            ask(client, ticket, amount, key=f"history-{index}")
        authority.services.entitlement_create(
            customer_id=ticket.customer_id,
            product="Gym",
            starts_on=now.date(),
            ends_on=now.date() + timedelta(days=30),
            now=now,
        )
        assert Grant.objects.count() >= 2
        assert AuthorityRequest.objects.filter(state="PENDING").exists()

        with django_assert_num_queries(PANEL_QUERIES):
            assert client.get(panel_url(ticket), **HTMX).status_code == 200


# Session, user and agent (the time zone middleware), the ticket, the user's
# and the role's permissions, the user's pod, the agent's role, the customer,
# entitlements, action types, rules, recent grants, usage, the customer's
# grants and their pending requests.
PANEL_QUERIES = 16
