"""The dashboard on a long history: 1,000,000 runs, then the time of the pages people open.

    .venv/bin/python bench/dashboard.py [--runs 1000000] [--repeat 7]

Fills a fresh database with --runs finished and started runs of three flows (one generate_series insert into
pgflow.runs, as prune-less production would accumulate them; step states are not needed by the runs page), plus
one real run of each flow started with pgflow.start_run and worked half-way (for the run page), analyzes, then
times through Starlette's TestClient (the whole request: routing, SQL, templates): the first runs page, a page
filtered by flow and status, a page filtered by a time range, a deep page (the keyset cursor half-way down the
history), the run page and its live JSON. Medians of --repeat requests after one warm-up. Results go to
bench/results/dashboard/<time>.json. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import common
import psycopg

from pgflow.dashboard import data

FLOWS = ("crawl", "bill", "notify")


def fill(url: str, runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for slug in FLOWS:
            conn.execute(
                "select pgflow.define_flow(%s, %s)",
                (slug, json.dumps([{"slug": "fetch"}, {"slug": "parse"}, {"slug": "store"}])),
            )
        conn.execute(
            """
            insert into pgflow.runs (run_id, flow_slug, flow_version, status, input, remaining_steps, started_at,
                                     finished_at, error)
            select gen_random_uuid(), (array['crawl', 'bill', 'notify'])[1 + i %% 3], 1,
                   case when i %% 997 = 0 then 'failed' when i %% 13 = 0 then 'cancelled' else 'completed' end,
                   jsonb_build_object('n', i), 0,
                   timestamptz '2024-01-01' + i * interval '2 s',
                   timestamptz '2024-01-01' + i * interval '2 s' + interval '1 s',
                   case when i %% 997 = 0 then 'step ''parse'' failed: ValueError' end
            from generate_series(1, %s) as i
            """,
            (runs,),
        )
        live = []
        for slug in FLOWS:
            row = conn.execute("select run_id from pgflow.start_run(%s, '{\"n\": -1}')", (slug,)).fetchone()
            assert row is not None
            live.append(row[0])
            conn.execute("select pgflow.poll_for_tasks('bench', array[%s], 1)", (slug,))
        conn.execute("analyze pgflow.runs")
    return {"fill_seconds": round(time.perf_counter() - started, 1), "run_id": str(live[0])}


def timed(client: Any, path: str, repeat: int) -> float:
    """Median milliseconds of GET path (after one warm-up)."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - t) * 1000)
        assert response.status_code == 200
    return round(common.median(samples), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from pgflow.dashboard.app import create_app

    with common.database.server() as admin, common.fresh_database(admin, "pgflow_bench_dash") as url:
        common.log(f"filling {args.runs:,} runs")
        facts = fill(url, args.runs)
        common.log(f"filled in {facts['fill_seconds']} s")
        with psycopg.connect(url, autocommit=True) as conn:
            middle = conn.execute(
                "select started_at, run_id from pgflow.runs order by started_at desc, run_id offset %s limit 1",
                (args.runs // 2,),
            ).fetchone()
        assert middle is not None
        cursor = data.Cursor(middle[0], middle[1]).encode()
        pages = {
            "runs_first_page": "/runs",
            "runs_flow_and_status": "/runs?flow=bill&status=failed",
            "runs_time_range": "/runs?since=2024-01-05T00:00&until=2024-01-06T00:00",
            "runs_deep_page": "/runs?" + __import__("urllib.parse").parse.urlencode({"before": cursor}),
            "runs_deep_page_of_a_flow": "/runs?"
            + __import__("urllib.parse").parse.urlencode({"flow": "crawl", "before": cursor}),
            "run_page": f"/runs/{facts['run_id']}",
            "run_live_json": f"/api/runs/{facts['run_id']}",
        }
        result: dict[str, Any] = {"runs": args.runs, "repeat": args.repeat, **facts, "median_ms": {}}
        with TestClient(create_app(url), base_url="http://127.0.0.1") as client:
            for name, path in pages.items():
                result["median_ms"][name] = timed(client, path, args.repeat)
                common.log(f"{name}: {result['median_ms'][name]} ms")
        common.record("dashboard", result, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
