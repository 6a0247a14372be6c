"""Grants racing on PostgreSQL (reliability T4, T5, T7): many threads, each with
its own connection, ask at once against one budget; exactly what the budget
allows is granted, the rest wait for approval, the counters and the ledger
agree to the penny, and nothing raises or deadlocks. The same idempotency key
sent at once runs once; two approvers clicking together execute once.

SQLite runs one writer at a time, so there is no race to test there: these
skip on it (and fail with HELPDESK_REAL_STACK=1)."""

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum

import authority.services
from authority.models import (
    ActionType,
    ApprovalDecision,
    AuditEvent,
    AuthorityRequest,
    Grant,
    LedgerEntry,
    UsageCounter,
)
from pods.models import Customer
from tests import factories
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 40  # well under PostgreSQL's 100 connections, shared with other tests
ASKS = 200
GRANTED = AuthorityRequest.State.GRANTED
PENDING = AuthorityRequest.State.PENDING


# --- A small world, built through the services where they exist ----------------------


def refund_action(*, now, code: str = "refund", webhook_url: str = "") -> ActionType:
    return ActionType.objects.create(
        code=code,
        name="Refund",
        unit=ActionType.Unit.MONEY,
        currency="GBP",
        effect=ActionType.Effect.REFUND,
        webhook_url=webhook_url,
        created_at=now,
    )


def rule(action_type: ActionType, *, stage: int, now, **terms):
    return authority.services.rule_create(
        terms={
            "name": f"{action_type.code} stage {stage}",
            "action_type": action_type,
            "stage": stage,
            "valid_from": now - timedelta(days=365),
            **terms,
        },
        user=None,
        note="test",
        now=now,
    )


def customers_of(pod, count: int, *, now) -> list[int]:
    made = Customer.objects.bulk_create(
        Customer(pod=pod, display_name=f"Customer {index}", created_at=now)
        for index in range(count)
    )
    return [customer.id for customer in made]


def agents_of(pod, count: int) -> list:
    return [factories.agent(pod=pod).user for _ in range(count)]


def ask(user, customer_id: int, amount, *, key: str, now, action: str = "refund"):
    return authority.services.authority_ask(
        actor=authority.services.actor_for_user(user=user),
        action_code=action,
        amount=amount,
        customer_id=customer_id,
        ticket_id=None,
        idempotency_key=key,
        now=now,
    )


def asks_in_threads(run_concurrently, plan: list[tuple], *, now) -> list:
    """Run every (user, customer_id, amount, key) of `plan` from THREADS
    threads released together; the results (Asked or the exception) in plan
    order."""

    def work(thread: int) -> list:
        return [
            _outcome(lambda item=item: ask(*item[:3], key=item[3], now=now))
            for item in plan[thread::THREADS]
        ]

    per_thread = run_concurrently(work, count=THREADS)
    results = [None] * len(plan)
    for thread, outcomes in enumerate(per_thread):
        assert not isinstance(outcomes, Exception), outcomes
        for offset, outcome in enumerate(outcomes):
            results[thread + offset * THREADS] = outcome
    return results


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # kept, so the test can say which failed and how
        return exc


def errors_of(results: list) -> list[Exception]:
    return [result for result in results if isinstance(result, Exception)]


def states_of(results: list) -> Counter:
    return Counter(result.request.state for result in results)


def money_agrees(*, action_type: ActionType, pod_id: int) -> Decimal:
    """The pod's usage counter, the grants and the ledger say the same amount
    (exactly, in Decimal); returns it."""
    granted = Grant.objects.filter(action_type=action_type).aggregate(
        total=Sum("amount")
    )["total"] or Decimal(0)
    ledger = LedgerEntry.objects.filter(grant__action_type=action_type).aggregate(
        total=Sum("amount")
    )["total"] or Decimal(0)
    pod_month = UsageCounter.objects.get(
        scope=UsageCounter.Scope.POD_MONTH, scope_id=pod_id, action_type=action_type
    )
    assert pod_month.amount == granted == ledger
    assert pod_month.count == Grant.objects.filter(action_type=action_type).count()
    assert LedgerEntry.objects.count() == Grant.objects.count()
    return granted


@pytest.fixture
def pod():
    require_postgres()
    return factories.staffed_pod(size=2, name="Racing")


# --- Budgets --------------------------------------------------------------------------


