"""The flows of the chaos runs (scripts/chaos.py), served by real ``pgflow worker`` processes:

    python -m pgflow.cli worker chaos_flows:diamond chaos_flows:fanout

- ``chaos_diamond``: ``a`` → ``b``, ``c`` → ``d``; run input ``{"n": n}``, run output ``{"d": {"sum": 5n}}``.
- ``chaos_fanout``: a map ``item`` over the run input ``[{"n": n, "k": 0}, …]``, then ``total``; run output
  ``{"total": {"count": width, "sum": width * 1000 n + width (width - 1) / 2}}``.

Every handler is deterministic (its output is a function of its input) and quick: it sleeps
``PGFLOW_CHAOS_HANDLER_MS`` × 0.5 … 1.5 milliseconds (the factor is a function of the input too), so that
tasks are in hand when a fault strikes. Before and after its work a handler appends one line of JSON to
``$PGFLOW_CHAOS_RECORDS/<pid>.jsonl`` (``{"event": "start"|"end", "run_id", "step_slug", "task_index",
"attempt", "worker_id", "pid", "time"}``): one ``os.write`` on a file opened with ``O_APPEND``, so a record
is either whole or absent, even when the process is killed right after it. The harness counts executions
from these records.

The flows' options come from the environment, read when the module is imported (the harness builds the
same flows with ``build()`` to define them before the workers start): ``PGFLOW_CHAOS_MAX_ATTEMPTS``
(default 10), ``PGFLOW_CHAOS_TIMEOUT`` (seconds, default 20), ``PGFLOW_CHAOS_HANDLER_MS`` (default 250).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgflow

DIAMOND = "chaos_diamond"
FANOUT = "chaos_fanout"
DIAMOND_TASKS = 4


@dataclass(frozen=True)
class FlowOptions:
    """Options of both chaos flows: ``max_attempts`` (count), ``timeout`` (seconds per attempt),
    ``handler_ms`` (mean handler duration, milliseconds; not part of the definition)."""

    max_attempts: int = 10
    timeout: float = 20.0
    handler_ms: float = 250.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> FlowOptions:
        """The options of the ``PGFLOW_CHAOS_*`` variables of ``env`` (default: ``os.environ``); ValueError
        when one is not a number."""
        source = os.environ if env is None else env
        default = cls()
        return cls(
            max_attempts=int(source.get("PGFLOW_CHAOS_MAX_ATTEMPTS", default.max_attempts)),
            timeout=float(source.get("PGFLOW_CHAOS_TIMEOUT", default.timeout)),
            handler_ms=float(source.get("PGFLOW_CHAOS_HANDLER_MS", default.handler_ms)),
        )

    def to_env(self) -> dict[str, str]:
        """The ``PGFLOW_CHAOS_*`` variables that make ``from_env`` return these options."""
        return {
            "PGFLOW_CHAOS_MAX_ATTEMPTS": str(self.max_attempts),
            "PGFLOW_CHAOS_TIMEOUT": repr(self.timeout),
            "PGFLOW_CHAOS_HANDLER_MS": repr(self.handler_ms),
        }


# ----------------------------------------------------------------------------------------------------
# Execution records
# ----------------------------------------------------------------------------------------------------
_record_fd: list[int] = []
_record_lock = threading.Lock()


def _record(ctx: pgflow.Context, event: str) -> None:
    directory = os.environ.get("PGFLOW_CHAOS_RECORDS")
    if not directory:
        return
    line = json.dumps(
        {
            "event": event,
            "run_id": str(ctx.run_id),
            "step_slug": ctx.step_slug,
            "task_index": ctx.task_index,
            "attempt": ctx.attempt,
            "worker_id": ctx.worker_id,
            "pid": os.getpid(),
            "time": time.time(),
        }
    )
    with _record_lock:
        if not _record_fd:
            path = Path(directory) / f"{os.getpid()}.jsonl"
            _record_fd.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
        os.write(_record_fd[0], (line + "\n").encode())


def _work(ctx: pgflow.Context, options: FlowOptions, seed: int) -> None:
    """Record the start, sleep a deterministic 0.5 … 1.5 × handler_ms, record the end."""
    _record(ctx, "start")
    time.sleep(options.handler_ms * (0.5 + (seed % 5) * 0.25) / 1000)
    _record(ctx, "end")


# ----------------------------------------------------------------------------------------------------
# Flows and their expected outputs
# ----------------------------------------------------------------------------------------------------
def build(options: FlowOptions) -> dict[str, pgflow.Flow]:
    """The two chaos flows, by slug (``chaos_diamond``, ``chaos_fanout``)."""
    common: dict[str, Any] = {"max_attempts": options.max_attempts, "base_delay": 0, "timeout": options.timeout}

    diamond_flow = pgflow.Flow(DIAMOND, **common)

    @diamond_flow.step
    def a(run_input: Any, ctx: pgflow.Context) -> dict[str, int]:
        _work(ctx, options, run_input["n"])
        return {"n": int(run_input["n"])}

    @diamond_flow.step(depends_on=[a])
    def b(deps: Any, ctx: pgflow.Context) -> dict[str, int]:
        _work(ctx, options, deps["a"]["n"] + 1)
        return {"v": deps["a"]["n"] * 2}

    @diamond_flow.step(depends_on=[a])
    def c(deps: Any, ctx: pgflow.Context) -> dict[str, int]:
        _work(ctx, options, deps["a"]["n"] + 2)
        return {"v": deps["a"]["n"] * 3}

    @diamond_flow.step(depends_on=[b, c])
    def d(deps: Any, ctx: pgflow.Context) -> dict[str, int]:
        _work(ctx, options, deps["b"]["v"] + 3)
        return {"sum": deps["b"]["v"] + deps["c"]["v"]}

    fanout_flow = pgflow.Flow(FANOUT, **common)

    @fanout_flow.map
    def item(element: Any, ctx: pgflow.Context) -> int:
        _work(ctx, options, element["n"] + element["k"])
        return int(element["n"]) * 1000 + int(element["k"])

    @fanout_flow.step(depends_on=[item])
    def total(deps: Any, ctx: pgflow.Context) -> dict[str, int]:
        _work(ctx, options, len(deps["item"]))
        return {"count": len(deps["item"]), "sum": sum(deps["item"])}

    return {DIAMOND: diamond_flow, FANOUT: fanout_flow}


def diamond_input(n: int) -> dict[str, int]:
    return {"n": n}


def fanout_input(n: int, width: int) -> list[dict[str, int]]:
    return [{"n": n, "k": k} for k in range(width)]


def expected_tasks(flow_slug: str, run_input: Any) -> int:
    """How many tasks a run of the flow with this input has when it completes."""
    return DIAMOND_TASKS if flow_slug == DIAMOND else len(run_input) + 1


def expected_output(flow_slug: str, run_input: Any) -> Any:
    """The output a run of the flow with this input must end with."""
    if flow_slug == DIAMOND:
        return {"d": {"sum": 5 * int(run_input["n"])}}
    values = [int(e["n"]) * 1000 + int(e["k"]) for e in run_input]
    return {"total": {"count": len(values), "sum": sum(values)}}


_flows = build(FlowOptions.from_env())
diamond = _flows[DIAMOND]
fanout = _flows[FANOUT]
