"""The `pgflow` command line when things go wrong, tried as a new user would, every command a real subprocess:
a run waited for while no worker serves its flow, progress through a wide map step, a database without the
schema, a mistyped flow or MODULE:FLOW, migrate run twice, graphs of cycles and conditions, --debug, and the
help texts and exit statuses (0 ok, 1 failure, 2 usage)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgflow
from pgflow import cli as pgflow_cli
from pgflow import graph
from pgflow.migrate import shipped_version

from .conftest import scratch_database
from .test_cli import ROOT, Cli, assert_clean_error, describe
from .test_upgrade import RELEASES, install_release, release_version

TIMEOUT = 60


def run_cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGFLOW_DEBUG")}
    return subprocess.run(
        [sys.executable, "-m", "pgflow.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


@pytest.fixture
def user_dir(tmp_path: Path, flow_slug: str) -> Path:
    """A directory holding a user's module, myflows.py, with a flow named ``<flow_slug>_sales_report`` (its
    second step runs only when the first says "big"), a function, and a flow whose steps form a cycle."""
    (tmp_path / "myflows.py").write_text(
        textwrap.dedent(f"""
        import pgflow

        sales_report = pgflow.Flow("{flow_slug}_sales_report", max_attempts=1)

        @sales_report.step
        def fetch(input):
            return {{"big": input.get("n", 0) > 10}}

        @sales_report.step(depends_on=[fetch], if_={{"fetch": {{"big": True}}}}, when_unmet="skip-cascade")
        def summarize(deps):
            return "summary"

        cyclic = pgflow.Flow("{flow_slug}_cyclic")

        @cyclic.step(depends_on=["second"])
        def first(deps):
            return 1

        @cyclic.step(depends_on=[first])
        def second(deps):
            return 2

        def helper(value):
            return value
    """)
    )
    (tmp_path / "broken.py").write_text("import pgflow\nvalue = 1 / 0\n")
    (tmp_path / "badhandler.py").write_text(
        textwrap.dedent(f"""
        import pgflow
        flow = pgflow.Flow("{flow_slug}_bad")

        @flow.step
        def takes_three(input, ctx, extra):
            return 1
    """)
    )
    (tmp_path / "needs_missing.py").write_text("import no_such_dependency_xyz\n")
    return tmp_path


# ----------------------------------------------------------------------------------------------------
# 1. waiting while no worker serves the flow
# ----------------------------------------------------------------------------------------------------
NO_WORKER = re.compile(r"^pgflow: no live worker serves flow (\S+) .*pgflow worker", re.MULTILINE)


def test_start_wait_says_no_live_worker_serves_the_flow_and_keeps_waiting(
    database_url: str, user_dir: Path, flow_slug: str
) -> None:
    slug = f"{flow_slug}_sales_report"
    env = {"DATABASE_URL": database_url}
    with pgflow.Client(database_url) as client:
        client.define(_load(user_dir, "sales_report"))
    waiting = subprocess.Popen(
        [sys.executable, "-m", "pgflow.cli", "start", slug, "--input", '{"n": 20}', "--wait"],
        cwd=user_dir,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = None
    try:
        # the notice comes after a grace of 2 s; the command keeps waiting after it
        time.sleep(4.5)
        assert waiting.poll() is None, "start --wait gave up while no worker served the flow"
        worker = subprocess.Popen(
            [sys.executable, "-m", "pgflow.cli", "worker", "myflows:sales_report"],
            cwd=user_dir,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out, err = waiting.communicate(timeout=TIMEOUT)
    finally:
        for proc in (waiting, worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=20)
    assert waiting.returncode == 0, f"exit {waiting.returncode}\n{out}\n{err}"
    assert json.loads(out.splitlines()[1]) == {"summarize": "summary"}
    notices = NO_WORKER.findall(err)
    assert notices == [slug], err  # said once (the repeat is a minute away)
    assert "Traceback" not in err


def test_start_wait_with_a_live_worker_says_nothing_about_workers(cli: Cli) -> None:
    with cli.worker("slow"):
        proc = cli.run("start", cli.slug("slow"), "--input", json.dumps({"items": list(range(12))}), "--wait")
    assert proc.returncode == 0, describe(proc)
    assert proc.stderr == "", describe(proc)


def test_live_workers_counts_only_running_unexpired_workers_of_the_flow(admin_url: str) -> None:
    with scratch_database(admin_url, "pgflow_cli_workers") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn, pgflow.Client(url) as client:
            conn.execute("select pgflow.define_flow('f', '[{\"slug\": \"a\"}]')")
            conn.execute("select pgflow.define_flow('g', '[{\"slug\": \"a\"}]')")
            assert pgflow_cli.live_workers(client, "unknown") is None  # PF004: cannot be known
            assert pgflow_cli.live_workers(client, "f") == 0
            conn.execute("select pgflow.heartbeat('other', array['g'])")
            assert pgflow_cli.live_workers(client, "f") == 0
            conn.execute("select pgflow.heartbeat('mine', array['g', 'f'])")
            assert pgflow_cli.live_workers(client, "f") == 1
            conn.execute("select pgflow.heartbeat('every', null)")
            assert pgflow_cli.live_workers(client, "f") == 2
            conn.execute("select pgflow.stop_worker('every')")
            assert pgflow_cli.live_workers(client, "f") == 1
            conn.execute(
                "update pgflow.workers set expires_at = pgflow.now() - interval '1 second' where worker_id = 'mine'"
            )
            assert pgflow_cli.live_workers(client, "f") == 0
            assert pgflow_cli.live_workers(client, "g") == 1
            # versions: a worker whose polls claim only version 1 of g does not serve its current version 2
            conn.execute("select pgflow.define_flow('g', '[{\"slug\": \"b\"}]')")
            conn.execute("select count(*) from pgflow.poll_for_tasks('other', null, 0, '{\"g\": [1]}')")
            assert pgflow_cli.live_workers(client, "g") == 0
            assert pgflow_cli.live_workers(client, "g", 1) == 1
            assert pgflow_cli.live_workers(client, "g", 2) == 0


def test_the_no_worker_notice_names_the_version() -> None:
    said: list[str] = []
    notice = pgflow_cli.NoWorkerNotice(
        lambda: 0, said.append, "f", "m:f", grace=0, every=5, repeat=60, clock=lambda: 0.0, flow_version=3
    )
    notice.look()
    assert len(said) == 1 and said[0].startswith("no live worker serves flow f version 3 ("), said


def test_the_no_worker_notice_repeats_while_it_stays_so_and_says_when_a_worker_comes() -> None:
    now = [0.0]
    live: list[int | None] = [0]
    said: list[str] = []
    notice = pgflow_cli.NoWorkerNotice(
        lambda: live[0], said.append, "f", "m:f", grace=2, every=5, repeat=60, clock=lambda: now[0]
    )
    looks = []

    def at(t: float) -> list[str]:
        now[0] = t
        before = len(said)
        notice.look()
        looks.append(t)
        return said[before:]

    assert at(1.0) == []  # within the grace period
    first = at(2.0)
    assert len(first) == 1 and "no live worker serves flow f" in first[0] and "pgflow worker m:f" in first[0]
    assert at(3.0) == [] and at(30.0) == [] and at(61.0) == []  # looked at 30 s: still none, not yet a minute
    again = at(70.0)
    assert len(again) == 1 and again[0].startswith("still no live worker serves flow f after 70 s"), again
    live[0] = 1
    assert at(76.0) == ["a live worker now serves flow f"]
    assert at(82.0) == []
    live[0] = None  # cannot tell (no SELECT on pgflow.workers): says nothing
    assert at(200.0) == []


# ----------------------------------------------------------------------------------------------------
# 2. progress moves with tasks
# ----------------------------------------------------------------------------------------------------
def header(text: str) -> str:
    return text.splitlines()[0]


def test_status_progress_moves_with_the_tasks_of_a_map_step(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    """split -> work (a map of 200 elements) -> total: the engine's percentage stays at 33.3 for the whole map
    phase; the CLI's moves with each completed element."""
    conn.execute(
        "select pgflow.define_flow(%s, %s)",
        [
            flow_slug,
            Jsonb(
                [
                    {"slug": "split"},
                    {"slug": "work", "type": "map", "depends_on": ["split"]},
                    {"slug": "total", "depends_on": ["work"]},
                ]
            ),
        ],
    )
    run_id = conn.execute("select run_id from pgflow.start_run(%s, '{}')", [flow_slug]).fetchone()[0]  # type: ignore[index]

    def work(step: str, count: int, output: Any) -> None:
        claims = conn.execute(
            "select run_id, step_slug, task_index, attempt from pgflow.poll_for_tasks('progress', %s, %s)",
            [[flow_slug], count],
        ).fetchall()
        assert len(claims) == count and {c[1] for c in claims} == {step}
        for claim in claims:
            conn.execute(
                "select pgflow.complete_task(%s, %s, %s, %s, %s)", [run_id, step, claim[2], Jsonb(output), claim[3]]
            )

    def shown() -> tuple[float, float, str]:
        proc = run_cli("status", str(run_id), "--database-url", database_url)
        assert proc.returncode == 0, describe(proc)
        match = re.search(r"\[([#.]+)\] (\d+(?:\.\d+)?)%", header(proc.stdout))
        assert match, proc.stdout
        engine = pgflow.Client(database_url).get_run_status(run_id)["percentage"]
        return float(match.group(2)), float(engine), match.group(1)

    assert shown()[:2] == (0.0, 0.0)
    work("split", 1, list(range(200)))
    at_start = shown()
    assert at_start[:2] == (33.3, 33.3)
    work("work", 50, 1)
    quarter = shown()
    assert quarter[1] == 33.3  # the engine's percentage counts finished steps
    assert quarter[0] == round(100 * (1 + 0.25) / 3, 1) == 41.7
    work("work", 100, 1)
    three_quarters = shown()
    assert three_quarters[0] == 58.3 and three_quarters[1] == 33.3
    assert three_quarters[2].count("#") > quarter[2].count("#") > at_start[2].count("#")
    work("work", 50, 1)
    work("total", 1, 0)
    assert shown()[:2] == (100.0, 100.0)


