"""Messages of a ticket on every channel, and their attachments."""

import uuid

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tickets.models._tickets import Channel, Ticket


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "INBOUND", _("From the customer")
        OUTBOUND = "OUTBOUND", _("To the customer")
        NOTE = "NOTE", _("Internal note")

    class Delivery(models.TextChoices):
        NOT_SENT = "NOT_SENT", _("Not sent")  # inbound messages and notes
        QUEUED = "QUEUED", _("Queued")
        SENT = "SENT", _("Sent")
        FAILED = "FAILED", _("Failed")
        BOUNCED = "BOUNCED", _("Bounced")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    direction = models.CharField(max_length=8, choices=Direction)
    channel = models.CharField(max_length=8, choices=Channel)
    author_agent = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_customer = models.ForeignKey(
        "pods.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    author_name = models.CharField(max_length=200, blank=True)
    author_address = models.CharField(max_length=254, blank=True)
    text = models.TextField(blank=True)
    # The text without the quoted earlier conversation: what the workspace shows
    # unfolded. Empty when nothing was quoted.
    visible_text = models.TextField(blank=True)
    html = models.TextField(blank=True)  # sanitised; never raw customer HTML
    # Message-ID for email, the provider's message id for SMS, social and phone.
    external_id = models.CharField(max_length=255, blank=True)
    # What makes a delivery the same message: unique per channel, so redelivered
    # input is refused by the database even when two workers race.
    dedupe_key = models.CharField(max_length=64, blank=True)
    # Another message arrived with the same external id but different content.
    external_id_conflict = models.BooleanField(default=False)
    is_automatic = models.BooleanField(default=False)  # auto-replies, bounces
    headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    delivery = models.CharField(
        max_length=8, choices=Delivery, default=Delivery.NOT_SENT
    )
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    delivery_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at", "id"], name="message_thread"),
            models.Index(
                fields=["channel", "external_id"],
                condition=~Q(external_id=""),
                name="message_external_id",
            ),
            models.Index(
                fields=["delivery", "created_at"],
                condition=Q(delivery="QUEUED"),
                name="message_delivery_queued",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "dedupe_key"],
                condition=~Q(dedupe_key=""),
                name="message_delivered_once",
            ),
            models.CheckConstraint(
                condition=~Q(direction="INBOUND") | Q(author_agent__isnull=True),
                name="message_inbound_has_no_agent_author",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} on #{self.ticket_id}"


class NoteMention(models.Model):
    """A colleague named with @username in an internal note: they were told
    live, and the note shows the name highlighted. Queryable both ways: a
    note's mentions, an agent's mentions."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="mentions"
    )
    agent = models.ForeignKey("pods.Agent", on_delete=models.CASCADE, related_name="+")
    # The username as it was when mentioned: what the note shows highlighted.
    handle = models.CharField(max_length=150)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["message", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "agent"], name="mention_once_per_note"
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "created_at"], name="mention_of_agent"),
        ]

    def __str__(self) -> str:
        return f"@{self.handle} on message {self.message_id}"


def attachment_path(instance: "Attachment", filename: str) -> str:
    # Never the sender's file name: a generated one under a date folder, so a
    # hostile name cannot traverse or collide, and the storage stays listable.
    return f"attachments/{instance.created_at:%Y/%m}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=200)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    inline = models.BooleanField(default=False)
    content_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name
