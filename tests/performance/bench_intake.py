"""Benchmark the multichannel intake on the real stack: webhook acceptance against
a ceiling, the worker's drain rate, and a sustained mixed-channel stream.

    DATABASE_URL=postgres://... .venv/bin/python -m tests.performance.bench_intake \\
        [--web-workers 1,2] [--rounds 3] [--phase-seconds 30] [--stream-seconds 60]

The issue's full stream is `--stream-seconds 600`. Starts its own processes, on
127.0.0.1 only, and stops them (by process id) when done: a Redis of its own,
uvicorn serving helpdesk.asgi:application with the settings
tests.performance.bench_settings (the project's, plus the ceiling view), one
Celery worker, and the load generator (tests/performance/intake_load.py) as a
separate process. PostgreSQL is the database of DATABASE_URL, which this fills
(50,000 customers in 5 pods by default, tests/performance/pods_volume.py) and
writes into: give it a database of its own.

1. Acceptance. The email webhook and the ceiling (`POST /bench/ceiling/`, a bare
   view inserting one row) take turns under the same load (`--connections`
   keep-alive connections, `--phase-seconds` each, the order swapped every
   round): at full speed (closed loop), then both offered half of that round's
   ceiling rate (open loop, for the latency at that load); for each uvicorn
   worker count of `--web-workers`. The Celery worker is stopped meanwhile, so
   both have the machine; the queued envelopes are thrown away afterwards.
2. Drain. `--drain-count` contacts of the webhook channels are stored with the
   worker stopped; then one worker starts, and the rate is taken from the
   envelopes' processed_at, with its CPU and RSS. Before and after each of the
   `--drain-runs`, the worker ceiling: one-row Celery tasks (`bench.ceiling_insert`)
   through the same worker and queue.
3. Stream. Contacts of every channel arrive at `--stream-rate` per second for
   `--stream-seconds` with the worker running (replies threading into earlier
   emails, calls of three events, exact redeliveries, API tickets); then the
   database is checked: every message sent is stored exactly once, every
   envelope is in a final state, redeliveries stored nothing.

The web processes run with DATABASE_CONN_MAX_AGE=0 (`--web-conn-max-age`): with
the project's default of 60, uvicorn's thread per request leaves a PostgreSQL
connection behind per request until garbage collection (docs/benchmarks.md).

Writes tests/performance/reports/intake-<timestamp>.json and .md (and prints
the Markdown). Exits 1 when a target is missed or a check fails.
"""

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.performance import _common, intake_load
from tests.performance._common import (
    REPORTS_DIR,
    ROOT,
    cpu_seconds,
    fmt_load,
    free_port,
    git,
    machine,
    port_open,
    postgresql_settings,
    process_tree,
    rss_mb,
)

SETTINGS_MODULE = "tests.performance.bench_settings"
ACCEPT_TARGET_RATIO = 0.5
ACCEPT_TARGET_P95_MS = 50.0
WORKER_TARGET_MPS = 150.0
VOLUME_TABLE = "bench_intake_volume"
INTEGRATION_USERNAME = "bench-intake-integration"
KNOWN_SAMPLE = 20_000  # known customers the generator writes as
SAMPLE_EVERY = 5.0
# Channels whose messages carry the sender's id as external_id.
LEDGER_CHANNELS = {
    "email": "EMAIL",
    "reply": "EMAIL",
    "sms": "SMS",
    "social": "SOCIAL",
    "call": "PHONE",
}
FINAL_STATES = ("PROCESSED", "DUPLICATE", "IGNORED", "QUARANTINED", "FAILED")


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()
    return bench(args)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--customers", type=int, default=50_000, help="default: %(default)s")
    add("--pods", type=int, default=5, help="pods of 10 agents (default: %(default)s)")
    add("--seed", type=int, default=2026)
    add(
        "--web-workers",
        default="1,2",
        help="uvicorn worker processes to measure acceptance with, comma-separated"
        " (default: %(default)s)",
    )
    add(
        "--connections",
        type=int,
        default=16,
        help="keep-alive connections of the acceptance load (default: %(default)s)",
    )
    add("--rounds", type=int, default=3, help="ceiling/webhook pairs per web setup")
    add(
        "--phase-seconds",
        type=float,
        default=30.0,
        help="measured, per acceptance phase (default: %(default)s)",
    )
    add("--warmup", type=float, default=3.0, help="seconds before each phase counts")
    add(
        "--drain-count",
        type=int,
        default=2_000,
        help="contacts stored (with their calls' events and redeliveries) before the"
        " worker starts, per drain (default: %(default)s)",
    )
    add("--drain-runs", type=int, default=2, help="envelope drains (default: 2)")
    add(
        "--ceiling-tasks",
        type=int,
        default=3000,
        help="one-row tasks of each worker ceiling drain (default: %(default)s)",
    )
    add(
        "--stream-seconds",
        type=float,
        default=60.0,
        help="length of the mixed stream (default: %(default)s; the issue: 600)",
    )
    add(
        "--stream-rate",
        type=float,
        default=170.0,
        help="contacts (= messages) per second offered (default: %(default)s)",
    )
    add("--stream-connections", type=int, default=32)
    add(
        "--stream-web-workers",
        type=int,
        default=1,
        help="uvicorn workers during the drain and the stream (default: %(default)s)",
    )
    add(
        "--web-conn-max-age",
        type=int,
        default=0,
        help="DATABASE_CONN_MAX_AGE of the web processes (default: %(default)s; the"
        " project's default of 60 leaks a connection per request under ASGI, see"
        " docs/benchmarks.md)",
    )
    add(
        "--drain-timeout",
        type=float,
        default=1800.0,
        help="seconds to wait for the worker to finish a backlog before checking"
        " what it did (default: %(default)s)",
    )
    add(
        "--try-result-backend-thread-safe",
        action="store_true",
        help="experiment: CELERY_RESULT_BACKEND_THREAD_SAFE=True in the web and"
        " worker processes (not the project's setting; see bench_settings.py)",
    )
    add("--worker-pool", default="prefork", choices=["prefork", "solo", "threads"])
    add("--worker-concurrency", type=int, default=2)
    add(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also process N stored mixed envelopes in this process under cProfile"
        " and count their queries (worker stopped)",
    )
    add("--skip-accept", action="store_true")
    add("--skip-drain", action="store_true")
    add("--skip-stream", action="store_true")
    return parser


def bench(args: argparse.Namespace) -> int:
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.stderr.write("DATABASE_URL must point at PostgreSQL (postgres://...)\n")
        return 2
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    report: dict = {
        "started_at": datetime.now().astimezone().isoformat(),
        "arguments": vars(args),
        "machine": machine(),
        "code": code_version(),
        "postgresql": postgresql_settings(),
    }
    say("migrating and checking the data set")
    report["generation"] = prepare(args)
    report["dataset"] = dataset_figures()
    tmp = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    stack = Stack(folder=tmp, args=args)
    try:
        stack.redis_start()
        report["stack"] = stack.description()
        if not args.skip_accept:
            report["accept"] = {
                str(workers): accept_bench(stack=stack, args=args, workers=workers)
                for workers in web_worker_counts(args.web_workers)
            }
        if args.profile:
            report["profile"] = profile_bench(stack=stack, args=args, stamp=stamp)
        if not args.skip_drain:
            report["drain"] = drain_bench(stack=stack, args=args)
        if not args.skip_stream:
            report["stream"] = stream_bench(stack=stack, args=args)
    finally:
        stack.stop_all()
    report["load_average_end"] = os.getloadavg()
    report["dataset_after"] = dataset_figures()
    markdown = report_markdown(report)
    REPORTS_DIR.mkdir(exist_ok=True)
    (REPORTS_DIR / f"intake-{stamp}.json").write_text(
        json.dumps(report, indent=2, default=str)
    )
    (REPORTS_DIR / f"intake-{stamp}.md").write_text(markdown)
    print(markdown)
    say(f"report written to {REPORTS_DIR / f'intake-{stamp}.md'} (logs in {tmp})")
    return 0 if all_targets_met(report) else 1


