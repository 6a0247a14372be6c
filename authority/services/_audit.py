"""The audit trail: append one event to a hash chain. Call inside the
transaction of the change it records, so the event and the change commit or
roll back together."""

from datetime import datetime

from django.conf import settings
from django.db import connection

from authority import rules, selectors
from authority.models import AuditChainHead, AuditEvent

RULES_CHAIN = "rules"


def pod_chain(pod_id: int) -> str:
    return f"pod:{pod_id}"


def audit_append(
    *,
    chain: str,
    kind: str,
    subject: str,
    details: dict,
    actor_user_id: int | None,
    actor_label: str,
    now: datetime,
) -> AuditEvent:
    """Add the next link of `chain`. Holds the chain head's row lock until
    commit: events of one chain are written one at a time, in order."""
    head = _head_locked(chain=chain)
    if head is None:  # the chain's first event
        AuditChainHead.objects.bulk_create(
            [AuditChainHead(chain=chain)], ignore_conflicts=True
        )
        head = _head_locked(chain=chain)
    event = AuditEvent(
        chain=chain,
        seq=head.seq + 1,
        kind=kind,
        actor_id=actor_user_id,
        actor_label=actor_label[:120],
        subject=subject,
        details=details,
        at=now,
        prev_digest=head.digest,
    )
    event.digest = rules.audit_digest(
        prev_digest=head.digest,
        content=selectors.audit_event_content(event=event),
        key=settings.SECRET_KEY,
    )
    event.save(force_insert=True)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {AuditChainHead._meta.db_table}"  # noqa: S608 (table name)
            " SET seq = %s, digest = %s WHERE chain = %s",
            [event.seq, event.digest, chain],
        )
    return event


def _head_locked(*, chain: str) -> AuditChainHead | None:
    # Raw, like the other statements every grant makes while its pod waits.
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found = AuditChainHead.objects.raw(
        f"SELECT * FROM {AuditChainHead._meta.db_table}"  # noqa: S608
        " WHERE chain = %s" + lock,
        [chain],
    )
    return next(iter(found), None)
