"""pgflow.testing: flows unit-tested in-process against a throwaway database (or the caller's).

- FlowTester runs a flow's handlers in this process and returns its output; a failing step raises RunFailed;
- wait steps take signals, sub-flow steps' child flows are served;
- database() creates a database with the schema and drops it on exit; a database of the caller's is kept.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import pgflow
import pgflow.testing

from ._client_helpers import wait_until


def database_exists(admin_url: str, conninfo: str) -> bool:
    name = psycopg.conninfo.conninfo_to_dict(conninfo)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute("select count(*) from pg_database where datname = %s", (name,)).fetchone() == (1,)


def order_flow() -> pgflow.Flow:
    flow = pgflow.Flow("orders", max_attempts=1)

    @flow.step
    def items(input: dict[str, Any]) -> list[int]:
        if input.get("bad"):
            raise ValueError("no items")
        return input["prices"]

    @flow.map(over=items)
    def taxed(price: int) -> int:
        return price * 2

    @flow.step(depends_on=[taxed])
    def total(deps: dict[str, Any]) -> int:
        return sum(deps["taxed"])

    return flow


def test_run_and_failure_in_a_throwaway_database(admin_url: str) -> None:
    tester = pgflow.testing.FlowTester(order_flow(), admin_conninfo=admin_url)
    with tester as t:
        assert t.run({"prices": [1, 2, 3]}) == {"total": 12}
        assert database_exists(admin_url, t.conninfo)
        with pytest.raises(pgflow.RunFailed, match="no items") as failed:
            t.run({"bad": True})
        status = t.status(failed.value.run_id)
        assert status["status"] == "failed"
        run = t.start({"prices": [5]})
        assert t.wait(run) == {"total": 10}
        assert t.outputs(run)["taxed"] == [10]
        conninfo = t.conninfo
    assert not database_exists(admin_url, conninfo)


def test_signals_and_subflows(admin_url: str) -> None:
    child = pgflow.Flow("child_double", max_attempts=1)

    @child.step
    def double(input: Any) -> Any:  # a dependent sub-flow step's input: {dependency: output}
        return input["prepare"]["n"] * 2

    parent = pgflow.Flow("parent_flow")

    @parent.step
    def prepare(input: Any) -> Any:
        return {"n": input["n"]}

    parent.subflow(child, slug="child", depends_on=[prepare])
    parent.wait("approval", depends_on=["child"])

    @parent.step(depends_on=["child", "approval"])
    def done(deps: dict[str, Any]) -> Any:
        return {"doubled": deps["child"]["double"], "approved_by": deps["approval"]["by"]}

    with pgflow.testing.FlowTester(parent, admin_conninfo=admin_url) as t:
        run = t.start({"n": 21})
        wait_until(
            lambda: {s["step_slug"]: s["status"] for s in t.status(run)["steps"]}.get("child") == "completed",
            timeout=30,
            what="the child run",
        )
        assert t.signal(run, "approval", {"by": "ann"}) is True
        assert t.wait(run) == {"done": {"doubled": 42, "approved_by": "ann"}}


def test_database_of_the_caller_is_kept(database_url: str, admin_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def echo(input: Any) -> Any:
        return input

    with pgflow.testing.FlowTester(flow, database_url) as t:
        assert t.run({"a": 1}) == {"echo": {"a": 1}}
    assert database_exists(admin_url, database_url)


def test_database_context_manager(admin_url: str) -> None:
    with pgflow.testing.database(admin_conninfo=admin_url) as conninfo:
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("select pgflow.schema_version()").fetchone() == (pgflow.__version__,)
        assert database_exists(admin_url, conninfo)
    assert not database_exists(admin_url, conninfo)


def test_outside_the_block(admin_url: str) -> None:
    tester = pgflow.testing.FlowTester(order_flow(), admin_conninfo=admin_url)
    with pytest.raises(RuntimeError, match="with block"):
        tester.run({"prices": [1]})
    with pytest.raises(pgflow.InvalidInput):
        pgflow.testing.FlowTester("orders", admin_conninfo=admin_url)  # type: ignore[arg-type]
