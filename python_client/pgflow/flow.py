"""The flow DSL: steps declared with decorators (or the older tuple syntax), compiled to the JSON of one
``pgflow.define_flow`` call; the cron schedules a flow declares (``Schedule``) are defined beside it, not in
it. Validation is mostly the engine's: a bad definition fails when it is defined, with the engine's
PF001/PF002/PF003 message. Three mistakes are caught here already, when a step is declared, with
``InvalidDefinition`` (PF001): a handler that cannot be called with the input (and optionally the context),
a dependent step's ``if_``/``if_not`` that is not an object keyed by its dependencies, and flow-control
options (``concurrency``, ``concurrency_key``, ``rate_limit``) out of their range or that do not go together.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from .errors import CycleDetected, InvalidDefinition
from .typed import HandlerTypes, handler_types

F = TypeVar("F", bound=Callable[..., Any])

#: Keyword arguments of ``Flow.step`` / ``Flow.map`` that become keys of the step's JSON, by Python name.
STEP_OPTIONS = {
    "max_attempts": "max_attempts",
    "base_delay": "base_delay",
    "max_delay": "max_delay",
    "timeout": "timeout",
    "start_delay": "start_delay",
    "if_": "if",
    "if_not": "if_not",
    "when_unmet": "when_unmet",
    "when_exhausted": "when_exhausted",
    "concurrency": "concurrency",
    "concurrency_key": "concurrency_key",
    "rate_limit": "rate_limit",
}
FLOW_OPTIONS = ("max_attempts", "base_delay", "max_delay", "timeout")

_ROOT = object()  # marker: Flow.map(over=None) maps the run input
#: the step type of a wait step, which has no handler
WAIT = "wait"

#: the engine's rule for flow, step and schedule slugs (SPEC §2)
SLUG_PATTERN = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,127}")


@dataclass(frozen=True)
class Schedule:
    """A cron schedule a flow declares: polls start a run of the flow with ``input`` (None: ``{}``) at each tick
    of ``cron`` (five fields, minute hour day-of-month month day-of-week, or a macro such as ``@daily``), read
    as wall-clock time in ``timezone`` (a name of pg_timezone_names, default UTC), once per tick.

    ``Client.define(flow)`` and ``pgflow worker`` (``Worker(define=True)``) create or update the flow's
    schedules after defining it (``pgflow.create_schedule``: unchanged, nothing is written). Schedules are not
    part of the flow's definition: changing one never makes a new flow version. The slug's rule is checked
    here (InvalidDefinition, PF001); the cron and the time zone are checked by the engine when defined.
    """

    slug: str
    cron: str
    input: Any = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.slug, str) or not SLUG_PATTERN.fullmatch(self.slug):
            raise InvalidDefinition(
                f"schedule slug {self.slug!r} is not a valid slug: use 1 to 128 letters, digits and underscores, "
                "not starting with a digit"
            )
        if not isinstance(self.cron, str) or not self.cron.strip():
            raise InvalidDefinition(f"schedule {self.slug}: cron must be a non-empty string, got {self.cron!r}")
        if not isinstance(self.timezone, str) or not self.timezone:
            raise InvalidDefinition(
                f"schedule {self.slug}: timezone must be a time zone name such as 'UTC', got {self.timezone!r}"
            )


@dataclass(frozen=True)
class Step:
    """One step of a flow: its slug, handler, dependencies and options (JSON keys). A step the engine runs
    itself has no handler (None), and workers are never given its tasks: a wait step (``step_type`` "wait", held
    until ``pgflow.signal``) and a sub-flow step (its tasks are child runs; ``child`` is then the child Flow when
    the step was declared with one, None for a slug)."""

    slug: str
    handler: Callable[..., Any] | None
    step_type: str = "single"
    #: the slugs it depends on; None when not given (only the tuple syntax leaves it out)
    depends_on: tuple[str, ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    child: Flow | None = None

    @property
    def takes_context(self) -> bool:
        """Whether the handler accepts a second positional argument (the pgflow.Context); False without one."""
        return self.handler is not None and _accepts_two_args(self.handler)

    @property
    def types(self) -> HandlerTypes | None:
        """The pydantic types of a typed step's handler (``pgflow.typed``), None for an untyped one."""
        return handler_types(self.handler)

    @property
    def subflow(self) -> str | None:
        """The slug of the child flow of a sub-flow step, else None."""
        flow = self.options.get("flow")
        return flow if isinstance(flow, str) else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"slug": self.slug}
        if self.depends_on is not None:
            data["depends_on"] = list(self.depends_on)
        if self.step_type != "single":
            data["type"] = self.step_type
        data.update(self.options)
        return data


