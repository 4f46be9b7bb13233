"""The acceptance test of concurrent workers: four connections poll and complete the same ~2,000 tasks at
once (375 diamond runs and one 500-element map run), and every task is completed exactly once, with no
deadlock, no serialization failure and no task lost or run stuck."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

import psycopg

from ._workload import DIAMOND, WIDE_MAP, Worker, define, expected_diamond_output, run_workers, start_run

WORKERS = 4
DIAMOND_RUNS = 375
MAP_SIZE = 500
TASKS = DIAMOND_RUNS * 4 + MAP_SIZE + 1
TIME_LIMIT = 90.0


class Workload:
    """Starts the runs while the workers are already polling: the map run first, then the diamonds in
    batches of 25 per transaction."""

    def __init__(self, conn: psycopg.Connection, diamond: str, wide_map: str) -> None:
        self.conn = conn
        self.diamond = diamond
        self.wide_map = wide_map
        self.inputs: dict[uuid.UUID, int] = {}
        self.map_run: uuid.UUID | None = None
        self.all_started = threading.Event()

    def run_ids(self) -> list[uuid.UUID]:
        assert self.map_run is not None
        return [self.map_run, *self.inputs]

    def start(self) -> None:
        self.map_run = start_run(self.conn, self.wide_map, list(range(MAP_SIZE)))
        for batch in range(0, DIAMOND_RUNS, 25):
            with self.conn.transaction():
                for n in range(batch, min(batch + 25, DIAMOND_RUNS)):
                    self.inputs[start_run(self.conn, self.diamond, {"n": n})] = n
        self.all_started.set()

    def finished(self, conn: psycopg.Connection) -> bool:
        if not self.all_started.is_set():
            return False
        row = conn.execute(
            "select count(*) from pgflow.runs where run_id = any(%s) and status = 'started'", [self.run_ids()]
        ).fetchone()
        return row is not None and row[0] == 0


def run_workload(url: str, conn: psycopg.Connection, flow_slug: str, fail_rate: float) -> tuple[Workload, list[Worker]]:
    options: dict[str, Any] = {"base_delay": 0} if fail_rate else {}
    diamond, wide_map = f"{flow_slug}_diamond", f"{flow_slug}_map"
    define(conn, diamond, DIAMOND, options)
    define(conn, wide_map, WIDE_MAP, options)
    load = Workload(conn, diamond, wide_map)
    start = threading.Barrier(WORKERS + 1)
    stop = threading.Event()
    deadline = time.monotonic() + TIME_LIMIT
    workers = [
        Worker(
            url,
            f"worker-{i}",
            [diamond, wide_map],
            start=start,
            stop=stop,
            finished=load.finished,
            deadline=deadline,
            fail_rate=fail_rate,
            seed=i,
        )
        for i in range(WORKERS)
    ]
    for w in workers:
        w.start()
    try:
        start.wait(timeout=30)
        load.start()
    finally:
        if not load.all_started.is_set():
            stop.set()
        run_workers(workers, TIME_LIMIT + 10)
    return load, workers


def check_everything_completed_once(
    conn: psycopg.Connection, load: Workload, workers: list[Worker], failed_first: set[Any]
) -> None:
    errors = [f"{w.name}: {e}" for w in workers for e in w.report.errors]
    assert errors == [], errors

    # every claim of a (task, attempt) went to one worker only
    claims = Counter(claim for w in workers for claim in w.report.claims)
    assert [c for c, n in claims.items() if n > 1] == []

    # completions reported with true: one per task row, no task twice, none refused
    completed = [c.key for w in workers for c in w.report.recorded("complete")]
    refused = [(c.kind, c.key, c.attempt) for w in workers for c in w.report.calls if not c.result]
    assert refused == []
    assert len(completed) == TASKS
    assert [k for k, n in Counter(completed).items() if n > 1] == []

    run_ids = load.run_ids()
    rows = conn.execute(
        "select run_id, step_slug, task_index, status, attempt from pgflow.step_tasks where run_id = any(%s)",
        [run_ids],
    ).fetchall()
    assert len(rows) == TASKS
    assert {(r[0], r[1], r[2]) for r in rows} == set(completed)
    wrong = [r for r in rows if r[3] != "completed" or r[4] != (2 if (r[0], r[1], r[2]) in failed_first else 1)]
    assert wrong == []

    states = conn.execute(
        "select status, count(*) from pgflow.step_states where run_id = any(%s) group by status", [run_ids]
    ).fetchall()
    assert states == [("completed", DIAMOND_RUNS * 4 + 2)]

    runs = {
        run_id: (status, output)
        for run_id, status, output in conn.execute(
            "select run_id, status, output from pgflow.runs where run_id = any(%s)", [run_ids]
        )
    }
    assert len(runs) == DIAMOND_RUNS + 1
    assert {status for status, _ in runs.values()} == {"completed"}

    # the merge step of every diamond received both branch outputs (it echoes its input)
    wrong_outputs = [
        (run_id, output)
        for run_id, n in load.inputs.items()
        if (output := runs[run_id][1]) != expected_diamond_output(n)
    ]
    assert wrong_outputs == []

    # the map step's output is the full array in element order, and so is what the reduce step received
    doubled = [2 * i for i in range(MAP_SIZE)]
    assert runs[load.map_run][1] == {"r": {"m": doubled}}
    row = conn.execute(
        "select output from pgflow.step_states where run_id = %s and step_slug = 'm'", [load.map_run]
    ).fetchone()
    assert row == (doubled,)


def test_four_workers_complete_every_task_exactly_once(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    load, workers = run_workload(database_url, conn, flow_slug, fail_rate=0.0)
    check_everything_completed_once(conn, load, workers, failed_first=set())
    # every worker took part (all four polled the same queue at the same time)
    assert all(w.report.recorded("complete") for w in workers), [len(w.report.calls) for w in workers]


def test_four_workers_with_failed_first_attempts_complete_every_task_exactly_once(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    load, workers = run_workload(database_url, conn, flow_slug, fail_rate=0.1)
    failed_first = [c.key for w in workers for c in w.report.recorded("fail")]
    # about 10 % of first attempts failed, each task at most once, and each was retried at attempt 2
    assert TASKS * 0.05 < len(failed_first) < TASKS * 0.15
    assert len(set(failed_first)) == len(failed_first)
    retried = {key for w in workers for key, attempt in w.report.claims if attempt == 2}
    assert retried == set(failed_first)
    assert all(attempt in (1, 2) for w in workers for _, attempt in w.report.claims)
    check_everything_completed_once(conn, load, workers, failed_first=set(failed_first))
