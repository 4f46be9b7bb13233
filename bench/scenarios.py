"""The benchmark scenarios. Each takes an admin conninfo, works in fresh databases, and returns its figures.

Every timing is taken on the database server's clock: from the commit that makes the work available (or
the call that starts it) to the last completion recorded by the engine.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

import pgflow
from bench import flows
from bench.common import EngineWorkers, db_now, fresh_database, median, percentile
from bench.floor import run_floor


def _define(url: str, *names: str) -> None:
    with pgflow.Client(url) as client:
        for name in names:
            client.define(flows.FLOWS[name])


class RunWaiter:
    """Waits for runs to finish by listening for their run_finished notifications (no polling load on the
    database while the workers run). Open it before starting the runs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute("listen pgflow")

    def __enter__(self) -> RunWaiter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def wait(self, run_ids: list[Any], timeout: float) -> float:
        """Wait for every run; returns the last finished_at (epoch seconds, the server's clock)."""
        pending = {str(r) for r in run_ids}
        deadline = time.monotonic() + timeout
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{len(pending)} of {len(run_ids)} runs did not finish in {timeout:.0f} s")
            for note in self.conn.notifies(timeout=min(remaining, 1.0)):
                data = json.loads(note.payload)
                if data.get("type") == "run_finished" and data["run_id"] in pending:
                    if data["status"] != "completed":
                        raise RuntimeError(f"run {data['run_id']} ended {data['status']}")
                    pending.discard(data["run_id"])
                    if not pending:
                        break
        row = self.conn.execute(
            "select extract(epoch from max(finished_at))::float8 from pgflow.runs where run_id = any(%s)",
            (list(run_ids),),
        ).fetchone()
        assert row is not None
        return float(row[0])


# ----------------------------------------------------------------------------------------------------
# 1. The floor
# ----------------------------------------------------------------------------------------------------
def floor(admin: str, jobs: int, workers: int, *, async_commit: bool = False) -> dict[str, Any]:
    with fresh_database(admin) as url:
        return run_floor(url, jobs, workers, async_commit=async_commit)


# ----------------------------------------------------------------------------------------------------
# 2. DAG throughput (and 5. with history)
# ----------------------------------------------------------------------------------------------------
def dag_throughput(admin: str, runs: int, workers: int, *, timeout: float = 600) -> dict[str, Any]:
    """Scenario 2 in a fresh database."""
    with fresh_database(admin) as url:
        _define(url, "diamond")
        return dag_in(url, runs, workers, timeout=timeout)


def dag_in(url: str, runs: int, workers: int, *, timeout: float = 600) -> dict[str, Any]:
    """Scenario 2 in a database where the diamond is defined (and may hold any history). pgflow's workers
    always commit durably."""
    with EngineWorkers(url, ["diamond"], workers), RunWaiter(url) as waiter, \
            psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            run_ids = [row[0] for row in conn.execute(
                "select (pgflow.start_run('bench_diamond', '{}')).run_id from generate_series(1, %s)", (runs,)
            )]
        start = db_now(conn)
        end = waiter.wait(run_ids, timeout)
        history = conn.execute(
            "select count(*) from pgflow.step_tasks where status = 'completed' and not (run_id = any(%s))",
            (run_ids,),
        ).fetchone()
    seconds = end - start
    tasks = runs * len(flows.diamond.steps)
    return {
        "runs": runs, "tasks": tasks, "workers": workers, "concurrency": 10, "seconds": seconds,
        "tasks_per_s": tasks / seconds, "runs_per_s": runs / seconds,
        "finished_tasks_before": history[0] if history else None,
    }


def history_pairs(admin: str, runs: int, workers: int, history_tasks: int, repeat: int) -> dict[str, Any]:
    """Scenario 5: scenario 2 in a database holding ``history_tasks`` finished tasks, alternating with
    scenario 2 in a fresh, empty database."""
    empties, fulls = [], []
    with fresh_database(admin) as url:
        _define(url, "diamond")
        fill_seconds = fill_history(url, history_tasks)
        for _ in range(repeat):
            empties.append(dag_throughput(admin, runs, workers))
            fulls.append(dag_in(url, runs, workers))
    return {
        "history_tasks": history_tasks, "fill_seconds": fill_seconds, "empty": empties, "full": fulls,
        "empty_tasks_per_s": median([r["tasks_per_s"] for r in empties]),
        "full_tasks_per_s": median([r["tasks_per_s"] for r in fulls]),
        "ratio": median([f["tasks_per_s"] / e["tasks_per_s"] for e, f in zip(empties, fulls)]),
    }


