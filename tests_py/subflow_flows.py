"""Flows with sub-flow steps for tests_py/test_subflows.py, importable by a worker process
(`pgflow worker tests_py.subflow_flows:order`). The slugs end with PGFLOW_TEST_FLOW_SUFFIX, so that each test's
flows are its own. Only ``order`` is named to the worker: it serves the child flow ``line`` without being told."""

from __future__ import annotations

import os
from typing import Any

import pgflow

SUFFIX = os.environ.get("PGFLOW_TEST_FLOW_SUFFIX", "default")


def build(suffix: str) -> dict[str, pgflow.Flow]:
    """The flows, by name: ``line`` (prices one order line) and ``order`` (a map sub-flow over its lines, then a
    total)."""
    line = pgflow.Flow(f"sf_line_{suffix}", max_attempts=2, base_delay=0)

    @line.step
    def price(item: Any) -> Any:
        return {"sku": item["sku"], "amount": item["qty"] * item["unit"]}

    order = pgflow.Flow(f"sf_order_{suffix}", max_attempts=2, base_delay=0)

    @order.step
    def lines(order_input: Any) -> Any:
        return order_input["lines"]

    order.map(over="lines", flow=line, slug="priced")

    @order.step(depends_on=["priced"])
    def total(deps: Any) -> Any:
        return sum(item["price"]["amount"] for item in deps["priced"])

    return {"line": line, "order": order}


_flows = build(SUFFIX)
line = _flows["line"]
order = _flows["order"]
