"""Benchmark the pod dashboards at volume: the server time of a whole pod
dashboard and of the organisation view, per period, against 150 ms at p95.

    DATABASE_URL=postgres://... .venv/bin/python -m tests.performance.bench_dashboard \\
        [--runs 3] [--iterations 50] [--periods 1,7,30,90] [--refresh auto]

The data set is the workspace benchmark's (1.5 million customers in 25 pods, 4
million tickets with about 15 million messages: bench_workspace generates what
is missing), plus what the dashboards read (tests/performance/dashboard_volume.py:
surveys, reply templates and their uses, reopens, authority requests, grants,
ledger and usage), added once in bulk SQL.

Then the rollups are refreshed as the beat tasks would (`--refresh`: `full`
recomputes the last 90 local days of every pod, as the nightly task;
`minute` today and yesterday, as the task every minute; `auto` full when the
period rows are missing, else minute; `none`), each command timed.

Starts uvicorn on 127.0.0.1 (stopped by process id at the end) serving the
project's ASGI application wrapped by tests.performance.timed_asgi (every answer
carries the server's own time, Server-Timing), signs in through the login form
as the lead of one pod and as an admin, and, from a second process
(tests/performance/dashboard_load.py), in each of `--runs` runs requests for
every period: the pod dashboard as its lead and as an admin, and the
organisation view as an admin, `--iterations` times each. A view is what a
browser requests for it: its page, and every panel the page leaves for htmx to
load (its `hx-get` attributes). A panel the page renders into itself (the
pods panel tag: `data-panel-src` without `hx-get`) is part of the page's own
server time and not requested again; the report lists them as inlined. A URL
name of the shared contract that does not exist yet, or that the page neither
inlines nor includes, is skipped with a message. Per URL and per whole view
(the sum of the server times of its requests in one iteration): median and
p95 of the server time; every figure is the median of the runs, next to the
load average. The query count of each URL is taken
in-process first. `--profile` adds cProfile files of each view rendered
in-process and EXPLAIN ANALYZE of its slowest queries.

Writes tests/performance/reports/dashboard-<timestamp>.json and .md (and prints
the Markdown). Exits 1 when a target is missed or a check fails.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from html import unescape
from pathlib import Path

from tests.performance._common import (
    REPORTS_DIR,
    ROOT,
    fmt_load,
    machine,
    postgresql_settings,
)
from tests.performance.bench_workspace import (
    SETTINGS_MODULE,
    WebServer,
    _shortened,
    _slowest,
    _timed,
    code_version,
)

TARGET_P95_MS = 150.0
PERIODS = (1, 7, 30, 90)
ADMIN_USERNAME = "bench-dashboard-admin"
# The shared contract (notes/dashboards.md): each view's page and its panels.
VIEWS = {
    "pod": {
        "label": "pod dashboard",
        "page": "pod-dashboard",
        "panels": ("pod-figures-live", "pod-figures", "pod-authority-figures"),
        "per_pod": True,
    },
    # The floor: as many bare primary-key reads (tests/performance/bench_urls.py)
    # as a pod dashboard makes requests, through the same server and middleware.
    "ceiling": {
        "label": "bare PK view x4 (floor)",
        "page": "bench-pk",
        "panels": (),
        "per_pod": False,
    },
    "organisation": {
        "label": "organisation view",
        "page": "organisation",
        "panels": ("organisation-figures", "organisation-authority-figures"),
        "per_pod": False,
    },
}
# (view, who looks at it)
SCENARIOS = (("pod", "lead"), ("pod", "admin"), ("organisation", "admin"))
# (command, what it refreshes); --days of the nightly and the per-minute task.
REFRESH_COMMANDS = (
    ("refresh_figures", "tickets figures"),
    ("refresh_authority_figures", "authority figures"),
)
REFRESH_DAYS = {"full": 90, "minute": 2}
HX_GET = re.compile(r'hx-get="([^"]+)"')
# A panel slot says where its panel comes from, inlined or not.
PANEL_SRC = re.compile(r'data-panel-src="([^"]+)"')
IN_PROCESS_REQUESTS = 10
SLOW_QUERIES_SHOWN = 3


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    # Read by the settings, here and in the web process.
    os.environ["BENCH_PANEL_CACHE"] = args.panel_cache
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
    add("--iterations", type=int, default=50, help="per view and period, per run")
    add("--warmup", type=int, default=5, help="iterations not counted, per view")
    add("--periods", default=",".join(str(p) for p in PERIODS))
    add(
        "--refresh",
        choices=("auto", "full", "minute", "none"),
        default="auto",
        help="rollup refresh before measuring (default: %(default)s)",
    )
    add("--web-workers", type=int, default=1, help="uvicorn worker processes")
    add(
        "--web-conn-max-age",
        type=int,
        default=0,
        help="DATABASE_CONN_MAX_AGE of the web process (see docs/benchmarks.md)",
    )
    add("--pod-number", type=int, default=1, help="which generated pod's lead")
    add(
        "--panel-cache",
        choices=("on", "off"),
        default="on",
        help="off: no cache, every panel rendered afresh (just after a refresh)",
    )
    add("--chunk-tickets", type=int, default=None, help=argparse.SUPPRESS)
    add("--profile", action="store_true", help="cProfile and EXPLAIN the views")
    add("--report-dir", type=Path, default=REPORTS_DIR, help=argparse.SUPPRESS)
    return parser


def bench(args: argparse.Namespace) -> int:
    from django.db import connection

    from tests.performance import bench_workspace, dashboard_volume

    if connection.vendor != "postgresql":
        sys.stderr.write("DATABASE_URL must point at PostgreSQL (postgres://...)\n")
        return 2
    periods = [int(p) for p in args.periods.split(",")]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    report: dict = {
        "started_at": datetime.now().astimezone().isoformat(),
        "arguments": {**vars(args), "report_dir": str(args.report_dir)},
        "machine": machine(),
        "code": code_version(),
        "postgresql": postgresql_settings(),
    }
    say("migrating and checking the data set")
    report["generation"] = bench_workspace.prepare(args)
    report["generation"]["dashboard"] = dashboard_volume.volume_augment(
        seed=args.seed, say=say
    )
    report["dataset"] = {
        **bench_workspace.dataset_figures(),
        **dashboard_volume.dataset_figures(),
    }
    subjects = subjects_choose(args)
    report["subjects"] = {who: s.description() for who, s in subjects.items()}
    report["refresh"] = rollups_refresh(mode=args.refresh, subjects=subjects)
    report["rollups"] = rollups_present(subjects=subjects, periods=periods)
    views, skipped = views_discover(subjects=subjects, periods=periods)
    report["skipped"] = skipped
    for message in skipped:
        say(f"skipped: {message}")
    if not views:
        say("nothing to measure: no dashboard URL exists yet")
        report["views"], report["runs"], report["summary"] = {}, [], {}
        return report_write(report, stamp=stamp, folder=args.report_dir)
    views["ceiling"] = ceiling_view(subjects["admin"])
    report["views"] = views
    report["in_process"] = in_process_figures(subjects=subjects, views=views)
    if args.profile:
        report["profile"] = views_profile(
            subjects=subjects, views=views, stamp=stamp, folder=args.report_dir
        )
    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    server = WebServer(folder=folder, args=args)
    try:
        server.start()
        report["server"] = {
            **server.description(),
            "load_generator": "tests.performance.dashboard_load (own process)",
        }
        cookies = {who: server.sign_in(s.user) for who, s in subjects.items()}
        report["runs"] = [
            run_once(
                server=server,
                views=views,
                cookies=cookies,
                args=args,
                number=number,
                folder=folder,
            )
            for number in range(args.runs)
        ]
    finally:
        server.stop()
    report["summary"] = summary(report["runs"], views=views)
    report["load_average_end"] = os.getloadavg()
    say(f"logs in {folder}")
    return report_write(report, stamp=stamp, folder=args.report_dir)


def say(text: str) -> None:
    sys.stderr.write(f"[bench {datetime.now():%H:%M:%S}] {text}\n")
    sys.stderr.flush()


# --- Who looks -----------------------------------------------------------------------


class Subject:
    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)

    def description(self) -> dict:
        return {"user": self.username, "pod": self.pod_name, "role": self.role}


def subjects_choose(args: argparse.Namespace) -> dict[str, Subject]:
    """The lead of the chosen generated pod, and an admin (a user of the admins'
    group made for the benchmark, not a superuser: the permission checks run
    as they would for a real admin)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from pods.models import Agent, Pod
    from pods.services import ADMIN_GROUP
    from tests.performance import pods_volume

    pod = Pod.objects.get(name=f"{pods_volume.BASE_POD_PREFIX} {args.pod_number:02d}")
    lead = (
        Agent.objects.filter(pod=pod, role=Agent.Role.LEAD, left_on__isnull=True)
        .select_related("user")
        .order_by("id")
        .first()
    )
    admin, _ = get_user_model().objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={"is_staff": True, "first_name": "Bench", "last_name": "Admin"},
    )
    admin.groups.add(Group.objects.get(name=ADMIN_GROUP))
    common = {"pod_id": pod.id, "pod_name": pod.name}
    return {
        "lead": Subject(
            user=lead.user, username=lead.user.username, role="pod lead", **common
        ),
        "admin": Subject(user=admin, username=admin.username, role="admin", **common),
    }


