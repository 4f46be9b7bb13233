"""The model behind the stateful property-based tests of the SQL API (test_properties.py): random flow
definitions, a snapshot of the pgflow tables, and what the engine's contract (SPEC §3, §6) says must be
true of them.

Flow definitions are plain JSON-like dicts ``{"steps": [...], "options": {...}}`` exactly as they are given
to ``pgflow.define_flow``, so a failing sequence printed by Hypothesis can be pasted into a test as it is.
``FlowDef.parse`` reads one back into the model's terms (effective options per step, dependencies).

The model only claims what is cheap to know for certain: which outputs the tests reported and were told
were recorded, which attempt numbers were handed out, how many attempts a task used since the last
resume, which runs exist. ``Model.check`` compares a ``Snapshot`` of the tables with it and with the rules
of SPEC §3 that follow from the rows alone (conditions, map fan-out, step outputs, runs that cannot be
stuck).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import strategies as st

JSON = Any

# ---------------------------------------------------------------------------------------------------------
# Vocabulary of the generated calls
# ---------------------------------------------------------------------------------------------------------

BASE_TIME = datetime(2030, 1, 1, tzinfo=timezone.utc)
"""The fake clock's start (``pgflow.fake_now``); time only moves when the machine says so."""

WORKER_TIMEOUT_SECONDS = 10
"""``pgflow.worker_timeout`` of the test session (registered by heartbeat from 0.2 on)."""

DEFAULTS: dict[str, Any] = {"max_attempts": 3, "base_delay": 1, "max_delay": 300, "timeout": 60, "start_delay": 0}
"""SPEC §2's option defaults."""

STEP_OPTIONS = ("max_attempts", "base_delay", "max_delay", "timeout", "start_delay")
FLOW_OPTIONS = ("max_attempts", "base_delay", "max_delay", "timeout")

OUTPUTS: tuple[JSON, ...] = (
    {"k": 1},
    {"k": 2},
    1,
    "x",
    None,
    [],
    [1],
    [1, 2],
    [{"k": 1}, {"k": 2}],
    [1, 2, 3],
)
"""Outputs the tests report: objects that conditions look into, scalars, and arrays of 0 to 3 elements
(a dependent map step fans out over them; a non-array fails its run)."""

RUN_INPUTS: tuple[JSON, ...] = ({"k": 1}, {"k": 2}, {}, [], [1], [1, 2, 3], [{"k": 1}, {"k": 2}], "x", 7)
"""Run inputs: objects for root single steps, arrays (empty too) for root map steps, and non-arrays that a
root map step must refuse with PF005."""

# condition patterns by the shape of what they are matched against
_OBJECT_PATTERNS: tuple[JSON, ...] = ({"k": 1}, {"k": 2}, {})
_ARRAY_PATTERNS: tuple[JSON, ...] = ([1], [{"k": 1}], [])
_DEP_VALUES: tuple[JSON, ...] = ({"k": 1}, 1, [1], "x")


# ---------------------------------------------------------------------------------------------------------
# Flow definitions
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepDef:
    """One step of a parsed definition, with its effective options (step value, else flow value, else the
    default of SPEC §2) and modes (defaults filled in)."""

    slug: str
    step_type: str
    depends_on: tuple[str, ...]
    max_attempts: int
    base_delay: Decimal
    max_delay: Decimal
    timeout: Decimal
    start_delay: Decimal
    condition_if: JSON
    condition_if_not: JSON
    when_unmet: str
    when_exhausted: str

    def retry_delay(self, failed_attempts: int) -> Decimal:
        """SPEC §2: seconds before the retry that follows the n-th failed attempt (n >= 1)."""
        return min(self.max_delay, self.base_delay * (2 ** (max(failed_attempts, 1) - 1)))


