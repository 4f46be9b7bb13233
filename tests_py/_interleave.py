"""PostgreSQL's isolation tester over the specs of tests_sql/isolation, and what it printed, read back.

A spec (``*.spec``) names two sessions, each ``begin; <call>`` then ``commit``; the isolation tester runs every
permutation of their steps (it enumerates them itself: the specs list none), notices a step that waits for a
lock the other session holds and goes on with the other session's steps meanwhile. ``variants`` derives the
other three forms of a spec, where one session or both make their call in autocommit. Each call goes through
``iso.try`` (tests_sql/isolation/harness.ddl), so the tester prints its outcome as data: ``ok:<value>`` or
``sqlstate:<code>:<message>``.

A permutation in which a session's next step comes while its call still waits for the other session's commit
cannot happen; the tester (PostgreSQL 14 and later) then waits ``STEP_TIMEOUT_S`` for the blocked call and
cancels it (it prints ``isolationtester: canceling step …``): ``PermutationRecord.cancelled`` marks those, and
what is left in the database is still checked (the cancelled call rolled back, like a client that gave up).

The harness copies every pgflow table after each permutation's setup and teardown; ``check_permutation``
restores both copies in a transaction it rolls back, and checks them with tests_py/_invariants.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from . import _invariants

SPEC_DIR = Path(__file__).resolve().parents[1] / "tests_sql" / "isolation"
HARNESS = SPEC_DIR / "harness.ddl"

# Seconds the tester waits for a step before cancelling it (PGISOLATIONTIMEOUT, whole seconds). A step that
# runs does so in milliseconds; only a step of a permutation that cannot happen waits this long.
STEP_TIMEOUT_S = 2

# The SQLSTATEs a call may raise (SPEC §3.8).
PF_CODES = frozenset(f"PF00{n}" for n in range(1, 9))

VARIANTS: dict[str, tuple[bool, bool]] = {
    # name: (first session in a transaction, second session in a transaction)
    "tx-tx": (True, True),
    "tx-auto": (True, False),
    "auto-tx": (False, True),
    "auto-auto": (False, False),
}


# ---------------------------------------------------------------------------------------------------------
# Specs: the subset of the isolation tester's spec language the specs use (no blocker annotations)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """A named SQL block of a session."""

    name: str
    sql: str


@dataclass(frozen=True)
class Session:
    """A connection of a spec: its setup (run before each permutation), its steps in order, its teardown."""

    name: str
    setup: str | None
    steps: tuple[Step, ...]
    teardown: str | None


@dataclass(frozen=True)
class Spec:
    """A parsed spec file."""

    setup: tuple[str, ...]
    teardown: str | None
    sessions: tuple[Session, ...]
    permutations: tuple[tuple[str, ...], ...] = ()

    def step(self, name: str) -> Step:
        """The step called ``name`` (KeyError when there is none)."""
        for session in self.sessions:
            for step in session.steps:
                if step.name == name:
                    return step
        raise KeyError(name)

    def session_of(self, step_name: str) -> Session:
        """The session the step ``step_name`` belongs to (KeyError when there is none)."""
        for session in self.sessions:
            if any(step.name == step_name for step in session.steps):
                return session
        raise KeyError(step_name)


class SpecError(ValueError):
    """A spec file the driver cannot read, or that breaks the conventions of tests_sql/isolation."""


_TOKEN = re.compile(r'\s+|#[^\n]*|\{(?P<sql>[^}]*)\}|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|"(?P<quoted>[^"]*)"|(?P<other>.)')


def _tokens(text: str) -> list[tuple[str, str]]:
    # As the tester's scanner: a SQL block runs from "{" to the first "}"; "#" starts a comment outside them.
    found = []
    for match in _TOKEN.finditer(text):
        if match.group("sql") is not None:
            found.append(("sql", match.group("sql").strip()))
        elif match.group("word") is not None:
            found.append(("word", match.group("word")))
        elif match.group("quoted") is not None:
            found.append(("name", match.group("quoted")))
        elif match.group("other") is not None:
            raise SpecError(f"unexpected {match.group('other')!r} in spec")
    return found


def parse_spec(text: str) -> Spec:
    """Parses a spec file. Raises SpecError for anything outside setup/teardown/session/step/permutation."""
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(kind: str, value: str | None = None) -> str:
        nonlocal pos
        token = peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            raise SpecError(f"expected {value or kind}, found {token!r}")
        pos += 1
        return token[1]

    def name() -> str:
        token = peek()
        if token is not None and token[0] in ("word", "name"):
            return take(token[0])
        raise SpecError(f"expected a name, found {token!r}")

    def optional_block(keyword: str) -> str | None:
        if peek() == ("word", keyword):
            take("word", keyword)
            return take("sql")
        return None

    setups = []
    while (block := optional_block("setup")) is not None:
        setups.append(block)
    teardown = optional_block("teardown")
    sessions = []
    while peek() == ("word", "session"):
        take("word", "session")
        session_name = name()
        session_setup = optional_block("setup")
        steps = []
        while peek() == ("word", "step"):
            take("word", "step")
            steps.append(Step(name(), take("sql")))
        if not steps:
            raise SpecError(f"session {session_name} has no step")
        sessions.append(Session(session_name, session_setup, tuple(steps), optional_block("teardown")))
    permutations = []
    while peek() == ("word", "permutation"):
        take("word", "permutation")
        names = []
        while (token := peek()) is not None and token[0] in ("word", "name") and token != ("word", "permutation"):
            names.append(name())
        permutations.append(tuple(names))
    if peek() is not None:
        raise SpecError(f"unexpected {peek()!r} after the sessions")
    if not sessions:
        raise SpecError("a spec needs at least one session")
    return Spec(tuple(setups), teardown, tuple(sessions), tuple(permutations))


def _block(text: str) -> str:
    if "}" in text:
        raise SpecError(f"a SQL block cannot contain a closing brace: {text!r}")
    return "{ " + text + " }"


def render_spec(spec: Spec) -> str:
    """The spec as text the isolation tester reads."""
    lines = [f"setup {_block(s)}" for s in spec.setup]
    if spec.teardown is not None:
        lines.append(f"teardown {_block(spec.teardown)}")
    for session in spec.sessions:
        lines.append(f'session "{session.name}"')
        if session.setup is not None:
            lines.append(f"setup {_block(session.setup)}")
        lines.extend(f'step "{step.name}" {_block(step.sql)}' for step in session.steps)
        if session.teardown is not None:
            lines.append(f"teardown {_block(session.teardown)}")
    for permutation in spec.permutations:
        lines.append("permutation " + " ".join(f'"{n}"' for n in permutation))
    return "\n".join(lines) + "\n"


_BEGIN = re.compile(r"^\s*begin\s*;\s*", re.IGNORECASE)


def is_commit(step: Step) -> bool:
    """Whether the step is a session's closing ``commit;``."""
    return re.fullmatch(r"\s*commit\s*;?\s*", step.sql, re.IGNORECASE) is not None


