"""The ``pgflow`` command line.

    pgflow migrate
    pgflow worker MODULE:FLOW... [--concurrency N] [--isolation thread|process] [--startup-timeout S]
    pgflow workers [--all]
    pgflow start FLOW --input JSON [--priority N] [--wait]
    pgflow status RUN_ID [--watch] [--outputs]
    pgflow runs [--flow F] [--status S]
    pgflow cancel RUN_ID
    pgflow resume RUN_ID
    pgflow signal RUN_ID STEP [--payload JSON]
    pgflow graph MODULE:FLOW|FLOW_SLUG [--run RUN_ID] [--format mermaid|dot]
    pgflow prune --older-than 7d
    pgflow flows [FLOW]
    pgflow set-version FLOW VERSION
    pgflow schedules [--flow F] [--json]
    pgflow schedule create SLUG FLOW CRON [--input JSON] [--timezone TZ]
    pgflow schedule drop SLUG
    pgflow dashboard [--host 127.0.0.1] [--port 8080] [--token TOKEN]

Every command takes --database-url (default: $DATABASE_URL, then libpq's defaults) and --debug; ``worker``,
``start --wait`` and ``status --watch`` also take --listen-url, a direct connection used only for LISTEN when
the database URL goes through a pooler in transaction mode (default: $PGFLOW_LISTEN_URL). Errors are one line
on stderr: exit status 1 for a refused operation, a failed run, a database without the pgflow schema (the
line names `pgflow migrate`) or a module that raised while it was imported; 2 for bad usage (an option out of
its range, JSON that is not storable, a malformed database URL, a MODULE:FLOW that names no Flow) or an
unreachable database. ``pgflow worker``
exits with status 1 and one line when it cannot start (SPEC §8): a malformed or unreachable database, no
pgflow schema or another version of it (the line names ``pgflow migrate``); a second SIGINT exits at once
with 130. ``--debug`` (or PGFLOW_DEBUG=1 in the environment) prints the traceback before that
line; a failure that is a bug of pgflow's own prints its traceback always. No password is ever printed: error
lines and the worker's log records (tracebacks included) are redacted.

``pgflow start --wait`` says on stderr when no live worker serves the run's flow version (``pgflow.live_workers``:
none in pgflow.workers is running with a lease in the future, the flow among its flows and the version among
the versions its polls claim), 2 s after the run started and again
every minute while it stays so, and keeps waiting. ``pgflow status`` shows the run's progress moving with
its tasks: every step counts for one, a started step for the fraction of its tasks completed (the
engine's ``percentage`` counts finished steps only, and is what ``--json`` prints).

Ranges: durations (``--older-than``) are 0 to 1000 years, as the engine takes them (a year is 360 days
there, as PostgreSQL compares intervals, so at most 360000d); ``--limit`` 0 to 10,000; ``--priority`` -1000
to 1000; ``--interval`` 0.01 s to 1 h; ``--timeout`` 0 s to 1 year; the worker's options as ``pgflow.Worker``
documents them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import getpass
import importlib
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import _arguments, _conninfo, _redact, errors, graph
from .client import (
    INTERVAL_RANGE,
    MAX_LIST_RUNS,
    MAX_PRUNE_AGE,
    MAX_WAIT_TIMEOUT,
    PRIORITY_RANGE,
    TERMINAL,
    Client,
    as_run_id,
)
from .errors import first_line
from .flow import Flow
from .migrate import installed_version, migrate, shipped_version
from .types import FlowVersionRow
from .worker import Worker


class UsageError(Exception):
    """Bad input on the command line (exit status 2)."""


# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------
def load_flow(spec: str) -> Flow:
    """A Flow from ``module:attribute`` (the module is imported from the current directory too).

    UsageError (exit 2) for a spec that is not MODULE:FLOW (a file path gets the module name to use
    instead), a module that cannot be found or imported (with the import error), an attribute that is not a
    Flow (with the module's flows and the closest name). A module that raises anything else while it is
    imported gives a PgflowError naming it (exit 1), and a flow it declares wrongly its InvalidDefinition."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        hint = f" — did you mean {_module_of_path(spec)}:FLOW?" if spec.endswith(".py") else ""
        raise UsageError(f"{spec!r} is not MODULE:FLOW (for example myapp.flows:analyze){hint}")
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        raise UsageError(
            f"{spec!r} names a file, not a module: use {_module_of_path(module_name)}:{attr} "
            "(the module as Python imports it, from the directory that holds it)"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise UsageError(
                f"no module named {module_name!r} (looked in the current directory {os.getcwd()} and on sys.path): "
                f"{first_line(exc)}"
            ) from exc
        raise UsageError(f"cannot import module {module_name!r}: {first_line(exc)}") from exc
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r}: {first_line(exc)}") from exc
    except errors.PgflowError:
        raise
    except Exception as exc:
        raise errors.PgflowError(
            f"importing module {module_name!r} raised {type(exc).__name__}: {first_line(exc)}"
            " (--debug shows the traceback)"
        ) from exc
    flow = getattr(module, attr, None)
    if not isinstance(flow, Flow):
        flows = sorted(name for name, value in vars(module).items() if isinstance(value, Flow))
        if not hasattr(module, attr):
            what = f"module {module_name} has no attribute {attr!r}"
        else:
            what = f"{spec!r} is a {type(flow).__name__}, not a pgflow.Flow"
        if flows:
            close = difflib.get_close_matches(attr, flows, n=1)
            suggestion = f"; did you mean {module_name}:{close[0]}?" if close else ""
            shown = ", ".join(f"{module_name}:{name}" for name in flows)
            raise UsageError(f"{what}{suggestion} (its flows: {shown})")
        raise UsageError(f"{what}, and it defines no pgflow.Flow at module level")
    return flow


def names_module(text: str) -> bool:
    """Whether a FLOW argument names a module's flow (MODULE:FLOW, or a file path given by mistake, which
    load_flow explains) rather than a flow slug."""
    return ":" in text or text.endswith(".py")


def _module_of_path(path: str) -> str:
    """The dotted module name of a .py file path, relative to the current directory when under it."""
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        path = relative if not relative.startswith("..") else os.path.basename(path)
    path = path[:-3] if path.endswith(".py") else path
    parts = [p for p in re.split(r"[/\\]", path) if p and p != "."]
    return ".".join(parts) or path


def _known_flows(client: Client) -> list[str] | None:
    """The slugs of the flows defined in the database (the first 10,000 by name), or None when they cannot be
    read."""
    try:
        rows = client._query(
            "select distinct flow_slug from pgflow.flows order by flow_slug limit 10000", function="flows"
        )
    except (psycopg.Error, errors.PgflowError):
        return None
    return [row["flow_slug"] for row in rows]


def unknown_flow(client: Client, exc: errors.FlowNotFound, slug: str) -> errors.FlowNotFound:
    """``exc`` with the closest known flow and the known flows (at most 20) added to its message."""
    known = _known_flows(client)
    if known is None:
        return exc
    if not known:
        hint = "; no flow is defined in this database yet (a worker defines its flows when it starts)"
    else:
        close = _closest(slug, known)
        shown = ", ".join(known[:20]) + (f" and {len(known) - 20} more" if len(known) > 20 else "")
        hint = (f"; did you mean {close[0]!r}?" if close else "") + f" (known flows: {shown})"
    return errors.FlowNotFound(exc.message + hint, detail=exc.detail)


def _closest(slug: str, known: list[str]) -> list[str]:
    """The known slug closest to ``slug`` (at most one): one that differs only in case first, then the closest
    by difflib's ratio of at least 0.6, compared case-insensitively."""
    folded = slug.casefold()
    same = [name for name in known if name.casefold() == folded]
    if same:
        return same[:1]
    by_folded: dict[str, str] = {}
    for name in known:
        by_folded.setdefault(name.casefold(), name)
    return [by_folded[name] for name in difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.6)]


