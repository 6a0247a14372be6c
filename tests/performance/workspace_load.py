"""Load generator of the workspace benchmark: signed-in GET requests over HTTP/1.1
keep-alive on loopback, as a process of its own so that its CPU is not the
server's. No Django here.

    python -m tests.performance.workspace_load --plan PLAN.json --out RESULT.json \\
        --mode latency|throughput [--connections 8] [--seconds 20] [--warmup 3]

The plan (JSON) holds the server's URL, the session cookie and the requests:
`{"url": ..., "cookie": "sessionid=...", "targets": {"queue": ["/queue/"],
"ticket": ["/tickets/1/", ...], "ceiling": ["/bench/pk/1/", ...]}}`.

- `latency`: one connection, one request at a time, the targets taken in turn
  (queue, ticket, ceiling, queue, ...), each target's paths in order: `--count`
  requests per target. Low concurrency, so the client's latency is the server's
  time plus loopback; the server's own time is read from each answer's
  Server-Timing header.
- `throughput`: `--connections` connections send `--target`'s paths in turn, each
  as soon as its previous answer arrived (closed loop), for `--warmup` seconds
  (not counted) and then `--seconds`: requests per second at saturation.

Every answer is checked: status 200, and the queue page's rows are counted
(`data-ticket-id="`), so a sign-in redirect or an empty page cannot pass for a
fast one.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.performance._http import KeepAliveConnection

ROW_MARKER = b'data-ticket-id="'


@dataclass
class Answer:
    status: int
    server_ms: float | None
    body: bytes


class Connection(KeepAliveConnection):
    """A keep-alive connection that GETs pages with the agent's session."""

    def __init__(self, host: str, port: int, cookie: str) -> None:
        super().__init__(host, port)
        self.cookie = cookie

    def request(self, path: str) -> bytes:
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Cookie: {self.cookie}\r\nAccept: text/html\r\n\r\n"
        ).encode()

    async def get(self, path: str) -> Answer:
        response = await self.exchange(self.request(path))
        timing = response.headers.get(b"server-timing")
        return Answer(
            response.status,
            _duration(timing) if timing is not None else None,
            response.body,
        )


def _duration(value: bytes) -> float | None:
    for part in value.decode().split(";"):
        key, _, number = part.strip().partition("=")
        if key == "dur":
            return float(number)
    return None


def summary(values: list[float]) -> dict:
    if len(values) < 2:
        return {"n": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(cuts[94], 2),
        "p99_ms": round(cuts[98], 2),
        "max_ms": round(max(values), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


async def latency(plan: dict, *, count: int) -> dict:
    """Every target `count` times, in turn, on one connection."""
    host, port = _address(plan["url"])
    conn = Connection(host, port, plan["cookie"])
    targets = plan["targets"]
    client: dict[str, list[float]] = {name: [] for name in targets}
    server: dict[str, list[float]] = {name: [] for name in targets}
    statuses: dict[str, Counter] = {name: Counter() for name in targets}
    rows: dict[str, Counter] = {name: Counter() for name in targets}
    sizes: dict[str, list[int]] = {name: [] for name in targets}
    for number in range(count):
        for name, paths in targets.items():
            path = paths[number % len(paths)]
            sent = time.perf_counter()
            answer = await conn.get(path)
            took = (time.perf_counter() - sent) * 1000
            statuses[name][str(answer.status)] += 1
            if answer.status != 200:
                continue
            client[name].append(took)
            if answer.server_ms is not None:
                server[name].append(answer.server_ms)
            sizes[name].append(len(answer.body))
            if name == "queue":
                rows[name][str(answer.body.count(ROW_MARKER))] += 1
    conn.close()
    return {
        name: {
            "statuses": dict(statuses[name]),
            "client": summary(client[name]),
            "server": summary(server[name]),
            "bytes_median": int(statistics.median(sizes[name])) if sizes[name] else 0,
            "rows": dict(rows[name]),
        }
        for name in targets
    }


async def throughput(
    plan: dict, *, target: str, connections: int, warmup: float, seconds: float
) -> dict:
    """Closed loop: each connection sends its next request on the answer."""
    host, port = _address(plan["url"])
    paths = plan["targets"][target]
    started = time.perf_counter()
    window = (started + warmup, started + warmup + seconds)
    latencies: list[float] = []
    server: list[float] = []
    statuses: Counter = Counter()
    failures: Counter = Counter()
    answered = [0]  # warm-up included: what the server's CPU was spent on
    conns = [Connection(host, port, plan["cookie"]) for _ in range(connections)]

    async def run(number: int) -> None:
        conn = conns[number]
        step = number
        while True:
            sent = time.perf_counter()
            if sent >= window[1]:
                return
            path = paths[step % len(paths)]
            step += connections
            try:
                answer = await conn.get(path)
            except (OSError, asyncio.IncompleteReadError, ConnectionError) as exc:
                failures[type(exc).__name__] += 1
                conn.close()
                continue
            done = time.perf_counter()
            answered[0] += 1
            if window[0] <= sent and done <= window[1]:
                statuses[str(answer.status)] += 1
                if answer.status == 200:
                    latencies.append((done - sent) * 1000)
                    if answer.server_ms is not None:
                        server.append(answer.server_ms)

    cpu = time.process_time()
    await asyncio.gather(*(run(number) for number in range(connections)))
    cpu = time.process_time() - cpu
    for conn in conns:
        conn.close()
    return {
        "target": target,
        "connections": connections,
        "seconds": seconds,
        "warmup": warmup,
        "ok": len(latencies),
        "answered_in_all": answered[0],
        "rps": round(len(latencies) / seconds, 1),
        "statuses": dict(statuses),
        "client": summary(latencies),
        "server": summary(server),
        "client_cpu_seconds": round(cpu, 2),
        "client_failures": dict(failures),
        "reconnects": sum(conn.reconnects for conn in conns),
    }


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plan", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", choices=["latency", "throughput"], required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--target", default="queue")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = arguments().parse_args(argv)
    plan = json.loads(args.plan.read_text())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.mode == "latency":
        result = runner(latency(plan, count=args.count))
    else:
        result = runner(
            throughput(
                plan,
                target=args.target,
                connections=args.connections,
                warmup=args.warmup,
                seconds=args.seconds,
            )
        )
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
