"""The authority funnel's records.

Rules are versioned by rows: a change writes a new AuthorityRule row with the
same lineage and the next version, and marks the old one superseded, so a grant
points at the exact terms that allowed it for ever. Grants, approval decisions,
ledger entries and audit events are append-only: the migration installs
database triggers that refuse UPDATE and DELETE on them (a reversal is a new
grant)."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

MONEY = {"max_digits": 14, "decimal_places": 2}


class ActionType(models.Model):
    class Unit(models.TextChoices):
        MONEY = "MONEY", _("Money")
        DAYS = "DAYS", _("Days")

    class Effect(models.TextChoices):
        REFUND = "REFUND", _("Refund to the customer")
        CREDIT = "CREDIT", _("Credit on the account")
        EXTEND = "EXTEND", _("Extend an entitlement")
        PAUSE = "PAUSE", _("Pause an entitlement")
        RECORD = "RECORD", _("Record only (the webhook does the work)")

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    unit = models.CharField(max_length=8, choices=Unit)
    currency = models.CharField(
        max_length=3, blank=True, help_text=_("ISO 4217 code, for money actions.")
    )
    effect = models.CharField(max_length=8, choices=Effect)
    product = models.CharField(
        max_length=60,
        blank=True,
        help_text=_("For entitlement effects: the product it changes."),
    )
    webhook_url = models.URLField(
        blank=True,
        help_text=_("Optional: the billing system told of every grant (signed)."),
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(unit="MONEY") | ~Q(currency=""),
                name="action_type_money_has_currency",
            ),
            models.CheckConstraint(
                condition=~Q(effect__in=["EXTEND", "PAUSE"]) | Q(unit="DAYS"),
                name="action_type_entitlement_effect_in_days",
            ),
            models.CheckConstraint(
                condition=~Q(effect__in=["REFUND", "CREDIT"]) | Q(unit="MONEY"),
                name="action_type_money_effect_in_money",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AuthorityRule(models.Model):
    class Stage(models.IntegerChoices):
        APPROVAL = 1, _("1: business approval")
        AGENT = 2, _("2: the agent decides")
        SELF_SERVICE = 3, _("3: customer self-service")

    lineage = models.UUIDField(default=uuid.uuid4, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    name = models.CharField(max_length=120)
    action_type = models.ForeignKey(
        ActionType, on_delete=models.PROTECT, related_name="rules"
    )
    stage = models.PositiveSmallIntegerField(choices=Stage)
    # Scope: an empty field matches everyone.
    pod = models.ForeignKey(
        "pods.Pod", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    agent_role = models.CharField(max_length=12, blank=True)
    contact_reason = models.ForeignKey(
        "tickets.ContactReason",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    customer_segment = models.CharField(max_length=40, blank=True)
    # Limits: an empty field is no limit.
    max_per_grant = models.DecimalField(**MONEY, null=True, blank=True)
    customer_period_days = models.PositiveIntegerField(null=True, blank=True)
    customer_max_count = models.PositiveIntegerField(null=True, blank=True)
    customer_max_total = models.DecimalField(**MONEY, null=True, blank=True)
    agent_daily_total = models.DecimalField(**MONEY, null=True, blank=True)
    pod_monthly_total = models.DecimalField(**MONEY, null=True, blank=True)
    # Conditions.
    min_tenure_days = models.PositiveIntegerField(null=True, blank=True)
    cooldown_days = models.PositiveIntegerField(null=True, blank=True)
    approver_group = models.ForeignKey(
        "auth.Group", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval_hours = models.PositiveIntegerField(
        default=24, help_text=_("Stage 1: how long a decision may take.")
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    superseded_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(editable=False)
    change_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["action_type_id", "stage", "name", "id"]
        indexes = [
            models.Index(
                fields=["action_type", "stage"],
                condition=Q(superseded_at__isnull=True, is_active=True),
                name="rule_current_by_action",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["lineage", "version"], name="rule_version_unique"
            ),
            models.UniqueConstraint(
                fields=["lineage"],
                condition=Q(superseded_at__isnull=True),
                name="rule_one_current_version",
            ),
            models.CheckConstraint(
                condition=Q(stage__in=[1, 2, 3]), name="rule_stage_known"
            ),
            models.CheckConstraint(
                condition=~Q(stage=3) | Q(agent_role=""),
                name="rule_self_service_has_no_agent_role",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True)
                | Q(valid_to__gt=models.F("valid_from")),
                name="rule_validity_ordered",
            ),
            models.CheckConstraint(
                condition=(Q(max_per_grant__isnull=True) | Q(max_per_grant__gt=0))
                & (Q(customer_max_total__isnull=True) | Q(customer_max_total__gt=0))
                & (Q(agent_daily_total__isnull=True) | Q(agent_daily_total__gt=0))
                & (Q(pod_monthly_total__isnull=True) | Q(pod_monthly_total__gt=0)),
                name="rule_limits_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class AuthorityRequest(models.Model):
    """One ask to act for a customer, by an agent or by the customer; unique per
    actor and idempotency key, so a retried ask is answered, not redone."""

    class Actor(models.TextChoices):
        AGENT = "AGENT", _("Agent")
        CUSTOMER = "CUSTOMER", _("Customer")

    class State(models.TextChoices):
        GRANTED = "GRANTED", _("Granted")
        PENDING = "PENDING", _("Waiting for approval")
        DENIED = "DENIED", _("Denied")
        REFUSED = "REFUSED", _("Refused")
        CANCELLED = "CANCELLED", _("Cancelled")

    actor_kind = models.CharField(max_length=8, choices=Actor)
    actor_key = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=100)
    request_hash = models.CharField(max_length=64)
    action_type = models.ForeignKey(
        ActionType, on_delete=models.PROTECT, related_name="requests"
    )
    amount = models.DecimalField(**MONEY)
    # The day a pause starts when it was asked from a chosen day; empty: the
    # day it is granted (today, or the day an approver approves it).
    effect_starts_on = models.DateField(null=True, blank=True)
    customer = models.ForeignKey(
        "pods.Customer", on_delete=models.PROTECT, related_name="+"
    )
    pod = models.ForeignKey("pods.Pod", on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    agent = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.ForeignKey(
        AuthorityRule, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State)
    stage = models.PositiveSmallIntegerField(null=True, blank=True)
    reasons = models.JSONField(default=list)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_any", "Can approve any pod's requests"),
            ("view_insights", "Can read delegation insights and authority usage"),
        ]
        indexes = [
            models.Index(
                fields=["pod", "due_at", "id"],
                condition=Q(state="PENDING"),
                name="request_pending_by_pod",
            ),
            models.Index(
                fields=["action_type", "created_at"], name="request_by_action_time"
            ),
            models.Index(fields=["agent", "created_at"], name="request_by_agent_time"),
            models.Index(fields=["ticket"], name="request_by_ticket"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["actor_key", "idempotency_key"],
                name="request_idempotency_per_actor",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="request_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action_type_id}:{self.amount} for customer {self.customer_id}"


class ApprovalDecision(models.Model):
    """A stage-1 verdict; one per request (the unique constraint makes a
    concurrent second verdict fail), bound to the request it read."""

    class Verdict(models.TextChoices):
        APPROVE = "APPROVE", _("Approve")
        DENY = "DENY", _("Deny")

    request = models.OneToOneField(
        AuthorityRequest, on_delete=models.PROTECT, related_name="decision"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=8, choices=Verdict)
    note = models.TextField(blank=True)
    request_hash = models.CharField(max_length=64)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["-decided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.verdict} of request {self.request_id}"


class Entitlement(models.Model):
    """What the customer has paid for and how long it runs."""

    customer = models.ForeignKey(
        "pods.Customer", on_delete=models.PROTECT, related_name="+"
    )
    product = models.CharField(max_length=60)
    starts_on = models.DateField()
    ends_on = models.DateField()
    paused_from = models.DateField(null=True, blank=True)
    paused_until = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["customer_id", "ends_on", "id"]
        indexes = [
            models.Index(
                fields=["customer", "product"], name="entitlement_by_customer"
            ),
            models.Index(fields=["ends_on"], name="entitlement_by_end"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")),
                name="entitlement_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product} {self.starts_on} to {self.ends_on}"


class Grant(models.Model):
    """Append-only: what was granted, by whom, under which rule version. A
    reversal is a new row with kind REVERSAL pointing at the grant it undoes."""

    class Kind(models.TextChoices):
        GRANT = "GRANT", _("Grant")
        REVERSAL = "REVERSAL", _("Reversal")

    kind = models.CharField(max_length=8, choices=Kind, default=Kind.GRANT)
    request = models.OneToOneField(
        AuthorityRequest,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grant",
    )
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversal"
    )
    action_type = models.ForeignKey(
        ActionType, on_delete=models.PROTECT, related_name="grants"
    )
    rule = models.ForeignKey(AuthorityRule, on_delete=models.PROTECT, related_name="+")
    stage = models.PositiveSmallIntegerField()
    customer = models.ForeignKey(
        "pods.Customer", on_delete=models.PROTECT, related_name="+"
    )
    pod = models.ForeignKey("pods.Pod", on_delete=models.PROTECT, related_name="+")
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    agent = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, blank=True)
    entitlement = models.ForeignKey(
        Entitlement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ends_before = models.DateField(null=True, blank=True)
    ends_after = models.DateField(null=True, blank=True)
    reasons = models.JSONField(default=list)
    granted_at = models.DateTimeField()

    class Meta:
        ordering = ["-granted_at", "-id"]
        indexes = [
            models.Index(
                fields=["customer", "action_type", "granted_at"],
                name="grant_by_customer_action",
            ),
            models.Index(fields=["pod", "granted_at"], name="grant_by_pod_time"),
            models.Index(fields=["agent", "granted_at"], name="grant_by_agent_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0), name="grant_amount_not_zero"
            ),
            models.CheckConstraint(
                condition=Q(kind="GRANT", amount__gt=0, reverses__isnull=True)
                | Q(kind="REVERSAL", amount__lt=0, reverses__isnull=False),
                name="grant_sign_follows_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}: {self.amount} {self.action_type_id}"


class LedgerEntry(models.Model):
    """Money moved for a customer (append-only; signed amounts)."""

    grant = models.OneToOneField(Grant, on_delete=models.PROTECT, related_name="ledger")
    customer = models.ForeignKey(
        "pods.Customer", on_delete=models.PROTECT, related_name="+"
    )
    pod = models.ForeignKey("pods.Pod", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=8, choices=ActionType.Effect)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "created_at"], name="ledger_by_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} ({self.kind})"


class UsageCounter(models.Model):
    """How much of an action a pod used this month, an agent today, and a
    customer ever (the customer's row is also the lock that serialises grants
    to one customer). Locked in a fixed order: customer, agent, pod."""

    class Scope(models.TextChoices):
        CUSTOMER = "CUSTOMER", _("Customer")
        AGENT_DAY = "AGENT_DAY", _("Agent, per day")
        POD_MONTH = "POD_MONTH", _("Pod, per month")

    scope = models.CharField(max_length=10, choices=Scope)
    scope_id = models.BigIntegerField()
    action_type = models.ForeignKey(
        ActionType, on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField()
    amount = models.DecimalField(**MONEY, default=Decimal("0"))
    count = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "scope_id", "action_type", "period_start"],
                name="usage_counter_unique",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0, count__gte=0), name="usage_never_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.scope_id} from {self.period_start}: {self.amount}"


class WebhookDelivery(models.Model):
    """A grant told to the external billing system: retried until it answers
    2xx, with every attempt logged. The grant's id is the idempotency key the
    receiver dedupes on."""

    class State(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        DELIVERED = "DELIVERED", _("Delivered")
        FAILED = "FAILED", _("Failed")

    grant = models.OneToOneField(
        Grant, on_delete=models.PROTECT, related_name="webhook"
    )
    url = models.URLField()
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="PENDING"),
                name="webhook_pending_due",
            )
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"Webhook for grant {self.grant_id}: {self.state}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["delivery_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.status_code or self.error}"


class AuditEvent(models.Model):
    """Append-only and hash-chained per chain (one per pod, one for rule
    changes): each row's digest covers its content and the previous digest,
    so a changed or removed row breaks the chain where it happened."""

    class Kind(models.TextChoices):
        RULE_CHANGED = "RULE_CHANGED", _("Rule changed")
        GRANTED = "GRANTED", _("Granted")
        REQUESTED = "REQUESTED", _("Approval requested")
        REFUSED = "REFUSED", _("Refused")
        APPROVED = "APPROVED", _("Approved")
        DENIED = "DENIED", _("Denied")
        CANCELLED = "CANCELLED", _("Cancelled")
        REVERSED = "REVERSED", _("Reversed")

    chain = models.CharField(max_length=32)
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_label = models.CharField(max_length=120)
    subject = models.CharField(max_length=60)
    details = models.JSONField(default=dict)
    at = models.DateTimeField()
    prev_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)

    class Meta:
        ordering = ["chain", "seq"]
        indexes = [models.Index(fields=["subject"], name="audit_by_subject")]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="audit_seq_unique")
        ]

    def __str__(self) -> str:
        return f"{self.chain} #{self.seq} {self.kind}"


class AuditChainHead(models.Model):
    """The last link of each chain; locked to append (per pod, so pods do not
    wait on each other)."""

    chain = models.CharField(max_length=32, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    digest = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"{self.chain} at #{self.seq}"


# --- Figures (rollups read by the dashboards) ---------------------------------------


class AuthorityDay(models.Model):
    """One pod's authority on one of its local days (Pod.time_zone), per action
    type and stage: recomputed whole from grants and requests (delete and
    insert per pod and day), so a refresh is idempotent and late facts land.
    Amounts are in the action's unit (its currency for money)."""

    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    action_type = models.ForeignKey(
        ActionType, on_delete=models.CASCADE, related_name="+"
    )
    stage = models.PositiveSmallIntegerField()
    grants = models.PositiveIntegerField(default=0)
    granted = models.DecimalField(**MONEY, default=Decimal("0"))
    reversals = models.PositiveIntegerField(default=0)
    reversed = models.DecimalField(**MONEY, default=Decimal("0"))
    # Stage-1 traffic: asked that day (refused asks never reached an
    # approver), and decided that day.
    approvals_requested = models.PositiveIntegerField(default=0)
    approvals_approved = models.PositiveIntegerField(default=0)
    approvals_denied = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pod_id", "day", "action_type_id", "stage"]
        constraints = [
            models.UniqueConstraint(
                fields=["pod", "day", "action_type", "stage"],
                name="authority_day_unique",
            ),
            models.CheckConstraint(
                condition=Q(granted__gte=0, reversed__gte=0),
                name="authority_day_amounts_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"pod {self.pod_id} {self.day} {self.action_type_id}/{self.stage}"


class AuthorityAgentDay(models.Model):
    """One agent's use of authority on the pod's tickets solved that local day:
    opportunities (solved tickets a stage-2 or stage-3 rule in force covered)
    and those carrying an agent's own grant, as the insights count them; and
    the agent's own grants (stage 2 and 3) made that day in the pod."""

    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    agent = models.ForeignKey("pods.Agent", on_delete=models.CASCADE, related_name="+")
    opportunities = models.PositiveIntegerField(default=0)
    with_grant = models.PositiveIntegerField(default=0)
    grants = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pod_id", "day", "agent_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["pod", "day", "agent"], name="authority_agent_day_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"pod {self.pod_id} {self.day} agent {self.agent_id}"


class AuthorityPeriod(models.Model):
    """A pod's authority figures over its last `days` local days (today
    included), merged from the day rows into one JSON document; the panels
    read only these. `as_of` is when the merge ran."""

    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    days = models.PositiveSmallIntegerField()
    first_day = models.DateField()
    last_day = models.DateField()
    figures = models.JSONField(default=dict)
    as_of = models.DateTimeField()

    class Meta:
        ordering = ["pod_id", "days"]
        constraints = [
            models.UniqueConstraint(
                fields=["pod", "days"], name="authority_period_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"pod {self.pod_id}, {self.days} days as of {self.as_of}"


class DelegationSnapshot(models.Model):
    """The delegation recommendations of the last `days` days as the insights
    made them at `as_of`: the organisation view reads this instead of
    recomputing the funnel's percentiles per page."""

    days = models.PositiveSmallIntegerField(unique=True)
    recommendations = models.JSONField(default=list)
    as_of = models.DateTimeField()

    class Meta:
        ordering = ["days"]

    def __str__(self) -> str:
        return f"delegation over {self.days} days as of {self.as_of}"


class EntitlementReminder(models.Model):
    """The reminder that an entitlement period is ending: one per entitlement
    and end date (an extension moves the end, and the new period gets its
    own). Written when it falls due, marked sent once the email has left."""

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.CASCADE, related_name="reminders"
    )
    ends_on = models.DateField()
    customer = models.ForeignKey(
        "pods.Customer", on_delete=models.PROTECT, related_name="+"
    )
    address = models.CharField(max_length=320)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=Q(sent_at__isnull=True),
                name="reminder_unsent",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["entitlement", "ends_on"], name="reminder_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"reminder of entitlement {self.entitlement_id} ending {self.ends_on}"
