"""What the benchmarks share: the context every report records (machine, code,
PostgreSQL settings, load), percentiles, and the plumbing of the processes they
start on 127.0.0.1 (free ports, waiting, CPU and memory of a process tree)."""

import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS_DIR = Path(__file__).resolve().parent / "reports"
PG_SETTINGS = (
    "server_version",
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "max_wal_size",
    "synchronous_commit",
    "fsync",
    "random_page_cost",
    "jit",
)


# --- Context of a run -------------------------------------------------------------


def machine() -> dict:
    cpu = ""
    meminfo = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, value = line.split(":", 1)
            meminfo[key] = value.strip()
    except OSError:
        pass
    import django

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory": meminfo.get("MemTotal", ""),
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "platform": platform.platform(),
    }


def git(*command: str) -> str:
    """A git command's output in the repository ("" when git fails)."""
    try:
        return subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def postgresql_settings() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        settings = {}
        for name in PG_SETTINGS:
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
    return settings


def fmt_load(load) -> str:
    return "/".join(f"{value:.2f}" for value in load)


def percentiles_ms(seconds: list[float]) -> dict:
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {
        "n": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 3),
        "p95_ms": round(cuts[94] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
        "max_ms": round(max(seconds) * 1000, 3),
    }


# --- Processes on 127.0.0.1 ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _stderr(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    fail: bool = True,
    say: Callable[[str], None] = _stderr,
) -> bool:
    """Poll until the condition holds; past the timeout raise, or with
    fail=False say so and return False."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            if fail:
                raise RuntimeError(f"timed out waiting for {what}")
            say(f"gave up waiting for {what} after {timeout:.0f} s")
            return False
        time.sleep(0.1)
    return True


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (prefork children, uvicorn workers)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text()
        except OSError:
            continue
        todo.extend(int(child) for child in children.split())
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes so far (clock ticks from /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks
