"""One ``pgflow.Worker`` (concurrency 10) profiled by yappi (CPU clock, every thread) while it works N diamond
runs (or a wide map of N elements) alone: CPU microseconds per task of the functions with the most total and
self time.

    .venv/bin/pip install yappi
    .venv/bin/python bench/profiles/yappi_worker.py --flow diamond --size 1000 [--top 40]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
import yappi
from psycopg.types.json import Jsonb

import pgflow
from bench import flows, scenarios
from bench.common import database, fresh_database


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--flow", default="diamond")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--top", type=int, default=40)
    a = p.parse_args()
    with database.server() as admin, fresh_database(admin) as url:
        scenarios._define(url, a.flow)
        worker = pgflow.Worker(url, [flows.FLOWS[a.flow]], concurrency=10, define=False)
        with psycopg.connect(url, autocommit=True) as conn, scenarios.RunWaiter(url) as waiter:
            thread = threading.Thread(target=worker.run)
            thread.start()
            time.sleep(1.5)
            yappi.set_clock_type("cpu")
            yappi.start()
            cpu0 = time.process_time()
            if a.flow == "diamond":
                tasks = a.size * 5
                with conn.transaction():
                    ids = [
                        r[0]
                        for r in conn.execute(
                            "select (pgflow.start_run('bench_diamond', '{}')).run_id from generate_series(1, %s)",
                            (a.size,),
                        )
                    ]
            else:
                tasks = a.size + 1
                ids = [
                    conn.execute(
                        "select run_id from pgflow.start_run('bench_wide', %s)", (Jsonb(list(range(a.size))),)
                    ).fetchone()[0]
                ]
            waiter.wait(ids, 600)
            cpu = time.process_time() - cpu0
            yappi.stop()
            worker.stop()
            thread.join()
    us = 1e6 / tasks
    print(f"process CPU {cpu * us:.0f} µs per task (yappi on)")
    stats = yappi.get_func_stats()
    rows = [(s.ttot, s.tsub, s.ncall, f"{s.name} ({Path(s.module).name}:{s.lineno})") for s in stats]
    print("by total (µs per task, self, calls per task):")
    for ttot, tsub, n, name in sorted(rows, reverse=True)[: a.top]:
        print(f"  {ttot * us:8.1f} {tsub * us:8.1f} {n / tasks:7.2f}  {name}")
    print("by self:")
    for ttot, tsub, n, name in sorted(rows, key=lambda r: -r[1])[: a.top]:
        print(f"  {ttot * us:8.1f} {tsub * us:8.1f} {n / tasks:7.2f}  {name}")
    for t in yappi.get_thread_stats():
        print(f"thread {t.name}: {t.ttot * us:.1f} µs per task")


if __name__ == "__main__":
    main()
