"""The chat widget on the customer portal starts chats as the signed-in
customer: the portal layout signs a short-lived identity token into the
widget's script tag, and POST /chat/session/ with that token opens the chat for
that customer (their pod, their agent), whatever name or email comes with it.
A token that is expired, tampered with or signed for anything else is refused
with 400 and nothing is stored; without a token, chats stay anonymous.

Customers A and B live in different pods, each with their own agent; whatever
A's page or token does, nothing of B's is read or changed."""

import html
import json
import re
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core import signing
from django.test import Client
from django.utils import timezone

import tickets.services
from helpdesk.asgi import application
from pods.models import Customer, CustomerIdentity
from tests import factories
from tickets import rules
from tickets.models import ChatSession, InboundEnvelope, Message, Ticket
from tickets.views import chat as chat_views

HOST = "127.0.0.1"
ORIGIN = f"http://{HOST}"
TIMEOUT = 5  # seconds for one websocket frame
WIDGET_TAG = re.compile(r"<script[^>]*chat/widget[^>]*>")


def fresh_address() -> str:
    """An address no earlier run used: the chat start limit counts per address
    in the shared cache (Redis on the real stack outlives a test)."""
    number = uuid.uuid4().int
    return f"10.{number % 250}.{number // 250 % 250}.{number // 62500 % 250}"


def customer(*, pod, name: str, email: str, agent=None) -> Customer:
    """A known customer of the pod with an email identity; `agent` is the one
    who answered them before."""
    now = timezone.now()
    made = Customer.objects.create(
        pod=pod, primary_agent=agent, display_name=name, created_at=now
    )
    CustomerIdentity.objects.create(
        customer=made, kind="EMAIL", value=email, created_at=now
    )
    return made


def email_identity(of: Customer) -> CustomerIdentity:
    return CustomerIdentity.objects.get(customer=of, kind="EMAIL")


def portal_browser(of: Customer) -> Client:
    """A browser signed in to the portal as the customer (the session keys the
    one-time link's redemption writes)."""
    client = Client(REMOTE_ADDR=fresh_address(), HTTP_HOST=HOST)
    session = client.session
    session["portal_customer_id"] = of.id
    session["portal_identity_id"] = email_identity(of).id
    session["portal_expires_at"] = time.time() + 3600
    session.save()
    return client


def widget_attributes(page: str) -> dict[str, str]:
    """The data attributes of the widget's script tag on a page ({} without one)."""
    tags = WIDGET_TAG.findall(page)
    if not tags:
        return {}
    assert len(tags) == 1, tags
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'data-([a-z-]+)="([^"]*)"', tags[0])
    }


def page_token(of: Customer) -> str:
    """The identity token the customer's portal overview hands the widget."""
    response = portal_browser(of).get("/portal/")
    assert response.status_code == 200
    return widget_attributes(response.content.decode())["identity"]


def chat_start(**body) -> tuple[int, dict]:
    """POST /chat/session/ as the widget does (no cookies)."""
    response = Client(REMOTE_ADDR=fresh_address()).post(
        "/chat/session/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_HOST=HOST,
        HTTP_ORIGIN=ORIGIN,
    )
    return response.status_code, response.json()


def say(public_id: str, text: str) -> Message:
    return tickets.services.chat_message_receive(
        public_id=public_id, client_id=uuid.uuid4().hex, text=text, now=timezone.now()
    ).message


def signed_at(payload, *, salt: str, seconds_ago: int) -> str:
    """A token signed `seconds_ago` (as the page would have signed it then)."""

    class Then(signing.TimestampSigner):
        def timestamp(self):
            return signing.b62_encode(int(time.time()) - seconds_ago)

    return Then(salt=salt).sign_object(payload)


def rows() -> dict[str, list]:
    """Everything a chat start or a chat message could create or change."""
    return {
        "sessions": list(ChatSession.objects.values().order_by("id")),
        "customers": list(Customer.objects.values().order_by("id")),
        "identities": list(CustomerIdentity.objects.values().order_by("id")),
        "tickets": list(Ticket.objects.values().order_by("id")),
        "messages": list(Message.objects.values_list("id", "ticket_id", "text")),
        "envelopes": InboundEnvelope.objects.count(),
    }


