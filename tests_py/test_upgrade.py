"""Upgrades, proven: a database on a released schema, with runs left mid-flight, upgraded by `pgflow migrate`,
is the same as a fresh install of the shipped schema, keeps every row, and finishes its runs.

The released schemas are committed copies of their SQL files (tests_py/fixtures/pgflow-<version>/, the
files of sql/ at the commit that released them), so these tests need no git history. For each release:

- it is installed into a fresh database as its installer did (its files in name order, then its row in
  pgflow.schema_migrations), and runs are left in every state that matters: a diamond whose first step is
  done and whose branches are claimed, a map half done, an attempt failed and waiting for its retry, a failed
  run to resume, a cancelled run, a completed run, a registered worker holding tasks;
- `pgflow.migrate()` upgrades it; the schema-only dump of the schema pgflow then equals a fresh install's;
- every row is still there, with the values it had;
- the runs finish with the shipped API, with the outputs they should have and SPEC §6's invariants holding;
- upgrading again, or from two processes at once, changes nothing more.

Last, the generated part of the upgrade script must be current (scripts/build_migration.py --check).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgflow
from pgflow.migrate import _LOCK_KEY as MIGRATE_LOCK_KEY
from pgflow.migrate import shipped_checksum, shipped_version, sql_dir

from ._invariants import violations
from .conftest import scratch_database

ROOT = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = ROOT / "scripts" / "build_migration.py"
RELEASES = sorted((Path(__file__).parent / "fixtures").glob("pgflow-*"))

# What the installer of each release recorded as the checksum of its SQL files (pgflow.schema_migrations):
# the committed copy must be those files, byte for byte.
RELEASED_CHECKSUMS = {
    "0.1.0": "9caaa63b1483ffe8e63f85ac8df270e23ebfe4580348cb69b83e17e0fd2bd886",
    "0.2.0": "d8609804b8046821697a47456311583eaed687d5fa78e266541abc86188ff88b",
    "0.3.0": "18aae48f56a70970353e73448d690ab5db9d962e87d22886c0fa60472a18eb19",
    "0.4.0": "404d28a46ddcd946282732dd3085fdc535eb284db49f9327dd1af1bb529d5447",
}

# (table, primary key columns) of every table whose rows an upgrade must keep.
TABLES = [
    ("flows", ("flow_slug", "version")),
    ("steps", ("flow_slug", "flow_version", "step_slug")),
    ("deps", ("flow_slug", "flow_version", "step_slug", "dep_slug")),
    ("runs", ("run_id",)),
    ("step_states", ("run_id", "step_slug")),
    ("step_tasks", ("run_id", "step_slug", "task_index")),
    ("workers", ("worker_id",)),
]

OLD_WORKER = "worker-before-upgrade"
NEW_WORKER = "worker-after-upgrade"
HOUR = 3600

# The flows of the runs left in flight. Every task has an hour to finish, so nothing expires by itself
# while the test runs; "flaky" waits an hour before its retry.
FLOWS: dict[str, tuple[list[dict[str, Any]], dict[str, Any]]] = {
    "diamond": (
        [
            {"slug": "a"},
            {"slug": "b", "depends_on": ["a"]},
            {"slug": "c", "depends_on": ["a"]},
            {"slug": "d", "depends_on": ["b", "c"]},
        ],
        {"timeout": HOUR},
    ),
    "squares": ([{"slug": "square", "type": "map"}, {"slug": "total", "depends_on": ["square"]}], {"timeout": HOUR}),
    "flaky": ([{"slug": "flaky", "max_attempts": 3, "base_delay": HOUR, "max_delay": HOUR}], {"timeout": HOUR}),
    "broken": (
        [
            {"slug": "ok", "depends_on": []},
            {"slug": "broken", "depends_on": [], "max_attempts": 1},
            {"slug": "join", "depends_on": ["ok", "broken"]},
        ],
        {"timeout": HOUR},
    ),
    "chain": ([{"slug": "first"}, {"slug": "second"}], {"timeout": HOUR}),
    "single": ([{"slug": "only"}], {"timeout": HOUR}),
}

SQUARES_INPUT = [1, 2, 3, 4, 5, 6]


def release_version(release: Path) -> str:
    """The schema version a committed release copy installs."""
    match = re.search(r"select '([^']+)'::text", (release / "090_schema_version.sql").read_text())
    assert match, f"{release} has no schema version"
    return match.group(1)


def release_checksum(release: Path) -> str:
    """The checksum the release's installer recorded: SHA-256 over each file's name and bytes, in name order."""
    digest = hashlib.sha256()
    for script in sorted(release.glob("*.sql")):
        digest.update(script.name.encode())
        digest.update(script.read_bytes())
    return digest.hexdigest()


def install_release(url: str, release: Path) -> None:
    """Installs a released schema into an empty database as its installer did: every file in name order,
    then its version and checksum in pgflow.schema_migrations, in one transaction."""
    with psycopg.connect(url) as conn, conn.transaction():
        for script in sorted(release.glob("*.sql")):
            conn.execute(script.read_bytes())
        conn.execute(
            "insert into pgflow.schema_migrations (version, checksum) values (%s, %s)",
            (release_version(release), release_checksum(release)),
        )


def normalize_dump(dump: str) -> str:
    """What two dumps of equal schemas may differ in, made equal; nothing else is touched.

    pg_dump 15.14 and later (and 16.10, 17.6) open the dump with ``\\restrict KEY`` and close it with
    ``\\unrestrict KEY``, KEY drawn at random for every dump (a guard for psql when restoring). The key says
    nothing about the schema. Everything else is printed from the catalogs in a fixed order (by object
    kind, then name and argument types), so equal schemas on the same server give equal text.
    """
    return re.sub(r"^\\(restrict|unrestrict) \S+$", r"\\\1 KEY", dump, flags=re.MULTILINE)


def schema_dump(url: str) -> str:
    """``pg_dump --schema-only --schema=pgflow`` of the database, normalized (see normalize_dump)."""
    proc = subprocess.run(
        ["pg_dump", "--schema-only", "--schema=pgflow", f"--dbname={url}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"pg_dump failed: {proc.stderr}"
    return normalize_dump(proc.stdout)


def functions(url: str) -> set[str]:
    """The signatures of the functions of schema pgflow, as regprocedure text."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select p.oid::regprocedure::text from pg_catalog.pg_proc as p "
            "where p.pronamespace = 'pgflow'::regnamespace"
        ).fetchall()
    return {r[0] for r in rows}


