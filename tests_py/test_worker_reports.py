"""What the worker logs about its reports: a report the engine did not record is logged with what the task and
its run are now, read from the database, never with a guessed reason; every log line about a task names its
run, flow, step, task index and attempt, in the text and as the record's fields."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pgflow
import psycopg
import pytest

from ._client_helpers import wait_until

FIELDS = ("run_id", "flow_slug", "step_slug", "task_index", "attempt")


@contextmanager
def worker_thread(worker: pgflow.Worker) -> Iterator[pgflow.Worker]:
    """``worker.run()`` in a daemon thread for the block; stopped and joined on exit."""
    crashed: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            crashed.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=20)
    assert not thread.is_alive()
    if crashed:
        raise crashed[0]


def _task(conn: psycopg.Connection, run_id: Any, step: str) -> tuple[Any, ...] | None:
    return conn.execute(
        "select status, attempt, worker_id from pgflow.step_tasks where run_id = %s and step_slug = %s",
        (run_id, step),
    ).fetchone()


def _task_records(caplog: pytest.LogCaptureFixture, run_id: Any) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pgflow.worker" and str(run_id) in r.getMessage()]


def assert_names_the_task(record: logging.LogRecord, flow_slug: str, step: str, task_index: int, attempt: int) -> None:
    """The record's text and fields name the run, flow, step, task index and attempt."""
    message = record.getMessage()
    assert f"flow {flow_slug}" in message and f"step {step}" in message, message
    assert re.search(rf"\btask {task_index}\b", message) and re.search(rf"\battempt {attempt}\b", message), message
    assert (record.flow_slug, record.step_slug, record.task_index, record.attempt) == (  # type: ignore[attr-defined]
        flow_slug, step, task_index, attempt,
    ), message
    assert record.run_id in message  # type: ignore[attr-defined]


def test_a_result_refused_because_the_run_was_cancelled_says_so(
    database_url: str, conn: psycopg.Connection, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    go = threading.Event()
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=30)
    def slow(input: Any) -> Any:
        go.wait(20)
        return 1

    reported: list[tuple[str, bool]] = []
    caplog.set_level(logging.INFO, logger="pgflow.worker")
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        worker = pgflow.Worker(
            database_url, flow, concurrency=1, on_report=lambda task, ok: reported.append((task.step_slug, ok))
        )
        with worker_thread(worker):
            wait_until(lambda: (_task(conn, run.run_id, "slow") or ("",))[0] == "started", 15, what="the claim")
            client.cancel_run(run.run_id, "changed my mind")
            go.set()
            wait_until(lambda: reported, 15, what="the report")
    assert reported == [("slow", False)]
    records = [r for r in _task_records(caplog, run.run_id) if "not recorded" in r.getMessage()]
    assert [r.getMessage() for r in records] == [
        (
            f"the result of attempt 1 of run {run.run_id}, flow {flow_slug}, step slow, task 0 was not recorded: "
            f"its run is cancelled (the task is cancelled at attempt 1)"
        )
    ]
    assert_names_the_task(records[0], flow_slug, "slow", 0, 1)


def test_a_result_of_an_attempt_that_was_replaced_names_the_current_attempt(
    database_url: str, conn: psycopg.Connection, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Attempt 1 outlives its 1 s timeout; another claimer expires it and takes attempt 2; attempt 1's result
    then arrives. The log says the task is at attempt 2, not a guess."""
    go = threading.Event()
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=1, base_delay=0, max_attempts=3)
    def slow(input: Any) -> Any:
        go.wait(20)
        return 1

    caplog.set_level(logging.INFO, logger="pgflow.worker")
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        worker = pgflow.Worker(database_url, flow, concurrency=1, worker_id=f"w-{uuid.uuid4().hex[:8]}")
        with worker_thread(worker):
            wait_until(lambda: (_task(conn, run.run_id, "slow") or ("",))[0] == "started", 15, what="the claim")
            time.sleep(1.2)  # past attempt 1's deadline

            def thief_holds_attempt_2() -> bool:
                conn.execute("select * from pgflow.poll_for_tasks('test-thief', %s, 1)", ([flow_slug],)).fetchall()
                return _task(conn, run.run_id, "slow") == ("started", 2, "test-thief")

            wait_until(thief_holds_attempt_2, 15, interval=0.2, what="attempt 2 claimed by another worker")
            go.set()
            wait_until(
                lambda: [r for r in _task_records(caplog, run.run_id) if "not recorded" in r.getMessage()],
                15, what="the log line",
            )
    [record] = [r for r in _task_records(caplog, run.run_id) if "not recorded" in r.getMessage()]
    message = record.getMessage()
    assert message.startswith(
        f"the result of attempt 1 of run {run.run_id}, flow {flow_slug}, step slow, task 0 was not recorded: "
        f"the task is now at attempt 2 (started)"
    ), message
    assert_names_the_task(record, flow_slug, "slow", 0, 1)


def test_every_log_line_about_a_task_names_run_flow_step_task_and_attempt(
    database_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.map(max_attempts=2, base_delay=0)
    def element(x: int, ctx: pgflow.Context) -> Any:
        if x == 0 and ctx.attempt == 1:
            raise ValueError("first attempt of element 0")
        if x == 1:
            raise pgflow.NonRetryableError("element 1 never works")
        if x == 2:
            return {"value": float("nan")}
        return x

    caplog.set_level(logging.DEBUG, logger="pgflow.worker")
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, [0, 1, 2, 3])
        with worker_thread(pgflow.Worker(database_url, flow, concurrency=4)), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=20)
    records = _task_records(caplog, run.run_id)
    assert len(records) >= 3, [r.getMessage() for r in caplog.records]
    for record in records:
        match = re.search(r"\btask (\d+)\b", record.getMessage())
        assert match, record.getMessage()
        assert_names_the_task(record, flow_slug, "element", int(match.group(1)), record.attempt)  # type: ignore[attr-defined]
    messages = "\n".join(r.getMessage() for r in records)
    assert "first attempt of element 0" in messages
    assert "element 1 never works" in messages
    assert f"output of {flow_slug}.element is not storable JSON: $.value is a float nan" in messages
