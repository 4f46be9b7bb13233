"""Chaos, short: the scenarios of scripts/chaos.py (`make chaos`) at CI size, on a private cluster.

Four real `pgflow worker` processes serve diamond runs and map runs (150 tasks per scenario, started over
6 s) while one kind of fault strikes: a SIGKILL storm, a pg_terminate_backend storm, a `pg_ctl restart -m
fast`, a `pg_ctl restart -m immediate`. Every run must complete, no task may be lost or completed twice
(an audit trigger records every completion the engine commits), every run's output must be the one its
input determines, and handlers may run more than once per task only for tasks a SIGKILLed worker held.

The outage test stops the server for 6 s, twice the workers' `pgflow.worker_timeout` (3 s), while handlers
of about 2 s are in hand, with `max_attempts` 1: an attempt whose worker comes back and reports must not be
failed, so every run completes and no handler runs twice. `make chaos` runs the same with 2,000 tasks and a
60 s outage.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_SCRIPTS = str(Path(__file__).resolve().parents[1] / "scripts")
sys.path.insert(0, _SCRIPTS)
try:
    import chaos
finally:
    sys.path.remove(_SCRIPTS)

SHORT = chaos.ChaosConfig(
    tasks=150,
    window=6,
    workers=4,
    concurrency=4,
    map_width=8,
    handler_ms=60,
    worker_timeout=3,
    step_timeout=6,
    max_attempts=10,
    drain_timeout=60,
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[chaos.ChaosCluster]:
    with chaos.ChaosCluster() as private:
        yield private


def assert_nothing_lost_or_doubled(result: chaos.ScenarioResult) -> None:
    assert result.runs_started == result.runs_planned > 0
    assert result.runs_in_database == result.runs_started
    assert (result.runs_completed, result.runs_failed, result.runs_unfinished) == (result.runs_started, 0, 0), (
        result.failed_attempt_reasons
    )
    assert result.wrong_outputs == 0
    assert result.tasks_completed == result.tasks_expected > 0
    assert result.tasks_lost == 0
    assert result.tasks_completed_twice == 0
    assert result.completions_not_audited == 0
    assert result.completions_without_execution == 0
    assert result.attempts_executed_twice == 0
    assert result.unexplained_extra_executions == 0
    assert result.invariant_violations == []
    assert result.problems == []


@pytest.mark.parametrize(
    ("name", "rounds"),
    [("sigkill", 3), ("terminate", 4), ("restart-fast", 1), ("restart-immediate", 1)],
)
def test_no_task_is_lost_or_completed_twice_through(
    cluster: chaos.ChaosCluster, tmp_path: Path, name: str, rounds: int
) -> None:
    result = chaos.run_scenario(cluster, SHORT, chaos.scenario(name, rounds), tmp_path)

    assert [f.kind for f in result.faults] == [name] * rounds
    assert all(f.hits > 0 for f in result.faults), result.faults
    assert any(f.runs_in_progress > 0 for f in result.faults), result.faults
    assert_nothing_lost_or_doubled(result)
    assert result.handler_executions == result.tasks_expected + result.extra_executions
    if name == "sigkill":
        assert result.extra_executions == result.extra_executions_after_sigkill
    else:
        assert result.extra_executions == 0
        assert result.failed_attempts == 0, result.failed_attempt_reasons


def test_an_outage_longer_than_the_worker_timeout_fails_no_attempt(cluster: chaos.ChaosCluster, tmp_path: Path) -> None:
    config = dataclasses.replace(
        SHORT, tasks=40, window=2, handler_ms=2000, worker_timeout=3, step_timeout=30, outage=6, outage_max_attempts=1
    )
    outage = dataclasses.replace(chaos.scenario("outage"), first=0.5, last=0.5)

    result = chaos.run_scenario(cluster, config, outage, tmp_path)

    assert len(result.faults) == 1
    fault = result.faults[0]
    assert fault.recover_from - fault.at >= config.outage > config.worker_timeout
    assert fault.executions_in_hand > 0, "no handler was running when the server stopped"
    assert result.max_attempts == 1
    assert_nothing_lost_or_doubled(result)
    assert result.failed_attempts == 0, result.failed_attempt_reasons
    assert result.extra_executions == 0
