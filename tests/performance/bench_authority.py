"""Benchmark the authority funnel on PostgreSQL: a decision with 1M past grants,
and grants racing for one pod's budget at a fixed rate.

    DATABASE_URL=postgres://.../helpdesk_auth_bench \\
        .venv/bin/python -m tests.performance.bench_authority \\
        [--customers 100000] [--pods 10] [--grants 1000000] [--samples 2000] \\
        [--runs 3] [--rate 200] [--seconds 10] [--workers 4] [--profile]

(`make bench BENCH=authority DATABASE_URL=... BENCH_ARGS=...`). Use a database
of its own: the first run fills it (pods and customers through
tests/performance/pods_volume.py, then the past grants, their ledger entries
and usage counters with COPY and INSERT ... SELECT), later runs reuse it, and a
database holding another volume is refused.

1. Decision: the read-only path the agent panel and the API preview take
   (authority.services.authority_preview: the action, the customer's facts,
   the rules in force, the usage they are checked against, the engine), for
   `--samples` random customers and actions, `--runs` times; p50/p95/p99 per
   run and their medians, next to a ceiling measured in the same run: the bare
   index read of one customer's recent grants. Target: p95 under 5 ms.
2. Grants: `--workers` processes, each with its own connection, ask
   authority.services.authority_ask at `--rate` asks per second in all (0: as
   fast as they can) for `--seconds`, every ask against one pod's monthly
   budget of a fresh action, sized so three quarters of the asks fit. After
   each run the database is checked: the pod's usage counter, the grants and
   the ledger agree exactly, never above the budget, exactly as many grants as
   fit, no ask failed. Target: the rate achieved with zero overspend.

Every figure records the load average next to it; reports go to
tests/performance/reports/authority-<timestamp>.{json,md} (gitignored), and
the Markdown is printed. `--profile` saves cProfile files of decisions and of
asks there. The exit code is 1 when a target is missed or a check fails.
"""

import argparse
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache

from tests.performance._common import (
    REPORTS_DIR,
    fmt_load,
    git,
    machine,
    percentiles_ms,
    postgresql_settings,
)

