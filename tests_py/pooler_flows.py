"""Flows run by the worker processes of test_pgbouncer.py (`pgflow worker tests_py.pooler_flows:NAME`).

Slugs end with PGFLOW_TEST_FLOW_SUFFIX (``pb_<name>_<suffix>``), so that they are the test's own. Every handler
call leaves a file of its own in PGFLOW_TEST_MARKERS, ``<run_id>.<step>.<task_index>.<random>``, holding the
worker id: a test counts the calls of each task (exactly one each) and sees which worker made them.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any

import pgflow

SUFFIX = os.environ.get("PGFLOW_TEST_FLOW_SUFFIX", "default")


def _mark(ctx: pgflow.Context) -> None:
    directory = os.environ.get("PGFLOW_TEST_MARKERS")
    if directory:
        path = Path(directory) / f"{ctx.run_id}.{ctx.step_slug}.{ctx.task_index}.{uuid.uuid4().hex[:8]}"
        path.write_text(ctx.worker_id or "")


def build(suffix: str) -> dict[str, pgflow.Flow]:
    """The flows, by name: ``diamond`` (a → b ∥ c → d on a number) and ``squares`` (a root map squaring each
    element, each taking 50 ms, then their sum)."""
    diamond = pgflow.Flow(f"pb_diamond_{suffix}", max_attempts=3, base_delay=0, timeout=60)

    @diamond.step
    def a(run_input: Any, ctx: pgflow.Context) -> int:
        _mark(ctx)
        return int(run_input["n"]) + 1

    @diamond.step(depends_on=[a])
    def b(deps: Any, ctx: pgflow.Context) -> int:
        _mark(ctx)
        return deps["a"] * 2

    @diamond.step(depends_on=[a])
    def c(deps: Any, ctx: pgflow.Context) -> int:
        _mark(ctx)
        return deps["a"] * 3

    @diamond.step(depends_on=[b, c])
    def d(deps: Any, ctx: pgflow.Context) -> dict[str, int]:
        _mark(ctx)
        return {"sum": deps["b"] + deps["c"]}

    squares = pgflow.Flow(f"pb_squares_{suffix}", max_attempts=3, base_delay=0, timeout=60)

    @squares.map
    def square(element: Any, ctx: pgflow.Context) -> int:
        _mark(ctx)
        time.sleep(0.05)
        return int(element) ** 2

    @squares.step(depends_on=[square])
    def total(deps: Any, ctx: pgflow.Context) -> int:
        _mark(ctx)
        return sum(deps["square"])

    return {"diamond": diamond, "squares": squares}


_flows = build(SUFFIX)
diamond = _flows["diamond"]
squares = _flows["squares"]
