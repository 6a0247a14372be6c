"""Reads for SLA: the policies as pure facts, tickets whose due time has passed."""

from datetime import datetime

from django.db.models import QuerySet

from tickets import rules
from tickets.models import SlaPolicy, Ticket


def sla_policy_facts() -> list[rules.SlaPolicyFacts]:
    """Every active SLA policy with its business hours, as the rules take them."""
    policies = SlaPolicy.objects.filter(active=True).prefetch_related(
        "business_hours__intervals", "business_hours__holidays"
    )
    return [
        rules.SlaPolicyFacts(
            policy_id=policy.id,
            priority=policy.priority or None,
            channel=policy.channel or None,
            pod_id=policy.pod_id,
            targets=rules.SlaTargets(
                first_response_minutes=policy.first_response_minutes,
                next_response_minutes=policy.next_response_minutes,
                resolution_minutes=policy.resolution_minutes,
            ),
            hours=_business_hours(policy.business_hours),
            position=policy.position,
        )
        for policy in policies
    ]


def _business_hours(hours) -> rules.BusinessHours | None:
    if hours is None:
        return None
    return rules.BusinessHours(
        timezone=hours.timezone,
        weekly=tuple(
            (interval.weekday, interval.opens, interval.closes)
            for interval in hours.intervals.all()
        ),
        holidays=frozenset(holiday.date for holiday in hours.holidays.all()),
    )


def tickets_due_before(*, moment: datetime) -> QuerySet[Ticket]:
    """Open tickets with an unreported SLA due time at or before the moment (the
    breach sweep; the partial index on sla_check_at keeps this cheap)."""
    return Ticket.objects.filter(
        status__in=Ticket.OPEN_STATUSES, sla_check_at__lte=moment
    ).order_by("sla_check_at", "id")
