"""Targeted races, each with real concurrency (threads on separate connections, released together by a
barrier): a cancel against busy workers, simultaneous exhausting failures, the two branches of a diamond
finishing at the same instant, and concurrent start_run / define_flow calls that must create one row."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ._workload import (
    DIAMOND,
    WIDE_MAP,
    Listener,
    Worker,
    complete,
    define,
    describe,
    expected_diamond_output,
    fail,
    only_ours,
    poll,
    run_workers,
    start_run,
)

T = TypeVar("T")


@pytest.fixture
def connections(database_url: str) -> Iterator[list[psycopg.Connection]]:
    """Eight autocommit connections of their own, one per racing thread."""
    conns = [psycopg.connect(database_url, autocommit=True) for _ in range(8)]
    try:
        yield conns
    finally:
        for c in conns:
            c.close()


def race(conns: list[psycopg.Connection], call: Callable[[psycopg.Connection, int], T]) -> list[T]:
    """Runs ``call(conn, i)`` in one thread per connection, released together by a barrier. Any exception
    in any thread fails the test, with every thread's error listed."""
    barrier = threading.Barrier(len(conns))

    def one(i: int) -> T:
        barrier.wait(timeout=30)
        return call(conns[i], i)

    with ThreadPoolExecutor(len(conns)) as pool:
        futures = [pool.submit(one, i) for i in range(len(conns))]
        errors = [describe(e) for f in futures if (e := f.exception(timeout=120)) is not None]
        assert errors == []
        return [f.result() for f in futures]


def open_work(conn: psycopg.Connection, run_id: uuid.UUID) -> dict[str, list[tuple[Any, ...]]]:
    """Tasks still queued or started and step states still created or started, of one run."""
    tasks = conn.execute(
        "select step_slug, task_index, status from pgflow.step_tasks"
        " where run_id = %s and status in ('queued', 'started') order by 1, 2",
        [run_id],
    ).fetchall()
    steps = conn.execute(
        "select step_slug, status from pgflow.step_states where run_id = %s and status in ('created', 'started')",
        [run_id],
    ).fetchall()
    return {"tasks": tasks, "steps": steps}


# -------------------------------------------------------------------------------------------------------
# (a) cancel_run while four workers are completing the tasks of a 2,000-element map run
# -------------------------------------------------------------------------------------------------------


@dataclass
class CancelRace:
    run_id: uuid.UUID
    workers: list[Worker]
    cancelled: tuple[Any, ...] | None
    cancel_committed: float
    late: list[bool]


def cancel_during_completions(url: str, conn: psycopg.Connection, flow_slug: str, cancel_after: int) -> CancelRace:
    """Four workers complete the tasks of a 2,000-element map run; once ``cancel_after`` completions are
    recorded, a fifth connection claims five tasks, the run is cancelled, and the fifth connection then
    reports its five tasks (four completions and one failure)."""
    define(conn, flow_slug, WIDE_MAP, {})
    run_id = start_run(conn, flow_slug, list(range(2000)))
    run_done = threading.Event()
    start = threading.Barrier(5)
    stop = threading.Event()
    workers = [
        Worker(
            url,
            f"worker-{i}",
            [flow_slug],
            start=start,
            stop=stop,
            finished=lambda _c: run_done.is_set(),
            deadline=time.monotonic() + 60,
        )
        for i in range(4)
    ]
    for w in workers:
        w.start()
    with psycopg.connect(url, autocommit=True) as straggler:
        try:
            start.wait(timeout=30)
            give_up = time.monotonic() + 60
            while sum(len(w.report.recorded("complete")) for w in workers) < cancel_after:
                assert not stop.is_set() and time.monotonic() < give_up, [w.report.errors for w in workers]
                time.sleep(0.001)
            held = poll(straggler, "straggler", [flow_slug], 5)
            assert len(held) == 5
            cancelled = conn.execute("select status from pgflow.cancel_run(%s, 'race test')", [run_id]).fetchone()
            cancel_committed = time.monotonic()
            run_done.set()
            late = [complete(straggler, (r, s, i), 0, a) for r, s, i, a, _ in held[1:]]
            late.append(fail(straggler, held[0][:3], "late", held[0][3]))
        finally:
            run_done.set()
            run_workers(workers, 70)
    return CancelRace(run_id, workers, cancelled, cancel_committed, late)


