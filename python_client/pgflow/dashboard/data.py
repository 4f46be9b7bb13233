"""What the dashboard's pages read, through the engine's public functions and tables only (SPEC §3.9).

Every function takes an open connection (autocommit, rows as dicts) and returns plain data for a template.
The runs page is paged by keyset on (started_at desc, run_id), the order of ``pgflow.list_runs``, read from
the indexes runs_newest_first, runs_of_flow_newest_first and runs_in_status_newest_first: a page costs the same
whether it is the first or the ten-thousandth, whatever the number of runs (never an OFFSET).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

#: the statuses a run may have (SPEC §3.9), in the order the filter offers them
RUN_STATUSES = ("started", "completed", "failed", "cancelled")
#: runs on one page of the runs page
PAGE_SIZE = 50
#: tasks of one step shown on a run page (a 10,000-task map shows its first ones and says how many there are)
TASKS_PER_STEP = 50
#: versions of one flow drawn on its page, newest first
VERSIONS_SHOWN = 20
#: characters of an input, output or error shown inline before "whole"
PREVIEW_CHARS = 160


class NotFound(Exception):
    """The run, flow or value asked for does not exist (a 404)."""


@dataclass(frozen=True)
class Cursor:
    """A position in the runs list: the (started_at, run_id) of a run; pages go older or newer from it."""

    started_at: dt.datetime
    run_id: uuid.UUID

    def encode(self) -> str:
        return f"{self.started_at.isoformat()}_{self.run_id}"

    @staticmethod
    def decode(text: str) -> Cursor:
        """ValueError for text that is not ``<ISO timestamp with offset>_<uuid>``."""
        when, _, run_id = text.rpartition("_")
        started_at = dt.datetime.fromisoformat(when)
        if started_at.tzinfo is None:
            raise ValueError("cursor without a time zone")
        return Cursor(started_at, uuid.UUID(run_id))


@dataclass(frozen=True)
class RunFilter:
    """The runs page's filters: a flow slug, a status, started at or after ``since``, before ``until``."""

    flow: str | None = None
    status: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def runs_query(
    filters: RunFilter, *, older_than: Cursor | None, newer_than: Cursor | None, limit: int
) -> tuple[sql.Composed, dict[str, Any]]:
    """The SQL of one page of runs and its parameters: only the predicates in use are written, so that the
    planner sees a plain index range (tests_py/test_dashboard.py checks its plan). ``newer_than`` reads
    upwards (oldest first): the caller reverses the rows."""
    where: list[sql.Composable] = []
    params: dict[str, Any] = {"limit": limit}
    if filters.flow is not None:
        where.append(sql.SQL("r.flow_slug = %(flow)s"))
        params["flow"] = filters.flow
    if filters.status is not None:
        where.append(sql.SQL("r.status = %(status)s"))
        params["status"] = filters.status
    if filters.since is not None:
        where.append(sql.SQL("r.started_at >= %(since)s"))
        params["since"] = filters.since
    if filters.until is not None:
        where.append(sql.SQL("r.started_at < %(until)s"))
        params["until"] = filters.until
    order = sql.SQL("r.started_at desc, r.run_id")
    if older_than is not None:
        # after (t, id) in the order started_at desc, run_id asc; the first half is the index's range
        where.append(sql.SQL("r.started_at <= %(t)s and (r.started_at < %(t)s or r.run_id > %(id)s)"))
        params.update(t=older_than.started_at, id=older_than.run_id)
    elif newer_than is not None:
        where.append(sql.SQL("r.started_at >= %(t)s and (r.started_at > %(t)s or r.run_id < %(id)s)"))
        params.update(t=newer_than.started_at, id=newer_than.run_id)
        order = sql.SQL("r.started_at, r.run_id desc")
    query = sql.SQL(
        "select r.run_id, r.flow_slug, r.flow_version, r.status, r.priority, r.error, r.remaining_steps, "
        "r.started_at, r.finished_at, r.parent_run_id, r.schedule_slug "
        "from pgflow.runs as r {where} order by {order} limit %(limit)s"
    ).format(
        where=sql.SQL("where ") + sql.SQL(" and ").join(where) if where else sql.SQL(""),
        order=order,
    )
    return query, params


@dataclass(frozen=True)
class RunsPage:
    """One page of runs, newest first, with cursors to the older and newer pages (None at either end)."""

    runs: list[dict[str, Any]]
    older: Cursor | None
    newer: Cursor | None


