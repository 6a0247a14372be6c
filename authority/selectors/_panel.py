"""Reads for the funnel's screens and API: what an agent may grant a customer
right now (the ticket page's panel), the customer's grants, requests and
entitlements, the approval queue's context, and the API's scoped lists.

Each read is a fixed number of queries whatever the number of action types,
rules or rows, so the panel and the queue cost the same for every customer."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet

import pods.selectors
from authority import rules
from authority.models import (
    ActionType,
    AuthorityRequest,
    AuthorityRule,
    Entitlement,
    Grant,
    UsageCounter,
)
from authority.selectors._funnel import (
    action_types_active,
    periods_at,
    rule_terms,
    rules_current,
)

RECENT_GRANTS_SHOWN = 5
RECENT_GRANTS_DAYS = 365


@dataclass(frozen=True)
class AuthorityOption:
    """What an agent may do with one action for one customer right now: the
    most their own rule grants at once (None: no limit), the most an approval
    could grant, or why neither is possible (engine reasons, not words)."""

    action_type: ActionType
    rule: AuthorityRule | None
    allowed: Decimal | None
    approval_rule: AuthorityRule | None
    ceiling: Decimal | None
    blockers: tuple[dict, ...] = ()

    @property
    def can_grant(self) -> bool:
        return (
            self.rule is not None
            and not self.blockers
            and (self.allowed is None or self.allowed > 0)
        )

    @property
    def can_ask(self) -> bool:
        return (
            self.approval_rule is not None
            and not self.blockers
            and (self.ceiling is None or self.ceiling > 0)
        )

    @property
    def available(self) -> bool:
        return self.can_grant or self.can_ask


def authority_options(
    *,
    customer: pods.selectors.CustomerFacts,
    agent_id: int | None,
    agent_role: str,
    contact_reason_id: int | None,
    entitlements: Sequence[Entitlement],
    now: datetime,
) -> list[AuthorityOption]:
    """For every active action type, what this agent may grant this customer
    now under the rules in force (four queries: action types, rules, the
    customer's recent grants, the agent's and pod's usage)."""
    action_types = list(action_types_active())
    ids = [action_type.id for action_type in action_types]
    candidates: dict[int, list[AuthorityRule]] = defaultdict(list)
    for rule in rules_current(now=now).filter(
        Q(pod__isnull=True) | Q(pod_id=customer.pod_id),
        Q(agent_role="") | Q(agent_role=agent_role),
        Q(contact_reason__isnull=True) | Q(contact_reason_id=contact_reason_id),
        Q(customer_segment="") | Q(customer_segment=customer.segment),
        action_type_id__in=ids,
    ):
        candidates[rule.action_type_id].append(rule)
    history_days = max(
        (
            rule_terms(rule=rule).history_days
            for found in candidates.values()
            for rule in found
        ),
        default=0,
    )
    customer_grants = family_grants_by_action(
        customer_ids=customer.family_ids,
        action_type_ids=ids,
        since=now - timedelta(days=history_days),
    )
    usage = _usage_by_action(
        customer=customer, agent_id=agent_id, action_type_ids=ids, now=now
    )
    return [
        _option(
            action_type=action_type,
            candidates=candidates.get(action_type.id, []),
            usage=rules.Usage(
                customer_since=customer.created_at,
                customer_grants=customer_grants.get(action_type.id, ()),
                agent_today=usage.get((UsageCounter.Scope.AGENT_DAY, action_type.id))
                or Decimal("0"),
                pod_month=usage.get((UsageCounter.Scope.POD_MONTH, action_type.id))
                or Decimal("0"),
            ),
            entitlement_problem=_entitlement_problem(
                action_type=action_type, entitlements=entitlements, now=now
            ),
            now=now,
        )
        for action_type in action_types
    ]


def family_grants_by_action(
    *, customer_ids: Sequence[int], action_type_ids: list[int], since: datetime
) -> dict[int, tuple[tuple[datetime, Decimal], ...]]:
    """(when, amount) of the standing grants of the customer's family (merged
    customers' too, as the engine counts them), per action: what
    customer_recent_grants reads, for every action at once."""
    found: dict[int, list[tuple[datetime, Decimal]]] = defaultdict(list)
    for action_type_id, granted_at, amount in Grant.objects.filter(
        customer_id__in=customer_ids,
        action_type_id__in=action_type_ids,
        kind=Grant.Kind.GRANT,
        granted_at__gt=since,
        reversal__isnull=True,
    ).values_list("action_type_id", "granted_at", "amount"):
        found[action_type_id].append((granted_at, amount))
    return {key: tuple(sorted(rows)) for key, rows in found.items()}


def _usage_by_action(
    *,
    customer: pods.selectors.CustomerFacts,
    agent_id: int | None,
    action_type_ids: list[int],
    now: datetime,
) -> dict[tuple[str, int], Decimal]:
    periods = periods_at(now=now, time_zone=customer.pod_time_zone)
    rows = UsageCounter.objects.filter(
        Q(
            scope=UsageCounter.Scope.POD_MONTH,
            scope_id=customer.pod_id,
            period_start=periods.month,
        )
        | Q(
            scope=UsageCounter.Scope.AGENT_DAY,
            scope_id=agent_id or 0,
            period_start=periods.day,
        ),
        action_type_id__in=action_type_ids,
    ).values_list("scope", "action_type_id", "amount")
    return {(scope, action_type_id): amount for scope, action_type_id, amount in rows}


def _entitlement_problem(
    *, action_type: ActionType, entitlements: Sequence[Entitlement], now: datetime
) -> dict | None:
    """The engine's entitlement check, on the entitlements already read."""
    effect = action_type.effect
    if effect not in (ActionType.Effect.EXTEND, ActionType.Effect.PAUSE):
        return None
    matching = [
        entitlement
        for entitlement in entitlements
        if not action_type.product or entitlement.product == action_type.product
    ]
    if not matching:
        return {
            "code": "no_entitlement",
            "ok": False,
            "params": {"product": action_type.product},
        }
    latest = max(
        matching, key=lambda entitlement: (entitlement.ends_on, entitlement.id)
    )
    if (
        effect == ActionType.Effect.PAUSE
        and latest.paused_until
        and latest.paused_until > now.date()
    ):
        return {
            "code": "already_paused",
            "ok": False,
            "params": {"until": latest.paused_until.isoformat()},
        }
    return None


def _option(
    *,
    action_type: ActionType,
    candidates: list[AuthorityRule],
    usage: rules.Usage,
    entitlement_problem: dict | None,
    now: datetime,
) -> AuthorityOption:
    by_id = {rule.id: rule for rule in candidates}
    terms = [rule_terms(rule=rule) for rule in candidates]
    probe = rules.Ask(
        action_name=action_type.name,
        unit=action_type.unit,
        currency=action_type.currency,
        amount=Decimal("1") if action_type.unit == rules.DAYS else Decimal("0.01"),
        actor=rules.ACTOR_AGENT,
        now=now,
    )
    # The engine tries the agent's own rule, then self-service: the most either
    # allows is the most the agent can grant at once.
    direct = rules.direct_rules(candidates=terms, actor=rules.ACTOR_AGENT)
    best, allowed = None, Decimal("0")
    for term in direct:
        amount = rules.amount_allowed(ask=probe, rule=term, usage=usage)
        if amount is None or amount > allowed:
            best, allowed = term, amount
        if amount is None:
            break
    if best is None and direct:
        best = direct[0]
    approval = rules.most_specific(candidates=terms, stage=rules.APPROVAL)
    ceiling = (
        rules.amount_allowed(ask=probe, rule=approval, usage=usage)
        if approval
        else None
    )
    option = AuthorityOption(
        action_type=action_type,
        rule=by_id[best.rule_id] if best else None,
        allowed=allowed if best else Decimal("0"),
        approval_rule=by_id[approval.rule_id] if approval else None,
        ceiling=ceiling,
        blockers=(entitlement_problem,) if entitlement_problem else (),
    )
    if option.available or option.blockers:
        return option
    return replace(option, blockers=_why_not(probe, direct, approval, usage))


def _why_not(
    probe: rules.Ask,
    direct: list[rules.RuleTerms],
    approval: rules.RuleTerms | None,
    usage: rules.Usage,
) -> tuple[dict, ...]:
    """The checks that stand in the way of even the smallest grant."""
    tried = [*direct, *([approval] if approval else [])]
    if not tried:
        return ({"code": "no_rule", "ok": False, "params": {"actor": probe.actor}},)
    failed = []
    for term in tried:
        for reason in rules.rule_checks(ask=probe, rule=term, usage=usage):
            if not reason.ok and reason.as_dict() not in failed:
                failed.append(reason.as_dict())
    return tuple(failed)


# --- A customer's grants and requests ----------------------------------------------


def grants_of_customer_listed(
    *, customer_ids: Sequence[int], limit: int = 20
) -> list[Grant]:
    """The latest grants and reversals of a customer's family
    (CustomerFacts.family_ids), each with whether (and by what) it was
    reversed, in one query."""
    return list(
        Grant.objects.filter(customer_id__in=customer_ids)
        .select_related("action_type", "agent__user", "rule", "reversal")
        .order_by("-granted_at", "-id")[:limit]
    )


def requests_pending_of_customer(*, customer_id: int) -> list[AuthorityRequest]:
    return list(
        AuthorityRequest.objects.filter(
            customer_id=customer_id, state=AuthorityRequest.State.PENDING
        )
        .select_related("action_type", "agent__user")
        .order_by("due_at", "id")
    )


def request_of_ticket_shown(
    *, request_id: int, ticket_id: int
) -> AuthorityRequest | None:
    """A request asked on this ticket, with its grant (the panel shows its
    outcome until the agent moves on)."""
    return (
        AuthorityRequest.objects.select_related(
            "action_type", "rule", "agent__user", "grant", "decision"
        )
        .filter(id=request_id, ticket_id=ticket_id)
        .first()
    )


def grants_recent_of_customers(
    *, customer_ids: Sequence[int], now: datetime
) -> dict[int, list[Grant]]:
    """Each customer's latest grants of the last year (at most
    RECENT_GRANTS_SHOWN each), for the approval queue, in one query."""
    found: dict[int, list[Grant]] = defaultdict(list)
    if not customer_ids:
        return found
    for grant in (
        Grant.objects.filter(
            customer_id__in=set(customer_ids),
            granted_at__gt=now - timedelta(days=RECENT_GRANTS_DAYS),
        )
        .select_related("action_type")
        .order_by("customer_id", "-granted_at", "-id")
    ):
        if len(found[grant.customer_id]) < RECENT_GRANTS_SHOWN:
            found[grant.customer_id].append(grant)
    return found


# --- Scoped lists (the API) --------------------------------------------------------


def requests_listed(
    *, pod_ids: Sequence[int] | None, state: str = "", customer_id: int | None = None
) -> QuerySet[AuthorityRequest]:
    """Requests of these pods (None: every pod), newest first."""
    found = AuthorityRequest.objects.select_related(
        "action_type", "rule", "agent__user", "grant", "decision"
    )
    if pod_ids is not None:
        found = found.filter(pod_id__in=pod_ids)
    if state:
        found = found.filter(state=state)
    if customer_id is not None:
        found = found.filter(customer_id=customer_id)
    return found.order_by("-id")


def grants_listed(
    *, pod_ids: Sequence[int] | None, customer_id: int | None = None
) -> QuerySet[Grant]:
    """Grants and reversals of these pods (None: every pod), newest first."""
    found = Grant.objects.select_related(
        "action_type", "rule", "agent__user", "reversal"
    )
    if pod_ids is not None:
        found = found.filter(pod_id__in=pod_ids)
    if customer_id is not None:
        found = found.filter(customer_id=customer_id)
    return found.order_by("-id")


def grant_detail(*, grant_id: int) -> Grant | None:
    return (
        Grant.objects.select_related("action_type", "rule", "agent__user", "reversal")
        .filter(id=grant_id)
        .first()
    )
