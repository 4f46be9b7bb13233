"""The worker as a real process (`pgflow worker`): graceful SIGTERM, SIGKILL mid-task, killed backends, a
restarted server, heartbeats while a handler sleeps, claims bounded by free slots, and handler errors.

Workers run the flows of tests_py/worker_flows.py with a slug suffix of their own test; their handlers
write marker files (which run, step, task, attempt, worker started or ended), so the tests see what ran
where without guessing at timings.
"""

from __future__ import annotations

import datetime as dt
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

import pgflow

from . import worker_flows
from ._process_helpers import Markers, PrivateCluster, WorkerProcess, wait_for


class Harness:
    """One test's flows (unique slugs), marker directory and worker processes (killed at the end)."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.suffix = uuid.uuid4().hex[:10]
        self.flows = worker_flows.build(self.suffix)
        self.markers = Markers(tmp_path / "markers")
        self.markers.directory.mkdir()
        self.log_dir = tmp_path
        self.workers: list[WorkerProcess] = []
        self.client = pgflow.Client(url)

    def worker(self, *flows: str, url: str | None = None, **options: Any) -> WorkerProcess:
        proc = WorkerProcess(
            url or self.url,
            list(flows),
            suffix=self.suffix,
            markers=self.markers.directory,
            log_dir=self.log_dir,
            **options,
        )
        self.workers.append(proc)
        return proc

    def close(self) -> None:
        for proc in self.workers:
            proc.stop()
        self.client.close()


@pytest.fixture
def harness(database_url: str, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(database_url, tmp_path)
    try:
        yield h
    finally:
        h.close()


def tasks(conn: psycopg.Connection, run_id: uuid.UUID) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """select step_slug, task_index, status, attempt, worker_id, error, started_at, finished_at
               from pgflow.step_tasks where run_id = %s order by step_slug, task_index""",
            [run_id],
        ).fetchall()


def worker_row(conn: psycopg.Connection, worker_id: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("select * from pgflow.workers where worker_id = %s", [worker_id]).fetchone()


def wait_registered(conn: psycopg.Connection, *procs: WorkerProcess, timeout: float = 15) -> None:
    for proc in procs:
        wait_for(lambda p=proc: worker_row(conn, p.worker_id), timeout, f"worker {proc.worker_id} to heartbeat")


def wait_run(h: Harness, run_id: uuid.UUID, timeout: float, *procs: WorkerProcess) -> Any:
    try:
        return h.client.wait(run_id, timeout=timeout)
    except (TimeoutError, pgflow.RunFailed) as exc:
        logs = "\n".join(f"--- {p.worker_id}\n{p.output()}" for p in procs)
        raise AssertionError(f"{exc}\n{logs}") from None


def terminate_backends(conn: psycopg.Connection, application_name: str) -> int:
    """pg_terminate_backend on every connection of one worker; returns how many were terminated."""
    row = conn.execute(
        """select count(*) filter (where pg_terminate_backend(pid))
           from pg_stat_activity
           where application_name = %s and datname = current_database() and pid <> pg_backend_pid()""",
        [application_name],
    ).fetchone()
    assert row is not None
    return int(row[0])


# ----------------------------------------------------------------------------------------------------
# 1. SIGTERM: the task in hand finishes, nothing new is claimed, exit 0, the worker is marked stopped
# ----------------------------------------------------------------------------------------------------
def test_sigterm_finishes_the_task_in_hand_and_stops_claiming(harness: Harness, conn: psycopg.Connection) -> None:
    h = harness
    worker = h.worker("sleepy")
    run = h.client.start_run(h.flows["sleepy"], {"sleep": 2})
    started = h.markers.wait(run.run_id, "nap", 0, 1)
    assert started["worker_id"] == worker.worker_id

    worker.send(signal.SIGTERM)
    worker.wait_for_log("SIGTERM")  # the signal was handled: whatever is started from now on is not ours
    second = h.client.start_run(h.flows["sleepy"], {"sleep": 0})
    assert worker.proc.poll() is None, "the worker exited before its handler could have finished"

    assert worker.wait(timeout=20) == 0, worker.output()

    # the handler ran to its end and its result was recorded as the first (and only) attempt
    assert h.markers.read(run.run_id, "nap", 0, 1, "end") is not None
    [task] = tasks(conn, run.run_id)
    assert (task["status"], task["attempt"], task["worker_id"]) == ("completed", 1, worker.worker_id), task
    assert task["finished_at"] - task["started_at"] >= dt.timedelta(seconds=2)
    status = h.client.get_run_status(run.run_id)
    assert status["status"] == "completed"
    assert status["output"] == {"nap": {"attempt": 1, "worker_id": worker.worker_id}}

    # the run started after the SIGTERM was left alone
    [untouched] = tasks(conn, second.run_id)
    assert (untouched["status"], untouched["attempt"], untouched["worker_id"]) == ("queued", 0, None), untouched
    assert h.markers.of_run(second.run_id) == {}

    row = worker_row(conn, worker.worker_id)
    assert row is not None and row["stopped_at"] is not None, row
    assert row["stopped_at"] >= task["finished_at"]


# ----------------------------------------------------------------------------------------------------
# 2. SIGKILL mid-task: another worker takes the task over once the dead one is detected
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flow", "worker_timeout"),
    [
        pytest.param("sleepy", "2s", id="stale-heartbeat"),  # step timeout 60 s: only the heartbeat can expire it
        pytest.param("short", None, id="deadline"),  # step timeout 2 s, worker timeout left at 30 s
    ],
)
def test_sigkill_mid_task_is_retried_by_another_worker(
    harness: Harness, conn: psycopg.Connection, flow: str, worker_timeout: str | None
) -> None:
    h = harness
    # staleness is judged by the timeout the victim itself registered
    victim = h.worker(flow, worker_timeout=worker_timeout)
    run = h.client.start_run(h.flows[flow], {"sleep": 60, "first_only": True})
    assert h.markers.wait(run.run_id, "nap", 0, 1)["worker_id"] == victim.worker_id

    victim.send(signal.SIGKILL)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    survivor = h.worker(flow, worker_timeout=worker_timeout)

    output = wait_run(h, run.run_id, 20, survivor)
    assert output == {"nap": {"attempt": 2, "worker_id": survivor.worker_id}}
    [task] = tasks(conn, run.run_id)
    assert (task["status"], task["attempt"], task["worker_id"]) == ("completed", 2, survivor.worker_id), task
    assert h.client.get_run_status(run.run_id)["steps"][0]["attempts"] == 2
    assert set(h.markers.of_run(run.run_id)) == {("nap", 0, 1), ("nap", 0, 2)}
    assert h.markers.read(run.run_id, "nap", 0, 1, "end") is None  # the killed attempt never finished


# ----------------------------------------------------------------------------------------------------
# 3. Killed backends: the worker reconnects and records the results it had in hand
# ----------------------------------------------------------------------------------------------------
def test_worker_recovers_from_terminated_backends(harness: Harness, conn: psycopg.Connection) -> None:
    h = harness
    worker = h.worker("fanout", concurrency=2)
    wait_registered(conn, worker)
    elements = [{"n": n, "sleep": 1.5} for n in range(6)]
    run = h.client.start_run(h.flows["fanout"], elements)

    terminated_at = None
    for round_ in (1, 2):
        # two handlers running (round 1: the first batch; round 2: the second, after results were reported)
        wait_for(lambda r=round_: len(h.markers.of_run(run.run_id)) >= 2 * r, 15, f"batch {round_} to start")
        running = wait_for(lambda: [t for t in tasks(conn, run.run_id) if t["status"] == "started"], 5, "started tasks")
        assert all(t["worker_id"] == worker.worker_id for t in running)
        killed = terminate_backends(conn, worker.worker_id)
        terminated_at = conn.execute("select now()").fetchone()[0]  # type: ignore[index]
        # round 1: the poll loop's, the heartbeat's and the listener's; round 2: the reporter's (which claimed
        # the second batch as it reported the first) and the listener's, reconnected (the heartbeat reconnects
        # at its next beat)
        assert killed >= (3 if round_ == 1 else 2), f"round {round_}: only {killed} connection(s) of the worker found"

    assert wait_run(h, run.run_id, 30, worker) == {"total": sum(n * 10 for n in range(6))}
    assert worker.proc.poll() is None, worker.output()

    # every task completed exactly once: first attempt, one handler execution each
    items = [t for t in tasks(conn, run.run_id) if t["step_slug"] == "item"]
    assert [(t["task_index"], t["status"], t["attempt"]) for t in items] == [(i, "completed", 1) for i in range(6)]
    assert sorted(h.markers.of_run(run.run_id)) == [("item", i, 1) for i in range(6)]
    assert "reconnecting" in worker.output()

    # the heartbeat connection came back too
    wait_for(
        lambda: (row := worker_row(conn, worker.worker_id)) and row["last_heartbeat_at"] > terminated_at,
        15,
        "a heartbeat after the backends were terminated",
    )


# ----------------------------------------------------------------------------------------------------
# 4. Heartbeats come from their own thread: a slow handler keeps its task
# ----------------------------------------------------------------------------------------------------
def test_heartbeats_continue_while_a_handler_outlives_the_worker_timeout(
    harness: Harness, conn: psycopg.Connection
) -> None:
    h = harness
    workers = [h.worker("sleepy", worker_timeout="2s"), h.worker("sleepy", worker_timeout="2s", concurrency=1)]
    wait_registered(conn, *workers)
    run = h.client.start_run(h.flows["sleepy"], {"sleep": 5})
    holder_id = h.markers.wait(run.run_id, "nap", 0, 1)["worker_id"]

    # sample the holder's heartbeat while its handler sleeps
    beats: set[dt.datetime] = set()
    worst_age = dt.timedelta(0)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        row = conn.execute(
            "select last_heartbeat_at, clock_timestamp() - last_heartbeat_at from pgflow.workers where worker_id = %s",
            [holder_id],
        ).fetchone()
        assert row is not None
        beats.add(row[0])
        worst_age = max(worst_age, row[1])
        [task] = tasks(conn, run.run_id)
        if task["status"] != "started":
            break
        time.sleep(0.1)

    [task] = tasks(conn, run.run_id)
    logs = "\n".join(p.output() for p in workers)
    assert (task["status"], task["attempt"], task["worker_id"]) == ("completed", 1, holder_id), (task, logs)
    assert set(h.markers.of_run(run.run_id)) == {("nap", 0, 1)}
    assert worst_age < dt.timedelta(seconds=2), f"heartbeat went {worst_age} without refresh"
    assert len(beats) >= 3, f"heartbeats seen during a 5 s handler: {sorted(beats)}"


# ----------------------------------------------------------------------------------------------------
# 5. Claims are bounded by free slots
# ----------------------------------------------------------------------------------------------------
def test_worker_never_holds_more_tasks_than_its_concurrency(harness: Harness, conn: psycopg.Connection) -> None:
    h = harness
    worker = h.worker("fanout", concurrency=2)
    wait_registered(conn, worker)
    run = h.client.start_run(h.flows["fanout"], [{"n": n, "sleep": 0.7} for n in range(6)])

    held: list[int] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row = conn.execute(
            """select count(*) filter (where status = 'started' and worker_id = %s),
                      count(*) filter (where status <> 'completed')
               from pgflow.step_tasks where run_id = %s and step_slug = 'item'""",
            [worker.worker_id, run.run_id],
        ).fetchone()
        assert row is not None
        held.append(row[0])
        if row[1] == 0:
            break
        time.sleep(0.03)

    assert wait_run(h, run.run_id, 10, worker) == {"total": sum(n * 10 for n in range(6))}
    assert max(held) == 2, f"started tasks held by the worker over time: {held}"

    # the handlers' own clocks agree: never more than two running at once
    starts = h.markers.of_run(run.run_id, "start")
    ends = h.markers.of_run(run.run_id, "end")
    assert len(starts) == len(ends) == 6
    events = sorted([(m["time"], 1) for m in starts.values()] + [(m["time"], -1) for m in ends.values()])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 2


# ----------------------------------------------------------------------------------------------------
# 6. A handler exception is logged with run, step, task and attempt, and the task is retried
# ----------------------------------------------------------------------------------------------------
def test_handler_exception_is_logged_and_retried(harness: Harness, conn: psycopg.Connection) -> None:
    h = harness
    worker = h.worker("flaky", concurrency=2)
    elements = [{"n": 0}, {"n": 1}, {"n": 2, "fail_first": True}]
    run = h.client.start_run(h.flows["flaky"], elements)

    assert wait_run(h, run.run_id, 20, worker) == {"boom": [0, 1, 2]}
    attempts = [(t["task_index"], t["status"], t["attempt"]) for t in tasks(conn, run.run_id)]
    assert attempts == [(0, "completed", 1), (1, "completed", 1), (2, "completed", 2)]
    assert h.client.get_run_status(run.run_id)["steps"][0]["attempts"] == 4

    log = worker.output()
    failures = [line for line in log.splitlines() if str(run.run_id) in line and "fail" in line.lower()]
    assert len(failures) == 1, log
    line = failures[0]
    assert re.search(r"\bboom\b", line) and re.search(r"\btask 2\b", line) and re.search(r"\battempt 1\b", line), line
    assert "ValueError: element 2 refuses its first attempt" in log


# ----------------------------------------------------------------------------------------------------
# 7. A real PostgreSQL restart in the middle of a run
# ----------------------------------------------------------------------------------------------------
def test_worker_survives_a_server_restart(harness: Harness) -> None:
    h = harness
    with PrivateCluster() as cluster:
        pgflow.migrate(cluster.url)
        with pgflow.Client(cluster.url) as client:
            worker = h.worker("fanout", url=cluster.url, concurrency=2)
            run = client.start_run(h.flows["fanout"], [{"n": n, "sleep": 1.5} for n in range(4)])
            wait_for(lambda: len(h.markers.of_run(run.run_id)) >= 2, 15, "two handlers to start")

            cluster.restart()

            try:
                output = client.wait(run.run_id, timeout=40)
            except (TimeoutError, pgflow.RunFailed) as exc:
                raise AssertionError(f"{exc}\n{worker.output()}") from None
            assert output == {"total": sum(n * 10 for n in range(4))}
            with psycopg.connect(cluster.url) as conn:
                items = [t for t in tasks(conn, run.run_id) if t["step_slug"] == "item"]
            assert [(t["status"], t["attempt"]) for t in items] == [("completed", 1)] * 4
            assert sorted(h.markers.of_run(run.run_id)) == [("item", i, 1) for i in range(4)]
            assert worker.proc.poll() is None, worker.output()
            worker.stop()  # before the cluster goes away