def say(text: str) -> None:
    sys.stderr.write(f"[bench {datetime.now():%H:%M:%S}] {text}\n")
    sys.stderr.flush()


def web_worker_counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


# --- Context of the run -------------------------------------------------------------


def code_version() -> dict:
    """The commit measured, and which files of the processing path differ from it."""
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "modified": git("status", "--porcelain", "pods", "tickets", "helpdesk")
        .replace("\n", "; ")
        .strip(),
    }


def dataset_figures() -> dict:
    from django.db import connection

    queries = {
        "pods": "SELECT count(*) FROM pods_pod",
        "agents": "SELECT count(*) FROM pods_agent",
        "customers": "SELECT count(*) FROM pods_customer",
        "tickets": "SELECT count(*) FROM tickets_ticket",
        "messages": "SELECT count(*) FROM tickets_message",
        "envelopes": "SELECT count(*) FROM tickets_inboundenvelope",
        "sla_policies": "SELECT count(*) FROM tickets_slapolicy WHERE active",
        "database_bytes": "SELECT pg_database_size(current_database())",
    }
    figures = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            figures[name] = cursor.fetchone()[0]
    return figures


# --- Data set -------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> dict:
    from django.core.management import call_command
    from django.db import connection

    from tests.performance.bench_urls import CEILING_TABLES_SQL

    call_command("migrate", verbosity=0, interactive=False)
    generation = volume_ensure(args=args)
    sla_policies_ensure()
    with connection.cursor() as cursor:
        for statement in CEILING_TABLES_SQL:
            cursor.execute(statement)
    return generation


