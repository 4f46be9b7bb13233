"""`pgflow.Client` (SPEC §4): starting runs, idempotency keys, get_run_status, wait and its outcomes,
cancel and resume driven by a real `pgflow.Worker`, the engine's errors as PgflowError subclasses, lazy
connections, and the worker's log of a failing handler."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

import pgflow

from ._client_helpers import Recorder, running_worker, runs_of, step_entry, wait_until

UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"

RUN_STATUS_KEYS = {
    "run_id",
    "flow_slug",
    "flow_version",
    "status",
    "total_steps",
    "completed_steps",
    "percentage",
    "total_tasks",
    "completed_tasks",
    "input",
    "output",
    "error",
    "started_at",
    "finished_at",
    "steps",
}
STEP_STATUS_KEYS = {"step_slug", "step_type", "status", "total_tasks", "completed_tasks", "attempts", "error"}


def _chain(flow_slug: str, rec: Recorder | None = None) -> pgflow.Flow:
    """first -> second -> third, each counting its calls."""
    rec = rec or Recorder()
    flow = pgflow.Flow(flow_slug, base_delay=0)

    @flow.step
    def first(input: Any) -> Any:
        rec.call("first")
        return {"v": input.get("v", 0)}

    @flow.step(depends_on=[first])
    def second(deps: Any) -> Any:
        rec.call("second")
        return deps["first"]["v"] + 1

    @flow.step(depends_on=[second])
    def third(deps: Any) -> Any:
        rec.call("third")
        return deps["second"] * 10

    return flow


def _app_conninfo(database_url: str) -> tuple[str, str]:
    name = f"pgflow-client-test-{uuid.uuid4().hex[:8]}"
    return make_conninfo(database_url, application_name=name), name


def _backends(conn: psycopg.Connection, application_name: str) -> int:
    row = conn.execute(
        "select count(*) from pg_stat_activity where application_name = %s", (application_name,)
    ).fetchone()
    assert row is not None
    return int(row[0])


# ----------------------------------------------------------------------------------------------------
# Starting runs and reading their status
# ----------------------------------------------------------------------------------------------------
def test_start_run_returns_a_started_run(database_url: str, flow_slug: str) -> None:
    flow = _chain(flow_slug)
    with pgflow.Client(database_url) as client:
        version = client.define(flow)
        run = client.start_run(flow_slug, {"v": 7})
        assert isinstance(run, pgflow.Run)
        assert isinstance(run.run_id, uuid.UUID)
        assert run.status == "started"
        assert run.flow_slug == flow_slug
        assert run.flow_version == version.version == 1
        assert run.input == {"v": 7}

        by_flow = client.start_run(flow, {"v": 8})  # a Flow object works as well as its slug
        assert by_flow.run_id != run.run_id
        assert by_flow.status == "started"
        assert by_flow.flow_version == 1


def test_idempotency_key_returns_the_same_run(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client:
        client.define(_chain(flow_slug))
        first = client.start_run(flow_slug, {"v": 1}, idempotency_key="order-42")
        again = client.start_run(flow_slug, {"v": 1}, idempotency_key="order-42")
        assert again.run_id == first.run_id
        other = client.start_run(flow_slug, {"v": 1}, idempotency_key="order-43")
        assert other.run_id != first.run_id
    assert len(runs_of(conn, flow_slug)) == 2


def test_get_run_status_has_the_spec_keys(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    # declared out of order: the status lists steps in a topological order all the same
    flow = pgflow.Flow.from_steps(
        flow_slug,
        [
            ("c", lambda d: 3, {"depends_on": ["b"]}),
            ("a", lambda i: 1, {"depends_on": []}),
            ("b", lambda d: 2, {"depends_on": ["a"]}),
        ],
    )
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {"hello": "world"})
        status = client.get_run_status(run.run_id)
        assert set(status) >= RUN_STATUS_KEYS, RUN_STATUS_KEYS - set(status)
        assert status["run_id"] == str(run.run_id)
        assert (status["flow_slug"], status["flow_version"], status["status"]) == (flow_slug, 1, "started")
        assert (status["total_steps"], status["completed_steps"], status["percentage"]) == (3, 0, 0)
        assert status["input"] == {"hello": "world"}
        assert status["output"] is None and status["error"] is None and status["finished_at"] is None
        assert status["started_at"]
        assert [s["step_slug"] for s in status["steps"]] == ["a", "b", "c"]
        for entry in status["steps"]:
            assert set(entry) >= STEP_STATUS_KEYS, STEP_STATUS_KEYS - set(entry)
        assert step_entry(status, "a")["status"] == "started"
        assert step_entry(status, "a")["step_type"] == "single"

        # complete the first step through the SQL worker protocol
        tasks = conn.execute(
            "select run_id, step_slug, task_index, attempt, input from pgflow.poll_for_tasks(%s, %s, 10)",
            ("status-test", [flow_slug]),
        ).fetchall()
        assert [(t[1], t[2], t[3], t[4]) for t in tasks] == [("a", 0, 1, {"hello": "world"})]
        done = conn.execute(
            "select pgflow.complete_task(%s, 'a', 0, %s, 1)", (run.run_id, Jsonb({"out": 1}))
        ).fetchone()
        assert done == (True,)

        status = client.get_run_status(run)  # a Run works as well as its id
        assert (status["completed_steps"], status["percentage"]) == (1, 33.3)
        a = step_entry(status, "a")
        assert (a["status"], a["total_tasks"], a["completed_tasks"], a["attempts"], a["error"]) == (
            "completed",
            1,
            1,
            1,
            None,
        )
        assert step_entry(status, "b")["status"] == "started"
        assert step_entry(status, "c")["status"] == "created"


# ----------------------------------------------------------------------------------------------------
# wait()
# ----------------------------------------------------------------------------------------------------
def test_wait_returns_the_output_of_a_completed_run(database_url: str, flow_slug: str) -> None:
    flow = _chain(flow_slug)
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {"v": 4})
        with running_worker(database_url, flow):
            assert client.wait(run.run_id, timeout=15) == {"third": 50}
        # waiting on a run that has already finished returns at once
        started = time.monotonic()
        assert client.wait(str(run.run_id), timeout=5) == {"third": 50}
        assert time.monotonic() - started < 2
        assert client.get_run_status(run.run_id)["status"] == "completed"


def test_wait_raises_run_failed(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1)
    def breaks(input: Any) -> Any:
        raise KeyError("missing-thing")

    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {})
        with running_worker(database_url, flow), pytest.raises(pgflow.RunFailed) as info:
            client.wait(run.run_id, timeout=15)
    assert "breaks" in (info.value.error or "")
    assert "missing-thing" in (info.value.error or "")


def test_wait_raises_run_cancelled(database_url: str, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client:
        client.define(_chain(flow_slug))
        run = client.start_run(flow_slug, {})
        cancelled = client.cancel_run(run.run_id)
        assert cancelled.status == "cancelled"
        started = time.monotonic()
        with pytest.raises(pgflow.RunCancelled):
            client.wait(run.run_id, timeout=5)
        assert time.monotonic() - started < 2


def test_wait_raises_timeout_error(database_url: str, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client:
        client.define(_chain(flow_slug))
        run = client.start_run(flow_slug, {})  # no worker: it never finishes
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.wait(run.run_id, timeout=0.5)
        elapsed = time.monotonic() - started
        assert 0.4 <= elapsed < 3, elapsed
        assert client.get_run_status(run.run_id)["status"] == "started"


# ----------------------------------------------------------------------------------------------------
# cancel_run / resume_run with a real worker
# ----------------------------------------------------------------------------------------------------
def _blocking_chain(flow_slug: str, rec: Recorder, gates: list[threading.Event], entered: list[threading.Event]):
    """first -> second -> third; the n-th call of `second` (n = 1..len(gates)) signals entered[n-1] and
    blocks until gates[n-1] is set (10 s at most); later calls return at once."""
    flow = pgflow.Flow(flow_slug, base_delay=0)

    @flow.step
    def first(input: Any) -> Any:
        rec.call("first")
        return 1

    @flow.step(depends_on=[first])
    def second(deps: Any) -> Any:
        n = rec.call("second")
        if n <= len(gates):
            entered[n - 1].set()
            gates[n - 1].wait(10)
            return f"second call {n}"
        return f"second call {n}"

    @flow.step(depends_on=[second])
    def third(deps: Any) -> Any:
        rec.call("third")
        return deps["second"]

    return flow


def test_cancel_mid_run_then_resume_runs_only_what_was_left(database_url: str, flow_slug: str) -> None:
    rec = Recorder()
    gate, entered = threading.Event(), threading.Event()
    flow = _blocking_chain(flow_slug, rec, [gate], [entered])
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {})
        with running_worker(database_url, flow, concurrency=2) as worker:
            try:
                assert entered.wait(10), "the second step never started"
                cancelled = client.cancel_run(run.run_id)
                assert cancelled.status == "cancelled"
                status = client.get_run_status(run.run_id)
                assert status["status"] == "cancelled"
                assert step_entry(status, "first")["status"] == "completed"
                with pytest.raises(pgflow.RunCancelled):
                    client.wait(run.run_id, timeout=5)
            finally:
                gate.set()
            # the cancelled attempt's result is reported and must be ignored
            wait_until(lambda: worker.in_flight == 0, 10, what="the blocked handler to report")
            status = client.get_run_status(run.run_id)
            assert status["status"] == "cancelled"
            assert step_entry(status, "second")["status"] != "completed"

            resumed = client.resume_run(run.run_id)
            assert resumed.status == "started"
            assert resumed.run_id == run.run_id
            assert client.wait(run.run_id, timeout=15) == {"third": "second call 2"}

        status = client.get_run_status(run.run_id)
        assert status["status"] == "completed"
        assert step_entry(status, "first")["attempts"] == 1
    assert rec.calls == {"first": 1, "second": 2, "third": 1}


def test_report_from_before_the_resume_is_fenced_off(database_url: str, flow_slug: str) -> None:
    """Cancel while `second` runs, resume at once: the new attempt starts while the old one is still running.
    The old attempt's late result must not complete the task that the new attempt now holds."""
    rec = Recorder()
    gates = [threading.Event(), threading.Event()]
    entered = [threading.Event(), threading.Event()]
    flow = _blocking_chain(flow_slug, rec, gates, entered)
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {})
        with running_worker(database_url, flow, concurrency=2) as worker:
            try:
                assert entered[0].wait(10), "the second step never started"
                client.cancel_run(run.run_id)
                client.resume_run(run.run_id)
                assert entered[1].wait(10), "the resumed second step was not picked up again"
                gates[0].set()  # the old attempt reports now, while the new one holds the task
                wait_until(lambda: worker.in_flight == 1, 10, what="the old attempt to report")
                status = client.get_run_status(run.run_id)
                assert status["status"] == "started"
                assert step_entry(status, "second")["status"] == "started"
            finally:
                for gate in gates:
                    gate.set()
            assert client.wait(run.run_id, timeout=15) == {"third": "second call 2"}
    assert rec.calls == {"first": 1, "second": 2, "third": 1}


