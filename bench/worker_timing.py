"""Worker timing: deadlines, cancellation and shutdown of real `pgflow worker` processes (SPEC §8).

    .venv/bin/python bench/worker_timing.py [--repeat 5]

Each figure is measured ``repeat`` times in one fresh database with the schema migrated; the result gives the
median, the maximum and every sample, in seconds. Times that span the worker and the database (deadlines, claims,
cancellations) are read from the database's clock at both ends; the others from this process's monotonic clock.

* ``idle_sigint_exit``: an idle `pgflow worker` (default poll and heartbeat intervals), SIGINT → the process's
  exit (the interpreter's exit included). Target 0.5 s.
* ``idle_stop_return``: an idle in-process ``pgflow.Worker``, ``stop()`` → ``run()`` returning. Target 0.5 s.
* ``process_deadline_to_next_claim``: `--isolation process --concurrency 1`, a handler spinning forever
  (``while True: pass``) with a 1 s timeout, a second run waiting: the spinning task's deadline
  (pgflow.step_tasks.deadline) → the next task's started_at (its slot free again). Expected: KILL_GRACE (2 s)
  and a little; ``..._to_next_finished`` adds the new child process that runs the next handler.
* ``process_cancel_to_next_claim``: the same with a 120 s timeout and the spinning run cancelled
  (pgflow.cancel_run): the run's finished_at → the next task's started_at. Expected: KILL_GRACE and a little.
* ``thread_deadline_to_cancelled_seen``: `--isolation thread`, a handler waiting on ``ctx.cancelled`` with a
  1 s timeout, which writes clock_timestamp() to a table once it sees it: deadline → seen.
* ``startup_closed_port_exit``: `pgflow worker --startup-timeout 3` against a port nothing listens on: start →
  exit status 1 (expected: 3 s plus the interpreter's start); ``startup_refused_exit``, against a database that
  does not exist (the server refuses at once), is that start alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import psycopg.conninfo

import pgflow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
URL_VARIABLE = "PGFLOW_BENCH_TIMING_URL"  # the database the handler of ``see_cancel`` writes to
SEEN_TABLE = "bench_worker_timing_seen"


# ----------------------------------------------------------------------------------------------------
# Handlers and flows (top level: `pgflow worker bench.worker_timing:NAME` imports them, process isolation
# pickles them by reference)
# ----------------------------------------------------------------------------------------------------
def spin(run_input: Any, ctx: pgflow.Context) -> Any:
    """Never returns, never looks at ctx.cancelled: only killing its process ends it."""
    while True:
        pass


def quick(run_input: Any, ctx: pgflow.Context) -> Any:
    return {"pid": os.getpid()}


def see_cancel(run_input: Any, ctx: pgflow.Context) -> Any:
    """Waits for ctx.cancelled (60 s at most), then writes the database's clock_timestamp() for its run."""
    with psycopg.connect(os.environ[URL_VARIABLE], autocommit=True) as conn:
        seen = ctx.cancelled.wait(60)
        conn.execute(
            f"insert into {SEEN_TABLE} (run_id, seen, seen_at, handler_time) values (%s, %s, clock_timestamp(), %s)",
            (str(ctx.run_id), seen, time.time()),
        )
    return {"seen": seen}


spin_flow = pgflow.Flow("bench_wt_spin", max_attempts=1, timeout=1)
spin_flow.step(slug="spin")(spin)
spin_long = pgflow.Flow("bench_wt_spin_long", max_attempts=1, timeout=120)
spin_long.step(slug="spin")(spin)
quick_flow = pgflow.Flow("bench_wt_quick", max_attempts=1, timeout=60)
quick_flow.step(slug="quick")(quick)
see_flow = pgflow.Flow("bench_wt_see", max_attempts=1, timeout=1)
see_flow.step(slug="see")(see_cancel)
FLOWS = [spin_flow, spin_long, quick_flow, see_flow]


# ----------------------------------------------------------------------------------------------------
# Measurement
# ----------------------------------------------------------------------------------------------------
def _summary(samples: list[float]) -> dict[str, Any]:
    from bench.common import median  # noqa: PLC0415

    return {
        "median_s": round(median(samples), 3),
        "max_s": round(max(samples), 3),
        "samples_s": [round(s, 3) for s in samples],
    }


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGPASSWORD")}
    env[URL_VARIABLE] = url
    return env