def in_autocommit(session: Session) -> Session:
    """The session with its calls in autocommit: its first step without the leading ``begin;`` and without
    its last step, the ``commit;``. Raises SpecError for a session not written that way."""
    first, last = session.steps[0], session.steps[-1]
    if not _BEGIN.match(first.sql) or not is_commit(last) or len(session.steps) < 2:
        raise SpecError(f"session {session.name}: its first step must start with begin; and its last be commit;")
    steps = (Step(first.name, _BEGIN.sub("", first.sql, count=1)), *session.steps[1:-1])
    return Session(session.name, session.setup, steps, session.teardown)


def variants(spec: Spec) -> dict[str, Spec]:
    """The four forms of a two-session spec, keyed like VARIANTS."""
    if len(spec.sessions) != 2 or spec.permutations:
        raise SpecError("a spec of tests_sql/isolation has two sessions and lists no permutation")
    found = {}
    for variant, in_transaction in VARIANTS.items():
        sessions = tuple(s if tx else in_autocommit(s) for s, tx in zip(spec.sessions, in_transaction))
        found[variant] = Spec(spec.setup, spec.teardown, sessions)
    return found


def permutations(spec: Spec) -> list[tuple[str, ...]]:
    """Every permutation of the sessions' steps that keeps each session's order, in the order the isolation
    tester runs them when a spec lists none (it takes the next step of the first session that has one left,
    then backtracks)."""
    piles = [list(s.steps) for s in spec.sessions]
    taken = [0] * len(piles)
    found: list[tuple[str, ...]] = []

    def recurse(prefix: list[str]) -> None:
        progressed = False
        for i, pile in enumerate(piles):
            if taken[i] < len(pile):
                taken[i] += 1
                recurse([*prefix, pile[taken[i] - 1].name])
                taken[i] -= 1
                progressed = True
        if not progressed:
            found.append(tuple(prefix))

    recurse([])
    return found


