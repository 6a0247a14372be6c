"""Integrations open tickets by API (once per idempotency key), agents read and
write on their pod's tickets, and a customer's messages read as one timeline;
another pod's tickets and customers do not exist for them."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

import pods.services
import tickets.selectors
import tickets.services
from pods.models import Agent, Pod
from tests import factories
from tests.conftest import require_postgres
from tickets.models import InboundEnvelope, Message, Ticket

BODY = {
    "customer": {"email": "integration@example.com", "name": "Ian Tegration"},
    "subject": "Order 1001 stuck",
    "text": "The order has not shipped.",
}


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def mine():
    return factories.staffed_pod(size=3)


@pytest.fixture
def theirs():
    return factories.staffed_pod(size=3)


def fresh(user):
    """The user as a new request sees them: no permission or pod cache yet."""
    return get_user_model().objects.get(pk=user.pk)


def member_of(pod: Pod) -> Agent:
    return Agent.objects.filter(pod=pod, role="AGENT").order_by("id").first()


def contact_in(pod: Pod, now, *, email: str, channel: str = "API", **fields):
    """A contact from a new customer that lands in `pod` (the others are closed to
    new customers meanwhile); return its ticket."""
    others = list(Pod.objects.exclude(id=pod.id).values_list("id", flat=True))
    pods.services.pods_accepting_set(pod_ids=others, accepting=False)
    try:
        submitted = tickets.services.contact_submit(
            channel=channel,
            contact=tickets.services.Contact(
                name=fields.get("name", "A Customer"),
                email=email,
                subject=fields.get("subject", "A question"),
                text=fields.get("text", "Hello there."),
            ),
            now=now,
        )
    finally:
        pods.services.pods_accepting_set(pod_ids=others, accepting=True)
    return Ticket.objects.get(id=submitted.ticket_id)


@pytest.mark.django_db
class TestCreateTicket:
    def test_the_same_idempotency_key_twice_is_one_ticket(self, api, mine):
        integration = factories.admin_user()
        token = Token.objects.create(user=integration)
        headers = {
            "HTTP_AUTHORIZATION": f"Token {token.key}",
            "HTTP_IDEMPOTENCY_KEY": "order-1001",
        }

        first = api.post("/api/tickets/", BODY, format="json", **headers)
        again = api.post("/api/tickets/", BODY, format="json", **headers)

        ticket = Ticket.objects.get()
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"] == ticket.id
        assert first["Location"] == f"/api/tickets/{ticket.id}/"
        assert (ticket.channel, ticket.subject) == ("API", "Order 1001 stuck")
        assert Message.objects.get().text == "The order has not shipped."
        assert InboundEnvelope.objects.get().source == "API"

    def test_the_same_key_with_another_body_is_refused(self, api, mine):
        api.force_authenticate(factories.admin_user())
        api.post("/api/tickets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="k")

        refused = api.post(
            "/api/tickets/",
            {**BODY, "text": "Something else."},
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        )

        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "idempotency_key_reused"
        assert Message.objects.count() == 1

    def test_idempotency_keys_belong_to_their_caller(self, api, mine):
        for _ in range(2):
            api.force_authenticate(factories.admin_user())
            api.post("/api/tickets/", BODY, format="json", HTTP_IDEMPOTENCY_KEY="1")

        assert Ticket.objects.count() == 2

    def test_without_a_key_each_request_is_a_ticket(self, api, mine):
        api.force_authenticate(factories.admin_user())

        responses = [api.post("/api/tickets/", BODY, format="json") for _ in "ab"]

        assert [r.status_code for r in responses] == [201, 201]
        assert Ticket.objects.count() == 2

    def test_phone_and_priority_are_taken(self, api, mine):
        api.force_authenticate(factories.admin_user())

        created = api.post(
            "/api/tickets/",
            {**BODY, "customer": {"phone": "+44 20 7946 0000"}, "priority": "URGENT"},
            format="json",
        )

        assert created.status_code == 201
        assert created.json()["priority"] == "URGENT"

    @pytest.mark.parametrize(
        ("customer", "field"),
        [
            ({"name": "No way to reach me"}, "customer"),
            ({"email": "not-an-address"}, "customer.email"),
            ({"email": "x@localhost"}, "customer.email"),  # no routable domain
            ({"phone": "call me"}, "customer.phone"),
        ],
    )
    def test_a_customer_we_cannot_reach_is_a_400_naming_the_field(
        self, api, mine, customer, field
    ):
        api.force_authenticate(factories.admin_user())

        refused = api.post(
            "/api/tickets/", {**BODY, "customer": customer}, format="json"
        )

        assert refused.status_code == 400
        assert field in refused.json()["error"]["fields"]
        assert not InboundEnvelope.objects.exists()

    def test_a_caller_without_the_permission_is_refused(self, api, mine):
        api.force_authenticate(factories.user())

        refused = api.post("/api/tickets/", BODY, format="json")

        assert refused.status_code == 403
        assert not InboundEnvelope.objects.exists()

    def test_anonymous_callers_are_refused(self, api, mine):
        refused = api.post("/api/tickets/", BODY, format="json")

        assert refused.status_code in {401, 403}
        assert not InboundEnvelope.objects.exists()

    def test_a_ticket_that_lands_in_another_pod_is_not_shown(
        self, api, mine, theirs, now
    ):
        known = contact_in(theirs, now, email="integration@example.com")
        api.force_authenticate(member_of(mine).user)

        accepted = api.post("/api/tickets/", BODY, format="json")

        assert accepted.status_code == 202
        assert accepted.json()["ticket"] is None
        assert accepted.json()["state"] == "PROCESSED"
        assert "Order 1001" not in accepted.content.decode()
        latest = Ticket.objects.exclude(id=known.id).get()
        assert latest.pod_id == theirs.id


@pytest.mark.django_db
class TestReadTickets:
    def test_the_list_shows_the_callers_pod_in_constant_queries(
        self, api, mine, theirs, now, django_assert_num_queries
    ):
        ours = [contact_in(mine, now, email=f"m{n}@example.com") for n in range(2)]
        contact_in(theirs, now, email="t@example.com")
        agent = member_of(mine)

        api.force_authenticate(fresh(agent.user))
        # permissions (user, groups), home pod, the page
        with django_assert_num_queries(4):
            few = api.get("/api/tickets/")
        ours += [contact_in(mine, now, email=f"n{n}@example.com") for n in range(5)]
        api.force_authenticate(fresh(agent.user))
        with django_assert_num_queries(4):
            more = api.get("/api/tickets/")

        assert [t["id"] for t in few.json()["results"]] == [t.id for t in ours[1::-1]]
        assert [t["id"] for t in more.json()["results"]] == [
            t.id for t in reversed(ours)
        ]

    def test_the_list_filters_by_status_channel_and_customer(self, api, mine, now):
        web = contact_in(mine, now, email="w@example.com", channel="WEB")
        by_api = contact_in(mine, now, email="a@example.com")
        Ticket.objects.filter(id=by_api.id).update(status="PENDING")
        api.force_authenticate(member_of(mine).user)

        def ids(**query):
            return [t["id"] for t in api.get("/api/tickets/", query).json()["results"]]

        assert ids(channel="WEB") == [web.id]
        assert ids(status="PENDING") == [by_api.id]
        assert ids(customer=web.customer_id) == [web.id]
        assert api.get("/api/tickets/", {"status": "ASLEEP"}).status_code == 400

    def test_the_list_pages_by_cursor(self, api, mine, now):
        made = [contact_in(mine, now, email=f"p{n}@example.com") for n in range(3)]
        api.force_authenticate(member_of(mine).user)

        first = api.get("/api/tickets/", {"page_size": 2}).json()
        second = api.get(first["next"]).json()

        seen = [t["id"] for t in first["results"] + second["results"]]
        assert seen == [t.id for t in reversed(made)]
        assert second["next"] is None

    def test_an_administrator_sees_every_pod(self, api, mine, theirs, now):
        tickets_made = {
            contact_in(mine, now, email="m@example.com").id,
            contact_in(theirs, now, email="t@example.com").id,
        }
        api.force_authenticate(factories.admin_user())

        listed = api.get("/api/tickets/").json()["results"]

        assert {t["id"] for t in listed} == tickets_made

    def test_the_detail_holds_the_thread_in_order(self, api, mine, now):
        ticket = contact_in(mine, now, email="d@example.com", text="First words.")
        agent = member_of(mine)
        api.force_authenticate(agent.user)
        api.post(
            f"/api/tickets/{ticket.id}/messages/",
            {"kind": "note", "text": "Checking the warehouse."},
            format="json",
        )

        detail = api.get(f"/api/tickets/{ticket.id}/").json()

        assert detail["id"] == ticket.id
        assert [(m["direction"], m["text"]) for m in detail["messages"]] == [
            ("INBOUND", "First words."),
            ("NOTE", "Checking the warehouse."),
        ]
        assert detail["messages"][1]["author_agent_name"] == str(agent)

    def test_another_pods_ticket_does_not_exist_for_reading_or_writing(
        self, api, mine, theirs, now
    ):
        ticket = contact_in(theirs, now, email="secret@example.com")
        api.force_authenticate(member_of(mine).user)

        responses = [
            api.get(f"/api/tickets/{ticket.id}/"),
            api.post(
                f"/api/tickets/{ticket.id}/messages/",
                {"kind": "reply", "text": "Hello from the wrong pod."},
                format="json",
            ),
            api.get("/api/tickets/999999/"),
        ]

        assert [r.status_code for r in responses] == [404, 404, 404]
        assert responses[0].json() == responses[2].json()
        assert all("secret@example.com" not in r.content.decode() for r in responses)
        assert Message.objects.filter(ticket=ticket).count() == 1


@pytest.mark.django_db
class TestWriteOnTickets:
    def test_an_agent_replies_and_adds_a_note(self, api, mine, now):
        ticket = contact_in(mine, now, email="r@example.com")
        agent = member_of(mine)
        api.force_authenticate(agent.user)

        reply = api.post(
            f"/api/tickets/{ticket.id}/messages/",
            {"kind": "reply", "text": "It ships today."},
            format="json",
        )
        note = api.post(
            f"/api/tickets/{ticket.id}/messages/",
            {"kind": "note", "text": "Asked the warehouse."},
            format="json",
        )

        assert (reply.status_code, note.status_code) == (201, 201)
        assert (reply.json()["direction"], reply.json()["channel"]) == (
            "OUTBOUND",
            "EMAIL",
        )
        assert reply.json()["author_agent"] == agent.id
        assert note.json()["direction"] == "NOTE"
        ticket.refresh_from_db()
        assert ticket.first_response_at is not None

    def test_a_reply_the_ticket_cannot_take_is_a_409_with_the_reason(
        self, api, mine, now
    ):
        ticket = contact_in(mine, now, email="c@example.com")
        Ticket.objects.filter(id=ticket.id).update(status="CLOSED")
        api.force_authenticate(member_of(mine).user)

        refused = api.post(
            f"/api/tickets/{ticket.id}/messages/",
            {"kind": "reply", "text": "Too late."},
            format="json",
        )

        error = refused.json()["error"]
        assert refused.status_code == 409
        assert error["code"] == "reply_refused"
        assert "closed" in error["message"]
        assert not Message.objects.filter(direction="OUTBOUND").exists()

    def test_only_agents_write(self, api, mine, now):
        ticket = contact_in(mine, now, email="o@example.com")
        api.force_authenticate(factories.admin_user())  # sees all, is no agent

        refused = api.post(
            f"/api/tickets/{ticket.id}/messages/",
            {"kind": "note", "text": "From the back office."},
            format="json",
        )

        assert refused.status_code == 403
        assert Message.objects.filter(ticket=ticket).count() == 1

    def test_an_unknown_kind_is_a_400(self, api, mine, now):
        ticket = contact_in(mine, now, email="k@example.com")
        api.force_authenticate(member_of(mine).user)

        refused = api.post(
            f"/api/tickets/{ticket.id}/messages/",
            {"kind": "shout", "text": "HELLO"},
            format="json",
        )

        assert refused.status_code == 400
        assert "kind" in refused.json()["error"]["fields"]


@pytest.mark.django_db
class TestMoveAndMergeTickets:
    def test_an_agent_sets_pending_resumes_and_solves(self, api, mine, now):
        ticket = contact_in(mine, now, email="p@example.com")
        api.force_authenticate(member_of(mine).user)
        url = f"/api/tickets/{ticket.id}/status/"

        steps = [
            api.post(url, {"status": status}, format="json")
            for status in ("PENDING", "OPEN", "SOLVED")
        ]

        assert [step.status_code for step in steps] == [200, 200, 200]
        assert [step.json()["status"] for step in steps] == [
            "PENDING",
            "OPEN",
            "SOLVED",
        ]
        assert Ticket.objects.get(id=ticket.id).solved_at is not None

    def test_a_move_the_ticket_cannot_make_is_a_409(self, api, mine, now):
        ticket = contact_in(mine, now, email="m@example.com")
        api.force_authenticate(member_of(mine).user)

        refused = api.post(
            f"/api/tickets/{ticket.id}/status/", {"status": "OPEN"}, format="json"
        )

        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "transition_refused"

    def test_tickets_of_one_customer_merge(self, api, mine, now):
        first = contact_in(mine, now, email="twice@example.com")
        second = contact_in(mine, now, email="twice@example.com", subject="Again")
        api.force_authenticate(member_of(mine).user)

        merged = api.post(
            f"/api/tickets/{second.id}/merge/", {"into": first.id}, format="json"
        )

        assert merged.status_code == 200
        assert merged.json()["id"] == first.id
        second.refresh_from_db()
        assert (second.status, second.merged_into_id) == ("CLOSED", first.id)

    def test_another_pods_ticket_cannot_be_moved_or_merged_into(
        self, api, mine, theirs, now
    ):
        own = contact_in(mine, now, email="own@example.com")
        foreign = contact_in(theirs, now, email="foreign@example.com")
        api.force_authenticate(member_of(mine).user)

        moved = api.post(
            f"/api/tickets/{foreign.id}/status/", {"status": "SOLVED"}, format="json"
        )
        merged = api.post(
            f"/api/tickets/{own.id}/merge/", {"into": foreign.id}, format="json"
        )

        assert (moved.status_code, merged.status_code) == (404, 404)
        assert Ticket.objects.get(id=foreign.id).status != "SOLVED"
        assert Ticket.objects.get(id=own.id).merged_into_id is None


@pytest.mark.django_db
class TestCustomerTimeline:
    def test_every_message_of_every_ticket_and_channel_in_order(self, api, mine, now):
        web = contact_in(
            mine, now, email="tl@example.com", channel="WEB", text="From the form."
        )
        agent = member_of(mine)
        api.force_authenticate(agent.user)
        by_api = api.post(
            "/api/tickets/",
            {**BODY, "customer": {"email": "TL@example.com"}, "text": "By API."},
            format="json",
        ).json()
        api.post(
            f"/api/tickets/{web.id}/messages/",
            {"kind": "reply", "text": "Answer to the form."},
            format="json",
        )

        timeline = api.get(f"/api/customers/{web.customer_id}/timeline/").json()

        assert [
            (m["ticket"], m["channel"], m["direction"], m["text"])
            for m in timeline["results"]
        ] == [
            (web.id, "WEB", "INBOUND", "From the form."),
            (by_api["id"], "API", "INBOUND", "By API."),
            (web.id, "EMAIL", "OUTBOUND", "Answer to the form."),
        ]
        assert timeline["results"][1]["ticket_subject"] == "Order 1001 stuck"

    def test_the_timeline_pages_forward_in_constant_queries(
        self, api, mine, now, django_assert_num_queries
    ):
        ticket = contact_in(mine, now, email="long@example.com")
        agent = member_of(mine)
        for number in range(4):
            tickets.services.note_add(
                ticket=ticket, agent_id=agent.id, text=f"note {number}", now=now
            )
        expected = list(
            tickets.selectors.customer_timeline(customer_id=ticket.customer_id)
            .order_by("id")
            .values_list("id", flat=True)
        )

        api.force_authenticate(fresh(agent.user))
        # customer's pod, permissions (user, groups), home pod, page, attachments
        with django_assert_num_queries(6):
            first = api.get(
                f"/api/customers/{ticket.customer_id}/timeline/", {"page_size": 3}
            ).json()
        api.force_authenticate(fresh(agent.user))
        with django_assert_num_queries(6):
            second = api.get(first["next"]).json()

        seen = [m["id"] for m in first["results"] + second["results"]]
        assert seen == expected
        assert len(expected) == 5

    def test_another_pods_customer_does_not_exist(self, api, mine, theirs, now):
        ticket = contact_in(theirs, now, email="hidden@example.com")
        api.force_authenticate(member_of(mine).user)

        hidden = api.get(f"/api/customers/{ticket.customer_id}/timeline/")
        missing = api.get("/api/customers/999999/timeline/")

        assert hidden.status_code == missing.status_code == 404
        assert "hidden@example.com" not in hidden.content.decode()


@pytest.mark.django_db
class TestSearch:
    def test_a_word_in_a_message_body_finds_the_callers_tickets_only(
        self, api, mine, theirs, now
    ):
        found = contact_in(
            mine, now, email="s@example.com", text="The flux capacitor is noisy."
        )
        contact_in(mine, now, email="u@example.com", text="Nothing to see.")
        contact_in(theirs, now, email="v@example.com", text="My capacitor too.")
        api.force_authenticate(member_of(mine).user)

        results = api.get("/api/tickets/search/", {"q": "capacitor"}).json()

        assert [t["id"] for t in results["results"]] == [found.id]

    def test_a_blank_query_is_a_400(self, api, mine):
        api.force_authenticate(member_of(mine).user)

        refused = api.get("/api/tickets/search/", {"q": ""})

        assert refused.status_code == 400
        assert "q" in refused.json()["error"]["fields"]

    def test_search_reads_the_gin_index_of_message_text(self, api, mine, now):
        require_postgres()
        contact_in(mine, now, email="g@example.com", text="Gigawatts needed.")
        api.force_authenticate(member_of(mine).user)
        with CaptureQueriesContext(connection) as captured:
            api.get("/api/tickets/search/", {"q": "gigawatts"})
        search = next(
            query["sql"] for query in captured if "to_tsvector" in query["sql"]
        )

        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {search}")
            plan = "\n".join(row[0] for row in cursor.fetchall())

        assert "message_text_search" in plan


@pytest.mark.django_db
class TestSchema:
    def test_the_schema_documents_the_ticket_endpoints(self, api):
        api.force_authenticate(factories.user())

        paths = api.get(
            "/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json"
        ).json()["paths"]

        assert {
            "/api/tickets/",
            "/api/tickets/search/",
            "/api/tickets/{ticket_id}/",
            "/api/tickets/{ticket_id}/messages/",
            "/api/customers/{customer_id}/timeline/",
        } <= set(paths)
        create = paths["/api/tickets/"]["post"]
        assert {"200", "201", "202"} <= set(create["responses"])
        assert any(p["name"] == "Idempotency-Key" for p in create["parameters"])
