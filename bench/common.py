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
def _engine_worker_main(
    conninfo: str,
    flow_names: list[str],
    concurrency: int,
    worker_id: str,
    listen: bool,
    poll_interval: float,
    record_path: str | None,
) -> None:
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

    def __init__(
        self,
        conninfo: str,
        flow_names: list[str],
        count: int,
        *,
        concurrency: int = 10,
        listen: bool = True,
        poll_interval: float = 1.0,
        record_dir: Path | None = None,
    ) -> None:
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

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (their children, under process isolation, are found from these)."""
        return [proc.pid for proc in self.procs if proc.pid]

    def peak_rss_mib(self) -> list[float]:
        """VmHWM of each worker process and child, MiB; read while they run."""
        return peak_rss_mib(self.pids)

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


# ----------------------------------------------------------------------------------------------------
# Where the time goes: CPU of process trees, peak memory, WAL
# ----------------------------------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float, float]]:
    """Every process readable in /proc: pid -> (parent pid, own CPU seconds, CPU seconds of the children it
    has waited for), user and system time together."""
    out: dict[int, tuple[int, float, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on; the name may hold spaces
        ppid, utime, stime, cutime, cstime = (int(fields[i]) for i in (1, 11, 12, 13, 14))
        out[int(entry)] = (ppid, (utime + stime) / CLOCK_TICKS, (cutime + cstime) / CLOCK_TICKS)
    return out


def _descendants(roots: Sequence[int], procs: dict[int, tuple[int, float, float]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    seen: list[int] = []
    todo = [pid for pid in roots if pid in procs]
    while todo:
        pid = todo.pop()
        seen.append(pid)
        todo.extend(children.get(pid, ()))
    return seen


def tree_cpu(roots: Sequence[int]) -> float:
    """CPU seconds (user + system) spent so far by the processes ``roots`` and all their descendants, those
    that exited and were waited for included (they are in their parent's children times)."""
    procs = _processes()
    return sum(procs[pid][1] + procs[pid][2] for pid in _descendants(roots, procs))


def peak_rss_mib(roots: Sequence[int]) -> list[float]:
    """The peak resident set (VmHWM, MiB) of each live process of the trees ``roots``."""
    out = []
    for pid in _descendants(roots, _processes()):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out.append(round(int(line.split()[1]) / 1024, 1))
        except OSError:
            continue
    return out


def postmaster_pid(conn: psycopg.Connection[Any]) -> int | None:
    """The pid of the PostgreSQL server (the parent of this connection's backend) when it runs on this
    machine and /proc shows it; None otherwise."""
    row = conn.execute("select pg_backend_pid()").fetchone()
    try:
        text = Path(f"/proc/{row[0]}/stat").read_text() if row else ""
    except OSError:
        return None
    return int(text[text.rindex(")") + 2 :].split()[1]) if text else None


class Usage:
    """Resources spent between ``start()`` and ``stop(tasks)``: CPU of every PostgreSQL server process
    (the postmaster's tree: backends, background writers, the WAL writer, autovacuum), CPU of the client
    processes ``client_pids`` (worker processes and their children), and WAL written (the difference of
    ``pg_current_wal_lsn()``). The server and the machine are shared: whatever else runs at the same time
    is counted too."""

    def __init__(self, conn: psycopg.Connection[Any], client_pids: Sequence[int]) -> None:
        self.conn = conn
        self.client_pids = list(client_pids)
        self.server_pid = postmaster_pid(conn)

    def _wal(self) -> str:
        row = self.conn.execute("select pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        return str(row[0])

    def start(self) -> Usage:
        self.pg0 = tree_cpu([self.server_pid]) if self.server_pid else None
        self.py0 = tree_cpu(self.client_pids)
        self.lsn0 = self._wal()
        return self

    def stop(self, tasks: int) -> dict[str, Any]:
        """The figures, totals and per task (CPU in ms per task, WAL in bytes per task)."""
        row = self.conn.execute(
            "select pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint", (self.lsn0,)
        ).fetchone()
        wal = int(row[0]) if row else 0
        py = tree_cpu(self.client_pids) - self.py0
        pg = tree_cpu([self.server_pid]) - self.pg0 if self.server_pid and self.pg0 is not None else None
        return {
            "tasks": tasks,
            "postgres_cpu_s": None if pg is None else round(pg, 3),
            "client_cpu_s": round(py, 3),
            "wal_bytes": wal,
            "postgres_cpu_ms_per_task": None if pg is None else round(pg * 1000 / tasks, 4),
            "client_cpu_ms_per_task": round(py * 1000 / tasks, 4),
            "wal_bytes_per_task": round(wal / tasks, 1),
        }
