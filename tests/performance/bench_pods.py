"""Benchmark pods at volume: identify + route one contact, and split a 70k pod.

    DATABASE_URL=postgres://... .venv/bin/python -m tests.performance.bench_pods \\
        [--customers 150000] [--pods 5] [--samples 1000] [--runs 3]

The defaults are a quick size (under 3 minutes, generation included); the issue's
size is `--customers 1500000 --pods 25 --samples 2000 --runs 3`
(`make bench BENCH_ARGS=...`).
Each size needs a database of its own: a database holding another volume is refused.

Migrates, generates the volume when the database does not hold it yet
(tests/performance/pods_volume.py), then measures and writes
tests/performance/reports/pods-<timestamp>.json and .md (and prints the Markdown).

The machine is shared, so every figure is a median of several runs, and each route
figure comes with a ceiling measured in the same run, interleaved sample by sample:
the bare unique-index lookup `SELECT id FROM pods_customeridentity WHERE kind = %s
AND value = %s` through the same Django connection.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from unittest import mock

from tests.performance._common import (
    REPORTS_DIR,
    fmt_load,
    git,
    machine,
    percentiles_ms,
    postgresql_settings,
)

ROUTE_TARGET_P95_MS = 5.0
SPLIT_TARGET_SECONDS = 5.0
SPLIT_TARGET_PEAK_MB = 300.0
SPLIT_CUSTOMERS = 70_000
SPLIT_OPEN_TICKETS = 2_000
WARM_UP = 200
QUERY_COUNT_SAMPLES = 50
NEW_CUSTOMER_DOMAIN = "new.example"
CEILING_SQL = "SELECT id FROM pods_customeridentity WHERE kind = %s AND value = %s"


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    if args.split_child is not None:
        return split_child(split_id=args.split_child, profile=args.profile_to)
    return bench(args)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--customers",
        type=int,
        default=150_000,
        help="customers in the base pods (default: %(default)s; the issue: 1500000)",
    )
    parser.add_argument(
        "--pods",
        type=int,
        default=5,
        help="base pods of 10 agents (default: %(default)s; the issue: 25)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=1000,
        help="contacts routed per pass and kind (default: %(default)s)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        help="route passes and 70,000-customer splits; figures are their medians",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one route pass and one split"
    )
    parser.add_argument("--skip-route", action="store_true")
    parser.add_argument("--skip-split", action="store_true")
    parser.add_argument("--split-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    return parser


def bench(args: argparse.Namespace) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from tests.performance import pods_volume

    if connection.vendor != "postgresql":
        sys.stderr.write("DATABASE_URL must point at PostgreSQL (postgres://...)\n")
        return 2
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    now = timezone.now()
    report: dict = {
        "started_at": now.isoformat(),
        "arguments": {
            key: value
            for key, value in vars(args).items()
            if key not in {"split_child", "profile_to"}
        },
        "machine": machine(),
        "code": code_version(),
        "postgresql": postgresql_settings(),
    }
    say("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    pods_volume.split_pods_remove()
    pods_volume.first_contacts_remove(domain=NEW_CUSTOMER_DOMAIN)
    report["generation"] = volume_ensure(args=args, now=now)
    report["dataset"] = dataset_figures()
    if not args.skip_route:
        report["route"] = route_bench(args=args, now=now, stamp=stamp)
    if not args.skip_split:
        report["split"] = split_bench(args=args, now=now, stamp=stamp)
    report["load_average_end"] = os.getloadavg()
    markdown = report_markdown(report)
    REPORTS_DIR.mkdir(exist_ok=True)
    (REPORTS_DIR / f"pods-{stamp}.json").write_text(json.dumps(report, indent=2))
    (REPORTS_DIR / f"pods-{stamp}.md").write_text(markdown)
    print(markdown)
    say(f"report written to {REPORTS_DIR / f'pods-{stamp}.md'}")
    return 0 if all_targets_met(report) else 1


def say(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


# --- Context of the run -------------------------------------------------------------


def code_version() -> dict:
    """The commit measured, and whether the apps had uncommitted changes."""
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "apps_modified": bool(git("status", "--porcelain", "pods", "tickets")),
    }


def volume_ensure(*, args: argparse.Namespace, now) -> dict:
    from tests.performance import pods_volume

    if pods_volume.volume_present(customers=args.customers, pods_count=args.pods):
        say(f"{args.customers:,} customers in {args.pods} pods already present")
        return {"generated": False}
    say(f"generating {args.customers:,} customers in {args.pods} pods")
    made = pods_volume.volume_generate(
        customers=args.customers, pods_count=args.pods, seed=args.seed, now=now
    )
    say(f"generated in {made.seconds:.1f} s")
    return {
        "generated": True,
        "seconds": round(made.seconds, 1),
        "tables": {
            name: {"rows": rows, "seconds": round(seconds, 1)}
            for name, (rows, seconds) in made.tables.items()
        },
    }


def dataset_figures() -> dict:
    from django.db import connection

    queries = {
        "pods": "SELECT count(*) FROM pods_pod",
        "agents": "SELECT count(*) FROM pods_agent",
        "customers": "SELECT count(*) FROM pods_customer",
        "identities_email": (
            "SELECT count(*) FROM pods_customeridentity WHERE kind = 'EMAIL'"
        ),
        "identities_phone": (
            "SELECT count(*) FROM pods_customeridentity WHERE kind = 'PHONE'"
        ),
        "customers_with_primary_agent": (
            "SELECT count(*) FROM pods_customer WHERE primary_agent_id IS NOT NULL"
        ),
        "assignments": "SELECT count(*) FROM pods_customerassignment",
        "open_tickets": (
            "SELECT count(*) FROM tickets_ticket"
            " WHERE status IN ('NEW', 'OPEN', 'PENDING')"
        ),
        "database_bytes": "SELECT pg_database_size(current_database())",
    }
    figures = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            figures[name] = cursor.fetchone()[0]
    return figures


# --- Identify and route -----------------------------------------------------------


def known_identities(*, kind: str, count: int, rng: random.Random) -> list[str]:
    """Values of `kind` identities of `count` random customers of the base pods."""
    from django.db import connection

    from tests.performance import pods_volume

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(c.id), max(c.id) FROM pods_customer c"
            " JOIN pods_pod p ON p.id = c.pod_id WHERE p.name LIKE %s",
            [pods_volume.BASE_POD_PREFIX + "%"],
        )
        low, high = cursor.fetchone()
        found: list[str] = []
        while len(found) < count:
            ids = rng.sample(range(low, high + 1), min(count * 4, high - low + 1))
            cursor.execute(
                "SELECT value FROM pods_customeridentity"
                " WHERE kind = %s AND customer_id = ANY(%s)",
                [kind, ids],
            )
            values = [value for (value,) in cursor.fetchall()]
            rng.shuffle(values)
            found.extend(values[: count - len(found)])
    return found


def route_pass(
    *, kind: str, values: list[str], now, expect_new: bool
) -> tuple[list[float], list[float], float]:
    """Route one contact per value; return (route seconds, ceiling seconds, this
    process's CPU milliseconds per contact), the ceiling timed before each route.

    The CPU figure includes the ceiling lookups (a small share) and shows how much
    of the wall time is Python rather than waiting on the database or the CPU."""
    from django.db import connection

    from pods.services import contact_route

    routes, ceilings = [], []
    clock = time.perf_counter
    cpu_started = time.process_time()
    for value in values:
        with connection.cursor() as cursor:
            started = clock()
            cursor.execute(CEILING_SQL, [kind, value])
            cursor.fetchone()
            ceilings.append(clock() - started)
        started = clock()
        route = contact_route(identities=[(kind, value)], now=now)
        routes.append(clock() - started)
        if route.customer_created != expect_new:
            raise AssertionError(
                f"{kind} {value} routed as new={route.customer_created}"
            )
    cpu_ms = (time.process_time() - cpu_started) * 1000 / max(len(values), 1)
    return routes, ceilings, cpu_ms


def queries_per_route(*, kind: str, values: list[str], now) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from pods.services import contact_route

    counts = []
    sample_sql: list[str] = []
    for value in values:
        with CaptureQueriesContext(connection) as captured:
            contact_route(identities=[(kind, value)], now=now)
        counts.append(len(captured.captured_queries))
        if not sample_sql:
            sample_sql = [query["sql"] for query in captured.captured_queries]
    return {
        "min": min(counts),
        "max": max(counts),
        "median": statistics.median(counts),
        "example": sample_sql,
    }


def new_addresses(*, count: int, tag: str) -> list[str]:
    return [
        f"first.contact.{tag}.{number}@{NEW_CUSTOMER_DOMAIN}" for number in range(count)
    ]


def route_bench(*, args: argparse.Namespace, now, stamp: str) -> dict:
    from tests.performance import pods_volume

    rng = random.Random(f"{args.seed}:samples:{stamp}")
    results: dict = {"passes": {}, "queries": {}}
    first_new_id = next_customer_id()
    try:
        say("route: warming up")
        for kind in ("EMAIL", "PHONE"):
            values = known_identities(kind=kind, count=WARM_UP, rng=rng)
            route_pass(kind=kind, values=values, now=now, expect_new=False)
        route_pass(
            kind="EMAIL",
            values=new_addresses(count=WARM_UP, tag=f"{stamp}-warm"),
            now=now,
            expect_new=True,
        )
        for kind in ("EMAIL", "PHONE"):
            values = known_identities(kind=kind, count=QUERY_COUNT_SAMPLES, rng=rng)
            results["queries"][kind.lower()] = queries_per_route(
                kind=kind, values=values, now=now
            )
        results["queries"]["new_customer"] = queries_per_route(
            kind="EMAIL",
            values=new_addresses(count=QUERY_COUNT_SAMPLES, tag=f"{stamp}-queries"),
            now=now,
        )
        for run in range(1, args.runs + 1):
            cases = {
                "email": (
                    "EMAIL",
                    known_identities(kind="EMAIL", count=args.samples, rng=rng),
                    False,
                ),
                "phone": (
                    "PHONE",
                    known_identities(kind="PHONE", count=args.samples, rng=rng),
                    False,
                ),
                "new_customer": (
                    "EMAIL",
                    new_addresses(count=args.samples, tag=f"{stamp}-{run}"),
                    True,
                ),
            }
            for case, (kind, values, new) in cases.items():
                routes, ceilings, cpu_ms = route_pass(
                    kind=kind, values=values, now=now, expect_new=new
                )
                results["passes"].setdefault(case, []).append(
                    {
                        "route": percentiles_ms(routes),
                        "ceiling": percentiles_ms(ceilings),
                        "client_cpu_ms": round(cpu_ms, 3),
                        "load_average": os.getloadavg(),
                    }
                )
                figures = percentiles_ms(routes)
                say(
                    f"route run {run} {case}: median {figures['median_ms']} ms,"
                    f" p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms,"
                    f" load average {fmt_load(os.getloadavg())}"
                )
        if args.profile:
            results["profile"] = route_profile(
                values=known_identities(kind="EMAIL", count=args.samples, rng=rng),
                now=now,
                stamp=stamp,
            )
    finally:
        removed = pods_volume.customers_created_since_remove(first_id=first_new_id)
        say(f"route: removed the {removed:,} customers created by first contacts")
    results["summary"] = {
        case: route_summary(passes) for case, passes in results["passes"].items()
    }
    return results


def route_summary(passes: list[dict]) -> dict:
    summary = {}
    for stat in ("median_ms", "p95_ms", "p99_ms"):
        summary[f"route_{stat}"] = round(
            statistics.median(p["route"][stat] for p in passes), 2
        )
        summary[f"ceiling_{stat}"] = round(
            statistics.median(p["ceiling"][stat] for p in passes), 2
        )
    summary["client_cpu_ms"] = round(
        statistics.median(p["client_cpu_ms"] for p in passes), 2
    )
    summary["p95_ratio_to_ceiling"] = round(
        summary["route_p95_ms"] / max(summary["ceiling_p95_ms"], 1e-6), 1
    )
    summary["meets_target"] = summary["route_p95_ms"] < ROUTE_TARGET_P95_MS
    return summary


# Known customers carry the target; a first contact (which creates the
# customer) is measured for information.
ROUTE_CASES_WITH_TARGET = ("email", "phone")


def route_profile(*, values: list[str], now, stamp: str) -> str:
    from pods.services import contact_route

    profiler = cProfile.Profile()
    profiler.enable()
    for value in values:
        contact_route(identities=[("EMAIL", value)], now=now)
    profiler.disable()
    REPORTS_DIR.mkdir(exist_ok=True)
    profiler.dump_stats(REPORTS_DIR / f"pods-{stamp}-route.prof")
    return profile_text(profiler)


def profile_text(profiler: cProfile.Profile, *, limit: int = 25) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


def next_customer_id() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(id), 0) + 1 FROM pods_customer")
        return cursor.fetchone()[0]


# --- Split a 70,000-customer pod ----------------------------------------------------


def split_bench(*, args: argparse.Namespace, now, stamp: str) -> dict:
    import pods.outbound
    import pods.services
    from tests.performance import pods_volume

    runs = []
    try:
        for run in range(1, args.runs + 1):
            pods_volume.split_pods_remove()
            say(f"split run {run}: adding a pod of {SPLIT_CUSTOMERS:,} customers")
            made = pods_volume.split_pod_generate(
                name=f"{pods_volume.SPLIT_POD_PREFIX} {run}",
                seed=args.seed,
                now=now,
                customers=SPLIT_CUSTOMERS,
                open_tickets=SPLIT_OPEN_TICKETS,
            )
            pod_id = made.pod_ids[0]
            before = split_facts(pod_ids=[pod_id])
            load_average = os.getloadavg()
            # Embedded settings run Celery tasks eagerly: the queued task would run
            # the split here, in this process, where its memory cannot be measured
            # apart. The child process below runs it instead.
            with mock.patch.object(pods.outbound, "pod_split_enqueue"):
                split = pods.services.pod_split_request(
                    pod_id=pod_id, now=now, reason="benchmark"
                )
            child = split_in_child(
                split_id=split.id,
                profile_to=(
                    str(REPORTS_DIR / f"pods-{stamp}-split.prof")
                    if args.profile and run == 1
                    else None
                ),
            )
            checks = split_verify(split_id=split.id, before=before)
            result = {
                "run": run,
                "pod_generated_seconds": round(made.seconds, 1),
                "load_average": load_average,
            }
            result.update(child)
            result["invariants"] = checks
            runs.append(result)
            say(
                f"split run {run}: {child['split_seconds']:.2f} s,"
                f" peak {child['peak_rss_mb']:.0f} MB,"
                f" invariants {'ok' if checks['ok'] else 'BROKEN'},"
                f" load average before {fmt_load(load_average)}"
            )
    finally:
        pods_volume.split_pods_remove()
    seconds = statistics.median(r["split_seconds"] for r in runs)
    peak = statistics.median(r["peak_rss_mb"] for r in runs)
    return {
        "runs": runs,
        "summary": {
            "split_seconds_median": round(seconds, 2),
            "peak_rss_mb_median": round(peak, 1),
            "peak_rss_growth_mb_median": round(
                statistics.median(r["peak_rss_growth_mb"] for r in runs), 1
            ),
            "process_seconds_median": round(
                statistics.median(r["process_seconds"] for r in runs), 2
            ),
            "rusage_children_maxrss_mb": round(
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1
            ),
            "invariants_ok": all(r["invariants"]["ok"] for r in runs),
            "meets_target": seconds < SPLIT_TARGET_SECONDS
            and peak < SPLIT_TARGET_PEAK_MB,
        },
    }


def split_in_child(*, split_id: int, profile_to: str | None) -> dict:
    command = [
        sys.executable,
        "-m",
        "tests.performance.bench_pods",
        "--split-child",
        str(split_id),
    ]
    if profile_to:
        command += ["--profile-to", profile_to]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
        cwd=Path(__file__).resolve().parents[2],
    )
    process_seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"the split child failed with code {done.returncode}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = round(process_seconds, 2)
    if profile_to:
        figures["profile"] = done.stderr[done.stderr.find("PROFILE") :]
    return figures


def vm_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    return 0


def split_child(*, split_id: int, profile: str | None) -> int:
    """Run the split in this process and print its figures as one JSON line."""
    from django.utils import timezone

    import tickets.services

    baseline_kb = vm_kb("VmRSS")
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    with profiling(profiler):
        moved = tickets.services.pod_split_run(split_id=split_id, now=timezone.now())
    seconds = time.perf_counter() - started
    peak_kb = vm_kb("VmHWM")
    if profiler is not None:
        profiler.dump_stats(profile)
        sys.stderr.write("PROFILE\n" + profile_text(profiler, limit=30))
    print(
        json.dumps(
            {
                "moved": moved,
                "split_seconds": round(seconds, 3),
                "peak_rss_mb": round(peak_kb / 1024, 1),
                "baseline_rss_mb": round(baseline_kb / 1024, 1),
                "peak_rss_growth_mb": round((peak_kb - baseline_kb) / 1024, 1),
            }
        )
    )
    return 0


@contextmanager
def profiling(profiler: cProfile.Profile | None):
    if profiler is None:
        yield
        return
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()


def split_facts(*, pod_ids: list[int]) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pods_customer WHERE pod_id = ANY(%s)", [pod_ids]
        )
        (customers,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM tickets_ticket"
            " WHERE pod_id = ANY(%s) AND status IN ('NEW', 'OPEN', 'PENDING')",
            [pod_ids],
        )
        (open_tickets,) = cursor.fetchone()
    return {"customers": customers, "open_tickets": open_tickets}


def split_verify(*, split_id: int, before: dict) -> dict:
    """Check the split's invariants from the rows themselves."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT source_id, new_pod_id, state, customers_moved, tickets_moved"
            " FROM pods_podsplit WHERE id = %s",
            [split_id],
        )
        source_id, new_pod_id, state, moved, tickets_moved = cursor.fetchone()
        pod_ids = [source_id, new_pod_id]
        cursor.execute(
            "SELECT p.id, p.customer_count, p.state, p.lead_id,"
            " (SELECT count(*) FROM pods_customer c"
            "  WHERE c.pod_id = p.id AND c.merged_into_id IS NULL)"
            " FROM pods_pod p WHERE p.id = ANY(%s) ORDER BY p.id",
            [pod_ids],
        )
        pods_rows = cursor.fetchall()
        counted = {pod: count for pod, _, _, _, count in pods_rows}
        cursor.execute(
            "SELECT a.pod_id, a.tier, count(*) FROM pods_agent a"
            " WHERE a.pod_id = ANY(%s) GROUP BY a.pod_id, a.tier",
            [pod_ids],
        )
        tiers: dict[str, dict[str, int]] = {}
        for pod, tier, count in cursor.fetchall():
            tiers.setdefault(str(pod), {})[tier] = count
        violations = {
            "open ticket outside its customer's pod": (
                "SELECT count(*) FROM tickets_ticket t"
                " JOIN pods_customer c ON c.id = t.customer_id"
                " WHERE c.pod_id = ANY(%s) AND t.status IN ('NEW', 'OPEN', 'PENDING')"
                " AND t.pod_id <> c.pod_id"
            ),
            "open ticket assigned outside its pod": (
                "SELECT count(*) FROM tickets_ticket t"
                " JOIN pods_agent a ON a.id = t.assignee_id"
                " WHERE t.pod_id = ANY(%s) AND t.status IN ('NEW', 'OPEN', 'PENDING')"
                " AND a.pod_id <> t.pod_id"
            ),
            "primary agent outside the customer's pod": (
                "SELECT count(*) FROM pods_customer c"
                " JOIN pods_agent a ON a.id = c.primary_agent_id"
                " WHERE c.pod_id = ANY(%s) AND a.pod_id <> c.pod_id"
            ),
            "agent open-ticket counter wrong": (
                "SELECT count(*) FROM pods_agent a WHERE a.pod_id = ANY(%s)"
                " AND a.open_ticket_count <> (SELECT count(*) FROM tickets_ticket t"
                "  WHERE t.assignee_id = a.id"
                "  AND t.status IN ('NEW', 'OPEN', 'PENDING'))"
            ),
        }
        found = {}
        for name, sql in violations.items():
            cursor.execute(sql, [pod_ids])
            found[name] = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM pods_customerassignment WHERE split_id = %s",
            [split_id],
        )
        (history,) = cursor.fetchone()
    after = split_facts(pod_ids=pod_ids)
    counts = [counted[source_id], counted[new_pod_id]]
    checks = {
        "state": state,
        "customers": {str(pod): count for pod, count in counted.items()},
        "counters_match_count": all(
            customer_count == count for _, customer_count, _, _, count in pods_rows
        ),
        "customers_sum": sum(counts),
        "balance_difference": abs(counts[0] - counts[1]),
        "customers_moved": moved,
        "history_rows": history,
        "open_tickets_before": before["open_tickets"],
        "open_tickets_after": after["open_tickets"],
        "tickets_moved": tickets_moved,
        "tier_mix": tiers,
        "leads_set": all(lead for _, _, _, lead, _ in pods_rows),
        "violations": found,
    }
    checks["ok"] = (
        state == "DONE"
        and checks["counters_match_count"]
        and checks["customers_sum"] == before["customers"]
        and checks["balance_difference"] <= 0.01 * before["customers"]
        and moved == counted[new_pod_id] == history
        and after["open_tickets"] == before["open_tickets"]
        and checks["leads_set"]
        and not any(found.values())
    )
    return checks


