"""The `pgflow` command line (SPEC §5), driven as a user would: every command run as a subprocess against the
test database, given the database with --database-url or with DATABASE_URL in the environment, workers
started as background `pgflow worker` processes. Flows come from tests_py/cli_flows.py, their slugs prefixed
per test (PGFLOW_CLI_TEST_PREFIX) so tests never see each other's work.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb

import pgflow
from pgflow.migrate import shipped_version

from . import cli_flows
from .conftest import scratch_database

ROOT = Path(__file__).resolve().parents[1]
MODULE = "tests_py.cli_flows"
UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"
TIMEOUT = 30  # seconds any one command may take before the test fails


# ----------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------
class Cli:
    """Runs `pgflow` commands for one test: its database, its flow prefix."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.prefix = f"c{uuid.uuid4().hex[:10]}"
        self.flows = cli_flows.build(self.prefix)

    def slug(self, name: str) -> str:
        return self.flows[name].slug

    def env(self, database_url: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env[cli_flows.PREFIX_VARIABLE] = self.prefix
        if database_url is not None:
            env["DATABASE_URL"] = database_url
        return env

    def command(self, args: tuple[str, ...], via: str, url: str | None) -> tuple[list[str], dict[str, str]]:
        """The command line and environment: the database given with --database-url (via="flag") or with
        DATABASE_URL (via="env")."""
        url = self.database_url if url is None else url
        cmd = [sys.executable, "-m", "pgflow.cli", *args]
        if via == "flag":
            return [*cmd, "--database-url", url], self.env()
        assert via == "env"
        return cmd, self.env(url)

    def run(self, *args: str, via: str = "flag", url: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd, env = self.command(args, via, url)
        return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)

    def ok(self, *args: str, via: str = "flag", url: str | None = None) -> str:
        """Run a command that must succeed; its stdout."""
        proc = self.run(*args, via=via, url=url)
        assert proc.returncode == 0, describe(proc)
        assert "Traceback" not in proc.stderr, describe(proc)
        return proc.stdout

    def start(self, name: str, run_input: Any, via: str = "flag") -> uuid.UUID:
        """`pgflow start SLUG --input JSON` (no --wait): the run id it prints."""
        out = self.ok("start", self.slug(name), "--input", json.dumps(run_input), via=via)
        return parse_run_id(out)

    def define(self, *names: str) -> None:
        with pgflow.Client(self.database_url) as client:
            for name in names:
                client.define(self.flows[name])

    @contextmanager
    def worker(self, *names: str, via: str = "flag", concurrency: int = 2) -> Iterator[subprocess.Popen[str]]:
        """`pgflow worker tests_py.cli_flows:NAME... --concurrency N` in the background, until its flows are
        defined; terminated (then killed) on exit."""
        # a worker that dies is noticed by its peers within 2 s, not the default 30 s
        url = make_conninfo(self.database_url, options="-c pgflow.worker_timeout=2s")
        cmd, env = self.command(
            ("worker", *[f"{MODULE}:{name}" for name in names], "--concurrency", str(concurrency)), via, url
        )
        with tempfile.TemporaryFile(mode="w+") as log:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
            try:
                slugs = [self.slug(name) for name in names]
                deadline = time.monotonic() + TIMEOUT
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    while True:
                        row = conn.execute(
                            "select count(distinct flow_slug) from pgflow.flows where flow_slug = any(%s)", [slugs]
                        ).fetchone()
                        if row == (len(slugs),):
                            break
                        if proc.poll() is not None or time.monotonic() > deadline:
                            log.seek(0)
                            pytest.fail(f"the worker did not define {slugs} (exit {proc.poll()}):\n{log.read()}")
                        time.sleep(0.05)
                yield proc
            finally:
                if proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(timeout=5)


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


def describe(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


def parse_run_id(stdout: str) -> uuid.UUID:
    """The run id on the first line of a command's output (it must be a UUID)."""
    first = stdout.strip().splitlines()[0].strip()
    return uuid.UUID(first)


def assert_clean_error(proc: subprocess.CompletedProcess[str]) -> str:
    """A refused command: non-zero exit status, one line on stderr starting with `pgflow:`, no traceback.
    Returns that line."""
    assert proc.returncode != 0, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, describe(proc)
    assert lines[0].startswith("pgflow:"), describe(proc)
    return lines[0]


def engine_error(conn: psycopg.Connection, sql: str, params: list[Any], sqlstate: str) -> str:
    """The message the engine raises for a statement (which must fail with ``sqlstate``)."""
    with pytest.raises(psycopg.Error) as raised:
        conn.execute(sql, params)
    assert raised.value.sqlstate == sqlstate
    message = raised.value.diag.message_primary
    assert message
    return message


def run_row(conn: psycopg.Connection, run_id: uuid.UUID) -> tuple[Any, ...] | None:
    return conn.execute("select status, input, output, error from pgflow.runs where run_id = %s", [run_id]).fetchone()


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def step_lines(text: str, slug: str) -> list[str]:
    """The lines of ``text`` that start (after indentation) with the step slug."""
    return re.findall(rf"^\s*{re.escape(slug)}\b.*$", text, re.MULTILINE)


def complete_by_hand(conn: psycopg.Connection, flow_slug: str) -> uuid.UUID:
    """A completed run of a one-step flow, worked through the SQL worker protocol."""
    conn.execute("select pgflow.define_flow(%s, %s)", [flow_slug, Jsonb([{"slug": "only"}])])
    row = conn.execute("select run_id from pgflow.start_run(%s, %s)", [flow_slug, Jsonb({"k": 1})]).fetchone()
    assert row is not None
    run_id = row[0]
    tasks = conn.execute(
        "select run_id, step_slug, task_index, attempt from pgflow.poll_for_tasks('cli-test', %s, 10)", [[flow_slug]]
    ).fetchall()
    assert [t[:3] for t in tasks] == [(run_id, "only", 0)]
    done = conn.execute("select pgflow.complete_task(%s, 'only', 0, %s, %s)", [run_id, Jsonb(1), tasks[0][3]])
    assert done.fetchone() == (True,)
    assert run_row(conn, run_id)[0] == "completed"  # type: ignore[index]
    return run_id


# ----------------------------------------------------------------------------------------------------
# migrate
# ----------------------------------------------------------------------------------------------------
def test_migrate_is_idempotent_and_prints_the_version(cli: Cli, conn: psycopg.Connection) -> None:
    version = shipped_version()
    for via in ("flag", "env", "flag"):
        out = cli.ok("migrate", via=via)
        assert version in out
    # --database-url also goes before the command
    proc = subprocess.run(
        [sys.executable, "-m", "pgflow.cli", "--database-url", cli.database_url, "migrate"],
        cwd=ROOT,
        env=cli.env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, describe(proc)
    assert version in proc.stdout
    assert conn.execute("select pgflow.schema_version()").fetchone() == (version,)


# ----------------------------------------------------------------------------------------------------
# worker + start
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("via", ["flag", "env"])
def test_start_wait_prints_run_id_then_output(cli: Cli, conn: psycopg.Connection, via: str) -> None:
    with cli.worker("diamond", via=via, concurrency=3):
        proc = cli.run("start", cli.slug("diamond"), "--input", '{"n": 7}', "--wait", via=via)
    assert proc.returncode == 0, describe(proc)
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2, describe(proc)
    run_id = uuid.UUID(lines[0].strip())
    assert json.loads(lines[1]) == cli_flows.diamond_output(7)
    assert run_row(conn, run_id) == ("completed", {"n": 7}, cli_flows.diamond_output(7), None)


def test_failing_run_with_wait_exits_non_zero_with_the_engine_error(cli: Cli, conn: psycopg.Connection) -> None:
    with cli.worker("failing"):
        proc = cli.run("start", cli.slug("failing"), "--input", '{"x": 1}', "--wait")
    line = assert_clean_error(proc)
    run_id = parse_run_id(proc.stdout)
    row = run_row(conn, run_id)
    assert row is not None and row[0] == "failed"
    engine_message = row[3]
    assert "explode" in engine_message  # the engine names the failed step
    assert engine_message in line
    assert "boom in the explode handler" in line


def test_one_worker_runs_two_flows(cli: Cli, conn: psycopg.Connection) -> None:
    with cli.worker("diamond", "second"):
        first = cli.ok("start", cli.slug("diamond"), "--input", '{"n": 2}', "--wait")
        other = cli.ok("start", cli.slug("second"), "--input", '{"hello": "world"}', "--wait")
    assert json.loads(first.strip().splitlines()[1]) == cli_flows.diamond_output(2)
    assert json.loads(other.strip().splitlines()[1]) == {"echo": {"echo": {"hello": "world"}}}
    for out in (first, other):
        assert run_row(conn, parse_run_id(out))[0] == "completed"  # type: ignore[index]


def test_worker_runs_up_to_concurrency_tasks_at_once(cli: Cli, conn: psycopg.Connection) -> None:
    items = list(range(1, 7))
    with cli.worker("slow", concurrency=3):
        out = cli.ok("start", cli.slug("slow"), "--input", json.dumps({"items": items}), "--wait")
    assert json.loads(out.strip().splitlines()[1]) == {"total": sum(items) * 10}
    intervals = conn.execute(
        "select started_at, finished_at from pgflow.step_tasks where run_id = %s and step_slug = 'work'",
        [parse_run_id(out)],
    ).fetchall()
    assert len(intervals) == len(items)
    # the most map tasks running at the same time (an end before a start at the same instant)
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 3, intervals


@pytest.mark.parametrize("via", ["flag", "env"])
def test_start_without_wait_prints_a_run_id(cli: Cli, conn: psycopg.Connection, via: str) -> None:
    cli.define("diamond")
    proc = cli.run("start", cli.slug("diamond"), "--input", '{"n": 5, "tag": "x"}', via=via)
    assert proc.returncode == 0, describe(proc)
    assert len(proc.stdout.strip().splitlines()) == 1, describe(proc)
    run_id = parse_run_id(proc.stdout)
    row = conn.execute("select flow_slug, status, input from pgflow.runs where run_id = %s", [run_id]).fetchone()
    assert row == (cli.slug("diamond"), "started", {"n": 5, "tag": "x"})


# ----------------------------------------------------------------------------------------------------
# status
# ----------------------------------------------------------------------------------------------------
def test_status_shows_status_percentage_and_one_line_per_step(cli: Cli, conn: psycopg.Connection) -> None:
    cli.define("diamond")
    run_id = cli.start("diamond", {"n": 4})
    steps = ["fetch", "double", "triple", "merge"]

    out = cli.ok("status", str(run_id))
    assert "started" in out
    assert re.search(r"(?<![\d.])0(\.0)?\s*%", out), out
    expected = {"fetch": "started", "double": "created", "triple": "created", "merge": "created"}
    for slug in steps:
        lines = step_lines(out, slug)
        assert len(lines) == 1, out
        assert expected[slug] in lines[0], out

    with cli.worker("diamond"):
        wait_for(lambda: run_row(conn, run_id)[0] == "completed", "the run to complete")  # type: ignore[index]
    out = cli.ok("status", str(run_id), via="env")
    assert "completed" in out
    assert re.search(r"100(\.0)?\s*%", out), out
    for slug in steps:
        lines = step_lines(out, slug)
        assert len(lines) == 1, out
        assert "completed" in lines[0], out


BAR = re.compile(r"\[([^\]]*)\]")


def test_status_watch_refreshes_until_the_run_finishes(cli: Cli, conn: psycopg.Connection) -> None:
    cli.define("slow")
    items = [1, 2, 3, 4, 5, 6]
    run_id = cli.start("slow", {"items": items})
    cmd, env = cli.command(("status", str(run_id), "--watch"), "flag", None)
    watcher = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # the watcher shows the run before any worker touches it
        assert watcher.poll() is None, "status --watch exited while the run was still started"
        with cli.worker("slow", concurrency=2):
            out, err = watcher.communicate(timeout=TIMEOUT)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(timeout=5)
    assert watcher.returncode == 0, f"exit {watcher.returncode}\n{out}\n{err}"
    assert "Traceback" not in err
    assert run_row(conn, run_id)[0] == "completed"  # type: ignore[index]

    # several snapshots, each starting with a line naming the run; the first one shows the run unfinished
    headers = [i for i, line in enumerate(out.splitlines()) if str(run_id) in line]
    assert len(headers) >= 2, out
    lines = out.splitlines()
    first = "\n".join(lines[headers[0] : headers[1]])
    last = "\n".join(lines[headers[-1] :])
    assert "completed" not in lines[headers[0]], out
    assert "completed" in lines[headers[-1]], out
    assert re.search(r"100(\.0)?\s*%", last), out

    # the last snapshot: one line per step, each with a full progress bar
    final_bars = {}
    for slug in ("split", "work", "total"):
        step = step_lines(last, slug)
        assert len(step) == 1, out
        assert "completed" in step[0], out
        bar = BAR.search(step[0])
        assert bar is not None, f"no progress bar on {step[0]!r}"
        final_bars[slug] = bar.group(1)
    full = final_bars["total"]
    assert len(full) >= 5 and len(set(full)) == 1, f"{full!r} is not a full progress bar"
    assert final_bars["split"] == full and final_bars["work"] == full, out
    # the first snapshot's bar of the map step was not full
    early = step_lines(first, "work")
    assert len(early) == 1, out
    early_bar = BAR.search(early[0])
    assert early_bar is not None and early_bar.group(1) != full, out


# ----------------------------------------------------------------------------------------------------
# runs
# ----------------------------------------------------------------------------------------------------
def test_runs_lists_runs_and_filters_by_flow_and_status(cli: Cli) -> None:
    cli.define("diamond", "second")
    a_started = cli.start("diamond", {"n": 1})
    a_cancelled = cli.start("diamond", {"n": 2})
    b_started = cli.start("second", {"b": 1}, via="env")
    cli.ok("cancel", str(a_cancelled))

    def listed(*args: str, via: str = "flag") -> set[uuid.UUID]:
        out = cli.ok("runs", *args, via=via)
        mine = {a_started, a_cancelled, b_started}
        return {run for run in mine if str(run) in out}

    assert listed() == {a_started, a_cancelled, b_started}
    assert listed(via="env") == {a_started, a_cancelled, b_started}
    assert listed("--flow", cli.slug("diamond")) == {a_started, a_cancelled}
    assert listed("--flow", cli.slug("second")) == {b_started}
    assert listed("--status", "cancelled") == {a_cancelled}
    assert listed("--flow", cli.slug("diamond"), "--status", "started") == {a_started}
    assert listed("--flow", cli.slug("second"), "--status", "completed") == set()

    out = cli.ok("runs", "--flow", cli.slug("diamond"))
    for run_id, status in ((a_started, "started"), (a_cancelled, "cancelled")):
        line = next(line for line in out.splitlines() if str(run_id) in line)
        assert status in line, out


# ----------------------------------------------------------------------------------------------------
# cancel, resume
# ----------------------------------------------------------------------------------------------------
def test_cancel_then_resume_completes_with_a_worker(cli: Cli, conn: psycopg.Connection) -> None:
    cli.define("diamond")
    run_id = cli.start("diamond", {"n": 6})

    cli.ok("cancel", str(run_id))
    assert run_row(conn, run_id)[0] == "cancelled"  # type: ignore[index]
    assert "cancelled" in cli.ok("status", str(run_id))

    cli.ok("resume", str(run_id), via="env")
    assert run_row(conn, run_id)[0] == "started"  # type: ignore[index]

    with cli.worker("diamond"):
        wait_for(lambda: run_row(conn, run_id)[0] != "started", "the resumed run to finish")  # type: ignore[index]
    assert run_row(conn, run_id) == ("completed", {"n": 6}, cli_flows.diamond_output(6), None)


# ----------------------------------------------------------------------------------------------------
# graph
# ----------------------------------------------------------------------------------------------------
def assert_mermaid(out: str, steps: list[str], edges: list[tuple[str, str]]) -> None:
    assert re.search(r"^\s*(flowchart|graph)\b", out, re.MULTILINE), out
    for slug in steps:
        nodes = re.findall(rf"^\s*{slug}\s*[\[\(\{{>]", out, re.MULTILINE)
        assert len(nodes) == 1, f"step {slug}: {nodes}\n{out}"
    found = re.findall(r"^\s*(\w+)\s*-->\s*(?:\|[^|]*\|\s*)?(\w+)", out, re.MULTILINE)
    assert sorted(found) == sorted(edges), out


def assert_dot(out: str, edges: list[tuple[str, str]]) -> None:
    assert re.search(r"^\s*digraph\b", out, re.MULTILINE), out
    found = re.findall(r'"(\w+)"\s*->\s*"(\w+)"', out)
    assert sorted(found) == sorted(edges), out


def test_graph_of_a_module_flow_as_mermaid_and_dot(cli: Cli) -> None:
    steps = ["fetch", "double", "triple", "merge"]
    spec = f"{MODULE}:diamond"
    assert_mermaid(cli.ok("graph", spec), steps, cli_flows.DIAMOND_EDGES)
    assert_mermaid(cli.ok("graph", spec, "--format", "mermaid"), steps, cli_flows.DIAMOND_EDGES)
    dot = cli.ok("graph", spec, "--format", "dot")
    assert_dot(dot, cli_flows.DIAMOND_EDGES)
    for slug in steps:
        assert re.search(rf'^\s*"{slug}"\s*\[', dot, re.MULTILINE), dot


def test_graph_of_a_flow_in_the_database_prints_the_same_edges(cli: Cli) -> None:
    cli.define("diamond", "slow")
    assert_mermaid(
        cli.ok("graph", cli.slug("diamond")), ["fetch", "double", "triple", "merge"], cli_flows.DIAMOND_EDGES
    )
    assert_dot(cli.ok("graph", cli.slug("diamond"), "--format", "dot", via="env"), cli_flows.DIAMOND_EDGES)
    slow_edges = [("split", "work"), ("work", "total")]
    assert_mermaid(cli.ok("graph", cli.slug("slow")), ["split", "work", "total"], slow_edges)
    assert_dot(cli.ok("graph", cli.slug("slow"), "--format", "dot"), slow_edges)


def test_graph_of_a_run_colours_steps_by_status(cli: Cli, conn: psycopg.Connection) -> None:
    with cli.worker("failing"):
        proc = cli.run("start", cli.slug("failing"), "--input", "{}", "--wait")
    assert proc.returncode != 0, describe(proc)
    run_id = parse_run_id(proc.stdout)
    statuses: dict[str, str] = dict(
        conn.execute("select step_slug, status from pgflow.step_states where run_id = %s", [run_id])
    )
    assert statuses == {"prepare": "completed", "explode": "failed"}

    mermaid = cli.ok("graph", cli.slug("failing"), "--run", str(run_id))
    assert_mermaid(mermaid, ["prepare", "explode"], [("prepare", "explode")])
    for slug, status in statuses.items():
        assert re.search(rf"^\s*classDef\s+{status}\b", mermaid, re.MULTILINE), mermaid
        assert re.search(rf"(^\s*class\s+{slug}\s+{status}\b)|({slug}\S*:::{status}\b)", mermaid, re.MULTILINE), mermaid

    dot = cli.ok("graph", cli.slug("failing"), "--run", str(run_id), "--format", "dot")
    assert_dot(dot, [("prepare", "explode")])
    fills = {}
    for slug, status in statuses.items():
        node = re.search(rf'^\s*"{slug}"\s*\[(.*)\]', dot, re.MULTILINE)
        assert node is not None, dot
        assert status in node.group(1), dot
        fill = re.search(r'fillcolor\s*=\s*"?([^",\]\s]+)', node.group(1))
        assert fill is not None, dot
        fills[slug] = fill.group(1)
    assert fills["prepare"] != fills["explode"], dot


# ----------------------------------------------------------------------------------------------------
# prune
# ----------------------------------------------------------------------------------------------------
def test_prune_deletes_finished_runs_older_than_the_duration(admin_url: str) -> None:
    # its own database: pruning with 0s deletes every finished run in it
    with scratch_database(admin_url, "pgflow_cli_prune") as url:
        cli = Cli(url)
        assert shipped_version() in cli.ok("migrate")
        with psycopg.connect(url, autocommit=True) as conn:
            completed = complete_by_hand(conn, f"{cli.prefix}_done")
            cli.define("diamond")
            cancelled = cli.start("diamond", {"n": 1})
            cli.ok("cancel", str(cancelled))
            started = cli.start("diamond", {"n": 2})

            def remaining() -> dict[str, set[uuid.UUID]]:
                return {
                    table: {r[0] for r in conn.execute(f"select distinct run_id from pgflow.{table}")}
                    for table in ("runs", "step_states", "step_tasks")
                }

            everything = {completed, cancelled, started}
            assert remaining() == {"runs": everything, "step_states": everything, "step_tasks": everything}

            out = cli.ok("prune", "--older-than", "7d")
            assert re.findall(r"\b\d+\b", out) == ["0"], out
            assert remaining()["runs"] == everything

            out = cli.ok("prune", "--older-than", "0s", via="env")
            assert re.findall(r"\b\d+\b", out) == ["2"], out
            assert remaining() == {"runs": {started}, "step_states": {started}, "step_tasks": {started}}


# ----------------------------------------------------------------------------------------------------
# Errors: one line on stderr starting with `pgflow:`, no traceback, non-zero exit status
# ----------------------------------------------------------------------------------------------------
NOT_A_UUID = "not-a-run-id"


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("start", "some_flow", "--input", "{bad json"), "json"),
        (("start", "some_flow", "--input", "{bad json", "--wait"), "json"),
        (("status", NOT_A_UUID), NOT_A_UUID),
        (("status", NOT_A_UUID, "--watch"), NOT_A_UUID),
        (("cancel", NOT_A_UUID), NOT_A_UUID),
        (("resume", "12345"), "12345"),
        (("graph", "some_flow", "--run", NOT_A_UUID), NOT_A_UUID),
        (("graph", "no_such_module_for_pgflow:flow"), "no_such_module_for_pgflow"),
        (("worker", "no_such_module_for_pgflow:flow"), "no_such_module_for_pgflow"),
        (("graph", f"{MODULE}:NOT_A_FLOW"), "NOT_A_FLOW"),
        (("worker", f"{MODULE}:NOT_A_FLOW"), "NOT_A_FLOW"),
        (("worker", f"{MODULE}:diamond", f"{MODULE}:no_such_flow"), "no_such_flow"),
        (("graph", f"{MODULE}:no_such_flow"), "no_such_flow"),
        (("prune", "--older-than", "7x"), "7x"),
        (("prune", "--older-than", "soon"), "soon"),
    ],
)
def test_bad_input_is_one_clean_line(cli: Cli, args: tuple[str, ...], mentions: str) -> None:
    line = assert_clean_error(cli.run(*args))
    assert mentions.lower() in line.lower()


