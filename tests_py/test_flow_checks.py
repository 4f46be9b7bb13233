"""Mistakes the Python Flow API refuses when a step is declared, before anything reaches a database: a handler
that cannot be called as ``handler(input)`` or ``handler(input, ctx)``, and a dependent step's ``if_`` /
``if_not`` that is not an object keyed by its dependencies (its input is ``{dependency: output}``, so any
other pattern would skip the step silently). Each raises ``pgflow.InvalidDefinition`` (PF001) naming the
step and what is wrong, and leaves the flow as it was."""

from __future__ import annotations

import functools
from typing import Any

import pytest

import pgflow


def _flow() -> tuple[pgflow.Flow, Any]:
    flow = pgflow.Flow("checks")

    @flow.step
    def a(input: Any) -> Any:
        return input

    return flow, a


# ----------------------------------------------------------------------------------------------------
# Conditions
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "pattern", "mentions"),
    [
        ("if_", {"A": {"x": 1}}, ["checks.b", "'A'", "did you mean 'a'"]),
        ("if_", "big", ["checks.b", "must be an object", "'big'"]),
        ("if_not", [1, 2], ["checks.b", "if_not", "must be an object"]),
        ("if_", 3, ["checks.b", "must be an object"]),
        ("if_", {"a": 1, "zzz": 2}, ["checks.b", "'zzz'"]),
    ],
)
def test_a_dependent_step_pattern_not_keyed_by_its_dependencies_is_refused(
    option: str, pattern: Any, mentions: list[str]
) -> None:
    flow, a = _flow()
    with pytest.raises(pgflow.InvalidDefinition) as raised:

        @flow.step(depends_on=[a], **{option: pattern})
        def b(deps: Any) -> Any:
            return deps

    assert raised.value.sqlstate == "PF001"
    for text in mentions:
        assert text in str(raised.value), str(raised.value)
    assert [s.slug for s in flow.steps] == ["a"], "the refused step was added"


def test_a_dependent_step_pattern_keyed_by_its_dependencies_is_taken() -> None:
    flow, a = _flow()

    @flow.step
    def c(input: Any) -> Any:
        return input

    @flow.step(depends_on=[a, c], if_={"a": {"big": True}}, if_not={"c": 1, "a": {}})
    def b(deps: Any) -> Any:
        return deps

    step = flow.get_step("b")
    assert step.options["if"] == {"a": {"big": True}}
    assert step.options["if_not"] == {"c": 1, "a": {}}


@pytest.mark.parametrize("pattern", ["big", [1], 3, None, {"anything": True}, True])
def test_root_and_map_steps_take_any_json_pattern(pattern: Any) -> None:
    flow, a = _flow()
    flow.step(slug="root2", if_=pattern)(lambda input: input)
    flow.map(slug="over_input", if_not=pattern)(lambda item: item)
    flow.map(slug="over_a", over=a, if_=pattern)(lambda item: item)
    assert [s.slug for s in flow.steps] == ["a", "root2", "over_input", "over_a"]


def test_the_tuple_syntax_chain_is_checked_against_the_step_before() -> None:
    with pytest.raises(pgflow.InvalidDefinition, match=r"legacy\.s2.*'s3'"):
        pgflow.Flow.from_steps("legacy", [("s1", lambda i: 1), ("s2", lambda d: 2, {"if": {"s3": 1}})])
    flow = pgflow.Flow.from_steps("legacy", [("s1", lambda i: 1), ("s2", lambda d: 2, {"if": {"s1": 1}})])
    assert flow.get_step("s2").options["if"] == {"s1": 1}
    # a tuple naming no dependencies when another does is a root step: any pattern
    pgflow.Flow.from_steps("dag", [("s1", lambda i: 1, {"depends_on": []}), ("s2", lambda d: 2, {"if": "x"})])


# ----------------------------------------------------------------------------------------------------
# Handler signatures
# ----------------------------------------------------------------------------------------------------
def no_params() -> Any:
    return 1


def three(input: Any, ctx: Any, extra: Any) -> Any:
    return 1


def keyword_only(input: Any, *, option: Any) -> Any:
    return 1


def star_three(a: Any, b: Any, c: Any, *rest: Any) -> Any:
    return 1


@pytest.mark.parametrize(
    ("handler", "mentions"),
    [
        (no_params, "no_params of step checks.s takes no positional argument"),
        (three, "three of step checks.s requires 3 positional arguments (input, ctx, extra)"),
        (keyword_only, "keyword_only of step checks.s requires keyword-only argument(s) option"),
        (star_three, "star_three of step checks.s requires 3 positional arguments"),
        ("not a function", "is not callable"),
    ],
)
@pytest.mark.parametrize("kind", ["step", "map"])
def test_a_handler_that_cannot_take_the_input_is_refused_when_declared(handler: Any, mentions: str, kind: str) -> None:
    flow = pgflow.Flow("checks")
    with pytest.raises(pgflow.InvalidDefinition) as raised:
        getattr(flow, kind)(slug="s")(handler)
    assert mentions in str(raised.value), str(raised.value)
    assert flow.steps == ()


def test_a_handler_refused_in_the_tuple_syntax_names_it() -> None:
    with pytest.raises(pgflow.InvalidDefinition, match=r"no_params of step legacy.s2"):
        pgflow.Flow.from_steps("legacy", [("s1", lambda i: 1), ("s2", no_params)])


def test_handlers_that_take_the_input_and_optionally_the_context_are_taken() -> None:
    flow = pgflow.Flow("checks")

    async def coroutine(input: Any, ctx: Any) -> Any:
        return input

    class Callable:
        def __call__(self, input: Any) -> Any:
            return input

    takes = {
        "one": lambda input: input,
        "two": lambda input, ctx: input,
        "defaults": lambda input, ctx=None, more=1: input,
        "star": lambda *args: args,
        "star_after_one": lambda input, *args: input,
        "optional_keyword": lambda input, *, flag=False: input,
        "kwargs": lambda input, **kwargs: input,
        "partial": functools.partial(lambda bound, input: input, 1),
        "coroutine": coroutine,
        "instance": Callable(),
        "builtin": len,
    }
    for slug, handler in takes.items():
        flow.step(slug=slug)(handler)
    assert [s.slug for s in flow.steps] == list(takes)
    assert flow.get_step("two").takes_context and not flow.get_step("one").takes_context
