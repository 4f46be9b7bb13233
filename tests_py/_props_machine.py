"""A Hypothesis state machine over pgflow's SQL API (SPEC §3) on one connection with fake time (§3.7).

``PgflowMachine`` defines and redefines random flows, starts runs (with and without idempotency keys),
polls as several workers, completes and fails the tasks it was handed (with the current attempt, a stale
one or none; with and without ``retry => false``), heartbeats and stops workers, lets time pass deadlines
and worker timeouts, expires, cancels, resumes and prunes. Every call is valid in the sense of the API; the
order and the state it meets are arbitrary.

After every call it checks:

* the call succeeded, returned what SPEC §3 says for the state it met (``false`` for a refused report, the
  right PF code for an unknown or finished run), and never raised a SQLSTATE outside PF001–PF008;
* SPEC §6's invariants (``_invariants.violations``), and that no step or task left a terminal status except
  failed and cancelled ones of a run that ``resume_run`` was called on (``_invariants.terminal_changes``);
* the model of ``_props_model``: recorded outputs, attempt numbers, inputs handed out, retries, exhaustion
  modes, expiry, conditions and map fan-out.

A broken check raises a ``PropertyViolation`` subclass named after its signature (a short sentence that
names the rule, not the run), so Hypothesis keeps distinct failures apart and shrinks each one. The rule
methods can be called directly, which is how test_property_regressions.py replays the shortest sequences
Hypothesis found.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

import psycopg
from hypothesis import event, reject
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, multiple, precondition, rule
from psycopg.types.json import Jsonb

from ._invariants import statuses, terminal_changes, violations
from ._props_model import (
    BASE_TIME,
    OUTPUTS,
    RUN_INPUTS,
    WORKER_TIMEOUT_SECONDS,
    FlowDef,
    Model,
    RunModel,
    Snapshot,
    flow_definitions,
)

FLOW_SLUGS = ("f0", "f1")
WORKERS = ("w1", "w2", "w3")
IDEMPOTENCY_KEYS = ("k1", "k2")
TIME_STEPS = (0.001, 0.5, 1, 2, 5, 13, 31, 61, 301)
PRUNE_AGES = {"0 seconds": 0, "1 second": 1, "1 minute": 60, "1 hour": 3600}

_PF_SQLSTATE = re.compile(r"PF00[1-8]")


def _retry_choices() -> st.SearchStrategy[bool | None]:
    # PGFLOW_PROPS_API=0.1 points the machine at the released 0.1 engine, whose fail_task has no retry
    # parameter: it is then always omitted
    if os.environ.get("PGFLOW_PROPS_API") == "0.1":
        return st.just(None)
    return st.sampled_from((None, True, False))


RETRY_CHOICES = st.deferred(_retry_choices)
"""fail_task's retry argument: omitted (None), true or false."""

# The runtime tables the machine empties before each example (definitions included).
_TABLES = ("step_tasks", "step_states", "runs", "deps", "steps", "flows", "workers")


class PropertyViolation(AssertionError):
    """A broken check. ``signature`` names the rule that broke (the same for every occurrence)."""

    signature: ClassVar[str] = ""


_VIOLATION_CLASSES: dict[str, type[PropertyViolation]] = {}


def violation_class(signature: str) -> type[PropertyViolation]:
    """The PropertyViolation subclass of one signature (Hypothesis tells failures apart by type)."""
    cls = _VIOLATION_CLASSES.get(signature)
    if cls is None:
        name = "Violated_" + re.sub(r"\W+", "_", signature).strip("_")[:80]
        cls = type(name, (PropertyViolation,), {"signature": signature})
        _VIOLATION_CLASSES[signature] = cls
    return cls


@dataclass(frozen=True)
class Claim:
    """A task as a poll handed it out: the attempt number is the one a report may quote."""

    run_id: uuid.UUID
    step_slug: str
    task_index: int
    attempt: int

    @property
    def key(self) -> tuple[uuid.UUID, str, int]:
        """(run_id, step_slug, task_index)."""
        return (self.run_id, self.step_slug, self.task_index)