def test_run_progress_counts_skipped_steps_and_empty_maps() -> None:
    def step(status: str, total: int, done: int) -> dict[str, Any]:
        return {"status": status, "total_tasks": total, "completed_tasks": done}

    assert (
        pgflow_cli.run_progress({"status": "started", "steps": [step("skipped", 0, 0), step("created", 0, 0)]}) == 50.0
    )
    assert (
        pgflow_cli.run_progress({"status": "started", "steps": [step("started", 4, 1), step("failed", 4, 3)]}) == 50.0
    )
    assert pgflow_cli.run_progress({"status": "completed", "steps": []}) == 100.0
    assert pgflow_cli.run_progress({"status": "started", "steps": []}) == 0.0


# ----------------------------------------------------------------------------------------------------
# 4. no schema
# ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def empty_database(admin_url: str) -> Iterator[str]:
    with scratch_database(admin_url, "pgflow_cli_empty") as url:
        yield url


RUN_ID = str(uuid.uuid4())


@pytest.mark.parametrize(
    "args",
    [
        ("runs",),
        ("status", RUN_ID),
        ("status", RUN_ID, "--watch"),
        ("cancel", RUN_ID),
        ("resume", RUN_ID),
        ("start", "some_flow"),
        ("start", "some_flow", "--wait"),
        ("graph", "some_flow"),
        ("graph", "x", "--run", RUN_ID),
        ("prune", "--older-than", "7d"),
    ],
)
def test_every_command_without_the_schema_names_pgflow_migrate(empty_database: str, args: tuple[str, ...]) -> None:
    proc = run_cli(*args, "--database-url", empty_database)
    line = assert_clean_error(proc)
    assert proc.returncode == 1, describe(proc)
    assert "not installed" in line and "pgflow migrate" in line, line


