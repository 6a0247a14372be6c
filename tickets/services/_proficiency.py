"""Nightly proficiency: ticket facts turned into each agent's KPI readings."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pods.services
from tickets import selectors


def proficiency_recompute(*, period_end: date, days: int, now: datetime) -> int:
    """Score every agent who solved tickets in the `days` before period_end from
    ticket facts; return how many were scored. An agent whose customers
    answered no survey in the period has no CSAT reading, and the scoring rule
    leaves that KPI out."""
    end = datetime.combine(period_end, time.min, tzinfo=UTC)
    start = end - timedelta(days=days)
    facts = selectors.agent_facts(start=start, end=end)
    for fact in facts:
        pods.services.agent_proficiency_record(
            agent_id=fact.agent_id,
            contacts_per_day=Decimal(fact.solved) / days,
            handle_minutes=fact.median_handle_minutes,
            csat=fact.csat,
            one_touch_rate=fact.one_touch_rate,
            period_start=start.date(),
            period_end=period_end,
            now=now,
        )
    return len(facts)
