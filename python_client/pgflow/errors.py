"""Exceptions: one class per SQLSTATE the engine raises, the outcomes of waiting for a run, and
``NonRetryableError`` for handlers."""

from __future__ import annotations

import re
from typing import Any

import psycopg

from . import _redact
from .types import RunStatus


class PgflowError(Exception):
    """Base class of every error pgflow raises. ``sqlstate`` and ``detail`` come from the engine."""

    sqlstate: str | None = None

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class InvalidDefinition(PgflowError):
    """PF001: a bad slug, option, type or mode, a duplicate step, a map step with more than one dependency."""

    sqlstate = "PF001"


class UnknownDependency(PgflowError):
    """PF002: dependencies naming steps that do not exist (the message lists all of them)."""

    sqlstate = "PF002"


class CycleDetected(PgflowError):
    """PF003: the steps' dependencies form a cycle (the message shows its path)."""

    sqlstate = "PF003"


class FlowNotFound(PgflowError):
    """PF004: no flow has this slug."""

    sqlstate = "PF004"


class InvalidInput(PgflowError, ValueError):
    """PF005: an input or argument does not fit (a root map step given a non-array, a run input that is not
    storable JSON, a negative duration...). The message names the argument. Also a ``ValueError``, so that
    either ``except`` catches it."""

    sqlstate = "PF005"


class RunNotFound(PgflowError):
    """PF006: no run has this id."""

    sqlstate = "PF006"


class TaskNotFound(PgflowError):
    """PF007: no task has this run, step and index."""

    sqlstate = "PF007"


class InvalidState(PgflowError):
    """PF008: the run or flow is not in a state that allows this operation."""

    sqlstate = "PF008"


class RunFailed(PgflowError):
    """A run ended with status failed; ``error`` is the engine's message, naming the step."""

    def __init__(self, run_id: Any, error: str | None, status: RunStatus | None = None) -> None:
        super().__init__(f"run {run_id} failed: {error}")
        self.run_id = run_id
        self.error = error
        self.status = status


class RunCancelled(PgflowError):
    """A run ended with status cancelled; ``reason`` is what cancel_run was given."""

    def __init__(self, run_id: Any, reason: str | None, status: RunStatus | None = None) -> None:
        super().__init__(f"run {run_id} was cancelled" + (f": {reason}" if reason else ""))
        self.run_id = run_id
        self.reason = reason
        self.status = status


class SchemaNotInstalled(PgflowError):
    """The database has no pgflow schema, or not the version this package speaks (an older one lacks the
    function or table asked for): run ``pgflow migrate`` (or ``pgflow.migrate(conninfo)``) to install or
    upgrade it; a newer schema needs a newer package. The message says which, in one line."""


class DatabaseUnreachable(PgflowError):
    """A worker could not connect to its database when it started: no server answered within its
    ``startup_timeout`` (a closed port, an unknown host), or the server refused the connection (a wrong password,
    a database or role that does not exist). The message is one line, without any password."""


class PermissionDenied(PgflowError):
    """42501: the connected role may not do this (call a function, read a table, use the schema). The message
    is one line: PostgreSQL's text, the connected role (``role``, None when unknown), the pgflow role that
    grants it (``granted_by``: the names of ``pgflow_worker``, ``pgflow_producer``, ``pgflow_reader`` that do,
    empty when only the schema's owner may) and a pointer to docs/security.md. A worker whose role may not
    call every function it needs fails its start-up with it too (the message names the missing functions)."""

    sqlstate = "42501"

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        role: str | None = None,
        granted_by: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, detail=detail)
        self.role = role
        self.granted_by = granted_by


class NonRetryableError(Exception):
    """Raised by a handler (or a subclass of it) to fail its task at once, without retry, whatever
    attempts it has left: the worker reports it with ``pgflow.fail_task(..., retry => false)`` and the step's
    ``when_exhausted`` applies. The error recorded is ``"<class name>: <message>"``, as for any exception."""