def assert_same_schema(upgraded_url: str, fresh_url: str, fresh_dump: str, what: str) -> None:
    """Fails with a unified diff of the two dumps (and the functions only one side has) when they differ."""
    upgraded_dump = schema_dump(upgraded_url)
    if upgraded_dump == fresh_dump:
        return
    diff = "".join(
        difflib.unified_diff(
            fresh_dump.splitlines(keepends=True),
            upgraded_dump.splitlines(keepends=True),
            fromfile="fresh install",
            tofile=what,
            n=3,
        )
    )
    upgraded_functions, fresh_functions = functions(upgraded_url), functions(fresh_url)
    hints = []
    if extra := sorted(upgraded_functions - fresh_functions):
        hints.append(f"functions only the upgraded schema has (drop them in the hand-written part): {extra}")
    if missing := sorted(fresh_functions - upgraded_functions):
        hints.append(f"functions only the fresh install has: {missing}")
    pytest.fail(f"{what} differs from a fresh install of {shipped_version()}:\n" + "\n".join(hints) + "\n" + diff)


Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def table_rows(conn: psycopg.Connection[Any]) -> Rows:
    """Every row of the pgflow tables, as JSON objects keyed by table and primary key."""
    found: Rows = {}
    for table, key in TABLES:
        found[table] = {}
        for (row,) in conn.execute(f"select to_jsonb(t) from pgflow.{table} as t"):
            found[table][tuple(row[k] for k in key)] = row
    return found


# ------------------------------------------------------------------------------------------------------------
# The released API, as a worker and a producer of the release call it (named notation, so that calls stay
# unambiguous whatever parameters later versions add).


def call(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any] | tuple[Any, ...]) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None
    return row[0]


def define(conn: psycopg.Connection[Any], flow_slug: str) -> int:
    steps, options = FLOWS[flow_slug]
    return int(
        call(
            conn,
            "select version from pgflow.define_flow(flow_slug => %(f)s, steps => %(s)s, options => %(o)s)",
            {"f": flow_slug, "s": Jsonb(steps), "o": Jsonb(options)},
        )
    )


def start(conn: psycopg.Connection[Any], flow_slug: str, run_input: Any, key: str | None = None) -> uuid.UUID:
    run_id: uuid.UUID = call(
        conn,
        "select run_id from pgflow.start_run(flow_slug => %(f)s, input => %(i)s, idempotency_key => %(k)s)",
        {"f": flow_slug, "i": Jsonb(run_input), "k": key},
    )
    return run_id


@dataclass(frozen=True)
class Claim:
    """A task a worker holds: where it is, which attempt, and the input its handler receives."""

    run_id: uuid.UUID
    step_slug: str
    task_index: int
    attempt: int
    input: Any


