"""Configuring the funnel: rules (versioned: a change is a new version, the old
one kept for the grants that point at it), action types, entitlements, and the
demo configuration."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

import pods.selectors
from authority import selectors
from authority.models import ActionType, AuthorityRule, Entitlement
from authority.services._audit import RULES_CHAIN, audit_append
from authority.services._errors import AuthorityRefused, RuleInvalid

SCOPE_FIELDS = ("pod", "agent_role", "contact_reason", "customer_segment")
TERM_FIELDS = (
    "name",
    "action_type",
    "stage",
    *SCOPE_FIELDS,
    "max_per_grant",
    "customer_period_days",
    "customer_max_count",
    "customer_max_total",
    "agent_daily_total",
    "pod_monthly_total",
    "min_tenure_days",
    "cooldown_days",
    "approver_group",
    "approval_hours",
    "valid_from",
    "valid_to",
    "is_active",
)
AMOUNT_LIMITS = (
    "max_per_grant",
    "customer_max_total",
    "agent_daily_total",
    "pod_monthly_total",
)
CENT = Decimal("0.01")
AGENT_ROLES = ("AGENT", "LEAD", "SPECIALIST")


def rule_problems(*, terms: dict[str, Any], lineage=None) -> list[str]:
    """What is wrong with a rule's terms, in words (empty: nothing). `lineage`
    is the rule being changed, whose own versions do not overlap it."""
    terms = _amounts_as_stored(terms)
    problems = _terms_problems(terms)
    if not problems and terms.get("is_active", True):
        problems += _overlap_problems(terms=terms, lineage=lineage)
    return problems


def _terms_problems(terms: dict[str, Any]) -> list[str]:
    problems = []
    action_type: ActionType = terms["action_type"]
    stage = terms["stage"]
    if stage == AuthorityRule.Stage.SELF_SERVICE and terms.get("agent_role"):
        problems.append(_("a self-service rule cannot be limited to an agent role"))
    if terms.get("agent_role") and terms["agent_role"] not in AGENT_ROLES:
        problems.append(_("unknown agent role"))
    period = terms.get("customer_period_days")
    if (
        terms.get("customer_max_count") is not None
        or terms.get("customer_max_total") is not None
    ) and not period:
        problems.append(
            _("a per-customer limit needs the period it counts over (days)")
        )
    per_grant = terms.get("max_per_grant")
    for name, label in (
        ("customer_max_total", _("the customer's total")),
        ("agent_daily_total", _("the agent's daily total")),
        ("pod_monthly_total", _("the pod's monthly budget")),
    ):
        if (
            per_grant is not None
            and terms.get(name) is not None
            and per_grant > terms[name]
        ):
            problems.append(
                _("the limit per grant is more than %(what)s") % {"what": label}
            )
    if action_type.unit == ActionType.Unit.DAYS:
        for name in (
            "max_per_grant",
            "customer_max_total",
            "agent_daily_total",
            "pod_monthly_total",
        ):
            value = terms.get(name)
            if value is not None and value != value.to_integral_value():
                problems.append(_("limits of a days action are whole days"))
                break
    if (
        terms.get("approver_group") is not None
        and stage != AuthorityRule.Stage.APPROVAL
    ):
        problems.append(_("only a stage-1 rule has approvers"))
    valid_to = terms.get("valid_to")
    if valid_to is not None and valid_to <= terms["valid_from"]:
        problems.append(_("the rule must end after it starts"))
    return problems


def _overlap_problems(*, terms: dict[str, Any], lineage) -> list[str]:
    """No two active rules of one action, stage and scope in force at once:
    which one applied would be a coin toss."""
    others = AuthorityRule.objects.filter(
        superseded_at__isnull=True,
        is_active=True,
        action_type=terms["action_type"],
        stage=terms["stage"],
        pod=terms.get("pod"),
        agent_role=terms.get("agent_role") or "",
        contact_reason=terms.get("contact_reason"),
        customer_segment=terms.get("customer_segment") or "",
    )
    if lineage is not None:
        others = others.exclude(lineage=lineage)
    if terms.get("valid_to") is not None:
        others = others.filter(valid_from__lt=terms["valid_to"])
    others = others.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=terms["valid_from"])
    )
    clash = others.first()
    if clash is None:
        return []
    return [
        _("“%(other)s” already covers this action, stage and scope in that time")
        % {"other": str(clash)}
    ]


def rule_create(
    *, terms: dict[str, Any], user, note: str, now: datetime
) -> AuthorityRule:
    """Version 1 of a new rule. Raises RuleInvalid."""
    terms = _terms_normalised(terms)
    problems = rule_problems(terms=terms)
    if problems:
        raise RuleInvalid(problems)
    with transaction.atomic():
        rule = AuthorityRule.objects.create(
            **terms, created_by=user, created_at=now, change_note=note
        )
        _rule_audit(rule=rule, before=None, user=user, note=note, now=now)
    return rule


def rule_revise(
    *, rule_id: int, terms: dict[str, Any], user, note: str, now: datetime
) -> AuthorityRule:
    """A new version of the rule with these terms; the old version stays, as
    the basis of the grants made under it. Raises RuleInvalid."""
    terms = _terms_normalised(terms)
    with transaction.atomic():
        current = AuthorityRule.objects.select_for_update().filter(id=rule_id).first()
        if current is None or current.superseded_at is not None:
            raise RuleInvalid([_("only the current version of a rule can be changed")])
        problems = rule_problems(terms=terms, lineage=current.lineage)
        if problems:
            raise RuleInvalid(problems)
        current.superseded_at = now
        current.save(update_fields=["superseded_at"])
        rule = AuthorityRule.objects.create(
            **terms,
            lineage=current.lineage,
            version=current.version + 1,
            created_by=user,
            created_at=now,
            change_note=note,
        )
        _rule_audit(rule=rule, before=current, user=user, note=note, now=now)
    return rule


def _terms_normalised(terms: dict[str, Any]) -> dict[str, Any]:
    unknown = set(terms) - set(TERM_FIELDS)
    if unknown:
        raise RuleInvalid(
            [
                _("unknown rule fields: %(names)s")
                % {"names": ", ".join(sorted(unknown))}
            ]
        )
    normalised = {name: terms[name] for name in TERM_FIELDS if name in terms}
    normalised["agent_role"] = normalised.get("agent_role") or ""
    normalised["customer_segment"] = normalised.get("customer_segment") or ""
    return _amounts_as_stored(normalised)


def _amounts_as_stored(terms: dict[str, Any]) -> dict[str, Any]:
    """Limits as the database keeps them (Decimal, two places), whatever the
    caller typed: the checks then compare like with like, and the audit trail
    does not record "50" against "50.00" as a change."""
    return {
        name: (
            Decimal(str(value)).quantize(CENT)
            if name in AMOUNT_LIMITS and value is not None
            else value
        )
        for name, value in terms.items()
    }


def _rule_audit(
    *, rule: AuthorityRule, before: AuthorityRule | None, user, note: str, now: datetime
) -> None:
    after = _rule_snapshot(rule)
    changed = (
        after
        if before is None
        else {
            name: [old, after[name]]
            for name, old in _rule_snapshot(before).items()
            if old != after[name]
        }
    )
    audit_append(
        chain=RULES_CHAIN,
        kind="RULE_CHANGED",
        subject=f"rule:{rule.lineage}",
        details={
            "rule": rule.id,
            "version": rule.version,
            "changed": changed,
            "note": note,
        },
        actor_user_id=getattr(user, "pk", None),
        actor_label=user.get_username() if user else "system",
        now=now,
    )


def _rule_snapshot(rule: AuthorityRule) -> dict[str, Any]:
    snapshot = {}
    for name in TERM_FIELDS:
        value = (
            getattr(rule, f"{name}_id", None)
            if name in ("action_type", "pod", "contact_reason", "approver_group")
            else getattr(rule, name)
        )
        snapshot[name] = (
            value if isinstance(value, (int, bool, str, type(None))) else str(value)
        )
    return snapshot


# --- Entitlements -------------------------------------------------------------------


def entitlement_create(
    *, customer_id: int, product: str, starts_on: date, ends_on: date, now: datetime
) -> Entitlement:
    if pods.selectors.customer_facts(customer_id=customer_id) is None:
        raise AuthorityRefused(_("no such customer"))
    if ends_on < starts_on:
        raise AuthorityRefused(_("an entitlement ends after it starts"))
    return Entitlement.objects.create(
        customer_id=customer_id,
        product=product,
        starts_on=starts_on,
        ends_on=ends_on,
        created_at=now,
        updated_at=now,
    )


# --- Demo ---------------------------------------------------------------------------

DEMO_ACTIONS = (
    # code, name, unit, currency, effect, product
    ("refund", "Refund", "MONEY", "GBP", "REFUND", ""),
    ("credit", "Account credit", "MONEY", "GBP", "CREDIT", ""),
    ("extension", "Class extension", "DAYS", "", "EXTEND", "Class pass"),
    ("pause", "Class pause", "DAYS", "", "PAUSE", "Class pass"),
)


def demo_authority_seed(
    *, now: datetime, customer_ids: list[int] | None = None
) -> dict[str, int]:
    """Action types and rules at every stage (refunds: agents up to £50, the
    pod lead above, to £500; credits: agents up to £30; extensions: customers
    7 days once a quarter, agents 14, approval to 60; pauses: customers 14
    days), and a class pass for the given customers. Idempotent."""
    made = {"action_types": 0, "rules": 0, "entitlements": 0}
    with transaction.atomic():
        types = {}
        for code, name, unit, currency, effect, product in DEMO_ACTIONS:
            types[code], created = ActionType.objects.get_or_create(
                code=code,
                defaults={
                    "name": name,
                    "unit": unit,
                    "currency": currency,
                    "effect": effect,
                    "product": product,
                    "created_at": now,
                },
            )
            made["action_types"] += created
        if not AuthorityRule.objects.exists():
            for terms in _demo_rules(types=types, now=now):
                rule_create(terms=terms, user=None, note="demo configuration", now=now)
                made["rules"] += 1
        for customer_id in customer_ids or ():
            if not selectors.entitlements_of_customer(customer_id=customer_id):
                starts = (now - timedelta(days=40)).date()
                entitlement_create(
                    customer_id=customer_id,
                    product="Class pass",
                    starts_on=starts,
                    ends_on=starts + timedelta(days=90),
                    now=now,
                )
                made["entitlements"] += 1
    return made


def _demo_rules(*, types: dict[str, ActionType], now: datetime) -> list[dict[str, Any]]:
    start = now - timedelta(days=365)
    money = Decimal
    return [
        {
            "name": "Refunds an agent decides",
            "action_type": types["refund"],
            "stage": 2,
            "max_per_grant": money("50"),
            "customer_period_days": 90,
            "customer_max_count": 2,
            "customer_max_total": money("100"),
            "agent_daily_total": money("300"),
            "pod_monthly_total": money("5000"),
            "valid_from": start,
        },
        {
            "name": "Refunds the pod lead approves",
            "action_type": types["refund"],
            "stage": 1,
            "max_per_grant": money("500"),
            "pod_monthly_total": money("20000"),
            "approval_hours": 8,
            "valid_from": start,
        },
        {
            "name": "Goodwill credit",
            "action_type": types["credit"],
            "stage": 2,
            "max_per_grant": money("30"),
            "agent_daily_total": money("200"),
            "pod_monthly_total": money("3000"),
            "valid_from": start,
        },
        {
            "name": "Extensions customers choose",
            "action_type": types["extension"],
            "stage": 3,
            "max_per_grant": money("7"),
            "customer_period_days": 90,
            "customer_max_count": 1,
            "min_tenure_days": 30,
            "valid_from": start,
        },
        {
            "name": "Extensions an agent decides",
            "action_type": types["extension"],
            "stage": 2,
            "max_per_grant": money("14"),
            "customer_period_days": 90,
            "customer_max_total": money("30"),
            "valid_from": start,
        },
        {
            "name": "Extensions the pod lead approves",
            "action_type": types["extension"],
            "stage": 1,
            "max_per_grant": money("60"),
            "approval_hours": 24,
            "valid_from": start,
        },
        {
            "name": "Pauses customers choose",
            "action_type": types["pause"],
            "stage": 3,
            "max_per_grant": money("14"),
            "cooldown_days": 60,
            "valid_from": start,
        },
    ]
