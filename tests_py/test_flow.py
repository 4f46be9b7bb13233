"""The flow DSL (SPEC §4): what `@flow.step`, `@flow.map` and `Flow.from_steps` compile to, how the engine
takes the result when `Client.define` sends it, and how definition mistakes surface as PgflowError
subclasses carrying the engine's message and SQLSTATE (SPEC §3.1, §3.8)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import pgflow

from ._client_helpers import step_entry


def _step_json(flow: pgflow.Flow, slug: str) -> dict[str, Any]:
    steps, _options = flow.definition()
    matches = [s for s in steps if s["slug"] == slug]
    assert len(matches) == 1, steps
    return matches[0]


def _deps_in_db(conn: psycopg.Connection, flow_slug: str, version: int = 1) -> set[tuple[str, str]]:
    """(dep_slug, step_slug) pairs of one version of a flow, as the engine stored them."""
    rows = conn.execute(
        "select dep_slug, step_slug from pgflow.deps where flow_slug = %s and flow_version = %s",
        (flow_slug, version),
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def _versions(conn: psycopg.Connection, flow_slug: str) -> list[int]:
    rows = conn.execute("select version from pgflow.flows where flow_slug = %s order by version", (flow_slug,))
    return [r[0] for r in rows.fetchall()]


def _define(database_url: str, flow: pgflow.Flow) -> Any:
    with pgflow.Client(database_url) as client:
        return client.define(flow)


# ----------------------------------------------------------------------------------------------------
# Compilation: Flow.definition()
# ----------------------------------------------------------------------------------------------------
def test_step_decorators_compile_to_define_flow_json(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug, max_attempts=4, timeout=30)

    @flow.step
    def fetch(input: Any) -> Any:
        return input

    @flow.step(depends_on=[fetch], max_attempts=5)
    def by_function(deps: Any) -> Any:
        return deps

    @flow.step(depends_on=["fetch", by_function], base_delay=0.5, max_delay=10, timeout=7)
    def by_slug_and_function(deps: Any) -> Any:
        return deps

    steps, options = flow.definition()
    assert [s["slug"] for s in steps] == ["fetch", "by_function", "by_slug_and_function"]
    assert options == {"max_attempts": 4, "timeout": 30}

    root = _step_json(flow, "fetch")
    assert root.get("depends_on", []) == []
    assert root.get("type", "single") == "single"
    assert set(root) <= {"slug", "depends_on", "type"}, root

    child = _step_json(flow, "by_function")
    assert child["depends_on"] == ["fetch"]  # a decorated function stands for its step's slug
    assert child["max_attempts"] == 5
    assert child.get("type", "single") == "single"

    merge = _step_json(flow, "by_slug_and_function")
    assert sorted(merge["depends_on"]) == ["by_function", "fetch"]
    assert (merge["base_delay"], merge["max_delay"], merge["timeout"]) == (0.5, 10, 7)


def test_decorator_roots_are_roots_not_a_chain(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    """Steps declared with @flow.step and no depends_on are independent roots: the decorator API must not fall
    into define_flow's sequential shorthand (which chains steps when no element has a depends_on key)."""
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def left(input: Any) -> Any:
        return 1

    @flow.step
    def right(input: Any) -> Any:
        return 2

    @flow.step(depends_on=[left, right])
    def join(deps: Any) -> Any:
        return deps

    _define(database_url, flow)
    assert _deps_in_db(conn, flow_slug) == {("left", "join"), ("right", "join")}


