"""What the worker logs about its reports: a report the engine did not record is logged with what the task and
its run are now, read from the database, never with a guessed reason; every log line about a task names its
run, flow, step, task index and attempt, in the text and as the record's fields."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from ._client_helpers import wait_until, worker_thread
from .conftest import scratch_database

FIELDS = ("run_id", "flow_slug", "step_slug", "task_index", "attempt")


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
        flow_slug,
        step,
        task_index,
        attempt,
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
        # no thread may linger past its deadline: attempt 1 keeps the only slot, so the thief claims attempt 2
        worker.max_lingering = 0
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
                15,
                what="the log line",
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


# ----------------------------------------------------------------------------------------------------
# One slow or refused report never holds the others back
# ----------------------------------------------------------------------------------------------------
#: a report of the output "slow" takes 3 s, longer than the worker's statement_timeout (1 s)
SLOW_TRIGGER = """
create function public.slow_marked_output() returns trigger language plpgsql as $$
begin
  if new.output = '"slow"'::jsonb then
    perform pg_sleep(3);
  end if;
  return new;
end;
$$;
create trigger slow_marked_output before update on pgflow.step_tasks
for each row execute function public.slow_marked_output();
"""


def test_a_report_cancelled_by_statement_timeout_is_a_refusal_not_a_lost_connection(
    admin_url: str, flow_slug: str
) -> None:
    """The worker's sessions have statement_timeout 1 s; one result of a map of 8 takes 3 s to record (a
    trigger stands for any slow report: a huge output, a busy table). 57014 is a refusal of the statement:
    the batch is reported one by one, the seven other results are recorded at attempt 1, and the slow one
    fails its task without retry with the database's message. The worker never stops serving."""
    flow = pgflow.Flow(flow_slug)

    @flow.map(max_attempts=3, base_delay=0, timeout=60)
    def element(x: int) -> Any:
        return "slow" if x == 5 else x * 10

    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn, pgflow.Client(url) as client:
            conn.execute(SLOW_TRIGGER)
            run = client.start_run(flow, list(range(8)))
            worker = pgflow.Worker(
                make_conninfo(url, options="-c statement_timeout=1000"),
                flow,
                concurrency=8,
                worker_id=f"w-{uuid.uuid4().hex[:8]}",
            )
            with worker_thread(worker):
                with pytest.raises(pgflow.RunFailed) as info:
                    client.wait(run.run_id, timeout=40)
                wait_until(lambda: worker.in_flight == 0, 10, what="every slot to be freed")
            tasks = conn.execute(
                "select task_index, status, attempt, output, error from pgflow.step_tasks "
                "where run_id = %s order by task_index",
                (run.run_id,),
            ).fetchall()
    expected_error = (
        f"output of {flow_slug}.element was refused by the database: canceling statement due to statement "
        f"timeout (SQLSTATE 57014)"
    )
    for task_index, status, attempt, output, error in tasks:
        if task_index == 5:
            assert (status, attempt, error) == ("failed", 1, expected_error)
        else:
            assert (status, attempt, output) == ("completed", 1, task_index * 10), (task_index, status, error)
    assert expected_error in (info.value.error or "")


#: every completed task notes the transaction that recorded it and the size of its output
REPORT_LOG = """
create table public.report_log (txid bigint, task_index int, bytes int);
create function public.log_report() returns trigger language plpgsql as $$
begin
  insert into public.report_log values (txid_current(), new.task_index, octet_length(new.output::text));
  return new;
end;
$$;
create trigger log_report after update on pgflow.step_tasks
for each row when (new.status = 'completed') execute function public.log_report();
"""


