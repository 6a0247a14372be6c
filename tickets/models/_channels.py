"""What channels need beyond messages: webhook secrets, call records, chats."""

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models._messages import Message
from tickets.models._tickets import Channel, Ticket


class WebhookSecret(models.Model):
    """A signing secret of one inbound channel (and provider, for social). Several
    may be active at once so a secret can be rotated without dropping traffic."""

    channel = models.CharField(max_length=8, choices=Channel)
    provider = models.CharField(max_length=40, blank=True)
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["channel", "provider", "-created_at"]

    def __str__(self) -> str:
        return f"{self.channel} {self.provider} secret".replace("  ", " ")


class CallRecord(models.Model):
    class State(models.TextChoices):
        RINGING = "RINGING", _("Ringing")
        ANSWERED = "ANSWERED", _("Answered")
        ENDED = "ENDED", _("Ended")
        MISSED = "MISSED", _("Missed")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="call"
    )
    provider = models.CharField(max_length=40, blank=True)
    call_id = models.CharField(max_length=120)
    state = models.CharField(max_length=8, choices=State)
    from_number = models.CharField(max_length=32)
    to_number = models.CharField(max_length=32, blank=True)
    agent = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    recording_url = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "call_id"], name="call_recorded_once"
            ),
        ]

    def __str__(self) -> str:
        return f"call {self.call_id} ({self.state})"


class ChatSession(models.Model):
    class State(models.TextChoices):
        ACTIVE = "ACTIVE", _("Active")
        ENDED = "ENDED", _("Ended")
        EMAILED = "EMAILED", _("Continued by email")

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(
        "pods.Customer",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    visitor_name = models.CharField(max_length=120, blank=True)
    visitor_email = models.CharField(max_length=254, blank=True)
    origin = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=8, choices=State, default=State.ACTIVE)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"chat {self.public_id}"


class MailboxCheckpoint(models.Model):
    """How far the IMAP fetcher has stored a mailbox: the last UID whose envelope
    committed, under the folder's UIDVALIDITY (a new validity restarts from 0)."""

    mailbox = models.CharField(max_length=300, unique=True)  # user@host/folder
    uidvalidity = models.BigIntegerField()
    last_uid = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.mailbox} up to {self.last_uid}"
