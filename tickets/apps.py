from django.apps import AppConfig
from django.db.models.signals import post_migrate

TICKET_PERMISSIONS = [
    "tickets.view_ticket",
    "tickets.add_ticket",
    "tickets.change_ticket",
]


def grant_role_permissions(sender, **kwargs) -> None:
    import pods.services

    pods.services.role_permissions_grant(
        grants=dict.fromkeys(pods.services.ROLE_PERMISSIONS, TICKET_PERMISSIONS)
    )


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process (see pods.apps).
        from tickets import tasks  # noqa: F401

        post_migrate.connect(grant_role_permissions, sender=self)
