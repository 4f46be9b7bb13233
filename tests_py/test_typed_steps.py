"""Typed steps (SPEC §12): handlers annotated with pydantic models, run by a real worker on a real database.

- the input is validated and parsed into the model, the output validated and dumped as JSON;
- a validation error (input or output) fails the task at its first attempt, whatever max_attempts says, with
  pydantic's message, named "input of <flow>.<step>" or "output of <flow>.<step>";
- the models' JSON Schemas are stored with the step and shown by describe_flow (input_schema, output_schema),
  and a definition without them normalizes as before (no such keys);
- `pgflow graph` shows the model names; plain dict handlers are unchanged; process isolation validates too.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from pydantic import BaseModel, ConfigDict

import pgflow
from pgflow import graph
from pgflow.typed import StepValidationError, handler_types

from ._client_helpers import running_worker


class Order(BaseModel):
    order_id: int
    items: list[str]
    note: str | None = None


class Receipt(BaseModel):
    order_id: int
    count: int


def typed_flow(slug: str, *, max_attempts: int = 3) -> pgflow.Flow:
    flow = pgflow.Flow(slug, max_attempts=max_attempts, base_delay=0)

    @flow.step
    def receive(order: Order) -> Receipt:
        assert isinstance(order, Order)
        if order.order_id < 0:
            return {"order_id": order.order_id, "count": "many"}  # type: ignore[return-value]
        return Receipt(order_id=order.order_id, count=len(order.items))

    @flow.step(depends_on=[receive])
    def summary(deps: dict[str, Any]) -> dict[str, Any]:  # untyped: a plain dict
        return {"text": f"{deps['receive']['order_id']}:{deps['receive']['count']}"}

    @flow.map(over=None, slug="each")
    def each(order: Order) -> list[Receipt]:  # a map over the input, one model per element, list output
        return [Receipt(order_id=order.order_id, count=len(order.items))]

    del each
    return flow


def root_typed_flow(slug: str) -> pgflow.Flow:
    flow = pgflow.Flow(slug, max_attempts=3, base_delay=0)

    @flow.step
    def receive(order: Order) -> Receipt:
        if order.order_id < 0:
            return {"order_id": order.order_id, "count": "many"}  # type: ignore[return-value]
        return Receipt(order_id=order.order_id, count=len(order.items))

    @flow.step(depends_on=[receive])
    def summary(deps: dict[str, Any]) -> dict[str, Any]:
        return {"text": f"{deps['receive']['order_id']}:{deps['receive']['count']}"}

    return flow


def attempts(database_url: str, run_id: Any, step_slug: str) -> list[tuple[int, str, str | None]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "select attempt, status, error from pgflow.step_tasks where run_id = %s and step_slug = %s",
            (run_id, step_slug),
        ).fetchall()


def test_input_parsed_and_output_dumped(database_url: str, flow_slug: str) -> None:
    out = pgflow.execute(root_typed_flow(flow_slug), {"order_id": 7, "items": ["a", "b"]}, database_url, timeout=60)
    assert out == {"summary": {"text": "7:2"}}


def test_map_step_of_models(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.map(over=None)
    def each(order: Order) -> Receipt:
        return Receipt(order_id=order.order_id, count=len(order.items))

    out = pgflow.execute(
        flow, [{"order_id": 1, "items": []}, {"order_id": 2, "items": ["x"]}], database_url, timeout=60
    )
    assert out == {"each": [{"order_id": 1, "count": 0}, {"order_id": 2, "count": 1}]}


def test_bad_input_fails_without_retry_with_pydantic_message(database_url: str, flow_slug: str) -> None:
    with pytest.raises(pgflow.RunFailed) as failed:
        pgflow.execute(root_typed_flow(flow_slug), {"order_id": "seven", "items": ["a"]}, database_url, timeout=60)
    rows = attempts(database_url, failed.value.run_id, "receive")
    assert [(a, s) for a, s, _ in rows] == [(1, "failed")], rows
    error = rows[0][2] or ""
    assert error.startswith(f"StepValidationError: input of {flow_slug}.receive does not match Order: "), error
    assert "1 validation error for Order" in error and "order_id" in error and "integer" in error, error


def test_bad_output_fails_without_retry_with_pydantic_message(database_url: str, flow_slug: str) -> None:
    with pytest.raises(pgflow.RunFailed) as failed:
        pgflow.execute(root_typed_flow(flow_slug), {"order_id": -1, "items": []}, database_url, timeout=60)
    rows = attempts(database_url, failed.value.run_id, "receive")
    assert [(a, s) for a, s, _ in rows] == [(1, "failed")], rows
    error = rows[0][2] or ""
    assert error.startswith(f"StepValidationError: output of {flow_slug}.receive does not match Receipt: "), error
    assert "validation error for Receipt" in error and "count" in error, error


def test_schemas_are_stored_and_described(database_url: str, flow_slug: str) -> None:
    flow = root_typed_flow(flow_slug)
    with pgflow.Client(database_url) as client:
        client.define(flow)
        described = client.describe_flow(flow_slug)
    receive, summary = described["steps"]
    assert receive["input_schema"] == Order.model_json_schema(mode="validation")
    assert receive["output_schema"] == Receipt.model_json_schema(mode="serialization")
    # a null inside a schema (the default of an optional field) is kept
    assert receive["input_schema"]["properties"]["note"]["default"] is None
    assert "input_schema" not in summary and "output_schema" not in summary


def test_untyped_definition_normalizes_as_before(conn: psycopg.Connection, flow_slug: str) -> None:
    steps = [{"slug": "a"}, {"slug": "b", "depends_on": ["a"]}]
    conn.execute("select pgflow.define_flow(%s, %s::jsonb)", (flow_slug, json.dumps(steps)))
    definition = conn.execute("select definition from pgflow.flows where flow_slug = %s", (flow_slug,)).fetchone()[0]  # type: ignore[index]
    for step in definition["steps"]:
        assert "input_schema" not in step and "output_schema" not in step
    # the same steps with a schema are another version; the same schema again is that version
    typed = [{"slug": "a", "output_schema": {"type": "object"}}, {"slug": "b", "depends_on": ["a"]}]
    v2 = conn.execute(
        "select version from pgflow.define_flow(%s, %s::jsonb)", (flow_slug, json.dumps(typed))
    ).fetchone()
    v2_again = conn.execute(
        "select version from pgflow.define_flow(%s, %s::jsonb)", (flow_slug, json.dumps(typed))
    ).fetchone()
    assert v2 == v2_again == (2,)


@pytest.mark.parametrize("key", ["input_schema", "output_schema"])
def test_schema_that_is_not_an_object_is_refused(conn: psycopg.Connection, flow_slug: str, key: str) -> None:
    steps = [{"slug": "a", key: [1, 2]}]
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("select pgflow.define_flow(%s, %s::jsonb)", (flow_slug, json.dumps(steps)))
    assert refused.value.sqlstate == "PF001"
    assert f"{key} must be a JSON Schema (a JSON object) or null" in str(refused.value)
    assert conn.execute("select count(*) from pgflow.flows where flow_slug = %s", (flow_slug,)).fetchone() == (0,)


def test_graph_shows_model_names(database_url: str, flow_slug: str) -> None:
    flow = typed_flow(flow_slug)
    text = graph.to_mermaid(flow.slug, graph.steps_of_flow(flow))
    assert "in: Order<br/>out: Receipt" in text, text
    assert "out: list[Receipt]" in text, text
    with pgflow.Client(database_url) as client:
        client.define(flow)
        described = client.describe_flow(flow_slug)
    from_database = graph.to_mermaid(flow_slug, described["steps"])
    assert "in: Order<br/>out: Receipt" in from_database and "out: list[Receipt]" in from_database, from_database


def test_plain_handlers_are_untyped() -> None:
    def plain(value: dict[str, Any]) -> dict[str, Any]:
        return value

    def bare(value):  # type: ignore[no-untyped-def]
        return value

    assert handler_types(plain) is None and handler_types(bare) is None
    flow = pgflow.Flow("plain")
    flow.step(plain)
    assert "input_schema" not in flow.definition()[0][0]


# process isolation: handlers and models at the top level of the module, so that children can import them
process_flow = pgflow.Flow("typed_process_steps", max_attempts=2, base_delay=0)


@process_flow.step
def process_receive(order: Order) -> Receipt:
    return Receipt(order_id=order.order_id, count=len(order.items)) if order.order_id >= 0 else {"count": 1}  # type: ignore[return-value]


def test_process_isolation_validates_too(database_url: str) -> None:
    with pgflow.Client(database_url) as client:
        client.define(process_flow)
        good = client.start_run(process_flow, {"order_id": 3, "items": ["x"]})
        bad_in = client.start_run(process_flow, {"items": ["x"]})
        bad_out = client.start_run(process_flow, {"order_id": -3, "items": []})
        worker = pgflow.Worker(database_url, process_flow, concurrency=2, isolation="process")
        import threading

        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            assert client.wait(good, timeout=60) == {"process_receive": {"order_id": 3, "count": 1}}
            for run, side in ((bad_in, "input"), (bad_out, "output")):
                with pytest.raises(pgflow.RunFailed):
                    client.wait(run, timeout=60)
                rows = attempts(database_url, run.run_id, "process_receive")
                assert [(a, s) for a, s, _ in rows] == [(1, "failed")], rows
                assert f"{side} of typed_process_steps.process_receive does not match" in (rows[0][2] or "")
        finally:
            worker.stop()
            thread.join(30)


def test_running_worker_helper_serves_typed_flow(database_url: str, flow_slug: str) -> None:
    flow = root_typed_flow(flow_slug)
    with running_worker(database_url, flow), pgflow.Client(database_url) as client:
        run = client.start_run(flow, {"order_id": 1, "items": ["a", "b", "c"]})
        assert client.wait(run, timeout=60) == {"summary": {"text": "1:3"}}


class Opaque(BaseModel):
    value: Any


def test_an_output_pydantic_cannot_dump_is_a_step_validation_error() -> None:
    def opaque(value: dict[str, Any]) -> Opaque:
        return Opaque(value=value)

    types = handler_types(opaque)
    assert types is not None
    with pytest.raises(StepValidationError, match=r"output of f\.s could not be dumped as Opaque"):
        types.dump_output("f", "s", Opaque(value=object()))


class Indescribable:
    """A class pydantic can hold (arbitrary_types_allowed) but not describe in a JSON Schema."""


class Holder(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    thing: Indescribable


def test_a_model_without_a_json_schema_is_an_invalid_definition(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)
    with pytest.raises(pgflow.InvalidDefinition, match=rf"step {flow_slug}.hold: its models have no JSON Schema"):

        @flow.step
        def hold(value: Holder) -> dict[str, str]:
            return {}