def test_a_batch_of_results_is_capped_by_the_bytes_of_its_outputs(admin_url: str, flow_slug: str) -> None:
    """Six results of 3 MB each. The first one's report waits on a row the test holds, while the five others
    queue up; once the row is released they are sent in batches of at most 8 MiB of outputs (two, two,
    one), not all 15 MB in one statement."""
    size = 3_000_000
    late = {1, 2, 3, 4, 5}
    go = threading.Event()
    returned: set[int] = set()
    lock = threading.Lock()
    flow = pgflow.Flow(flow_slug)

    @flow.map(max_attempts=1, timeout=60)
    def element(x: int) -> Any:
        if x in late:
            go.wait(30)
        with lock:
            returned.add(x)
        return "x" * size

    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn, pgflow.Client(url) as client:
            conn.execute(REPORT_LOG)
            run = client.start_run(flow, list(range(6)))
            worker = pgflow.Worker(url, flow, concurrency=6, worker_id=f"w-{uuid.uuid4().hex[:8]}")
            with worker_thread(worker):
                wait_until(
                    lambda: (
                        conn.execute(
                            "select count(*) from pgflow.step_tasks where run_id = %s and status = 'started'",
                            (run.run_id,),
                        ).fetchone()
                        == (6,)
                    ),
                    20,
                    what="the six tasks to be claimed",
                )
                with psycopg.connect(url) as holder:
                    holder.execute(
                        "select 1 from pgflow.step_states where run_id = %s and step_slug = 'element' for update",
                        (run.run_id,),
                    )
                    wait_until(
                        lambda: (
                            conn.execute(
                                "select count(*) from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
                                (holder.info.backend_pid,),
                            ).fetchone()
                            == (1,)
                        ),
                        20,
                        what="the first report to wait on the step's row",
                    )
                    go.set()
                    wait_until(lambda: returned >= late, 20, what="the late handlers to return")
                    time.sleep(0.5)  # their results reach the reporter's queue
                    holder.rollback()
                client.wait(run.run_id, timeout=30)
            batches = conn.execute("select count(*), sum(bytes) from public.report_log group by txid").fetchall()
    assert sum(count for count, _ in batches) == 6, batches
    limit = 8 * 1024 * 1024
    assert all(total <= limit or count == 1 for count, total in batches), batches
    assert sorted(count for count, _ in batches) == [1, 1, 2, 2], batches


def test_outputs_are_sent_without_per_character_escaping(database_url: str, flow_slug: str) -> None:
    """A result of 4 MB of JSON text made of backslashes and quotes (each one escaped again in PostgreSQL's
    text format for arrays, at about 1 µs per character in psycopg) is reported, from the handler's return
    to the commit, in well under the time it takes psycopg just to send that output as a text-format array,
    measured in the same run."""
    payload = '\\"' * 1_000_000
    output_text = json.dumps(payload)
    flow = pgflow.Flow(flow_slug)
    returned_at: list[float] = []
    reported_at: list[float] = []

    @flow.step(max_attempts=1)
    def heavy(input: Any) -> Any:
        returned_at.append(time.monotonic())
        return payload

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        worker = pgflow.Worker(
            database_url, flow, concurrency=1, on_report=lambda task, ok: reported_at.append(time.monotonic())
        )
        with worker_thread(worker):
            assert client.wait(run.run_id, timeout=60) == {"heavy": payload}
    report_seconds = reported_at[0] - returned_at[0]

    with psycopg.connect(database_url, autocommit=True) as conn:
        started = time.monotonic()
        conn.execute("select cardinality(%s::text[]::jsonb[])", ([output_text],)).fetchone()
        text_format_seconds = time.monotonic() - started
    assert report_seconds * 4 < text_format_seconds, (report_seconds, text_format_seconds)


#: a report of the output "raced" always loses a race (SQLSTATE 40001, serialization failure)
RACE_TRIGGER = """
create function public.race_marked_output() returns trigger language plpgsql as $$
begin
  if new.output = '"raced"'::jsonb then
    raise exception using errcode = '40001', message = 'this report always loses its race';
  end if;
  return new;
end;
$$;
create trigger race_marked_output before update on pgflow.step_tasks
for each row execute function public.race_marked_output();
create function public.refuse_stops() returns trigger language plpgsql as $$
begin
  raise exception 'this worker may not stop';
end;
$$;
create trigger refuse_stops before update on pgflow.workers
for each row when (new.stopped_at is not null) execute function public.refuse_stops();
"""


