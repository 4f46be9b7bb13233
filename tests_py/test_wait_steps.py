"""Wait steps from Python and the command line: ``Flow.wait``, ``Client.signal``, ``Client.find_run``, a worker
working a flow whose wait step another connection signals, ``pgflow.execute`` of such a flow, and ``pgflow
signal`` / ``status`` / ``graph`` run as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgflow

from ._client_helpers import running_worker, wait_until
from ._invariants import violations
from .test_lock_order import in_background, outcome, sessions, wait_until_waiting  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[1]


def approval_flow(slug: str, *, timeout: float | None = None) -> pgflow.Flow:
    """order -> approval (wait) -> ship: ship receives the order and the approval's payload."""
    flow = pgflow.Flow(slug, max_attempts=1, timeout=10)

    @flow.step
    def order(input: Any) -> Any:
        return {"id": input["id"]}

    approval = flow.wait("approval", depends_on=[order], timeout=timeout)

    @flow.step(depends_on=[order, approval])
    def ship(deps: Any) -> Any:
        return {"shipped": deps["order"]["id"], "by": deps["approval"]["by"]}

    return flow


def step_status(client: pgflow.Client, run_id: Any, step_slug: str) -> str:
    status = client.get_run_status(run_id)
    return next(step["status"] for step in status["steps"] if step["step_slug"] == step_slug)


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgflow.cli", *args, "--database-url", database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


# ----------------------------------------------------------------------------------------------------
# The DSL
# ----------------------------------------------------------------------------------------------------
def test_flow_wait_declares_a_step_without_handler(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def first(input: Any) -> Any:
        return input

    slug = flow.wait(
        "approval", depends_on=[first], timeout=3600, if_={"first": {"risky": True}}, when_exhausted="skip"
    )
    assert slug == "approval"

    @flow.step(depends_on=[slug])
    def after(deps: Any) -> Any:
        return deps

    step = flow.get_step("approval")
    assert step.handler is None and step.step_type == "wait" and not step.takes_context
    steps, _ = flow.definition()
    assert steps[1] == {
        "slug": "approval",
        "depends_on": ["first"],
        "type": "wait",
        "timeout": 3600,
        "if": {"first": {"risky": True}},
        "when_exhausted": "skip",
    }
    assert steps[2]["depends_on"] == ["approval"]


def test_flow_wait_refuses_what_a_wait_step_cannot_have(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)
    with pytest.raises(pgflow.InvalidDefinition, match=r"if_ of step .*approval"):
        flow.wait("approval", depends_on=["x"], if_=[1])
    with pytest.raises(TypeError):
        flow.wait("approval", max_attempts=3)  # type: ignore[call-arg]
    with pytest.raises(pgflow.InvalidDefinition, match="wait step: it has no handler"):
        pgflow.Flow.from_steps(flow_slug, [("approval", print, {"type": "wait"})])


def test_the_engine_refuses_a_wait_step_option(database_url: str, flow_slug: str) -> None:
    steps: Any = [("approval", None, {"type": "wait", "start_delay": 5})]
    flow = pgflow.Flow.from_steps(flow_slug, steps)
    with pgflow.Client(database_url) as client, pytest.raises(pgflow.InvalidDefinition, match="start_delay"):
        client.define(flow)


# ----------------------------------------------------------------------------------------------------
# Client.signal, Client.find_run
# ----------------------------------------------------------------------------------------------------
def test_signal_and_find_run(database_url: str, flow_slug: str) -> None:
    flow = approval_flow(flow_slug)
    key = f"order-{uuid.uuid4().hex[:8]}"
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {"id": 7}, idempotency_key=key)
        found = client.find_run(flow, key)
        assert found is not None and found.run_id == run.run_id and found.idempotency_key == key
        assert client.find_run(flow_slug, "no-such-key") is None
        with pytest.raises(pgflow.InvalidInput):
            client.find_run(flow_slug, "")

        # signalled before it is ready: kept
        assert client.signal(found, "approval", {"by": "ann"}) is True
        assert client.signal(run.run_id, "approval", {"by": "bob"}) is False
        with pytest.raises(pgflow.InvalidState, match="not a wait step"):
            client.signal(run, "order", 1)
        with pytest.raises(pgflow.InvalidState, match="has no step"):
            client.signal(run, "nope")
        with pytest.raises(pgflow.RunNotFound):
            client.signal(uuid.uuid4(), "approval")
        with pytest.raises(pgflow.InvalidInput, match="payload"):
            client.signal(run, "approval", {"x": float("nan")})

        with running_worker(database_url, flow):
            output = client.wait(run, timeout=20)
        assert output == {"ship": {"shipped": 7, "by": "ann"}}


def test_a_worker_works_a_flow_while_another_connection_signals(database_url: str, flow_slug: str) -> None:
    flow = approval_flow(flow_slug, timeout=600)
    with pgflow.Client(database_url) as client, running_worker(database_url, flow):
        run = client.start_run(flow, {"id": 3})
        wait_until(lambda: step_status(client, run, "approval") == "waiting", timeout=20, what="the wait step waits")
        status = client.get_run_status(run)
        approval = next(s for s in status["steps"] if s["step_slug"] == "approval")
        assert approval["waiting_since"] is not None and approval["deadline"] is not None
        assert approval["signalled_at"] is None
        assert step_status(client, run, "ship") == "created"

        with pgflow.Client(database_url) as other:
            assert other.signal(run, "approval", {"by": "carol"}) is True
        assert client.wait(run, timeout=20) == {"ship": {"shipped": 3, "by": "carol"}}


