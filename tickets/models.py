"""Every contact in one database: tickets (messages, channels and SLA arrive with
the multichannel issue)."""

from django.db import models
from django.db.models import Q


class Ticket(models.Model):
    class Status(models.TextChoices):
        NEW = "NEW", "New"
        OPEN = "OPEN", "Open"
        PENDING = "PENDING", "Pending"
        SOLVED = "SOLVED", "Solved"
        CLOSED = "CLOSED", "Closed"

    class Priority(models.TextChoices):
        LOW = "LOW", "Low"
        NORMAL = "NORMAL", "Normal"
        HIGH = "HIGH", "High"
        URGENT = "URGENT", "Urgent"

    class Channel(models.TextChoices):
        EMAIL = "EMAIL", "Email"
        CHAT = "CHAT", "Chat"
        PHONE = "PHONE", "Phone"
        SMS = "SMS", "SMS"
        SOCIAL = "SOCIAL", "Social"
        WEB = "WEB", "Web form"
        API = "API", "API"

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
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    assigned_at = models.DateTimeField(null=True, blank=True)
    # Set on assignment and on every agent action; an assigned ticket whose agent
    # has been silent past HELPDESK["IDLE_ASSIGNMENT_MINUTES"] returns to the queue.
    agent_active_at = models.DateTimeField(null=True, blank=True)
    solved_at = models.DateTimeField(null=True, blank=True)

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
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(solved_at__isnull=True)
                | Q(status__in=["SOLVED", "CLOSED"]),
                name="ticket_solved_at_only_when_solved",
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
