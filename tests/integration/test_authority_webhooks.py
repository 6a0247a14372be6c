"""The billing webhook against a real HTTP receiver on 127.0.0.1 (reliability
T13): a receiver that fails, or applies and then drops the line, is retried
with backoff until it answers 2xx; every post carries the same Idempotency-Key
and a valid signature, so the receiver applies the grant once and the ledger
holds it once; every attempt is logged; a redirect is not followed; after the
last attempt the delivery is FAILED and no longer swept."""

import hmac
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

import authority.services
from authority import outbound, rules
from authority.models import Grant, LedgerEntry, WebhookAttempt, WebhookDelivery
from authority.tasks import sweep_webhooks
from tests import factories
from tests.conftest import require_postgres
from tests.integration.test_authority_concurrency import (
    customers_of,
    refund_action,
    rule,
)

pytestmark = pytest.mark.django_db

SIGNATURE_TOLERANCE_SECONDS = 300
PENDING = WebhookDelivery.State.PENDING


class Receiver:
    """A billing system stub: verifies the signature, applies each
    Idempotency-Key once, and answers the first `failures` posts badly (500,
    or by hanging up after applying: the answer lost on the way back)."""

    def __init__(self) -> None:
        self.failures = 0
        self.failure = "500"
        self.delay = 0.0
        self.posts: list[dict] = []
        self.applied: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def paths(self) -> list[str]:
        return [post["path"] for post in self.posts]

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.receive(
                    path=self.path, headers=self.headers, body=body
                )
                time.sleep(receiver.delay)
                if answer is None:
                    return  # hang up without a word
                self.send_response(answer)
                if answer == 302:
                    self.send_header("Location", f"{receiver.url}/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler

    def receive(self, *, path: str, headers, body: bytes) -> int | None:
        key = headers.get("Idempotency-Key", "")
        with self.lock:
            self.posts.append(
                {
                    "path": path,
                    "key": key,
                    "signed": signature_valid(headers=headers, body=body),
                    "payload": json.loads(body or b"{}"),
                }
            )
            if path == "/redirect":
                return 302
            if self.posts[-1]["signed"] and key and key not in self.applied:
                self.applied[key] = self.posts[-1]["payload"]
            if len(self.posts) <= self.failures:
                return None if self.failure == "hang up" else 500
            return 200


def signature_valid(*, headers, body: bytes) -> bool:
    """The receiver's side of X-Helpdesk-Signature: t=<unix>,v1=<hex>."""
    parts = dict(
        part.split("=", 1)
        for part in headers.get("X-Helpdesk-Signature", "").split(",")
        if "=" in part
    )
    try:
        stamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = rules.webhook_signature(
        body=body, key=outbound.webhook_secret(), timestamp=stamp
    )
    fresh = abs(time.time() - stamp) <= SIGNATURE_TOLERANCE_SECONDS
    return fresh and hmac.compare_digest(expected, parts.get("v1", ""))


@pytest.fixture
def receiver():
    made = Receiver()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def pod():
    return factories.staffed_pod(size=2, name="Billing")


def granted_with_webhook(
    *, pod, url: str, now, capture, amount: str = "25"
) -> tuple[Grant, WebhookDelivery]:
    """A refund granted by an agent, its webhook's first attempt made on
    commit (tasks run inline in tests)."""
    refund = refund_action(now=now, webhook_url=url)
    rule(refund, stage=2, now=now, max_per_grant=Decimal("50"))
    (customer,) = customers_of(pod, 1, now=now - timedelta(days=400))
    with capture(execute=True):
        asked = authority.services.authority_ask(
            actor=authority.services.actor_for_user(user=pod.lead.user),
            action_code=refund.code,
            amount=amount,
            customer_id=customer,
            ticket_id=None,
            idempotency_key="refund-1",
            now=now,
        )
    grant = Grant.objects.get(request=asked.request)
    return grant, WebhookDelivery.objects.get(grant=grant)


def next_attempt_when_due(delivery: WebhookDelivery) -> str:
    """Wait for the backoff (by asking what is due then, not by sleeping) and
    run the delivery task, as the sweep would."""
    due_at = delivery.next_attempt_at
    assert delivery.id not in outbound.webhooks_due(now=due_at - timedelta(seconds=1))
    assert delivery.id in outbound.webhooks_due(now=due_at)
    return outbound.deliver_webhook(delivery_id=delivery.id)


class TestRetriedUntilAnswered:
    @pytest.mark.parametrize("failure", ["500", "hang up"])
    def test_a_failing_receiver_is_retried_and_applies_the_grant_once(
        self, receiver, pod, django_capture_on_commit_callbacks, failure
    ):
        receiver.failures, receiver.failure = 3, failure
        now = timezone.now()

        grant, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )
        outcomes = []
        delivery.refresh_from_db()
        while delivery.state == PENDING and len(outcomes) < 10:
            outcomes.append(next_attempt_when_due(delivery))
            delivery.refresh_from_db()

        assert outcomes == ["retry", "retry", "delivered"]
        assert delivery.state == WebhookDelivery.State.DELIVERED
        assert delivery.attempts == 4
        assert {post["key"] for post in receiver.posts} == {f"grant-{grant.id}"}
        assert all(post["signed"] for post in receiver.posts)
        assert len(receiver.posts) == 4
        assert list(receiver.applied) == [f"grant-{grant.id}"]
        assert receiver.applied[f"grant-{grant.id}"]["amount"] == "25.00"
        assert LedgerEntry.objects.filter(grant=grant).count() == 1
        assert LedgerEntry.objects.count() == 1

    def test_every_attempt_is_logged_with_its_answer_and_the_backoff_grows(
        self, receiver, pod, django_capture_on_commit_callbacks
    ):
        receiver.failures = 2
        now = timezone.now()

        _, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )
        delivery.refresh_from_db()
        gaps = []
        while delivery.state == PENDING:
            last = WebhookAttempt.objects.filter(delivery=delivery).last()
            gaps.append(delivery.next_attempt_at - last.at)
            next_attempt_when_due(delivery)
            delivery.refresh_from_db()

        attempts = list(WebhookAttempt.objects.filter(delivery=delivery))
        assert [attempt.status_code for attempt in attempts] == [500, 500, 200]
        assert [attempt.error for attempt in attempts] == ["HTTP 500", "HTTP 500", ""]
        assert gaps == [
            rules.webhook_retry_delay(attempts=1),
            rules.webhook_retry_delay(attempts=2),
        ]
        assert delivery.delivered_at is not None
        assert delivery.next_attempt_at is None

    def test_the_sweep_sends_what_is_due_and_nothing_else(
        self, receiver, pod, django_capture_on_commit_callbacks
    ):
        receiver.failures = 1
        now = timezone.now()
        _, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )

        assert sweep_webhooks() == 0  # the retry is 30 s away
        assert len(receiver.posts) == 1
        # The backoff has passed.
        WebhookDelivery.objects.filter(id=delivery.id).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        assert sweep_webhooks() == 1

        delivery.refresh_from_db()
        assert delivery.state == WebhookDelivery.State.DELIVERED
        assert len(receiver.posts) == 2
        assert sweep_webhooks() == 0

    def test_a_reversal_is_told_under_its_own_key(
        self, receiver, pod, django_capture_on_commit_callbacks
    ):
        now = timezone.now()
        grant, _ = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )

        with django_capture_on_commit_callbacks(execute=True):
            reversal = authority.services.grant_reverse(
                grant_id=grant.id, user=pod.lead.user, reason="duplicate", now=now
            )

        assert list(receiver.applied) == [f"grant-{grant.id}", f"grant-{reversal.id}"]
        told = receiver.applied[f"grant-{reversal.id}"]
        assert (told["event"], told["reverses"], told["amount"]) == (
            "grant.reversed",
            grant.id,
            "-25.00",
        )