@dataclass(frozen=True)
class FlowDef:
    """A definition as the model reads it: ``steps`` by slug; ``normalized`` is equal for two definitions
    that mean the same thing to any reasonable normalizer (sequential shorthand resolved, dependencies
    sorted, flow defaults filled in); ``effective`` ignores the order of steps and the flow-level options
    that every step overrides."""

    steps: Mapping[str, StepDef]
    order: tuple[str, ...]
    normalized: str
    effective: frozenset[str]

    @classmethod
    def parse(cls, definition: Mapping[str, Any]) -> FlowDef:
        """Reads a definition dict ``{"steps": [...], "options": {...}}`` (what ``flow_definitions``
        draws) into the model's terms. Raises ValueError on shapes the generator never makes."""
        raw_steps: Sequence[Mapping[str, Any]] = definition["steps"]
        options: Mapping[str, Any] = definition.get("options", {})
        sequential = not any("depends_on" in s for s in raw_steps)
        flow_values = {k: options.get(k, DEFAULTS[k]) for k in FLOW_OPTIONS}
        steps: dict[str, StepDef] = {}
        normalized_steps = []
        for position, raw in enumerate(raw_steps):
            if sequential:
                deps: tuple[str, ...] = () if position == 0 else (raw_steps[position - 1]["slug"],)
            else:
                deps = tuple(sorted(set(raw.get("depends_on") or [])))

            def value(key: str, raw: Mapping[str, Any] = raw) -> Decimal:
                given = raw.get(key)
                if given is None:
                    given = flow_values.get(key, DEFAULTS[key])
                return Decimal(str(given))

            step = StepDef(
                slug=raw["slug"],
                step_type=raw.get("type", "single"),
                depends_on=deps,
                max_attempts=int(value("max_attempts")),
                base_delay=value("base_delay"),
                max_delay=value("max_delay"),
                timeout=value("timeout"),
                start_delay=value("start_delay"),
                condition_if=raw.get("if"),
                condition_if_not=raw.get("if_not"),
                when_unmet=raw.get("when_unmet") or "skip",
                when_exhausted=raw.get("when_exhausted") or "fail",
            )
            steps[step.slug] = step
            normalized_steps.append(
                (
                    step.slug,
                    step.step_type,
                    deps,
                    tuple(str(raw.get(k)) for k in STEP_OPTIONS),
                    repr(step.condition_if),
                    repr(step.condition_if_not),
                    step.when_unmet,
                    step.when_exhausted,
                )
            )
        normalized = repr((tuple(normalized_steps), tuple(str(flow_values[k]) for k in FLOW_OPTIONS)))
        return cls(
            steps=steps, order=tuple(steps), normalized=normalized, effective=frozenset(repr(s) for s in steps.values())
        )

    def dependents(self, step_slug: str) -> set[str]:
        """Every step downstream of ``step_slug`` (transitively)."""
        found: set[str] = set()
        frontier = [step_slug]
        while frontier:
            current = frontier.pop()
            for step in self.steps.values():
                if current in step.depends_on and step.slug not in found:
                    found.add(step.slug)
                    frontier.append(step.slug)
        return found

    def root_map(self) -> str | None:
        """The first root map step, whose run input must be an array (SPEC §3.2), or None."""
        for slug in self.order:
            step = self.steps[slug]
            if step.step_type == "map" and not step.depends_on:
                return slug
        return None


_SHAPES = ("chain", "diamond", "random", "random")