# --- Rollups -------------------------------------------------------------------------


def rollups_refresh(*, mode: str, subjects: dict[str, Subject]) -> dict:
    """Run the refresh commands that exist (timed), as the nightly task (`full`)
    or the per-minute one (`minute`); `auto`: full when the period rows are
    missing."""
    from django.core.management import call_command, get_commands

    if mode == "auto":
        present = rollups_present(subjects=subjects, periods=[90])
        mode = "minute" if present.get("tickets_90") else "full"
    result: dict = {"mode": mode, "commands": {}}
    if mode == "none":
        return result
    days = REFRESH_DAYS[mode]
    commands = get_commands()
    for command, what in REFRESH_COMMANDS:
        if command not in commands:
            result["commands"][command] = {"skipped": "no such command yet"}
            say(f"skipped: refresh of {what}: `{command}` does not exist yet")
            continue
        say(f"refreshing {what}: {command} --days {days}")
        out = io.StringIO()
        load = os.getloadavg()
        started = time.perf_counter()
        call_command(command, days=days, stdout=out)
        seconds = time.perf_counter() - started
        result["commands"][command] = {
            "days": days,
            "seconds": round(seconds, 1),
            "output": out.getvalue().strip()[-500:],
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
        }
        say(f"  {seconds:.1f} s: {out.getvalue().strip()[-200:]}")
    return result


