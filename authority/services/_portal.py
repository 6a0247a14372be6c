"""The customer portal's writes: a customer's own stage-3 ask on one of their
entitlements (or without one, for money), and the reminders that an
entitlement period is ending.

A portal ask is an ordinary authority_ask by the customer actor: the same
rules (stage 3 only), limits, locks, idempotency, audit and live events as an
agent's. What this module adds is the customer's scope: the entitlement named
by the form must be theirs (else it does not exist) and must be the one the
engine changes."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

import pods.selectors
from authority import outbound, selectors
from authority.models import ActionType, EntitlementReminder
from authority.services._errors import AuthorityError, AuthorityRefused
from authority.services._grants import Asked, actor_for_customer, authority_ask

REMINDERS_PER_RUN = 500
REMINDER_MAX_ATTEMPTS = 5
ENTITLEMENT_EFFECTS = (ActionType.Effect.EXTEND, ActionType.Effect.PAUSE)


class EntitlementNotFound(AuthorityError):
    """No such entitlement of this customer (another customer's is the same as
    one that does not exist)."""


def portal_action_ask(
    *,
    customer: pods.selectors.CustomerFacts,
    action_code: str,
    amount: Decimal | str,
    entitlement_id: int | None,
    idempotency_key: str,
    effect_starts_on: date | None = None,
    now: datetime,
) -> Asked:
    """The customer's own ask from the portal, decided and executed by the
    engine as the customer actor (stage 3 only); a pause from
    `effect_starts_on` when chosen. Raises EntitlementNotFound for
    an entitlement that is not the customer's, AuthorityRefused when the action
    does not fit the entitlement (or is unknown), IdempotencyConflict like
    authority_ask."""
    action_type = selectors.action_type_by_code(code=action_code)
    if action_type is None:
        raise AuthorityRefused(_("no such action: %(code)s") % {"code": action_code})
    entitlement = None
    if entitlement_id is not None:
        entitlement = selectors.entitlement_of_family(
            entitlement_id=entitlement_id, customer_ids=customer.family_ids
        )
        if entitlement is None:
            raise EntitlementNotFound(_("no such entitlement"))
    if action_type.effect in ENTITLEMENT_EFFECTS:
        changed = selectors.entitlement_changed_by(
            customer=customer, action_type=action_type
        )
        if entitlement is None or changed is None or changed.id != entitlement.id:
            raise AuthorityRefused(
                _("this change applies to your latest %(product)s only")
                % {"product": action_type.product or _("entitlement")}
            )
    elif entitlement is not None:
        raise AuthorityRefused(_("this action does not change an entitlement"))
    return authority_ask(
        actor=actor_for_customer(customer_id=customer.customer_id),
        action_code=action_code,
        amount=amount,
        customer_id=customer.customer_id,
        ticket_id=None,
        idempotency_key=idempotency_key,
        effect_starts_on=effect_starts_on,
        now=now,
    )


# --- Reminders ---------------------------------------------------------------------


def entitlement_reminders_schedule(*, now: datetime, days_before: int) -> int:
    """Record a reminder for every entitlement ending within `days_before`
    days that has none for its current end (once per period: an extension
    moves the end and makes a new one due), then queue the email of every
    reminder not sent yet, once committed. Returns how many were recorded."""
    today = now.date()
    recorded = 0
    with transaction.atomic():
        for entitlement in selectors.entitlements_ending(
            first_day=today,
            last_day=today + timedelta(days=days_before),
            limit=REMINDERS_PER_RUN,
        ):
            recorded += _reminder_record(entitlement=entitlement, now=now)
        for reminder_id in selectors.reminders_unsent(
            max_attempts=REMINDER_MAX_ATTEMPTS, limit=REMINDERS_PER_RUN
        ):
            outbound.entitlement_reminder_send_on_commit(reminder_id=reminder_id)
    return recorded


def _reminder_record(*, entitlement, now: datetime) -> int:
    addresses = [
        value
        for kind, value in pods.selectors.customer_identities(
            customer_id=entitlement.customer_id
        )
        if kind == "EMAIL"
    ]
    try:
        # A savepoint: a twin run that recorded this period first is no fault.
        with transaction.atomic():
            EntitlementReminder.objects.create(
                entitlement=entitlement,
                ends_on=entitlement.ends_on,
                customer_id=entitlement.customer_id,
                # No email identity: recorded all the same, with nowhere to
                # send it, so it is not looked at again every run.
                address=addresses[0] if addresses else "",
                due_at=now,
            )
    except IntegrityError:
        return 0
    return 1