RUN = "00000000-0000-0000-0000-000000000001"


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("prune", "--older-than", "99999999999w"), "--older-than"),
        (("prune", "--older-than", "360001d"), "at most 1000 years"),
        (("prune", "--older-than", "1" * 400 + "s"), "--older-than"),
        (("prune", "--older-than", "7x"), "--older-than"),
        (("status", RUN, "--interval", "0"), "--interval"),
        (("status", RUN, "--watch", "--interval", "1e300"), "--interval"),
        (("status", RUN, "--watch", "--interval", "nan"), "--interval"),
        (("start", "some_flow", "--input", "NaN"), "NaN is not a JSON value"),
        (("start", "some_flow", "--input", '{"a": [Infinity]}'), "Infinity is not a JSON value"),
        (("start", "some_flow", "--input", '{"a": -Infinity}'), "-Infinity is not a JSON value"),
        (("start", "some_flow", "--input", '{"a": "\\u0000"}'), "NUL"),
        (("start", "some_flow", "--input", "1" + "0" * 5000), "--input"),
        (("start", "some_flow", "--wait", "--timeout", "-1"), "--timeout"),
        (("start", "some_flow", "--idempotency-key", "k" * 256), "--idempotency-key"),
        (("runs", "--limit", "-1"), "--limit"),
        (("runs", "--limit", "10001"), "--limit"),
        (("resume", "12345"), "12345"),
        (("worker", f"{MODULE}:diamond", "--poll-interval", "1e300"), "poll_interval"),
        (("worker", f"{MODULE}:diamond", "--heartbeat-interval", "1e-300"), "heartbeat_interval"),
        (("worker", f"{MODULE}:diamond", "--shutdown-timeout", "1e300"), "shutdown_timeout"),
    ],
)
def test_bad_usage_exits_2_with_one_line_naming_the_option(
    cli: Cli, conn: psycopg.Connection, args: tuple[str, ...], mentions: str
) -> None:
    """Bad usage, found before anything is sent: exit status 2, one line, no traceback, nothing written."""
    proc = cli.run(*args)
    line = assert_clean_error(proc)
    assert proc.returncode == 2, describe(proc)
    assert mentions in line, line
    assert conn.execute("select count(*) from pgflow.runs where flow_slug = 'some_flow'").fetchone() == (0,)