def parse_run_id(text: str) -> Any:
    try:
        return as_run_id(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, what: str = "--older-than") -> dt.timedelta:
    """``30s``, ``15m``, ``12h``, ``7d``, ``2w``: 0 to 1000 years as the engine counts them (360000 days).
    UsageError naming ``what`` otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"{what} {text!r} is not a duration: use a number and a unit, such as 30s, 15m, 12h, 7d or 2w")
    seconds = float(match.group(1)) * _UNITS[match.group(2).lower()]
    if not seconds <= MAX_PRUNE_AGE.total_seconds():  # also false for inf
        raise UsageError(f"{what} {text!r} is too long: a duration is at most 1000 years (360000d)")
    return dt.timedelta(seconds=seconds)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def parse_json(text: str, what: str) -> Any:
    """The JSON value of an option; UsageError naming ``what`` when it is not JSON (NaN and Infinity are not)
    or cannot be stored (a NUL character)."""
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError as exc:  # a JSONDecodeError, or a number Python cannot hold
        raise UsageError(f"{what} is not valid JSON: {exc}") from None
    checked(_arguments.json_text, what, value)
    return value


def checked(check: Any, *args: Any, **kwargs: Any) -> Any:
    """``check(*args, **kwargs)`` (an ``_arguments`` check); its InvalidInput becomes a UsageError (exit 2)."""
    try:
        return check(*args, **kwargs)
    except errors.InvalidInput as exc:
        raise UsageError(exc.message) from None


def bar(done: int, total: int, width: int = 20) -> str:
    filled = width if total == 0 and done == 0 else int(width * done / total) if total else 0
    return "#" * filled + "." * (width - filled)


def run_progress(status: Mapping[str, Any]) -> float:
    """A run's progress in percent (one decimal) that moves with its tasks: each step counts for one, a
    completed or skipped step fully, any other step for the fraction of its tasks completed. 100.0 for a
    completed run. (The engine's ``percentage`` counts finished steps only.)"""
    steps = status.get("steps") or []
    if status.get("status") == "completed":
        return 100.0
    if not steps:
        return 0.0
    done = 0.0
    for step in steps:
        if step["status"] in ("completed", "skipped"):
            done += 1.0
        elif step["total_tasks"]:
            done += min(step["completed_tasks"], step["total_tasks"]) / step["total_tasks"]
    return round(100.0 * done / len(steps), 1)


def render_status(status: Mapping[str, Any]) -> str:
    """A run's status as text: a header with the run's priority (when not 0) and progress (moving with its
    tasks), then one line per step with a progress bar."""
    percent = run_progress(status)
    priority = f"priority {status['priority']}  " if status.get("priority") else ""
    lines = [
        f"run {status['run_id']}  flow {status['flow_slug']} v{status['flow_version']}  {status['status']}  {priority}"
        f"[{bar(int(percent * 10), 1000)}] {percent}% ({status['completed_steps']}/{status['total_steps']} steps, "
        f"{status['completed_tasks']}/{status['total_tasks']} tasks)"
    ]
    parent = status.get("parent")
    if parent:  # a child run of a sub-flow step
        lines.append(f"  child run of {parent['run_id']}, step {parent['step_slug']}, task {parent['task_index']}")
    width = max([len(s["step_slug"]) for s in status["steps"]] + [4])
    for step in status["steps"]:
        total, done = step["total_tasks"], step["completed_tasks"]
        finished = step["status"] in ("completed", "skipped")
        shown_total = total if total else (0 if step["step_type"] == "map" else 1)
        progress = bar(done if total else int(finished), shown_total or 1)
        line = f"  {step['step_slug']:<{width}}  [{progress}] {done:>5}/{total:<5} {step['status']}"
        if step["status"] == "waiting":  # a wait step waiting for its signal
            line += f" since {step.get('waiting_since')}"
            line += f", deadline {step['deadline']}" if step.get("deadline") else ", no deadline"
        if step["attempts"] > max(total, 1) or step["error"]:
            line += f"  attempts {step['attempts']}"
        if step["error"]:
            line += f"  error: {step['error']}"
        lines.append(line)
        if step.get("subflow"):  # a sub-flow step: its child runs (the latest of each task)
            lines.append(f"  {'':<{width}}  runs flow {step['subflow']}")
            for child in step.get("child_runs") or []:
                lines.append(f"  {'':<{width}}    task {child['task_index']}: run {child['run_id']}  {child['status']}")
    if status["status"] == "completed":
        lines.append(f"output: {json.dumps(status['output'])}")
    elif status["error"]:
        lines.append(f"error: {status['error']}")
    return "\n".join(lines)


class NoWorkerNotice:
    """Says (through ``say``) that no live worker serves a flow (version ``flow_version`` of it, when given) while
    a run waits: at the first look ``grace`` seconds after it is made, then every ``repeat`` seconds while it
    stays so, looking at most every ``every`` seconds; and once, when a worker turns up after it was said.
    ``live`` returns how many live workers serve the flow, or None when that cannot be known (nothing is said
    then)."""

    def __init__(
        self,
        live: Callable[[], int | None],
        say: Callable[[str], None],
        flow_slug: str,
        worker_spec: str,
        *,
        grace: float = 2.0,
        every: float = 5.0,
        repeat: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        flow_version: int | None = None,
    ) -> None:
        self.live, self.say, self.flow_slug, self.worker_spec = live, say, flow_slug, worker_spec
        self.served = flow_slug if flow_version is None else f"{flow_slug} version {flow_version}"
        self.every, self.repeat, self.clock = every, repeat, clock
        self.began = clock()
        self.next_look = self.began + grace
        self.said_at: float | None = None

    def look(self) -> None:
        now = self.clock()
        if now < self.next_look:
            return
        self.next_look = now + self.every
        count = self.live()
        if count is None:
            return
        if count:
            if self.said_at is not None:
                self.say(f"a live worker now serves flow {self.served}")
                self.said_at = None
            return
        if self.said_at is None:
            self.say(
                f"no live worker serves flow {self.served} (none in pgflow.workers is running with a current "
                f"lease for it): start one with `pgflow worker {self.worker_spec}`; still waiting"
            )
            self.said_at = now
        elif now - self.said_at >= self.repeat:
            self.say(f"still no live worker serves flow {self.served} after {now - self.began:.0f} s; still waiting")
            self.said_at = now


def live_workers(client: Client, flow_slug: str, flow_version: int | None = None) -> int | None:
    """How many workers serve version ``flow_version`` of ``flow_slug`` now (None: the flow's current version),
    as ``pgflow.live_workers`` counts them: not stopped, lease (expires_at) in the future by the engine's clock,
    flow_slugs null (every flow) or holding it, and flow_versions null (every version) or listing the version.
    The owner, a producer and a reader may call it. None when it cannot be known (a role not allowed to call
    it, an unknown flow, a database without the function)."""
    try:
        rows = client._query(
            "select pgflow.live_workers(%s, %s) as n", (flow_slug, flow_version), function="live_workers"
        )
    except (psycopg.Error, errors.PgflowError):
        return None
    return int(rows[0]["n"])


def wait_for_run(
    client: Client,
    run_id: uuid.UUID,
    flow_slug: str,
    timeout: float | None,
    worker_spec: str,
    flow_version: int | None = None,
) -> Any:
    """``Client.wait`` (the output; RunFailed, RunCancelled, TimeoutError) that also says on stderr when no
    live worker serves the flow's version ``flow_version`` (None: its current one; NoWorkerNotice)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = 1.0 if timeout is None else min(1.0, max(timeout, 0.01))
    notice = NoWorkerNotice(
        lambda: live_workers(client, flow_slug, flow_version), _error, flow_slug, worker_spec, flow_version=flow_version
    )
    for status in client.watch(run_id, interval=interval):
        state = status["status"]
        if state == "completed":
            return status["output"]
        if state == "failed":
            raise errors.RunFailed(run_id, status["error"], status)
        if state == "cancelled":
            raise errors.RunCancelled(run_id, status["error"], status)
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"run {run_id} did not finish within {timeout} s (status {state})")
        notice.look()
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    # What the database had when the command started: another process migrating at the same time may do the
    # work, and the lines stay true then (the database went from that version to this one meanwhile).
    with _conninfo.connect(args.database_url, autocommit=True) as conn:
        before = installed_version(conn)
    if before == shipped_version():
        # migrate() still runs: it checks the installed schema's owner and files
        print(f"pgflow schema {migrate(args.database_url)} is already installed: nothing to do")
    elif before is None:
        print(f"pgflow schema {migrate(args.database_url)} installed")
    else:
        print(f"pgflow schema {migrate(args.database_url)} installed: upgraded from {before}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    flows = [load_flow(spec) for spec in args.flows]
    json_formatter = None
    if args.log_format == "json":  # one JSON object per line (pgflow.logs), worker_id set below
        from .logs import JsonFormatter

        json_formatter = JsonFormatter()
        json_lines = logging.StreamHandler()
        json_lines.setFormatter(json_formatter)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[json_lines])
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # every record that reaches the console is redacted, whichever library logged it
    for handler in logging.getLogger().handlers:
        _redact.install(handler)
    try:
        worker = Worker(
            args.database_url,
            flows,
            concurrency=args.concurrency,
            worker_id=args.worker_id,
            poll_interval=args.poll_interval,
            heartbeat_interval=args.heartbeat_interval,
            shutdown_timeout=args.shutdown_timeout,
            worker_timeout=args.worker_timeout,
            listen_conninfo=args.listen_url,
            isolation=args.isolation,
            startup_timeout=args.startup_timeout,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
        )
    except errors.InvalidInput as exc:
        raise UsageError(exc.message) from None
    if json_formatter is not None:
        json_formatter.worker_id = worker.worker_id
    worker.run()
    return 0


#: how long a stopped worker is still listed by ``pgflow workers --all``
RECENTLY_STOPPED = dt.timedelta(days=1)


def _ago(seconds: float | None) -> str:
    """``4s ago``, ``12m ago``, ``3h ago``, ``2d ago``."""
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def served_flows(flow_slugs: list[str] | None, flow_versions: Any) -> str:
    """The FLOWS cell of ``pgflow workers``: the flows a worker serves, comma-separated, each followed by the
    versions it serves (``crawl v3,4``) when its polls named them (pgflow.workers.flow_versions, an object
    {"flow_slug": [version, ...]}; null: every version, a flow absent from it: not served); "(any)" for every
    flow and version."""
    if not isinstance(flow_versions, dict):
        return ",".join(flow_slugs) if flow_slugs else "(any)"
    slugs = sorted(flow_versions) if flow_slugs is None else [s for s in flow_slugs if s in flow_versions]
    if not slugs:
        return "(none)"
    return ",".join(
        f"{slug} v{','.join(str(v) for v in flow_versions[slug])}" if flow_versions[slug] else f"{slug} (no version)"
        for slug in slugs
    )


def cmd_workers(args: argparse.Namespace) -> int:
    """One line per worker that is not stopped (and, with --all, those stopped within RECENTLY_STOPPED): its id,
    flows (with the versions it serves: served_flows), last heartbeat, state, the tasks it holds (started tasks
    in pgflow.step_tasks) and the handlers it reported past their deadline at its last heartbeat ("-" for a
    stopped worker)."""
    with _conninfo.connect(args.database_url, autocommit=True) as conn:
        rows = conn.execute(
            """
            select
              w.worker_id, w.flow_slugs,
              extract(epoch from pg_catalog.statement_timestamp() - w.last_heartbeat_at)::float8,
              extract(epoch from pg_catalog.statement_timestamp() - w.stopped_at)::float8,
              w.expires_at < pg_catalog.statement_timestamp(),
              (select count(*) from pgflow.step_tasks as t where t.worker_id = w.worker_id and t.status = 'started'),
              w.past_deadline, w.flow_versions
            from pgflow.workers as w
            where w.stopped_at is null or (%s and w.stopped_at > pg_catalog.statement_timestamp() - %s)
            order by w.stopped_at is not null, w.worker_id
            """,
            (args.all, RECENTLY_STOPPED),
        ).fetchall()
    if not rows:
        print("no workers" + ("" if args.all else " running (--all shows the recently stopped)"))
        return 0
    table = [("WORKER", "FLOWS", "HEARTBEAT", "STATE", "TASKS", "PAST DEADLINE")]
    for worker_id, flows, heard, stopped, expired, tasks, past, versions in rows:
        state = f"stopped {_ago(stopped)}" if stopped is not None else ("lease expired" if expired else "running")
        late = [
            f"{item.get('run_id')}/{item.get('step_slug')}[{item.get('task_index')}] attempt {item.get('attempt')}"
            for item in past or []
            if isinstance(item, dict)
        ]
        shown = str(len(late)) + (f": {', '.join(late[:3])}" if late else "") + (" ..." if len(late) > 3 else "")
        if stopped is not None:
            shown = "-"  # a stopped worker runs no handler
        table.append((worker_id, served_flows(flows, versions), _ago(heard), state, str(tasks), shown))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    payload = parse_json(args.input, "--input")
    checked(_arguments.text, "--idempotency-key", args.idempotency_key, optional=True, max_length=_arguments.MAX_TEXT)
    checked(_arguments.integer, "--priority", args.priority, minimum=PRIORITY_RANGE[0], maximum=PRIORITY_RANGE[1])
    if args.timeout is not None:
        checked(_arguments.number, "--timeout", args.timeout, inclusive=True, maximum=MAX_WAIT_TIMEOUT)
    with _client(args) as client:
        target: Flow | str = load_flow(args.flow) if names_module(args.flow) else args.flow
        try:
            run = client.start_run(target, payload, idempotency_key=args.idempotency_key, priority=args.priority)
        except errors.FlowNotFound as exc:
            raise unknown_flow(client, exc, args.flow) from None
        print(run.run_id, flush=True)
        if not args.wait:
            return 0
        worker_spec = args.flow if ":" in args.flow else "MODULE:FLOW"
        try:
            output = wait_for_run(client, run.run_id, run.flow_slug, args.timeout, worker_spec, run.flow_version)
        except errors.RunFailed as exc:
            _error(f"run {run.run_id} failed: {exc.error}")
            return 1
        except errors.RunCancelled as exc:
            _error(str(exc))
            return 1
        print(json.dumps(output))
        return 0


def cmd_status(args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    checked(
        _arguments.number,
        "--interval",
        args.interval,
        minimum=INTERVAL_RANGE[0],
        maximum=INTERVAL_RANGE[1],
        inclusive=True,
    )
    with _client(args) as client:
        if getattr(args, "outputs", False):
            return show_step_outputs(client, run_id, as_json=args.json)
        if not args.watch:
            now = client.get_run_status(run_id)
            print(json.dumps(now, indent=2) if args.json else render_status(now))
            return 0
        tty = sys.stdout.isatty()
        previous_lines = 0
        status: Mapping[str, Any] = {}
        for status in client.watch(run_id, interval=args.interval):
            text = render_status(status)
            if tty and previous_lines:
                sys.stdout.write(f"\x1b[{previous_lines}F\x1b[J")
            sys.stdout.write(text + "\n" + ("" if tty else "\n"))
            sys.stdout.flush()
            previous_lines = text.count("\n") + 1
        return 0 if status.get("status") == "completed" else 1


def _client(args: argparse.Namespace) -> Client:
    """A Client of --database-url, listening on --listen-url; UsageError for a malformed --listen-url."""
    try:
        return Client(args.database_url, listen_conninfo=args.listen_url)
    except errors.InvalidInput as exc:
        raise UsageError(exc.message.replace("listen_conninfo", "--listen-url")) from None


def cmd_runs(args: argparse.Namespace) -> int:
    checked(_arguments.text, "--flow", args.flow, optional=True)
    checked(_arguments.integer, "--limit", args.limit, minimum=0, maximum=MAX_LIST_RUNS)
    with Client(args.database_url) as client:
        runs = client.list_runs(args.flow, args.status, args.limit)
    if not runs:
        print("no runs")
        return 0
    print(f"{'run_id':36}  {'flow':20}  {'version':>7}  {'status':9}  {'priority':>8}  {'started_at':25}  finished_at")
    for run in runs:
        finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "-"
        print(
            f"{run.run_id!s:36}  {run.flow_slug:20}  {run.flow_version:>7}  {run.status:9}  {run.priority:>8}  "
            f"{run.started_at.isoformat(timespec='seconds'):25}  {finished}"
        )
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    if args.reason:
        checked(_arguments.text, "--reason", args.reason)
    with Client(args.database_url) as client:
        run = client.cancel_run(run_id, args.reason)
    print(f"run {run.run_id} {run.status}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    with Client(args.database_url) as client:
        run = client.resume_run(parse_run_id(args.run_id))
    print(f"run {run.run_id} {run.status}")
    return 0


def cmd_signal(args: argparse.Namespace) -> int:
    run_id = parse_run_id(args.run_id)
    checked(_arguments.text, "STEP", args.step)
    payload = None if args.payload is None else parse_json(args.payload, "--payload")
    with Client(args.database_url) as client:
        recorded = client.signal(run_id, args.step, payload)
    if not recorded:
        _error(
            f"run {run_id}: the signal to step {args.step} was not recorded: the step already has a signal, has "
            "finished, or its timeout passed (pgflow status shows it)"
        )
        return 1
    print(f"run {run_id}: signal to step {args.step} recorded")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    statuses: dict[str, str] = {}
    with Client(args.database_url) as client:
        if args.run:
            status = client.get_run_status(parse_run_id(args.run))
            described = client.describe_flow(status["flow_slug"], status["flow_version"])
            conditions: dict[str, Mapping[str, Any]] = {s["step_slug"]: s for s in described["steps"]}
            steps: Sequence[Mapping[str, Any]] = [
                {
                    "step_slug": s["step_slug"],
                    "step_type": s["step_type"],
                    "depends_on": s["depends_on"],
                    **{
                        k: conditions.get(s["step_slug"], {}).get(k)
                        for k in graph.CONDITION_KEYS + graph.FLOW_CONTROL_KEYS + graph.SCHEMA_KEYS
                    },
                }
                for s in status["steps"]
            ]
            statuses = {s["step_slug"]: s["status"] for s in status["steps"]}
            name = status["flow_slug"]
        elif names_module(args.flow):
            flow = load_flow(args.flow)
            steps = graph.steps_of_flow(flow)
            graph.check_dag(flow.slug, steps)
            name = flow.slug
        else:
            try:
                described = client.describe_flow(args.flow)
            except errors.FlowNotFound as exc:
                raise unknown_flow(client, exc, args.flow) from None
            steps = described["steps"]
            name = described["flow_slug"]
    render = graph.to_dot if args.format == "dot" else graph.to_mermaid
    print(render(name, steps, statuses))
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    older_than = parse_duration(args.older_than)
    with Client(args.database_url) as client:
        deleted = client.prune_runs(older_than)
    print(f"deleted {deleted} run(s) finished more than {args.older_than} ago")
    return 0


#: the most characters of one step's output shown on a terminal by ``pgflow status --outputs`` (--json: all)
OUTPUT_PREVIEW = 200


def show_step_outputs(client: Client, run_id: Any, *, as_json: bool) -> int:
    """``pgflow status RUN_ID --outputs``: each completed step's output, one line per step in the run's step
    order (outputs longer than OUTPUT_PREVIEW characters cut, and the cut says so), then the steps without an
    output and their status; with --json, pgflow.get_step_outputs's object, whole."""
    outputs = client.get_step_outputs(run_id)
    if as_json:
        print(json.dumps(outputs, indent=2))
        return 0
    status = client.get_run_status(run_id)
    steps = [s["step_slug"] for s in status["steps"]]
    width = max([len(slug) for slug in steps] + [4])
    print(f"run {status['run_id']}  flow {status['flow_slug']} v{status['flow_version']}  {status['status']}")
    for step in status["steps"]:
        slug = step["step_slug"]
        if slug in outputs:
            text = json.dumps(outputs[slug])
            if len(text) > OUTPUT_PREVIEW:
                text = f"{text[:OUTPUT_PREVIEW]}... ({len(text)} characters; --json shows all)"
            print(f"  {slug:<{width}}  {text}")
        else:
            print(f"  {slug:<{width}}  (no output: {step['status']})")
    return 0


def cmd_set_version(args: argparse.Namespace) -> int:
    checked(_arguments.text, "FLOW", args.flow)
    checked(_arguments.integer, "VERSION", args.version, minimum=1)
    with Client(args.database_url) as client:
        try:
            versions: list[FlowVersionRow] | None = client.list_flow_versions(args.flow)
        except errors.PermissionDenied:
            versions = None  # only the owner may set the version: let set_current_version say so
        before = [v["version"] for v in versions or [] if v["is_current"]]
        try:
            now = client.set_current_version(args.flow, args.version)
        except errors.FlowNotFound as exc:
            if versions or versions is None:  # the flow exists, the version does not: the engine says so
                raise
            raise unknown_flow(client, exc, args.flow) from None
    was = before[0] if before else None
    if was == now.version:
        print(f"flow {now.flow_slug}: version {now.version} was already current")
    else:
        print(f"flow {now.flow_slug}: version {now.version} is now current (was version {was})")
    return 0


def cmd_flows(args: argparse.Namespace) -> int:
    checked(_arguments.text, "FLOW", args.flow, optional=True)
    with Client(args.database_url) as client:
        versions = client.list_flow_versions(args.flow)
        if not versions and args.flow:
            # an unknown flow is an error, as for start and graph (exit 1, with the closest known flow)
            raise unknown_flow(client, errors.FlowNotFound(f"flow {args.flow} does not exist"), args.flow)
    if args.json:
        print(json.dumps(versions, indent=2))
        return 0
    if not versions:
        print("no flows")
        return 0
    print(f"{'flow':20}  {'version':>7}  {'current':7}  {'created_at':25}  {'in flight':>9}  steps")
    for v in versions:
        created = dt.datetime.fromisoformat(v["created_at"]).isoformat(timespec="seconds")
        steps = ", ".join(v["steps"])
        if len(steps) > 60:
            steps = steps[:57] + "..."
        print(
            f"{v['flow_slug']:20}  {v['version']:>7}  {'yes' if v['is_current'] else '':7}  {created:25}  "
            f"{v['runs_in_flight']:>9}  {steps}"
        )
    return 0


def _when(value: dt.datetime | None) -> str:
    """A time of ``pgflow schedules``, to the second, in UTC; ``-`` for none."""
    if value is None:
        return "-"
    return value.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


#: the most characters of a schedule's last error shown by ``pgflow schedules`` (--json: all)
ERROR_PREVIEW = 60


def cmd_schedules(args: argparse.Namespace) -> int:
    """One line per schedule (of --flow, or all): slug, flow, cron, time zone, next tick and last tick (UTC),
    the last run started and the first line of the last tick's error (cut at ERROR_PREVIEW characters); with
    --json, the rows of pgflow.schedules whole."""
    checked(_arguments.text, "--flow", args.flow, optional=True)
    with Client(args.database_url) as client:
        schedules = client.list_schedules(args.flow)
    if args.json:
        print(json.dumps(schedules, indent=2, default=str))
        return 0
    if not schedules:
        print("no schedules" + (f" for flow {args.flow}" if args.flow else ""))
        return 0
    table = [("SCHEDULE", "FLOW", "CRON", "TIMEZONE", "NEXT TICK", "LAST TICK", "LAST RUN", "LAST ERROR")]
    for row in schedules:
        error = (row["last_error"] or "-").splitlines()[0] if row["last_error"] else "-"
        if len(error) > ERROR_PREVIEW:
            error = error[: ERROR_PREVIEW - 3] + "..."
        table.append(
            (
                row["schedule_slug"],
                row["flow_slug"],
                row["cron"],
                row["timezone"],
                _when(row["next_tick"]),
                _when(row["last_tick"]),
                str(row["last_run_id"] or "-"),
                error,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(7)]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths)) + "  " + line[7])
    return 0


