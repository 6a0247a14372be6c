"""Asking, granting and reversing: the authority funnel's writes.

An ask is decided and, when allowed, executed in one transaction that first
locks the usage it is checked against, always in the same order (customer,
agent's day, pod's month), so concurrent grants queue instead of overspending
and never deadlock. The request row is unique per actor and idempotency key: a
retried ask is answered from it, never run twice."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

import pods.selectors
import pods.services
import tickets.selectors
import tickets.services
from authority import outbound, rules, selectors
from authority.models import (
    ActionType,
    AuthorityRequest,
    AuthorityRule,
    Entitlement,
    Grant,
    LedgerEntry,
    UsageCounter,
    WebhookDelivery,
)
from authority.services._audit import audit_append, pod_chain
from authority.services._errors import (
    AuthorityRefused,
    IdempotencyConflict,
    ReversalRefused,
)

MAX_IDEMPOTENCY_KEY = 100
MAX_NOTE = 2_000
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Actor:
    """Who asks: an agent (with their role) or a customer acting alone."""

    kind: str
    key: str
    label: str
    user_id: int | None = None
    agent_id: int | None = None
    role: str = ""
    customer_id: int | None = None

    @property
    def engine_actor(self) -> str:
        return (
            rules.ACTOR_AGENT
            if self.kind == AuthorityRequest.Actor.AGENT
            else rules.ACTOR_CUSTOMER
        )


def actor_for_user(*, user) -> Actor:
    """The agent a signed-in user is. Raises AuthorityRefused for a user who is
    not an active agent (an admin without an agent row asks as no one)."""
    agent = pods.selectors.agent_role_of_user(user_id=user.pk)
    if agent is None:
        raise AuthorityRefused(_("only agents ask for grants"))
    return Actor(
        kind=AuthorityRequest.Actor.AGENT,
        key=f"agent:{agent.agent_id}",
        label=user.get_username(),
        user_id=user.pk,
        agent_id=agent.agent_id,
        role=agent.role,
    )


def actor_for_customer(*, customer_id: int) -> Actor:
    return Actor(
        kind=AuthorityRequest.Actor.CUSTOMER,
        key=f"customer:{customer_id}",
        label=f"customer {customer_id}",
        customer_id=customer_id,
    )


@dataclass(frozen=True)
class Asked:
    """The answer to an ask: the stored request (with its grant when granted)
    and whether it was answered from an earlier identical ask."""

    request: AuthorityRequest
    replayed: bool

    @property
    def granted(self) -> bool:
        return self.request.state == AuthorityRequest.State.GRANTED


@dataclass(frozen=True)
class Context:
    """Everything an ask is decided on, read before the transaction."""

    action_type: ActionType
    customer: pods.selectors.CustomerFacts
    ticket_id: int | None
    contact_reason_id: int | None
    amount: Decimal
    # A pause asked from a chosen day (None: from the day it is granted).
    effect_starts_on: date | None = None


def authority_ask(
    *,
    actor: Actor,
    action_code: str,
    amount: Decimal | str,
    customer_id: int,
    ticket_id: int | None,
    idempotency_key: str,
    note: str = "",
    effect_starts_on: date | None = None,
    now: datetime,
) -> Asked:
    """Decide an ask and act on it: grant now, queue for approval, or refuse,
    recording the request either way. `effect_starts_on` sets the day a pause
    starts (default: the day it is granted). Raises AuthorityRefused when the
    ask names no known action, customer or ticket (or a start day for what is
    not a pause), IdempotencyConflict when the key was used for something
    else."""
    key = _idempotency_key_checked(idempotency_key)
    context = ask_context(
        action_code=action_code,
        amount=amount,
        customer_id=customer_id,
        ticket_id=ticket_id,
        effect_starts_on=effect_starts_on,
    )
    if len(note) > MAX_NOTE:
        raise AuthorityRefused(
            _("the note is longer than %(max)s characters") % {"max": MAX_NOTE}
        )
    digest = _ask_hash(context=context, note=note)
    earlier = _earlier_answer(actor=actor, key=key, digest=digest)
    if earlier:
        return earlier
    # Read before the locks, which every grant of the pod queues on.
    candidates = selectors.candidate_rules(
        action_type_id=context.action_type.id,
        customer=context.customer,
        agent_role=actor.role,
        contact_reason_id=context.contact_reason_id,
        now=now,
    )
    try:
        with transaction.atomic():
            return _ask_decide_and_act(
                actor=actor,
                context=context,
                candidates=candidates,
                key=key,
                digest=digest,
                note=note,
                now=now,
            )
    except IntegrityError:
        # A twin with the same key committed while this one ran: answer theirs.
        earlier = _earlier_answer(actor=actor, key=key, digest=digest)
        if earlier:
            return earlier
        raise


def ask_context(
    *,
    action_code: str,
    amount: Decimal | str,
    customer_id: int,
    ticket_id: int | None,
    effect_starts_on: date | None = None,
) -> Context:
    action_type = selectors.action_type_by_code(code=action_code)
    if action_type is None:
        raise AuthorityRefused(_("no such action: %(code)s") % {"code": action_code})
    if effect_starts_on is not None and action_type.effect != ActionType.Effect.PAUSE:
        raise AuthorityRefused(_("only a pause can start on a chosen day"))
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise AuthorityRefused(_("the amount is not a number")) from None
    if not value.is_finite() or abs(value) >= Decimal("1e12"):
        raise AuthorityRefused(_("the amount is not a number"))
    if value <= 0:
        raise AuthorityRefused(_("the amount must be more than zero"))
    if value == value.quantize(CENT):
        # Spelled as the database stores it ("25.00", never "25" or "1E+1"), so
        # the webhook, the audit trail and a replay read the same; a finer
        # amount keeps its places for the engine to refuse.
        value = value.quantize(CENT)
    customer = pods.selectors.customer_facts(customer_id=customer_id)
    if customer is None:
        raise AuthorityRefused(_("no such customer"))
    contact_reason_id = None
    if ticket_id is not None:
        ticket = tickets.selectors.ticket_current(ticket_id=ticket_id)
        if ticket is None or ticket.customer_id != customer.customer_id:
            raise AuthorityRefused(_("the ticket is not this customer's"))
        ticket_id, contact_reason_id = ticket.id, ticket.contact_reason_id
    return Context(
        action_type=action_type,
        customer=customer,
        ticket_id=ticket_id,
        contact_reason_id=contact_reason_id,
        amount=value,
        effect_starts_on=effect_starts_on,
    )


def _idempotency_key_checked(key: str) -> str:
    key = (key or "").strip()
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise AuthorityRefused(
            _("an idempotency key of 1 to %(max)s characters is needed")
            % {"max": MAX_IDEMPOTENCY_KEY}
        )
    return key


def _ask_hash(*, context: Context, note: str) -> str:
    fields = {
        "action": context.action_type.code,
        "amount": str(context.amount.normalize()),
        "customer": context.customer.customer_id,
        "ticket": context.ticket_id,
        "note": note,
    }
    if context.effect_starts_on is not None:
        # Only when chosen: the hashes of asks without one stay as they were
        # (an approver's verdict is bound to them).
        fields["starts_on"] = context.effect_starts_on.isoformat()
    return rules.request_hash(fields=fields)


def _earlier_answer(*, actor: Actor, key: str, digest: str) -> Asked | None:
    earlier = selectors.request_by_key(actor_key=actor.key, idempotency_key=key)
    if earlier is None:
        return None
    if earlier.request_hash != digest:
        raise IdempotencyConflict(
            _("this idempotency key was used for a different request")
        )
    return Asked(request=earlier, replayed=True)


def _ask_decide_and_act(
    *,
    actor: Actor,
    context: Context,
    candidates: list[AuthorityRule],
    key: str,
    digest: str,
    note: str,
    now: datetime,
) -> Asked:
    periods = selectors.periods_at(now=now, time_zone=context.customer.pod_time_zone)
    counted = usage_lock(
        action_type_id=context.action_type.id,
        customer_id=context.customer.customer_id,
        agent_id=actor.agent_id,
        pod_id=context.customer.pod_id,
        periods=periods,
    )
    # Under the customer's lock a twin with the same key has committed or not
    # started: look again.
    earlier = _earlier_answer(actor=actor, key=key, digest=digest)
    if earlier:
        return earlier
    by_id = {rule.id: rule for rule in candidates}
    terms = [selectors.rule_terms(rule=rule) for rule in candidates]
    usage = selectors.usage_read(
        action_type_id=context.action_type.id,
        customer=context.customer,
        agent_id=actor.agent_id,
        history_days=max((term.history_days for term in terms), default=0),
        now=now,
        counted=counted,
    )
    ask = engine_ask(
        action_type=context.action_type,
        amount=context.amount,
        engine_actor=actor.engine_actor,
        now=now,
    )
    decision = rules.decide(ask=ask, candidates=terms, usage=usage)
    decision = _entitlement_checked(decision=decision, context=context, now=now)
    rule = by_id.get(decision.rule.rule_id) if decision.rule else None
    request = _request_store(
        actor=actor,
        context=context,
        key=key,
        digest=digest,
        note=note,
        decision=decision,
        rule=rule,
        now=now,
    )
    if decision.outcome == rules.Outcome.GRANTED:
        grant_execute(
            request=request,
            rule=rule,
            approved_by_user_id=None,
            asker_user_id=actor.user_id,
            periods=periods,
            now=now,
        )
    else:
        _request_recorded(request=request, actor=actor, now=now)
    return Asked(request=request, replayed=False)


def engine_ask(
    *, action_type: ActionType, amount: Decimal, engine_actor: str, now: datetime
) -> rules.Ask:
    return rules.Ask(
        action_name=action_type.name,
        unit=action_type.unit,
        currency=action_type.currency,
        amount=amount,
        actor=engine_actor,
        now=now,
    )


def _entitlement_checked(
    *, decision: rules.Decision, context: Context, now: datetime
) -> rules.Decision:
    """An extension or pause needs an entitlement to change; a pause, a start
    day the entitlement allows (rules.pause_start_problem)."""
    if decision.outcome == rules.Outcome.REFUSED:
        return decision
    problem = entitlement_problem(
        action_type=context.action_type,
        customer_id=context.customer.customer_id,
        days=context.amount,
        effect_starts_on=context.effect_starts_on,
        now=now,
    )
    if problem is None:
        return decision
    return rules.Decision(
        rules.Outcome.REFUSED, decision.rule, (*decision.reasons, problem)
    )


def entitlement_problem(
    *,
    action_type: ActionType,
    customer_id: int,
    days: Decimal,
    effect_starts_on: date | None,
    now: datetime,
) -> rules.Reason | None:
    """Why the entitlement this action changes stands in its way (None: it
    does not, or the action changes no entitlement)."""
    effect = action_type.effect
    if effect not in (ActionType.Effect.EXTEND, ActionType.Effect.PAUSE):
        return None
    entitlement = selectors.entitlement_for_action(
        customer_id=customer_id, product=action_type.product
    )
    if entitlement is None:
        return rules.Reason("no_entitlement", False, {"product": action_type.product})
    if effect != ActionType.Effect.PAUSE:
        return None
    return rules.pause_start_problem(
        starts_on=effect_starts_on or now.date(),
        days=int(days),
        today=now.date(),
        max_days_ahead=selectors.pause_start_max_days(),
        ends_on=entitlement.ends_on,
        paused_from=entitlement.paused_from,
        paused_until=entitlement.paused_until,
    )


def usage_lock(
    *,
    action_type_id: int,
    customer_id: int,
    agent_id: int | None,
    pod_id: int,
    periods: selectors.Periods,
) -> dict[str, Decimal]:
    """Lock the usage rows an ask is checked against, creating the missing ones,
    in the one order every writer uses: customer, agent's day, pod's month.
    Returns what they count so far, by scope (read under the lock)."""
    keys = usage_keys(
        customer_id=customer_id, agent_id=agent_id, pod_id=pod_id, periods=periods
    )
    table = UsageCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table}"  # noqa: S608 (table name)
            " (scope, scope_id, action_type_id, period_start, amount, count) VALUES "
            + ", ".join(["(%s, %s, %s, %s, 0, 0)"] * len(keys))
            + " ON CONFLICT DO NOTHING",
            [
                value
                for scope, scope_id, start in keys
                for value in (scope.value, scope_id, action_type_id, _day(start))
            ],
        )
    # One statement, ordered: PostgreSQL sorts the rows, then locks them one
    # by one in that order (the lock is taken above the sort), so every writer
    # queues customer first and pod last, and none waits in a cycle.
    match = " OR ".join(
        ["(scope = %s AND scope_id = %s AND period_start = %s)"] * len(keys)
    )
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    rows = UsageCounter.objects.raw(
        f"SELECT id, scope, amount FROM {table}"  # noqa: S608
        f" WHERE action_type_id = %s AND ({match})"
        " ORDER BY CASE scope WHEN %s THEN 0 WHEN %s THEN 1 ELSE 2 END" + lock,
        [
            action_type_id,
            *(
                value
                for scope, scope_id, start in keys
                for value in (scope.value, scope_id, _day(start))
            ),
            UsageCounter.Scope.CUSTOMER.value,
            UsageCounter.Scope.AGENT_DAY.value,
        ],
    )
    return {row.scope: row.amount for row in rows}


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def usage_keys(
    *, customer_id: int, agent_id: int | None, pod_id: int, periods: selectors.Periods
) -> list[tuple[UsageCounter.Scope, int, date]]:
    """(scope, id, period start) of the rows a grant counts in, in lock order."""
    keys = [(UsageCounter.Scope.CUSTOMER, customer_id, date(1970, 1, 1))]
    if agent_id is not None:
        keys.append((UsageCounter.Scope.AGENT_DAY, agent_id, periods.day))
    keys.append((UsageCounter.Scope.POD_MONTH, pod_id, periods.month))
    return keys


def _request_store(
    *,
    actor: Actor,
    context: Context,
    key: str,
    digest: str,
    note: str,
    decision: rules.Decision,
    rule: AuthorityRule | None,
    now: datetime,
) -> AuthorityRequest:
    state = {
        rules.Outcome.GRANTED: AuthorityRequest.State.GRANTED,
        rules.Outcome.NEEDS_APPROVAL: AuthorityRequest.State.PENDING,
        rules.Outcome.REFUSED: AuthorityRequest.State.REFUSED,
    }[decision.outcome]
    pending = state == AuthorityRequest.State.PENDING
    return AuthorityRequest.objects.create(
        actor_kind=actor.kind,
        actor_key=actor.key,
        idempotency_key=key,
        request_hash=digest,
        action_type=context.action_type,
        amount=context.amount,
        customer_id=context.customer.customer_id,
        pod_id=context.customer.pod_id,
        ticket_id=context.ticket_id,
        agent_id=actor.agent_id,
        rule=rule,
        state=state,
        stage=decision.stage,
        reasons=[reason.as_dict() for reason in decision.reasons],
        note=note,
        effect_starts_on=context.effect_starts_on,
        created_at=now,
        due_at=now + timedelta(hours=rule.approval_hours) if pending and rule else None,
        decided_at=None if pending else now,
    )


def _request_recorded(
    *, request: AuthorityRequest, actor: Actor, now: datetime
) -> None:
    """Audit a request that was not granted, and tell the pod of a new one
    waiting for approval."""
    pending = request.state == AuthorityRequest.State.PENDING
    audit_append(
        chain=pod_chain(request.pod_id),
        kind="REQUESTED" if pending else "REFUSED",
        subject=f"request:{request.id}",
        details=_request_details(request),
        actor_user_id=actor.user_id,
        actor_label=actor.label,
        now=now,
    )
    if request.ticket_id and pending:
        tickets.services.ticket_event_note(
            ticket_id=request.ticket_id,
            text=_("Asked for approval: %(what)s. %(why)s")
            % {"what": request_words(request), "why": reasons_sentence(request)},
            now=now,
            agent_id=actor.agent_id,
        )
    if pending:
        pods.services.pod_event_publish(
            pod_id=request.pod_id,
            event={
                "type": "notify",
                "kind": "authority.request",
                "request_id": request.id,
                "ticket_id": request.ticket_id,
                "state": request.state,
            },
        )


def grant_execute(
    *,
    request: AuthorityRequest,
    rule: AuthorityRule,
    approved_by_user_id: int | None,
    periods: selectors.Periods,
    now: datetime,
    asker_user_id: int | None = None,
) -> Grant:
    """Apply a granted request once: the grant, its usage, its effect, the
    ledger, the webhook, the audit event and the word to the customer. Call
    while holding usage_lock for the request. `asker_user_id`, when the caller
    knows it, saves reading the asking agent's user."""
    action_type = request.action_type
    grant = Grant(
        request=request,
        action_type=action_type,
        rule=rule,
        stage=rule.stage,
        customer_id=request.customer_id,
        pod_id=request.pod_id,
        ticket_id=request.ticket_id,
        agent_id=request.agent_id,
        approved_by_id=approved_by_user_id,
        amount=request.amount,
        currency=action_type.currency,
        reasons=request.reasons,
        granted_at=now,
    )
    _entitlement_change(
        grant=grant,
        action_type=action_type,
        starts_on=request.effect_starts_on or now.date(),
        now=now,
    )
    grant.save(force_insert=True)
    usage_add(
        grant=grant, periods=periods, sign=1, agent_day=_counts_for_agent_day(grant)
    )
    _ledger_record(grant=grant, effect=action_type.effect, now=now)
    _webhook_schedule(
        grant=grant, action_type=action_type, event="grant.created", now=now
    )
    audit_append(
        chain=pod_chain(grant.pod_id),
        kind="GRANTED",
        subject=f"request:{request.id}",
        details={
            **_request_details(request),
            "grant": grant.id,
            "rule": rule.id,
            "rule_version": rule.version,
            "approved_by": approved_by_user_id,
        },
        actor_user_id=approved_by_user_id or asker_user_id or _user_of(request),
        actor_label=request.actor_key,
        now=now,
    )
    _grant_told(grant=grant, request=request, now=now)
    return grant


