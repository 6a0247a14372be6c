"""Django admin for the authority funnel: action types, rules (versioned: a
change saves a new version through the services, the old one stays read-only
as the basis of its grants), entitlements; and, read-only, the records the
funnel writes: requests, approval decisions, grants, the ledger, the audit
trail (with its chain verified on demand) and billing webhook deliveries (with
their attempts, and a retry). Nothing append-only can be added, changed or
deleted here."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.forms.utils import ErrorList
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from authority import selectors, services
from authority.models import (
    ActionType,
    ApprovalDecision,
    AuditEvent,
    AuthorityRequest,
    AuthorityRule,
    Entitlement,
    Grant,
    LedgerEntry,
    WebhookAttempt,
    WebhookDelivery,
)

# What a database constraint means, in the words an admin reads on the form.
CONSTRAINT_WORDS = {
    "action_type_money_has_currency": gettext_lazy(
        "A money action needs its currency (an ISO 4217 code such as GBP)."
    ),
    "action_type_entitlement_effect_in_days": gettext_lazy(
        "Extending or pausing an entitlement is counted in days."
    ),
    "action_type_money_effect_in_money": gettext_lazy(
        "A refund or a credit is counted in money."
    ),
    "rule_self_service_has_no_agent_role": gettext_lazy(
        "a self-service rule cannot be limited to an agent role"
    ),
    "rule_validity_ordered": gettext_lazy("the rule must end after it starts"),
    "rule_limits_positive": gettext_lazy(
        "Limits are more than zero (leave a limit empty for no limit)."
    ),
    "rule_stage_known": gettext_lazy("Choose stage 1, 2 or 3."),
    "entitlement_ends_after_start": gettext_lazy("an entitlement ends after it starts"),
}
RULE_TERMS = [
    "name",
    "action_type",
    "stage",
    "pod",
    "agent_role",
    "contact_reason",
    "customer_segment",
    "max_per_grant",
    "customer_period_days",
    "customer_max_count",
    "customer_max_total",
    "agent_daily_total",
    "pod_monthly_total",
    "min_tenure_days",
    "cooldown_days",
    "approver_group",
    "approval_hours",
    "valid_from",
    "valid_to",
    "is_active",
]
AGENT_ROLE_CHOICES = [
    ("", gettext_lazy("Any role")),
    ("AGENT", gettext_lazy("Agent")),
    ("LEAD", gettext_lazy("Lead")),
    ("SPECIALIST", gettext_lazy("Specialist")),
]
REFUSED = "_authority_admin_refused"


class ConstraintWordsForm(forms.ModelForm):
    """A model form whose database-constraint errors read as sentences."""

    def full_clean(self) -> None:
        super().full_clean()
        if not self._errors or NON_FIELD_ERRORS not in self._errors:
            return
        by_default = {
            str(constraint.get_violation_error_message()): str(
                CONSTRAINT_WORDS[constraint.name]
            )
            for constraint in self._meta.model._meta.constraints
            if constraint.name in CONSTRAINT_WORDS
        }
        words = []
        for message in self._errors[NON_FIELD_ERRORS]:
            said = by_default.get(message, message)
            if said not in words:
                words.append(said)
        self._errors[NON_FIELD_ERRORS] = ErrorList(words, error_class="nonfield")


class AppendOnlyAdmin(admin.ModelAdmin):
    """Records the funnel writes and never rewrites: read here, never edited."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def refused_by_service(request: HttpRequest, problems: list[str]) -> None:
    """A service refused what the form allowed (something changed meanwhile):
    nothing was saved; say why on the form's page."""
    setattr(request, REFUSED, problems)


def refusal_response(request: HttpRequest):
    problems = getattr(request, REFUSED, None)
    if not problems:
        return None
    for problem in problems:
        messages.error(request, _("Nothing was saved: %(why)s") % {"why": problem})
    return HttpResponseRedirect(request.get_full_path())


# --- Action types -------------------------------------------------------------------


class ActionTypeForm(ConstraintWordsForm):
    webhook_url = forms.URLField(
        label=gettext_lazy("Webhook URL"),
        required=False,
        assume_scheme="https",
        help_text=ActionType._meta.get_field("webhook_url").help_text,
    )

    class Meta:
        model = ActionType
        fields = [
            "code",
            "name",
            "unit",
            "currency",
            "effect",
            "product",
            "webhook_url",
            "is_active",
        ]


