"""What the database backends of 4 pgflow workers are doing during scenario 2 (1,000 diamond runs) or 3 (a
wide map of 10,000 elements): pg_stat_activity sampled every ~5 ms, active backends per sample by wait
event and statement.

    .venv/bin/python bench/profiles/waits.py dag|wide
"""

import collections
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg
from psycopg.types.json import Jsonb

from bench import scenarios
from bench.common import EngineWorkers, database, fresh_database

if __name__ == "__main__":
    kind = sys.argv[1]  # dag or wide
    with database.server() as admin, fresh_database(admin) as url:
        flow = "wide" if kind == "wide" else "diamond"
        scenarios._define(url, flow)
        with (
            EngineWorkers(url, [flow], 4),
            scenarios.RunWaiter(url) as waiter,
            psycopg.connect(url, autocommit=True) as conn,
            psycopg.connect(url, autocommit=True) as mon,
        ):
            counts = collections.Counter()
            stop = threading.Event()
            n = [0]

            def sample():
                while not stop.is_set():
                    for state, ev_type, ev, q in mon.execute(
                        "select state, wait_event_type, wait_event, left(query, 40) from pg_stat_activity"
                        " where datname = current_database() and pid <> pg_backend_pid()"
                    ):
                        if state == "active" and "listen" not in (q or ""):
                            counts[(ev_type or "CPU", ev or "", q)] += 1
                    n[0] += 1
                    time.sleep(0.005)

            t = threading.Thread(target=sample)
            t.start()
            if kind == "wide":
                ids = [
                    conn.execute(
                        "select run_id from pgflow.start_run('bench_wide', %s)", (Jsonb(list(range(10000))),)
                    ).fetchone()[0]
                ]
            else:
                with conn.transaction():
                    ids = [
                        r[0]
                        for r in conn.execute(
                            "select (pgflow.start_run('bench_diamond', '{}')).run_id from generate_series(1, 1000)"
                        )
                    ]
            waiter.wait(ids, 300)
            stop.set()
            t.join()
        print(f"{n[0]} samples; active backends per sample by wait:")
        for k, v in counts.most_common(12):
            print(f"  {v / n[0]:.2f}  {k}")
