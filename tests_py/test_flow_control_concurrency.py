"""Flow control under concurrency: 8 connections poll and complete the tasks of a flow whose map step is capped at
3 started tasks per tenant (3 tenants) next to an uncapped step, while a sampler connection counts the started
tasks of every bucket as fast as it can. The cap is never exceeded, it is reached (so the test can fail), and every
task is completed exactly once."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter

import psycopg

WORKERS = 8
TENANTS = ("acme", "globex", "initech")
RUNS_PER_TENANT = 10
ITEMS = 12
CAP = 3
TIME_LIMIT = 120.0


def define(conn: psycopg.Connection, flow_slug: str) -> None:
    steps = [
        {"slug": "items"},
        {"slug": "capped", "type": "map", "depends_on": ["items"], "concurrency": CAP, "concurrency_key": ["tenant"]},
        {"slug": "free", "type": "map", "depends_on": ["items"]},
    ]
    conn.execute("select pgflow.define_flow(%s, %s)", [flow_slug, json.dumps(steps)])


class Worker(threading.Thread):
    """Polls and completes tasks on a connection of its own until told to stop; counts its completions."""

    def __init__(self, url: str, flow_slug: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.flow_slug = flow_slug
        self.stop = stop
        self.completed: Counter[tuple[str, str, int]] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                worker_id = f"fc-{uuid.uuid4().hex[:8]}"
                while not self.stop.is_set():
                    tasks = conn.execute(
                        "select run_id, step_slug, task_index, attempt from pgflow.poll_for_tasks(%s, %s, 4)",
                        [worker_id, [self.flow_slug]],
                    ).fetchall()
                    if not tasks:
                        time.sleep(0.002)
                        continue
                    # hold the tasks a little, as a handler would, so that the caps fill up
                    time.sleep(random.uniform(0, 0.01))
                    for run_id, step_slug, task_index, attempt in tasks:
                        output = list(range(ITEMS)) if step_slug == "items" else None
                        ok = conn.execute(
                            "select pgflow.complete_task(%s, %s, %s, %s, %s)",
                            [run_id, step_slug, task_index, json.dumps(output), attempt],
                        ).fetchone()
                        if ok is not None and ok[0]:
                            self.completed[(str(run_id), step_slug, task_index)] += 1
        except BaseException as exc:  # reported by the test
            self.error = exc


class Sampler(threading.Thread):
    """Counts the started tasks of every flow-control bucket, one snapshot at a time, as fast as it can; keeps the
    largest count seen per bucket."""

    def __init__(self, url: str, flow_slug: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.flow_slug = flow_slug
        self.stop = stop
        self.max_started: Counter[str] = Counter()
        self.samples = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                while not self.stop.is_set():
                    rows = conn.execute(
                        "select r.input ->> 'tenant', count(*) from pgflow.step_tasks as t"
                        " join pgflow.runs as r on r.run_id = t.run_id"
                        " where t.flow_slug = %s and t.status = 'started' and t.flow_key is not null"
                        " group by 1",
                        [self.flow_slug],
                    ).fetchall()
                    self.samples += 1
                    for tenant, started in rows:
                        self.max_started[tenant] = max(self.max_started[tenant], started)
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_caps_hold_under_eight_concurrent_pollers(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    define(conn, flow_slug)
    run_ids = [
        conn.execute(
            "select run_id from pgflow.start_run(%s, %s)", [flow_slug, json.dumps({"tenant": tenant, "n": n})]
        ).fetchone()[0]  # type: ignore[index]
        for n in range(RUNS_PER_TENANT)
        for tenant in TENANTS
    ]

    stop = threading.Event()
    sampler = Sampler(database_url, flow_slug, stop)
    workers = [Worker(database_url, flow_slug, stop) for _ in range(WORKERS)]
    sampler.start()
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + TIME_LIMIT
    try:
        while time.monotonic() < deadline:
            unfinished = conn.execute(
                "select count(*) from pgflow.runs where run_id = any(%s) and status <> 'completed'", [run_ids]
            ).fetchone()[0]  # type: ignore[index]
            if unfinished == 0 or any(w.error for w in workers) or sampler.error:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in [*workers, sampler]:
            thread.join(timeout=30)

    assert sampler.error is None, sampler.error
    for worker in workers:
        assert worker.error is None, worker.error
    statuses = Counter(
        row[0] for row in conn.execute("select status from pgflow.runs where run_id = any(%s)", [run_ids]).fetchall()
    )
    assert statuses == Counter({"completed": len(run_ids)}), statuses

    # the cap held in every sample, and was reached for every tenant
    assert sampler.samples > 100, sampler.samples
    assert set(sampler.max_started) == set(TENANTS), sampler.max_started
    assert max(sampler.max_started.values()) <= CAP, sampler.max_started
    assert min(sampler.max_started.values()) == CAP, sampler.max_started

    # every task was completed exactly once, by the workers' own count
    completions: Counter[tuple[str, str, int]] = Counter()
    for worker in workers:
        completions.update(worker.completed)
    tasks = {
        (str(run_id), step_slug, task_index)
        for run_id, step_slug, task_index in conn.execute(
            "select run_id, step_slug, task_index from pgflow.step_tasks where run_id = any(%s)", [run_ids]
        ).fetchall()
    }
    assert len(tasks) == len(run_ids) * (1 + 2 * ITEMS)
    assert set(completions) == tasks
    assert set(completions.values()) == {1}
