"""``Worker``: polls ``pgflow.poll_for_tasks``, runs handlers in threads, reports with ``complete_task`` /
``fail_task``.

Threads and connections (each thread owns its connection):
- the caller of ``run()``: the poll loop. It claims only as many tasks as there are free slots, then waits
  for a wake-up (a ``tasks_ready`` notification for one of its flows, a slot freeing up) or the fallback
  poll interval, which also finds delayed retries;
- ``concurrency`` handler threads: run a handler, report its result with the attempt number (so a late
  result from an attempt that timed out is fenced off by the engine), retrying the report until the
  database answers;
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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from . import _conninfo
from .context import Context
from .errors import translate
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


def backoff(failures: int, cap: float = 5.0) -> float:
    """Seconds to wait after the n-th consecutive failure: exponential from 0.1 s, capped, with jitter."""
    return min(cap, 0.1 * 2 ** max(failures - 1, 0)) * random.uniform(0.5, 1.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


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

        self._stopping = threading.Event()  # stop claiming
        self._finished = threading.Event()  # everything in hand is done: stop the helper threads
        self._wake = threading.Event()
        self._in_flight = 0
        self._in_flight_changed = threading.Condition()
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
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
            self._say_goodbye()
            self._close_poll_conn()
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
        targets = [(self._heartbeat_loop, "heartbeat"), (self._listen_loop, "listener")]
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
                log.warning("defining flow %s failed (%s); retrying in %.1f s", flow.slug, _first_line(exc), delay)
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
            log.warning("worker %s could not record its stop: %s", self.worker_id, _first_line(exc))

    # ------------------------------------------------------------------------------------------------
    # The poll loop (the thread that called run())
    # ------------------------------------------------------------------------------------------------
    def _poll_connection(self) -> psycopg.Connection[Any]:
        if self._poll_conn is None or self._poll_conn.closed:
            self._poll_conn = psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True)
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
                    rows = self._poll_connection().execute(
                        "select * from pgflow.poll_for_tasks(%s, %s, %s)", (self.worker_id, flow_slugs, free)
                    ).fetchall()
                    failures = 0
                except psycopg.OperationalError as exc:
                    failures += 1
                    self._close_poll_conn()
                    delay = backoff(failures)
                    log.warning("poll failed (%s); reconnecting in %.1f s", _first_line(exc), delay)
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
        conn: list[psycopg.Connection[Any] | None] = [None]
        try:
            while True:
                task = self._queue.get()
                if task is None:
                    return
                try:
                    self._process(task, conn)
                except Exception:  # never lose the slot, whatever happened
                    log.exception("unexpected error while processing %s", task.describe())
                finally:
                    with self._in_flight_changed:
                        self._in_flight -= 1
                        self._in_flight_changed.notify_all()
                    self._wake.set()
        finally:
            if conn[0] is not None:
                conn[0].close()

    def _process(self, task: Task, conn: list[psycopg.Connection[Any] | None]) -> None:
        flow = self.flows.get(task.flow_slug)
        try:
            if flow is None:
                raise LookupError(f"worker {self.worker_id} has no flow {task.flow_slug!r}")
            step = flow.get_step(task.step_slug)
        except LookupError as exc:
            self._report(conn, task, error=f"{exc}; is this worker running the current version of the flow?")
            return

        started = time.monotonic()
        try:
            if step.takes_context:
                ctx = Context(
                    run_id=task.run_id,
                    flow_slug=task.flow_slug,
                    step_slug=task.step_slug,
                    task_index=task.task_index,
                    attempt=task.attempt,
                    flow_input=task.flow_input,
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
            self._report(conn, task, error=f"{type(exc).__name__}: {exc}")
            return
        log.debug("%s.%s done in %.3f s (%s)", task.flow_slug, task.step_slug, time.monotonic() - started, task.describe())
        self._report(conn, task, output=output)

    def _report(
        self,
        conn: list[psycopg.Connection[Any] | None],
        task: Task,
        *,
        output: str | None = None,
        error: str | None = None,
    ) -> None:
        """complete_task or fail_task, retried with backoff until the database answers."""
        if error is None:
            sql = "select pgflow.complete_task(%s, %s, %s, %s::jsonb, %s)"
            params: tuple[Any, ...] = (task.run_id, task.step_slug, task.task_index, output, task.attempt)
        else:
            sql = "select pgflow.fail_task(%s, %s, %s, %s, %s)"
            params = (task.run_id, task.step_slug, task.task_index, error, task.attempt)
        failures = 0
        while True:
            try:
                if conn[0] is None or conn[0].closed:
                    conn[0] = psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True)
                row = conn[0].execute(sql, params).fetchone()
                if not (row and row[0]):
                    log.warning(
                        "the result of %s was not recorded: the attempt timed out or its run is no longer running",
                        task.describe(),
                    )
                return
            except psycopg.OperationalError as exc:
                failures += 1
                if conn[0] is not None:
                    conn[0].close()
                    conn[0] = None
                if self._report_deadline is not None and time.monotonic() > self._report_deadline:
                    log.error("giving up reporting %s after the grace period: %s", task.describe(), _first_line(exc))
                    return
                delay = backoff(failures)
                log.warning("reporting %s failed (%s); retrying in %.1f s", task.describe(), _first_line(exc), delay)
                time.sleep(delay)
            except psycopg.Error as exc:
                log.error("reporting %s failed: %s", task.describe(), translate(exc))
                return

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
                        row = conn.execute("select extract(epoch from pgflow._worker_timeout())").fetchone()
                        if row and row[0]:
                            interval = min(self.heartbeat_interval, float(row[0]) / 3)
                    conn.execute("select pgflow.heartbeat(%s, %s)", (self.worker_id, flow_slugs))
                    failures = 0
                except psycopg.OperationalError as exc:
                    failures += 1
                    if conn is not None:
                        conn.close()
                        conn = None
                    log.warning("heartbeat failed (%s); retrying", _first_line(exc))
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
                log.warning("listener lost its connection (%s); reconnecting", _first_line(exc))
                self._finished.wait(backoff(failures))

    def _is_for_us(self, payload: str) -> bool:
        try:
            data = json.loads(payload)
        except ValueError:
            return False
        return isinstance(data, dict) and data.get("type") == "tasks_ready" and data.get("flow_slug") in self.flows


async def _await(awaitable: Any) -> Any:
    return await awaitable
