"""A mail provider posts raw email to /inbound/email/; only signed posts count."""

import pytest
from django.test import Client

from tests import factories
from tickets.models import InboundEnvelope, Message, WebhookSecret

pytestmark = pytest.mark.django_db

SECRET = "email-secret-2026"
URL = "/inbound/email/"


@pytest.fixture(autouse=True)
def secret(db):
    WebhookSecret.objects.create(channel="EMAIL", secret=SECRET)


@pytest.fixture
def pod(db):
    return factories.staffed_pod(size=2)


def post(client: Client, body: bytes, *, signature: str | None = "valid"):
    headers = {}
    if signature == "valid":
        headers["HTTP_X_HELPDESK_SIGNATURE"] = factories.signature(
            body=body, secret=SECRET
        )
    elif signature is not None:
        headers["HTTP_X_HELPDESK_SIGNATURE"] = signature
    return client.post(URL, data=body, content_type="message/rfc822", **headers)


class TestInboundEmailWebhook:
    def test_a_signed_email_is_accepted_and_becomes_a_ticket(
        self, client, pod, django_capture_on_commit_callbacks
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, factories.email_bytes(subject="Bill too high"))

        assert response.status_code == 202
        envelope = InboundEnvelope.objects.get(id=response.json()["envelope"])
        assert envelope.state == InboundEnvelope.State.PROCESSED
        assert envelope.ticket.subject == "Bill too high"

    @pytest.mark.parametrize(
        "signature",
        [None, "sha256=" + "0" * 64, "md5=abc", "sha256=", "garbage"],
    )
    def test_a_missing_or_wrong_signature_stores_nothing(self, client, pod, signature):
        response = post(client, factories.email_bytes(), signature=signature)

        assert response.status_code == 401
        assert response.json()["error"]["code"] == "bad_signature"
        assert not InboundEnvelope.objects.exists()
        assert not Message.objects.exists()

    def test_an_inactive_secret_no_longer_signs(self, client, pod):
        WebhookSecret.objects.update(active=False)

        response = post(client, factories.email_bytes())

        assert response.status_code == 401
        assert not InboundEnvelope.objects.exists()

    def test_a_redelivery_is_answered_without_storing_again(
        self, client, pod, django_capture_on_commit_callbacks
    ):
        body = factories.email_bytes()
        with django_capture_on_commit_callbacks(execute=True):
            first = post(client, body)
            again = post(client, body)

        assert (first.status_code, again.status_code) == (202, 200)
        assert again.json()["duplicate"] is True
        assert InboundEnvelope.objects.count() == 1
        assert Message.objects.count() == 1

    def test_an_empty_body_is_refused_and_kept_as_failed(self, client, pod):
        response = post(client, b"   ")

        assert response.status_code == 400
        assert response.json()["error"]["message"] == "the body is empty"
        envelope = InboundEnvelope.objects.get()
        assert envelope.state == InboundEnvelope.State.FAILED

    def test_a_body_over_the_limit_is_refused_unread(self, client, pod, settings):
        settings.HELPDESK = {**settings.HELPDESK, "MAX_INBOUND_BYTES": 1000}

        response = post(client, factories.email_bytes(body="x" * 5000))

        assert response.status_code == 413
        assert not InboundEnvelope.objects.exists()

    def test_get_is_not_allowed(self, client):
        assert client.get(URL).status_code == 405