@pytest.mark.parametrize("cancel_after", [100, 1000])
def test_cancel_run_while_four_workers_complete_a_wide_map(
    database_url: str, conn: psycopg.Connection, flow_slug: str, cancel_after: int
) -> None:
    result = cancel_during_completions(database_url, conn, flow_slug, cancel_after)
    run_id = result.run_id

    errors = [f"{w.name}: {e}" for w in result.workers for e in w.report.errors]
    assert errors == []
    assert result.cancelled == ("cancelled",)
    assert result.late == [False] * 5

    # reports sent after the cancel committed were all refused
    calls = [c for w in result.workers for c in w.report.calls]
    assert [c for c in calls if c.sent_at > result.cancel_committed and c.result] == []

    row = conn.execute("select status from pgflow.runs where run_id = %s", [run_id]).fetchone()
    assert row == ("cancelled",)
    assert open_work(conn, run_id) == {"tasks": [], "steps": []}
    assert poll(conn, "after-cancel", [flow_slug], 10) == []

    # what was recorded before the cancel is exactly what the table holds as completed; the rest is cancelled
    recorded = [c.key for c in calls if c.kind == "complete" and c.result]
    assert len(recorded) == len(set(recorded)) >= cancel_after
    completed = conn.execute(
        "select run_id, step_slug, task_index from pgflow.step_tasks where run_id = %s and status = 'completed'",
        [run_id],
    ).fetchall()
    assert len(completed) == len(recorded) and set(completed) == set(recorded)
    counts = dict(
        conn.execute(
            "select status, count(*) from pgflow.step_tasks where run_id = %s group by status", [run_id]
        ).fetchall()
    )
    assert counts == {"completed": len(recorded), "cancelled": 2000 - len(recorded)}


def wait_until_blocked(observer: psycopg.Connection, waiter: psycopg.Connection, holder: psycopg.Connection) -> None:
    """Waits until ``waiter``'s statement waits for a lock held by ``holder`` (observed in pg_blocking_pids)."""
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        row = observer.execute("select pg_blocking_pids(%s)", [waiter.info.backend_pid]).fetchone()
        if row is not None and holder.info.backend_pid in row[0]:
            return
        time.sleep(0.005)
    raise AssertionError(f"backend {waiter.info.backend_pid} never waited for backend {holder.info.backend_pid}")


# how long step x of the test below waits before it is due (seconds)
X_DELAY = 0.3


@pytest.mark.parametrize("report", ["complete_task", "fail_task"])
@pytest.mark.parametrize("ender", ["cancel_run", "exhausting fail_task"])
def test_a_report_waiting_on_its_task_while_the_run_ends_leaves_no_step_started(
    database_url: str, conn: psycopg.Connection, flow_slug: str, ender: str, report: str
) -> None:
    """One exact interleaving of a task report with the end of its run, forced with row locks and observed
    with pg_blocking_pids:
    1. a worker has claimed a task of map step m; a poller claims a later task of m in a transaction it
       keeps open;
    2. the run ends (cancel_run, or a fail_task exhausting step x): it locks the worker's task, then waits
       for the poller's;
    3. the worker reports its task (complete_task, or fail_task with attempts left): the report takes m's
       step state, reads the run as still started, and waits for its task;
    4. the poller commits: the run ends, and the report is refused.
    Afterwards the run has no task queued or started and no step state created or started.
    The ending session plans its task scan as an index scan, so it visits the tasks in task_index order; that
    only makes the order of step 2 deterministic (a sequential scan visits them in either order). Tasks due at
    the same time are claimed in no defined order, so a run whose first two claims come in the other order is
    cancelled and the setup starts again with a new run."""
    # x is delayed, so that the first two claims are m's (a delayed task that becomes due joins the fair queue at
    # its front, so it would go between m's tasks); the rest of the test waits until it is due
    steps = [
        {"slug": "m", "type": "map"},
        {"slug": "x", "max_attempts": 1, "start_delay": X_DELAY},
        {"slug": "r", "depends_on": ["m", "x"]},
    ]
    define(conn, flow_slug, steps, {})
    worker = psycopg.connect(database_url, autocommit=True)
    poller = psycopg.connect(database_url)
    ending = psycopg.connect(database_url, autocommit=True)
    pool = ThreadPoolExecutor(2)
    try:
        ending.execute("set enable_seqscan = off")
        ending.execute("set enable_bitmapscan = off")
        for _ in range(10):
            run_id = start_run(conn, flow_slug, [10, 20, 30])
            started = time.monotonic()
            held = poll(worker, "worker", [flow_slug], 1)
            kept_open = poll(poller, "poller", [flow_slug], 1)
            assert [t[1] for t in held + kept_open] == ["m", "m"], "claims come oldest first"
            if held[0][2] < kept_open[0][2]:
                break
            poller.rollback()
            conn.execute("select pgflow.cancel_run(%s)", [run_id])
        else:
            raise AssertionError("ten runs in a row had their map tasks claimed in the other order")
        time.sleep(max(0.0, started + X_DELAY + 0.05 - time.monotonic()))
        rest = poll(ending, "ender", [flow_slug], 10)
        x_task = next(t for t in rest if t[1] == "x")

        if ender == "cancel_run":
            ended = pool.submit(lambda: ending.execute("select status from pgflow.cancel_run(%s)", [run_id]).fetchone())
        else:
            ended = pool.submit(fail, ending, x_task[:3], "x gives up", x_task[3])
        wait_until_blocked(conn, ending, poller)

        r, s, i, a, _ = held[0]
        if report == "complete_task":
            reported = pool.submit(complete, worker, (r, s, i), 20, a)
        else:
            reported = pool.submit(fail, worker, (r, s, i), "try again", a)
        wait_until_blocked(conn, worker, ending)

        poller.commit()
        assert ended.result(timeout=30) == (("cancelled",) if ender == "cancel_run" else True)
        assert reported.result(timeout=30) is False
    finally:
        poller.close()  # releases the locks first, so no thread is left waiting
        pool.shutdown(wait=True)
        worker.close()
        ending.close()

    row = conn.execute("select status from pgflow.runs where run_id = %s", [run_id]).fetchone()
    assert row == ("cancelled" if ender == "cancel_run" else "failed",)
    assert open_work(conn, run_id) == {"tasks": [], "steps": []}