def test_start_of_a_module_flow_without_the_schema_names_pgflow_migrate(empty_database: str, user_dir: Path) -> None:
    proc = run_cli("start", "myflows:sales_report", "--database-url", empty_database, cwd=user_dir)
    assert proc.returncode == 1 and "pgflow migrate" in assert_clean_error(proc), describe(proc)


def test_the_api_without_the_schema_raises_schema_not_installed(empty_database: str) -> None:
    flow = pgflow.Flow("no_schema")

    @flow.step
    def only(input: Any) -> Any:
        return input

    calls = {
        "define": lambda c: c.define(flow),
        "describe_flow": lambda c: c.describe_flow("no_schema"),
        "start_run": lambda c: c.start_run("no_schema", {}),
        "start_run(flow)": lambda c: c.start_run(flow, {}),
        "get_run": lambda c: c.get_run(RUN_ID),
        "get_run_status": lambda c: c.get_run_status(RUN_ID),
        "list_runs": lambda c: c.list_runs(),
        "cancel_run": lambda c: c.cancel_run(RUN_ID),
        "resume_run": lambda c: c.resume_run(RUN_ID),
        "prune_runs": lambda c: c.prune_runs("7 days"),
        "prune_runs(timedelta)": lambda c: c.prune_runs(__import__("datetime").timedelta(days=1)),
        "wait": lambda c: c.wait(RUN_ID, timeout=1),
        "watch": lambda c: next(c.watch(RUN_ID)),
    }
    with pgflow.Client(empty_database) as client:
        for name, call in calls.items():
            with pytest.raises(pgflow.SchemaNotInstalled, match="pgflow migrate"):
                call(client)
                pytest.fail(f"{name} did not raise")
    with pytest.raises(pgflow.SchemaNotInstalled, match="pgflow migrate") as raised:
        pgflow.execute(flow, {}, empty_database, timeout=10)
    assert isinstance(raised.value, pgflow.PgflowError)


