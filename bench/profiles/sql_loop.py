"""The least a worker can do on pgflow's SQL API: ``workers`` processes, each a plain loop of
``poll_for_tasks_lean`` (up to 10 tasks) and one ``complete_tasks`` for the batch, no threads, no handlers
(output 1). Its rate is the ceiling of any Python worker on this SQL; compare it with the floor and with
``pgflow.Worker`` in the same run.

    .venv/bin/python bench/profiles/sql_loop.py --runs 1000 [--wide 10000] [--prepare]
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
from bench.common import SPAWN, database, db_now, fresh_database

POLL = (
    "select t.run_id, t.step_slug, t.task_index, t.attempt, t.input::text "
    "from pgflow.poll_for_tasks_lean(%s, %s, %s, %s::jsonb) as t"
)
COMPLETE = "select pgflow.complete_tasks(%s::uuid[], %s::text[], %s::int[], %b::text[]::jsonb[], %s::int[])"


def _loop(url: str, slug: str, wid: str, prepare: bool) -> None:
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with psycopg.connect(url, autocommit=True, prepare_threshold=0 if prepare else None) as conn:
        conn.execute("select pgflow.heartbeat(%s, %s)", (wid, [slug]))
        while not stop:
            rows = conn.execute(POLL, (wid, [slug], 10, None)).fetchall()
            if not rows:
                time.sleep(0.001)
                continue
            conn.execute(
                COMPLETE,
                (
                    [r[0] for r in rows],
                    [r[1] for r in rows],
                    [r[2] for r in rows],
                    ["1"] * len(rows),
                    [r[3] for r in rows],
                ),
            )


def run(admin: str, flow: str, size: int, workers: int, prepare: bool) -> dict[str, Any]:
    with fresh_database(admin) as url:
        scenarios._define(url, flow)
        slug = {"diamond": "bench_diamond", "wide": "bench_wide"}[flow]
        procs = [
            SPAWN.Process(target=_loop, args=(url, slug, f"loop-{i}", prepare), daemon=True) for i in range(workers)
        ]
        for p in procs:
            p.start()
        time.sleep(1.0)
        try:
            with scenarios.RunWaiter(url) as waiter, psycopg.connect(url, autocommit=True) as conn:
                start = db_now(conn)
                if flow == "diamond":
                    with conn.transaction():
                        ids = [
                            r[0]
                            for r in conn.execute(
                                "select (pgflow.start_run('bench_diamond', '{}')).run_id from generate_series(1, %s)",
                                (size,),
                            )
                        ]
                    tasks = size * 5
                else:
                    ids = [
                        conn.execute(
                            "select run_id from pgflow.start_run('bench_wide', %s)", (Jsonb(list(range(size))),)
                        ).fetchone()[0]
                    ]
                    tasks = size + 1
                start = start if flow == "wide" else db_now(conn)
                end = waiter.wait(ids, 300)
        finally:
            for p in procs:
                os.kill(p.pid, signal.SIGTERM)
            for p in procs:
                p.join(10)
    return {
        "flow": flow,
        "tasks": tasks,
        "seconds": end - start,
        "tasks_per_s": tasks / (end - start),
        "prepared": prepare,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--flow", default="diamond")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--prepare", action="store_true")
    a = p.parse_args()
    with database.server() as admin:
        print(json.dumps(run(admin, a.flow, a.size, a.workers, a.prepare)))
