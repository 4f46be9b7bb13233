"""CPU per task of the worker processes and of their database backends, besides tasks/s: on a small shared
machine the rate swings with the other load, the CPU a task costs much less.

    .venv/bin/python bench/profiles/cpu.py --kind dag|wide|floor|loop-dag|loop-wide --size N [--workers 4]

``dag``/``wide``: scenarios 2 and 3 with ``pgflow.Worker`` processes (concurrency 10); ``loop-*``: the same
work done by ``sql_loop.py``'s plain loops (the ceiling of a worker on this SQL); ``floor``: scenario 1.
Worker CPU is read from /proc after the processes registered and again before they are stopped (start-up
excluded); database CPU from /proc of the backends of the benchmark's database, likewise (a backend that
connected meanwhile counts whole; the harness's own connections are a few statements). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
from psycopg.types.json import Jsonb

from bench import scenarios
from bench.common import SPAWN, EngineWorkers, database, db_now, fresh_database
from bench.floor import SCHEMA, _floor_worker_main
from bench.profiles.sql_loop import _loop

TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def backends(conn: psycopg.Connection[Any]) -> list[int]:
    return [
        r[0]
        for r in conn.execute(
            "select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
        )
    ]


def measure(
    admin: str, kind: str, size: int, workers: int, prepare: bool = False, spy: str | None = None
) -> dict[str, Any]:
    flow = "wide" if "wide" in kind else "diamond"
    with fresh_database(admin) as url:
        with psycopg.connect(url, autocommit=True) as c:  # calls per task, from pg_stat_user_functions
            c.execute(f"alter database {c.info.dbname} set track_functions = 'pl'")
        if kind == "floor":
            with psycopg.connect(url, autocommit=True) as c:
                c.execute(SCHEMA)
            procs = [
                SPAWN.Process(target=_floor_worker_main, args=(url, 10, True, False), daemon=True)
                for _ in range(workers)
            ]
        elif kind.startswith("loop"):
            scenarios._define(url, flow)
            procs = [
                SPAWN.Process(target=_loop, args=(url, f"bench_{flow}", f"loop-{i}", prepare), daemon=True)
                for i in range(workers)
            ]
        else:
            scenarios._define(url, flow)
            procs = None
        pool = EngineWorkers(url, [flow], workers) if procs is None else None
        if pool is not None:
            pool.__enter__()
            pids = [p.pid for p in pool.procs]
        else:
            for p in procs:
                p.start()
            with psycopg.connect(url, autocommit=True) as c:
                deadline = time.monotonic() + 60
                while len(backends(c)) < workers and time.monotonic() < deadline:
                    time.sleep(0.05)
            time.sleep(0.5)  # imports done, each loop polling the empty queue
            pids = [p.pid for p in procs]
        try:
            spies = []
            if spy:  # py-spy attached to each worker process, from now until it exits (GIL holder only)
                import subprocess  # noqa: PLC0415

                spies = [
                    subprocess.Popen(
                        [
                            str(Path(sys.executable).parent / "py-spy"),
                            "record",
                            "--pid",
                            str(pid),
                            "--threads",
                            "--gil",
                            "--format",
                            "raw",
                            "-r",
                            "200",
                            "-o",
                            f"{spy}.{pid}.txt",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    for pid in pids
                ]
                time.sleep(1.0)
            with psycopg.connect(url, autocommit=True) as conn, scenarios.RunWaiter(url) as waiter:
                w0, d0 = cpu_of(pids), cpu_by_pid(backends(conn))
                start = db_now(conn)
                if kind == "floor":
                    tasks = size
                    conn.execute(
                        "insert into bench_floor_queue (payload) select '{}' from generate_series(1, %s)", (size,)
                    )
                    start = db_now(conn)
                    while conn.execute("select count(*) from bench_floor_queue where status <> 'done'").fetchone()[0]:
                        time.sleep(0.02)
                    end = conn.execute(
                        "select extract(epoch from max(done_at))::float8 from bench_floor_queue"
                    ).fetchone()[0]
                elif flow == "diamond":
                    tasks = size * 5
                    with conn.transaction():
                        ids = [
                            r[0]
                            for r in conn.execute(
                                "select (pgflow.start_run('bench_diamond', '{}')).run_id from generate_series(1, %s)",
                                (size,),
                            )
                        ]
                    start = db_now(conn)
                    end = waiter.wait(ids, 600)
                else:
                    tasks = size + 1
                    ids = [
                        conn.execute(
                            "select run_id from pgflow.start_run('bench_wide', %s)", (Jsonb(list(range(size))),)
                        ).fetchone()[0]
                    ]
                    end = waiter.wait(ids, 600)
                # backends connected during the run (a worker's reporter connects at its first report) count
                # whole
                w1, d1 = cpu_of(pids), cpu_by_pid(backends(conn))
                db_cpu = sum(v - d0.get(pid, 0.0) for pid, v in d1.items())
                time.sleep(0.6)  # statistics are flushed by each backend at most every 0.5 s
                calls = dict(
                    conn.execute(
                        "select funcname, calls from pg_stat_user_functions where schemaname = 'pgflow' "
                        "and funcname in ('poll_for_tasks_lean', 'complete_tasks')"
                    ).fetchall()
                )
        finally:
            if pool is not None:
                pool.__exit__(None, None, None)
            else:
                for p in procs:
                    os.kill(p.pid, signal.SIGTERM)
                for p in procs:
                    p.join(10)
            for sp in spies:
                sp.wait(30)
    seconds = end - start
    return {
        "kind": kind,
        "tasks": tasks,
        "tasks_per_s": round(tasks / seconds),
        "worker_us_per_task": round((w1 - w0) / tasks * 1e6),
        "db_us_per_task": round(db_cpu / tasks * 1e6),
        **{f"{k}_per_task": round(v / tasks, 3) for k, v in calls.items()},
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--kind", default="dag")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--prepare", action="store_true")
    p.add_argument("--spy", default=None, help="py-spy raw profiles written to SPY.<pid>.txt")
    p.add_argument("--repeat", type=int, default=1)
    a = p.parse_args()
    with database.server() as admin:
        for _ in range(a.repeat):
            print(json.dumps(measure(admin, a.kind, a.size, a.workers, a.prepare, a.spy)), flush=True)
