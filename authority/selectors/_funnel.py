"""Reads of the authority funnel: the rules that apply, the usage they are
checked against, the reasons in words, the approval queue, a customer's grants
and entitlements, and the audit chain's verification."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

import pods.selectors
from authority import rules
from authority.models import (
    ActionType,
    AuditChainHead,
    AuditEvent,
    AuthorityRequest,
    AuthorityRule,
    Entitlement,
    Grant,
    UsageCounter,
)

CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "KRW": "₩", "JPY": "¥"}


# --- Rules and usage ---------------------------------------------------------------
#
# The reads of every decision (the agent panel, a preview, an ask) are raw SQL
# through Model.objects.raw: the ORM's query compilation cost three times the
# queries' own time, and the decision has a 5 ms budget (docs/benchmarks.md,
# "Authority funnel"). Parameters go through the backend's own adaptation, so
# the same SQL runs on SQLite.


def _datetime_param(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def _date_param(value: date):
    return connection.ops.adapt_datefield_value(value)


def action_type_by_code(*, code: str) -> ActionType | None:
    found = ActionType.objects.raw(
        f"SELECT * FROM {ActionType._meta.db_table}"  # noqa: S608 (table name)
        " WHERE code = %s AND is_active = %s",
        [code, True],
    )
    return next(iter(found), None)


def action_types_active() -> QuerySet[ActionType]:
    return ActionType.objects.filter(is_active=True).order_by("name", "id")


def rules_current(*, now: datetime) -> QuerySet[AuthorityRule]:
    """Rules in force at `now`: the current version, active, within validity."""
    return AuthorityRule.objects.filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=now),
        superseded_at__isnull=True,
        is_active=True,
        valid_from__lte=now,
    )


def candidate_rules(
    *,
    action_type_id: int,
    customer: pods.selectors.CustomerFacts,
    agent_role: str,
    contact_reason_id: int | None,
    now: datetime,
) -> list[AuthorityRule]:
    """The rules of the action in force at `now` (as rules_current) whose scope
    covers this customer, actor and contact reason (an empty scope field covers
    everyone; a customer acting alone has no agent role)."""
    at = _datetime_param(now)
    return list(
        AuthorityRule.objects.raw(
            f"SELECT * FROM {AuthorityRule._meta.db_table}"  # noqa: S608
            " WHERE action_type_id = %s AND superseded_at IS NULL AND is_active = %s"
            " AND valid_from <= %s AND (valid_to IS NULL OR valid_to > %s)"
            " AND (pod_id IS NULL OR pod_id = %s)"
            " AND (agent_role = '' OR agent_role = %s)"
            " AND (contact_reason_id IS NULL OR contact_reason_id = %s)"
            " AND (customer_segment = '' OR customer_segment = %s)"
            " ORDER BY stage, name, id",
            [
                action_type_id,
                True,
                at,
                at,
                customer.pod_id,
                agent_role,
                contact_reason_id,
                customer.segment,
            ],
        )
    )


def rule_terms(*, rule: AuthorityRule) -> rules.RuleTerms:
    return rules.RuleTerms(
        rule_id=rule.id,
        version=rule.version,
        name=rule.name,
        stage=rule.stage,
        max_per_grant=rule.max_per_grant,
        customer_period_days=rule.customer_period_days,
        customer_max_count=rule.customer_max_count,
        customer_max_total=rule.customer_max_total,
        agent_daily_total=rule.agent_daily_total,
        pod_monthly_total=rule.pod_monthly_total,
        min_tenure_days=rule.min_tenure_days,
        cooldown_days=rule.cooldown_days,
        specificity=(
            rule.pod_id is not None,
            rule.contact_reason_id is not None,
            bool(rule.customer_segment),
            bool(rule.agent_role),
        ),
    )


@dataclass(frozen=True)
class Periods:
    day: date
    month: date


def periods_at(*, now: datetime, time_zone: str) -> Periods:
    """Which day and month a grant at `now` counts against, in the pod's time
    zone (a grant at 23:59 local counts today, at 00:00 tomorrow)."""
    local_now = now.astimezone(ZoneInfo(time_zone or "UTC"))
    return Periods(
        day=rules.day_start(local_now=local_now),
        month=rules.month_start(local_now=local_now),
    )


def usage_read(
    *,
    action_type_id: int,
    customer: pods.selectors.CustomerFacts,
    agent_id: int | None,
    history_days: int,
    now: datetime,
    counted: dict[str, Decimal] | None = None,
) -> rules.Usage:
    """The usage every limit is checked against (two reads: the customer's
    recent grants of the action, and the agent's day and the pod's month,
    unless `counted` brings those, scope -> amount, as the lock read them)."""
    if counted is None:
        counted = usage_counted(
            action_type_id=action_type_id,
            pod_id=customer.pod_id,
            agent_id=agent_id,
            periods=periods_at(now=now, time_zone=customer.pod_time_zone),
        )
    return rules.Usage(
        customer_since=customer.created_at,
        customer_grants=customer_recent_grants(
            customer_ids=customer.family_ids,
            action_type_id=action_type_id,
            since=now - timedelta(days=history_days),
        ),
        agent_today=counted.get(UsageCounter.Scope.AGENT_DAY, Decimal("0")),
        pod_month=counted.get(UsageCounter.Scope.POD_MONTH, Decimal("0")),
    )


def usage_counted(
    *, action_type_id: int, pod_id: int, agent_id: int | None, periods: Periods
) -> dict[str, Decimal]:
    """The pod's month and the agent's day of the action so far, by scope."""
    rows = UsageCounter.objects.raw(
        f"SELECT id, scope, amount FROM {UsageCounter._meta.db_table}"  # noqa: S608
        " WHERE action_type_id = %s AND ("
        " (scope = %s AND scope_id = %s AND period_start = %s)"
        " OR (scope = %s AND scope_id = %s AND period_start = %s))",
        [
            action_type_id,
            UsageCounter.Scope.POD_MONTH.value,
            pod_id,
            _date_param(periods.month),
            UsageCounter.Scope.AGENT_DAY.value,
            agent_id or 0,
            _date_param(periods.day),
        ],
    )
    return {row.scope: row.amount for row in rows}


def customer_recent_grants(
    *, customer_ids: Sequence[int], action_type_id: int, since: datetime
) -> tuple[tuple[datetime, Decimal], ...]:
    """(when, amount) of the customer's grants of the action since `since`
    that still stand (a reversed grant counts for nothing). `customer_ids` is
    the customer's family (CustomerFacts.family_ids): grants made to a customer
    later merged into this one count against this one's limits."""
    if since is None:
        return ()
    table = Grant._meta.db_table
    placeholders = ", ".join(["%s"] * len(customer_ids))
    rows = Grant.objects.raw(
        f"SELECT g.id, g.granted_at, g.amount FROM {table} g"  # noqa: S608
        f" WHERE g.customer_id IN ({placeholders}) AND g.action_type_id = %s"
        " AND g.kind = %s AND g.granted_at > %s"
        f" AND NOT EXISTS (SELECT 1 FROM {table} r WHERE r.reverses_id = g.id)",
        [
            *customer_ids,
            action_type_id,
            Grant.Kind.GRANT.value,
            _datetime_param(since),
        ],
    )
    return tuple(sorted((row.granted_at, row.amount) for row in rows))