def poll(conn: psycopg.Connection[Any], worker_id: str, flows: list[str], max_tasks: int = 10) -> list[Claim]:
    rows = conn.execute(
        "select run_id, step_slug, task_index, attempt, input from pgflow.poll_for_tasks("
        "worker_id => %(w)s, flow_slugs => %(f)s::text[], max_tasks => %(m)s)",
        {"w": worker_id, "f": flows, "m": max_tasks},
    ).fetchall()
    return sorted((Claim(*row) for row in rows), key=lambda c: (str(c.run_id), c.step_slug, c.task_index))


def complete(conn: psycopg.Connection[Any], claim: Claim, output: Any) -> bool:
    return bool(
        call(
            conn,
            "select pgflow.complete_task(run_id => %(r)s, step_slug => %(s)s, task_index => %(i)s, "
            "output => %(o)s, attempt => %(a)s)",
            {"r": claim.run_id, "s": claim.step_slug, "i": claim.task_index, "o": Jsonb(output), "a": claim.attempt},
        )
    )


def fail(conn: psycopg.Connection[Any], claim: Claim, error: str) -> bool:
    return bool(
        call(
            conn,
            "select pgflow.fail_task(run_id => %(r)s, step_slug => %(s)s, task_index => %(i)s, "
            "error => %(e)s, attempt => %(a)s)",
            {"r": claim.run_id, "s": claim.step_slug, "i": claim.task_index, "e": error, "a": claim.attempt},
        )
    )


def run_row(conn: psycopg.Connection[Any], run_id: uuid.UUID) -> tuple[str, Any]:
    row = conn.execute("select status, output from pgflow.runs where run_id = %s", (run_id,)).fetchone()
    assert row is not None, f"run {run_id} is gone"
    return row[0], row[1]


def only(claims: list[Claim], step_slug: str) -> Claim:
    found = [c for c in claims if c.step_slug == step_slug]
    assert len(found) == 1, f"expected one claim of {step_slug}, got {claims}"
    return found[0]


# ------------------------------------------------------------------------------------------------------------
# The runs left in flight on the released schema.


@dataclass
class InFlight:
    """A database upgraded from a release with runs in flight, and what the test recorded around the upgrade."""

    url: str
    release: Path
    runs: dict[str, uuid.UUID] = field(default_factory=dict)
    # tasks the old worker claimed before the upgrade and still holds, by scenario
    held: dict[str, list[Claim]] = field(default_factory=dict)
    before: Rows = field(default_factory=dict)
    after: Rows = field(default_factory=dict)
    upgraded_to: str = ""


def leave_runs_in_flight(conn: psycopg.Connection[Any], state: InFlight) -> None:
    """Starts runs with the released API and leaves them in every state an upgrade must carry over."""
    conn.execute("select pgflow.heartbeat(worker_id => %s, flow_slugs => null)", (OLD_WORKER,))
    for flow_slug in FLOWS:
        assert define(conn, flow_slug) == 1

    # A completed run, started with an idempotency key.
    state.runs["single"] = start(conn, "single", {"x": 1}, key="order-1")
    assert complete(conn, only(poll(conn, OLD_WORKER, ["single"]), "only"), {"done": 1})

    # A diamond: its first step completed, both branches claimed by the old worker.
    state.runs["diamond"] = start(conn, "diamond", {"n": 3})
    assert complete(conn, only(poll(conn, OLD_WORKER, ["diamond"]), "a"), {"n": 3})
    branches = poll(conn, OLD_WORKER, ["diamond"])
    assert [c.step_slug for c in branches] == ["b", "c"] and all(c.input == {"a": {"n": 3}} for c in branches)
    state.held["diamond"] = branches

    # A map half done: of six elements, two completed, two claimed, two still queued.
    state.runs["squares"] = start(conn, "squares", SQUARES_INPUT)
    claimed = poll(conn, OLD_WORKER, ["squares"], max_tasks=4)
    assert len(claimed) == 4
    for claim in claimed[:2]:
        assert complete(conn, claim, claim.input * claim.input)
    state.held["squares"] = claimed[2:]

    # An attempt failed, the task waiting an hour for its retry.
    state.runs["flaky"] = start(conn, "flaky", {"k": "v"})
    assert fail(conn, only(poll(conn, OLD_WORKER, ["flaky"]), "flaky"), "first attempt failed")

    # A failed run (its step exhausted its one attempt; the other root was cancelled), to resume.
    state.runs["broken"] = start(conn, "broken", {"m": 2})
    roots = poll(conn, OLD_WORKER, ["broken"])
    assert [c.step_slug for c in roots] == ["broken", "ok"]
    assert fail(conn, only(roots, "broken"), "broken before the upgrade")

    # A cancelled run: its first step done, the second claimed when the run was cancelled.
    state.runs["chain"] = start(conn, "chain", {"c": 1})
    assert complete(conn, only(poll(conn, OLD_WORKER, ["chain"]), "first"), {"first": 1})
    state.held["chain"] = poll(conn, OLD_WORKER, ["chain"])
    conn.execute(
        "select pgflow.cancel_run(run_id => %s, reason => 'cancelled before the upgrade')", (state.runs["chain"],)
    )

    statuses = {name: run_row(conn, run_id)[0] for name, run_id in state.runs.items()}
    assert statuses == {
        "single": "completed",
        "diamond": "started",
        "squares": "started",
        "flaky": "started",
        "broken": "failed",
        "chain": "cancelled",
    }
    waiting = conn.execute(
        "select status, attempt, visible_at - now() > interval '50 minutes' from pgflow.step_tasks where run_id = %s",
        (state.runs["flaky"],),
    ).fetchone()
    assert waiting == ("queued", 1, True)


