"""Stage 1: approving, denying and cancelling requests.

Four eyes, on the server: nobody decides their own request. A verdict is bound
to the request as the approver read it (its hash), taken under the request's
row lock, and stored once (one decision per request, a unique constraint), so
two approvers clicking together execute it once."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

import pods.selectors
import pods.services
import tickets.services
from authority import rules, selectors
from authority.models import ApprovalDecision, AuthorityRequest
from authority.services._audit import audit_append, pod_chain
from authority.services._errors import ApprovalCannotExecute, ApprovalRefused
from authority.services._grants import (
    engine_ask,
    entitlement_problem,
    grant_execute,
    reasons_sentence,
    request_words,
    usage_lock,
)

APPROVE_ANY_PERMISSION = "authority.approve_any"
MAX_DECISION_NOTE = 2_000


def approver_may_decide(*, user, request: AuthorityRequest) -> bool:
    """May this user decide this request? Not their own; a member of the rule's
    approver group, else the lead of the request's pod; admins who may approve
    for any pod always. (Pod scope itself is the caller's has_perm check.)"""
    if request.agent_id and request.agent.user_id == user.pk:
        return False
    if user.is_superuser or user.has_perm(APPROVE_ANY_PERMISSION):
        return True
    group_id = request.rule.approver_group_id if request.rule_id else None
    if group_id is not None:
        return user.groups.filter(id=group_id).exists()
    return pods.selectors.pod_lead_user_id(pod_id=request.pod_id) == user.pk


def request_approve(
    *, request_id: int, user, request_hash: str, note: str, now: datetime
) -> AuthorityRequest:
    """Approve and execute a pending request. Raises ApprovalRefused (not
    pending, changed since read, not this user's to decide) or
    ApprovalCannotExecute (the rule no longer allows it; nothing changed)."""
    note = _note_checked(note, required=False)
    try:
        with transaction.atomic():
            request = _pending_locked(
                request_id=request_id, user=user, request_hash=request_hash
            )
            customer = pods.selectors.customer_facts(customer_id=request.customer_id)
            periods = selectors.periods_at(now=now, time_zone=customer.pod_time_zone)
            usage_lock(
                action_type_id=request.action_type_id,
                customer_id=request.customer_id,
                agent_id=request.agent_id,
                pod_id=request.pod_id,
                periods=periods,
            )
            _still_allowed(request=request, customer=customer, now=now)
            _decision_store(
                request=request,
                user=user,
                verdict=ApprovalDecision.Verdict.APPROVE,
                note=note,
                now=now,
            )
            request.state, request.decided_at = AuthorityRequest.State.GRANTED, now
            request.save(update_fields=["state", "decided_at"])
            grant_execute(
                request=request,
                rule=request.rule,
                approved_by_user_id=user.pk,
                periods=periods,
                now=now,
            )
            _requester_told(request=request)
    except IntegrityError:
        raise ApprovalRefused(_("this request was decided already")) from None
    return request


def request_deny(
    *, request_id: int, user, request_hash: str, note: str, now: datetime
) -> AuthorityRequest:
    """Deny a pending request, saying why (the note is required)."""
    note = _note_checked(note, required=True)
    try:
        with transaction.atomic():
            request = _pending_locked(
                request_id=request_id, user=user, request_hash=request_hash
            )
            _decision_store(
                request=request,
                user=user,
                verdict=ApprovalDecision.Verdict.DENY,
                note=note,
                now=now,
            )
            request.state, request.decided_at = AuthorityRequest.State.DENIED, now
            request.save(update_fields=["state", "decided_at"])
            _decided_told(request=request, user=user, kind="DENIED", note=note, now=now)
    except IntegrityError:
        raise ApprovalRefused(_("this request was decided already")) from None
    return request


def request_cancel(*, request_id: int, user, now: datetime) -> AuthorityRequest:
    """The requesting agent withdraws a pending request."""
    with transaction.atomic():
        request = (
            # Only the request's row: PostgreSQL locks nothing on the nullable
            # side of the outer join to the agent.
            AuthorityRequest.objects.select_for_update(of=("self",))
            .select_related("action_type", "agent")
            .filter(id=request_id)
            .first()
        )
        if request is None or not request.agent_id or request.agent.user_id != user.pk:
            raise ApprovalRefused(_("only the agent who asked can cancel a request"))
        if request.state != AuthorityRequest.State.PENDING:
            raise ApprovalRefused(
                _("only a request waiting for approval can be cancelled")
            )
        request.state, request.decided_at = AuthorityRequest.State.CANCELLED, now
        request.save(update_fields=["state", "decided_at"])
        _decided_told(request=request, user=user, kind="CANCELLED", note="", now=now)
    return request


def _note_checked(note: str, *, required: bool) -> str:
    note = (note or "").strip()
    if required and not note:
        raise ApprovalRefused(_("say why, in a note the agent will read"))
    if len(note) > MAX_DECISION_NOTE:
        raise ApprovalRefused(
            _("the note is longer than %(max)s characters") % {"max": MAX_DECISION_NOTE}
        )
    return note


def _pending_locked(*, request_id: int, user, request_hash: str) -> AuthorityRequest:
    request = (
        AuthorityRequest.objects.select_for_update(of=("self",))
        .select_related("action_type", "rule", "agent")
        .filter(id=request_id)
        .first()
    )
    if request is None:
        raise ApprovalRefused(_("no such request"))
    if request.state != AuthorityRequest.State.PENDING:
        raise ApprovalRefused(
            _("this request is no longer waiting (%(state)s)")
            % {"state": request.get_state_display()}
        )
    if request.request_hash != request_hash:
        raise ApprovalRefused(_("the request changed since you read it; read it again"))
    if not approver_may_decide(user=user, request=request):
        raise ApprovalRefused(
            _("you cannot decide this request (your own, or not your approval group's)")
        )
    return request


def _still_allowed(*, request: AuthorityRequest, customer, now: datetime) -> None:
    """The approved rule's limits hold at execution too: a budget spent
    meanwhile stops the grant, with the reasons; so does the entitlement (a
    pause whose chosen start has passed, or one set meanwhile)."""
    terms = selectors.rule_terms(rule=request.rule)
    usage = selectors.usage_read(
        action_type_id=request.action_type_id,
        customer=customer,
        agent_id=request.agent_id,
        history_days=terms.history_days,
        now=now,
    )
    decision = rules.recheck(
        ask=engine_ask(
            action_type=request.action_type,
            amount=request.amount,
            engine_actor=rules.ACTOR_AGENT,
            now=now,
        ),
        rule=terms,
        usage=usage,
    )
    problem = entitlement_problem(
        action_type=request.action_type,
        customer_id=request.customer_id,
        days=request.amount,
        effect_starts_on=request.effect_starts_on,
        now=now,
    )
    if problem is not None:
        decision = rules.Decision(
            rules.Outcome.REFUSED, decision.rule, (*decision.reasons, problem)
        )
    if decision.outcome != rules.Outcome.GRANTED:
        failed = [reason.as_dict() for reason in decision.reasons if not reason.ok]
        words = selectors.reasons_words(reasons=failed, action_type=request.action_type)
        raise ApprovalCannotExecute(
            _("the rule no longer allows it: %(why)s")
            % {"why": "; ".join(text for _, text in words)},
            failed,
        )


def _decision_store(
    *, request: AuthorityRequest, user, verdict: str, note: str, now: datetime
) -> None:
    ApprovalDecision.objects.create(
        request=request,
        approver=user,
        verdict=verdict,
        note=note,
        request_hash=request.request_hash,
        decided_at=now,
    )
    audit_append(
        chain=pod_chain(request.pod_id),
        kind="APPROVED" if verdict == ApprovalDecision.Verdict.APPROVE else "DENIED",
        subject=f"request:{request.id}",
        details={
            "request": request.id,
            "verdict": verdict,
            "note": note,
            "request_hash": request.request_hash,
        },
        actor_user_id=user.pk,
        actor_label=user.get_username(),
        now=now,
    )


def _decided_told(
    *, request: AuthorityRequest, user, kind: str, note: str, now: datetime
) -> None:
    if kind == "CANCELLED":
        audit_append(
            chain=pod_chain(request.pod_id),
            kind="CANCELLED",
            subject=f"request:{request.id}",
            details={"request": request.id},
            actor_user_id=user.pk,
            actor_label=user.get_username(),
            now=now,
        )
    if request.ticket_id:
        text = (
            _("Denied: %(what)s. %(note)s")
            % {"what": request_words(request), "note": note}
            if kind == "DENIED"
            else _("Cancelled the request for %(what)s.")
            % {"what": request_words(request)}
        )
        tickets.services.ticket_event_note(
            ticket_id=request.ticket_id, text=text, now=now
        )
    pods.services.pod_event_publish(
        pod_id=request.pod_id,
        event={
            "type": "notify",
            "kind": "authority.decided",
            "request_id": request.id,
            "ticket_id": request.ticket_id,
            "state": request.state,
        },
    )
    _requester_told(request=request)


def _requester_told(*, request: AuthorityRequest) -> None:
    """The asking agent's open pages learn the verdict live."""
    if request.agent_id:
        pods.services.user_event_publish(
            user_id=request.agent.user_id,
            event={
                "type": "notify",
                "kind": "authority.decided",
                "request_id": request.id,
                "ticket_id": request.ticket_id,
                "state": request.state,
                "text": reasons_sentence(request),
            },
        )
