"""Wide and long flows cost time linear in their size: the plans the engine runs are checked, not timed.

A flow of N root steps joined by one step, and a chain of N steps (every other one with a condition, so
that it starts through _start_step), are run in a new database whose statistics were never gathered
(autovacuum is off for it, so nothing gathers them meanwhile), then again with statistics gathered after
the flow is defined and again before the calls observed late in the run (as autovacuum keeps them, give or
take its delay). Every statement the engine executes inside the calls below is captured with auto_explain
(nested statements, actual row counts), and each plan node's work is measured as the rows it produced plus
the rows its filters discarded, times its loops. Linear total time follows from the bounds asserted:

* start_run, and the claim and completion of the join step, handle N rows: no node does more than 4N;
* the claim and the completion of one root step (or one chain step), late in the run, handle one row:
  no node does more than a small constant, whatever N;
* no index condition names a column without the ones before it in its index (such a scan reads the
  whole index, or a whole flow version's or run's part of it, and its row counts do not show it), in a
  call about one task, or repeated per row in any call.

A plan that scans every step or dependency of the flow version for each task (a tie between indexes on
empty statistics), compares every ready step with every started one, reads every state of the run to
build one input, or walks the index entries of every task completed since the last vacuum, breaks these
bounds by a factor of about N. This runs in pytest rather than pgTAP because it needs a database of its
own, never analyzed, and the plans of nested statements (auto_explain sends them to the client as notices).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgflow

from .conftest import scratch_database

N = 1000  # roots of the wide flow, steps of the chain
PER_TASK_BOUND = 10  # rows a plan node may handle while one task is claimed or completed
PER_STEP_BOUND = 4  # rows per step of the flow a plan node may handle in a call about all of them (index
# entries included: a run's step states are written a few times each, and until a vacuum every version
# keeps its entry)
TABLES = ("flows", "steps", "deps", "runs", "step_states", "step_tasks")


@dataclass(frozen=True)
class NodeWork:
    """The busiest plan node of one captured statement: ``rows`` produced plus discarded, times loops."""

    rows: int
    node: str
    query: str


def _node_rows(node: dict[str, Any]) -> int:
    per_loop = (
        node.get("Actual Rows", 0)
        + node.get("Rows Removed by Filter", 0)
        + node.get("Rows Removed by Join Filter", 0)
        + node.get("Rows Removed by Index Recheck", 0)
    )
    return int(per_loop * node.get("Actual Loops", 1))


def _label(node: dict[str, Any]) -> str:
    return " ".join(
        f"{k}: {node[k]}" if "Cond" in k or "Filter" in k else str(node[k])
        for k in (
            "Node Type",
            "Relation Name",
            "Index Name",
            "Index Cond",
            "Recheck Cond",
            "Hash Cond",
            "Filter",
            "Join Filter",
        )
        if k in node
    )


def _busiest(node: dict[str, Any], query: str) -> NodeWork:
    best = NodeWork(_node_rows(node), _label(node), query)
    for child in node.get("Plans", []):
        candidate = _busiest(child, query)
        if candidate.rows > best.rows:
            best = candidate
    return best


CLAIM_QUEUES = {"step_tasks_ready", "step_tasks_flow_controlled"}


def _unprefixed(node: dict[str, Any], index_columns: dict[str, list[str]], once: bool) -> Iterator[str]:
    """Index scans whose condition names columns that are not a prefix of the index's (a later column without
    the one before it): they read a whole index, or a whole flow version's or run's part of it, to find a few
    entries, and their row counts do not show it (entries skipped by an index condition are not counted).
    With ``once``, only those repeated for each row of another node: once per call, such a read is as long
    as the index, which the planner may rightly choose when the call is about most of it."""
    columns = index_columns.get(node.get("Index Name", ""))
    # The claim's queues are walked in their order from the start and the walk stops after the batch, so a condition
    # on a later column (visible_at, the round) reads no more than the batch: test_claim_plans.py bounds its buffers.
    if node.get("Index Name") in CLAIM_QUEUES:
        columns = None
    if columns and "Index Cond" in node and node.get("Actual Loops", 0) > (1 if once else 0):
        named = set(re.findall(r"\((\w+) (?:=|<|>|<=|>=) ", node["Index Cond"]))
        if named != set(columns[: len(named)]):
            yield _label(node)
    for child in node.get("Plans", []):
        yield from _unprefixed(child, index_columns, once)


class PlanRecorder:
    """Collects the plans auto_explain sends as notices on ``conn`` while recording (see ``record``)."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.plans: list[NodeWork] = []
        self.unprefixed: list[str] = []
        self.recording = False
        self.once = False
        # the columns of every index of the engine's tables, in order, by index name (none for an expression)
        self.index_columns: dict[str, list[str]] = dict(
            conn.execute(
                "select c.relname::text, array_agg(a.attname::text order by k.n)"
                " from pg_catalog.pg_index as i"
                " join pg_catalog.pg_class as c on c.oid = i.indexrelid"
                " cross join unnest(i.indkey::int2[]) with ordinality as k (attnum, n)"
                " join pg_catalog.pg_attribute as a on a.attrelid = i.indrelid and a.attnum = k.attnum"
                " where c.relnamespace = 'pgflow'::regnamespace"
                " group by c.relname"
            ).fetchall()
        )
        assert self.index_columns["steps_pkey"] == ["flow_slug", "flow_version", "step_slug"]
        conn.execute("load 'auto_explain'")
        for setting, value in (
            ("log_level", "notice"),
            ("log_format", "json"),
            ("log_analyze", "on"),
            ("log_timing", "off"),
            ("log_nested_statements", "on"),
            ("log_min_duration", "-1"),
        ):
            conn.execute(f"set auto_explain.{setting} = '{value}'")
        conn.add_notice_handler(self._notice)

    def _notice(self, diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if not self.recording or "plan:" not in message:
            return
        explained = json.loads(message.split("plan:", 1)[1])
        query = explained.get("Query Text", "")
        self.plans.append(_busiest(explained["Plan"], query))
        self.unprefixed += [
            f"{label}, in:\n{query.strip()}" for label in _unprefixed(explained["Plan"], self.index_columns, self.once)
        ]

    def record(
        self, sql: str, params: tuple[Any, ...] = (), *, per_task: bool = False
    ) -> tuple[list[tuple[Any, ...]], NodeWork]:
        """Runs ``sql`` with every nested statement explained; returns its rows and its busiest plan node.
        Fails if a statement's index condition names columns that are not a prefix of its index's: in a call
        about one task (``per_task``) anywhere, else in a node repeated for each row of another."""
        self.plans = []
        self.unprefixed = []
        self.once = not per_task
        self.conn.execute("set auto_explain.log_min_duration = 0")
        self.recording = True
        try:
            rows = self.conn.execute(sql, params).fetchall()
        finally:
            self.recording = False
            self.conn.execute("set auto_explain.log_min_duration = -1")
        assert self.plans, f"auto_explain captured no plan for {sql}"
        assert not self.unprefixed, "an index condition on columns that are not a prefix: " + self.unprefixed[0]
        return rows, max(self.plans, key=lambda w: w.rows)


def _describe(work: NodeWork) -> str:
    return f"{work.rows} rows in {work.node}, in:\n{work.query.strip()}"


@contextlib.contextmanager
def _new_database(admin_url: str) -> Iterator[psycopg.Connection]:
    """A connection to a new database with the schema installed and autovacuum off for the engine's tables."""
    with scratch_database(admin_url, "pgflow_wide") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            for table in TABLES:
                conn.execute(f"alter table pgflow.{table} set (autovacuum_enabled = false)")
            yield conn


@pytest.fixture(params=["never analyzed", "analyzed"])
def fresh(request: pytest.FixtureRequest, admin_url: str) -> Iterator[tuple[psycopg.Connection, bool]]:
    """A new database (``_new_database``) and whether the test gathers statistics (see ``_define`` and
    ``_analyze``)."""
    with _new_database(admin_url) as conn:
        yield conn, request.param == "analyzed"


def _analyze(conn: psycopg.Connection, analyze: bool) -> None:
    if analyze:
        conn.execute("analyze " + ", ".join(f"pgflow.{table}" for table in TABLES))


def _define(conn: psycopg.Connection, slug: str, steps: list[dict[str, Any]], analyze: bool) -> None:
    conn.execute("select pgflow.define_flow(%s, %s)", (slug, Jsonb(steps)))
    _analyze(conn, analyze)


POLL = "select run_id, step_slug, task_index, attempt, input from pgflow.poll_for_tasks_lean(%s, array[%s], %s)"
# the claim of a worker that serves only the versions whose steps it has (flow_versions), as the Python worker polls
POLL_VERSIONED = (
    "select run_id, step_slug, task_index, attempt, input"
    " from pgflow.poll_for_tasks_lean(%s, array[%s], %s, jsonb_build_object(%s::text, array[1]))"
)
COMPLETE = "select pgflow.complete_task(%s, %s, %s, %s, %s)"


def _complete(conn: psycopg.Connection, task: tuple[Any, ...], output: Any) -> None:
    conn.execute(COMPLETE, (task[0], task[1], task[2], Jsonb(output), task[3]))


def test_wide_flow_plans_are_linear(fresh: tuple[psycopg.Connection, bool]) -> None:
    """N roots and a join: start_run, the claims and completions of the last quarter of the roots, one per
    transaction, and the claim and completion of join keep within the bounds of the module's docstring."""
    conn, analyze = fresh
    _define(
        conn,
        "wide",
        [{"slug": f"r{i}"} for i in range(N)] + [{"slug": "join", "depends_on": [f"r{i}" for i in range(N)]}],
        analyze,
    )
    recorder = PlanRecorder(conn)

    _, work = recorder.record("select run_id from pgflow.start_run('wide')")
    assert work.rows <= PER_STEP_BOUND * N, f"start_run of {N} roots: " + _describe(work)

    # the first three quarters of the roots unobserved, one transaction per claim and per completion (so
    # the index entries of finished tasks pile up as they do between vacuums), then the rest observed
    for _ in range(N * 3 // 4):
        (task,) = conn.execute(POLL, ("w", "wide", 1)).fetchall()
        _complete(conn, task, {"v": task[1]})
    _analyze(conn, analyze)
    worst: list[NodeWork] = []
    for i in range(N * 3 // 4, N):
        (task,), claim = recorder.record(POLL, ("w", "wide", 1), per_task=True)
        report_args = (task[0], task[1], task[2], Jsonb({"v": task[1]}), task[3])
        last = i == N - 1
        _, report = recorder.record(COMPLETE, report_args, per_task=not last)
        if last:
            # the last root makes join ready: the size of its input is the sum of N outputs
            assert report.rows <= PER_STEP_BOUND * N, f"completion of the last of {N} roots: " + _describe(report)
            report = claim
        worst += [claim, report]
    busiest = max(worst, key=lambda w: w.rows)
    assert busiest.rows <= PER_TASK_BOUND, f"claim or completion of one root of {N}: " + _describe(busiest)

    (join,), claim = recorder.record(POLL, ("w", "wide", 10))
    assert join[1] == "join" and len(join[4]) == N
    assert claim.rows <= PER_STEP_BOUND * N, f"claim of a step with {N} dependencies: " + _describe(claim)
    _, report = recorder.record(COMPLETE, (join[0], join[1], join[2], Jsonb("done"), join[3]))
    assert report.rows <= PER_STEP_BOUND * N, f"completion of a step with {N} dependencies: " + _describe(report)
    status, output = conn.execute("select status, output from pgflow.runs where run_id = %s", (join[0],)).fetchone()
    assert (status, output) == ("completed", {"join": "done"})


def test_long_flow_plans_are_linear(fresh: tuple[psycopg.Connection, bool]) -> None:
    """A chain of N steps: the claims and completions of its last quarter, one per transaction, keep within
    the per-task bounds; the last completion, which builds the run's output, within the per-step bound. The
    observed claims name the flow version (flow_versions), as the Python worker's do."""
    conn, analyze = fresh
    # every other step has a condition (met): those start through _start_step, the others all at once
    _define(
        conn,
        "chain",
        [{"slug": "s0"}]
        + [
            {"slug": f"s{i}", "depends_on": [f"s{i - 1}"], **({"if": {f"s{i - 1}": 1}} if i % 2 else {})}
            for i in range(1, N)
        ],
        analyze,
    )
    recorder = PlanRecorder(conn)
    run_id = conn.execute("select run_id from pgflow.start_run('chain')").fetchone()[0]

    for _ in range(N * 3 // 4):
        (task,) = conn.execute(POLL, ("w", "chain", 1)).fetchall()
        _complete(conn, task, 1)
    _analyze(conn, analyze)
    worst: list[NodeWork] = []
    for _ in range(N - N * 3 // 4):
        (task,), claim = recorder.record(POLL_VERSIONED, ("w", "chain", 1, "chain"), per_task=True)
        assert task[4] == {f"s{int(task[1][1:]) - 1}": 1}
        last = task[1] == f"s{N - 1}"
        _, report = recorder.record(COMPLETE, (task[0], task[1], task[2], Jsonb(1), task[3]), per_task=not last)
        if last:
            # the last step completes the run, whose output is built from its N step states
            assert report.rows <= PER_STEP_BOUND * N, f"completion of a {N}-step run: " + _describe(report)
            report = claim
        worst += [claim, report]
    busiest = max(worst, key=lambda w: w.rows)
    assert busiest.rows <= PER_TASK_BOUND, f"claim or completion of one step of a {N}-step chain: " + _describe(busiest)
    status, output = conn.execute("select status, output from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert (status, output) == ("completed", {f"s{N - 1}": 1})


@pytest.mark.parametrize("roots", [1250, 2500, 5000])
def test_start_run_plans_are_linear_at_several_widths(admin_url: str, roots: int) -> None:
    """The plans of start_run change with the width (on empty statistics, estimates follow the tables' sizes):
    none of them reads more than 4 rows per step, or an index by columns that are not a prefix of it."""
    with _new_database(admin_url) as conn:
        _define(
            conn,
            "wide",
            [{"slug": f"r{i}"} for i in range(roots)]
            + [{"slug": "join", "depends_on": [f"r{i}" for i in range(roots)]}],
            False,
        )
        _, work = PlanRecorder(conn).record("select run_id from pgflow.start_run('wide')")
        assert work.rows <= PER_STEP_BOUND * roots, f"start_run of {roots} roots: " + _describe(work)
        tasks = conn.execute("select count(*) from pgflow.step_tasks").fetchone()
        assert tasks == (roots,)
