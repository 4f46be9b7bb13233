"""The plans of the claim on filled tables, read from the poll itself: auto_explain (nested statements, ANALYZE,
BUFFERS, JSON) reports, as notices to the polling session, the plan of every statement poll_for_tasks runs, as
PL/pgSQL runs it (its parameters, its cached plans). With 200,000 finished tasks, 20,000 ready ones, 5,000 delayed
ones and flow-controlled buckets at their caps, the main claim walks step_tasks_ready in order without a sort and
reads a number of rows and buffers bounded by the batch, whether the statistics are fresh (ANALYZE) or absent (a
new database whose tables were never analyzed, autovacuum off), and over repeated polls (custom and generic plans).
No statement of the poll reads step_tasks sequentially."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgflow

from .conftest import scratch_database

BATCH = 10
POLLS = 12
CALLS = re.compile(r"pgflow\.(_?poll_for_tasks|_claim_flow_controlled|_notice_server_start|_check_\w+)\(")


def fill(conn: psycopg.Connection) -> None:
    """200,000 finished tasks (2,000 runs), 20,000 ready (200 runs), 5,000 delayed (50 runs), and 3 flow-controlled
    buckets of 500 tasks each (cap 2)."""
    conn.execute('select pgflow.define_flow(\'history\', \'[{"slug": "each", "type": "map"}]\')')
    conn.execute('select pgflow.define_flow(\'ready\', \'[{"slug": "each", "type": "map"}]\')')
    conn.execute('select pgflow.define_flow(\'later\', \'[{"slug": "each", "type": "map", "start_delay": 3600}]\')')
    conn.execute(
        "select pgflow.define_flow('capped', %s)",
        [
            json.dumps(
                [
                    {"slug": "items"},
                    {
                        "slug": "each",
                        "type": "map",
                        "depends_on": ["items"],
                        "concurrency": 2,
                        "concurrency_key": ["tenant"],
                    },
                ]
            )
        ],
    )
    hundred = "(select jsonb_agg(n) from generate_series(1, 100) as n)"
    conn.execute(f"select pgflow.start_run('history', {hundred}) from generate_series(1, 2000)")
    conn.execute(
        "update pgflow.step_tasks set status = 'completed', attempt = 1, output = 'null', started_at = queued_at,"
        " deadline = queued_at, finished_at = queued_at where flow_slug = 'history'"
    )
    conn.execute(f"select pgflow.start_run('ready', {hundred}) from generate_series(1, 200)")
    conn.execute(f"select pgflow.start_run('later', {hundred}) from generate_series(1, 50)")
    for tenant in ("a", "b", "c"):
        run_id = conn.execute(
            "select run_id from pgflow.start_run('capped', %s)", [json.dumps({"tenant": tenant})]
        ).fetchone()[0]  # type: ignore[index]
        claimed = conn.execute("select attempt from pgflow.poll_for_tasks('filler', array['capped'], 1)").fetchone()[0]  # type: ignore[index]
        conn.execute(
            "select pgflow.complete_task(%s, 'items', 0, (select jsonb_agg(n) from generate_series(1, 500) as n), %s)",
            [run_id, claimed],
        )


@pytest.fixture(params=["analyzed", "no statistics"])
def filled(request: pytest.FixtureRequest, admin_url: str) -> Iterator[str]:
    with scratch_database(admin_url, "pgflow_plans") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            for table in ("step_tasks", "runs", "step_states", "steps", "deps", "flows", "flow_buckets"):
                conn.execute(f"alter table pgflow.{table} set (autovacuum_enabled = false)")
            fill(conn)
            # (the history's tasks were finished by an update: vacuum removes their dead entries from the partial
            # indexes, as autovacuum would have; it does not compute statistics)
            conn.execute("vacuum pgflow.step_tasks")
            if request.param == "analyzed":
                conn.execute("analyze")
            else:
                stats = conn.execute(
                    "select count(*) from pg_stats where schemaname = 'pgflow' and tablename = 'step_tasks'"
                ).fetchone()[0]  # type: ignore[index]
                assert stats == 0
        yield url


def plans_of_polls(url: str, flow_slugs: list[str] | None) -> list[dict[str, Any]]:
    """The auto_explain reports of every statement run by POLLS polls of BATCH tasks, in one session."""
    reports: list[dict[str, Any]] = []

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if "plan:" in message:
            reports.append(json.loads(message.split("plan:", 1)[1]))

    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(on_notice)
        conn.execute("load 'auto_explain'")
        for setting, value in (
            ("log_min_duration", "0"),
            ("log_nested_statements", "on"),
            ("log_analyze", "on"),
            ("log_buffers", "on"),
            ("log_format", "json"),
            ("log_level", "notice"),
        ):
            conn.execute(f"set auto_explain.{setting} = {value}")
        for _ in range(POLLS):
            claimed = conn.execute(
                "select count(*) from pgflow.poll_for_tasks('plans', %s, %s)", [flow_slugs, BATCH]
            ).fetchone()[0]  # type: ignore[index]
            assert claimed == BATCH
    return reports


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def buffers(plan: dict[str, Any]) -> int:
    return int(plan.get("Shared Hit Blocks", 0)) + int(plan.get("Shared Read Blocks", 0))


@pytest.mark.parametrize("flow_slugs", [None, ["ready"]], ids=["every flow", "one flow"])
def test_main_claim_walks_the_ready_index(filled: str, flow_slugs: list[str] | None) -> None:
    reports = plans_of_polls(filled, flow_slugs)
    claims = [r for r in reports if "claimed_in_buckets" in r["Query Text"]]
    assert len(claims) == POLLS
    for poll, report in enumerate(claims):
        plan = report["Plan"]
        scans = [
            n
            for n in nodes(plan)
            if n.get("Relation Name") == "step_tasks" and "Index Name" in n and n["Index Name"] == "step_tasks_ready"
        ]
        assert len(scans) == 1, json.dumps(plan)[:3000]
        (scan,) = scans
        assert scan["Node Type"] == "Index Scan", scan["Node Type"]
        assert not [n for n in nodes(plan) if n["Node Type"] in ("Sort", "Incremental Sort")], json.dumps(plan)[:3000]
        # rows visited: the batch (a claimed task leaves the index, nothing else is skipped)
        assert scan["Actual Rows"] <= BATCH, scan["Actual Rows"]
        # the scan (with the lookups of the runs' versions), then the whole statement: the claim, its updates of
        # the indexes and the inputs built. Both also read the index entries the earlier polls' claims left
        # behind (dead until a vacuum, autovacuum being off here): one heap page each at most.
        assert buffers(scan) < 10 * BATCH + poll * BATCH, (poll, buffers(scan))
        assert buffers(plan) < 60 * BATCH + poll * BATCH, (poll, buffers(plan))


def test_no_statement_of_the_poll_reads_step_tasks_sequentially(filled: str) -> None:
    reports = plans_of_polls(filled, None)
    assert reports
    for report in reports:
        for node in nodes(report["Plan"]):
            if node.get("Relation Name") in ("step_tasks", "runs", "step_states"):
                assert node["Node Type"] not in ("Seq Scan", "Bitmap Heap Scan"), (
                    node["Relation Name"],
                    report["Query Text"][:500],
                )
        # each statement reads a bounded number of buffers (the statements that call the engine's functions are
        # the sums of the statements those run, and include planning them once)
        if not CALLS.search(report["Query Text"]):
            assert buffers(report["Plan"]) < 60 * BATCH, (report["Query Text"][:500], buffers(report["Plan"]))


def test_plans_cached_while_the_tables_were_small(admin_url: str) -> None:
    """A session that polled while the tables were nearly empty and analyzed so (a new deployment) keeps its cached
    plans as the tables grow (no ANALYZE comes to invalidate them before autovacuum's next one): they still read by
    index, not sequentially, and the main claim still walks step_tasks_ready without a sort."""
    with scratch_database(admin_url, "pgflow_plans") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            for table in ("step_tasks", "runs", "step_states", "steps", "deps", "flows", "flow_buckets"):
                conn.execute(f"alter table pgflow.{table} set (autovacuum_enabled = false)")
            conn.execute('select pgflow.define_flow(\'ready\', \'[{"slug": "each", "type": "map"}]\')')
            conn.execute(
                "select pgflow.define_flow('capped', %s)",
                [json.dumps([{"slug": "one", "concurrency": 2, "concurrency_key": ["t"]}])],
            )
            conn.execute("select pgflow.start_run('ready', '[1, 2]')")
            # (as autovacuum analyzes tables while they are small)
            conn.execute("analyze")
            reports: list[dict[str, Any]] = []

            def on_notice(diag: psycopg.errors.Diagnostic) -> None:
                message = diag.message_primary or ""
                if "plan:" in message:
                    reports.append(json.loads(message.split("plan:", 1)[1]))

            conn.add_notice_handler(on_notice)
            # small tables: polls that claim and polls that find nothing, enough for generic plans to be cached
            for _ in range(8):
                conn.execute("select count(*) from pgflow.poll_for_tasks('plans', null, %s)", [BATCH])
            conn.execute(
                "select pgflow.start_run('ready', (select jsonb_agg(n) from generate_series(1, 10) as n))"
                " from generate_series(1, 3000)"
            )
            conn.execute(
                "select pgflow.start_run('capped', jsonb_build_object('t', n % 5)) from generate_series(1, 3000) as n"
            )
            conn.execute("load 'auto_explain'")
            for setting, value in (
                ("log_min_duration", "0"),
                ("log_nested_statements", "on"),
                ("log_analyze", "on"),
                ("log_buffers", "on"),
                ("log_format", "json"),
                ("log_level", "notice"),
            ):
                conn.execute(f"set auto_explain.{setting} = {value}")
            for _ in range(4):
                claimed = conn.execute(
                    "select count(*) from pgflow.poll_for_tasks('plans', null, %s)", [BATCH]
                ).fetchone()[0]  # type: ignore[index]
                assert claimed == BATCH
    assert reports
    for report in reports:
        for node in nodes(report["Plan"]):
            if node.get("Relation Name") in ("step_tasks", "runs", "step_states"):
                assert node["Node Type"] not in ("Seq Scan", "Bitmap Heap Scan"), (
                    node["Relation Name"],
                    report["Query Text"][:300],
                )
        if "claimed_in_buckets" in report["Query Text"]:
            assert not [n for n in nodes(report["Plan"]) if n["Node Type"] in ("Sort", "Incremental Sort")]