def test_execute_returns_once_another_thread_signals(database_url: str, flow_slug: str) -> None:
    flow = approval_flow(flow_slug)
    result: dict[str, Any] = {}

    def execute() -> None:
        try:
            result["output"] = pgflow.execute(flow, {"id": 9}, database_url, timeout=30)
        except BaseException as exc:  # noqa: BLE001 - checked below
            result["error"] = exc

    thread = threading.Thread(target=execute, daemon=True)
    thread.start()
    with pgflow.Client(database_url) as client:
        run = wait_until(lambda: next(iter(client.list_runs(flow_slug)), None), timeout=20, what="execute's run")
        wait_until(lambda: step_status(client, run, "approval") == "waiting", timeout=20, what="the wait step waits")
        assert client.signal(run, "approval", {"by": "dan"}) is True
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert result == {"output": {"ship": {"shipped": 9, "by": "dan"}}}


# ----------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------
def test_cli_signal_status_and_graph(database_url: str, flow_slug: str) -> None:
    flow = approval_flow(flow_slug, timeout=3600)
    with pgflow.Client(database_url) as client, running_worker(database_url, flow):
        run = client.start_run(flow, {"id": 5})
        wait_until(lambda: step_status(client, run, "approval") == "waiting", timeout=20, what="the wait step waits")

        status = cli(database_url, "status", str(run.run_id))
        assert status.returncode == 0, status.stderr
        line = next(line for line in status.stdout.splitlines() if line.strip().startswith("approval"))
        assert "waiting since" in line and "deadline" in line, status.stdout

        graph = cli(database_url, "graph", flow_slug)
        assert graph.returncode == 0, graph.stderr
        assert "approval (wait)" in graph.stdout

        bad = cli(database_url, "signal", str(run.run_id), "approval", "--payload", "{not json")
        assert bad.returncode == 2 and "--payload is not valid JSON" in bad.stderr

        signalled = cli(database_url, "signal", str(run.run_id), "approval", "--payload", json.dumps({"by": "eve"}))
        assert signalled.returncode == 0, signalled.stderr
        assert f"run {run.run_id}: signal to step approval recorded" in signalled.stdout
        assert client.wait(run, timeout=20) == {"ship": {"shipped": 5, "by": "eve"}}

        # the run has completed: a signal to it is refused
        again = cli(database_url, "signal", str(run.run_id), "approval")
        assert again.returncode == 1
        assert again.stderr.startswith("pgflow: ") and "only a started run takes signals" in again.stderr

        unknown = cli(database_url, "signal", str(uuid.uuid4()), "approval")
        assert unknown.returncode == 1 and "does not exist" in unknown.stderr


def test_cli_signal_that_is_not_recorded_exits_1(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)
    flow.wait("first")
    flow.wait("second", depends_on=["first"])
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow)
        assert cli(database_url, "signal", str(run.run_id), "second").returncode == 0
        again = cli(database_url, "signal", str(run.run_id), "second", "--payload", "2")
        assert again.returncode == 1
        assert "the signal to step second was not recorded" in again.stderr
        assert step_status(client, run, "second") == "created"


# ----------------------------------------------------------------------------------------------------
# Lock order
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("signal_first", [False, True], ids=["report_first", "signal_first"])
def test_an_early_signal_and_the_cascade_that_starts_its_step_do_not_deadlock(
    sessions: list[psycopg.Connection[Any]],  # noqa: F811 - the fixture imported above
    flow_slug: str,
    signal_first: bool,
) -> None:
    """a -> w (wait). A third session holds the run's row; the report of a (which starts w) and a signal to w (still
    created when it is sent) queue behind it, in either order. When it lets go both succeed, whichever comes first:
    w completes with the payload (applied at its start, or signalled once it waits) and the run completes."""
    observer, reporter, signaller, holder = sessions
    observer.execute(
        "select pgflow.define_flow(%s, %s)", [flow_slug, Jsonb([{"slug": "a"}, {"slug": "w", "type": "wait"}])]
    )
    run_id = observer.execute("select run_id from pgflow.start_run(%s)", [flow_slug]).fetchone()[0]  # type: ignore[index]
    observer.execute("select count(*) from pgflow.poll_for_tasks('w', array[%s])", [flow_slug])

    holder.execute("select from pgflow.runs where run_id = %s for no key update", [run_id])
    pool = ThreadPoolExecutor(2)
    try:

        def report() -> Any:
            return outcome(reporter, "select pgflow.complete_task(%s, 'a', 0, '1', 1)", [run_id])

        def signal() -> Any:
            return outcome(signaller, "select pgflow.signal(%s, 'w', '\"go\"')", [run_id])

        first, second = (signal, report) if signal_first else (report, signal)
        one = in_background(pool, first)
        wait_until_waiting(observer, signaller if signal_first else reporter)
        two = in_background(pool, second)
        wait_until_waiting(observer, reporter if signal_first else signaller)
        holder.commit()
        assert one.result(timeout=30) is True
        assert two.result(timeout=30) is True
    finally:
        holder.rollback()
        pool.shutdown(wait=True)
    assert observer.execute("select status, output from pgflow.runs where run_id = %s", [run_id]).fetchone() == (
        "completed",
        {"w": "go"},
    )
    assert violations(observer, [run_id]) == []
