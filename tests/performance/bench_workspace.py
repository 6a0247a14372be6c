"""Benchmark the agent workspace at volume: the queue and ticket pages' server
time, and the queue page's requests per second next to a bare primary-key view.

    DATABASE_URL=postgres://... .venv/bin/python -m tests.performance.bench_workspace \\
        [--customers 1500000] [--pods 25] [--tickets 4000000] [--runs 3]

The defaults are the issue's size: 1.5 million customers in 25 pods
(tests/performance/pods_volume.py) and 4 million tickets with about 15 million
messages on top (tests/performance/tickets_volume.py). The first run fills the
database (about half an hour on this machine), later runs reuse it, and a database
holding another volume is refused: give each size a database of its own.

Starts uvicorn on 127.0.0.1 (stopped by process id at the end) serving the
project's ASGI application with the settings tests.performance.bench_settings
(the project's, plus the ceilings of bench_urls), wrapped by
tests.performance.timed_asgi so that every answer carries the server's own time
(Server-Timing). Signs in through the login form as an agent of one pod, then,
from a second process (tests/performance/workspace_load.py), in each of
`--runs` runs:

1. Latency at low concurrency: one connection, the queue page (its default
   view, the pod's unassigned tickets, first 25 rows), a ticket page (tickets of
   the pod, open and solved, with the messages they have) and the bare view
   (`GET /bench/pk/<id>/`, one primary-key read through the same middleware)
   in turn, `--samples` each: p50/p95 of the server time and of the client's.
2. Requests per second at saturation: `--connections` keep-alive connections in
   a closed loop on the bare view, then on the queue page (order swapped every
   run), `--phase-seconds` each: the queue page's share of the bare view's rate.

Every figure is the median of the runs; the load average is recorded with each
phase. Before the runs, the query count of each page is taken in-process (and
must not depend on the thread's length or the queue's size). `--profile` adds
cProfile of the two pages rendered in-process and EXPLAIN ANALYZE of their
slowest queries.

Writes tests/performance/reports/workspace-<timestamp>.json and .md (and prints
the Markdown). Exits 1 when a target is missed or a check fails.
"""

import argparse
import cProfile
import http.client
import io
import json
import os
import pstats
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

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
    wait_until,
)

SETTINGS_MODULE = "tests.performance.bench_settings"
APPLICATION = "tests.performance.timed_asgi:application"
TARGET_P95_MS = 100.0
TARGET_RATIO = 0.15
QUEUE_ROWS = 25
QUEUE_PATH = "/queue/"
QUERY_COUNT_TICKETS = 40
SLOW_QUERIES_SHOWN = 3


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()
    return bench(args)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("--customers", type=int, default=1_500_000, help="default: %(default)s")
    add("--pods", type=int, default=25, help="default: %(default)s")
    add("--tickets", type=int, default=4_000_000, help="default: %(default)s")
    add("--seed", type=int, default=2026)
    add("--runs", type=int, default=3, help="figures are their medians")
    add("--samples", type=int, default=200, help="requests per page per run")
    add("--ticket-sample", type=int, default=200, help="distinct tickets opened")
    add("--connections", type=int, default=8, help="closed loop connections")
    add("--phase-seconds", type=float, default=20.0)
    add("--warmup-seconds", type=float, default=3.0)
    add("--web-workers", type=int, default=1, help="uvicorn worker processes")
    add(
        "--web-conn-max-age",
        type=int,
        default=0,
        help="DATABASE_CONN_MAX_AGE of the web process (see docs/benchmarks.md)",
    )
    add("--pod-number", type=int, default=1, help="which generated pod's agent")
    add("--chunk-tickets", type=int, default=None, help=argparse.SUPPRESS)
    add("--profile", action="store_true", help="cProfile and EXPLAIN the pages")
    add("--report-dir", type=Path, default=REPORTS_DIR, help=argparse.SUPPRESS)
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
    subject = subject_choose(args)
    report["subject"] = subject.description()
    say(f"measuring as {subject.username} of pod {subject.pod_name}")
    report["queries"] = query_counts(subject)
    report["in_process"] = pages_in_process(subject)
    if args.profile:
        report["profile"] = profile_pages(subject, stamp=stamp, folder=args.report_dir)
    folder = Path(tempfile.mkdtemp(prefix="bench-workspace-"))
    server = WebServer(folder=folder, args=args)
    try:
        server.start()
        report["server"] = server.description()
        plan = server.plan(subject)
        report["runs"] = [
            run_once(server=server, plan=plan, args=args, number=number)
            for number in range(args.runs)
        ]
    finally:
        server.stop()
    report["summary"] = summary(report["runs"])
    report["checks"] = checks(report)
    report["load_average_end"] = os.getloadavg()
    markdown = report_markdown(report)
    reports = args.report_dir
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"workspace-{stamp}.json").write_text(
        json.dumps(report, indent=2, default=str)
    )
    (reports / f"workspace-{stamp}.md").write_text(markdown)
    print(markdown)
    say(f"report written to {reports / f'workspace-{stamp}.md'} (logs in {folder})")
    return 0 if targets_met(report) and all(report["checks"].values()) else 1


