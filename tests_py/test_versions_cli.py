"""Flow versions and step outputs from Python and the command line: Client.set_current_version,
Client.list_flow_versions, Client.get_step_outputs, `pgflow set-version`, `pgflow flows` and
`pgflow status --outputs`, each command run as a subprocess against the test database; and a worker started
with define=False, which serves only the version defined as in its code."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgflow

ROOT = Path(__file__).resolve().parents[1]


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pgflow.cli", "--database-url", database_url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def _two_versions(client: pgflow.Client, slug: str) -> None:
    client._query('select pgflow.define_flow(%s, \'[{"slug": "a"}]\')', (slug,))
    client._query('select pgflow.define_flow(%s, \'[{"slug": "a"}, {"slug": "summary"}]\')', (slug,))


def test_client_set_current_version_and_list(database_url: str, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client:
        _two_versions(client, flow_slug)
        row = client.set_current_version(flow_slug, 1)
        assert (row.flow_slug, row.version, row.is_current) == (flow_slug, 1, True)
        assert client.start_run(flow_slug).flow_version == 1
        listed = client.list_flow_versions(flow_slug)
        assert [(v["version"], v["is_current"], v["runs_in_flight"], v["steps"]) for v in listed] == [
            (2, False, 0, ["a", "summary"]),
            (1, True, 1, ["a"]),
        ]
        with pytest.raises(pgflow.FlowNotFound, match=f"flow '{flow_slug}' has no version 7"):
            client.set_current_version(flow_slug, 7)
        with pytest.raises(pgflow.InvalidInput, match="version"):
            client.set_current_version(flow_slug, 0)
        # a Flow whose code equals version 1: define returns version 1, not current after a roll forward
        client.set_current_version(flow_slug, 2)
        flow = pgflow.Flow(flow_slug)

        @flow.step
        def a(input: Any) -> Any:
            return input

        assert (client.define(flow).version, client.define(flow).is_current) == (1, False)
        assert client.list_flow_versions(flow_slug)[0]["is_current"] is True  # version 2 stays current


def test_cli_set_version_and_flows(database_url: str, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client:
        _two_versions(client, flow_slug)
        client.start_run(flow_slug)

    done = cli(database_url, "set-version", flow_slug, "1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"flow {flow_slug}: version 1 is now current (was version 2)"
    again = cli(database_url, "set-version", flow_slug, "1")
    assert again.stdout.strip() == f"flow {flow_slug}: version 1 was already current"

    refused = cli(database_url, "set-version", flow_slug, "9")
    assert refused.returncode == 1
    assert refused.stderr.strip() == f"pgflow: flow '{flow_slug}' has no version 9 (its versions are 1 to 2)"
    unknown = cli(database_url, "set-version", "no_such_flow_x", "1")
    assert unknown.returncode == 1 and "no_such_flow_x" in unknown.stderr and "version 1" in unknown.stderr
    bad = cli(database_url, "set-version", flow_slug, "0")
    assert bad.returncode == 2 and "VERSION" in bad.stderr

    listed = cli(database_url, "flows", flow_slug)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert lines[0].split() == ["flow", "version", "current", "created_at", "in", "flight", "steps"]
    two, one = (line.split() for line in lines[1:])
    assert (two[0], two[1], two[3], two[4:]) == (flow_slug, "2", "1", ["a,", "summary"])
    assert (one[0], one[1], one[2], one[4], one[5:]) == (flow_slug, "1", "yes", "0", ["a"])
    as_json = json.loads(cli(database_url, "flows", flow_slug, "--json").stdout)
    assert [(v["version"], v["is_current"], v["runs_in_flight"]) for v in as_json] == [(2, False, 1), (1, True, 0)]


def test_step_outputs_from_client_and_cli(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def numbers(input: Any) -> Any:
        return list(range(3))

    @flow.map(over=numbers)
    def double(n: int) -> int:
        return n * 2

    @flow.step(depends_on=[double])
    def long(deps: Any) -> str:
        return "x" * 500

    @flow.step(depends_on=[long], if_={"long": "never"})
    def skipped(deps: Any) -> None:
        return None

    pgflow.migrate(database_url)
    output = pgflow.execute(flow, {}, database_url, timeout=60)
    assert output == {}  # the only leaf was skipped: the run output is empty, the step outputs are not
    with pgflow.Client(database_url) as client:
        (run,) = client.list_runs(flow_slug)
        outputs = client.get_step_outputs(run)
        assert outputs == {"numbers": [0, 1, 2], "double": [0, 2, 4], "long": "x" * 500}
        with pytest.raises(pgflow.RunNotFound):
            client.get_step_outputs(uuid.uuid4())

    shown = cli(database_url, "status", str(run.run_id), "--outputs")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith(f"run {run.run_id}  flow {flow_slug} v1  completed")
    by_step = {line.split()[0]: line.split(None, 1)[1] for line in lines[1:]}
    assert by_step["numbers"] == "[0, 1, 2]" and by_step["double"] == "[0, 2, 4]"
    assert by_step["long"].startswith('"xxxx') and by_step["long"].endswith("(502 characters; --json shows all)")
    assert by_step["skipped"] == "(no output: skipped)"
    whole = cli(database_url, "status", str(run.run_id), "--outputs", "--json")
    assert json.loads(whole.stdout) == outputs


def test_worker_without_define_serves_the_version_of_its_code(database_url: str, flow_slug: str) -> None:
    """define=False: the worker finds the version defined as in its code and claims only its tasks, while the
    current version (another shape) waits for its own workers."""
    old = pgflow.Flow(flow_slug)

    @old.step
    def a(input: Any) -> str:
        return "old code"

    new = pgflow.Flow(flow_slug)

    @new.step(slug="a")
    def a_new(input: Any) -> str:
        return "new code"

    @new.step(depends_on=["a"])
    def summary(deps: Any) -> str:
        return "new code"

    with pgflow.Client(database_url) as client:
        assert client.define(old).version == 1
        old_run = client.start_run(flow_slug)
        assert client.define(new).version == 2
        new_run = client.start_run(flow_slug)
        worker = pgflow.Worker(database_url, [old], define=False, poll_interval=0.05, listen=False)
        thread = threading.Thread(target=worker.run)
        thread.start()
        try:
            assert client.wait(old_run, timeout=30) == {"a": "old code"}
            # the version 2 run stays untouched: its task is queued, never claimed by the old code
            with psycopg.connect(database_url, autocommit=True) as conn:
                status = conn.execute(
                    "select status, attempt from pgflow.step_tasks where run_id = %s and step_slug = 'a'",
                    (new_run.run_id,),
                ).fetchone()
            assert status == ("queued", 0)
        finally:
            worker.stop()
            thread.join(timeout=30)
        assert client.list_flow_versions(flow_slug)[0]["is_current"] is True  # define=False wrote nothing
