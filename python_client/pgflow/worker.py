"""``Worker``: polls ``pgflow.poll_for_tasks``, runs handlers in threads, reports with ``complete_task`` /
``fail_task``.

Threads and connections (each thread owns its connection):
- the caller of ``run()``: the poll loop. It claims only as many tasks as there are free slots, then waits
  for a wake-up (a ``tasks_ready`` notification for one of its flows, a slot freeing up) or the fallback
  poll interval, which also finds delayed retries;
- ``concurrency`` handler threads run the handlers;
- a reporter thread sends their results with the attempt number (so a late result from an attempt that
  timed out is fenced off by the engine): the completions that are ready together in one
  ``pgflow.complete_tasks`` transaction (at most 100 results and ``MAX_BATCH_BYTES`` of outputs; a larger
  output goes alone), failures with ``pgflow.fail_task``. A statement is sent again unchanged only when the
  connection was lost or the transaction lost a race (``errors.is_transient``); anything else the database
  answers — a statement_timeout (57014) included — is a refusal of that statement. A task's slot is freed
  once its result is committed;
- a listener (``LISTEN pgflow``, on ``listen_conninfo`` when given) and a heartbeat thread, so a slow handler
  never delays heartbeats. The listener first proves that notifications reach it (``_conninfo.listener``):
  behind a connection pooler in transaction mode they never do, and the worker polls alone. Each heartbeat
  gives the worker's own timeout and the handlers it runs past their deadline (``pgflow.workers.past_deadline``),
  and reads the status of the runs of the tasks in hand: a run no longer started cancels its handlers even when
  no notification comes (``listen=False``, a connection pooler); the listener hears ``run_finished`` sooner;
- a supervisor thread that fires each task's deadline: ``ctx.cancelled`` is set, an async handler is cancelled,
  the task is logged once as past its deadline; a thread-isolated sync handler then no longer counts against
  ``concurrency`` (a new handler thread takes its place, up to ``max_lingering`` such threads); a
  process-isolated one is killed ``KILL_GRACE`` seconds later (as after its run's cancellation);
- with async handlers, one event-loop thread (thread isolation); with ``isolation="process"``, a pebble
  ProcessPool of ``concurrency`` child processes (``_child``), which the handler threads only feed.
Start-up (``_start_up``): the database must answer, with the pgflow schema of this package's version, within
``startup_timeout`` seconds, or ``run()`` raises ``DatabaseUnreachable`` / ``SchemaNotInstalled``.
Every connection reconnects with backoff when the database goes away; nothing in hand is dropped. Claims and
reports always commit durably (``synchronous_commit`` as the server has it): an attempt number handed out,
or a completion the worker was told is recorded, survives a crash of the database server.

What a handler gets: a task's input, and its run's input (``ctx.flow_input``), are read as JSON text from the
database and decoded in the handler's thread, task by task, so that one input Python cannot read (an integer
of more than 4,300 digits, say) fails only its own task, without retry, with ``input of <flow>.<step> could
not be read: ...``; no poll and no other task is affected. JSON numbers with a fraction or an exponent are read
as Python floats (a double: digits beyond its precision are lost, ``1e400`` is ``inf``); integers as ``int``.

What is reported (SPEC §7):
- a handler's result goes to the database as JSON text checked first (``_storable``): a result PostgreSQL
  cannot store (NaN, ±Infinity, a NUL character, a value json cannot encode, a value whose encoding raises
  any exception) or larger than
  ``pgflow.max_output_size()`` fails its task at once, without retry, with an error that starts
  ``output of <flow>.<step> is not storable JSON:`` and names the value's type and path, or the size;
- a handler raising ``NonRetryableError`` fails its task without retry; any other exception is a failed
  attempt, retried while attempts are left;
- a batch the database refuses as a whole (an error that is not about the connection) is reported again one
  result at a time: each result it still refuses fails its own task, without retry, with the database's
  message; every other result is recorded. So one slow or refused report never holds the others back;
- error texts never hold a NUL character (written ``\x00``), a lone surrogate or a password, and are cut at
  ``MAX_ERROR_SIZE`` bytes; log lines likewise, at ``_redact.MAX_LOG_SIZE`` bytes per message.
Every log line about a task names its run, flow, step, task index and attempt, in the message and as the
record's fields ``run_id``, ``flow_slug``, ``step_slug``, ``task_index`` and ``attempt``. When the engine
does not record a report (it returned false), the worker reads the task's and its run's current state and
says what it found; it never guesses a reason.
On SIGINT/SIGTERM (or ``stop()``) the worker stops claiming, finishes the tasks in hand within the grace
period, calls ``pgflow.stop_worker`` and returns.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import heapq
import inspect
import json
import logging
import math
import multiprocessing
import os
import pickle
import queue
import random
import re
import selectors
import signal
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import psycopg

from . import _arguments, _child, _conninfo, _redact, _storable
from .context import Context
from .errors import (
    WORKER_ROLE,
    DatabaseUnreachable,
    InvalidInput,
    NonRetryableError,
    PermissionDenied,
    SchemaNotInstalled,
    connected_role,
    first_line,
    is_connection_lost,
    is_transient,
    may_pass_later,
    safe_cause,
    translate,
)
from .flow import Flow
from .typed import StepValidationError

if TYPE_CHECKING:
    from .metrics import WorkerMetrics

log = _redact.get_logger("pgflow.worker")

#: The functions of schema pgflow a worker calls (all of them granted by pgflow_worker), checked at start-up
#: (``Worker._check_privileges``) so that a role that may not call one fails there, not at its first poll.
WORKER_FUNCTIONS: tuple[str, ...] = (
    "poll_for_tasks_lean",
    "heartbeat",
    "complete_task",
    "complete_tasks",
    "fail_task",
    "get_run_input",
    "stop_worker",
    "find_flow_versions",
    "max_output_size",
    "worker_timeout",
    "schema_version",
)
#: ... and those it calls when it defines its flows (``define=True``)
DEFINE_FUNCTIONS: tuple[str, ...] = ("define_flow", "create_schedule")

#: the largest error text sent to the engine, in bytes of UTF-8 (64 KiB); a longer one is cut, and says so
MAX_ERROR_SIZE = 64 * 1024
#: the most bytes of outputs (JSON text, UTF-8) sent in one complete_tasks call (8 MiB); a larger output
#: is sent alone
MAX_BATCH_BYTES = 8 * 1024 * 1024
#: the most results sent in one complete_tasks call
MAX_BATCH_RESULTS = 100
#: how many times in a row a report that lost a race (SQLSTATE class 40) is sent again before it counts as
#: refused (a connection lost is waited out for as long as it takes)
MAX_RACE_RETRIES = 5
#: seconds between two proofs that notifications reach a worker, once one found they do not
LISTEN_PROBE_INTERVAL = 60.0
#: seconds between two looks for a version of a flow defined as in the worker's code, while it has none
VERSION_RECHECK = 5.0
#: ranges of the Worker's duration options, in seconds: (minimum, maximum)
POLL_INTERVAL_RANGE = (0.01, 3600.0)
HEARTBEAT_INTERVAL_RANGE = (0.1, 3600.0)
SHUTDOWN_TIMEOUT_RANGE = (0.0, 86400.0)
#: the worker timeout a worker may register, seconds (pgflow.heartbeat refuses others)
WORKER_TIMEOUT_RANGE = (1.0, 3600.0)
STARTUP_TIMEOUT_RANGE = (1.0, 3600.0)
#: how handlers run: in threads of the worker's process, or in child processes that can be killed
ISOLATIONS = ("thread", "process")
#: the values of Worker(log_format=...)
LOG_FORMATS = ("text", "json")
#: seconds a process-isolated handler may keep running after its deadline, or after its run was cancelled,
#: before its process is killed
KILL_GRACE = 2.0
#: executions of a statement after which psycopg prepares it, on connections proven direct (``_prepare``)
PREPARE_THRESHOLD = 2
#: the most handlers reported past their deadline in one heartbeat (the engine takes at most 1,000)
MAX_PAST_DEADLINE_REPORTED = 1000


@dataclass(frozen=True, slots=True)
class Task:
    """A claimed task, as returned by pgflow.poll_for_tasks: ``input`` is the handler's input decoded from
    JSON (None when it could not be read: that task then fails), ``flow_input`` is None (the worker fetches
    the run input when a handler asks for ``ctx.flow_input``), ``deadline`` a timezone-aware datetime."""

    run_id: uuid.UUID
    flow_slug: str
    step_slug: str
    task_index: int
    attempt: int
    input: Any
    flow_input: Any
    deadline: Any

    def describe(self) -> str:
        """``attempt 2 of run <uuid>, flow f, step s, task 0``: how log lines name the task."""
        return (
            f"attempt {self.attempt} of run {self.run_id}, flow {self.flow_slug}, step {self.step_slug}, "
            f"task {self.task_index}"
        )

    def log_fields(self) -> dict[str, Any]:
        """The task as structured fields of a log record (``extra=``)."""
        return {
            "run_id": str(self.run_id),
            "flow_slug": self.flow_slug,
            "step_slug": self.step_slug,
            "task_index": self.task_index,
            "attempt": self.attempt,
        }


@dataclass(eq=False, slots=True)
class _Running:
    """What the worker knows of a task in hand, from its claim to its report. Guarded by the worker's
    ``_in_flight_changed`` lock.

    ``deadline``: the attempt's deadline on this process's monotonic clock. ``counted``: whether the task still
    counts against ``concurrency`` (it stops at its report, or, for a thread-isolated handler, at its deadline).
    ``finished``: its handler has ended (its result is on the way). ``cancel_reason``: why ``cancelled`` was set,
    which names the error of a handler ended by it. ``busy_thread``: a handler thread is in the handler now (a
    sync handler, or the sync start of an async one); ``abandoned``: that thread was left to finish on its own
    at the deadline, and a new handler thread took its place. ``async_task`` (thread isolation) and ``future``
    (process isolation): where an ``async def`` handler, or a child process's call, runs. ``flag``: the task's
    cancellation byte in the children's shared memory (process isolation)."""

    task: Task
    deadline: float
    #: the handler's ctx.cancelled: made only for a handler that takes a context (nothing else reads it)
    cancelled: threading.Event | None = None
    counted: bool = True
    finished: bool = False
    past_deadline: bool = False
    cancel_reason: str | None = None
    busy_thread: bool = False
    abandoned: bool = False
    async_task: asyncio.Task[Any] | None = None
    future: Any = None
    flag: int | None = None
    kill_reason: str | None = None
    #: when its handler was called, on the monotonic clock (0: not yet)
    started: float = 0.0


@dataclass(frozen=True, slots=True)
class _Claim:
    """A task as the poll returned it, its input still JSON text (decoded by the handler thread)."""

    task: Task
    input_text: str | None
    running: _Running | None = None


