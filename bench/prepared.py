"""What server-side prepared statements would save a worker: a tight loop of claim-and-complete on a direct
connection, statements prepared by psycopg (its default: after 5 executions) against never prepared (what
pgflow does, so that it works through a transaction pooler). Rounds alternate; the ratio is the median of
back-to-back pairs.

    .venv/bin/python bench/prepared.py [--tasks 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench.common import database, fresh_database, log, median, record

POLL = (
    "select t.run_id, t.step_slug, t.task_index, t.attempt, t.input::text, t.deadline "
    "from pgflow.poll_for_tasks_lean(%s, %s, %s) as t"
)
COMPLETE = "select pgflow.complete_tasks(%s::uuid[], %s::text[], %s::int[], %b::text[]::jsonb[], %s::int[])"


def one_round(url: str, slug: str, tasks: int, prepare_threshold: int | None) -> float:
    """Seconds per claim-and-complete of one task, ``tasks`` runs of a one-step flow."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select pgflow.start_run(%s, jsonb_build_object('i', i)) from generate_series(1, %s) as i",
            (slug, tasks),
        )
    with psycopg.connect(url, autocommit=True, prepare_threshold=prepare_threshold) as conn:
        conn.execute("select pgflow.heartbeat(%s, %s)", ("bench-prepared", [slug]))
        started = time.perf_counter()
        done = 0
        while done < tasks:
            rows = conn.execute(POLL, ("bench-prepared", [slug], 1)).fetchall()
            if not rows:
                raise RuntimeError("the queue ran dry before every task was claimed")
            run_id, step_slug, task_index, attempt, _input, _deadline = rows[0]
            conn.execute(COMPLETE, ([run_id], [step_slug], [task_index], ["1"], [attempt]))
            done += 1
        elapsed = time.perf_counter() - started
        prepared = conn.execute("select count(*) from pg_prepared_statements").fetchone()
    log(
        f"prepare_threshold={prepare_threshold}: {elapsed / tasks * 1e6:.0f} µs per task "
        f"({prepared[0] if prepared else '?'} statement(s) prepared on the server)"
    )
    return elapsed / tasks


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with database.server() as admin, fresh_database(admin, "pgflow_bench_prepared") as url:
        slug = "bench_prepared"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "select pgflow.define_flow(%s, %s::jsonb, '{}'::jsonb)",
                (slug, json.dumps([{"slug": "only", "depends_on": []}])),
            )
        one_round(url, slug, min(args.tasks, 200), 5)  # warm-up
        pairs: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            prepared = one_round(url, slug, args.tasks, 5)
            unprepared = one_round(url, slug, args.tasks, None)
            pairs.append((prepared, unprepared))
        ratio = median([u / p for p, u in pairs])
        result: dict[str, Any] = {
            "tasks_per_round": args.tasks,
            "rounds": args.rounds,
            "prepared_us_per_task": round(median([p for p, _ in pairs]) * 1e6, 1),
            "unprepared_us_per_task": round(median([u for _, u in pairs]) * 1e6, 1),
            "unprepared_over_prepared": round(ratio, 3),
        }
        print(json.dumps(result, indent=2))
        record("prepared", result, admin)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
