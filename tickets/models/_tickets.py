"""Tickets: one per case, in the pod that owns the customer, on any channel."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "EMAIL", _("Email")
    CHAT = "CHAT", _("Chat")
    PHONE = "PHONE", _("Phone")
    SMS = "SMS", _("SMS")
    SOCIAL = "SOCIAL", _("Social")
    WEB = "WEB", _("Web form")
    API = "API", _("API")


class ContactReason(models.Model):
    """Why customers get in touch ("moving home", "refund"): the insight-lab axis."""

    name = models.CharField(max_length=80, unique=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.SlugField(max_length=50, unique=True, allow_unicode=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    class Status(models.TextChoices):
        NEW = "NEW", _("New")
        OPEN = "OPEN", _("Open")
        PENDING = "PENDING", _("Pending")
        SOLVED = "SOLVED", _("Solved")
        CLOSED = "CLOSED", _("Closed")

    class Priority(models.TextChoices):
        LOW = "LOW", _("Low")
        NORMAL = "NORMAL", _("Normal")
        HIGH = "HIGH", _("High")
        URGENT = "URGENT", _("Urgent")

    Channel = Channel
    OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING)

    pod = models.ForeignKey("pods.Pod", on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        "pods.Customer", on_delete=models.PROTECT, related_name="+"
    )
    assignee = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=8, choices=Status, default=Status.NEW)
    priority = models.CharField(max_length=8, choices=Priority, default=Priority.NORMAL)
    channel = models.CharField(max_length=8, choices=Channel)
    subject = models.CharField(max_length=250, blank=True)
    contact_reason = models.ForeignKey(
        ContactReason, null=True, blank=True, on_delete=models.SET_NULL
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A customer writing after a ticket closed starts a follow-up, linked here.
    follow_up_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    assigned_at = models.DateTimeField(null=True, blank=True)
    # Set on assignment and on every agent action; an assigned ticket whose agent
    # has been silent past HELPDESK["IDLE_ASSIGNMENT_MINUTES"] returns to the queue.
    agent_active_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_agent_reply_at = models.DateTimeField(null=True, blank=True)
    pending_since = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    reopened_count = models.PositiveIntegerField(default=0)

    # SLA: the policy chosen at open and the due times it gives. `sla_check_at` is
    # the earliest due time not yet reported as breached: the breach sweep reads
    # tickets by it on a partial index, and a reported breach moves it on.
    sla_policy = models.ForeignKey(
        "tickets.SlaPolicy", null=True, blank=True, on_delete=models.SET_NULL
    )
    first_response_due = models.DateTimeField(null=True, blank=True)
    next_response_due = models.DateTimeField(null=True, blank=True)
    resolution_due = models.DateTimeField(null=True, blank=True)
    sla_check_at = models.DateTimeField(null=True, blank=True)
    # The earliest running due time, breached or not: what queues sort by.
    sla_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["pod", "status", "created_at"], name="ticket_pod_queue"
            ),
            models.Index(fields=["customer", "created_at"], name="ticket_customer"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee"),
            models.Index(
                fields=["pod", "created_at", "id"],
                condition=Q(assignee__isnull=True, status__in=["NEW", "OPEN"]),
                name="ticket_pod_backlog",
            ),
            models.Index(
                fields=["sla_check_at", "id"],
                condition=Q(status__in=["NEW", "OPEN", "PENDING"]),
                name="ticket_sla_watch",
            ),
            models.Index(
                fields=["pod", "status", "sla_due_at", "id"],
                name="ticket_pod_queue_by_sla",
            ),
            # The queues of workable tickets in the order they show, so a page
            # is read off an index: with two statuses the index above gives no
            # single order, and every open ticket of the pod was joined and
            # sorted for 25 rows. The unassigned view (the default) has its own:
            # the planner cannot tell how many open tickets are unassigned and
            # sorts them all rather than filter this order.
            models.Index(
                fields=["pod", "sla_due_at", "id"],
                condition=Q(status__in=["NEW", "OPEN"], merged_into__isnull=True),
                name="ticket_pod_workable_by_sla",
            ),
            models.Index(
                fields=["pod", "sla_due_at", "id"],
                condition=Q(
                    assignee__isnull=True,
                    status__in=["NEW", "OPEN"],
                    merged_into__isnull=True,
                ),
                name="ticket_pod_unassigned_by_sla",
            ),
            models.Index(
                fields=["status", "solved_at"],
                condition=Q(status__in=["PENDING", "SOLVED"]),
                name="ticket_lifecycle",
            ),
            # A pod's day of contacts, first responses and solves, read by the
            # figures' refresh (every pod's day in one statement: a range per
            # pod) and by the live "handled today".
            models.Index(fields=["pod", "created_at"], name="ticket_pod_created"),
            models.Index(
                fields=["pod", "first_response_at"],
                condition=Q(first_response_at__isnull=False),
                name="ticket_pod_first_response",
            ),
            models.Index(
                fields=["pod", "solved_at"],
                condition=Q(solved_at__isnull=False),
                name="ticket_pod_solved",
            ),
            # The live panel's queue counts (open, pending, unassigned, past or
            # near their SLA, the oldest waiting) read off this index alone, an
            # index-only scan of the pod's open tickets, instead of a heap page
            # visited for nearly every one of them.
            models.Index(
                fields=["pod", "status"],
                include=["id", "assignee", "sla_due_at", "created_at"],
                condition=Q(
                    status__in=["NEW", "OPEN", "PENDING"], merged_into__isnull=True
                ),
                name="ticket_pod_open_counts",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(solved_at__isnull=True)
                | Q(status__in=["SOLVED", "CLOSED"]),
                name="ticket_solved_at_only_when_solved",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("id")),
                name="ticket_not_merged_into_itself",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.subject}"

    @property
    def number(self) -> int:
        return self.pk

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class TicketParticipant(models.Model):
    """An address allowed to write into a ticket by email besides its customer
    (people the customer copied): threading checks the sender against these."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="participants"
    )
    email = models.CharField(max_length=254)
    added_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "email"], name="participant_once_per_ticket"
            )
        ]

    def __str__(self) -> str:
        return self.email