class TestPayload:
    @pytest.mark.parametrize(
        ("asked", "told"), [("25", "25.00"), ("1e1", "10.00"), ("7.5", "7.50")]
    )
    def test_the_amount_is_told_as_stored_whatever_its_spelling_in_the_ask(
        self, receiver, pod, django_capture_on_commit_callbacks, asked, told
    ):
        now = timezone.now()

        grant, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
            amount=asked,
        )

        assert receiver.applied[f"grant-{grant.id}"]["amount"] == told
        assert delivery.payload["amount"] == told
        grant.refresh_from_db()
        assert str(grant.amount) == told


class TestGivenUp:
    def test_after_the_last_attempt_it_is_failed_and_no_longer_swept(
        self, receiver, pod, django_capture_on_commit_callbacks
    ):
        receiver.failures = 1000
        now = timezone.now()

        grant, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )
        delivery.refresh_from_db()
        while delivery.state == PENDING:
            next_attempt_when_due(delivery)
            delivery.refresh_from_db()

        assert delivery.state == WebhookDelivery.State.FAILED
        assert delivery.attempts == rules.WEBHOOK_MAX_ATTEMPTS
        assert WebhookAttempt.objects.filter(delivery=delivery).count() == (
            rules.WEBHOOK_MAX_ATTEMPTS
        )
        assert len(receiver.posts) == rules.WEBHOOK_MAX_ATTEMPTS
        assert outbound.webhooks_due(now=now + timedelta(days=30)) == []
        assert outbound.deliver_webhook(delivery_id=delivery.id) == "not pending"
        assert len(receiver.posts) == rules.WEBHOOK_MAX_ATTEMPTS
        # The grant stands: the billing system is told late, by hand, not undone.
        assert LedgerEntry.objects.filter(grant=grant).count() == 1


class TestRedirects:
    def test_a_redirect_is_an_answer_not_an_instruction(
        self, receiver, pod, django_capture_on_commit_callbacks
    ):
        now = timezone.now()

        _, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/redirect",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )

        delivery.refresh_from_db()
        assert receiver.paths() == ["/redirect"]
        assert "/elsewhere" not in receiver.paths()
        assert delivery.state == PENDING
        attempt = WebhookAttempt.objects.get(delivery=delivery)
        assert attempt.status_code == 302


@pytest.mark.django_db(transaction=True)
class TestTwinTasks:
    def test_a_task_delivered_twice_at_once_posts_once(
        self, receiver, pod, django_capture_on_commit_callbacks, run_concurrently
    ):
        require_postgres()  # the twin waits on the delivery's row lock
        receiver.failures, receiver.delay = 1, 0.5
        now = timezone.now()
        _, delivery = granted_with_webhook(
            pod=pod,
            url=f"{receiver.url}/billing",
            now=now,
            capture=django_capture_on_commit_callbacks,
        )

        outcomes = run_concurrently(
            lambda index: outbound.deliver_webhook(delivery_id=delivery.id), count=2
        )

        assert sorted(outcomes) == ["delivered", "not pending"]
        assert len(receiver.posts) == 2  # the failed first one, then one retry
        assert len(receiver.applied) == 1
