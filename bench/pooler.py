"""Latency behind PgBouncer in transaction mode, where LISTEN cannot work: two worker processes run a 50-step
chain, one run at a time, (a) on a direct connection (LISTEN), (b) through PgBouncer polling alone, (c) through
PgBouncer with a direct listen connection (PGFLOW_LISTEN_URL). Reported: the time from start_run's commit to
the first handler (idle workers), and from a step's committed completion to its dependent's handler.

    .venv/bin/python bench/pooler.py [--runs 5] [--poll-interval 1.0]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from bench import flows
from bench.common import EngineWorkers, database, fresh_database, log, percentile, record
from bench.scenarios import RunWaiter, _define
from tests_py._pgbouncer import PgBouncer


def measure(url: str, direct: str, *, runs: int, poll_interval: float, listen_url: str | None) -> dict[str, Any]:
    """Hand-off and start latencies (ms) of ``runs`` chain runs worked by 2 processes connected to ``url``."""
    saved = os.environ.pop("PGFLOW_LISTEN_URL", None)
    if listen_url:
        os.environ["PGFLOW_LISTEN_URL"] = listen_url
    try:
        with tempfile.TemporaryDirectory() as tmp:
            pool = EngineWorkers(url, ["chain"], 2, poll_interval=poll_interval, record_dir=Path(tmp))
            started: dict[str, float] = {}
            with pool, RunWaiter(direct) as waiter, psycopg.connect(direct, autocommit=True) as conn:
                time.sleep(3)  # the listeners' probes are over
                for _ in range(runs):
                    time.sleep(0.3 + random.uniform(0, poll_interval))  # idle workers, next poll due anywhere
                    row = conn.execute("select run_id from pgflow.start_run('bench_chain', '{}')").fetchone()
                    assert row is not None
                    started[str(row[0])] = time.time()
                    waiter.wait([row[0]], 300)
            starts: dict[tuple[str, str], float] = {}
            reports: dict[tuple[str, str], float] = {}
            for record in pool.records():
                starts.update({(run, step): t for run, step, t in record["starts"]})
                reports.update({(run, step): t for run, step, t in record["reports"]})
    finally:
        os.environ.pop("PGFLOW_LISTEN_URL", None)
        if saved is not None:
            os.environ["PGFLOW_LISTEN_URL"] = saved
    slugs = [step.slug for step in flows.chain.steps]
    handoffs = [
        (starts[(run, step)] - reports[(run, prev)]) * 1000
        for run in started
        for prev, step in itertools.pairwise(slugs)
        if (run, prev) in reports and (run, step) in starts
    ]
    first = [(starts[(run, slugs[0])] - t) * 1000 for run, t in started.items()]
    return {
        "handoffs": len(handoffs),
        "handoff_p50_ms": round(percentile(handoffs, 50), 1),
        "handoff_p95_ms": round(percentile(handoffs, 95), 1),
        "handoff_max_ms": round(max(handoffs), 1),
        "start_p50_ms": round(percentile(first, 50), 1),
        "start_max_ms": round(max(first), 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"runs": args.runs, "poll_interval": args.poll_interval}
    with database.server() as admin, fresh_database(admin, "pgflow_bench_pooler") as direct:
        _define(direct, "chain")
        with PgBouncer(direct, pool_mode="transaction", pool_size=2) as bouncer:
            for name, url, listen_url in (
                ("direct_listen", direct, None),
                ("pgbouncer_polling", bouncer.url(), None),
                ("pgbouncer_listen_url", bouncer.url(), direct),
            ):
                log(f"{name} ...")
                results[name] = measure(
                    url, direct, runs=args.runs, poll_interval=args.poll_interval, listen_url=listen_url
                )
                log(f"{name}: {results[name]}")
        print(json.dumps(results, indent=2))
        record("pooler", results, admin)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
