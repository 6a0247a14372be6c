"""Who owns whom: pods, their agents and seats, customers and their identities."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Pod(models.Model):
    class State(models.TextChoices):
        ACTIVE = "ACTIVE", _("Active")
        SPLITTING = "SPLITTING", _("Splitting")
        CLOSED = "CLOSED", _("Closed")

    name = models.CharField(max_length=80, unique=True)
    lead = models.ForeignKey(
        "pods.Agent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_pods",
    )
    target_size = models.PositiveSmallIntegerField(default=10)
    split_threshold = models.PositiveIntegerField(default=70_000)
    state = models.CharField(max_length=12, choices=State, default=State.ACTIVE)
    accepts_new_customers = models.BooleanField(
        default=True,
        help_text=_("Open pods receive new customers; a full pod does not."),
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # Kept exactly by the services that add or move customers, in the same
    # transaction; reconciled periodically against a COUNT (customer_count_reconcile).
    customer_count = models.PositiveIntegerField(default=0)
    reply_address = models.EmailField(blank=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name", "id"]
        permissions = [
            ("view_all_pods", _("Can see every pod's work")),
            ("split_pod", _("Can preview and run a pod split")),
            ("view_dashboard", _("Can see the pod's dashboard and figures")),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(target_size__gte=1), name="pod_target_size_positive"
            ),
            models.CheckConstraint(
                condition=Q(split_threshold__gte=2), name="pod_split_threshold_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    class Role(models.TextChoices):
        AGENT = "AGENT", _("Agent")
        LEAD = "LEAD", _("Pod lead")
        SPECIALIST = "SPECIALIST", _("Specialist")

    class Presence(models.TextChoices):
        ONLINE = "ONLINE", _("Online")
        AWAY = "AWAY", _("Away")
        OFFLINE = "OFFLINE", _("Offline")

    class Tier(models.TextChoices):
        LOW = "LOW", _("Low")
        MIDDLE = "MIDDLE", _("Middle")
        HIGH = "HIGH", _("High")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agent"
    )
    pod = models.ForeignKey(
        Pod, null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    role = models.CharField(max_length=12, choices=Role, default=Role.AGENT)
    hired_on = models.DateField()
    left_on = models.DateField(null=True, blank=True)
    presence = models.CharField(
        max_length=8, choices=Presence, default=Presence.OFFLINE
    )
    presence_changed_at = models.DateTimeField(null=True, blank=True)
    capacity = models.PositiveSmallIntegerField(
        default=8, help_text=_("Concurrent open tickets this agent can hold.")
    )
    # Told by tickets whenever an assignment starts or ends (agent_load_adjust).
    open_ticket_count = models.PositiveIntegerField(default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    proficiency_score = models.DecimalField(
        max_digits=5, decimal_places=3, default=Decimal("0.000")
    )
    tier = models.CharField(max_length=8, choices=Tier, default=Tier.MIDDLE)
    time_zone = models.CharField(max_length=64, default="UTC")

    class Meta:
        ordering = ["user__username", "id"]
        indexes = [
            models.Index(
                fields=["pod", "presence", "open_ticket_count"],
                name="agent_available_in_pod",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(capacity__gte=1), name="agent_capacity_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.user.get_full_name() or self.user.get_username()

    @property
    def is_available(self) -> bool:
        return (
            self.presence == self.Presence.ONLINE
            and self.open_ticket_count < self.capacity
        )


class Seat(models.Model):
    """A place in a pod; an open seat (no agent) is a hiring need."""

    class Reason(models.TextChoices):
        FOUNDING = "FOUNDING", _("Pod founded")
        SPLIT = "SPLIT", _("Pod split")
        ATTRITION = "ATTRITION", _("Agent left")
        GROWTH = "GROWTH", _("Growth")

    pod = models.ForeignKey(Pod, on_delete=models.CASCADE, related_name="seats")
    agent = models.OneToOneField(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="seat"
    )
    reason = models.CharField(max_length=12, choices=Reason, default=Reason.FOUNDING)
    opened_at = models.DateTimeField()
    filled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["pod", "id"]
        indexes = [models.Index(fields=["pod", "agent"], name="seat_pod_agent")]

    def __str__(self) -> str:
        holder = self.agent or "open"
        return f"{self.pod} seat #{self.pk} ({holder})"

    @property
    def is_open(self) -> bool:
        return self.agent_id is None


class CustomerQuerySet(models.QuerySet):
    def active(self):
        return self.filter(merged_into__isnull=True)


class Customer(models.Model):
    pod = models.ForeignKey(Pod, on_delete=models.PROTECT, related_name="customers")
    primary_agent = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="primary_customers",
    )
    display_name = models.CharField(max_length=200, blank=True)
    segment = models.CharField(max_length=40, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Every customer merged into this one, directly or through a chain: their
    # append-only history (grants) keeps its customer id, and the readers of a
    # customer's history read it for this whole family, without a walk per read.
    # Null for none: bulk loads (COPY) that do not name the column stay valid.
    absorbed_ids = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["pod", "primary_agent"], name="customer_pod_primary"),
        ]

    def __str__(self) -> str:
        return self.display_name or f"Customer #{self.pk}"


class CustomerIdentity(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "EMAIL", _("Email address")
        PHONE = "PHONE", _("Phone number")
        CHAT = "CHAT", _("Chat visitor")
        SOCIAL = "SOCIAL", _("Social handle")
        ACCOUNT = "ACCOUNT", _("Account id")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="identities"
    )
    kind = models.CharField(max_length=8, choices=Kind)
    # Normalised by pods.rules.normalise_identity: emails lower-cased, phones E.164.
    value = models.CharField(max_length=320)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["customer", "kind", "id"]
        verbose_name_plural = _("customer identities")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value"], name="customer_identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.value}"


class CustomerAssignment(models.Model):
    """Append-only history of which pod (and agent) owned a customer, and why."""

    class Reason(models.TextChoices):
        FIRST_CONTACT = "FIRST_CONTACT", _("First contact")
        SPLIT = "SPLIT", _("Pod split")
        MERGE = "MERGE", _("Customers merged")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="assignments"
    )
    from_pod = models.ForeignKey(
        Pod, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_pod = models.ForeignKey(Pod, on_delete=models.PROTECT, related_name="+")
    split = models.ForeignKey(
        "pods.PodSplit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    reason = models.CharField(max_length=16, choices=Reason)
    at = models.DateTimeField()

    class Meta:
        ordering = ["customer", "at", "id"]
        constraints = [
            # A rerun of a split batch must not write a customer's move twice.
            models.UniqueConstraint(
                fields=["customer", "split"],
                condition=Q(split__isnull=False),
                name="assignment_once_per_split",
            ),
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} to pod {self.to_pod_id} ({self.reason})"


class PossibleDuplicate(models.Model):
    """Two customers whose identities arrived together on one contact."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    evidence = models.CharField(max_length=400)
    found_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=12, blank=True)

    class Meta:
        ordering = ["-found_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "other"], name="possible_duplicate_pair_unique"
            ),
            models.CheckConstraint(
                condition=Q(customer__lt=F("other")),
                name="possible_duplicate_pair_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"customers {self.customer_id} and {self.other_id}"


class PodSplit(models.Model):
    class State(models.TextChoices):
        QUEUED = "QUEUED", _("Queued")
        MOVING = "MOVING", _("Moving customers")
        DONE = "DONE", _("Done")

    source = models.ForeignKey(Pod, on_delete=models.PROTECT, related_name="splits")
    new_pod = models.OneToOneField(
        Pod, null=True, blank=True, on_delete=models.PROTECT, related_name="born_of"
    )
    state = models.CharField(max_length=8, choices=State, default=State.QUEUED)
    plan = models.JSONField(default=dict, blank=True)
    customers_before = models.PositiveIntegerField(default=0)
    customers_moved = models.PositiveIntegerField(default=0)
    tickets_moved = models.PositiveIntegerField(default=0)
    agents_moved = models.PositiveSmallIntegerField(default=0)
    seats_opened = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(max_length=200, blank=True)
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            # A split is queued once: one unfinished split per pod.
            models.UniqueConstraint(
                fields=["source"],
                condition=~Q(state="DONE"),
                name="pod_split_one_unfinished",
            ),
        ]

    def __str__(self) -> str:
        return f"Split of {self.source} ({self.get_state_display()})"


