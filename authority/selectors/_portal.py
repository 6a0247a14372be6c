"""Reads of the customer portal: the customer's entitlements with what remains
of each, the stage-3 actions their rules allow them right now (or why not, in
words for a customer), and what they did themselves lately.

Everything is read for the customer's family (CustomerFacts.family_ids): a
customer merged into this one is the same person, with the same limits. The
portal panel costs the same few queries whatever the number of rules,
entitlements or grants."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import pods.selectors
from authority import rules
from authority.models import (
    ActionType,
    AuthorityRequest,
    AuthorityRule,
    Entitlement,
    EntitlementReminder,
    UsageCounter,
)
from authority.selectors._funnel import (
    action_types_active,
    amount_words,
    periods_at,
    reason_words,
    rule_terms,
    rules_current,
)
from authority.selectors._panel import family_grants_by_action

ENTITLEMENT_EFFECTS = (ActionType.Effect.EXTEND, ActionType.Effect.PAUSE)
RECENT_SELF_SERVICE_SHOWN = 10
CUSTOMER_ACTOR_PREFIX = "customer:"


@dataclass(frozen=True)
class SelfServiceOption:
    """One stage-3 action for one customer right now: the rule that allows it,
    the most it allows at once (None: no limit), the engine's checks that stand
    in the way (empty when it is offered), and when it becomes possible again
    when the clock alone stands in the way."""

    action_type: ActionType
    rule: AuthorityRule
    terms: rules.RuleTerms
    usage: rules.Usage
    allowed: Decimal | None
    blockers: tuple[dict, ...] = ()
    possible_from: date | None = None
    count_left: int | None = None  # grants left in the rule's window, if counted

    @property
    def offered(self) -> bool:
        return not self.blockers and (self.allowed is None or self.allowed > 0)


@dataclass(frozen=True)
class PortalEntitlement:
    """An entitlement as its customer sees it, with the actions that change it
    (only on the one the engine changes: the latest of its product)."""

    entitlement: Entitlement
    days_total: int
    days_left: int
    paused_now: bool
    pause_ahead: bool
    ended: bool
    options: tuple[SelfServiceOption, ...] = ()

    @property
    def days_used(self) -> int:
        return self.days_total - self.days_left


@dataclass(frozen=True)
class SelfService:
    entitlements: list[PortalEntitlement]
    options: list[SelfServiceOption]  # actions that change no entitlement
    recent: list[AuthorityRequest]


def self_service_of_customer(
    *, customer: pods.selectors.CustomerFacts, now: datetime
) -> SelfService:
    """The portal's entitlements panel for this customer at `now` (six
    queries: entitlements, action types, rules, grants, the pod's month, the
    customer's own recent asks)."""
    entitlements = entitlements_of_family(customer_ids=customer.family_ids)
    options = self_service_options(customer=customer, now=now)
    today = now.date()
    targets = {
        option.action_type.id: _entitlement_changed(
            customer_id=customer.customer_id,
            product=option.action_type.product,
            entitlements=entitlements,
        )
        for option in options
        if option.action_type.effect in ENTITLEMENT_EFFECTS
    }
    shown = []
    for entitlement in entitlements:
        mine = tuple(
            _with_entitlement_checked(option=option, entitlement=entitlement, now=now)
            for option in options
            if targets.get(option.action_type.id) is entitlement
        )
        shown.append(_portal_entitlement(entitlement, today=today, options=mine))
    return SelfService(
        # What still runs first, soonest ending first; ended ones after.
        entitlements=sorted(
            shown, key=lambda item: (item.ended, item.entitlement.ends_on)
        ),
        options=[
            option
            for option in options
            if option.action_type.effect not in ENTITLEMENT_EFFECTS
        ],
        recent=self_service_recent(customer_ids=customer.family_ids),
    )


def entitlements_of_family(*, customer_ids: Sequence[int]) -> list[Entitlement]:
    return list(
        Entitlement.objects.filter(customer_id__in=customer_ids).order_by(
            "ends_on", "id"
        )
    )


def entitlement_of_family(
    *, entitlement_id: int, customer_ids: Sequence[int]
) -> Entitlement | None:
    """The entitlement if it is this customer's (None for anyone else's,
    exactly as for one that does not exist)."""
    return Entitlement.objects.filter(
        id=entitlement_id, customer_id__in=customer_ids
    ).first()


