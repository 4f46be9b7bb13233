"""``Client``: define flows, start and control runs, read their status, wait for them.

Every method is one call of a ``pgflow.*`` SQL function. The connection is opened on first use (never by
the constructor), reopened once if it was lost, and closed by ``close()`` or the ``with`` block.

Arguments are checked before anything is written (and before anything is sent, but for an interval given
as text, which the database parses): a bad one raises ``InvalidInput`` (PF005, also a
``ValueError``) naming it — JSON that PostgreSQL cannot store (NaN, ±Infinity, a NUL character, a value json
cannot encode) with the path of the offending value, text holding a NUL character, a negative or unreadable
duration, a number out of range. A flow definition that cannot be stored raises ``InvalidDefinition``
(PF001). What the engine refuses arrives as its ``PgflowError`` subclass (PF001-PF008), and an argument the
database cannot convert to its parameter's type (SQLSTATE class 22 raised outside any function: an
unreadable interval, say) as ``InvalidInput``; no psycopg error escapes for a bad argument. Any other error
of the server (a missing privilege, a program limit exceeded, a statement timeout...) is not about the
caller's arguments: it surfaces as the psycopg error, with the server's own message (redacted). A database
without the pgflow schema, or with an older one that lacks the function called, raises ``SchemaNotInstalled``
(a PgflowError) naming ``pgflow migrate``, from every method.

Durations: ``wait``'s ``timeout`` is 0 s to 1 year (None: no limit), ``wait``'s and ``watch``'s ``interval``
0.01 s to 1 h.

JSON the database returns (inputs, outputs, statuses) is read with Python's json: numbers with a fraction or
an exponent as floats (a double: digits beyond its precision are lost), integers as ints — but an integer
of more than 4,300 digits, which Python will not convert, as a ``decimal.Decimal`` (exact). A value nested
too deeply for Python's json raises ``PgflowError`` saying so.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from . import _arguments, _conninfo, _operations
from ._operations import (
    INTERVAL_RANGE,
    MAX_LIST_RUNS,
    MAX_PRUNE_AGE,
    MAX_WAIT_TIMEOUT,
    PRIORITY_RANGE,
    TERMINAL,
    FlowVersion,
    Run,
    as_run_id,
)
from .errors import connected_role
from .flow import Flow
from .types import FlowDescription, FlowVersionRow, RunStatus, ScheduleRow, StepOutputs

T = TypeVar("T")

__all__ = [
    "INTERVAL_RANGE",
    "MAX_LIST_RUNS",
    "MAX_PRUNE_AGE",
    "MAX_WAIT_TIMEOUT",
    "PRIORITY_RANGE",
    "TERMINAL",
    "Client",
    "FlowVersion",
    "Run",
    "as_run_id",
]


class Client:
    """A handle on a pgflow database. Thread-safe; one connection, opened lazily.

    ``listen_conninfo``: a direct connection (not through a pooler in transaction mode) used only for LISTEN
    by ``wait`` and ``watch`` (default ``PGFLOW_LISTEN_URL``, else ``conninfo``). Whichever it is, they rely
    on notifications only once one was seen to arrive; else they look every ``interval`` seconds.
    InvalidInput when it is not a valid connection string."""

    def __init__(self, conninfo: str | None = None, *, listen_conninfo: str | None = None) -> None:
        self.conninfo = conninfo
        self.listen_conninfo = _arguments.listen_conninfo(listen_conninfo)
        # notifications were seen to reach this client's listener once: later watches skip the proof
        self._notifications_arrive = False
        self._conn: psycopg.Connection[dict[str, Any]] | None = None
        self._lock = threading.RLock()
        # flows this client defined, by slug: start_run(flow) defines a flow once, not at every start
        self._defined: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection; the client may be used again afterwards: it reconnects on the next call."""
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
            self._conn = _conninfo.connect(self.conninfo, autocommit=True, row_factory=dict_row)
            set_json_loads(_operations.loads_json, self._conn)
        return self._conn

    def _query(self, sql: str, params: tuple[Any, ...] = (), *, function: str = "") -> list[dict[str, Any]]:
        """Run one statement and return its rows. Engine errors become PgflowError subclasses; an argument the
        database cannot convert (SQLSTATE class 22 outside any function, or refused by psycopg before
        sending) becomes InvalidInput naming ``function``; other server errors are raised as psycopg's
        (redacted); a lost connection (or a lost race) is reopened and the statement sent once more
        (``_operations.failure``)."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return conn.execute(sql, params).fetchall()
                except (psycopg.Error, UnicodeEncodeError, RecursionError) as exc:
                    reconnect, error = _operations.failure(
                        exc,
                        broken=conn.broken,
                        last_attempt=attempt == 2,
                        function=function,
                        role=connected_role(conn),
                    )
                if reconnect:
                    self.close()
                if error is not None:
                    raise error
        raise AssertionError("unreachable")

    def _run(self, operation: _operations.Operation[T]) -> T:
        """Drive an operation of ``_operations``: send each statement it asks for, give it the rows (or throw
        the refusal into it), and return its answer."""
        try:
            call = next(operation)
            while True:
                try:
                    rows = self._query(call.sql, call.params, function=call.function)
                except Exception as exc:  # noqa: BLE001 - thrown into the operation, which decides
                    refused: Exception = exc
                else:
                    call = operation.send(rows)
                    continue
                call = operation.throw(refused)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------------------------------
    # Flows
    # ------------------------------------------------------------------------------------------------
    def define(self, flow: Flow) -> FlowVersion:
        """Define (or redefine) a flow; an unchanged definition is a no-op returning the current version. The
        child ``Flow`` objects of its sub-flow steps are defined first, recursively (``Flow.with_children``). Each
        flow defined is followed by the schedules it declares (``Flow(schedules=...)``, each with
        ``create_schedule``: unchanged ones are left as they are; a schedule no longer declared is not dropped).
        Returns the version of ``flow``. Raises InvalidDefinition (PF001) for a definition the engine refuses or
        that is not storable JSON (an option or a condition holding NaN, a datetime...), or a schedule whose cron
        or time zone it refuses; UnknownDependency, CycleDetected (also a flow containing itself through
        sub-flows), FlowNotFound (a child flow named by slug that does not exist); InvalidInput for a schedule's
        input that is not storable JSON or that the flow cannot take."""
        return self._run(_operations.define(flow))

    def describe_flow(self, flow_slug: str, version: int | None = None) -> FlowDescription:
        """One version of a flow (the current one by default) as pgflow.describe_flow's JSON: each step with
        its options, flow control included (``concurrency``, ``concurrency_key``: the key path its cap and rate
        count per, ``rate_limit``; None when not set). FlowNotFound when there is no such flow or version."""
        return self._run(_operations.describe_flow(flow_slug, version))

    def set_current_version(self, flow_or_slug: Flow | str, version: int) -> FlowVersion:
        """Make ``version`` of the flow the current one (a rollback, or a roll forward again): runs started from
        now on use it; runs in flight keep theirs. Returns its row. FlowNotFound (PF004) when the flow or the
        version does not exist; InvalidInput for a version that is not an int ≥ 1 or a bad slug."""
        return self._run(_operations.set_current_version(flow_or_slug, version))

    def list_flow_versions(self, flow_or_slug: Flow | str | None = None) -> list[FlowVersionRow]:
        """Every version of every flow (or of one), as pgflow.list_flow_versions returns them: dicts with
        ``flow_slug``, ``version``, ``is_current``, ``created_at`` (ISO text), ``steps`` (slugs in topological
        order) and ``runs_in_flight``; by flow, newest version first. [] for an unknown flow."""
        return self._run(_operations.list_flow_versions(flow_or_slug))

    # ------------------------------------------------------------------------------------------------
    # Schedules
    # ------------------------------------------------------------------------------------------------
    def create_schedule(
        self, slug: str, flow_or_slug: Flow | str, cron: str, input: Any = None, *, timezone: str = "UTC"
    ) -> ScheduleRow:
        """Create or update the schedule ``slug``: polls start a run of the flow's current version with
        ``input`` (any JSON value; None means ``{}``) at each tick of ``cron`` (five fields or a macro such as
        ``@daily``) read in ``timezone``, once per tick; ticks missed while nothing polled start once, for the
        latest. The same values again leave it unchanged; others update it and its next tick. Returns the
        ``pgflow.schedules`` row as a dict (``schedule_slug``, ``flow_slug``, ``cron``, ``timezone``, ``input``,
        ``next_tick``, ``last_tick``, ``last_run_id``, ``last_error``, ``created_at``, ``updated_at``; times as
        aware datetimes). Given a Flow, uses its slug (it does not define it).

        Raises InvalidInput before anything is sent for an input that is not storable JSON or a slug, cron or
        time zone that is not a non-empty string; InvalidDefinition (PF001) for a bad slug, cron (or one that
        never ticks) or time zone; FlowNotFound (PF004) for a flow never defined; InvalidInput (PF005) for an
        input the flow cannot take (a root map step given a non-array)."""
        return self._run(_operations.create_schedule(slug, flow_or_slug, cron, input, timezone=timezone))

    def drop_schedule(self, slug: str) -> bool:
        """Remove the schedule ``slug``; runs it started stay. True when it existed, False otherwise.
        InvalidDefinition (PF001) for a slug that is not a slug."""
        return self._run(_operations.drop_schedule(slug))

    def list_schedules(self, flow_or_slug: Flow | str | None = None) -> list[ScheduleRow]:
        """The schedules (of one flow, or all), by slug: the rows of table ``pgflow.schedules`` as dicts, as
        ``create_schedule`` returns them (``next_tick``, ``last_tick``, ``last_run_id``, ``last_error``...);
        ``next_tick`` is None for a schedule the engine stopped (its ``last_error`` says why).
        Reading the table needs pgflow_reader (or the schema's owner): PermissionDenied names it otherwise."""
        return self._run(_operations.list_schedules(flow_or_slug))

    def next_cron_tick(
        self, cron: str, after: dt.datetime | None = None, *, timezone: str = "UTC"
    ) -> dt.datetime | None:
        """The first tick of ``cron`` strictly after ``after`` (an aware datetime; None: now), as wall-clock
        minutes in ``timezone`` (``pgflow.next_cron_tick``); None when it has none within 8 years.
        InvalidDefinition (PF001) for a bad cron or time zone; InvalidInput for a naive ``after``."""
        return self._run(_operations.next_cron_tick(cron, after, timezone=timezone))

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
        priority: int = 0,
    ) -> Run:
        """Start a run of the flow's current version. Given a Flow, defines it first (once per client and
        definition; a no-op in the database when unchanged). ``input`` is any JSON value (None means ``{}``).
        ``priority`` (an int from -1000 to 1000, default 0): among the tasks due, those of runs of higher
        priority are claimed first (within the flow-controlled steps, and within the others).

        Raises InvalidInput, before anything is sent, when ``input`` is not storable JSON (the message names
        the offending value's path), ``idempotency_key`` is not a string of 1-255 characters without NUL,
        ``run_id`` is not a UUID or ``priority`` not an int in its range; FlowNotFound for an unknown slug;
        InvalidInput (PF005) for an input the flow cannot take (a root map step given a non-array)."""
        return self._run(
            _operations.start_run(
                self._defined, flow_or_slug, input, idempotency_key=idempotency_key, run_id=run_id, priority=priority
            )
        )

    def get_run(self, run: Run | uuid.UUID | str) -> Run:
        """The run's row (status, output, error...)."""
        return self._run(_operations.get_run(run))

    def get_run_status(self, run: Run | uuid.UUID | str) -> RunStatus:
        """pgflow.get_run_status as a dict: counts, percentage, output, error, priority, one entry per step.
        RunNotFound for an unknown run."""
        return self._run(_operations.get_run_status(run))

    def get_step_outputs(self, run: Run | uuid.UUID | str) -> StepOutputs:
        """The outputs of the run's completed steps, ``{step_slug: output}`` (pgflow.get_step_outputs),
        intermediate steps included; a map step's output is the list of its task outputs. Skipped, failed,
        cancelled and unfinished steps are absent. RunNotFound for an unknown run."""
        return self._run(_operations.get_step_outputs(run))

    def list_runs(self, flow_slug: str | None = None, status: str | None = None, limit: int = 50) -> list[Run]:
        """The most recent runs (newest first), at most ``limit`` (0 to 10,000, the engine's cap), optionally
        only those of one flow and one status (started, completed, failed, cancelled). InvalidInput for a
        limit out of that range or another status."""
        return self._run(_operations.list_runs(flow_slug, status, limit))

    def cancel_run(self, run: Run | uuid.UUID | str, reason: str | None = None) -> Run:
        """Cancel a started run (its queued and started tasks too); a cancelled run is returned unchanged.
        InvalidState for a completed or failed run, RunNotFound for an unknown one."""
        return self._run(_operations.cancel_run(run, reason))

    def resume_run(self, run: Run | uuid.UUID | str) -> Run:
        """Start a failed or cancelled run again where it stopped. InvalidState for a run in another status,
        RunNotFound for an unknown one."""
        return self._run(_operations.resume_run(run))

    def signal(self, run: Run | uuid.UUID | str, step_slug: str, payload: Any = None) -> bool:
        """Signal a wait step of a started run (``pgflow.signal``): ``payload`` (any storable JSON value; None is
        JSON null) becomes the step's output and the run goes on, in the same transaction. A signal to a step
        that is not ready yet is kept and applied when it becomes ready. Returns True when the signal was
        recorded, False when the step already had one, had finished, or its timeout had passed.

        Raises InvalidInput, before anything is sent, for a payload that is not storable JSON or a step_slug that
        is not a non-empty string, and (PF005) for a payload over ``pgflow.max_output_size()`` bytes; RunNotFound
        for an unknown run; InvalidState (PF008) for a run that is not started or a step that is not a wait step
        of the run's flow version."""
        return self._run(_operations.signal(run, step_slug, payload))

    def find_run(self, flow_or_slug: Flow | str, idempotency_key: str) -> Run | None:
        """The run of the flow started with this idempotency key (``start_run(..., idempotency_key=...)``), or
        None when there is none (``pgflow.find_run``): for a webhook that knows an order id, not a run id.
        InvalidInput for a key that is not a non-empty string."""
        return self._run(_operations.find_run(flow_or_slug, idempotency_key))

    def prune_runs(self, older_than: dt.timedelta | str) -> int:
        """Delete runs finished more than ``older_than`` ago — a ``datetime.timedelta`` or a PostgreSQL
        interval such as ``'7 days'`` — with everything they own; returns how many runs were deleted.
        InvalidInput naming ``older_than`` when it is of another type, not an interval, negative, or over
        1000 years (the engine's range; a timedelta over 360,000 days)."""
        return self._run(_operations.prune_runs(older_than))

    # ------------------------------------------------------------------------------------------------
    # Waiting
    # ------------------------------------------------------------------------------------------------
    def watch(self, run: Run | uuid.UUID | str, *, interval: float = 1.0) -> Iterator[RunStatus]:
        """Yield the run's status now, then every ``interval`` seconds (0.01 s to 1 h) and at once when it
        finishes (a run_finished notification, when notifications reach this client: see ``Client``), ending
        with the terminal status. InvalidInput for an interval out of range."""
        run_id = _operations.watch_arguments(run, interval)
        listener: psycopg.Connection[Any] | None = None
        try:
            status = self.get_run_status(run_id)
            yield status
            if status["status"] in TERMINAL:
                return
            try:
                # the proof that notifications arrive takes the place of the first interval's sleep
                listener = _conninfo.listener(
                    self.conninfo,
                    self.listen_conninfo,
                    probe_timeout=None if self._notifications_arrive else min(_conninfo.PROBE_TIMEOUT, interval),
                )
                self._notifications_arrive = self._notifications_arrive or listener is not None
            except psycopg.OperationalError:
                listener = None  # still works by polling
                time.sleep(interval)
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
                        if _operations.finished_run_id(note.payload) == str(run_id):
                            break
                except psycopg.OperationalError:
                    listener.close()
                    listener = None
        finally:
            if listener is not None:
                listener.close()

    def wait(self, run: Run | uuid.UUID | str, timeout: float | None = None, *, interval: float = 1.0) -> Any:
        """Wait for the run to finish and return its output. Raises RunFailed (with the engine's error),
        RunCancelled, or TimeoutError after ``timeout`` seconds (0 s to 1 year; None: no limit; 0: look once),
        looking every ``interval`` seconds (0.01 s to 1 h) and at once when the run finishes. InvalidInput
        when ``timeout`` or ``interval`` is not a number in its range."""
        plan = _operations.wait_plan(run, timeout, interval)
        for status in self.watch(plan.run_id, interval=plan.interval):
            finished, output = plan.outcome(status)
            if finished:
                return output
        raise AssertionError("unreachable")