@dataclass(frozen=True, slots=True)
class _Result:
    """What a handler produced for a task: its output as JSON text, or an error (retried or not). ``size``:
    the bytes of UTF-8 the output or error takes (what batches are capped by)."""

    task: Task
    output: str | None = None
    error: str | None = None
    retry: bool = True
    size: int = 0
    #: why it failed, as metrics count it (pgflow.metrics.FAILURE_REASONS); None with an output
    reason: str | None = None
    #: when the handler ended, on the monotonic clock (set by _finish)
    finished: float = 0.0


class _Unreadable(Exception):
    """A task's input, or its run's input, could not be decoded from JSON."""


class _Refused(Exception):
    """The database answered a report with an error about the report itself (not about the connection)."""

    def __init__(self, error: psycopg.Error) -> None:
        super().__init__(str(error))
        self.error = error

    def describe(self) -> str:
        """The database's message (first line) and its SQLSTATE."""
        return describe_error(self.error)


def describe_error(error: psycopg.Error) -> str:
    """An error's first line and its SQLSTATE: ``canceling statement due to statement timeout (SQLSTATE
    57014)``."""
    sqlstate = getattr(error, "sqlstate", None)
    return first_line(error) + (f" (SQLSTATE {sqlstate})" if sqlstate else "")


class _GaveUp(Exception):
    """A statement could not be sent before the end of the shutdown's grace period; the message is the last
    error it got."""


def backoff(failures: int, cap: float = 5.0) -> float:
    """Seconds to wait after the n-th consecutive failure: exponential from 0.1 s, capped, with jitter."""
    return min(cap, 0.1 * 2.0 ** max(failures - 1, 0)) * random.uniform(0.5, 1.0)


def storable_error(text: str) -> str:
    """An error text the engine can store and a reader can show: passwords redacted, NUL characters written
    ``\\x00``, lone surrogates escaped (``\\udc80``), and at most ``MAX_ERROR_SIZE`` bytes of UTF-8 (a longer
    text is cut and ends with ``[... truncated: N bytes in all]``)."""
    return _redact.safe_text(text, MAX_ERROR_SIZE)


