"""A task sent through the real broker (Redis) is run by a real Celery worker
started here, and its result comes back through the result backend."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery.result import allow_join_result

from helpdesk.celery import app, ping
from tests.conftest import require_redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def celery_worker_process():
    require_redis()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "helpdesk.settings"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "helpdesk",
            "worker",
            "--queues",
            "tickets,outbound",
            "--pool",
            "solo",
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.fixture
def tasks_through_broker():
    """Tests run tasks inline; this test needs them to travel through Redis."""
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = True


@pytest.mark.real_stack
@pytest.mark.usefixtures("tasks_through_broker")
class TestTaskRoundTrip:
    def test_worker_answers_through_redis(self, celery_worker_process):
        result = ping.apply_async()

        # Inline tasks run by other tests' threads flip Celery's process-wide
        # "inside a task" flag; this test is not inside one.
        with allow_join_result():
            answer = result.get(timeout=60)

        assert answer["pong"] is True
        assert answer["worker_pid"] == celery_worker_process.pid
        assert result.status == "SUCCESS"

    def test_outbound_tasks_travel_on_their_own_queue(self):
        route = app.amqp.router.route({}, "pods.outbound.anything")

        assert route["queue"].name == "outbound"
        assert app.amqp.router.route({}, "tickets.run_pod_split")["queue"].name == (
            "tickets"
        )