def volume_ensure(*, args: argparse.Namespace) -> dict:
    """Generate the pods, agents and customers once per database; a database
    holding another volume is refused. The volume is recorded in a table of its
    own, because the stream adds customers to the generated pods."""
    from django.db import connection
    from django.utils import timezone

    from pods.models import Pod
    from tests.performance import pods_volume

    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {VOLUME_TABLE}"
            " (customers integer NOT NULL, pods integer NOT NULL,"
            " generated_at timestamptz NOT NULL DEFAULT now())"
        )
        cursor.execute(f"SELECT customers, pods FROM {VOLUME_TABLE}")  # noqa: S608
        row = cursor.fetchone()
    if row == (args.customers, args.pods):
        say(f"{args.customers:,} customers in {args.pods} pods already present")
        return {"generated": False}
    if row is not None or Pod.objects.exists():
        raise SystemExit(
            f"the database holds another volume ({row or 'pods not made here'}):"
            " use an empty database"
        )
    say(f"generating {args.customers:,} customers in {args.pods} pods")
    # volume_generate commits its own transaction, then vacuums.
    made = pods_volume.volume_generate(
        customers=args.customers,
        pods_count=args.pods,
        seed=args.seed,
        now=timezone.now(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {VOLUME_TABLE} (customers, pods) VALUES (%s, %s)",  # noqa: S608
            [args.customers, args.pods],
        )
    say(f"generated in {made.seconds:.1f} s")
    return {"generated": True, "seconds": round(made.seconds, 1)}


def sla_policies_ensure() -> None:
    """A realistic set of SLA policies: a default in office hours (with
    holidays), urgent around the clock, faster answers on SMS and social, and a
    premium pod."""
    from datetime import date
    from datetime import time as clock

    from pods.models import Pod
    from tests.performance import pods_volume
    from tickets.models import BusinessHours, BusinessHoursInterval, Holiday, SlaPolicy

    if SlaPolicy.objects.filter(name__startswith="Bench ").exists():
        return
    hours = BusinessHours.objects.create(
        name="Bench office hours", timezone="Europe/London"
    )
    BusinessHoursInterval.objects.bulk_create(
        BusinessHoursInterval(
            hours=hours, weekday=day, opens=clock(8), closes=clock(18)
        )
        for day in range(5)
    )
    Holiday.objects.bulk_create(
        Holiday(hours=hours, date=day, name=name)
        for day, name in (
            (date(2026, 12, 25), "Christmas Day"),
            (date(2026, 12, 28), "Boxing Day (substitute)"),
            (date(2027, 1, 1), "New Year's Day"),
        )
    )
    premium = Pod.objects.filter(name__startswith=pods_volume.BASE_POD_PREFIX).first()
    SlaPolicy.objects.bulk_create(
        [
            SlaPolicy(
                name="Bench default",
                position=100,
                first_response_minutes=240,
                next_response_minutes=480,
                resolution_minutes=2880,
                business_hours=hours,
            ),
            SlaPolicy(
                name="Bench urgent",
                position=10,
                priority="URGENT",
                first_response_minutes=30,
                next_response_minutes=60,
                resolution_minutes=480,
            ),
            SlaPolicy(
                name="Bench SMS",
                position=50,
                channel="SMS",
                first_response_minutes=60,
                next_response_minutes=120,
                resolution_minutes=1440,
                business_hours=hours,
            ),
            SlaPolicy(
                name="Bench social",
                position=50,
                channel="SOCIAL",
                first_response_minutes=60,
                next_response_minutes=120,
                resolution_minutes=1440,
                business_hours=hours,
            ),
            SlaPolicy(
                name="Bench premium pod",
                position=20,
                pod=premium,
                first_response_minutes=120,
                next_response_minutes=240,
                resolution_minutes=1440,
            ),
        ]
    )


def integration_token() -> tuple[int, str]:
    """The API user of the stream (may add and see tickets of every pod) and its
    token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(
        username=INTEGRATION_USERNAME, defaults={"email": "bench@integration.example"}
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["tickets", "pods"],
            codename__in=["add_ticket", "view_ticket", "view_all_pods"],
        )
    )
    token, _ = Token.objects.get_or_create(user=user)
    return user.id, token.key


def known_contacts(*, seed: int) -> tuple[list[str], list[str]]:
    """Email addresses and phone numbers of KNOWN_SAMPLE random generated
    customers."""
    from django.db import connection

    from tests.performance import pods_volume

    rng = random.Random(f"{seed}:known")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id FROM pods_customer c JOIN pods_pod p ON p.id = c.pod_id"
            " WHERE p.name LIKE %s ORDER BY c.id",
            [pods_volume.BASE_POD_PREFIX + "%"],
        )
        ids = [customer_id for (customer_id,) in cursor.fetchall()]
        chosen = rng.sample(ids, min(KNOWN_SAMPLE, len(ids)))
        cursor.execute(
            "SELECT kind, value FROM pods_customeridentity"
            " WHERE customer_id = ANY(%s) AND kind IN ('EMAIL', 'PHONE')"
            " ORDER BY customer_id, kind",
            [chosen],
        )
        rows = cursor.fetchall()
    emails = [value for kind, value in rows if kind == "EMAIL"]
    phones = [value for kind, value in rows if kind == "PHONE"]
    return emails, phones


# --- The processes ------------------------------------------------------------------


def wait_until(condition, *, timeout: float, what: str, fail: bool = True) -> bool:
    return _common.wait_until(condition, timeout=timeout, what=what, fail=fail, say=say)


class Stack:
    """Redis, uvicorn and the Celery worker, each started in a session of its own
    so that it and its children stop together (by process group id)."""

    def __init__(self, *, folder: Path, args: argparse.Namespace) -> None:
        from django.db import connection

        self.folder = folder
        self.args = args
        self.redis_port = free_port()
        self.web_port = 0
        self.web_workers = 0
        self.redis: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.secrets = {
            channel: secrets.token_hex(16)
            for channel in ("EMAIL", "SMS", "SOCIAL", "PHONE")
        }
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": (
                f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}"
                f"/{db['NAME']}"
            ),
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "LOG_LEVEL": "WARNING",
            # The integration sends far more than a person: no throttling here.
            "API_USER_RATE": "1000000/minute",
            # Envelopes wait for the worker on purpose during the drain.
            "HELPDESK_INBOUND_RETRY_SECONDS": "3600",
            "PYTHONPATH": str(ROOT),
            "BENCH_RESULT_BACKEND_THREAD_SAFE": (
                "1" if args.try_result_backend_thread_safe else "0"
            ),
            **{
                f"HELPDESK_WEBHOOK_SECRET_{channel}": secret
                for channel, secret in self.secrets.items()
            },
        }

    def description(self) -> dict:
        return {
            "redis": f"redis-server {redis_version()} on 127.0.0.1:{self.redis_port}"
            " (no persistence)",
            "web": f"uvicorn {package_version('uvicorn')} helpdesk.asgi:application"
            " (uvloop, httptools), DATABASE_CONN_MAX_AGE="
            f"{self.args.web_conn_max_age}",
            "worker": f"celery {package_version('celery')} worker"
            f" --pool {self.args.worker_pool}"
            f" --concurrency {self.args.worker_concurrency}"
            " -Q tickets,outbound --loglevel info",
            "settings": SETTINGS_MODULE
            + (
                " with CELERY_RESULT_BACKEND_THREAD_SAFE=True (experiment)"
                if self.args.try_result_backend_thread_safe
                else ""
            ),
        }

    def _start(
        self, command: list[str], log: str, env: dict | None = None
    ) -> subprocess.Popen:
        handle = (self.folder / log).open("ab")
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **(env or {})},
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @staticmethod
    def _stop(process: subprocess.Popen | None) -> None:
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def redis_start(self) -> None:
        self.redis = self._start(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            "redis.log",
        )
        wait_until(lambda: port_open(self.redis_port), timeout=10, what="redis")
        say(f"redis pid {self.redis.pid} on port {self.redis_port}")

    def redis_flush(self) -> None:
        import redis

        redis.Redis(port=self.redis_port).flushdb()

    def redis_connections(self) -> int:
        """Connections Redis has accepted so far."""
        import redis

        return redis.Redis(port=self.redis_port).info("stats")[
            "total_connections_received"
        ]

    def web_start(self, workers: int) -> None:
        if self.web is not None and self.web_workers == workers:
            return
        self.web_stop()
        self.web_port = free_port()
        self.web_workers = workers
        self.web = self._start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "helpdesk.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.web_port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--no-access-log",
                "--timeout-keep-alive",
                "75",
            ],
            f"web-{workers}.log",
            env={"DATABASE_CONN_MAX_AGE": str(self.args.web_conn_max_age)},
        )
        wait_until(self._web_ready, timeout=60, what="uvicorn")
        say(f"uvicorn pid {self.web.pid}, {workers} worker(s), port {self.web_port}")

    def _web_ready(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise RuntimeError(f"uvicorn exited; see {self.folder}")
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}/healthz", timeout=2
            ) as answer:
                return answer.status == 200
        except OSError:
            return False

    def web_stop(self) -> None:
        self._stop(self.web)
        self.web = None

    def worker_start(self) -> None:
        if self.worker is not None:
            return
        log = self.folder / "worker.log"
        offset = log.stat().st_size if log.exists() else 0
        self.worker = self._start(
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
                self.args.worker_pool,
                "--concurrency",
                str(self.args.worker_concurrency),
                "--without-gossip",
                "--without-mingle",
                "--hostname",
                f"bench-intake-{os.getpid()}@%h",
                "--loglevel",
                "info",
            ],
            "worker.log",
        )

        def ready() -> bool:
            if self.worker.poll() is not None:
                raise RuntimeError(f"the worker exited; see {log}")
            with log.open("rb") as handle:
                handle.seek(offset)
                return b" ready." in handle.read()

        wait_until(ready, timeout=60, what="the Celery worker")
        say(f"celery worker pid {self.worker.pid}")

    def worker_stop(self) -> None:
        self._stop(self.worker)
        self.worker = None

    def ceiling_tasks_enqueue(self, count: int) -> None:
        """Queue `count` one-row tasks for the worker, as the web queues envelopes."""
        from celery import Celery

        from tests.performance.bench_urls import CEILING_TASK

        sender = Celery("bench-intake", broker=self.env["REDIS_URL"])
        with sender.connection_for_write() as connection:
            for _ in range(count):
                sender.send_task(
                    CEILING_TASK,
                    kwargs={"size": 1000},
                    queue="tickets",
                    connection=connection,
                )

    def worker_pids(self) -> list[int]:
        return process_tree(self.worker.pid) if self.worker else []

    def web_pids(self) -> list[int]:
        return process_tree(self.web.pid) if self.web else []

    def stop_all(self) -> None:
        self.worker_stop()
        self.web_stop()
        self._stop(self.redis)
        self.redis = None

    def plan(self, *, name: str, tag: str, mix: dict | None = None) -> Path:
        """Write what the load generator needs for one scenario; return its path."""
        emails, phones = known_contacts(seed=self.args.seed)
        _, token = integration_token()
        path = self.folder / f"plan-{name}.json"
        path.write_text(
            json.dumps(
                {
                    "url": f"http://127.0.0.1:{self.web_port}",
                    "secrets": self.secrets,
                    "emails": emails,
                    "phones": phones,
                    "api_token": token,
                    "tag": tag,
                    "seed": self.args.seed,
                    "mix": mix,
                }
            )
        )
        return path

    def load(self, *, plan: Path, scenario: str, **options) -> dict:
        """Run the load generator to the end; return its result."""
        out = self.folder / f"result-{scenario}-{time.time_ns()}.json"
        command = [
            sys.executable,
            "-m",
            "tests.performance.intake_load",
            "--plan",
            str(plan),
            "--scenario",
            scenario,
            "--out",
            str(out),
            "--url",
            f"http://127.0.0.1:{self.web_port}",
        ]
        for name, value in options.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        subprocess.run(command, cwd=ROOT, env=self.env, check=True)
        return json.loads(out.read_text())


def redis_version() -> str:
    try:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return next((p[2:] for p in out.split() if p.startswith("v=")), "?")


def package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# --- Database marks and checks ------------------------------------------------------


@dataclass(frozen=True)
class Marks:
    """The last ids before a phase: what came after is the phase's."""

    envelope: int
    message: int
    ticket: int
    customer: int
    at: datetime


def marks_now() -> Marks:
    from django.db import connection
    from django.utils import timezone

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COALESCE(max(id), 0) FROM tickets_inboundenvelope),"
            " (SELECT COALESCE(max(id), 0) FROM tickets_message),"
            " (SELECT COALESCE(max(id), 0) FROM tickets_ticket),"
            " (SELECT COALESCE(max(id), 0) FROM pods_customer)"
        )
        envelope, message, ticket, customer = cursor.fetchone()
    return Marks(envelope, message, ticket, customer, timezone.now())


def envelopes_waiting(*, since: Marks) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM tickets_inboundenvelope"
            " WHERE id > %s AND state = 'RECEIVED'",
            [since.envelope],
        )
        return cursor.fetchone()[0]


