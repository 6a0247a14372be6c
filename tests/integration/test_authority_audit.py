"""The audit trail and the money records cannot be rewritten (reliability T8).

On PostgreSQL every way the application could change or remove a grant, a
ledger entry, an approval decision or an audit event (ORM save, queryset
update and delete, bulk_update, raw SQL) is refused by the append-only
trigger. A superuser who switches the trigger off and edits, removes or cuts
the end off a chain is found by the chain verifier at the exact event. Each
grant, approval, denial and reversal writes exactly one audit event of its
kind, and each money grant one ledger entry."""

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError

import authority.selectors
import authority.services
from authority import rules
from authority.models import (
    ApprovalDecision,
    AuditEvent,
    AuthorityRequest,
    Grant,
    LedgerEntry,
)
from tests import factories
from tests.conftest import require_postgres
from tests.integration.test_authority_concurrency import (
    agents_of,
    customers_of,
    refund_action,
    rule,
)

pytestmark = pytest.mark.django_db

APPEND_ONLY = (Grant, LedgerEntry, ApprovalDecision, AuditEvent)
# What each mutation tries to write: one ordinary field per table.
FORGED = {
    Grant: ("reasons", []),
    LedgerEntry: ("currency", "XXX"),
    ApprovalDecision: ("note", "forged"),
    AuditEvent: ("actor_label", "mallory"),
}


@pytest.fixture
def pod():
    return factories.staffed_pod(size=2, name="Ledger")


@pytest.fixture
def history(pod, now):
    """A grant, an approved and a denied request, a refusal and a reversal."""
    refund = refund_action(now=now)
    rule(
        refund,
        stage=2,
        now=now,
        max_per_grant=Decimal("50"),
        pod_monthly_total=Decimal("1000"),
    )
    rule(refund, stage=1, now=now, max_per_grant=Decimal("500"))
    (agent,) = agents_of(pod, 1)
    lead = pod.lead.user
    customers = customers_of(pod, 4, now=now - timedelta(days=400))

    def ask(customer: int, amount: str, key: str):
        return authority.services.authority_ask(
            actor=authority.services.actor_for_user(user=agent),
            action_code=refund.code,
            amount=amount,
            customer_id=customer,
            ticket_id=None,
            idempotency_key=key,
            now=now,
        ).request

    granted = ask(customers[0], "30", "a")
    ask(customers[0], "30", "a")  # a replay writes nothing
    approved = ask(customers[1], "80", "b")
    authority.services.request_approve(
        request_id=approved.id,
        user=lead,
        request_hash=approved.request_hash,
        note="fair",
        now=now,
    )
    denied = ask(customers[2], "90", "c")
    authority.services.request_deny(
        request_id=denied.id,
        user=lead,
        request_hash=denied.request_hash,
        note="refunded last week",
        now=now,
    )
    ask(customers[3], "900", "d")  # over every rule: refused
    authority.services.grant_reverse(
        grant_id=Grant.objects.get(request=granted).id,
        user=lead,
        reason="charged twice",
        now=now,
    )
    return authority.services.pod_chain(pod.id)


def tamper(sql: str, params: list) -> None:
    """Change the audit table as a database superuser would: with the
    append-only trigger switched off for the one statement."""
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgresql:
            # ALTER TABLE waits for no deferred foreign-key check of the
            # test's own transaction: run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE authority_auditevent "
                "DISABLE TRIGGER authority_auditevent_append_only"
            )
        cursor.execute(sql, params)
        if postgresql:
            cursor.execute(
                "ALTER TABLE authority_auditevent "
                "ENABLE TRIGGER authority_auditevent_append_only"
            )
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def last_seq(chain: str) -> int:
    return AuditEvent.objects.filter(chain=chain).order_by("-seq").first().seq


# --- Nothing changes through the application ------------------------------------------


def _save(row) -> None:
    name, value = FORGED[type(row)]
    setattr(row, name, value)
    row.save()


def _queryset_update(row) -> None:
    name, value = FORGED[type(row)]
    type(row).objects.filter(pk=row.pk).update(**{name: value})


def _bulk_update(row) -> None:
    name, value = FORGED[type(row)]
    setattr(row, name, value)
    type(row).objects.bulk_update([row], [name])


def _delete(row) -> None:
    row.delete()


