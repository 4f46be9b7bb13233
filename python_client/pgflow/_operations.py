"""What ``Client`` and ``AsyncClient`` do, written once for both: each operation checks its arguments, says
which statements to send and turns their rows into the answer, without touching a connection.

An operation is a generator: it yields a ``Call`` (SQL text, parameters, the pgflow function it calls) and is
sent back the call's rows — or, when the statement was refused, the exception is thrown into it at the
``yield`` (so that ``find_run`` can turn RunNotFound into None). Its return value is the method's answer.
``Client._run`` drives one with a blocking connection, ``AsyncClient._run`` with an asyncio one; argument
errors are raised at the first ``next()``, before anything is sent. The rows, the results (``Run``,
``FlowVersion``), the checks and the refusals (``refusal``) are the same whichever client sends them.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass, fields
from typing import Any, TypeVar, cast

import psycopg

from . import _arguments, _redact
from .errors import (
    InvalidInput,
    PermissionDenied,
    PgflowError,
    RunCancelled,
    RunFailed,
    RunNotFound,
    first_line,
    is_transient,
    redacted,
    safe_cause,
    schema_not_installed,
    translate,
)
from .flow import Flow
from .types import FlowDescription, FlowVersionRow, RunStatus, ScheduleRow, StepOutputs

T = TypeVar("T")

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


@dataclass(frozen=True)
class Call:
    """One statement an operation asks to be sent: its SQL text, its parameters, and the pgflow function it
    calls (named by InvalidInput when the database cannot take an argument)."""

    sql: str
    params: tuple[Any, ...] = ()
    function: str = ""


Rows = list[dict[str, Any]]
#: an operation: yields Calls, is sent their rows, returns the answer
Operation = Generator[Call, Rows, T]


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
        _arguments.text("flow_or_slug", flow_or_slug)
        return flow_or_slug
    raise InvalidInput(f"flow_or_slug must be a pgflow.Flow or a flow slug, got {type(flow_or_slug).__name__}")


# ----------------------------------------------------------------------------------------------------
# Flows
# ----------------------------------------------------------------------------------------------------
def define(flow: Flow) -> Operation[FlowVersion]:
    """``Client.define``."""
    if not isinstance(flow, Flow):
        _arguments.definition(flow)  # InvalidDefinition naming what was given
    version: FlowVersion | None = None
    for each in flow.with_children():
        slug, steps, options = _arguments.definition(each)
        rows = yield Call(
            "select * from pgflow.define_flow(%s, %s::jsonb, %s::jsonb)", (slug, steps, options), "define_flow"
        )
        version = _row(FlowVersion, rows[0])
        for schedule in each.schedules:
            yield from create_schedule(schedule.slug, slug, schedule.cron, schedule.input, timezone=schedule.timezone)
    assert version is not None
    return version


def describe_flow(flow_slug: str, version: int | None = None) -> Operation[FlowDescription]:
    """``Client.describe_flow``."""
    _arguments.text("flow_slug", flow_slug)
    if version is not None:
        _arguments.integer("version", version, minimum=1)
    rows = yield Call("select pgflow.describe_flow(%s, %s) as flow", (flow_slug, version), "describe_flow")
    flow: FlowDescription = rows[0]["flow"]
    return flow


def set_current_version(flow_or_slug: Flow | str, version: int) -> Operation[FlowVersion]:
    """``Client.set_current_version``."""
    slug = _flow_slug(flow_or_slug)
    _arguments.integer("version", version, minimum=1)
    rows = yield Call("select * from pgflow.set_current_version(%s, %s)", (slug, version), "set_current_version")
    result: FlowVersion = _row(FlowVersion, rows[0])
    return result


def list_flow_versions(flow_or_slug: Flow | str | None = None) -> Operation[list[FlowVersionRow]]:
    """``Client.list_flow_versions``."""
    slug = None if flow_or_slug is None else _flow_slug(flow_or_slug)
    rows = yield Call("select pgflow.list_flow_versions(%s) as versions", (slug,), "list_flow_versions")
    versions: list[FlowVersionRow] = list(rows[0]["versions"])
    return versions


# ----------------------------------------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------------------------------------
def create_schedule(
    slug: str, flow_or_slug: Flow | str, cron: str, input: Any = None, *, timezone: str = "UTC"
) -> Operation[ScheduleRow]:
    """``Client.create_schedule``."""
    _arguments.text("slug", slug, max_length=_arguments.MAX_TEXT)
    flow_slug = _flow_slug(flow_or_slug)
    _arguments.text("cron", cron, max_length=_arguments.MAX_TEXT)
    _arguments.text("timezone", timezone, max_length=_arguments.MAX_TEXT)
    input_text = _arguments.json_text("input", {} if input is None else input)
    rows = yield Call(
        "select * from pgflow.create_schedule(%s, %s, %s, %s::jsonb, %s)",
        (slug, flow_slug, cron, input_text, timezone),
        "create_schedule",
    )
    return cast(ScheduleRow, rows[0])  # a row of pgflow.schedules


def drop_schedule(slug: str) -> Operation[bool]:
    """``Client.drop_schedule``."""
    _arguments.text("slug", slug, max_length=_arguments.MAX_TEXT)
    rows = yield Call("select pgflow.drop_schedule(%s) as dropped", (slug,), "drop_schedule")
    return bool(rows[0]["dropped"])


def list_schedules(flow_or_slug: Flow | str | None = None) -> Operation[list[ScheduleRow]]:
    """``Client.list_schedules``."""
    slug = None if flow_or_slug is None else _flow_slug(flow_or_slug)
    rows = yield Call(
        "select s.schedule_slug, s.flow_slug, s.cron, s.timezone, s.input, "
        # (infinity: a schedule stopped because its cron no longer reads; Python has no such datetime)
        "nullif(s.next_tick, 'infinity') as next_tick, s.last_tick, s.last_run_id, s.last_error, s.created_at, "
        "s.updated_at "
        "from pgflow.schedules as s where %s::text is null or s.flow_slug = %s::text order by s.schedule_slug",
        (slug, slug),
        "schedules",
    )
    return cast(list[ScheduleRow], rows)  # the columns of ScheduleRow


def next_cron_tick(
    cron: str, after: dt.datetime | None = None, *, timezone: str = "UTC"
) -> Operation[dt.datetime | None]:
    """``Client.next_cron_tick``."""
    _arguments.text("cron", cron, max_length=_arguments.MAX_TEXT)
    _arguments.text("timezone", timezone, max_length=_arguments.MAX_TEXT)
    if after is None:
        after = dt.datetime.now(dt.timezone.utc)
    if not isinstance(after, dt.datetime) or after.tzinfo is None or after.utcoffset() is None:
        raise InvalidInput(f"after must be a datetime with a time zone, got {after!r}")
    rows = yield Call("select pgflow.next_cron_tick(%s, %s, %s) as tick", (cron, after, timezone), "next_cron_tick")
    tick: dt.datetime | None = rows[0]["tick"]
    return tick


# ----------------------------------------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------------------------------------
def start_run(
    defined: dict[str, str],
    flow_or_slug: Flow | str,
    input: Any = None,
    *,
    idempotency_key: str | None = None,
    run_id: uuid.UUID | str | None = None,
    priority: int = 0,
) -> Operation[Run]:
    """``Client.start_run``; ``defined``: the client's flows it defined, by slug (their definitions as JSON),
    updated when ``flow_or_slug`` is a Flow defined here."""
    input_text = _arguments.json_text("input", {} if input is None else input)
    _arguments.text("idempotency_key", idempotency_key, optional=True, max_length=_arguments.MAX_TEXT)
    _arguments.integer("priority", priority, minimum=PRIORITY_RANGE[0], maximum=PRIORITY_RANGE[1])
    given_run_id = None if run_id is None else as_run_id(run_id, "run_id")
    if isinstance(flow_or_slug, Flow):
        definition = json.dumps(_arguments.definition(flow_or_slug), sort_keys=True)
        if defined.get(flow_or_slug.slug) != definition:
            yield from define(flow_or_slug)
            defined[flow_or_slug.slug] = definition
        slug = flow_or_slug.slug
    elif isinstance(flow_or_slug, str):
        _arguments.text("flow_or_slug", flow_or_slug)
        slug = flow_or_slug
    else:
        raise InvalidInput(f"flow_or_slug must be a pgflow.Flow or a flow slug, got {type(flow_or_slug).__name__}")
    rows = yield Call(
        "select * from pgflow.start_run(%s, %s::jsonb, %s, %s, priority => %s::int)",
        (slug, input_text, given_run_id, idempotency_key, priority),
        "start_run",
    )
    result: Run = _row(Run, rows[0])
    return result


def get_run_status(run: Run | uuid.UUID | str) -> Operation[RunStatus]:
    """``Client.get_run_status``."""
    rows = yield Call("select pgflow.get_run_status(%s) as status", (as_run_id(run),), "get_run_status")
    status: RunStatus = rows[0]["status"]
    return status


def get_run(run: Run | uuid.UUID | str) -> Operation[Run]:
    """``Client.get_run``."""
    status = yield from get_run_status(run)
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


def get_step_outputs(run: Run | uuid.UUID | str) -> Operation[StepOutputs]:
    """``Client.get_step_outputs``."""
    rows = yield Call("select pgflow.get_step_outputs(%s) as outputs", (as_run_id(run),), "get_step_outputs")
    return dict(rows[0]["outputs"])


def list_runs(flow_slug: str | None = None, status: str | None = None, limit: int = 50) -> Operation[list[Run]]:
    """``Client.list_runs``."""
    _arguments.text("flow_slug", flow_slug, optional=True)
    if status is not None and status not in _STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(_STATUSES)} or None, got {status!r}")
    _arguments.integer("limit", limit, minimum=0, maximum=MAX_LIST_RUNS)
    rows = yield Call("select * from pgflow.list_runs(%s, %s, %s)", (flow_slug, status, limit), "list_runs")
    return [_row(Run, r) for r in rows]


def cancel_run(run: Run | uuid.UUID | str, reason: str | None = None) -> Operation[Run]:
    """``Client.cancel_run``."""
    if reason is not None and reason != "":
        _arguments.text("reason", reason)
    rows = yield Call("select * from pgflow.cancel_run(%s, %s)", (as_run_id(run), reason), "cancel_run")
    result: Run = _row(Run, rows[0])
    return result


def resume_run(run: Run | uuid.UUID | str) -> Operation[Run]:
    """``Client.resume_run``."""
    rows = yield Call("select * from pgflow.resume_run(%s)", (as_run_id(run),), "resume_run")
    result: Run = _row(Run, rows[0])
    return result


def signal(run: Run | uuid.UUID | str, step_slug: str, payload: Any = None) -> Operation[bool]:
    """``Client.signal``."""
    run_id = as_run_id(run)
    _arguments.text("step_slug", step_slug)
    payload_text = _arguments.json_text("payload", payload)
    rows = yield Call(
        "select pgflow.signal(%s, %s, %s::jsonb) as recorded", (run_id, step_slug, payload_text), "signal"
    )
    return bool(rows[0]["recorded"])


def find_run(flow_or_slug: Flow | str, idempotency_key: str) -> Operation[Run | None]:
    """``Client.find_run``."""
    slug = _flow_slug(flow_or_slug)
    _arguments.text("idempotency_key", idempotency_key)
    try:
        rows = yield Call("select * from pgflow.find_run(%s, %s)", (slug, idempotency_key), "find_run")
    except RunNotFound:
        return None
    result: Run = _row(Run, rows[0])
    return result


def prune_runs(older_than: dt.timedelta | str) -> Operation[int]:
    """``Client.prune_runs``."""
    if isinstance(older_than, dt.timedelta):
        if older_than < dt.timedelta(0):
            raise InvalidInput(f"older_than must not be negative, got {older_than}")
        if older_than > MAX_PRUNE_AGE:
            raise InvalidInput(f"older_than must be at most 1000 years (360000 days), got {older_than}")
    elif isinstance(older_than, str):
        _arguments.text("older_than", older_than)
        try:
            rows = yield Call("select %s::interval < interval '0 seconds' as negative", (older_than,))
        except InvalidInput as exc:
            raise InvalidInput(f"older_than {older_than!r} is not an interval: {exc.message}") from None
        if rows[0]["negative"]:
            raise InvalidInput(f"older_than must not be negative, got {older_than!r}")
    else:
        raise InvalidInput(
            f"older_than must be a datetime.timedelta or an interval such as '7 days', got {type(older_than).__name__}"
        )
    try:
        rows = yield Call("select pgflow.prune_runs(%s::interval) as deleted", (older_than,))
    except InvalidInput as exc:
        if str(getattr(exc.__cause__, "sqlstate", None) or "")[:2] == "22":
            raise InvalidInput(f"older_than {str(older_than)!r} is out of range: {exc.message}") from None
        raise
    return int(rows[0]["deleted"])


# ----------------------------------------------------------------------------------------------------
# Waiting: the checks and the decisions of watch and wait (the looking and sleeping is each client's own)
# ----------------------------------------------------------------------------------------------------
def watch_arguments(run: Run | uuid.UUID | str, interval: float) -> uuid.UUID:
    """The run id of ``watch(run, interval=...)``, its arguments checked: InvalidInput for an interval out of
    INTERVAL_RANGE."""
    run_id = as_run_id(run)
    _arguments.number("interval", interval, minimum=INTERVAL_RANGE[0], maximum=INTERVAL_RANGE[1], inclusive=True)
    return run_id


@dataclass(frozen=True)
class WaitPlan:
    """How ``wait`` goes about one run: which, until when (a ``time.monotonic()`` deadline, None: no limit),
    and the interval its watch looks at."""

    run_id: uuid.UUID
    timeout: float | None
    deadline: float | None
    interval: float

    def outcome(self, status: RunStatus) -> tuple[bool, Any]:
        """``(True, output)`` for a completed run's status, ``(False, None)`` for a run still going within the
        deadline. Raises RunFailed (with the engine's error), RunCancelled, or TimeoutError once the deadline
        passed."""
        state = status["status"]
        if state == "completed":
            return True, status["output"]
        if state == "failed":
            raise RunFailed(self.run_id, status["error"], status)
        if state == "cancelled":
            raise RunCancelled(self.run_id, status["error"], status)
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise TimeoutError(f"run {self.run_id} did not finish within {self.timeout} s (status {state})")
        return False, None


def wait_plan(run: Run | uuid.UUID | str, timeout: float | None, interval: float) -> WaitPlan:
    """The plan of ``wait(run, timeout, interval=...)``, its arguments checked: InvalidInput when ``timeout``
    (0 s to 1 year, or None) or ``interval`` (INTERVAL_RANGE) is not a number in its range."""
    run_id = as_run_id(run)
    if timeout is not None:
        _arguments.number("timeout", timeout, inclusive=True, maximum=MAX_WAIT_TIMEOUT)
    _arguments.number("interval", interval, minimum=INTERVAL_RANGE[0], maximum=INTERVAL_RANGE[1], inclusive=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    step = interval if deadline is None else min(interval, max(timeout or 0.0, 0.01))
    return WaitPlan(run_id, timeout, deadline, step)


def finished_run_id(payload: str) -> str | None:
    """The run id (as text) of a run_finished notification's payload; None for any other payload."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("type") == "run_finished" and isinstance(data.get("run_id"), str):
        return str(data["run_id"])
    return None


# ----------------------------------------------------------------------------------------------------
# Refusals and JSON
# ----------------------------------------------------------------------------------------------------
def refusal(error: psycopg.Error, function: str, role: str | None = None) -> Exception:
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


def loads_json(data: str | bytes) -> Any:
    """JSON from the database as Python (see the ``client`` module docstring for numbers)."""
    return json.loads(data, parse_int=_parse_int)


def failure(
    error: BaseException, *, broken: bool, last_attempt: bool, function: str, role: str | None
) -> tuple[bool, BaseException | None]:
    """What a client does when sending a statement raised ``error``: ``(reconnect, raise_this)``. A lost
    connection (``broken``) or a lost race is reconnected and the statement sent once more (``raise_this`` None)
    — but not after the ``last_attempt``: the error is raised then, redacted. A refusal raises ``refusal()``
    with the original attached as its cause, unless its text holds a password; text that is not Unicode
    raises InvalidInput, JSON too deep for Python a PgflowError. Anything else is raised as it is."""
    if isinstance(error, psycopg.Error):
        if broken or is_transient(error):
            if not last_attempt:
                return True, None
            return True, _without_context(redacted(error), None, keep=error)
        refused = refusal(error, function, role)
        if refused is error:
            return False, error
        return False, _without_context(refused, safe_cause(error))
    if isinstance(error, UnicodeEncodeError):
        return False, _without_context(
            InvalidInput(f"an argument of {function or 'this call'} is not Unicode: {error}"), None
        )
    if isinstance(error, RecursionError):
        return False, _without_context(
            PgflowError(f"the answer of {function or 'this call'} holds JSON nested too deeply for Python to read"),
            None,
        )
    return False, error


def _without_context(
    error: BaseException, cause: BaseException | None, keep: BaseException | None = None
) -> BaseException:
    """``error``, to raise as ``raise error from cause`` would (``keep``: an error raised as it is)."""
    if error is keep:
        return error
    error.__cause__ = cause
    error.__suppress_context__ = True
    return error
