"""Shared plumbing of the benchmarks: databases, worker processes, clocks, statistics, machine facts."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import multiprocessing
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import database  # noqa: E402
import psycopg  # noqa: E402

import pgflow  # noqa: E402

SPAWN = multiprocessing.get_context("spawn")


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def fresh_database(admin: str, prefix: str = "pgflow_bench") -> Iterator[str]:
    """A new database with the pgflow schema installed, dropped afterwards."""
    with database.scratch_database(admin, prefix) as url:
        pgflow.migrate(url)
        yield url


def db_now(conn: psycopg.Connection[Any]) -> float:
    """The database server's wall clock, as a Unix timestamp (every timing below uses this one clock)."""
    row = conn.execute("select extract(epoch from clock_timestamp())::float8").fetchone()
    assert row is not None
    return float(row[0])


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ----------------------------------------------------------------------------------------------------
# pgflow worker processes
# ----------------------------------------------------------------------------------------------------
def _engine_worker_main(conninfo: str, flow_names: list[str], concurrency: int, worker_id: str, listen: bool,
                        poll_interval: float, record_path: str | None) -> None:
    from bench import flows  # noqa: PLC0415 - imported in the child process

    reports: list[tuple[str, str, float]] = []

    def on_report(task: pgflow.Task, recorded: bool) -> None:
        if recorded:
            reports.append((str(task.run_id), task.step_slug, time.time()))

    worker = pgflow.Worker(
        conninfo,
        [flows.FLOWS[name] for name in flow_names],
        concurrency=concurrency,
        worker_id=worker_id,
        define=False,
        listen=listen,
        poll_interval=poll_interval,
        on_report=on_report if record_path else None,
    )
    worker.run()
    if record_path:
        Path(record_path).write_text(json.dumps({"starts": flows.START_TIMES, "reports": reports}))


class EngineWorkers:
    """``count`` pgflow worker processes, each ``pgflow.Worker(concurrency=...)``; stopped with SIGTERM."""

    def __init__(self, conninfo: str, flow_names: list[str], count: int, *, concurrency: int = 10,
                 listen: bool = True, poll_interval: float = 1.0, record_dir: Path | None = None) -> None:
        self.conninfo = conninfo
        self.ids = [f"bench-{os.getpid()}-{i}-{time.monotonic_ns() % 100000}" for i in range(count)]
        self.record_paths = [str(record_dir / f"{wid}.json") if record_dir else None for wid in self.ids]
        self.procs = [
            SPAWN.Process(
                target=_engine_worker_main,
                args=(conninfo, flow_names, concurrency, wid, listen, poll_interval, path),
                daemon=True,
            )
            for wid, path in zip(self.ids, self.record_paths)
        ]

    def __enter__(self) -> EngineWorkers:
        for proc in self.procs:
            proc.start()
        # never prepared: the conninfo may go through a pooler in transaction mode (bench/pooler.py)
        with psycopg.connect(self.conninfo, autocommit=True, prepare_threshold=None) as conn:
            def registered() -> bool:
                for proc in self.procs:
                    if proc.exitcode is not None:
                        raise RuntimeError(f"a worker process exited early with status {proc.exitcode}")
                row = conn.execute(
                    "select count(*) from pgflow.workers where worker_id = any(%s) and stopped_at is null", (self.ids,)
                ).fetchone()
                return bool(row and row[0] == len(self.ids))

            wait_until(registered, 60, "the worker processes to start")
        time.sleep(0.2)  # let every poll loop reach its first wait
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)

    def records(self) -> list[dict[str, Any]]:
        out = []
        for path in self.record_paths:
            if path and Path(path).exists():
                out.append(json.loads(Path(path).read_text()))
        return out


def machine() -> dict[str, Any]:
    """Facts about the machine and server the results come from."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def server_facts(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        facts = {}
        for name in ("server_version", "shared_buffers", "synchronous_commit", "fsync", "max_connections"):
            row = conn.execute(f"show {name}").fetchone()
            facts[name] = row[0] if row else None
        return facts


def record(name: str, result: dict[str, Any], conninfo: str | None = None) -> Path:
    """Writes one benchmark's result, with the machine (and the server, given its conninfo), to
    bench/results/<name>/<UTC time>.json; returns the path. The figures of the docs come from these files."""
    folder = ROOT / "bench" / "results" / name
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    doc = {
        "benchmark": name,
        "recorded_at": now.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "machine": machine(),
        **({"server": server_facts(conninfo)} if conninfo else {}),
        "result": result,
    }
    path = folder / f"{now.strftime('%Y-%m-%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    log(f"recorded in {path.relative_to(ROOT)}")
    return path
