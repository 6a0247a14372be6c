from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# Every agent asks, and grants within their rules; they read their customers'
# grants, requests and entitlements.
AGENT_PERMISSIONS = [
    "authority.add_authorityrequest",
    "authority.view_authorityrequest",
    "authority.view_grant",
    "authority.view_entitlement",
]
# Leads decide their pod's approvals, reverse grants and read the insights.
LEAD_PERMISSIONS = [
    "authority.add_approvaldecision",
    "authority.view_approvaldecision",
    "authority.add_grant",
    "authority.view_insights",
]
# Admins configure the funnel and may approve for any pod.
ADMIN_PERMISSIONS = [
    "authority.approve_any",
    *(
        f"authority.{action}_{model}"
        for model in ("actiontype", "authorityrule", "entitlement")
        for action in ("add", "change", "view")
    ),
    "authority.view_auditevent",
    "authority.view_webhookdelivery",
    "authority.view_ledgerentry",
]


def grant_role_permissions(sender, **kwargs) -> None:
    import pods.services

    groups = pods.services.ROLE_GROUPS
    admin = pods.services.ADMIN_GROUP
    pods.services.role_permissions_grant(
        grants={
            groups["AGENT"]: AGENT_PERMISSIONS,
            groups["SPECIALIST"]: AGENT_PERMISSIONS,
            groups["LEAD"]: [*AGENT_PERMISSIONS, *LEAD_PERMISSIONS],
            admin: [*AGENT_PERMISSIONS, *LEAD_PERMISSIONS, *ADMIN_PERMISSIONS],
        }
    )


def entitlement_variables(ticket) -> dict[str, str]:
    """Reply templates' entitlement.* variables for the ticket's customer. The
    clock is read here, at the edge, like an interface does."""
    import authority.selectors

    return authority.selectors.entitlement_template_variables(
        customer_id=ticket.customer_id, today=timezone.localdate()
    )


class AuthorityConfig(AppConfig):
    name = "authority"
    verbose_name = _("Authority funnel")

    def ready(self) -> None:
        import tickets.selectors
        from authority import tasks  # noqa: F401

        post_migrate.connect(grant_role_permissions, sender=self)
        tickets.selectors.template_variable_provider_add(provider=entitlement_variables)
