"""Flows as Mermaid or Graphviz DOT text, optionally coloured by the status of one run's steps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .flow import Flow

#: fill and stroke colours by step status
COLOURS = {
    "created": ("#f5f5f5", "#9e9e9e"),
    "started": ("#bbdefb", "#1565c0"),
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
        out.append({"step_slug": step.slug, "step_type": step.step_type, "depends_on": deps})
    return out


def _label(step: Mapping[str, Any], statuses: Mapping[str, str]) -> str:
    label = step["step_slug"]
    if step.get("step_type") == "map":
        label += " (map)"
    status = statuses.get(step["step_slug"])
    if status:
        label += f": {status}"
    return label


def to_mermaid(name: str, steps: Sequence[Mapping[str, Any]], statuses: Mapping[str, str] | None = None) -> str:
    statuses = statuses or {}
    lines = ["---", f"title: {name}", "---", "flowchart TD"]
    for step in steps:
        slug = step["step_slug"]
        label = _label(step, statuses).replace('"', "'")
        shape = f'[["{label}"]]' if step.get("step_type") == "map" else f'["{label}"]'
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
        attrs = [f'label="{_label(step, statuses)}"']
        if step.get("step_type") == "map":
            attrs.append('peripheries=2')
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
