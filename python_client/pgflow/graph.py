"""Flows as Mermaid or Graphviz DOT text, optionally coloured by the status of one run's steps. Map and wait steps
are marked (``fetch (map)``, ``approval (wait)``: a hexagon in Mermaid, a dashed box in DOT). A step's
conditions are shown in its label: ``if {...}``, ``if_not {...}`` and, with either, ``when unmet: ...``; so is
its flow control: ``concurrency 2 per tenant``, ``rate 100 per 60 s per tenant``; and a typed step's models:
``in: Order``, ``out: Receipt`` (read from the JSON Schemas: their ``title``, or ``list[...]`` of their items).

A step is a mapping with ``step_slug``, ``step_type``, ``depends_on`` (a list of slugs) and, optionally,
``if``, ``if_not``, ``when_unmet``, ``concurrency``, ``concurrency_key``, ``rate_limit``, ``input_schema``,
``output_schema`` and ``subflow`` (a sub-flow step's child flow, shown in its label as ``lines → order_line``)
(as ``pgflow.describe_flow`` gives them; None or absent when not set).
"""

import graphlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import CycleDetected, UnknownDependency
from .flow import Flow

#: the keys of a step that are its conditions, shown in its label
CONDITION_KEYS = ("if", "if_not", "when_unmet")
#: the keys of a step that are its flow control, shown in its label
FLOW_CONTROL_KEYS = ("concurrency", "concurrency_key", "rate_limit")
#: the keys of a typed step's JSON Schemas, whose model names are shown in its label
SCHEMA_KEYS = ("input_schema", "output_schema")
#: the longest condition pattern shown in a label, in characters
MAX_PATTERN = 60

#: fill and stroke colours by step status
COLOURS = {
    "created": ("#f5f5f5", "#9e9e9e"),
    "started": ("#bbdefb", "#1565c0"),
    "waiting": ("#e1bee7", "#6a1b9a"),
    "completed": ("#c8e6c9", "#2e7d32"),
    "failed": ("#ffcdd2", "#c62828"),
    "skipped": ("#fff9c4", "#f9a825"),
    "cancelled": ("#e0e0e0", "#616161"),
}


def steps_of_flow(flow: Flow) -> list[dict[str, Any]]:
    """The steps of a Flow with their dependencies resolved (the tuple syntax's chain included)."""
    steps = flow.steps
    sequential = all(step.depends_on is None for step in steps)
    out = []
    for i, step in enumerate(steps):
        if sequential:
            deps = [steps[i - 1].slug] if i else []
        else:
            deps = list(step.depends_on or ())
        entry: dict[str, Any] = {"step_slug": step.slug, "step_type": step.step_type, "depends_on": deps}
        entry.update(
            {key: step.options[key] for key in CONDITION_KEYS + FLOW_CONTROL_KEYS + SCHEMA_KEYS if key in step.options}
        )
        if step.subflow is not None:
            entry["subflow"] = step.subflow
        out.append(entry)
    return out


def check_dag(name: str, steps: Sequence[Mapping[str, Any]]) -> None:
    """UnknownDependency naming every dependency that is no step, or CycleDetected showing a cycle's path
    (``a -> b -> a``), as the engine would refuse the flow ``name``; nothing when the steps form a DAG."""
    slugs = {step["step_slug"] for step in steps}
    unknown = sorted({dep for step in steps for dep in step["depends_on"] if dep not in slugs})
    if unknown:
        raise UnknownDependency(f"flow {name} has dependencies on steps that do not exist: {', '.join(unknown)}")
    sorter = graphlib.TopologicalSorter({step["step_slug"]: list(step["depends_on"]) for step in steps})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))  # graphlib lists it from dependent to dependency
        raise CycleDetected(f"flow {name} has a cycle: {' -> '.join(cycle)}") from None


def conditions(step: Mapping[str, Any]) -> list[str]:
    """The lines describing a step's conditions: ``if {...}``, ``if_not {...}``, ``when unmet: skip``;
    none for a step without conditions. Patterns are compact JSON cut at MAX_PATTERN characters."""
    lines = []
    for key in ("if", "if_not"):
        if step.get(key) is not None:
            pattern = json.dumps(step[key], separators=(",", ":"), sort_keys=True, ensure_ascii=False)
            if len(pattern) > MAX_PATTERN:
                pattern = pattern[: MAX_PATTERN - 3] + "..."
            lines.append(f"{key} {pattern}")
    if lines:
        lines.append(f"when unmet: {step.get('when_unmet') or 'skip'}")
    return lines