# ---------------------------------------------------------------------------------------------------------
# Running the tester and reading its output
# ---------------------------------------------------------------------------------------------------------


def isolationtester(conn: psycopg.Connection[Any]) -> Path:
    """The isolation tester of the connected server's major version (packaged with the PostgreSQL client).
    Raises FileNotFoundError naming the package when it is missing."""
    row = conn.execute("select current_setting('server_version_num')::int / 10000").fetchone()
    assert row is not None
    major = row[0]
    relative = Path("pgxs/src/test/isolation/isolationtester")
    candidates = [Path(f"/usr/lib/postgresql/{major}/lib") / relative]
    pg_config = shutil.which("pg_config")
    if pg_config:
        libdir = subprocess.run([pg_config, "--pkglibdir"], capture_output=True, text=True, check=False).stdout
        candidates.append(Path(libdir.strip()) / relative)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(
        f"PostgreSQL's isolationtester for version {major} is missing (looked for {', '.join(map(str, candidates))});"
        f" it comes with the package postgresql-client-{major}"
    )


def libpq_environment(conninfo: str) -> tuple[str, dict[str, str]]:
    """``conninfo`` without its password, and the password as PGPASSWORD (when there is one), so that no
    password appears on a command line."""
    params = {key: str(value) for key, value in conninfo_to_dict(conninfo).items() if value is not None}
    password = params.pop("password", None)
    return make_conninfo("", **params), ({"PGPASSWORD": password} if password else {})