def entitlement_changed_by(
    *, customer: pods.selectors.CustomerFacts, action_type: ActionType
) -> Entitlement | None:
    """The entitlement an extension or pause of this customer would change
    (authority_ask's own choice: the latest ending one of the product)."""
    return _entitlement_changed(
        customer_id=customer.customer_id,
        product=action_type.product,
        entitlements=entitlements_of_family(customer_ids=customer.family_ids),
    )


def _entitlement_changed(
    *, customer_id: int, product: str, entitlements: Sequence[Entitlement]
) -> Entitlement | None:
    matching = [
        entitlement
        for entitlement in entitlements
        if entitlement.customer_id == customer_id
        and (not product or entitlement.product == product)
    ]
    return max(matching, key=lambda e: (e.ends_on, e.id), default=None)


def _portal_entitlement(
    entitlement: Entitlement, *, today: date, options: tuple[SelfServiceOption, ...]
) -> PortalEntitlement:
    total = (entitlement.ends_on - entitlement.starts_on).days
    left = min(max((entitlement.ends_on - today).days, 0), total)
    paused_from, paused_until = entitlement.paused_from, entitlement.paused_until
    return PortalEntitlement(
        entitlement=entitlement,
        days_total=total,
        days_left=left,
        paused_now=bool(
            paused_from and paused_until and paused_from <= today < paused_until
        ),
        pause_ahead=bool(paused_from and paused_from > today),
        ended=entitlement.ends_on < today,
        options=options,
    )


def _with_entitlement_checked(
    *, option: SelfServiceOption, entitlement: Entitlement, now: datetime
) -> SelfServiceOption:
    """The engine's entitlement check (authority_ask refuses a second pause
    while one runs)."""
    if (
        option.action_type.effect != ActionType.Effect.PAUSE
        or not entitlement.paused_until
        or entitlement.paused_until <= now.date()
    ):
        return option
    paused = {
        "code": "already_paused",
        "ok": False,
        "params": {"until": entitlement.paused_until.isoformat()},
    }
    return SelfServiceOption(
        action_type=option.action_type,
        rule=option.rule,
        terms=option.terms,
        usage=option.usage,
        allowed=option.allowed,
        blockers=(*option.blockers, paused),
        possible_from=entitlement.paused_until,
        count_left=option.count_left,
    )


def self_service_options(
    *, customer: pods.selectors.CustomerFacts, now: datetime
) -> list[SelfServiceOption]:
    """Every active action a stage-3 rule lets this customer take alone, with
    what it allows now (four queries: action types, rules, the family's
    grants, the pod's month)."""
    action_types = {item.id: item for item in action_types_active()}
    found: dict[int, list[AuthorityRule]] = defaultdict(list)
    for rule in rules_current(now=now).filter(
        Q(pod__isnull=True) | Q(pod_id=customer.pod_id),
        # A customer acting alone has no agent role and no contact reason.
        Q(contact_reason__isnull=True),
        Q(customer_segment="") | Q(customer_segment=customer.segment),
        agent_role="",
        stage=rules.SELF_SERVICE,
        action_type_id__in=list(action_types),
    ):
        found[rule.action_type_id].append(rule)
    chosen: dict[int, tuple[AuthorityRule, rules.RuleTerms]] = {}
    for action_type_id, candidates in found.items():
        terms = [rule_terms(rule=rule) for rule in candidates]
        best = rules.most_specific(candidates=terms, stage=rules.SELF_SERVICE)
        rule = next(rule for rule in candidates if rule.id == best.rule_id)
        chosen[action_type_id] = (rule, best)
    if not chosen:
        return []
    grants = family_grants_by_action(
        customer_ids=customer.family_ids,
        action_type_ids=list(chosen),
        since=now
        - timedelta(days=max(terms.history_days for _, terms in chosen.values())),
    )
    pod_month = _pod_month_by_action(
        customer=customer, action_type_ids=list(chosen), now=now
    )
    return [
        _option(
            action_type=action_types[action_type_id],
            rule=rule,
            terms=terms,
            usage=rules.Usage(
                customer_since=customer.created_at,
                customer_grants=grants.get(action_type_id, ()),
                pod_month=pod_month.get(action_type_id, Decimal("0")),
            ),
            now=now,
        )
        for action_type_id, (rule, terms) in sorted(
            chosen.items(), key=lambda item: (action_types[item[0]].name, item[0])
        )
    ]


