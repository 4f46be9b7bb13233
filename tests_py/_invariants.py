"""SPEC §6's invariants, checked against the pgflow tables, for the property-based, interleaving and chaos
tests.

``violations(conn)`` returns one sentence per broken invariant (empty when everything holds). Run it
when no engine transaction is in flight: a run that a transaction ended may keep, until that transaction's
neighbours commit, a step another transaction held (the engine repairs it when that transaction's report
is refused), so the "ended runs have no open work" check only holds at rest.

``statuses(conn)`` and ``terminal_changes(before, after, resumed)`` check the other half of §6: a terminal
step or task never leaves its status, except through ``resume_run``, which re-opens only failed and
cancelled ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import psycopg

TERMINAL_STEP = ("completed", "failed", "skipped", "cancelled")
TERMINAL_TASK = ("completed", "failed", "cancelled")

# (name, query): each query returns rows (run_id, detail) that break the invariant it is named after.
_CHECKS: list[tuple[str, str]] = [
    (
        "runs.remaining_steps equals the run's steps that are neither completed nor skipped",
        """
        select r.run_id, format('remaining_steps %s, counted %s', r.remaining_steps, c.open)
        from pgflow.runs as r
        cross join lateral (
          select count(*) filter (where ss.status not in ('completed', 'skipped')) as open
          from pgflow.step_states as ss where ss.run_id = r.run_id
        ) as c
        where r.remaining_steps <> c.open
        """,
    ),
    (
        "a run is completed exactly when every step is completed or skipped",
        """
        select r.run_id, format('status %s, open steps %s', r.status, c.open)
        from pgflow.runs as r
        cross join lateral (
          select count(*) filter (where ss.status not in ('completed', 'skipped')) as open
          from pgflow.step_states as ss where ss.run_id = r.run_id
        ) as c
        where (r.status = 'completed') <> (c.open = 0)
          and not (r.status in ('failed', 'cancelled') and c.open = 0)
        """,
    ),
    (
        "a run has one step state per step of the version it records",
        """
        select r.run_id, format('steps of v%s: %s, step states: %s', r.flow_version,
               (select array_agg(s.step_slug order by s.step_slug) from pgflow.steps as s
                where s.flow_slug = r.flow_slug and s.flow_version = r.flow_version),
               (select array_agg(ss.step_slug order by ss.step_slug) from pgflow.step_states as ss
                where ss.run_id = r.run_id))
        from pgflow.runs as r
        where (select array_agg(s.step_slug order by s.step_slug) from pgflow.steps as s
               where s.flow_slug = r.flow_slug and s.flow_version = r.flow_version)
              is distinct from
              (select array_agg(ss.step_slug order by ss.step_slug) from pgflow.step_states as ss
               where ss.run_id = r.run_id and ss.flow_slug = r.flow_slug and ss.flow_version = r.flow_version)
        """,
    ),
    (
        "a created step's remaining_deps equals its dependencies neither completed nor skipped",
        """
        select ss.run_id, format('step %s: remaining_deps %s, counted %s', ss.step_slug, ss.remaining_deps, c.open)
        from pgflow.step_states as ss
        cross join lateral (
          select count(*) filter (where dep.status not in ('completed', 'skipped')) as open
          from pgflow.deps as d
          join pgflow.step_states as dep on dep.run_id = ss.run_id and dep.step_slug = d.dep_slug
          where d.flow_slug = ss.flow_slug and d.flow_version = ss.flow_version and d.step_slug = ss.step_slug
        ) as c
        where ss.status = 'created' and ss.remaining_deps <> c.open
        """,
    ),
    (
        "a started step's remaining_tasks equals its tasks that are not completed",
        """
        select ss.run_id, format('step %s: remaining_tasks %s, counted %s', ss.step_slug, ss.remaining_tasks, c.open)
        from pgflow.step_states as ss
        cross join lateral (
          select count(*) filter (where t.status <> 'completed') as open
          from pgflow.step_tasks as t where t.run_id = ss.run_id and t.step_slug = ss.step_slug
        ) as c
        where ss.status = 'started' and ss.remaining_tasks is distinct from c.open
        """,
    ),
    (
        "a started or completed step has as many tasks as initial_tasks",
        """
        select ss.run_id, format('step %s (%s): initial_tasks %s, tasks %s', ss.step_slug, ss.status,
                                 ss.initial_tasks, c.n)
        from pgflow.step_states as ss
        cross join lateral (
          select count(*) as n from pgflow.step_tasks as t where t.run_id = ss.run_id and t.step_slug = ss.step_slug
        ) as c
        where ss.status in ('started', 'completed') and ss.initial_tasks is distinct from c.n::int
        """,
    ),
    (
        "a completed step's tasks are all completed",
        """
        select t.run_id, format('step %s is completed but its task %s is %s', t.step_slug, t.task_index, t.status)
        from pgflow.step_tasks as t
        join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        where ss.status = 'completed' and t.status <> 'completed'
        """,
    ),
    (
        "a completed step's output is its task's output (single) or its tasks' outputs in order (map)",
        """
        select ss.run_id, format('step %s: output %s, from its tasks %s', ss.step_slug, ss.output, c.expected)
        from pgflow.step_states as ss
        join pgflow.steps as s
          on s.flow_slug = ss.flow_slug and s.flow_version = ss.flow_version and s.step_slug = ss.step_slug
        cross join lateral (
          select case
            when s.step_type = 'map' then coalesce(jsonb_agg(t.output order by t.task_index), '[]'::jsonb)
            else (array_agg(t.output))[1]
          end as expected
          from pgflow.step_tasks as t where t.run_id = ss.run_id and t.step_slug = ss.step_slug
        ) as c
        where ss.status = 'completed' and s.step_type in ('single', 'map') and ss.output is distinct from c.expected
        """,
    ),
    (
        "a step that started had all its dependencies completed or skipped",
        """
        select ss.run_id, format('step %s is %s but dependency %s is %s', ss.step_slug, ss.status, dep.step_slug,
                                 dep.status)
        from pgflow.step_states as ss
        join pgflow.deps as d
          on d.flow_slug = ss.flow_slug and d.flow_version = ss.flow_version and d.step_slug = ss.step_slug
        join pgflow.step_states as dep on dep.run_id = ss.run_id and dep.step_slug = d.dep_slug
        where ss.status in ('started', 'completed') and dep.status not in ('completed', 'skipped')
        """,
    ),
    (
        "queued and started tasks belong to a started step of a started run",
        """
        select t.run_id, format('task %s[%s] is %s; its step is %s, its run %s', t.step_slug, t.task_index,
                                t.status, ss.status, r.status)
        from pgflow.step_tasks as t
        join pgflow.runs as r on r.run_id = t.run_id
        left join pgflow.step_states as ss on ss.run_id = t.run_id and ss.step_slug = t.step_slug
        where t.status in ('queued', 'started') and (r.status <> 'started' or ss.status is distinct from 'started')
        """,
    ),
    (
        "a started run has no failed or cancelled step",
        """
        select ss.run_id, format('step %s is %s', ss.step_slug, ss.status)
        from pgflow.step_states as ss
        join pgflow.runs as r on r.run_id = ss.run_id
        where r.status = 'started' and ss.status in ('failed', 'cancelled')
        """,
    ),
    (
        "an ended run has no step left created or started",
        """
        select ss.run_id, format('run is %s, step %s is %s', r.status, ss.step_slug, ss.status)
        from pgflow.step_states as ss
        join pgflow.runs as r on r.run_id = ss.run_id
        where r.status <> 'started' and ss.status in ('created', 'started')
        """,
    ),
    (
        "a completed task has an output and a finished_at; a started task has an attempt, and a deadline unless the "
        "engine holds it (no worker: a wait step's task may wait for ever)",
        """
        select t.run_id, format('task %s[%s] is %s (output %s, attempt %s, worker %s, deadline %s)', t.step_slug,
                                t.task_index, t.status, t.output, t.attempt, t.worker_id, t.deadline)
        from pgflow.step_tasks as t
        where (t.status = 'completed' and (t.output is null or t.finished_at is null))
           or (t.status = 'started' and ((t.deadline is null and t.worker_id is not null) or t.attempt < 1))
        """,
    ),
    (
        "a completed run's output is {leaf: output} over its completed leaf steps",
        """
        select r.run_id, format('output %s, expected %s', r.output, c.expected)
        from pgflow.runs as r
        cross join lateral (
          select coalesce(jsonb_object_agg(ss.step_slug, ss.output), '{}'::jsonb) as expected
          from pgflow.step_states as ss
          where ss.run_id = r.run_id and ss.status = 'completed'
            and not exists (
              select from pgflow.deps as d
              where d.flow_slug = r.flow_slug and d.flow_version = r.flow_version and d.dep_slug = ss.step_slug
            )
        ) as c
        where r.status = 'completed' and r.output is distinct from c.expected
        """,
    ),
]


def violations(conn: psycopg.Connection[Any], run_ids: Iterable[uuid.UUID] | None = None) -> list[str]:
    """One sentence per broken invariant of SPEC §6, over every run (or only ``run_ids``)."""
    wanted = None if run_ids is None else {str(r) for r in run_ids}
    found: list[str] = []
    for name, query in _CHECKS:
        for run_id, detail in conn.execute(query).fetchall():  # type: ignore[arg-type]
            if wanted is None or str(run_id) in wanted:
                found.append(f"{name}: run {run_id}: {detail}")
    return found


Statuses = dict[tuple[Any, ...], str]


def statuses(conn: psycopg.Connection[Any]) -> Statuses:
    """Every run's, step state's and task's status, keyed ("run", run_id), ("step", run_id, step) and
    ("task", run_id, step, index)."""
    found: Statuses = {}
    for run_id, status in conn.execute("select run_id, status from pgflow.runs"):
        found[("run", run_id)] = status
    for run_id, step, status in conn.execute("select run_id, step_slug, status from pgflow.step_states"):
        found[("step", run_id, step)] = status
    for run_id, step, index, status in conn.execute(
        "select run_id, step_slug, task_index, status from pgflow.step_tasks"
    ):
        found[("task", run_id, step, index)] = status
    return found


def terminal_changes(before: Statuses, after: Statuses, resumed: Iterable[uuid.UUID] = ()) -> list[str]:
    """Runs, steps and tasks that left a terminal status between two ``statuses`` snapshots. In the runs of
    ``resumed`` (resume_run was called on them in between), failed and cancelled ones may re-open; nothing
    else may leave a terminal status (a pruned run's rows may disappear)."""
    resumed_ids = {str(r) for r in resumed}
    found = []
    for key, old in before.items():
        new = after.get(key)
        if new is None or new == old:
            continue
        terminal = TERMINAL_TASK if key[0] == "task" else TERMINAL_STEP
        if old not in terminal:
            continue
        if str(key[1]) in resumed_ids and old in ("failed", "cancelled"):
            continue
        found.append(f"{key[0]} {key[1:]} went from terminal status {old} to {new}")
    return found
