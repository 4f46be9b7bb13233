"""Peer benchmarks: the same two workloads as pgflow's own scenarios, run on two
other job queues that live in PostgreSQL -- procrastinate and pgqueuer -- so
the results can be compared as ratios against pgflow in the same run on the
same database server.

Workloads (all job bodies are no-ops apart from what expresses the workload):

* ``chain``: ``chains`` independent chains of ``length`` jobs.  Job k of a chain,
  when it runs, enqueues job k+1 -- the way a queue without DAGs expresses a
  chain.  All first jobs are enqueued in one bulk statement before the clock
  starts.
* ``wide``: ``n`` independent jobs, then one final (reduce) job.  A one-row
  counter table starts at ``n``; every job decrements it in its own statement
  and the job that takes it to zero enqueues the final job.  Neither library
  has a fan-in primitive, so that counter is the cheapest correct expression.

Each run gets a freshly created database (dropped afterwards), ``workers``
separate worker processes (``bench/peer_workers/*_worker.py``), each running
10 jobs at a time.  The workers are started, connect and register their tasks,
report ready, and wait.  The clock is the database server's (as in pgflow's own
scenarios): it starts just before the workers are released and stops at the
timestamp the library recorded for the last successful completion.  The parent
detects the end with a cheap EXISTS query every 10 ms ("no job queued or
running"): successors are always enqueued by a job body before that job is
marked finished, so "nothing left" means "the last job of every chain / the
final job has completed".  The job tables are then checked for the exact
number of successful jobs per task.

Usage::

    cd /work/main && .venv/bin/python bench/peers.py   # all four runs, 4 workers
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

LIBRARIES = ("procrastinate", "pgqueuer")
WORKLOADS = ("chain", "wide")
CONCURRENCY = 10  # jobs in flight per worker process, as pgflow's workers

WORKER_DIR = Path(__file__).resolve().parent / "peer_workers"
COMPLETION_POLL_S = 0.010  # how often the parent checks for completion
READY_TIMEOUT_S = 60.0  # for all workers to start, connect and report ready
STOP_TIMEOUT_S = 5.0  # graceful stop before SIGKILL
SETUP_TIMEOUT_S = 120.0  # schema install + bulk enqueue
CONNECT_TIMEOUT_S = 10

# Library settings, chosen to let each library go as fast as it reasonably can.
# procrastinate: LISTEN/NOTIFY wake-ups (its default), plus a short fallback
# poll: its fetch loop clears the "new job" event after each fetch, so a NOTIFY
# that lands during a fetch that came back empty is only picked up by the poll.
PROCRASTINATE_POLL_S = 0.05
# pgqueuer: LISTEN/NOTIFY wake-ups (its default), dequeue in batches of 10 (its
# default batch size, and its closest equivalent of "concurrency 10"), completions
# flushed by its own buffer (per batch or every ~0.1 s), and asyncpg, the driver
# its CLI prefers (psycopg if asyncpg is not installed; asyncpg measured ~1.4-1.7x
# faster here).  max_concurrent_tasks stays unlimited (its default): the smallest
# cap it accepts with batches of 10 is 20 (it requires >= 2 * batch_size), and
# that cap made the chain ~1.8x slower, because jobs whose completion still sits
# in the 0.1 s status buffer keep counting against it.  The dequeue timeout is
# only a fallback: a NOTIFY wakes the worker, and pgqueuer itself re-polls after
# 0.1 s whenever eligible work is left.
PGQUEUER_BATCH = 10
PGQUEUER_MAX_IN_FLIGHT: int | None = None
PGQUEUER_POLL_S = 0.5


class PeerBenchError(RuntimeError):
    """A peer run could not be carried out or did not do the expected work."""


def available(library: str) -> bool:
    """True when ``library`` ('procrastinate' | 'pgqueuer') can be imported."""
    if library not in LIBRARIES:
        raise ValueError(f"unknown library {library!r}; expected one of {LIBRARIES}")
    return importlib.util.find_spec(library) is not None


def _require(library: str) -> str:
    if not available(library):
        raise PeerBenchError(
            f"{library} is not installed in this interpreter ({sys.executable}); "
            f"install it (e.g. `pip install {library}`) to run its peer benchmark"
        )
    return importlib.metadata.version(library)


def _pgqueuer_driver() -> str:
    return "asyncpg" if importlib.util.find_spec("asyncpg") is not None else "psycopg"


# Event loop of the worker processes: pgqueuer's own CLI runs workers on uvloop
# (one of its dependencies) when it can; procrastinate's CLI uses asyncio's
# default loop, but runs fine on uvloop and was ~5-15% faster on it here, so
# both get uvloop when it is installed.
USE_UVLOOP = {"procrastinate": True, "pgqueuer": True}


def _event_loop(library: str) -> str:
    if USE_UVLOOP[library] and importlib.util.find_spec("uvloop") is not None:
        return "uvloop"
    return "asyncio"


# --------------------------------------------------------------------------- #
# Database lifecycle
# --------------------------------------------------------------------------- #


def _admin_connect(admin_conninfo: str) -> psycopg.Connection:
    return psycopg.connect(admin_conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


def _create_database(admin_conninfo: str, library: str, workload: str) -> str:
    name = f"pgflow_peer_{library}_{workload}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _admin_connect(admin_conninfo) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def _drop_database(admin_conninfo: str, name: str) -> None:
    with _admin_connect(admin_conninfo) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _db_conninfo(admin_conninfo: str, dbname: str) -> str:
    # Keep every connection parameter of the admin conninfo, change the database.
    params = conninfo_to_dict(admin_conninfo)
    params["dbname"] = dbname
    return make_conninfo("", **params)


# --------------------------------------------------------------------------- #
# Per-library setup, completion check and verification (parent side)
# --------------------------------------------------------------------------- #


def _initial_jobs(workload: str, chains: int, n: int) -> tuple[str, list[int]]:
    """(task name, per-job index) of the jobs enqueued before the clock starts."""
    if workload == "chain":
        return "bench_chain", list(range(chains))
    return "bench_wide", list(range(n))


def _expected(workload: str, chains: int, length: int, n: int) -> dict[str, int]:
    if workload == "chain":
        return {"bench_chain": chains * length}
    return {"bench_wide": n, "bench_final": 1}


async def _setup_procrastinate(conninfo: str, workload: str, chains: int, n: int) -> float:
    """Install the schema and bulk-enqueue the first jobs; returns the enqueue's seconds."""
    import procrastinate

    # procrastinate warns when an App is created from a __main__ module (task
    # names could be unstable); the tasks here are deferred by explicit name.
    blueprint_log = logging.getLogger("procrastinate.blueprints")
    level = blueprint_log.level
    blueprint_log.setLevel(logging.ERROR)
    try:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
    finally:
        blueprint_log.setLevel(level)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        task, idx = _initial_jobs(workload, chains, n)
        deferrer = app.configure_task(task)
        if workload == "chain":
            kwargs = [{"c": i, "k": 0} for i in idx]
        else:
            kwargs = [{"i": i} for i in idx]
        started = time.perf_counter()
        await deferrer.batch_defer_async(*kwargs)
        return time.perf_counter() - started