def say(text: str) -> None:
    sys.stderr.write(f"[bench {datetime.now():%H:%M:%S}] {text}\n")
    sys.stderr.flush()


def code_version() -> dict:
    """The commit measured, and which files of the apps differ from it."""
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "modified": git("status", "--porcelain", "pods", "tickets", "helpdesk")
        .replace("\n", "; ")
        .strip(),
    }


# --- Data set -------------------------------------------------------------------------


def prepare(args: argparse.Namespace) -> dict:
    """Migrate, then generate the pods volume and the tickets on it when the
    database does not hold them yet (a database holding another volume is
    refused)."""
    from django.core.management import call_command
    from django.utils import timezone

    from tests.performance import pods_volume, tickets_volume

    call_command("migrate", verbosity=0, interactive=False)
    now = timezone.now()
    generation: dict = {}
    if pods_volume.volume_present(customers=args.customers, pods_count=args.pods):
        say(f"{args.customers:,} customers in {args.pods} pods already present")
        generation["pods"] = {"generated": False}
    elif tickets_volume.volume_state() is not None:
        raise SystemExit("the database holds tickets of another volume")
    else:
        say(f"generating {args.customers:,} customers in {args.pods} pods")
        made = pods_volume.volume_generate(
            customers=args.customers, pods_count=args.pods, seed=args.seed, now=now
        )
        generation["pods"] = {"generated": True, "seconds": round(made.seconds, 1)}
    say(f"tickets: {args.tickets:,} (generated or resumed when missing)")
    options = {"chunk_tickets": args.chunk_tickets} if args.chunk_tickets else {}
    made = tickets_volume.volume_generate(
        tickets=args.tickets, seed=args.seed, now=now, say=say, **options
    )
    generation["tickets"] = {
        "generated": made.generated,
        "seconds": round(made.seconds, 1),
        "steps": {name: round(value, 1) for name, value in made.steps.items()},
    }
    return generation


def dataset_figures() -> dict:
    from django.db import connection

    queries = {
        "pods": "SELECT count(*) FROM pods_pod",
        "agents": "SELECT count(*) FROM pods_agent",
        "customers": "SELECT count(*) FROM pods_customer",
        "tickets": "SELECT count(*) FROM tickets_ticket",
        "open_tickets": "SELECT count(*) FROM tickets_ticket"
        " WHERE status IN ('NEW', 'OPEN', 'PENDING')",
        "messages": "SELECT count(*) FROM tickets_message",
        "call_records": "SELECT count(*) FROM tickets_callrecord",
        "database_bytes": "SELECT pg_database_size(current_database())",
    }
    figures = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            figures[name] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT status, count(*) FROM tickets_ticket GROUP BY status ORDER BY 1"
        )
        figures["tickets_by_status"] = dict(cursor.fetchall())
    return figures


# --- Who measures, and what -------------------------------------------------------