@pytest.fixture(scope="module", params=RELEASES, ids=[r.name for r in RELEASES])
def in_flight(request: pytest.FixtureRequest, admin_url: str) -> Iterator[InFlight]:
    """A database installed from a release, with runs left in flight, then upgraded by pgflow.migrate()."""
    release: Path = request.param
    with scratch_database(admin_url, "pgflow_upgrade") as url:
        install_release(url, release)
        state = InFlight(url=url, release=release)
        with psycopg.connect(url, autocommit=True) as conn:
            leave_runs_in_flight(conn, state)
            state.before = table_rows(conn)
        state.upgraded_to = pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            state.after = table_rows(conn)
        yield state


@pytest.fixture(scope="module")
def fresh(admin_url: str) -> Iterator[tuple[str, str]]:
    """A fresh install of the shipped schema: its conninfo and its normalized schema dump."""
    with scratch_database(admin_url, "pgflow_fresh") as url:
        pgflow.migrate(url)
        yield url, schema_dump(url)


# ------------------------------------------------------------------------------------------------------------


def test_there_is_a_release_to_upgrade_from() -> None:
    assert [release_version(r) for r in RELEASES] == sorted(RELEASED_CHECKSUMS)
    assert all(release_version(r) != shipped_version() for r in RELEASES)


@pytest.mark.parametrize("release", RELEASES, ids=[r.name for r in RELEASES])
def test_the_release_copy_is_the_released_sql(release: Path) -> None:
    """The committed copy holds the files the release installed: their checksum is the one its installs
    recorded."""
    assert release_checksum(release) == RELEASED_CHECKSUMS[release_version(release)]


def hatch_version_source(pyproject: str) -> dict[str, str]:
    """The [tool.hatch.version] table of pyproject.toml (its path and pattern), after checking that the project's
    version is dynamic. (Read with regular expressions: tomllib is Python 3.11+, the package supports 3.10.)"""
    project = re.search(r"^\[project\]\n(.*?)(?=^\[)", pyproject, flags=re.MULTILINE | re.DOTALL)
    assert project is not None
    assert not re.search(r"^version\s*=", project.group(1), flags=re.MULTILINE), "the version is written here"
    assert re.search(r'^dynamic\s*=\s*\[[^]]*"version"', project.group(1), flags=re.MULTILINE)
    table = re.search(r"^\[tool\.hatch\.version\]\n(.*?)(?=^\[|\Z)", pyproject, flags=re.MULTILINE | re.DOTALL)
    assert table is not None
    values = dict(re.findall(r'^(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', table.group(1), flags=re.MULTILINE))
    return {key: value.encode().decode("unicode_escape") for key, value in values.items()}


def test_the_version_is_written_once() -> None:
    """The package's version (hatchling reads it with the pattern of pyproject.toml), pgflow.__version__ and
    the installer's target are all the version of sql/090_schema_version.sql."""
    source = hatch_version_source((ROOT / "pyproject.toml").read_text())
    match = re.search(source["pattern"], (ROOT / source["path"]).read_text(), flags=re.MULTILINE)
    assert match is not None
    assert match.group("version") == pgflow.__version__ == shipped_version()


def test_upgraded_schema_equals_a_fresh_install(in_flight: InFlight, fresh: tuple[str, str]) -> None:
    assert in_flight.upgraded_to == shipped_version()
    fresh_url, fresh_dump = fresh
    assert_same_schema(in_flight.url, fresh_url, fresh_dump, f"the schema upgraded from {in_flight.release.name}")


def test_upgrade_keeps_every_row_and_value(in_flight: InFlight) -> None:
    """No row is lost or added, and every column the release had keeps its value; columns the upgrade adds
    are not compared here (the finishing test shows their values work)."""
    changes = []
    for table, _key in TABLES:
        before, after = in_flight.before[table], in_flight.after[table]
        if before.keys() != after.keys():
            changes.append(
                f"{table}: rows lost {sorted(before.keys() - after.keys())}, "
                f"added {sorted(after.keys() - before.keys())}"
            )
            continue
        for key, old in before.items():
            new = after[key]
            changed = {column: (value, new.get(column)) for column, value in old.items() if new.get(column) != value}
            if changed:
                changes.append(f"{table} {key}: {changed}")
    assert in_flight.before["runs"], "the scenario left no runs"
    assert changes == []