async def _setup_pgqueuer(conninfo: str, workload: str, chains: int, n: int) -> float:
    """Install the schema and bulk-enqueue the first jobs; returns the enqueue's seconds."""
    from pgqueuer import PsycopgDriver, Queries

    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
    ) as conn:
        queries = Queries(PsycopgDriver(conn))
        await queries.install()
        task, idx = _initial_jobs(workload, chains, n)
        if workload == "chain":
            payloads: list[bytes | None] = [f"{i}:0".encode() for i in idx]
        else:
            payloads = [str(i).encode() for i in idx]
        started = time.perf_counter()
        await queries.enqueue([task] * len(idx), payloads, [0] * len(idx))
        return time.perf_counter() - started


def _pgqueuer_tables() -> tuple[str, str]:
    from pgqueuer.domain.settings import DBSettings

    settings = DBSettings()
    return settings.queue_table, settings.queue_table_log


def _pending_query(library: str) -> sql.Composable:
    """True while any job is still queued or running (cheap, index-friendly)."""
    if library == "procrastinate":
        return sql.SQL("SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))")
    queue_table, _ = _pgqueuer_tables()
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(queue_table))


def _last_completion(library: str, conn: psycopg.Connection) -> float:
    """Server timestamp (epoch s) of the last successful completion the library recorded."""
    if library == "procrastinate":
        query: sql.Composable = sql.SQL(
            "SELECT extract(epoch FROM max(at))::float8 FROM procrastinate_events WHERE type = 'succeeded'"
        )
    else:
        _, log_table = _pgqueuer_tables()
        query = sql.SQL("SELECT extract(epoch FROM max(created))::float8 FROM {} WHERE status = 'successful'").format(
            sql.Identifier(log_table)
        )
    row = conn.execute(query).fetchone()
    if row is None or row[0] is None:
        raise PeerBenchError(f"{library}: no completed job recorded")
    return float(row[0])


def _db_now(conn: psycopg.Connection) -> float:
    row = conn.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()
    assert row is not None
    return float(row[0])


