"""Flows run by the worker subprocesses of test_worker_process.py (`pgflow worker tests_py.worker_flows:NAME`).

Every test gives its workers a unique suffix in PGFLOW_TEST_FLOW_SUFFIX, so the flow slugs (``wf_<name>_<suffix>``)
are its own, and a directory in PGFLOW_TEST_MARKERS where the handlers record what they do: a file
``<run_id>.<step>.<task_index>.<attempt>.start`` when a handler starts and ``.end`` when it returns, each
holding JSON with the worker id, the process id and the time. The test builds the same flows with ``build(suffix)`` to
define them and to know their slugs.

Handlers sleep as long as their input says (``{"sleep": seconds}``), optionally only on the first attempt
(``{"sleep": s, "first_only": true}``), so a test controls how long a task stays in hand.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pgflow

SUFFIX = os.environ.get("PGFLOW_TEST_FLOW_SUFFIX", "default")


def slug(name: str, suffix: str) -> str:
    return f"wf_{name}_{suffix}"


def _mark(ctx: pgflow.Context, event: str) -> None:
    directory = os.environ.get("PGFLOW_TEST_MARKERS")
    if not directory:
        return
    record = {"worker_id": ctx.worker_id, "pid": os.getpid(), "time": time.time(), "attempt": ctx.attempt}
    path = Path(directory) / f"{ctx.run_id}.{ctx.step_slug}.{ctx.task_index}.{ctx.attempt}.{event}"
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)  # readers never see a half-written marker


def _nap(task_input: Any, ctx: pgflow.Context) -> None:
    if isinstance(task_input, dict):
        seconds = float(task_input.get("sleep", 0))
        if task_input.get("first_only") and ctx.attempt > 1:
            seconds = 0
        time.sleep(seconds)


def build(suffix: str) -> dict[str, pgflow.Flow]:
    """The test flows, by name."""
    flows: dict[str, pgflow.Flow] = {}

    # one single step that sleeps; a long timeout so only a stale heartbeat can expire it quickly
    sleepy = pgflow.Flow(slug("sleepy", suffix), max_attempts=3, base_delay=0, timeout=60)

    @sleepy.step
    def nap(run_input: Any, ctx: pgflow.Context) -> dict[str, Any]:
        _mark(ctx, "start")
        _nap(run_input, ctx)
        _mark(ctx, "end")
        return {"attempt": ctx.attempt, "worker_id": ctx.worker_id}

    flows["sleepy"] = sleepy

    # the same with a 2 s step timeout: a crashed attempt is expired by its deadline
    short = pgflow.Flow(slug("short", suffix), max_attempts=3, base_delay=0, timeout=2)

    @short.step(slug="nap")
    def short_nap(run_input: Any, ctx: pgflow.Context) -> dict[str, Any]:
        _mark(ctx, "start")
        _nap(run_input, ctx)
        _mark(ctx, "end")
        return {"attempt": ctx.attempt, "worker_id": ctx.worker_id}

    flows["short"] = short

    # the sleeping step with one attempt only: a task that is expired fails its run
    once = pgflow.Flow(slug("once", suffix), max_attempts=1, timeout=60)

    @once.step(slug="nap")
    def once_nap(run_input: Any, ctx: pgflow.Context) -> dict[str, Any]:
        _mark(ctx, "start")
        _nap(run_input, ctx)
        _mark(ctx, "end")
        return {"attempt": ctx.attempt, "worker_id": ctx.worker_id}

    flows["once"] = once

    # a root map over the run input (elements {"sleep": s, "n": n}) and a step that sums the results
    fanout = pgflow.Flow(slug("fanout", suffix), max_attempts=3, base_delay=0, timeout=60)

    @fanout.map
    def item(element: Any, ctx: pgflow.Context) -> int:
        _mark(ctx, "start")
        _nap(element, ctx)
        _mark(ctx, "end")
        return int(element["n"]) * 10

    @fanout.step(depends_on=[item])
    def total(deps: Any) -> int:
        return sum(deps["item"])

    flows["fanout"] = fanout

    # a map whose elements with {"fail_first": true} raise on their first attempt
    flaky = pgflow.Flow(slug("flaky", suffix), max_attempts=3, base_delay=0, timeout=60)

    @flaky.map
    def boom(element: Any, ctx: pgflow.Context) -> int:
        _mark(ctx, "start")
        if element.get("fail_first") and ctx.attempt == 1:
            raise ValueError(f"element {element['n']} refuses its first attempt")
        return int(element["n"])

    flows["flaky"] = flaky
    return flows


_flows = build(SUFFIX)
sleepy = _flows["sleepy"]
short = _flows["short"]
fanout = _flows["fanout"]
flaky = _flows["flaky"]
once = _flows["once"]