class Subject:
    """The signed-in agent, their pod, and the tickets whose pages are opened."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)

    def description(self) -> dict:
        return {
            "pod": self.pod_name,
            "agent": self.username,
            "pod_open_tickets": self.pod_open,
            "pod_unassigned_workable": self.pod_unassigned,
            "pod_tickets": self.pod_tickets,
            "tickets_sampled": len(self.ticket_ids),
            "messages_per_sampled_ticket": self.message_figures,
        }


def subject_choose(args: argparse.Namespace) -> Subject:
    """The agent of the chosen pod holding the most open tickets, and a seeded
    sample of the pod's tickets, half open and half solved or closed."""
    from django.db import connection

    from pods.models import Agent, Pod
    from tests.performance import pods_volume

    name = f"{pods_volume.BASE_POD_PREFIX} {args.pod_number:02d}"
    pod = Pod.objects.get(name=name)
    agent = (
        Agent.objects.filter(pod=pod, role=Agent.Role.AGENT, left_on__isnull=True)
        .select_related("user")
        .order_by("-open_ticket_count", "id")
        .first()
    )
    half = args.ticket_sample // 2
    with connection.cursor() as cursor:
        ids: list[int] = []
        for statuses in (("NEW", "OPEN", "PENDING"), ("SOLVED", "CLOSED")):
            cursor.execute(
                "SELECT id FROM tickets_ticket WHERE pod_id = %s AND status IN %s"
                " ORDER BY md5(id::text || %s) LIMIT %s",
                [pod.id, statuses, str(args.seed), half],
            )
            ids.extend(row[0] for row in cursor.fetchall())
        cursor.execute(
            "SELECT ticket_id, count(*) FROM tickets_message"
            " WHERE ticket_id = ANY(%s) GROUP BY ticket_id",
            [ids],
        )
        messages = dict(cursor.fetchall())
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status IN ('NEW', 'OPEN', 'PENDING')),"
            " count(*) FILTER (WHERE status IN ('NEW', 'OPEN')"
            "                  AND assignee_id IS NULL), count(*)"
            " FROM tickets_ticket WHERE pod_id = %s",
            [pod.id],
        )
        pod_open, pod_unassigned, pod_tickets = cursor.fetchone()
    counts = sorted(messages.get(ticket_id, 0) for ticket_id in ids)
    return Subject(
        pod_id=pod.id,
        pod_name=pod.name,
        agent_id=agent.id,
        user=agent.user,
        username=agent.user.username,
        ticket_ids=ids,
        messages=messages,
        pod_open=pod_open,
        pod_unassigned=pod_unassigned,
        pod_tickets=pod_tickets,
        message_figures={
            "median": statistics.median(counts) if counts else 0,
            "mean": round(statistics.fmean(counts), 2) if counts else 0,
            "max": max(counts, default=0),
        },
    )


# --- Queries per page, in-process ----------------------------------------------------


def _client(user):
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def _captured(client, path: str) -> tuple[int, list[dict]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}")
    return len(captured), list(captured.captured_queries)


