"""How a worker claims: the poll loop and the reporter (which claims for the slots its report freed) never
hold more tasks than ``concurrency`` between them, and the deadline timers of reported tasks do not pile up."""

from __future__ import annotations

import threading
import time
from typing import Any

import pgflow

from ._client_helpers import worker_thread


def test_the_poll_loop_and_the_reporter_never_claim_more_than_concurrency(database_url: str, flow_slug: str) -> None:
    """A map of 300 quick elements, concurrency 3, each claim slowed down by 20 ms so that claims of the two
    claimers overlap: every handler sees at most 3 tasks in hand, and tasks came back through both."""
    flow = pgflow.Flow(flow_slug, timeout=60)
    seen: list[int] = []
    lock = threading.Lock()
    worker: pgflow.Worker | None = None

    @flow.map
    def element(x: Any) -> Any:
        assert worker is not None
        with lock:
            seen.append(worker.in_flight)
        return x

    with pgflow.Client(database_url) as client:
        worker = pgflow.Worker(database_url, flow, concurrency=3, poll_interval=0.05)
        claims = {"poll": 0, "report": 0}
        claim = worker._claim

        def counting_claim(conn: Any, free: int) -> Any:
            who = "report" if threading.current_thread().name == "pgflow-reporter" else "poll"
            claims[who] += 1
            time.sleep(0.02)
            return claim(conn, free)

        worker._claim = counting_claim  # type: ignore[method-assign]
        with worker_thread(worker):
            run = client.start_run(flow, list(range(300)))
            assert client.wait(run.run_id, timeout=60) == {"element": list(range(300))}
    assert len(seen) == 300
    assert max(seen) <= 3, max(seen)
    assert claims["report"] > 0 and claims["poll"] > 0, claims


def test_deadline_timers_of_reported_tasks_do_not_pile_up(database_url: str, flow_slug: str) -> None:
    """300 tasks with a 60 s timeout, all reported within seconds: the supervisor's heap keeps about the
    tasks in hand (it held one timer per task claimed in the last 60 s)."""
    flow = pgflow.Flow(flow_slug, timeout=60)

    @flow.map
    def element(x: Any) -> Any:
        return x

    with pgflow.Client(database_url) as client:
        worker = pgflow.Worker(database_url, flow, concurrency=10)
        with worker_thread(worker):
            run = client.start_run(flow, list(range(300)))
            assert client.wait(run.run_id, timeout=60) == {"element": list(range(300))}
            assert len(worker._timers) <= 65, len(worker._timers)