@dataclass
class Run:
    """One run of the isolation tester: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_isolationtester(tester: Path, conninfo: str, spec_text: str, timeout_s: float = 600) -> Run:
    """Runs the tester over ``spec_text`` against the database of ``conninfo``."""
    target, env = libpq_environment(conninfo)
    # PGISOLATIONTIMEOUT up to PostgreSQL 15; from 16 on, PG_TEST_TIMEOUT_DEFAULT, of which the tester waits twice
    timeouts = {"PGISOLATIONTIMEOUT": str(STEP_TIMEOUT_S), "PG_TEST_TIMEOUT_DEFAULT": str(max(STEP_TIMEOUT_S // 2, 1))}
    result = subprocess.run(
        [str(tester), target],
        input=spec_text,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **env, **timeouts},
        check=False,
    )
    return Run(result.returncode, result.stdout, result.stderr)


@dataclass
class StepRecord:
    """What the tester printed about one step of a permutation."""

    name: str
    waited: bool = False
    outcome: str | None = None
    errors: list[str] = field(default_factory=list)
    cancelled_by_tester: bool = False


@dataclass
class PermutationRecord:
    """One permutation as the tester printed it: its steps in order, per step what it printed, the lines
    themselves, and lines the reader did not expect."""

    steps: tuple[str, ...]
    records: dict[str, StepRecord]
    lines: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def cancelled(self) -> bool:
        """Whether the tester cancelled a step that waited (a permutation that cannot happen)."""
        return any(r.cancelled_by_tester and r.waited for r in self.records.values())


_STARTING = re.compile(r"^starting permutation: (.*)$")
_STEP = re.compile(r"^step (\S+): (.*)$")
_CANCELLING = re.compile(r"^isolationtester: canceling step (\S+) after \d+ seconds$")


def parse_output(stdout: str) -> list[PermutationRecord]:
    """The permutations of a run, in order, from the tester's standard output."""
    found: list[PermutationRecord] = []
    current: PermutationRecord | None = None
    step: StepRecord | None = None
    lines = stdout.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if (match := _STARTING.match(line)) is not None:
            names = tuple(match.group(1).split())
            current = PermutationRecord(names, {n: StepRecord(n) for n in names}, [line])
            found.append(current)
            step = None
            continue
        if current is None:
            continue  # "Parsed test spec with 2 sessions" and the blank line after it
        current.lines.append(line)
        if (match := _STEP.match(line)) is not None and match.group(1) in current.records:
            step = current.records[match.group(1)]
            if match.group(2).endswith("<waiting ...>"):
                step.waited = True
        elif (match := _CANCELLING.match(line)) is not None and match.group(1) in current.records:
            current.records[match.group(1)].cancelled_by_tester = True
        elif line.strip() == "outcome" and i + 1 < len(lines) and set(lines[i].strip()) == {"-"} and step:
            step.outcome = lines[i + 1].strip()
            current.lines.extend(lines[i : i + 2])
            i += 2
        elif line.startswith("ERROR:") and step is not None:
            step.errors.append(line[len("ERROR:") :].strip())
        elif line.strip() == "" or re.fullmatch(r"\(\d+ rows?\)", line.strip()):
            pass
        else:
            current.unexpected.append(line)
    return found


def call_problems(spec: Spec, permutation: PermutationRecord) -> list[str]:
    """What breaks the rule for calls in one permutation: every call returns a value ('ok:'), including false,
    or raises a PF SQLSTATE; no commit fails; the tester prints nothing else. A call the tester cancelled
    because the permutation cannot happen is no problem."""
    problems = [f"unexpected output: {line}" for line in permutation.unexpected]
    for name in permutation.steps:
        record = permutation.records[name]
        step = spec.step(name)
        if record.cancelled_by_tester:
            if not record.waited:
                problems.append(
                    f"{name} ran for more than {STEP_TIMEOUT_S} s without waiting for the other session, and the"
                    " tester cancelled it"
                )
            elif record.errors != ["canceling statement due to user request"]:
                problems.append(f"{name} was cancelled by the tester, then reported {record.errors}")
            continue
        problems.extend(f"{name} raised: {error}" for error in record.errors)
        if is_commit(step):
            if record.outcome is not None:
                problems.append(f"{name} printed an outcome: {record.outcome}")
            continue
        if record.outcome is None:
            if not record.errors:
                problems.append(f"{name} printed no outcome")
            continue
        kind, _, rest = record.outcome.partition(":")
        if kind == "ok":
            continue
        code, _, message = rest.partition(":")
        if kind != "sqlstate" or code not in PF_CODES:
            problems.append(f"{name} raised SQLSTATE {code} ({message}), not a PF code")
    return problems


# ---------------------------------------------------------------------------------------------------------
# The invariants, on the copies of the pgflow tables the harness took
# ---------------------------------------------------------------------------------------------------------


def install_harness(conn: psycopg.Connection[Any]) -> None:
    """Installs schema iso (tests_sql/isolation/harness.ddl) in the connected database."""
    conn.execute(HARNESS.read_text())


