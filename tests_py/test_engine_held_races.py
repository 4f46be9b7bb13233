"""Races around the tasks the engine holds (SPEC §6 and §11), with real concurrent connections and no worker:

- signals to one wait step arriving together, while the cascade that makes the step ready commits (the run stays
  started: another wait follows): exactly one is
  recorded (true), every other returns false, none fails (a raw deadlock error would be a failure);
- the child runs of a map over a sub-flow whose child flow is a single wait step, all signalled at once: the parent
  run completes with no poll at all (nothing polls in a deployment of waits and sub-flows alone), each child's end
  taken by its parent in the signal's own transaction or right after a sibling's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

ROUNDS = 12


def _together(url: str, calls: list[Callable[[psycopg.Connection], Any]]) -> list[Any]:
    """Runs each call on a connection of its own, all released at once by a barrier; returns results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[psycopg.Connection], Any]) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            barrier.wait()
            try:
                results[i] = call(conn)
            except Exception as exc:  # noqa: BLE001 - reported by the test
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_signals_racing_the_cascade_that_readies_the_wait(database_url: str, flow_slug: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "select pgflow.define_flow(%s, %s)",
            (
                flow_slug,
                Jsonb([{"slug": "charge"}, {"slug": "payment", "type": "wait"}, {"slug": "ship", "type": "wait"}]),
            ),
        )
        for round_no in range(ROUNDS):
            run_id = conn.execute("select run_id from pgflow.start_run(%s, '{}')", (flow_slug,)).fetchone()[0]
            task = conn.execute(
                "select * from pgflow.poll_for_tasks('race-worker', array[%s], 1)", (flow_slug,)
            ).fetchone()
            assert task is not None

            def complete(c: psycopg.Connection, run_id: Any = run_id) -> Any:
                return c.execute("select pgflow.complete_task(%s, 'charge', 0, '1', 1)", (run_id,)).fetchone()[0]

            def signal(c: psycopg.Connection, n: int, run_id: Any = run_id) -> Any:
                return c.execute("select pgflow.signal(%s, 'payment', %s)", (run_id, Jsonb(n))).fetchone()[0]

            results = _together(database_url, [complete] + [lambda c, n=n: signal(c, n) for n in range(3)])
            errors = [r for r in results if isinstance(r, Exception)]
            assert not errors, f"round {round_no}: {errors}"
            assert results[0] is True
            assert sorted(results[1:]) == [False, False, True], f"round {round_no}: {results}"
            output, signalled = conn.execute(
                "select signal, signalled_at is not null from pgflow.step_states "
                "where run_id = %s and step_slug = 'payment'",
                (run_id,),
            ).fetchone()
            winner = results[1:].index(True)
            assert (output, signalled) == (winner, True)
            status = conn.execute(
                "select status from pgflow.step_states where run_id = %s and step_slug = 'payment'", (run_id,)
            ).fetchone()[0]
            assert status == "completed"


@pytest.mark.parametrize("children", [2, 8])
def test_sibling_children_signalled_at_once_complete_the_parent_without_a_poll(
    database_url: str, flow_slug: str, children: int
) -> None:
    child = f"{flow_slug}_approve"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select pgflow.define_flow(%s, %s)", (child, Jsonb([{"slug": "approval", "type": "wait"}])))
        conn.execute(
            "select pgflow.define_flow(%s, %s)",
            (flow_slug, Jsonb([{"slug": "each", "type": "map", "flow": child}])),
        )
        for round_no in range(ROUNDS // 2):
            run_id = conn.execute(
                "select run_id from pgflow.start_run(%s, %s)", (flow_slug, Jsonb(list(range(children))))
            ).fetchone()[0]
            child_runs = [
                row[0]
                for row in conn.execute(
                    "select run_id from pgflow.runs where parent_run_id = %s order by parent_task_index", (run_id,)
                )
            ]
            assert len(child_runs) == children
            results = _together(
                database_url,
                [
                    lambda c, r=r, i=i: c.execute("select pgflow.signal(%s, 'approval', %s)", (r, Jsonb(i))).fetchone()[
                        0
                    ]
                    for i, r in enumerate(child_runs)
                ],
            )
            assert results == [True] * children, f"round {round_no}: {results}"
            status, output = conn.execute(
                "select status, output from pgflow.runs where run_id = %s", (run_id,)
            ).fetchone()
            unsettled = conn.execute(
                "select count(*) from pgflow.runs where parent_run_id = %s and parent_settled_at is null", (run_id,)
            ).fetchone()[0]
            assert (status, unsettled) == ("completed", 0), f"round {round_no}: {status}, {unsettled} unsettled"
            assert output == {"each": [{"approval": i} for i in range(children)]}
