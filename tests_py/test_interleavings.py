"""Every pair of concurrent writers on the same rows, in every interleaving, with PostgreSQL's isolation tester.

Each spec of tests_sql/isolation pairs two calls that write the same rows (definition writers and start_run,
task reports and cancel_run / resume_run / expiry, the last reports of a step, prune_runs and resume_run,
start_run twice, cancel_run and resume_run, stop_worker and a report, …). Each session makes its call in a
transaction (``begin; <call>`` then ``commit``) or, in the other variants, in autocommit; the isolation tester
runs every permutation of the two sessions' steps and lets a step wait for a lock the other session holds.
(``begin`` shares a step with the call: in READ COMMITTED it takes no snapshot and no lock, so where it falls
among the other session's steps changes nothing.)

Every permutation must end with SPEC §6's invariants holding (tests_py/_invariants.py, on a copy of the
pgflow tables taken at its end) and every call having returned a value (false included) or raised a PF
SQLSTATE: never a constraint violation (23xxx), a deadlock (40P01), a serialization failure or any other
SQLSTATE. The permutation must also be equivalent to one of the two serial orders (all of one session, then
all of the other: the first and the last permutation): the same outcomes, and the same rows in every pgflow
table, except where a call skips busy rows by design (a poll, expire_tasks, stop_worker), whose own outcome
and whose effect on the tables may differ. Where the contract says more about a pair (one of two duplicate
reports is recorded; two start_run with one run_id make one run and a PF008), EXPECTED checks it too.

The specs run in six fresh databases at once (most of the time goes to the tester's wait before it cancels a
step of a permutation that cannot happen, which costs no CPU).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from queue import Queue

import psycopg
import pytest

import pgflow

from . import _interleave as il
from .conftest import scratch_database

SPECS = sorted(il.SPEC_DIR.glob("*.spec"))
CASES = [(spec.stem, variant) for spec in SPECS for variant in il.VARIANTS]
LANES = 6

Case = tuple[str, str]
Outcomes = dict[str, str]


# ---------------------------------------------------------------------------------------------------------
# What the contract says about the outcomes of some pairs, whatever the order
# ---------------------------------------------------------------------------------------------------------


def _exactly_one(value: str) -> Callable[[Outcomes], list[str]]:
    def check(outcomes: Outcomes) -> list[str]:
        hits = [name for name, outcome in outcomes.items() if outcome == value]
        return [] if len(hits) == 1 else [f"expected exactly one call to give {value}, got {outcomes}"]

    return check


def _all(*values: str) -> Callable[[Outcomes], list[str]]:
    def check(outcomes: Outcomes) -> list[str]:
        wrong = {n: o for n, o in outcomes.items() if not any(o == v or o.startswith(v + ":") for v in values)}
        return [] if not wrong else [f"expected every call to give one of {values}, got {wrong}"]

    return check


def _one_each(*values: str) -> Callable[[Outcomes], list[str]]:
    def check(outcomes: Outcomes) -> list[str]:
        kinds = sorted(next((v for v in values if o == v or o.startswith(v + ":")), o) for o in outcomes.values())
        return [] if kinds == sorted(values) else [f"expected one call to give each of {values}, got {outcomes}"]

    return check


def _same_run(outcomes: Outcomes) -> list[str]:
    values = set(outcomes.values())
    if len(values) == 1 and next(iter(values)).startswith("ok:") and "ok:null" not in values:
        return []
    return [f"expected both calls to return the same run, got {outcomes}"]


def _late_report_refused(outcomes: Outcomes) -> list[str]:
    # a late report of a task of an ended run is refused, and still refused once a resume queued the task again
    problems = _exactly_one("ok:started")(outcomes)
    reports = {n: o for n, o in outcomes.items() if not n.startswith("resume")}
    if set(reports.values()) - {"ok:false"}:
        problems.append(f"a late report was not refused: {reports}")
    return problems


def _versions_2_and_3(outcomes: Outcomes) -> list[str]:
    got = sorted(outcomes.values())
    return [] if got == ["ok:2", "ok:3"] else [f"expected versions 2 and 3, got {outcomes}"]


EXPECTED: dict[str, Callable[[Outcomes], list[str]]] = {
    "complete_task-complete_task_same_task": _one_each("ok:true", "ok:false"),
    "complete_task-fail_task_same_task": _one_each("ok:true", "ok:false"),
    "fail_map_task-fail_map_task": _one_each("ok:true", "ok:false"),
    "complete_map_task-complete_map_task": _all("ok:true"),
    "complete_branch-complete_branch": _all("ok:true"),
    "complete_branch-fail_branch_skip": _all("ok:true"),
    "start_run-start_run_same_run_id": _one_each("ok", "sqlstate:PF008"),
    "start_run-start_run_same_idempotency_key": _same_run,
    "define_flow-define_flow": _versions_2_and_3,
    "add_step-add_step": _all("ok"),
    "cancel_run-cancel_run": _all("ok:cancelled"),
    "resume_run-resume_run": _one_each("ok:started", "sqlstate:PF008"),
    "complete_task-resume_run": _late_report_refused,
    "complete_task-resume_failed_run": _late_report_refused,
    "fail_task-resume_run": _late_report_refused,
    "fail_task_no_retry-resume_run": _late_report_refused,
    "complete_task-prune_runs": _all("ok:false", "sqlstate:PF007", "ok:1"),
    "complete_tasks-complete_tasks_same_tasks": _one_each("ok:{t,t}", "ok:{f,f}"),
}


# ---------------------------------------------------------------------------------------------------------
# Running the specs
# ---------------------------------------------------------------------------------------------------------


@dataclass
class PermutationResult:
    """One permutation: its number, steps, what the tester printed, and every problem found."""

    number: int
    record: il.PermutationRecord
    problems: list[str] = field(default_factory=list)


@dataclass
class CaseResult:
    """One variant of one spec run by the tester: the problems of the run itself and of each permutation."""

    spec_name: str
    variant: str
    spec_text: str
    seconds: float = 0.0
    run_problems: list[str] = field(default_factory=list)
    permutations: list[PermutationResult] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        """One line per problem, naming the permutation it is in."""
        found = list(self.run_problems)
        for p in self.permutations:
            found += [f"permutation {p.number} ({' '.join(p.record.steps)}): {problem}" for problem in p.problems]
        return found

    def report(self) -> str:
        """The failed permutations with their problems and what the tester printed for them."""
        parts = [f"{self.spec_name} [{self.variant}], {len(self.permutations)} permutations, {self.seconds:.1f} s"]
        parts += [f"  {problem}" for problem in self.run_problems]
        for p in self.permutations:
            if p.problems:
                parts.append(f"\npermutation {p.number}: {' '.join(p.record.steps)}")
                parts += [f"  PROBLEM: {problem}" for problem in p.problems]
                parts += [f"    | {line}" for line in p.record.lines]
        return "\n".join(parts)


def _outcomes(spec: il.Spec, record: il.PermutationRecord) -> Outcomes:
    return {
        name: r.outcome
        for name, r in record.records.items()
        if not il.is_commit(spec.step(name)) and r.outcome is not None
    }


# Calls that skip busy rows or a busy lock by design (FOR UPDATE SKIP LOCKED, pg_try_advisory_xact_lock): what
# they leave depends on what the other session holds at that moment, not only on the order of the commits, and
# what a poll claims depends on what it can already see.
SKIPS_BUSY_WORK = ("pgflow.poll_for_tasks(", "pgflow.expire_tasks(", "pgflow.stop_worker(")


def _comparable(spec: il.Spec, outcomes: Outcomes, run_id: str) -> Outcomes:
    # errors by SQLSTATE; values with random run ids made equal; what a poll claimed left out
    found = {}
    for name, outcome in outcomes.items():
        kind, _, rest = outcome.partition(":")
        if kind == "sqlstate":
            found[name] = "sqlstate:" + rest.partition(":")[0]
        elif "pgflow.poll_for_tasks(" in spec.step(name).sql:
            found[name] = kind
        else:
            found[name] = il.normalized(outcome, run_id)
    return found


def serial_problems(
    spec: il.Spec, permutation: PermutationResult, serial: list[Outcomes], tables: dict[int, il.Tables], run_id: str
) -> list[str]:
    """The outcomes of a permutation must be those of one of the two serial orders (the first and the last
    permutation: all of one session, then all of the other), and so must what it leaves in the pgflow tables
    when no call of the spec skips busy work. A call the tester cancelled did nothing: the other call's outcome
    must be the one it has in a serial order."""
    got = _comparable(spec, _outcomes(spec, permutation.record), run_id)
    fits = [o for o in serial if all(o.get(n) == v for n, v in got.items())]
    if not permutation.record.cancelled:
        fits = [o for o in fits if o.keys() == got.keys()]
    problems = []
    if not fits:
        problems.append(
            f"outcomes {got} are those of neither serial order: {serial[0]} (first session first)"
            f" or {serial[1]} (second session first)"
        )
    if permutation.record.cancelled or any(m in spec.step(n).sql for n in got for m in SKIPS_BUSY_WORK):
        return problems
    first, last = tables.get(1, {}), tables.get(len(tables), {})
    mine = tables.get(permutation.number)
    if mine is None or mine in (first, last):
        return problems
    # the whole state must be one of the two (each table matching one or the other is not enough)
    names = sorted(set(mine) | set(first) | set(last))
    differences = [
        (order, serial_tables, [t for t in names if mine.get(t) != serial_tables.get(t)])
        for order, serial_tables in (("the first session first", first), ("the second session first", last))
    ]
    order, closest, differing = min(differences, key=lambda d: len(d[2]))
    problems.append(
        f"the pgflow tables are those of neither serial order; with {order} they differ in "
        + "; ".join(f"pgflow.{t}: {mine.get(t)} here, {closest.get(t)} there" for t in differing)
    )
    return problems


def run_case(tester: Path, conn: psycopg.Connection, url: str, spec_name: str, variant: str) -> CaseResult:
    """Runs one variant of one spec in the database of ``conn``/``url`` (harness installed) and checks every
    permutation."""
    spec = il.variants(il.parse_spec((il.SPEC_DIR / f"{spec_name}.spec").read_text()))[variant]
    text = il.render_spec(spec)
    result = CaseResult(spec_name, variant, text)
    label = f"{spec_name}/{variant}"
    started = time.monotonic()
    il.label_run(conn, label)
    run = il.run_isolationtester(tester, url, text)
    result.seconds = time.monotonic() - started
    if run.returncode != 0 or run.stderr.strip():
        result.run_problems.append(f"the isolation tester exited with {run.returncode}: {run.stderr.strip()}")
    records = il.parse_output(run.stdout)
    expected = il.permutations(spec)
    if [r.steps for r in records] != expected:
        result.run_problems.append(
            f"the tester ran {len(records)} permutations, expected these {len(expected)}: {expected}"
        )
    copies = il.count_permutations(conn, label)
    if copies != len(records):
        result.run_problems.append(f"{copies} permutations left copies of the pgflow tables, {len(records)} ran")
    (run_id,) = conn.execute("select iso.run_id()").fetchone() or (None,)
    tables = il.final_tables(conn, label, str(run_id))
    serial = [_comparable(spec, _outcomes(spec, records[i]), str(run_id)) for i in (0, -1)] if records else []
    for number, record in enumerate(records, start=1):
        permutation = PermutationResult(number, record, il.call_problems(spec, record))
        outcomes = _outcomes(spec, record)
        resumed = (
            [run_id]
            if any("pgflow.resume_run(" in spec.step(n).sql and o.startswith("ok:") for n, o in outcomes.items())
            else []
        )
        if number <= copies:
            permutation.problems += il.check_permutation(conn, label, number, resumed)
        if not record.cancelled and spec_name in EXPECTED:
            permutation.problems += EXPECTED[spec_name](outcomes)
        if serial and not result.run_problems:
            permutation.problems += serial_problems(spec, permutation, serial, tables, str(run_id))
        result.permutations.append(permutation)
    il.forget(conn, label)
    return result


def _selected(request: pytest.FixtureRequest) -> list[Case]:
    chosen = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec and "spec_name" in callspec.params:
            chosen.append((callspec.params["spec_name"], callspec.params["variant"]))
    return chosen


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest, admin_url: str) -> Iterator[dict[Case, CaseResult]]:
    """Runs every selected variant of every spec, in LANES fresh databases at once, each with the pgflow schema
    (pgflow.migrate) and the harness; the databases are dropped afterwards."""
    cases = _selected(request)
    # the slow variants first, so the lanes finish together
    cases.sort(key=lambda c: (c[1] != "tx-tx", c))
    lanes: Queue[tuple[psycopg.Connection, str]] = Queue()
    with ExitStack() as stack:
        tester = Path()
        for _ in range(min(LANES, max(len(cases), 1))):
            url = stack.enter_context(scratch_database(admin_url, "pgflow_isolation"))
            pgflow.migrate(url)
            conn = stack.enter_context(psycopg.connect(url, autocommit=True))
            il.install_harness(conn)
            tester = il.isolationtester(conn)
            lanes.put((conn, url))

        def one(case: Case) -> CaseResult:
            conn, url = lanes.get()
            try:
                return run_case(tester, conn, url, *case)
            except Exception as error:  # noqa: BLE001 (reported by the case's test, not by every test)
                failed = CaseResult(*case, spec_text="")
                failed.run_problems.append(f"the driver failed: {error!r}")
                return failed
            finally:
                lanes.put((conn, url))

        with ThreadPoolExecutor(LANES) as pool:
            done = dict(zip(cases, pool.map(one, cases)))
        yield done


@pytest.mark.parametrize(("spec_name", "variant"), CASES, ids=[f"{s}/{v}" for s, v in CASES])
def test_every_permutation_keeps_the_invariants_and_answers_with_pf_codes(
    results: dict[Case, CaseResult], spec_name: str, variant: str
) -> None:
    result = results[(spec_name, variant)]
    assert result.permutations, result.report()
    assert result.failures == [], result.report()


# ---------------------------------------------------------------------------------------------------------
# The driver itself: it must see what it is there to see
# ---------------------------------------------------------------------------------------------------------


def test_the_specs_follow_the_conventions_of_the_driver() -> None:
    assert len(SPECS) >= 30
    for path in SPECS:
        spec = il.parse_spec(path.read_text())
        forms = il.variants(spec)
        assert [len(il.permutations(forms[v])) for v in il.VARIANTS] == [6, 3, 3, 2], path.name
        for session in spec.sessions:
            assert all("\n" not in step.sql for step in session.steps), f"{path.name}: one line per step"


def test_a_broken_invariant_in_a_copy_is_reported(admin_url: str) -> None:
    """A copy of the pgflow tables where the run's counter is off, and one where a completed task went back to
    queued, are each reported."""
    with scratch_database(admin_url, "pgflow_isolation") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            il.install_harness(conn)
            il.label_run(conn, "self-test")
            conn.execute("call iso.reset()")
            conn.execute("call iso.chain()")
            conn.execute("call iso.snapshot('before')")
            assert conn.execute("select pgflow.complete_task(iso.run_id(), 'a', 0, '1', 1)").fetchone() == (True,)
            conn.execute("call iso.snapshot('after')")
            assert il.check_permutation(conn, "self-test", 1, []) == []

            conn.execute(
                "update iso.snapshots set table_rows = jsonb_set(table_rows, '{0,remaining_steps}', '7')"
                " where phase = 'after' and table_name = 'runs'"
            )
            broken = il.check_permutation(conn, "self-test", 1, [])
            assert any("remaining_steps" in v for v in broken), broken

            conn.execute("update iso.state set permutation = 2")
            conn.execute("call iso.snapshot('before')")
            conn.execute(
                "update pgflow.step_tasks set status = 'queued', finished_at = null, output = null"
                " where step_slug = 'a'"
            )
            conn.execute("call iso.snapshot('after')")
            reopened = il.check_permutation(conn, "self-test", 2, [])
            assert any("went from terminal status completed to queued" in v for v in reopened), reopened


def test_the_reader_classifies_what_the_tester_prints() -> None:
    spec = il.variants(il.parse_spec((il.SPEC_DIR / "complete_task-cancel_run.spec").read_text()))["tx-tx"]
    lines = [
        "Parsed test spec with 2 sessions",
        "",
        "starting permutation: complete cancel cancel_commit complete_commit",
        "step complete: begin; select 1;",
        "outcome",
        "-------",
        "ok:true",
        "(1 row)",
        "",
        "step cancel: begin; select 2; <waiting ...>",
        "isolationtester: canceling step cancel after 1 seconds",
        "step cancel: <... completed>",
        "ERROR:  canceling statement due to user request",
        "step cancel_commit: commit;",
        "step complete_commit: commit;",
        "",
        "starting permutation: cancel complete cancel_commit complete_commit",
        "step cancel: begin; select 2;",
        "outcome     ",
        "------------",
        "sqlstate:40P01:deadlock detected",
        "(1 row)",
        "",
        "step complete: begin; select 1;",
        "outcome",
        "-------",
        "sqlstate:PF007:task 0 of step 'a' does not exist",
        "(1 row)",
        "",
        "step cancel_commit: commit;",
        "ERROR:  could not serialize access due to concurrent update",
        "step complete_commit: commit;",
        "s1: WARNING:  something odd",
    ]
    first, second = il.parse_output("\n".join(lines))
    assert first.cancelled and il.call_problems(spec, first) == []
    assert not second.cancelled
    assert il.call_problems(spec, second) == [
        "unexpected output: s1: WARNING:  something odd",
        "cancel raised SQLSTATE 40P01 (deadlock detected), not a PF code",
        "cancel_commit raised: could not serialize access due to concurrent update",
    ]