def _queryset_delete(row) -> None:
    type(row).objects.filter(pk=row.pk).delete()


def _raw_update(row) -> None:
    name, value = FORGED[type(row)]
    column = row._meta.get_field(name).column
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {row._meta.db_table} SET {column} = %s WHERE id = %s",  # noqa: S608
            [value if isinstance(value, str) else "[]", row.pk],
        )


def _raw_delete(row) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {row._meta.db_table} WHERE id = %s",  # noqa: S608
            [row.pk],
        )


MUTATIONS = (
    _save,
    _queryset_update,
    _bulk_update,
    _delete,
    _queryset_delete,
    _raw_update,
    _raw_delete,
)


class TestAppendOnly:
    @pytest.mark.parametrize("model", APPEND_ONLY, ids=lambda m: m.__name__)
    @pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda f: f.__name__[1:])
    def test_every_way_to_change_or_remove_a_row_is_refused(
        self, history, model, mutate
    ):
        require_postgres()  # the trigger is PostgreSQL's; the demo's SQLite has none
        row = model.objects.order_by("id").first()
        before = model.objects.filter(pk=row.pk).values().get()

        with (
            pytest.raises((DatabaseError, ProtectedError)) as refused,
            transaction.atomic(),
        ):
            mutate(row)

        # Django refuses a grant's delete itself (its ledger entry protects
        # it); everything else reaches the table and its trigger.
        if not isinstance(refused.value, ProtectedError):
            assert "append-only" in str(refused.value)
        assert model.objects.filter(pk=row.pk).values().get() == before

    def test_the_orm_delete_of_a_grant_never_reaches_its_ledger(self, history):
        require_postgres()
        grant = Grant.objects.filter(kind=Grant.Kind.GRANT).first()

        with pytest.raises(ProtectedError), transaction.atomic():
            grant.delete()

        assert LedgerEntry.objects.filter(grant=grant).exists()


# --- What a superuser changes is found ------------------------------------------------


class TestTheChainVerifier:
    def test_an_untouched_chain_verifies(self, history):
        check = authority.selectors.audit_chain_verify(chain=history)

        assert check.broken_at is None
        assert check.rows == AuditEvent.objects.filter(chain=history).count() == 8

    def test_an_edited_event_is_found_at_its_seq(self, history):
        edited = AuditEvent.objects.get(chain=history, seq=3)

        tamper(
            "UPDATE authority_auditevent SET details = %s WHERE id = %s",
            ['{"amount": "1.00"}', edited.id],
        )

        check = authority.selectors.audit_chain_verify(chain=history)
        assert (check.broken_at, check.problem) == (3, "content changed")

    def test_an_edit_with_its_digest_recomputed_without_the_key_is_found(self, history):
        edited = AuditEvent.objects.get(chain=history, seq=4)

        tamper(
            "UPDATE authority_auditevent SET actor_label = 'mallory', "
            "digest = md5(random()::text) || md5(random()::text) WHERE id = %s"
            if connection.vendor == "postgresql"
            else "UPDATE authority_auditevent SET actor_label = 'mallory', "
            "digest = hex(randomblob(32)) WHERE id = %s",
            [edited.id],
        )

        check = authority.selectors.audit_chain_verify(chain=history)
        assert check.broken_at == 4

    def test_a_removed_event_is_found_where_it_was(self, history):
        tamper(
            "DELETE FROM authority_auditevent WHERE chain = %s AND seq = 5",
            [history],
        )

        check = authority.selectors.audit_chain_verify(chain=history)
        assert (check.broken_at, check.problem) == (5, "missing row")

    def test_a_removed_last_event_is_found_by_the_chains_head(self, history):
        last = last_seq(history)

        tamper(
            "DELETE FROM authority_auditevent WHERE chain = %s AND seq = %s",
            [history, last],
        )

        check = authority.selectors.audit_chain_verify(chain=history)
        assert (check.broken_at, check.problem) == (last, "missing row")

    def test_a_chain_emptied_of_every_event_is_still_verified_and_found(self, history):
        tamper("DELETE FROM authority_auditevent WHERE chain = %s", [history])

        assert history in authority.selectors.audit_chains()
        check = authority.selectors.audit_chain_verify(chain=history)
        assert (check.broken_at, check.problem) == (1, "missing row")

    def test_the_rules_chain_verifies_too(self, history):
        assert authority.selectors.audit_chain_verify(
            chain=authority.services.RULES_CHAIN
        ) == authority.selectors.ChainCheck(authority.services.RULES_CHAIN, 2, None)

    def test_an_event_added_behind_the_heads_back_is_found_even_with_the_key(
        self, history
    ):
        last = AuditEvent.objects.get(chain=history, seq=last_seq(history))
        forged = AuditEvent(
            chain=history,
            seq=last.seq + 1,
            kind="GRANTED",
            actor_label="mallory",
            subject="request:0",
            details={"amount": "5000.00"},
            at=last.at,
            prev_digest=last.digest,
        )
        forged.digest = rules.audit_digest(
            prev_digest=last.digest,
            content=authority.selectors.audit_event_content(event=forged),
            key=settings.SECRET_KEY,
        )
        forged.save(force_insert=True)

        check = authority.selectors.audit_chain_verify(chain=history)
        assert (check.broken_at, check.problem) == (forged.seq, "row past the head")