def query_counts(subject: Subject) -> dict:
    """Queries of each page, rendered in-process with the signed-in agent: the
    queue page of two views (unassigned, all open: different sizes), ticket pages
    of up to QUERY_COUNT_TICKETS sampled tickets grouped by channel and state (a
    count must not depend on the thread's length), and the bare view."""
    from tickets.models import Ticket

    client = _client(subject.user)
    client.get(QUEUE_PATH)  # warm: templates, translations
    queue, queue_sql = _captured(client, QUEUE_PATH)
    queue_open, _ = _captured(client, QUEUE_PATH + "?view=open")
    sampled = subject.ticket_ids[
        :: max(1, len(subject.ticket_ids) // QUERY_COUNT_TICKETS)
    ]
    kinds = dict(Ticket.objects.filter(id__in=sampled).values_list("id", "channel"))
    by_kind: dict[str, dict[int, int]] = defaultdict(dict)
    slowest_ticket: list[dict] = []
    for ticket_id in sampled:
        count, sql = _captured(client, f"/tickets/{ticket_id}/")
        kind = kinds[ticket_id]
        by_kind[kind][subject.messages.get(ticket_id, 0)] = count
        slowest_ticket = _slowest(slowest_ticket + _timed(sql))
    ceiling, _ = _captured(client, f"/bench/pk/{subject.ticket_ids[0]}/")
    constant = all(len(set(counts.values())) == 1 for counts in by_kind.values())
    return {
        "queue_unassigned": queue,
        "queue_all_open": queue_open,
        "ticket_by_channel_and_messages": {
            kind: dict(sorted(counts.items())) for kind, counts in by_kind.items()
        },
        "ticket_constant_per_channel": constant,
        "ceiling": ceiling,
        "slowest_queue_queries": _shortened(_slowest(_timed(queue_sql))),
        "slowest_ticket_queries": _shortened(slowest_ticket),
    }


def _timed(queries: list[dict]) -> list[dict]:
    """Captured queries as {"ms", "sql"}."""
    return [
        {"ms": round(float(query["time"]) * 1000, 2), "sql": query["sql"]}
        for query in queries
    ]


def _slowest(queries: list[dict]) -> list[dict]:
    """The slowest of some {"ms", "sql"} queries."""
    return sorted(queries, key=lambda query: query["ms"], reverse=True)[
        :SLOW_QUERIES_SHOWN
    ]


def _shortened(queries: list[dict]) -> list[dict]:
    return [{**query, "sql": query["sql"][:400]} for query in queries]


def pages_in_process(subject: Subject, *, count: int = 40) -> dict:
    """Each page rendered `count` times in this process (Django's test client,
    no server, no profiler): wall and CPU time per page. The CPU is Django's
    own (ORM, templates); wall less CPU is mostly waiting on PostgreSQL."""
    client = _client(subject.user)
    result = {}
    for name, paths in (
        ("queue", [QUEUE_PATH] * count),
        ("ticket", [f"/tickets/{i}/" for i in subject.ticket_ids[:count]]),
        ("ceiling", [f"/bench/pk/{i}/" for i in subject.ticket_ids[:count]]),
    ):
        for path in paths[:5]:
            client.get(path)  # warm: the pages' rows in PostgreSQL's cache
        wall, cpu = time.perf_counter(), time.process_time()
        for path in paths:
            client.get(path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        result[name] = {
            "requests": len(paths),
            "wall_ms": round(wall * 1000 / len(paths), 2),
            "cpu_ms": round(cpu * 1000 / len(paths), 2),
        }
    return result


def profile_pages(
    subject: Subject, *, stamp: str, folder: Path, count: int = 50
) -> dict:
    """cProfile of `count` queue pages and ticket pages rendered in-process, and
    EXPLAIN ANALYZE of each page's slowest queries."""
    from django.db import connection

    client = _client(subject.user)
    result = {}
    for name, paths in (
        ("queue", [QUEUE_PATH] * count),
        ("ticket", [f"/tickets/{ticket_id}/" for ticket_id in subject.ticket_ids]),
    ):
        paths = paths[:count]
        client.get(paths[0])
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for path in paths:
            client.get(path)
        profiler.disable()
        elapsed = time.perf_counter() - started
        target = folder / f"workspace-{stamp}-{name}.prof"
        folder.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(target)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        _, sql = _captured(client, paths[-1])
        plans = []
        with connection.cursor() as cursor:
            for query in _slowest(_timed(sql)):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plans.append(
                    {
                        "ms": query["ms"],
                        "sql": query["sql"],
                        "plan": "\n".join(row[0] for row in cursor.fetchall()),
                    }
                )
        result[name] = {
            "requests": len(paths),
            "ms_per_request_in_process": round(elapsed / len(paths) * 1000, 2),
            "profile_file": str(target),
            "top_cumulative": out.getvalue()[-6000:],
            "explain": plans,
        }
    return result


# --- The web server ----------------------------------------------------------------


class WebServer:
    """uvicorn serving the timed application, in a session of its own so that
    it and its workers stop together (by process group id)."""

    def __init__(self, *, folder: Path, args: argparse.Namespace) -> None:
        from django.db import connection

        self.folder = folder
        self.args = args
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        db = connection.settings_dict
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DATABASE_URL": (
                f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}"
                f"/{db['NAME']}"
            ),
            "DATABASE_CONN_MAX_AGE": str(args.web_conn_max_age),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        # The pages read nothing from Redis: no broker or cache of our own.
        self.env.pop("REDIS_URL", None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def description(self) -> dict:
        from importlib.metadata import version

        return {
            "web": f"uvicorn {version('uvicorn')} {APPLICATION}"
            f" --workers {self.args.web_workers}"
            f" (DATABASE_CONN_MAX_AGE={self.args.web_conn_max_age})",
            "settings": SETTINGS_MODULE,
            "load_generator": "tests.performance.workspace_load (own process)",
        }

    def start(self) -> None:
        log = (self.folder / "web.log").open("ab")
        # The pages link their CSS and scripts through the static files'
        # manifest, as deployed: collected with the server's own settings.
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                APPLICATION,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.args.web_workers),
                "--log-level",
                "warning",
                "--no-access-log",
                "--lifespan",
                "off",
                "--timeout-keep-alive",
                "75",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._ready, timeout=60, what="uvicorn", say=say)
        say(f"uvicorn pid {self.process.pid} on port {self.port}")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"uvicorn exited; see {self.folder / 'web.log'}")
        if not port_open(self.port):
            return False
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/healthz", timeout=2
            ) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def pids(self) -> list[int]:
        return process_tree(self.process.pid) if self.process else []

    def sign_in(self, user) -> str:
        """Sign in through the login form with a password set for this run;
        return the Cookie header the load generator sends."""
        from django.conf import settings
        from django.contrib.auth.hashers import PBKDF2PasswordHasher

        password = secrets.token_urlsafe(18)
        # The server's hasher (Django's default), whatever this process's
        # settings prefer (the test settings' is not among the server's).
        hasher = PBKDF2PasswordHasher()
        user.password = hasher.encode(password, hasher.salt())
        user.save(update_fields=["password"])
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("GET", "/accounts/login/")
        answer = conn.getresponse()
        page = answer.read()
        csrf = _cookie(answer, settings.CSRF_COOKIE_NAME)
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if answer.status != 200 or csrf is None or token is None:
            raise RuntimeError(f"login page answered {answer.status} without a token")
        conn.request(
            "POST",
            "/accounts/login/",
            body=urlencode(
                {
                    "username": user.username,
                    "password": password,
                    "csrfmiddlewaretoken": token.group(1).decode(),
                }
            ),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"{settings.CSRF_COOKIE_NAME}={csrf}",
            },
        )
        answer = conn.getresponse()
        answer.read()
        session = _cookie(answer, settings.SESSION_COOKIE_NAME)
        conn.close()
        if answer.status != 302 or session is None:
            raise RuntimeError(f"signing in answered {answer.status}, no session")
        return (
            f"{settings.SESSION_COOKIE_NAME}={session};"
            f" {settings.CSRF_COOKIE_NAME}={csrf}"
        )

    def plan(self, subject: Subject) -> Path:
        path = self.folder / "plan.json"
        path.write_text(
            json.dumps(
                {
                    "url": self.url,
                    "cookie": self.sign_in(subject.user),
                    "targets": {
                        "queue": [QUEUE_PATH],
                        "ticket": [f"/tickets/{i}/" for i in subject.ticket_ids],
                        "ceiling": [f"/bench/pk/{i}/" for i in subject.ticket_ids],
                    },
                }
            )
        )
        return path

    def load(self, *, plan: Path, **options) -> dict:
        """Run the load generator to its end; return its result."""
        out = self.folder / f"result-{time.time_ns()}.json"
        command = [
            sys.executable,
            "-m",
            "tests.performance.workspace_load",
            "--plan",
            str(plan),
            "--out",
            str(out),
        ]
        for name, value in options.items():
            command += [f"--{name.replace('_', '-')}", str(value)]
        subprocess.run(command, cwd=ROOT, env=self.env, check=True)
        return json.loads(out.read_text())