def fill_history(url: str, tasks: int) -> float:
    """Insert ``tasks`` finished tasks (completed runs of the diamond, finished a day ago) and analyze."""
    started = time.monotonic()
    runs = tasks // len(flows.diamond.steps)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # bulk load: skip the FK triggers
        conn.execute(
            """
            insert into pgflow.runs (run_id, flow_slug, flow_version, status, input, output, remaining_steps,
                                     started_at, finished_at)
            select gen_random_uuid(), 'bench_diamond', 1, 'completed', '{}', '{"save": 1}', 0,
                   now() - interval '1 day', now() - interval '1 day'
            from generate_series(1, %s)
            """,
            (runs,),
        )
        conn.execute(
            """
            insert into pgflow.step_states (run_id, step_slug, flow_slug, flow_version, status, remaining_deps,
                                            remaining_tasks, initial_tasks, output, started_at, finished_at)
            select r.run_id, s.step_slug, r.flow_slug, r.flow_version, 'completed', 0, 0, 1, '1',
                   r.started_at, r.finished_at
            from pgflow.runs as r
            inner join pgflow.steps as s on s.flow_slug = r.flow_slug and s.flow_version = r.flow_version
            """
        )
        conn.execute(
            """
            insert into pgflow.step_tasks (run_id, step_slug, task_index, flow_slug, status, attempt, output,
                                           worker_id, visible_at, deadline, queued_at, started_at, finished_at)
            select ss.run_id, ss.step_slug, 0, ss.flow_slug, 'completed', 1, '1', 'history',
                   ss.started_at, ss.started_at + interval '60 seconds', ss.started_at, ss.started_at, ss.finished_at
            from pgflow.step_states as ss
            """
        )
        conn.execute("set session_replication_role = origin")
        conn.execute("vacuum analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")
        conn.execute("checkpoint")
    return time.monotonic() - started


# ----------------------------------------------------------------------------------------------------
# 3. Wide map
# ----------------------------------------------------------------------------------------------------
def wide_map(admin: str, elements: int, workers: int, *, timeout: float = 600) -> dict[str, Any]:
    with fresh_database(admin) as url:
        _define(url, "wide")
        with EngineWorkers(url, ["wide"], workers), RunWaiter(url) as waiter, \
                psycopg.connect(url, autocommit=True) as conn:
            start = db_now(conn)
            run = conn.execute(
                "select run_id from pgflow.start_run('bench_wide', %s)", (Jsonb(list(range(elements))),)
            ).fetchone()
            assert run is not None
            fanned_out = db_now(conn)
            end = waiter.wait([run[0]], timeout)
            output = conn.execute("select output from pgflow.runs where run_id = %s", (run[0],)).fetchone()
            assert output is not None and output[0] == {"reduce": elements}, output
        seconds = end - start
        return {
            "elements": elements, "tasks": elements + 1, "workers": workers, "seconds": seconds,
            "start_run_seconds": fanned_out - start, "tasks_per_s": (elements + 1) / seconds,
        }


