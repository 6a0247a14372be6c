"""Writes of the authority funnel: keyword-only services that own their
transactions. This facade re-exports them; each lives in the module of its flow."""

from authority.services._approvals import (
    approver_may_decide,
    request_approve,
    request_cancel,
    request_deny,
)
from authority.services._audit import RULES_CHAIN, audit_append, pod_chain
from authority.services._configuration import (
    demo_authority_seed,
    entitlement_create,
    rule_create,
    rule_problems,
    rule_revise,
)
from authority.services._delegation import (
    DelegationApplied,
    DelegationRefused,
    delegation_apply,
    delegation_note,
    demo_authority_history_seed,
)
from authority.services._entitlements import (
    customer_merge,
    entitlement_change,
    entitlement_dates_problem,
)
from authority.services._errors import (
    ApprovalCannotExecute,
    ApprovalRefused,
    AuthorityError,
    AuthorityRefused,
    IdempotencyConflict,
    ReversalRefused,
    RuleInvalid,
)
from authority.services._figures import (
    FIGURE_PERIODS,
    FiguresRefreshed,
    authority_days_refresh,
    authority_figures_refresh,
    authority_periods_refresh,
    delegation_snapshot_refresh,
    local_day_bounds,
    period_figures_merge,
    rules_in_force_at,
)
from authority.services._grants import (
    Actor,
    Asked,
    actor_for_customer,
    actor_for_user,
    authority_ask,
    customer_words,
    grant_reverse,
    reasons_sentence,
    request_words,
)
from authority.services._portal import (
    EntitlementNotFound,
    entitlement_reminders_schedule,
    portal_action_ask,
)
from authority.services._preview import Preview, authority_preview
from authority.services._webhooks import webhook_retry

__all__ = [
    "FIGURE_PERIODS",
    "RULES_CHAIN",
    "Actor",
    "ApprovalCannotExecute",
    "ApprovalRefused",
    "Asked",
    "AuthorityError",
    "AuthorityRefused",
    "DelegationApplied",
    "DelegationRefused",
    "EntitlementNotFound",
    "FiguresRefreshed",
    "IdempotencyConflict",
    "Preview",
    "ReversalRefused",
    "RuleInvalid",
    "actor_for_customer",
    "actor_for_user",
    "approver_may_decide",
    "audit_append",
    "authority_ask",
    "authority_days_refresh",
    "authority_figures_refresh",
    "authority_periods_refresh",
    "authority_preview",
    "customer_merge",
    "customer_words",
    "delegation_apply",
    "delegation_note",
    "delegation_snapshot_refresh",
    "demo_authority_history_seed",
    "demo_authority_seed",
    "entitlement_change",
    "entitlement_create",
    "entitlement_dates_problem",
    "entitlement_reminders_schedule",
    "grant_reverse",
    "local_day_bounds",
    "period_figures_merge",
    "pod_chain",
    "portal_action_ask",
    "reasons_sentence",
    "request_approve",
    "request_cancel",
    "request_deny",
    "request_words",
    "rule_create",
    "rule_problems",
    "rule_revise",
    "rules_in_force_at",
    "webhook_retry",
]
