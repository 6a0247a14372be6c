from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def grant_role_permissions(sender, **kwargs) -> None:
    from pods import services

    services.role_permissions_grant(grants=services.ROLE_PERMISSIONS)


class PodsConfig(AppConfig):
    name = "pods"
    verbose_name = _("Pods")

    def ready(self) -> None:
        # Register this app's Celery tasks in every process (web included), so tasks
        # can be enqueued by name and run inline on the embedded default.
        from pods import tasks  # noqa: F401

        # Role groups are reference data, created like Django's own permissions:
        # after every migrate, and again after a test flush.
        post_migrate.connect(grant_role_permissions, sender=self)