def test_runs_in_flight_finish_after_the_upgrade(in_flight: InFlight) -> None:
    runs = in_flight.runs
    with psycopg.connect(in_flight.url, autocommit=True) as conn:
        assert violations(conn) == []

        # A new worker polls: it gets the queued map elements, never the tasks the old worker holds.
        conn.execute("select pgflow.heartbeat(worker_id => %s, flow_slugs => null)", (NEW_WORKER,))
        fresh_claims = poll(conn, NEW_WORKER, ["diamond", "squares"])
        queued_before = {
            key[2]
            for key, row in in_flight.before["step_tasks"].items()
            if key[0] == str(runs["squares"]) and row["status"] == "queued"
        }
        assert len(queued_before) == 2
        assert [(c.step_slug, c.attempt) for c in fresh_claims] == [("square", 1), ("square", 1)]
        assert {c.task_index for c in fresh_claims} == queued_before

        # The old worker reports the attempts it started before the upgrade.
        for claim in in_flight.held["diamond"]:
            assert complete(conn, claim, {claim.step_slug: claim.input["a"]["n"]})
        for claim in in_flight.held["squares"] + fresh_claims:
            assert complete(conn, claim, claim.input * claim.input)
        last = poll(conn, NEW_WORKER, ["diamond", "squares"])
        merge, total = only(last, "d"), only(last, "total")
        assert merge.input == {"b": {"b": 3}, "c": {"c": 3}}
        assert total.input == {"square": [x * x for x in SQUARES_INPUT]}
        assert complete(conn, merge, merge.input)
        assert complete(conn, total, sum(total.input["square"]))
        assert run_row(conn, runs["diamond"]) == ("completed", {"d": {"b": {"b": 3}, "c": {"c": 3}}})
        assert run_row(conn, runs["squares"]) == ("completed", {"total": 91})

        # The failed run resumes: both roots run again with a fresh budget of one attempt. The broken step fails
        # again (the run fails again), the run resumes again, and only the broken step runs a third time.
        resumed = call(conn, "select status from pgflow.resume_run(run_id => %s)", (runs["broken"],))
        assert resumed == "started"
        roots = poll(conn, NEW_WORKER, ["broken"])
        assert [(c.step_slug, c.attempt) for c in roots] == [("broken", 2), ("ok", 2)]
        assert complete(conn, only(roots, "ok"), "ok")
        assert fail(conn, only(roots, "broken"), "still broken after the upgrade")
        status, _output = run_row(conn, runs["broken"])
        assert status == "failed"
        assert call(conn, "select status from pgflow.resume_run(run_id => %s)", (runs["broken"],)) == "started"
        again = poll(conn, NEW_WORKER, ["broken"])
        assert [(c.step_slug, c.attempt) for c in again] == [("broken", 3)]
        assert complete(conn, again[0], "broken")
        join = only(poll(conn, NEW_WORKER, ["broken"]), "join")
        assert join.input == {"ok": "ok", "broken": "broken"}
        assert complete(conn, join, "joined")
        assert run_row(conn, runs["broken"]) == ("completed", {"join": "joined"})

        # The cancelled run refuses the late report of its old attempt, then resumes and completes.
        (stale,) = in_flight.held["chain"]
        assert not complete(conn, stale, "too late")
        assert call(conn, "select status from pgflow.resume_run(run_id => %s)", (runs["chain"],)) == "started"
        second = only(poll(conn, NEW_WORKER, ["chain"]), "second")
        assert (second.attempt, second.input) == (2, {"first": {"first": 1}})
        assert complete(conn, second, {"second": 2})
        assert run_row(conn, runs["chain"]) == ("completed", {"second": {"second": 2}})

        # The completed run reads the same, and its idempotency key still finds it.
        status = call(conn, "select pgflow.get_run_status(run_id => %s)", (runs["single"],))
        assert (status["status"], status["output"], status["completed_steps"], status["total_steps"]) == (
            "completed",
            {"only": {"done": 1}},
            1,
            1,
        )
        assert start(conn, "single", {"x": 2}, key="order-1") == runs["single"]

        # Definitions written by the release are the shipped engine's too: redefining changes nothing, and a
        # new run of them goes through.
        assert define(conn, "diamond") == 1
        new_run = start(conn, "diamond", {"n": 5})
        step = only(poll(conn, NEW_WORKER, ["diamond"]), "a")
        assert complete(conn, step, {"n": 5})
        for claim in poll(conn, NEW_WORKER, ["diamond"]):
            assert complete(conn, claim, {claim.step_slug: 5})
        merge = only(poll(conn, NEW_WORKER, ["diamond"]), "d")
        assert complete(conn, merge, merge.input)
        assert run_row(conn, new_run) == ("completed", {"d": {"b": {"b": 5}, "c": {"c": 5}}})

        # The retry waits for its hour, then runs as attempt 2.
        assert poll(conn, NEW_WORKER, ["flaky"]) == []
        conn.execute("select set_config('pgflow.fake_now', (now() + interval '2 hours')::text, false)")
        retry = only(poll(conn, NEW_WORKER, ["flaky"]), "flaky")
        assert (retry.attempt, retry.input) == (2, {"k": "v"})
        assert complete(conn, retry, "second time lucky")
        conn.execute("select set_config('pgflow.fake_now', '', false)")
        assert run_row(conn, runs["flaky"]) == ("completed", {"flaky": "second time lucky"})

        # The worker registered before the upgrade is the same row, and stops.
        conn.execute("select pgflow.stop_worker(worker_id => %s)", (OLD_WORKER,))
        worker = conn.execute(
            "select to_jsonb(w) -> 'started_at', stopped_at is not null from pgflow.workers as w where worker_id = %s",
            (OLD_WORKER,),
        ).fetchone()
        assert worker == (in_flight.before["workers"][(OLD_WORKER,)]["started_at"], True)

        open_tasks = conn.execute("select count(*) from pgflow.step_tasks where status in ('queued', 'started')")
        assert open_tasks.fetchone() == (0,)
        assert conn.execute("select count(*) from pgflow.runs where status <> 'completed'").fetchone() == (0,)
        assert violations(conn) == []


