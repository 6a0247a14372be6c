"""Passwordless sign-in to the customer portal (issue 8; reliability T22-T24).

A one-time link goes to a known email identity only, with the same answer for
every address; it works once, expires, is superseded by a newer one, and is
used by a POST from its page (a GET changes nothing). Requests are limited per
address (silently) and per client address (429 with Retry-After), counted in
the database. The token comes from `secrets` and only its sha256 is stored.
Signing in rotates the session key; staff and portal sign-ins never mix."""

import hashlib
import inspect
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import pods.selectors
import pods.services
import pods.tasks
from pods.models import CustomerIdentity, PortalLink, PortalLinkRequest
from tests import factories

pytestmark = pytest.mark.django_db

KNOWN = "Minji.Kim@Customer.example"
LINK_PATH = re.compile(r"https?://[^/\s]+(/portal/link/([A-Za-z0-9_-]+)/)")


@pytest.fixture
def pod():
    return factories.staffed_pod(size=2, name="Mercury")


@pytest.fixture
def customer(pod, now):
    found = pods.services.customer_identify(
        identities=[("EMAIL", "minji.kim@customer.example")],
        display_name="Minji Kim",
        now=now,
    )
    return found.customer_id


@pytest.fixture
def ask(client, django_capture_on_commit_callbacks):
    """POST the sign-in form (its emails sent at commit, as in production)."""

    def post(email: str, *, who: Client | None = None, ip: str = "198.51.100.7"):
        with django_capture_on_commit_callbacks(execute=True):
            return (who or client).post(
                reverse("portal-sign-in"), {"email": email}, REMOTE_ADDR=ip
            )

    return post


def link_of(message) -> tuple[str, str]:
    """The link's path on this site and its token, from an email."""
    found = LINK_PATH.search(message.body)
    assert found, message.body
    return found.group(1), found.group(2)


def sign_in_with(client: Client, path: str):
    return client.post(path)


# --- Asking for a link: no enumeration -------------------------------------------


def test_a_known_address_gets_a_link_and_an_unknown_one_the_same_answer(
    customer, ask, client
):
    known = ask(KNOWN)
    unknown = ask("nobody@nowhere.example")

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["minji.kim@customer.example"]
    assert (known.status_code, known["Location"]) == (
        unknown.status_code,
        unknown["Location"],
    )
    assert known.status_code == 302
    page = client.get(known["Location"])
    assert page.templates[0].name == "portal/sign_in.html"
    assert "If that address is known to us, a sign-in link is on its way" in (
        page.content.decode()
    )
    assert PortalLink.objects.count() == 1


def test_a_bad_address_is_a_form_error_and_sends_nothing(customer, ask):
    response = ask("not an address")

    assert response.status_code == 400
    assert "Enter a valid email address" in response.content.decode()
    assert mail.outbox == []
    assert PortalLink.objects.count() == 0


def test_the_email_carries_an_absolute_link_and_says_how_long_it_works(customer, ask):
    ask(KNOWN)

    message = mail.outbox[0]
    assert message.subject == "Your sign-in link"
    assert message.from_email == settings.HELPDESK["REPLY_ADDRESS"]
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    public = settings.HELPDESK["PUBLIC_URL"].rstrip("/")
    path, _ = link_of(message)
    assert f"{public}{path}" in message.body
    assert "Hello Minji Kim," in message.body
    assert "for 15 minutes" in message.body


def test_the_link_is_asked_for_in_the_browsers_language(
    customer, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("portal-sign-in"),
            {"email": KNOWN},
            HTTP_ACCEPT_LANGUAGE="ko",
        )

    assert PortalLink.objects.get().language == "ko"
    assert len(mail.outbox) == 1


# --- Redeeming: GET shows, POST signs in, once ---------------------------------------


