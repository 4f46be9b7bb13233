"""Helpers of the Python-client tests (test_flow, test_execute, test_client): a pgflow.Worker running in a
background thread that is always stopped, a bounded wait for a condition, and recorders that handlers use
to note when they ran.

Only the public API of the package (SPEC §4) and reads of the pgflow tables (SPEC §3.9) are used here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

import pgflow


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


@contextmanager
def running_worker(
    database_url: str, flows: pgflow.Flow | Iterable[pgflow.Flow], *, concurrency: int = 2
) -> Iterator[pgflow.Worker]:
    """A pgflow.Worker working ``flows`` in a daemon thread for the duration of the block; stopped (and
    joined, with a bound) on exit, whatever happened in the block."""
    worker = pgflow.Worker(database_url, flows, concurrency=concurrency, worker_id=f"test-{uuid.uuid4().hex[:8]}")
    crashed: list[BaseException] = []

    def target() -> None:
        try:
            worker.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            crashed.append(exc)

    thread = threading.Thread(target=target, name="test-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=20)
    assert not thread.is_alive(), "the worker did not stop within 20 s of stop()"
    if crashed:
        raise crashed[0]


@dataclass
class Recorder:
    """Thread-safe notes of handler executions: call counts, (start, end) monotonic intervals, and the
    peak number of handlers running at the same time."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: dict[str, int] = field(default_factory=dict)
    intervals: dict[Any, tuple[float, float]] = field(default_factory=dict)
    inputs: dict[Any, Any] = field(default_factory=dict)
    running: int = 0
    peak: int = 0

    def call(self, name: str) -> int:
        """Count a call of ``name`` and return its number (1 for the first)."""
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            return self.calls[name]

    def timed(self, key: Any, seconds: float, value: Any = None) -> Any:
        """Sleep ``seconds`` while recording the interval under ``key``; return ``value``."""
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        start = time.monotonic()
        try:
            time.sleep(seconds)
        finally:
            end = time.monotonic()
            with self.lock:
                self.running -= 1
                self.intervals[key] = (start, end)
        return value


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two (start, end) intervals intersect."""
    return a[0] < b[1] and b[0] < a[1]


def runs_of(conn: psycopg.Connection, flow_slug: str) -> list[tuple[Any, ...]]:
    """(run_id, status, output, error) of every run of a flow, oldest first."""
    return conn.execute(
        "select run_id, status, output, error from pgflow.runs where flow_slug = %s order by started_at, run_id",
        (flow_slug,),
    ).fetchall()


def only_run_id(conn: psycopg.Connection, flow_slug: str) -> uuid.UUID:
    """The id of the one run of a flow (fails if there is not exactly one)."""
    rows = runs_of(conn, flow_slug)
    assert len(rows) == 1, rows
    return rows[0][0]


def step_entry(status: dict[str, Any], step_slug: str) -> dict[str, Any]:
    """The entry of one step in a get_run_status result."""
    matches = [s for s in status["steps"] if s["step_slug"] == step_slug]
    assert len(matches) == 1, status["steps"]
    return matches[0]


@contextmanager
def worker_thread(worker: pgflow.Worker, join_timeout: float = 30.0) -> Iterator[pgflow.Worker]:
    """``worker.run()`` in a daemon thread for the block; stopped and joined on exit (an exception ``run()``
    raised is raised again)."""
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
        thread.join(timeout=join_timeout)
    assert not thread.is_alive()
    if crashed:
        raise crashed[0]