def waiting_snapshot(*, since: Marks) -> tuple[int, float]:
    """Envelopes waiting and the age of the oldest (seconds)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(received_at)), 0)"
            " FROM tickets_inboundenvelope WHERE id > %s AND state = 'RECEIVED'",
            [since.envelope],
        )
        count, age = cursor.fetchone()
    return count, float(age)


def envelope_figures(*, since: Marks) -> dict:
    """States, channels and processing times of the envelopes after the mark.

    The processing rate is taken between the first and the last processed_at of
    the envelopes the worker processed (not the API's, processed in the web
    process); lag is processed_at - received_at."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT state, count(*) FROM tickets_inboundenvelope WHERE id > %s"
            " GROUP BY state",
            [since.envelope],
        )
        states = dict(cursor.fetchall())
        cursor.execute(
            "SELECT channel, count(*) FROM tickets_inboundenvelope WHERE id > %s"
            " GROUP BY channel",
            [since.envelope],
        )
        channels = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*), min(processed_at), max(processed_at),"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),"
            " percentile_cont(0.95) WITHIN GROUP (ORDER BY lag),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), max(lag)"
            " FROM (SELECT processed_at,"
            "  EXTRACT(EPOCH FROM processed_at - received_at) AS lag"
            "  FROM tickets_inboundenvelope"
            "  WHERE id > %s AND source = 'WEBHOOK' AND processed_at IS NOT NULL) e",
            [since.envelope],
        )
        count, first, last, lag50, lag95, lag99, lag_max = cursor.fetchone()
        cursor.execute(
            "SELECT state, left(error, 200), count(*) FROM tickets_inboundenvelope"
            " WHERE id > %s AND state IN ('FAILED', 'QUARANTINED')"
            " GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10",
            [since.envelope],
        )
        problems = [
            {"state": state, "error": error, "count": n}
            for state, error, n in cursor.fetchall()
        ]
        cursor.execute(
            "SELECT count(DISTINCT m.id) FROM tickets_message m"
            " JOIN tickets_inboundenvelope e ON e.message_id = m.id"
            " WHERE e.id > %s AND e.source = 'WEBHOOK' AND e.state = 'PROCESSED'"
            " AND m.id > %s",
            [since.envelope, since.message],
        )
        (worker_messages,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM tickets_message WHERE id > %s", [since.message]
        )
        (messages,) = cursor.fetchone()
    span = (last - first).total_seconds() if first and last else 0.0
    return {
        "states": states,
        "channels": channels,
        "problems": problems,
        "worker_envelopes": count,
        "worker_messages": worker_messages,
        "messages": messages,
        "first_processed_at": first.isoformat() if first else None,
        "last_processed_at": last.isoformat() if last else None,
        "processing_span_seconds": round(span, 2),
        "worker_envelopes_per_second": round(count / span, 1) if span else None,
        "worker_messages_per_second": round(worker_messages / span, 1)
        if span
        else None,
        "lag_seconds": {
            "p50": round(lag50 or 0, 3),
            "p95": round(lag95 or 0, 3),
            "p99": round(lag99 or 0, 3),
            "max": round(float(lag_max or 0), 3),
        },
    }


def ledger_verify(*, load: dict, since: Marks, api_user_id: int) -> dict:
    """Check the database against what the generator sent: every distinct message
    stored exactly once, every envelope final, redeliveries storing nothing."""
    from django.db import connection

    ledger: dict[str, list[str]] = load["ledger"]
    by_channel: dict[str, dict] = {}
    lost: dict[str, list[str]] = {}
    duplicated: dict[str, dict[str, int]] = {}
    with connection.cursor() as cursor:
        for kind, channel in LEDGER_CHANNELS.items():
            ids = ledger.get(kind, [])
            if not ids:
                continue
            cursor.execute(
                "SELECT external_id, count(*) FROM tickets_message"
                " WHERE channel = %s AND direction = 'INBOUND'"
                " AND external_id = ANY(%s) GROUP BY external_id",
                [channel, ids],
            )
            found = dict(cursor.fetchall())
            lost[kind] = [one for one in ids if one not in found]
            duplicated[kind] = {one: n for one, n in found.items() if n > 1}
            by_channel[kind] = {
                "sent": len(ids),
                "stored_once": sum(1 for n in found.values() if n == 1),
            }
        keys = {
            hashlib.sha256(f"API\0user-{api_user_id}:{key}".encode()).hexdigest(): key
            for key in ledger.get("api", [])
        }
        if keys:
            cursor.execute(
                "SELECT dedupe_key, count(*) FROM tickets_message"
                " WHERE channel = 'API' AND dedupe_key = ANY(%s) GROUP BY dedupe_key",
                [list(keys)],
            )
            found = dict(cursor.fetchall())
            lost["api"] = [keys[k] for k in keys if k not in found]
            duplicated["api"] = {keys[k]: n for k, n in found.items() if n > 1}
            by_channel["api"] = {
                "sent": len(keys),
                "stored_once": sum(1 for n in found.values() if n == 1),
            }
        calls = ledger.get("call", [])
        cursor.execute(
            "SELECT state, count(*) FROM tickets_callrecord"
            " WHERE provider = 'bench' AND call_id = ANY(%s) GROUP BY state",
            [calls],
        )
        call_states = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FROM (SELECT call_id FROM tickets_callrecord"
            " WHERE provider = 'bench' AND call_id = ANY(%s)"
            " GROUP BY call_id HAVING count(*) > 1) twice",
            [calls],
        )
        (calls_twice,) = cursor.fetchone()
        # Replies that joined the ticket of the email they answer.
        cursor.execute(
            "SELECT count(*) FROM tickets_message r"
            " JOIN tickets_message o ON o.channel = 'EMAIL'"
            "  AND o.external_id = r.headers->>'In-Reply-To'"
            " WHERE r.channel = 'EMAIL' AND r.external_id = ANY(%s)"
            " AND r.ticket_id = o.ticket_id",
            [ledger.get("reply", [])],
        )
        (replies_threaded,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM tickets_message WHERE id > %s", [since.message]
        )
        (messages_after,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM tickets_inboundenvelope WHERE id > %s",
            [since.envelope],
        )
        (envelopes_after,) = cursor.fetchone()
    states = envelope_figures(since=since)["states"]
    distinct_sent = sum(len(ids) for ids in ledger.values())
    redeliveries = load["redeliveries"]
    unacknowledged = sum(load["generated"].values()) - distinct_sent
    checks = {
        "distinct_messages_sent": distinct_sent,
        "by_channel": by_channel,
        "lost": sum(len(ids) for ids in lost.values()),
        "duplicated": sum(len(ids) for ids in duplicated.values()),
        "lost_examples": {k: v[:5] for k, v in lost.items() if v},
        "duplicated_examples": {
            k: dict(list(v.items())[:5]) for k, v in duplicated.items() if v
        },
        "messages_after_mark": messages_after,
        "envelopes_after_mark": envelopes_after,
        "unacknowledged": unacknowledged,
        "answers_created": load["answers_created"],
        "answers_duplicate": load["answers_duplicate"],
        "envelope_states": states,
        "not_final": states.get("RECEIVED", 0),
        "failed_or_quarantined": states.get("FAILED", 0) + states.get("QUARANTINED", 0),
        "redeliveries_sent": redeliveries["sent"],
        "redeliveries_statuses": redeliveries["statuses"],
        "call_records": call_states,
        "calls_not_final": sum(
            n for state, n in call_states.items() if state not in ("ENDED", "MISSED")
        ),
        "calls_recorded_twice": calls_twice,
        "replies_sent": len(ledger.get("reply", [])),
        "replies_threaded": replies_threaded,
    }
    checks["ok"] = (
        checks["lost"] == 0
        and checks["duplicated"] == 0
        and checks["not_final"] == 0
        and checks["failed_or_quarantined"] == 0
        and unacknowledged == 0
        and messages_after == distinct_sent
        # One envelope per request answered "created"; every redelivery (or the
        # original it raced) answered "duplicate" and stored nothing.
        and envelopes_after == load["answers_created"]
        and load["answers_duplicate"] == redeliveries["sent"]
        and calls_twice == 0
        and checks["calls_not_final"] == 0
    )
    return checks


