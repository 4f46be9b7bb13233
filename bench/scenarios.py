"""The benchmark scenarios. Each takes an admin conninfo, works in fresh databases, and returns its figures.

Every timing is taken on the database server's clock: from the commit that makes the work available (or
the call that starts it) to the last completion recorded by the engine.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

import pgflow
from bench import flows
from bench.common import SPAWN, EngineWorkers, Usage, db_now, fresh_database, log, median, percentile, wait_until
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
def floor(admin: str, jobs: int, workers: int, *, batched: bool = True, async_commit: bool = False) -> dict[str, Any]:
    """The floor (bench/floor.py); ``batched=False``: one commit per job."""
    with fresh_database(admin) as url:
        return run_floor(url, jobs, workers, batched=batched, async_commit=async_commit)


# ----------------------------------------------------------------------------------------------------
# 2. DAG throughput (and 5. with history, 11. with flow control)
# ----------------------------------------------------------------------------------------------------
def dag_throughput(
    admin: str,
    runs: int,
    workers: int,
    *,
    flow: str = "diamond",
    tenants: int = 0,
    priorities: int = 0,
    schedules: int = 0,
    timeout: float = 600,
) -> dict[str, Any]:
    """Scenario 2 in a fresh database; with ``schedules``, that many cron schedules of the flow are defined first
    (scenario 12): all but one daily at 03:00 (not due while it runs), one every minute (due once a minute, so
    that the polls also start scheduled runs while they claim)."""
    with fresh_database(admin) as url:
        _define(url, flow)
        if schedules:
            define_schedules(url, flows.FLOWS[flow].slug, schedules)
        result = dag_in(url, runs, workers, flow=flow, tenants=tenants, priorities=priorities, timeout=timeout)
        if schedules:
            with psycopg.connect(url, autocommit=True) as conn:
                row = conn.execute("select count(*) from pgflow.runs where schedule_slug is not null").fetchone()
            result["schedules"] = schedules
            result["scheduled_runs"] = row[0] if row else 0
        return result


def define_schedules(url: str, flow_slug: str, count: int) -> None:
    """``count`` schedules of ``flow_slug``: count - 1 daily at 03:00 UTC, one every minute."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select pgflow.create_schedule('daily_' || i, %s, '0 3 * * *', '{}') from generate_series(1, %s) as i",
            (flow_slug, count - 1),
        )
        conn.execute("select pgflow.create_schedule('every_minute', %s, '* * * * *', '{}')", (flow_slug,))


def _start_runs_sql(slug: str, tenants: int, priorities: int) -> str:
    """The statement starting %s runs of ``slug`` in one transaction: with ``tenants``, run i's input is
    {"tenant": "t<i mod tenants>"}; with ``priorities``, its priority is i mod priorities (0 = the lowest)."""
    run_input = f"jsonb_build_object('tenant', 't' || mod(i, {tenants}))" if tenants else "'{}'::jsonb"
    priority = f", priority => mod(i, {priorities})" if priorities else ""
    return f"select (pgflow.start_run('{slug}', {run_input}{priority})).run_id from generate_series(1, %s) as i"