def flow_control(step: Mapping[str, Any]) -> list[str]:
    """The lines describing a step's flow control: ``concurrency 2``, ``rate 100 per 60 s``, each followed by
    ``per tenant.id`` when it counts per value of a key path of the run input; none for a step without."""
    rate = step.get("rate_limit")
    path = step.get("concurrency_key") or (rate.get("key") if isinstance(rate, Mapping) else None)
    per_key = f" per {'.'.join(str(key) for key in path)}" if path else ""
    lines = []
    if step.get("concurrency") is not None:
        lines.append(f"concurrency {step['concurrency']}{per_key}")
    if isinstance(rate, Mapping):
        lines.append(f"rate {rate.get('limit')} per {rate.get('per')} s{per_key}")
    return lines


def annotations(step: Mapping[str, Any]) -> list[str]:
    """The lines of a step's label under its name: its conditions, then its flow control, then its models."""
    return conditions(step) + flow_control(step) + models(step)


def models(step: Mapping[str, Any]) -> list[str]:
    """A typed step's models: ``in: Order`` and ``out: Receipt``, for the schemas it has."""
    lines = []
    for key, prefix in (("input_schema", "in"), ("output_schema", "out")):
        schema = step.get(key)
        if isinstance(schema, Mapping):
            lines.append(f"{prefix}: {schema_name(schema)}")
    return lines


def schema_name(schema: Mapping[str, Any], depth: int = 0) -> str:
    """The name of the type a JSON Schema describes, as pydantic writes them: its ``title``; a ``$ref``'s last
    part; ``list[X]`` for an array of X; ``X | Y`` for ``anyOf``; else its ``type`` (``object`` at worst)."""
    if depth > 4:
        return "..."
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return ref.rsplit("/", 1)[-1]
    title = schema.get("title")
    if isinstance(title, str) and title:
        return title
    if schema.get("type") == "array" and isinstance(schema.get("items"), Mapping):
        return f"list[{schema_name(schema['items'], depth + 1)}]"
    options = schema.get("anyOf")
    if isinstance(options, list) and options:
        return " | ".join(schema_name(o, depth + 1) if isinstance(o, Mapping) else "?" for o in options)
    kind = schema.get("type")
    return "None" if kind == "null" else str(kind or "object")


def _label(step: Mapping[str, Any], statuses: Mapping[str, str]) -> str:
    label: str = step["step_slug"]
    if step.get("subflow"):
        label += f" \u2192 {step['subflow']}"  # a sub-flow step: "lines → order_line"
    if step.get("step_type") in ("map", "wait"):
        label += f" ({step['step_type']})"
    status = statuses.get(step["step_slug"])
    if status:
        label += f": {status}"
    return label


def _dot_text(text: str) -> str:
    """``text`` inside a DOT double-quoted string."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def _mermaid_text(text: str) -> str:
    """``text`` inside a Mermaid quoted label: double quotes as #quot;, and the characters Mermaid would
    read as markup as entity codes."""
    return text.replace("#", "#35;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;").replace("\n", " ")


def to_mermaid(name: str, steps: Sequence[Mapping[str, Any]], statuses: Mapping[str, str] | None = None) -> str:
    statuses = statuses or {}
    lines = ["---", f"title: {name}", "---", "flowchart TD"]
    for step in steps:
        slug = step["step_slug"]
        label = _label(step, statuses).replace('"', "'")
        label = "<br/>".join([label, *(_mermaid_text(line) for line in annotations(step))])
        shape = {"map": f'[["{label}"]]', "wait": f'{{{{"{label}"}}}}'}.get(step.get("step_type", ""), f'["{label}"]')
        lines.append(f"  {slug}{shape}")
    for step in steps:
        for dep in step["depends_on"]:
            lines.append(f"  {dep} --> {step['step_slug']}")
    used = sorted({s for s in statuses.values() if s in COLOURS})
    for status in used:
        fill, stroke = COLOURS[status]
        lines.append(f"  classDef {status} fill:{fill},stroke:{stroke}")
    for step in steps:
        step_status = statuses.get(step["step_slug"])
        if step_status in COLOURS:
            lines.append(f"  class {step['step_slug']} {step_status}")
    return "\n".join(lines)


def to_dot(name: str, steps: Sequence[Mapping[str, Any]], statuses: Mapping[str, str] | None = None) -> str:
    statuses = statuses or {}
    lines = [
        f'digraph "{name}" {{',
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="Helvetica"];',
    ]
    for step in steps:
        slug = step["step_slug"]
        label = "\\n".join(_dot_text(line) for line in [_label(step, statuses), *annotations(step)])
        attrs = [f'label="{label}"']
        if step.get("step_type") == "map":
            attrs.append("peripheries=2")
        elif step.get("step_type") == "wait":
            attrs.append('style="rounded,filled,dashed"')
        status = statuses.get(slug)
        if status in COLOURS:
            fill, stroke = COLOURS[status]
            attrs += [f'fillcolor="{fill}"', f'color="{stroke}"']
        lines.append(f'  "{slug}" [{", ".join(attrs)}];')
    for step in steps:
        for dep in step["depends_on"]:
            lines.append(f'  "{dep}" -> "{step["step_slug"]}";')
    lines.append("}")
    return "\n".join(lines)