@pytest.fixture
def world(db):
    """A in pod Mercury (answered before by Ada), B in pod Venus (by Bea)."""
    mercury = factories.staffed_pod(size=3, name="Mercury")
    venus = factories.staffed_pod(size=3, name="Venus")
    ada = factories.agent(pod=mercury)
    bea = factories.agent(pod=venus)
    return {
        "mercury": mercury,
        "venus": venus,
        "ada": ada,
        "bea": bea,
        "a": customer(pod=mercury, name="Ann A", email="ann@a.example", agent=ada),
        "b": customer(pod=venus, name="Bob B", email="bob@b.example", agent=bea),
    }


@pytest.mark.django_db
class TestThePortalPageVouchesForTheCustomer:
    def test_the_widget_tag_carries_a_fresh_identity_token_for_the_signed_in_customer(
        self, world
    ):
        a = world["a"]

        page = portal_browser(a).get("/portal/").content.decode()

        attributes = widget_attributes(page)
        assert signing.loads(
            attributes["identity"],
            salt=rules.PORTAL_CHAT_TOKEN_SALT,
            max_age=rules.PORTAL_CHAT_TOKEN_MAX_AGE,
        ) == {"customer": a.id, "identity": email_identity(a).id}
        assert attributes["owner"] == chat_views.portal_chat_owner(customer_id=a.id)
        assert attributes["intro"]
        # Strict CSP: the token travels in attributes, never in an inline script.
        assert not re.findall(r"<script(?![^>]*\bsrc=)", page)

    def test_a_page_without_a_signed_in_customer_has_no_token(self, world):
        anonymous = Client(HTTP_HOST=HOST)

        sign_in = anonymous.get("/portal/sign-in/")
        overview = anonymous.get("/portal/")

        assert sign_in.status_code == 200
        assert "portal" in sign_in.content.decode()
        assert "data-identity" not in sign_in.content.decode()
        assert widget_attributes(sign_in.content.decode()) == {}
        assert overview.status_code == 302  # to the sign-in page, no page at all

    def test_a_sign_in_that_lapsed_renders_no_token(self, world):
        browser = portal_browser(world["a"])
        session = browser.session
        session["portal_expires_at"] = time.time() - 1
        session.save()

        page = browser.get("/portal/sign-in/").content.decode()

        assert "data-identity" not in page

    def test_each_customer_has_their_own_owner_mark(self, world):
        a, b = world["a"], world["b"]

        mark_a = chat_views.portal_chat_owner(customer_id=a.id)

        assert mark_a == chat_views.portal_chat_owner(customer_id=a.id)
        assert mark_a != chat_views.portal_chat_owner(customer_id=b.id)


@pytest.mark.django_db
class TestASignedInCustomerStartsAChat:
    def test_opens_the_chat_for_them_in_their_pod_with_their_agent(self, world):
        a, b = world["a"], world["b"]
        customers_before = Customer.objects.count()

        status, body = chat_start(
            identity=page_token(a), name="Mallory", email="bob@b.example"
        )

        assert status == 201, body
        session = ChatSession.objects.get(public_id=body["session"])
        # The name and email sent with the token are ignored: the token decides.
        assert (session.customer_id, session.visitor_name, session.visitor_email) == (
            a.id,
            "Ann A",
            "ann@a.example",
        )
        assert (body["email"], body["email_needed"]) == ("ann@a.example", False)
        message = say(body["session"], "Where is my parcel?")
        ticket = Ticket.objects.get(id=message.ticket_id)
        assert (ticket.customer_id, ticket.pod_id, ticket.assignee_id) == (
            a.id,
            world["mercury"].id,
            world["ada"].id,
        )
        assert Customer.objects.count() == customers_before
        assert not Ticket.objects.filter(customer=b).exists()
        # The visitor token it answers opens this session's socket, as any chat's.
        assert (
            signing.TimestampSigner(salt=rules.VISITOR_TOKEN_SALT).unsign(
                body["token"], max_age=rules.VISITOR_TOKEN_MAX_AGE
            )
            == body["session"]
        )

    def test_a_merged_customers_chat_goes_to_the_customer_they_joined(self, world):
        a, b = world["a"], world["b"]
        token = page_token(b)
        # B merged into A after the page rendered: B's identity moved to A.
        Customer.objects.filter(id=b.id).update(merged_into=a)
        Customer.objects.filter(id=a.id).update(absorbed_ids=[b.id])
        CustomerIdentity.objects.filter(customer=b).update(customer=a)

        status, body = chat_start(identity=token)

        assert status == 201, body
        session = ChatSession.objects.get(public_id=body["session"])
        assert (session.customer_id, session.visitor_email) == (a.id, "bob@b.example")


