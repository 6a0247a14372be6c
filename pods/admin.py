"""Django admin for pods: pods with split preview and split now, agents, seats,
customers and their identities, possible duplicates, proficiency policy."""

from django.contrib import admin, messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from pods import outbound, rules, selectors, services
from pods.models import (
    Agent,
    AgentKpiSnapshot,
    Customer,
    CustomerAssignment,
    CustomerIdentity,
    Pod,
    PodSplit,
    PossibleDuplicate,
    ProficiencyPolicy,
    Seat,
)

# The top app merges: each app below moves its own rows in one transaction.
MERGE_CUSTOMERS_TASK = "authority.merge_customers"


@admin.register(Pod)
class PodAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "state",
        "lead",
        "customer_count",
        "split_threshold",
        "threshold_used",
        "target_size",
        "accepts_new_customers",
        "split_links",
    ]
    list_filter = ["state", "accepts_new_customers"]
    search_fields = ["name"]
    readonly_fields = ["customer_count", "state", "parent", "created_at"]
    raw_id_fields = ["lead"]
    actions = ["split_now"]

    @admin.display(description=_("threshold used"))
    def threshold_used(self, pod: Pod) -> str:
        return f"{100 * pod.customer_count / pod.split_threshold:.1f}%"

    @admin.display(description=_("split"))
    def split_links(self, pod: Pod) -> str:
        url = reverse("admin:pods_pod_split_preview", args=[pod.pk])
        return format_html('<a href="{}">{}</a>', url, _("preview split"))

    def get_urls(self):
        return [
            path(
                "<int:pod_id>/split-preview/",
                self.admin_site.admin_view(self.split_preview_view),
                name="pods_pod_split_preview",
            ),
            *super().get_urls(),
        ]

    def split_preview_view(self, request: HttpRequest, pod_id: int) -> HttpResponse:
        if not request.user.has_perm("pods.split_pod"):
            raise Http404
        pod = selectors.pod_detail(pod_id=pod_id)
        if request.method == "POST":
            self._split_request(request, pod)
            return redirect("admin:pods_podsplit_changelist")
        try:
            plan, refusal = selectors.pod_split_plan(pod=pod), None
        except rules.CannotSplit:
            plan, refusal = None, _("a pod needs at least two members to split")
        context = {
            **self.admin_site.each_context(request),
            "title": _("Preview split of %(pod)s") % {"pod": pod.name},
            "pod": pod,
            "plan": plan,
            "refusal": refusal,
            "members": {a.id: a for a in selectors.pod_members(pod_id=pod.id)},
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/pods/split_preview.html", context)

    @admin.action(description=_("Split now"), permissions=["split"])
    def split_now(self, request: HttpRequest, queryset) -> None:
        for pod in queryset:
            self._split_request(request, pod)

    def has_split_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("pods.split_pod")

    def _split_request(self, request: HttpRequest, pod: Pod) -> None:
        try:
            split = services.pod_split_request(
                pod_id=pod.id,
                requested_by=request.user,
                reason="requested in admin",
                now=timezone.now(),
            )
        except services.SplitRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        self.message_user(
            request,
            _("Split of %(pod)s queued (%(state)s).")
            % {"pod": pod, "state": split.get_state_display()},
        )


class SeatInline(admin.TabularInline):
    model = Seat
    extra = 0
    raw_id_fields = ["agent"]
    readonly_fields = ["opened_at", "filled_at"]


PodAdmin.inlines = [SeatInline]


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "pod",
        "role",
        "presence",
        "open_ticket_count",
        "capacity",
        "tier",
        "proficiency_score",
        "hired_on",
    ]
    list_filter = ["pod", "role", "presence", "tier"]
    search_fields = [
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__email",
    ]
    list_select_related = ["user", "pod"]
    raw_id_fields = ["user"]
    readonly_fields = ["open_ticket_count", "last_assigned_at", "proficiency_score"]


class IdentityInline(admin.TabularInline):
    model = CustomerIdentity
    extra = 0
    readonly_fields = ["created_at"]


class AssignmentInline(admin.TabularInline):
    model = CustomerAssignment
    extra = 0
    can_delete = False
    readonly_fields = ["from_pod", "to_pod", "split", "reason", "at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["__str__", "pod", "primary_agent", "segment", "created_at"]
    list_filter = ["pod", "segment"]
    search_fields = ["display_name", "identities__value"]
    list_select_related = ["pod", "primary_agent__user"]
    raw_id_fields = ["primary_agent", "merged_into"]
    readonly_fields = ["pod", "created_at", "merged_into"]
    inlines = [IdentityInline, AssignmentInline]
    show_full_result_count = False  # no COUNT(*) over 1.5M rows per page


@admin.register(PossibleDuplicate)
class PossibleDuplicateAdmin(admin.ModelAdmin):
    list_display = [
        "customer",
        "other",
        "evidence",
        "found_at",
        "resolved_at",
        "resolution",
    ]
    list_filter = ["resolution"]
    raw_id_fields = ["customer", "other"]
    actions = ["merge_into_first"]

    @admin.action(description=_("Merge the second customer into the first"))
    def merge_into_first(self, request: HttpRequest, queryset) -> None:
        # Merging moves tickets too, which only the tickets app may touch: queue it.
        for duplicate in queryset.filter(resolved_at__isnull=True):
            outbound.enqueue_on_commit(
                MERGE_CUSTOMERS_TASK,
                source_id=duplicate.other_id,
                target_id=duplicate.customer_id,
            )
        self.message_user(request, _("Merges queued."))


@admin.register(PodSplit)
class PodSplitAdmin(admin.ModelAdmin):
    list_display = [
        "source",
        "new_pod",
        "state",
        "customers_before",
        "customers_moved",
        "tickets_moved",
        "agents_moved",
        "seats_opened",
        "requested_at",
        "finished_at",
    ]
    list_filter = ["state"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ProficiencyPolicy)
class ProficiencyPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "is_active", "middle_from", "high_from", "updated_at"]

    def save_model(self, request, obj, form, change) -> None:
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(AgentKpiSnapshot)
class AgentKpiSnapshotAdmin(admin.ModelAdmin):
    list_display = [
        "agent",
        "period_end",
        "contacts_per_day",
        "handle_minutes",
        "csat",
        "one_touch_rate",
        "score",
        "tier",
    ]
    list_filter = ["tier", "period_end"]
    list_select_related = ["agent__user"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False
