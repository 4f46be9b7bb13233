"""Orders of calls that once deadlocked, replayed with real connections: a third session holds the run rows for a
moment (as any transaction touching a run does), the calls queue behind it, and when it lets go every call must
end as a serial order would — never with a deadlock (40P01)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ._invariants import violations
from .test_races import wait_until_blocked


@pytest.fixture
def sessions(database_url: str) -> Iterator[list[psycopg.Connection[Any]]]:
    """Three autocommit connections (the callers) and one in a transaction (the holder), closed afterwards."""
    conns = [psycopg.connect(database_url, autocommit=True) for _ in range(3)] + [psycopg.connect(database_url)]
    try:
        yield conns
    finally:
        for conn in conns:
            conn.close()


def outcome(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> Any:
    """The call's single value, or its SQLSTATE."""
    try:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None
    except psycopg.Error as exc:
        return exc.sqlstate


def in_background(pool: ThreadPoolExecutor, call: Callable[[], Any]) -> Future[Any]:
    return pool.submit(call)


def wait_until_waiting(observer: psycopg.Connection[Any], waiter: psycopg.Connection[Any]) -> None:
    """Waits until ``waiter``'s statement waits for a lock (of any backend); fails after 10 s."""
    give_up = time.monotonic() + 10
    while time.monotonic() < give_up:
        row = observer.execute("select pg_blocking_pids(%s)", [waiter.info.backend_pid]).fetchone()
        if row is not None and row[0]:
            return
        time.sleep(0.005)
    raise AssertionError(f"backend {waiter.info.backend_pid} never waited for a lock")


def test_resume_run_of_a_started_run_does_not_deadlock_with_its_cascade(
    sessions: list[psycopg.Connection[Any]], flow_slug: str
) -> None:
    """s1 and s2 lead to j. s2 is done; the report of s1 (which ends s1 and starts j, a step that sorts before s1)
    waits for the run's row; resume_run of that started run comes meanwhile. It must answer PF008 (the run is
    started) and the report must complete the step."""
    observer, reporter, operator, holder = sessions
    observer.execute(
        "select pgflow.define_flow(%s, %s)",
        [
            flow_slug,
            Jsonb(
                [
                    {"slug": "s1", "depends_on": []},
                    {"slug": "s2", "depends_on": []},
                    {"slug": "j", "depends_on": ["s1", "s2"]},
                ]
            ),
        ],
    )
    run_id = observer.execute("select run_id from pgflow.start_run(%s)", [flow_slug]).fetchone()[0]  # type: ignore[index]
    observer.execute("select count(*) from pgflow.poll_for_tasks('w', array[%s])", [flow_slug])
    assert observer.execute("select pgflow.complete_task(%s, 's2', 0, '2', 1)", [run_id]).fetchone() == (True,)

    holder.execute("select from pgflow.runs where run_id = %s for no key update", [run_id])
    pool = ThreadPoolExecutor(2)
    try:
        report = in_background(
            pool, lambda: outcome(reporter, "select pgflow.complete_task(%s, 's1', 0, '1', 1)", [run_id])
        )
        wait_until_blocked(observer, reporter, holder)
        resume = in_background(pool, lambda: outcome(operator, "select status from pgflow.resume_run(%s)", [run_id]))
        assert resume.result(timeout=30) == "PF008"
        holder.commit()
        assert report.result(timeout=30) is True
    finally:
        holder.rollback()  # lets every waiter go, so the threads end whatever happened
        pool.shutdown(wait=True)
    assert observer.execute(
        "select step_slug, status from pgflow.step_states where run_id = %s order by 1", [run_id]
    ).fetchall() == [("j", "started"), ("s1", "completed"), ("s2", "completed")]
    assert violations(observer, [run_id]) == []