DECISION_TARGET_P95_MS = 5.0
GRANT_TARGET_RATE = 200.0
# A fixed-rate run "keeps up" when it finishes within this share of its rate.
RATE_TOLERANCE = 0.95
WARM_UP = 200
QUERY_COUNT_SAMPLES = 20
HISTORY_DAYS = 730
GRANT_AMOUNT = Decimal("10.00")
BUDGET_SHARE = 0.75  # of a run's asks that fit the pod's monthly budget
# (code, name, unit, currency, effect, share of past grants, largest amount)
ACTIONS = (
    ("refund", "Refund", "MONEY", "GBP", "REFUND", 0.5, 50),
    ("credit", "Account credit", "MONEY", "GBP", "CREDIT", 0.3, 30),
    ("extension", "Class extension", "DAYS", "", "EXTEND", 0.2, 14),
)


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    return bench(args)


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--pods", type=int, default=10)
    parser.add_argument(
        "--grants", type=int, default=1_000_000, help="past grants (%(default)s)"
    )
    parser.add_argument(
        "--samples", type=int, default=2000, help="decisions per run (%(default)s)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--rate",
        type=float,
        default=GRANT_TARGET_RATE,
        help="asks per second in all; 0 is as fast as the workers can",
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--skip-decide", action="store_true")
    parser.add_argument("--skip-grants", action="store_true")
    return parser


def say(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


def bench(args: argparse.Namespace) -> int:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    if connection.vendor != "postgresql":
        sys.stderr.write("DATABASE_URL must point at PostgreSQL (postgres://...)\n")
        return 2
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    now = timezone.now()
    report: dict = {
        "started_at": now.isoformat(),
        "arguments": vars(args),
        "machine": machine(),
        "code": {
            "commit": git("rev-parse", "--short", "HEAD"),
            "authority_modified": bool(git("status", "--porcelain", "authority")),
        },
        "postgresql": postgresql_settings(),
    }
    say("migrating")
    call_command("migrate", verbosity=0, interactive=False)
    report["generation"] = volume_ensure(args=args, now=now)
    report["dataset"] = dataset_figures()
    if not args.skip_decide:
        report["decide"] = decide_bench(args=args, now=now, stamp=stamp)
    if not args.skip_grants:
        report["grants"] = grants_bench(args=args, stamp=stamp)
    report["load_average_end"] = os.getloadavg()
    markdown = report_markdown(report)
    REPORTS_DIR.mkdir(exist_ok=True)
    (REPORTS_DIR / f"authority-{stamp}.json").write_text(
        json.dumps(report, indent=2, default=str)
    )
    (REPORTS_DIR / f"authority-{stamp}.md").write_text(markdown)
    print(markdown)
    say(f"report written to {REPORTS_DIR / f'authority-{stamp}.md'}")
    return 0 if all_targets_met(report) else 1


# --- The volume -----------------------------------------------------------------------


class VolumeMismatch(RuntimeError):
    """The database holds a different number of past grants than asked for."""


def volume_ensure(*, args: argparse.Namespace, now) -> dict:
    from tests.performance import pods_volume

    made: dict = {}
    if pods_volume.volume_present(customers=args.customers, pods_count=args.pods):
        say(f"{args.customers:,} customers in {args.pods} pods already present")
    else:
        say(f"generating {args.customers:,} customers in {args.pods} pods")
        generated = pods_volume.volume_generate(
            customers=args.customers, pods_count=args.pods, seed=args.seed, now=now
        )
        made["pods_seconds"] = round(generated.seconds, 1)
    rules_ensure(now=now)
    found = past_grants_count()
    if found == args.grants:
        say(f"{found:,} past grants already present")
        return made
    if found:
        raise VolumeMismatch(
            f"the database holds {found:,} past grants, not {args.grants:,}:"
            " use an empty database"
        )
    made["grants"] = past_grants_generate(count=args.grants, seed=args.seed, now=now)
    return made


M = Decimal
# Per action: (stage, limits) of each rule. Budgets are large: the past grants
# fill this month's counters too.
BENCH_RULES = {
    "refund": [
        (
            2,
            {
                "max_per_grant": M(50),
                "customer_period_days": 90,
                "customer_max_count": 2,
                "customer_max_total": M(100),
                "agent_daily_total": M(100_000),
                "pod_monthly_total": M(10_000_000),
            },
        ),
        (1, {"max_per_grant": M(500)}),
    ],
    "credit": [(2, {"max_per_grant": M(30), "pod_monthly_total": M(10_000_000)})],
    "extension": [
        (
            3,
            {
                "max_per_grant": M(7),
                "customer_period_days": 90,
                "customer_max_count": 1,
                "min_tenure_days": 30,
            },
        ),
        (
            2,
            {
                "max_per_grant": M(14),
                "customer_period_days": 90,
                "customer_max_total": M(30),
            },
        ),
        (1, {"max_per_grant": M(60)}),
    ],
}


def rules_ensure(*, now) -> None:
    """The action types and their rules at every stage, once."""
    import authority.services
    from authority.models import ActionType

    for code, name, unit, currency, effect, _share, _top in ACTIONS:
        action, created = ActionType.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "unit": unit,
                "currency": currency,
                "effect": effect,
                "created_at": now,
            },
        )
        if not created:
            continue
        start = now - timedelta(days=HISTORY_DAYS + 30)
        by_stage = BENCH_RULES[code]
        for stage, limits in by_stage:
            authority.services.rule_create(
                terms={
                    "name": f"{name} stage {stage}",
                    "action_type": action,
                    "stage": stage,
                    "valid_from": start,
                    **limits,
                },
                user=None,
                note="benchmark",
                now=start,
            )


def past_grants_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM authority_grant g"
            " JOIN authority_actiontype a ON a.id = g.action_type_id"
            " WHERE a.code = ANY(%s) AND g.request_id IS NULL",
            [[action[0] for action in ACTIONS]],
        )
        return cursor.fetchone()[0]


