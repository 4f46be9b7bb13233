"""`pgflow.execute(flow, input, conninfo, timeout=..., concurrency=...)` end to end (SPEC §4): it defines the
flow, starts a run, works it in process (independent branches and map elements at the same time) and returns
the run's output, retrying failed attempts, ignoring results that arrive after their attempt timed out, and
raising RunFailed / TimeoutError."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import psycopg
import pytest

import pgflow

from ._client_helpers import Recorder, only_run_id, overlap, step_entry

SLEEP = 0.5


def test_diamond_runs_branches_in_parallel_and_returns_the_leaf_output(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def fetch(input: Any) -> Any:
        rec.inputs["fetch"] = input
        return rec.timed("fetch", SLEEP, {"n": input["n"]})

    @flow.step(depends_on=[fetch])
    def a(deps: Any) -> Any:
        rec.inputs["a"] = deps
        return rec.timed("a", SLEEP, deps["fetch"]["n"] * 2)

    @flow.step(depends_on=[fetch])
    def b(deps: Any) -> Any:
        rec.inputs["b"] = deps
        return rec.timed("b", SLEEP, deps["fetch"]["n"] * 3)

    @flow.step(depends_on=[a, b])
    def merge(deps: Any) -> Any:
        rec.inputs["merge"] = deps
        return rec.timed("merge", SLEEP, {"sum": deps["a"] + deps["b"]})

    started = time.monotonic()
    output = pgflow.execute(flow, {"n": 5}, database_url, timeout=30, concurrency=4)
    wall = time.monotonic() - started

    assert output == {"merge": {"sum": 25}}
    assert rec.inputs["fetch"] == {"n": 5}
    assert rec.inputs["a"] == rec.inputs["b"] == {"fetch": {"n": 5}}
    assert rec.inputs["merge"] == {"a": 10, "b": 15}

    iv = rec.intervals
    assert overlap(iv["a"], iv["b"]), iv
    assert iv["fetch"][1] <= min(iv["a"][0], iv["b"][0])
    assert max(iv["a"][1], iv["b"][1]) <= iv["merge"][0]
    # the run itself: three sleeps deep, not four
    assert iv["merge"][1] - iv["fetch"][0] < 4 * SLEEP - 0.3, iv

    run_id = only_run_id(conn, flow_slug)
    with pgflow.Client(database_url) as client:
        status = client.get_run_status(run_id)
    assert status["status"] == "completed"
    assert status["output"] == output

    # what the caller sees: execute() returns clearly sooner than running the four steps one after the other
    run_took = iv["merge"][1] - iv["fetch"][0]
    assert wall < 4 * SLEEP - 0.2, f"execute took {wall:.2f} s; the run itself took {run_took:.2f} s"


def test_execute_returns_soon_after_the_run_finishes(database_url: str, flow_slug: str) -> None:
    """A one-step flow with an instant handler: execute() should not linger once the output is known."""
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def one(input: Any) -> Any:
        return input["x"] + 1

    started = time.monotonic()
    assert pgflow.execute(flow, {"x": 1}, database_url, timeout=30) == {"one": 2}
    wall = time.monotonic() - started
    assert wall < 0.8, f"execute of a one-step, instant flow took {wall:.2f} s"


def test_map_over_previous_step_keeps_order_and_runs_elements_concurrently(database_url: str, flow_slug: str) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def items(input: Any) -> Any:
        return list(range(input["count"]))

    @flow.map(over=items)
    def each(item: int) -> Any:
        # earlier elements sleep longer, so they finish last: the output order must still be the input order
        return rec.timed(item, 0.2 + 0.1 * (4 - item), item * 10)

    started = time.monotonic()
    output = pgflow.execute(flow, {"count": 4}, database_url, timeout=30, concurrency=4)
    assert output == {"each": [0, 10, 20, 30]}
    assert sorted(rec.intervals) == [0, 1, 2, 3]
    assert rec.peak >= 2, "map elements never ran at the same time"
    first_start = min(s for s, _ in rec.intervals.values())
    last_end = max(e for _, e in rec.intervals.values())
    total_sleep = sum(e - s for s, e in rec.intervals.values())
    assert last_end - first_start < total_sleep - 0.4, rec.intervals
    assert time.monotonic() - started < 20


def test_root_map_over_the_run_input(database_url: str, flow_slug: str) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.map
    def square(item: int) -> int:
        return rec.timed(item, 0.4, item * item)

    output = pgflow.execute(flow, [3, 1, 2, 5], database_url, timeout=30, concurrency=4)
    assert output == {"square": [9, 1, 4, 25]}
    assert rec.peak >= 2, "map elements never ran at the same time"
    assert overlap(rec.intervals[3], rec.intervals[1]) or overlap(rec.intervals[2], rec.intervals[5])


def test_failed_attempts_are_retried(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=3, base_delay=0)
    def flaky(input: Any) -> Any:
        n = rec.call("flaky")
        if n < 3:
            raise RuntimeError(f"transient failure {n}")
        return {"ok": n}

    assert pgflow.execute(flow, {}, database_url, timeout=30) == {"flaky": {"ok": 3}}
    assert rec.calls["flaky"] == 3
    with pgflow.Client(database_url) as client:
        status = client.get_run_status(only_run_id(conn, flow_slug))
    assert status["status"] == "completed"
    assert step_entry(status, "flaky")["attempts"] == 3


def test_exhausted_step_raises_run_failed_with_the_handler_error(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def fine(input: Any) -> Any:
        return 1

    @flow.step(depends_on=[fine], max_attempts=2, base_delay=0)
    def doomed(deps: Any) -> Any:
        rec.call("doomed")
        raise ValueError("the widget is broken")

    with pytest.raises(pgflow.RunFailed) as info:
        pgflow.execute(flow, {}, database_url, timeout=30)
    error = info.value.error
    assert error is not None
    assert "doomed" in error
    assert "ValueError" in error
    assert "the widget is broken" in error
    assert rec.calls["doomed"] == 2
    run_id = only_run_id(conn, flow_slug)
    assert str(info.value.run_id) == str(run_id)
    with pgflow.Client(database_url) as client:
        assert client.get_run_status(run_id)["status"] == "failed"


def test_result_after_the_timeout_is_ignored_and_the_retry_wins(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=1, base_delay=0, max_attempts=3)
    def slow(input: Any) -> Any:
        if rec.call("slow") == 1:
            time.sleep(3)
            return "late"
        return "fresh"

    assert pgflow.execute(flow, {}, database_url, timeout=30) == {"slow": "fresh"}
    run_id = only_run_id(conn, flow_slug)
    row = conn.execute(
        "select status, attempt, output from pgflow.step_tasks where run_id = %s and step_slug = 'slow'", (run_id,)
    ).fetchone()
    assert row is not None
    status, attempt, task_output = row
    assert status == "completed"
    assert attempt >= 2
    assert task_output == "fresh"
    # execute() returned after the late attempt reported: its "late" did not overwrite anything
    with pgflow.Client(database_url) as client:
        assert client.get_run_status(run_id)["output"] == {"slow": "fresh"}


def test_handler_with_two_arguments_receives_a_context(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    seen: dict[Any, pgflow.Context] = {}
    before = dt.datetime.now(dt.timezone.utc)
    flow = pgflow.Flow(flow_slug, timeout=30)

    @flow.step
    def root(input: Any, ctx: pgflow.Context) -> Any:
        seen["root"] = ctx
        return ["x", "y", "z"]

    @flow.map(over=root)
    def each(item: Any, ctx: pgflow.Context) -> Any:
        seen[("each", ctx.task_index)] = ctx
        return f"{item}{ctx.task_index}"

    run_input = {"who": "ctx-test", "n": [1, 2]}
    assert pgflow.execute(flow, run_input, database_url, timeout=30) == {"each": ["x0", "y1", "z2"]}
    run_id = only_run_id(conn, flow_slug)

    ctx = seen["root"]
    assert isinstance(ctx, pgflow.Context)
    assert str(ctx.run_id) == str(run_id)
    assert ctx.flow_slug == flow_slug
    assert ctx.step_slug == "root"
    assert ctx.task_index == 0
    assert ctx.attempt == 1
    assert ctx.flow_input == run_input
    assert isinstance(ctx.deadline, dt.datetime)
    after = dt.datetime.now(dt.timezone.utc)
    assert before < ctx.deadline <= after + dt.timedelta(seconds=31)

    assert sorted(k[1] for k in seen if isinstance(k, tuple)) == [0, 1, 2]
    for index in range(3):
        element_ctx = seen[("each", index)]
        assert element_ctx.step_slug == "each"
        assert element_ctx.task_index == index
        assert element_ctx.flow_input == run_input  # a map element's ctx still carries the run input
        assert str(element_ctx.run_id) == str(run_id)


def test_non_json_output_fails_the_task_without_retry(database_url: str, flow_slug: str) -> None:
    rec = Recorder()
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=2, base_delay=0)
    def unserializable(input: Any) -> Any:
        rec.call("unserializable")
        return {"when": object()}

    with pytest.raises(pgflow.RunFailed) as info:
        pgflow.execute(flow, {}, database_url, timeout=30)
    assert f"output of {flow_slug}.unserializable is not storable JSON: $.when is an object" in (info.value.error or "")
    assert rec.calls["unserializable"] == 1  # an output that cannot be stored is not retried (SPEC §7)


def test_execute_raises_timeout_error(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def first(input: Any) -> Any:
        return 1

    @flow.step(depends_on=[first])
    def slow(deps: Any) -> Any:
        time.sleep(2)
        return 2

    with pytest.raises(TimeoutError):
        pgflow.execute(flow, {}, database_url, timeout=0.5)
    run_id, run_status, output, _error = conn.execute(
        "select run_id, status, output, error from pgflow.runs where flow_slug = %s", (flow_slug,)
    ).fetchone()
    assert run_status != "completed" and output is None, (run_id, run_status, output)


def test_execute_timeout_is_honoured_while_a_handler_runs(database_url: str, flow_slug: str) -> None:
    """timeout bounds how long execute() blocks, even when a handler is still busy."""
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def stuck(input: Any) -> Any:
        time.sleep(5)
        return "too late"

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        pgflow.execute(flow, {}, database_url, timeout=1)
    elapsed = time.monotonic() - started
    assert elapsed < 3, f"execute(timeout=1) raised TimeoutError only after {elapsed:.1f} s"