def rollups_present(*, subjects: dict[str, Subject], periods: list[int]) -> dict:
    """Whether the pages have period rows to read (a page without them would be
    fast for the wrong reason), and their "as of"."""
    import tickets.selectors

    pod_id = subjects["lead"].pod_id
    found: dict = {}
    reader = getattr(tickets.selectors, "pod_figures", None)
    for period in periods:
        figures = reader(pod_id=pod_id, period_days=period) if reader else None
        found[f"tickets_{period}"] = figures is not None
        if figures is not None and getattr(figures, "as_of", None):
            found[f"tickets_{period}_as_of"] = figures.as_of.isoformat()
    return found


# --- Which URLs make a view ----------------------------------------------------------


def _client(user):
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def _reverse(name: str, *, pod_id: int | None) -> str | None:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse(name, kwargs={"pod_id": pod_id} if pod_id else None)
    except NoReverseMatch:
        return None


def views_discover(
    *, subjects: dict[str, Subject], periods: list[int]
) -> tuple[dict, list[str]]:
    """Per scenario and period, the URLs to request: the page, then each panel
    the page includes (its hx-get URLs, in order). A page that does not exist
    yet leaves the contract's panels that do; a contract panel the page does
    not include is reported."""
    from django.urls import Resolver404, resolve

    views: dict = {}
    skipped: list[str] = []
    for view, who in SCENARIOS:
        spec = VIEWS[view]
        subject = subjects[who]
        pod_id = subject.pod_id if spec["per_pod"] else None
        page = _reverse(spec["page"], pod_id=pod_id)
        client = _client(subject.user)
        for period in periods:
            requests: list[list[str]] = []
            included: list[str] = []
            inlined: list[str] = []
            if page is None:
                if period == periods[0]:
                    skipped.append(
                        f"{spec['label']} ({who}): page `{spec['page']}`"
                        " (no such URL name yet)"
                    )
            else:
                path = f"{page}?period={period}"
                answer = client.get(path)
                if answer.status_code != 200:
                    raise RuntimeError(f"GET {path} as {who}: {answer.status_code}")
                requests.append([spec["page"], path])
                html = answer.content.decode()
                fetched = {unescape(url) for url in HX_GET.findall(html)}
                for found in HX_GET.findall(html):
                    found = unescape(found)
                    try:
                        name = resolve(found.split("?", 1)[0]).url_name
                    except Resolver404:
                        name = found
                    if name not in {n for n, _ in requests}:
                        requests.append([name or found, found])
                        included.append(name)
                for found in PANEL_SRC.findall(html):
                    found = unescape(found)
                    if found not in fetched:
                        inlined.append(resolve(found.split("?", 1)[0]).url_name)
            for panel in spec["panels"]:
                if panel in included or panel in inlined:
                    continue
                url = _reverse(panel, pod_id=pod_id)
                if period == periods[0] and (url is None or page is not None):
                    skipped.append(
                        f"{spec['label']} ({who}): panel `{panel}`"
                        + (
                            " (no such URL name yet)"
                            if url is None
                            else " exists but the page does not include it"
                            " (measured on its own)"
                        )
                    )
                if url is not None:
                    requests.append([panel, f"{url}?period={period}"])
            if requests:
                views[f"{view}-{who}-{period}"] = {
                    "view": view,
                    "user": who,
                    "period": period,
                    "requests": requests,
                    "inlined": inlined,
                }
    return views, skipped