def _accepts_two_args(fn: Callable[..., Any]) -> bool:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return True
    return len(positional) >= 2


def _handler_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def check_handler(flow_slug: str, step_slug: str, fn: Any) -> None:
    """``InvalidDefinition`` (PF001) naming the handler unless it can be called as ``fn(input)`` or
    ``fn(input, ctx)``: it takes one or two positional arguments (more with defaults, or ``*args``) and
    requires no keyword-only argument. A callable whose signature cannot be read is taken as it is."""
    where = f"the handler {_handler_name(fn)} of step {flow_slug}.{step_slug}"
    if not callable(fn):
        raise InvalidDefinition(f"{where} is not callable (a {type(fn).__name__})")
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return
    usage = "a handler takes the input as its one positional argument, or (input, ctx)"
    required_keywords = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if required_keywords:
        raise InvalidDefinition(
            f"{where} requires keyword-only argument(s) {', '.join(required_keywords)}, which pgflow never "
            f"passes: {usage}"
        )
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        if len(required) > 2:
            raise InvalidDefinition(
                f"{where} requires {len(required)} positional arguments ({', '.join(required)}): {usage}"
            )
        return
    if not positional:
        raise InvalidDefinition(f"{where} takes no positional argument: {usage}")
    if len(required) > 2:
        raise InvalidDefinition(
            f"{where} requires {len(required)} positional arguments ({', '.join(required)}): {usage}"
        )


def _default_slug(flow_slug: str, handler: Any) -> str:
    """A step's slug when none is given: its handler's ``__name__``."""
    name = getattr(handler, "__name__", None)
    if not isinstance(name, str):
        check_handler(flow_slug, "?", handler)
        raise InvalidDefinition(f"the handler {handler!r} of flow {flow_slug} has no __name__: give the step a slug=")
    return name


def check_conditions(flow_slug: str, step: Step, depends_on: Sequence[str]) -> None:
    """``InvalidDefinition`` (PF001) naming the step and the option unless each of its ``if``/``if_not``
    patterns fits its input: a dependent step's input is ``{dependency_slug: output}``, so its pattern must
    be an object whose keys are among ``depends_on``; a root step's (the run input) or a map step's (one
    element) may be any JSON value."""
    if step.step_type == "map" or not depends_on:
        return
    for key, name in (("if", "if_"), ("if_not", "if_not")):
        if key not in step.options:
            continue
        pattern = step.options[key]
        where = f"{name} of step {flow_slug}.{step.slug}"
        deps = ", ".join(depends_on)
        if not isinstance(pattern, Mapping):
            raise InvalidDefinition(
                f"{where} must be an object keyed by its dependencies ({deps}), as its input is "
                f"{{dependency: output}}; got {_shown_pattern(pattern)}"
            )
        unknown = [k for k in pattern if k not in depends_on]
        if unknown:
            close = difflib.get_close_matches(str(unknown[0]), list(depends_on), n=1) or [
                d for d in depends_on if d.lower() == str(unknown[0]).lower()
            ]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidDefinition(
                f"{where} has the key(s) {', '.join(_shown_pattern(k) for k in unknown)}, which are not "
                f"dependencies of the step: its input is {{dependency: output}} with the keys {deps}{hint}"
            )