def test_upgrading_again_changes_nothing(in_flight: InFlight, fresh: tuple[str, str]) -> None:
    assert pgflow.migrate(in_flight.url) == shipped_version()
    with psycopg.connect(in_flight.url) as conn:
        rows = conn.execute("select version, checksum from pgflow.schema_migrations order by applied_at").fetchall()
        assert conn.execute("select pgflow.schema_version()").fetchone() == (shipped_version(),)
    release = in_flight.release
    assert rows == [(release_version(release), release_checksum(release)), (shipped_version(), shipped_checksum())]
    fresh_url, fresh_dump = fresh
    assert_same_schema(in_flight.url, fresh_url, fresh_dump, "the schema upgraded twice")


@pytest.mark.parametrize("release", RELEASES, ids=[r.name for r in RELEASES])
def test_an_upgrade_moves_no_deadline_or_lease(release: Path, admin_url: str) -> None:
    """An upgrade is no server restart: the deadlines and leases in flight stay where the release left them,
    however long nothing was heard before it (here 1.5 s, after the release's last call)."""
    with scratch_database(admin_url, "pgflow_upgrade") as url:
        install_release(url, release)
        with psycopg.connect(url, autocommit=True) as conn:
            define(conn, "diamond")
            start(conn, "diamond", {"n": 1})
            conn.execute("select pgflow.heartbeat(%s)", (OLD_WORKER,))
            assert poll(conn, OLD_WORKER, ["diamond"])
            before = conn.execute(
                "select (select array_agg(deadline order by run_id, step_slug, task_index) from pgflow.step_tasks"
                " where status = 'started'), (select array_agg(last_heartbeat_at) from pgflow.workers)"
            ).fetchone()
        time.sleep(1.5)
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("select pgflow.heartbeat('a-new-worker', null, interval '30 seconds')")
            after = conn.execute(
                "select (select array_agg(deadline order by run_id, step_slug, task_index) from pgflow.step_tasks"
                " where status = 'started'), (select array_agg(expires_at - worker_timeout) from pgflow.workers"
                " where worker_id = %s)",
                (OLD_WORKER,),
            ).fetchone()
            credits = conn.execute("select array_agg(credit) from pgflow.server_starts").fetchone()
    assert before is not None and after is not None and before[0], before
    assert after[0] == before[0], "the upgrade moved deadlines in flight"
    assert after[1] == before[1], "the upgrade moved the old worker's lease"
    assert credits is not None and all(c == dt.timedelta(0) for c in credits[0]), credits