def _counts_for_agent_day(grant: Grant) -> bool:
    """An agent's daily limit counts what they granted on their own authority;
    an approved grant (stage 1) is the approver's."""
    return grant.stage != rules.APPROVAL and grant.agent_id is not None


def _ledger_record(*, grant: Grant, effect: str, now: datetime) -> None:
    """Money moved by a grant or its reversal (signed as the grant is)."""
    if effect not in (ActionType.Effect.REFUND, ActionType.Effect.CREDIT):
        return
    LedgerEntry.objects.create(
        grant=grant,
        customer_id=grant.customer_id,
        pod_id=grant.pod_id,
        kind=effect,
        amount=grant.amount,
        currency=grant.currency,
        created_at=now,
    )


def _user_of(request: AuthorityRequest) -> int | None:
    return request.agent.user_id if request.agent_id else None


def _entitlement_change(
    *, grant: Grant, action_type: ActionType, starts_on: date, now: datetime
) -> None:
    """An extension moves the end; a pause moves it as much and is set from
    `starts_on` (the day granted, or the day chosen)."""
    if action_type.effect not in (ActionType.Effect.EXTEND, ActionType.Effect.PAUSE):
        return
    entitlement = selectors.entitlement_for_action(
        customer_id=grant.customer_id, product=action_type.product, for_update=True
    )
    days = timedelta(days=int(grant.amount))
    grant.entitlement, grant.ends_before = entitlement, entitlement.ends_on
    entitlement.ends_on += days
    if action_type.effect == ActionType.Effect.PAUSE:
        entitlement.paused_from = starts_on
        entitlement.paused_until = starts_on + days
    entitlement.updated_at = now
    entitlement.save(
        update_fields=["ends_on", "paused_from", "paused_until", "updated_at"]
    )
    grant.ends_after = entitlement.ends_on