# ----------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------
def test_unknown_run_raises_run_not_found(database_url: str) -> None:
    missing = uuid.uuid4()
    with pgflow.Client(database_url) as client:
        for call in (client.get_run_status, client.cancel_run, client.resume_run, client.wait):
            with pytest.raises(pgflow.RunNotFound) as info:
                call(missing)
            assert info.value.sqlstate == "PF006"
            assert isinstance(info.value, pgflow.PgflowError)
            assert str(missing) in str(info.value)


def test_cancel_or_resume_of_a_completed_run_raises_invalid_state(database_url: str, flow_slug: str) -> None:
    flow = _chain(flow_slug)
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {})
        with running_worker(database_url, flow):
            client.wait(run.run_id, timeout=15)
        with pytest.raises(pgflow.InvalidState) as info:
            client.cancel_run(run.run_id)
        assert info.value.sqlstate == "PF008"
        with pytest.raises(pgflow.InvalidState):
            client.resume_run(run.run_id)
        with pytest.raises(pgflow.InvalidState):
            client.resume_run(client.start_run(flow_slug, {}).run_id)  # a started run cannot be resumed
        assert client.get_run_status(run.run_id)["status"] == "completed"


def test_start_of_an_unknown_flow_raises_flow_not_found(database_url: str, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client, pytest.raises(pgflow.FlowNotFound) as info:
        client.start_run(flow_slug, {})
    assert info.value.sqlstate == "PF004"
    assert flow_slug in str(info.value)


def test_root_map_with_non_array_input_raises_invalid_input(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.map
    def each(item: Any) -> Any:
        return item

    with pgflow.Client(database_url) as client:
        client.define(flow)
        with pytest.raises(pgflow.InvalidInput) as info:
            client.start_run(flow_slug, {"not": "an array"})
        assert info.value.sqlstate == "PF005"
        assert runs_of(conn, flow_slug) == []
        assert client.start_run(flow_slug, [1, 2]).status == "started"


# ----------------------------------------------------------------------------------------------------
# Connections
# ----------------------------------------------------------------------------------------------------
def test_client_connects_lazily(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    unreachable = pgflow.Client(UNREACHABLE)  # nothing happens yet
    with pytest.raises(psycopg.OperationalError):
        unreachable.get_run_status(uuid.uuid4())
    unreachable.close()

    conninfo, name = _app_conninfo(database_url)
    client = pgflow.Client(conninfo)
    try:
        assert _backends(conn, name) == 0
        client.define(_chain(flow_slug))
        assert _backends(conn, name) == 1
    finally:
        client.close()
    wait_until(lambda: _backends(conn, name) == 0, 5, what="the client's connection to close")


def test_client_as_a_context_manager_closes_its_connection(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    conninfo, name = _app_conninfo(database_url)
    with pgflow.Client(conninfo) as client:
        client.define(_chain(flow_slug))
        run = client.start_run(flow_slug, {})
        assert _backends(conn, name) == 1
    wait_until(lambda: _backends(conn, name) == 0, 5, what="the client's connection to close")
    # a closed client reconnects when used again
    try:
        assert client.get_run_status(run.run_id)["status"] == "started"
    finally:
        client.close()


# ----------------------------------------------------------------------------------------------------
# The worker's log
# ----------------------------------------------------------------------------------------------------
def test_worker_logs_a_handler_exception_with_run_step_task_and_attempt(
    database_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1)
    def explode(input: Any) -> Any:
        raise ZeroDivisionError("kaboom-1234")

    caplog.set_level(logging.INFO, logger="pgflow.worker")
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {})
        with running_worker(database_url, flow), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=15)

    records = [
        r
        for r in caplog.records
        if r.name == "pgflow.worker" and r.levelno >= logging.ERROR and str(run.run_id) in r.getMessage()
    ]
    assert records, [(r.levelname, r.getMessage()) for r in caplog.records]
    record = records[0]
    message = record.getMessage()
    assert "explode" in message
    assert re.search(r"task\W*0\b", message), message
    assert re.search(r"attempt\W*1\b", message), message
    # the exception itself is in the record: its type and message, in the text or the attached traceback
    logged = message + "\n" + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
    assert "ZeroDivisionError" in logged and "kaboom-1234" in logged, logged