def _pod_month_by_action(
    *,
    customer: pods.selectors.CustomerFacts,
    action_type_ids: list[int],
    now: datetime,
) -> dict[int, Decimal]:
    month = periods_at(now=now, time_zone=customer.pod_time_zone).month
    return dict(
        UsageCounter.objects.filter(
            scope=UsageCounter.Scope.POD_MONTH,
            scope_id=customer.pod_id,
            period_start=month,
            action_type_id__in=action_type_ids,
        ).values_list("action_type_id", "amount")
    )


def _option(
    *,
    action_type: ActionType,
    rule: AuthorityRule,
    terms: rules.RuleTerms,
    usage: rules.Usage,
    now: datetime,
) -> SelfServiceOption:
    probe = rules.Ask(
        action_name=action_type.name,
        unit=action_type.unit,
        currency=action_type.currency,
        amount=Decimal("1") if action_type.unit == rules.DAYS else Decimal("0.01"),
        actor=rules.ACTOR_CUSTOMER,
        now=now,
    )
    blockers = tuple(
        reason.as_dict()
        for reason in rules.rule_checks(ask=probe, rule=terms, usage=usage)
        if not reason.ok
    )
    return SelfServiceOption(
        action_type=action_type,
        rule=rule,
        terms=terms,
        usage=usage,
        allowed=rules.amount_allowed(ask=probe, rule=terms, usage=usage),
        blockers=blockers,
        possible_from=_possible_from(
            blockers=blockers, terms=terms, usage=usage, now=now
        ),
        count_left=_count_left(terms=terms, usage=usage, now=now),
    )


def _count_left(
    *, terms: rules.RuleTerms, usage: rules.Usage, now: datetime
) -> int | None:
    if not terms.customer_period_days or terms.customer_max_count is None:
        return None
    since = now - timedelta(days=terms.customer_period_days)
    used = sum(1 for at, _amount in usage.customer_grants if at > since)
    return max(terms.customer_max_count - used, 0)


def _possible_from(
    *,
    blockers: tuple[dict, ...],
    terms: rules.RuleTerms,
    usage: rules.Usage,
    now: datetime,
) -> date | None:
    """The first day the clock alone lifts every blocker (None: it does not,
    e.g. the pod's budget is spent)."""
    days = []
    for blocker in blockers:
        code = blocker["code"]
        if code == "tenure":
            days.append(usage.customer_since + timedelta(days=terms.min_tenure_days))
        elif code == "cooldown" and usage.customer_grants:
            last = max(at for at, _amount in usage.customer_grants)
            days.append(last + timedelta(days=terms.cooldown_days))
        elif code == "customer_count":
            period = timedelta(days=terms.customer_period_days)
            recent = [at for at, _amount in usage.customer_grants if at > now - period]
            # The oldest grant that must leave the window for one more to fit.
            oldest_needed = recent[len(recent) - terms.customer_max_count]
            days.append(oldest_needed + period)
        else:
            return None
    if not days:
        return None
    return (max(days) + timedelta(days=1)).date()


def self_service_recent(*, customer_ids: Sequence[int]) -> list[AuthorityRequest]:
    """What the customer asked themselves in the portal, newest first, with
    the grant each became."""
    return list(
        AuthorityRequest.objects.filter(
            actor_kind=AuthorityRequest.Actor.CUSTOMER,
            actor_key__in=[
                f"{CUSTOMER_ACTOR_PREFIX}{customer_id}" for customer_id in customer_ids
            ],
        )
        .select_related("action_type", "grant", "grant__reversal")
        .order_by("-created_at", "-id")[:RECENT_SELF_SERVICE_SHOWN]
    )


# --- Words for the customer ------------------------------------------------------