def usage_add(
    *, grant: Grant, periods: selectors.Periods, sign: int, agent_day: bool
) -> None:
    """Count a grant (sign 1) or its reversal (sign -1) in the usage rows, in
    one statement (the rows are locked already, by usage_lock). The rows'
    CHECK constraints keep any of them from going below zero."""
    keys = usage_keys(
        customer_id=grant.customer_id,
        agent_id=grant.agent_id if agent_day else None,
        pod_id=grant.pod_id,
        periods=periods,
    )
    match = " OR ".join(
        ["(scope = %s AND scope_id = %s AND period_start = %s)"] * len(keys)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            # Rounded: SQLite (the demo) adds decimals as floats, and a grant
            # reversed to exactly zero could come out a hair below it.
            f"UPDATE {UsageCounter._meta.db_table}"  # noqa: S608 (table name)
            " SET amount = ROUND(amount + %s, 2), count = count + %s"
            f" WHERE action_type_id = %s AND ({match})",
            [
                grant.amount.copy_abs() * sign,
                sign,
                grant.action_type_id,
                *(
                    value
                    for scope, scope_id, start in keys
                    for value in (scope.value, scope_id, _day(start))
                ),
            ],
        )


def _webhook_schedule(
    *, grant: Grant, action_type: ActionType, event: str, now: datetime
) -> None:
    if not action_type.webhook_url:
        return
    delivery = WebhookDelivery.objects.create(
        grant=grant,
        url=action_type.webhook_url,
        payload={
            "event": event,
            "grant_id": grant.id,
            "reverses": grant.reverses_id,
            "action": action_type.code,
            "effect": action_type.effect,
            "amount": str(grant.amount),
            "currency": grant.currency,
            "unit": action_type.unit,
            "customer_id": grant.customer_id,
            "pod_id": grant.pod_id,
            "ticket_id": grant.ticket_id,
            "granted_at": grant.granted_at.isoformat(),
            **_pause_payload(grant=grant, action_type=action_type),
        },
        next_attempt_at=now,
        created_at=now,
    )
    outbound.webhook_deliver_on_commit(delivery_id=delivery.id)


