"""``Client``: define flows, start and control runs, read their status, wait for them.

Every method is one call of a ``pgflow.*`` SQL function. The connection is opened on first use (never by
the constructor), reopened once if it was lost, and closed by ``close()`` or the ``with`` block.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from . import _conninfo
from .errors import RunCancelled, RunFailed, translate
from .flow import Flow

TERMINAL = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class FlowVersion:
    """A row of pgflow.flows."""

    flow_slug: str
    version: int
    max_attempts: int
    base_delay: Any
    max_delay: Any
    timeout: Any
    created_at: dt.datetime


@dataclass(frozen=True)
class Run:
    """A row of pgflow.runs."""

    run_id: uuid.UUID
    flow_slug: str
    flow_version: int
    status: str
    input: Any
    output: Any
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    idempotency_key: str | None = None


def _row(cls: type, row: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in row.items() if k in names})


def as_run_id(run: Run | uuid.UUID | str) -> uuid.UUID:
    """A run id from a Run, a UUID or its text; ValueError for anything else."""
    if isinstance(run, Run):
        return run.run_id
    if isinstance(run, uuid.UUID):
        return run
    try:
        return uuid.UUID(str(run))
    except ValueError:
        raise ValueError(f"{run!r} is not a run id (a UUID)") from None


class Client:
    """A handle on a pgflow database. Thread-safe; one connection, opened lazily."""

    def __init__(self, conninfo: str | None = None) -> None:
        self.conninfo = conninfo
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._lock = threading.RLock()
        # flows this client defined, by slug: start_run(flow) defines a flow once, not at every start
        self._defined: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connection(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True, row_factory=dict_row)
        return self._conn

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Run one statement and return its rows; engine errors become PgflowError subclasses."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
                except psycopg.OperationalError:
                    # the connection was lost (server restart, killed backend): reconnect once
                    self.close()
                    if attempt == 2:
                        raise
                except psycopg.Error as exc:
                    raise translate(exc) from exc
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------------------
    # Flows
    # ------------------------------------------------------------------------------------------------
    def define(self, flow: Flow) -> FlowVersion:
        """Define (or redefine) a flow; an unchanged definition is a no-op returning the current version."""
        steps, options = flow.definition()
        rows = self._query(
            "select * from pgflow.define_flow(%s, %s, %s)", (flow.slug, Jsonb(steps), Jsonb(options))
        )
        return _row(FlowVersion, rows[0])

    def describe_flow(self, flow_slug: str, version: int | None = None) -> dict[str, Any]:
        rows = self._query("select pgflow.describe_flow(%s, %s) as flow", (flow_slug, version))
        return rows[0]["flow"]

    # ------------------------------------------------------------------------------------------------
    # Runs
    # ------------------------------------------------------------------------------------------------
    def start_run(
        self,
        flow_or_slug: Flow | str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        run_id: uuid.UUID | str | None = None,
    ) -> Run:
        """Start a run of the flow's current version. Given a Flow, defines it first (once per client and
        definition; a no-op in the database when unchanged)."""
        if isinstance(flow_or_slug, Flow):
            definition = json.dumps(flow_or_slug.definition(), sort_keys=True)
            if self._defined.get(flow_or_slug.slug) != definition:
                self.define(flow_or_slug)
                self._defined[flow_or_slug.slug] = definition
            slug = flow_or_slug.slug
        else:
            slug = flow_or_slug
        rows = self._query(
            "select * from pgflow.start_run(%s, %s, %s, %s)",
            (slug, Jsonb({} if input is None else input), None if run_id is None else as_run_id(run_id),
             idempotency_key),
        )
        return _row(Run, rows[0])

    def get_run(self, run: Run | uuid.UUID | str) -> Run:
        """The run's row (status, output, error...)."""
        status = self.get_run_status(run)
        return Run(
            run_id=uuid.UUID(status["run_id"]),
            flow_slug=status["flow_slug"],
            flow_version=status["flow_version"],
            status=status["status"],
            input=status["input"],
            output=status["output"],
            error=status["error"],
            started_at=dt.datetime.fromisoformat(status["started_at"]),
            finished_at=dt.datetime.fromisoformat(status["finished_at"]) if status["finished_at"] else None,
        )

    def get_run_status(self, run: Run | uuid.UUID | str) -> dict[str, Any]:
        """pgflow.get_run_status as a dict: counts, percentage, output, error, one entry per step."""
        rows = self._query("select pgflow.get_run_status(%s) as status", (as_run_id(run),))
        return rows[0]["status"]

    def list_runs(self, flow_slug: str | None = None, status: str | None = None, limit: int = 50) -> list[Run]:
        rows = self._query("select * from pgflow.list_runs(%s, %s, %s)", (flow_slug, status, limit))
        return [_row(Run, r) for r in rows]

    def cancel_run(self, run: Run | uuid.UUID | str, reason: str | None = None) -> Run:
        rows = self._query("select * from pgflow.cancel_run(%s, %s)", (as_run_id(run), reason))
        return _row(Run, rows[0])

    def resume_run(self, run: Run | uuid.UUID | str) -> Run:
        rows = self._query("select * from pgflow.resume_run(%s)", (as_run_id(run),))
        return _row(Run, rows[0])

    def prune_runs(self, older_than: dt.timedelta | str) -> int:
        """Delete runs finished more than ``older_than`` ago (a timedelta or a PostgreSQL interval)."""
        rows = self._query("select pgflow.prune_runs(%s::interval) as deleted", (older_than,))
        return int(rows[0]["deleted"])

    # ------------------------------------------------------------------------------------------------
    # Waiting
    # ------------------------------------------------------------------------------------------------
    def watch(self, run: Run | uuid.UUID | str, *, interval: float = 1.0) -> Iterator[dict[str, Any]]:
        """Yield the run's status now, then every ``interval`` seconds and at once when it finishes (a
        run_finished notification), ending with the terminal status."""
        run_id = as_run_id(run)
        listener: psycopg.Connection[Any] | None = None
        try:
            try:
                listener = psycopg.connect(_conninfo.resolve(self.conninfo), autocommit=True)
                listener.execute("listen pgflow")
            except psycopg.OperationalError:
                listener = None  # still works by polling
            while True:
                status = self.get_run_status(run_id)
                yield status
                if status["status"] in TERMINAL:
                    return
                if listener is None:
                    time.sleep(interval)
                    continue
                try:
                    for note in listener.notifies(timeout=interval):
                        if _is_run_finished(note.payload, run_id):
                            break
                except psycopg.OperationalError:
                    listener.close()
                    listener = None
        finally:
            if listener is not None:
                listener.close()

    def wait(self, run: Run | uuid.UUID | str, timeout: float | None = None, *, interval: float = 1.0) -> Any:
        """Wait for the run to finish and return its output. Raises RunFailed (with the engine's error),
        RunCancelled, or TimeoutError after ``timeout`` seconds."""
        run_id = as_run_id(run)
        deadline = None if timeout is None else time.monotonic() + timeout
        step = interval if deadline is None else min(interval, max(timeout or 0.0, 0.01))
        for status in self.watch(run_id, interval=step):
            state = status["status"]
            if state == "completed":
                return status["output"]
            if state == "failed":
                raise RunFailed(run_id, status["error"], status)
            if state == "cancelled":
                raise RunCancelled(run_id, status["error"], status)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout} s (status {state})")
        raise AssertionError("unreachable")


def _is_run_finished(payload: str, run_id: uuid.UUID) -> bool:
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "run_finished" and data.get("run_id") == str(run_id)
