"""An admin's correction of a customer's entitlement (its dates, a pause).
Grants change entitlements too (extensions, pauses) under the entitlement's row
lock: an edit is bound to the version the admin read, so it never silently
undoes a grant made meanwhile."""

from datetime import date, datetime

from django.db import transaction
from django.utils.translation import gettext as _

import pods.selectors
import tickets.services
from authority.models import Entitlement
from authority.services._errors import AuthorityRefused


def entitlement_change(
    *,
    entitlement_id: int,
    product: str,
    starts_on: date,
    ends_on: date,
    paused_from: date | None,
    paused_until: date | None,
    seen_updated_at: datetime | None,
    now: datetime,
) -> Entitlement:
    """Set the entitlement's product, dates and pause. Raises AuthorityRefused
    when the dates are out of order or the entitlement changed since it was
    read (`seen_updated_at`)."""
    problem = entitlement_dates_problem(
        starts_on=starts_on,
        ends_on=ends_on,
        paused_from=paused_from,
        paused_until=paused_until,
    )
    if problem:
        raise AuthorityRefused(problem)
    with transaction.atomic():
        entitlement = (
            Entitlement.objects.select_for_update().filter(id=entitlement_id).first()
        )
        if entitlement is None:
            raise AuthorityRefused(_("no such entitlement"))
        if seen_updated_at is not None and entitlement.updated_at != seen_updated_at:
            raise AuthorityRefused(
                _(
                    "the entitlement changed since you opened it (a grant may have "
                    "extended or paused it): open it again"
                )
            )
        entitlement.product = product
        entitlement.starts_on, entitlement.ends_on = starts_on, ends_on
        entitlement.paused_from, entitlement.paused_until = paused_from, paused_until
        entitlement.updated_at = now
        entitlement.save(
            update_fields=[
                "product",
                "starts_on",
                "ends_on",
                "paused_from",
                "paused_until",
                "updated_at",
            ]
        )
    return entitlement


def entitlement_dates_problem(
    *,
    starts_on: date,
    ends_on: date,
    paused_from: date | None,
    paused_until: date | None,
) -> str:
    """What is wrong with an entitlement's dates, in words ("" when nothing)."""
    if ends_on < starts_on:
        return _("an entitlement ends after it starts")
    if (paused_from is None) != (paused_until is None):
        return _("a pause has both a first and a last day")
    if paused_from is not None and paused_until < paused_from:
        return _("a pause ends after it starts")
    return ""


def customer_merge(*, source_id: int, target_id: int, now: datetime) -> None:
    """Merge two customers across every app, in one transaction: pods moves
    identities, tickets the tickets, and the source's entitlements become the
    target's (an extension or pause now changes them). Grants are append-only
    and keep the source's id: the target's family (CustomerFacts.family_ids)
    counts them against the target's limits. Raises pods.services.MergeRefused."""
    with transaction.atomic():
        tickets.services.customer_merge(
            source_id=source_id, target_id=target_id, now=now
        )
        target = pods.selectors.customer_facts(customer_id=target_id)
        Entitlement.objects.filter(customer_id=source_id).update(
            customer_id=target.customer_id, updated_at=now
        )