def _pause_payload(*, grant: Grant, action_type: ActionType) -> dict:
    """A pause's days, for the billing system to stop charging over them."""
    if (
        action_type.effect != ActionType.Effect.PAUSE
        or grant.kind != Grant.Kind.GRANT
        or grant.entitlement is None
    ):
        return {}
    return {
        "paused_from": grant.entitlement.paused_from.isoformat(),
        "paused_until": grant.entitlement.paused_until.isoformat(),
    }


def _grant_told(*, grant: Grant, request: AuthorityRequest, now: datetime) -> None:
    """A note for the pod on the ticket, the customer told in their channel,
    and a live event for the pages watching."""
    if grant.ticket_id:
        tickets.services.ticket_event_note(
            ticket_id=grant.ticket_id,
            text=_("Granted %(what)s (stage %(stage)s, %(rule)s v%(version)s). %(why)s")
            % {
                "what": request_words(request),
                "stage": grant.stage,
                "rule": grant.rule.name,
                "version": grant.rule.version,
                "why": reasons_sentence(request),
            },
            now=now,
            agent_id=request.agent_id
            if request.agent_id and not grant.approved_by_id
            else None,
        )
        tickets.services.customer_notice_send(
            ticket_id=grant.ticket_id, text=customer_words(grant=grant), now=now
        )
    pods.services.pod_event_publish(
        pod_id=grant.pod_id,
        event={
            "type": "notify",
            "kind": "authority.granted",
            "request_id": request.id,
            "ticket_id": grant.ticket_id,
            "state": request.state,
        },
    )