# -------------------------------------------------------------------------------------------------------
# (b) four workers exhaust the last attempts of many tasks of one map step at the same moment
# -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("round_", range(5))
def test_simultaneous_exhausted_failures_fail_the_run_once(
    database_url: str, conn: psycopg.Connection, connections: list[psycopg.Connection], flow_slug: str, round_: int
) -> None:
    define(conn, flow_slug, [{"slug": "m", "type": "map", "max_attempts": 1, "when_exhausted": "fail"}], {})
    run_id = start_run(conn, flow_slug, list(range(200)))
    racers = connections[:4]
    held = [poll(c, f"worker-{i}", [flow_slug], 25) for i, c in enumerate(racers)]
    assert [len(h) for h in held] == [25, 25, 25, 25]
    # the other 100 tasks stay queued: the failure must cancel them too

    with Listener(database_url) as listener:
        listener.collect(conn)

        def fail_all(c: psycopg.Connection, i: int) -> list[bool]:
            return [fail(c, (r, s, t), f"worker {i} gives up", a) for r, s, t, a, _ in held[i]]

        results = race(racers, fail_all)
        notes = only_ours(listener.collect(conn), [flow_slug], [run_id])

    assert sum(r for rs in results for r in rs) == 1  # the first exhaustion fails the run; the rest are refused
    assert [n for n in notes if n.get("type") == "run_finished"] == [
        {"type": "run_finished", "run_id": str(run_id), "status": "failed"}
    ]
    row = conn.execute("select status, error from pgflow.runs where run_id = %s", [run_id]).fetchone()
    assert row is not None and row[0] == "failed" and "'m'" in row[1]
    assert open_work(conn, run_id) == {"tasks": [], "steps": []}
    counts = dict(
        conn.execute(
            "select status, count(*) from pgflow.step_tasks where run_id = %s group by status", [run_id]
        ).fetchall()
    )
    assert counts == {"failed": 1, "cancelled": 199}
    assert conn.execute("select status from pgflow.step_states where run_id = %s", [run_id]).fetchall() == [("failed",)]


# -------------------------------------------------------------------------------------------------------
# (c) the two branches of a diamond completed at the same instant from two connections
# -------------------------------------------------------------------------------------------------------


