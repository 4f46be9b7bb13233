"""`make demo`: the parallel analysis flow, run by two worker processes, with live progress and a timeline.

Finds a PostgreSQL server as `make test` does (DATABASE_URL, the local server, or a throwaway cluster),
creates the database `pgflow_demo` on it anew (or uses DATABASE_URL's own database), installs the schema,
starts two `pgflow worker` processes, starts a run, shows its progress, then prints a timeline of the
steps and the run's output.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import database  # noqa: E402
import psycopg  # noqa: E402
from psycopg.conninfo import make_conninfo  # noqa: E402

import pgflow  # noqa: E402
from pgflow.cli import render_status  # noqa: E402

ROOT = database.ROOT
DEMO_DB = "pgflow_demo"


@contextlib.contextmanager
def demo_database() -> Iterator[str]:
    if os.environ.get("DATABASE_URL"):
        with database.server() as url:
            yield url
        return
    with database.server() as admin:
        # a new demo database at each run (kept afterwards, to explore with the CLI)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{DEMO_DB}" with (force)')
            conn.execute(f'create database "{DEMO_DB}"')
        yield make_conninfo(admin, dbname=DEMO_DB)


def start_workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    log_dir = ROOT / ".demo"
    log_dir.mkdir(exist_ok=True)
    procs = []
    for i in range(count):
        log = open(log_dir / f"worker-{i + 1}.log", "wb")  # noqa: SIM115 - lives as long as the process
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "pgflow.cli", "--database-url", url, "worker", "examples.analyze:flow",
             "--concurrency", "2", "--worker-id", f"demo-worker-{i + 1}-{os.getpid()}"],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        ))
    return procs


def wait_for_workers(url: str, procs: list[subprocess.Popen[bytes]], timeout: float = 30.0) -> None:
    """Wait until every worker process has registered its first heartbeat."""
    ids = [f"demo-worker-{i + 1}-{os.getpid()}" for i in range(len(procs))]
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            if any(proc.poll() is not None for proc in procs):
                raise SystemExit(f"a worker exited early; see {ROOT / '.demo'}/worker-*.log")
            row = conn.execute(
                "select count(*) from pgflow.workers where worker_id = any(%s) and stopped_at is null", (ids,)
            ).fetchone()
            if row and row[0] == len(ids):
                return
            time.sleep(0.1)
    raise SystemExit(f"the workers did not start within {timeout:.0f} s; see {ROOT / '.demo'}/worker-*.log")


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def timeline(status: dict) -> str:
    """One bar per step from its start to its finish, on a common time axis."""
    start = dt.datetime.fromisoformat(status["started_at"])
    end = dt.datetime.fromisoformat(status["finished_at"])
    total = (end - start).total_seconds()
    width = 48
    lines = [f"  {'step':18} {'start':>6} {'end':>6}  0s{' ' * (width - 8)}{total:5.1f}s"]
    for step in status["steps"]:
        s = (dt.datetime.fromisoformat(step["started_at"]) - start).total_seconds()
        e = (dt.datetime.fromisoformat(step["finished_at"]) - start).total_seconds()
        a, b = int(width * s / total), max(int(width * e / total), int(width * s / total) + 1)
        label = step["step_slug"] + (f" x{step['total_tasks']}" if step["step_type"] == "map" else "")
        lines.append(f"  {label:18} {s:6.2f} {e:6.2f}  |{' ' * a}{'█' * (b - a)}{' ' * (width - b)}|")
    return "\n".join(lines)


def overlap(status: dict, a: str, b: str) -> float:
    steps = {s["step_slug"]: s for s in status["steps"]}
    sa, ea = (dt.datetime.fromisoformat(steps[a][k]) for k in ("started_at", "finished_at"))
    sb, eb = (dt.datetime.fromisoformat(steps[b][k]) for k in ("started_at", "finished_at"))
    return max(0.0, (min(ea, eb) - max(sa, sb)).total_seconds())


def main() -> int:
    from examples.analyze import flow  # noqa: PLC0415

    with demo_database() as url:
        print(f"pgflow demo: database {make_conninfo(url)}")
        print(f"installed schema {pgflow.migrate(url)}")
        workers = start_workers(url, 2)
        try:
            wait_for_workers(url, workers)
            with pgflow.Client(url) as client:
                client.define(flow)
                run = client.start_run(flow, {"url": "https://example.com/article"})
                print(f"started run {run.run_id} of flow {flow.slug} with two worker processes\n")
                tty = sys.stdout.isatty()
                shown = ""
                drawn = 0
                for status in client.watch(run.run_id, interval=0.25):
                    text = render_status(status)
                    if text == shown:
                        continue
                    if tty and drawn:
                        sys.stdout.write(f"\x1b[{drawn}F\x1b[J")
                    sys.stdout.write(text + "\n" + ("" if tty else "\n"))
                    sys.stdout.flush()
                    shown, drawn = text, text.count("\n") + 1
                if status["status"] != "completed":
                    print(f"the run ended {status['status']}: {status['error']}")
                    return 1
        finally:
            stop_workers(workers)

    started = dt.datetime.fromisoformat(status["started_at"])
    finished = dt.datetime.fromisoformat(status["finished_at"])
    wall = (finished - started).total_seconds()
    step_sum = sum(
        (dt.datetime.fromisoformat(s["finished_at"]) - dt.datetime.fromisoformat(s["started_at"])).total_seconds()
        for s in status["steps"]
    )
    both = overlap(status, "analyze_sentiment", "analyze_topics")
    print("\ntimeline (each step from the moment it became ready to its completion):")
    print(timeline(status))
    print(
        f"\nanalyze_sentiment and analyze_topics ran side by side for {both:.2f} s; the run took {wall:.2f} s, "
        f"against {step_sum:.2f} s for the same steps one after another."
    )
    print("\noutput:")
    print(json.dumps(status["output"], indent=2))
    print(f"\nexplore it: DATABASE_URL='{url}' .venv/bin/pgflow status {status['run_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