def request_words(request: AuthorityRequest) -> str:
    """ "£30 refund", "14 days extension", "14 days pause from 3 March 2026"."""
    action_type = request.action_type
    words = {
        "amount": selectors.amount_words(
            amount=request.amount, unit=action_type.unit, currency=action_type.currency
        ),
        "action": action_type.name.lower(),
    }
    if request.effect_starts_on is not None:
        return _("%(amount)s %(action)s from %(start)s") % {
            **words,
            "start": selectors.day_words(request.effect_starts_on),
        }
    return _("%(amount)s %(action)s") % words


def reasons_sentence(request: AuthorityRequest) -> str:
    words = selectors.reasons_words(
        reasons=request.reasons, action_type=request.action_type
    )
    return "; ".join(text for _, text in words)


def customer_words(*, grant: Grant) -> str:
    action_type = grant.action_type
    amount = selectors.amount_words(
        amount=grant.amount, unit=action_type.unit, currency=action_type.currency
    )
    if action_type.effect == ActionType.Effect.REFUND:
        return _(
            "Good news: we have refunded %(amount)s to you. "
            "It can take a few days to show."
        ) % {"amount": amount}
    if action_type.effect == ActionType.Effect.CREDIT:
        return _("Good news: we have added %(amount)s of credit to your account.") % {
            "amount": amount
        }
    if action_type.effect == ActionType.Effect.EXTEND:
        return _(
            "Good news: your %(product)s now runs %(amount)s longer, until %(end)s."
        ) % {
            "product": grant.entitlement.product,
            "amount": amount,
            "end": grant.ends_after,
        }
    if action_type.effect == ActionType.Effect.PAUSE:
        starts_on = grant.request.effect_starts_on if grant.request_id else None
        if starts_on and starts_on > grant.granted_at.date():
            return _(
                "Your %(product)s will be paused for %(amount)s from %(start)s; "
                "it now ends on %(end)s."
            ) % {
                "product": grant.entitlement.product,
                "amount": amount,
                "start": selectors.day_words(starts_on),
                "end": selectors.day_words(grant.ends_after),
            }
        return _(
            "Your %(product)s is paused for %(amount)s; it now ends on %(end)s."
        ) % {
            "product": grant.entitlement.product,
            "amount": amount,
            "end": grant.ends_after,
        }
    return _("Done: %(amount)s %(action)s.") % {
        "amount": amount,
        "action": action_type.name.lower(),
    }


