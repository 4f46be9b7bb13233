"""``Worker``: polls ``pgflow.poll_for_tasks``, runs handlers in threads, reports with ``complete_task`` /
``fail_task``.

Threads and connections (each thread owns its connection):
- the caller of ``run()``: the poll loop. It claims only as many tasks as there are free slots, then waits
  for a wake-up (a ``tasks_ready`` notification for one of its flows, a slot freeing up) or the fallback
  poll interval, which also finds delayed retries;
- ``concurrency`` handler threads run the handlers;
- a reporter thread sends their results with the attempt number (so a late result from an attempt that
  timed out is fenced off by the engine): the completions that are ready together in one
  ``pgflow.complete_tasks`` transaction, failures with ``pgflow.fail_task``, retried until the database
  answers. A task's slot is freed once its result is committed;
- a listener (``LISTEN pgflow``) and a heartbeat thread, so a slow handler never delays heartbeats.
Every connection reconnects with backoff when the database goes away; nothing in hand is dropped.
On SIGINT/SIGTERM (or ``stop()``) the worker stops claiming, finishes the tasks in hand within the grace
period, calls ``pgflow.stop_worker`` and returns.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import queue
import random
import signal
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from . import _conninfo
from .context import Context
from .errors import first_line, translate
from .flow import Flow

log = logging.getLogger("pgflow.worker")


@dataclass(frozen=True)
class Task:
    """A claimed task, as returned by pgflow.poll_for_tasks."""

    run_id: uuid.UUID
    flow_slug: str
    step_slug: str
    task_index: int
    attempt: int
    input: Any
    flow_input: Any
    deadline: Any

    def describe(self) -> str:
        return f"run {self.run_id}, step {self.step_slug}, task {self.task_index}, attempt {self.attempt}"


@dataclass(frozen=True)
class _Result:
    """What a handler produced for a task: its output as JSON text, or an error."""

    task: Task
    output: str | None = None
    error: str | None = None


def backoff(failures: int, cap: float = 5.0) -> float:
    """Seconds to wait after the n-th consecutive failure: exponential from 0.1 s, capped, with jitter."""
    return min(cap, 0.1 * 2 ** max(failures - 1, 0)) * random.uniform(0.5, 1.0)



class Worker:
    """Runs the handlers of some flows for as long as ``run()`` lasts."""

    def __init__(
        self,
        conninfo: str | None = None,
        flows: Flow | Iterable[Flow] = (),
        *,
        concurrency: int = 4,
        worker_id: str | None = None,
        poll_interval: float = 1.0,
        heartbeat_interval: float = 5.0,
        shutdown_timeout: float = 30.0,
        define: bool = True,
        listen: bool = True,
        on_report: Callable[[Task, bool], None] | None = None,
        async_commit: bool = False,
    ) -> None:
        flow_list = [flows] if isinstance(flows, Flow) else list(flows)
        if not flow_list:
            raise ValueError("a Worker needs at least one flow")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.conninfo = conninfo
        self.flows = {flow.slug: flow for flow in flow_list}
        self.concurrency = concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.shutdown_timeout = shutdown_timeout
        self.define = define
        self.listen = listen
        #: called after each report is committed, with the task and whether the engine recorded it
        #: (metrics, tracing); it runs on the reporting thread and must be quick
        self.on_report = on_report
        #: claim and report with synchronous_commit off: commits stop waiting for the WAL flush. A crash of
        #: the database server can then lose the last fraction of a second of claims and results; those
        #: tasks run again once their attempts time out (pgflow runs tasks at least once either way)
        self.async_commit = async_commit

        self._stopping = threading.Event()  # stop claiming
        self._finished = threading.Event()  # everything in hand is done: stop the helper threads
        self._wake = threading.Event()
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[_Result | None] = queue.SimpleQueue()
        self._inputs: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._inputs_lock = threading.Lock()
        self._lookup_conn: list[psycopg.Connection[Any] | None] = [None]
        self._threads: list[threading.Thread] = []
        self._poll_conn: psycopg.Connection[Any] | None = None
        self._report_deadline: float | None = None

    # ------------------------------------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming; ``run()`` returns once the tasks in hand are finished (or the grace period ends)."""
        self._stopping.set()
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def run(self) -> None:
        """Work until ``stop()``, SIGINT or SIGTERM."""
        restore = self._install_signal_handlers()
        try:
            log.info("worker %s starting: flows %s, concurrency %d", self.worker_id, sorted(self.flows), self.concurrency)
            self._start_threads()
            if self.define:
                self._define_flows()
            self._poll_loop()
            self._drain()
        finally:
            self._finished.set()
            for _ in range(self.concurrency):
                self._queue.put(None)
            self._results.put(None)
            self._say_goodbye()
            self._close_poll_conn()
            if self._lookup_conn[0] is not None:
                self._lookup_conn[0].close()
            for thread in self._threads:
                thread.join(timeout=2.0)
            restore()
            log.info("worker %s stopped", self.worker_id)

    # ------------------------------------------------------------------------------------------------
    # Start and stop
    # ------------------------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handle(signum: int, _frame: Any) -> None:
            log.info("worker %s: %s received, finishing the tasks in hand", self.worker_id, signal.Signals(signum).name)
            self.stop()
            # a second signal interrupts at once
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        for sig in previous:
            signal.signal(sig, handle)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _start_threads(self) -> None:
        targets: list[tuple[Callable[[], None], str]] = [(self._heartbeat_loop, "heartbeat")]
        if self.listen:
            targets.append((self._listen_loop, "listener"))
        targets.append((self._report_loop, "reporter"))
        targets += [(self._handler_loop, f"handler-{i}") for i in range(self.concurrency)]
        for target, name in targets:
            thread = threading.Thread(target=target, name=f"pgflow-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _define_flows(self) -> None:
        failures = 0
        pending = list(self.flows.values())
        while pending and not self._stopping.is_set():
            flow = pending[0]
            steps, options = flow.definition()
            try:
                conn = self._poll_connection()
                conn.execute("select pgflow.define_flow(%s, %s, %s)", (flow.slug, Jsonb(steps), Jsonb(options)))
                pending.pop(0)
                failures = 0
            except psycopg.OperationalError as exc:
                failures += 1
                self._close_poll_conn()
                delay = backoff(failures)
                log.warning("defining flow %s failed (%s); retrying in %.1f s", flow.slug, first_line(exc), delay)
                self._stopping.wait(delay)
            except psycopg.Error as exc:
                raise translate(exc) from exc

    def _drain(self) -> None:
        deadline = time.monotonic() + self.shutdown_timeout
        self._report_deadline = deadline
        with self._in_flight_changed:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning(
                        "worker %s: %d task(s) still running after the %.0f s grace period; they will be retried",
                        self.worker_id, self._in_flight, self.shutdown_timeout,
                    )
                    return
                self._in_flight_changed.wait(remaining)

    def _say_goodbye(self) -> None:
        try:
            with psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True, connect_timeout=5) as conn:
                conn.execute("select pgflow.stop_worker(%s)", (self.worker_id,))
        except psycopg.Error as exc:
            log.warning("worker %s could not record its stop: %s", self.worker_id, first_line(exc))

    # ------------------------------------------------------------------------------------------------
    # The poll loop (the thread that called run())
    # ------------------------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        """A connection for claims and reports."""
        conn = psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True)
        if self.async_commit:
            conn.execute("set synchronous_commit = off")
        return conn

    def _poll_connection(self) -> psycopg.Connection[Any]:
        if self._poll_conn is None or self._poll_conn.closed:
            self._poll_conn = self._connect()
        return self._poll_conn

    def _close_poll_conn(self) -> None:
        if self._poll_conn is not None:
            try:
                self._poll_conn.close()
            finally:
                self._poll_conn = None

    def _poll_loop(self) -> None:
        failures = 0
        flow_slugs = sorted(self.flows)
        while not self._stopping.is_set():
            self._wake.clear()
            free = self.concurrency - self._in_flight
            if free > 0:
                try:
                    # run inputs are fetched when a handler asks for one (Context.flow_input): a wide map's
                    # run input would otherwise come back with each of its tasks
                    rows = self._poll_connection().execute(
                        "select * from pgflow.poll_for_tasks_lean(%s, %s, %s)", (self.worker_id, flow_slugs, free)
                    ).fetchall()
                    failures = 0
                except psycopg.OperationalError as exc:
                    failures += 1
                    self._close_poll_conn()
                    delay = backoff(failures)
                    log.warning("poll failed (%s); reconnecting in %.1f s", first_line(exc), delay)
                    self._stopping.wait(delay)
                    continue
                except psycopg.Error as exc:
                    raise translate(exc) from exc
                for row in rows:
                    self._dispatch(Task(*row))
                if rows and len(rows) == free:
                    continue  # a full batch: more may be waiting
            self._wake.wait(self.poll_interval)

    def _dispatch(self, task: Task) -> None:
        with self._in_flight_changed:
            self._in_flight += 1
        self._queue.put(task)

    # ------------------------------------------------------------------------------------------------
    # Handler threads
    # ------------------------------------------------------------------------------------------------
    def _handler_loop(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            try:
                self._results.put(self._process(task))
            except Exception:  # never lose the slot, whatever happened
                log.exception("unexpected error while processing %s", task.describe())
                self._results.put(_Result(task, error="the worker failed to run the handler"))

    def _process(self, task: Task) -> _Result:
        """Run the task's handler; the result to report."""
        flow = self.flows.get(task.flow_slug)
        try:
            if flow is None:
                raise LookupError(f"worker {self.worker_id} has no flow {task.flow_slug!r}")
            step = flow.get_step(task.step_slug)
        except LookupError as exc:
            return _Result(task, error=f"{exc}; is this worker running the current version of the flow?")

        started = time.monotonic()
        try:
            if step.takes_context:
                ctx = Context(
                    run_id=task.run_id,
                    flow_slug=task.flow_slug,
                    step_slug=task.step_slug,
                    task_index=task.task_index,
                    attempt=task.attempt,
                    flow_input=self._run_input(task.run_id),
                    deadline=task.deadline,
                    worker_id=self.worker_id,
                )
                result = step.handler(task.input, ctx)
            else:
                result = step.handler(task.input)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
            output = json.dumps(result)
        except Exception as exc:
            log.exception(
                "handler %s.%s failed (flow %s, %s)", task.flow_slug, task.step_slug, task.flow_slug, task.describe()
            )
            return _Result(task, error=f"{type(exc).__name__}: {exc}")
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s.%s done in %.3f s (%s)", task.flow_slug, task.step_slug, time.monotonic() - started, task.describe()
            )
        return _Result(task, output=output)

    def _run_input(self, run_id: uuid.UUID) -> Any:
        """A run's input, fetched once per run (the last 256 runs are kept)."""
        with self._inputs_lock:
            if run_id in self._inputs:
                self._inputs.move_to_end(run_id)
                return self._inputs[run_id]
            value = self._execute(self._lookup_conn, "select pgflow.get_run_input(%s)", (run_id,), f"run {run_id}")
            self._inputs[run_id] = value
            if len(self._inputs) > 256:
                self._inputs.popitem(last=False)
            return value

    # ------------------------------------------------------------------------------------------------
    # The reporter thread: results go to the database in batches
    # ------------------------------------------------------------------------------------------------
    def _report_loop(self) -> None:
        """Send the handlers' results: completions together with pgflow.complete_tasks (one transaction for
        everything that is ready), failures with pgflow.fail_task. A task's slot is freed once its result
        is committed."""
        conn: list[psycopg.Connection[Any] | None] = [None]
        try:
            while True:
                first = self._results.get()
                if first is None:
                    return
                batch = [first]
                # take whatever else is ready; while handlers of the same poll are still finishing, wait a
                # moment (2 ms at most) for them so that their results share the transaction
                deadline = time.monotonic() + 0.002
                while len(batch) < 100:
                    try:
                        item = self._results.get_nowait()
                    except queue.Empty:
                        remaining = deadline - time.monotonic()
                        if len(batch) >= self._in_flight or remaining <= 0:
                            break
                        try:
                            item = self._results.get(timeout=remaining)
                        except queue.Empty:
                            break
                    if item is None:
                        self._results.put(None)
                        break
                    batch.append(item)
                try:
                    self._send(conn, batch)
                except Exception:  # the slots must be freed whatever happens
                    log.exception("unexpected error while reporting %d result(s)", len(batch))
                finally:
                    with self._in_flight_changed:
                        self._in_flight -= len(batch)
                        self._in_flight_changed.notify_all()
                    self._wake.set()
        finally:
            if conn[0] is not None:
                conn[0].close()

    def _send(self, conn: list[psycopg.Connection[Any] | None], batch: list[_Result]) -> None:
        completed = [r for r in batch if r.error is None]
        if completed:
            recorded = self._execute(
                conn,
                "select pgflow.complete_tasks(%s::uuid[], %s::text[], %s::int[], %s::jsonb[], %s::int[])",
                (
                    [r.task.run_id for r in completed],
                    [r.task.step_slug for r in completed],
                    [r.task.task_index for r in completed],
                    [r.output for r in completed],
                    [r.task.attempt for r in completed],
                ),
                f"{len(completed)} result(s)",
            )
            for result, ok in zip(completed, recorded or [False] * len(completed)):
                self._reported(result.task, bool(ok))
        for result in batch:
            if result.error is not None:
                row = self._execute(
                    conn,
                    "select pgflow.fail_task(%s, %s, %s, %s, %s)",
                    (result.task.run_id, result.task.step_slug, result.task.task_index, result.error, result.task.attempt),
                    result.task.describe(),
                )
                self._reported(result.task, bool(row))

    def _execute(
        self, conn: list[psycopg.Connection[Any] | None], sql: str, params: tuple[Any, ...], what: str
    ) -> Any:
        """One report statement, retried with backoff until the database answers (or the grace period of a
        shutdown ends). Returns its single value, or None when it could not be sent."""
        failures = 0
        while True:
            try:
                if conn[0] is None or conn[0].closed:
                    conn[0] = self._connect()
                row = conn[0].execute(sql, params).fetchone()  # type: ignore[arg-type]
                return row[0] if row else None
            except psycopg.OperationalError as exc:
                failures += 1
                if conn[0] is not None:
                    conn[0].close()
                    conn[0] = None
                if self._report_deadline is not None and time.monotonic() > self._report_deadline:
                    log.error("giving up reporting %s after the grace period: %s", what, first_line(exc))
                    return None
                delay = backoff(failures)
                log.warning("reporting %s failed (%s); retrying in %.1f s", what, first_line(exc), delay)
                time.sleep(delay)
            except psycopg.Error as exc:
                log.error("reporting %s failed: %s", what, translate(exc))
                return None

    def _reported(self, task: Task, recorded: bool) -> None:
        if not recorded:
            log.warning(
                "the result of %s was not recorded: the attempt timed out or its run is no longer running",
                task.describe(),
            )
        if self.on_report is not None:
            self.on_report(task, recorded)

    # ------------------------------------------------------------------------------------------------
    # Heartbeats and notifications
    # ------------------------------------------------------------------------------------------------
    def _heartbeat_loop(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        failures = 0
        flow_slugs = sorted(self.flows)
        interval = self.heartbeat_interval
        try:
            while not self._finished.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True)
                        # beat at least three times per worker timeout, whatever this session sets it to
                        row = conn.execute("select extract(epoch from pgflow.worker_timeout())").fetchone()
                        if row and row[0]:
                            interval = min(self.heartbeat_interval, float(row[0]) / 3)
                    conn.execute("select pgflow.heartbeat(%s, %s)", (self.worker_id, flow_slugs))
                    failures = 0
                except psycopg.OperationalError as exc:
                    failures += 1
                    if conn is not None:
                        conn.close()
                        conn = None
                    log.warning("heartbeat failed (%s); retrying", first_line(exc))
                except psycopg.Error as exc:
                    log.error("heartbeat failed: %s", translate(exc))
                self._finished.wait(interval if failures == 0 else backoff(failures))
        finally:
            if conn is not None:
                conn.close()

    def _listen_loop(self) -> None:
        failures = 0
        while not self._finished.is_set():
            try:
                with psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True) as conn:
                    conn.execute("listen pgflow")
                    failures = 0
                    self._wake.set()  # notifications may have been missed while disconnected
                    while not self._finished.is_set():
                        # short waits, so that the thread notices the end of run() at once
                        for note in conn.notifies(timeout=0.1):
                            if self._is_for_us(note.payload):
                                self._wake.set()
            except psycopg.OperationalError as exc:
                failures += 1
                log.warning("listener lost its connection (%s); reconnecting", first_line(exc))
                self._finished.wait(backoff(failures))

    def _is_for_us(self, payload: str) -> bool:
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("type") == "tasks_ready" and data.get("flow_slug") in self.flows


async def _await(awaitable: Any) -> Any:
    return await awaitable