@pytest.mark.django_db(transaction=True)
class TestVerifyingWhileGranting:
    def test_a_walk_during_appends_finds_nothing_wrong(
        self, pod, run_concurrently, now
    ):
        require_postgres()  # SQLite has one writer and no race to lose
        refund = refund_action(now=now)
        rule(refund, stage=2, now=now, max_per_grant=Decimal("50"))
        (agent,) = agents_of(pod, 1)
        customers = customers_of(pod, 40, now=now - timedelta(days=400))
        chain = authority.services.pod_chain(pod.id)

        def work(index: int):
            if index == 0:
                return [
                    authority.services.authority_ask(
                        actor=authority.services.actor_for_user(user=agent),
                        action_code=refund.code,
                        amount="5",
                        customer_id=customer,
                        ticket_id=None,
                        idempotency_key=f"w{customer}",
                        now=now,
                    ).request.state
                    for customer in customers
                ]
            return [
                authority.selectors.audit_chain_verify(chain=chain) for _ in range(40)
            ]

        granting, *walks = run_concurrently(work, count=3)

        assert granting == ["GRANTED"] * 40
        checks = [check for walk in walks for check in walk]
        assert [check for check in checks if check.broken_at is not None] == []
        assert authority.selectors.audit_chain_verify(chain=chain).rows == 40


# --- One record per act ---------------------------------------------------------------


class TestOneRecordPerAct:
    def test_each_grant_approval_denial_and_reversal_writes_one_event(self, history):
        kinds = Counter(
            AuditEvent.objects.filter(chain=history).values_list("kind", flat=True)
        )
        grants = Grant.objects.filter(kind=Grant.Kind.GRANT)
        reversals = Grant.objects.filter(kind=Grant.Kind.REVERSAL)
        verdicts = Counter(ApprovalDecision.objects.values_list("verdict", flat=True))

        assert kinds == {
            "GRANTED": grants.count(),
            "REQUESTED": 2,
            "APPROVED": verdicts["APPROVE"],
            "DENIED": verdicts["DENY"],
            "REFUSED": AuthorityRequest.objects.filter(state="REFUSED").count(),
            "REVERSED": reversals.count(),
        }
        assert (grants.count(), reversals.count()) == (2, 1)
        assert verdicts == {"APPROVE": 1, "DENY": 1}

    def test_each_event_names_its_act_once(self, history):
        events = AuditEvent.objects.filter(chain=history)
        granted = [event.details["grant"] for event in events.filter(kind="GRANTED")]
        reversed_ = [
            event.details["reversal"] for event in events.filter(kind="REVERSED")
        ]

        assert sorted(granted) == sorted(
            Grant.objects.filter(kind=Grant.Kind.GRANT).values_list("id", flat=True)
        )
        assert reversed_ == list(
            Grant.objects.filter(kind=Grant.Kind.REVERSAL).values_list("id", flat=True)
        )

    def test_each_money_grant_and_reversal_has_one_ledger_entry(self, history):
        ledger = Counter(LedgerEntry.objects.values_list("grant_id", flat=True))

        assert ledger == dict.fromkeys(Grant.objects.values_list("id", flat=True), 1)
        assert sum(LedgerEntry.objects.values_list("amount", flat=True)) == Decimal(
            "80.00"
        )