@st.composite
def flow_definitions(draw: st.DrawFn) -> dict[str, Any]:
    """A random valid definition ``{"steps": [...], "options": {...}}``: chains (some in the sequential
    shorthand), diamonds or random DAGs of 1 to 5 steps; single and map steps (root maps, maps over a
    dependency); conditions; every when_exhausted and when_unmet mode; max_attempts 1 to 3; timeouts of
    1 to 5 s; retry delays of 0 to 2 s; steps listed in any order."""
    shape = draw(st.sampled_from(_SHAPES))
    if shape == "chain":
        count = draw(st.integers(1, 4))
        deps: list[list[str]] = [[] if i == 0 else [f"s{i - 1}"] for i in range(count)]
    elif shape == "diamond":
        deps = [[], ["s0"], ["s0"], ["s1", "s2"]]
    else:
        count = draw(st.integers(1, 5))
        deps = []
        for i in range(count):
            earlier = [f"s{j}" for j in range(i)]
            deps.append(draw(st.lists(st.sampled_from(earlier), max_size=2, unique=True)) if earlier else [])

    steps: list[dict[str, Any]] = []
    for i, step_deps in enumerate(deps):
        step: dict[str, Any] = {"slug": f"s{i}", "depends_on": step_deps}
        is_map = len(step_deps) <= 1 and draw(st.integers(0, 2)) == 2
        if is_map:
            step["type"] = "map"
        for key, choices in (
            ("max_attempts", (1, 2, 3)),
            ("timeout", (1, 2, 5)),
            ("base_delay", (0, 1, 2)),
            ("max_delay", (1, 300)),
            ("start_delay", (0, 1)),
        ):
            if draw(st.integers(0, 2)) == 2:
                step[key] = draw(st.sampled_from(choices))
        if draw(st.integers(0, 3)) == 3:
            if is_map:
                patterns = _ARRAY_PATTERNS
            elif step_deps:
                patterns = tuple({dep: value} for dep in step_deps for value in _DEP_VALUES)
            else:
                patterns = _OBJECT_PATTERNS
            which = draw(st.sampled_from(("if", "if_not", "both")))
            if which in ("if", "both"):
                step["if"] = draw(st.sampled_from(patterns))
            if which in ("if_not", "both"):
                step["if_not"] = draw(st.sampled_from(patterns))
            mode = draw(st.sampled_from((None, "skip", "skip-cascade", "fail")))
            if mode is not None:
                step["when_unmet"] = mode
        mode = draw(st.sampled_from((None, "fail", "skip", "skip-cascade")))
        if mode is not None:
            step["when_exhausted"] = mode
        steps.append(step)

    # a chain sometimes in the sequential shorthand (no depends_on key at all)
    if shape == "chain" and draw(st.booleans()):
        for step in steps:
            del step["depends_on"]
    else:
        steps = draw(st.permutations(steps))

    options: dict[str, Any] = {}
    for key, choices in (("max_attempts", (1, 2, 3)), ("timeout", (1, 3)), ("base_delay", (0, 1))):
        if draw(st.integers(0, 3)) == 3:
            options[key] = draw(st.sampled_from(choices))
    return {"steps": steps, "options": options}


# ---------------------------------------------------------------------------------------------------------
# Snapshots of the tables (SPEC §3.9 columns only)
# ---------------------------------------------------------------------------------------------------------

TaskKey = tuple[uuid.UUID, str, int]
StepKey = tuple[uuid.UUID, str]


@dataclass(frozen=True)
class RunRow:
    """A ``pgflow.runs`` row."""

    run_id: uuid.UUID
    flow_slug: str
    flow_version: int
    status: str
    input: JSON
    output: JSON
    finished_at: datetime | None


@dataclass(frozen=True)
class StepRow:
    """A ``pgflow.step_states`` row."""

    run_id: uuid.UUID
    step_slug: str
    status: str
    initial_tasks: int | None
    output: JSON


@dataclass(frozen=True)
class TaskRow:
    """A ``pgflow.step_tasks`` row."""

    run_id: uuid.UUID
    step_slug: str
    task_index: int
    status: str
    attempt: int
    output: JSON
    worker_id: str | None
    visible_at: datetime
    deadline: datetime | None