class TestConcurrentGrantsKeepThePodBudget:
    def test_a_budget_for_fifty_grants_grants_exactly_fifty_of_two_hundred(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(
            refund,
            stage=2,
            now=now,
            max_per_grant=Decimal("10"),
            pod_monthly_total=Decimal("500"),
        )
        rule(refund, stage=1, now=now, max_per_grant=Decimal("1000"))
        users = agents_of(pod, 20)
        customers = customers_of(pod, ASKS, now=now - timedelta(days=400))
        plan = [
            (users[index % len(users)], customers[index], "10.00", f"ask-{index}")
            for index in range(ASKS)
        ]

        results = asks_in_threads(run_concurrently, plan, now=now)

        assert errors_of(results) == []
        assert states_of(results) == {GRANTED: 50, PENDING: 150}
        assert money_agrees(action_type=refund, pod_id=pod.id) == Decimal("500.00")
        assert Grant.objects.count() == 50
        assert all(
            result.request.stage == 1
            for result in results
            if result.request.state == PENDING
        )

    def test_drawn_amounts_never_overspend_and_only_what_no_longer_fits_is_refused(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        budget = Decimal("100.00")
        rule(
            refund,
            stage=2,
            now=now,
            max_per_grant=Decimal("5"),
            pod_monthly_total=budget,
        )
        users = agents_of(pod, 20)
        customers = customers_of(pod, ASKS, now=now - timedelta(days=400))
        draw = random.Random(20260315)
        plan = [
            (
                users[index % len(users)],
                customers[index],
                Decimal(draw.randint(100, 500)) / 100,
                f"drawn-{index}",
            )
            for index in range(ASKS)
        ]

        results = asks_in_threads(run_concurrently, plan, now=now)

        assert errors_of(results) == []
        spent = money_agrees(action_type=refund, pod_id=pod.id)
        assert spent <= budget
        left = budget - spent
        # The budget left only shrinks, so every ask not granted was over what
        # was left when it ran, and so over what is left now.
        for result in results:
            if result.request.state != GRANTED:
                assert result.request.state == AuthorityRequest.State.REFUSED
                assert result.request.amount > left
        assert states_of(results)[GRANTED] == Grant.objects.count() > 20

    def test_an_agents_daily_limit_holds_under_a_race(self, pod, run_concurrently, now):
        refund = refund_action(now=now)
        rule(
            refund,
            stage=2,
            now=now,
            max_per_grant=Decimal("5"),
            agent_daily_total=Decimal("100"),
        )
        rule(refund, stage=1, now=now, max_per_grant=Decimal("1000"))
        (user,) = agents_of(pod, 1)
        customers = customers_of(pod, ASKS, now=now - timedelta(days=400))
        plan = [(user, customers[index], "2", f"day-{index}") for index in range(ASKS)]

        results = asks_in_threads(run_concurrently, plan, now=now)

        assert errors_of(results) == []
        assert states_of(results) == {GRANTED: 50, PENDING: 150}
        agent_day = UsageCounter.objects.get(
            scope=UsageCounter.Scope.AGENT_DAY, action_type=refund
        )
        assert agent_day.amount == Decimal("100.00")
        assert agent_day.count == 50
        money_agrees(action_type=refund, pod_id=pod.id)


class TestConcurrentGrantsKeepPerCustomerLimits:
    def test_five_grants_per_customer_of_twenty_asks_each(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(
            refund,
            stage=2,
            now=now,
            max_per_grant=Decimal("20"),
            customer_period_days=30,
            customer_max_count=5,
        )
        rule(refund, stage=1, now=now, max_per_grant=Decimal("1000"))
        users = agents_of(pod, 20)
        customers = customers_of(pod, 10, now=now - timedelta(days=400))
        plan = [
            (users[index % len(users)], customers[index % 10], "7.50", f"cust-{index}")
            for index in range(ASKS)
        ]

        results = asks_in_threads(run_concurrently, plan, now=now)

        assert errors_of(results) == []
        assert states_of(results) == {GRANTED: 50, PENDING: 150}
        per_customer = Counter(Grant.objects.values_list("customer_id", flat=True))
        assert per_customer == dict.fromkeys(customers, 5)
        counters = UsageCounter.objects.filter(scope=UsageCounter.Scope.CUSTOMER)
        assert {row.scope_id: (row.count, row.amount) for row in counters} == {
            customer: (5, Decimal("37.50")) for customer in customers
        }
        assert money_agrees(action_type=refund, pod_id=pod.id) == Decimal("375.00")


# --- Idempotency ----------------------------------------------------------------------


class TestTheSameKeyAtOnce:
    def test_twenty_threads_with_one_key_execute_once_and_get_one_request(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(refund, stage=2, now=now, max_per_grant=Decimal("50"))
        (user,) = agents_of(pod, 1)
        (customer,) = customers_of(pod, 1, now=now - timedelta(days=400))

        results = run_concurrently(
            lambda index: ask(user, customer, "30", key="double-click", now=now),
            count=20,
        )

        assert errors_of(results) == []
        assert {result.request.id for result in results} == {
            AuthorityRequest.objects.get().id
        }
        assert [result.replayed for result in results].count(False) == 1
        assert {result.request.state for result in results} == {GRANTED}
        assert Grant.objects.count() == LedgerEntry.objects.count() == 1
        assert money_agrees(action_type=refund, pod_id=pod.id) == Decimal("30")
        assert AuditEvent.objects.filter(kind="GRANTED").count() == 1

    def test_one_key_with_two_bodies_at_once_executes_one_and_refuses_the_other(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(refund, stage=2, now=now, max_per_grant=Decimal("50"))
        (user,) = agents_of(pod, 1)
        (customer,) = customers_of(pod, 1, now=now - timedelta(days=400))

        results = run_concurrently(
            lambda index: ask(
                user, customer, "30" if index % 2 else "31", key="k", now=now
            ),
            count=20,
        )

        kept = AuthorityRequest.objects.get()
        for result in results:
            if isinstance(result, Exception):
                assert isinstance(result, authority.services.IdempotencyConflict)
            else:
                assert result.request.id == kept.id
        conflicts = len(errors_of(results))
        assert conflicts == 10
        assert Grant.objects.count() == LedgerEntry.objects.count() == 1

    def test_keys_are_per_actor_so_two_agents_with_one_key_each_get_theirs(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(refund, stage=2, now=now, max_per_grant=Decimal("50"))
        users = agents_of(pod, 2)
        (customer,) = customers_of(pod, 1, now=now - timedelta(days=400))

        results = run_concurrently(
            lambda index: ask(users[index % 2], customer, "10", key="same", now=now),
            count=10,
        )

        assert errors_of(results) == []
        assert len({result.request.id for result in results}) == 2
        assert Grant.objects.count() == 2


# --- Approvals ------------------------------------------------------------------------


class TestConcurrentApprovals:
    def test_two_approvers_clicking_together_execute_each_request_once(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(refund, stage=1, now=now, max_per_grant=Decimal("500"))
        (user,) = agents_of(pod, 1)
        customers = customers_of(pod, 10, now=now - timedelta(days=400))
        pending = [
            ask(user, customer, "80", key=f"p{customer}", now=now).request
            for customer in customers
        ]
        approvers = [pod.lead.user, factories.admin_user()]

        def approve(index: int):
            request = pending[index // 2]
            return authority.services.request_approve(
                request_id=request.id,
                user=approvers[index % 2],
                request_hash=request.request_hash,
                note="ok",
                now=now,
            )

        results = run_concurrently(approve, count=2 * len(pending))

        refused = errors_of(results)
        assert len(refused) == len(pending)
        assert all(
            isinstance(error, authority.services.ApprovalRefused) for error in refused
        )
        assert ApprovalDecision.objects.count() == len(pending)
        assert Grant.objects.count() == LedgerEntry.objects.count() == len(pending)
        assert Counter(Grant.objects.values_list("request_id", flat=True)) == {
            request.id: 1 for request in pending
        }
        assert AuditEvent.objects.filter(kind="APPROVED").count() == len(pending)
        assert money_agrees(action_type=refund, pod_id=pod.id) == Decimal("800.00")

    def test_approvals_racing_for_the_approval_budget_grant_only_what_it_holds(
        self, pod, run_concurrently, now
    ):
        refund = refund_action(now=now)
        rule(
            refund,
            stage=1,
            now=now,
            max_per_grant=Decimal("500"),
            pod_monthly_total=Decimal("1000"),
        )
        users = agents_of(pod, 3)
        customers = customers_of(pod, 30, now=now - timedelta(days=400))
        pending = [
            ask(users[index % 3], customer, "100", key=f"b{index}", now=now).request
            for index, customer in enumerate(customers)
        ]
        assert {request.state for request in pending} == {PENDING}
        lead = pod.lead.user

        results = run_concurrently(
            lambda index: authority.services.request_approve(
                request_id=pending[index].id,
                user=lead,
                request_hash=pending[index].request_hash,
                note="",
                now=now,
            ),
            count=len(pending),
        )

        refused = errors_of(results)
        assert len(refused) == 20
        assert all(
            isinstance(error, authority.services.ApprovalCannotExecute)
            for error in refused
        )
        assert money_agrees(action_type=refund, pod_id=pod.id) == Decimal("1000.00")
        assert AuthorityRequest.objects.filter(state=PENDING).count() == 20
        assert ApprovalDecision.objects.count() == 10
