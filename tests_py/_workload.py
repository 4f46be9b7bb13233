"""Shared helpers of the concurrency tests: the test flows, trivial handlers, a polling worker that
runs on its own connection in a thread, and a LISTEN connection that collects notifications.

Everything the helpers send to the database is a call of a pgflow.* function or a read of the pgflow
tables; the only other statement is a pg_notify on a test-only channel (a sentinel that marks the end of
a batch of notifications, so tests never wait on a guessed timeout).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# a → b, c → d: the merge step d receives {"b": ..., "c": ...}
DIAMOND: list[dict[str, Any]] = [
    {"slug": "a"},
    {"slug": "b", "depends_on": ["a"]},
    {"slug": "c", "depends_on": ["a"]},
    {"slug": "d", "depends_on": ["b", "c"]},
]

# a root map step over the run input, then a reduce step that receives {"m": [outputs in order]}
WIDE_MAP: list[dict[str, Any]] = [
    {"slug": "m", "type": "map"},
    {"slug": "r", "depends_on": ["m"]},
]

POLL_SQL = "select run_id, step_slug, task_index, attempt, input from pgflow.poll_for_tasks(%s, %s::text[], %s::int)"
COMPLETE_SQL = "select pgflow.complete_task(%s, %s, %s, %s, %s)"
FAIL_SQL = "select pgflow.fail_task(%s, %s, %s, %s, %s)"

SENTINEL_CHANNEL = "pgflow_test_sentinel"

TaskKey = tuple[uuid.UUID, str, int]


def handle(step_slug: str, task_input: Any) -> Any:
    """The trivial handlers of DIAMOND and WIDE_MAP: outputs derived from inputs only."""
    if step_slug == "a":
        return {"n": task_input["n"]}
    if step_slug == "b":
        return {"b": task_input["a"]["n"] * 2}
    if step_slug == "c":
        return {"c": task_input["a"]["n"] * 3}
    if step_slug in ("d", "r"):
        return task_input  # the merge and the reduce echo what they received
    if step_slug == "m":
        return task_input * 2
    raise ValueError(f"no handler for step {step_slug!r}")


def expected_diamond_output(n: int) -> dict[str, Any]:
    return {"d": {"b": {"b": n * 2}, "c": {"c": n * 3}}}


def define(conn: psycopg.Connection, flow_slug: str, steps: list[dict[str, Any]], options: dict[str, Any]) -> int:
    row = conn.execute(
        "select version from pgflow.define_flow(%s, %s, %s)", [flow_slug, Jsonb(steps), Jsonb(options)]
    ).fetchone()
    assert row is not None
    return int(row[0])


def start_run(conn: psycopg.Connection, flow_slug: str, run_input: Any) -> uuid.UUID:
    row = conn.execute("select run_id from pgflow.start_run(%s, %s)", [flow_slug, Jsonb(run_input)]).fetchone()
    assert row is not None
    return row[0]


def poll(conn: psycopg.Connection, worker_id: str, flows: Sequence[str], max_tasks: int) -> list[tuple[Any, ...]]:
    return conn.execute(POLL_SQL, [worker_id, list(flows), max_tasks]).fetchall()


def complete(conn: psycopg.Connection, key: TaskKey, output: Any, attempt: int | None) -> bool:
    row = conn.execute(COMPLETE_SQL, [*key, Jsonb(output), attempt]).fetchone()
    assert row is not None
    return bool(row[0])


def fail(conn: psycopg.Connection, key: TaskKey, error: str, attempt: int | None) -> bool:
    row = conn.execute(FAIL_SQL, [*key, error, attempt]).fetchone()
    assert row is not None
    return bool(row[0])


def unfinished_runs(conn: psycopg.Connection, run_ids: Sequence[uuid.UUID]) -> int:
    row = conn.execute(
        "select count(*) from pgflow.runs where run_id = any(%s) and status = 'started'", [list(run_ids)]
    ).fetchone()
    assert row is not None
    return int(row[0])


def describe(exc: BaseException) -> str:
    sqlstate = getattr(exc, "sqlstate", None)
    return f"{type(exc).__name__}[{sqlstate}]: {exc}" if sqlstate else f"{type(exc).__name__}: {exc}"


@dataclass
class Call:
    """One complete_task/fail_task call as a worker saw it, with monotonic times around it."""

    key: TaskKey
    attempt: int
    kind: str  # "complete" or "fail"
    sent_at: float
    returned_at: float
    result: bool


@dataclass
class WorkerReport:
    name: str
    claims: list[tuple[TaskKey, int]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def recorded(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind and c.result]

    def refused(self, kind: str) -> list[Call]:
        return [c for c in self.calls if c.kind == kind and not c.result]


class Worker(threading.Thread):
    """Polls the given flows on its own autocommit connection, runs the handlers and reports.

    It stops when ``finished(conn)`` is true after a poll that returned nothing, when ``stop`` is set, or at
    ``deadline`` (monotonic). An exception ends the worker, is kept in ``report.errors`` and sets ``stop`` so
    the other workers end too. ``fail_rate`` is the share of first attempts it reports with fail_task.
    """

    def __init__(
        self,
        url: str,
        name: str,
        flows: Sequence[str],
        *,
        start: threading.Barrier,
        stop: threading.Event,
        finished: Callable[[psycopg.Connection], bool],
        deadline: float,
        max_tasks: int = 10,
        fail_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.url = url
        self.flows = list(flows)
        self.start_barrier = start
        self.stop = stop
        self.finished = finished
        self.deadline = deadline
        self.max_tasks = max_tasks
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.report = WorkerReport(name)

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                self.start_barrier.wait(timeout=30)
                self._loop(conn)
        except BaseException as exc:  # noqa: BLE001 - every error is a finding of the test
            self.report.errors.append(describe(exc))
            self.stop.set()

    def _loop(self, conn: psycopg.Connection) -> None:
        while not self.stop.is_set():
            if time.monotonic() > self.deadline:
                self.report.errors.append("deadline passed with work left")
                self.stop.set()
                return
            tasks = poll(conn, self.name, self.flows, self.max_tasks)
            if not tasks:
                if self.finished(conn):
                    return
                time.sleep(0.005)
                continue
            for run_id, step_slug, task_index, attempt, task_input in tasks:
                key: TaskKey = (run_id, step_slug, task_index)
                self.report.claims.append((key, attempt))
                if attempt == 1 and self.fail_rate and self.rng.random() < self.fail_rate:
                    sent = time.monotonic()
                    result = fail(conn, key, "chosen to fail by the test", attempt)
                    self.report.calls.append(Call(key, attempt, "fail", sent, time.monotonic(), result))
                else:
                    output = handle(step_slug, task_input)
                    sent = time.monotonic()
                    result = complete(conn, key, output, attempt)
                    self.report.calls.append(Call(key, attempt, "complete", sent, time.monotonic(), result))


def run_workers(workers: Sequence[Worker], timeout: float) -> None:
    """Joins the workers; a worker still running after ``timeout`` is an error of the test."""
    ends = time.monotonic() + timeout
    for w in workers:
        w.join(max(0.0, ends - time.monotonic()))
    alive = [w.name for w in workers if w.is_alive()]
    if alive:
        for w in workers:
            w.stop.set()
        raise AssertionError(f"workers still running after {timeout} s: {alive}")


class Listener:
    """A connection that LISTENs on the pgflow channel and collects its notifications."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("listen pgflow")
        self.conn.execute(f"listen {SENTINEL_CHANNEL}")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self, sender: psycopg.Connection, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Every pgflow notification committed before now, in commit order.

        ``sender`` (an autocommit connection outside any transaction) sends a sentinel on a test channel;
        PostgreSQL delivers notifications in commit order, so once the sentinel arrives every earlier
        notification has arrived too.
        """
        assert sender.autocommit and sender.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        token = uuid.uuid4().hex
        sender.execute("select pg_notify(%s, %s)", [SENTINEL_CHANNEL, token])
        received: list[dict[str, Any]] = []
        for note in self.conn.notifies(timeout=timeout):
            if note.channel == SENTINEL_CHANNEL and note.payload == token:
                return received
            if note.channel == "pgflow":
                received.append(json.loads(note.payload))
        raise AssertionError(f"the sentinel notification did not arrive within {timeout} s; got {received}")


def only_ours(
    notes: list[dict[str, Any]], flows: Sequence[str] = (), run_ids: Sequence[uuid.UUID] = ()
) -> list[dict[str, Any]]:
    """Drops notifications that name another flow or run (the database is shared by the test session);
    anything else, malformed payloads included, is kept so the test sees it."""
    flow_set = set(flows)
    run_set = {str(r) for r in run_ids}

    def foreign(note: dict[str, Any]) -> bool:
        if not isinstance(note, dict):
            return False
        if "flow_slug" in note and note["flow_slug"] not in flow_set:
            return True
        return "run_id" in note and note["run_id"] not in run_set

    return [n for n in notes if not foreign(n)]