def _cookie(answer: http.client.HTTPResponse, name: str) -> str | None:
    for header in answer.headers.get_all("Set-Cookie") or []:
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    return None


# --- One run -------------------------------------------------------------------------


def run_once(
    *, server: WebServer, plan: Path, args: argparse.Namespace, number: int
) -> dict:
    say(f"run {number + 1}/{args.runs}: latency, {args.samples} requests per page")
    run: dict = {"load_average_before": os.getloadavg()}
    run["latency"] = server.load(plan=plan, mode="latency", count=args.samples)
    run["load_average_after_latency"] = os.getloadavg()
    order = ["ceiling", "queue"] if number % 2 == 0 else ["queue", "ceiling"]
    run["throughput"] = {}
    for target in order:
        pids = server.pids()
        cpu = cpu_seconds(pids)
        started = time.perf_counter()
        result = server.load(
            plan=plan,
            mode="throughput",
            target=target,
            connections=args.connections,
            warmup=args.warmup_seconds,
            seconds=args.phase_seconds,
        )
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pids) - cpu
        result["web_cpu_share"] = round(cpu / wall, 2)
        # Load-independent: what one answer cost the web process, warm-up included.
        result["web_cpu_ms_per_request"] = round(
            cpu * 1000 / max(result["answered_in_all"], 1), 2
        )
        result["web_rss_mb"] = round(sum(rss_mb(pid) for pid in pids), 1)
        result["load_average_after"] = os.getloadavg()
        run["throughput"][target] = result
        say(
            f"  {target}: {result['rps']} req/s, client p95"
            f" {result['client'].get('p95_ms')} ms, load"
            f" {fmt_load(result['load_average_after'])}"
        )
    queue_rps = run["throughput"]["queue"]["rps"]
    ceiling_rps = run["throughput"]["ceiling"]["rps"]
    run["ratio"] = round(queue_rps / ceiling_rps, 3) if ceiling_rps else None
    latency = run["latency"]
    say(
        f"  server p95: queue {latency['queue']['server'].get('p95_ms')} ms, ticket"
        f" {latency['ticket']['server'].get('p95_ms')} ms; ratio {run['ratio']}"
    )
    return run


