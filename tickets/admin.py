"""Django admin for tickets: the inbound envelopes (with retry), tickets and their
messages for inspection, webhook secrets, SLA policies and business hours,
contact reasons and tags."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from tickets import services
from tickets.models import (
    BusinessHours,
    BusinessHoursInterval,
    CallRecord,
    ChatSession,
    ContactReason,
    Holiday,
    InboundEnvelope,
    Message,
    ReplyTemplate,
    ReplyTemplateVersion,
    SlaEvent,
    SlaPolicy,
    Tag,
    TemplateSuggestion,
    Ticket,
    WebhookSecret,
)

RAW_PREVIEW_BYTES = 20_000


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the product itself: visible, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(InboundEnvelope)
class InboundEnvelopeAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "channel",
        "provider",
        "source",
        "state",
        "attempts",
        "received_at",
        "ticket",
        "short_error",
    ]
    list_filter = ["state", "channel", "source"]
    search_fields = ["external_key", "error", "raw_sha256"]
    date_hierarchy = "received_at"
    actions = ["retry"]
    exclude = ["raw"]
    readonly_fields = ["raw_preview"]
    list_select_related = ["ticket"]
    show_full_result_count = False  # a COUNT over millions of envelopes per page

    @admin.display(description=_("error"))
    def short_error(self, envelope: InboundEnvelope) -> str:
        return envelope.error[:120]

    @admin.display(description=_("raw payload (start)"))
    def raw_preview(self, envelope: InboundEnvelope) -> str:
        raw = bytes(envelope.raw[:RAW_PREVIEW_BYTES])
        return format_html("<pre>{}</pre>", raw.decode("utf-8", "replace"))

    @admin.action(
        description=_("Process the selected failed envelopes again"),
        permissions=["change"],
    )
    def retry(self, request: HttpRequest, queryset) -> None:
        retried = sum(
            services.envelope_retry(envelope_id=envelope_id)
            for envelope_id in queryset.values_list("id", flat=True)
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d envelope queued again.",
                "%(count)d envelopes queued again.",
                retried,
            )
            % {"count": retried},
            messages.SUCCESS if retried else messages.WARNING,
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Needed for the retry action to be offered; the form itself is read-only.
        return request.user.has_perm("tickets.change_inboundenvelope")

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        fields = [f.name for f in InboundEnvelope._meta.fields if f.name != "raw"]
        return [*fields, "raw_preview"]


class MessageInline(admin.TabularInline):
    model = Message
    fields = ["created_at", "direction", "channel", "author_name", "text", "delivery"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Ticket)
class TicketAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "subject",
        "pod",
        "channel",
        "status",
        "priority",
        "assignee",
        "created_at",
        "sla_check_at",
    ]
    list_filter = ["status", "channel", "priority", "pod"]
    search_fields = ["subject", "=id"]
    date_hierarchy = "created_at"
    list_select_related = ["pod", "assignee__user"]
    inlines = [MessageInline]
    show_full_result_count = False


@admin.register(WebhookSecret)
class WebhookSecretAdmin(admin.ModelAdmin):
    list_display = ["channel", "provider", "active", "note", "created_at"]
    list_filter = ["channel", "active"]
    fields = ["channel", "provider", "secret", "active", "note"]


class BusinessHoursIntervalInline(admin.TabularInline):
    model = BusinessHoursInterval
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    list_display = ["name", "timezone"]
    inlines = [BusinessHoursIntervalInline, HolidayInline]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "active",
        "position",
        "pod",
        "channel",
        "priority",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "business_hours",
    ]
    list_editable = ["active", "position"]
    list_filter = ["active", "channel", "priority"]


@admin.register(SlaEvent)
class SlaEventAdmin(ReadOnlyAdmin):
    list_display = ["ticket", "pod", "metric", "due_at", "breached_at"]
    list_filter = ["metric", "pod"]
    date_hierarchy = "breached_at"


@admin.register(CallRecord)
class CallRecordAdmin(ReadOnlyAdmin):
    list_display = ["call_id", "state", "from_number", "agent", "started_at", "ticket"]
    list_filter = ["state"]
    search_fields = ["call_id", "from_number"]


@admin.register(ChatSession)
class ChatSessionAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "state", "visitor_name", "started_at", "ticket"]
    list_filter = ["state"]


@admin.register(ContactReason)
class ContactReasonAdmin(admin.ModelAdmin):
    list_display = ["name", "active"]
    list_editable = ["active"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


# --- Reply templates ------------------------------------------------------------


class ReplyTemplateVersionInline(admin.TabularInline):
    """Every version a template had: written by saves and accepted suggestions,
    never edited."""

    model = ReplyTemplateVersion
    fields = ["version", "title", "body", "created_by", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReplyTemplateForm(forms.ModelForm):
    class Meta:
        model = ReplyTemplate
        fields = ["title", "pod", "language", "active", "body"]

    def clean(self) -> dict:
        answers = super().clean()
        try:
            services.reply_template_check(
                title=answers.get("title", ""),
                body=answers.get("body", ""),
                language=answers.get("language", ""),
            )
        except services.TemplateInvalid as exc:
            raise ValidationError(str(exc)) from exc
        return answers


@admin.register(ReplyTemplate)
class ReplyTemplateAdmin(admin.ModelAdmin):
    """Admins write global and pod templates here. Saves go through the
    services, so a new title or text is a new version, as on the leads' pages;
    a template is retired by unticking active, never deleted (its uses and
    satisfaction would go with it)."""

    form = ReplyTemplateForm
    list_display = [
        "title",
        "pod",
        "language",
        "active",
        "version",
        "use_count",
        "updated_at",
    ]
    list_filter = ["active", "language", "pod"]
    search_fields = ["title", "body"]
    list_select_related = ["pod"]
    inlines = [ReplyTemplateVersionInline]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        # A template stays in the pod it was written for: its uses and
        # suggestions belong there.
        return ["pod", "version", "use_count"] if obj else ["version", "use_count"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # Scoped like everywhere else: a pod's template by its keepers only.
        return request.user.has_perm("tickets.change_replytemplate", obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        answers = form.cleaned_data
        text = {
            "title": answers["title"],
            "body": answers["body"],
            "language": answers["language"],
            "active": answers["active"],
        }
        if change:
            saved = services.reply_template_update(
                template=obj, user=request.user, now=timezone.now(), **text
            )
        else:
            saved = services.reply_template_create(
                pod_id=obj.pod_id, user=request.user, now=timezone.now(), **text
            )
        # The admin goes on with `obj` (inlines, the redirect): make it the row
        # the service saved.
        obj.pk = saved.pk
        obj.version = saved.version
        obj.created_at = saved.created_at
        obj.updated_at = saved.updated_at


@admin.register(TemplateSuggestion)
class TemplateSuggestionAdmin(ReadOnlyAdmin):
    """Suggested edits, for the record: leads decide on them on the templates
    pages, where each shows as a diff of the current text."""

    list_display = [
        "template",
        "state",
        "suggested_by",
        "created_at",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["state"]
    search_fields = ["template__title", "body", "reason"]
    list_select_related = ["template", "suggested_by__user", "decided_by__user"]
    date_hierarchy = "created_at"