@dataclass(frozen=True)
class Snapshot:
    """Every run, step state and task, keyed by run_id, (run_id, step_slug) and (run_id, step_slug,
    task_index)."""

    runs: dict[uuid.UUID, RunRow]
    steps: dict[StepKey, StepRow]
    tasks: dict[TaskKey, TaskRow]

    @classmethod
    def load(cls, conn: psycopg.Connection[Any]) -> Snapshot:
        """Reads the three tables (three queries, no lock)."""
        runs = {
            row[0]: RunRow(*row)
            for row in conn.execute(
                "select run_id, flow_slug, flow_version, status, input, output, finished_at from pgflow.runs"
            )
        }
        steps = {
            (row[0], row[1]): StepRow(*row)
            for row in conn.execute("select run_id, step_slug, status, initial_tasks, output from pgflow.step_states")
        }
        tasks = {
            (row[0], row[1], row[2]): TaskRow(*row)
            for row in conn.execute(
                "select run_id, step_slug, task_index, status, attempt, output, worker_id, visible_at, deadline"
                " from pgflow.step_tasks"
            )
        }
        return cls(runs, steps, tasks)

    def run_part(self, run_id: uuid.UUID) -> tuple[Any, ...]:
        """Everything the snapshot holds about one run, comparable with ``==``."""
        return (
            self.runs.get(run_id),
            sorted((k[1], v) for k, v in self.steps.items() if k[0] == run_id),
            sorted((k[1:], v) for k, v in self.tasks.items() if k[0] == run_id),
        )

    def step_tasks(self, run_id: uuid.UUID, step_slug: str) -> list[TaskRow]:
        """The tasks of one step, in task_index order."""
        return sorted(
            (t for k, t in self.tasks.items() if k[0] == run_id and k[1] == step_slug), key=lambda t: t.task_index
        )


# ---------------------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------------------

_UNSET = object()


@dataclass
class RunModel:
    """A run the tests started: its flow version and input, and whether prune_runs deleted it."""

    run_id: uuid.UUID
    flow_slug: str
    flow_version: int
    input: JSON
    idempotency_key: str | None
    pruned: bool = False


@dataclass
class TaskModel:
    """What the tests know of a task: the attempt numbers polls handed out, the claims since the run's
    last resume (each attempt is one claim), and the output a complete report recorded (told true)."""

    attempts: list[int] = field(default_factory=list)
    since_resume: int = 0
    output: Any = _UNSET

    @property
    def completed(self) -> bool:
        """Whether a report of this task was recorded."""
        return self.output is not _UNSET


@dataclass
class WorkerModel:
    """A worker id: whether its last word was a heartbeat (not stop_worker), and its last sign of life."""

    registered: bool = False
    last_sign: datetime | None = None


