"""Handlers obey time and cancellation (SPEC §8): ctx.cancelled at the deadline, on a run's cancellation (heard
as a notification, or read at a heartbeat when notifications are off) and past the shutdown grace period; async
handlers on one event loop, cancelled; process isolation kills a handler 2 s after its deadline or its run's
cancellation and frees its slot; a handler past its deadline is logged once and shown by `pgflow workers`.

Process isolation is tried with real `pgflow worker --isolation process` subprocesses; times are read from the
database (a task's deadline, the next task's started_at) so that both ends are on one clock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgflow
from pgflow.worker import KILL_GRACE

from . import handler_flows
from ._client_helpers import wait_until, worker_thread

ROOT = Path(__file__).resolve().parents[1]
# No timing threshold below is absolute (the machine is shared and loaded): a bound is a tenth of a configured
# interval that a wrong implementation would wait out: the poll and heartbeat intervals (set to LONG), a
# handler's sleep (SLEEP) or its step's timeout (LONG). The speed targets (ctx.cancelled at the deadline, a kill
# KILL_GRACE after it, an idle worker gone within 0.5 s) are measured by bench/worker_timing.py.
LONG = 120.0  # seconds: the long timeouts of handler_flows, and the intervals a prompt worker never waits out
SLEEP = 60.0  # seconds: what the handlers below sleep or wait unless cancelled
QUIET = {"poll_interval": LONG, "heartbeat_interval": LONG, "worker_timeout": 3 * LONG}  # no periodic wake-up


def _task(conn: psycopg.Connection, run_id: Any, step: str, task_index: int = 0) -> tuple[Any, ...]:
    row = conn.execute(
        "select status, attempt, deadline, started_at, finished_at, error from pgflow.step_tasks "
        "where run_id = %s and step_slug = %s and task_index = %s",
        (run_id, step, task_index),
    ).fetchone()
    assert row is not None
    return tuple(row)


def _run_status(conn: psycopg.Connection, run_id: Any) -> str:
    row = conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row is not None
    return str(row[0])


# ----------------------------------------------------------------------------------------------------
# Thread isolation
# ----------------------------------------------------------------------------------------------------
def test_a_looping_thread_handler_sees_ctx_cancelled_at_its_deadline(database_url: str, flow_slug: str) -> None:
    seen: dict[str, Any] = {}
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=1, max_attempts=1)
    def loop(input: Any, ctx: pgflow.Context) -> Any:
        seen["deadline"] = ctx.deadline
        while not ctx.cancelled.is_set():
            time.sleep(0.01)
        seen["at"] = dt.datetime.now(dt.timezone.utc)
        return "stopped"

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        # neither a poll nor a heartbeat comes before LONG s: only the deadline's own timer can be in time
        with worker_thread(pgflow.Worker(database_url, flow, concurrency=1, **QUIET)):
            wait_until(lambda: "at" in seen, LONG / 4, what="the handler to see ctx.cancelled")
    late = (seen["at"] - seen["deadline"]).total_seconds()
    # the database and this process share a clock: set at the deadline, not before, and well before a poll or
    # heartbeat (LONG s) could have set it
    assert -0.05 <= late < LONG / 10, late
    assert run.run_id


@pytest.mark.parametrize("listen", [True, False])
def test_a_run_cancelled_while_its_handler_runs_sets_ctx_cancelled(
    database_url: str, flow_slug: str, listen: bool
) -> None:
    """With notifications (run_finished) and without them (the heartbeat reads the status of the runs of the
    tasks in hand)."""
    started = threading.Event()
    seen: dict[str, float] = {}
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=LONG, max_attempts=1)
    def wait(input: Any, ctx: pgflow.Context) -> Any:
        started.set()
        if ctx.cancelled.wait(LONG):
            seen["at"] = time.monotonic()
        return "done"

    if listen:
        # the notification alone: no poll nor heartbeat before LONG s
        worker = pgflow.Worker(database_url, flow, concurrency=1, listen=True, **QUIET)
    else:
        # the heartbeat alone, every 0.3 s: the alternative is the step's timeout, LONG s
        worker = pgflow.Worker(database_url, flow, concurrency=1, listen=False, heartbeat_interval=0.3)
    with pgflow.Client(database_url) as client, worker_thread(worker):
        run = client.start_run(flow, {})
        assert started.wait(LONG / 4)
        cancelled_at = time.monotonic()
        client.cancel_run(run.run_id, "no longer wanted")
        wait_until(lambda: "at" in seen, LONG / 4, what="ctx.cancelled after the run's cancellation")
    assert seen["at"] - cancelled_at < LONG / 10, seen["at"] - cancelled_at


def test_shutdown_past_its_grace_period_sets_ctx_cancelled(database_url: str, flow_slug: str) -> None:
    started = threading.Event()
    seen: dict[str, float] = {}
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=LONG, max_attempts=2)
    def wait(input: Any, ctx: pgflow.Context) -> Any:
        started.set()
        if ctx.cancelled.wait(LONG):
            seen["at"] = time.monotonic()
        return "done"

    worker = pgflow.Worker(database_url, flow, concurrency=1, shutdown_timeout=0.5)
    with pgflow.Client(database_url) as client:
        client.start_run(flow, {})
        with worker_thread(worker):
            assert started.wait(LONG / 4)
            assert "at" not in seen
            stopped_at = time.monotonic()
            worker.stop()
            wait_until(lambda: "at" in seen, LONG / 4, what="ctx.cancelled after the grace period")
    # not before the grace period of 0.5 s, and long before the step's timeout (LONG s) would have set it
    assert 0.45 <= seen["at"] - stopped_at < LONG / 10, seen["at"] - stopped_at


def test_a_handler_past_its_deadline_is_logged_once_and_shown_by_pgflow_workers(
    database_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A sync handler that ignores ctx.cancelled runs on past its deadline: one ERROR naming run, flow, step,
    task and attempt; the heartbeats list it in pgflow.workers.past_deadline and `pgflow workers` shows it; its
    slot is free at the deadline (the next run's task starts while it still runs)."""
    go = threading.Event()
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=1, max_attempts=1)
    def stubborn(input: Any) -> Any:
        if input.get("stubborn"):
            go.wait(30)
        return "late"

    caplog.set_level(logging.INFO, logger="pgflow.worker")
    worker_id = f"pd-{uuid.uuid4().hex[:8]}"
    worker = pgflow.Worker(database_url, flow, concurrency=1, worker_id=worker_id, heartbeat_interval=0.2)
    with pgflow.Client(database_url) as client, worker_thread(worker):
        run = client.start_run(flow, {"stubborn": True})
        # its slot is free at its deadline: another run completes while it still runs (concurrency 1)
        other = client.start_run(flow, {})
        assert client.wait(other.run_id, timeout=30) == {"stubborn": "late"}

        def shown() -> str | None:
            proc = subprocess.run(
                [sys.executable, "-m", "pgflow.cli", "--database-url", database_url, "workers"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert proc.returncode == 0, proc.stderr
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(worker_id)), "")
            return line if f"1: {run.run_id}/stubborn[0] attempt 1" in line else None

        line = wait_until(shown, 15, interval=0.3, what="the handler in `pgflow workers`")
        assert flow_slug in line and "running" in line, line
        with psycopg.connect(database_url, autocommit=True) as conn:
            [[past]] = conn.execute(
                "select past_deadline from pgflow.workers where worker_id = %s", (worker_id,)
            ).fetchall()
        assert [(p["run_id"], p["step_slug"], p["task_index"], p["attempt"]) for p in past] == [
            (str(run.run_id), "stubborn", 0, 1)
        ]
        time.sleep(0.5)  # a few more heartbeats: still one log line
        assert not go.is_set()
        go.set()
        with psycopg.connect(database_url, autocommit=True) as conn:
            wait_until(
                lambda: conn.execute(
                    "select past_deadline = '[]' from pgflow.workers where worker_id = %s", (worker_id,)
                ).fetchone()[0],
                15,
                what="the list emptied at a heartbeat after the handler ended",
            )
    records = [r for r in caplog.records if "past its deadline" in r.getMessage()]
    assert len(records) == 1, [r.getMessage() for r in records]
    record = records[0]
    assert record.levelno >= logging.WARNING
    message = record.getMessage()
    assert f"attempt 1 of run {run.run_id}, flow {flow_slug}, step stubborn, task 0" in message, message
    assert (record.run_id, record.flow_slug, record.step_slug, record.task_index, record.attempt) == (  # type: ignore[attr-defined]
        str(run.run_id),
        flow_slug,
        "stubborn",
        0,
        1,
    )