def test_diamond_branches_completed_at_the_same_instant_start_the_merge_once(
    conn: psycopg.Connection, connections: list[psycopg.Connection], flow_slug: str
) -> None:
    define(conn, flow_slug, DIAMOND, {})
    for n in range(50):
        run_id = start_run(conn, flow_slug, {"n": n})
        ((r, s, i, a, task_input),) = poll(conn, "setup", [flow_slug], 10)
        assert complete(conn, (r, s, i), {"n": task_input["n"]}, a)
        branches = sorted(poll(conn, "setup", [flow_slug], 10), key=lambda t: t[1])
        assert [t[1] for t in branches] == ["b", "c"]

        def complete_branch(c: psycopg.Connection, k: int) -> bool:
            r, s, i, a, task_input = branches[k]
            output = {"b": task_input["a"]["n"] * 2} if s == "b" else {"c": task_input["a"]["n"] * 3}
            return complete(c, (r, s, i), output, a)

        assert race(connections[:2], complete_branch) == [True, True], f"iteration {n}"

        merge = conn.execute(
            "select task_index, status from pgflow.step_tasks where run_id = %s and step_slug = 'd'", [run_id]
        ).fetchall()
        assert merge == [(0, "queued")], f"iteration {n}"
        state = conn.execute(
            "select status, remaining_deps, remaining_tasks from pgflow.step_states"
            " where run_id = %s and step_slug = 'd'",
            [run_id],
        ).fetchone()
        assert state == ("started", 0, 1), f"iteration {n}"
        ((r, s, i, a, task_input),) = poll(conn, "setup", [flow_slug], 10)
        assert (s, task_input) == ("d", {"b": {"b": 2 * n}, "c": {"c": 3 * n}}), f"iteration {n}"
        assert complete(conn, (r, s, i), task_input, a)
        row = conn.execute("select status, output from pgflow.runs where run_id = %s", [run_id]).fetchone()
        assert row == ("completed", expected_diamond_output(n)), f"iteration {n}"


# -------------------------------------------------------------------------------------------------------
# (d) start_run with the same idempotency key from eight threads
# -------------------------------------------------------------------------------------------------------


def test_concurrent_start_run_with_one_idempotency_key_creates_one_run(
    conn: psycopg.Connection, connections: list[psycopg.Connection], flow_slug: str
) -> None:
    define(conn, flow_slug, DIAMOND, {})
    for k in range(10):
        key = f"order-{k}"

        def start(c: psycopg.Connection, i: int) -> uuid.UUID:
            row = c.execute(
                "select run_id from pgflow.start_run(%s, %s, idempotency_key => %s)",
                [flow_slug, Jsonb({"n": k, "caller": i}), key],
            ).fetchone()
            assert row is not None
            return row[0]

        run_ids = race(connections, start)
        assert len(set(run_ids)) == 1, f"key {key}: {run_ids}"
        rows = conn.execute(
            "select run_id from pgflow.runs where flow_slug = %s and idempotency_key = %s", [flow_slug, key]
        ).fetchall()
        assert rows == [(run_ids[0],)]
        shape = conn.execute(
            "select (select count(*) from pgflow.step_states where run_id = %(r)s),"
            " (select count(*) from pgflow.step_tasks where run_id = %(r)s)",
            {"r": run_ids[0]},
        ).fetchone()
        assert shape == (4, 1)
    row = conn.execute("select count(*) from pgflow.runs where flow_slug = %s", [flow_slug]).fetchone()
    assert row == (10,)


# -------------------------------------------------------------------------------------------------------
# (e) define_flow of the same definition from eight threads
# -------------------------------------------------------------------------------------------------------


def test_concurrent_define_flow_of_one_definition_creates_one_version(
    conn: psycopg.Connection, connections: list[psycopg.Connection], flow_slug: str
) -> None:
    for round_, steps in enumerate([DIAMOND, [*DIAMOND, {"slug": "e", "depends_on": ["d"]}]], start=1):
        returned = race(connections, lambda c, _i: define(c, flow_slug, steps, {"max_attempts": 2}))
        # the first round creates version 1; the changed definition of the second round creates version 2 only
        assert returned == [round_] * 8
        versions = conn.execute(
            "select version from pgflow.flows where flow_slug = %s order by version", [flow_slug]
        ).fetchall()
        assert versions == [(v,) for v in range(1, round_ + 1)]
        row = conn.execute(
            "select count(*) from pgflow.steps where flow_slug = %s and flow_version = %s", [flow_slug, round_]
        ).fetchone()
        assert row == (len(steps),)

    for n in range(5):
        other = f"{flow_slug}_{n}"
        versions = race(connections, lambda c, _i: define(c, other, WIDE_MAP, {}))
        assert versions == [1] * 8
        rows = conn.execute("select version from pgflow.flows where flow_slug = %s", [other]).fetchall()
        assert rows == [(1,)]