@admin.register(ActionType)
class ActionTypeAdmin(admin.ModelAdmin):
    form = ActionTypeForm
    list_display = [
        "name",
        "code",
        "unit",
        "currency",
        "effect",
        "product",
        "has_webhook",
        "is_active",
    ]
    list_filter = ["is_active", "unit", "effect"]
    search_fields = ["name", "code"]
    readonly_fields = ["created_at"]

    @admin.display(description=gettext_lazy("billing webhook"), boolean=True)
    def has_webhook(self, action_type: ActionType) -> bool:
        return bool(action_type.webhook_url)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Grants and rules point at it for ever: switch it off instead.
        return False

    def save_model(self, request: HttpRequest, obj: ActionType, form, change) -> None:
        if not change:
            obj.created_at = timezone.now()
        super().save_model(request, obj, form, change)


# --- Rules --------------------------------------------------------------------------


class AuthorityRuleForm(ConstraintWordsForm):
    agent_role = forms.ChoiceField(
        label=gettext_lazy("Agent role"), choices=AGENT_ROLE_CHOICES, required=False
    )
    change_note = forms.CharField(
        label=gettext_lazy("Why"),
        max_length=300,
        required=False,
        help_text=gettext_lazy(
            "Required for a change: every grant made under the new version "
            "points at it, with this note."
        ),
    )

    class Meta:
        model = AuthorityRule
        fields = [*RULE_TERMS, "change_note"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # A change writes the next version: its note starts empty.
            self.initial["change_note"] = ""

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.instance.pk and not (cleaned.get("change_note") or "").strip():
            self.add_error("change_note", _("Say why the rule changes."))
        if any(name in self.errors for name in RULE_TERMS):
            return cleaned
        problems = services.rule_problems(
            terms=self.terms(),
            lineage=self.instance.lineage if self.instance.pk else None,
        )
        for problem in problems:
            self.add_error(None, problem)
        return cleaned

    def terms(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in RULE_TERMS}


class RuleVersionFilter(admin.SimpleListFilter):
    title = gettext_lazy("version")
    parameter_name = "version"
    CURRENT, SUPERSEDED, ALL = "current", "superseded", "all"

    def lookups(self, request, model_admin):
        return [
            (self.CURRENT, _("Current")),
            (self.SUPERSEDED, _("Superseded")),
            (self.ALL, _("All versions")),
        ]

    def value(self):
        # Current versions unless asked otherwise (and always with a lineage
        # asked for: its history is every version).
        return super().value() or self.CURRENT

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: lookup}
                ),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == self.SUPERSEDED:
            return queryset.filter(superseded_at__isnull=False)
        if self.value() == self.CURRENT:
            return queryset.filter(superseded_at__isnull=True)
        return queryset