# --- Words -------------------------------------------------------------------------


def amount_words(*, amount: Decimal | str, unit: str, currency: str) -> str:
    """£30, ₩50,000, 14 days."""
    value = Decimal(str(amount))
    if unit == rules.DAYS:
        days = int(value)
        return ngettext("%(days)d day", "%(days)d days", days) % {"days": days}
    places = 0 if currency in ("KRW", "JPY") else 2
    if places == 2 and value == value.to_integral_value():
        places = 0
    shown = formats.number_format(
        value, decimal_pos=places, use_l10n=True, force_grouping=True
    )
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{shown}" if symbol else f"{shown} {currency}"


def reason_words(*, reason: dict, action_name: str, unit: str, currency: str) -> str:
    """One check of the engine in plain words, e.g. "£30 is within your £50
    limit" or "0 refunds for this customer in 90 days (limit 2)"."""
    code, ok, params = reason["code"], reason["ok"], reason.get("params", {})

    def money(key: str) -> str:
        return amount_words(amount=params[key], unit=unit, currency=currency)

    action = action_name.lower()
    if code == "per_grant":
        template = (
            _("%(amount)s is within the %(limit)s limit per grant")
            if ok
            else _("%(amount)s is over the %(limit)s limit per grant")
        )
        return template % {"amount": money("amount"), "limit": money("limit")}
    if code == "customer_count":
        return _(
            "%(count)s of %(limit)s allowed (%(action)s) for this customer in "
            "%(days)s days"
        ) % {
            "count": params["count"],
            "action": action,
            "days": params["days"],
            "limit": params["limit"],
        }
    if code == "customer_total":
        return _("%(used)s of %(limit)s used for this customer in %(days)s days") % {
            "used": money("used"),
            "limit": money("limit"),
            "days": params["days"],
        }
    if code == "cooldown":
        if params.get("days_ago") is None:
            return _("no %(action)s for this customer before") % {"action": action}
        return _("last %(action)s %(ago)s days ago (at least %(days)s days apart)") % {
            "action": action,
            "ago": params["days_ago"],
            "days": params["days"],
        }
    if code == "tenure":
        return _("customer for %(days)s days (at least %(limit)s needed)") % params
    if code == "agent_day":
        return _("%(left)s of your %(limit)s daily limit left") % {
            "left": money("left"),
            "limit": money("limit"),
        }
    if code == "pod_month":
        return _("%(left)s of the pod's %(limit)s monthly budget left") % {
            "left": money("left"),
            "limit": money("limit"),
        }
    if code == "needs_approval":
        return _("needs approval")
    if code == "no_rule":
        if params.get("actor") == rules.ACTOR_CUSTOMER:
            return _("this is not something you can do yourself; your pod can help")
        return _("no rule lets you grant this; ask your pod lead")
    if code == "amount_not_positive":
        return _("the amount must be more than zero")
    if code == "days_not_whole":
        return _("days must be a whole number")
    if code == "money_too_precise":
        return _("money has at most two decimal places")
    if code == "no_entitlement":
        if params.get("product"):
            return _("the customer has no %(product)s to change") % {
                "product": params["product"]
            }
        return _("the customer has nothing to extend or pause")
    if code == "already_paused":
        return _("already paused until %(until)s") % {"until": params["until"]}
    if code in PAUSE_START_CODES:
        return pause_start_words(code=code, params=params)
    if code == "reversal":
        return _("reversed: %(why)s") % {"why": params.get("why", "")}
    return code


