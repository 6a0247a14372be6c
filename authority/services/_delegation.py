"""Delegating a stage down in one click, and the demo's history.

An admin applies a recommendation of the delegation insights: the rule of the
lower stage gets a new version with the higher limit per grant (or, when there
is none for that scope, a new rule), with a change note that says which
recommendation and which figures. Past grants keep pointing at the version
that allowed them.

The demo history is ninety days of asks, approvals, grants, a few denials and
one reversal, made through the real services with `now` in the past, so the
insights have something to show."""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.translation import gettext as _

import pods.selectors
import pods.services
import tickets.selectors
import tickets.services
from authority import selectors
from authority.models import ActionType, AuthorityRequest, AuthorityRule, Grant
from authority.services._approvals import request_approve, request_deny
from authority.services._configuration import (
    TERM_FIELDS,
    entitlement_create,
    rule_create,
    rule_revise,
)
from authority.services._errors import AuthorityError, RuleInvalid
from authority.services._grants import actor_for_user, authority_ask, grant_reverse

MAX_CHANGE_NOTE = 300


class DelegationRefused(AuthorityError):
    """The recommendation cannot be applied as it stands: the new terms break a
    rule of the funnel (the problems say which), or the period is not offered."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DelegationApplied:
    """The new rule version (or new rule); None when there was nothing to apply:
    applied already, or the figures no longer make the recommendation."""

    rule: AuthorityRule | None
    recommendation: selectors.Recommendation | None


def delegation_apply(
    *,
    key: str,
    user,
    now: datetime,
    days: int = selectors.DEFAULT_PERIOD_DAYS,
    thresholds: selectors.InsightThresholds | None = None,
) -> DelegationApplied:
    """Apply the recommendation `key` names if the figures of the `days` before
    `now` still make it: a new version of the lower stage's rule with the
    recommended limit per grant, or a new rule of that stage and scope.
    Idempotent: once applied, the recommendation is made no more, so a second
    apply changes nothing. Raises DelegationRefused with the problems when the
    new terms break a rule (rule_problems)."""
    if days not in selectors.PERIOD_DAYS:
        raise DelegationRefused([_("the period must be 7, 30 or 90 days")])
    action_code = key.split(":")[1] if key.count(":") == 3 else ""
    with transaction.atomic():
        # One apply per action type at a time: a second click waits, then
        # finds the recommendation gone.
        locked = ActionType.objects.select_for_update().filter(code=action_code)
        if not locked.exists():
            return DelegationApplied(rule=None, recommendation=None)
        recommendation = selectors.recommendation_by_key(
            key=key,
            period=selectors.insight_period(now=now, days=days),
            thresholds=thresholds,
        )
        if recommendation is None:
            return DelegationApplied(rule=None, recommendation=None)
        note = delegation_note(recommendation=recommendation)
        try:
            if recommendation.rule_id is not None:
                rule = rule_revise(
                    rule_id=recommendation.rule_id,
                    terms=_terms_raised(recommendation=recommendation),
                    user=user,
                    note=note,
                    now=now,
                )
            else:
                rule = rule_create(
                    terms=_terms_new(recommendation=recommendation, now=now),
                    user=user,
                    note=note,
                    now=now,
                )
        except RuleInvalid as invalid:
            raise DelegationRefused(invalid.problems) from None
    return DelegationApplied(rule=rule, recommendation=recommendation)


def delegation_note(*, recommendation: selectors.Recommendation) -> str:
    """The change note of the rule version a recommendation makes."""
    note = _("Delegation insight applied: %(text)s") % {
        "text": selectors.recommendation_words(recommendation=recommendation)
    }
    return note[:MAX_CHANGE_NOTE]


def _terms_of(rule: AuthorityRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in TERM_FIELDS}


def _terms_raised(*, recommendation: selectors.Recommendation) -> dict[str, Any]:
    rule = AuthorityRule.objects.select_related(
        "action_type", "pod", "contact_reason", "approver_group"
    ).get(id=recommendation.rule_id)
    return {**_terms_of(rule), "max_per_grant": recommendation.limit}


def _terms_new(
    *, recommendation: selectors.Recommendation, now: datetime
) -> dict[str, Any]:
    """A rule for the lower stage where there was none: the recommended limit
    per grant; a self-service rule also keeps the agents' per-customer limits
    and conditions (at least once per 90 days), since nobody looks at it."""
    action_type = recommendation.action_type
    terms: dict[str, Any] = {
        "action_type": action_type,
        "stage": recommendation.to_stage,
        "max_per_grant": recommendation.limit,
        "valid_from": now,
    }
    if recommendation.reason_id is not None:
        terms["contact_reason"] = (
            tickets.selectors.contact_reasons_active()
            .filter(id=recommendation.reason_id)
            .first()
        )
        if terms["contact_reason"] is None:
            raise DelegationRefused([_("the contact reason is no longer in use")])
    if recommendation.to_stage == AuthorityRule.Stage.AGENT:
        terms["name"] = _("%(action)s an agent decides") % {"action": action_type.name}
        return terms
    terms["name"] = _("%(action)s customers choose") % {"action": action_type.name}
    agents_rule = (
        selectors.rules_current(now=now)
        .filter(
            action_type=action_type,
            stage=AuthorityRule.Stage.AGENT,
            pod__isnull=True,
            agent_role="",
            contact_reason__isnull=True,
            customer_segment="",
        )
        .first()
    )
    for name in (
        "customer_period_days",
        "customer_max_count",
        "customer_max_total",
        "min_tenure_days",
        "cooldown_days",
    ):
        value = getattr(agents_rule, name, None)
        if value is not None:
            terms[name] = value
    if not terms.get("customer_period_days"):
        terms["customer_period_days"], terms["customer_max_count"] = 90, 1
    total = terms.get("customer_max_total")
    if total is not None and total < recommendation.limit:
        terms["customer_max_total"] = recommendation.limit
    return terms


# --- Demo history -------------------------------------------------------------------

DEMO_KEY = "demo-history"
DEMO_SUBJECTS = {
    "extension": [
        "Can I extend my class pass?",
        "I missed two weeks of classes",
        "수강 기간 연장 가능할까요?",
    ],
    "refund": [
        "Charged twice for my class pass",
        "Refund for a cancelled class",
        "환불 요청드립니다",
    ],
    "credit": ["The teacher did not show up", "Video kept buffering all week"],
    "none": ["How do I change my email?", "Where are my class materials?"],
}
DEMO_CHANNELS = ["CHAT", "WEB", "PHONE", "SMS", "SOCIAL"]
# The pod's agents, in the order of agents_of_pods: (tickets solved, of them
# with the agent's own grant). The third uses it far less: the under-user.
DEMO_USAGE_PLAN = [(9, 3), (9, 3), (12, 1), (8, 2), (8, 2), (8, 2), (8, 3)]
DEMO_EXTENSION_APPROVALS_ON_TICKETS = 12
DEMO_EXTENSION_APPROVALS_ELSEWHERE = 45


def demo_authority_history_seed(
    *, now: datetime, pod_id: int, customer_ids: Sequence[int]
) -> dict[str, int]:
    """Ninety days of history through the real services: on `pod_id`'s floor,
    contacts of the last four weeks solved by its agents with their own grants
    at different rates (one under-user), extension approvals, refund approvals
    (two denied) and one reversal; and extension approvals over ninety days for
    `customer_ids` (who hold a class pass), nearly all approved by their pod
    lead after a few hours, so the insights recommend delegating them.
    Idempotent: a second run adds nothing."""
    made = {"tickets": 0, "requests": 0, "grants": 0}
    if AuthorityRequest.objects.filter(
        idempotency_key__startswith=f"{DEMO_KEY}-"
    ).exists():
        return made
    floor = _DemoFloor.of(pod_id=pod_id, now=now)
    if floor is None:
        return made
    with transaction.atomic():
        floor.contacts_seed()
        floor.approvals_elsewhere_seed(customer_ids=customer_ids)
    made["tickets"] = floor.tickets
    made["requests"] = AuthorityRequest.objects.filter(
        idempotency_key__startswith=f"{DEMO_KEY}-"
    ).count()
    made["grants"] = Grant.objects.filter(
        request__idempotency_key__startswith=f"{DEMO_KEY}-"
    ).count()
    return made


class _DemoFloor:
    """One pod's weeks of work, told in order. Deterministic (seeded)."""

    def __init__(self, *, pod_id: int, now: datetime, agents: list, lead) -> None:
        self.pod_id, self.now, self.agents, self.lead = pod_id, now, agents, lead
        self.random = random.Random(2026)  # noqa: S311 - demo data, not secrets
        self.keys = 0
        self.tickets = 0
        reasons = dict(
            tickets.selectors.contact_reasons_active().values_list("name", "id")
        )
        self.refund_reason_id = reasons.get("Refund")

    @classmethod
    def of(cls, *, pod_id: int, now: datetime) -> "_DemoFloor | None":
        lead_user_id = pods.selectors.pod_lead_user_id(pod_id=pod_id)
        members = pods.selectors.agents_of_pods(pod_ids=[pod_id])
        agents = [agent for agent in members if agent.user_id != lead_user_id]
        if lead_user_id is None or len(agents) < len(DEMO_USAGE_PLAN):
            return None
        users = get_user_model().objects.in_bulk(
            [lead_user_id, *(agent.user_id for agent in agents)]
        )
        return cls(
            pod_id=pod_id,
            now=now,
            agents=[users[agent.user_id] for agent in agents],
            lead=users[lead_user_id],
        )

    def key(self) -> str:
        self.keys += 1
        return f"{DEMO_KEY}-{self.keys}"

    # The pod's last four weeks: contacts, grants, approvals, one reversal.

    def contacts_seed(self) -> None:
        plan = []
        for agent, (solved, granted) in zip(self.agents, DEMO_USAGE_PLAN, strict=False):
            plan += [(agent, index < granted) for index in range(solved)]
        self.random.shuffle(plan)
        approvals = set(
            self.random.sample(
                [i for i, (_, granted) in enumerate(plan) if not granted],
                DEMO_EXTENSION_APPROVALS_ON_TICKETS + 3,
            )
        )
        refund_asks = sorted(approvals)[:3]
        reversed_one = False
        start, step = self.now - timedelta(days=27), timedelta(days=27) / len(plan)
        others = self._pause_other_pods()
        try:
            for index, (agent, granted) in enumerate(plan):
                when = start + step * index
                when -= timedelta(minutes=self.random.randint(0, 300))
                if index in refund_asks:
                    kind = "refund"
                elif index in approvals:
                    kind = "extension"
                else:
                    kind = self._grant_kind() if granted else "none"
                ticket = self._contact(number=index, kind=kind, agent=agent, when=when)
                done = when + timedelta(minutes=self.random.randint(15, 40))
                if granted:
                    grant = self._agent_grant(
                        agent=agent, ticket=ticket, kind=kind, when=done
                    )
                    if kind == "refund" and grant and not reversed_one:
                        reversed_one = self._reverse(grant=grant, when=done)
                elif index in approvals:
                    done = self._approval(
                        agent=agent,
                        ticket=ticket,
                        kind=kind,
                        deny=index in refund_asks[:2],
                        when=done,
                    )
                tickets.services.ticket_solve(
                    ticket=ticket, now=done + timedelta(minutes=10)
                )
        finally:
            pods.services.pods_accepting_set(pod_ids=others, accepting=True)

    def _pause_other_pods(self) -> list[int]:
        """New customers go to the least-loaded pod: these ones are this pod's."""
        others = [
            pod_id
            for pod_id, accepting in pods.selectors.pod_list().values_list(
                "id", "accepts_new_customers"
            )
            if accepting and pod_id != self.pod_id
        ]
        pods.services.pods_accepting_set(pod_ids=others, accepting=False)
        return others

    def _grant_kind(self) -> str:
        return self.random.choice(["extension", "extension", "refund", "credit"])

    def _contact(self, *, number: int, kind: str, agent, when: datetime):
        first, last = self.random.choice(DEMO_NAMES)
        subject = self.random.choice(DEMO_SUBJECTS[kind])
        ticket = tickets.services.demo_contact_seed(
            email=f"{DEMO_KEY}.{self.pod_id}.{number}@example.com",
            name=f"{first} {last}",
            channel=self.random.choice(DEMO_CHANNELS),
            subject=subject,
            text=subject,
            now=when,
        )
        self.tickets += 1
        starts = (when - timedelta(days=85)).date()
        entitlement_create(
            customer_id=ticket.customer_id,
            product="Class pass",
            starts_on=starts,
            ends_on=starts + timedelta(days=90),
            now=when,
        )
        agent_id = pods.selectors.agent_role_of_user(user_id=agent.pk).agent_id
        ticket = tickets.services.ticket_assign(
            ticket=ticket, agent_id=agent_id, now=when
        )
        if kind in ("refund", "credit") and self.refund_reason_id:
            ticket = tickets.services.ticket_fields_set(
                ticket=ticket, contact_reason_id=self.refund_reason_id, now=when
            )
        return ticket

    def _ask(self, *, agent, ticket, code: str, amount, when: datetime):
        return authority_ask(
            actor=actor_for_user(user=agent),
            action_code=code,
            amount=amount,
            customer_id=ticket.customer_id,
            ticket_id=ticket.id,
            idempotency_key=self.key(),
            now=when,
        ).request

    def _agent_grant(self, *, agent, ticket, kind: str, when: datetime):
        amount = {
            "extension": lambda: self.random.randint(3, 14),
            "refund": lambda: self.random.choice([12, 15, 20, 25, 30, 35, 45]),
            "credit": lambda: self.random.choice([5, 10, 10, 15, 20]),
        }[kind]()
        request = self._ask(
            agent=agent, ticket=ticket, code=kind, amount=amount, when=when
        )
        return Grant.objects.filter(request=request).first()

    def _reverse(self, *, grant: Grant, when: datetime) -> bool:
        grant_reverse(
            grant_id=grant.id,
            user=self.lead,
            reason=_("The bank had already returned the payment: refunded twice."),
            now=when + timedelta(hours=20),
        )
        return True

    def _approval(
        self, *, agent, ticket, kind: str, deny: bool, when: datetime
    ) -> datetime:
        amount = (
            self.random.choice([60, 80, 120, 150])
            if kind == "refund"
            else self.random.randint(15, 28)
        )
        request = self._ask(
            agent=agent, ticket=ticket, code=kind, amount=amount, when=when
        )
        decided = when + self._wait()
        if request.state != AuthorityRequest.State.PENDING or decided >= self.now:
            return when
        decide = request_deny if deny else request_approve
        decide(
            request_id=request.id,
            user=self.lead,
            request_hash=request.request_hash,
            note=_("Not without the bank statement; ask the customer for it.")
            if deny
            else _("Fine: the class materials arrived late."),
            now=decided,
        )
        return decided

    def _wait(self) -> timedelta:
        """Most verdicts come within a working day, a few the next morning."""
        hours = self.random.choice([1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 11, 16, 20])
        return timedelta(hours=hours, minutes=self.random.randint(0, 59))

    # Ninety days of extension approvals for the rest of the organisation.

    def approvals_elsewhere_seed(self, *, customer_ids: Sequence[int]) -> None:
        chosen = self.random.sample(
            list(customer_ids),
            min(len(customer_ids), DEMO_EXTENSION_APPROVALS_ELSEWHERE),
        )
        users = self._asking_users(customer_ids=chosen)
        span = timedelta(days=89)
        for index, customer_id in enumerate(chosen):
            asker, approver = users.get(customer_id, (None, None))
            if asker is None:
                continue
            when = self.now - span + span * index / max(1, len(chosen))
            request = authority_ask(
                actor=actor_for_user(user=asker),
                action_code="extension",
                amount=self.random.randint(15, 28),
                customer_id=customer_id,
                ticket_id=None,
                idempotency_key=self.key(),
                now=when,
            ).request
            decided = when + self._wait()
            if request.state != AuthorityRequest.State.PENDING or decided >= self.now:
                continue  # the last one or two are still waiting
            if index == len(chosen) // 3:
                request_deny(
                    request_id=request.id,
                    user=approver,
                    request_hash=request.request_hash,
                    note=_("The pass ended a year ago; offer a new one instead."),
                    now=decided,
                )
                continue
            request_approve(
                request_id=request.id,
                user=approver,
                request_hash=request.request_hash,
                note="",
                now=decided,
            )

    def _asking_users(self, *, customer_ids: list[int]) -> dict[int, tuple]:
        """For each customer, an agent of their pod to ask and its lead to
        approve (a pod without both is left out)."""
        pod_of = {}
        for customer_id in customer_ids:
            facts = pods.selectors.customer_facts(customer_id=customer_id)
            if facts is not None:
                pod_of[customer_id] = facts.pod_id
        pod_ids = sorted(set(pod_of.values()))
        members = pods.selectors.agents_of_pods(pod_ids=pod_ids)
        leads = {
            pod_id: pods.selectors.pod_lead_user_id(pod_id=pod_id) for pod_id in pod_ids
        }
        askers: dict[int, list[int]] = {}
        for agent in members:
            if agent.user_id != leads.get(agent.pod_id):
                askers.setdefault(agent.pod_id, []).append(agent.user_id)
        users = get_user_model().objects.in_bulk(
            [
                *(user for user in leads.values() if user),
                *(user for users in askers.values() for user in users),
            ]
        )
        chosen = {}
        for customer_id, pod_id in pod_of.items():
            if not askers.get(pod_id) or not leads.get(pod_id):
                continue
            asker = users[self.random.choice(askers[pod_id])]
            chosen[customer_id] = (asker, users[leads[pod_id]])
        return chosen


DEMO_NAMES = [
    ("Hanbyul", "Kim"),
    ("Seo-yeon", "Park"),
    ("Amelia", "Jones"),
    ("Jiwoo", "Lee"),
    ("Oliver", "Brown"),
    ("Yuna", "Choi"),
    ("Freya", "Taylor"),
    ("Min-jun", "Kang"),
    ("Isla", "Evans"),
    ("Da-eun", "Yoon"),
]
