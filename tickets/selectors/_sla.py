"""Reads for SLA: the policies as pure facts, tickets whose due time has passed."""

from datetime import datetime

from django.db import connection
from django.db.models import QuerySet

from tickets import rules
from tickets.models import BusinessHoursInterval, Holiday, Ticket

# Every contact reads the policies once or twice (open, then the customer's
# message): three small reads in plain SQL, a fraction of the ORM's cost of
# building the prefetching queries. The facts made from the rows are kept and
# reused while the rows stay the same, so a change in admin applies at once.
_POLICIES_SQL = (
    "SELECT p.id, p.priority, p.channel, p.pod_id, p.first_response_minutes,"
    " p.next_response_minutes, p.resolution_minutes, p.position,"
    " p.business_hours_id, h.timezone"
    " FROM tickets_slapolicy p"
    " LEFT JOIN tickets_businesshours h ON h.id = p.business_hours_id"
    " WHERE p.active = %s ORDER BY p.position, p.id"
)
_INTERVALS_SQL = (
    "SELECT hours_id, weekday, opens, closes"
    " FROM tickets_businesshoursinterval WHERE hours_id IN"
    " (SELECT business_hours_id FROM tickets_slapolicy WHERE active = %s)"
    " ORDER BY hours_id, weekday, opens, id"
)
_HOLIDAYS_SQL = (
    "SELECT hours_id, date"
    " FROM tickets_holiday WHERE hours_id IN"
    " (SELECT business_hours_id FROM tickets_slapolicy WHERE active = %s)"
    " ORDER BY hours_id, date"
)
_OPENS = BusinessHoursInterval._meta.get_field("opens")
_CLOSES = BusinessHoursInterval._meta.get_field("closes")
_DATE = Holiday._meta.get_field("date")


# The rows last read and the facts made from them, replaced as one tuple.
_last_read: list[tuple[tuple, tuple[rules.SlaPolicyFacts, ...]]] = [((), ())]


def sla_policy_facts() -> list[rules.SlaPolicyFacts]:
    """Every active SLA policy with its business hours, as the rules take them,
    in the policies' order (position, id)."""
    with connection.cursor() as cursor:
        cursor.execute(_POLICIES_SQL, [True])
        policies = tuple(cursor.fetchall())
        intervals: tuple = ()
        holidays: tuple = ()
        if any(row[8] is not None for row in policies):
            cursor.execute(_INTERVALS_SQL, [True])
            intervals = tuple(cursor.fetchall())
            cursor.execute(_HOLIDAYS_SQL, [True])
            holidays = tuple(cursor.fetchall())
    rows = (policies, intervals, holidays)
    rows_seen, facts = _last_read[0]
    if rows != rows_seen:
        facts = _facts_from_rows(*rows)
        _last_read[0] = (rows, facts)
    return list(facts)


def _facts_from_rows(
    policies: tuple, intervals: tuple, holidays: tuple
) -> tuple[rules.SlaPolicyFacts, ...]:
    weekly: dict[int, list] = {}
    for hours_id, weekday, opens, closes in intervals:
        weekly.setdefault(hours_id, []).append(
            (weekday, _OPENS.to_python(opens), _CLOSES.to_python(closes))
        )
    closed: dict[int, set] = {}
    for hours_id, day in holidays:
        closed.setdefault(hours_id, set()).add(_DATE.to_python(day))
    hours_by_id: dict[int, rules.BusinessHours] = {}
    facts = []
    for (
        policy_id,
        priority,
        channel,
        pod_id,
        first_response,
        next_response,
        resolution,
        position,
        hours_id,
        timezone_name,
    ) in policies:
        if hours_id is not None and hours_id not in hours_by_id:
            hours_by_id[hours_id] = rules.BusinessHours(
                timezone=timezone_name,
                weekly=tuple(weekly.get(hours_id, ())),
                holidays=frozenset(closed.get(hours_id, ())),
            )
        facts.append(
            rules.SlaPolicyFacts(
                policy_id=policy_id,
                priority=priority or None,
                channel=channel or None,
                pod_id=pod_id,
                targets=rules.SlaTargets(
                    first_response_minutes=first_response,
                    next_response_minutes=next_response,
                    resolution_minutes=resolution,
                ),
                hours=hours_by_id.get(hours_id),
                position=position,
            )
        )
    return tuple(facts)


def tickets_due_before(*, moment: datetime) -> QuerySet[Ticket]:
    """Open tickets with an unreported SLA due time at or before the moment (the
    breach sweep; the partial index on sla_check_at keeps this cheap)."""
    return Ticket.objects.filter(
        status__in=Ticket.OPEN_STATUSES, sla_check_at__lte=moment
    ).order_by("sla_check_at", "id")