def test_an_older_schema_without_a_function_names_pgflow_migrate(admin_url: str) -> None:
    with scratch_database(admin_url, "pgflow_cli_older") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop function pgflow.list_runs")
        proc = run_cli("runs", "--database-url", url)
        line = assert_clean_error(proc)
        assert proc.returncode == 1
        assert "pgflow.list_runs" in line and "older than this package" in line and "pgflow migrate" in line, line
        with pytest.raises(pgflow.SchemaNotInstalled, match="pgflow migrate"), pgflow.Client(url) as client:
            client.list_runs()


# ----------------------------------------------------------------------------------------------------
# 5. mistyped flows and MODULE:FLOW
# ----------------------------------------------------------------------------------------------------
def test_start_of_a_mistyped_flow_suggests_the_closest_known_flow(
    database_url: str, user_dir: Path, flow_slug: str
) -> None:
    with pgflow.Client(database_url) as client:
        client.define(_load(user_dir, "sales_report"))
    for command in (("start", f"{flow_slug}_sales_reprot"), ("graph", f"{flow_slug}_sales_reprot")):
        proc = run_cli(*command, "--database-url", database_url)
        line = assert_clean_error(proc)
        assert proc.returncode == 1
        assert f"{flow_slug}_sales_reprot" in line and f"did you mean '{flow_slug}_sales_report'?" in line, line
        assert "known flows:" in line


def test_start_of_a_flow_in_an_empty_database_says_none_is_defined(admin_url: str) -> None:
    with scratch_database(admin_url, "pgflow_cli_noflows") as url:
        pgflow.migrate(url)
        line = assert_clean_error(run_cli("start", "sales_report", "--database-url", url))
        assert "no flow is defined in this database yet" in line, line


@pytest.mark.parametrize(
    ("spec", "status", "mentions"),
    [
        ("myflows.py:sales_report", 2, ["names a file, not a module", "use myflows:sales_report"]),
        ("./myflows.py:sales_report", 2, ["use myflows:sales_report"]),
        ("myflows.py", 2, ["is not MODULE:FLOW", "did you mean myflows:FLOW"]),
        (
            "myflows:helper",
            2,
            ["'myflows:helper' is a function, not a pgflow.Flow", "its flows: myflows:cyclic, myflows:sales_report"],
        ),
        ("myflows:sales", 2, ["module myflows has no attribute 'sales'", "its flows: myflows:cyclic"]),
        ("myflows:sales_reprot", 2, ["did you mean myflows:sales_report?"]),
        ("nomodule_xyz:flow", 2, ["no module named 'nomodule_xyz'"]),
        ("needs_missing:flow", 2, ["cannot import module 'needs_missing'", "no_such_dependency_xyz"]),
        ("broken:flow", 1, ["importing module 'broken' raised ZeroDivisionError: division by zero"]),
        ("badhandler:flow", 1, ["takes_three of step", "requires 3 positional arguments"]),
    ],
)
@pytest.mark.parametrize("command", ["worker", "graph"])
def test_a_wrong_module_flow_is_one_line_saying_what_to_do(
    user_dir: Path, spec: str, status: int, mentions: list[str], command: str
) -> None:
    proc = run_cli(command, spec, "--database-url", "host=127.0.0.1 port=1 connect_timeout=2", cwd=user_dir)
    line = assert_clean_error(proc)
    assert proc.returncode == status, describe(proc)
    for text in mentions:
        assert text in line, line


# ----------------------------------------------------------------------------------------------------
# 7. migrate, graphs
# ----------------------------------------------------------------------------------------------------
def test_migrate_says_installed_then_already_installed(admin_url: str) -> None:
    version = shipped_version()
    with scratch_database(admin_url, "pgflow_cli_migrate") as url:
        first = run_cli("migrate", "--database-url", url)
        assert first.returncode == 0 and first.stdout.strip() == f"pgflow schema {version} installed", describe(first)
        again = run_cli("migrate", "--database-url", url)
        assert again.returncode == 0, describe(again)
        assert again.stdout.strip() == f"pgflow schema {version} is already installed: nothing to do", describe(again)


