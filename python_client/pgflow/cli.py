"""The ``pgflow`` command line.

    pgflow migrate
    pgflow worker MODULE:FLOW... [--concurrency N] [--isolation thread|process] [--startup-timeout S]
    pgflow workers [--all]
    pgflow start FLOW --input JSON [--wait]
    pgflow status RUN_ID [--watch]
    pgflow runs [--flow F] [--status S]
    pgflow cancel RUN_ID
    pgflow resume RUN_ID
    pgflow graph MODULE:FLOW|FLOW_SLUG [--run RUN_ID] [--format mermaid|dot]
    pgflow prune --older-than 7d

Every command takes --database-url (default: $DATABASE_URL, then libpq's defaults). Errors are one line
on stderr: exit status 1 for a refused operation or a failed run, 2 for bad usage (an option out of its
range, JSON that is not storable, a malformed database URL) or an unreachable database. ``pgflow worker``
exits with status 1 and one line when it cannot start (SPEC §8): a malformed or unreachable database, no pgflow
schema or another version of it (the line names ``pgflow migrate``); a second SIGINT exits at once with 130.
No password is ever printed: error lines and the worker's log records (tracebacks included) are redacted.

Ranges: durations (``--older-than``) are 0 to 1000 years, as the engine takes them (a year is 360 days
there, as PostgreSQL compares intervals, so at most 360000d); ``--limit`` 0 to 10,000; ``--interval``
0.01 s to 1 h; ``--timeout`` 0 s to 1 year; the worker's options as ``pgflow.Worker`` documents them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

import psycopg

from . import _arguments, _conninfo, _redact, errors, graph
from .client import INTERVAL_RANGE, MAX_LIST_RUNS, MAX_PRUNE_AGE, MAX_WAIT_TIMEOUT, TERMINAL, Client, as_run_id
from .errors import first_line
from .flow import Flow
from .migrate import migrate
from .worker import Worker


class UsageError(Exception):
    """Bad input on the command line (exit status 2)."""


# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------
def load_flow(spec: str) -> Flow:
    """A Flow from ``module:attribute`` (the module is imported from the current directory too)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"{spec!r} is not MODULE:FLOW (for example myapp.flows:analyze)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import module {module_name!r}: {exc}") from exc
    flow = getattr(module, attr, None)
    if not isinstance(flow, Flow):
        raise UsageError(f"{spec!r} is not a pgflow.Flow (module {module_name} has no Flow named {attr!r})")
    return flow


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
        raise UsageError(
            f"{what} {text!r} is not a duration: use a number and a unit, such as 30s, 15m, 12h, 7d or 2w"
        )
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


def render_status(status: dict[str, Any]) -> str:
    """A run's status as text: a header, then one line per step with a progress bar."""
    lines = [
        f"run {status['run_id']}  flow {status['flow_slug']} v{status['flow_version']}  {status['status']}  "
        f"{status['percentage']}% ({status['completed_steps']}/{status['total_steps']} steps, "
        f"{status['completed_tasks']}/{status['total_tasks']} tasks)"
    ]
    width = max([len(s["step_slug"]) for s in status["steps"]] + [4])
    for step in status["steps"]:
        total, done = step["total_tasks"], step["completed_tasks"]
        finished = step["status"] in ("completed", "skipped")
        shown_total = total if total else (1 if step["step_type"] == "single" else 0)
        progress = bar(done if total else int(finished), shown_total or 1)
        line = f"  {step['step_slug']:<{width}}  [{progress}] {done:>5}/{total:<5} {step['status']}"
        if step["attempts"] > max(total, 1) or step["error"]:
            line += f"  attempts {step['attempts']}"
        if step["error"]:
            line += f"  error: {step['error']}"
        lines.append(line)
    if status["status"] == "completed":
        lines.append(f"output: {json.dumps(status['output'])}")
    elif status["error"]:
        lines.append(f"error: {status['error']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    print(f"pgflow schema {migrate(args.database_url)} installed")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    flows = [load_flow(spec) for spec in args.flows]
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
            isolation=args.isolation,
            startup_timeout=args.startup_timeout,
        )
    except errors.InvalidInput as exc:
        raise UsageError(exc.message) from None
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


