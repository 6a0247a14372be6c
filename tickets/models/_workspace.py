"""What agents work with on tickets: reply templates (with versions, uses and
suggested edits), invited colleagues, and the customer's satisfaction rating."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from tickets.models._messages import Message
from tickets.models._tickets import Ticket


class ReplyTemplate(models.Model):
    """A reply agents start from; global, or for one pod. Its text is the latest
    version's; every change is a new ReplyTemplateVersion."""

    title = models.CharField(max_length=120)
    body = models.TextField(
        help_text=_(
            "Variables in double braces: {{ customer.first_name }}, "
            "{{ agent.first_name }}, {{ ticket.number }}, {{ ticket.subject }} ..."
        )
    )
    pod = models.ForeignKey(
        "pods.Pod",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text=_("Blank: every pod"),
    )
    language = models.CharField(max_length=10, default="en")
    active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    # How the template does, counted as it happens (lists read them without
    # touching the uses or the surveys): replies sent with it, the last one, and
    # the answered surveys of solves that followed a use on their ticket with
    # the sum of their ratings.
    use_count = models.PositiveIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rated_count = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["title", "id"]
        indexes = [models.Index(fields=["pod", "active"], name="template_pod")]
        constraints = [
            # Every counted rating is 1 to 5.
            models.CheckConstraint(
                condition=Q(rating_sum__gte=F("rated_count"))
                & Q(rating_sum__lte=F("rated_count") * 5),
                name="template_rating_sum_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def rating_average(self) -> float | None:
        """The mean rating of the counted surveys; None before the first."""
        return self.rating_sum / self.rated_count if self.rated_count else None


class ReplyTemplateVersion(models.Model):
    template = models.ForeignKey(
        ReplyTemplate, on_delete=models.CASCADE, related_name="versions"
    )
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    body = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["template", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "version"], name="template_version_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} v{self.version}"


class TemplateSuggestion(models.Model):
    """An agent's proposed edit of a template, made from a real case; the pod
    lead accepts (a new version) or rejects it."""

    class State(models.TextChoices):
        PROPOSED = "PROPOSED", _("Proposed")
        ACCEPTED = "ACCEPTED", _("Accepted")
        REJECTED = "REJECTED", _("Rejected")

    template = models.ForeignKey(
        ReplyTemplate, on_delete=models.CASCADE, related_name="suggestions"
    )
    based_on_version = models.PositiveIntegerField()
    title = models.CharField(max_length=120)
    body = models.TextField()
    reason = models.TextField(blank=True)
    ticket = models.ForeignKey(
        Ticket, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suggested_by = models.ForeignKey(
        "pods.Agent", on_delete=models.CASCADE, related_name="+"
    )
    state = models.CharField(max_length=8, choices=State, default=State.PROPOSED)
    decided_by = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["template", "state"],
                condition=Q(state="PROPOSED"),
                name="suggestion_open",
            ),
        ]

    def __str__(self) -> str:
        return f"suggestion for {self.template_id} ({self.state})"


class TemplateUse(models.Model):
    """A reply sent from a template: usage counts and the satisfaction of the
    tickets where each was used."""

    template = models.ForeignKey(
        ReplyTemplate, on_delete=models.CASCADE, related_name="uses"
    )
    version = models.PositiveIntegerField()
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(
        Message, on_delete=models.CASCADE, related_name="template_use"
    )
    agent = models.ForeignKey("pods.Agent", on_delete=models.CASCADE, related_name="+")
    used_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["template", "used_at"], name="template_use"),
            # Every template's uses of a day, for the pods' figures.
            models.Index(fields=["used_at"], name="template_use_day"),
        ]

    def __str__(self) -> str:
        return f"{self.template_id} on #{self.ticket_id}"


class TicketCollaborator(models.Model):
    """A colleague invited onto one ticket (in or out of the pod): they may see
    and write on that ticket only, until they leave."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey("pods.Agent", on_delete=models.CASCADE, related_name="+")
    invited_by = models.ForeignKey(
        "pods.Agent", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    invited_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "agent"],
                condition=Q(left_at__isnull=True),
                name="collaborator_once_while_active",
            ),
        ]
        indexes = [
            models.Index(
                fields=["agent", "ticket"],
                condition=Q(left_at__isnull=True),
                name="collaborator_active",
            ),
        ]

    def __str__(self) -> str:
        return f"agent {self.agent_id} on #{self.ticket_id}"


class SatisfactionSurvey(models.Model):
    """The one-click rating asked when a ticket is solved: one per solve."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    pod = models.ForeignKey("pods.Pod", on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(
        "pods.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    solved_at = models.DateTimeField()
    # The link's secret: random, never derived from ids (see reliability T24).
    token = models.CharField(max_length=64, unique=True)
    channel = models.CharField(max_length=8)
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "solved_at"], name="survey_once_per_solve"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="survey_rating_one_to_five",
            ),
        ]
        indexes = [
            models.Index(fields=["pod", "answered_at"], name="survey_pod"),
            models.Index(fields=["agent", "answered_at"], name="survey_agent"),
            # Every pod's and agent's ratings of a period at once (the nightly
            # proficiency run, csat_by_agent) read a range of answer times.
            models.Index(
                fields=["answered_at"],
                condition=Q(answered_at__isnull=False),
                name="survey_answered",
            ),
        ]

    def __str__(self) -> str:
        return f"survey #{self.ticket_id} ({self.rating or '-'})"