# --- Summary, checks, report ----------------------------------------------------------


def _median(values: list) -> float | None:
    values = [value for value in values if value is not None]
    return round(statistics.median(values), 3) if values else None


def summary(runs: list[dict]) -> dict:
    pages = {}
    for page in ("queue", "ticket", "ceiling"):
        pages[page] = {
            f"{side}_{figure}": _median(
                [run["latency"][page][side].get(f"{figure}_ms") for run in runs]
            )
            for side in ("server", "client")
            for figure in ("p50", "p95", "p99")
        }
    throughput = {
        target: {
            "rps": _median([run["throughput"][target]["rps"] for run in runs]),
            "client_p95_ms": _median(
                [run["throughput"][target]["client"].get("p95_ms") for run in runs]
            ),
            "server_p95_ms": _median(
                [run["throughput"][target]["server"].get("p95_ms") for run in runs]
            ),
            "web_cpu_share": _median(
                [run["throughput"][target]["web_cpu_share"] for run in runs]
            ),
            "web_cpu_ms_per_request": _median(
                [run["throughput"][target]["web_cpu_ms_per_request"] for run in runs]
            ),
        }
        for target in ("queue", "ceiling")
    }
    return {
        "pages": pages,
        "throughput": throughput,
        "ratio": _median([run["ratio"] for run in runs]),
        "ratios": [run["ratio"] for run in runs],
        "load_averages": [
            [
                run["load_average_before"][0],
                *(
                    run["throughput"][t]["load_average_after"][0]
                    for t in ("ceiling", "queue")
                ),
            ]
            for run in runs
        ],
    }


def checks(report: dict) -> dict:
    """What must hold for the figures to mean anything."""
    runs = report["runs"]
    rows = Counter()
    errors = 0
    for run in runs:
        for result in run["latency"].values():
            errors += sum(n for code, n in result["statuses"].items() if code != "200")
        rows.update(run["latency"]["queue"]["rows"])
        for result in run["throughput"].values():
            errors += sum(n for code, n in result["statuses"].items() if code != "200")
            errors += sum(result["client_failures"].values())
    queries = report["queries"]
    shown = min(QUEUE_ROWS, report["subject"]["pod_unassigned_workable"])
    return {
        "queue_shows_its_first_rows": set(rows) == {str(shown)},
        "no_errors": errors == 0,
        "ticket_queries_constant": queries["ticket_constant_per_channel"],
        "queue_queries_same_for_both_views": (
            queries["queue_unassigned"] == queries["queue_all_open"]
        ),
    }


def targets_met(report: dict) -> bool:
    pages = report["summary"]["pages"]
    ratio = report["summary"]["ratio"]
    return (
        (pages["queue"]["server_p95"] or 1e9) < TARGET_P95_MS
        and (pages["ticket"]["server_p95"] or 1e9) < TARGET_P95_MS
        and (ratio or 0) >= TARGET_RATIO
    )