def ledger_verify_safe(**kwargs) -> dict:
    checks = ledger_verify(**kwargs)
    say(
        f"checked: {checks['distinct_messages_sent']:,} messages sent,"
        f" lost {checks['lost']}, duplicated {checks['duplicated']},"
        f" envelopes not final {checks['not_final']},"
        f" failed {checks['failed_or_quarantined']},"
        f" redeliveries {checks['redeliveries_sent']}"
        f" ({checks['answers_duplicate']} answered duplicate);"
        f" {'ok' if checks['ok'] else 'BROKEN'}"
    )
    return checks


def pg_sessions() -> int:
    """Connections ever opened to this database (PostgreSQL 14+)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
        return cursor.fetchone()[0]


def discard_since(*, stack: Stack, since: Marks) -> int:
    """Throw away the queued tasks and the envelopes stored after the mark (the
    acceptance phases' emails: they measured the webhook, not the worker)."""
    from django.db import connection

    stack.redis_flush()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM tickets_inboundenvelope WHERE id > %s", [since.envelope]
        )
        return cursor.rowcount


# --- 1. Acceptance ------------------------------------------------------------------


def accept_bench(*, stack: Stack, args: argparse.Namespace, workers: int) -> dict:
    """Rounds of: the ceiling and the webhook at full speed (closed loop, order
    swapped every round), then both at half the ceiling's rate of that round
    (open loop), for the latency at the load the target names."""
    from django.db import connection

    stack.worker_stop()
    stack.redis_flush()
    stack.web_start(workers)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_ceiling")
    before = marks_now()
    tag = f"a{workers}-{before.at:%H%M%S}"
    plan = stack.plan(name=f"accept-{workers}", tag=tag)
    rounds = []
    for number in range(1, args.rounds + 1):
        order = ("ceiling", "email") if number % 2 else ("email", "ceiling")
        one: dict = {}
        for scenario in order:
            one[scenario] = accept_phase(
                stack=stack, args=args, plan=plan, scenario=scenario, rate=0.0
            )
            say(f"web x{workers} round {number} {phase_line(scenario, one[scenario])}")
        one["ratio"] = round(one["email"]["rps"] / max(one["ceiling"]["rps"], 1e-9), 3)
        rate = round(one["ceiling"]["rps"] * ACCEPT_TARGET_RATIO, 1)
        for scenario in order:
            name = f"{scenario}_at_rate"
            one[name] = accept_phase(
                stack=stack, args=args, plan=plan, scenario=scenario, rate=rate
            )
            say(f"web x{workers} round {number} {phase_line(name, one[name])}")
        rounds.append(one)
    discarded = discard_since(stack=stack, since=before)
    say(f"web x{workers}: discarded {discarded:,} envelopes of the acceptance phases")
    return {"web_workers": workers, "rounds": rounds, "summary": accept_summary(rounds)}


def accept_phase(
    *,
    stack: Stack,
    args: argparse.Namespace,
    plan: Path,
    scenario: str,
    rate: float,
) -> dict:
    load_before = os.getloadavg()
    sessions = pg_sessions()
    redis_connections = stack.redis_connections()
    pids = stack.web_pids()
    cpu = cpu_seconds(pids)
    options = {"rate": rate} if rate else {}
    result = stack.load(
        plan=plan,
        scenario=scenario,
        connections=args.connections,
        seconds=args.phase_seconds,
        warmup=args.warmup,
        **options,
    )
    result["web_cpu_seconds"] = round(cpu_seconds(pids) - cpu, 1)
    result["web_cpu_ms_per_request"] = round(
        result["web_cpu_seconds"] * 1000 / max(result["requests"], 1), 2
    )
    result["pg_sessions_opened"] = pg_sessions() - sessions
    # The load generator's own connections are HTTP: these are the web's.
    result["redis_connections_opened"] = stack.redis_connections() - redis_connections
    result["load_average_before"] = load_before
    result["load_average_after"] = os.getloadavg()
    result["web_rss_mb"] = round(sum(rss_mb(pid) for pid in pids), 1)
    return result


def phase_line(name: str, result: dict) -> str:
    offered = f" (offered {result['rate']}/s)" if result.get("rate") else ""
    return (
        f"{name}: {result['rps']} req/s{offered}, p50 {result.get('p50_ms')} ms,"
        f" p95 {result.get('p95_ms')} ms, p99 {result.get('p99_ms')} ms,"
        f" errors {result['errors']}, load {fmt_load(result['load_average_after'])}"
    )


ACCEPT_PHASES = ("ceiling", "email", "ceiling_at_rate", "email_at_rate")


def accept_summary(rounds: list[dict]) -> dict:
    def median(scenario: str, stat: str) -> float:
        return round(statistics.median(r[scenario][stat] for r in rounds), 2)

    summary: dict = {
        scenario: {
            stat: median(scenario, stat)
            for stat in ("rps", "p50_ms", "p95_ms", "p99_ms", "web_cpu_ms_per_request")
        }
        for scenario in ACCEPT_PHASES
    }
    for scenario in ACCEPT_PHASES:
        summary[scenario]["errors"] = sum(r[scenario]["errors"] for r in rounds)
        summary[scenario]["load_average"] = round(
            statistics.median(r[scenario]["load_average_after"][0] for r in rounds), 2
        )
    summary["email_at_rate"]["offered"] = median("email_at_rate", "rate")
    summary["ratio"] = round(statistics.median(r["ratio"] for r in rounds), 3)
    summary["ratio_of_medians"] = round(
        summary["email"]["rps"] / max(summary["ceiling"]["rps"], 1e-9), 3
    )
    at_rate = summary["email_at_rate"]
    # At half the ceiling's rate the webhook must keep up (what it answered is
    # what was offered, within Poisson noise) with p95 under the target.
    summary["keeps_up_at_half"] = at_rate["rps"] >= 0.95 * at_rate["offered"]
    summary["meets_target"] = (
        summary["ratio"] >= ACCEPT_TARGET_RATIO
        and summary["keeps_up_at_half"]
        and at_rate["p95_ms"] < ACCEPT_TARGET_P95_MS
        and summary["email"]["errors"] == 0
        and at_rate["errors"] == 0
    )
    return summary


# --- 2. Drain -----------------------------------------------------------------------

# The worker's share of the stream: every webhook channel, no API (the API's
# contacts are processed by the web process that takes them).
DRAIN_MIX = {
    kind: weight for kind, weight in intake_load.DEFAULT_MIX.items() if kind != "api"
}


class Sampler(threading.Thread):
    """Every `every` seconds: envelopes waiting and the oldest one's age, the load
    average, the worker's and the web's RSS and CPU."""

    def __init__(self, *, stack: Stack, since: Marks, every: float) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.since = since
        self.every = every
        self.samples: list[dict] = []
        self.halt = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.halt.wait(self.every):
                self.samples.append(self.sample())
        finally:
            connection.close()

    def sample(self) -> dict:
        waiting, oldest = waiting_snapshot(since=self.since)
        worker = self.stack.worker_pids()
        web = self.stack.web_pids()
        return {
            "t": round(time.monotonic() - self.started_at, 1),
            "waiting": waiting,
            "oldest_waiting_seconds": round(oldest, 1),
            "load_average": os.getloadavg(),
            "worker_rss_mb": [round(rss_mb(pid), 1) for pid in worker],
            "worker_cpu_seconds": round(cpu_seconds(worker), 1),
            "web_rss_mb": round(sum(rss_mb(pid) for pid in web), 1),
            "web_cpu_seconds": round(cpu_seconds(web), 1),
        }

    def stop(self) -> list[dict]:
        self.halt.set()
        self.join()
        return self.samples


