"""Flows for the CLI tests (tests_py/test_cli.py), loaded by `pgflow worker tests_py.cli_flows:NAME` and
`pgflow graph tests_py.cli_flows:NAME`.

Every flow slug starts with the prefix in the environment variable PGFLOW_CLI_TEST_PREFIX, so each test
(and the worker processes it starts) works on flows no other test sees. ``build(prefix)`` returns the same
flows for the test process itself.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pgflow

PREFIX_VARIABLE = "PGFLOW_CLI_TEST_PREFIX"

#: the edges of DIAMOND, (dependency, dependent)
DIAMOND_EDGES = [("fetch", "double"), ("fetch", "triple"), ("double", "merge"), ("triple", "merge")]

#: seconds each element of SLOW's map step takes
SLOW_ELEMENT_SECONDS = 0.4


def diamond_output(n: int) -> dict[str, Any]:
    """The output of a DIAMOND run with input {"n": n}."""
    return {"merge": {"double": n * 2, "triple": n * 3}}


def build(prefix: str) -> dict[str, pgflow.Flow]:
    """The test flows, their slugs prefixed with ``prefix``, by attribute name."""
    # fetch -> double, triple -> merge
    diamond = pgflow.Flow(f"{prefix}_diamond", max_attempts=1, timeout=10)

    @diamond.step
    def fetch(input: Any) -> Any:
        return {"n": input["n"]}

    @diamond.step(depends_on=[fetch])
    def double(deps: Any) -> Any:
        return deps["fetch"]["n"] * 2

    @diamond.step(depends_on=[fetch])
    def triple(deps: Any) -> Any:
        return deps["fetch"]["n"] * 3

    @diamond.step(depends_on=[double, triple])
    def merge(deps: Any) -> Any:
        return {"double": deps["double"], "triple": deps["triple"]}

    # prepare -> explode, which always raises (one attempt only)
    failing = pgflow.Flow(f"{prefix}_failing", max_attempts=1, base_delay=0, timeout=10)

    @failing.step
    def prepare(input: Any) -> Any:
        return input

    @failing.step(depends_on=[prepare])
    def explode(deps: Any) -> Any:
        raise ValueError("boom in the explode handler")

    # one step that echoes its input
    second = pgflow.Flow(f"{prefix}_second", max_attempts=1, timeout=10)

    @second.step
    def echo(input: Any) -> Any:
        return {"echo": input}

    # split -> work (a map step, each element sleeping) -> total: long enough to watch
    slow = pgflow.Flow(f"{prefix}_slow", max_attempts=1, timeout=10)

    @slow.step
    def split(input: Any) -> Any:
        return input["items"]

    @slow.map(over=split)
    def work(item: Any) -> Any:
        time.sleep(SLOW_ELEMENT_SECONDS)
        return item * 10

    @slow.step(depends_on=[work])
    def total(deps: Any) -> Any:
        return sum(deps["work"])

    return {"diamond": diamond, "failing": failing, "second": second, "slow": slow}


_flows = build(os.environ.get(PREFIX_VARIABLE, "cli"))
diamond = _flows["diamond"]
failing = _flows["failing"]
second = _flows["second"]
slow = _flows["slow"]

#: not a pgflow.Flow: `pgflow worker tests_py.cli_flows:NOT_A_FLOW` must refuse it
NOT_A_FLOW = 42
