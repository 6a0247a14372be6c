"""The benchmarks' ceilings: the least Django can do on this stack, measured next
to the real thing in the same run.

- `POST /bench/ceiling/` (this URLconf: the project's URLs plus this one) reads
  the body, inserts one row with raw SQL (autocommit: the INSERT is its own
  transaction, committed before the answer, as an envelope is) and answers 202
  with JSON, through the same middleware, server and database as the webhooks.
- The Celery task `bench.ceiling_insert` inserts one row the same way, through
  the same worker, queue and settings (acks late, prefetch 1) as
  `tickets.process_envelope`.
- `GET /bench/pk/<ticket_id>/` (the workspace benchmark's ceiling) reads one
  ticket's subject by primary key through the ORM and answers it as JSON, through
  the same middleware, server and database as the queue page; it asks nothing of
  the session or the signed-in user.

No model, no migration: the benchmark creates the tables (CEILING_TABLES_SQL)."""

from celery import shared_task
from django.db import connection
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from helpdesk.urls import urlpatterns as project_urlpatterns
from tickets.models import Ticket

CEILING_TASK = "bench.ceiling_insert"
CEILING_TABLES_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_ceiling ("
    " id bigserial PRIMARY KEY,"
    " received_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " size integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_ceiling_task ("
    " id bigserial PRIMARY KEY,"
    " processed_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
    " size integer NOT NULL)",
)


@csrf_exempt
@require_POST
def ceiling(request: HttpRequest) -> JsonResponse:
    """Store one row per request and answer 202, as a webhook does."""
    size = len(request.body)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_ceiling (size) VALUES (%s) RETURNING id", [size]
        )
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id}, status=202)


@require_GET
def primary_key_read(request: HttpRequest, ticket_id: int) -> JsonResponse:
    """One primary-key read, answered as JSON: the bare view of the workspace
    benchmark."""
    subject = Ticket.objects.filter(pk=ticket_id).values_list("subject", flat=True)
    try:
        return JsonResponse({"id": ticket_id, "subject": subject.get()})
    except Ticket.DoesNotExist as missing:
        raise Http404 from missing


@shared_task(name=CEILING_TASK)
def ceiling_insert(*, size: int) -> None:
    """Store one row per task, as processing an envelope stores its outcome."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_ceiling_task (size) VALUES (%s)", [size])


urlpatterns = [
    path("bench/ceiling/", ceiling, name="bench-ceiling"),
    path("bench/pk/<int:ticket_id>/", primary_key_read, name="bench-pk"),
    *project_urlpatterns,
]