def drain_bench(*, stack: Stack, args: argparse.Namespace) -> dict:
    """`--drain-runs` rounds of: the worker ceiling, then the envelopes; and the
    ceiling once more at the end, so every envelope drain has a ceiling measured
    just before and just after it."""
    stack.web_start(args.stream_web_workers)
    ceilings = [drain_ceiling_once(stack=stack, args=args)]
    runs = []
    for number in range(1, args.drain_runs + 1):
        run = drain_envelopes_once(stack=stack, args=args, number=number)
        ceilings.append(drain_ceiling_once(stack=stack, args=args))
        around = [ceilings[-2]["tasks_per_second"], ceilings[-1]["tasks_per_second"]]
        run["ceiling_tasks_per_second"] = round(statistics.mean(around), 1)
        run["ratio_to_ceiling"] = round(
            (run["figures"]["worker_envelopes_per_second"] or 0)
            / max(run["ceiling_tasks_per_second"], 1e-9),
            3,
        )
        runs.append(run)
    stack.worker_stop()

    def median(key) -> float:
        return round(statistics.median(key(run) for run in runs), 1)

    summary = {
        "messages_per_second": median(
            lambda r: r["figures"]["worker_messages_per_second"] or 0
        ),
        "envelopes_per_second": median(
            lambda r: r["figures"]["worker_envelopes_per_second"] or 0
        ),
        "ceiling_tasks_per_second": median(lambda r: r["ceiling_tasks_per_second"]),
        "ratio_to_ceiling": round(
            statistics.median(r["ratio_to_ceiling"] for r in runs), 3
        ),
        "worker_cpu_ms_per_envelope": median(lambda r: r["worker_cpu_ms_per_envelope"]),
        "worker_rss_peak_mb": max(
            (mb for r in runs for mb in r["worker_rss_peak_mb"]), default=0
        ),
        "checks_ok": all(r["checks"]["ok"] for r in runs),
    }
    summary["meets_target"] = (
        summary["messages_per_second"] >= WORKER_TARGET_MPS and summary["checks_ok"]
    )
    return {"runs": runs, "ceilings": ceilings, "summary": summary}