def cmd_workers(args: argparse.Namespace) -> int:
    """One line per worker that is not stopped (and, with --all, those stopped within RECENTLY_STOPPED): its id,
    flows, last heartbeat, state, the tasks it holds (started tasks in pgflow.step_tasks) and the handlers it
    reported past their deadline at its last heartbeat."""
    with _conninfo.connect(args.database_url, autocommit=True) as conn:
        rows = conn.execute(
            """
            select
              w.worker_id, w.flow_slugs,
              extract(epoch from pg_catalog.statement_timestamp() - w.last_heartbeat_at)::float8,
              extract(epoch from pg_catalog.statement_timestamp() - w.stopped_at)::float8,
              w.expires_at < pg_catalog.statement_timestamp(),
              (select count(*) from pgflow.step_tasks as t where t.worker_id = w.worker_id and t.status = 'started'),
              w.past_deadline
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
    for worker_id, flows, heard, stopped, expired, tasks, past in rows:
        state = f"stopped {_ago(stopped)}" if stopped is not None else ("lease expired" if expired else "running")
        late = [
            f"{item.get('run_id')}/{item.get('step_slug')}[{item.get('task_index')}] attempt {item.get('attempt')}"
            for item in past or []
            if isinstance(item, dict)
        ]
        shown = str(len(late)) + (f": {', '.join(late[:3])}" if late else "") + (" ..." if len(late) > 3 else "")
        table.append((worker_id, ",".join(flows) if flows else "(any)", _ago(heard), state, str(tasks), shown))
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    payload = parse_json(args.input, "--input")
    checked(_arguments.text, "--idempotency-key", args.idempotency_key, optional=True, max_length=_arguments.MAX_TEXT)
    if args.timeout is not None:
        checked(_arguments.number, "--timeout", args.timeout, inclusive=True, maximum=MAX_WAIT_TIMEOUT)
    with Client(args.database_url) as client:
        target: Flow | str = load_flow(args.flow) if ":" in args.flow else args.flow
        run = client.start_run(target, payload, idempotency_key=args.idempotency_key)
        print(run.run_id)
        if not args.wait:
            return 0
        try:
            output = client.wait(run.run_id, timeout=args.timeout)
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
        _arguments.number, "--interval", args.interval, minimum=INTERVAL_RANGE[0], maximum=INTERVAL_RANGE[1],
        inclusive=True,
    )
    with Client(args.database_url) as client:
        if not args.watch:
            now = client.get_run_status(run_id)
            print(json.dumps(now, indent=2) if args.json else render_status(now))
            return 0
        tty = sys.stdout.isatty()
        previous_lines = 0
        status: dict[str, Any] = {}
        for status in client.watch(run_id, interval=args.interval):
            text = render_status(status)
            if tty and previous_lines:
                sys.stdout.write(f"\x1b[{previous_lines}F\x1b[J")
            sys.stdout.write(text + "\n" + ("" if tty else "\n"))
            sys.stdout.flush()
            previous_lines = text.count("\n") + 1
        return 0 if status.get("status") == "completed" else 1


def cmd_runs(args: argparse.Namespace) -> int:
    checked(_arguments.text, "--flow", args.flow, optional=True)
    checked(_arguments.integer, "--limit", args.limit, minimum=0, maximum=MAX_LIST_RUNS)
    with Client(args.database_url) as client:
        runs = client.list_runs(args.flow, args.status, args.limit)
    if not runs:
        print("no runs")
        return 0
    print(f"{'run_id':36}  {'flow':20}  {'version':>7}  {'status':9}  {'started_at':25}  finished_at")
    for run in runs:
        finished = run.finished_at.isoformat(timespec="seconds") if run.finished_at else "-"
        print(
            f"{run.run_id!s:36}  {run.flow_slug:20}  {run.flow_version:>7}  {run.status:9}  "
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


def cmd_graph(args: argparse.Namespace) -> int:
    statuses: dict[str, str] = {}
    with Client(args.database_url) as client:
        if args.run:
            status = client.get_run_status(parse_run_id(args.run))
            steps = [{"step_slug": s["step_slug"], "step_type": s["step_type"], "depends_on": s["depends_on"]}
                     for s in status["steps"]]
            statuses = {s["step_slug"]: s["status"] for s in status["steps"]}
            name = status["flow_slug"]
        elif ":" in args.flow:
            flow = load_flow(args.flow)
            steps = graph.steps_of_flow(flow)
            name = flow.slug
        else:
            described = client.describe_flow(args.flow)
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


# ----------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database-url",
        default=argparse.SUPPRESS,
        help="PostgreSQL connection string (default: $DATABASE_URL, then libpq's defaults)",
    )
    parser = argparse.ArgumentParser(
        prog="pgflow", description="pgflow: DAG workflows inside PostgreSQL", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("migrate", parents=[common], help="install or upgrade the pgflow schema")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("worker", parents=[common], help="run the handlers of one or more flows")
    p.add_argument("flows", nargs="+", metavar="MODULE:FLOW")
    p.add_argument("--concurrency", type=int, default=4, help="tasks run at the same time (default 4)")
    p.add_argument("--worker-id", default=None, help="default: host-pid-random")
    p.add_argument("--poll-interval", type=float, default=1.0, help="fallback poll interval in seconds")
    p.add_argument(
        "--heartbeat-interval", type=float, default=5.0,
        help="seconds between heartbeats (at most a third of pgflow.worker_timeout)",
    )
    p.add_argument("--shutdown-timeout", type=float, default=30.0, help="grace period on SIGTERM, seconds")
    p.add_argument(
        "--isolation", choices=("thread", "process"), default="thread",
        help="run handlers in threads (default) or in child processes killed 2 s past their deadline",
    )
    p.add_argument(
        "--startup-timeout", type=float, default=15.0,
        help="seconds to reach the database and find its schema before exiting with status 1 (default 15)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every task")
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
    p.add_argument("--idempotency-key", default=None)
    p.add_argument("--wait", action="store_true", help="wait for the run and print its output")
    p.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("status", parents=[common], help="show a run's progress")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--watch", action="store_true", help="refresh until the run finishes")
    p.add_argument(
        "--interval", type=float, default=0.5, help="with --watch: seconds between refreshes, 0.01 to 3600"
    )
    p.add_argument("--json", action="store_true", help="print pgflow.get_run_status as JSON")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("runs", parents=[common], help="list recent runs")
    p.add_argument("--flow", default=None)
    p.add_argument("--status", default=None, choices=TERMINAL + ("started",))
    p.add_argument("--limit", type=int, default=50, help="at most this many runs, 0 to 10000 (default 50)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("cancel", parents=[common], help="cancel a started run")
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--reason", default=None)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("resume", parents=[common], help="resume a failed or cancelled run")
    p.add_argument("run_id", metavar="RUN_ID")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("graph", parents=[common], help="print a flow as Mermaid or Graphviz DOT")
    p.add_argument("flow", metavar="MODULE:FLOW|FLOW_SLUG")
    p.add_argument("--run", default=None, metavar="RUN_ID", help="colour the steps by this run's status")
    p.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("prune", parents=[common], help="delete finished runs")
    p.add_argument(
        "--older-than", required=True, metavar="DURATION", help="for example 7d, 12h, 30m (at most 1000 years)"
    )
    p.set_defaults(func=cmd_prune)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "database_url"):
        args.database_url = None
    try:
        problem = _conninfo.check(args.database_url)
        if problem is not None:
            if getattr(args, "bad_url_status", 2) != 2:
                _error(f"the database URL is not a valid connection string: {problem}")
                return int(args.bad_url_status)
            raise UsageError(f"the database URL is not a valid connection string: {problem}")
        return int(args.func(args))
    except UsageError as exc:
        _error(str(exc))
        return 2
    except errors.PgflowError as exc:
        _error(str(exc))
        return 1
    except psycopg.Error as exc:
        if errors.is_connection_lost(exc):
            _error(f"cannot reach the database: {first_line(exc)}")
            return 2
        _error(first_line(errors.translate(exc)))
        return 1
    except TimeoutError as exc:
        _error(str(exc))
        return 1
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


def _error(message: str) -> None:
    """Print an error as one line on stderr, ``pgflow: ...``, without any password."""
    print(f"pgflow: {_redact.redact(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