def runs_page(
    conn: psycopg.Connection[Any],
    filters: RunFilter,
    *,
    older_than: Cursor | None = None,
    newer_than: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> RunsPage:
    """A page of runs matching ``filters``: the newest, or those just older than ``older_than``, or just newer
    than ``newer_than``; each run with ``total_steps`` (of its flow version) for its progress."""
    query, params = runs_query(filters, older_than=older_than, newer_than=newer_than, limit=limit + 1)
    rows = conn.execute(query, params).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    if newer_than is not None:
        rows.reverse()
    if rows:
        versions = sorted({(r["flow_slug"], r["flow_version"]) for r in rows})
        totals = {
            (row["flow_slug"], row["flow_version"]): row["total"]
            for row in conn.execute(
                "select s.flow_slug, s.flow_version, count(*)::int as total from pgflow.steps as s "
                "join unnest(%s::text[], %s::int[]) as v (flow_slug, flow_version) "
                "on v.flow_slug = s.flow_slug and v.flow_version = s.flow_version "
                "group by s.flow_slug, s.flow_version",
                ([v[0] for v in versions], [v[1] for v in versions]),
            ).fetchall()
        }
        for row in rows:
            row["total_steps"] = totals.get((row["flow_slug"], row["flow_version"]), 0)
            row["done_steps"] = row["total_steps"] - row["remaining_steps"]
    first = Cursor(rows[0]["started_at"], rows[0]["run_id"]) if rows else None
    last = Cursor(rows[-1]["started_at"], rows[-1]["run_id"]) if rows else None
    if newer_than is not None:
        return RunsPage(rows, older=last, newer=first if more else None)
    older = last if more else None
    newer = first if older_than is not None and rows else None
    return RunsPage(rows, older=older, newer=newer)


def flow_slugs(conn: psycopg.Connection[Any]) -> list[str]:
    """Every flow's slug, for the runs page's filter (one row per flow: the index of current versions)."""
    return [
        row["flow_slug"]
        for row in conn.execute(
            "select f.flow_slug from pgflow.flows as f where f.is_current order by f.flow_slug"
        ).fetchall()
    ]


def preview(value: Any, limit: int = PREVIEW_CHARS) -> tuple[str, bool]:
    """JSON (or text) cut to ``limit`` characters, and whether it was cut."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return (text[:limit] + "…", True) if len(text) > limit else (text, False)


def run_status(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> dict[str, Any]:
    """pgflow.get_run_status of the run; NotFound for an unknown run."""
    try:
        row = conn.execute("select pgflow.get_run_status(%s) as status", (run_id,)).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate == "PF006":
            raise NotFound(f"run {run_id} does not exist") from None
        raise
    assert row is not None
    status: dict[str, Any] = row["status"]
    return status


def run_detail(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> dict[str, Any]:
    """Everything the run page shows: get_run_status, the run's row (idempotency key, schedule, parent),
    each step's output and tasks (at most TASKS_PER_STEP each, with the input each received), wait and
    sub-flow details. NotFound for an unknown run."""
    status = run_status(conn, run_id)
    run = (
        conn.execute(
            "select r.idempotency_key, r.schedule_slug, r.schedule_tick, r.parent_run_id, r.parent_step_slug, "
            "r.parent_task_index from pgflow.runs as r where r.run_id = %s",
            (run_id,),
        ).fetchone()
        or {}
    )
    states = {
        row["step_slug"]: row
        for row in conn.execute(
            "select ss.step_slug, ss.output, ss.error, ss.remaining_deps from pgflow.step_states as ss "
            "where ss.run_id = %s",
            (run_id,),
        ).fetchall()
    }
    tasks: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
        "select t.step_slug, t.task_index, t.status, t.attempt, t.input, t.output, t.error, t.worker_id, "
        "t.queued_at, t.started_at, t.finished_at, t.deadline, t.visible_at, "
        "pgflow.get_task_input(t.run_id, t.step_slug, t.task_index) as received "
        "from pgflow.step_tasks as t "
        "where t.run_id = %s and t.task_index < %s order by t.step_slug, t.task_index",
        (run_id, TASKS_PER_STEP),
    ).fetchall():
        tasks.setdefault(row["step_slug"], []).append(row)
    steps = []
    for step in status["steps"]:
        slug = step["step_slug"]
        state = states.get(slug, {})
        step_tasks = tasks.get(slug, [])
        children = {c["task_index"]: c for c in step.get("child_runs") or []}
        for task in step_tasks:
            task["child"] = children.get(task["task_index"])
        steps.append({**step, "output": state.get("output"), "tasks": step_tasks, "shown_tasks": len(step_tasks)})
    return {**status, **run, "steps": steps}


def run_value(conn: psycopg.Connection[Any], run_id: uuid.UUID, what: str, step: str | None, task: int | None) -> Any:
    """One whole value of a run, for the "whole" links: ``input``/``output``/``error`` of the run (no step), of a
    step (no task: output, error) or of a task (``input``: what it received, ``output``, ``error``)."""
    if what not in ("input", "output", "error"):
        raise NotFound(f"no value {what!r}")
    if step is None:
        row = conn.execute(
            sql.SQL("select r.{} as v from pgflow.runs as r where r.run_id = %s").format(sql.Identifier(what)),
            (run_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} does not exist")
        return row["v"]
    if task is None:
        if what == "input":
            raise NotFound("a step has no input of its own: open one of its tasks")
        row = conn.execute(
            sql.SQL(
                "select ss.{} as v from pgflow.step_states as ss where ss.run_id = %s and ss.step_slug = %s"
            ).format(sql.Identifier(what)),
            (run_id, step),
        ).fetchone()
        if row is None:
            raise NotFound(f"run {run_id} has no step {step}")
        return row["v"]
    if what == "input":  # what the task received, as the engine builds it
        try:
            row = conn.execute("select pgflow.get_task_input(%s, %s, %s) as v", (run_id, step, task)).fetchone()
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) == "PF007":
                raise NotFound(f"run {run_id} has no task {step}[{task}]") from None
            raise
        return row["v"] if row else None
    row = conn.execute(
        sql.SQL(
            "select t.{} as v from pgflow.step_tasks as t"
            " where t.run_id = %s and t.step_slug = %s and t.task_index = %s"
        ).format(sql.Identifier(what)),
        (run_id, step, task),
    ).fetchone()
    if row is None:
        raise NotFound(f"run {run_id} has no task {step}[{task}]")
    return row["v"]


def flows(conn: psycopg.Connection[Any], flow_slug: str | None = None) -> list[dict[str, Any]]:
    """pgflow.list_flow_versions grouped by flow: [{"flow_slug", "versions": [...newest first], "current"}]."""
    row = conn.execute("select pgflow.list_flow_versions(%s) as v", (flow_slug,)).fetchone()
    grouped: dict[str, dict[str, Any]] = {}
    for version in (row["v"] if row else None) or []:
        entry = grouped.setdefault(version["flow_slug"], {"flow_slug": version["flow_slug"], "versions": []})
        entry["versions"].append(version)
        if version["is_current"]:
            entry["current"] = version["version"]
    return list(grouped.values())


def describe_flow(conn: psycopg.Connection[Any], flow_slug: str, version: int | None = None) -> dict[str, Any]:
    """pgflow.describe_flow; NotFound for an unknown flow or version."""
    try:
        row = conn.execute("select pgflow.describe_flow(%s, %s) as d", (flow_slug, version)).fetchone()
    except psycopg.Error as exc:
        if exc.sqlstate in ("PF004", "PF001", "PF005"):
            raise NotFound(
                f"flow {flow_slug} has no version {version}" if version else f"no flow {flow_slug}"
            ) from None
        raise
    assert row is not None
    described: dict[str, Any] = row["d"]
    return described


def workers(conn: psycopg.Connection[Any], *, include_stopped: bool) -> list[dict[str, Any]]:
    """pgflow.workers (running ones, and with ``include_stopped`` those stopped within a day), each with its
    state, seconds since its heartbeat and the tasks in hand (started tasks it holds, at most 20 listed)."""
    rows = conn.execute(
        """
        select
          w.worker_id, w.flow_slugs, w.flow_versions, w.started_at, w.last_heartbeat_at, w.stopped_at,
          w.expires_at, w.past_deadline,
          extract(epoch from pg_catalog.statement_timestamp() - w.last_heartbeat_at)::float8 as heard_ago,
          w.expires_at < pg_catalog.statement_timestamp() as expired,
          coalesce(held.tasks, '[]'::jsonb) as tasks, coalesce(held.n, 0) as tasks_in_hand
        from pgflow.workers as w
        left join lateral (
          select count(*)::int as n, jsonb_agg(jsonb_build_object(
            'run_id', t.run_id, 'step_slug', t.step_slug, 'task_index', t.task_index, 'attempt', t.attempt,
            'deadline', t.deadline
          ) order by t.started_at) filter (where t.rn <= 20) as tasks
          from (
            select t.*, row_number() over (order by t.started_at) as rn
            from pgflow.step_tasks as t where t.worker_id = w.worker_id and t.status = 'started'
          ) as t
        ) as held on true
        where w.stopped_at is null or (%s and w.stopped_at > pg_catalog.statement_timestamp() - interval '1 day')
        order by w.stopped_at is not null, w.worker_id
        """,
        (include_stopped,),
    ).fetchall()
    for row in rows:
        row["state"] = "stopped" if row["stopped_at"] else ("lease expired" if row["expired"] else "running")
    return rows


def schedules(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    """Every row of pgflow.schedules, by slug, with the status of its last run (null: none or pruned)."""
    return conn.execute(
        "select s.*, r.status as last_run_status from pgflow.schedules as s "
        "left join pgflow.runs as r on r.run_id = s.last_run_id order by s.schedule_slug"
    ).fetchall()


def steps_labels(steps: Sequence[dict[str, Any]]) -> dict[str, str]:
    """The second line of each node of a run's DAG: type and tasks done (``map · 3/5``), or the wait."""
    labels = {}
    for step in steps:
        kind = "sub-flow" if step.get("subflow") else step.get("step_type", "single")
        if step.get("total_tasks"):
            labels[step["step_slug"]] = f"{kind} · {step.get('completed_tasks', 0)}/{step['total_tasks']}"
        else:
            labels[step["step_slug"]] = kind
    return labels