@dataclass
class Outcome:
    """What one call did: its rows or error, the tables before and after, and the problems found."""

    call: str
    rows: list[tuple[Any, ...]]
    error: psycopg.Error | None
    before: Snapshot
    after: Snapshot
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def sqlstate(self) -> str | None:
        """The error's SQLSTATE, or None when the call succeeded."""
        return None if self.error is None else self.error.sqlstate

    @property
    def value(self) -> Any:
        """The first column of the first row (None when there is none)."""
        return self.rows[0][0] if self.rows and self.rows[0] else None

    def problem(self, signature: str, detail: str) -> None:
        """Records a broken check."""
        self.problems.append((signature, detail))

    def expect(self, *allowed: str | None) -> bool:
        """Records a problem unless the call ended with one of ``allowed`` (None: success). Returns
        whether it did. A SQLSTATE outside the PF codes is already a problem of its own."""
        if self.sqlstate in allowed:
            return True
        if self.sqlstate is None or _PF_SQLSTATE.fullmatch(self.sqlstate):
            got = "success" if self.sqlstate is None else f"{self.sqlstate} ({_first_line(self.error)})"
            wanted = " or ".join("success" if a is None else a for a in allowed)
            self.problem(f"{self.call.split('(')[0]} answered {got.split(' ')[0]} where {wanted} was due", got)
        return False


def _note(text: str) -> None:
    """Counts an event for ``--hypothesis-show-statistics`` (nothing when a test replays rules directly)."""
    if currently_in_test_context():
        event(text)


def _first_line(error: BaseException | None) -> str:
    return "" if error is None else (str(error).splitlines() or [""])[0]


def reset(conn: psycopg.Connection[Any]) -> None:
    """Empties the pgflow tables and puts the session clock at BASE_TIME."""
    conn.execute("truncate " + ", ".join(f"pgflow.{t}" for t in _TABLES))
    conn.execute("select set_config('pgflow.fake_now', %s, false)", [BASE_TIME.isoformat()])
    conn.execute("select set_config('pgflow.worker_timeout', %s, false)", [f"{WORKER_TIMEOUT_SECONDS} seconds"])