def test_map_decorator_shapes(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.map
    def bare_root_map(item: Any) -> Any:
        return item

    @flow.map(over=None, max_attempts=2)
    def explicit_root_map(item: Any) -> Any:
        return item

    @flow.step
    def produce(input: Any) -> Any:
        return [1, 2]

    @flow.map(over=produce)
    def over_function(item: Any) -> Any:
        return item

    @flow.map(over="produce", timeout=5)
    def over_slug(item: Any) -> Any:
        return item

    for slug in ("bare_root_map", "explicit_root_map"):
        step = _step_json(flow, slug)
        assert step["type"] == "map"
        assert step.get("depends_on", []) == [], step  # maps the run input
    assert _step_json(flow, "explicit_root_map")["max_attempts"] == 2
    for slug in ("over_function", "over_slug"):
        step = _step_json(flow, slug)
        assert step["type"] == "map"
        assert step["depends_on"] == ["produce"]
    assert _step_json(flow, "over_slug")["timeout"] == 5


def test_option_names_map_to_engine_keys(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug, max_attempts=2, base_delay=0, max_delay=9, timeout=11)

    @flow.step
    def root(input: Any) -> Any:
        return input

    @flow.step(
        depends_on=[root],
        if_={"root": {"ok": True}},
        when_unmet="skip-cascade",
        when_exhausted="skip",
        start_delay=3,
    )
    def guarded(deps: Any) -> Any:
        return deps

    @flow.step(depends_on=[root], if_not={"root": {"ok": False}}, when_unmet="fail")
    def negated(deps: Any) -> Any:
        return deps

    _steps, options = flow.definition()
    assert options == {"max_attempts": 2, "base_delay": 0, "max_delay": 9, "timeout": 11}
    guarded_json = _step_json(flow, "guarded")
    assert guarded_json["if"] == {"root": {"ok": True}}
    assert "if_" not in guarded_json
    assert guarded_json["when_unmet"] == "skip-cascade"
    assert guarded_json["when_exhausted"] == "skip"
    assert guarded_json["start_delay"] == 3
    negated_json = _step_json(flow, "negated")
    assert negated_json["if_not"] == {"root": {"ok": False}}
    assert negated_json["when_unmet"] == "fail"


def test_conditions_given_with_if_and_if_not_reach_the_engine(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """The engine evaluates root steps' conditions at start_run, so the effect of `if_` / `if_not` is visible
    without any worker: an unmet `if` skips its step, a met one leaves it started."""
    flow = pgflow.Flow(flow_slug)

    @flow.step(if_={"go": True})
    def only_if_go(input: Any) -> Any:
        return 1

    @flow.step(if_not={"go": True})
    def only_if_not_go(input: Any) -> Any:
        return 2

    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow_slug, {"go": True})
        status = client.get_run_status(run.run_id)
    assert step_entry(status, "only_if_go")["status"] == "started"
    assert step_entry(status, "only_if_not_go")["status"] == "skipped"


def test_decorated_functions_stay_callable(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    def plain(input: Any) -> Any:
        return {"got": input}

    decorated = flow.step(plain)
    assert decorated is plain

    @flow.step(depends_on=[plain], max_attempts=2)
    def add_one(deps: Any) -> int:
        return deps["plain"]["got"] + 1

    @flow.map(over=add_one)
    def double(item: int) -> int:
        return item * 2

    @flow.map
    def root_map(item: int) -> int:
        return -item

    assert plain(3) == {"got": 3}
    assert add_one({"plain": {"got": 41}}) == 42
    assert double(21) == 42
    assert root_map(5) == -5
    assert [s.slug for s in flow.steps] == ["plain", "add_one", "double", "root_map"]


def test_handler_conventions_takes_context(flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def input_only(input: Any) -> Any:
        return input

    @flow.step(depends_on=[input_only])
    def with_ctx(deps: Any, ctx: pgflow.Context) -> Any:
        return ctx.step_slug

    @flow.map(over=with_ctx)
    def map_with_ctx(item: Any, ctx: pgflow.Context) -> Any:
        return ctx.task_index

    assert flow.get_step("input_only").takes_context is False
    assert flow.get_step("with_ctx").takes_context is True
    assert flow.get_step("map_with_ctx").takes_context is True

    legacy = pgflow.Flow.from_steps(flow_slug + "_legacy", [("one", lambda input: 1), ("two", lambda deps, ctx: 2)])
    assert isinstance(legacy.get_step("one"), pgflow.Step)
    assert legacy.get_step("one").takes_context is False
    assert legacy.get_step("two").takes_context is True


# ----------------------------------------------------------------------------------------------------
# Flow.from_steps (the tuple syntax)
# ----------------------------------------------------------------------------------------------------
def test_from_steps_without_dependencies_is_a_chain(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    flow = pgflow.Flow.from_steps(flow_slug, [("step1", lambda i: 1), ("step2", lambda d: 2), ("step3", lambda d: 3)])
    assert [s.slug for s in flow.steps] == ["step1", "step2", "step3"]
    version = _define(database_url, flow)
    assert version.version == 1
    assert _deps_in_db(conn, flow_slug) == {("step1", "step2"), ("step2", "step3")}


def test_from_steps_with_explicit_dependencies(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    flow = pgflow.Flow.from_steps(
        flow_slug,
        [
            ("a", lambda i: 1, {"depends_on": []}),
            ("b", lambda d: 2, {"depends_on": ["a"]}),
            ("c", lambda i: 3),  # no depends_on among explicit ones: a root, not chained after b
            ("d", lambda d: 4, {"depends_on": ["a", "c"], "max_attempts": 7}),
        ],
    )
    _define(database_url, flow)
    assert _deps_in_db(conn, flow_slug) == {("a", "b"), ("a", "d"), ("c", "d")}
    assert _step_json(flow, "d")["max_attempts"] == 7


def test_from_steps_map_type(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    flow = pgflow.Flow.from_steps(
        flow_slug,
        [
            ("items", lambda i: [1, 2], {"depends_on": []}),
            ("each", lambda x: x, {"depends_on": ["items"], "type": "map"}),
        ],
    )
    assert _step_json(flow, "each")["type"] == "map"
    _define(database_url, flow)
    assert _deps_in_db(conn, flow_slug) == {("items", "each")}


# ----------------------------------------------------------------------------------------------------
# Mistakes are the engine's to report
# ----------------------------------------------------------------------------------------------------
def test_unknown_dependencies_raise_unknown_dependency_listing_all(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def root(input: Any) -> Any:
        return 1

    @flow.step(depends_on=[root, "ghost_one"])
    def first(deps: Any) -> Any:
        return 2

    @flow.step(depends_on=["ghost_two"])
    def second(deps: Any) -> Any:
        return 3

    with pytest.raises(pgflow.UnknownDependency) as info:
        _define(database_url, flow)
    exc = info.value
    assert isinstance(exc, pgflow.PgflowError)
    assert exc.sqlstate == "PF002"
    assert "ghost_one" in str(exc) and "ghost_two" in str(exc)
    assert _versions(conn, flow_slug) == []  # nothing written


def test_cycle_raises_cycle_detected_with_the_path(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    flow = pgflow.Flow.from_steps(
        flow_slug,
        [
            ("a", lambda d: 1, {"depends_on": ["c"]}),
            ("b", lambda d: 2, {"depends_on": ["a"]}),
            ("c", lambda d: 3, {"depends_on": ["b"]}),
        ],
    )
    with pytest.raises(pgflow.CycleDetected) as info:
        _define(database_url, flow)
    exc = info.value
    assert exc.sqlstate == "PF003"
    message = str(exc)
    # execution order c -> a -> b -> c, shown from any of its steps
    assert any(path in message for path in ("a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c")), message
    assert _versions(conn, flow_slug) == []


def test_self_dependency_is_a_cycle(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step(depends_on=["loop"])
    def loop(deps: Any) -> Any:
        return deps

    with pytest.raises(pgflow.CycleDetected) as info:
        _define(database_url, flow)
    assert info.value.sqlstate == "PF003"
    assert "loop -> loop" in str(info.value)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout": 0}, "timeout"),
        ({"base_delay": -1}, "base_delay"),
        ({"when_unmet": "explode"}, "when_unmet"),
        ({"retries": 3}, "retries"),  # an unknown option name
    ],
)
def test_bad_step_options_raise_invalid_definition(
    database_url: str, conn: psycopg.Connection, flow_slug: str, options: dict[str, Any], named: str
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step(**options)
    def only(input: Any) -> Any:
        return input

    with pytest.raises(pgflow.InvalidDefinition) as info:
        _define(database_url, flow)
    assert info.value.sqlstate == "PF001"
    assert named in str(info.value)
    assert _versions(conn, flow_slug) == []


def test_bad_flow_option_and_bad_slug_raise_invalid_definition(database_url: str, flow_slug: str) -> None:
    bad_option = pgflow.Flow(flow_slug, max_attempts=0)

    @bad_option.step
    def only(input: Any) -> Any:
        return input

    with pytest.raises(pgflow.InvalidDefinition) as info:
        _define(database_url, bad_option)
    assert info.value.sqlstate == "PF001"
    assert "max_attempts" in str(info.value)

    bad_slug = pgflow.Flow(flow_slug + "-dash")
    bad_slug.step(only)
    with pytest.raises(pgflow.InvalidDefinition) as info:
        _define(database_url, bad_slug)
    assert info.value.sqlstate == "PF001"


def test_duplicate_step_and_map_with_two_dependencies_raise_invalid_definition(
    database_url: str, flow_slug: str
) -> None:
    duplicate = pgflow.Flow.from_steps(flow_slug, [("same", lambda i: 1), ("same", lambda i: 2)])
    with pytest.raises(pgflow.InvalidDefinition) as info:
        _define(database_url, duplicate)
    assert "same" in str(info.value)

    two_deps_map = pgflow.Flow.from_steps(
        flow_slug,
        [
            ("x", lambda i: [1], {"depends_on": []}),
            ("y", lambda i: [2], {"depends_on": []}),
            ("m", lambda e: e, {"depends_on": ["x", "y"], "type": "map"}),
        ],
    )
    with pytest.raises(pgflow.InvalidDefinition) as info:
        _define(database_url, two_deps_map)
    assert info.value.sqlstate == "PF001"


# ----------------------------------------------------------------------------------------------------
# Versions
# ----------------------------------------------------------------------------------------------------
def _two_step_flow(slug: str, *, max_attempts: int | None = None, extra_step: bool = False) -> pgflow.Flow:
    flow = pgflow.Flow(slug, max_attempts=max_attempts)

    @flow.step
    def first(input: Any) -> Any:
        return 1

    @flow.step(depends_on=[first])
    def second(deps: Any) -> Any:
        return 2

    if extra_step:

        @flow.step(depends_on=[second])
        def third(deps: Any) -> Any:
            return 3

    return flow


def test_redefining_is_a_noop_and_changes_make_new_versions(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    with pgflow.Client(database_url) as client:
        v1 = client.define(_two_step_flow(flow_slug))
        assert (v1.flow_slug, v1.version) == (flow_slug, 1)
        # the same definition, built again from new function objects: nothing is written
        again = client.define(_two_step_flow(flow_slug))
        assert again.version == 1
        assert again.created_at == v1.created_at
        assert _versions(conn, flow_slug) == [1]

        v2 = client.define(_two_step_flow(flow_slug, extra_step=True))
        assert v2.version == 2
        assert _deps_in_db(conn, flow_slug, 2) == {("first", "second"), ("second", "third")}
        assert _deps_in_db(conn, flow_slug, 1) == {("first", "second")}

        v3 = client.define(_two_step_flow(flow_slug, extra_step=True, max_attempts=9))
        assert v3.version == 3  # an option alone is a change too
        assert v3.max_attempts == 9
        assert _versions(conn, flow_slug) == [1, 2, 3]

        run = client.start_run(flow_slug, {})
        assert run.flow_version == 3