def test_the_longest_durations_and_limits_are_taken(cli: Cli) -> None:
    """The ends of the ranges work: prune up to 1000 years (360000d), list up to 10,000 runs."""
    assert "deleted 0 run(s)" in cli.ok("prune", "--older-than", "360000d")
    assert "deleted 0 run(s)" in cli.ok("prune", "--older-than", "51428w")
    cli.ok("runs", "--limit", "10000")
    cli.ok("runs", "--limit", "0")


#: every start_run meets a trigger that cancels the statement, as a statement timeout would
CANCEL_STARTS = """
create function public.cancel_starts() returns trigger language plpgsql as $$
begin
  raise exception using errcode = '57014', message = 'canceling statement due to statement timeout';
end;
$$;
create trigger cancel_starts before insert on pgflow.runs for each row execute function public.cancel_starts();
"""


def test_a_server_error_is_a_refused_operation_not_an_unreachable_database(admin_url: str) -> None:
    """A statement the server cancels (57014) is a refused operation (exit 1, the server's message); only a
    connection that cannot be made or was lost says "cannot reach the database" (exit 2)."""
    with scratch_database(admin_url, "pgflow_cli_cancel") as url:
        cli = Cli(url)
        cli.ok("migrate")
        cli.define("diamond")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(CANCEL_STARTS)
        proc = cli.run("start", cli.slug("diamond"), "--input", '{"n": 1}')
    line = assert_clean_error(proc)
    assert proc.returncode == 1, describe(proc)
    assert line == "pgflow: canceling statement due to statement timeout", line