def ceiling_view(subject: Subject) -> dict:
    """Four bare primary-key reads of the pod's tickets: what four requests
    cost through this server whatever they do (session, user, connection)."""
    from tickets.models import Ticket

    ids = Ticket.objects.filter(pod_id=subject.pod_id).order_by("id")[:4]
    return {
        "view": "ceiling",
        "user": "admin",
        "period": 0,
        "requests": [
            [f"bench-pk-{number + 1}", f"/bench/pk/{ticket.id}/"]
            for number, ticket in enumerate(ids)
        ],
    }


# --- In-process figures ------------------------------------------------------------


def in_process_figures(*, subjects: dict[str, Subject], views: dict) -> dict:
    """Per URL of each view: its queries (count and the slowest), and its wall
    and CPU time rendered in this process (Django's test client, warm)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result: dict = {}
    for key, view in views.items():
        client = _client(subjects[view["user"]].user)
        per_url = {}
        for name, path in view["requests"]:
            client.get(path)  # warm
            with CaptureQueriesContext(connection) as captured:
                status = client.get(path).status_code
            # Read now: the next request's start clears the connection's log.
            queries = _timed(captured.captured_queries)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(IN_PROCESS_REQUESTS):
                client.get(path)
            wall = (time.perf_counter() - wall) * 1000 / IN_PROCESS_REQUESTS
            cpu = (time.process_time() - cpu) * 1000 / IN_PROCESS_REQUESTS
            per_url[name] = {
                "status": status,
                "queries": len(queries),
                "sql_ms": round(sum(q["ms"] for q in queries), 2),
                "wall_ms": round(wall, 2),
                "cpu_ms": round(cpu, 2),
                "slowest_queries": _shortened(_slowest(queries)),
            }
        result[key] = per_url
    return result


def views_profile(
    *, subjects: dict[str, Subject], views: dict, stamp: str, folder: Path
) -> dict:
    """cProfile of each view (page and panels) rendered in-process 20 times at
    the longest period, and EXPLAIN ANALYZE of its slowest queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    longest = max(view["period"] for view in views.values())
    result: dict = {}
    folder.mkdir(parents=True, exist_ok=True)
    for key, view in views.items():
        if view["period"] != longest:
            continue
        client = _client(subjects[view["user"]].user)
        paths = [path for _name, path in view["requests"]]
        for path in paths:
            client.get(path)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(20):
            for path in paths:
                client.get(path)
        profiler.disable()
        elapsed = (time.perf_counter() - started) * 1000 / 20
        target = folder / f"dashboard-{stamp}-{key}.prof"
        profiler.dump_stats(target)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
        with CaptureQueriesContext(connection) as captured:
            for path in paths:
                client.get(path)
        plans = []
        with connection.cursor() as cursor:
            for query in _slowest(_timed(captured.captured_queries)):
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                plans.append(
                    {
                        "ms": query["ms"],
                        "sql": query["sql"],
                        "plan": "\n".join(row[0] for row in cursor.fetchall()),
                    }
                )
        result[key] = {
            "ms_per_view_in_process": round(elapsed, 2),
            "profile_file": str(target),
            "top_cumulative": out.getvalue()[-8000:],
            "explain": plans,
        }
    return result


# --- One run -----------------------------------------------------------------------


