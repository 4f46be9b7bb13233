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
import decimal
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from . import _arguments, _conninfo, _redact
from .errors import (
    InvalidInput,
    PermissionDenied,
    PgflowError,
    RunCancelled,
    RunFailed,
    RunNotFound,
    connected_role,
    first_line,
    is_transient,
    redacted,
    safe_cause,
    schema_not_installed,
    translate,
)
from .flow import Flow

TERMINAL = ("completed", "failed", "cancelled")
#: the range of the interval between two looks at a run (``wait``, ``watch``), in seconds
INTERVAL_RANGE = (0.01, 3600.0)
#: the longest ``wait`` timeout, in seconds (1 year)
MAX_WAIT_TIMEOUT = 365 * 86400.0
#: the most runs ``list_runs`` returns at once (the engine's cap)
MAX_LIST_RUNS = 10_000
#: the longest ``prune_runs`` older_than the engine takes: 1000 years, as PostgreSQL compares intervals
#: (a month is 30 days, so a year is 360 days)
MAX_PRUNE_AGE = dt.timedelta(days=360_000)
#: the range of a run's priority (the engine's): higher is claimed first, 0 by default
PRIORITY_RANGE = (-1000, 1000)


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
    #: whether runs start on this version (one version of each flow is current)
    is_current: bool = False


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
    #: among due tasks, those of runs of higher priority are claimed first (0 by default)
    priority: int = 0


def _row(cls: type, row: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in row.items() if k in names})


def as_run_id(run: Run | uuid.UUID | str, name: str = "run") -> uuid.UUID:
    """A run id from a Run, a UUID or its text; ``InvalidInput`` (a ValueError) naming the argument for
    anything else."""
    if isinstance(run, Run):
        return run.run_id
    if isinstance(run, uuid.UUID):
        return run
    if run is not None:
        try:
            return uuid.UUID(str(run))  # also the UUID types of other libraries
        except ValueError:
            pass
    shown = repr(run) if len(repr(run)) <= 60 else repr(run)[:57] + "..."
    raise InvalidInput(f"{name} {shown} is not a run id (a UUID)")


_STATUSES = ("started", "completed", "failed", "cancelled")