@pytest.mark.parametrize("command", ["status", "cancel", "resume"])
def test_unknown_run_id_gives_the_engine_message(cli: Cli, conn: psycopg.Connection, command: str) -> None:
    run_id = uuid.uuid4()
    message = engine_error(conn, "select pgflow.get_run_status(%s)", [run_id], "PF006")
    line = assert_clean_error(cli.run(command, str(run_id)))
    assert message in line


def test_graph_of_an_unknown_run_gives_the_engine_message(cli: Cli, conn: psycopg.Connection) -> None:
    cli.define("diamond")
    run_id = uuid.uuid4()
    message = engine_error(conn, "select pgflow.get_run_status(%s)", [run_id], "PF006")
    line = assert_clean_error(cli.run("graph", cli.slug("diamond"), "--run", str(run_id)))
    assert message in line


@pytest.mark.parametrize("wait", [False, True])
def test_start_of_an_unknown_flow_gives_the_engine_message(cli: Cli, conn: psycopg.Connection, wait: bool) -> None:
    slug = f"{cli.prefix}_nowhere"
    message = engine_error(conn, "select pgflow.start_run(%s, '{}')", [slug], "PF004")
    line = assert_clean_error(cli.run("start", slug, "--input", "{}", *(["--wait"] if wait else [])))
    assert message in line
    assert conn.execute("select count(*) from pgflow.runs where flow_slug = %s", [slug]).fetchone() == (0,)