def decode_json(text: str | None) -> Any:
    """JSON text from the database as Python: objects as dicts, arrays as lists, integers as ints, numbers
    with a fraction or an exponent as floats (a double: digits beyond its precision are lost). None for
    None. Raises ``_Unreadable`` with the reason when Python cannot hold the value (an integer of more than
    4,300 digits, nesting deeper than the interpreter's recursion limit...)."""
    if text is None:
        return None
    try:
        # orjson reads an integer of more than 64 bits as a float, and refuses some texts json reads (1e400, a
        # lone surrogate): those go to json, which reads them as documented above
        if len(text) < _FAST_JSON_MAX and not _LONG_DIGITS.search(text):
            try:
                return orjson.loads(text)
            except orjson.JSONDecodeError:
                pass
        return json.loads(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise _Unreadable(f"{type(exc).__name__}: {first_line_of(str(exc))}") from None


def describe_exception(exc: BaseException) -> str:
    """``"<class name>: <message>"``, the error recorded for a handler's exception (whatever its __str__ does)."""
    try:
        message = str(exc)
    except Exception as broken:  # an exception whose __str__ raises still fails its task
        message = f"<the message could not be read: {type(broken).__name__}>"
    return f"{type(exc).__name__}: {message}"


#: texts decoded by orjson (when no run of 19 digits or more is in them): shorter than this; orjson's own
#: nesting limit (1024) is far below what json reads, so a deep text goes to json, which raises RecursionError
_FAST_JSON_MAX = 1 << 20
_LONG_DIGITS = re.compile(r"[0-9]{19}")
#: types a handler's result is never awaitable of (inspect.isawaitable is slow on a hot path)
_PLAIN_RESULTS = frozenset({type(None), bool, int, float, str, dict, list, tuple})


def stale_prepared(exc: BaseException) -> bool:
    """Whether an error is about a prepared statement rather than the statement: it no longer exists (26000),
    or the schema changed the type of its result (0A000, "cached plan must not change result type")."""
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate == "26000" or (sqlstate == "0A000" and "cached plan" in str(exc))


def pg_text_array(items: Iterable[str]) -> str:
    """A PostgreSQL array literal of texts (each quoted, backslashes and quotes escaped): sent as one text
    parameter and cast (``%s::text[]``), which costs psycopg one dump instead of one per element."""
    return "{" + ",".join(['"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in items]) + "}"


def pg_plain_array(items: Iterable[Any]) -> str:
    """A PostgreSQL array literal of values whose text needs no quoting (ints, UUIDs)."""
    return "{" + ",".join(map(str, items)) + "}"


class Worker:
    """Runs the handlers of some flows for as long as ``run()`` lasts.

    ``conninfo``: a libpq connection string or URL (default ``DATABASE_URL``, then libpq's defaults).
    ``flows``: a Flow or Flows with distinct slugs. ``concurrency``: handlers run at once (int ≥ 1).
    ``worker_id``: at most 255 characters (default host-pid-random). ``poll_interval``: seconds between
    fallback polls, 0.01 s to 1 h. ``heartbeat_interval``: seconds between heartbeats, 0.1 s to 1 h (the
    worker beats at least three times per its worker timeout whatever it says). ``worker_timeout``: seconds,
    1 s to 1 h, that the worker may go without polling or beating before its started tasks count as failed;
    it is registered with every heartbeat (default None: the session setting ``pgflow.worker_timeout`` of
    its first connection, else 30 s; behind a transaction pooler, which refuses ``options``, give it here).
    ``shutdown_timeout``: the grace period on stop, 0 s to 1 day. ``define``:
    define the flows when starting (a definition equal to an existing version is that version, and does not
    change which version is current). Either way the worker claims only tasks of the flow versions defined
    exactly as in its code (``pgflow.find_flow_versions``), so workers of two code versions run side by side.
    ``listen``: wake on notifications (else poll only). ``listen_conninfo``: a direct connection (not through
    a transaction pooler) used only for LISTEN (default ``PGFLOW_LISTEN_URL``, else ``conninfo``); when
    notifications cannot reach the worker, it polls every ``poll_interval`` and polls again at once whenever
    a slot frees up; the runs of the tasks in hand are still checked at each heartbeat, so cancellations
    reach handlers. ``on_report``: called with each task and whether its report was recorded.
    ``isolation``: ``"thread"`` (default) runs handlers in
    threads of this process; ``"process"`` in child processes (a pebble ProcessPool of ``concurrency``
    processes, started with ``spawn``), so that a handler still running ``KILL_GRACE`` (2 s) after its deadline
    or its run's cancellation is killed; its handlers must be picklable (functions defined at the top level
    of a module), and so must what they return. ``startup_timeout``: seconds, 1 to 3600, within which
    ``run()`` must reach the database and find the pgflow schema of this package's version, else it raises.
    Bad options raise ``InvalidInput`` (a ValueError) before anything connects.

    Time and cancellation (docs/workers.md): each handler's ``ctx.cancelled`` is set at its attempt's deadline,
    when its run is cancelled or fails, and when the worker shuts down past its grace period; ``async def``
    handlers run on one event loop per worker and are cancelled then (``asyncio.CancelledError``). A thread
    cannot be killed: a sync handler past its deadline keeps its thread, but no longer counts against
    ``concurrency`` (a new handler thread takes its place), up to ``max_lingering`` (default ``concurrency``; an
    attribute that may be lowered before ``run()``) such threads at once; beyond that it keeps its slot until it
    returns. Each handler past its deadline is logged once (ERROR) and listed
    in ``pgflow.workers.past_deadline`` by the heartbeats while it runs (``pgflow workers`` shows them).

    Observability (docs/workers.md): ``metrics_port`` (0 to 65535; 0: a port the system picks, then written
    back to ``worker.metrics_port``) serves Prometheus metrics (``pgflow.metrics``, needs ``pgflow[metrics]``) on
    ``metrics_host`` (default 127.0.0.1) while ``run()`` lasts. ``log_format``: ``"text"`` (default: records go
    to the logging configuration as they are) or ``"json"``: ``run()`` also writes the ``pgflow`` loggers'
    records to stderr as one JSON object per line (``pgflow.logs``). Every record about a task carries
    ``run_id``, ``flow_slug``, ``step_slug``, ``task_index`` and ``attempt`` as record attributes.
    """

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
        listen_conninfo: str | None = None,
        isolation: str = "thread",
        startup_timeout: float = 15.0,
        worker_timeout: float | None = None,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        log_format: str = "text",
    ) -> None:
        if conninfo is not None and not isinstance(conninfo, str):
            raise InvalidInput(f"conninfo must be a connection string or None, got {type(conninfo).__name__}")
        problem = _conninfo.check(conninfo)
        if problem is not None:
            raise InvalidInput(f"conninfo is not a valid connection string: {problem}")
        self.listen_conninfo = _arguments.listen_conninfo(listen_conninfo)
        if isinstance(flows, Flow):
            flow_list = [flows]
        elif isinstance(flows, Iterable) and not isinstance(flows, (str, bytes)):
            flow_list = list(flows)
        else:
            raise InvalidInput(f"flows must be a Flow or Flows, got {type(flows).__name__}")
        if not flow_list:
            raise InvalidInput("a Worker needs at least one flow")
        for flow in flow_list:
            if not isinstance(flow, Flow):
                raise InvalidInput(f"flows must hold pgflow.Flow objects, got {type(flow).__name__}")
        # the child flows of sub-flow steps are served too (defined first), without being listed
        flow_list = [each for flow in flow_list for each in flow.with_children()]
        by_slug: dict[str, Flow] = {}
        for flow in flow_list:
            if by_slug.get(flow.slug, flow) is not flow:
                raise InvalidInput(f"flows holds two different flows with the slug {flow.slug!r}")
            by_slug[flow.slug] = flow
            _arguments.definition(flow)  # InvalidDefinition now for a definition that cannot be stored
        self.conninfo = conninfo
        self.flows = by_slug
        self.concurrency = _arguments.integer("concurrency", concurrency, minimum=1, maximum=10_000)
        if worker_id is None:
            worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        _arguments.text("worker_id", worker_id, max_length=_arguments.MAX_TEXT)
        self.worker_id: str = worker_id
        self.poll_interval = _arguments.number(
            "poll_interval",
            poll_interval,
            minimum=POLL_INTERVAL_RANGE[0],
            maximum=POLL_INTERVAL_RANGE[1],
            inclusive=True,
        )
        self.heartbeat_interval = _arguments.number(
            "heartbeat_interval",
            heartbeat_interval,
            minimum=HEARTBEAT_INTERVAL_RANGE[0],
            maximum=HEARTBEAT_INTERVAL_RANGE[1],
            inclusive=True,
        )
        self.shutdown_timeout = _arguments.number(
            "shutdown_timeout",
            shutdown_timeout,
            minimum=SHUTDOWN_TIMEOUT_RANGE[0],
            maximum=SHUTDOWN_TIMEOUT_RANGE[1],
            inclusive=True,
        )
        #: seconds; None until run() reads the session's pgflow.worker_timeout
        self.worker_timeout: float | None = (
            None
            if worker_timeout is None
            else _arguments.number(
                "worker_timeout",
                worker_timeout,
                minimum=WORKER_TIMEOUT_RANGE[0],
                maximum=WORKER_TIMEOUT_RANGE[1],
                inclusive=True,
            )
        )
        if on_report is not None and not callable(on_report):
            raise InvalidInput(f"on_report must be callable or None, got {type(on_report).__name__}")
        if isolation not in ISOLATIONS:
            shown = _redact.safe_text(repr(isolation), 200)
            raise InvalidInput(f"isolation must be 'thread' or 'process', got {shown}")
        if isolation == "process":
            for flow in by_slug.values():
                for step in flow.steps:
                    if step.handler is not None:
                        _check_picklable(flow, step)
        #: "thread" or "process"
        self.isolation = isolation
        self.startup_timeout = _arguments.number(
            "startup_timeout",
            startup_timeout,
            minimum=STARTUP_TIMEOUT_RANGE[0],
            maximum=STARTUP_TIMEOUT_RANGE[1],
            inclusive=True,
        )
        #: the most sync handlers left running past their deadline in threads of their own at once (thread
        #: isolation); beyond it a handler past its deadline keeps its slot until it returns
        self.max_lingering = self.concurrency
        #: (flow slug, step slug) -> (step, whether its handler takes a context): read for every task, and
        #: Step.takes_context inspects the handler's signature. Steps without a handler (wait and sub-flow steps)
        #: are not in it: the engine never gives their tasks to a worker
        self._steps: dict[tuple[str, str], tuple[Any, bool]] = {
            (flow.slug, step.slug): (step, step.takes_context)
            for flow in by_slug.values()
            for step in flow.steps
            # (steps without a handler, such as sub-flow steps, are run by the engine: no task of theirs is polled)
            if step.handler is not None
        }
        self.define = bool(define)
        self.listen = bool(listen)
        #: called after each report is committed, with the task and whether the engine recorded it
        #: (metrics, tracing); it runs on the reporting thread and must be quick
        self.on_report = on_report
        #: Prometheus metrics (pgflow.metrics), served on metrics_host:metrics_port while run() lasts; None
        #: without a port. metrics_port becomes the port bound once serving (0: one the system picks)
        self.metrics_port = (
            None if metrics_port is None else _arguments.integer("metrics_port", metrics_port, minimum=0, maximum=65535)
        )
        _arguments.text("metrics_host", metrics_host, max_length=255)
        self.metrics_host = metrics_host
        self._metrics: WorkerMetrics | None = None
        if self.metrics_port is not None:
            from .metrics import WorkerMetrics

            self._metrics = WorkerMetrics(lambda: self._in_flight)
        if log_format not in LOG_FORMATS:
            shown = _redact.safe_text(repr(log_format), 200)
            raise InvalidInput(f"log_format must be 'text' or 'json', got {shown}")
        #: "text": log records as the logging configuration says; "json": run() also writes them to stderr as
        #: one JSON object per line (pgflow.logs)
        self.log_format = log_format

        self._stopping = threading.Event()  # stop claiming
        self._finished = threading.Event()  # everything in hand is done: stop the helper threads
        self._wake = threading.Event()
        self._in_flight = 0
        self._claiming = 0  # slots reserved by a claim under way (_reserve)
        self._flow_slugs_array = pg_text_array(sorted(by_slug))
        self._lock = threading.RLock()
        self._in_flight_changed = threading.Condition(self._lock)
        self._queue: queue.SimpleQueue[_Claim | None] = queue.SimpleQueue()
        self._results: queue.SimpleQueue[_Result | None] = queue.SimpleQueue()
        self._inputs: OrderedDict[uuid.UUID, Any] = OrderedDict()
        self._inputs_lock = threading.Lock()
        self._lookup_conn: list[psycopg.Connection[Any] | None] = [None]
        self._threads: list[threading.Thread] = []
        self._poll_conn: psycopg.Connection[Any] | None = None
        self._report_deadline: float | None = None
        #: pgflow.max_output_size(), read once before the first claim (None: no limit known)
        self._max_output_size: int | None = None
        self._limits_read = False
        #: flow slug -> the versions whose definitions equal this worker's code (the only ones it claims)
        self._flow_versions: dict[str, list[int]] = {}
        #: the tasks in hand by (run_id, step_slug, task_index, attempt); guarded by _in_flight_changed
        self._running: dict[tuple[Any, ...], _Running] = {}
        self._lingering = 0  # sync handlers left running past their deadline (thread isolation)
        self._timers: list[tuple[float, int, str, _Running]] = []  # (when, seq, action, task): a heap
        self._timer_seq = 0
        self._timers_changed = threading.Condition(self._lock)
        self._loop: asyncio.AbstractEventLoop | None = None  # the event loop of async handlers (thread isolation)
        self._pool: Any = None  # pebble.ProcessPool (process isolation)
        self._flags: Any = None  # the children's cancellation bytes (process isolation)
        self._free_flags: list[int] = []
        self._started = False  # the start-up checks passed
        self._aborting = False  # a second signal: return at once
        self._role: str | None = None  # the connected role (current_user), read at start-up
        self._worker_timeout = 30.0  # seconds, read from the session when the heartbeat connects
        self._can_read_runs = True
        #: the listener proved that conninfo's connections are direct: statements may be prepared
        self._direct = False

    # ------------------------------------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop claiming; ``run()`` returns once the tasks in hand are finished (or the grace period ends)."""
        self._stopping.set()
        self._wake.set()

    @property
    def in_flight(self) -> int:
        """Tasks claimed and not yet reported that count against ``concurrency`` (a thread-isolated handler left
        running past its deadline no longer does)."""
        return self._in_flight

    def run(self) -> None:
        """Work until ``stop()``, SIGINT or SIGTERM. First checks, within ``startup_timeout`` seconds, that the
        database answers and has the pgflow schema of this package's version: raises ``DatabaseUnreachable``
        (no server answered in time, or it refused the connection) or ``SchemaNotInstalled`` (no schema, or
        another version), each with a one-line message. Then raises the engine's error (a PgflowError) when a
        flow's definition is refused, or a psycopg error the database answers a poll with that is not about the
        connection; connection losses after the start are waited out. A second SIGINT raises
        KeyboardInterrupt at once (a second SIGTERM: SystemExit(143)), without waiting for anything."""
        restore = self._install_signal_handlers()
        restore_logs = self._json_logs() if self.log_format == "json" else (lambda: None)
        try:
            self._start_up()
            if self._stopping.is_set():
                return
            self._started = True
            if self._metrics is not None and self.metrics_port is not None:
                self.metrics_port = self._metrics.serve(self.metrics_port, self.metrics_host)
                log.info(
                    "worker %s serves metrics on http://%s:%d/metrics",
                    self.worker_id,
                    self.metrics_host,
                    self.metrics_port,
                )
            log.info(
                "worker %s starting: flows %s, concurrency %d, %s isolation",
                self.worker_id,
                sorted(self.flows),
                self.concurrency,
                self.isolation,
            )
            self._start_threads()
            self._define_flows()
            self._poll_loop()
            self._drain()
        finally:
            self._finished.set()
            with self._timers_changed:
                self._timers_changed.notify_all()
            for _ in range(self.concurrency):
                self._queue.put(None)
            self._results.put(None)
            if self._started and not self._aborting:
                self._say_goodbye()
            self._close_poll_conn()
            if self._lookup_conn[0] is not None:
                self._lookup_conn[0].close()
            self._stop_handlers()
            if not self._aborting:
                for thread in self._threads:
                    thread.join(timeout=2.0)
            restore()
            if self._metrics is not None:
                self._metrics.close()
            if self._started:
                log.info("worker %s stopped", self.worker_id)
            restore_logs()

    # ------------------------------------------------------------------------------------------------
    # Start and stop
    # ------------------------------------------------------------------------------------------------
    def _json_logs(self) -> Callable[[], None]:
        """log_format="json": the ``pgflow`` loggers' records go to stderr as JSON lines (pgflow.logs), and not
        to the handlers above it, at INFO unless a level was set on the ``pgflow`` logger; returns what undoes it."""
        from .logs import json_handler

        logger = logging.getLogger("pgflow")
        handler = json_handler(self.worker_id)
        previous = (logger.propagate, logger.level)
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)

        def undo() -> None:
            logger.removeHandler(handler)
            logger.propagate, level = previous
            logger.setLevel(level)

        return undo

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        received: list[int] = []

        def handle(signum: int, _frame: Any) -> None:
            if received:
                # a second signal interrupts at once: nothing more is waited for
                self._aborting = True
                self.stop()
                log.warning(
                    "worker %s: second %s received, exiting at once", self.worker_id, signal.Signals(signum).name
                )
                if signum == signal.SIGINT:
                    raise KeyboardInterrupt
                raise SystemExit(128 + signum)
            received.append(signum)
            log.info("worker %s: %s received, finishing the tasks in hand", self.worker_id, signal.Signals(signum).name)
            self.stop()

        for sig in previous:
            signal.signal(sig, handle)

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _start_up(self) -> None:
        """Reach the database and check its schema, within ``startup_timeout`` seconds (SPEC §8). A connection
        that fails for want of a server (refused, timed out, an unknown host) is tried again with backoff until
        then; one the server refuses (a password, a database or role that does not exist) fails at once.
        Returns early when ``stop()`` is called meanwhile."""
        deadline = time.monotonic() + self.startup_timeout
        failures = 0
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            try:
                # libpq counts connect_timeout in whole seconds, 2 at least
                with _conninfo.connect(
                    self.conninfo, autocommit=True, connect_timeout=max(2, math.ceil(remaining))
                ) as conn:
                    self._role = connected_role(conn)
                    self._check_privileges(conn)
                    self._check_schema(conn)
                    if self.worker_timeout is not None:
                        self._worker_timeout = self.worker_timeout
                    else:
                        row = conn.execute("select extract(epoch from pgflow.worker_timeout())").fetchone()
                        if row and row[0]:
                            self._worker_timeout = float(row[0])
                return
            except psycopg.Error as exc:
                text = first_line(exc)
                if _refused_by_server(text):
                    raise DatabaseUnreachable(_redact.redact(f"the database refused the connection: {text}")) from None
                if not (is_connection_lost(exc) or may_pass_later(exc)):
                    raise translate(exc, self._role) from safe_cause(exc)
                failures += 1
                delay = backoff(failures)
                if time.monotonic() + delay >= deadline:
                    raise DatabaseUnreachable(
                        _redact.redact(f"cannot reach the database within {self.startup_timeout:g} s: {text}")
                    ) from None
                log.debug("starting: connecting failed (%s); retrying in %.1f s", text, delay)
                self._stopping.wait(delay)

    def needed_functions(self) -> tuple[str, ...]:
        """The functions of schema pgflow this worker calls: ``WORKER_FUNCTIONS``, and ``DEFINE_FUNCTIONS`` when
        it defines its flows."""
        return WORKER_FUNCTIONS + (DEFINE_FUNCTIONS if self.define else ())

    def _check_privileges(self, conn: psycopg.Connection[Any]) -> None:
        """PermissionDenied, naming the functions and ``grant pgflow_worker to <role>``, unless the connected
        role (current_user) may use schema pgflow and execute every function of ``needed_functions()`` (any
        overload of each name). Nothing is checked without a schema pgflow, and a function the schema lacks is
        left to ``_check_schema`` (an older schema)."""
        row = conn.execute(
            """
            select current_user::text,
                   n.oid is not null,
                   n.oid is not null and has_schema_privilege(current_user, n.oid, 'usage'),
                   coalesce((
                     select array_agg(f.name order by f.ord)
                     from unnest(%s::text[]) with ordinality as f(name, ord)
                     where exists (select from pg_catalog.pg_proc as p
                                   where p.pronamespace = n.oid and p.proname = f.name)
                       and not exists (select from pg_catalog.pg_proc as p
                                       where p.pronamespace = n.oid and p.proname = f.name
                                         and has_function_privilege(current_user, p.oid, 'execute'))
                   ), '{}')
            from (select 1) as one
            left join pg_catalog.pg_namespace as n on n.nspname = 'pgflow'
            """,
            (list(self.needed_functions()),),
        ).fetchone()
        assert row is not None
        role, installed, usage, missing = row
        self._role = role
        if not installed or (usage and not missing):
            return
        what = (
            ("schema pgflow" + (f" and functions {', '.join(missing)}" if missing else ""))
            if not usage
            else (f"function{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        )
        raise PermissionDenied(
            _redact.redact(
                f"role {role} may not use {what}, which this worker calls: grant pgflow_worker to {role} "
                "(see docs/security.md)"
            ),
            role=role,
            granted_by=(WORKER_ROLE,),
        )

    def _check_schema(self, conn: psycopg.Connection[Any]) -> None:
        """SchemaNotInstalled unless the database has the schema version this package ships."""
        from .migrate import installed_version, shipped_version

        installed = installed_version(conn)
        wanted = shipped_version()
        if installed is None:
            raise SchemaNotInstalled(
                "the pgflow schema is not installed in this database: run `pgflow migrate` (or pgflow.migrate()) first"
            )
        if installed != wanted:
            if _version_key(installed) < _version_key(wanted):
                raise SchemaNotInstalled(
                    f"the database has pgflow schema {installed}, older than this worker's {wanted}: run "
                    "`pgflow migrate` to upgrade it"
                )
            raise SchemaNotInstalled(
                f"the database has pgflow schema {installed}, newer than this worker's {wanted}: upgrade the "
                "pgflow package this worker runs"
            )

    def _start_threads(self) -> None:
        targets: list[tuple[Callable[[], None], str]] = [(self._heartbeat_loop, "heartbeat")]
        if self.listen:
            targets.append((self._listen_loop, "listener"))
        targets.append((self._report_loop, "reporter"))
        targets.append((self._supervise_loop, "supervisor"))
        targets += [(self._handler_loop, f"handler-{i}") for i in range(self.concurrency)]
        if self.isolation == "process":
            self._start_pool()
        for target, name in targets:
            thread = threading.Thread(target=_logged(target, name), name=f"pgflow-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _define_flows(self) -> None:
        """Define each flow (with ``define``) and the schedules it declares, then find the versions whose
        definitions equal this worker's code (pgflow.find_flow_versions): the worker claims tasks of those versions
        only, so a worker of older or newer code never runs a version whose steps it does not have. Errors of the
        engine are raised; a lost connection is retried with backoff."""
        failures = 0
        pending = list(self.flows.values())
        while pending and not self._stopping.is_set():
            flow = pending[0]
            slug, steps, options = _arguments.definition(flow)
            try:
                conn = self._poll_connection()
                if self.define:
                    conn.execute("select pgflow.define_flow(%s, %s::jsonb, %s::jsonb)", (slug, steps, options))
                    for schedule in flow.schedules:
                        schedule_input = _arguments.json_text(
                            f"the input of schedule {schedule.slug}", {} if schedule.input is None else schedule.input
                        )
                        conn.execute(
                            "select pgflow.create_schedule(%s, %s, %s, %s::jsonb, %s)",
                            (schedule.slug, slug, schedule.cron, schedule_input, schedule.timezone),
                        )
                self._find_versions(conn, flow)
                pending.pop(0)
                failures = 0
            except psycopg.Error as exc:
                if not may_pass_later(exc):
                    raise translate(exc, self._role) from safe_cause(exc)
                failures += 1
                self._close_poll_conn()
                delay = backoff(failures)
                log.warning("defining flow %s failed (%s); retrying in %.1f s", flow.slug, first_line(exc), delay)
                self._stopping.wait(delay)

    def _find_versions(self, conn: psycopg.Connection[Any], flow: Flow) -> None:
        """Record the versions of ``flow`` defined as in this worker's code (none: a warning, and the poll loop
        looks again every ``VERSION_RECHECK`` seconds)."""
        slug, steps, options = _arguments.definition(flow)
        row = conn.execute(
            "select pgflow.find_flow_versions(%s, %s::jsonb, %s::jsonb)", (slug, steps, options)
        ).fetchone()
        versions = sorted(row[0]) if row and row[0] else []
        if not versions and self._flow_versions.get(slug, [None]) != []:
            log.warning(
                "worker %s: no version of flow %s is defined as in this worker's code; it claims none of its tasks "
                "until one is (define it, or run a worker with define=True)",
                self.worker_id,
                slug,
            )
        elif versions and versions != self._flow_versions.get(slug):
            log.info("worker %s serves flow %s version(s) %s", self.worker_id, slug, versions)
        self._flow_versions[slug] = versions

    def _drain(self) -> None:
        """Wait for the tasks in hand, within the grace period; past it, cancel them (ctx.cancelled, async
        handlers cancelled, children told) and return."""
        deadline = time.monotonic() + self.shutdown_timeout
        self._report_deadline = deadline
        with self._in_flight_changed:
            while self._in_flight > 0 or self._claiming > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning(
                        "worker %s: %d task(s) still running after the %g s grace period; their handlers are "
                        "cancelled and the tasks will be retried",
                        self.worker_id,
                        self._in_flight,
                        self.shutdown_timeout,
                    )
                    for running in list(self._running.values()):
                        self._cancel(running, "the worker is shutting down past its grace period")
                    return
                self._in_flight_changed.wait(remaining)

    def _stop_handlers(self) -> None:
        """At the end of run(): stop the event loop of async handlers (tasks still on it are cancelled) and the
        pool of child processes (a child still running is given what is left of KILL_GRACE, then killed)."""
        loop = self._loop
        if loop is not None:

            def cancel_all() -> None:
                for task in asyncio.all_tasks(loop):
                    task.cancel()
                loop.call_soon(loop.stop)

            try:
                loop.call_soon_threadsafe(cancel_all)
            except RuntimeError:  # already closed
                pass
        pool = self._pool
        if pool is not None:
            if not self._aborting:
                with self._lock:
                    busy = [r.future for r in self._running.values() if r.future is not None and not r.future.done()]
                if busy:
                    concurrent.futures.wait(busy, timeout=KILL_GRACE)
            pool.stop()
            pool.join(timeout=KILL_GRACE + 3)

    def _say_goodbye(self) -> None:
        try:
            with _conninfo.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                conn.execute("select pgflow.stop_worker(%s)", (self.worker_id,))
        except psycopg.Error as exc:
            log.warning("worker %s could not record its stop: %s", self.worker_id, first_line(exc))

    # ------------------------------------------------------------------------------------------------
    # The poll loop (the thread that called run())
    # ------------------------------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        """A connection for claims and reports. Its commits are durable: with synchronous_commit off, a crash
        of the server could hand out an attempt number twice and lose completions reported as recorded."""
        return _conninfo.connect(self.conninfo, autocommit=True)

    def _poll_connection(self) -> psycopg.Connection[Any]:
        if self._poll_conn is None or self._poll_conn.closed:
            self._poll_conn = self._connect()
        self._prepare(self._poll_conn)
        return self._poll_conn

    def _prepare(self, conn: psycopg.Connection[Any]) -> None:
        """Let psycopg prepare the statements of a claim or report connection once the listener proved the
        connections direct (``_direct``), never otherwise: behind a pooler in transaction mode a statement
        prepared in one transaction is missing in the next. Saves the server parsing and planning the poll and
        the report of every batch again (bench/profiles/worker-prepared.md)."""
        threshold = PREPARE_THRESHOLD if self._direct else None
        if conn.prepare_threshold != threshold:
            conn.prepare_threshold = threshold

    def _close_poll_conn(self) -> None:
        if self._poll_conn is not None:
            try:
                self._poll_conn.close()
            finally:
                self._poll_conn = None

    def _read_limits(self, conn: psycopg.Connection[Any]) -> None:
        """Read pgflow.max_output_size() once (a schema without it sets no limit here; the engine's own
        checks still apply)."""
        try:
            row = conn.execute("select pgflow.max_output_size()").fetchone()
            self._max_output_size = int(row[0]) if row and row[0] is not None else None
        except psycopg.errors.UndefinedFunction:
            self._max_output_size = None
        self._limits_read = True

    def _reserve(self) -> int:
        """Reserve the free slots for a claim (the poll loop and the reporter both claim): how many; none once
        the worker is stopping (``_drain`` waits for the claims under way)."""
        with self._lock:
            free = self.concurrency - self._in_flight - self._claiming
            if free <= 0 or self._stopping.is_set():
                return 0
            self._claiming += free
            return free

    def _unreserve(self, reserved: int) -> None:
        with self._in_flight_changed:
            self._claiming -= reserved
            self._in_flight_changed.notify_all()

    def _claim(self, conn: psycopg.Connection[Any], free: int) -> list[tuple[Any, ...]]:
        """Claim up to ``free`` tasks (poll_for_tasks_lean): their rows, for ``_dispatch``."""
        # run inputs are fetched when a handler asks for one (Context.flow_input): a wide map's
        # run input would otherwise come back with each of its tasks. Inputs come as JSON text,
        # decoded by each task's handler thread: one input Python cannot read never breaks a poll
        # the seconds left until each deadline, on the engine's clock: the handler's deadline here
        return conn.execute(
            "select t.run_id, t.flow_slug, t.step_slug, t.task_index, t.attempt, t.input::text, "
            # the time left by the database's clock (pgflow.now() is the owner's: it reads the
            # tests' fake time, which a worker role may not)
            "t.deadline, extract(epoch from t.deadline - transaction_timestamp())::float8 "
            "from pgflow.poll_for_tasks_lean(%s, %s::text[], %s, %s::jsonb) as t",
            (self.worker_id, self._flow_slugs_array, free, orjson.dumps(self._flow_versions).decode()),
        ).fetchall()

    def _poll_loop(self) -> None:
        failures = 0
        next_version_check = time.monotonic() + VERSION_RECHECK
        while not self._stopping.is_set():
            self._wake.clear()
            free = self._reserve()
            if free > 0:
                try:
                    conn = self._poll_connection()
                    if not self._limits_read:
                        self._read_limits(conn)
                    if time.monotonic() >= next_version_check:
                        next_version_check = time.monotonic() + VERSION_RECHECK
                        for slug in [s for s, versions in self._flow_versions.items() if not versions]:
                            self._find_versions(conn, self.flows[slug])
                    rows = self._claim(conn, free)
                    failures = 0
                except psycopg.Error as exc:
                    self._unreserve(free)
                    # a poll refused for its data (54000 while building a task's input, say) is waited out
                    # like a lost connection: the worker keeps serving once the database can answer again
                    if not (may_pass_later(exc) or isinstance(exc, psycopg.OperationalError) or stale_prepared(exc)):
                        raise translate(exc, self._role) from safe_cause(exc)
                    failures += 1
                    self._close_poll_conn()
                    delay = backoff(failures)
                    log.warning("poll failed (%s); reconnecting in %.1f s", first_line(exc), delay)
                    self._stopping.wait(delay)
                    continue
                except BaseException:
                    self._unreserve(free)
                    raise
                self._dispatch(rows, free)
                if rows and len(rows) == free:
                    continue  # a full batch: more may be waiting
            self._wake.wait(self.poll_interval)

    def _dispatch(self, rows: list[tuple[Any, ...]], reserved: int) -> None:
        """Hand the tasks of a poll (its rows) to the handler threads: counted in flight, their deadlines
        scheduled, the ``reserved`` slots released, under one acquisition of the lock."""
        now = time.monotonic()
        claims = []
        metrics = self._metrics
        if metrics is not None:
            metrics.polls.inc()
        for run_id, flow_slug, step_slug, task_index, attempt, input_text, deadline, left in rows:
            task = Task(run_id, flow_slug, step_slug, task_index, attempt, None, None, deadline)
            if metrics is not None:
                metrics.claimed.labels(flow_slug, step_slug).inc()
            known = self._steps.get((flow_slug, step_slug))
            running = _Running(task, now + float(left), threading.Event() if known is not None and known[1] else None)
            claims.append(_Claim(task, input_text, running))
        with self._in_flight_changed:
            self._claiming -= reserved
            self._in_flight_changed.notify_all()  # _drain waits for the claims under way too
            for claim in claims:
                claimed = claim.running
                assert claimed is not None
                self._in_flight += 1
                self._running[_key(claim.task)] = claimed
                if self.isolation == "process" and self._free_flags:
                    claimed.flag = self._free_flags.pop()
                    self._flags[claimed.flag] = 0
                self._push_timer(claimed.deadline, "deadline", claimed)
        for claim in claims:
            self._queue.put(claim)

    # ------------------------------------------------------------------------------------------------
    # Handler threads
    # ------------------------------------------------------------------------------------------------
    def _handler_loop(self) -> None:
        while True:
            claim = self._queue.get()
            if claim is None:
                return
            task = claim.task
            running = claim.running
            assert running is not None
            with self._lock:
                running.busy_thread = True
            try:
                result = self._process(claim)
            except BaseException:  # never lose the slot, whatever happened
                log.exception("unexpected error while processing %s", task.describe(), extra=task.log_fields())
                result = _Result(task, error="the worker failed to run the handler", reason="error")
            with self._lock:
                running.busy_thread = False
                abandoned = running.abandoned
                if abandoned:
                    self._lingering -= 1
            if result is not None:
                self._finish(running, result)
            if abandoned:
                return  # another handler thread took this one's place at the deadline

    def _unreadable(self, task: Task, why: str) -> _Result:
        """The result of a task whose input, or run input, could not be decoded: failed without retry."""
        error = storable_error(f"input of {task.flow_slug}.{task.step_slug} could not be read: {why}")
        log.error("%s fails, not to be retried: %s", task.describe(), error, extra=task.log_fields())
        return _Result(task, error=error, retry=False, size=len(error), reason="unreadable")

    def _process(self, claim: _Claim) -> _Result | None:
        """Decode the task's input and run its handler: the result to report, or None when the handler goes on
        elsewhere (an async handler on the event loop, a child process) and reports from there."""
        task = claim.task
        running = claim.running
        assert running is not None
        try:
            value = decode_json(claim.input_text)
        except _Unreadable as exc:
            return self._unreadable(task, str(exc))
        task = Task(
            task.run_id, task.flow_slug, task.step_slug, task.task_index, task.attempt, value, None, task.deadline
        )
        known = self._steps.get((task.flow_slug, task.step_slug))
        if known is None:
            flow = self.flows.get(task.flow_slug)
            try:
                if flow is None:
                    raise LookupError(f"worker {self.worker_id} has no flow {task.flow_slug!r}")
                found = flow.get_step(task.step_slug)  # a step added to the flow after the worker was made
                if found.handler is None:
                    raise LookupError(
                        f"step {task.flow_slug}.{task.step_slug} is a {found.step_type} step, which has no handler"
                    )
            except LookupError as exc:
                error = f"{exc}; is this worker running the current version of the flow?"
                log.error("%s: %s", task.describe(), error, extra=task.log_fields())
                return _Result(task, error=storable_error(error), reason="error")
            known = (found, found.takes_context)
            if known[1] and running.cancelled is None:
                with self._lock:
                    running.cancelled = threading.Event()
                    if running.cancel_reason is not None:
                        running.cancelled.set()
        step, takes_context = known

        ctx: Context | None = None
        if takes_context:
            assert running.cancelled is not None
            try:
                flow_input = self._run_input(task)
            except _Unreadable as exc:
                return self._unreadable(task, f"its run input (ctx.flow_input): {exc}")
            except (_Refused, _GaveUp) as exc:
                error = storable_error(f"the input of run {task.run_id} could not be fetched: {exc}")
                log.error("%s failed: %s", task.describe(), error, extra=task.log_fields())
                return _Result(task, error=error, size=len(error), reason="error")
            ctx = Context(
                run_id=task.run_id,
                flow_slug=task.flow_slug,
                step_slug=task.step_slug,
                task_index=task.task_index,
                attempt=task.attempt,
                flow_input=flow_input,
                deadline=task.deadline,
                worker_id=self.worker_id,
                cancelled=running.cancelled,
            )
        if self.isolation == "process":
            self._run_in_child(running, task, step, ctx)
            return None
        started = time.monotonic()
        running.started = started
        try:
            types = step.types
            # a typed step's input is validated and parsed first (python_client/pgflow/typed.py)
            value = task.input if types is None else types.parse_input(task.flow_slug, task.step_slug, task.input)
            handler = step.handler
            # self._steps holds only the steps with a handler: the engine gives no task of the others to a worker
            assert handler is not None
            if ctx is not None:
                result = handler(value, ctx)
            else:
                result = handler(value)
            if type(result) not in _PLAIN_RESULTS and inspect.isawaitable(result):
                self._run_on_loop(running, task, step, result, started)
                return None
        except NonRetryableError as exc:
            return self._handler_failed(task, step, describe_exception(exc), False, exc)
        except BaseException as exc:  # SystemExit or KeyboardInterrupt in a handler thread fail the attempt too
            return self._handler_failed(task, step, describe_exception(exc), True, exc)
        return self._output(task, step, result, started)

    def _handler_failed(
        self,
        task: Task,
        step: Any,
        described: str,
        retry: bool,
        exc: BaseException | None = None,
        traceback_text: str = "",
    ) -> _Result:
        """The result of a handler that raised (``described``: ``"<class>: <message>"``), logged with its
        traceback."""
        error = storable_error(described)
        log.error(
            "handler %s failed%s: %s: %s%s",
            task.step_slug,
            "" if retry else ", not to be retried",
            task.describe(),
            first_line_of(error),
            f"\n{traceback_text.rstrip()}" if traceback_text else "",
            exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None,
            extra=task.log_fields(),
        )
        if described.startswith(f"{StepValidationError.__name__}:"):
            reason = "validation"
        else:
            reason = "error" if retry else "non_retryable"
        return _Result(task, error=error, retry=retry, size=len(error), reason=reason)

    def _output(self, task: Task, step: Any, result: Any, started: float, text: str | None = None) -> _Result:
        """The result of a handler that returned ``result`` (or, from a child process, its JSON ``text``):
        its output, or a failure without retry when it is not storable JSON or is over the size limit, or when a
        typed step's result does not validate against its return annotation."""
        types = step.types if text is None else None
        if types is not None:
            try:
                result = types.dump_output(task.flow_slug, task.step_slug, result)
            except StepValidationError as exc:
                return self._handler_failed(task, step, describe_exception(exc), False, exc)
        try:
            output = _storable.dumps(result) if text is None else text
            size = _storable.utf8_size(output)
            limit = self._max_output_size
            if limit is not None and size > limit:
                raise _OverLimit(
                    f"$ is {size} bytes of JSON, over the limit of {limit} bytes (pgflow.max_output_size())"
                )
        except _OverLimit as exc:
            return self._not_storable(task, step, str(exc), name_handler=False)
        except Exception as exc:  # whatever goes wrong while turning the result into JSON: not storable
            why = (
                str(exc)
                if isinstance(exc, _storable.NotStorable)
                else (f"$ could not be encoded as JSON: {describe_exception(exc)}")
            )
            return self._not_storable(task, step, why)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s done in %.3f s", task.describe(), time.monotonic() - started, extra=task.log_fields())
        return _Result(task, output=output, size=size)

    def _not_storable(self, task: Task, step: Any, why: str, name_handler: bool = True) -> _Result:
        """A failure without retry for a result that is not storable JSON; ``why`` names its type and path, and
        the message the handler function that returned it."""
        suffix = f" (returned by handler {handler_name(step.handler)})" if name_handler else ""
        error = storable_error(f"output of {task.flow_slug}.{task.step_slug} is not storable JSON: {why}{suffix}")
        log.error("%s fails, not to be retried: %s", task.describe(), error, extra=task.log_fields())
        return _Result(task, error=error, retry=False, size=len(error), reason="unstorable")

    def _cancelled_result(self, running: _Running, step: Any, killed: bool = False) -> _Result:
        """The failed attempt of a handler ended by the worker: cancelled (asyncio.CancelledError) or killed."""
        task = running.task
        reason = running.kill_reason if killed else running.cancel_reason
        if killed:
            error = f"the handler was killed {KILL_GRACE:g} s after {reason or 'it was cancelled'}"
        else:
            error = f"the handler was cancelled: {reason or 'asyncio.CancelledError'}"
        log.warning("%s: %s", task.describe(), error, extra=task.log_fields())
        reason = "timeout" if running.past_deadline else "cancelled"
        return _Result(task, error=storable_error(error), size=len(error), reason=reason)

    # ------------------------------------------------------------------------------------------------
    # Async handlers: one event loop per worker (thread isolation)
    # ------------------------------------------------------------------------------------------------
    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The worker's event loop, started on a thread of its own the first time an async handler runs."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_logged(loop.run_forever, "event loop"), name="pgflow-event-loop", daemon=True
                )
                thread.start()
                self._threads.append(thread)
                self._loop = loop
            return self._loop

    def _run_on_loop(self, running: _Running, task: Task, step: Any, awaitable: Any, started: float) -> None:
        """Run an async handler's awaitable on the worker's loop; its result is reported when it ends."""
        loop = self._event_loop()

        def start() -> None:
            coro_task = loop.create_task(_await(awaitable))
            with self._lock:
                running.async_task = coro_task
                cancel_now = running.cancel_reason is not None
            if cancel_now:
                coro_task.cancel()
            coro_task.add_done_callback(done)

        def done(coro_task: asyncio.Task[Any]) -> None:
            try:
                if coro_task.cancelled():
                    result = self._cancelled_result(running, step)
                else:
                    exc = coro_task.exception()
                    if exc is None:
                        result = self._output(task, step, coro_task.result(), started)
                    elif isinstance(exc, NonRetryableError):
                        result = self._handler_failed(task, step, describe_exception(exc), False, exc)
                    else:
                        result = self._handler_failed(task, step, describe_exception(exc), True, exc)
            except BaseException:
                log.exception("unexpected error while ending %s", task.describe(), extra=task.log_fields())
                result = _Result(task, error="the worker failed to run the handler")
            self._finish(running, result)

        loop.call_soon_threadsafe(start)

    # ------------------------------------------------------------------------------------------------
    # Child processes (process isolation)
    # ------------------------------------------------------------------------------------------------
    def _start_pool(self) -> None:
        import pebble

        context = multiprocessing.get_context("spawn")
        self._flags = context.Array("b", self.concurrency, lock=False)
        self._free_flags = list(range(self.concurrency))
        self._pool = pebble.ProcessPool(
            max_workers=self.concurrency, initializer=_child.init, initargs=(self._flags,), context=context
        )

    def _run_in_child(self, running: _Running, task: Task, step: Any, ctx: Context | None) -> None:
        """Send a handler call to the pool; its result is reported when the child answers, or when it is
        killed."""
        ctx_fields = None
        if ctx is not None:
            ctx_fields = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx) if f.name != "cancelled"}
        started = time.monotonic()
        running.started = started
        remaining = max(running.deadline - started, 0.0)
        future = self._pool.schedule(
            _child.run_task,
            args=(step.handler, task.input, ctx_fields, running.flag, remaining, (task.flow_slug, task.step_slug)),
        )
        with self._lock:
            running.future = future
            kill_now = running.kill_reason is not None

        def done(fut: Any) -> None:
            try:
                if fut.cancelled():
                    result = self._cancelled_result(running, step, killed=True)
                else:
                    exc = fut.exception()
                    if exc is not None:
                        result = self._child_failed(task, step, exc)
                    else:
                        result = self._from_child(running, step, fut.result(), started)
            except BaseException:
                log.exception("unexpected error while ending %s", task.describe(), extra=task.log_fields())
                result = _Result(task, error="the worker failed to run the handler")
            with self._lock:
                if running.flag is not None:
                    self._free_flags.append(running.flag)
                    running.flag = None
            self._finish(running, result)

        future.add_done_callback(done)
        if kill_now:
            future.cancel()

    def _child_failed(self, task: Task, step: Any, exc: BaseException) -> _Result:
        import pebble

        if isinstance(exc, pebble.ProcessExpired):
            described = f"the handler's process ended without an answer (exit code {exc.exitcode})"
        else:  # the call could not be sent, or its answer read
            described = f"the handler could not be run in a child process: {describe_exception(exc)}"
        return self._handler_failed(task, step, described, True)

    def _from_child(self, running: _Running, step: Any, outcome: tuple[Any, ...], started: float) -> _Result:
        task = running.task
        kind = outcome[0]
        if kind == "json":
            return self._output(task, step, None, started, text=outcome[1])
        if kind == "not_storable":
            return self._not_storable(task, step, outcome[1])
        if kind == "cancelled":
            return self._cancelled_result(running, step)
        _, described, retry, traceback_text = outcome
        return self._handler_failed(task, step, described, retry, traceback_text=traceback_text)

    # ------------------------------------------------------------------------------------------------
    # Deadlines and cancellation
    # ------------------------------------------------------------------------------------------------
    def _finish(self, running: _Running, result: _Result) -> None:
        """A handler ended: its result goes to the reporter."""
        with self._lock:
            running.finished = True
        now = time.monotonic()
        if self._metrics is not None:
            task = result.task
            reason = None if result.error is None else (result.reason or "error")
            if reason is None and running.past_deadline:
                reason = "timeout"  # a sync handler that returned past its deadline: the engine refuses it
            self._metrics.ended(
                task.flow_slug, task.step_slug, reason, now - running.started if running.started else None
            )
        self._results.put(dataclasses.replace(result, finished=now))

    def _schedule(self, when: float, action: str, running: _Running) -> None:
        with self._timers_changed:
            self._push_timer(when, action, running)

    def _push_timer(self, when: float, action: str, running: _Running) -> None:
        """Add a timer (the lock held). A task's deadline timer stays in the heap after the task is reported
        (removing it from a heap costs a search); once those dead timers are most of the heap, the heap is
        rebuilt of the live ones, so that it holds about the tasks in hand rather than every task claimed
        within the last timeout."""
        timers = self._timers
        if len(timers) > 64 and len(timers) > 2 * len(self._running):
            running_now = self._running
            timers[:] = [t for t in timers if running_now.get(_key(t[3].task)) is t[3]]
            heapq.heapify(timers)
        self._timer_seq += 1
        heapq.heappush(timers, (when, self._timer_seq, action, running))
        if timers[0][3] is running:
            self._timers_changed.notify()

    def _supervise_loop(self) -> None:
        """Fire the timers: each task's deadline, and the kills KILL_GRACE after a deadline or a cancellation."""
        while not self._finished.is_set():
            with self._timers_changed:
                while not self._finished.is_set():
                    now = time.monotonic()
                    if self._timers and self._timers[0][0] <= now:
                        _, _, action, running = heapq.heappop(self._timers)
                        break
                    self._timers_changed.wait(min(self._timers[0][0] - now, 1.0) if self._timers else 1.0)
                else:
                    return
            try:
                if action == "deadline":
                    self._at_deadline(running)
                else:
                    self._kill(running)
            except Exception:
                log.exception("unexpected error at the deadline of %s", running.task.describe())

    def _at_deadline(self, running: _Running) -> None:
        task = running.task
        with self._lock:
            if running.finished or _key(task) not in self._running:
                return
            running.past_deadline = True
            release = self.isolation == "thread" and running.counted and running.async_task is None
            kept = False
            if release and running.busy_thread:
                if self._lingering >= self.max_lingering:
                    release, kept = False, True
                else:
                    running.abandoned = True
                    self._lingering += 1
                    replacement = threading.Thread(
                        target=_logged(self._handler_loop, "handler"), name="pgflow-handler", daemon=True
                    )
                    replacement.start()
                    self._threads.append(replacement)
            if release:
                running.counted = False
                self._in_flight -= 1
                self._in_flight_changed.notify_all()
            lingering = self._lingering
        if self.isolation == "process":
            what = f"its process will be killed in {KILL_GRACE:g} s unless it returns"
        elif running.async_task is not None:
            what = "it is cancelled (asyncio.CancelledError)"
        elif kept:
            what = (
                f"its thread cannot be killed and keeps its slot until the handler returns: {lingering} "
                f"threads already run past their deadline, the most this worker leaves (max_lingering)"
            )
        else:
            what = (
                "ctx.cancelled is set; its thread cannot be killed and runs on, no longer counted against "
                f"concurrency ({lingering} thread(s) now past their deadline)"
            )
        log.error(
            "handler %s is past its deadline (%s): %s; %s",
            self._handler_name(task),
            _iso(task.deadline),
            task.describe(),
            what,
            extra=task.log_fields(),
        )
        self._cancel(running, "the attempt's deadline passed", kill=self.isolation == "process")
        if release:
            self._wake.set()

    def _handler_name(self, task: Task) -> str:
        """``module.qualname`` of the task's handler (``flow.step`` when the worker does not have it)."""
        try:
            return handler_name(self.flows[task.flow_slug].get_step(task.step_slug).handler)
        except LookupError:
            return f"{task.flow_slug}.{task.step_slug}"

    def _cancel(self, running: _Running, reason: str, kill: bool = True) -> None:
        """Set the handler's ctx.cancelled; cancel it if it is async; in process isolation tell its child, and
        kill it KILL_GRACE seconds later if ``kill``."""
        with self._lock:
            if running.finished:
                return
            first = running.cancel_reason is None
            if first:
                running.cancel_reason = reason
            if running.cancelled is not None:
                running.cancelled.set()
            if running.flag is not None and self._flags is not None:
                self._flags[running.flag] = 1
            coro_task = running.async_task
            schedule_kill = kill and self.isolation == "process" and running.kill_reason is None
            if schedule_kill:
                running.kill_reason = "its deadline" if "deadline" in reason else reason
        if coro_task is not None and self._loop is not None and first:
            try:
                self._loop.call_soon_threadsafe(coro_task.cancel)
            except RuntimeError:  # the loop is closed
                pass
        if schedule_kill:
            self._schedule(time.monotonic() + KILL_GRACE, "kill", running)

    def _kill(self, running: _Running) -> None:
        with self._lock:
            future = running.future
            if running.finished or future is None:
                return
        if not future.done():
            log.error(
                "killing the process of %s: still running %g s after %s",
                running.task.describe(),
                KILL_GRACE,
                running.kill_reason,
                extra=running.task.log_fields(),
            )
            future.cancel()

    def _cancel_runs(self, run_ids: dict[Any, str]) -> None:
        """The runs (by id, with their status) are no longer started: cancel the handlers of their tasks."""
        with self._lock:
            hit = [r for r in self._running.values() if r.task.run_id in run_ids and not r.finished]
        for running in hit:
            status = run_ids[running.task.run_id]
            if running.cancel_reason is None:
                log.warning(
                    "%s: its run is %s; cancelling its handler",
                    running.task.describe(),
                    status,
                    extra=running.task.log_fields(),
                )
            self._cancel(running, f"its run was {status}" if status != "failed" else "its run failed")

    def _past_deadline_report(self) -> str:
        """The handlers still running past their deadline, as the JSON the heartbeat takes (at most
        MAX_PAST_DEADLINE_REPORTED, the earliest deadlines first)."""
        with self._lock:
            late = [r.task for r in self._running.values() if r.past_deadline and not r.finished]
        if not late:
            # a lingering thread whose task was already reported is gone from _running: nothing to show
            return "[]"
        late.sort(key=lambda t: t.deadline)
        return json.dumps(
            [
                {
                    "run_id": str(t.run_id),
                    "step_slug": t.step_slug,
                    "task_index": t.task_index,
                    "attempt": t.attempt,
                    "deadline": _iso(t.deadline),
                }
                for t in late[:MAX_PAST_DEADLINE_REPORTED]
            ]
        )

    def _run_input(self, task: Task) -> Any:
        """A run's input, fetched as JSON text and decoded once per run (the last 256 runs are kept).
        Raises ``_Unreadable`` when it cannot be decoded, ``_Refused`` or ``_GaveUp`` when it cannot be
        fetched."""
        run_id = task.run_id
        with self._inputs_lock:
            if run_id in self._inputs:
                self._inputs.move_to_end(run_id)
                return self._inputs[run_id]
            text = self._call(self._lookup_conn, "select pgflow.get_run_input(%s)::text", (run_id,), task)
            value = decode_json(text)
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
        # a result taken from the queue that did not fit in the last batch: it opens the next one
        carried: _Result | None = None
        try:
            while True:
                first = carried if carried is not None else self._results.get()
                carried = None
                if first is None:
                    return
                batch = [first]
                size = first.size
                # take whatever else is ready; while handlers of the same poll are still finishing, wait a
                # moment (2 ms at most) for them so that their results share the transaction
                deadline = time.monotonic() + 0.002
                while len(batch) < MAX_BATCH_RESULTS:
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
                    if size + item.size > MAX_BATCH_BYTES:
                        carried = item  # a batch never grows past MAX_BATCH_BYTES, but for one result alone
                        break
                    batch.append(item)
                    size += item.size
                try:
                    self._send(conn, batch)
                except Exception:  # the slots must be freed whatever happens
                    log.exception("unexpected error while reporting %d result(s)", len(batch))
                finally:
                    if self._metrics is not None:
                        now = time.monotonic()
                        for result in batch:
                            self._metrics.report_seconds.observe(max(now - result.finished, 0.0))
                    with self._in_flight_changed:
                        for result in batch:
                            running = self._running.pop(_key(result.task), None)
                            if running is None or running.counted:
                                self._in_flight -= 1
                        self._in_flight_changed.notify_all()
                    if not self._claim_after_report(conn):
                        self._wake.set()
        finally:
            if conn[0] is not None:
                conn[0].close()

    def _claim_after_report(self, conn: list[psycopg.Connection[Any] | None]) -> bool:
        """Claim for the slots a report freed, on the reporter's connection, at once: the tasks a completion
        made ready come back to this worker without waiting for the notification and the poll loop's wake-up
        (bench/profiles/worker-claim-after-report.md). Whether it claimed; when it did not (stopping, no free
        slot, no connection, an error), the poll loop is woken and claims as usual, errors included."""
        current = conn[0]
        if self._stopping.is_set() or current is None or current.closed or not self._limits_read:
            return False
        free = self._reserve()
        if free <= 0:
            return False
        try:
            self._prepare(current)
            rows = self._claim(current, free)
        except BaseException as exc:
            self._unreserve(free)
            if isinstance(exc, psycopg.Error):
                log.debug("claim after a report failed (%s); the poll loop claims", first_line(exc))
                if current.broken:
                    current.close()
                    conn[0] = None
                return False
            raise
        self._dispatch(rows, free)
        # a full batch: more may be waiting, the poll loop looks
        return len(rows) < free

    def _send(self, conn: list[psycopg.Connection[Any] | None], batch: list[_Result]) -> None:
        """Report a batch: the completions in one complete_tasks call (one by one if the database refuses the
        batch as a whole), then the failures one by one. Every result ends reported, or logged with why not."""
        completed = [r for r in batch if r.error is None]
        failed = [r for r in batch if r.error is not None]
        not_recorded: list[tuple[_Result, str]] = []
        if completed:
            try:
                # each array is one text parameter (an array literal built with str.join and str.replace):
                # psycopg's list dumpers cost about 10 µs per task here (bench/profiles/worker-reports.md)
                recorded = self._call(
                    conn,
                    "select pgflow.complete_tasks(%s::uuid[], %s::text[], %s::int[], %s::text[]::jsonb[], %s::int[])",
                    (
                        pg_plain_array([r.task.run_id for r in completed]),
                        pg_text_array([r.task.step_slug for r in completed]),
                        pg_plain_array([r.task.task_index for r in completed]),
                        pg_text_array([r.output for r in completed]),  # type: ignore[misc]
                        pg_plain_array([r.task.attempt for r in completed]),
                    ),
                    f"{len(completed)} result(s)",
                )
            except _GaveUp as exc:
                for result in completed:
                    self._gave_up(result, "result", exc)
            except _Refused as refused:
                log.warning(
                    "the database refused a batch of %d result(s) as a whole (%s); reporting them one by one",
                    len(completed),
                    refused.describe(),
                )
                failed = [*self._complete_one_by_one(conn, completed, not_recorded), *failed]
            else:
                if not isinstance(recorded, list) or len(recorded) != len(completed):
                    log.error("complete_tasks answered %r for %d result(s)", recorded, len(completed))
                    recorded = [False] * len(completed)
                for result, ok in zip(completed, recorded):
                    if ok:
                        self._notify(result.task, True)
                    else:
                        not_recorded.append((result, "result"))
        for result in failed:
            ok = self._fail(conn, result)
            if ok is None:
                continue
            if ok:
                self._notify(result.task, True)
            else:
                not_recorded.append((result, "failure"))
        if not_recorded:
            self._explain_not_recorded(conn, not_recorded)

    def _complete_one_by_one(
        self,
        conn: list[psycopg.Connection[Any] | None],
        completed: list[_Result],
        not_recorded: list[tuple[_Result, str]],
    ) -> list[_Result]:
        """complete_task for each result; the results the database refuses come back as failures, without
        retry, with its message."""
        refused_results: list[_Result] = []
        for result in completed:
            task = result.task
            try:
                ok = self._call(
                    conn,
                    "select pgflow.complete_task(%s, %s, %s, %s::jsonb, %s)",
                    (task.run_id, task.step_slug, task.task_index, result.output, task.attempt),
                    task,
                )
            except _GaveUp as exc:
                self._gave_up(result, "result", exc)
                continue
            except _Refused as refused:
                error = storable_error(
                    f"output of {task.flow_slug}.{task.step_slug} was refused by the database: {refused.describe()}"
                )
                log.error("%s fails, not to be retried: %s", task.describe(), error, extra=task.log_fields())
                refused_results.append(_Result(task, error=error, retry=False))
                continue
            if ok:
                self._notify(task, True)
            else:
                not_recorded.append((result, "result"))
        return refused_results

    def _fail(self, conn: list[psycopg.Connection[Any] | None], result: _Result) -> bool | None:
        """fail_task for one result: whether the engine recorded it, or None when it could not be sent (the
        reason is logged). An error text the database refuses is sent again in plain ASCII."""
        task = result.task
        assert result.error is not None
        error = result.error
        for _ in range(2):
            try:
                return bool(
                    self._call(
                        conn,
                        "select pgflow.fail_task(%s, %s, %s, %s, %s, retry => %s)",
                        (task.run_id, task.step_slug, task.task_index, error, task.attempt, result.retry),
                        task,
                    )
                )
            except _GaveUp as exc:
                self._gave_up(result, "failure", exc)
                return None
            except _Refused as refused:
                ascii_error = error.encode("ascii", "backslashreplace").decode("ascii")
                if ascii_error != error:
                    error = ascii_error
                    continue
                log.error(
                    "the failure of %s was not recorded: the database refused it: %s",
                    task.describe(),
                    refused.describe(),
                    extra=task.log_fields(),
                )
                self._notify(task, False)
                return None
        return None

    def _call(
        self, conn: list[psycopg.Connection[Any] | None], sql: str, params: tuple[Any, ...], what: Task | str
    ) -> Any:
        """One statement; its single value. Sent again unchanged, with backoff, only while the connection is
        lost (a broken connection, SQLSTATE class 08, 57P01-57P03: for as long as it takes) or the transaction
        loses a race (class 40: at most ``MAX_RACE_RETRIES`` times in a row). Raises ``_Refused`` for any
        other error — the statement itself was refused, or could not finish (57014, a statement timeout) —
        and ``_GaveUp``, with the last error, when the shutdown's grace period ends first."""
        failures = 0
        races = 0
        described = what.describe() if isinstance(what, Task) else what
        extra = what.log_fields() if isinstance(what, Task) else None
        while True:
            try:
                current = conn[0]
                if current is None or current.closed:
                    current = conn[0] = self._connect()
                self._prepare(current)
                row = current.execute(sql, params).fetchone()  # type: ignore[arg-type,unused-ignore]
                return row[0] if row else None
            except psycopg.Error as exc:
                # a prepared statement made stale (the schema changed under it) is prepared again on a new
                # connection: the statement itself was not refused
                broken = conn[0] is None or conn[0].broken or stale_prepared(exc)
                if not broken and not is_transient(exc):
                    raise _Refused(exc) from None
                failures += 1
                if conn[0] is not None:
                    conn[0].close()
                    conn[0] = None
                if self._report_deadline is not None and time.monotonic() > self._report_deadline:
                    raise _GaveUp(describe_error(exc)) from None
                if not broken and not is_connection_lost(exc):  # a lost race
                    races += 1
                    if races >= MAX_RACE_RETRIES:
                        raise _Refused(exc) from None
                delay = backoff(failures)
                log.warning(
                    "sending %s failed (%s); retrying in %.1f s", described, describe_error(exc), delay, extra=extra
                )
                time.sleep(delay)

    def _gave_up(self, result: _Result, kind: str, exc: _GaveUp) -> None:
        task = result.task
        log.error(
            "the %s of %s was not sent before the end of the shutdown's grace period (its last try failed: %s); "
            "the attempt will time out and be retried if attempts are left",
            kind,
            task.describe(),
            exc,
            extra=task.log_fields(),
        )
        self._notify(task, False)

    def _notify(self, task: Task, recorded: bool) -> None:
        """Call on_report (its own failure is logged, never lets a slot go)."""
        if self.on_report is not None:
            try:
                self.on_report(task, recorded)
            except Exception:
                log.exception("on_report failed for %s", task.describe(), extra=task.log_fields())

    def _explain_not_recorded(
        self, conn: list[psycopg.Connection[Any] | None], reports: list[tuple[_Result, str]]
    ) -> None:
        """Log, for each report the engine did not record (it returned false), what the task and its run are
        now: read in one query, never guessed."""
        states: dict[tuple[uuid.UUID, str, int], tuple[Any, ...]] = {}
        unreadable: str | None = None
        try:
            current = conn[0]
            if current is None or current.closed:
                current = conn[0] = self._connect()
            rows = current.execute(
                """
                select t.run_id, t.step_slug, t.task_index, t.status, t.attempt, t.error, r.status
                from pgflow.step_tasks as t
                inner join pgflow.runs as r on r.run_id = t.run_id
                inner join unnest(%s::uuid[], %s::text[], %s::int[]) as k (run_id, step_slug, task_index)
                  on k.run_id = t.run_id and k.step_slug = t.step_slug and k.task_index = t.task_index
                """,
                (
                    [r.task.run_id for r, _ in reports],
                    [r.task.step_slug for r, _ in reports],
                    [r.task.task_index for r, _ in reports],
                ),
            ).fetchall()
            states = {(row[0], row[1], row[2]): row[3:] for row in rows}
        except psycopg.Error as exc:
            unreadable = first_line(exc)
        for result, kind in reports:
            task = result.task
            if unreadable is not None:
                why = f"the engine declined it, and the task's current state could not be read ({unreadable})"
            else:
                why = _why_declined(task, states.get((task.run_id, task.step_slug, task.task_index)))
            log.warning("the %s of %s was not recorded: %s", kind, task.describe(), why, extra=task.log_fields())
            self._notify(task, False)

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
                        conn = _conninfo.connect(self.conninfo, autocommit=True)
                        # beat at least three times per worker timeout (the one read at start-up)
                        interval = min(self.heartbeat_interval, self._worker_timeout / 3)
                    # the worker's timeout is given on every beat: behind a transaction-mode pooler the
                    # session's pgflow.worker_timeout may be another client's, or none
                    conn.execute(
                        "select pgflow.heartbeat(%s, %s, %s, %s::jsonb)",
                        (
                            self.worker_id,
                            flow_slugs,
                            dt.timedelta(seconds=self._worker_timeout),
                            self._past_deadline_report(),
                        ),
                    )
                    self._check_runs(conn)
                    failures = 0
                except psycopg.Error as exc:
                    failures += 1
                    if conn is not None:
                        conn.close()
                        conn = None
                    if may_pass_later(exc):
                        log.warning("heartbeat failed (%s); retrying", first_line(exc))
                    else:
                        log.error("heartbeat failed: %s", first_line(translate(exc, self._role)))
                # after a failure, beat again no later than the interval: a worker must be heard within its
                # own timeout once the database is back, however long it was gone
                self._finished.wait(interval if failures == 0 else min(interval, backoff(failures)))
        finally:
            if conn is not None:
                conn.close()

    def _check_runs(self, conn: psycopg.Connection[Any]) -> None:
        """Read the status of the runs of the tasks in hand, and cancel the handlers of those no longer
        started: cancellations reach handlers even when no notification does (listen off, a pooler)."""
        if not self._can_read_runs:
            return
        with self._lock:
            run_ids = list({r.task.run_id for r in self._running.values() if not r.finished})
        if not run_ids:
            return
        try:
            rows = conn.execute(
                "select r.run_id, r.status from pgflow.runs as r where r.run_id = any(%s::uuid[]) "
                "and r.status <> 'started'",
                (run_ids,),
            ).fetchall()
        except psycopg.errors.InsufficientPrivilege as exc:
            self._can_read_runs = False
            log.warning(
                "worker %s cannot read pgflow.runs (%s): cancellations reach its handlers only through notifications",
                self.worker_id,
                first_line(exc),
            )
            return
        if rows:
            self._cancel_runs(dict(rows))

    def _listen_loop(self) -> None:
        failures = 0
        deaf = False  # the last probe's notification did not arrive
        while not self._finished.is_set():
            try:
                listener = _conninfo.listener(self.conninfo, self.listen_conninfo, stop=self._finished)
                # notifications sent through conninfo reach a listener opened on conninfo itself: its
                # connections are direct (or through a pooler in session mode), where a prepared statement
                # lasts as long as the connection
                self._direct = listener is not None and _conninfo.listen_target(self.listen_conninfo) is None
                if listener is None:
                    if not deaf and not self._finished.is_set() and self.listen_conninfo:
                        log.info(
                            "worker %s: notifications sent through its connection do not reach its listen "
                            "connection (listen_conninfo, --listen-url, PGFLOW_LISTEN_URL): does it lead to another "
                            "server or database? It polls every %g s meanwhile",
                            self.worker_id,
                            self.poll_interval,
                        )
                    elif not deaf and not self._finished.is_set():
                        log.info(
                            "worker %s: notifications do not reach its connection (a connection pooler in "
                            "transaction mode?): it polls every %g s; give it listen_conninfo (--listen-url, "
                            "PGFLOW_LISTEN_URL), a direct connection, to wake at once",
                            self.worker_id,
                            self.poll_interval,
                        )
                    deaf = True
                    failures = 0
                    self._finished.wait(LISTEN_PROBE_INTERVAL)  # try again later: the path may change
                    continue
                if deaf:
                    log.info("worker %s: notifications reach it again", self.worker_id)
                    deaf = False
                with listener as conn:
                    failures = 0
                    self._wake.set()  # notifications may have been missed while disconnected
                    self._hear_all(conn)
            except psycopg.Error as exc:
                failures += 1
                log.warning("listener lost its connection (%s); reconnecting", first_line(exc))
                self._finished.wait(backoff(failures))

    def _hear_all(self, conn: psycopg.Connection[Any]) -> None:
        """Read the notifications of a listening connection until run() ends: libpq's own calls on the
        connection's socket (a worker hears one notification per run finished and per batch of tasks made
        ready, and psycopg's notifies() generator cost about 20 times more per notification). Raises psycopg's
        OperationalError when the connection is lost."""
        pgconn = conn.pgconn
        encoding = conn.info.encoding
        with selectors.DefaultSelector() as selector:
            selector.register(pgconn.socket, selectors.EVENT_READ)
            while not self._finished.is_set():
                # short waits, so that the thread notices the end of run() at once
                try:
                    ready = selector.select(0.1)
                except OSError as exc:  # the socket is gone: reconnect, as for any lost connection
                    raise psycopg.OperationalError(f"the listen connection was lost: {exc}") from None
                if not ready:
                    continue
                pgconn.consume_input()
                if pgconn.status != psycopg.pq.ConnStatus.OK:
                    raise psycopg.OperationalError("the listen connection was lost")
                while True:
                    note = pgconn.notifies()
                    if note is None:
                        break
                    self._hear(note.extra.decode(encoding, "replace"))

    def _hear(self, payload: str) -> None:
        """A notification: wake the poll for tasks of our flows; cancel the handlers of a run that finished
        while its tasks are in hand (cancelled, or failed: the engine cancels its other tasks)."""
        if '"completed"' in payload and '"run_finished"' in payload:
            return  # most notifications: a run completed, nothing to do here
        try:
            data = orjson.loads(payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if data.get("type") == "tasks_ready" and data.get("flow_slug") in self.flows:
            self._wake.set()
        elif data.get("type") == "run_finished" and data.get("status") in ("cancelled", "failed"):
            try:
                run_id = uuid.UUID(str(data.get("run_id")))
            except ValueError:
                return
            self._cancel_runs({run_id: str(data["status"])})


class _OverLimit(Exception):
    """A handler's output is larger than pgflow.max_output_size()."""


def _key(task: Task) -> tuple[Any, ...]:
    return (task.run_id, task.step_slug, task.task_index, task.attempt)


def _iso(value: Any) -> str:
    """A deadline as ISO 8601 text (as the database gave it, when it is not a datetime)."""
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


def handler_name(handler: Any) -> str:
    """``module.qualname`` of a handler (what log lines and error texts call it)."""
    module = getattr(handler, "__module__", None) or "?"
    qualname = getattr(handler, "__qualname__", None) or getattr(handler, "__name__", None) or repr(handler)
    return f"{module}.{qualname}"


def _check_picklable(flow: Flow, step: Any) -> None:
    """InvalidInput unless the step's handler can be sent to a child process (pickled by reference: a function
    defined at the top level of an importable module)."""
    handler = step.handler
    if handler is None:  # a step the engine runs (a sub-flow step)
        return
    try:
        pickle.dumps(handler)
    except Exception as exc:
        raise InvalidInput(
            f"isolation='process' runs handlers in child processes, which receive them pickled: the handler "
            f"{handler_name(handler)} of step {flow.slug}.{step.slug} cannot be pickled ({type(exc).__name__}: "
            f"{first_line_of(str(exc))}); define it at the top level of a module, not in a function or as a lambda"
        ) from None


#: the messages of connection failures the server answered (rather than no server answering): permanent
_SERVER_REFUSALS = (
    "password authentication failed",
    "no password supplied",
    "does not exist",
    "no pg_hba.conf entry",
    "authentication failed",
    "is not permitted to log in",
)


def _refused_by_server(message: str) -> bool:
    """Whether a connection failure's message says the server refused it for good (a password, a database or
    role that does not exist), not that it could not be reached or was still starting."""
    return any(text in message for text in _SERVER_REFUSALS)


def _version_key(version: str) -> tuple[int, ...]:
    """``"0.10.1"`` as ``(0, 10, 1)``, for comparing versions (a part that is not a number counts as 0)."""
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def _why_declined(task: Task, state: tuple[Any, ...] | None) -> str:
    """Why the engine declined a report of ``task``, from the task's and its run's current state
    (status, attempt, error, run status), or None when the task no longer exists."""
    if state is None:
        return "the task no longer exists"
    status, attempt, error, run_status = state
    last_error = f" (last error: {first_line_of(error)})" if error else ""
    if run_status != "started":
        return f"its run is {run_status} (the task is {status} at attempt {attempt})"
    if attempt != task.attempt:
        return f"the task is now at attempt {attempt} ({status}){last_error}"
    if status != "started":
        return f"the task is {status} at this attempt{last_error}"
    return "the engine declined it, although the task is started at this attempt and its run is started"


def first_line_of(text: str) -> str:
    """The first line of a text, at most 300 characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


def _logged(target: Callable[[], None], name: str) -> Callable[[], None]:
    """A thread's target whose unexpected exception is logged (redacted) instead of printed raw by
    threading.excepthook."""

    def run() -> None:
        try:
            target()
        except Exception:
            log.exception("the worker's %s thread stopped on an unexpected error", name)

    return run


async def _await(awaitable: Any) -> Any:
    return await awaitable