def drain_ceiling_once(*, stack: Stack, args: argparse.Namespace) -> dict:
    """Queue `--ceiling-tasks` one-row tasks with the worker stopped, start it, and
    take the rate between the first and the last row's time."""
    from django.db import connection

    stack.worker_stop()
    stack.redis_flush()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bench_ceiling_task")
    stack.ceiling_tasks_enqueue(args.ceiling_tasks)
    load_before = os.getloadavg()
    stack.worker_start()
    pids = stack.worker_pids()
    cpu = cpu_seconds(pids)

    def counted() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM bench_ceiling_task")
            return cursor.fetchone()[0]

    wait_until(
        lambda: counted() >= args.ceiling_tasks,
        timeout=args.drain_timeout,
        what="the worker to run the ceiling tasks",
    )
    cpu = cpu_seconds(stack.worker_pids()) - cpu
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), EXTRACT(EPOCH FROM max(processed_at) - min(processed_at))"
            " FROM bench_ceiling_task"
        )
        count, span = cursor.fetchone()
    stack.worker_stop()
    rate = (count - 1) / float(span) if span else 0.0
    say(
        f"worker ceiling: {count:,} one-row tasks in {float(span or 0):.1f} s ="
        f" {rate:.1f} tasks/s, load {fmt_load(os.getloadavg())}"
    )
    return {
        "tasks": count,
        "seconds": round(float(span or 0), 2),
        "tasks_per_second": round(rate, 1),
        "worker_cpu_ms_per_task": round(cpu * 1000 / max(count, 1), 2),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def drain_envelopes_once(
    *, stack: Stack, args: argparse.Namespace, number: int
) -> dict:
    stack.worker_stop()
    stack.redis_flush()
    before = marks_now()
    tag = f"d{number}-{before.at:%H%M%S}"
    plan = stack.plan(name="drain", tag=tag, mix=DRAIN_MIX)
    say(f"drain {number}: storing {args.drain_count:,} contacts, worker stopped")
    load = stack.load(
        plan=plan, scenario="preload", connections=16, count=args.drain_count
    )  # contacts, with their calls' events and redeliveries
    waiting = envelopes_waiting(since=before)
    say(f"drain {number}: {waiting:,} envelopes waiting; starting the worker")
    load_before = os.getloadavg()
    started = time.monotonic()
    stack.worker_start()
    sampler = Sampler(stack=stack, since=before, every=1.0)
    sampler.start()
    wait_until(
        lambda: envelopes_waiting(since=before) == 0,
        timeout=args.drain_timeout,
        what="the worker to drain the envelopes",
        fail=False,
    )
    wall = time.monotonic() - started
    samples = sampler.stop()
    sampler_final = sampler.sample()
    stack.worker_stop()
    figures = envelope_figures(since=before)
    api_user_id, _ = integration_token()
    checks = ledger_verify_safe(load=load, since=before, api_user_id=api_user_id)
    peak = rss_peaks([*samples, sampler_final])
    result = {
        "run": number,
        "requests": load["requests"],
        "contacts": load["contacts"],
        "preload_seconds": load["seconds"],
        "preload_rps": load["rps"],
        "waiting_at_start": waiting,
        "wall_seconds_with_startup": round(wall, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "load_average_during": round(
            statistics.median(s["load_average"][0] for s in samples), 2
        )
        if samples
        else None,
        "worker_rss_peak_mb": peak,
        "worker_cpu_seconds": sampler_final["worker_cpu_seconds"],
        "worker_cpu_ms_per_envelope": round(
            sampler_final["worker_cpu_seconds"]
            * 1000
            / max(figures["worker_envelopes"], 1),
            1,
        ),
        "figures": figures,
        "checks": checks,
    }
    say(
        f"drain {number}: {figures['worker_envelopes']:,} envelopes,"
        f" {figures['worker_messages']:,} messages in"
        f" {figures['processing_span_seconds']} s ="
        f" {figures['worker_messages_per_second']} messages/s"
        f" ({figures['worker_envelopes_per_second']} envelopes/s),"
        f" worker CPU {result['worker_cpu_ms_per_envelope']} ms/envelope,"
        f" RSS {peak} MB, load {fmt_load(os.getloadavg())}"
    )
    return result


def rss_peaks(samples: list[dict]) -> list[float]:
    """The highest RSS of each worker process (main first) over the samples."""
    width = max((len(s["worker_rss_mb"]) for s in samples), default=0)
    return [
        max(
            (s["worker_rss_mb"][i] for s in samples if len(s["worker_rss_mb"]) > i),
            default=0,
        )
        for i in range(width)
    ]


# --- 3. Stream ----------------------------------------------------------------------


def stream_bench(*, stack: Stack, args: argparse.Namespace) -> dict:
    stack.web_start(args.stream_web_workers)
    stack.worker_start()
    before = marks_now()
    tag = f"s{before.at:%H%M%S}"
    plan = stack.plan(name="stream", tag=tag)
    sampler = Sampler(stack=stack, since=before, every=SAMPLE_EVERY)
    say(
        f"stream: {args.stream_rate} contacts/s for {args.stream_seconds:.0f} s,"
        f" {args.stream_connections} connections"
    )
    load_before = os.getloadavg()
    sampler.start()
    load = stack.load(
        plan=plan,
        scenario="stream",
        connections=args.stream_connections,
        seconds=args.stream_seconds,
        rate=args.stream_rate,
    )
    sent_done = time.monotonic()
    drained = wait_until(
        lambda: envelopes_waiting(since=before) == 0,
        timeout=args.drain_timeout,
        what="the worker to finish the stream",
        fail=False,
    )
    tail = time.monotonic() - sent_done
    samples = sampler.stop()
    figures = envelope_figures(since=before)
    api_user_id, _ = integration_token()
    checks = ledger_verify_safe(load=load, since=before, api_user_id=api_user_id)
    # Rates over the period new contacts arrived; the load's own seconds also
    # hold the tail (the last calls' later events, late redeliveries).
    seconds = load["contacts_seconds"]
    offered = checks["distinct_messages_sent"] / seconds
    worker_kinds = ("email", "reply", "sms", "social", "call")
    worker_sent = sum(len(load["ledger"].get(k, [])) for k in worker_kinds)
    during = [s for s in samples if s["t"] <= seconds]
    result = {
        "seconds": seconds,
        "seconds_with_tail": load["seconds"],
        "rate": args.stream_rate,
        "load": {
            k: v for k, v in load.items() if k not in ("ledger", "envelope_ids_seen")
        },
        "offered_messages_per_second": round(offered, 1),
        "offered_worker_messages_per_second": round(worker_sent / seconds, 1),
        "requests_per_second": round(load["requests"] / seconds, 1),
        "tail_drain_seconds": round(tail, 1),
        "drained": drained,
        "waiting_max": max((s["waiting"] for s in samples), default=0),
        "oldest_waiting_max_seconds": max(
            (s["oldest_waiting_seconds"] for s in samples), default=0
        ),
        "load_average_before": load_before,
        "load_average_median": round(
            statistics.median(s["load_average"][0] for s in during), 2
        )
        if during
        else None,
        "worker_rss_peak_mb": rss_peaks(samples),
        "web_rss_peak_mb": max((s["web_rss_mb"] for s in samples), default=0),
        "samples": samples,
        "figures": figures,
        "checks": checks,
    }
    # Kept up: everything offered was processed within the stream plus a short
    # tail, and no envelope waited long.
    result["kept_up"] = tail <= 10.0 and figures["lag_seconds"]["p99"] <= 5.0
    result["meets_target"] = (
        result["kept_up"]
        and result["offered_worker_messages_per_second"] >= WORKER_TARGET_MPS
        and checks["ok"]
    )
    say(
        f"stream: offered {result['offered_messages_per_second']} messages/s"
        f" ({result['offered_worker_messages_per_second']} through the worker),"
        f" lag p95 {figures['lag_seconds']['p95']} s, tail {tail:.1f} s,"
        f" checks {'ok' if checks['ok'] else 'BROKEN'}"
    )
    return result


# --- Profile ------------------------------------------------------------------------


def profile_bench(*, stack: Stack, args: argparse.Namespace, stamp: str) -> dict:
    """Store N mixed envelopes (worker stopped), then process them here under
    cProfile, counting queries by channel."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from tickets import services
    from tickets.models import InboundEnvelope

    stack.worker_stop()
    stack.redis_flush()
    stack.web_start(args.stream_web_workers)
    before = marks_now()
    plan = stack.plan(name="profile", tag=f"p{before.at:%H%M%S}", mix=DRAIN_MIX)
    stack.load(plan=plan, scenario="preload", connections=16, count=args.profile)
    stack.redis_flush()  # processed here, not by tasks
    ids = list(
        InboundEnvelope.objects.filter(id__gt=before.envelope)
        .order_by("id")
        .values_list("id", "channel")
    )
    queries: dict[str, list[int]] = defaultdict(list)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    for envelope_id, channel in ids:
        with CaptureQueriesContext(connection) as captured:
            profiler.enable()
            services.envelope_process(envelope_id=envelope_id, now=timezone.now())
            profiler.disable()
        queries[channel].append(len(captured.captured_queries))
    seconds = time.perf_counter() - started
    REPORTS_DIR.mkdir(exist_ok=True)
    path = REPORTS_DIR / f"intake-{stamp}-process.prof"
    profiler.dump_stats(path)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    out_tottime = io.StringIO()
    pstats.Stats(profiler, stream=out_tottime).sort_stats("tottime").print_stats(25)
    states = Counter(
        InboundEnvelope.objects.filter(id__gt=before.envelope).values_list(
            "state", flat=True
        )
    )
    return {
        "envelopes": len(ids),
        "seconds_with_profiler": round(seconds, 2),
        "states": dict(states),
        "queries": {
            channel: {
                "median": statistics.median(counts),
                "min": min(counts),
                "max": max(counts),
            }
            for channel, counts in sorted(queries.items())
        },
        "file": str(path),
        "cumulative": out.getvalue(),
        "tottime": out_tottime.getvalue(),
    }


# --- Report ---------------------------------------------------------------------------


def all_targets_met(report: dict) -> bool:
    met = True
    for one in report.get("accept", {}).values():
        met = met and one["summary"]["meets_target"]
    if "drain" in report:
        met = met and report["drain"]["summary"]["meets_target"]
    if "stream" in report:
        met = met and report["stream"]["meets_target"]
    return met


def report_markdown(report: dict) -> str:
    mach, pg, data = report["machine"], report["postgresql"], report["dataset"]
    args = report["arguments"]
    lines = [
        f"# Intake benchmark, {report['started_at'][:19]}",
        "",
        f"- Machine: {mach['cpus']} CPUs ({mach['cpu_model']}), {mach['memory']};"
        f" load average at start {fmt_load(mach['load_average_start'])},"
        f" at end {fmt_load(report['load_average_end'])}",
        f"- Code: commit {report['code']['commit'] or 'unknown'}"
        + (
            f" (modified: {report['code']['modified']})"
            if report["code"]["modified"]
            else ""
        ),
        f"- Python {mach['python']}, Django {mach['django']},"
        f" PostgreSQL {pg['server_version']} (shared_buffers {pg['shared_buffers']},"
        f" synchronous_commit {pg['synchronous_commit']}, fsync {pg['fsync']})",
        "- Stack: "
        + "; ".join(f"{k}: {v}" for k, v in report.get("stack", {}).items()),
        f"- Data set: {data['pods']} pods, {data['agents']} agents,"
        f" {data['customers']:,} customers, {data['tickets']:,} tickets,"
        f" {data['messages']:,} messages, {data['envelopes']:,} envelopes,"
        f" {data['sla_policies']} active SLA policies;"
        f" database {data['database_bytes'] / 2**30:.2f} GiB at start",
    ]
    for workers, accept in report.get("accept", {}).items():
        summary = accept["summary"]
        lines += [
            "",
            f"## Acceptance, uvicorn with {workers} worker process(es)",
            "",
            f"{args['connections']} keep-alive connections, {args['phase_seconds']:.0f}"
            f" s per phase after {args['warmup']:.0f} s of warm-up; the Celery worker"
            " stopped. Each round: the ceiling and the webhook at full speed (closed"
            " loop, order swapped every round), then both offered half of that"
            " round's ceiling rate (Poisson arrivals; latency from when each request"
            f" was due). Target: webhook requests/s at least {ACCEPT_TARGET_RATIO:.0%}"
            " of the ceiling's, with p95 under"
            f" {ACCEPT_TARGET_P95_MS:.0f} ms at that rate.",
            "",
            "| round | phase | req/s | p50 | p95 | p99 | errors | web CPU/request"
            " | PG / Redis connections opened | load after |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for number, one in enumerate(accept["rounds"], 1):
            for scenario in ACCEPT_PHASES:
                r = one[scenario]
                offered = f" (of {r['rate']})" if r.get("rate") else ""
                lines.append(
                    f"| {number} | {scenario.replace('_', ' ')} | {r['rps']}{offered}"
                    f" | {r.get('p50_ms')} ms | {r.get('p95_ms')} ms"
                    f" | {r.get('p99_ms')} ms | {r['errors']}"
                    f" | {r['web_cpu_ms_per_request']} ms | {r['pg_sessions_opened']}"
                    f" / {r['redis_connections_opened']}"
                    f" | {fmt_load(r['load_average_after'])} |"
                )
            lines.append(
                f"| {number} | **ratio (full speed)** | **{one['ratio']}**"
                " | | | | | | | |"
            )
        lines += [
            "",
            "| median of rounds | req/s | p50 | p95 | p99 | errors | web CPU/request"
            " | load (1 min) |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {scenario.replace('_', ' ')} | {m['rps']} | {m['p50_ms']} ms"
                f" | {m['p95_ms']} ms | {m['p99_ms']} ms | {m['errors']}"
                f" | {m['web_cpu_ms_per_request']} ms | {m['load_average']} |"
                for scenario in ACCEPT_PHASES
                for m in [summary[scenario]]
            ),
            "",
            f"Ratio webhook / ceiling at full speed: median of the rounds' ratios"
            f" **{summary['ratio']}** (ratio of the medians"
            f" {summary['ratio_of_medians']}). At half the ceiling's rate"
            f" ({summary['email_at_rate']['offered']}/s) the webhook answered"
            f" {summary['email_at_rate']['rps']}/s with p95"
            f" **{summary['email_at_rate']['p95_ms']} ms**:"
            f" {'met' if summary['meets_target'] else 'MISSED'}.",
        ]
    profile = report.get("profile")
    if profile:
        lines += [
            "",
            f"## Processing profile ({profile['envelopes']} envelopes in-process,"
            f" {profile['seconds_with_profiler']} s with the profiler)",
            "",
            "Queries per envelope: "
            + ", ".join(
                f"{channel} {q['median']} ({q['min']}-{q['max']})"
                for channel, q in profile["queries"].items()
            ),
            "",
            "```",
            profile["tottime"].strip()[:6000],
            "```",
        ]
    drain = report.get("drain")
    if drain:
        summary = drain["summary"]
        lines += [
            "",
            "## Worker drain",
            "",
            f"Each run: {args['drain_count']:,} contacts of the webhook channels (with"
            " their calls' events and redeliveries) stored with the worker stopped,"
            " then one worker started; the rate is taken between the first and the"
            " last processed_at. The worker ceiling (one-row tasks through the same"
            f" worker and queue, {args['ceiling_tasks']:,} per drain) is measured"
            " before and after each run; the ratio uses their mean.",
            "",
            "| run | envelopes | messages | seconds | messages/s | envelopes/s"
            " | ceiling tasks/s | ratio | worker CPU/envelope | RSS peak (main,"
            " children) | load during | checks |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in drain["runs"]:
            f = run["figures"]
            lines.append(
                f"| {run['run']} | {f['worker_envelopes']:,} | {f['worker_messages']:,}"
                f" | {f['processing_span_seconds']} | {f['worker_messages_per_second']}"
                f" | {f['worker_envelopes_per_second']}"
                f" | {run['ceiling_tasks_per_second']} | {run['ratio_to_ceiling']}"
                f" | {run['worker_cpu_ms_per_envelope']} ms"
                f" | {run['worker_rss_peak_mb']} MB | {run['load_average_during']}"
                f" | {'ok' if run['checks']['ok'] else 'BROKEN'} |"
            )
        lines += [
            "",
            "Worker ceiling runs: "
            + "; ".join(
                f"{c['tasks_per_second']} tasks/s ({c['worker_cpu_ms_per_task']} ms"
                f" CPU/task, load after {c['load_average_after'][0]:.2f})"
                for c in drain["ceilings"]
            ),
            "",
            f"Median: **{summary['messages_per_second']} messages/s**"
            f" ({summary['envelopes_per_second']} envelopes/s), ratio to the worker"
            f" ceiling {summary['ratio_to_ceiling']}, worker CPU"
            f" {summary['worker_cpu_ms_per_envelope']} ms per envelope, RSS peak"
            f" {summary['worker_rss_peak_mb']} MB; target"
            f" {WORKER_TARGET_MPS:.0f} messages/s:"
            f" {'met' if summary['meets_target'] else 'MISSED'}.",
            "",
            *(
                f"- Checks of run {run['run']}: {checks_line(run['checks'])}"
                for run in drain["runs"]
            ),
        ]
    stream = report.get("stream")
    if stream:
        f, checks, load = stream["figures"], stream["checks"], stream["load"]
        lines += [
            "",
            f"## Mixed stream, {stream['seconds']:.0f} s",
            "",
            f"{stream['rate']} contacts/s offered (Poisson), {load['connections']}"
            " connections, worker running. Mix (weights): "
            + ", ".join(f"{k} {v}" for k, v in intake_load.DEFAULT_MIX.items())
            + "; calls are 2-3 events; about 4% of requests are exact"
            " redeliveries.",
            "",
            f"- Offered: {stream['offered_messages_per_second']} messages/s"
            f" ({stream['offered_worker_messages_per_second']} through the worker),"
            f" {stream['requests_per_second']} requests/s",
            f"- Worker: {f['worker_messages_per_second']} messages/s"
            f" ({f['worker_envelopes_per_second']} envelopes/s) between the first and"
            f" the last processed_at ({f['processing_span_seconds']} s);"
            " envelope lag (processed - received) p50"
            f" {f['lag_seconds']['p50']} s, p95 {f['lag_seconds']['p95']} s, p99"
            f" {f['lag_seconds']['p99']} s, max {f['lag_seconds']['max']} s; at most"
            f" {stream['waiting_max']} envelopes waiting (sampled every"
            f" {SAMPLE_EVERY:.0f} s); tail after the last request"
            f" {stream['tail_drain_seconds']} s;"
            f" {'kept up' if stream['kept_up'] else 'DID NOT KEEP UP'}",
            f"- Requests: {load['requests']:,}, errors {load['errors']},"
            f" statuses {load['statuses']}; latency p50 {load.get('p50_ms')} ms,"
            f" p95 {load.get('p95_ms')} ms, p99 {load.get('p99_ms')} ms"
            " (from the moment each was due)",
            "- By channel: "
            + "; ".join(
                f"{kind} {k['requests']:,} req p95 {k.get('p95_ms')} ms"
                for kind, k in load["by_kind"].items()
            ),
            f"- Load average before {fmt_load(stream['load_average_before'])},"
            f" median during {stream['load_average_median']}; worker RSS peak"
            f" {stream['worker_rss_peak_mb']} MB; web RSS peak"
            f" {stream['web_rss_peak_mb']} MB",
            f"- Checks: {checks_line(checks)}",
            f"- Verdict: {'met' if stream['meets_target'] else 'MISSED'}",
        ]
    return "\n".join(lines) + "\n"


def checks_line(checks: dict) -> str:
    return (
        f"{checks['distinct_messages_sent']:,} distinct messages sent,"
        f" {checks['messages_after_mark']:,} stored; lost {checks['lost']},"
        f" duplicated {checks['duplicated']};"
        f" unacknowledged {checks['unacknowledged']};"
        f" envelopes {checks['envelopes_after_mark']:,}"
        f" for {checks['answers_created']:,} requests answered as created, states"
        f" {checks['envelope_states']}; {checks['redeliveries_sent']} redeliveries,"
        f" {checks['answers_duplicate']} answers 'duplicate'"
        f" ({checks['redeliveries_statuses']}); calls {checks['call_records']},"
        f" recorded twice {checks['calls_recorded_twice']}; replies threaded"
        f" {checks['replies_threaded']}/{checks['replies_sent']};"
        f" **{'all held' if checks['ok'] else 'BROKEN'}**"
    )


if __name__ == "__main__":
    sys.exit(main())