# ----------------------------------------------------------------------------------------------------
# 4. Hand-off latency
# ----------------------------------------------------------------------------------------------------
def handoff_latency(admin: str, *, listen: bool, runs: int, workers: int = 2,
                    poll_interval: float = 1.0) -> dict[str, Any]:
    """Time from a step's committed completion to the start of its dependent's handler, along a 50-step chain."""
    with fresh_database(admin) as url, tempfile.TemporaryDirectory() as tmp:
        _define(url, "chain")
        pool = EngineWorkers(url, ["chain"], workers, listen=listen, poll_interval=poll_interval,
                             record_dir=Path(tmp))
        started: dict[str, float] = {}
        with pool, RunWaiter(url) as waiter, psycopg.connect(url, autocommit=True) as conn:
            for _ in range(runs):  # one run at a time: the latency of a hand-off, not of a queue
                time.sleep(0.3)  # the workers are idle: their next poll is due anywhere in the interval
                row = conn.execute("select run_id from pgflow.start_run('bench_chain', '{}')").fetchone()
                started[str(row[0])] = time.time()  # start_run's transaction is committed
                assert row is not None
                waiter.wait([row[0]], 300)
        starts: dict[tuple[str, str], float] = {}
        reports: dict[tuple[str, str], float] = {}
        for record in pool.records():
            starts.update({(run, step): t for run, step, t in record["starts"]})
            reports.update({(run, step): t for run, step, t in record["reports"]})
        slugs = [step.slug for step in flows.chain.steps]
        samples = []
        for run in {run for run, _ in starts}:
            for prev, step in zip(slugs, slugs[1:]):
                if (run, prev) in reports and (run, step) in starts:
                    samples.append((starts[(run, step)] - reports[(run, prev)]) * 1000)
        if len(samples) != runs * (len(slugs) - 1):
            raise RuntimeError(f"expected {runs * (len(slugs) - 1)} hand-offs, measured {len(samples)}")
        # from start_run's commit to the first step's handler, on idle workers
        first = [(starts[(run, slugs[0])] - t) * 1000 for run, t in started.items()]
        return {
            "listen": listen, "poll_interval": poll_interval, "workers": workers, "runs": runs,
            "samples": len(samples), "p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95),
            "p99_ms": percentile(samples, 99), "max_ms": max(samples),
            "start_p50_ms": percentile(first, 50), "start_max_ms": max(first),
        }


# ----------------------------------------------------------------------------------------------------
# 6. Definitions
# ----------------------------------------------------------------------------------------------------
def random_dag(size: int, rng: random.Random, *, window: int = 50, max_deps: int = 3) -> list[dict[str, Any]]:
    """A random DAG: step i depends on up to ``max_deps`` of the ``window`` steps before it; listed shuffled."""
    steps = []
    for i in range(size):
        candidates = range(max(0, i - window), i)
        k = min(len(candidates), rng.randint(0 if i < 3 else 1, max_deps))
        deps = sorted(rng.sample(list(candidates), k)) if k else []
        steps.append({"slug": f"s{i}", "depends_on": [f"s{d}" for d in deps]})
    rng.shuffle(steps)
    return steps


def definition(admin: str, *, steps: int = 1000, cycle_steps: int = 10000, repeat: int = 3) -> dict[str, Any]:
    rng = random.Random(42)
    define_s, cycle_s, acyclic_big_s = [], [], []
    with fresh_database(admin) as url, psycopg.connect(url, autocommit=True) as conn:
        for i in range(repeat):
            dag = random_dag(steps, rng)
            t = time.perf_counter()
            conn.execute("select pgflow.define_flow(%s, %s)", (f"def_{i}", Jsonb(dag)))
            define_s.append(time.perf_counter() - t)

            big = random_dag(cycle_steps, rng)
            t = time.perf_counter()
            conn.execute("select pgflow.define_flow(%s, %s)", (f"big_{i}", Jsonb(big)))
            acyclic_big_s.append(time.perf_counter() - t)

            # close a cycle: follow dependencies back from the last step to an early one, which then depends
            # on the last step
            by_slug = {s["slug"]: s for s in big}
            node = f"s{cycle_steps - 1}"
            while int(node[1:]) >= 100:
                node = max(by_slug[node]["depends_on"], key=lambda slug: int(slug[1:]))
            by_slug[node]["depends_on"] = [*by_slug[node]["depends_on"], f"s{cycle_steps - 1}"]
            t = time.perf_counter()
            try:
                conn.execute("select pgflow.define_flow(%s, %s)", (f"cyc_{i}", Jsonb(big)))
            except psycopg.Error as exc:
                if exc.sqlstate != "PF003":
                    raise
                message = exc.diag.message_primary or ""
            else:
                raise RuntimeError("the cycle was not detected")
            cycle_s.append(time.perf_counter() - t)
    return {
        "steps": steps, "define_seconds": median(define_s), "cycle_steps": cycle_steps,
        "cycle_detection_seconds": median(cycle_s), "define_acyclic_big_seconds": median(acyclic_big_s),
        "cycle_message": message[:200], "repeat": repeat,
    }


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