@admin.register(AuthorityRule)
class AuthorityRuleAdmin(admin.ModelAdmin):
    form = AuthorityRuleForm
    list_display = [
        "name",
        "version",
        "action_type",
        "stage",
        "scope",
        "max_per_grant",
        "is_active",
        "valid_from",
        "valid_to",
        "created_by",
        "created_at",
        "history",
    ]
    list_filter = [RuleVersionFilter, "stage", "action_type", "is_active", "pod"]
    search_fields = ["name", "change_note"]
    list_select_related = ["action_type", "pod", "contact_reason", "created_by"]
    fieldsets = [
        (None, {"fields": ["name", "action_type", "stage", "is_active"]}),
        (
            gettext_lazy("Scope (empty: everyone)"),
            {"fields": ["pod", "agent_role", "contact_reason", "customer_segment"]},
        ),
        (
            gettext_lazy("Limits (empty: no limit)"),
            {
                "fields": [
                    "max_per_grant",
                    "customer_period_days",
                    "customer_max_count",
                    "customer_max_total",
                    "agent_daily_total",
                    "pod_monthly_total",
                ]
            },
        ),
        (
            gettext_lazy("Conditions"),
            {"fields": ["min_tenure_days", "cooldown_days"]},
        ),
        (
            gettext_lazy("Approval (stage 1)"),
            {"fields": ["approver_group", "approval_hours"]},
        ),
        (gettext_lazy("Validity"), {"fields": ["valid_from", "valid_to"]}),
        (gettext_lazy("This change"), {"fields": ["change_note"]}),
    ]
    history_fieldset = (
        gettext_lazy("History"),
        {
            "fields": [
                "version",
                "created_by",
                "created_at",
                "superseded_at",
                "versions",
                "audit_trail",
            ]
        },
    )

    # The changelist and its columns.

    @admin.display(description=gettext_lazy("scope"))
    def scope(self, rule: AuthorityRule) -> str:
        parts = [
            str(rule.pod) if rule.pod_id else "",
            rule.agent_role,
            str(rule.contact_reason) if rule.contact_reason_id else "",
            rule.customer_segment,
        ]
        return ", ".join(part for part in parts if part) or _("everyone")

    @admin.display(description=gettext_lazy("history"))
    def history(self, rule: AuthorityRule) -> str:
        url = reverse("admin:authority_authorityrule_changelist")
        query = urlencode({"lineage": str(rule.lineage), "version": "all"})
        return format_html('<a href="{}?{}">{}</a>', url, query, _("versions"))

    # The form: terms editable on the current version only.

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is None:
            return self.fieldsets
        return [*self.fieldsets, self.history_fieldset]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        if obj is None:
            return []
        return [
            "version",
            "created_by",
            "created_at",
            "superseded_at",
            "versions",
            "audit_trail",
        ]

    @admin.display(description=gettext_lazy("versions"))
    def versions(self, rule: AuthorityRule) -> str:
        rows = AuthorityRule.objects.filter(lineage=rule.lineage).order_by("version")
        return format_html_join(
            " · ",
            '<a href="{}">v{}</a>{}',
            (
                (
                    reverse("admin:authority_authorityrule_change", args=[version.id]),
                    version.version,
                    "" if version.superseded_at else " " + _("(current)"),
                )
                for version in rows
            ),
        )

    @admin.display(description=gettext_lazy("changes (audit trail)"))
    def audit_trail(self, rule: AuthorityRule) -> str:
        events = selectors.audit_events_of(subject=f"rule:{rule.lineage}")
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>v{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M"),
                    event.actor_label,
                    event.details.get("version", ""),
                    event.details.get("note", ""),
                    _changed_words(event.details.get("changed", {}), event),
                )
                for event in events
            ),
        )
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>"
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            _("When"),
            _("Who"),
            _("Version"),
            _("Why"),
            _("What changed"),
            rows,
        )

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        # A superseded version is the basis of its grants: read only.
        if obj is not None and obj.superseded_at is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # Saving: through the services, as a new version.

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        note = form.cleaned_data["change_note"].strip()
        now = timezone.now()
        try:
            if change:
                saved = services.rule_revise(
                    rule_id=obj.pk,
                    terms=form.terms(),
                    user=request.user,
                    note=note,
                    now=now,
                )
            else:
                saved = services.rule_create(
                    terms=form.terms(), user=request.user, note=note, now=now
                )
        except services.RuleInvalid as exc:
            refused_by_service(request, exc.problems)
            return
        # The admin goes on with `obj` (its log entry, its redirect): make it
        # the version just written.
        for field in AuthorityRule._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def log_addition(self, request, obj, message):
        if not getattr(request, REFUSED, None):
            return super().log_addition(request, obj, message)
        return None

    def log_change(self, request, obj, message):
        if not getattr(request, REFUSED, None):
            return super().log_change(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        return refusal_response(request) or super().response_add(
            request, obj, post_url_continue
        )

    def response_change(self, request, obj):
        refused = refusal_response(request)
        if refused:
            return refused
        # The change wrote a new version: the page to go back to is its own,
        # not the superseded one the form was posted from.
        url = reverse("admin:authority_authorityrule_change", args=[obj.pk])
        messages.success(
            request,
            format_html(
                _('Saved as a new version: <a href="{url}">{rule}</a>.'),
                url=url,
                rule=str(obj),
            ),
        )
        if "_continue" in request.POST:
            return HttpResponseRedirect(url)
        if "_addanother" in request.POST:
            return HttpResponseRedirect(reverse("admin:authority_authorityrule_add"))
        return HttpResponseRedirect(reverse("admin:authority_authorityrule_changelist"))


def _changed_words(changed: dict, event: AuditEvent) -> str:
    if event.details.get("version") == 1:
        return _("created")
    return "; ".join(
        f"{name}: {old} → {new}" for name, (old, new) in sorted(changed.items())
    )


# --- Entitlements -------------------------------------------------------------------


class EntitlementForm(ConstraintWordsForm):
    # The version the admin read: a grant extending it meanwhile is not undone.
    seen_updated_at = forms.DateTimeField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Entitlement
        fields = [
            "customer",
            "product",
            "starts_on",
            "ends_on",
            "paused_from",
            "paused_until",
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["seen_updated_at"].initial = self.instance.updated_at

    def clean(self) -> dict:
        cleaned = super().clean()
        if {"starts_on", "ends_on"} <= set(cleaned):
            problem = services.entitlement_dates_problem(
                starts_on=cleaned["starts_on"],
                ends_on=cleaned["ends_on"],
                paused_from=cleaned.get("paused_from"),
                paused_until=cleaned.get("paused_until"),
            )
            if problem:
                self.add_error(None, problem)
        return cleaned


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    form = EntitlementForm
    list_display = [
        "customer",
        "product",
        "starts_on",
        "ends_on",
        "paused_from",
        "paused_until",
        "updated_at",
    ]
    list_filter = ["product"]
    search_fields = ["product", "=customer__id", "customer__display_name"]
    raw_id_fields = ["customer"]
    list_select_related = ["customer"]
    show_full_result_count = False

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        if obj is None:
            # A new entitlement runs; a pause is a change to one that exists.
            return ["customer", "product", "starts_on", "ends_on"]
        return [*EntitlementForm.Meta.fields, "seen_updated_at"]

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return ["customer"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Grants point at the entitlements they changed.
        return False

    def save_model(self, request: HttpRequest, obj, form, change) -> None:
        answers, now = form.cleaned_data, timezone.now()
        try:
            if change:
                saved = services.entitlement_change(
                    entitlement_id=obj.pk,
                    product=answers["product"],
                    starts_on=answers["starts_on"],
                    ends_on=answers["ends_on"],
                    paused_from=answers.get("paused_from"),
                    paused_until=answers.get("paused_until"),
                    seen_updated_at=answers.get("seen_updated_at"),
                    now=now,
                )
            else:
                saved = services.entitlement_create(
                    customer_id=answers["customer"].id,
                    product=answers["product"],
                    starts_on=answers["starts_on"],
                    ends_on=answers["ends_on"],
                    now=now,
                )
        except services.AuthorityRefused as exc:
            refused_by_service(request, [str(exc)])
            return
        for field in Entitlement._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))

    def log_addition(self, request, obj, message):
        if not getattr(request, REFUSED, None):
            return super().log_addition(request, obj, message)
        return None

    def log_change(self, request, obj, message):
        if not getattr(request, REFUSED, None):
            return super().log_change(request, obj, message)
        return None

    def response_add(self, request, obj, post_url_continue=None):
        return refusal_response(request) or super().response_add(
            request, obj, post_url_continue
        )

    def response_change(self, request, obj):
        return refusal_response(request) or super().response_change(request, obj)


# --- What the funnel wrote (read only) ----------------------------------------------


@admin.register(AuthorityRequest)
class AuthorityRequestAdmin(AppendOnlyAdmin):
    list_display = [
        "id",
        "created_at",
        "state",
        "action_type",
        "amount",
        "customer",
        "pod",
        "agent",
        "stage",
        "due_at",
    ]
    list_filter = ["state", "stage", "action_type", "actor_kind", "pod"]
    search_fields = ["=id", "=customer__id", "idempotency_key"]
    list_select_related = ["action_type", "customer", "pod", "agent__user"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = ["reasons_in_words"]

    @admin.display(description=gettext_lazy("reasons"))
    def reasons_in_words(self, request: AuthorityRequest) -> str:
        return services.reasons_sentence(request)


@admin.register(ApprovalDecision)
class ApprovalDecisionAdmin(AppendOnlyAdmin):
    list_display = ["id", "request", "verdict", "approver", "decided_at"]
    list_filter = ["verdict"]
    list_select_related = ["request__action_type", "approver"]
    date_hierarchy = "decided_at"
    search_fields = ["=request__id", "note"]


@admin.register(Grant)
class GrantAdmin(AppendOnlyAdmin):
    list_display = [
        "id",
        "kind",
        "action_type",
        "amount",
        "currency",
        "customer",
        "pod",
        "agent",
        "stage",
        "rule",
        "approved_by",
        "granted_at",
        "reverses",
    ]
    list_filter = ["kind", "stage", "action_type", "pod"]
    search_fields = ["=id", "=customer__id", "=request__id"]
    list_select_related = [
        "action_type",
        "customer",
        "pod",
        "agent__user",
        "rule",
        "approved_by",
        "reverses",
    ]
    date_hierarchy = "granted_at"
    show_full_result_count = False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(AppendOnlyAdmin):
    list_display = ["id", "created_at", "kind", "amount", "currency", "customer", "pod"]
    list_filter = ["kind", "currency", "pod"]
    search_fields = ["=customer__id", "=grant__id"]
    list_select_related = ["customer", "pod"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(AuditEvent)
class AuditEventAdmin(AppendOnlyAdmin):
    list_display = ["chain", "seq", "kind", "actor_label", "subject", "at"]
    list_filter = ["kind", "chain"]
    search_fields = ["subject", "actor_label"]
    date_hierarchy = "at"
    show_full_result_count = False
    actions = ["verify_chains"]
    change_list_template = "authority/admin/auditevent_change_list.html"

    @admin.action(
        description=gettext_lazy("Verify the chains of the selected events"),
        permissions=["view"],
    )
    def verify_chains(self, request: HttpRequest, queryset: QuerySet) -> None:
        chains = sorted(set(queryset.values_list("chain", flat=True)))
        for check in (selectors.audit_chain_verify(chain=chain) for chain in chains):
            _report_check(self, request, check)

    def get_urls(self):
        return [
            path(
                "verify/",
                self.admin_site.admin_view(self.verify_view),
                name="authority_auditevent_verify",
            ),
            *super().get_urls(),
        ]

    def verify_view(self, request: HttpRequest):
        """Every chain walked and its digests recomputed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        checks = [
            selectors.audit_chain_verify(chain=chain)
            for chain in selectors.audit_chains()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Audit chains verified"),
            "checks": checks,
            "broken": [check for check in checks if check.broken_at is not None],
        }
        return TemplateResponse(request, "authority/admin/audit_verify.html", context)


def _report_check(model_admin, request: HttpRequest, check) -> None:
    if check.broken_at is None:
        model_admin.message_user(
            request,
            ngettext(
                "Chain %(chain)s verifies: %(rows)d event, unchanged.",
                "Chain %(chain)s verifies: %(rows)d events, unchanged.",
                check.rows,
            )
            % {"chain": check.chain, "rows": check.rows},
            messages.SUCCESS,
        )
        return
    model_admin.message_user(
        request,
        _("Chain %(chain)s is broken at event #%(seq)s: %(problem)s.")
        % {"chain": check.chain, "seq": check.broken_at, "problem": check.problem},
        messages.ERROR,
    )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        # The attempts are part of the delivery: who reads one reads both.
        return request.user.has_perm("authority.view_webhookdelivery")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AppendOnlyAdmin):
    list_display = [
        "id",
        "grant",
        "url",
        "state",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    ]
    list_filter = ["state"]
    search_fields = ["=grant__id", "url"]
    date_hierarchy = "created_at"
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]
    show_full_result_count = False

    @admin.action(
        description=gettext_lazy("Send the selected failed or pending webhooks now"),
        permissions=["retry"],
    )
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = services.webhook_retry(
            delivery_ids=list(queryset.values_list("id", flat=True)),
            now=timezone.now(),
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d webhook queued to be sent now.",
                "%(count)d webhooks queued to be sent now.",
                queued,
            )
            % {"count": queued},
            messages.SUCCESS if queued else messages.WARNING,
        )

    def has_retry_permission(self, request: HttpRequest) -> bool:
        # Who configures where an action's webhook goes may send it again.
        return request.user.has_perm(
            "authority.view_webhookdelivery"
        ) and request.user.has_perm("authority.change_actiontype")