@contextmanager
def _worker(url: str, tmp: Path, names: list[str], *extra: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`pgflow worker bench.worker_timing:NAME ...` running (registered in pgflow.workers) for the block."""
    worker_id = f"wt-{os.getpid()}-{time.monotonic_ns() % 10**9}"
    log_path = tmp / f"{worker_id}.log"
    cmd = [
        sys.executable,
        "-m",
        "pgflow.cli",
        "--database-url",
        url,
        "worker",
        *[f"bench.worker_timing:{n}" for n in names],
        "--worker-id",
        worker_id,
        *extra,
    ]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(url), stdout=log_file, stderr=subprocess.STDOUT)
    try:
        with psycopg.connect(url, autocommit=True) as conn:

            def registered() -> bool:
                if proc.poll() is not None:
                    raise RuntimeError(f"the worker exited with status {proc.returncode}: {log_path.read_text()}")
                return (
                    conn.execute(
                        "select 1 from pgflow.workers where worker_id = %s and stopped_at is null", (worker_id,)
                    ).fetchone()
                    is not None
                )

            _wait(registered, 60, "the worker to register")
        yield proc, worker_id
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _task_row(conn: psycopg.Connection[Any], run_id: Any, step: str) -> tuple[Any, ...]:
    row = conn.execute(
        "select status, deadline, started_at, finished_at from pgflow.step_tasks "
        "where run_id = %s and step_slug = %s and task_index = 0 order by attempt desc limit 1",
        (run_id, step),
    ).fetchone()
    assert row is not None
    return tuple(row)


def _run_row(conn: psycopg.Connection[Any], run_id: Any) -> tuple[str, Any]:
    row = conn.execute("select status, finished_at from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row is not None
    return str(row[0]), row[1]


def idle_sigint_exit(url: str, tmp: Path, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        with _worker(url, tmp, ["quick_flow"]) as (proc, _):
            time.sleep(0.5)  # its threads are up and it sits idle
            at = time.monotonic()
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=30)
            samples.append(time.monotonic() - at)
            if status != 0:
                raise RuntimeError(f"an idle worker exited with status {status} on SIGINT")
    return samples


def idle_stop_return(url: str, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        worker = pgflow.Worker(url, quick_flow, concurrency=2, define=False)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        with psycopg.connect(url, autocommit=True) as conn:
            _wait(
                lambda: conn.execute(
                    "select 1 from pgflow.workers where worker_id = %s and stopped_at is null", (worker.worker_id,)
                ).fetchone(),
                60,
                "the in-process worker to register",
            )
        time.sleep(0.5)
        at = time.monotonic()
        worker.stop()
        thread.join(timeout=30)
        samples.append(time.monotonic() - at)
        if thread.is_alive():
            raise RuntimeError("Worker.run() did not return within 30 s of stop()")
    return samples


def process_kills(url: str, tmp: Path, repeat: int) -> dict[str, list[float]]:
    """Deadline → next claim (and next finished), and cancellation → next claim, one process-isolated worker
    with one slot."""
    out: dict[str, list[float]] = {"deadline_claim": [], "deadline_finished": [], "cancel_claim": []}
    with (
        pgflow.Client(url) as client,
        psycopg.connect(url, autocommit=True) as conn,
        _worker(url, tmp, ["spin_flow", "spin_long", "quick_flow"], "--isolation", "process", "--concurrency", "1"),
    ):
        for _ in range(repeat):
            for kind in ("deadline", "cancel"):
                spinning = client.start_run(spin_flow if kind == "deadline" else spin_long, {})
                _wait(lambda: _task_row(conn, spinning.run_id, "spin")[0] == "started", 60, "the spinning handler")
                following = client.start_run(quick_flow, {})
                if kind == "cancel":
                    time.sleep(0.3)
                    client.cancel_run(spinning.run_id, "benchmark")
                _wait(lambda: _run_row(conn, following.run_id)[0] == "completed", 60, "the next run")
                _, deadline, _, _ = _task_row(conn, spinning.run_id, "spin")
                _, _, claimed, finished = _task_row(conn, following.run_id, "quick")
                if kind == "deadline":
                    out["deadline_claim"].append((claimed - deadline).total_seconds())
                    out["deadline_finished"].append((finished - deadline).total_seconds())
                    status = _wait(
                        lambda: _run_row(conn, spinning.run_id)[0] != "started" and _run_row(conn, spinning.run_id)[0],
                        30,
                        "the spinning run to fail",
                    )
                    if status != "failed":
                        raise RuntimeError(f"the spinning run is {status}, not failed")
                else:
                    status, cancelled_at = _run_row(conn, spinning.run_id)
                    if status != "cancelled":
                        raise RuntimeError(f"the spinning run is {status}, not cancelled")
                    out["cancel_claim"].append((claimed - cancelled_at).total_seconds())
    return out


def thread_deadline_seen(url: str, tmp: Path, repeat: int) -> list[float]:
    samples = []
    with (
        pgflow.Client(url) as client,
        psycopg.connect(url, autocommit=True) as conn,
        _worker(url, tmp, ["see_flow"], "--concurrency", "1"),
    ):
        for _ in range(repeat):
            run = client.start_run(see_flow, {})
            row = _wait(
                lambda: conn.execute(
                    f"select seen, seen_at from {SEEN_TABLE} where run_id = %s", (str(run.run_id),)
                ).fetchone(),
                60,
                "the handler to see ctx.cancelled",
            )
            if not row[0]:
                raise RuntimeError("the handler waited 60 s without ctx.cancelled")
            _, deadline, _, _ = _task_row(conn, run.run_id, "see")
            samples.append((row[1] - deadline).total_seconds())
    return samples


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def startup_failures(url: str, repeat: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"closed_port": [], "refused": []}
    refused = psycopg.conninfo.make_conninfo(url, dbname="pgflow_bench_no_such_database")
    for _ in range(repeat):
        for kind, target in (("closed_port", f"postgresql://127.0.0.1:{_closed_port()}/db"), ("refused", refused)):
            cmd = [
                sys.executable,
                "-m",
                "pgflow.cli",
                "--database-url",
                target,
                "worker",
                "bench.worker_timing:quick_flow",
                "--startup-timeout",
                "3",
            ]
            at = time.monotonic()
            proc = subprocess.run(cmd, cwd=ROOT, env=_env(url), capture_output=True, text=True, timeout=60)
            took = time.monotonic() - at
            if proc.returncode != 1:
                raise RuntimeError(f"{kind}: exit status {proc.returncode}, not 1: {proc.stderr}")
            out[kind].append(took)
    return out


def main(argv: list[str]) -> int:
    from bench.common import database, fresh_database, log, record  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="times each figure is measured (default 5)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    from pgflow import worker as worker_module  # noqa: PLC0415

    result: dict[str, Any] = {
        "repeat": args.repeat,
        "kill_grace_s": worker_module.KILL_GRACE,
        "targets": {"idle_exit_s": 0.5, "kill_after_deadline_s": worker_module.KILL_GRACE},
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    started = time.monotonic()
    with (
        database.server() as admin,
        fresh_database(admin, "pgflow_bench_timing") as url,
        tempfile.TemporaryDirectory() as tmp_name,
    ):
        tmp = Path(tmp_name)
        with pgflow.Client(url) as client:
            for flow in FLOWS:
                client.define(flow)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                f"create table {SEEN_TABLE} (run_id text primary key, seen boolean not null, "
                "seen_at timestamptz not null, handler_time float8 not null)"
            )
        log("idle worker: SIGINT -> exit ...")
        result["idle_sigint_exit"] = _summary(idle_sigint_exit(url, tmp, args.repeat))
        log("idle worker: stop() -> run() returns ...")
        result["idle_stop_return"] = _summary(idle_stop_return(url, args.repeat))
        log("process isolation: deadline / cancellation -> slot free ...")
        kills = process_kills(url, tmp, args.repeat)
        result["process_deadline_to_next_claim"] = _summary(kills["deadline_claim"])
        result["process_deadline_to_next_finished"] = _summary(kills["deadline_finished"])
        result["process_cancel_to_next_claim"] = _summary(kills["cancel_claim"])
        log("thread isolation: deadline -> ctx.cancelled seen ...")
        result["thread_deadline_to_cancelled_seen"] = _summary(thread_deadline_seen(url, tmp, args.repeat))
        log("start-up failures ...")
        startup = startup_failures(url, args.repeat)
        result["startup_closed_port_exit"] = _summary(startup["closed_port"])
        result["startup_refused_exit"] = _summary(startup["refused"])
        result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        print(json.dumps(result, indent=2))
        record("worker_timing", result, admin)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