def test_graph_of_an_unknown_flow_slug_is_one_clean_line(cli: Cli) -> None:
    slug = f"{cli.prefix}_nowhere"
    line = assert_clean_error(cli.run("graph", slug))
    assert slug in line


@pytest.mark.parametrize("command", ["start", "graph", "set-version", "flows"])
def test_an_unknown_flow_gets_the_closest_known_one_in_every_command(cli: Cli, command: str) -> None:
    """start, graph, set-version and flows refuse an unknown flow alike: exit 1, one line, the closest known
    flow, whether the slug has a typo (a letter left out) or differs in case only."""
    cli.define("diamond")
    slug = cli.slug("diamond")
    for wrong in (slug[:-1], slug.upper()):
        extra = ["1"] if command == "set-version" else []
        proc = cli.run(command, wrong, *extra)
        line = assert_clean_error(proc)
        assert proc.returncode == 1, describe(proc)
        assert f"did you mean {slug!r}?" in line, line
        assert proc.stdout == "", describe(proc)


def test_cancelling_a_completed_run_gives_the_engine_message(cli: Cli, conn: psycopg.Connection) -> None:
    run_id = complete_by_hand(conn, f"{cli.prefix}_done")
    message = engine_error(conn, "select pgflow.cancel_run(%s)", [run_id], "PF008")
    line = assert_clean_error(cli.run("cancel", str(run_id)))
    assert message in line
    assert run_row(conn, run_id)[0] == "completed"  # type: ignore[index]