@pytest.mark.django_db
class TestABadIdentityTokenIsRefused:
    @pytest.mark.parametrize(
        ("case", "code"),
        [
            ("expired", "identity_expired"),
            ("tampered", "identity_invalid"),
            ("another salt", "identity_invalid"),
            ("a visitor token", "identity_invalid"),
            ("garbage", "identity_invalid"),
            ("ids that are not numbers", "identity_invalid"),
        ],
    )
    def test_with_400_and_a_clear_message_storing_nothing(self, world, case, code):
        a = world["a"]
        ids = {"customer": a.id, "identity": email_identity(a).id}
        fresh = page_token(a)
        _, stamp, signature = fresh.split(":")
        tokens = {
            "expired": signed_at(
                ids,
                salt=rules.PORTAL_CHAT_TOKEN_SALT,
                seconds_ago=rules.PORTAL_CHAT_TOKEN_MAX_AGE + 60,
            ),
            # B's customer id written over A's, keeping A's signature.
            "tampered": ":".join(
                [
                    signing.b64_encode(
                        json.dumps(
                            {"customer": world["b"].id, "identity": ids["identity"]},
                            separators=(",", ":"),
                        ).encode()
                    ).decode(),
                    stamp,
                    signature,
                ]
            ),
            "another salt": signing.dumps(ids, salt="pods.portal.other"),
            "a visitor token": signing.TimestampSigner(
                salt=rules.VISITOR_TOKEN_SALT
            ).sign_object(ids),
            "garbage": "not-a-token",
            "ids that are not numbers": signing.dumps(
                {"customer": str(a.id), "identity": True},
                salt=rules.PORTAL_CHAT_TOKEN_SALT,
            ),
        }
        before = rows()

        status, body = chat_start(identity=tokens[case], name="Ann", email="x@y.z")

        assert status == 400
        assert body["error"]["code"] == code
        assert "chat as you" in body["error"]["message"]
        assert body["error"]["fields"]["identity"]
        assert rows() == before

    def test_an_identity_no_longer_theirs_is_refused_storing_nothing(self, world):
        a, b = world["a"], world["b"]
        token = page_token(a)
        # Staff moved the address to B after the page rendered.
        email_identity(a).delete()
        CustomerIdentity.objects.create(
            customer=b, kind="EMAIL", value="ann@a.example", created_at=timezone.now()
        )
        before = rows()

        status, body = chat_start(identity=token)

        assert status == 400
        assert body["error"]["code"] == "identity_unknown"
        assert body["error"]["message"]
        assert rows() == before

    def test_an_identity_that_is_not_a_string_is_malformed(self, world):
        before = rows()

        status, body = chat_start(identity=12)

        assert (status, body["error"]["code"]) == (400, "malformed")
        assert rows() == before


@pytest.mark.django_db
class TestWithoutATokenChatsStayAnonymous:
    @pytest.mark.parametrize("extra", [{}, {"identity": ""}, {"identity": None}])
    def test_as_before(self, world, extra):
        status, body = chat_start(name="Carol", email="Carol@C.example", **extra)

        assert status == 201, body
        session = ChatSession.objects.get(public_id=body["session"])
        assert (session.customer_id, session.visitor_name, session.visitor_email) == (
            None,
            "Carol",
            "carol@c.example",
        )

    def test_an_anonymous_chat_typing_a_customers_address_starts_a_new_ticket(
        self, world
    ):
        a = world["a"]
        earlier = say(chat_start(identity=page_token(a))[1]["session"], "Mine")

        status, body = chat_start(name="Stranger", email="ann@a.example")
        message = say(body["session"], "Let me in")

        assert status == 201
        session = ChatSession.objects.get(public_id=body["session"])
        assert session.visitor_name == "Stranger"
        assert message.ticket_id != earlier.ticket_id