class Model:
    """The tests' knowledge of what the engine holds; see the module docstring."""

    def __init__(self) -> None:
        self.now = BASE_TIME
        self.versions: dict[str, dict[int, FlowDef]] = {}
        self.runs: dict[uuid.UUID, RunModel] = {}
        self.tasks: dict[TaskKey, TaskModel] = {}
        self.workers: dict[str, WorkerModel] = {}
        self.next_run = 1

    # -- definitions ------------------------------------------------------------------------------------

    def current_version(self, flow_slug: str) -> int:
        """The version runs of the flow start on: the highest one defined."""
        return max(self.versions[flow_slug])

    def flow(self, run_id: uuid.UUID) -> FlowDef:
        """The definition of a run's version."""
        run = self.runs[run_id]
        return self.versions[run.flow_slug][run.flow_version]

    def step(self, run_id: uuid.UUID, step_slug: str) -> StepDef:
        """A step of a run's version."""
        return self.flow(run_id).steps[step_slug]

    def new_run_id(self) -> uuid.UUID:
        """The next run id: deterministic, so that a replayed sequence claims tasks in the same order."""
        run_id = uuid.UUID(int=(0x5EED << 96) + self.next_run)
        self.next_run += 1
        return run_id

    def task(self, key: TaskKey) -> TaskModel:
        """The model of a task (created on first use)."""
        return self.tasks.setdefault(key, TaskModel())

    # -- workers ----------------------------------------------------------------------------------------

    def worker(self, worker_id: str) -> WorkerModel:
        """The model of a worker id (created on first use)."""
        return self.workers.setdefault(worker_id, WorkerModel())

    def maybe_stale(self, worker_id: str | None) -> bool:
        """Whether the engine may hold the worker for silent (its timeout could have passed, whatever the
        engine's default for unregistered workers): reports of its tasks may then go either way."""
        if worker_id is None:
            return True
        last = self.worker(worker_id).last_sign
        return last is None or self.now - last >= timedelta(seconds=WORKER_TIMEOUT_SECONDS - 1)

    def surely_stale(self, worker_id: str | None) -> bool:
        """Whether a worker registered by heartbeat has certainly been silent for longer than its timeout
        (with 2 s to spare for an engine that refreshes a poller's heartbeat at most once a second)."""
        if worker_id is None:
            return False
        worker = self.worker(worker_id)
        return (
            worker.registered
            and worker.last_sign is not None
            and self.now - worker.last_sign > timedelta(seconds=WORKER_TIMEOUT_SECONDS + 2)
        )

    # -- what a step receives -----------------------------------------------------------------------------

    def step_input(self, snap: Snapshot, run_id: uuid.UUID, step: StepDef) -> JSON:
        """SPEC §3.3: the run input for a root step, else {dep: output} over its completed dependencies."""
        run = self.runs[run_id]
        if not step.depends_on:
            return run.input
        found: dict[str, JSON] = {}
        for dep in step.depends_on:
            dep_row = snap.steps.get((run_id, dep))
            if dep_row is not None and dep_row.status == "completed":
                found[dep] = dep_row.output
        return found

    def map_source(self, snap: Snapshot, run_id: uuid.UUID, step: StepDef) -> JSON:
        """What a map step maps over: the run input (root) or its dependency's output ([] when skipped)."""
        if not step.depends_on:
            return self.runs[run_id].input
        dep_row = snap.steps.get((run_id, step.depends_on[0]))
        if dep_row is not None and dep_row.status == "completed":
            return dep_row.output
        return []

    def condition_input(self, snap: Snapshot, run_id: uuid.UUID, step: StepDef) -> JSON:
        """SPEC §3.4: what a step's condition is matched against (a map step: the array it maps over)."""
        if step.step_type == "map":
            return self.map_source(snap, run_id, step)
        return self.step_input(snap, run_id, step)

    def task_input(self, snap: Snapshot, key: TaskKey) -> JSON:
        """SPEC §3.3: the input poll_for_tasks hands out with a task."""
        run_id, step_slug, index = key
        step = self.step(run_id, step_slug)
        if step.step_type == "map":
            source = self.map_source(snap, run_id, step)
            return source[index] if isinstance(source, list) and 0 <= index < len(source) else _UNSET
        return self.step_input(snap, run_id, step)

    def expected_step_output(self, snap: Snapshot, run_id: uuid.UUID, step_slug: str) -> JSON:
        """A completed step's output from the outputs recorded for its tasks: the task's (single) or the
        array of them in task_index order (map)."""
        step = self.step(run_id, step_slug)
        outputs = [self.task((run_id, step_slug, t.task_index)).output for t in snap.step_tasks(run_id, step_slug)]
        if step.step_type == "map":
            return outputs
        return outputs[0] if outputs else _UNSET

    # -- checks over a snapshot ---------------------------------------------------------------------------

    def check(self, snap: Snapshot) -> list[tuple[str, str]]:
        """(signature, detail) for everything in the snapshot that contradicts the model or SPEC §3."""
        found: list[tuple[str, str]] = []
        live = {r for r, m in self.runs.items() if not m.pruned}
        if set(snap.runs) != live:
            found.append(
                (
                    "runs appear or disappear",
                    (
                        f"tables hold {sorted(map(str, set(snap.runs) - live))} that the model does not know and"
                        f" lack {sorted(map(str, live - set(snap.runs)))} that prune_runs did not delete"
                    ),
                )
            )
        for run_id, run in snap.runs.items():
            model = self.runs.get(run_id)
            if model is None:
                continue
            if (run.flow_slug, run.flow_version) != (model.flow_slug, model.flow_version) or run.input != model.input:
                found.append(("run changed its flow, version or input", f"run {run_id}: {run} vs {model}"))
                continue
            found += self._check_run(snap, run)
        for key, task in snap.tasks.items():
            model_task = self.tasks.get(key)
            recorded = model_task is not None and model_task.completed
            if task.status == "completed" and not recorded:
                found.append(("a task completed without a recorded report", f"task {key}: {task}"))
            elif recorded and task.status != "completed":
                found.append(("a recorded completion was undone", f"task {key} is {task.status}"))
            elif recorded and model_task is not None and task.output != model_task.output:
                found.append(
                    ("a recorded output changed", f"task {key}: output {task.output!r}, reported {model_task.output!r}")
                )
        return found

    def _check_run(self, snap: Snapshot, run: RunRow) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        flow = self.flow(run.run_id)
        for slug, step in flow.steps.items():
            row = snap.steps.get((run.run_id, slug))
            if row is None:
                continue  # the invariants report missing step states
            where = f"run {run.run_id} ({run.status}), step {slug}"
            tasks = snap.step_tasks(run.run_id, slug)
            if row.status == "completed":
                expected = self.expected_step_output(snap, run.run_id, slug)
                if expected is _UNSET or row.output != expected:
                    found.append(
                        (
                            "a completed step's output is not what its tasks reported",
                            f"{where}: output {row.output!r}, reported {expected if expected is not _UNSET else '-'}",
                        )
                    )
            if row.status in ("started", "completed"):
                condition_input = self.condition_input(snap, run.run_id, step)
                met = (step.condition_if is None or contains(condition_input, step.condition_if)) and (
                    step.condition_if_not is None or not contains(condition_input, step.condition_if_not)
                )
                if not met:
                    found.append(
                        (
                            "a step whose condition is not met started",
                            (
                                f"{where}: input {condition_input!r}, if {step.condition_if!r},"
                                f" if_not {step.condition_if_not!r}"
                            ),
                        )
                    )
                if step.step_type == "map":
                    source = self.map_source(snap, run.run_id, step)
                    if not isinstance(source, list):
                        found.append(("a map step started over a non-array", f"{where}: source {source!r}"))
                    elif row.initial_tasks != len(source) or len(tasks) != len(source):
                        found.append(
                            (
                                "a map step's tasks do not match its array",
                                f"{where}: source {source!r}, initial_tasks {row.initial_tasks}, {len(tasks)} tasks",
                            )
                        )
            if run.status == "started":
                deps_done = all(
                    (d := snap.steps.get((run.run_id, dep))) is not None and d.status in ("completed", "skipped")
                    for dep in step.depends_on
                )
                if row.status == "created" and deps_done:
                    found.append(("a ready step of a started run did not start", where))
                if row.status == "started" and any(t.status not in ("queued", "started", "completed") for t in tasks):
                    found.append(
                        (
                            "a started step of a started run has a failed or cancelled task",
                            f"{where}: {[(t.task_index, t.status) for t in tasks]}",
                        )
                    )
            if (
                row.status == "completed"
                and not isinstance(row.output, list)
                and run.status in ("started", "completed")
            ):
                feeds_map = [s.slug for s in flow.steps.values() if s.step_type == "map" and slug in s.depends_on]
                if feeds_map:
                    found.append(
                        (
                            "a non-array fed a map step and its run did not fail",
                            f"{where}: output {row.output!r} feeds map step(s) {feeds_map}",
                        )
                    )
        return found


def contains(value: JSON, pattern: JSON, top: bool = True) -> bool:
    """PostgreSQL's jsonb ``value @> pattern``, for the values the tests use (``top``: at the outermost
    level, where jsonb lets an array contain a primitive value that equals one of its elements)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and contains(value[k], v, top=False) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        if not isinstance(value, list):
            return False
        return all(
            any(
                isinstance(element, list) and contains(element, p, top=False)
                if isinstance(p, list)
                else contains(element, p, top=False)
                for element in value
            )
            for p in pattern
        )
    if isinstance(value, list):
        return top and any(type(e) is type(pattern) and e == pattern for e in value)
    return type(value) is type(pattern) and value == pattern