def dag_in(
    url: str,
    runs: int,
    workers: int,
    *,
    flow: str = "diamond",
    tenants: int = 0,
    priorities: int = 0,
    timeout: float = 600,
) -> dict[str, Any]:
    """Scenario 2 in a database where the flow is defined (and may hold any history). pgflow's workers
    always commit durably."""
    definition = flows.FLOWS[flow]
    tasks = runs * len(definition.steps)
    with (
        EngineWorkers(url, [flow], workers) as pool,
        RunWaiter(url) as waiter,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        usage = Usage(conn, pool.pids).start()
        with conn.transaction():
            run_ids = [row[0] for row in conn.execute(_start_runs_sql(definition.slug, tenants, priorities), (runs,))]
        start = db_now(conn)
        end = waiter.wait(run_ids, timeout)
        used = usage.stop(tasks)
        history = conn.execute(
            "select count(*) from pgflow.step_tasks where status = 'completed' and not (run_id = any(%s))",
            (run_ids,),
        ).fetchone()
    seconds = end - start
    return {
        "flow": definition.slug,
        "runs": runs,
        "tasks": tasks,
        "workers": workers,
        "concurrency": 10,
        "seconds": seconds,
        "tasks_per_s": tasks / seconds,
        "runs_per_s": runs / seconds,
        "tenants": tenants,
        "priorities": priorities,
        "finished_tasks_before": history[0] if history else None,
        "usage": used,
    }


def history_pairs(admin: str, runs: int, workers: int, levels: list[int], repeat: int) -> dict[str, Any]:
    """Scenario 5: scenario 2 in a database holding each of ``levels`` finished tasks in turn (the history
    grows from one level to the next), alternating with scenario 2 in a fresh, empty database."""
    out: list[dict[str, Any]] = []
    with fresh_database(admin) as url:
        _define(url, "diamond")
        filled = 0
        for level in levels:
            log(f"history: filling to {level:,} finished tasks")
            fill_seconds = fill_history(url, level - filled)
            filled = level
            empties, fulls = [], []
            for i in range(repeat):
                empties.append(dag_throughput(admin, runs, workers))
                fulls.append(dag_in(url, runs, workers))
                log(
                    f"history {level:,} #{i + 1}: empty {empties[-1]['tasks_per_s']:,.0f} tasks/s, "
                    f"full {fulls[-1]['tasks_per_s']:,.0f} tasks/s"
                )
            out.append(
                {
                    "history_tasks": level,
                    "fill_seconds": fill_seconds,
                    "empty": empties,
                    "full": fulls,
                    "empty_tasks_per_s": median([r["tasks_per_s"] for r in empties]),
                    "full_tasks_per_s": median([r["tasks_per_s"] for r in fulls]),
                    "ratio": median([f["tasks_per_s"] / e["tasks_per_s"] for e, f in zip(empties, fulls)]),
                    "database_bytes": _database_bytes(url),
                }
            )
    return {"levels": out}


def _database_bytes(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("select pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0


HISTORY_CHUNK = 10_000_000  # finished tasks per insert transaction: each one sweeps the primary keys once


def fill_history(url: str, tasks: int) -> float:
    """Add ``tasks`` finished tasks that look like a real history: completed runs of the diamond (random run
    ids, finished over the 30 days before yesterday), each with its five step states and tasks, their times
    staggered as a worker would have left them. Set-based inserts of up to ten million tasks per transaction, in
    primary-key order, the primary keys of step_states and step_tasks dropped meanwhile and built again after;
    then vacuum, analyze and a checkpoint. Returns seconds."""
    started = time.monotonic()
    steps = len(flows.diamond.steps)
    left = tasks // steps
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set session_replication_role = replica")  # bulk load: skip the FK triggers
        conn.execute("set work_mem = '256MB'")
        conn.execute("set maintenance_work_mem = '1GB'")
        # the primary keys of the two big tables are built again after the load (nothing references them):
        # one sorted build instead of millions of index insertions
        keys = conn.execute(
            """
            select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint
            where conrelid in ('pgflow.step_states'::regclass, 'pgflow.step_tasks'::regclass) and contype = 'p'
            """
        ).fetchall()
        for table, name, _ in keys:
            conn.execute(f"alter table {table} drop constraint {name}")
        while left > 0:
            chunk = min(left, HISTORY_CHUNK // steps)
            left -= chunk
            with conn.transaction():
                conn.execute(
                    """
                    create temp table history_chunk on commit drop as
                    select gen_random_uuid() as run_id,
                           now() - interval '1 day' - random() * interval '30 days' as started_at
                    from generate_series(1, %s)
                    """,
                    (chunk,),
                )
                conn.execute(
                    """
                    insert into pgflow.runs (run_id, flow_slug, flow_version, status, input, output,
                                             remaining_steps, started_at, finished_at)
                    select h.run_id, 'bench_diamond', 1, 'completed', '{}', '{"save": 1}', 0,
                           h.started_at, h.started_at + interval '12 milliseconds'
                    from history_chunk as h
                    order by h.run_id
                    """
                )
                conn.execute(
                    """
                    create temp table history_steps on commit drop as
                    select h.run_id, s.step_slug, s.flow_slug, s.flow_version,
                           h.started_at + s.step_index * interval '2 milliseconds' as started_at,
                           h.started_at + (s.step_index + 1) * interval '2 milliseconds' as finished_at
                    from history_chunk as h
                    cross join pgflow.steps as s
                    where s.flow_slug = 'bench_diamond' and s.flow_version = 1
                    order by h.run_id, s.step_slug
                    """
                )
                conn.execute(
                    """
                    insert into pgflow.step_states (run_id, step_slug, flow_slug, flow_version, status,
                                                    remaining_deps, remaining_tasks, initial_tasks, output,
                                                    started_at, finished_at, output_size)
                    select h.run_id, h.step_slug, h.flow_slug, h.flow_version, 'completed', 0, 0, 1, '1',
                           h.started_at, h.finished_at, 1
                    from history_steps as h
                    """
                )
                conn.execute(
                    """
                    insert into pgflow.step_tasks (run_id, step_slug, task_index, flow_slug, status, attempt,
                                                   output, worker_id, visible_at, deadline, queued_at,
                                                   started_at, finished_at)
                    select h.run_id, h.step_slug, 0, h.flow_slug, 'completed', 1, '1', 'history',
                           h.started_at, h.started_at + interval '60 seconds', h.started_at,
                           h.started_at + interval '1 millisecond', h.finished_at
                    from history_steps as h
                    """
                )
            log(f"history: {tasks - left * steps:,} of {tasks:,} tasks inserted ({time.monotonic() - started:.0f} s)")
        for table, name, definition in keys:
            conn.execute(f"alter table {table} add constraint {name} {definition}")
        log(f"history: primary keys built ({time.monotonic() - started:.0f} s)")
        conn.execute("set session_replication_role = origin")
        conn.execute("vacuum analyze pgflow.runs, pgflow.step_states, pgflow.step_tasks")
        log(f"history: vacuumed and analyzed ({time.monotonic() - started:.0f} s)")
        conn.execute("checkpoint")
    return time.monotonic() - started


# ----------------------------------------------------------------------------------------------------
# 3. Wide map (and 10. the 100,000-element map)
# ----------------------------------------------------------------------------------------------------
def wide_map(admin: str, elements: int, workers: int, *, timeout: float = 600) -> dict[str, Any]:
    with fresh_database(admin) as url:
        _define(url, "wide")
        with (
            EngineWorkers(url, ["wide"], workers) as pool,
            RunWaiter(url) as waiter,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            usage = Usage(conn, pool.pids).start()
            start = db_now(conn)
            run = conn.execute(
                "select run_id from pgflow.start_run('bench_wide', %s)", (Jsonb(list(range(elements))),)
            ).fetchone()
            assert run is not None
            fanned_out = db_now(conn)
            end = waiter.wait([run[0]], timeout)
            used = usage.stop(elements + 1)
            rss = pool.peak_rss_mib()
            output = conn.execute("select output from pgflow.runs where run_id = %s", (run[0],)).fetchone()
            assert output is not None and output[0] == {"reduce": elements}, output
        seconds = end - start
        return {
            "elements": elements,
            "tasks": elements + 1,
            "workers": workers,
            "seconds": seconds,
            "start_run_seconds": fanned_out - start,
            "tasks_per_s": (elements + 1) / seconds,
            "usage": used,
            "worker_peak_rss_mib": rss,
            "worker_peak_rss_max_mib": max(rss) if rss else None,
            "worker_peak_rss_sum_mib": round(sum(rss), 1),
        }


# ----------------------------------------------------------------------------------------------------
# 4. Hand-off latency
# ----------------------------------------------------------------------------------------------------
def handoff_latency(
    admin: str, *, listen: bool, runs: int, workers: int = 2, poll_interval: float = 1.0
) -> dict[str, Any]:
    """Time from a step's committed completion to the start of its dependent's handler, along a 50-step chain."""
    with fresh_database(admin) as url, tempfile.TemporaryDirectory() as tmp:
        _define(url, "chain")
        pool = EngineWorkers(url, ["chain"], workers, listen=listen, poll_interval=poll_interval, record_dir=Path(tmp))
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
            for prev, step in itertools.pairwise(slugs):
                if (run, prev) in reports and (run, step) in starts:
                    samples.append((starts[(run, step)] - reports[(run, prev)]) * 1000)
        if len(samples) != runs * (len(slugs) - 1):
            raise RuntimeError(f"expected {runs * (len(slugs) - 1)} hand-offs, measured {len(samples)}")
        # from start_run's commit to the first step's handler, on idle workers
        first = [(starts[(run, slugs[0])] - t) * 1000 for run, t in started.items()]
        return {
            "listen": listen,
            "poll_interval": poll_interval,
            "workers": workers,
            "runs": runs,
            "samples": len(samples),
            "p50_ms": percentile(samples, 50),
            "p95_ms": percentile(samples, 95),
            "p99_ms": percentile(samples, 99),
            "max_ms": max(samples),
            "start_p50_ms": percentile(first, 50),
            "start_max_ms": max(first),
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
        "steps": steps,
        "define_seconds": median(define_s),
        "cycle_steps": cycle_steps,
        "cycle_detection_seconds": median(cycle_s),
        "define_acyclic_big_seconds": median(acyclic_big_s),
        "cycle_message": message[:200],
        "repeat": repeat,
    }


# ----------------------------------------------------------------------------------------------------
# 9. The engine at the SQL level: what a client in any language does, without pgflow's Python worker
# ----------------------------------------------------------------------------------------------------
SQL_POLL = "select t.run_id, t.step_slug, t.task_index, t.attempt from pgflow.poll_for_tasks_lean(%s, %s, %s) as t"
SQL_COMPLETE_BATCH = "select pgflow.complete_tasks(%s::uuid[], %s::text[], %s::int[], %s::text[]::jsonb[], %s::int[])"
SQL_COMPLETE_ONE = "select pgflow.complete_task(%s, %s, %s, '1'::jsonb, %s)"


def _sql_client_main(conninfo: str, worker_id: str, flow_slugs: list[str], batch: int, batched: bool) -> None:
    """One connection in a loop: heartbeat, claim up to ``batch`` tasks with ``poll_for_tasks_lean``, no-op
    handlers (output 1), then one ``complete_tasks`` for the claim (``batched``) or one ``complete_task`` per
    task, each in its own transaction. Autocommit; psycopg's default statement preparation."""
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        beat = 0.0
        while not stop:
            if time.monotonic() - beat > 5:
                conn.execute("select pgflow.heartbeat(%s, %s)", (worker_id, flow_slugs))
                beat = time.monotonic()
            rows = conn.execute(SQL_POLL, (worker_id, flow_slugs, batch)).fetchall()
            if not rows:
                time.sleep(0.001)
                continue
            if batched:
                conn.execute(
                    SQL_COMPLETE_BATCH,
                    (
                        [r[0] for r in rows],
                        [r[1] for r in rows],
                        [r[2] for r in rows],
                        ["1"] * len(rows),
                        [r[3] for r in rows],
                    ),
                )
            else:
                for run_id, step_slug, task_index, attempt in rows:
                    conn.execute(SQL_COMPLETE_ONE, (run_id, step_slug, task_index, attempt))


def sql_level(
    admin: str, runs: int, connections: int, *, batched: bool, batch: int = 10, timeout: float = 600
) -> dict[str, Any]:
    """Scenario 2's work (``runs`` diamonds, started in one transaction) done by ``connections`` client
    processes speaking SQL to the engine (see ``_sql_client_main``); timed like scenario 2."""
    with fresh_database(admin) as url:
        _define(url, "diamond")
        slug = flows.diamond.slug
        ids = [f"bench-sql-{i}-{time.monotonic_ns() % 100000}" for i in range(connections)]
        procs = [
            SPAWN.Process(target=_sql_client_main, args=(url, wid, [slug], batch, batched), daemon=True) for wid in ids
        ]
        for proc in procs:
            proc.start()
        try:
            with RunWaiter(url) as waiter, psycopg.connect(url, autocommit=True) as conn:

                def registered() -> bool:
                    for proc in procs:
                        if proc.exitcode is not None:
                            raise RuntimeError(f"a client process exited early with status {proc.exitcode}")
                    row = conn.execute(
                        "select count(*) from pgflow.workers where worker_id = any(%s)", (ids,)
                    ).fetchone()
                    return bool(row and row[0] == len(ids))

                wait_until(registered, 60, "the SQL clients to start")
                time.sleep(0.2)
                tasks = runs * len(flows.diamond.steps)
                usage = Usage(conn, [proc.pid for proc in procs if proc.pid]).start()
                with conn.transaction():
                    run_ids = [row[0] for row in conn.execute(_start_runs_sql(slug, 0, 0), (runs,))]
                start = db_now(conn)
                end = waiter.wait(run_ids, timeout)
                used = usage.stop(tasks)
        finally:
            for proc in procs:
                if proc.is_alive() and proc.pid:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
    seconds = end - start
    return {
        "runs": runs,
        "tasks": tasks,
        "connections": connections,
        "batch": batch,
        "batched": batched,
        "seconds": seconds,
        "tasks_per_s": tasks / seconds,
        "usage": used,
    }


# ----------------------------------------------------------------------------------------------------
# 11. Flow control: a concurrency cap by tenant and mixed priorities, against the same work without
# ----------------------------------------------------------------------------------------------------
FC_TENANTS = 4
FC_PRIORITIES = 3


def flow_control_supported(admin: str) -> str | None:
    """None when the engine accepts the capped diamond and ``start_run(..., priority => n)``; otherwise why not
    (the engine's refusal: PF001 for the step options, 42883 for the priority argument)."""
    with fresh_database(admin) as url:
        try:
            _define(url, "diamond_fc")
            with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
                conn.execute(_start_runs_sql(flows.diamond_fc.slug, FC_TENANTS, FC_PRIORITIES), (1,))
        except (psycopg.Error, pgflow.PgflowError) as exc:
            sqlstate = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "__cause__", None), "sqlstate", None)
            if not isinstance(exc, pgflow.InvalidDefinition) and sqlstate not in ("PF001", "42883"):
                raise
            return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def flow_control(admin: str, runs: int, workers: int, *, capped: bool) -> dict[str, Any]:
    """``runs`` diamonds for ``FC_TENANTS`` tenants; ``capped``: the diamond whose root step has
    ``concurrency=64, concurrency_key=["tenant"]``, runs started with priorities 0 to FC_PRIORITIES - 1;
    otherwise the plain diamond, same inputs, default priority."""
    if capped:
        return dag_throughput(admin, runs, workers, flow="diamond_fc", tenants=FC_TENANTS, priorities=FC_PRIORITIES)
    return dag_throughput(admin, runs, workers, flow="diamond", tenants=FC_TENANTS)


def to_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