class PgflowMachine(RuleBasedStateMachine):
    """The state machine; see the module docstring. Set ``PgflowMachine.conn`` (an autocommit connection,
    as a superuser so that fake time is honoured, to a database of its own) before running it."""

    conn: ClassVar[psycopg.Connection[Any] | None] = None
    # signatures already reported by a fuzzing session: an example that breaks one of them is dropped, so
    # that the search goes on for other kinds of failure
    known_signatures: ClassVar[set[str]] = set()

    runs = Bundle("runs")
    claims = Bundle("claims")

    def __init__(self) -> None:
        super().__init__()
        if self.conn is None:
            raise RuntimeError("PgflowMachine.conn is not set")
        self.db: psycopg.Connection[Any] = self.conn
        reset(self.db)
        self.model = Model()
        self.last_definition: dict[str, dict[str, Any]] = {}
        self.snap = Snapshot.load(self.db)
        self.statuses = statuses(self.db)

    # -------------------------------------------------------------------------------------------------
    # Calling and checking
    # -------------------------------------------------------------------------------------------------

    def _call(self, call: str, sql: str, params: Sequence[Any], resumed: Iterable[uuid.UUID] = ()) -> Outcome:
        before_statuses = self.statuses  # nothing but calls changes them
        rows: list[tuple[Any, ...]] = []
        error: psycopg.Error | None = None
        try:
            rows = self.db.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            if exc.sqlstate is None:
                raise  # the connection itself failed: not a finding about the engine
            error = exc
        after = Snapshot.load(self.db)
        outcome = Outcome(call, rows, error, self.snap, after)
        self.snap = after
        if error is not None and not _PF_SQLSTATE.fullmatch(error.sqlstate or ""):
            outcome.problem(f"{call.split('(')[0]} raised SQLSTATE {error.sqlstate}", _first_line(error))
        self.statuses = statuses(self.db)
        for change in terminal_changes(before_statuses, self.statuses, resumed):
            kind, _, rest = change.partition(" ")
            old = rest.split("went from terminal status ")[-1].split(" to ")[0]
            outcome.problem(f"a {kind} left terminal status {old}", change)
        for broken in violations(self.db):
            name, _, detail = broken.partition(": run ")
            outcome.problem("invariant: " + name, "run " + detail)
        return outcome

    def _settle(self, outcome: Outcome) -> None:
        """Adds the model's checks of the tables after the call and raises for every problem found."""
        name = outcome.call.split("(")[0]
        _note(f"{name}: {'ok' if outcome.error is None else outcome.sqlstate}")  # --hypothesis-show-statistics
        outcome.problems += self.model.check(outcome.after)
        if not outcome.problems:
            return
        signatures = [s for s, _ in outcome.problems]
        if any(s in self.known_signatures for s in signatures):
            reject()
        result = outcome.rows if outcome.error is None else f"{outcome.sqlstate}: {_first_line(outcome.error)}"
        lines = [f"{outcome.call} at {self.model.now.isoformat()} -> {result}"]
        lines += [f"  - {s}: {d}" for s, d in outcome.problems]
        raise violation_class(signatures[0])("\n".join(lines))

    def _set_time(self) -> None:
        self.db.execute("select set_config('pgflow.fake_now', %s, false)", [self.model.now.isoformat()])

    def _has_open_tasks(self) -> bool:
        """Whether a task is queued or started (what polls are for; polls expire started ones)."""
        return any(t.status in ("queued", "started") for t in self.snap.tasks.values())

    def _report_kind(self, claim: Claim, fenced: bool) -> str:
        """What SPEC §3.3 says a report of ``claim`` must get, from the tables before it: "missing" (PF007),
        "refused" (false, nothing changes), "fresh" (true), or "either" (the attempt's deadline or its
        worker's timeout has passed but nothing expired it yet)."""
        task = self.snap.tasks.get(claim.key)
        if task is None:
            return "missing"
        run = self.snap.runs[claim.run_id]
        if run.status != "started" or task.status != "started" or (fenced and task.attempt != claim.attempt):
            return "refused"
        if task.deadline is None or task.deadline <= self.model.now or self.model.maybe_stale(task.worker_id):
            return "either"
        return "fresh"

    def _check_refused_unchanged(self, outcome: Outcome, claim: Claim) -> None:
        if outcome.before.run_part(claim.run_id) != outcome.after.run_part(claim.run_id):
            outcome.problem("a refused report changed its run", f"{claim}")

    def _check_expired(self, outcome: Outcome) -> None:
        """After an expiry pass: no started attempt is past its deadline or held by a silent worker."""
        for key, task in outcome.after.tasks.items():
            if task.status != "started":
                continue
            if task.deadline is not None and task.deadline <= self.model.now:
                outcome.problem("an attempt past its deadline survived expiry", f"task {key}: {task}")
            elif self.model.surely_stale(task.worker_id):
                outcome.problem("an attempt of a silent worker survived expiry", f"task {key}: {task}")

    def _record_completion(self, outcome: Outcome, claim: Claim, output: Any) -> None:
        task = self.model.task(claim.key)
        if task.completed:
            outcome.problem("a task was completed twice", f"{claim} (first output {task.output!r})")
        else:
            task.output = output

    # -------------------------------------------------------------------------------------------------
    # Definitions
    # -------------------------------------------------------------------------------------------------

    def _define(self, flow_slug: str, definition: dict[str, Any]) -> Any:
        parsed = FlowDef.parse(definition)
        outcome = self._call(
            f"define_flow({flow_slug!r}, {definition!r})",
            "select version from pgflow.define_flow(%s, %s, %s)",
            [flow_slug, Jsonb(definition["steps"]), Jsonb(definition["options"])],
        )
        if outcome.expect(None):
            version = int(outcome.value)
            known = self.model.versions.setdefault(flow_slug, {})
            newest = max(known, default=0)
            same = [v for v, d in known.items() if d.normalized == parsed.normalized]
            same_meaning = [v for v, d in known.items() if d.effective == parsed.effective]
            if newest in same:
                allowed = {newest}
            elif same:
                allowed = {*same, newest + 1}  # an older version's definition: that version, or a new one
            else:
                allowed = {newest + 1, *same_meaning}
            if version not in allowed:
                outcome.problem(
                    "define_flow returned the wrong version", f"version {version}, expected one of {sorted(allowed)}"
                )
            elif version == newest + 1:
                known[version] = parsed
            self.last_definition[flow_slug] = definition
        self._settle(outcome)

    @initialize(target=runs, definition=flow_definitions(), run_input=st.sampled_from(RUN_INPUTS))
    def first_run(self, definition: dict[str, Any], run_input: Any) -> Any:
        """Defines flow f0 and starts a run of it, so that every example has work from its first step."""
        self._define(FLOW_SLUGS[0], definition)
        return self.start_run(FLOW_SLUGS[0], run_input, None)

    @rule(flow=st.sampled_from(FLOW_SLUGS), definition=flow_definitions())
    def define_flow(self, flow: str, definition: dict[str, Any]) -> None:
        """Defines a flow, or redefines one (a new version; runs in flight keep theirs)."""
        self._define(flow, definition)

    @rule(flow=st.sampled_from(FLOW_SLUGS))
    def define_flow_again(self, flow: str) -> None:
        """Sends the last definition of a flow again: idempotent, the same version comes back (a flow not
        defined yet is left alone)."""
        if flow in self.last_definition:
            self._define(flow, self.last_definition[flow])

    # -------------------------------------------------------------------------------------------------
    # Runs
    # -------------------------------------------------------------------------------------------------

    @rule(
        target=runs,
        flow=st.sampled_from(FLOW_SLUGS),
        run_input=st.sampled_from(RUN_INPUTS),
        idempotency_key=st.one_of(st.none(), st.sampled_from(IDEMPOTENCY_KEYS)),
    )
    def start_run(self, flow: str, run_input: Any, idempotency_key: str | None) -> Any:
        """start_run with a run_id of the model's (deterministic) and maybe an idempotency key; PF004 for a
        flow not defined yet."""
        if flow not in self.model.versions:
            outcome = self._call(
                f"start_run({flow!r}, {run_input!r})",
                "select run_id from pgflow.start_run(flow_slug => %s, input => %s)",
                [flow, Jsonb(run_input)],
            )
            if outcome.expect("PF004") and outcome.after != outcome.before:
                outcome.problem("a refused start_run wrote something", "the tables changed")
            self._settle(outcome)
            return multiple()
        version = self.model.current_version(flow)
        definition = self.model.versions[flow][version]
        bad_input = definition.root_map() is not None and not isinstance(run_input, list)
        existing = [
            r
            for r in self.model.runs.values()
            if idempotency_key is not None
            and r.flow_slug == flow
            and r.idempotency_key == idempotency_key
            and not r.pruned
        ]
        run_id = self.model.new_run_id()
        outcome = self._call(
            f"start_run({flow!r}, {run_input!r}, idempotency_key={idempotency_key!r})",
            "select run_id, flow_version from pgflow.start_run(flow_slug => %s, input => %s, run_id => %s,"
            " idempotency_key => %s)",
            [flow, Jsonb(run_input), run_id, idempotency_key],
        )
        result: Any = multiple()
        if existing:
            # the same key returns the first run and creates nothing (an input the flow refuses may be
            # refused first)
            if outcome.expect(None, "PF005") if bad_input else outcome.expect(None):
                if outcome.error is None and outcome.rows[0][0] != existing[0].run_id:
                    outcome.problem("an idempotency key started a second run", f"{outcome.rows[0]} vs {existing[0]}")
                if set(outcome.after.runs) != set(outcome.before.runs):
                    outcome.problem("an idempotency key started a second run", "the runs changed")
        elif bad_input:
            if outcome.expect("PF005") and outcome.after != outcome.before:
                outcome.problem("a refused start_run wrote something", "the tables changed")
        elif outcome.expect(None):
            returned_id, returned_version = outcome.rows[0]
            if returned_id != run_id or returned_version != version:
                outcome.problem(
                    "start_run did not start the current version with the given run_id",
                    f"got {outcome.rows[0]}, expected ({run_id}, {version})",
                )
            self.model.runs[run_id] = RunModel(run_id, flow, returned_version, run_input, idempotency_key)
            result = run_id
        self._settle(outcome)
        return result

    @rule(run=runs, reason=st.one_of(st.none(), st.just("stopped by the tests")))
    def cancel_run(self, run: uuid.UUID, reason: str | None) -> None:
        """cancel_run on a run in any state (SPEC §3.2)."""
        before = self.snap.runs.get(run)
        outcome = self._call(f"cancel_run({run})", "select status from pgflow.cancel_run(%s, %s)", [run, reason])
        if before is None:
            outcome.expect("PF006")
        elif before.status == "started":
            if outcome.expect(None) and (outcome.value != "cancelled" or outcome.after.runs[run].status != "cancelled"):
                outcome.problem("cancel_run did not cancel a started run", f"returned {outcome.value}")
        elif before.status == "cancelled":
            if outcome.expect(None) and outcome.before.run_part(run) != outcome.after.run_part(run):
                outcome.problem("cancelling a cancelled run changed it", str(run))
        elif outcome.expect("PF008") and outcome.before.run_part(run) != outcome.after.run_part(run):
            outcome.problem("a refused cancel_run changed its run", str(run))
        self._settle(outcome)

    @rule(run=runs)
    def resume_run(self, run: uuid.UUID) -> None:
        """resume_run on a run in any state (SPEC §3.2, §6)."""
        before = self.snap.runs.get(run)
        outcome = self._call(f"resume_run({run})", "select status from pgflow.resume_run(%s)", [run], resumed=[run])
        if before is None:
            outcome.expect("PF006")
        elif before.status in ("failed", "cancelled"):
            if outcome.expect(None):
                for key, model_task in self.model.tasks.items():
                    if key[0] == run:
                        model_task.since_resume = 0
                _note(f"resume_run: {before.status} -> {outcome.after.runs[run].status}")
                if outcome.after.runs[run].status == "started":
                    for key, task in outcome.before.tasks.items():
                        step_after = outcome.after.steps.get((key[0], key[1]))
                        if (
                            key[0] == run
                            and task.status in ("failed", "cancelled")
                            and step_after is not None
                            and step_after.status != "skipped"
                            and outcome.after.tasks[key].status != "queued"
                        ):
                            outcome.problem(
                                "resume_run did not queue a failed or cancelled task again",
                                f"task {key} is {outcome.after.tasks[key].status}",
                            )
        elif outcome.expect("PF008") and outcome.before.run_part(run) != outcome.after.run_part(run):
            outcome.problem("a refused resume_run changed its run", str(run))
        self._settle(outcome)

    @rule(older_than=st.sampled_from(tuple(PRUNE_AGES)))
    @precondition(lambda self: any(r.finished_at is not None for r in self.snap.runs.values()))
    def prune_runs(self, older_than: str) -> None:
        """prune_runs: exactly the runs that finished more than older_than ago go, with their rows."""
        limit = self.model.now - timedelta(seconds=PRUNE_AGES[older_than])
        due = {r for r, row in self.snap.runs.items() if row.finished_at is not None and row.finished_at < limit}
        outcome = self._call(f"prune_runs({older_than!r})", "select pgflow.prune_runs(%s::interval)", [older_than])
        if outcome.expect(None):
            if outcome.value != len(due) or set(outcome.after.runs) != set(outcome.before.runs) - due:
                outcome.problem(
                    "prune_runs did not delete exactly the runs finished before the limit",
                    f"returned {outcome.value}, due {sorted(map(str, due))}",
                )
            left = {k[0] for k in (*outcome.after.steps, *outcome.after.tasks)} & due
            if left:
                outcome.problem("prune_runs left step states or tasks behind", f"{sorted(map(str, left))}")
            for run_id in due:
                self.model.runs[run_id].pruned = True
        self._settle(outcome)

    # -------------------------------------------------------------------------------------------------
    # Workers
    # -------------------------------------------------------------------------------------------------

    @rule(
        target=claims,
        worker=st.sampled_from(WORKERS),
        max_tasks=st.sampled_from((1, 2, 10)),
        flow=st.one_of(st.none(), st.sampled_from(FLOW_SLUGS)),
    )
    @precondition(lambda self: self._has_open_tasks())
    def poll(self, worker: str, max_tasks: int, flow: str | None) -> Any:
        """poll_for_tasks, of every flow or of one."""
        return multiple(*self._poll(worker, max_tasks, None if flow is None else [flow]))

    def _poll(self, worker: str, max_tasks: int, flow_slugs: list[str] | None) -> list[Claim]:
        """poll_for_tasks: checks every task handed out (due, of a started run, a higher attempt than any
        before, the input of SPEC §3.3, deadline now + timeout) and that nothing due was left behind."""
        outcome = self._call(
            f"poll_for_tasks({worker!r}, {flow_slugs!r}, {max_tasks})",
            "select run_id, flow_slug, step_slug, task_index, attempt, input, flow_input, deadline"
            " from pgflow.poll_for_tasks(%s, %s, %s)",
            [worker, flow_slugs, max_tasks],
        )
        self.model.worker(worker).last_sign = self.model.now
        claims: list[Claim] = []
        if outcome.expect(None):
            if len(outcome.rows) > max_tasks:
                outcome.problem("poll_for_tasks handed out more than max_tasks", f"{len(outcome.rows)}")
            for run_id, flow_slug, step_slug, index, attempt, task_input, flow_input, deadline in outcome.rows:
                claim = Claim(run_id, step_slug, index, attempt)
                claims.append(claim)
                self._check_claim(outcome, claim, worker, flow_slugs, flow_slug, task_input, flow_input, deadline)
            if len(outcome.rows) < max_tasks:
                left = [
                    k
                    for k, t in outcome.after.tasks.items()
                    if t.status == "queued"
                    and t.visible_at <= self.model.now
                    and outcome.after.runs[k[0]].status == "started"
                    and (flow_slugs is None or outcome.after.runs[k[0]].flow_slug in flow_slugs)
                ]
                if left:
                    outcome.problem("poll_for_tasks left due tasks behind", f"{left}")
            self._check_expired(outcome)
        self._settle(outcome)
        return claims

    def _check_claim(
        self,
        outcome: Outcome,
        claim: Claim,
        worker: str,
        flow_slugs: list[str] | None,
        flow_slug: str,
        task_input: Any,
        flow_input: Any,
        deadline: Any,
    ) -> None:
        key = claim.key
        # a task created during the poll (its expiry pass skipped a step and started the next) has no row before
        before = outcome.before.tasks.get(key)
        run = self.model.runs.get(claim.run_id)
        if run is None or run.pruned or (before is None and key not in outcome.after.tasks):
            outcome.problem("poll_for_tasks handed out a task that does not exist", f"{claim}")
            return
        if outcome.before.runs[claim.run_id].status != "started":
            outcome.problem("poll_for_tasks handed out a task of a run that is not started", f"{claim}")
        if flow_slugs is not None and flow_slug not in flow_slugs:
            outcome.problem("poll_for_tasks handed out a task of a flow it was not asked for", f"{claim}")
        if before is not None and (
            before.status not in ("queued", "started")
            or (before.status == "queued" and before.visible_at > self.model.now)
        ):
            outcome.problem("poll_for_tasks handed out a task that was not due", f"{claim}: before {before}")
        task = self.model.task(key)
        if task.completed:
            outcome.problem("poll_for_tasks handed out a completed task", f"{claim}")
        if task.attempts and claim.attempt <= max(task.attempts):
            outcome.problem(
                "an attempt number was handed out twice", f"{claim}: attempts handed out before {task.attempts}"
            )
        expected_input = self.model.task_input(outcome.after, key)
        if task_input != expected_input:
            outcome.problem(
                "poll_for_tasks handed out the wrong input", f"{claim}: {task_input!r}, expected {expected_input!r}"
            )
        if flow_input != run.input:
            outcome.problem("poll_for_tasks handed out the wrong flow_input", f"{claim}: {flow_input!r}")
        step = self.model.step(claim.run_id, claim.step_slug)
        if deadline != self.model.now + timedelta(seconds=float(step.timeout)):
            outcome.problem("a claim's deadline is not now + timeout", f"{claim}: {deadline}, timeout {step.timeout}")
        after = outcome.after.tasks.get(key)
        if after is None or (after.status, after.attempt, after.worker_id) != ("started", claim.attempt, worker):
            outcome.problem("a claimed task is not started by its worker", f"{claim}: after {after}")
        task.attempts.append(claim.attempt)
        task.since_resume += 1

    @rule(claim=claims, output=st.sampled_from(OUTPUTS), fenced=st.booleans())
    def complete_task(self, claim: Claim, output: Any, fenced: bool) -> None:
        """complete_task with the claim's attempt (fenced) or none."""
        self._complete(claim, output, fenced)

    def _complete(self, claim: Claim, output: Any, fenced: bool) -> None:
        """complete_task: true for a started task of a started run at its current attempt, false changing
        nothing otherwise, PF007 for a pruned one."""
        kind = self._report_kind(claim, fenced)
        attempt = claim.attempt if fenced else None
        outcome = self._call(
            f"complete_task({claim}, {output!r}, attempt={attempt})",
            "select pgflow.complete_task(%s, %s, %s, %s, %s)",
            [claim.run_id, claim.step_slug, claim.task_index, Jsonb(output), attempt],
        )
        if kind == "missing":
            outcome.expect("PF007")
        elif outcome.expect(None):
            self._check_report_result(outcome, claim, kind, outcome.value)
            if outcome.value is True:
                self._record_completion(outcome, claim, output)
        self._settle(outcome)

    def _check_report_result(self, outcome: Outcome, claim: Claim, kind: str, result: Any) -> None:
        _note(f"{outcome.call.split('(')[0]}: {kind} report -> {result}")
        if kind == "refused":
            if result is not False:
                outcome.problem("a stale or finished report was not refused", f"{claim} -> {result}")
            else:
                self._check_refused_unchanged(outcome, claim)
        elif kind == "fresh" and result is not True:
            outcome.problem("a report of the current attempt was refused", f"{claim} -> {result}")
        elif kind == "either" and result not in (True, False):
            outcome.problem("a report returned neither true nor false", f"{claim} -> {result}")

    @rule(
        batch=st.lists(claims, min_size=1, max_size=4, unique_by=lambda c: c.key),
        outputs=st.lists(st.sampled_from(OUTPUTS), min_size=4, max_size=4),
        fenced=st.booleans(),
    )
    def complete_tasks(self, batch: list[Claim], outputs: list[Any], fenced: bool) -> None:
        """complete_tasks over up to four claims: one result per report, as complete_task would give it
        (a report may go either way when the batch also completes another step of its run, which may end
        the run first); null for a pruned task."""
        kinds = [self._report_kind(c, fenced) for c in batch]
        outputs = outputs[: len(batch)]
        attempts = [c.attempt for c in batch] if fenced else None
        outcome = self._call(
            f"complete_tasks({batch}, {outputs!r}, attempts={attempts})",
            "select pgflow.complete_tasks(%s::uuid[], %s::text[], %s::int[], %s::jsonb[], %s::int[])",
            [
                [c.run_id for c in batch],
                [c.step_slug for c in batch],
                [c.task_index for c in batch],
                [Jsonb(o) for o in outputs],
                attempts,
            ],
        )
        if outcome.expect(None):
            results = outcome.value
            if not isinstance(results, list) or len(results) != len(batch):
                outcome.problem("complete_tasks did not return one result per report", f"{results!r}")
            else:
                for claim, kind, output, result in zip(batch, kinds, outputs, results):
                    others = {c.step_slug for c in batch if c.run_id == claim.run_id} - {claim.step_slug}
                    # a report recorded beside it may end the run, which cancels the refused one's task
                    run_moved = any(r is True for c, r in zip(batch, results) if c.run_id == claim.run_id)
                    if kind == "missing":
                        if result is not None:
                            outcome.problem("complete_tasks answered a pruned task", f"{claim} -> {result}")
                        continue
                    if kind == "refused":
                        if result is not False:
                            outcome.problem("a stale or finished report was not refused", f"{claim} -> {result}")
                        elif not run_moved and outcome.before.tasks[claim.key] != outcome.after.tasks[claim.key]:
                            outcome.problem("a refused report changed its task", f"{claim}")
                    else:
                        self._check_report_result(outcome, claim, "either" if others else kind, result)
                    if result is True:
                        self._record_completion(outcome, claim, output)
        self._settle(outcome)

    @rule(claim=claims, retry=RETRY_CHOICES, fenced=st.booleans())
    def fail_task(self, claim: Claim, retry: bool | None, fenced: bool) -> None:
        """fail_task with the claim's attempt (fenced) or none, with retry omitted, true or false."""
        self._fail(claim, retry, fenced)

    def _fail(self, claim: Claim, retry: bool | None, fenced: bool) -> None:
        """fail_task, fenced like complete_task. A fresh failure with attempts left queues the task after
        the retry delay of SPEC §2; otherwise (or with retry => false) when_exhausted applies."""
        kind = self._report_kind(claim, fenced)
        attempt = claim.attempt if fenced else None
        params: list[Any] = [claim.run_id, claim.step_slug, claim.task_index, "handler raised", attempt]
        sql = "select pgflow.fail_task(%s, %s, %s, %s, %s)"
        if retry is not None:
            sql = "select pgflow.fail_task(%s, %s, %s, %s, %s, retry => %s)"
            params.append(retry)
        outcome = self._call(f"fail_task({claim}, attempt={attempt}, retry={retry})", sql, params)
        if kind == "missing":
            outcome.expect("PF007")
        elif outcome.expect(None):
            self._check_report_result(outcome, claim, kind, outcome.value)
            if kind == "fresh" and outcome.value is True:
                self._check_failure(outcome, claim, retry)
        self._settle(outcome)

    def _check_failure(self, outcome: Outcome, claim: Claim, retry: bool | None) -> None:
        step = self.model.step(claim.run_id, claim.step_slug)
        failed = self.model.task(claim.key).since_resume
        task = outcome.after.tasks[claim.key]
        step_row = outcome.after.steps[(claim.run_id, claim.step_slug)]
        run_row = outcome.after.runs[claim.run_id]
        attempt = outcome.before.tasks[claim.key].attempt  # the attempt that failed (the claim's, when fenced)
        retried = retry is not False and failed < step.max_attempts
        _note(f"fail_task: {'retried' if retried else 'exhausted, when_exhausted ' + step.when_exhausted}")
        if retried:
            visible = self.model.now + timedelta(seconds=float(step.retry_delay(failed)))
            if (task.status, task.attempt, task.visible_at) != ("queued", attempt, visible):
                outcome.problem(
                    "a failed attempt with attempts left was not queued after the retry delay",
                    f"{claim}: {task}, expected queued at {visible} (failed attempts {failed} of {step.max_attempts})",
                )
            return
        if task.status in ("queued", "started"):
            outcome.problem("an exhausted or non-retryable task was queued again", f"{claim}: {task}")
        if step.when_exhausted == "fail":
            if (run_row.status, step_row.status) != ("failed", "failed"):
                outcome.problem(
                    "when_exhausted fail did not fail the step and the run",
                    f"{claim}: step {step_row.status}, run {run_row.status}",
                )
            return
        # (the run may still fail in the same cascade: a dependent's condition unmet with when_unmet "fail")
        if step_row.status != "skipped":
            outcome.problem(
                f"when_exhausted {step.when_exhausted} did not skip the step",
                f"{claim}: step {step_row.status}, run {run_row.status}",
            )
        if step.when_exhausted == "skip-cascade":
            flow = self.model.flow(claim.run_id)
            for slug in flow.dependents(claim.step_slug):
                row = outcome.after.steps.get((claim.run_id, slug))
                if row is not None and row.status != "skipped":
                    outcome.problem("skip-cascade left a downstream step unskipped", f"{claim}: {slug} {row.status}")

    @rule(
        target=claims,
        worker=st.sampled_from(WORKERS),
        max_tasks=st.sampled_from((1, 2, 10)),
        outcomes=st.lists(
            st.one_of(
                st.just(("leave",)),
                st.tuples(st.just("complete"), st.sampled_from(OUTPUTS)),
                st.tuples(st.just("fail"), RETRY_CHOICES),
            ),
            max_size=10,
        ),
    )
    @precondition(lambda self: self._has_open_tasks())
    def work(self, worker: str, max_tasks: int, outcomes: list[tuple[Any, ...]]) -> Any:
        """A worker's turn: polls every flow, then reports the i-th task handed out as ``outcomes[i]`` says
        (``("complete", output)``, ``("fail", retry)``, or ``("leave",)`` to leave it running; missing
        entries leave), quoting the attempt it was given. Each call is checked as on its own."""
        claims = self._poll(worker, max_tasks, None)
        for claim, what in zip(claims, outcomes):
            if what[0] == "complete":
                self._complete(claim, what[1], True)
            elif what[0] == "fail":
                self._fail(claim, what[1], True)
        return multiple(*claims)

    # Hypothesis picks among the usable rules uniformly: a worker's turn is listed three times (the same rule,
    # printed as "work"), so that runs make progress between the calls that control them.
    work_again = work
    work_once_more = work

    @rule(worker=st.sampled_from(WORKERS))
    def heartbeat(self, worker: str) -> None:
        """heartbeat: registers the worker (with this session's worker_timeout)."""
        outcome = self._call(f"heartbeat({worker!r})", "select pgflow.heartbeat(%s)", [worker])
        if outcome.expect(None):
            state = self.model.worker(worker)
            state.registered = True
            state.last_sign = self.model.now
        self._settle(outcome)

    @rule(worker=st.sampled_from(WORKERS))
    def stop_worker(self, worker: str) -> None:
        """stop_worker, with or without tasks in hand."""
        outcome = self._call(f"stop_worker({worker!r})", "select pgflow.stop_worker(%s)", [worker])
        if outcome.expect(None):
            self.model.worker(worker).registered = False
        self._settle(outcome)

    @rule(seconds=st.sampled_from(TIME_STEPS))
    def advance_time(self, seconds: float) -> None:
        """Moves the fake clock forward (past deadlines, retry delays and worker timeouts)."""
        self.model.now += timedelta(seconds=seconds)
        self._set_time()

    @rule()
    @precondition(lambda self: any(t.status == "started" for t in self.snap.tasks.values()))
    def expire_tasks(self) -> None:
        """expire_tasks: every attempt past its deadline (and of a silent worker) counts as failed. It returns
        how many it expired: at least one when one was overdue, at most the attempts that were running (one
        expiry may end the run and cancel the others)."""
        overdue = sum(
            1
            for t in self.snap.tasks.values()
            if t.status == "started" and t.deadline is not None and t.deadline <= self.model.now
        )
        running = sum(1 for t in self.snap.tasks.values() if t.status == "started")
        outcome = self._call("expire_tasks()", "select pgflow.expire_tasks()", [])
        if outcome.expect(None):
            if not isinstance(outcome.value, int) or not min(overdue, 1) <= outcome.value <= running:
                outcome.problem(
                    "expire_tasks miscounted the attempts it expired",
                    f"returned {outcome.value}; {overdue} overdue of {running} running",
                )
            self._check_expired(outcome)
        self._settle(outcome)
