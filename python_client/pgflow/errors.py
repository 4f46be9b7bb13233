"""Exceptions: one class per SQLSTATE the engine raises, the outcomes of waiting for a run, and
``NonRetryableError`` for handlers."""

from __future__ import annotations

from typing import Any

import psycopg


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

    def __init__(self, run_id: Any, error: str | None, status: dict[str, Any] | None = None) -> None:
        super().__init__(f"run {run_id} failed: {error}")
        self.run_id = run_id
        self.error = error
        self.status = status


class RunCancelled(PgflowError):
    """A run ended with status cancelled; ``reason`` is what cancel_run was given."""

    def __init__(self, run_id: Any, reason: str | None, status: dict[str, Any] | None = None) -> None:
        super().__init__(f"run {run_id} was cancelled" + (f": {reason}" if reason else ""))
        self.run_id = run_id
        self.reason = reason
        self.status = status


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


#: SQLSTATE classes of errors that say nothing against the statement itself: the connection went away (08),
#: the transaction lost a race (40), the server ran short of resources (53), an object was busy (55), an
#: operator or a timeout intervened (57), the system failed (58). Sent again unchanged, it may succeed.
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "55", "57", "58"})


def is_transient(error: psycopg.Error) -> bool:
    """Whether a statement that raised ``error`` may succeed if sent again unchanged (a lost connection, a
    deadlock, a server short of memory...), as opposed to being refused for what it says (bad data, a value
    over a limit, an engine error). psycopg files some of both kinds under OperationalError (54000 "program
    limit exceeded" is one), so the SQLSTATE decides; an error without one is transient when it is about the
    connection."""
    sqlstate = getattr(error, "sqlstate", None)
    if sqlstate is None:
        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))
    return sqlstate[:2] in _TRANSIENT_CLASSES


def translate(error: psycopg.Error) -> Exception:
    """The PgflowError subclass for an engine error, or the psycopg error itself for anything else."""
    sqlstate = getattr(error, "sqlstate", None)
    cls = ERRORS_BY_SQLSTATE.get(sqlstate or "")
    if cls is None:
        return error
    diag = error.diag
    return cls(diag.message_primary or str(error), detail=diag.message_detail)
