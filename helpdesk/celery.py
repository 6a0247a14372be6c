"""The Celery app: queues `tickets` (intake, sweeps, nightly jobs) and `outbound`
(email, broadcasts, webhooks). Configuration comes from settings (CELERY_*)."""

import os

from celery import Celery, signals

from helpdesk import observability

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="tasks")
app.autodiscover_tasks(related_name="outbound")


@app.task(name="helpdesk.ping", ignore_result=False)  # answers a health probe
def ping() -> dict:
    """Answer from a worker: proves the broker and result backend round trip."""
    return {"pong": True, "worker_pid": os.getpid()}


@signals.before_task_publish.connect
def carry_request_id(headers: dict | None = None, **_: object) -> None:
    """Carry the request id of the web request into the tasks it enqueues."""
    if headers is not None:
        headers.setdefault("request_id", observability.current_request_id())


@signals.task_prerun.connect
def restore_request_id(task=None, **_: object) -> None:
    request_id = getattr(task.request, "request_id", None) if task else None
    observability.set_request_id(request_id or observability.new_request_id())