#: the largest cap (``concurrency``) and rate (``rate_limit``'s ``limit``) a step takes: PostgreSQL's int
MAX_COUNT = 2**31 - 1
#: the shortest and the longest rate window (``rate_limit``'s ``per``) in seconds: 1 ms, and 100 years (the
#: bound of every duration option)
PER_RANGE = (0.001, 3_153_600_000)
#: the most keys a key path (``concurrency_key``, ``rate_limit``'s ``key``) has
MAX_KEY_PATH = 16


@dataclass(frozen=True)
class RateLimit:
    """A step's ``rate_limit``: at most ``limit`` claims of its tasks per window of ``per`` seconds, across
    all runs and workers; with ``key`` (a path into the run input, as ``concurrency_key``), per distinct value
    of that path. ``limit`` is an int from 1 to 2,147,483,647, ``per`` a number of seconds from 0.001 to
    3,153,600,000 (100 years); ``key`` a list of 1 to 16 keys, or one string for a top-level key. Checked when
    the step is declared
    (``InvalidDefinition`` naming the step). ``RateLimit(10, 1)`` and ``{"limit": 10, "per": 1}`` are the same
    option."""

    limit: int
    per: float
    key: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.key, str):
            object.__setattr__(self, "key", (self.key,))
        elif isinstance(self.key, list):
            object.__setattr__(self, "key", tuple(self.key))

    def to_json(self) -> dict[str, Any]:
        """The option as ``define_flow`` takes it: ``{"limit": n, "per": seconds[, "key": [...]]}``."""
        data: dict[str, Any] = {"limit": self.limit, "per": self.per}
        if self.key is not None:
            data["key"] = list(self.key)
        return data