def test_pgflow_workers_lists_running_workers_and_with_all_the_stopped_ones(database_url: str) -> None:
    running, stopped = f"lw-run-{uuid.uuid4().hex[:6]}", f"lw-stop-{uuid.uuid4().hex[:6]}"
    versioned = f"lw-ver-{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select pgflow.heartbeat(%s, array['flow_x', 'flow_y'], interval '30 s')", (running,))
        conn.execute(
            "select pgflow.heartbeat(%s, null, interval '30 s', %s::jsonb)",
            (
                stopped,
                '[{"run_id": "6f1c0000-0000-0000-0000-000000000000", "step_slug": "s", "task_index": 0, '
                '"attempt": 1, "deadline": "2030-01-01 00:00:00+00"}]',
            ),
        )
        conn.execute("select pgflow.stop_worker(%s)", (stopped,))
        conn.execute("select pgflow.heartbeat(%s, array['flow_v', 'flow_w'], interval '30 s')", (versioned,))
        conn.execute("select count(*) from pgflow.poll_for_tasks(%s, null, 0, '{\"flow_v\": [2, 3]}')", (versioned,))
    base = [sys.executable, "-m", "pgflow.cli", "--database-url", database_url, "workers"]
    plain = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=30)
    every = subprocess.run([*base, "--all"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert plain.returncode == every.returncode == 0, (plain.stderr, every.stderr)
    [line] = [ln for ln in plain.stdout.splitlines() if ln.startswith(running)]
    assert "flow_x,flow_y" in line and "running" in line and line.rstrip().endswith("0"), line
    assert stopped not in plain.stdout
    [line] = [ln for ln in plain.stdout.splitlines() if ln.startswith(versioned)]
    assert "flow_v v2,3" in line and "flow_w" not in line, line  # it serves versions 2 and 3 of flow_v only
    [line] = [ln for ln in every.stdout.splitlines() if ln.startswith(stopped)]
    assert "stopped" in line and "6f1c" not in line and line.rstrip().endswith("-"), line  # past_deadline cleared


# ----------------------------------------------------------------------------------------------------
# Async handlers
# ----------------------------------------------------------------------------------------------------
def test_async_handlers_share_one_event_loop_and_are_cancelled_at_their_deadline(
    database_url: str, flow_slug: str
) -> None:
    loops: list[int] = []
    cancelled: list[tuple[bool, float]] = []
    flow = pgflow.Flow(flow_slug)

    @flow.map(timeout=60, max_attempts=1)
    async def element(x: int, ctx: pgflow.Context) -> Any:
        loops.append(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.01)
        return x

    slow = pgflow.Flow(f"{flow_slug}_slow")

    @slow.step(timeout=1, max_attempts=1)
    async def hang(input: Any, ctx: pgflow.Context) -> Any:
        loops.append(id(asyncio.get_running_loop()))
        try:
            await asyncio.sleep(SLEEP)
        except asyncio.CancelledError:
            late = (dt.datetime.now(dt.timezone.utc) - ctx.deadline).total_seconds()
            cancelled.append((ctx.cancelled.is_set(), late))
            raise
        return "slept"

    worker = pgflow.Worker(database_url, [flow, slow], concurrency=4)
    with pgflow.Client(database_url) as client, worker_thread(worker):
        first = client.start_run(flow, list(range(6)))
        assert client.wait(first.run_id, timeout=30) == {"element": list(range(6))}
        second = client.start_run(flow, list(range(3)))
        assert client.wait(second.run_id, timeout=30) == {"element": list(range(3))}
        hung = client.start_run(slow, {})
        with pytest.raises(pgflow.RunFailed) as info:
            client.wait(hung.run_id, timeout=30)
    assert len(loops) == 10 and len(set(loops)) == 1, loops  # one loop for every task of both runs
    [(flag, late)] = cancelled
    # cancelled at the deadline, not before, and long before its sleep of SLEEP s would have ended
    assert flag and -0.05 <= late < SLEEP / 10, (flag, late)
    assert "cancelled" in (info.value.error or "") or "timed out" in (info.value.error or ""), info.value.error


def test_an_async_handler_is_cancelled_when_its_run_is_cancelled(database_url: str, flow_slug: str) -> None:
    started = threading.Event()
    cancelled: list[float] = []
    flow = pgflow.Flow(flow_slug)

    @flow.step(timeout=LONG, max_attempts=1)
    async def wait(input: Any, ctx: pgflow.Context) -> Any:
        started.set()
        try:
            await asyncio.sleep(SLEEP)
        except asyncio.CancelledError:
            cancelled.append(time.monotonic())
            raise
        return "slept"

    worker = pgflow.Worker(database_url, flow, concurrency=2)
    with pgflow.Client(database_url) as client, worker_thread(worker):
        run = client.start_run(flow, {})
        assert started.wait(15)
        at = time.monotonic()
        client.cancel_run(run.run_id)
        wait_until(lambda: cancelled, 15, what="CancelledError in the handler")
        # its slot is free once it ended
        wait_until(lambda: worker.in_flight == 0, 10, what="the slot to be free")
    # long before its sleep of SLEEP s (and the step's timeout) would have ended
    assert cancelled[0] - at < SLEEP / 10, cancelled[0] - at


# ----------------------------------------------------------------------------------------------------
# Process isolation
# ----------------------------------------------------------------------------------------------------
class ProcessWorker:
    """`pgflow worker tests_py.handler_flows:... --isolation process` in a subprocess, logging to a file."""

    def __init__(
        self, url: str, names: list[str], suffix: str, tmp: Path, concurrency: int = 1, new_session: bool = False
    ) -> None:
        self.worker_id = f"pw-{uuid.uuid4().hex[:8]}"
        self.log_path = tmp / f"{self.worker_id}.log"
        cmd = [
            sys.executable,
            "-m",
            "pgflow.cli",
            "--database-url",
            url,
            "worker",
            *[f"tests_py.handler_flows:{name}" for name in names],
            "--isolation",
            "process",
            "--concurrency",
            str(concurrency),
            "--worker-id",
            self.worker_id,
            "--poll-interval",
            "0.5",
            "--shutdown-timeout",
            "5",
        ]
        env = {**os.environ, "PGFLOW_TEST_FLOW_SUFFIX": suffix, "PGFLOW_TEST_MARKERS": str(tmp)}
        env.pop("DATABASE_URL", None)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=new_session
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def _marker(tmp: Path, run_id: Any, step: str, event: str = "start") -> dict[str, Any] | None:
    path = tmp / f"{run_id}.{step}.0.1.{event}"
    return json.loads(path.read_text()) if path.exists() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_process_isolation_kills_a_spinning_handler_2_s_after_its_deadline_and_reuses_the_slot(
    database_url: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    flows = handler_flows.build(suffix)
    with pgflow.Client(database_url) as client:
        for flow in flows.values():
            client.define(flow)
        worker = ProcessWorker(database_url, ["spin_flow", "quick_flow"], suffix, tmp_path, concurrency=1)
        try:
            spinning = client.start_run(flows["spin"], {})
            started = wait_until(lambda: _marker(tmp_path, spinning.run_id, "spin"), 60, what="the spinning handler")
            next_run = client.start_run(flows["quick"], {})
            output = client.wait(next_run.run_id, timeout=60)
            assert output["quick"]["pid"] != started["pid"], "the next task ran in a new process"
            assert worker.proc.pid not in (output["quick"]["pid"], started["pid"])
            assert not _pid_alive(started["pid"]), "the spinning handler's process is gone"
            _, _, deadline, _, _, _ = _task(conn, spinning.run_id, "spin")
            _, _, _, next_started, _, _ = _task(conn, next_run.run_id, "quick")
            freed_after = (next_started - deadline).total_seconds()
            print(f"\nprocess isolation: deadline -> slot free (next task claimed): {freed_after:.3f} s")
            # killed KILL_GRACE (2 s) after the deadline, not before; the spinning handler never returns, so only
            # the kill frees the slot: free long before a handler of a LONG s timeout could have held it
            assert KILL_GRACE <= freed_after < LONG / 10, freed_after
            with pytest.raises(pgflow.RunFailed):
                client.wait(spinning.run_id, timeout=30)
            log = worker.output()
            assert "is past its deadline" in log and f"run {spinning.run_id}" in log, log
            assert "killing the process of" in log, log
        finally:
            worker.close()


def test_process_isolation_kills_the_handler_of_a_cancelled_run(
    database_url: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:8]
    flows = handler_flows.build(suffix)
    with pgflow.Client(database_url) as client:
        for flow in flows.values():
            client.define(flow)
        worker = ProcessWorker(database_url, ["spin_long", "quick_flow"], suffix, tmp_path, concurrency=1)
        try:
            spinning = client.start_run(flows["spin_long"], {})
            started = wait_until(lambda: _marker(tmp_path, spinning.run_id, "spin"), 60, what="the spinning handler")
            next_run = client.start_run(flows["quick"], {})
            client.cancel_run(spinning.run_id, "stop spinning")
            client.wait(next_run.run_id, timeout=60)
            assert not _pid_alive(started["pid"])
            [[finished_at]] = conn.execute(
                "select finished_at from pgflow.runs where run_id = %s", (spinning.run_id,)
            ).fetchall()
            _, _, _, next_started, _, _ = _task(conn, next_run.run_id, "quick")
            freed_after = (next_started - finished_at).total_seconds()
            print(f"\nprocess isolation: run cancelled -> slot free: {freed_after:.3f} s")
            # killed KILL_GRACE (2 s) after the cancellation (heard after the commit that set finished_at), long
            # before the spinning handler's timeout of LONG s
            assert KILL_GRACE - 0.1 <= freed_after < LONG / 10, freed_after
            assert "killing the process of" in worker.output()
        finally:
            worker.close()


def test_sigterm_to_the_whole_process_group_lets_the_handler_finish(
    database_url: str, conn: psycopg.Connection, tmp_path: Path
) -> None:
    """systemd (KillMode=control-group) and GNU timeout send SIGTERM to every process of the worker's group, its
    children included: the handler running in a child goes on, the worker's graceful shutdown waits for it, the
    task completes at its first attempt and the worker exits 0."""
    suffix = uuid.uuid4().hex[:8]
    flows = handler_flows.build(suffix)
    with pgflow.Client(database_url) as client:
        for flow in flows.values():
            client.define(flow)
        worker = ProcessWorker(database_url, ["sleeper"], suffix, tmp_path, new_session=True)
        try:
            run = client.start_run(flows["sleeper"], {"sleep": 2})
            started = wait_until(lambda: _marker(tmp_path, run.run_id, "sleep"), 60, what="the sleeping handler")
            assert started["pid"] != worker.proc.pid  # it runs in a child, of the worker's group
            assert os.getpgid(started["pid"]) == worker.proc.pid
            os.killpg(worker.proc.pid, signal.SIGTERM)
            assert worker.proc.wait(timeout=60) == 0, worker.output()
            assert _marker(tmp_path, run.run_id, "sleep", "end") is not None, worker.output()
            assert client.get_run_status(run.run_id)["status"] == "completed", worker.output()
            [[status, attempt]] = conn.execute(
                "select status, attempt from pgflow.step_tasks where run_id = %s", (run.run_id,)
            ).fetchall()
            assert (status, attempt) == ("completed", 1)
            assert "without an answer" not in worker.output(), worker.output()
        finally:
            worker.close()


def test_process_isolation_sets_ctx_cancelled_in_the_child_on_a_run_cancel(database_url: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    flows = handler_flows.build(suffix)
    with pgflow.Client(database_url) as client:
        client.define(flows["wait_long"])
        worker = ProcessWorker(database_url, ["wait_long"], suffix, tmp_path, concurrency=1)
        try:
            run = client.start_run(flows["wait_long"], {})
            wait_until(lambda: _marker(tmp_path, run.run_id, "wait"), 60, what="the handler")
            client.cancel_run(run.run_id)
            marker = wait_until(lambda: _marker(tmp_path, run.run_id, "wait", "cancelled"), 15, what="cancelled")
            assert marker["pid"] != worker.proc.pid
        finally:
            worker.close()


def test_process_isolation_refuses_handlers_it_cannot_pickle(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def local(input: Any) -> Any:
        return input

    with pytest.raises(pgflow.InvalidInput) as info:
        pgflow.Worker(database_url, flow, isolation="process")
    message = str(info.value)
    assert f"step {flow_slug}.local" in message and "cannot be pickled" in message, message
    lam = pgflow.Flow.from_steps(f"{flow_slug}_l", [("only", lambda x: x)])
    with pytest.raises(pgflow.InvalidInput, match="<lambda>"):
        pgflow.Worker(database_url, lam, isolation="process")
    with pytest.raises(pgflow.InvalidInput, match="isolation must be 'thread' or 'process'"):
        pgflow.Worker(database_url, flow, isolation="fiber")


def test_an_in_process_worker_with_process_isolation_runs_top_level_handlers(database_url: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    flows = handler_flows.build(suffix)
    worker = pgflow.Worker(database_url, flows["quick"], concurrency=2, isolation="process")
    with pgflow.Client(database_url) as client, worker_thread(worker):
        run = client.start_run(flows["quick"], {})
        output = client.wait(run.run_id, timeout=60)
    assert output["quick"]["pid"] != os.getpid()


# ----------------------------------------------------------------------------------------------------
# Results that are not JSON name the handler
# ----------------------------------------------------------------------------------------------------
def test_a_non_json_result_names_the_handler_function(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=3, base_delay=0)
    def when(input: Any) -> Any:
        return {"at": dt.datetime(2030, 1, 1)}

    with pgflow.Client(database_url) as client, worker_thread(pgflow.Worker(database_url, flow, concurrency=1)):
        run = client.start_run(flow, {})
        with pytest.raises(pgflow.RunFailed) as info:
            client.wait(run.run_id, timeout=30)
    error = info.value.error or ""
    assert f"output of {flow_slug}.when is not storable JSON: $.at" in error, error
    assert f"(returned by handler {__name__}.{when.__qualname__})" in error, error