def cmd_schedule_create(args: argparse.Namespace) -> int:
    payload = parse_json(args.input, "--input")
    checked(_arguments.text, "SLUG", args.slug, max_length=_arguments.MAX_TEXT)
    checked(_arguments.text, "FLOW", args.flow, max_length=_arguments.MAX_TEXT)
    checked(_arguments.text, "CRON", args.cron, max_length=_arguments.MAX_TEXT)
    checked(_arguments.text, "--timezone", args.timezone, max_length=_arguments.MAX_TEXT)
    with Client(args.database_url) as client:
        try:
            row = client.create_schedule(args.slug, args.flow, args.cron, payload, timezone=args.timezone)
        except errors.FlowNotFound as exc:
            raise unknown_flow(client, exc, args.flow) from None
    print(
        f"schedule {row['schedule_slug']}: flow {row['flow_slug']}, cron {row['cron']!r} in {row['timezone']}, "
        f"next tick {_when(row['next_tick'])}"
    )
    return 0


def cmd_schedule_drop(args: argparse.Namespace) -> int:
    checked(_arguments.text, "SLUG", args.slug, max_length=_arguments.MAX_TEXT)
    with Client(args.database_url) as client:
        dropped = client.drop_schedule(args.slug)
    if not dropped:
        _error(f"schedule {args.slug} does not exist")
        return 1
    print(f"schedule {args.slug} dropped")
    return 0


