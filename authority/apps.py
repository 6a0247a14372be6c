from django.apps import AppConfig
from django.db.models.signals import post_migrate
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


class AuthorityConfig(AppConfig):
    name = "authority"
    verbose_name = _("Authority funnel")

    def ready(self) -> None:
        from authority import tasks  # noqa: F401

        post_migrate.connect(grant_role_permissions, sender=self)