@pytest.mark.parametrize("release", RELEASES, ids=[r.name for r in RELEASES])
def test_two_processes_upgrading_at_once_upgrade_once(release: Path, admin_url: str, fresh: tuple[str, str]) -> None:
    with scratch_database(admin_url, "pgflow_upgrade") as url:
        install_release(url, release)
        with psycopg.connect(url, autocommit=True) as conn:
            define(conn, "diamond")
            run_id = start(conn, "diamond", {"n": 1})
            held = poll(conn, OLD_WORKER, ["diamond"])
        # Both processes are let in only once both wait for the installer's lock, so they really overlap.
        with psycopg.connect(url, autocommit=True) as gate:
            gate.execute("select pg_advisory_lock(hashtext(%s))", (MIGRATE_LOCK_KEY,))
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "pgflow.cli", "--database-url", url, "migrate"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            waiting = 0
            deadline = time.monotonic() + 60
            while waiting < 2 and time.monotonic() < deadline and all(p.poll() is None for p in procs):
                time.sleep(0.05)
                row = gate.execute(
                    "select count(*) from pg_catalog.pg_locks where locktype = 'advisory' and not granted "
                    "and database = (select oid from pg_catalog.pg_database where datname = current_database())"
                ).fetchone()
                waiting = row[0] if row else 0
            gate.execute("select pg_advisory_unlock(hashtext(%s))", (MIGRATE_LOCK_KEY,))
        outputs = [p.communicate(timeout=120) for p in procs]
        assert waiting == 2, f"the two installers never waited for the lock together: {outputs}"
        assert [p.returncode for p in procs] == [0, 0], outputs
        assert all(f"pgflow schema {shipped_version()} installed" in out for out, _err in outputs), outputs
        with psycopg.connect(url, autocommit=True) as conn:
            rows = conn.execute("select version from pgflow.schema_migrations order by applied_at").fetchall()
            assert rows == [(release_version(release),), (shipped_version(),)]
            assert complete(conn, only(held, "a"), {"n": 1})
            assert [c.step_slug for c in poll(conn, OLD_WORKER, ["diamond"])] == ["b", "c"]
            assert run_row(conn, run_id)[0] == "started"
            assert violations(conn) == []
        fresh_url, fresh_dump = fresh
        assert_same_schema(url, fresh_url, fresh_dump, f"the schema upgraded from {release.name} by two processes")


# ------------------------------------------------------------------------------------------------------------
# scripts/build_migration.py