def test_opening_the_link_does_not_sign_in_and_its_button_does(customer, ask, client):
    ask(KNOWN)
    path, _ = link_of(mail.outbox[0])

    shown = client.get(path)
    assert shown.status_code == 200
    assert "portal/sign_in_link.html" in [t.name for t in shown.templates]
    assert PortalLink.objects.get().used_at is None
    assert client.get(reverse("portal-home")).status_code == 302

    signed_in = sign_in_with(client, path)
    assert signed_in.status_code == 302
    assert signed_in["Location"] == reverse("portal-home")
    home = client.get(reverse("portal-home"))
    assert home.status_code == 200
    assert "Hello, Minji Kim" in home.content.decode()
    assert client.session["portal_customer_id"] == customer
    assert PortalLink.objects.get().used_at is not None


def test_a_link_works_once(customer, ask, client):
    ask(KNOWN)
    path, _ = link_of(mail.outbox[0])
    assert sign_in_with(client, path).status_code == 302

    again = sign_in_with(Client(), path)
    shown = Client().get(path)

    for refused in (again, shown):
        assert refused.status_code == 410
        body = refused.content.decode()
        assert "This link has expired or was used" in body
        assert 'name="email"' in body  # the form to ask for a new one


def test_an_expired_link_is_refused(
    customer, client, now, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        pods.services.portal_link_request(
            email=KNOWN, requester_ip="198.51.100.7", now=now - timedelta(minutes=16)
        )
    path, token = link_of(mail.outbox[0])

    with pytest.raises(pods.services.PortalLinkInvalid):
        pods.services.portal_link_redeem(token=token, now=now)
    assert client.get(path).status_code == 410
    assert sign_in_with(client, path).status_code == 410
    assert "portal_customer_id" not in client.session
    # Still good a minute before it expires: the expiry is the cause.
    signed = pods.services.portal_link_redeem(
        token=token, now=now - timedelta(minutes=2)
    )
    assert signed.customer_id == customer


def test_a_newer_link_supersedes_the_older_one(customer, ask, client):
    ask(KNOWN)
    ask(KNOWN)
    (older, _), (newer, _) = (link_of(m) for m in mail.outbox)

    assert sign_in_with(client, older).status_code == 410
    assert sign_in_with(client, newer).status_code == 302
    assert client.session["portal_customer_id"] == customer


def test_an_unknown_or_overlong_token_is_refused_without_error(customer, client):
    for token in ("x" * 43, "y" * 500):
        assert client.get(reverse("portal-link", args=[token])).status_code == 410
        assert client.post(reverse("portal-link", args=[token])).status_code == 410


# --- Limits: per address silently, per client address with 429 ---------------------


def test_an_address_gets_three_links_an_hour_and_the_same_answer_after(customer, ask):
    answers = [ask(KNOWN) for _ in range(4)]

    assert len(mail.outbox) == 3
    assert {(a.status_code, a["Location"]) for a in answers} == {
        (302, reverse("portal-sign-in") + "?sent=1")
    }
    assert PortalLink.objects.count() == 3


def test_an_address_gets_links_again_after_the_hour(customer, now):
    for minutes in (0, 1, 2, 3):
        pods.services.portal_link_request(
            email=KNOWN, requester_ip=f"198.51.100.{minutes}", now=now
        )
    assert PortalLink.objects.count() == 3
    assert pods.services.portal_link_request(
        email=KNOWN, requester_ip="198.51.100.9", now=now + timedelta(minutes=61)
    )
    assert PortalLink.objects.count() == 4


def test_a_client_address_over_its_limit_gets_429_with_retry_after(customer, ask):
    for number in range(10):
        assert ask(f"someone{number}@nowhere.example").status_code == 302

    limited = ask(KNOWN)
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 15 * 60
    assert "Too many sign-in links were asked for from here" in (
        limited.content.decode()
    )
    assert mail.outbox == []  # the known address got nothing while limited
    # Refused requests are not written: a flood cannot grow the table.
    assert PortalLinkRequest.objects.count() == 10
    # Another client address is not limited by this one.
    assert ask(KNOWN, ip="203.0.113.50").status_code == 302
    assert len(mail.outbox) == 1


def test_a_spoofed_forwarded_for_does_not_escape_the_limit(customer, client):
    for number in range(11):
        response = client.post(
            reverse("portal-sign-in"),
            {"email": f"someone{number}@nowhere.example"},
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{number}",
        )
    assert response.status_code == 429


def test_the_client_address_limit_ends_with_its_window(customer, now):
    for number in range(10):
        pods.services.portal_link_request(
            email=f"x{number}@nowhere.example", requester_ip="198.51.100.7", now=now
        )
    with pytest.raises(pods.services.PortalRateLimited) as limited:
        pods.services.portal_link_request(
            email=KNOWN, requester_ip="198.51.100.7", now=now + timedelta(minutes=5)
        )
    assert limited.value.retry_after == 10 * 60
    assert pods.services.portal_link_request(
        email=KNOWN, requester_ip="198.51.100.7", now=now + timedelta(minutes=15)
    )


# --- Tokens: secrets, 256 bits, only their hash kept ----------------------------------


def test_the_token_is_random_and_only_its_hash_is_stored(customer, ask):
    ask(KNOWN)
    ask(KNOWN)
    tokens = [link_of(m)[1] for m in mail.outbox]

    assert len(set(tokens)) == 2
    for token in tokens:
        # token_urlsafe(32): 32 random bytes, 43 characters of base64url.
        assert len(token) == 43
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    stored = list(PortalLink.objects.values_list("token_hash", flat=True))
    assert sorted(stored) == sorted(
        hashlib.sha256(token.encode()).hexdigest() for token in tokens
    )
    for row in PortalLink.objects.values():
        assert not any(
            token in str(value) for value in row.values() for token in tokens
        )


def test_token_code_uses_secrets_and_no_weak_hash():
    source = inspect.getsource(pods.services.portal_link_request)
    assert "secrets.token_urlsafe(PORTAL_TOKEN_BYTES)" in source
    assert pods.services.PORTAL_TOKEN_BYTES * 8 >= 128
    portal_code = "".join(
        inspect.getsource(function)
        for function in (
            pods.services.portal_link_request,
            pods.services.portal_link_redeem,
            pods.services.portal_requester_hash,
            pods.selectors.portal_token_hash,
        )
    )
    assert not re.search(r"md5|sha1\b|random\.|uuid", portal_code)


# --- Sessions ----------------------------------------------------------------------


def test_signing_in_rotates_the_session_key(customer, ask, client):
    client.get(reverse("portal-sign-in"))
    client.session.save()
    ask(KNOWN)
    path, _ = link_of(mail.outbox[0])
    client.get(path)
    before = client.session.session_key
    assert before

    sign_in_with(client, path)
    after = client.session.session_key
    assert after != before
    assert client.session["portal_customer_id"] == customer


def test_signing_out_ends_the_portal_session(customer, ask, client):
    ask(KNOWN)
    path, _ = link_of(mail.outbox[0])
    sign_in_with(client, path)
    key = client.session.session_key

    assert client.get(reverse("portal-sign-out")).status_code == 405
    assert client.get(reverse("portal-home")).status_code == 200
    out = client.post(reverse("portal-sign-out"))

    assert out.status_code == 302
    assert out["Location"] == reverse("portal-sign-in")
    assert "portal_customer_id" not in client.session
    assert client.session.session_key != key
    assert client.get(reverse("portal-home"))["Location"] == reverse("portal-sign-in")


def test_a_portal_sign_in_ends_with_its_lifetime(customer, ask, client):
    ask(KNOWN)
    sign_in_with(client, link_of(mail.outbox[0])[0])
    session = client.session
    session["portal_expires_at"] = timezone.now().timestamp() - 1
    session.save()

    assert client.get(reverse("portal-home")).status_code == 302
    assert "portal_customer_id" not in client.session


def test_a_removed_email_identity_ends_the_portal_session(customer, ask, client):
    ask(KNOWN)
    sign_in_with(client, link_of(mail.outbox[0])[0])
    CustomerIdentity.objects.filter(customer_id=customer).delete()

    assert client.get(reverse("portal-home")).status_code == 302
    assert "portal_customer_id" not in client.session


def test_every_portal_post_needs_the_csrf_token(customer, ask):
    ask(KNOWN)
    path, _ = link_of(mail.outbox[0])
    strict = Client(enforce_csrf_checks=True)

    assert strict.post(reverse("portal-sign-in"), {"email": KNOWN}).status_code == 403
    assert strict.post(path).status_code == 403
    assert strict.post(reverse("portal-sign-out")).status_code == 403
    assert PortalLink.objects.get().used_at is None
    assert len(mail.outbox) == 1


# --- Merges, and staff apart from customers ---------------------------------------


def test_a_merged_customers_link_signs_in_the_survivor(pod, customer, ask, now):
    duplicate = pods.services.customer_identify(
        identities=[("EMAIL", "minji@work.example")], display_name="M. Kim", now=now
    ).customer_id
    # Asked for before the merge, used after it.
    early = Client()
    ask("minji@work.example", who=early)
    pods.services.customer_merge(source_id=duplicate, target_id=customer, now=now)
    assert sign_in_with(early, link_of(mail.outbox[0])[0]).status_code == 302
    # Asked for after the merge: the identity now belongs to the survivor.
    late = Client()
    ask("MINJI@work.example", who=late, ip="203.0.113.9")
    assert sign_in_with(late, link_of(mail.outbox[1])[0]).status_code == 302

    for who in (early, late):
        assert who.session["portal_customer_id"] == customer
        assert "Hello, Minji Kim" in who.get(reverse("portal-home")).content.decode()


def test_staff_are_not_portal_customers_and_customers_are_not_staff(
    pod, customer, ask, client
):
    staff = Client()
    staff.force_login(factories.agent(pod=pod, username="ana").user)
    assert staff.get(reverse("queue")).status_code == 200
    assert staff.get(reverse("portal-home"))["Location"] == reverse("portal-sign-in")

    ask(KNOWN)
    sign_in_with(client, link_of(mail.outbox[0])[0])
    assert client.get(reverse("portal-home")).status_code == 200
    queue = client.get(reverse("queue"))
    assert queue.status_code == 302
    assert queue["Location"].startswith(reverse("login"))
    assert client.get(reverse("home")).status_code == 302


def test_the_portal_page_is_built_for_a_strict_csp(customer, ask, client):
    ask(KNOWN)
    sign_in_with(client, link_of(mail.outbox[0])[0])
    body = client.get(reverse("portal-home")).content.decode()

    assert 'href="#main"' in body
    assert 'id="main"' in body
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body)  # no inline script
    assert "<style" not in body
    assert "style=" not in body
    assert reverse("portal-sign-out") in body
    assert "https://" not in body.split("<body", 1)[0]  # no CDN in the head


def test_the_sign_in_views_keep_the_documented_names():
    for name, path in (
        ("portal-home", "/portal/"),
        ("portal-sign-in", "/portal/sign-in/"),
        ("portal-sign-out", "/portal/sign-out/"),
    ):
        assert reverse(name) == path
    assert reverse("portal-link", args=["abc"]) == "/portal/link/abc/"


def test_old_links_and_requests_are_pruned_and_recent_ones_kept(customer, now):
    for days in (40, 0):
        pods.services.portal_link_request(
            email=KNOWN, requester_ip="198.51.100.7", now=now - timedelta(days=days)
        )
    assert (PortalLink.objects.count(), PortalLinkRequest.objects.count()) == (2, 2)

    assert pods.services.portal_links_prune(now=now) == 2

    assert PortalLink.objects.get().created_at == now
    assert PortalLinkRequest.objects.get().requested_at == now
    beat = settings.CELERY_BEAT_SCHEDULE["prune-portal-links"]
    assert beat["task"] == pods.tasks.prune_portal_links.name
    assert pods.tasks.prune_portal_links() == 0
