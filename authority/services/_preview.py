"""What the engine would decide, without deciding: the ask's checks on the
usage as it stands, no locks taken, nothing written (the API's preview, for an
integration that wants to show an agent the outcome before they ask)."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from authority import rules, selectors
from authority.models import ActionType, AuthorityRule
from authority.services._grants import (
    Actor,
    _entitlement_checked,
    ask_context,
    engine_ask,
)


@dataclass(frozen=True)
class Preview:
    action_type: ActionType
    amount: Decimal
    customer_id: int
    ticket_id: int | None
    outcome: str
    rule: AuthorityRule | None
    reasons: tuple[dict, ...]


def authority_preview(
    *,
    actor: Actor,
    action_code: str,
    amount: Decimal | str,
    customer_id: int,
    ticket_id: int | None,
    effect_starts_on: date | None = None,
    now: datetime,
) -> Preview:
    """The decision authority_ask would take now for this actor. A concurrent
    grant may change it before an ask: only the ask decides. Raises
    AuthorityRefused like authority_ask."""
    context = ask_context(
        action_code=action_code,
        amount=amount,
        customer_id=customer_id,
        ticket_id=ticket_id,
        effect_starts_on=effect_starts_on,
    )
    candidates = selectors.candidate_rules(
        action_type_id=context.action_type.id,
        customer=context.customer,
        agent_role=actor.role,
        contact_reason_id=context.contact_reason_id,
        now=now,
    )
    terms = [selectors.rule_terms(rule=rule) for rule in candidates]
    usage = selectors.usage_read(
        action_type_id=context.action_type.id,
        customer=context.customer,
        agent_id=actor.agent_id,
        history_days=max((term.history_days for term in terms), default=0),
        now=now,
    )
    decision = rules.decide(
        ask=engine_ask(
            action_type=context.action_type,
            amount=context.amount,
            engine_actor=actor.engine_actor,
            now=now,
        ),
        candidates=terms,
        usage=usage,
    )
    decision = _entitlement_checked(decision=decision, context=context, now=now)
    by_id = {rule.id: rule for rule in candidates}
    return Preview(
        action_type=context.action_type,
        amount=context.amount,
        customer_id=context.customer.customer_id,
        ticket_id=context.ticket_id,
        outcome=decision.outcome.value,
        rule=by_id.get(decision.rule.rule_id) if decision.rule else None,
        reasons=tuple(reason.as_dict() for reason in decision.reasons),
    )
