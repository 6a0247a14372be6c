from django.apps import AppConfig


class PodsConfig(AppConfig):
    name = "pods"
    verbose_name = "Pods"

    def ready(self) -> None:
        # Register this app's Celery tasks in every process (web included), so tasks
        # can be enqueued by name and run inline on the embedded default.
        from pods import tasks  # noqa: F401
