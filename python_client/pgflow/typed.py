"""Typed steps: handlers whose input parameter or return is annotated with a pydantic model.

A handler is typed when its first parameter's annotation, or its return annotation, is a pydantic model (a
``BaseModel`` subclass) or a type built of models (``list[Model]``, ``Model | None``, ``dict[str, Model]``).
For such an annotation:

- the input is validated and parsed (``TypeAdapter(annotation).validate_python``: a model gets
  ``Model.model_validate(input)``) before the handler is called;
- the output is validated and dumped as JSON (``model_dump(mode="json")``): a handler may return the model or a
  dict of the same shape;
- a validation error fails the task without retry (``StepValidationError``, a ``NonRetryableError``), with
  pydantic's message, named ``input of <flow>.<step> ...`` or ``output of <flow>.<step> ...``;
- the JSON Schemas (validation schema of the input, serialization schema of the output) are sent with the
  step's definition as ``input_schema`` / ``output_schema``: stored with the step and shown by
  ``pgflow.describe_flow``, ``pgflow graph`` and the dashboard.

Annotations that are not models (``dict``, ``Any``, none) change nothing. pydantic is imported only when an
annotation needs it: a model class cannot exist before pydantic is imported, so when ``pydantic`` is not in
``sys.modules`` no handler is typed and nothing is imported.
"""

from __future__ import annotations

import inspect
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import NonRetryableError

__all__ = ["HandlerTypes", "StepValidationError", "handler_types"]


class StepValidationError(NonRetryableError):
    """A typed step's input or output did not validate against its annotation: the task fails without retry.
    The message starts ``input of <flow>.<step>`` or ``output of <flow>.<step>`` and carries pydantic's."""


@dataclass(frozen=True)
class HandlerTypes:
    """What a typed handler's annotations say. ``input``/``output``: pydantic ``TypeAdapter`` of the annotation,
    or None when that side is not typed; ``input_name``/``output_name``: the annotation as shown (``Order``,
    ``list[Order]``)."""

    input: Any
    output: Any
    input_name: str | None
    output_name: str | None

    def schemas(self) -> dict[str, Any]:
        """``{"input_schema": {...}, "output_schema": {...}}``, the keys of the typed sides only: the JSON Schemas
        (draft 2020-12, as pydantic writes them) of the input as validated and of the output as dumped."""
        out: dict[str, Any] = {}
        if self.input is not None:
            out["input_schema"] = self.input.json_schema(mode="validation")
        if self.output is not None:
            out["output_schema"] = self.output.json_schema(mode="serialization")
        return out

    def parse_input(self, flow_slug: str, step_slug: str, value: Any) -> Any:
        """The input as the handler takes it (a model instance, ...); ``StepValidationError`` when it does not
        validate. Unchanged when the input side is not typed."""
        if self.input is None:
            return value
        import pydantic

        try:
            return self.input.validate_python(value)
        except pydantic.ValidationError as exc:
            raise StepValidationError(
                f"input of {flow_slug}.{step_slug} does not match {self.input_name}: {exc}"
            ) from None

    def dump_output(self, flow_slug: str, step_slug: str, value: Any) -> Any:
        """The handler's result validated against the return annotation and dumped as JSON values (dicts, lists,
        strings, numbers); ``StepValidationError`` when it does not validate. Unchanged when the output side is
        not typed."""
        if self.output is None:
            return value
        import pydantic
        import pydantic_core

        try:
            return self.output.dump_python(self.output.validate_python(value), mode="json")
        except pydantic.ValidationError as exc:
            raise StepValidationError(
                f"output of {flow_slug}.{step_slug} does not match {self.output_name}: {exc}"
            ) from None
        except pydantic_core.PydanticSerializationError as exc:
            raise StepValidationError(
                f"output of {flow_slug}.{step_slug} could not be dumped as {self.output_name}: {exc}"
            ) from None


_cache: dict[int, tuple[Any, HandlerTypes | None]] = {}


def handler_types(handler: Callable[..., Any] | None) -> HandlerTypes | None:
    """The typed sides of a handler, or None when neither its first parameter nor its return is annotated with a
    pydantic model (or when pydantic was never imported). Cached per handler object. An annotation that cannot
    be resolved (a forward reference to a name that does not exist) is taken as untyped."""
    if handler is None or "pydantic" not in sys.modules:
        return None
    cached = _cache.get(id(handler))
    if cached is not None and cached[0] is handler:
        return cached[1]
    found = _read(handler)
    _cache[id(handler)] = (handler, found)
    return found


def _read(handler: Callable[..., Any]) -> HandlerTypes | None:
    target: Any = handler
    if not (inspect.isfunction(target) or inspect.ismethod(target)) and callable(target):
        target = getattr(target, "__call__", target)  # noqa: B004 - a callable object's method
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # an unresolvable forward reference: only the annotations that are not strings
        hints = {k: v for k, v in getattr(target, "__annotations__", {}).items() if not isinstance(v, str)}
    params = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    input_ann = hints.get(params[0].name) if params and params[0].kind != params[0].VAR_POSITIONAL else None
    output_ann = hints.get("return")
    typed_in = input_ann is not None and _has_model(input_ann)
    typed_out = output_ann is not None and _has_model(output_ann)
    if not (typed_in or typed_out):
        return None
    import pydantic

    return HandlerTypes(
        input=pydantic.TypeAdapter(input_ann) if typed_in and input_ann is not None else None,
        output=pydantic.TypeAdapter(output_ann) if typed_out and output_ann is not None else None,
        input_name=type_name(input_ann) if typed_in else None,
        output_name=type_name(output_ann) if typed_out else None,
    )


def _has_model(annotation: Any, depth: int = 0) -> bool:
    """Whether an annotation is a pydantic model or a type built of them (at most 8 levels deep)."""
    if depth > 8:
        return False
    base = getattr(sys.modules.get("pydantic"), "BaseModel", None)
    if base is None:
        return False
    if isinstance(annotation, type) and issubclass(annotation, base):
        return True
    return any(_has_model(arg, depth + 1) for arg in typing.get_args(annotation))


def type_name(annotation: Any) -> str:
    """An annotation as shown in messages and graphs: ``Order``, ``list[Order]``, ``Order | None``."""
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__name__
    text = repr(annotation)
    text = text.replace("typing.", "")
    text = re.sub(r"<class '([^']+)'>", r"\1", text)
    return re.sub(r"\b(?:[A-Za-z_][A-Za-z0-9_]*\.)+([A-Za-z_][A-Za-z0-9_]*)", r"\1", text)