def _outcome_counts(library: str, conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    if library == "procrastinate":
        rows = conn.execute("SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2").fetchall()
    else:
        _, log_table = _pgqueuer_tables()
        rows = conn.execute(
            sql.SQL(
                "SELECT entrypoint, status::text, count(*) FROM {} "
                "WHERE status NOT IN ('queued', 'picked') GROUP BY 1, 2"
            ).format(sql.Identifier(log_table))
        ).fetchall()
    return {(task, status): count for task, status, count in rows}


def _verify(library: str, conn: psycopg.Connection, expected: dict[str, int]) -> None:
    ok_status = "succeeded" if library == "procrastinate" else "successful"
    counts = _outcome_counts(library, conn)
    want = {(task, ok_status): count for task, count in expected.items()}
    if counts != want:
        raise PeerBenchError(
            f"{library}: unexpected job outcomes {sorted(counts.items())}, expected {sorted(want.items())}"
        )


# --------------------------------------------------------------------------- #
# Worker processes
# --------------------------------------------------------------------------- #


def _worker_config(library: str, conninfo: str, length: int) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "conninfo": conninfo,
        "length": length,
        "concurrency": CONCURRENCY,
        "event_loop": _event_loop(library),
    }
    if library == "procrastinate":
        cfg["poll_interval"] = PROCRASTINATE_POLL_S
    else:
        cfg.update(
            batch_size=PGQUEUER_BATCH,
            max_concurrent_tasks=PGQUEUER_MAX_IN_FLIGHT,
            poll_interval=PGQUEUER_POLL_S,
            driver=_pgqueuer_driver(),
        )
    return cfg


class _Workers:
    """Worker subprocesses: start, wait until ready, release, stop (always)."""

    def __init__(self, library: str, count: int, cfg: dict[str, Any]) -> None:
        self.script = WORKER_DIR / f"{library}_worker.py"
        self.count = count
        self.cfg = cfg
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Any] = []

    def start(self) -> None:
        arg = json.dumps(self.cfg)
        for _ in range(self.count):
            log = tempfile.TemporaryFile()  # noqa: SIM115 -- lives as long as its process, closed in stop()
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, str(self.script), arg],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    cwd=str(WORKER_DIR),
                    start_new_session=True,  # own process group, killed as a unit
                )
            )

    def stderr_tail(self, limit: int = 2000) -> str:
        parts = []
        for i, log in enumerate(self.logs):
            log.seek(0)
            text = log.read().decode(errors="replace").strip()
            if text:
                parts.append(f"[worker {i}] {text[-limit:]}")
        return "\n".join(parts) or "(no worker output)"

    def check_alive(self) -> None:
        for i, proc in enumerate(self.procs):
            code = proc.poll()
            if code is not None:
                raise PeerBenchError(f"worker {i} exited early with code {code}:\n{self.stderr_tail()}")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = {proc.stdout.fileno(): proc for proc in self.procs}  # type: ignore[union-attr]
        buffers = dict.fromkeys(waiting, b"")
        while waiting:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerBenchError(f"{len(waiting)} worker(s) not ready after {timeout:.0f}s:\n{self.stderr_tail()}")
            readable, _, _ = select.select(list(waiting), [], [], min(left, 0.5))
            for fd in readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise PeerBenchError(f"a worker closed its stdout before being ready:\n{self.stderr_tail()}")
                buffers[fd] += chunk
                if b"READY\n" in buffers[fd]:
                    del waiting[fd]
            self.check_alive()

    def release(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=STOP_TIMEOUT_S)
        for proc in self.procs:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    try:
                        stream.close()
                    except OSError:
                        pass
        for log in self.logs:
            log.close()


# --------------------------------------------------------------------------- #
# The benchmark
# --------------------------------------------------------------------------- #


def _notes(library: str, workload: str, length: int) -> str:
    if workload == "chain":
        shape = (
            f"each chain is {length} jobs of one task; job k's body enqueues job k+1 "
            "(one INSERT through the library's own enqueue call); all first jobs bulk-"
            "enqueued in one statement before the clock starts"
        )
    else:
        shape = (
            "n jobs bulk-enqueued in one statement before the clock starts; each job "
            "body decrements a one-row counter table (UPDATE ... RETURNING, its own "
            "autocommit transaction) and the job that reaches 0 enqueues the final job"
        )
    if library == "procrastinate":
        how = (
            f"procrastinate worker per process with concurrency={CONCURRENCY} async jobs, "
            f"psycopg pool of {CONCURRENCY + 2}, LISTEN/NOTIFY wake-ups (listen_notify=True) "
            f"with fetch_job_polling_interval={PROCRASTINATE_POLL_S}s fallback; it fetches "
            "one job per query (no batch fetch); jobs kept in the table (delete_jobs=never); "
            f"{_event_loop(library)} event loop"
        )
    else:
        how = (
            f"pgqueuer QueueManager per process on one {_pgqueuer_driver()} connection, "
            f"batch_size={PGQUEUER_BATCH} (its equivalent of concurrency 10), "
            f"max_concurrent_tasks={PGQUEUER_MAX_IN_FLIGHT} (unlimited, its default: the "
            "smallest allowed cap, 20, was ~1.8x slower), LISTEN/NOTIFY wake-ups with "
            f"dequeue_timeout={PGQUEUER_POLL_S}s fallback, completions batched by its "
            "status-log buffer (flush per batch or every ~0.1 s); durable (logged) tables; "
            f"{_event_loop(library)} event loop"
        )
    return f"{shape}. {how}."


