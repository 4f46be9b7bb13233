"""Worker options added for throughput and instrumentation: no LISTEN, the on_report hook, and results
reported in batches (complete_tasks). Claims and reports always commit durably: there is no option to
commit them asynchronously."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

import pgflow

ROOT = Path(__file__).resolve().parents[1]


def _flow(slug: str) -> pgflow.Flow:
    flow = pgflow.Flow(slug)

    @flow.map
    def element(x: int) -> int:
        return x * 10

    @flow.step(depends_on=[element])
    def total(deps: dict) -> int:
        return sum(deps["element"])

    return flow


def test_polling_only_worker_completes_runs_and_reports_each_task(database_url: str, flow_slug: str) -> None:
    flow = _flow(flow_slug)
    reported: list[tuple[str, int, bool]] = []
    lock = threading.Lock()

    def on_report(task: pgflow.Task, recorded: bool) -> None:
        with lock:
            reported.append((task.step_slug, task.task_index, recorded))

    with pgflow.Client(database_url) as client:
        client.define(flow)
        runs = [client.start_run(flow_slug, list(range(20))) for _ in range(3)]
        worker = pgflow.Worker(
            database_url,
            [flow],
            concurrency=10,
            define=False,
            listen=False,
            poll_interval=0.05,
            on_report=on_report,
        )
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            outputs = [client.wait(run.run_id, timeout=30) for run in runs]
        finally:
            worker.stop()
            thread.join(timeout=15)
    assert outputs == [{"total": 1900}] * 3
    assert not thread.is_alive()
    # every task was reported once, and recorded
    assert len(reported) == 3 * 21
    assert all(recorded for _, _, recorded in reported)
    assert sorted(i for step, i, _ in reported if step == "element") == sorted(list(range(20)) * 3)


def test_results_of_one_poll_are_committed_together(database_url: str, flow_slug: str) -> None:
    """The worker reports the results of a poll in one complete_tasks transaction: the tasks of a batch
    share a finished_at (the engine's clock is the transaction's)."""
    flow = _flow(flow_slug)
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, list(range(10)))
        worker = pgflow.Worker(database_url, [flow], concurrency=10, define=False)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            assert client.wait(run.run_id, timeout=30) == {"total": 450}
        finally:
            worker.stop()
            thread.join(timeout=15)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "select count(distinct finished_at) from pgflow.step_tasks where run_id = %s and step_slug = 'element'",
            (run.run_id,),
        ).fetchone()
    assert row is not None
    # ten tasks claimed by one poll: far fewer transactions than tasks (one, or a few if a handler lagged)
    assert row[0] <= 3, row


def test_there_is_no_asynchronous_commit_option(database_url: str, flow_slug: str) -> None:
    """Claims and reports always commit durably: with synchronous_commit off, a crash of the server could hand
    out the same attempt number twice and lose completions the worker was told were recorded. The option is
    gone from the Python API and from the command line."""
    with pytest.raises(TypeError, match="async_commit"):
        pgflow.Worker(database_url, [_flow(flow_slug)], async_commit=True)  # type: ignore[call-arg]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgflow.cli",
            "worker",
            "tests_py.cli_flows:diamond",
            "--async-commit",
            "--database-url",
            database_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "unrecognized arguments: --async-commit" in proc.stderr


def test_a_listen_connection_to_another_database_is_named_as_such(
    admin_url: str, database_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """--listen-url leading to another database than the worker's: the probe sent through the main connection
    never arrives, and the log says so, and that the worker polls, without telling it to set the listen
    connection it already has."""
    import logging
    import time

    from .conftest import scratch_database

    with scratch_database(admin_url, "pgflow_listen_elsewhere") as elsewhere:
        worker = pgflow.Worker(database_url, _flow(flow_slug), listen_conninfo=elsewhere, poll_interval=0.5)
        caplog.set_level(logging.INFO, logger="pgflow.worker")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and "do not reach its listen connection" not in caplog.text:
                time.sleep(0.1)
        finally:
            worker.stop()
            thread.join(timeout=30)
        said = [r.getMessage() for r in caplog.records if "notifications" in r.getMessage()]
        assert any(
            "notifications sent through its connection do not reach its listen connection" in m
            and "another server or database" in m
            and "polls every 0.5 s" in m
            for m in said
        ), said
        assert not any("give it listen_conninfo" in m for m in said), said
