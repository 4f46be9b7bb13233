"""The JSON documents the API returns, as ``TypedDict``s: what ``Client`` and ``AsyncClient`` give back from
``get_run_status``, ``describe_flow``, ``list_flow_versions``, ``list_schedules``, ``create_schedule`` and
``get_step_outputs``. They are plain dicts at run time; the types only tell a type checker their keys.

Times inside JSON documents (``started_at``, ``created_at``, ...) are ISO 8601 text; times of table rows
(``ScheduleRow``) are ``datetime``. Keys marked ``NotRequired`` appear only on some documents (a sub-flow step,
a wait step, a child run, a typed step); the others are always present, None where the SQL gives null.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, TypedDict

from typing_extensions import NotRequired

__all__ = [
    "ChildRunStatus",
    "FlowDescription",
    "FlowVersionRow",
    "ParentTask",
    "RunStatus",
    "ScheduleRow",
    "StepDescription",
    "StepOutputs",
    "StepStatus",
]


class ChildRunStatus(TypedDict):
    """The latest child run of one task of a sub-flow step (``StepStatus["child_runs"]``)."""

    task_index: int
    run_id: str
    status: str


class StepStatus(TypedDict):
    """One step of ``RunStatus["steps"]``; ``status`` is "waiting" for a wait step still started."""

    step_slug: str
    step_type: str
    status: str
    depends_on: list[str]
    total_tasks: int
    completed_tasks: int
    attempts: int
    error: str | None
    started_at: str | None
    finished_at: str | None
    #: a sub-flow step: its child flow and the latest child run of each task
    subflow: NotRequired[str]
    child_runs: NotRequired[list[ChildRunStatus]]
    #: a wait step: since when and until when it waits (None once it no longer waits), and its signal's time
    waiting_since: NotRequired[str | None]
    deadline: NotRequired[str | None]
    signalled_at: NotRequired[str | None]


class ParentTask(TypedDict):
    """The sub-flow task that started a child run (``RunStatus["parent"]``)."""

    run_id: str
    step_slug: str
    task_index: int


class RunStatus(TypedDict):
    """``get_run_status``: a run, its counts and percentage, and its steps in topological order."""

    run_id: str
    flow_slug: str
    flow_version: int
    status: str
    priority: int
    total_steps: int
    completed_steps: int
    percentage: float
    total_tasks: int
    completed_tasks: int
    input: Any
    output: Any
    error: str | None
    started_at: str
    finished_at: str | None
    steps: list[StepStatus]
    #: a child run only
    parent: NotRequired[ParentTask]


# the JSON key "if" is a Python keyword: declared in the functional form, read as ``step["if"]``
_StepCondition = TypedDict("_StepCondition", {"if": Any})


class StepDescription(_StepCondition):
    """One step of ``FlowDescription["steps"]``: its effective options and flow control (None when absent)."""

    step_slug: str
    step_type: str
    depends_on: list[str]
    max_attempts: int
    base_delay: float
    max_delay: float
    timeout: float
    start_delay: float
    if_not: Any
    when_unmet: str
    when_exhausted: str
    concurrency: int | None
    concurrency_key: list[str] | None
    rate_limit: dict[str, Any] | None
    subflow: NotRequired[str]
    input_schema: NotRequired[dict[str, Any]]
    output_schema: NotRequired[dict[str, Any]]


class FlowDescription(TypedDict):
    """``describe_flow``: one version of a flow, its options and its steps in topological order."""

    flow_slug: str
    version: int
    is_current: bool
    max_attempts: int
    base_delay: float
    max_delay: float
    timeout: float
    created_at: str
    steps: list[StepDescription]


class FlowVersionRow(TypedDict):
    """One element of ``list_flow_versions``."""

    flow_slug: str
    version: int
    is_current: bool
    created_at: str
    steps: list[str]
    runs_in_flight: int


class ScheduleRow(TypedDict):
    """A schedule (``list_schedules``, ``create_schedule``); ``next_tick`` None for a schedule the engine stopped."""

    schedule_slug: str
    flow_slug: str
    cron: str
    timezone: str
    input: Any
    next_tick: dt.datetime | None
    last_tick: dt.datetime | None
    last_run_id: uuid.UUID | None
    last_error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


#: ``get_step_outputs``: each completed step's output by step slug.
StepOutputs = dict[str, Any]