def check_flow_control(flow_slug: str, step_slug: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A step's options (JSON keys) with its flow-control options checked and normalized: ``concurrency`` an
    int from 1 to 2,147,483,647; ``concurrency_key`` a list of 1 to 16 strings (one string: a top-level
    key) and only with ``concurrency`` or ``rate_limit``; ``rate_limit`` a ``RateLimit`` or an object
    ``{"limit", "per"[, "key"]}``, written as that object. A task counts in one bucket, so ``rate_limit``'s
    key and ``concurrency_key``, when both are given, must be the same path. ``InvalidDefinition`` (PF001)
    naming the step and the option otherwise."""
    out = dict(options)

    def where(name: str) -> str:
        return f"{name} of step {flow_slug}.{step_slug}"

    if "concurrency" in out:
        out["concurrency"] = _count(where("concurrency"), out["concurrency"])
    if "concurrency_key" in out:
        out["concurrency_key"] = _key_path(where("concurrency_key"), out["concurrency_key"])
    if "rate_limit" in out:
        out["rate_limit"] = _rate_limit(where, out["rate_limit"])
    key = out.get("concurrency_key")
    if key is not None and "concurrency" not in out and "rate_limit" not in out:
        raise InvalidDefinition(
            f"{where('concurrency_key')} is given without concurrency or rate_limit: it says what the cap or "
            f"the rate counts per value, so give concurrency=N or rate_limit=pgflow.RateLimit(...) too"
        )
    rate_key = out["rate_limit"].get("key") if "rate_limit" in out else None
    if key is not None and rate_key is not None and key != rate_key:
        raise InvalidDefinition(
            f"concurrency_key and rate_limit.key of step {flow_slug}.{step_slug} must be the same path, as a "
            f"task counts in one bucket: got {key!r} and {rate_key!r}"
        )
    return out


def _count(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise InvalidDefinition(
            f"{where} must be an integer from 1 to {MAX_COUNT:,}, got {_shown_pattern(value)} ({type(value).__name__})"
        )
    return value


def _key_path(where: str, value: Any) -> list[str]:
    path = [value] if isinstance(value, str) else value
    if (
        not isinstance(path, (list, tuple))
        or not 1 <= len(path) <= MAX_KEY_PATH
        or not all(isinstance(k, str) for k in path)
    ):
        raise InvalidDefinition(
            f"{where} must be a path into the run input: a list of 1 to {MAX_KEY_PATH} keys such as ['tenant', "
            f"'id'], or one string for a top-level key (an array index written as a string, '0'), got "
            f"{_shown_pattern(value)}"
        )
    return list(path)


def _rate_limit(named: Callable[[str], str], value: Any) -> dict[str, Any]:
    where = named("rate_limit")
    if isinstance(value, RateLimit):
        value = value.to_json()
    if not isinstance(value, Mapping):
        raise InvalidDefinition(
            f"{where} must be a pgflow.RateLimit(limit, per, key=None) or an object "
            f"{{'limit': n, 'per': seconds[, 'key': path]}}, got {_shown_pattern(value)}"
        )
    unknown = sorted(str(k) for k in value if k not in ("limit", "per", "key"))
    if unknown:
        raise InvalidDefinition(f"{where} has unknown key(s) {', '.join(unknown)}: it takes limit, per and key")
    if "limit" not in value or "per" not in value:
        raise InvalidDefinition(
            f"{where} needs both limit (claims) and per (seconds), got {_shown_pattern(dict(value))}"
        )
    out: dict[str, Any] = {"limit": _count(named("rate_limit.limit"), value["limit"])}
    per = value["per"]
    # NaN and the infinities fail the comparison too
    if isinstance(per, bool) or not isinstance(per, (int, float)) or not PER_RANGE[0] <= per <= PER_RANGE[1]:
        raise InvalidDefinition(
            f"{named('rate_limit.per')} must be a number of seconds from {PER_RANGE[0]:g} to {PER_RANGE[1]:,} "
            f"(100 years), got {_shown_pattern(per)}"
        )
    out["per"] = per
    if value.get("key") is not None:
        out["key"] = _key_path(named("rate_limit.key"), value["key"])
    return out


def _shown_pattern(value: Any) -> str:
    try:
        shown = repr(value)
    except Exception:
        shown = f"a {type(value).__name__}"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _step_options(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in options.items():
        key = STEP_OPTIONS.get(name, name)  # unknown names go through: the engine names them in its PF001
        if value is not None:
            out[key] = value
    return out


class Flow:
    """A named DAG of steps.

    >>> flow = Flow("analyze", max_attempts=3)
    >>> @flow.step
    ... def fetch(input): ...
    >>> @flow.step(depends_on=[fetch])
    ... def parse(deps): ...

    ``schedules``: the cron schedules that start runs of the flow (``Schedule``), defined with it; kept as the
    tuple ``flow.schedules`` and not part of its definition. InvalidDefinition for an item that is not a
    Schedule or two schedules with one slug.
    """

    def __init__(
        self,
        slug: str,
        *,
        max_attempts: int | None = None,
        base_delay: float | None = None,
        max_delay: float | None = None,
        timeout: float | None = None,
        schedules: Iterable[Schedule] = (),
    ) -> None:
        self.slug = slug
        self.schedules: tuple[Schedule, ...] = _schedules(slug, schedules)
        self.options: dict[str, Any] = {
            k: v
            for k, v in (
                ("max_attempts", max_attempts),
                ("base_delay", base_delay),
                ("max_delay", max_delay),
                ("timeout", timeout),
            )
            if v is not None
        }
        self._steps: list[Step] = []
        self._slug_of: dict[int, str] = {}

    # ------------------------------------------------------------------------------------------------
    # Declaring steps
    # ------------------------------------------------------------------------------------------------
    @overload
    def step(self, fn: F, /) -> F: ...

    @overload
    def step(
        self,
        fn: None = None,
        /,
        *,
        slug: str | None = None,
        depends_on: Sequence[str | Callable[..., Any]] = (),
        **options: Any,
    ) -> Callable[[F], F]: ...

    def step(self, fn: Any = None, /, *, slug: str | None = None, depends_on: Any = (), **options: Any) -> Any:
        """Declare a single step. Without ``depends_on`` it is a root step and receives the run input;
        otherwise it receives ``{dependency_slug: output}``. Options: max_attempts, base_delay, max_delay,
        timeout, start_delay, if_, if_not, when_unmet, when_exhausted, and flow control: concurrency (at most
        this many of the step's tasks started at once, across runs and workers), concurrency_key (the cap per
        value of this path into the run input: a list of keys, or one string for a top-level key) and
        rate_limit (a ``RateLimit`` or ``{"limit": n, "per": seconds[, "key": path]}``)."""

        def register(handler: F) -> F:
            self._add(
                Step(
                    slug=slug or _default_slug(self.slug, handler),
                    handler=handler,
                    depends_on=self._resolve(depends_on),
                    options=_step_options(options),
                )
            )
            return handler

        return register(fn) if fn is not None else register

    @overload
    def map(self, fn: F, /) -> F: ...

    @overload
    def map(
        self,
        fn: None = None,
        /,
        *,
        over: str | Callable[..., Any] | None = None,
        slug: str | None = None,
        flow: Flow | str,
        **options: Any,
    ) -> str: ...

    @overload
    def map(
        self,
        fn: None = None,
        /,
        *,
        over: str | Callable[..., Any] | None = None,
        slug: str | None = None,
        **options: Any,
    ) -> Callable[[F], F]: ...

    def map(
        self,
        fn: Any = None,
        /,
        *,
        over: Any = _ROOT,
        slug: str | None = None,
        flow: Flow | str | None = None,
        **options: Any,
    ) -> Any:
        """Declare a map step: its handler runs once per element of an array and the step's output is the
        array of results, in order. ``over`` is the step whose output it maps (a slug or a decorated
        function); ``over=None`` (or no ``over``) maps the run input, which must then be an array. It takes the
        options of ``step``; ``concurrency`` and ``rate_limit`` count its element tasks.

        With ``flow`` (a child ``Flow``, or the slug of a flow defined elsewhere) it is a map sub-flow step, called
        without a handler: ``flow.map(over="lines", flow=order_line, slug="process_lines")`` starts one run of the
        child flow per element (the element is its input); the step's output is the array of their outputs.
        Returns the step's slug (default: the child flow's slug). Options as ``subflow``."""
        if flow is not None:
            if fn is not None:
                raise InvalidDefinition(
                    f"flow {self.slug!r}: a map sub-flow step has no handler; call flow.map(over=..., flow=child) "
                    "without decorating a function"
                )
            source = None if over is _ROOT else over
            return self._add_subflow(flow, "map", slug, [] if source is None else [source], options)

        def register(handler: F) -> F:
            source = None if over is _ROOT else over
            self._add(
                Step(
                    slug=slug or _default_slug(self.slug, handler),
                    handler=handler,
                    step_type="map",
                    depends_on=self._resolve([] if source is None else [source]),
                    options=_step_options(options),
                )
            )
            return handler

        return register(fn) if fn is not None else register

    def subflow(
        self,
        child_flow: Flow | str,
        *,
        slug: str | None = None,
        depends_on: Sequence[str | Callable[..., Any]] = (),
        max_attempts: int | None = None,
        timeout: float | None = None,
        if_: Any = None,
        if_not: Any = None,
        when_unmet: str | None = None,
        when_exhausted: str | None = None,
    ) -> str:
        """Declare a sub-flow step: it has no handler; its task starts a run of ``child_flow`` (a ``Flow``, or the
        slug of a flow defined elsewhere), on that flow's current version, with the step's input (the run input
        for a root step, else ``{dependency_slug: output}``), and completes with the child run's output. A failed
        or cancelled child fails the attempt; a retry (``max_attempts``) starts a new child run at once. ``timeout``
        (seconds) limits each child run; without it a child runs as long as it takes (the flow's timeout does not
        apply). Returns the step's slug (default: the child flow's slug), for ``depends_on`` of later steps.
        ``Client.define`` and ``Worker`` define and serve child ``Flow`` objects with their parent."""
        options = {
            "max_attempts": max_attempts,
            "timeout": timeout,
            "if_": if_,
            "if_not": if_not,
            "when_unmet": when_unmet,
            "when_exhausted": when_exhausted,
        }
        return self._add_subflow(child_flow, "single", slug, depends_on, options)

    def _add_subflow(
        self, child_flow: Flow | str, step_type: str, slug: str | None, depends_on: Any, options: Mapping[str, Any]
    ) -> str:
        if isinstance(child_flow, Flow):
            child_slug, child = child_flow.slug, child_flow
        elif isinstance(child_flow, str):
            child_slug, child = child_flow, None
        else:
            raise InvalidDefinition(
                f"flow {self.slug!r}: a sub-flow step's flow must be a pgflow.Flow or a flow slug, "
                f"got {type(child_flow).__name__}"
            )
        step = Step(
            slug=slug or child_slug,
            handler=None,
            step_type=step_type,
            depends_on=self._resolve(depends_on),
            options={**_step_options(options), "flow": child_slug},
            child=child,
        )
        check_conditions(self.slug, step, step.depends_on or ())
        self._steps.append(step)
        return step.slug

    def with_children(self) -> list[Flow]:
        """This flow and the child ``Flow`` objects of its sub-flow steps, recursively, each once, every child
        before the flows that contain it (the order to define them in). A child named by slug only is not
        included (it is defined elsewhere)."""
        ordered: list[Flow] = []
        seen: set[int] = set()

        def visit(flow: Flow, path: tuple[str, ...]) -> None:
            if id(flow) in seen:
                return
            if flow.slug in path:
                raise CycleDetected(f"flow {flow.slug!r} would contain itself: {' -> '.join((*path, flow.slug))}")
            for step in flow._steps:
                if step.child is not None:
                    visit(step.child, (*path, flow.slug))
            seen.add(id(flow))
            ordered.append(flow)

        visit(self, ())
        return ordered

    def wait(
        self,
        slug: str,
        *,
        depends_on: Sequence[str | Callable[..., Any]] | str | Callable[..., Any] = (),
        timeout: float | None = None,
        if_: Any = None,
        if_not: Any = None,
        when_unmet: str | None = None,
        when_exhausted: str | None = None,
    ) -> str:
        """Declare a wait step: no handler and no task for workers. Once its dependencies are done (and its
        condition met) it waits for ``Client.signal(run, slug, payload)`` (``pgflow.signal``); the payload becomes
        its output. A signal sent before the step is ready is kept and applied when it becomes ready. Returns the
        slug, for the ``depends_on`` of later steps (or ``over`` of a map step).

        ``timeout``: seconds it waits once ready (0.1 to 3,153,600,000); past it the step fails without retry and
        ``when_exhausted`` applies ("fail", "skip", "skip-cascade"). None: it waits for ever (the flow's timeout
        never applies to a wait step). ``if_``, ``if_not``, ``when_unmet``: conditions, as for ``step``, against
        the run input (a root wait step) or ``{dependency_slug: output}``. A wait step is never retried, delayed
        or flow-controlled, so it takes no other option. ``InvalidDefinition`` (PF001) for a bad condition
        here; the engine checks the rest when the flow is defined."""
        options = {
            "timeout": timeout,
            "if_": if_,
            "if_not": if_not,
            "when_unmet": when_unmet,
            "when_exhausted": when_exhausted,
        }
        self._add(
            Step(
                slug=slug,
                handler=None,
                step_type=WAIT,
                depends_on=self._resolve(depends_on),
                options=_step_options(options),
            )
        )
        return slug

    @classmethod
    def from_steps(
        cls,
        slug: str,
        steps: Iterable[tuple[str, Callable[..., Any]] | tuple[str, Callable[..., Any], Mapping[str, Any]]],
        **flow_options: Any,
    ) -> Flow:
        """The older tuple syntax: ``[("step1", f1), ("step2", f2, {"depends_on": ["step1"]}), ...]``.
        When no tuple names dependencies the steps form a chain, each depending on the one before."""
        flow = cls(slug, **flow_options)
        for item in steps:
            if len(item) == 2:
                step_slug, handler = item
                opts: Mapping[str, Any] = {}
            elif len(item) == 3:
                step_slug, handler, opts = item
            else:
                raise TypeError(f"a step tuple is (slug, handler) or (slug, handler, options), got {item!r}")
            opts = dict(opts)
            step_type = opts.pop("type", "single")
            depends_on = opts.pop("depends_on", None)
            flow._add(
                Step(
                    slug=str(step_slug),
                    handler=handler,
                    step_type=step_type,
                    depends_on=None if depends_on is None else flow._resolve(depends_on),
                    options=_step_options(opts),
                )
            )
        if all(step.depends_on is None for step in flow._steps):  # a chain: each depends on the one before
            for before, step in zip(flow._steps, flow._steps[1:]):
                check_conditions(flow.slug, step, [before.slug])
        return flow

    # ------------------------------------------------------------------------------------------------
    # Reading the flow
    # ------------------------------------------------------------------------------------------------
    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(self._steps)

    def get_step(self, step_slug: str) -> Step:
        for step in self._steps:
            if step.slug == step_slug:
                return step
        raise KeyError(f"flow {self.slug!r} has no step {step_slug!r}")

    def definition(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The arguments of ``pgflow.define_flow``: the steps array and the flow options."""
        return [step.to_json() for step in self._steps], dict(self.options)

    def __repr__(self) -> str:
        return f"Flow({self.slug!r}, steps={[s.slug for s in self._steps]})"

    # ------------------------------------------------------------------------------------------------
    def _add(self, step: Step) -> None:
        if step.step_type == WAIT and step.handler is not None:
            raise InvalidDefinition(
                f"step {self.slug}.{step.slug} is a wait step: it has no handler (Client.signal completes it)"
            )
        if step.handler is not None:
            check_handler(self.slug, step.slug, step.handler)
        options = check_flow_control(self.slug, step.slug, step.options)
        types = handler_types(step.handler)
        if types is not None:  # a typed step: its JSON Schemas go with its definition (python_client/pgflow/typed.py)
            try:
                options.update(types.schemas())
            except Exception as exc:  # noqa: BLE001 - pydantic's errors for a model that has no JSON Schema
                raise InvalidDefinition(
                    f"step {self.slug}.{step.slug}: its models have no JSON Schema to store with the step "
                    f"({type(exc).__name__}: {exc})"
                ) from exc
        step = dataclasses.replace(step, options=options)
        if step.depends_on is not None:
            check_conditions(self.slug, step, step.depends_on)
        self._steps.append(step)
        if step.handler is not None:
            self._slug_of[id(step.handler)] = step.slug

    def _resolve(self, deps: Any) -> tuple[str, ...]:
        if isinstance(deps, (str, bytes)) or callable(deps):
            deps = [deps]
        resolved = []
        for dep in deps:
            if isinstance(dep, str):
                resolved.append(dep)
            elif callable(dep):
                slug = self._slug_of.get(id(dep))
                resolved.append(slug if slug is not None else getattr(dep, "__name__", repr(dep)))
            else:
                raise TypeError(f"depends_on takes step slugs or decorated functions, got {dep!r}")
        return tuple(resolved)


def _schedules(flow_slug: str, schedules: Iterable[Schedule]) -> tuple[Schedule, ...]:
    """``Flow(schedules=...)`` as a tuple; InvalidDefinition for an item that is not a Schedule or a slug used
    twice."""
    if isinstance(schedules, (str, bytes, Schedule)):
        raise InvalidDefinition(f"flow {flow_slug}: schedules must be a list of pgflow.Schedule, got {schedules!r}")
    items = tuple(schedules)
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, Schedule):
            raise InvalidDefinition(f"flow {flow_slug}: schedules must hold pgflow.Schedule items, got {item!r}")
        if item.slug in seen:
            raise InvalidDefinition(f"flow {flow_slug}: two schedules have the slug {item.slug!r}")
        seen.add(item.slug)
    return items