def _restore(conn: psycopg.Connection[Any], label: str, permutation: int, phase: str) -> None:
    tables = [
        row[0]
        for row in conn.execute(
            "select table_name from iso.snapshots where label = %s and permutation = %s and phase = %s",
            [label, permutation, phase],
        )
    ]
    if not tables:
        raise AssertionError(f"no {phase!r} copy of permutation {permutation} of {label}")
    conn.execute("set local session_replication_role = replica")
    for table in tables:
        conn.execute(sql.SQL("delete from pgflow.{}").format(sql.Identifier(table)))
        conn.execute(
            sql.SQL(
                "insert into pgflow.{t} select * from jsonb_populate_recordset(null::pgflow.{t},"
                " (select table_rows from iso.snapshots"
                "  where label = %s and permutation = %s and phase = %s and table_name = %s))"
            ).format(t=sql.Identifier(table)),
            [label, permutation, phase, table],
        )
    conn.execute("set local session_replication_role = origin")


def check_permutation(
    conn: psycopg.Connection[Any], label: str, permutation: int, resumed: list[uuid.UUID]
) -> list[str]:
    """SPEC §6 on permutation ``permutation`` of the run ``label``: the invariants on what it left, and no step or
    task leaving a terminal status between its setup and its end (except through resume_run in the runs of
    ``resumed``). Runs in a transaction that it rolls back; ``conn`` must be in autocommit mode."""
    with conn.transaction(force_rollback=True):
        _restore(conn, label, permutation, "before")
        before = _invariants.statuses(conn)
        _restore(conn, label, permutation, "after")
        found = _invariants.violations(conn)
        found += _invariants.terminal_changes(before, _invariants.statuses(conn), resumed)
    return found


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def normalized(value: str, keep: str) -> str:
    """``value`` with every UUID but ``keep`` replaced by ``<uuid>`` (runs started without a run_id get random
    ones, different in every permutation)."""
    return _UUID.sub(lambda m: m.group(0) if m.group(0) == keep else "<uuid>", value)


Tables = dict[str, list[str]]


def final_tables(conn: psycopg.Connection[Any], label: str, keep: str) -> dict[int, Tables]:
    """Per permutation of the run ``label``, what it left in every pgflow table: each row as normalized JSON
    text, the rows of a table sorted."""
    found: dict[int, Tables] = {}
    for permutation, table, rows in conn.execute(
        "select s.permutation, s.table_name, array(select r::text from jsonb_array_elements(s.table_rows) as r)"
        " from iso.snapshots as s where s.label = %s and s.phase = 'after'",
        [label],
    ):
        found.setdefault(permutation, {})[table] = sorted(normalized(row, keep) for row in rows)
    return found


def count_permutations(conn: psycopg.Connection[Any], label: str) -> int:
    """How many permutations of the run ``label`` left both copies."""
    row = conn.execute(
        "select count(distinct permutation) filter (where phase = 'after') from iso.snapshots where label = %s",
        [label],
    ).fetchone()
    assert row is not None
    return int(row[0])


def forget(conn: psycopg.Connection[Any], label: str) -> None:
    """Deletes the copies of the run ``label``."""
    conn.execute("delete from iso.snapshots where label = %s", [label])


def label_run(conn: psycopg.Connection[Any], label: str) -> None:
    """Names the next run of the tester in the database (the harness counts its permutations from 1)."""
    conn.execute("update iso.state set label = %s, permutation = 0", [label])


__all__ = [
    "HARNESS",
    "PF_CODES",
    "SPEC_DIR",
    "STEP_TIMEOUT_S",
    "VARIANTS",
    "PermutationRecord",
    "Run",
    "Session",
    "Spec",
    "SpecError",
    "Step",
    "StepRecord",
    "Tables",
    "call_problems",
    "check_permutation",
    "count_permutations",
    "final_tables",
    "forget",
    "in_autocommit",
    "install_harness",
    "is_commit",
    "isolationtester",
    "label_run",
    "libpq_environment",
    "normalized",
    "parse_output",
    "parse_spec",
    "permutations",
    "render_spec",
    "run_isolationtester",
    "variants",
]