def test_a_report_not_sent_at_shutdown_is_logged_with_its_real_last_error(
    admin_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker is stopped (grace period 0.3 s) while a handler runs; its result then loses its race every
    time it is sent, until the grace period ends (and the worker's stop is not recorded, so that its task
    stays started). The log says the result was not sent and why — the database's last answer — not that
    the database could not be reached (it could)."""
    go = threading.Event()
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1, timeout=60)
    def contested(input: Any) -> Any:
        go.wait(30)
        return "raced"

    caplog.set_level(logging.INFO, logger="pgflow.worker")
    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn, pgflow.Client(url) as client:
            conn.execute(RACE_TRIGGER)
            run = client.start_run(flow, {})
            worker = pgflow.Worker(url, flow, concurrency=1, shutdown_timeout=0.3)
            with worker_thread(worker):
                wait_until(
                    lambda: (_task(conn, run.run_id, "contested") or ("",))[0] == "started", 15, what="the claim"
                )
                worker.stop()
                go.set()
    records = [r for r in _task_records(caplog, run.run_id) if "was not sent" in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in caplog.records]
    message = records[0].getMessage()
    assert "this report always loses its race (SQLSTATE 40001)" in message, message
    assert "could not be reached" not in message, message
    assert_names_the_task(records[0], flow_slug, "contested", 0, 1)


def test_log_lines_write_nul_visibly_and_are_capped(
    database_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler raises with a NUL character and 5 MB in its message: every log line about it, traceback
    included, shows the NUL as \\x00 and holds at most 64 KiB of message and 64 KiB of traceback."""
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1)
    def loud(input: Any) -> Any:
        raise ValueError("bad \x00 thing " + "E" * 5_000_000)

    caplog.set_level(logging.INFO, logger="pgflow.worker")
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        with worker_thread(pgflow.Worker(database_url, flow, concurrency=1)), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=30)
    records = _task_records(caplog, run.run_id)
    assert records, [r.getMessage()[:200] for r in caplog.records]
    formatter = logging.Formatter("%(message)s")
    limit = 64 * 1024
    shown = []
    for record in records:
        text = formatter.format(record)
        shown.append(text)
        assert "\x00" not in text, text[:300]
        assert len(record.getMessage().encode()) <= limit
        if record.exc_text:
            assert len(record.exc_text.encode()) <= limit
        assert len(text.encode()) <= 2 * limit + 1
    assert any("bad \\x00 thing EEE" in text for text in shown), [t[:300] for t in shown]
    assert any("Traceback" in text and "[... truncated" in text for text in shown), [t[-300:] for t in shown]


def test_a_result_returned_past_the_deadline_with_no_poll_in_between_is_refused(
    database_url: str, flow_slug: str
) -> None:
    """The handler ignores its 1 s timeout and returns 4 s later; its worker (concurrency 1, no lingering thread:
    the slot stays taken) cannot poll meanwhile, and nothing else polls. The report itself expires the attempt:
    the engine refuses the result, the only attempt fails as timed out and the run fails."""
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=1, max_attempts=1)
    def stubborn(input: Any) -> Any:
        time.sleep(4)  # ignores ctx.cancelled
        return "late"

    reports: list[tuple[str, bool]] = []
    worker = pgflow.Worker(
        database_url, flow, concurrency=1, on_report=lambda task, recorded: reports.append((task.step_slug, recorded))
    )
    worker.max_lingering = 0  # a handler past its deadline keeps its slot: the worker does not poll
    with pgflow.Client(database_url) as client, worker_thread(worker):
        run = client.start_run(flow, {})
        wait_until(lambda: reports, 30, what="the late report")
        status = client.get_run_status(run)
    assert reports == [("stubborn", False)]
    assert status["status"] == "failed", status
    with psycopg.connect(database_url, autocommit=True) as conn:
        [[task_status, error]] = conn.execute(
            "select status, error from pgflow.step_tasks where run_id = %s", (run.run_id,)
        ).fetchall()
    assert task_status == "failed" and error.startswith("attempt 1 timed out: no result by its deadline"), error
