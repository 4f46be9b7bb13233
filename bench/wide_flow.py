"""Scenario 8, wide flows: N root steps and one step ``join`` depending on all of them.

Two figures, each for several N doubling from one to the next, in new databases whose engine tables were
never analyzed (autovacuum is turned off for them during the measurement, and the results say whether any
statistics existed at the end):

* ``start_run`` of the flow: one call creating N + 1 step states and N tasks;
* completing the N roots, claimed and reported one per transaction (``poll_for_tasks_lean`` of 1, then
  ``complete_task``), then again in batches (``poll_for_tasks_lean`` of 10, then ``complete_tasks``); then
  the claim of ``join`` (its input is an object of N outputs) and its completion (which completes the run).

Each time is the median of ``repeat`` runs, taken with the client's monotonic clock around the calls, after
a run of a three-step flow in the same session (so that compiling the engine's functions is not counted). Linear
cost shows as ``time(2N) / time(N)`` near 2; quadratic cost near 4. Within one run, the time of the last
quarter of the roots over that of the first quarter is near 1 when each completion costs the same however
many came before it, and near 7 when it grows with them (quadratic total).
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench.common import fresh_database, median

FLOW = "bench_wide_flow"
WARM_UP = "bench_wide_flow_warm_up"
POLL = "select run_id, step_slug, task_index, attempt, input from pgflow.poll_for_tasks_lean('bench', %s, %s)"
TABLES = ("flows", "steps", "deps", "runs", "step_states", "step_tasks")


def _steps(roots: int) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"slug": f"r{i}"} for i in range(roots)]
    steps.append({"slug": "join", "depends_on": [f"r{i}" for i in range(roots)]})
    return steps


def _report(conn: psycopg.Connection[Any], tasks: list[tuple[Any, ...]]) -> None:
    """complete_task for one claimed task, complete_tasks for several."""
    if len(tasks) == 1:
        (t,) = tasks
        conn.execute("select pgflow.complete_task(%s, %s, %s, %s, %s)", (t[0], t[1], t[2], Jsonb(t[2]), t[3]))
    else:
        conn.execute(
            "select pgflow.complete_tasks(%s, %s, %s, %s, %s)",
            (
                [t[0] for t in tasks],
                [t[1] for t in tasks],
                [t[2] for t in tasks],
                [Jsonb(t[2]) for t in tasks],
                [t[3] for t in tasks],
            ),
        )


def _prepare(conn: psycopg.Connection[Any], roots: int) -> None:
    """Autovacuum off for the engine's tables (so that nothing analyzes them), the flow defined, and a run
    of a three-step flow (two roots and their join) through every call measured, one report then two."""
    for table in TABLES:
        conn.execute(f"alter table pgflow.{table} set (autovacuum_enabled = false)")
    conn.execute("select pgflow.define_flow(%s, %s)", (FLOW, Jsonb(_steps(roots))))
    conn.execute("select pgflow.define_flow(%s, %s)", (WARM_UP, Jsonb(_steps(2))))
    conn.execute("select pgflow.start_run(%s)", (WARM_UP,))
    for batch in (1, 10, 10):
        _report(conn, conn.execute(POLL, ([WARM_UP], batch)).fetchall())


def _analyzed(conn: psycopg.Connection[Any]) -> list[str]:
    """The engine tables that have statistics (none, when the measurement is what it says)."""
    rows = conn.execute(
        "select relname from pg_catalog.pg_stat_user_tables where schemaname = 'pgflow' and relname = any(%s)"
        " and (last_analyze is not null or last_autoanalyze is not null)",
        (list(TABLES),),
    ).fetchall()
    return sorted(r[0] for r in rows)


def start_run_once(admin: str, roots: int) -> dict[str, Any]:
    """Seconds of one ``start_run`` of a flow of ``roots`` roots and a join, in a new database."""
    with fresh_database(admin, "pgflow_bench_wide") as url, psycopg.connect(url, autocommit=True) as conn:
        _prepare(conn, roots)
        started = time.perf_counter()
        conn.execute("select pgflow.start_run(%s)", (FLOW,))
        seconds = time.perf_counter() - started
        tasks = conn.execute("select count(*) from pgflow.step_tasks where flow_slug = %s", (FLOW,)).fetchone()
        assert tasks is not None and tasks[0] == roots, tasks
        return {"seconds": seconds, "analyzed_tables": _analyzed(conn)}


def completion_once(admin: str, roots: int, batch: int) -> dict[str, Any]:
    """Seconds to claim and complete the ``roots`` roots ``batch`` at a time (one transaction per claim and
    per report), then to claim ``join`` and to complete it, in a new database."""
    with fresh_database(admin, "pgflow_bench_wide") as url, psycopg.connect(url, autocommit=True) as conn:
        _prepare(conn, roots)
        row = conn.execute("select run_id from pgflow.start_run(%s)", (FLOW,)).fetchone()
        assert row is not None
        run_id = row[0]
        started = time.perf_counter()
        done = 0
        quarters: list[float] = []  # the clock each time another quarter of the roots is done
        while done < roots:
            tasks = conn.execute(POLL, ([FLOW], batch)).fetchall()
            assert tasks and all(t[1] != "join" for t in tasks), tasks[:3]
            _report(conn, tasks)
            done += len(tasks)
            if done * 4 >= roots * (len(quarters) + 1):
                quarters.append(time.perf_counter())
        roots_done = time.perf_counter()
        (join,) = conn.execute(POLL, ([FLOW], batch)).fetchall()
        claimed = time.perf_counter()
        assert join[1] == "join" and len(join[4]) == roots
        conn.execute("select pgflow.complete_task(%s, %s, %s, %s, %s)", (join[0], join[1], join[2], Jsonb(1), join[3]))
        finished = time.perf_counter()
        status = conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone()
        assert status is not None and status[0] == "completed", status
        quarter_seconds = [b - a for a, b in zip([started, *quarters], quarters)]
        return {
            "seconds": roots_done - started,
            "quarter_seconds": quarter_seconds,
            "last_over_first_quarter": quarter_seconds[-1] / quarter_seconds[0],
            "join_claim_seconds": claimed - roots_done,
            "join_complete_seconds": finished - claimed,
            "analyzed_tables": _analyzed(conn),
        }


def _ratios(sizes: list[int], seconds: dict[str, float]) -> dict[str, float]:
    """time(2N) / time(N) for each N of ``sizes`` whose double is also measured."""
    return {
        f"{n:,} -> {2 * n:,}": seconds[str(2 * n)] / seconds[str(n)]
        for n in sizes
        if str(2 * n) in seconds and seconds[str(n)] > 0
    }


def wide_flow(admin: str, start_sizes: list[int], completion_sizes: list[int], repeat: int) -> dict[str, Any]:
    """Scenario 8: both figures for each size, medians of ``repeat`` runs, and the doubling ratios."""
    out: dict[str, Any] = {"start_sizes": start_sizes, "completion_sizes": completion_sizes, "repeat": repeat}
    starts = {str(n): [start_run_once(admin, n) for _ in range(repeat)] for n in start_sizes}
    out["start_run"] = {n: median([r["seconds"] for r in rs]) for n, rs in starts.items()}
    out["start_run_ratios"] = _ratios(start_sizes, out["start_run"])
    for label, batch in (("one_per_transaction", 1), ("batches_of_10", 10)):
        runs = {str(n): [completion_once(admin, n, batch) for _ in range(repeat)] for n in completion_sizes}
        out[label] = {
            "roots_seconds": {n: median([r["seconds"] for r in rs]) for n, rs in runs.items()},
            "join_claim_seconds": {n: median([r["join_claim_seconds"] for r in rs]) for n, rs in runs.items()},
            "join_complete_seconds": {n: median([r["join_complete_seconds"] for r in rs]) for n, rs in runs.items()},
        }
        out[label]["roots_ratios"] = _ratios(completion_sizes, out[label]["roots_seconds"])
        out[label]["last_over_first_quarter"] = {
            n: median([r["last_over_first_quarter"] for r in rs]) for n, rs in runs.items()
        }
        out[label]["analyzed_tables"] = sorted({t for rs in runs.values() for r in rs for t in r["analyzed_tables"]})
    out["analyzed_tables"] = sorted(
        {t for rs in starts.values() for r in rs for t in r["analyzed_tables"]}
        | set(out["one_per_transaction"]["analyzed_tables"])
        | set(out["batches_of_10"]["analyzed_tables"])
    )
    return out