def past_grants_generate(*, count: int, seed: int, now) -> dict:
    """COPY `count` grants of the base pods' customers over the last two years
    (none today), then their ledger entries and usage counters in SQL."""
    from django.db import connection, transaction

    from tests.performance import pods_volume

    started = time.perf_counter()
    with transaction.atomic():
        customers = base_customers()
        agents = agents_by_pod()
        actions = action_rules()
        rows = past_grant_rows(
            count=count,
            customers=customers,
            agents=agents,
            actions=actions,
            rng=random.Random(f"{seed}:grants"),
            now=now,
        )
        copied = pods_volume.copy_rows(
            table="authority_grant",
            columns=GRANT_COLUMNS,
            rows=rows,
            label="past grants",
            expected=count,
        )
        with connection.cursor() as cursor:
            sql_started = time.perf_counter()
            cursor.execute(LEDGER_SQL)
            ledger_seconds = time.perf_counter() - sql_started
            sql_started = time.perf_counter()
            for statement in COUNTER_SQL:
                cursor.execute(statement)
            counter_seconds = time.perf_counter() - sql_started
    analysed = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (
            "authority_grant",
            "authority_ledgerentry",
            "authority_usagecounter",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    say(f"past grants ready in {time.perf_counter() - started:.0f} s")
    return {
        "grants": {"rows": copied[0], "seconds": round(copied[1], 1)},
        "ledger_seconds": round(ledger_seconds, 1),
        "counters_seconds": round(counter_seconds, 1),
        "vacuum_analyze_seconds": round(time.perf_counter() - analysed, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


@cache
def base_customers() -> list[tuple[int, int, datetime]]:
    from django.db import connection

    from tests.performance import pods_volume

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, c.pod_id, c.created_at FROM pods_customer c"
            " JOIN pods_pod p ON p.id = c.pod_id WHERE p.name LIKE %s ORDER BY c.id",
            [pods_volume.BASE_POD_PREFIX + "%"],
        )
        return cursor.fetchall()


@cache
def agents_by_pod() -> dict[int, list[tuple[int, int]]]:
    """pod id -> [(agent id, user id)] of the base pods' active agents."""
    from django.db import connection

    from tests.performance import pods_volume

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.pod_id, a.id, a.user_id FROM pods_agent a"
            " JOIN pods_pod p ON p.id = a.pod_id WHERE p.name LIKE %s"
            " ORDER BY a.pod_id, a.id",
            [pods_volume.BASE_POD_PREFIX + "%"],
        )
        found: dict[int, list[tuple[int, int]]] = {}
        for pod_id, agent_id, user_id in cursor.fetchall():
            found.setdefault(pod_id, []).append((agent_id, user_id))
        return found


def action_rules() -> list[tuple]:
    """(action id, code, currency, share, top, stage-2 rule id) per action."""
    from authority.models import ActionType, AuthorityRule

    found = []
    for code, _name, _unit, currency, _effect, share, top in ACTIONS:
        action = ActionType.objects.get(code=code)
        rule = AuthorityRule.objects.get(
            action_type=action, stage=2, superseded_at__isnull=True
        )
        found.append((action.id, code, currency, share, top, rule.id))
    return found


GRANT_COLUMNS = (
    "kind",
    "action_type_id",
    "rule_id",
    "stage",
    "customer_id",
    "pod_id",
    "agent_id",
    "amount",
    "currency",
    "reasons",
    "granted_at",
)


def past_grant_rows(*, count, customers, agents, actions, rng, now):
    """Grants spread evenly over the days since each customer arrived (at most
    two years, never today), by an agent of the customer's pod."""
    weights = [action[3] for action in actions]
    latest = now - timedelta(days=1)
    earliest = now - timedelta(days=HISTORY_DAYS)
    for _ in range(count):
        customer_id, pod_id, created_at = customers[rng.randrange(len(customers))]
        action_id, code, currency, _share, top, rule_id = rng.choices(actions, weights)[
            0
        ]
        start = max(created_at, earliest)
        span = max((latest - start).total_seconds(), 1)
        granted_at = start + timedelta(seconds=rng.random() * span)
        amount = (
            Decimal(rng.randint(1, top))
            if code == "extension"
            else Decimal(rng.randint(100, top * 100)) / 100
        )
        yield (
            "GRANT",
            action_id,
            rule_id,
            2,
            customer_id,
            pod_id,
            rng.choice(agents[pod_id])[0],
            amount,
            currency,
            "[]",
            granted_at.astimezone(UTC).isoformat(),
        )


LEDGER_SQL = """
INSERT INTO authority_ledgerentry
    (grant_id, customer_id, pod_id, kind, amount, currency, created_at)
SELECT g.id, g.customer_id, g.pod_id, a.effect, g.amount, g.currency, g.granted_at
FROM authority_grant g JOIN authority_actiontype a ON a.id = g.action_type_id
WHERE a.effect IN ('REFUND', 'CREDIT') AND g.request_id IS NULL
"""
# The periods are the pod's local days and months, as the services count them.
COUNTER_SQL = (
    """
    INSERT INTO authority_usagecounter
        (scope, scope_id, action_type_id, period_start, amount, count)
    SELECT 'CUSTOMER', customer_id, action_type_id, DATE '1970-01-01',
           sum(amount), count(*)
    FROM authority_grant GROUP BY customer_id, action_type_id
    """,
    """
    INSERT INTO authority_usagecounter
        (scope, scope_id, action_type_id, period_start, amount, count)
    SELECT 'AGENT_DAY', g.agent_id, g.action_type_id,
           (g.granted_at AT TIME ZONE p.time_zone)::date, sum(g.amount), count(*)
    FROM authority_grant g JOIN pods_pod p ON p.id = g.pod_id
    WHERE g.stage <> 1
    GROUP BY 1, 2, 3, 4
    """,
    """
    INSERT INTO authority_usagecounter
        (scope, scope_id, action_type_id, period_start, amount, count)
    SELECT 'POD_MONTH', g.pod_id, g.action_type_id,
           date_trunc('month', g.granted_at AT TIME ZONE p.time_zone)::date,
           sum(g.amount), count(*)
    FROM authority_grant g JOIN pods_pod p ON p.id = g.pod_id
    GROUP BY 1, 2, 3, 4
    """,
)


def dataset_figures() -> dict:
    from django.db import connection

    queries = {
        "pods": "SELECT count(*) FROM pods_pod",
        "agents": "SELECT count(*) FROM pods_agent",
        "customers": "SELECT count(*) FROM pods_customer",
        "grants": "SELECT count(*) FROM authority_grant",
        "ledger_entries": "SELECT count(*) FROM authority_ledgerentry",
        "usage_counters": "SELECT count(*) FROM authority_usagecounter",
        "requests": "SELECT count(*) FROM authority_authorityrequest",
        "rules_current": (
            "SELECT count(*) FROM authority_authorityrule WHERE superseded_at IS NULL"
        ),
        "grant_table_bytes": "SELECT pg_total_relation_size('authority_grant')",
        "database_bytes": "SELECT pg_database_size(current_database())",
    }
    figures = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            figures[name] = cursor.fetchone()[0]
    return figures


# --- 1. The decision ------------------------------------------------------------------

CEILING_SQL = (
    "SELECT granted_at, amount FROM authority_grant"
    " WHERE customer_id = %s AND action_type_id = %s AND granted_at > %s"
)


def decision_asks(*, count: int, rng: random.Random) -> list[tuple]:
    """(user id, customer id, action code, amount, action id) for random
    customers of the base pods, asked by an agent of their pod."""
    customers = base_customers()
    agents = agents_by_pod()
    actions = {code: action_id for action_id, code, *_ in action_rules()}
    asks = []
    for _ in range(count):
        customer_id, pod_id, _created = customers[rng.randrange(len(customers))]
        code = rng.choice(list(actions))
        top = {"refund": 80, "credit": 40, "extension": 20}[code]
        asks.append(
            (
                rng.choice(agents[pod_id])[1],
                customer_id,
                code,
                str(rng.randint(1, top)),
                actions[code],
            )
        )
    return asks


class Actors:
    """actor_for_user once per user, as a page reads the agent once."""

    def __init__(self) -> None:
        self._by_user: dict = {}

    def of(self, user_id: int):
        from django.contrib.auth import get_user_model

        import authority.services

        if user_id not in self._by_user:
            user = get_user_model().objects.get(id=user_id)
            self._by_user[user_id] = authority.services.actor_for_user(user=user)
        return self._by_user[user_id]


def decide_pass(
    *, asks: list[tuple], actors: Actors, now
) -> tuple[list, list, Counter]:
    """Time the preview of every ask, each after its ceiling read."""
    from django.db import connection

    import authority.services

    decisions, ceilings, outcomes = [], [], Counter()
    clock = time.perf_counter
    since = now - timedelta(days=90)
    for user_id, customer_id, code, amount, action_id in asks:
        actor = actors.of(user_id)
        with connection.cursor() as cursor:
            started = clock()
            cursor.execute(CEILING_SQL, [customer_id, action_id, since])
            cursor.fetchall()
            ceilings.append(clock() - started)
        started = clock()
        preview = authority.services.authority_preview(
            actor=actor,
            action_code=code,
            amount=amount,
            customer_id=customer_id,
            ticket_id=None,
            now=now,
        )
        decisions.append(clock() - started)
        outcomes[preview.outcome] += 1
    return decisions, ceilings, outcomes


def decide_bench(*, args: argparse.Namespace, now, stamp: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rng = random.Random(f"{args.seed}:decide:{stamp}")
    actors = Actors()
    say("decide: warming up")
    decide_pass(asks=decision_asks(count=WARM_UP, rng=rng), actors=actors, now=now)
    sample = decision_asks(count=QUERY_COUNT_SAMPLES, rng=rng)
    counts = []
    for ask in sample:
        with CaptureQueriesContext(connection) as captured:
            decide_pass(asks=[ask], actors=actors, now=now)
        counts.append(len(captured.captured_queries) - 1)  # less the ceiling
    results: dict = {
        "queries_per_decision": {"min": min(counts), "max": max(counts)},
        "runs": [],
    }
    for run in range(1, args.runs + 1):
        asks = decision_asks(count=args.samples, rng=rng)
        load_before = os.getloadavg()
        decisions, ceilings, outcomes = decide_pass(asks=asks, actors=actors, now=now)
        figures = {
            "decision": percentiles_ms(decisions),
            "ceiling": percentiles_ms(ceilings),
            "outcomes": dict(outcomes),
            "load_average_before": load_before,
            "load_average_after": os.getloadavg(),
        }
        results["runs"].append(figures)
        say(
            f"decide run {run}: p50 {figures['decision']['median_ms']} ms,"
            f" p95 {figures['decision']['p95_ms']} ms"
            f" (ceiling p95 {figures['ceiling']['p95_ms']} ms),"
            f" load average {fmt_load(os.getloadavg())}"
        )
    if args.profile:
        profiler = cProfile.Profile()
        asks = decision_asks(count=args.samples, rng=rng)
        profiler.enable()
        decide_pass(asks=asks, actors=actors, now=now)
        profiler.disable()
        profiler.dump_stats(REPORTS_DIR / f"authority-{stamp}-decide.prof")
        results["profile"] = profile_text(profiler)
    runs = results["runs"]
    summary = {
        f"{part}_{stat}": round(statistics.median(r[part][stat] for r in runs), 3)
        for part in ("decision", "ceiling")
        for stat in ("median_ms", "p95_ms", "p99_ms")
    }
    summary["meets_target"] = summary["decision_p95_ms"] < DECISION_TARGET_P95_MS
    results["summary"] = summary
    return results


def profile_text(profiler: cProfile.Profile, *, limit: int = 30) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(limit)
    return out.getvalue()


# --- 2. Grants racing for one budget --------------------------------------------------


def grants_bench(*, args: argparse.Namespace, stamp: str) -> dict:
    rng = random.Random(f"{args.seed}:grants:{stamp}")
    asks = max(int(args.rate * args.seconds), 1) if args.rate else 2000
    results: dict = {
        "asks_per_run": asks,
        "sequential": grants_sequential(stamp=stamp, rng=rng),
        "runs": [],
    }
    for run in range(1, args.runs + 1):
        figures = grants_run(args=args, asks=asks, code=f"bench-{stamp}-{run}", rng=rng)
        results["runs"].append(figures)
        say(
            f"grants run {run}: {figures['achieved_per_second']}/s achieved,"
            f" p50 {figures['latency']['median_ms']} ms,"
            f" p95 {figures['latency']['p95_ms']} ms,"
            f" checks {'ok' if figures['checks']['ok'] else 'BROKEN'},"
            f" load average {fmt_load(os.getloadavg())}"
        )
    if args.profile:
        results["profile"] = grants_profile(stamp=stamp, rng=rng)
    runs = results["runs"]
    achieved = statistics.median(r["achieved_per_second"] for r in runs)
    summary = {
        "achieved_per_second": round(achieved, 1),
        "latency_median_ms": round(
            statistics.median(r["latency"]["median_ms"] for r in runs), 2
        ),
        "latency_p95_ms": round(
            statistics.median(r["latency"]["p95_ms"] for r in runs), 2
        ),
        "late_p95_ms": round(statistics.median(r["late"]["p95_ms"] for r in runs), 2),
        "checks_ok": all(r["checks"]["ok"] for r in runs),
    }
    wanted = args.rate * RATE_TOLERANCE if args.rate else GRANT_TARGET_RATE
    summary["meets_target"] = summary["checks_ok"] and achieved >= min(
        wanted, GRANT_TARGET_RATE * RATE_TOLERANCE
    )
    results["summary"] = summary
    return results


SEQUENTIAL_ASKS = 300


def grants_sequential(*, stamp: str, rng) -> dict:
    """One process asking one ask after another: the time of an ask alone, and
    the CPU it costs here and in its PostgreSQL backend. With `cpus` cores and
    nothing else running, cpus / CPU per ask bounds any concurrent rate."""
    from django.db import connection
    from django.utils import timezone

    import authority.services
    from tests.performance._common import cpu_seconds

    code = f"bench-{stamp}-sequential"
    grants_action(
        code=code, budget=GRANT_AMOUNT * 10 * SEQUENTIAL_ASKS, now=timezone.now()
    )
    agents = agents_by_pod()
    pod_id = min(agents)
    customers = [row[0] for row in base_customers() if row[1] == pod_id]
    actors = Actors()
    users = [user_id for _agent, user_id in agents[pod_id]]
    for user_id in users:
        actors.of(user_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    walls = []
    client_started, backend_started = time.process_time(), cpu_seconds([backend])
    for index in range(SEQUENTIAL_ASKS):
        started = time.perf_counter()
        authority.services.authority_ask(
            actor=actors.of(rng.choice(users)),
            action_code=code,
            amount=GRANT_AMOUNT,
            customer_id=rng.choice(customers),
            ticket_id=None,
            idempotency_key=f"{code}-{index}",
            now=timezone.now(),
        )
        walls.append(time.perf_counter() - started)
    client_ms = (time.process_time() - client_started) * 1000 / SEQUENTIAL_ASKS
    backend_ms = (cpu_seconds([backend]) - backend_started) * 1000 / SEQUENTIAL_ASKS
    cpus = os.cpu_count() or 1
    figures = {
        "latency": percentiles_ms(walls),
        "client_cpu_ms": round(client_ms, 2),
        "postgresql_cpu_ms": round(backend_ms, 2),
        "cpu_bound_per_second": round(cpus * 1000 / (client_ms + backend_ms), 1),
        "load_average": os.getloadavg(),
    }
    say(
        f"grants alone: p50 {figures['latency']['median_ms']} ms, CPU per ask"
        f" {client_ms:.1f} ms here + {backend_ms:.1f} ms in PostgreSQL:"
        f" at most {figures['cpu_bound_per_second']}/s on {cpus} cores"
    )
    return figures


def grants_action(*, code: str, budget: Decimal, now):
    """A fresh money action for one run: agents grant up to GRANT_AMOUNT within
    the pod's monthly `budget`; anything else goes to approval."""
    import authority.services
    from authority.models import ActionType

    action = ActionType.objects.create(
        code=code,
        name="Bench credit",
        unit="MONEY",
        currency="GBP",
        effect="CREDIT",
        created_at=now,
    )
    for stage, limits in (
        (2, {"max_per_grant": GRANT_AMOUNT, "pod_monthly_total": budget}),
        (1, {"max_per_grant": Decimal(500)}),
    ):
        authority.services.rule_create(
            terms={
                "name": f"{code} stage {stage}",
                "action_type": action,
                "stage": stage,
                "valid_from": now - timedelta(days=1),
                **limits,
            },
            user=None,
            note="benchmark",
            now=now,
        )
    return action


def grants_run(*, args: argparse.Namespace, asks: int, code: str, rng) -> dict:
    from django.db import connections
    from django.utils import timezone

    fits = int(asks * BUDGET_SHARE)
    budget = GRANT_AMOUNT * fits
    action = grants_action(code=code, budget=budget, now=timezone.now())
    agents = agents_by_pod()
    pod_id = min(agents)
    customers = [row[0] for row in base_customers() if row[1] == pod_id]
    plan = [(rng.choice(agents[pod_id])[1], rng.choice(customers)) for _ in range(asks)]
    load_before = os.getloadavg()
    connections.close_all()  # the workers are forked: each opens its own
    start_at = time.monotonic() + 2.0
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        futures = [
            pool.submit(
                grant_worker,
                worker=worker,
                workers=args.workers,
                plan=plan,
                code=code,
                rate=args.rate,
                start_at=start_at,
            )
            for worker in range(args.workers)
        ]
        outcomes = [row for future in futures for row in future.result()]
    return grants_figures(
        outcomes=outcomes,
        start_at=start_at,
        action=action,
        pod_id=pod_id,
        budget=budget,
        fits=fits,
        load_before=load_before,
    )


def grant_worker(
    *, worker: int, workers: int, plan: list, code: str, rate: float, start_at: float
) -> list[tuple]:
    """Ask this worker's share of `plan` on schedule (index / rate after
    start_at); (index, due, started, ended, state, error) per ask."""
    from django.db import connection
    from django.utils import timezone

    import authority.services

    actors = Actors()
    for user_id, _customer in plan[worker::workers]:
        actors.of(user_id)  # read before the clock starts, as a page would
    connection.ensure_connection()
    done = []
    for index in range(worker, len(plan), workers):
        user_id, customer_id = plan[index]
        due = start_at + index / rate if rate else time.monotonic()
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        started = time.monotonic()
        try:
            asked = authority.services.authority_ask(
                actor=actors.of(user_id),
                action_code=code,
                amount=GRANT_AMOUNT,
                customer_id=customer_id,
                ticket_id=None,
                idempotency_key=f"{code}-{index}",
                now=timezone.now(),
            )
            state, error = asked.request.state, ""
        except Exception as exc:  # counted and reported, never hidden
            state, error = "ERROR", repr(exc)[:300]
        done.append((index, due, started, time.monotonic(), state, error))
    connection.close()
    return done


def grants_figures(
    *, outcomes, start_at, action, pod_id, budget, fits, load_before
) -> dict:
    states = Counter(row[4] for row in outcomes)
    ended = max(row[3] for row in outcomes)
    service = [row[3] - row[2] for row in outcomes]
    late = [max(row[2] - row[1], 0.0) for row in outcomes]
    errors = [row[5] for row in outcomes if row[5]]
    checks = grants_check(
        action=action, pod_id=pod_id, budget=budget, fits=fits, asks=len(outcomes)
    )
    checks["errors"] = errors[:5]
    checks["ok"] = checks["ok"] and not errors
    return {
        "asks": len(outcomes),
        "states": dict(states),
        "seconds": round(ended - start_at, 2),
        "achieved_per_second": round(len(outcomes) / max(ended - start_at, 1e-6), 1),
        "latency": percentiles_ms(service),
        "late": percentiles_ms(late),
        "budget": str(budget),
        "checks": checks,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def grants_check(*, action, pod_id: int, budget: Decimal, fits: int, asks: int) -> dict:
    """Zero overspend, counted exactly: the pod's counter, the grants and the
    ledger agree, stay within the budget, and exactly the asks that fit were
    granted; every ask was answered once."""
    from django.db.models import Sum

    from authority.models import AuthorityRequest, Grant, LedgerEntry, UsageCounter

    granted = Grant.objects.filter(action_type=action)
    total = granted.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    ledger = LedgerEntry.objects.filter(grant__action_type=action).aggregate(
        total=Sum("amount")
    )["total"] or Decimal(0)
    counter = UsageCounter.objects.filter(
        scope=UsageCounter.Scope.POD_MONTH, scope_id=pod_id, action_type=action
    ).aggregate(total=Sum("amount"), count=Sum("count"))
    requests = AuthorityRequest.objects.filter(action_type=action).count()
    expected_grants = min(fits, asks)
    checks = {
        "granted": granted.count(),
        "expected_grants": expected_grants,
        "granted_total": str(total),
        "ledger_total": str(ledger),
        "pod_counter": str(counter["total"]),
        "requests": requests,
    }
    checks["ok"] = (
        total == ledger == counter["total"]
        and total <= budget
        and granted.count() == expected_grants == counter["count"]
        and requests == asks
    )
    return checks


def grants_profile(*, stamp: str, rng) -> str:
    """cProfile 300 asks in this process, one after another."""
    from django.utils import timezone

    import authority.services

    code = f"bench-{stamp}-profile"
    grants_action(code=code, budget=GRANT_AMOUNT * 1000, now=timezone.now())
    agents = agents_by_pod()
    pod_id = min(agents)
    customers = [row[0] for row in base_customers() if row[1] == pod_id]
    actors = Actors()
    profiler = cProfile.Profile()
    profiler.enable()
    for index in range(300):
        authority.services.authority_ask(
            actor=actors.of(rng.choice(agents[pod_id])[1]),
            action_code=code,
            amount=GRANT_AMOUNT,
            customer_id=rng.choice(customers),
            ticket_id=None,
            idempotency_key=f"{code}-{index}",
            now=timezone.now(),
        )
    profiler.disable()
    profiler.dump_stats(REPORTS_DIR / f"authority-{stamp}-ask.prof")
    return profile_text(profiler)


# --- The report -----------------------------------------------------------------------


def all_targets_met(report: dict) -> bool:
    return all(
        report[part]["summary"]["meets_target"]
        for part in ("decide", "grants")
        if part in report
    )


def counts_text(counts: dict) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))


def report_markdown(report: dict) -> str:
    mach, pg, data = report["machine"], report["postgresql"], report["dataset"]
    lines = [
        f"# Authority benchmark, {report['started_at'][:19]}",
        "",
        f"- Machine: {mach['cpus']} CPUs ({mach['cpu_model']}), {mach['memory']};"
        f" load average at start {fmt_load(mach['load_average_start'])},"
        f" at end {fmt_load(report['load_average_end'])}",
        f"- Code: commit {report['code']['commit'] or 'unknown'}"
        + (" (authority modified)" if report["code"]["authority_modified"] else ""),
        f"- Python {mach['python']}, Django {mach['django']},"
        f" PostgreSQL {pg['server_version']} (shared_buffers {pg['shared_buffers']},"
        f" synchronous_commit {pg['synchronous_commit']}, fsync {pg['fsync']})",
        f"- Dataset: {data['pods']} pods, {data['agents']} agents,"
        f" {data['customers']:,} customers, {data['grants']:,} grants"
        f" ({data['grant_table_bytes'] / 2**20:,.0f} MiB with indexes),"
        f" {data['ledger_entries']:,} ledger entries,"
        f" {data['usage_counters']:,} usage counters, {data['requests']:,} requests,"
        f" {data['rules_current']} rules in force;"
        f" database {data['database_bytes'] / 2**30:.2f} GiB",
    ]
    generated = report["generation"]
    if "grants" in generated:
        grants = generated["grants"]
        lines.append(
            f"- Generated: {grants['grants']['rows']:,} grants by COPY in"
            f" {grants['grants']['seconds']} s, ledger {grants['ledger_seconds']} s,"
            f" counters {grants['counters_seconds']} s, vacuum analyze"
            f" {grants['vacuum_analyze_seconds']} s"
        )
    if "decide" in report:
        decide = report["decide"]
        queries = decide["queries_per_decision"]
        lines += [
            "",
            "## Decision (authority_preview: read-only, what the panel shows)",
            "",
            f"{queries['min']}-{queries['max']} queries per decision.",
            "",
            "| run | p50 ms | p95 ms | p99 ms | ceiling p95 ms | outcomes |"
            " load average |",
            "|---|---|---|---|---|---|---|",
        ]
        for number, run in enumerate(decide["runs"], 1):
            lines.append(
                f"| {number} | {run['decision']['median_ms']}"
                f" | {run['decision']['p95_ms']} | {run['decision']['p99_ms']}"
                f" | {run['ceiling']['p95_ms']}"
                f" | {counts_text(run['outcomes'])}"
                f" | {fmt_load(run['load_average_after'])} |"
            )
        summary = decide["summary"]
        lines += [
            "",
            f"Median of runs: p50 {summary['decision_median_ms']} ms, p95"
            f" **{summary['decision_p95_ms']} ms** (target < {DECISION_TARGET_P95_MS}"
            f" ms: {'met' if summary['meets_target'] else 'MISSED'}), p99"
            f" {summary['decision_p99_ms']} ms; ceiling p95"
            f" {summary['ceiling_p95_ms']} ms.",
        ]
    if "grants" in report:
        grants = report["grants"]
        args = report["arguments"]
        rate = f"{args['rate']:.0f}/s" if args["rate"] else "as fast as possible"
        alone = grants["sequential"]
        lines += [
            "",
            f"## Grants against one pod budget ({args['workers']} processes, {rate},"
            f" {grants['asks_per_run']} asks per run)",
            "",
            f"One ask alone: p50 {alone['latency']['median_ms']} ms, p95"
            f" {alone['latency']['p95_ms']} ms; CPU per ask {alone['client_cpu_ms']} ms"
            f" in Python + {alone['postgresql_cpu_ms']} ms in PostgreSQL, so at most"
            f" {alone['cpu_bound_per_second']}/s on {mach['cpus']} idle cores"
            f" (load average {fmt_load(alone['load_average'])}).",
            "",
            "| run | achieved /s | p50 ms | p95 ms | p99 ms | late p95 ms | states |"
            " budget | granted | checks | load average |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for number, run in enumerate(grants["runs"], 1):
            checks = run["checks"]
            lines.append(
                f"| {number} | {run['achieved_per_second']}"
                f" | {run['latency']['median_ms']} | {run['latency']['p95_ms']}"
                f" | {run['latency']['p99_ms']} | {run['late']['p95_ms']}"
                f" | {counts_text(run['states'])}"
                f" | {run['budget']} | {checks['granted_total']}"
                f" | {'ok' if checks['ok'] else 'BROKEN'}"
                f" | {fmt_load(run['load_average_after'])} |"
            )
        summary = grants["summary"]
        lines += [
            "",
            f"Median of runs: **{summary['achieved_per_second']}/s** achieved,"
            f" p50 {summary['latency_median_ms']} ms, p95 {summary['latency_p95_ms']}"
            f" ms; zero overspend and counters = grants = ledger:"
            f" {'yes' if summary['checks_ok'] else 'NO'}"
            f" ({'met' if summary['meets_target'] else 'MISSED'}).",
        ]
    for part in ("decide", "grants"):
        profile = report.get(part, {}).get("profile")
        if profile:
            lines += ["", f"## Profile: {part}", "", "```", profile.strip(), "```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
