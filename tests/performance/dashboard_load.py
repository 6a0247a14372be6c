"""Load generator of the dashboard benchmark: whole dashboards (a page and the
panels it includes) requested one after the other over one HTTP/1.1 keep-alive
connection per signed-in user, as a process of its own. No Django here.

    python -m tests.performance.dashboard_load --plan PLAN.json --out RESULT.json \\
        [--iterations 60] [--warmup 5]

The plan (JSON) holds the server's URL, one session cookie per user and the
scenarios: `{"url": ..., "cookies": {"lead": "sessionid=..."}, "scenarios":
[{"key": "pod-lead-7", "user": "lead", "requests": [["pod-dashboard",
"/pods/1/dashboard/?period=7"], ["pod-figures", "/pods/1/figures/?period=7"],
...]}]}`.

Each scenario in turn: `--warmup` iterations (not counted), then `--iterations`
iterations; an iteration requests the scenario's URLs one at a time, in order,
as a browser loading the page and then its panels would (but without
concurrency, so that each server time is the request's alone). Per URL and per
iteration (the sum of the iteration's server times, the "whole view"), the
server's own time from each answer's Server-Timing header, and the client's.
Every answer must be 200 with a body; anything else is counted and its
iteration left out of the sums.
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from tests.performance.workspace_load import Connection, summary


async def scenario_run(
    *, conn: Connection, scenario: dict, iterations: int, warmup: int
) -> dict:
    names = [name for name, _path in scenario["requests"]]
    server: dict[str, list[float]] = {name: [] for name in names}
    client: dict[str, list[float]] = {name: [] for name in names}
    sizes: dict[str, list[int]] = {name: [] for name in names}
    statuses: dict[str, Counter] = {name: Counter() for name in names}
    whole_server: list[float] = []
    whole_client: list[float] = []
    for number in range(warmup + iterations):
        counted = number >= warmup
        total_server = 0.0
        started = time.perf_counter()
        complete = True
        for name, path in scenario["requests"]:
            sent = time.perf_counter()
            answer = await conn.get(path)
            took = (time.perf_counter() - sent) * 1000
            if not counted:
                continue
            statuses[name][str(answer.status)] += 1
            if answer.status != 200 or not answer.body or answer.server_ms is None:
                complete = False
                continue
            server[name].append(answer.server_ms)
            client[name].append(took)
            sizes[name].append(len(answer.body))
            total_server += answer.server_ms
        if counted and complete:
            whole_server.append(total_server)
            whole_client.append((time.perf_counter() - started) * 1000)
    return {
        "key": scenario["key"],
        "urls": {
            name: {
                "path": path,
                "statuses": dict(statuses[name]),
                "server": summary(server[name]),
                "client": summary(client[name]),
                "bytes_median": sorted(sizes[name])[len(sizes[name]) // 2]
                if sizes[name]
                else 0,
            }
            for name, path in scenario["requests"]
        },
        "whole": {
            "iterations": len(whole_server),
            "server": summary(whole_server),
            "client": summary(whole_client),
        },
    }


async def plan_run(plan: dict, *, iterations: int, warmup: int) -> dict:
    parts = urlsplit(plan["url"])
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conns = {
        user: Connection(host, port, cookie) for user, cookie in plan["cookies"].items()
    }
    results = []
    cpu = time.process_time()
    for scenario in plan["scenarios"]:
        results.append(
            await scenario_run(
                conn=conns[scenario["user"]],
                scenario=scenario,
                iterations=iterations,
                warmup=warmup,
            )
        )
    for conn in conns.values():
        conn.close()
    return {
        "scenarios": results,
        "client_cpu_seconds": round(time.process_time() - cpu, 2),
        "reconnects": sum(conn.reconnects for conn in conns.values()),
    }


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    plan = json.loads(args.plan.read_text())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    result = runner(plan_run(plan, iterations=args.iterations, warmup=args.warmup))
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