class PodSplitCustomer(models.Model):
    """The frozen plan of a split: which customers go to the new pod."""

    split = models.ForeignKey(PodSplit, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["split", "customer"], name="pod_split_customer_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in split {self.split_id}"


class ProficiencyPolicy(models.Model):
    """KPI weights and targets that score agents into Low / Middle / High."""

    name = models.CharField(max_length=80, default="Default policy")
    is_active = models.BooleanField(default=True)
    contacts_per_day_target = models.DecimalField(
        max_digits=7, decimal_places=2, default=Decimal("40")
    )
    contacts_per_day_weight = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0.30")
    )
    handle_minutes_target = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        default=Decimal("8"),
        help_text=_("Median handle time target; lower is better."),
    )
    handle_minutes_weight = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0.20")
    )
    csat_target = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("4.50")
    )
    csat_weight = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0.30")
    )
    one_touch_target = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.700"),
        help_text=_("Share of tickets solved with a single reply."),
    )
    one_touch_weight = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0.20")
    )
    score_cap = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        default=Decimal("1.20"),
        help_text=_("No single KPI may count for more than this ratio of its target."),
    )
    middle_from = models.DecimalField(
        max_digits=4, decimal_places=3, default=Decimal("0.800")
    )
    high_from = models.DecimalField(
        max_digits=4, decimal_places=3, default=Decimal("1.000")
    )
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = _("proficiency policies")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="proficiency_policy_one_active",
            ),
            models.CheckConstraint(
                condition=Q(middle_from__lt=F("high_from")),
                name="proficiency_policy_tiers_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class AgentKpiSnapshot(models.Model):
    """One nightly reading of an agent's KPIs and the score they produced."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="kpis")
    period_start = models.DateField()
    period_end = models.DateField()
    contacts_per_day = models.DecimalField(max_digits=7, decimal_places=2)
    handle_minutes = models.DecimalField(
        max_digits=7, decimal_places=2, null=True, blank=True
    )
    csat = models.DecimalField(max_digits=4, decimal_places=2, null=True, blank=True)
    one_touch_rate = models.DecimalField(
        max_digits=4, decimal_places=3, null=True, blank=True
    )
    score = models.DecimalField(max_digits=5, decimal_places=3)
    tier = models.CharField(max_length=8, choices=Agent.Tier)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["agent", "-period_end", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "period_end"], name="agent_kpi_once_per_period"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agent} until {self.period_end}: {self.score} ({self.tier})"


class PortalLink(models.Model):
    """A one-time link that signs a customer in to the portal, sent to one of
    their email identities.

    Only the sha256 of the token is kept: whoever reads this table cannot sign
    in. A link is good once, until it expires, and only while it is the newest
    one of its customer (a new link supersedes the unused ones)."""

    token_hash = models.CharField(max_length=64, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    identity = models.ForeignKey(
        CustomerIdentity, on_delete=models.CASCADE, related_name="+"
    )
    # Keyed hash of the client address that asked: who asked, without keeping it.
    requester_hash = models.CharField(max_length=64)
    # The language the link was asked for in: its email is written in it.
    language = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["identity", "created_at"], name="portal_link_identity_time"
            ),
            models.Index(
                fields=["customer"],
                condition=Q(used_at__isnull=True, superseded_at__isnull=True),
                name="portal_link_customer_open",
            ),
        ]

    def __str__(self) -> str:
        return f"portal link #{self.pk} for customer {self.customer_id}"


class PortalLinkRequest(models.Model):
    """One accepted request for a sign-in link, known address or not: the count
    of a client address's requests, durable and shared by every web process."""

    requester_hash = models.CharField(max_length=64)
    requested_at = models.DateTimeField()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(
                fields=["requester_hash", "requested_at"],
                name="portal_link_request_by_ip",
            ),
        ]

    def __str__(self) -> str:
        return f"portal link request at {self.requested_at:%Y-%m-%d %H:%M}"
