"""SLA policies, the business hours they count in, and breach events."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from tickets.models._tickets import Channel, Ticket


class BusinessHours(models.Model):
    name = models.CharField(max_length=80, unique=True)
    timezone = models.CharField(max_length=64, default="Europe/London")

    class Meta:
        verbose_name_plural = _("business hours")

    def __str__(self) -> str:
        return self.name


class BusinessHoursInterval(models.Model):
    class Weekday(models.IntegerChoices):
        MONDAY = 0, _("Monday")
        TUESDAY = 1, _("Tuesday")
        WEDNESDAY = 2, _("Wednesday")
        THURSDAY = 3, _("Thursday")
        FRIDAY = 4, _("Friday")
        SATURDAY = 5, _("Saturday")
        SUNDAY = 6, _("Sunday")

    hours = models.ForeignKey(
        BusinessHours, on_delete=models.CASCADE, related_name="intervals"
    )
    weekday = models.PositiveSmallIntegerField(choices=Weekday)
    opens = models.TimeField()
    closes = models.TimeField()

    class Meta:
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes")),
                name="interval_opens_before_it_closes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class Holiday(models.Model):
    hours = models.ForeignKey(
        BusinessHours, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["hours", "date"], name="holiday_once"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class SlaPolicy(models.Model):
    """Response and resolution targets; the most specific active policy matching a
    ticket's pod, channel and priority applies (see tickets.rules)."""

    name = models.CharField(max_length=80, unique=True)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=100)
    priority = models.CharField(
        max_length=8, choices=Ticket.Priority, blank=True, help_text=_("Blank: any")
    )
    channel = models.CharField(
        max_length=8, choices=Channel, blank=True, help_text=_("Blank: any")
    )
    pod = models.ForeignKey(
        "pods.Pod",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Blank: every pod"),
    )
    first_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    next_response_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_minutes = models.PositiveIntegerField(null=True, blank=True)
    business_hours = models.ForeignKey(
        BusinessHours,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("Blank: the clock runs around the clock"),
    )

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name


class SlaEvent(models.Model):
    """A breach, recorded once per ticket, metric and due time, so the lead is told
    once even when the detection sweep runs again."""

    class Metric(models.TextChoices):
        FIRST_RESPONSE = "FIRST_RESPONSE", _("First response")
        NEXT_RESPONSE = "NEXT_RESPONSE", _("Next response")
        RESOLUTION = "RESOLUTION", _("Resolution")

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    metric = models.CharField(max_length=14, choices=Metric)
    due_at = models.DateTimeField()
    breached_at = models.DateTimeField()

    class Meta:
        ordering = ["-breached_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "metric", "due_at"], name="sla_breach_once"
            ),
        ]
        indexes = [models.Index(fields=["pod", "breached_at"], name="sla_event_pod")]

    def __str__(self) -> str:
        return f"{self.metric} breached on #{self.ticket_id}"
