"""`make demo`: two flows run by two worker processes, with live progress.

Finds a PostgreSQL server as `make test` does (DATABASE_URL, the local server, or a throwaway cluster),
creates the database `pgflow_demo` on it anew (or uses DATABASE_URL's own database), installs the schema and
starts two `pgflow worker` processes serving both flows. Then:

1. the parallel analysis flow (examples/analyze.py): starts a run, shows its progress, prints a timeline of
   the steps and the run's output;
2. the nightly orders flow (examples/orders.py): a cron schedule started by the workers' polls, a sub-flow
   (a child run) per order line, and a wait for payment that a small script (examples/pay.py) signals.
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

import database
import psycopg
from psycopg.conninfo import make_conninfo

import pgflow
from pgflow.cli import render_status

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
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pgflow.cli",
                    "--database-url",
                    url,
                    "worker",
                    "examples.analyze:flow",
                    "examples.orders:flow",
                    "--concurrency",
                    "2",
                    "--worker-id",
                    f"demo-worker-{i + 1}-{os.getpid()}",
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
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


class LiveStatus:
    """Draws a run's status, redrawn in place on a terminal (appended otherwise), each time it changes."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.shown = ""
        self.drawn = 0

    def show(self, status: dict) -> None:
        text = render_status(status)
        if text == self.shown:
            return
        if self.tty and self.drawn:
            sys.stdout.write(f"\x1b[{self.drawn}F\x1b[J")
        sys.stdout.write(text + "\n" + ("" if self.tty else "\n"))
        sys.stdout.flush()
        self.shown, self.drawn = text, text.count("\n") + 1


def run_cli(url: str, *args: str) -> None:
    """Runs the pgflow command line, as a user would, and shows what it prints."""
    print(f"$ pgflow {' '.join(args)}")
    done = subprocess.run(
        [sys.executable, "-m", "pgflow.cli", "--database-url", url, *args], cwd=ROOT, capture_output=True, text=True
    )
    print((done.stdout + done.stderr).rstrip() + "\n")


def orders_demo(url: str, client: pgflow.Client) -> int:
    """The schedule, sub-flows and wait of examples/orders.py, live."""
    from examples.orders import flow  # noqa: PLC0415

    print("\n== 2. nightly orders: a cron schedule, a sub-flow per order line, a wait for payment ==\n")
    # the worker processes defined nightly_orders, its child flow order_line and its nightly schedule when they
    # started; the demo adds one that ticks every minute, so as not to wait for 02:00
    client.create_schedule("orders_every_minute", flow, "* * * * *", {"store": "demo"})
    try:
        run_cli(url, "schedules")
        with psycopg.connect(url, autocommit=True) as conn:
            next_tick = conn.execute(
                "select next_tick from pgflow.schedules where schedule_slug = 'orders_every_minute'"
            ).fetchone()[0]
            wait = (next_tick - dt.datetime.now(dt.timezone.utc)).total_seconds()
            print(
                f"waiting for the tick at {next_tick:%H:%M:%S} UTC (in {max(wait, 0):.0f} s): the first poll of a "
                "worker after it starts the run, exactly once however many workers poll"
            )
            run_id = None
            deadline = time.monotonic() + 150
            while run_id is None and time.monotonic() < deadline:
                row = conn.execute(
                    "select run_id from pgflow.runs where schedule_slug = 'orders_every_minute' "
                    "order by schedule_tick desc limit 1"
                ).fetchone()
                run_id = row[0] if row else None
                time.sleep(0.2)
        if run_id is None:
            print("no scheduled run started within 150 s")
            return 1
        print(f"the schedule started run {run_id}\n")
        live = LiveStatus()
        paid = False
        for status in client.watch(run_id, interval=0.25):
            live.show(status)
            waiting = any(s["step_slug"] == "payment" and s["status"] == "waiting" for s in status["steps"])
            if waiting and not paid:
                time.sleep(1.5)  # the run waits, holding no worker, until something outside signals it
                total = status_total(client, run_id)
                print(f"\n$ python examples/pay.py {run_id} {total}")
                done = subprocess.run(
                    [sys.executable, "examples/pay.py", str(run_id), total],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
                )
                print((done.stdout + done.stderr).rstrip() + "\n")
                live.drawn = 0
                paid = True
        if status["status"] != "completed":
            print(f"the run ended {status['status']}: {status['error']}")
            return 1
        children = [c for s in status["steps"] for c in s.get("child_runs", [])]
        print(
            f"\n{len(children)} child runs of order_line, one per line; explore one: "
            f"DATABASE_URL='{url}' .venv/bin/pgflow status {children[0]['run_id'] if children else ''}"
        )
        return 0
    finally:
        client.drop_schedule("orders_every_minute")


def status_total(client: pgflow.Client, run_id: object) -> str:
    """The invoice total of a nightly_orders run, as the payment provider would be told it."""
    outputs = client.get_step_outputs(run_id)
    return str(outputs.get("invoice", {}).get("total", 0))


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
                print("== 1. document analysis: parallel branches and a map ==\n")
                print(f"started run {run.run_id} of flow {flow.slug} with two worker processes\n")
                live = LiveStatus()
                for status in client.watch(run.run_id, interval=0.25):
                    live.show(status)
                if status["status"] != "completed":
                    print(f"the run ended {status['status']}: {status['error']}")
                    return 1
                show_analysis(status, url)
                if orders_demo(url, client):
                    return 1
        finally:
            stop_workers(workers)
    print("\nexplore further: pgflow runs, pgflow status RUN_ID, pgflow schedules, pgflow graph examples.orders:flow")
    print(
        "see both runs in the browser, their DAGs coloured by status, each step's tasks, attempts, inputs and "
        f"outputs, the child runs, the schedules:\n  DATABASE_URL='{url}' .venv/bin/pgflow dashboard   "
        "# then open http://127.0.0.1:8080/"
    )
    return 0


def show_analysis(status: dict, url: str) -> None:
    """The timeline and output of the analysis run."""
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


if __name__ == "__main__":
    sys.exit(main())