def reasons_words(
    *, reasons: Sequence[dict], action_type: ActionType
) -> list[tuple[bool, str]]:
    return [
        (
            reason["ok"],
            reason_words(
                reason=reason,
                action_name=action_type.name,
                unit=action_type.unit,
                currency=action_type.currency,
            ),
        )
        for reason in reasons
    ]


# --- Requests, grants, entitlements ------------------------------------------------


def request_by_key(*, actor_key: str, idempotency_key: str) -> AuthorityRequest | None:
    """The actor's request under the key (read twice by every ask: raw, as the
    decision's reads; a replay loads its action type when it needs it)."""
    found = AuthorityRequest.objects.raw(
        f"SELECT * FROM {AuthorityRequest._meta.db_table}"  # noqa: S608
        " WHERE actor_key = %s AND idempotency_key = %s",
        [actor_key, idempotency_key],
    )
    return next(iter(found), None)


def request_detail(*, request_id: int) -> AuthorityRequest | None:
    return (
        AuthorityRequest.objects.select_related(
            "action_type", "rule", "agent__user", "customer", "ticket", "pod"
        )
        .filter(id=request_id)
        .first()
    )


def requests_pending(*, pod_ids: Sequence[int] | None) -> QuerySet[AuthorityRequest]:
    """Stage-1 requests waiting, the most overdue first (`pod_ids` None: every
    pod)."""
    pending = AuthorityRequest.objects.filter(state=AuthorityRequest.State.PENDING)
    if pod_ids is not None:
        pending = pending.filter(pod_id__in=pod_ids)
    return pending.select_related(
        "action_type", "rule", "agent__user", "customer", "ticket", "pod"
    ).order_by("due_at", "id")