def run_once(
    *,
    server: WebServer,
    views: dict,
    cookies: dict,
    args: argparse.Namespace,
    number: int,
    folder: Path,
) -> dict:
    """Every view and period once, in an order reversed every other run."""
    keys = list(views)
    if number % 2:
        keys.reverse()
    plan = folder / f"plan-{number}.json"
    plan.write_text(
        json.dumps(
            {
                "url": server.url,
                "cookies": cookies,
                "scenarios": [
                    {
                        "key": key,
                        "user": views[key]["user"],
                        "requests": views[key]["requests"],
                    }
                    for key in keys
                ],
            }
        )
    )
    say(
        f"run {number + 1}/{args.runs}: {len(keys)} views x"
        f" {args.iterations} iterations"
    )
    out = folder / f"result-{number}.json"
    load_before = os.getloadavg()
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.performance.dashboard_load",
            "--plan",
            str(plan),
            "--out",
            str(out),
            "--iterations",
            str(args.iterations),
            "--warmup",
            str(args.warmup),
        ],
        cwd=ROOT,
        env=server.env,
        check=True,
    )
    result = json.loads(out.read_text())
    run = {
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "scenarios": {s["key"]: s for s in result["scenarios"]},
        "reconnects": result["reconnects"],
    }
    for key in views:
        whole = run["scenarios"][key]["whole"]["server"]
        say(
            f"  {key}: whole view server p50 {whole.get('p50_ms')} ms,"
            f" p95 {whole.get('p95_ms')} ms"
        )
    say(f"  load {fmt_load(run['load_average_after'])}")
    return run


# --- Summary, checks, report ---------------------------------------------------------


def _median(values: list) -> float | None:
    values = [value for value in values if value is not None]
    return round(statistics.median(values), 2) if values else None


def summary(runs: list[dict], *, views: dict) -> dict:
    result: dict = {}
    for key, view in views.items():
        scenario = [run["scenarios"][key] for run in runs]
        urls = {}
        for name, _path in view["requests"]:
            urls[name] = {
                f"{side}_{figure}": _median(
                    [s["urls"][name][side].get(f"{figure}_ms") for s in scenario]
                )
                for side in ("server", "client")
                for figure in ("p50", "p95")
            }
            urls[name]["bytes"] = scenario[-1]["urls"][name]["bytes_median"]
            urls[name]["errors"] = sum(
                n
                for s in scenario
                for code, n in s["urls"][name]["statuses"].items()
                if code != "200"
            )
        result[key] = {
            **{k: view[k] for k in ("view", "user", "period")},
            "inlined": view.get("inlined", []),
            "urls": urls,
            "whole": {
                f"{side}_{figure}": _median(
                    [s["whole"][side].get(f"{figure}_ms") for s in scenario]
                )
                for side in ("server", "client")
                for figure in ("p50", "p95")
            },
            "whole_p95_runs": [s["whole"]["server"].get("p95_ms") for s in scenario],
        }
    return result


def checks(report: dict) -> dict:
    summ = report.get("summary", {})
    return {
        "views_measured": bool(summ),
        "no_errors": all(
            url["errors"] == 0
            for view in summ.values()
            for url in view["urls"].values()
        ),
        "rollups_present": all(
            value for key, value in report["rollups"].items() if "as_of" not in key
        ),
    }


def targets(report: dict) -> dict:
    return {
        key: (view["whole"]["server_p95"] or 1e9) < TARGET_P95_MS
        for key, view in report.get("summary", {}).items()
        if view["view"] != "ceiling"
    }


def report_write(report: dict, *, stamp: str, folder: Path) -> int:
    report["checks"] = checks(report)
    report["targets"] = targets(report)
    markdown = report_markdown(report)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"dashboard-{stamp}.json").write_text(
        json.dumps(report, indent=2, default=str)
    )
    (folder / f"dashboard-{stamp}.md").write_text(markdown)
    print(markdown)
    say(f"report written to {folder / f'dashboard-{stamp}.md'}")
    met = bool(report["targets"]) and all(report["targets"].values())
    return 0 if met and all(report["checks"].values()) else 1