def _met(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def report_markdown(report: dict) -> str:
    data = report["dataset"]
    subject = report["subject"]
    summ = report["summary"]
    pages = summ["pages"]
    through = summ["throughput"]
    queries = report["queries"]
    args = report["arguments"]
    lines = [
        f"# Workspace benchmark, {report['started_at'][:16]}",
        "",
        f"Commit {report['code']['commit']}"
        + (" (apps modified)" if report["code"]["modified"] else "")
        + f"; PostgreSQL {report['postgresql']['server_version']},"
        f" shared_buffers {report['postgresql']['shared_buffers']};"
        f" {report['machine']['cpus']} CPUs; {report['server']['web']}.",
        "",
        f"Data set: {data['customers']:,} customers in {data['pods']} pods,"
        f" {data['tickets']:,} tickets ({data['open_tickets']:,} open),"
        f" {data['messages']:,} messages, {data['call_records']:,} call records;"
        f" database {data['database_bytes'] / 2**30:.1f} GiB.",
        f"Measured as {subject['agent']} of {subject['pod']}"
        f" ({subject['pod_tickets']:,} tickets, {subject['pod_open_tickets']:,} open,"
        f" {subject['pod_unassigned_workable']:,} unassigned in the default view);"
        f" {subject['tickets_sampled']} ticket pages with"
        f" {subject['messages_per_sampled_ticket']['mean']} messages on average"
        f" (median {subject['messages_per_sampled_ticket']['median']},"
        f" max {subject['messages_per_sampled_ticket']['max']}).",
        "",
        f"## Server time at low concurrency (medians of {args['runs']} runs,"
        f" {args['samples']} requests per page per run)",
        "",
        "| page | server p50 | server p95 | server p99 | client p50 | client p95"
        " | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for page, label in (
        ("queue", "queue page (25 rows)"),
        ("ticket", "ticket page"),
        ("ceiling", "bare PK view"),
    ):
        figures = pages[page]
        target = (
            f"p95 < {TARGET_P95_MS:.0f} ms:"
            f" {_met((figures['server_p95'] or 1e9) < TARGET_P95_MS)}"
            if page != "ceiling"
            else ""
        )
        lines.append(
            f"| {label} | {figures['server_p50']} ms | {figures['server_p95']} ms"
            f" | {figures['server_p99']} ms | {figures['client_p50']} ms"
            f" | {figures['client_p95']} ms | {target} |"
        )
    lines += [
        "",
        f"## Requests per second at saturation ({args['connections']} connections,"
        f" {args['phase_seconds']:.0f} s phases, medians of {args['runs']} runs)",
        "",
        "| view | req/s | client p95 | server p95 | web CPU share"
        " | web CPU per request |",
        "|---|---|---|---|---|---|",
    ]
    for target, label in (("ceiling", "bare PK view"), ("queue", "queue page")):
        figures = through[target]
        lines.append(
            f"| {label} | {figures['rps']} | {figures['client_p95_ms']} ms"
            f" | {figures['server_p95_ms']} ms | {figures['web_cpu_share']}"
            f" | {figures['web_cpu_ms_per_request']} ms |"
        )
    lines += [
        "",
        f"Queue page / bare view: **{summ['ratio']}** (runs:"
        f" {', '.join(str(r) for r in summ['ratios'])}); target"
        f" >= {TARGET_RATIO}: {_met((summ['ratio'] or 0) >= TARGET_RATIO)}.",
        "",
        "1-minute load average per run (before, after the bare view's phase,"
        " after the queue's): "
        + "; ".join(
            "/".join(f"{v:.2f}" for v in loads) for loads in summ["load_averages"]
        )
        + f"; at the end {fmt_load(report['load_average_end'])}.",
        "",
        "In-process (Django's test client, no server), per page: "
        + "; ".join(
            f"{page} {figures['wall_ms']} ms ({figures['cpu_ms']} ms CPU)"
            for page, figures in report["in_process"].items()
        )
        + ".",
        "",
        "## Queries per page",
        "",
        f"- queue page: {queries['queue_unassigned']} (unassigned view),"
        f" {queries['queue_all_open']} (all open)",
        "- ticket page, by channel (messages in the thread: queries): "
        + "; ".join(
            f"{kind} " + ", ".join(f"{m}: {q}" for m, q in counts.items())
            for kind, counts in queries["ticket_by_channel_and_messages"].items()
        ),
        f"- bare PK view: {queries['ceiling']}",
        "",
        "Checks: "
        + ", ".join(
            f"{name} {'ok' if ok else 'FAILED'}"
            for name, ok in report["checks"].items()
        )
        + ".",
    ]
    if "profile" in report:
        lines += ["", "## Profile (in-process)", ""]
        for page, result in report["profile"].items():
            lines.append(
                f"- {page}: {result['ms_per_request_in_process']} ms per request"
                f" in-process; cProfile in {result['profile_file']}"
            )
    generation = report["generation"]
    lines += [
        "",
        f"Generation: {json.dumps(generation)}",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
