"""Failures the stateful property-based tests (test_properties.py) found, each replayed as the shortest call
sequence Hypothesis printed for it, through the same state machine and therefore the same checks: SPEC §6's
invariants, the PF error contract and the model, after every call.

Each test names the rule that broke in its docstring. The database is created for this module and dropped
after it; every test starts from empty tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgflow

from ._props_machine import PgflowMachine
from .conftest import scratch_database


@pytest.fixture(scope="module")
def machine_database(admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit superuser connection to a fresh database with the pgflow schema, dropped afterwards."""
    with scratch_database(admin_url, "pgflow_props_regressions") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn


@pytest.fixture
def state(machine_database: psycopg.Connection[Any]) -> Iterator[PgflowMachine]:
    """A state machine on empty tables, as Hypothesis starts each example."""
    PgflowMachine.conn = machine_database
    PgflowMachine.known_signatures = set()
    machine = PgflowMachine()
    try:
        yield machine
    finally:
        PgflowMachine.conn = None


def test_start_run_counts_an_empty_map_that_finished_beside_a_failing_condition(state: PgflowMachine) -> None:
    """Broke: runs.remaining_steps equals the run's steps that are neither completed nor skipped.

    Three root map steps over ``[]``: s1 completes at once (empty), s0's condition is unmet with
    when_unmet "fail", which fails the run in the same cascade; s1 was then never counted off the run
    (remaining_steps 3 for 2 open steps)."""
    state.first_run(
        definition={
            "steps": [
                {
                    "slug": "s1",
                    "depends_on": [],
                    "type": "map",
                    "max_attempts": 1,
                    "timeout": 1,
                    "base_delay": 0,
                    "max_delay": 1,
                },
                {"slug": "s0", "depends_on": [], "type": "map", "max_attempts": 1, "if": [1], "when_unmet": "fail"},
                {"slug": "s2", "depends_on": [], "type": "map", "max_attempts": 1, "timeout": 1},
            ],
            "options": {"max_attempts": 1},
        },
        run_input=[],
    )
    state.teardown()


def test_resume_that_fails_again_counts_the_step_it_skipped(state: PgflowMachine) -> None:
    """Broke: runs.remaining_steps equals the run's steps that are neither completed nor skipped.

    s0 returns an object, which fails the run (its dependent s1 is a map step). On resume_run, s1 fails the
    run again, while s2, ready in the same cascade, is skipped (its condition is unmet): s2 was never counted
    off the run (remaining_steps 3 for 2 open steps)."""
    runs_0 = state.first_run(
        definition={
            "steps": [
                {"slug": "s0", "depends_on": []},
                {"slug": "s2", "depends_on": ["s0"], "if": {"s0": {"k": 1}}},
                {"slug": "s1", "depends_on": ["s0"], "type": "map"},
                {"slug": "s3", "depends_on": ["s1", "s2"]},
            ],
            "options": {},
        },
        run_input={"k": 1},
    )
    state.advance_time(seconds=0.001)
    state.advance_time(seconds=0.001)
    state.advance_time(seconds=0.001)
    (claims_0,) = state.poll(flow=None, max_tasks=1, worker="w1")
    state.complete_task(claim=claims_0, fenced=False, output={"k": 2})
    state.advance_time(seconds=0.001)
    state.resume_run(run=runs_0)
    state.teardown()


def test_resume_keeps_a_step_skipped_by_a_stopped_worker_skipped(state: PgflowMachine) -> None:
    """Broke: queued and started tasks belong to a started step of a started run (SPEC §6: a skipped step stays
    skipped across a resume; its tasks are not queued again).

    s1 (max_attempts 1, when_exhausted "skip") is claimed by w1; stop_worker fails the attempt and skips the
    step; the run is cancelled and resumed: its failed task was queued again under a skipped step."""
    runs_0 = state.first_run(
        definition={
            "steps": [
                {"slug": "s0", "depends_on": []},
                {"slug": "s1", "depends_on": ["s0"], "start_delay": 0, "when_exhausted": "skip"},
                {"slug": "s2", "depends_on": ["s1"]},
                {"slug": "s3", "depends_on": ["s2"], "base_delay": 0, "start_delay": 0},
            ],
            "options": {"max_attempts": 1, "base_delay": 0},
        },
        run_input={"k": 1},
    )
    (claims_0,) = state.poll(flow=None, max_tasks=1, worker="w1")
    state.complete_task(claim=claims_0, fenced=False, output={"k": 1})
    (_claims_1,) = state.poll(flow=None, max_tasks=1, worker="w1")
    state.stop_worker(worker="w1")
    state.cancel_run(reason=None, run=runs_0)
    state.resume_run(run=runs_0)
    state.teardown()