def test_migrate_says_which_version_it_upgraded_from(admin_url: str) -> None:
    release = RELEASES[-1]
    with scratch_database(admin_url, "pgflow_cli_upgrade") as url:
        install_release(url, release)
        proc = run_cli("migrate", "--database-url", url)
        assert proc.returncode == 0, describe(proc)
        assert (
            proc.stdout.strip()
            == f"pgflow schema {shipped_version()} installed: upgraded from {release_version(release)}"
        )


def test_graph_of_a_cyclic_module_flow_is_one_line_exit_1(user_dir: Path, flow_slug: str) -> None:
    for fmt in ("mermaid", "dot"):
        proc = run_cli("graph", "myflows:cyclic", "--format", fmt, cwd=user_dir)
        line = assert_clean_error(proc)
        assert proc.returncode == 1 and proc.stdout == "", describe(proc)
        assert line == f"pgflow: flow {flow_slug}_cyclic has a cycle: first -> second -> first" or line == (
            f"pgflow: flow {flow_slug}_cyclic has a cycle: second -> first -> second"
        ), line


def test_graph_of_a_flow_with_an_unknown_dependency_is_one_line_exit_1(tmp_path: Path) -> None:
    (tmp_path / "dangling.py").write_text(
        textwrap.dedent("""
        import pgflow
        flow = pgflow.Flow("dangling")

        @flow.step(depends_on=["nowhere", "elsewhere"])
        def only(deps):
            return 1
    """)
    )
    proc = run_cli("graph", "dangling:flow", cwd=tmp_path)
    line = assert_clean_error(proc)
    assert proc.returncode == 1
    assert "elsewhere, nowhere" in line, line


def test_graph_of_a_slug_whose_definition_was_refused_is_one_line_exit_1(
    database_url: str, conn: psycopg.Connection, user_dir: Path, flow_slug: str
) -> None:
    cyclic = _load(user_dir, "cyclic")
    with pytest.raises(pgflow.CycleDetected), pgflow.Client(database_url) as client:
        client.define(cyclic)
    proc = run_cli("graph", cyclic.slug, "--database-url", database_url)
    line = assert_clean_error(proc)
    assert proc.returncode == 1 and cyclic.slug in line and "does not exist" in line, line


def test_graphs_show_conditions(database_url: str, conn: psycopg.Connection, user_dir: Path, flow_slug: str) -> None:
    slug = f"{flow_slug}_sales_report"
    with pgflow.Client(database_url) as client:
        client.define(_load(user_dir, "sales_report"))
        run = client.start_run(slug, {"n": 1})
    sources = {
        "module": ("myflows:sales_report",),
        "database": (slug,),
        "run": (slug, "--run", str(run.run_id)),
    }
    for name, args in sources.items():
        mermaid = run_cli("graph", *args, "--database-url", database_url, cwd=user_dir)
        assert mermaid.returncode == 0, describe(mermaid)
        node = [line for line in mermaid.stdout.splitlines() if line.strip().startswith("summarize[")]
        assert len(node) == 1, (name, mermaid.stdout)
        assert "<br/>if {#quot;fetch#quot;:{#quot;big#quot;:true}}<br/>when unmet: skip-cascade" in node[0], node
        fetch = [line for line in mermaid.stdout.splitlines() if line.strip().startswith("fetch[")]
        assert "<br/>" not in fetch[0], fetch  # no condition, nothing shown

        dot = run_cli("graph", *args, "--format", "dot", "--database-url", database_url, cwd=user_dir)
        assert dot.returncode == 0, describe(dot)
        assert '"summarize" [label="summarize' in dot.stdout, dot.stdout
        assert '\\nif {\\"fetch\\":{\\"big\\":true}}\\nwhen unmet: skip-cascade"' in dot.stdout, dot.stdout