def _met(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


def _target_text(ok: bool | None) -> str:
    return "" if ok is None else _met(ok)


def report_markdown(report: dict) -> str:
    data = report["dataset"]
    args = report["arguments"]
    lines = [
        f"# Dashboard benchmark, {report['started_at'][:16]}",
        "",
        f"Commit {report['code']['commit']}"
        + (" (apps modified)" if report["code"]["modified"] else "")
        + f"; PostgreSQL {report['postgresql']['server_version']},"
        f" shared_buffers {report['postgresql']['shared_buffers']};"
        f" {report['machine']['cpus']} CPUs"
        + (f"; {report['server']['web']}" if "server" in report else "")
        + f"; panel cache {args.get('panel_cache', 'on')}.",
        "",
        f"Data set: {data['customers']:,} customers in {data['pods']} pods,"
        f" {data['tickets']:,} tickets ({data['solved_tickets']:,} solved,"
        f" {data['reopened_tickets']:,} reopened), {data['messages']:,} messages;"
        f" {data['surveys_answered']:,} answered surveys of {data['surveys']:,};"
        f" {data['template_uses']:,} template uses of {data['reply_templates']}"
        f" templates ({data['outbound_messages']:,} replies);"
        f" {data['authority_requests']:,} authority requests"
        f" ({_counts(data['requests_by_state'])}), grants"
        f" {_counts(data['grants'])}, {data['ledger_entries']:,} ledger entries;"
        f" database {data['database_bytes'] / 2**30:.1f} GiB.",
        "",
        "Subjects: "
        + "; ".join(
            f"{who}: {s['user']} ({s['role']}, {s['pod']})"
            for who, s in report["subjects"].items()
        )
        + ".",
        "",
    ]
    refresh = report["refresh"]
    lines.append(f"Rollup refresh ({refresh['mode']}): " + _refresh_text(refresh))
    lines.append("")
    if report["skipped"]:
        lines += ["Skipped (not there yet):", ""]
        lines += [f"- {message}" for message in report["skipped"]]
        lines.append("")
    summ = report.get("summary") or {}
    if summ:
        lines += [
            f"## Whole views: server time, what a browser requests per iteration"
            f" (medians of {args['runs']} runs, {args['iterations']} iterations"
            " each)",
            "",
            "A view's requests are its page and the panels the page leaves to"
            " htmx; panels rendered into the page (inlined) are in the page's"
            " own server time.",
            "",
            "| view | as | period | requests | panels inlined | server p50"
            " | server p95 | client p95 | p95 per run | target p95 < 150 ms |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for key, view in summ.items():
            whole = view["whole"]
            lines.append(
                f"| {VIEWS[view['view']]['label']} | {view['user']}"
                f" | {view['period'] or '-'} d | {len(view['urls'])}"
                f" | {len(view['inlined'])}"
                f" | {whole['server_p50']} ms | {whole['server_p95']} ms"
                f" | {whole['client_p95']} ms"
                f" | {', '.join(str(v) for v in view['whole_p95_runs'])}"
                f" | {_target_text(report['targets'].get(key))} |"
            )
        lines += [
            "",
            "## Per URL: server time (medians of the runs), queries (in-process)",
            "",
            "| view | as | period | URL name | server p50 | server p95 | queries"
            " | SQL ms | bytes |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for key, view in summ.items():
            for name, url in view["urls"].items():
                inproc = report["in_process"][key][name]
                lines.append(
                    f"| {VIEWS[view['view']]['label']} | {view['user']}"
                    f" | {view['period']} d | `{name}` | {url['server_p50']} ms"
                    f" | {url['server_p95']} ms | {inproc['queries']}"
                    f" | {inproc['sql_ms']} | {url['bytes']:,} |"
                )
        lines += [
            "",
            "1-minute load average per run (before/after): "
            + "; ".join(
                f"{run['load_average_before'][0]:.2f}/{run['load_average_after'][0]:.2f}"
                for run in report["runs"]
            )
            + f"; at the end {fmt_load(report['load_average_end'])}.",
        ]
    lines += [
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
        for key, result in report["profile"].items():
            lines.append(
                f"- {key}: {result['ms_per_view_in_process']} ms per whole view"
                f" in-process; cProfile in {result['profile_file']}"
            )
    lines += ["", f"Generation: {json.dumps(report['generation'], default=str)}"]
    return "\n".join(lines) + "\n"


def _counts(counts: dict) -> str:
    return ", ".join(f"{key} {value:,}" for key, value in counts.items())


def _refresh_text(refresh: dict) -> str:
    parts = []
    for command, result in refresh["commands"].items():
        if "skipped" in result:
            parts.append(f"`{command}` skipped ({result['skipped']})")
        else:
            parts.append(
                f"`{command} --days {result['days']}` {result['seconds']} s"
                f" (load {result['load_average_before'][0]:.2f})"
            )
    return "; ".join(parts) if parts else "none"


if __name__ == "__main__":
    sys.exit(main())