ERRORS_BY_SQLSTATE: dict[str, type[PgflowError]] = {
    cls.sqlstate: cls
    for cls in (
        InvalidDefinition,
        UnknownDependency,
        CycleDetected,
        FlowNotFound,
        InvalidInput,
        RunNotFound,
        TaskNotFound,
        InvalidState,
    )
    if cls.sqlstate
}


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (psycopg's carry the server's DETAIL and HINT after it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


#: SQLSTATEs of a connection that went away: class 08 (connection exception) and the server shutting the
#: session down (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now)
_CONNECTION_LOST_STATES = frozenset({"57P01", "57P02", "57P03"})
#: SQLSTATE classes of a server that could not do it now (53 insufficient resources, 55 object not in
#: prerequisite state, 57 operator intervention such as a statement timeout, 58 system error): the same
#: statement may pass later, or may be refused again for what it holds (a batch too large to finish within
#: statement_timeout is refused every time)
_NOT_NOW_CLASSES = frozenset({"53", "55", "57", "58"})


def is_connection_lost(error: psycopg.Error) -> bool:
    """Whether ``error`` says the connection went away (class 08, 57P01-57P03, or a psycopg error about the
    connection that carries no SQLSTATE): the statement was not refused, and may be sent again unchanged on a
    new connection."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is None:
        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
    return sqlstate[:2] == "08" or sqlstate in _CONNECTION_LOST_STATES


def is_transient(error: psycopg.Error) -> bool:
    """Whether a statement that raised ``error`` may succeed if sent again unchanged, because nothing was
    said against it: the connection was lost (``is_connection_lost``) or the transaction lost a race
    (class 40: serialization failure, deadlock). Anything else — bad data, a value over a limit, an engine
    error, a statement cancelled by statement_timeout (57014) — is about the statement, or may be, and
    sending it again unchanged may fail the same way forever."""
    sqlstate = getattr(error, "sqlstate", None)
    return is_connection_lost(error) or (sqlstate is not None and sqlstate[:2] == "40")


def may_pass_later(error: psycopg.Error) -> bool:
    """Whether waiting and sending the same statement again is worth it for a statement that only reads or
    registers (a poll, a heartbeat, a flow's definition): ``is_transient``, or a server that could not do
    it now (SQLSTATE classes 53, 55, 57, 58)."""
    sqlstate = getattr(error, "sqlstate", None)
    return is_transient(error) or (sqlstate is not None and sqlstate[:2] in _NOT_NOW_CLASSES)


#: what PostgreSQL says of a missing pgflow schema (3F000), function (42883) or table (42P01)
_MISSING_OBJECT = re.compile(
    r'^(?:schema "pgflow" does not exist'
    r"|function pgflow\.\S.* does not exist"
    r'|relation "pgflow\.[^"]*" does not exist)'
)


def schema_not_installed(error: BaseException) -> SchemaNotInstalled | None:
    """A ``SchemaNotInstalled`` naming ``pgflow migrate`` when ``error`` is PostgreSQL saying the pgflow
    schema does not exist (SQLSTATE 3F000), or that a ``pgflow.`` function (42883) or table (42P01) does not
    (a schema older than this package); None for any other error."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate not in ("3F000", "42883", "42P01"):
        return None
    diag = getattr(error, "diag", None)
    message = (getattr(diag, "message_primary", None) or first_line(error)).strip()
    if not _MISSING_OBJECT.match(message):
        return None
    if sqlstate == "3F000":
        return SchemaNotInstalled(
            "the pgflow schema is not installed in this database: run `pgflow migrate` "
            "(or pgflow.migrate(conninfo)) first"
        )
    return SchemaNotInstalled(
        f"the pgflow schema of this database is missing or older than this package ({message}): "
        "run `pgflow migrate` (or pgflow.migrate(conninfo)) to install or upgrade it"
    )


WORKER_ROLE, PRODUCER_ROLE, READER_ROLE = "pgflow_worker", "pgflow_producer", "pgflow_reader"

#: Which of the three roles may execute each public function of schema pgflow (sql/095_privileges.sql, the
#: table of docs/security.md); a function named here with no role is the owner's alone. tests_py/test_roles.py
#: compares it with the catalog of an installed database, so that it cannot drift.
FUNCTION_GRANTS: dict[str, tuple[str, ...]] = {
    "define_flow": (WORKER_ROLE,),
    "poll_for_tasks": (WORKER_ROLE,),
    "poll_for_tasks_lean": (WORKER_ROLE,),
    "heartbeat": (WORKER_ROLE,),
    "stop_worker": (WORKER_ROLE,),
    "complete_task": (WORKER_ROLE,),
    "complete_tasks": (WORKER_ROLE,),
    "fail_task": (WORKER_ROLE,),
    "get_run_input": (WORKER_ROLE,),
    "worker_timeout": (WORKER_ROLE, READER_ROLE),
    "start_run": (PRODUCER_ROLE,),
    "start_flow": (PRODUCER_ROLE,),
    "cancel_run": (PRODUCER_ROLE,),
    "resume_run": (PRODUCER_ROLE,),
    "signal": (PRODUCER_ROLE,),
    "find_run": (PRODUCER_ROLE, READER_ROLE),
    "get_run_status": (PRODUCER_ROLE, READER_ROLE),
    "list_runs": (PRODUCER_ROLE, READER_ROLE),
    "describe_flow": (PRODUCER_ROLE, READER_ROLE),
    "find_flow_versions": (WORKER_ROLE, PRODUCER_ROLE, READER_ROLE),
    "get_step_outputs": (PRODUCER_ROLE, READER_ROLE),
    "get_task_input": (PRODUCER_ROLE, READER_ROLE),
    "list_flow_versions": (PRODUCER_ROLE, READER_ROLE),
    "live_workers": (PRODUCER_ROLE, READER_ROLE),
    "max_output_size": (WORKER_ROLE, PRODUCER_ROLE, READER_ROLE),
    "schema_version": (WORKER_ROLE, PRODUCER_ROLE, READER_ROLE),
    "create_schedule": (WORKER_ROLE, PRODUCER_ROLE),
    "drop_schedule": (PRODUCER_ROLE,),
    "next_cron_tick": (WORKER_ROLE, PRODUCER_ROLE, READER_ROLE),
    "create_flow": (),
    "add_step": (),
    "set_current_version": (),
    "prune_runs": (),
    "expire_tasks": (),
    "now": (),
}
#: Which of the three roles may read each table of schema pgflow with SELECT (all of its columns: the worker's
#: few columns of step_tasks and runs are not counted, since a refusal there is about the other columns).
TABLE_GRANTS: dict[str, tuple[str, ...]] = dict.fromkeys(
    (
        "flows",
        "steps",
        "deps",
        "runs",
        "step_states",
        "step_tasks",
        "workers",
        "server_starts",
        "schema_migrations",
        "flow_buckets",
        "schedules",
    ),
    (READER_ROLE,),
)
TABLE_GRANTS["locks"] = ()
TABLE_GRANTS["schedules"] = (PRODUCER_ROLE, READER_ROLE)

SECURITY_DOC = "docs/security.md"

_DENIED = re.compile(
    r"^permission denied for (?P<kind>function|procedure|table|relation|schema|sequence) (?P<name>\S+)"
)


def permission_denied(error: BaseException, role: str | None = None) -> PermissionDenied:
    """A ``PermissionDenied`` for PostgreSQL's 42501 ``error``: its first line, the connected ``role`` and, for
    a function or table of schema pgflow (or the schema itself), which pgflow role grants it and how
    (``grant pgflow_producer to <role>``), then docs/security.md. Nothing in it is a password (redacted)."""
    diag = getattr(error, "diag", None)
    message = (getattr(diag, "message_primary", None) or first_line(error)).strip()
    who = f"role {role}" if role else "the connected role"
    grantee = role or "<role>"
    granted_by: tuple[str, ...] = ()
    match = _DENIED.match(message)
    hint = ""
    if match:
        kind, name = match.group("kind"), match.group("name").strip('"').removeprefix("pgflow.")
        if kind == "schema" and name == "pgflow":
            granted_by = (WORKER_ROLE, PRODUCER_ROLE, READER_ROLE)
            hint = (
                "; a role may use schema pgflow through one of pgflow_worker, pgflow_producer, pgflow_reader, "
                f"e.g. grant pgflow_producer to {grantee}"
            )
        else:
            grants = FUNCTION_GRANTS if kind in ("function", "procedure") else TABLE_GRANTS
            if name in grants:
                granted_by = grants[name]
                if granted_by:
                    what = " or ".join(granted_by)
                    hint = f"; {what} grants it: grant {granted_by[0]} to {grantee}"
                else:
                    hint = (
                        "; only the owner of schema pgflow may (none of pgflow_worker, pgflow_producer, pgflow_reader)"
                    )
    detail = getattr(diag, "message_detail", None)
    text = f"{message} (connected as {who}{hint}; see {SECURITY_DOC})"
    return PermissionDenied(
        _redact.redact(text), detail=_redact.redact(detail) if detail else None, role=role, granted_by=granted_by
    )


def translate(error: psycopg.Error, role: str | None = None) -> Exception:
    """The PgflowError subclass for an engine error (its message and detail redacted), ``PermissionDenied``
    for a missing privilege (SQLSTATE 42501; ``role``: the connected role, named in its message),
    ``SchemaNotInstalled`` for a missing or older pgflow schema, or the psycopg error for anything else:
    itself, or when its text holds a password, a copy of the same class with the text redacted and nothing
    attached."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate == PermissionDenied.sqlstate:
        return permission_denied(error, role)
    cls = ERRORS_BY_SQLSTATE.get(sqlstate or "")
    if cls is None:
        return schema_not_installed(error) or redacted(error)
    diag = error.diag
    detail = diag.message_detail
    return cls(_redact.redact(diag.message_primary or str(error)), detail=_redact.redact(detail) if detail else detail)


def connected_role(conn: Any) -> str | None:
    """The role ``conn`` (a psycopg connection) logged in as, read from the connection without a query; None
    when it cannot be read (a closed connection)."""
    try:
        return str(conn.info.user) or None
    except Exception:  # closed, or not a connection
        return None


def redacted(error: psycopg.Error) -> psycopg.Error:
    """``error`` itself when its text holds no password, else a new error of the same class whose text is
    redacted (its diagnostics are not copied)."""
    message = str(error)
    safe = _redact.redact(message)
    if safe == message:
        return error
    return type(error)(safe)


def safe_cause(error: psycopg.Error) -> psycopg.Error | None:
    """``error``, to attach as the cause of the exception raised in its place, unless its text holds a
    password (None then: no traceback shows it)."""
    return error if redacted(error) is error else None
