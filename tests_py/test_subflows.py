"""Sub-flow steps from Python (SPEC §11): Flow.subflow and Flow.map(flow=...), Client.define defining child flows
first, a real worker process serving a parent and (unlisted) its child flow, pgflow.execute, many children finishing
while their parent is cancelled (no deadlock, nothing left unsettled), and `pgflow status` showing the links."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgflow

from . import subflow_flows
from ._process_helpers import wait_for

ROOT = Path(__file__).resolve().parents[1]


def test_subflow_and_map_flow_declare_steps_without_handlers(flow_slug: str) -> None:
    child = pgflow.Flow(f"{flow_slug}_child")

    @child.step
    def work(item: Any) -> Any:
        return item

    parent = pgflow.Flow(flow_slug)

    @parent.step
    def fetch(run_input: Any) -> Any:
        return [1, 2]

    one = parent.subflow(child, depends_on=[fetch], max_attempts=2, timeout=30)
    many = parent.map(over=fetch, flow=child, slug="each")
    by_slug = parent.subflow("elsewhere", slug="other")

    assert (one, many, by_slug) == (child.slug, "each", "other")
    steps, _ = parent.definition()
    assert steps[1] == {
        "slug": child.slug,
        "depends_on": ["fetch"],
        "max_attempts": 2,
        "timeout": 30,
        "flow": child.slug,
    }
    assert steps[2] == {"slug": "each", "depends_on": ["fetch"], "type": "map", "flow": child.slug}
    assert steps[3] == {"slug": "other", "depends_on": [], "flow": "elsewhere"}
    assert parent.get_step("each").handler is None and parent.get_step("each").subflow == child.slug
    assert parent.with_children() == [child, parent]
    with pytest.raises(pgflow.InvalidDefinition):
        parent.map(lambda x: x, over=fetch, flow=child)


def test_define_defines_children_first_and_refuses_a_missing_child(database_url: str, flow_slug: str) -> None:
    child = pgflow.Flow(f"{flow_slug}_c")

    @child.step
    def c(item: Any) -> Any:
        return item

    parent = pgflow.Flow(flow_slug)
    parent.subflow(child)
    with pgflow.Client(database_url) as client:
        version = client.define(parent)
        assert version.flow_slug == flow_slug
        assert client.describe_flow(child.slug)["steps"][0]["step_slug"] == "c"
        assert client.describe_flow(flow_slug)["steps"][0]["subflow"] == child.slug

        orphan = pgflow.Flow(f"{flow_slug}_o")
        orphan.subflow(f"{flow_slug}_nowhere")
        with pytest.raises(pgflow.FlowNotFound):
            client.define(orphan)


def test_execute_runs_the_child_flows_in_process(database_url: str, flow_slug: str) -> None:
    child = pgflow.Flow(f"{flow_slug}_sq")

    @child.step
    def square(n: Any) -> Any:
        return n * n

    parent = pgflow.Flow(flow_slug)
    parent.map(flow=child, slug="squares")

    @parent.step(depends_on=["squares"])
    def add(deps: Any) -> Any:
        return sum(item["square"] for item in deps["squares"])

    assert pgflow.execute(parent, [1, 2, 3], database_url, timeout=60) == {"add": 14}


def test_a_worker_process_serves_a_parent_and_its_child_flow(database_url: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:10]
    flows = subflow_flows.build(suffix)
    log = (tmp_path / "worker.log").open("wb")
    env = {**os.environ, "PGFLOW_TEST_FLOW_SUFFIX": suffix}
    env.pop("DATABASE_URL", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pgflow.cli",
            "--database-url",
            database_url,
            "worker",
            "tests_py.subflow_flows:order",
            "--poll-interval",
            "0.2",
            "--concurrency",
            "4",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with pgflow.Client(database_url) as client:
            order = flows["order"]
            wait_for(lambda: _defined(client, order.slug), 30, "the worker to define its flows")
            run = client.start_run(
                order.slug,
                {
                    "lines": [
                        {"sku": "a", "qty": 2, "unit": 5},
                        {"sku": "b", "qty": 1, "unit": 7},
                        {"sku": "c", "qty": 3, "unit": 1},
                    ]
                },
            )
            assert client.wait(run.run_id, timeout=60) == {"total": 20}
            status = client.get_run_status(run.run_id)
            priced = next(step for step in status["steps"] if step["step_slug"] == "priced")
            assert priced["subflow"] == flows["line"].slug
            assert [c["task_index"] for c in priced["child_runs"]] == [0, 1, 2]
            assert {c["status"] for c in priced["child_runs"]} == {"completed"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        log.close()


def _defined(client: pgflow.Client, slug: str) -> bool:
    try:
        client.describe_flow(slug)
        return True
    except pgflow.FlowNotFound:
        return False


def test_children_finishing_while_the_parent_is_cancelled(database_url: str, flow_slug: str) -> None:
    """Many children complete their last task, each on its own connection, while another connection cancels the
    parent: no deadlock (PostgreSQL would abort one transaction with 40P01), every child ends, and once a poll has
    run no finished child is left unsettled."""
    width = 24
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select pgflow.define_flow(%s, %s::jsonb)", (f"{flow_slug}_c", '[{"slug": "c"}]'))
        conn.execute(
            "select pgflow.define_flow(%s, %s::jsonb)",
            (flow_slug, f'[{{"slug": "m", "type": "map", "flow": "{flow_slug}_c"}}]'),
        )
        parent = conn.execute(
            "select run_id from pgflow.start_run(%s, %s::jsonb)", (flow_slug, str(list(range(width))))
        ).fetchone()[0]
        children = [
            row[0]
            for row in conn.execute(
                "select run_id from pgflow.runs where parent_run_id = %s order by parent_task_index", (parent,)
            ).fetchall()
        ]
        tasks = conn.execute(
            "select run_id, attempt from pgflow.poll_for_tasks('sf-race', array[%s], 1000)", (f"{flow_slug}_c",)
        ).fetchall()
        assert sorted(t[0] for t in tasks) == sorted(children)

    barrier = threading.Barrier(width + 1)
    errors: list[BaseException] = []

    def complete(run_id: Any, attempt: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                barrier.wait(timeout=30)
                c.execute("select pgflow.complete_task(%s, 'c', 0, '1'::jsonb, %s)", (run_id, attempt))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def cancel() -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as c:
                barrier.wait(timeout=30)
                c.execute("select pgflow.cancel_run(%s, 'stop')", (parent,))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=complete, args=task) for task in tasks]
    threads.append(threading.Thread(target=cancel))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select count(*) from pgflow.poll_for_tasks('sf-race', array['nothing'])")
        assert conn.execute("select status from pgflow.runs where run_id = %s", (parent,)).fetchone()[0] == "cancelled"
        statuses = dict(
            conn.execute(
                "select status, count(*) from pgflow.runs where parent_run_id = %s group by status", (parent,)
            ).fetchall()
        )
        assert sum(statuses.values()) == width and set(statuses) <= {"completed", "cancelled"}, statuses
        assert (
            conn.execute(
                "select count(*) from pgflow.runs where parent_run_id = %s and parent_settled_at is null", (parent,)
            ).fetchone()[0]
            == 0
        )
        assert (
            conn.execute(
                "select count(*) from pgflow.step_tasks where run_id = %s and status in ('queued', 'started')",
                (parent,),
            ).fetchone()[0]
            == 0
        )


def test_cli_status_shows_child_runs_and_the_parent(database_url: str, flow_slug: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("select pgflow.define_flow(%s, %s::jsonb)", (f"{flow_slug}_c", '[{"slug": "c"}]'))
        conn.execute(
            "select pgflow.define_flow(%s, %s::jsonb)", (flow_slug, f'[{{"slug": "sub", "flow": "{flow_slug}_c"}}]')
        )
        parent = conn.execute("select run_id from pgflow.start_run(%s)", (flow_slug,)).fetchone()[0]
        child = conn.execute("select run_id from pgflow.runs where parent_run_id = %s", (parent,)).fetchone()[0]

    def status(run_id: Any) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "pgflow.cli", "--database-url", database_url, "status", str(run_id)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    out = status(parent)
    assert f"runs flow {flow_slug}_c" in out
    assert f"task 0: run {child}  started" in out
    assert f"child run of {parent}, step sub, task 0" in status(child)