def run_peer(
    library: str,
    workload: str,
    admin_conninfo: str,
    *,
    workers: int = 4,
    chains: int = 1000,
    length: int = 5,
    n: int = 10000,
    timeout: float = 300.0,
) -> dict:
    """library: 'procrastinate' | 'pgqueuer'; workload: 'chain' | 'wide'.
    Returns {"library", "version", "workload", "workers", "jobs", "seconds", "jobs_per_s",
    "timed": "<what the clock covers>", "notes": "<how the workload was expressed>"}.
    One more key, "enqueue_seconds", is the time of the initial bulk enqueue (untimed)."""
    if library not in LIBRARIES:
        raise ValueError(f"unknown library {library!r}; expected one of {LIBRARIES}")
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")
    if workers < 1 or chains < 1 or length < 1 or n < 1:
        raise ValueError("workers, chains, length and n must all be >= 1")
    version = _require(library)
    expected = _expected(workload, chains, length, n)
    jobs = sum(expected.values())

    dbname = _create_database(admin_conninfo, library, workload)
    try:
        conninfo = _db_conninfo(admin_conninfo, dbname)
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
            if workload == "wide":
                conn.execute("CREATE TABLE bench_counter (id int PRIMARY KEY, remaining int NOT NULL)")
                conn.execute("INSERT INTO bench_counter VALUES (1, %s)", (n,))
            setup = _setup_procrastinate if library == "procrastinate" else _setup_pgqueuer
            enqueue_seconds = asyncio.run(asyncio.wait_for(setup(conninfo, workload, chains, n), SETUP_TIMEOUT_S))
            conn.execute("VACUUM ANALYZE")
            pending = _pending_query(library)

            pool = _Workers(library, workers, _worker_config(library, conninfo, length))
            try:
                pool.start()
                pool.wait_ready(READY_TIMEOUT_S)
                started = _db_now(conn)  # the server's clock, like pgflow's scenarios
                pool.release()
                deadline = time.monotonic() + timeout
                polls = 0
                while conn.execute(pending).fetchone()[0]:  # type: ignore[index]
                    polls += 1
                    if polls % 10 == 0:
                        pool.check_alive()
                    if time.monotonic() > deadline:
                        raise PeerBenchError(
                            f"{library}/{workload}: not finished after {timeout:.0f}s "
                            f"(outcomes so far: {sorted(_outcome_counts(library, conn).items())})"
                        )
                    time.sleep(COMPLETION_POLL_S)
            finally:
                pool.stop()
            _verify(library, conn, expected)
            seconds = _last_completion(library, conn) - started
    finally:
        _drop_database(admin_conninfo, dbname)

    timed = (
        "database server clock, from just before the already started, connected and "
        "idle worker processes are released (first jobs already bulk-enqueued, tables "
        "VACUUM ANALYZEd) to the timestamp of the last successful completion the "
        "library recorded ("
        + ("procrastinate_events 'succeeded'" if library == "procrastinate" else "pgqueuer_log 'successful'")
        + "); includes each worker's own start-up inside its run call (worker "
        "registration, LISTEN) but not process start, imports, connecting or the "
        "initial bulk enqueue (reported apart as enqueue_seconds)"
    )
    return {
        "library": library,
        "version": version,
        "workload": workload,
        "workers": workers,
        "jobs": jobs,
        "seconds": round(seconds, 3),
        "jobs_per_s": round(jobs / seconds, 1),
        "enqueue_seconds": round(enqueue_seconds, 3),
        "timed": timed,
        "notes": _notes(library, workload, length),
    }


def main() -> int:
    admin = os.environ.get("DATABASE_URL") or "dbname=postgres"
    status = 0
    for library in LIBRARIES:
        for workload in WORKLOADS:
            if not available(library):
                print(json.dumps({"library": library, "workload": workload, "skipped": "not installed"}))
                continue
            try:
                result = run_peer(library, workload, admin, workers=4)
            except Exception as exc:  # report and go on with the other runs
                status = 1
                print(json.dumps({"library": library, "workload": workload, "error": f"{type(exc).__name__}: {exc}"}))
                continue
            print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