def test_resuming_a_started_run_gives_the_engine_message(cli: Cli, conn: psycopg.Connection) -> None:
    cli.define("diamond")
    run_id = cli.start("diamond", {"n": 1})
    message = engine_error(conn, "select pgflow.resume_run(%s)", [run_id], "PF008")
    line = assert_clean_error(cli.run("resume", str(run_id)))
    assert message in line


@pytest.mark.parametrize("via", ["flag", "env"])
@pytest.mark.parametrize(
    "args",
    [
        ("migrate",),
        ("start", "some_flow", "--input", "{}"),
        ("start", "some_flow", "--input", "{}", "--wait"),
        ("status", "00000000-0000-0000-0000-000000000001"),
        ("status", "00000000-0000-0000-0000-000000000001", "--watch"),
        ("runs",),
        ("cancel", "00000000-0000-0000-0000-000000000001"),
        ("resume", "00000000-0000-0000-0000-000000000001"),
        ("graph", "some_flow"),
        ("prune", "--older-than", "7d"),
    ],
)
def test_an_unreachable_database_is_one_clean_line(cli: Cli, args: tuple[str, ...], via: str) -> None:
    started = time.monotonic()
    line = assert_clean_error(cli.run(*args, via=via, url=UNREACHABLE))
    assert time.monotonic() - started < 20
    assert "127.0.0.1" in line or "database" in line.lower() or "connect" in line.lower()


def test_the_database_url_flag_wins_over_the_environment(cli: Cli) -> None:
    cmd = [sys.executable, "-m", "pgflow.cli", "runs", "--database-url", UNREACHABLE]
    proc = subprocess.run(cmd, cwd=ROOT, env=cli.env(cli.database_url), capture_output=True, text=True, timeout=TIMEOUT)
    assert_clean_error(proc)
    cmd = [sys.executable, "-m", "pgflow.cli", "runs", "--database-url", cli.database_url]
    proc = subprocess.run(cmd, cwd=ROOT, env=cli.env(UNREACHABLE), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, describe(proc)
