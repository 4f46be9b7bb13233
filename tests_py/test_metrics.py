"""Worker(metrics_port=...): Prometheus metrics scraped over real HTTP while a real worker runs flows.

- claimed, completed and failed (by reason) count the tasks the worker handled, per flow and step;
- handler seconds is a histogram with one observation per handler end; report latency one per report;
- in flight is read at each scrape; polls count the claims sent;
- two workers in one process each serve their own registry; the endpoint is closed when run() returns.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

import pgflow

from ._client_helpers import wait_until


class Point(BaseModel):
    x: int


def metrics_flow(slug: str) -> pgflow.Flow:
    flow = pgflow.Flow(slug, max_attempts=1, base_delay=0)

    @flow.map(over=None)
    def work(item: Any) -> Any:
        if item == "boom":
            raise pgflow.NonRetryableError("boom")
        if item == "oops":
            raise ValueError("oops")
        return item

    return flow


def typed_flow(slug: str) -> pgflow.Flow:
    flow = pgflow.Flow(slug, max_attempts=1)

    @flow.step
    def check(point: Point) -> Point:
        return point

    return flow


@contextmanager
def serving(database_url: str, flows: list[pgflow.Flow]) -> Iterator[pgflow.Worker]:
    worker = pgflow.Worker(database_url, flows, concurrency=2, metrics_port=0, worker_id=f"m-{uuid.uuid4().hex[:6]}")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: worker.metrics_port, what="the metrics endpoint")
        yield worker
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counts_scraped_over_http(database_url: str, flow_slug: str) -> None:
    flow = metrics_flow(flow_slug)
    typed = typed_flow(f"{flow_slug}_typed")
    with serving(database_url, [flow, typed]) as worker, pgflow.Client(database_url) as client:
        before = scrape(worker.metrics_port)  # type: ignore[arg-type]
        assert before[("pgflow_tasks_in_flight", ())] == 0
        # (a failed task fails its run, and the run's other tasks are not claimed: one failure per run)
        assert client.wait(client.start_run(flow, ["a", "b", "c"]), timeout=60) == {"work": ["a", "b", "c"]}
        runs = [
            client.start_run(flow, ["boom"]),
            client.start_run(flow, ["oops"]),
            client.start_run(typed, {"x": "nan"}),
        ]
        for run in runs:
            with pytest.raises(pgflow.RunFailed):
                client.wait(run, timeout=60)
        assert client.wait(client.start_run(typed, {"x": 2}), timeout=60) == {"check": {"x": 2}}

        def settled() -> Any:
            samples = scrape(worker.metrics_port)  # type: ignore[arg-type]
            return samples if samples.get(("pgflow_report_seconds_count", ()), 0) >= 7 else None

        samples = wait_until(settled, what="seven reports observed")

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    step = {"flow": flow_slug, "step": "work"}
    assert value("pgflow_tasks_claimed_total", **step) == 5
    assert value("pgflow_tasks_completed_total", **step) == 3
    assert value("pgflow_tasks_failed_total", **step, reason="non_retryable") == 1
    assert value("pgflow_tasks_failed_total", **step, reason="error") == 1
    assert value("pgflow_handler_seconds_count", **step) == 5
    typed_step = {"flow": f"{flow_slug}_typed", "step": "check"}
    assert value("pgflow_tasks_claimed_total", **typed_step) == 2
    assert value("pgflow_tasks_failed_total", **typed_step, reason="validation") == 1
    assert value("pgflow_tasks_completed_total", **typed_step) == 1
    assert value("pgflow_report_seconds_count") == 7
    assert value("pgflow_polls_total") >= 1
    assert value("pgflow_tasks_in_flight") == 0
    # the endpoint is closed once run() returned
    with pytest.raises(urllib.error.URLError):
        scrape(worker.metrics_port)  # type: ignore[arg-type]


def test_two_workers_have_their_own_registries(database_url: str, flow_slug: str) -> None:
    first_flow, second_flow = metrics_flow(f"{flow_slug}_1"), metrics_flow(f"{flow_slug}_2")
    with serving(database_url, [first_flow]) as first, serving(database_url, [second_flow]) as second:
        assert first.metrics_port != second.metrics_port
        with pgflow.Client(database_url) as client:
            client.wait(client.start_run(first_flow, ["a"]), timeout=60)
            samples = wait_until(
                lambda: (
                    (s := scrape(first.metrics_port)).get(  # type: ignore[arg-type]
                        ("pgflow_tasks_completed_total", (("flow", f"{flow_slug}_1"), ("step", "work")))
                    )
                    == 1
                    and s
                ),
                what="the first worker's count",
            )
        other = scrape(second.metrics_port)  # type: ignore[arg-type]
        assert not any(name == "pgflow_tasks_completed_total" for name, _ in other), other
        assert samples[("pgflow_tasks_claimed_total", (("flow", f"{flow_slug}_1"), ("step", "work")))] == 1


@pytest.mark.parametrize("port", [-1, 65536, "9000"])
def test_bad_port_is_refused(database_url: str, flow_slug: str, port: Any) -> None:
    with pytest.raises(pgflow.InvalidInput, match="metrics_port"):
        pgflow.Worker(database_url, metrics_flow(flow_slug), metrics_port=port)
