"""The durable front door: every inbound payload is stored and committed as an
envelope before anything else happens to it."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tickets.models._tickets import Channel


class InboundEnvelope(models.Model):
    class State(models.TextChoices):
        RECEIVED = "RECEIVED", _("Received")
        PROCESSED = "PROCESSED", _("Processed")
        DUPLICATE = "DUPLICATE", _("Duplicate")
        IGNORED = "IGNORED", _("Ignored")  # auto-replies and bounces with no ticket
        QUARANTINED = "QUARANTINED", _("Quarantined")  # needs a person to look
        FAILED = "FAILED", _("Failed")

    class Source(models.TextChoices):
        WEBHOOK = "WEBHOOK", _("Webhook")
        IMAP = "IMAP", _("IMAP")
        FILE = "FILE", _("File import")
        FORM = "FORM", _("Contact form")
        API = "API", _("API")
        CHAT = "CHAT", _("Chat")

    channel = models.CharField(max_length=8, choices=Channel)
    provider = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=8, choices=Source)
    raw = models.BinaryField()
    raw_sha256 = models.CharField(max_length=64)
    # Unique per channel: the provider's event id, or the sha256 of the raw bytes,
    # so an exact redelivery is answered from the first envelope.
    external_key = models.CharField(max_length=255)
    meta = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=11, choices=State, default=State.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message = models.ForeignKey(
        "tickets.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(
                fields=["received_at", "id"],
                condition=Q(state="RECEIVED"),
                name="envelope_waiting",
            ),
            models.Index(fields=["state", "received_at"], name="envelope_state"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider", "external_key"],
                name="envelope_received_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} envelope {self.pk} ({self.state})"
