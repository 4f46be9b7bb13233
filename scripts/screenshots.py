"""Screenshots of the dashboard's pages, for docs/img/: runs, a run in progress, flows, workers, schedules.

    .venv/bin/python scripts/screenshots.py [--admin-url URL] [--out docs/img]

Makes a scratch database on the server of --admin-url (default: $DATABASE_URL, then dbname=postgres), fills it
with sample flows, runs (completed, failed, cancelled, one in progress), a child run, workers and a schedule,
serves the dashboard and photographs each page with the browser of the tests (tests_py/_browser.py). The
database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

import pgflow  # noqa: E402
from tests_py._browser import ANALYZE, chrome, dashboard, drive  # noqa: E402
from tests_py.conftest import scratch_database  # noqa: E402


def seed(url: str) -> str:
    """Sample data; returns the id of the run in progress (the one the README shows)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pgflow.define_flow('analyze', %s)", (pgflow_json(ANALYZE),))
        conn.execute(
            "select pgflow.define_flow('analyze', %s)",
            (pgflow_json([*ANALYZE[:2], {"slug": "merge", "depends_on": ["sentiment"]}]),),
        )
        conn.execute("select pgflow.set_current_version('analyze', 1)")
        conn.execute('select pgflow.define_flow(\'enrich\', \'[{"slug": "lookup"}, {"slug": "store"}]\')')
        conn.execute(
            "select pgflow.define_flow('ingest', %s)",
            (
                pgflow_json(
                    [
                        {"slug": "download"},
                        {"slug": "approve", "type": "wait", "depends_on": ["download"], "timeout": 86400},
                        {"slug": "enrich", "flow": "enrich", "depends_on": ["download"]},
                        {"slug": "publish", "depends_on": ["approve", "enrich"]},
                    ]
                ),
            ),
        )
        for i in range(9):
            conn.execute("select pgflow.start_run('analyze', %s)", (pgflow_json({"url": f"https://example.com/{i}"}),))
            drive(conn, "analyze", "worker-a")
        conn.execute("select pgflow.start_run('analyze', '{\"url\": \"https://example.com/empty\"}')")
        drive(conn, "analyze", "worker-a", fail="score")
        run = conn.execute("select run_id from pgflow.start_run('analyze', '{\"url\": \"https://example.com/x\"}')")
        cancelled = run.fetchone()[0]  # type: ignore[index]
        conn.execute("select pgflow.cancel_run(%s, 'the page moved')", (cancelled,))
        conn.execute("select pgflow.start_run('ingest', '{\"file\": \"orders-2024-05.csv\"}')")
        drive(conn, "ingest", "worker-b")
        drive(conn, "enrich", "worker-b", stop_after=1)
        live = conn.execute(
            "select run_id from pgflow.start_run('analyze', '{\"url\": \"https://example.com/live\"}')"
        ).fetchone()[0]  # type: ignore[index]
        drive(conn, "analyze", "worker-a", stop_after=4)
        conn.execute("select pgflow.heartbeat('worker-a', array['analyze'])")
        conn.execute("select pgflow.heartbeat('worker-b', array['ingest', 'enrich'])")
        conn.execute(
            "select pgflow.create_schedule('nightly_analyze', 'analyze', '0 3 * * *', "
            "'{\"url\": \"https://example.com/daily\"}', 'Europe/Berlin')"
        )
        conn.execute("select pgflow.create_schedule('hourly_ingest', 'ingest', '@hourly')")
        return str(live)


def pgflow_json(value: object) -> str:
    import json

    return json.dumps(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default=os.environ.get("DATABASE_URL") or "dbname=postgres")
    parser.add_argument("--out", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with scratch_database(args.admin_url, "pgflow_screens") as url:
        pgflow.migrate(url)
        live = seed(url)
        with dashboard(url) as base, chrome() as driver:
            for name, path in (
                ("runs", "/runs"),
                ("run", f"/runs/{live}"),
                ("flows", "/flows"),
                ("flow", "/flows/analyze"),
                ("workers", "/workers"),
                ("schedules", "/schedules"),
            ):
                driver.get(base + path)
                time.sleep(0.3)
                height = driver.execute_script("return document.documentElement.scrollHeight")
                driver.set_window_size(1360, min(max(int(height) + 20, 500), 1600))
                target = out / f"dashboard-{name}.png"
                driver.save_screenshot(str(target))
                print(target)
                driver.set_window_size(1360, 900)
    return 0


if __name__ == "__main__":
    sys.exit(main())