def _request_details(request: AuthorityRequest) -> dict:
    details = {
        "request": request.id,
        "action": request.action_type.code,
        "amount": str(request.amount),
        "customer": request.customer_id,
        "ticket": request.ticket_id,
        "state": request.state,
        "stage": request.stage,
        "rule": request.rule_id,
        "reasons": request.reasons,
    }
    if request.effect_starts_on is not None:
        details["effect_starts_on"] = request.effect_starts_on.isoformat()
    return details


# --- Reversal ----------------------------------------------------------------------


def grant_reverse(*, grant_id: int, user, reason: str, now: datetime) -> Grant:
    """Undo a grant with a new entry: negative usage and ledger, the
    entitlement's end moved back, the billing system told. Once per grant (a
    unique constraint). Raises ReversalRefused."""
    reason = (reason or "").strip()
    if not reason:
        raise ReversalRefused(_("say why the grant is reversed"))
    original = (
        Grant.objects.select_related("action_type", "rule", "entitlement")
        .filter(id=grant_id)
        .first()
    )
    if original is None or original.kind != Grant.Kind.GRANT:
        raise ReversalRefused(_("no such grant"))
    customer = pods.selectors.customer_facts(customer_id=original.customer_id)
    periods = selectors.periods_at(
        now=original.granted_at, time_zone=customer.pod_time_zone
    )
    try:
        with transaction.atomic():
            usage_lock(
                action_type_id=original.action_type_id,
                customer_id=original.customer_id,
                agent_id=original.agent_id,
                pod_id=original.pod_id,
                periods=periods,
            )
            if Grant.objects.filter(reverses_id=original.id).exists():
                raise ReversalRefused(_("this grant was reversed already"))
            reversal = _reversal_store(
                original=original, user=user, reason=reason, periods=periods, now=now
            )
    except IntegrityError:
        # Only the one-reversal-per-grant constraint means "reversed already";
        # any other broken constraint is a fault, not an answer.
        if not Grant.objects.filter(reverses_id=original.id).exists():
            raise
        raise ReversalRefused(_("this grant was reversed already")) from None
    return reversal