# ----------------------------------------------------------------------------------------------------
LISTEN_URL_HELP = (
    "a direct PostgreSQL connection used only for LISTEN, when --database-url goes through a pooler in "
    "transaction mode (default: $PGFLOW_LISTEN_URL; without one, notifications are proven to arrive or "
    "replaced by polling)"
)


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the web dashboard (python_client/pgflow/dashboard/) until interrupted; says where on stderr, without the
    token or the database's password."""
    checked(_arguments.integer, "--port", args.port, minimum=1, maximum=65535)
    try:
        from . import dashboard
    except ImportError:  # pragma: no cover - the package is part of pgflow; its dependencies may be missing
        raise UsageError("pgflow dashboard needs its extra: pip install 'pgflow[dashboard]'") from None
    token = args.token or os.environ.get(dashboard.TOKEN_VARIABLE) or None
    if token is None and not dashboard.is_loopback(args.host):
        raise UsageError(
            f"refusing to serve {args.host} without a token: give --token (or {dashboard.TOKEN_VARIABLE}), "
            "or bind 127.0.0.1"
        )
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UsageError("pgflow dashboard needs its extra: pip install 'pgflow[dashboard]'") from None
    # the database must answer before the address is printed: a wrong URL is one line, not a page of errors later
    with _conninfo.connect(args.database_url, autocommit=True) as conn:
        if installed_version(conn) is None:
            raise errors.SchemaNotInstalled("the database has no pgflow schema: run `pgflow migrate` first")
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"pgflow dashboard on http://{shown}:{args.port}/"
        + (" (token required)" if token else "")
        + " — Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    dashboard.serve(args.database_url, host=args.host, port=args.port, token=token)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL connection string (default: $DATABASE_URL, then libpq's defaults)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the traceback of an error before its one line (also PGFLOW_DEBUG=1)",
    )
    parser = argparse.ArgumentParser(
        prog="pgflow",
        description="pgflow: DAG workflows inside PostgreSQL",
        epilog="Exit status: 0 ok, 1 a refused operation, a failed run or a server error, 2 bad usage or an "
        "unreachable database. `pgflow COMMAND --help` describes one command.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "migrate",
        parents=[common],
        help="install or upgrade the pgflow schema",
        description="Install the pgflow schema, or upgrade it to this package's version; says whether it "
        "installed, upgraded (from which version) or found it already installed. Safe to run concurrently.",
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", parents=[common], help="run the handlers of one or more flows")
    p.add_argument(
        "flows",
        nargs="+",
        metavar="MODULE:FLOW",
        help="a pgflow.Flow in an importable module, e.g. myapp.flows:analyze (the current directory is on the path)",
    )
    p.add_argument("--concurrency", type=int, default=4, help="tasks run at the same time, 1 to 10000 (default 4)")
    p.add_argument("--worker-id", default=None, help="at most 255 characters (default: host-pid-random)")
    p.add_argument(
        "--poll-interval", type=float, default=1.0, help="fallback poll interval, 0.01 to 3600 seconds (default 1)"
    )
    p.add_argument(
        "--heartbeat-interval",
        type=float,
        default=5.0,
        help="seconds between heartbeats, 0.1 to 3600 (default 5; at most a third of pgflow.worker_timeout is used)",
    )
    p.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        help="on SIGINT/SIGTERM, seconds to finish the tasks in hand, 0 to 86400 (default 30)",
    )
    p.add_argument(
        "--isolation",
        choices=("thread", "process"),
        default="thread",
        help="run handlers in threads (default) or in child processes killed 2 s past their deadline",
    )
    p.add_argument(
        "--worker-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds without a poll or heartbeat before this worker's tasks count as failed, 1 to 3600 (default: "
        "the session setting pgflow.worker_timeout, else 30)",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=15.0,
        help="seconds to reach the database and find its schema before exiting with status 1, 1 to 3600 (default 15)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every task")
    p.add_argument("--listen-url", default=None, help=LISTEN_URL_HELP)
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on this port, 0 to 65535 (needs pgflow[metrics]; default: none)",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address the metrics are served on (default 127.0.0.1; 0.0.0.0: every interface)",
    )
    p.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text lines (default) or one JSON object per line with run_id, flow_slug, step_slug, task_index, "
        "attempt and worker_id",
    )
    # a start-up failure, a malformed database URL included, exits with status 1 (SPEC §8)
    p.set_defaults(func=cmd_worker, bad_url_status=1)

    p = sub.add_parser(
        "workers", parents=[common], help="list the workers: flows, last heartbeat, tasks, handlers past deadline"
    )
    p.add_argument("--all", action="store_true", help="also the workers stopped within the last day")
    p.set_defaults(func=cmd_workers)

    p = sub.add_parser("start", parents=[common], help="start a run")
    p.add_argument("flow", metavar="FLOW", help="a flow slug, or MODULE:FLOW to define the flow first")
    p.add_argument("--input", default="{}", help="the run input as JSON (default {})")
    p.add_argument(
        "--idempotency-key",
        default=None,
        help="a second start with the same key returns the first run (1-255 characters)",
    )
    p.add_argument(
        "--priority",
        type=int,
        default=0,
        help="among due tasks, those of runs of higher priority are claimed first, -1000 to 1000 (default 0)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="wait for the run and print its output (exit 1 if it fails or is cancelled); says on stderr while no "
        "live worker serves the flow",
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="with --wait: give up (exit 1) after this many seconds, 0 to 1 year"
    )
    p.add_argument("--listen-url", default=None, help=LISTEN_URL_HELP)
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("status", parents=[common], help="show a run's progress")
    p.add_argument("run_id", metavar="RUN_ID", help="the run's id (a UUID)")
    p.add_argument("--watch", action="store_true", help="refresh until the run finishes (exit 1 unless it completes)")
    p.add_argument("--interval", type=float, default=0.5, help="with --watch: seconds between refreshes, 0.01 to 3600")
    p.add_argument(
        "--json",
        action="store_true",
        help="print pgflow.get_run_status as JSON (its percentage counts finished steps only)",
    )
    p.add_argument("--listen-url", default=None, help=LISTEN_URL_HELP)
    p.add_argument(
        "--outputs",
        action="store_true",
        help="print each completed step's output (cut at 200 characters; whole with --json)",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("runs", parents=[common], help="list recent runs")
    p.add_argument("--flow", default=None, help="only the runs of this flow slug")
    p.add_argument("--status", default=None, choices=(*TERMINAL, "started"), help="only the runs in this status")
    p.add_argument("--limit", type=int, default=50, help="at most this many runs, 0 to 10000 (default 50)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("cancel", parents=[common], help="cancel a started run")
    p.add_argument("run_id", metavar="RUN_ID", help="the run's id (a UUID)")
    p.add_argument("--reason", default=None, help="recorded as the run's error")
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("resume", parents=[common], help="resume a failed or cancelled run")
    p.add_argument("run_id", metavar="RUN_ID", help="the run's id (a UUID)")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser(
        "signal",
        parents=[common],
        help="signal a wait step of a run",
        description="Signal a wait step of a started run: the payload becomes the step's output and the run goes "
        "on. A signal to a step not ready yet is kept for it. Exit status 1 when the signal was not recorded (the "
        "step already had one, has finished, or its timeout passed) or was refused (an unknown run, a run that is "
        "not started, a step that is not a wait step).",
    )
    p.add_argument("run_id", metavar="RUN_ID", help="the run's id (a UUID)")
    p.add_argument("step", metavar="STEP", help="the wait step's slug")
    p.add_argument("--payload", default=None, metavar="JSON", help="the step's output as JSON (default null)")
    p.set_defaults(func=cmd_signal)

    p = sub.add_parser(
        "graph",
        parents=[common],
        help="print a flow as Mermaid or Graphviz DOT",
        description="Print a flow's steps and dependencies as Mermaid or Graphviz DOT; map and wait steps are marked, "
        "conditions (if, if_not, when unmet) are shown on their steps. A flow whose dependencies form a cycle "
        "or name no step is refused (exit 1).",
    )
    p.add_argument(
        "flow",
        metavar="MODULE:FLOW|FLOW_SLUG",
        help="a pgflow.Flow in a module, or the slug of a flow defined in the database (its current version)",
    )
    p.add_argument(
        "--run", default=None, metavar="RUN_ID", help="colour the steps by this run's status (the run's flow version)"
    )
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("prune", parents=[common], help="delete finished runs")
    p.add_argument(
        "--older-than", required=True, metavar="DURATION", help="for example 7d, 12h, 30m (at most 1000 years)"
    )
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("flows", parents=[common], help="list flow versions: which is current, runs in flight")
    p.add_argument("flow", metavar="FLOW", nargs="?", default=None, help="only this flow")
    p.add_argument("--json", action="store_true", help="print pgflow.list_flow_versions as JSON")
    p.set_defaults(func=cmd_flows)

    p = sub.add_parser(
        "set-version", parents=[common], help="make a version of a flow current (rollback or roll forward)"
    )
    p.add_argument("flow", metavar="FLOW")
    p.add_argument("version", metavar="VERSION", type=int)
    p.set_defaults(func=cmd_set_version)

    p = sub.add_parser(
        "schedules", parents=[common], help="list cron schedules: next tick, last tick, last run, last error"
    )
    p.add_argument("--flow", default=None, help="only the schedules of this flow slug")
    p.add_argument("--json", action="store_true", help="print the rows of pgflow.schedules as JSON")
    p.set_defaults(func=cmd_schedules)

    p = sub.add_parser("schedule", parents=[common], help="create or drop a cron schedule")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = actions.add_parser(
        "create",
        parents=[common],
        help="create or update a schedule",
        description="Create or update a schedule: polls start a run of FLOW at each tick of CRON, once per tick "
        "(ticks missed while nothing polled start once, for the latest). The same values again change nothing.",
    )
    q.add_argument("slug", metavar="SLUG", help="the schedule's slug (letters, digits and underscores)")
    q.add_argument("flow", metavar="FLOW", help="the slug of a defined flow")
    q.add_argument(
        "cron",
        metavar="CRON",
        help="five fields, minute hour day-of-month month day-of-week (quote it), or @hourly, @daily, @weekly, "
        "@monthly, @yearly",
    )
    q.add_argument("--input", default="{}", help="the input of each run as JSON (default {})")
    q.add_argument("--timezone", default="UTC", help="the time zone CRON is read in, e.g. Europe/Berlin (default UTC)")
    q.set_defaults(func=cmd_schedule_create)
    q = actions.add_parser(
        "drop",
        parents=[common],
        help="drop a schedule (exit 1 when there is none)",
        description="Drop a schedule; the runs it started stay. Exit status 1 when there is no such schedule.",
    )
    q.add_argument("slug", metavar="SLUG", help="the schedule's slug")
    q.set_defaults(func=cmd_schedule_drop)

    p = sub.add_parser(
        "dashboard",
        parents=[common],
        help="serve the web dashboard (runs, DAGs, flows, workers, schedules)",
        description="Serve a web UI: runs with filters, each run's DAG coloured by status (live), its tasks with "
        "attempts, errors, inputs and outputs, flows and their versions, workers and schedules; cancel and resume. "
        "Binds 127.0.0.1 by default; a non-loopback address needs a token, then asked of every request "
        "(?token=... once, then a cookie; or Authorization: Bearer). Needs pip install 'pgflow[dashboard]'.",
    )
    p.add_argument("--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="the port, 1 to 65535 (default 8080)")
    p.add_argument(
        "--token",
        default=None,
        help="a secret every request must carry (default: $PGFLOW_DASHBOARD_TOKEN); required off loopback",
    )
    p.set_defaults(func=cmd_dashboard)

    for action in sub._choices_actions:  # `pgflow COMMAND --help` opens with what the command does
        command = sub.choices[action.dest]
        if command.description is None:
            command.description = action.help[:1].upper() + action.help[1:] + "." if action.help else None
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "database_url"):
        args.database_url = None
    debug = bool(getattr(args, "debug", False)) or os.environ.get("PGFLOW_DEBUG", "") not in ("", "0")
    try:
        problem = _conninfo.check(args.database_url)
        if problem is not None:
            if getattr(args, "bad_url_status", 2) != 2:
                _error(f"the database URL is not a valid connection string: {problem}")
                return int(args.bad_url_status)
            raise UsageError(f"the database URL is not a valid connection string: {problem}")
        return int(args.func(args))
    except UsageError as exc:
        return _fail(exc, str(exc), 2, debug)
    except errors.PgflowError as exc:
        return _fail(exc, str(exc), 1, debug)
    except psycopg.Error as exc:
        if errors.is_connection_lost(exc):
            return _fail(exc, f"cannot reach the database: {first_line(exc)}", 2, debug)
        return _fail(exc, first_line(errors.translate(exc, _login_role(args.database_url))), 1, debug)
    except TimeoutError as exc:
        return _fail(exc, str(exc), 1, debug)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # the reader went away (`pgflow graph x | head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: the traceback is shown, redacted
        print(_redact.format_exception(exc), file=sys.stderr, end="")
        return 1


def _login_role(database_url: str | None) -> str | None:
    """The role a connection string logs in as, as libpq chooses it: its ``user``, else $PGUSER, else the name
    of the operating system's user; None when it cannot be told."""
    try:
        user = conninfo_to_dict(_conninfo.resolve(database_url)).get("user")
        return str(user or os.environ.get("PGUSER") or getpass.getuser()) or None
    except Exception:  # a malformed string, or no user name to be found
        return None


def _fail(exc: BaseException, line: str, status: int, debug: bool) -> int:
    """Print the error's one line (after its redacted traceback when ``debug``); returns ``status``."""
    if debug:
        print(_redact.format_exception(exc), file=sys.stderr, end="")
    _error(line)
    return status


def _error(message: str) -> None:
    """Print an error as one line on stderr, ``pgflow: ...``, without any password."""
    print(f"pgflow: {_redact.redact(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
