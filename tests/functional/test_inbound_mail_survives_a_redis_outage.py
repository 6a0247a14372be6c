"""Redis stops while 100 emails arrive; once it is back, all 100 are processed,
each once. Everything runs for real, out of this process: a Redis of its own
(so it can be stopped), the ASGI server, a Celery worker, PostgreSQL."""

import http.client
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests import factories
from tests.conftest import require, require_postgres
from tests.functional.conftest import free_port
from tickets.models import InboundEnvelope, Message

ROOT = Path(__file__).resolve().parents[2]
SECRET = "outage-test-secret"
EMAILS = 100
PROCESS_TIMEOUT = 180  # seconds for the worker to drain after recovery

pytestmark = [pytest.mark.real_stack, pytest.mark.django_db(transaction=True)]


class Redis:
    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.folder = folder
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), timeout=10, what="redis")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def port_open(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def stack(tmp_path):
    """Redis, uvicorn and a Celery worker on loopback, sharing the test database."""
    require_postgres()
    require(shutil.which("redis-server") is not None, "needs redis-server")
    redis = Redis(free_port(), tmp_path)
    redis.start()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis.url,
        "HELPDESK_WEBHOOK_SECRET_EMAIL": SECRET,
        # The sweep takes every waiting envelope, not only minute-old ones.
        "HELPDESK_INBOUND_RETRY_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }
    web_port = free_port()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "helpdesk.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(web_port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        ),
        subprocess.Popen(
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
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"outage-{uuid.uuid4().hex[:8]}@%h",
                "--loglevel",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        ),
    ]
    try:
        wait_until(lambda: port_open(web_port), timeout=30, what="uvicorn")
        yield {"redis": redis, "port": web_port, "env": env}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.stop()


def database_url(db: dict) -> str:
    """The URL of the test database, for the processes started here."""
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def post_email(port: int, body: bytes) -> int:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        client.request(
            "POST",
            "/inbound/email/",
            body=body,
            headers={
                "Content-Type": "message/rfc822",
                "X-Helpdesk-Signature": factories.signature(body=body, secret=SECRET),
            },
        )
        return client.getresponse().status
    finally:
        client.close()


class TestRedisOutage:
    def test_every_email_posted_while_redis_is_down_is_processed_once(self, stack):
        factories.staffed_pod(size=3)
        stack["redis"].stop()

        started = time.monotonic()
        statuses = [
            post_email(stack["port"], factories.email_bytes(subject=f"Outage {n}"))
            for n in range(EMAILS)
        ]
        slowest_possible = (time.monotonic() - started) / EMAILS

        assert statuses == [202] * EMAILS  # durable before answering, Redis or not
        assert slowest_possible < 5
        assert InboundEnvelope.objects.filter(state="RECEIVED").count() == EMAILS

        stack["redis"].start()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "helpdesk",
                "call",
                "tickets.sweep_inbound",
            ],
            cwd=ROOT,
            env=stack["env"],
            check=True,
            capture_output=True,
            timeout=60,
        )

        wait_until(
            lambda: InboundEnvelope.objects.filter(state="PROCESSED").count() == EMAILS,
            timeout=PROCESS_TIMEOUT,
            what="the worker to process every envelope",
        )
        assert Message.objects.count() == EMAILS
        assert InboundEnvelope.objects.exclude(state="PROCESSED").count() == 0
        assert len(set(Message.objects.values_list("ticket_id", flat=True))) == EMAILS