def requests_of_ticket(*, ticket_id: int) -> QuerySet[AuthorityRequest]:
    return (
        AuthorityRequest.objects.filter(ticket_id=ticket_id)
        .select_related("action_type", "agent__user")
        .order_by("-created_at", "-id")
    )


def grants_of_customer(*, customer_ids: Sequence[int], limit: int = 50) -> list[Grant]:
    """The latest grants of a customer's family (CustomerFacts.family_ids)."""
    return list(
        Grant.objects.filter(customer_id__in=customer_ids)
        .select_related("action_type", "agent__user", "rule")
        .order_by("-granted_at", "-id")[:limit]
    )


def entitlements_of_customer(*, customer_id: int) -> list[Entitlement]:
    return list(
        Entitlement.objects.filter(customer_id=customer_id).order_by("ends_on", "id")
    )


def entitlement_for_action(
    *, customer_id: int, product: str, for_update: bool = False
) -> Entitlement | None:
    """The entitlement an extension or pause changes: the customer's latest
    ending one of the product (any product when the action names none)."""
    # Raw, as the decision's other reads: every extension or pause asks it.
    lock = (
        " FOR UPDATE"
        if for_update and connection.features.has_select_for_update
        else ""
    )
    found = Entitlement.objects.raw(
        f"SELECT * FROM {Entitlement._meta.db_table}"  # noqa: S608
        " WHERE customer_id = %s AND (%s = '' OR product = %s)"
        " ORDER BY ends_on DESC, id DESC LIMIT 1" + lock,
        [customer_id, product, product],
    )
    return next(iter(found), None)


def pod_usage_this_month(*, pod_id: int, action_type_id: int, month: date) -> Decimal:
    total = UsageCounter.objects.filter(
        scope=UsageCounter.Scope.POD_MONTH,
        scope_id=pod_id,
        action_type_id=action_type_id,
        period_start=month,
    ).aggregate(total=Sum("amount"))["total"]
    return total or Decimal("0")


# --- Audit -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainCheck:
    chain: str
    rows: int
    broken_at: int | None  # the seq of the first row that does not verify
    problem: str = ""


def audit_event_content(*, event: AuditEvent) -> dict:
    """What an audit row's digest covers."""
    return {
        "chain": event.chain,
        "seq": event.seq,
        "kind": event.kind,
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "subject": event.subject,
        "details": event.details,
        "at": event.at.astimezone(UTC).isoformat(),
    }


def audit_chain_verify(*, chain: str) -> ChainCheck:
    """Walk a chain in order and recompute every digest: a changed row, a
    removed row or a reordered one is reported with the seq where it shows."""
    # Read before the walk: every event up to this head has committed.
    head = _chain_head(chain=chain)
    previous, expected_seq, rows = "0" * 64, 1, 0
    for event in (
        AuditEvent.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=2000)
    ):
        rows += 1
        if event.seq != expected_seq:
            return ChainCheck(chain, rows, expected_seq, "missing row")
        if event.prev_digest != previous:
            return ChainCheck(chain, rows, event.seq, "link broken")
        digest = rules.audit_digest(
            prev_digest=previous,
            content=audit_event_content(event=event),
            key=settings.SECRET_KEY,
        )
        if digest != event.digest:
            return ChainCheck(chain, rows, event.seq, "content changed")
        previous, expected_seq = event.digest, expected_seq + 1
    return _chain_end_check(
        chain=chain, rows=rows, seq=expected_seq - 1, digest=previous, head=head
    )


