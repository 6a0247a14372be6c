from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process (see pods.apps).
        from tickets import tasks  # noqa: F401
