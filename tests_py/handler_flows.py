"""Flows of test_handler_deadlines.py and test_worker_startup.py, run by `pgflow worker tests_py.handler_flows:NAME`
subprocesses and by in-process workers with ``isolation="process"`` (their handlers are defined at the top level,
so child processes can receive them pickled).

Each test gives its workers a unique suffix in PGFLOW_TEST_FLOW_SUFFIX, so the slugs (``hf_<name>_<suffix>``)
are its own, and a directory in PGFLOW_TEST_MARKERS where handlers write ``<run_id>.<step>.<task_index>.<attempt>.
<event>`` files holding JSON (process id, time, and what the handler saw). The test builds the same flows with
``build(suffix)``.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pgflow

SUFFIX = os.environ.get("PGFLOW_TEST_FLOW_SUFFIX", "default")


def slug(name: str, suffix: str) -> str:
    return f"hf_{name}_{suffix}"


def mark(ctx: pgflow.Context, event: str, **data: Any) -> None:
    directory = os.environ.get("PGFLOW_TEST_MARKERS")
    if not directory:
        return
    record = {"pid": os.getpid(), "time": time.time(), **data}
    path = Path(directory) / f"{ctx.run_id}.{ctx.step_slug}.{ctx.task_index}.{ctx.attempt}.{event}"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)  # readers never see a half-written marker


def spin(run_input: Any, ctx: pgflow.Context) -> Any:
    """Never returns, never looks at ctx.cancelled: only killing its process ends it."""
    mark(ctx, "start")
    while True:
        pass


def wait_for_cancel(run_input: Any, ctx: pgflow.Context) -> Any:
    """Waits for ctx.cancelled (at most 60 s) and notes when it came."""
    mark(ctx, "start")
    seen = ctx.cancelled.wait(60)
    mark(ctx, "cancelled" if seen else "not_cancelled")
    return {"cancelled": seen}


def sleep_then_return(run_input: Any, ctx: pgflow.Context) -> Any:
    """Sleeps as long as the input says (``{"sleep": s}``), ignoring ctx.cancelled."""
    mark(ctx, "start")
    time.sleep(float((run_input or {}).get("sleep", 0)))
    mark(ctx, "end")
    return {"slept": True}


def quick(run_input: Any, ctx: pgflow.Context) -> Any:
    mark(ctx, "start")
    return {"pid": os.getpid()}


async def async_wait(run_input: Any, ctx: pgflow.Context) -> Any:
    """An async handler that sleeps 60 s unless cancelled; notes the CancelledError it gets."""
    mark(ctx, "start")
    try:
        await asyncio.sleep(60)
    except asyncio.CancelledError:
        mark(ctx, "cancelled", cancelled_flag=ctx.cancelled.is_set())
        raise
    return {"slept": True}


def build(suffix: str) -> dict[str, pgflow.Flow]:
    """The test flows, by name."""
    flows: dict[str, pgflow.Flow] = {}

    # a 1 s timeout and one attempt: the handler never returns
    flow = pgflow.Flow(slug("spin", suffix), max_attempts=1, timeout=1)
    flow.step(slug="spin")(spin)
    flows["spin"] = flow

    # the same with a long timeout: only a cancellation of its run stops it
    flow = pgflow.Flow(slug("spin_long", suffix), max_attempts=1, timeout=120)
    flow.step(slug="spin")(spin)
    flows["spin_long"] = flow

    flow = pgflow.Flow(slug("quick", suffix), max_attempts=1, timeout=60)
    flow.step(slug="quick")(quick)
    flows["quick"] = flow

    flow = pgflow.Flow(slug("wait_long", suffix), max_attempts=1, timeout=120)
    flow.step(slug="wait")(wait_for_cancel)
    flows["wait_long"] = flow

    flow = pgflow.Flow(slug("sleeper", suffix), max_attempts=1, timeout=120)
    flow.step(slug="sleep")(sleep_then_return)
    flows["sleeper"] = flow

    flow = pgflow.Flow(slug("async_long", suffix), max_attempts=1, timeout=120)
    flow.step(slug="wait")(async_wait)
    flows["async_long"] = flow
    return flows


_flows = build(SUFFIX)
spin_flow = _flows["spin"]
spin_long = _flows["spin_long"]
quick_flow = _flows["quick"]
wait_long = _flows["wait_long"]
sleeper = _flows["sleeper"]
async_long = _flows["async_long"]