def _chain_head(*, chain: str) -> tuple[int, str]:
    head = AuditChainHead.objects.filter(chain=chain).values_list("seq", "digest")
    return head.first() or (0, "0" * 64)


def _chain_end_check(
    *, chain: str, rows: int, seq: int, digest: str, head: tuple[int, str]
) -> ChainCheck:
    """The walk ends where the chain's head says it does: rows removed from the
    end leave every remaining link intact, and only the head still counts them."""
    head_seq, head_digest = head
    if head_seq > seq:
        return ChainCheck(chain, rows, seq + 1, "missing row")
    if head_seq < seq:
        # Events past the head read first: appended during the walk, or not
        # appended through the head at all.
        head_seq, head_digest = _chain_head(chain=chain)
        if head_seq < seq:
            return ChainCheck(chain, rows, head_seq + 1, "row past the head")
        return ChainCheck(chain, rows, None)
    if head_digest != digest:
        return ChainCheck(chain, rows, seq, "head disagrees")
    return ChainCheck(chain, rows, None)


def audit_chains() -> list[str]:
    """Every chain with events or a head (a chain emptied of all its events
    still has its head, and is still verified)."""
    with_events = AuditEvent.objects.values_list("chain", flat=True).distinct()
    with_head = AuditChainHead.objects.values_list("chain", flat=True)
    return sorted(set(with_events) | set(with_head))


def audit_events_of(*, subject: str) -> QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(subject=subject).order_by("at", "id")


# --- Pauses from a chosen day ----------------------------------------------------

PAUSE_START_CODES = (
    "pause_start_past",
    "pause_start_too_far",
    "pause_start_after_end",
    "pause_overlaps",
)
DEFAULT_PAUSE_START_MAX_DAYS = 30


def pause_start_max_days() -> int:
    """How far ahead a pause may be set to start (HELPDESK['PAUSE_START_MAX_DAYS'])."""
    return int(
        settings.HELPDESK.get("PAUSE_START_MAX_DAYS", DEFAULT_PAUSE_START_MAX_DAYS)
    )


def pause_start_bounds(
    *, now: datetime, ends_on: date | None = None
) -> tuple[date, date]:
    """The first and last day a pause asked now may start on (the engine's
    limits, for a form's date input): today, up to the setting's days ahead
    and before the entitlement ends."""
    today = now.date()
    latest = today + timedelta(days=pause_start_max_days())
    if ends_on is not None:
        latest = max(min(latest, ends_on - timedelta(days=1)), today)
    return today, latest


def day_words(value: date | str) -> str:
    """A day as the reader's language writes it ("3 March 2026")."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return formats.date_format(value, "DATE_FORMAT")


def pause_start_words(*, code: str, params: dict) -> str:
    """Why a pause cannot start on the chosen day, in words for an agent or a
    customer alike."""
    if code == "pause_start_past":
        return _("a pause cannot start in the past (%(start)s)") % {
            "start": day_words(params["start"])
        }
    if code == "pause_start_too_far":
        return ngettext(
            "a pause can start at most %(days)d day ahead, by %(latest)s",
            "a pause can start at most %(days)d days ahead, by %(latest)s",
            params["days"],
        ) % {"days": params["days"], "latest": day_words(params["latest"])}
    if code == "pause_start_after_end":
        return _("%(start)s is not before the end, %(end)s") % {
            "start": day_words(params["start"]),
            "end": day_words(params["end"]),
        }
    return _("it overlaps the pause from %(from)s until %(until)s") % {
        "from": day_words(params["from"]),
        "until": day_words(params["until"]),
    }