def _flow_slug(flow_or_slug: Flow | str) -> str:
    """The slug of a Flow, or a slug given as text; InvalidInput for anything else."""
    if isinstance(flow_or_slug, Flow):
        return flow_or_slug.slug
    if isinstance(flow_or_slug, str):
        return _arguments.text("flow_or_slug", flow_or_slug)  # type: ignore[no-any-return]
    raise InvalidInput(f"flow_or_slug must be a pgflow.Flow or a flow slug, got {type(flow_or_slug).__name__}")


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
            set_json_loads(_loads_json, self._conn)
        return self._conn

    def _query(self, sql: str, params: tuple[Any, ...] = (), *, function: str = "") -> list[dict[str, Any]]:
        """Run one statement and return its rows. Engine errors become PgflowError subclasses; an argument the
        database cannot convert (SQLSTATE class 22 outside any function, or refused by psycopg before
        sending) becomes InvalidInput naming ``function``; other server errors are raised as psycopg's
        (redacted); a lost connection (or a lost race) is reopened and the statement sent once more."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
                except psycopg.Error as exc:
                    if conn.broken or is_transient(exc):
                        # the connection was lost (server restart, killed backend) or the statement lost a
                        # race: reconnect, and send it once more
                        self.close()
                        if attempt == 2:
                            safe = redacted(exc)
                            if safe is exc:
                                raise
                            raise safe from None
                        continue
                    refusal = _refusal(exc, function, connected_role(conn))
                    if refusal is exc:
                        raise
                    # the original stays attached as the cause, unless its text holds a password
                    raise refusal from safe_cause(exc)
                except UnicodeEncodeError as exc:
                    raise InvalidInput(f"an argument of {function or 'this call'} is not Unicode: {exc}") from None
                except RecursionError:
                    raise PgflowError(
                        f"the answer of {function or 'this call'} holds JSON nested too deeply for Python to read"
                    ) from None
        raise AssertionError("unreachable")

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
        if not isinstance(flow, Flow):
            _arguments.definition(flow)  # InvalidDefinition naming what was given
        version: FlowVersion | None = None
        for each in flow.with_children():
            slug, steps, options = _arguments.definition(each)
            rows = self._query(
                "select * from pgflow.define_flow(%s, %s::jsonb, %s::jsonb)", (slug, steps, options),
                function="define_flow",
            )
            version = _row(FlowVersion, rows[0])
            for schedule in each.schedules:
                self.create_schedule(schedule.slug, slug, schedule.cron, schedule.input, timezone=schedule.timezone)
        assert version is not None
        return version

    def describe_flow(self, flow_slug: str, version: int | None = None) -> dict[str, Any]:
        """One version of a flow (the current one by default) as pgflow.describe_flow's JSON: each step with
        its options, flow control included (``concurrency``, ``concurrency_key``: the key path its cap and rate
        count per, ``rate_limit``; None when not set). FlowNotFound when there is no such flow or version."""
        _arguments.text("flow_slug", flow_slug)
        if version is not None:
            _arguments.integer("version", version, minimum=1)
        rows = self._query(
            "select pgflow.describe_flow(%s, %s) as flow", (flow_slug, version), function="describe_flow"
        )
        return rows[0]["flow"]

    def set_current_version(self, flow_or_slug: Flow | str, version: int) -> FlowVersion:
        """Make ``version`` of the flow the current one (a rollback, or a roll forward again): runs started from
        now on use it; runs in flight keep theirs. Returns its row. FlowNotFound (PF004) when the flow or the
        version does not exist; InvalidInput for a version that is not an int ≥ 1 or a bad slug."""
        slug = _flow_slug(flow_or_slug)
        _arguments.integer("version", version, minimum=1)
        rows = self._query(
            "select * from pgflow.set_current_version(%s, %s)", (slug, version), function="set_current_version"
        )
        return _row(FlowVersion, rows[0])

    def list_flow_versions(self, flow_or_slug: Flow | str | None = None) -> list[dict[str, Any]]:
        """Every version of every flow (or of one), as pgflow.list_flow_versions returns them: dicts with
        ``flow_slug``, ``version``, ``is_current``, ``created_at`` (ISO text), ``steps`` (slugs in topological
        order) and ``runs_in_flight``; by flow, newest version first. [] for an unknown flow."""
        slug = None if flow_or_slug is None else _flow_slug(flow_or_slug)
        rows = self._query(
            "select pgflow.list_flow_versions(%s) as versions", (slug,), function="list_flow_versions"
        )
        return list(rows[0]["versions"])

    # ------------------------------------------------------------------------------------------------
    # Schedules
    # ------------------------------------------------------------------------------------------------
    def create_schedule(
        self, slug: str, flow_or_slug: Flow | str, cron: str, input: Any = None, *, timezone: str = "UTC"
    ) -> dict[str, Any]:
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
        _arguments.text("slug", slug, max_length=_arguments.MAX_TEXT)
        flow_slug = _flow_slug(flow_or_slug)
        _arguments.text("cron", cron, max_length=_arguments.MAX_TEXT)
        _arguments.text("timezone", timezone, max_length=_arguments.MAX_TEXT)
        input_text = _arguments.json_text("input", {} if input is None else input)
        rows = self._query(
            "select * from pgflow.create_schedule(%s, %s, %s, %s::jsonb, %s)",
            (slug, flow_slug, cron, input_text, timezone),
            function="create_schedule",
        )
        return rows[0]

    def drop_schedule(self, slug: str) -> bool:
        """Remove the schedule ``slug``; runs it started stay. True when it existed, False otherwise.
        InvalidDefinition (PF001) for a slug that is not a slug."""
        _arguments.text("slug", slug, max_length=_arguments.MAX_TEXT)
        rows = self._query("select pgflow.drop_schedule(%s) as dropped", (slug,), function="drop_schedule")
        return bool(rows[0]["dropped"])

    def list_schedules(self, flow_or_slug: Flow | str | None = None) -> list[dict[str, Any]]:
        """The schedules (of one flow, or all), by slug: the rows of table ``pgflow.schedules`` as dicts, as
        ``create_schedule`` returns them (``next_tick``, ``last_tick``, ``last_run_id``, ``last_error``...);
        ``next_tick`` is None for a schedule the engine stopped (its ``last_error`` says why).
        Reading the table needs pgflow_reader (or the schema's owner): PermissionDenied names it otherwise."""
        slug = None if flow_or_slug is None else _flow_slug(flow_or_slug)
        return self._query(
            "select s.schedule_slug, s.flow_slug, s.cron, s.timezone, s.input, "
            # (infinity: a schedule stopped because its cron no longer reads; Python has no such datetime)
            "nullif(s.next_tick, 'infinity') as next_tick, s.last_tick, s.last_run_id, s.last_error, s.created_at, "
            "s.updated_at "
            "from pgflow.schedules as s where %s::text is null or s.flow_slug = %s::text order by s.schedule_slug",
            (slug, slug),
            function="schedules",
        )

    def next_cron_tick(
        self, cron: str, after: dt.datetime | None = None, *, timezone: str = "UTC"
    ) -> dt.datetime | None:
        """The first tick of ``cron`` strictly after ``after`` (an aware datetime; None: now), as wall-clock
        minutes in ``timezone`` (``pgflow.next_cron_tick``); None when it has none within 8 years.
        InvalidDefinition (PF001) for a bad cron or time zone; InvalidInput for a naive ``after``."""
        _arguments.text("cron", cron, max_length=_arguments.MAX_TEXT)
        _arguments.text("timezone", timezone, max_length=_arguments.MAX_TEXT)
        if after is None:
            after = dt.datetime.now(dt.timezone.utc)
        if not isinstance(after, dt.datetime) or after.tzinfo is None or after.utcoffset() is None:
            raise InvalidInput(f"after must be a datetime with a time zone, got {after!r}")
        rows = self._query(
            "select pgflow.next_cron_tick(%s, %s, %s) as tick", (cron, after, timezone), function="next_cron_tick"
        )
        tick: dt.datetime | None = rows[0]["tick"]
        return tick

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
        input_text = _arguments.json_text("input", {} if input is None else input)
        _arguments.text("idempotency_key", idempotency_key, optional=True, max_length=_arguments.MAX_TEXT)
        _arguments.integer("priority", priority, minimum=PRIORITY_RANGE[0], maximum=PRIORITY_RANGE[1])
        given_run_id = None if run_id is None else as_run_id(run_id, "run_id")
        if isinstance(flow_or_slug, Flow):
            definition = json.dumps(_arguments.definition(flow_or_slug), sort_keys=True)
            if self._defined.get(flow_or_slug.slug) != definition:
                self.define(flow_or_slug)
                self._defined[flow_or_slug.slug] = definition
            slug = flow_or_slug.slug
        elif isinstance(flow_or_slug, str):
            slug = _arguments.text("flow_or_slug", flow_or_slug)  # type: ignore[assignment]
        else:
            raise InvalidInput(
                f"flow_or_slug must be a pgflow.Flow or a flow slug, got {type(flow_or_slug).__name__}"
            )
        rows = self._query(
            "select * from pgflow.start_run(%s, %s::jsonb, %s, %s, priority => %s::int)",
            (slug, input_text, given_run_id, idempotency_key, priority),
            function="start_run",
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
            priority=status.get("priority", 0),
        )

    def get_run_status(self, run: Run | uuid.UUID | str) -> dict[str, Any]:
        """pgflow.get_run_status as a dict: counts, percentage, output, error, priority, one entry per step.
        RunNotFound for an unknown run."""
        rows = self._query(
            "select pgflow.get_run_status(%s) as status", (as_run_id(run),), function="get_run_status"
        )
        return rows[0]["status"]

    def get_step_outputs(self, run: Run | uuid.UUID | str) -> dict[str, Any]:
        """The outputs of the run's completed steps, ``{step_slug: output}`` (pgflow.get_step_outputs),
        intermediate steps included; a map step's output is the list of its task outputs. Skipped, failed,
        cancelled and unfinished steps are absent. RunNotFound for an unknown run."""
        rows = self._query(
            "select pgflow.get_step_outputs(%s) as outputs", (as_run_id(run),), function="get_step_outputs"
        )
        return dict(rows[0]["outputs"])

    def list_runs(self, flow_slug: str | None = None, status: str | None = None, limit: int = 50) -> list[Run]:
        """The most recent runs (newest first), at most ``limit`` (0 to 10,000, the engine's cap), optionally
        only those of one flow and one status (started, completed, failed, cancelled). InvalidInput for a
        limit out of that range or another status."""
        _arguments.text("flow_slug", flow_slug, optional=True)
        if status is not None and status not in _STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(_STATUSES)} or None, got {status!r}")
        _arguments.integer("limit", limit, minimum=0, maximum=MAX_LIST_RUNS)
        rows = self._query(
            "select * from pgflow.list_runs(%s, %s, %s)", (flow_slug, status, limit), function="list_runs"
        )
        return [_row(Run, r) for r in rows]

    def cancel_run(self, run: Run | uuid.UUID | str, reason: str | None = None) -> Run:
        """Cancel a started run (its queued and started tasks too); a cancelled run is returned unchanged.
        InvalidState for a completed or failed run, RunNotFound for an unknown one."""
        if reason is not None and reason != "":
            _arguments.text("reason", reason)
        rows = self._query(
            "select * from pgflow.cancel_run(%s, %s)", (as_run_id(run), reason), function="cancel_run"
        )
        return _row(Run, rows[0])

    def resume_run(self, run: Run | uuid.UUID | str) -> Run:
        """Start a failed or cancelled run again where it stopped. InvalidState for a run in another status,
        RunNotFound for an unknown one."""
        rows = self._query("select * from pgflow.resume_run(%s)", (as_run_id(run),), function="resume_run")
        return _row(Run, rows[0])

    def signal(self, run: Run | uuid.UUID | str, step_slug: str, payload: Any = None) -> bool:
        """Signal a wait step of a started run (``pgflow.signal``): ``payload`` (any storable JSON value; None is
        JSON null) becomes the step's output and the run goes on, in the same transaction. A signal to a step
        that is not ready yet is kept and applied when it becomes ready. Returns True when the signal was
        recorded, False when the step already had one, had finished, or its timeout had passed.

        Raises InvalidInput, before anything is sent, for a payload that is not storable JSON or a step_slug that
        is not a non-empty string, and (PF005) for a payload over ``pgflow.max_output_size()`` bytes; RunNotFound
        for an unknown run; InvalidState (PF008) for a run that is not started or a step that is not a wait step
        of the run's flow version."""
        run_id = as_run_id(run)
        _arguments.text("step_slug", step_slug)
        payload_text = _arguments.json_text("payload", payload)
        rows = self._query(
            "select pgflow.signal(%s, %s, %s::jsonb) as recorded", (run_id, step_slug, payload_text),
            function="signal",
        )
        return bool(rows[0]["recorded"])

    def find_run(self, flow_or_slug: Flow | str, idempotency_key: str) -> Run | None:
        """The run of the flow started with this idempotency key (``start_run(..., idempotency_key=...)``), or
        None when there is none (``pgflow.find_run``): for a webhook that knows an order id, not a run id.
        InvalidInput for a key that is not a non-empty string."""
        slug = _flow_slug(flow_or_slug)
        _arguments.text("idempotency_key", idempotency_key)
        try:
            rows = self._query(
                "select * from pgflow.find_run(%s, %s)", (slug, idempotency_key), function="find_run"
            )
        except RunNotFound:
            return None
        return _row(Run, rows[0])

    def prune_runs(self, older_than: dt.timedelta | str) -> int:
        """Delete runs finished more than ``older_than`` ago — a ``datetime.timedelta`` or a PostgreSQL
        interval such as ``'7 days'`` — with everything they own; returns how many runs were deleted.
        InvalidInput naming ``older_than`` when it is of another type, not an interval, negative, or over
        1000 years (the engine's range; a timedelta over 360,000 days)."""
        if isinstance(older_than, dt.timedelta):
            if older_than < dt.timedelta(0):
                raise InvalidInput(f"older_than must not be negative, got {older_than}")
            if older_than > MAX_PRUNE_AGE:
                raise InvalidInput(f"older_than must be at most 1000 years (360000 days), got {older_than}")
        elif isinstance(older_than, str):
            _arguments.text("older_than", older_than)
            try:
                rows = self._query("select %s::interval < interval '0 seconds' as negative", (older_than,))
            except InvalidInput as exc:
                raise InvalidInput(f"older_than {older_than!r} is not an interval: {exc.message}") from None
            if rows[0]["negative"]:
                raise InvalidInput(f"older_than must not be negative, got {older_than!r}")
        else:
            raise InvalidInput(
                f"older_than must be a datetime.timedelta or an interval such as '7 days', "
                f"got {type(older_than).__name__}"
            )
        try:
            rows = self._query("select pgflow.prune_runs(%s::interval) as deleted", (older_than,))
        except InvalidInput as exc:
            if str(getattr(exc.__cause__, "sqlstate", None) or "")[:2] == "22":
                raise InvalidInput(f"older_than {str(older_than)!r} is out of range: {exc.message}") from None
            raise
        return int(rows[0]["deleted"])

    # ------------------------------------------------------------------------------------------------
    # Waiting
    # ------------------------------------------------------------------------------------------------
    def watch(self, run: Run | uuid.UUID | str, *, interval: float = 1.0) -> Iterator[dict[str, Any]]:
        """Yield the run's status now, then every ``interval`` seconds (0.01 s to 1 h) and at once when it
        finishes (a run_finished notification, when notifications reach this client: see ``Client``), ending
        with the terminal status. InvalidInput for an interval out of range."""
        run_id = as_run_id(run)
        _arguments.number("interval", interval, minimum=INTERVAL_RANGE[0], maximum=INTERVAL_RANGE[1], inclusive=True)
        listener: psycopg.Connection[Any] | None = None
        try:
            status = self.get_run_status(run_id)
            yield status
            if status["status"] in TERMINAL:
                return
            try:
                # the proof that notifications arrive takes the place of the first interval's sleep
                listener = _conninfo.listener(
                    self.conninfo, self.listen_conninfo,
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
        RunCancelled, or TimeoutError after ``timeout`` seconds (0 s to 1 year; None: no limit; 0: look once),
        looking every ``interval`` seconds (0.01 s to 1 h) and at once when the run finishes. InvalidInput
        when ``timeout`` or ``interval`` is not a number in its range."""
        run_id = as_run_id(run)
        if timeout is not None:
            _arguments.number("timeout", timeout, inclusive=True, maximum=MAX_WAIT_TIMEOUT)
        _arguments.number("interval", interval, minimum=INTERVAL_RANGE[0], maximum=INTERVAL_RANGE[1], inclusive=True)
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


def _refusal(error: psycopg.Error, function: str, role: str | None = None) -> Exception:
    """The exception for a statement the database refused. Only what is about the caller's arguments becomes
    an argument error: the engine's PgflowError subclass (PF001-PF008), and InvalidInput for an argument the
    database could not convert to its parameter's type (SQLSTATE class 22 raised outside any function, such
    as ``%s::interval`` given 'garbage') or that psycopg refused before sending. Anything else (a program
    limit exceeded inside the engine, a statement timeout) is the psycopg error, its text redacted; a missing
    privilege is PermissionDenied naming ``role`` (the connected role); a missing or older pgflow schema is
    SchemaNotInstalled."""
    sqlstate = getattr(error, "sqlstate", None) or ""
    if sqlstate.startswith("PF") or sqlstate == PermissionDenied.sqlstate:
        return translate(error, role)
    missing = schema_not_installed(error)
    if missing is not None:
        return missing
    if (sqlstate[:2] == "22" and not _inside_a_function(error)) or (
        not sqlstate and isinstance(error, psycopg.DataError)
    ):
        where = f"an argument of {function}" if function else "an argument"
        return InvalidInput(f"the database cannot take {where}: {_redact.redact(first_line(error))}")
    return redacted(error)


def _inside_a_function(error: psycopg.Error) -> bool:
    """Whether the server raised ``error`` while running a function (its context names one), as opposed to
    while converting a parameter of the statement."""
    context = getattr(getattr(error, "diag", None), "context", None) or ""
    return "function" in context


def _parse_int(digits: str) -> int | decimal.Decimal:
    """A JSON integer as an int, or as an exact Decimal when it has more digits than Python converts."""
    try:
        return int(digits)
    except ValueError:
        return decimal.Decimal(digits)


def _loads_json(data: str | bytes) -> Any:
    """JSON from the database as Python (see the module docstring for numbers)."""
    return json.loads(data, parse_int=_parse_int)


def _is_run_finished(payload: str, run_id: uuid.UUID) -> bool:
    try:
        data = json.loads(payload)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") == "run_finished" and data.get("run_id") == str(run_id)