def test_two_batches_crossing_two_runs_do_not_deadlock(sessions: list[psycopg.Connection[Any]], flow_slug: str) -> None:
    """Runs R1 and R2 of a -> b, each with a done and b claimed. One batch reports a stale a of R1 and b of R2, the
    other a stale a of R2 and b of R1 (each ends a step in one run and is refused in the other); both queue behind
    a session holding the two runs' rows. Both must be answered: [false, true]."""
    observer, first, second, holder = sessions
    observer.execute("select pgflow.define_flow(%s, %s)", [flow_slug, Jsonb([{"slug": "a"}, {"slug": "b"}])])
    runs: list[uuid.UUID] = []
    for _ in range(2):
        run_id = observer.execute("select run_id from pgflow.start_run(%s)", [flow_slug]).fetchone()[0]  # type: ignore[index]
        observer.execute("select count(*) from pgflow.poll_for_tasks('w', array[%s])", [flow_slug])
        assert observer.execute("select pgflow.complete_task(%s, 'a', 0, '1', 1)", [run_id]).fetchone() == (True,)
        observer.execute("select count(*) from pgflow.poll_for_tasks('w', array[%s])", [flow_slug])
        runs.append(run_id)
    r1, r2 = runs
    batch = (
        "select pgflow.complete_tasks(%s::uuid[], array['a', 'b'], array[0, 0], array['1', '2']::jsonb[], array[1, 1])"
    )

    holder.execute("select from pgflow.runs where run_id = any(%s) for no key update", [runs])
    pool = ThreadPoolExecutor(2)
    try:
        one = in_background(pool, lambda: outcome(first, batch, [[r1, r2]]))
        two = in_background(pool, lambda: outcome(second, batch, [[r2, r1]]))
        # (the second in the queue for a row waits for the first, which waits for the holder)
        wait_until_waiting(observer, first)
        wait_until_waiting(observer, second)
        holder.commit()
        assert one.result(timeout=30) == [False, True]
        assert two.result(timeout=30) == [False, True]
    finally:
        holder.rollback()
        pool.shutdown(wait=True)
    assert observer.execute(
        "select count(*) from pgflow.runs where run_id = any(%s) and status = 'completed'", [runs]
    ).fetchone() == (2,)
    assert violations(observer, runs) == []


def test_advisory_locks_of_other_sessions_stall_nothing(
    sessions: list[psycopg.Connection[Any]], flow_slug: str
) -> None:
    """The engine's locks are rows of a table of its own, not advisory locks, which any session of the database
    may take: a session holding the advisory locks the engine once used (expiry's, and the flow's definition
    lock) stalls neither expiry nor definitions nor starts."""
    observer, caller, _, holder = sessions
    holder.execute("select pg_advisory_xact_lock(hashtext('pgflow.expire_tasks'))")
    holder.execute("select pg_advisory_xact_lock(hashtext('pgflow.flows'), hashtext(%s))", [flow_slug])
    holder.execute("select pg_advisory_xact_lock(hashtext('pgflow.server_starts'))")
    caller.execute("set statement_timeout = '10s'")
    caller.execute("select set_config('pgflow.fake_now', '2030-01-01 12:00:00+00', false)")
    caller.execute("select pgflow.define_flow(%s, %s)", [flow_slug, Jsonb([{"slug": "a", "timeout": 5}])])
    run_id = caller.execute("select run_id from pgflow.start_run(%s)", [flow_slug]).fetchone()[0]  # type: ignore[index]
    caller.execute("select count(*) from pgflow.poll_for_tasks('w', array[%s])", [flow_slug])
    caller.execute("select set_config('pgflow.fake_now', '2030-01-01 12:01:00+00', false)")
    assert caller.execute("select pgflow.expire_tasks()").fetchone() == (1,)
    caller.execute("select set_config('pgflow.fake_now', '2030-01-01 12:02:00+00', false)")
    assert caller.execute("select attempt from pgflow.poll_for_tasks('w', array[%s])", [flow_slug]).fetchone() == (2,)
    holder.rollback()
    assert violations(observer, [run_id]) == []
