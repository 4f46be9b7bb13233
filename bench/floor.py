"""The floor: the cheapest job queue PostgreSQL allows, as the physical limit pgflow is measured against.

One table; a worker claims up to ``batch`` jobs with one ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
LOCKED)``, runs no-op handlers, and marks them done with one statement per batch — the same batch size,
the same number of worker processes and the same reporting granularity as pgflow's workers. With
``batched=False`` each job of a claim is marked done by its own ``UPDATE`` in its own transaction (one commit
per job): the floor of a client that reports one task per transaction.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import psycopg

from bench.common import SPAWN, Usage, db_now, wait_until

SCHEMA = """
drop table if exists bench_floor_queue;
create table bench_floor_queue (
  id bigserial primary key,
  status text not null default 'queued',
  payload jsonb not null,
  result jsonb,
  done_at timestamptz
);
create index bench_floor_due on bench_floor_queue (id) where status = 'queued';
"""

CLAIM = """
update bench_floor_queue set status = 'running'
where id in (
  select id from bench_floor_queue where status = 'queued' order by id limit %s for update skip locked
)
returning id, payload
"""
DONE_BATCH = (
    "update bench_floor_queue set status = 'done', result = '1', done_at = clock_timestamp() where id = any(%s)"
)
DONE_ONE = "update bench_floor_queue set status = 'done', result = '1', done_at = clock_timestamp() where id = %s"


def _floor_worker_main(conninfo: str, batch: int, batched: bool, async_commit: bool) -> None:
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if async_commit:
            conn.execute("set synchronous_commit = off")
        while not stop:
            rows = conn.execute(CLAIM, (batch,)).fetchall()
            if not rows:
                time.sleep(0.001)
                continue
            results = [(row[0], None) for row in rows]  # the no-op handlers
            if batched:
                conn.execute(DONE_BATCH, ([r[0] for r in results],))
            else:
                for job_id, _ in results:
                    conn.execute(DONE_ONE, (job_id,))


def run_floor(
    conninfo: str,
    jobs: int,
    workers: int,
    *,
    batch: int = 10,
    batched: bool = True,
    async_commit: bool = False,
    timeout: float = 300,
) -> dict[str, Any]:
    """Enqueue ``jobs`` jobs, release ``workers`` processes at once, and time until the last is done."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(SCHEMA)
        procs = [
            SPAWN.Process(target=_floor_worker_main, args=(conninfo, batch, batched, async_commit), daemon=True)
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        try:
            time.sleep(1.0)  # the processes are up and polling an empty queue
            usage = Usage(conn, [proc.pid for proc in procs if proc.pid]).start()
            with conn.transaction():
                conn.execute("insert into bench_floor_queue (payload) select '{}' from generate_series(1, %s)", (jobs,))
            start = db_now(conn)

            def done() -> bool:
                row = conn.execute("select count(*) from bench_floor_queue where status = 'done'").fetchone()
                return bool(row and row[0] == jobs)

            wait_until(done, timeout, "the floor queue to drain", interval=0.02)
            used = usage.stop(jobs)
            row = conn.execute("select extract(epoch from max(done_at))::float8 from bench_floor_queue").fetchone()
            assert row is not None
            seconds = float(row[0]) - start
        finally:
            for proc in procs:
                if proc.is_alive() and proc.pid:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in procs:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
        conn.execute("drop table bench_floor_queue")
    return {
        "jobs": jobs,
        "workers": workers,
        "batch": batch,
        "batched_done": batched,
        "seconds": seconds,
        "tasks_per_s": jobs / seconds,
        "async_commit": async_commit,
        "usage": used,
    }
