"""The workspace benchmark's whole path at a tiny size, so it cannot rot between
the runs at volume: the ticket volume generator (interrupted, resumed, refusing
another size), then tests/performance/bench_workspace.py against it with a real
uvicorn and the load generator in processes of their own."""

import json

import pytest
from django.db import connection
from django.utils import timezone

from tests.conftest import require_postgres
from tests.performance import bench_workspace, pods_volume, tickets_volume

CUSTOMERS = 400
PODS = 2
TICKETS = 600
SEED = 11


@pytest.fixture
def tiny_volume(transactional_db):
    """Pods and tickets at a tiny size, committed (the server is another
    process); the generator's own table and any index it dropped are restored
    afterwards for the tests that follow."""
    require_postgres()
    yield
    plan = tickets_volume.plan_read()
    if plan is not None and plan.indexes and not plan.finished:
        tickets_volume.indexes_build(plan, say=lambda _: None)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {tickets_volume.VOLUME_TABLE}")


class TestWorkspaceBenchmark:
    def test_volume_resumes_and_the_benchmark_measures_both_pages(
        self, tiny_volume, tmp_path, settings
    ):
        now = timezone.now()
        pods_volume.volume_generate(
            customers=CUSTOMERS, pods_count=PODS, seed=SEED, now=now
        )
        interrupted = tickets_volume.volume_generate(
            tickets=TICKETS, seed=SEED, now=now, chunk_tickets=200, stop_after_chunks=1
        )
        assert tickets_volume.volume_state()["chunks_done"] == 1
        assert interrupted.generated
        with pytest.raises(tickets_volume.VolumeMismatch):
            tickets_volume.volume_generate(tickets=TICKETS + 1, seed=SEED, now=now)
        tickets_volume.volume_generate(
            tickets=TICKETS, seed=SEED, now=now, chunk_tickets=200
        )
        assert tickets_volume.volume_state() == {
            "tickets": TICKETS,
            "seed": SEED,
            "chunks_done": 3,
            "chunks": 3,
            "finished": True,
        }
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) FILTER (WHERE NOT EXISTS"
                " (SELECT 1 FROM tickets_message m WHERE m.ticket_id = t.id))"
                " FROM tickets_ticket t"
            )
            tickets, silent = cursor.fetchone()
            cursor.execute(
                "SELECT count(*) FROM pg_indexes WHERE indexname = %s",
                ["message_thread"],
            )
            (thread_index,) = cursor.fetchone()
        assert tickets == TICKETS + round(CUSTOMERS * pods_volume.OPEN_TICKET_RATE)
        assert silent == 0  # every ticket, the pods volume's too, has messages
        assert thread_index == 1  # dropped for the load, built again

        # The in-process query counts read the ceiling view too.
        settings.ROOT_URLCONF = "tests.performance.bench_urls"
        args = bench_workspace.arguments().parse_args(
            [
                f"--customers={CUSTOMERS}",
                f"--pods={PODS}",
                f"--tickets={TICKETS}",
                f"--seed={SEED}",
                "--runs=1",
                "--samples=3",
                "--ticket-sample=6",
                "--connections=2",
                "--phase-seconds=1",
                "--warmup-seconds=0.2",
                f"--report-dir={tmp_path}",
            ]
        )
        bench_workspace.bench(args)

        (report_file,) = tmp_path.glob("workspace-*.json")
        report = json.loads(report_file.read_text())
        assert report["checks"] == {
            "queue_shows_its_first_rows": True,
            "no_errors": True,
            "ticket_queries_constant": True,
            "queue_queries_same_for_both_views": True,
        }
        pages = report["summary"]["pages"]
        for page in ("queue", "ticket", "ceiling"):
            assert pages[page]["server_p95"] > 0
        assert report["summary"]["ratio"] > 0
        assert report["queries"]["queue_unassigned"] > report["queries"]["ceiling"]
        assert (tmp_path / report_file.name.replace(".json", ".md")).exists()