@pytest.mark.django_db
class TestAnotherCustomersTokenChangesNothingOfB:
    def test_a_token_of_a_on_bs_page_starts_as_a_and_leaves_b_alone(self, world):
        a, b = world["a"], world["b"]
        b_started = chat_start(identity=page_token(b))[1]
        b_message = say(b_started["session"], "Bob's private words")
        before = {
            "b sessions": list(ChatSession.objects.filter(customer=b).values()),
            "b tickets": list(Ticket.objects.filter(customer=b).values()),
            "b messages": list(
                Message.objects.filter(ticket__customer=b).values_list("id", "text")
            ),
            "b identities": list(CustomerIdentity.objects.filter(customer=b).values()),
        }

        status, body = chat_start(identity=page_token(a))
        message = say(body["session"], "Ann's words")

        assert status == 201
        assert ChatSession.objects.get(public_id=body["session"]).customer_id == a.id
        assert message.ticket_id != b_message.ticket_id
        assert Ticket.objects.get(id=message.ticket_id).customer_id == a.id
        assert before == {
            "b sessions": list(ChatSession.objects.filter(customer=b).values()),
            "b tickets": list(Ticket.objects.filter(customer=b).values()),
            "b messages": list(
                Message.objects.filter(ticket__customer=b).values_list("id", "text")
            ),
            "b identities": list(CustomerIdentity.objects.filter(customer=b).values()),
        }


def visitor_socket(token: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        application,
        f"/ws/chat/?token={token}",
        headers=[(b"origin", ORIGIN.encode()), (b"host", HOST.encode())],
    )


@pytest.mark.django_db(transaction=True)
class TestAnotherCustomersChatCannotBeRead:
    def test_a_token_for_a_never_opens_or_shows_bs_chat(self, world):
        a, b = world["a"], world["b"]
        b_started = chat_start(identity=page_token(b))[1]
        b_message = say(b_started["session"], "Bob's private words")
        tickets.services.message_reply(
            ticket=Ticket.objects.get(id=b_message.ticket_id),
            agent_id=world["bea"].id,
            text="Bea's answer to Bob",
            now=timezone.now(),
        )
        a_identity = page_token(a)
        a_started = chat_start(identity=a_identity)[1]
        say(a_started["session"], "Ann's question")
        # A's identity token signed for B's session id: still not a visitor token.
        forged = signing.dumps(
            {"customer": a.id, "session": b_started["session"]},
            salt=rules.PORTAL_CHAT_TOKEN_SALT,
        )

        async def scenario():
            refused = {}
            for name, token in {"identity": a_identity, "forged": forged}.items():
                socket = visitor_socket(token)
                refused[name] = await socket.connect()
                await socket.disconnect()
            socket = visitor_socket(a_started["token"])
            connected, _ = await socket.connect()
            hello = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.send_json_to({"type": "history", "after": 0})
            history = await socket.receive_json_from(timeout=TIMEOUT)
            await socket.disconnect()
            return refused, connected, hello, history

        refused, connected, hello, history = async_to_sync(scenario)()

        assert refused == {"identity": (False, 4401), "forged": (False, 4401)}
        assert connected
        assert hello["email"] == "ann@a.example"
        texts = [message["text"] for message in history["messages"]]
        assert texts == ["Ann's question"]
        shown = json.dumps(history)
        assert "Bob" not in shown
        assert "Bea" not in shown


def test_the_token_lives_ten_minutes():
    assert rules.PORTAL_CHAT_TOKEN_MAX_AGE == 10 * 60
    assert timedelta(seconds=rules.PORTAL_CHAT_TOKEN_MAX_AGE) < timedelta(
        seconds=rules.VISITOR_TOKEN_MAX_AGE
    )