def test_graph_labels_escape_what_mermaid_and_dot_would_read() -> None:
    steps = [
        {"step_slug": "a", "step_type": "single", "depends_on": []},
        {
            "step_slug": "b",
            "step_type": "single",
            "depends_on": ["a"],
            "if_not": {"a": 'say "hi" <b> #1 \\ done'},
            "when_unmet": None,
        },
    ]
    mermaid = graph.to_mermaid("f", steps)
    assert "if_not {#quot;a#quot;:#quot;say \\#quot;hi\\#quot; #lt;b#gt; #35;1 \\\\ done#quot;}" in mermaid, mermaid
    assert "when unmet: skip" in mermaid
    dot = graph.to_dot("f", steps)
    assert 'if_not {\\"a\\":\\"say \\\\\\"hi\\\\\\" <b> #1 \\\\\\\\ done\\"}' in dot, dot


# ----------------------------------------------------------------------------------------------------
# 9. --debug, help, exit statuses
# ----------------------------------------------------------------------------------------------------
def test_errors_are_one_line_and_debug_adds_the_traceback(empty_database: str) -> None:
    plain = run_cli("runs", "--database-url", empty_database)
    assert_clean_error(plain)
    for args, env in ((("runs", "--debug"), None), (("--debug", "runs"), None), (("runs",), {"PGFLOW_DEBUG": "1"})):
        proc = run_cli(*args, "--database-url", empty_database, env=env)
        assert proc.returncode == 1, describe(proc)
        assert "Traceback (most recent call last)" in proc.stderr, describe(proc)
        assert proc.stderr.strip().splitlines()[-1] == plain.stderr.strip(), describe(proc)


COMMANDS = [
    "migrate",
    "worker",
    "start",
    "status",
    "runs",
    "cancel",
    "resume",
    "graph",
    "prune",
    "schedules",
    "schedule",
]


def test_help_lists_every_command_and_the_exit_statuses() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0, describe(proc)
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\S", proc.stdout, re.MULTILINE), proc.stdout
    assert "Exit status: 0 ok" in proc.stdout and "--debug" in proc.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_help_says_what_it_does_and_documents_its_arguments(command: str) -> None:
    proc = run_cli(command, "--help")
    assert proc.returncode == 0 and proc.stderr == "", describe(proc)
    lines = proc.stdout.split("\n\n")
    assert lines[1].strip() and not lines[1].startswith(("positional", "options")), proc.stdout
    assert "--database-url" in proc.stdout and "--debug" in proc.stdout
    # every argument and option has a help text: no line with only the option's name
    options = proc.stdout.split("options:")[1]
    bare = [
        line
        for line in options.splitlines()
        if re.fullmatch(r"\s+(-\w, )?--[\w-]+( [A-Z_]+| \{[^}]*\})?\s*", line) and not _help_on_next_line(options, line)
    ]
    assert not bare, (command, bare)


def _help_on_next_line(text: str, line: str) -> bool:
    lines = text.splitlines()
    index = lines.index(line)
    return index + 1 < len(lines) and lines[index + 1].startswith(" " * 20)


@pytest.mark.parametrize(
    ("args", "status"),
    [
        ((), 2),
        (("nosuchcommand",), 2),
        (("status",), 2),
        (("status", "not-a-uuid"), 2),
        (("start", "f", "--input", "{bad"), 2),
        (("runs", "--limit", "-1"), 2),
        (("prune", "--older-than", "forever"), 2),
        (("graph", "f", "--format", "png"), 2),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...], status: int) -> None:
    proc = run_cli(*args, "--database-url", "host=127.0.0.1 port=1 connect_timeout=2") if args else run_cli()
    assert proc.returncode == status, describe(proc)
    assert "Traceback" not in proc.stderr


def test_a_live_run_exits_0_and_a_failed_one_1(cli: Cli, conn: psycopg.Connection) -> None:
    with cli.worker("diamond", "failing"):
        ok = cli.run("start", cli.slug("diamond"), "--input", '{"n": 2}', "--wait")
        failed = cli.run("start", cli.slug("failing"), "--input", "{}", "--wait")
    assert ok.returncode == 0, describe(ok)
    assert failed.returncode == 1 and "boom in the explode handler" in assert_clean_error(failed)
    run_id = ok.stdout.splitlines()[0]
    watched = cli.run("status", run_id, "--watch")
    assert watched.returncode == 0, describe(watched)


def _load(directory: Path, name: str) -> pgflow.Flow:
    """The flow ``name`` of ``directory``/myflows.py, loaded as the CLI loads it."""
    sys.path.insert(0, str(directory))
    try:
        sys.modules.pop("myflows", None)
        return pgflow_cli.load_flow(f"myflows:{name}")
    finally:
        sys.path.remove(str(directory))
        sys.modules.pop("myflows", None)