def _day_words(value: date | str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return formats.date_format(value, "DATE_FORMAT")


def self_service_limit_words(*, option: SelfServiceOption) -> list[str]:
    """The limits of an offered action, in plain words for the customer."""
    terms, action_type = option.terms, option.action_type
    words = []
    if option.allowed is not None:
        words.append(
            _("Up to %(amount)s at a time.")
            % {"amount": _amount(option.allowed, action_type)}
        )
    if option.count_left is not None:
        words.append(
            ngettext(
                "Allowed %(limit)d time in any %(days)d days; you have %(left)d left.",
                "Allowed %(limit)d times in any %(days)d days; you have %(left)d left.",
                terms.customer_max_count,
            )
            % {
                "limit": terms.customer_max_count,
                "days": terms.customer_period_days,
                "left": option.count_left,
            }
        )
    if terms.customer_period_days and terms.customer_max_total is not None:
        words.append(
            _("At most %(limit)s in any %(days)s days.")
            % {
                "limit": _amount(terms.customer_max_total, action_type),
                "days": terms.customer_period_days,
            }
        )
    if terms.cooldown_days:
        words.append(
            ngettext(
                "Once done, possible again after %(days)d day.",
                "Once done, possible again after %(days)d days.",
                terms.cooldown_days,
            )
            % {"days": terms.cooldown_days}
        )
    return words


def self_service_reason_words(*, reason: dict, action_type: ActionType) -> str:
    """Why a customer cannot do this themselves now, in words for them (the
    engine's other checks in its own words)."""
    code, params = reason["code"], reason.get("params", {})
    action = action_type.name.lower()
    if code == "customer_count":
        return ngettext(
            "You have used your %(limit)d %(action)s allowed in %(days)d days.",
            "You have used the %(limit)d %(action)ss allowed in %(days)d days.",
            params["limit"],
        ) % {"limit": params["limit"], "action": action, "days": params["days"]}
    if code == "customer_total":
        return _("You have used the %(limit)s allowed in %(days)s days.") % {
            "limit": _amount(params["limit"], action_type),
            "days": params["days"],
        }
    if code == "per_grant":
        return _("%(amount)s is more than the %(limit)s allowed at a time.") % {
            "amount": _amount(params["amount"], action_type),
            "limit": _amount(params["limit"], action_type),
        }
    if code == "cooldown":
        return ngettext(
            "Your last %(action)s was %(ago)d day ago; at least %(days)d days "
            "must pass between two.",
            "Your last %(action)s was %(ago)d days ago; at least %(days)d days "
            "must pass between two.",
            params.get("days_ago") or 0,
        ) % {
            "action": action,
            "ago": params.get("days_ago") or 0,
            "days": params["days"],
        }
    if code == "tenure":
        return _(
            "This opens once you have been with us for %(limit)s days "
            "(%(days)s so far)."
        ) % {"limit": params["limit"], "days": params["days"]}
    if code == "pod_month":
        return _("This is not available online right now.")
    if code == "already_paused":
        return _("It is paused already, until %(until)s.") % {
            "until": _day_words(params["until"])
        }
    if code == "pause_overlaps":
        return _("It overlaps your pause from %(from)s until %(until)s.") % {
            "from": _day_words(params["from"]),
            "until": _day_words(params["until"]),
        }
    if code == "pause_start_past":
        return _("A pause cannot start before today (you chose %(start)s).") % {
            "start": _day_words(params["start"])
        }
    if code == "pause_start_too_far":
        return ngettext(
            "A pause can start at most %(days)d day ahead, by %(latest)s.",
            "A pause can start at most %(days)d days ahead, by %(latest)s.",
            params["days"],
        ) % {"days": params["days"], "latest": _day_words(params["latest"])}
    if code == "pause_start_after_end":
        return _("It ends on %(end)s: a pause must start before that.") % {
            "end": _day_words(params["end"])
        }
    if code == "no_entitlement":
        return _("You have nothing this can change.")
    if code == "no_rule":
        return _("This is not something you can do yourself.")
    return reason_words(
        reason=reason,
        action_name=action_type.name,
        unit=action_type.unit,
        currency=action_type.currency,
    )


def _amount(value, action_type: ActionType) -> str:
    return amount_words(
        amount=value, unit=action_type.unit, currency=action_type.currency
    )


# --- Reminders -------------------------------------------------------------------


def entitlements_ending(
    *, first_day: date, last_day: date, limit: int
) -> list[Entitlement]:
    """Entitlements of customers still in their own right (not merged away)
    ending between the two days, without a reminder for that end yet."""
    return list(
        Entitlement.objects.filter(
            ends_on__gte=first_day,
            ends_on__lte=last_day,
            customer__merged_into__isnull=True,
        )
        .exclude(
            Exists(
                EntitlementReminder.objects.filter(
                    entitlement_id=OuterRef("id"), ends_on=OuterRef("ends_on")
                )
            )
        )
        .order_by("ends_on", "id")[:limit]
    )


def reminders_unsent(*, max_attempts: int, limit: int) -> list[int]:
    """Reminders with an address still to send (fewer failed attempts than
    `max_attempts`), oldest first."""
    return list(
        EntitlementReminder.objects.filter(
            sent_at__isnull=True, attempts__lt=max_attempts
        )
        .exclude(address="")
        .order_by("due_at", "id")
        .values_list("id", flat=True)[:limit]
    )