def _reversal_store(
    *, original: Grant, user, reason: str, periods, now: datetime
) -> Grant:
    reversal = Grant(
        kind=Grant.Kind.REVERSAL,
        reverses=original,
        action_type=original.action_type,
        rule=original.rule,
        stage=original.stage,
        customer_id=original.customer_id,
        pod_id=original.pod_id,
        ticket_id=original.ticket_id,
        agent_id=original.agent_id,
        approved_by_id=user.pk,
        amount=-original.amount,
        currency=original.currency,
        reasons=[{"code": "reversal", "ok": True, "params": {"why": reason}}],
        granted_at=now,
    )
    if original.entitlement_id:
        entitlement = Entitlement.objects.select_for_update().get(
            id=original.entitlement_id
        )
        reversal.entitlement, reversal.ends_before = entitlement, entitlement.ends_on
        entitlement.ends_on = max(
            entitlement.ends_on - timedelta(days=int(original.amount)),
            entitlement.starts_on,
        )
        if original.action_type.effect == ActionType.Effect.PAUSE:
            entitlement.paused_from = entitlement.paused_until = None
        entitlement.updated_at = now
        entitlement.save(
            update_fields=["ends_on", "paused_from", "paused_until", "updated_at"]
        )
        reversal.ends_after = entitlement.ends_on
    reversal.save(force_insert=True)
    # The reversal carries the original's stage and agent: it comes off the
    # same counters the grant went on.
    usage_add(
        grant=reversal,
        periods=periods,
        sign=-1,
        agent_day=_counts_for_agent_day(reversal),
    )
    _ledger_record(grant=reversal, effect=original.action_type.effect, now=now)
    _webhook_schedule(
        grant=reversal,
        action_type=original.action_type,
        event="grant.reversed",
        now=now,
    )
    audit_append(
        chain=pod_chain(reversal.pod_id),
        kind="REVERSED",
        subject=f"grant:{original.id}",
        details={
            "grant": original.id,
            "reversal": reversal.id,
            "amount": str(original.amount),
            "why": reason,
        },
        actor_user_id=user.pk,
        actor_label=user.get_username(),
        now=now,
    )
    if original.ticket_id:
        tickets.services.ticket_event_note(
            ticket_id=original.ticket_id,
            text=_("Reversed grant #%(id)s: %(why)s")
            % {"id": original.id, "why": reason},
            now=now,
        )
    return reversal
