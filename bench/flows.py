"""The flows the benchmarks run, with no-op handlers (importable by worker processes as bench.flows)."""

from __future__ import annotations

import time
from typing import Any

import pgflow


# Scenario 2 and 5: the 5-step diamond (fetch -> sentiment, topics -> merge -> save).
def _diamond(slug: str, **fetch_options: Any) -> pgflow.Flow:
    flow = pgflow.Flow(slug, timeout=60)

    @flow.step(slug="fetch", **fetch_options)
    def fetch(input: Any) -> int:
        return 1

    @flow.step(slug="sentiment", depends_on=[fetch])
    def sentiment(deps: Any) -> int:
        return 1

    @flow.step(slug="topics", depends_on=[fetch])
    def topics(deps: Any) -> int:
        return 1

    @flow.step(slug="merge", depends_on=[sentiment, topics])
    def merge(deps: Any) -> int:
        return 1

    @flow.step(slug="save", depends_on=[merge])
    def save(deps: Any) -> int:
        return 1

    return flow


diamond = _diamond("bench_diamond")

# Scenario 11 (flow control): the same diamond, its root step capped at 64 tasks in flight per tenant of the
# run input (never binding with 4 workers of 10 tasks each, but checked at every claim).
FC_CONCURRENCY = 64
diamond_fc = _diamond("bench_diamond_fc", concurrency=FC_CONCURRENCY, concurrency_key=["tenant"])


# Scenario 3: a root map over the run input, then a reduce step.
wide = pgflow.Flow("bench_wide", timeout=60)


@wide.map
def element(x: Any) -> Any:
    return x


@wide.step(depends_on=[element])
def reduce(deps: Any) -> int:
    return len(deps["element"])


# Scenario 4: a 50-step chain whose handlers record when they start (the hand-off latency).
CHAIN_LENGTH = 50
START_TIMES: list[tuple[str, str, float]] = []  # (run_id, step_slug, time.time() at handler start)


def _chain_handler(input: Any, ctx: pgflow.Context) -> int:
    START_TIMES.append((str(ctx.run_id), ctx.step_slug, time.time()))
    return 1


chain = pgflow.Flow.from_steps("bench_chain", [(f"s{i:02d}", _chain_handler) for i in range(CHAIN_LENGTH)])

FLOWS = {"diamond": diamond, "diamond_fc": diamond_fc, "wide": wide, "chain": chain}