# --- Report ---------------------------------------------------------------------------


def all_targets_met(report: dict) -> bool:
    met = True
    for case in ROUTE_CASES_WITH_TARGET:
        summary = report.get("route", {}).get("summary", {}).get(case)
        if summary is not None:
            met = met and summary["meets_target"]
    split = report.get("split", {}).get("summary")
    if split is not None:
        met = met and split["meets_target"] and split["invariants_ok"]
    return met


def report_markdown(report: dict) -> str:
    lines = [f"# Pods benchmark, {report['started_at'][:19]}", ""]
    mach, pg, data = report["machine"], report["postgresql"], report["dataset"]
    lines += [
        f"- Machine: {mach['cpus']} CPUs ({mach['cpu_model']}), {mach['memory']};"
        f" load average at start {fmt_load(mach['load_average_start'])},"
        f" at end {fmt_load(report['load_average_end'])}",
        f"- Code: commit {report['code']['commit'] or 'unknown'}"
        + (" (pods/tickets modified)" if report["code"]["apps_modified"] else ""),
        f"- Python {mach['python']}, Django {mach['django']},"
        f" PostgreSQL {pg['server_version']} (shared_buffers {pg['shared_buffers']},"
        f" work_mem {pg['work_mem']}, max_wal_size {pg['max_wal_size']},"
        f" synchronous_commit {pg['synchronous_commit']}, fsync {pg['fsync']},"
        f" jit {pg['jit']})",
        f"- Dataset: {data['pods']} pods, {data['agents']} agents,"
        f" {data['customers']:,} customers, {data['identities_email']:,} email and"
        f" {data['identities_phone']:,} phone identities,"
        f" {data['customers_with_primary_agent']:,} with a primary agent,"
        f" {data['assignments']:,} history rows, {data['open_tickets']:,} open"
        f" tickets; database {data['database_bytes'] / 2**30:.2f} GiB",
    ]
    generation = report["generation"]
    if generation["generated"]:
        tables = ", ".join(
            f"{name} {figures['rows']:,} rows in {figures['seconds']} s"
            if figures["rows"]
            else f"{name} {figures['seconds']} s"
            for name, figures in generation["tables"].items()
        )
        lines.append(f"- Generated in this run: {generation['seconds']} s ({tables})")
    else:
        lines.append("- Volume already present: generation skipped")
    route = report.get("route")
    if route:
        lines += [
            "",
            "## Identify + route one contact (`pods.services.contact_route`)",
            "",
            f"Medians of {len(route['passes']['email'])} passes of"
            f" {report['arguments']['samples']:,} random contacts each."
            f" Target: p95 < {ROUTE_TARGET_P95_MS} ms.",
            "",
            "| contact | median | p95 | p99 | ceiling p95 | p95 / ceiling "
            "| client CPU | queries | target |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for case, summary in route["summary"].items():
            queries = route["queries"][case]
            query_text = (
                str(queries["min"])
                if queries["min"] == queries["max"]
                else f"{queries['min']}-{queries['max']}"
            )
            if case not in ROUTE_CASES_WITH_TARGET:
                verdict = "none"
            else:
                verdict = "met" if summary["meets_target"] else "MISSED"
            lines.append(
                f"| {case.replace('_', ' ')} | {summary['route_median_ms']} ms"
                f" | {summary['route_p95_ms']} ms | {summary['route_p99_ms']} ms"
                f" | {summary['ceiling_p95_ms']} ms"
                f" | {summary['p95_ratio_to_ceiling']}x"
                f" | {summary['client_cpu_ms']} ms | {query_text} | {verdict} |"
            )
        lines += [
            "",
            "p95 of each pass, with the 1-minute load average after it:",
            "",
            *(
                f"- {case.replace('_', ' ')}: "
                + " / ".join(
                    f"{one['route']['p95_ms']:.2f} ms"
                    f" (load {one['load_average'][0]:.2f})"
                    for one in passes
                )
                for case, passes in route["passes"].items()
            ),
            "",
            "Ceiling: `" + CEILING_SQL + "` on the same value, timed just before each"
            " route through the same connection. Client CPU: this process's CPU time"
            " per contact (median of passes); the rest of the wall time is the"
            " database and waiting for a CPU on a shared machine.",
            "",
            "Queries of one known-email route:",
            "",
            "```sql",
            *route["queries"]["email"]["example"],
            "```",
        ]
    split = report.get("split")
    if split:
        summary = split["summary"]
        lines += [
            "",
            f"## Split a {SPLIT_CUSTOMERS:,}-customer pod (`tickets.services."
            "pod_split_run`, in a child process)",
            "",
            f"Target: < {SPLIT_TARGET_SECONDS} s and < {SPLIT_TARGET_PEAK_MB:.0f} MB"
            " peak RSS.",
            "",
            "| run | split wall time | peak RSS (VmHWM) | RSS growth | child process"
            " | moved | balance diff | tickets moved | invariants | load before |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in split["runs"]:
            checks = run["invariants"]
            lines.append(
                f"| {run['run']} | {run['split_seconds']:.2f} s"
                f" | {run['peak_rss_mb']:.0f} MB | {run['peak_rss_growth_mb']:.0f} MB"
                f" | {run['process_seconds']:.2f} s | {run['moved']:,}"
                f" | {checks['balance_difference']} | {checks['tickets_moved']:,}"
                f" | {'ok' if checks['ok'] else 'BROKEN'}"
                f" | {fmt_load(run.get('load_average', ()))} |"
            )
        lines += [
            "",
            f"Median: {summary['split_seconds_median']} s, peak"
            f" {summary['peak_rss_mb_median']} MB (growth during the split"
            f" {summary['peak_rss_growth_mb_median']} MB; getrusage children maxrss"
            f" {summary['rusage_children_maxrss_mb']} MB);"
            f" {'met' if summary['meets_target'] else 'MISSED'}.",
            "",
            "Invariants checked after each run: both counters equal COUNT, the two"
            " pods sum to the pod before, within 1% of each other, moved = history"
            " rows = new pod's customers, open tickets all in their customer's pod"
            " and assigned only inside it, agents' open-ticket counters equal their"
            " tickets, primary agents inside the customer's pod, both leads set.",
            "",
            "Tier mix after run 1 (pod: tiers): "
            + "; ".join(
                f"{pod}: {mix}"
                for pod, mix in split["runs"][0]["invariants"]["tier_mix"].items()
            ),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
