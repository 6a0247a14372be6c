from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

TICKET_PERMISSIONS = [
    "tickets.view_ticket",
    "tickets.add_ticket",
    "tickets.change_ticket",
    # Every agent replies with templates and suggests edits from real cases.
    "tickets.view_replytemplate",
    "tickets.add_templatesuggestion",
]
# Leads keep their pod's templates (admins every pod's and the global ones):
# write them and decide on the edits agents suggest.
TEMPLATE_KEEPER_PERMISSIONS = [
    "tickets.add_replytemplate",
    "tickets.change_replytemplate",
    "tickets.view_templatesuggestion",
    "tickets.change_templatesuggestion",
]


def grant_role_permissions(sender, **kwargs) -> None:
    import pods.services

    pods.services.role_permissions_grant(
        grants=dict.fromkeys(pods.services.ROLE_PERMISSIONS, TICKET_PERMISSIONS)
    )
    keepers = (pods.services.ROLE_GROUPS["LEAD"], pods.services.ADMIN_GROUP)
    pods.services.role_permissions_grant(
        grants=dict.fromkeys(keepers, TEMPLATE_KEEPER_PERMISSIONS)
    )


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = _("Tickets")

    def ready(self) -> None:
        # Register this app's Celery tasks in every process (see pods.apps).
        from tickets import tasks  # noqa: F401

        post_migrate.connect(grant_role_permissions, sender=self)