def build_migration(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_the_upgrade_script_is_built_from_the_current_sql() -> None:
    """The generated part of the upgrade script to the shipped version is the function files of sql/ as
    they are (run `python scripts/build_migration.py` after changing them)."""
    proc = build_migration("--check", "--sql-dir", str(sql_dir()))
    assert proc.returncode == 0, proc.stderr
    assert "is up to date" in proc.stdout


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    """A small engine of its own (a DDL file, two function files, a version file) with the upgrade script
    to its version built by the script, to change at will."""
    sql = tmp_path / "sql"
    (sql / "migrations").mkdir(parents=True)
    (sql / "001_schema.sql").write_text("create schema pgflow;\n\ncreate table pgflow.items (id int primary key);\n")
    (sql / "010_items.sql").write_text(
        "-- Counts the items.\n"
        "create or replace function pgflow.count_items()\nreturns bigint\nlanguage sql\n"
        "as $$ select count(*) from pgflow.items $$;\n\n"
        "comment on function pgflow.count_items() is 'How many items there are.';\n"
    )
    (sql / "050_grants.sql").write_text("grant usage on schema pgflow to public;\n")
    (sql / "090_schema_version.sql").write_text(
        "create or replace function pgflow.schema_version()\nreturns text\nlanguage sql\n"
        "as $$\n  select '1.1.0'::text\n$$;\n"
    )
    created = build_migration("--from", "1.0.0", "--sql-dir", str(sql))
    assert created.returncode == 0, created.stderr
    return sql


def test_the_script_is_created_with_a_hand_written_part_then_the_function_files(sql_copy: Path) -> None:
    script = sql_copy / "migrations" / "1.0.0--1.1.0.sql"
    hand_written, marker, generated = script.read_text().partition(
        "\n-- ==== generated by scripts/build_migration.py from sql/: do not edit below this line ====\n"
    )
    assert marker and "Upgrade of the pgflow schema from 1.0.0 to 1.1.0" in hand_written
    assert "create table" not in generated
    positions = [
        generated.index(f"-- ---- sql/{name} ----")
        for name in ("010_items.sql", "050_grants.sql", "090_schema_version.sql")
    ]
    assert positions == sorted(positions)
    for name in ("010_items.sql", "050_grants.sql", "090_schema_version.sql"):
        assert (sql_copy / name).read_text() in generated
    assert build_migration("--check", "--sql-dir", str(sql_copy)).returncode == 0


def test_a_changed_function_file_makes_the_script_stale_until_rebuilt(sql_copy: Path) -> None:
    script = sql_copy / "migrations" / "1.0.0--1.1.0.sql"
    # what a developer writes by hand is kept when the generated part is rebuilt
    script.write_text(
        script.read_text().replace(
            "\n-- ==== generated", "\nalter table pgflow.items add column name text;\n\n-- ==== generated", 1
        )
    )
    hand_written = script.read_text().split("\n-- ==== generated", 1)[0]
    items = sql_copy / "010_items.sql"
    items.write_text(items.read_text().replace("How many items there are.", "The number of items."))
    stale = build_migration("--check", "--sql-dir", str(sql_copy))
    assert stale.returncode == 1
    assert "1.0.0--1.1.0.sql is stale" in stale.stderr and len(stale.stderr.strip().splitlines()) == 1
    assert "The number of items." not in script.read_text()
    rebuilt = build_migration("--sql-dir", str(sql_copy))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert build_migration("--check", "--sql-dir", str(sql_copy)).returncode == 0
    assert script.read_text().startswith(hand_written + "\n-- ==== generated")
    assert "The number of items." in script.read_text()


def test_a_new_version_needs_its_own_script(sql_copy: Path) -> None:
    version = sql_copy / "090_schema_version.sql"
    version.write_text(version.read_text().replace("1.1.0", "1.2.0"))
    missing = build_migration("--check", "--sql-dir", str(sql_copy))
    assert missing.returncode == 2 and "no upgrade script" in missing.stderr and "1.2.0" in missing.stderr
    created = build_migration("--sql-dir", str(sql_copy))
    assert created.returncode == 0, created.stderr
    assert (sql_copy / "migrations" / "1.1.0--1.2.0.sql").is_file()
    assert build_migration("--check", "--sql-dir", str(sql_copy)).returncode == 0


@pytest.mark.parametrize(
    "statement",
    [
        "create table pgflow.extra (id int);",
        "create index extra_items on pgflow.items (id);",
        "create type pgflow.extra as (a int);",
        "alter table pgflow.items add column extra int;",
        "insert into pgflow.items values (1);",
        "create function pgflow.extra() returns int language sql as $$ select 1 $$;",
    ],
)
def test_ddl_in_a_function_file_is_refused(sql_copy: Path, statement: str) -> None:
    items = sql_copy / "010_items.sql"
    lines = items.read_text().count("\n")
    items.write_text(items.read_text() + "\n-- added\n" + statement + "\n")
    for args in (["--check"], []):
        proc = build_migration(*args, "--sql-dir", str(sql_copy))
        assert proc.returncode == 2
        assert f"010_items.sql:{lines + 3}: `{statement.rstrip(';')}`" in proc.stderr
        assert "cannot run again" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "statement",
    [
        "alter function pgflow.count_items security definer;",
        "alter function pgflow.count_items() set search_path = pg_catalog, pg_temp;",
        "alter function pgflow.count_items security definer set search_path = pg_catalog, pg_temp;",
        "revoke all on all functions in schema pgflow from public;",
        "do $$\nbegin\n  if exists (select from pg_catalog.pg_roles where rolname = 'pgflow_worker') then\n"
        "    grant usage on schema pgflow to pgflow_worker;\n  else\n    revoke all on schema pgflow from public;\n"
        "  end if;\nend\n$$;",
    ],
)
def test_privilege_statements_in_a_function_file_are_accepted(sql_copy: Path, statement: str) -> None:
    grants = sql_copy / "050_grants.sql"
    grants.write_text(grants.read_text() + "\n" + statement + "\n")
    proc = build_migration("--sql-dir", str(sql_copy))
    assert proc.returncode == 0, proc.stderr
    assert statement in (sql_copy / "migrations" / "1.0.0--1.1.0.sql").read_text()


@pytest.mark.parametrize(
    "statement",
    [
        "alter function pgflow.count_items rename to counted;",
        "alter function pgflow.count_items owner to someone;",
        "alter function pgflow.count_items set schema public;",
        "alter function pgflow.count_items immutable;",
        "do $$ begin create table pgflow.extra (id int); end $$;",
        "do $$ begin if true then grant usage on schema pgflow to public; create index i on pgflow.items (id); "
        "end if; end $$;",
        "do $$ begin execute 'grant usage on schema pgflow to public'; end $$;",
        "do $$ begin insert into pgflow.items values (1); end $$;",
    ],
)
def test_other_alter_and_do_statements_in_a_function_file_are_refused(sql_copy: Path, statement: str) -> None:
    grants = sql_copy / "050_grants.sql"
    lines = grants.read_text().count("\n")
    grants.write_text(grants.read_text() + "\n" + statement + "\n")
    proc = build_migration("--sql-dir", str(sql_copy))
    assert proc.returncode == 2
    assert f"050_grants.sql:{lines + 2}: `{statement.splitlines()[0].rstrip(';')}`" in proc.stderr
    assert "cannot run again" in proc.stderr
