"""What a handler gets as input, through a real pgflow.Worker: each task's input, and the run input behind
``ctx.flow_input``, are decoded task by task in the handler's thread. An input Python cannot read (an integer
of more than 4,300 digits) fails only its own task, at its first attempt, without retry, with
``input of <flow>.<step> could not be read: ...``; the poll that claimed it, the worker, and the healthy tasks
claimed with it are not affected. JSON numbers with a fraction are read as floats, integers as ints."""

from __future__ import annotations

import decimal
import threading
from typing import Any

import psycopg
import pytest

import pgflow

from ._client_helpers import running_worker, wait_until

#: a run input holding an integer of 5,001 digits: jsonb stores it, Python's json refuses to read it
HUGE_INT_INPUT = '{"x": 1' + "0" * 5000 + "}"


def _start(conn: psycopg.Connection, slug: str, run_input: str) -> Any:
    """start_run from SQL (the Python client could not even build such an input); the run id."""
    row = conn.execute("select run_id from pgflow.start_run(%s, %s::jsonb)", (slug, run_input)).fetchone()
    assert row is not None
    return row[0]


def _tasks(conn: psycopg.Connection, run_id: Any) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select step_slug, task_index, status, attempt, error, output from pgflow.step_tasks "
        "where run_id = %s order by step_slug, task_index",
        (run_id,),
    ).fetchall()


def _wait(conn: psycopg.Connection, run_id: Any) -> str:
    """The run's status once it is no longer started (read from pgflow.runs; at most 30 s)."""

    def finished() -> str | None:
        row = conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone()
        return row[0] if row and row[0] != "started" else None

    return str(wait_until(finished, 30, interval=0.05, what=f"run {run_id} to finish"))


def test_an_input_python_cannot_read_fails_only_its_task_and_never_a_poll(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """One run's input holds a 5,001-digit integer; four healthy runs are started with it, before the worker,
    so that one poll claims all five. The bad task fails at attempt 1 (max_attempts 3) with a clear error,
    the four others complete at attempt 1, and the worker keeps running (it is stopped, not crashed)."""
    flow = pgflow.Flow(flow_slug)
    calls: list[Any] = []
    lock = threading.Lock()

    @flow.step(max_attempts=3, base_delay=0)
    def echo(input: Any) -> Any:
        with lock:
            calls.append(input)
        return input

    with pgflow.Client(database_url) as client:
        client.define(flow)
        bad = _start(conn, flow_slug, HUGE_INT_INPUT)
        good = [_start(conn, flow_slug, f'{{"n": {n}}}') for n in range(4)]
        with running_worker(database_url, flow, concurrency=5) as worker:
            outcomes = {run_id: _wait(conn, run_id) for run_id in [bad, *good]}
            assert worker.in_flight == 0
    assert outcomes == {bad: "failed", **dict.fromkeys(good, "completed")}
    [(step, index, status, attempt, error, output)] = _tasks(conn, bad)
    assert (step, index, status, attempt, output) == ("echo", 0, "failed", 1, None)
    assert error.startswith(f"input of {flow_slug}.echo could not be read: ValueError: "), error
    assert "4300" in error, error  # Python's own reason: the digit limit
    for n, run_id in enumerate(good):
        assert _tasks(conn, run_id) == [("echo", 0, "completed", 1, None, {"n": n})]
    assert sorted(c["n"] for c in calls) == [0, 1, 2, 3]  # the bad task's handler never ran


def test_a_run_input_python_cannot_read_fails_the_task_that_asks_for_it(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """The run input holds a 5,001-digit integer. The root step's condition is unmet, so it is skipped and
    its input never read; the step after it gets a readable input ({}) but asks for ctx.flow_input: it fails
    at attempt 1 (max_attempts 3), without retry, naming the run input."""
    flow = pgflow.Flow(flow_slug)
    ran = threading.Event()

    @flow.step(if_={"never": True})
    def gate(input: Any) -> Any:
        ran.set()
        return 1

    @flow.step(depends_on=[gate], max_attempts=3, base_delay=0)
    def after(deps: Any, ctx: pgflow.Context) -> Any:
        ran.set()
        return ctx.flow_input

    with pgflow.Client(database_url) as client:
        client.define(flow)
        run_id = _start(conn, flow_slug, HUGE_INT_INPUT)
        with running_worker(database_url, flow, concurrency=2):
            assert _wait(conn, run_id) == "failed"
    [(_step, _, status, attempt, error, _)] = [t for t in _tasks(conn, run_id) if t[0] == "after"]
    assert (status, attempt) == ("failed", 1)
    assert error.startswith(
        f"input of {flow_slug}.after could not be read: its run input (ctx.flow_input): ValueError: "
    ), error
    assert not ran.is_set()


def test_numbers_keep_their_documented_python_types(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """Integers of any length up to 4,300 digits arrive exactly, as ints; numbers with a fraction arrive as
    floats (a double: 0.1 is 0.1, and a 40-digit fraction keeps only a double's precision)."""
    flow = pgflow.Flow(flow_slug)
    seen: dict[str, Any] = {}

    @flow.step
    def look(input: Any, ctx: pgflow.Context) -> Any:
        seen["input"], seen["flow_input"] = input, ctx.flow_input
        return 1

    big = 10**40 + 1
    text = f'{{"int": {big}, "fraction": 0.1, "long": 12345678901234567890.123456789012345678901}}'
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run_id = _start(conn, flow_slug, text)
        with running_worker(database_url, flow, concurrency=1):
            assert _wait(conn, run_id) == "completed"
    expected = {"int": big, "fraction": 0.1, "long": 12345678901234567890.123456789012345678901}
    for key in ("input", "flow_input"):
        value = seen[key]
        assert value == expected, (key, value)
        assert type(value["int"]) is int and type(value["fraction"]) is float and type(value["long"]) is float


def test_an_input_nested_too_deeply_for_python_fails_its_task(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """jsonb holds arrays nested deeper than Python's json can read (a RecursionError): that task fails
    without retry; the worker carries on with the next run."""
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=3, base_delay=0)
    def echo(input: Any) -> Any:
        return "read"

    with pgflow.Client(database_url) as client:
        client.define(flow)
        deep = _start(conn, flow_slug, "[" * 5000 + "]" * 5000)
        after = _start(conn, flow_slug, "{}")
        with running_worker(database_url, flow, concurrency=2):
            assert _wait(conn, deep) == "failed"
            assert _wait(conn, after) == "completed"
    [(_, _, status, attempt, error, _)] = _tasks(conn, deep)
    assert (status, attempt) == ("failed", 1)
    assert error.startswith(f"input of {flow_slug}.echo could not be read: RecursionError: "), error


def test_the_client_reads_a_run_whose_input_holds_an_integer_python_will_not_convert(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """get_run_status and wait work for such a run: the integer comes back exact, as a decimal.Decimal."""
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1)
    def echo(input: Any) -> Any:
        return input

    with pgflow.Client(database_url) as client:
        client.define(flow)
        run_id = _start(conn, flow_slug, HUGE_INT_INPUT)
        with running_worker(database_url, flow, concurrency=1), pytest.raises(pgflow.RunFailed) as info:
            client.wait(run_id, timeout=30)
        status = client.get_run_status(run_id)
    assert "could not be read" in (info.value.error or "")
    assert status["input"] == {"x": decimal.Decimal("1" + "0" * 5000)}
