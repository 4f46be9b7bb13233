"""A rolling deploy of one flow, with real worker processes (`python -m pgflow.cli worker`).

Two code versions of the flow are deployed side by side: v1 (steps a -> b) and v2 (a -> b -> summary). Every
handler returns which code ran it ("code") and the process that ran it ("pid"), so each step's output
(pgflow.get_step_outputs) says which worker ran it. The test shows:

* the v2 worker's definition becomes version 2 and current; runs of each version complete on their own code,
  each task run by the worker of its version (no v1 worker ever claims a v2 task, though both poll);
* restarting the old worker (killed, then started again: it defines its v1 code again) leaves version 2
  current, and new runs still start on version 2;
* rolling back is one call, `pgflow set-version FLOW 1`: new runs start on version 1 and are run by the
  v1 worker, while the v2 worker stays up and claims none of them.

And a database of a release before versions were matched by content, upgraded: each flow's current version
is its highest, as it was, including when an older release had written a definition twice.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgflow

from ._process_helpers import wait_for, worker_conninfo
from .conftest import scratch_database
from .test_upgrade import RELEASES, install_release, release_version

ROOT = Path(__file__).resolve().parents[1]

CODE = """
import os

import pgflow

CODE = {code!r}
flow = pgflow.Flow(os.environ["DEPLOY_FLOW_SLUG"], timeout=30)


@flow.step
def a(input):
    return {{"code": CODE, "pid": os.getpid()}}


@flow.step(depends_on=[a])
def b(deps):
    return {{"code": CODE, "pid": os.getpid(), "saw": deps["a"]["code"]}}
"""

SUMMARY = """

@flow.step(depends_on=[b])
def summary(deps):
    return {"code": CODE, "pid": os.getpid(), "saw": deps["b"]["code"]}
"""


class Deployed:
    """One worker process running one code version of the flow (a module in its own directory)."""

    def __init__(self, url: str, slug: str, code: str, base: Path) -> None:
        self.directory = base / code
        self.directory.mkdir(exist_ok=True)
        source = CODE.format(code=code) + (SUMMARY if code == "v2" else "")
        (self.directory / f"deploy_{code}.py").write_text(textwrap.dedent(source))
        self.url, self.slug, self.code = url, slug, code
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = base / f"{code}.log"

    def start(self) -> None:
        worker_id = f"deploy-{self.code}-{uuid.uuid4().hex[:6]}"
        env = {**os.environ, "DEPLOY_FLOW_SLUG": self.slug}
        env.pop("DATABASE_URL", None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pgflow.cli",
                    "--database-url",
                    worker_conninfo(self.url, worker_id),
                    "worker",
                    f"deploy_{self.code}:flow",
                    "--worker-id",
                    worker_id,
                    "--poll-interval",
                    "0.2",
                    "--concurrency",
                    "4",
                ],
                cwd=self.directory,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_serving(self, version: int) -> None:
        """Until the worker logs that it serves ``version`` of the flow (it has defined it and polls for it)."""
        wait_for(
            lambda: self.proc is not None and f"serves flow {self.slug} version(s) [{version}]" in self.log(),
            30,
            f"worker {self.code} serving version {version}; its log:\n{self.log()}",
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def deploy(database_url: str, flow_slug: str, tmp_path: Path) -> Iterator[tuple[Deployed, Deployed]]:
    v1 = Deployed(database_url, flow_slug, "v1", tmp_path)
    v2 = Deployed(database_url, flow_slug, "v2", tmp_path)
    try:
        yield v1, v2
    finally:
        v1.kill()
        v2.kill()


def _finish(client: pgflow.Client, runs: list[Any]) -> list[dict[str, Any]]:
    """Wait for each run and return its step outputs."""
    for run in runs:
        client.wait(run.run_id, timeout=60)
    return [client.get_step_outputs(run) for run in runs]


def _current(client: pgflow.Client, slug: str) -> int:
    (current,) = [v["version"] for v in client.list_flow_versions(slug) if v["is_current"]]
    return int(current)


def test_two_code_versions_side_by_side_restart_and_rollback(
    database_url: str, flow_slug: str, deploy: tuple[Deployed, Deployed]
) -> None:
    v1, v2 = deploy
    with pgflow.Client(database_url) as client:
        # the first deploy: v1 code defines version 1
        v1.start()
        v1.wait_serving(1)
        first = [client.start_run(flow_slug, {"n": i}) for i in range(3)]
        assert {run.flow_version for run in first} == {1}

        # the second deploy: v2 code beside it defines version 2, which becomes current
        v2.start()
        v2.wait_serving(2)
        assert _current(client, flow_slug) == 2
        second = [client.start_run(flow_slug, {"n": i}) for i in range(6)]
        assert {run.flow_version for run in second} == {2}

        for outputs in _finish(client, first):
            assert set(outputs) == {"a", "b"}
            assert {o["code"] for o in outputs.values()} == {"v1"}, outputs
            assert {o["pid"] for o in outputs.values()} == {v1.pid}, outputs
        for outputs in _finish(client, second):
            assert set(outputs) == {"a", "b", "summary"}, outputs
            # every task of a version 2 run was claimed by the v2 worker, though the v1 worker polled all along
            assert {o["code"] for o in outputs.values()} == {"v2"}, outputs
            assert {o["pid"] for o in outputs.values()} == {v2.pid}, outputs

        # the old worker restarts (a crash, a redeploy of old code): it defines v1 again, which changes nothing
        old_pid = v1.pid
        v1.kill()
        v1.start()
        assert v1.pid != old_pid
        wait_for(lambda: v1.log().count(f"serves flow {flow_slug} version(s) [1]") == 2, 30, "the restarted worker")
        assert _current(client, flow_slug) == 2, "restarting the old worker must not make its version current"
        after_restart = [client.start_run(flow_slug, {"n": i}) for i in range(3)]
        assert {run.flow_version for run in after_restart} == {2}
        for outputs in _finish(client, after_restart):
            assert {o["code"] for o in outputs.values()} == {"v2"} and set(outputs) == {"a", "b", "summary"}

        # rolling back is one call
        result = subprocess.run(
            [sys.executable, "-m", "pgflow.cli", "--database-url", database_url, "set-version", flow_slug, "1"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        assert f"flow {flow_slug}: version 1 is now current (was version 2)" in result.stdout
        assert _current(client, flow_slug) == 1
        rolled_back = [client.start_run(flow_slug, {"n": i}) for i in range(6)]
        assert {run.flow_version for run in rolled_back} == {1}
        for outputs in _finish(client, rolled_back):
            assert set(outputs) == {"a", "b"}, outputs
            assert {o["code"] for o in outputs.values()} == {"v1"}, outputs
            assert {o["pid"] for o in outputs.values()} == {v1.pid}, outputs

        listed = {v["version"]: v for v in client.list_flow_versions(flow_slug)}
        assert listed[1]["is_current"] and not listed[2]["is_current"]
        assert listed[1]["runs_in_flight"] == listed[2]["runs_in_flight"] == 0
        assert listed[2]["steps"] == ["a", "b", "summary"]
    assert v1.proc is not None and v1.proc.poll() is None, v1.log()
    assert v2.proc is not None and v2.proc.poll() is None, v2.log()


# Releases before 0.3.0 made a new version of a definition equal to an older one (0.3.0 matches versions by content).
COPYING_RELEASES = [r for r in RELEASES if release_version(r) in ("0.1.0", "0.2.0")]


@pytest.mark.parametrize("release", COPYING_RELEASES, ids=[r.name for r in COPYING_RELEASES])
def test_an_upgraded_database_keeps_its_newest_version_current(release: Path, admin_url: str) -> None:
    first, second = '[{"slug": "a"}]', '[{"slug": "a"}, {"slug": "summary"}]'
    with scratch_database(admin_url, "pgflow_deploy_upgrade") as url:
        install_release(url, release)
        with psycopg.connect(url, autocommit=True) as conn:
            for steps in (first, second, first):  # the release makes version 3 a copy of version 1
                conn.execute("select pgflow.define_flow('repeated', %s::jsonb)", (steps,))
            conn.execute("select pgflow.define_flow('single', %s::jsonb)", (first,))
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            current = conn.execute(
                "select flow_slug, version from pgflow.flows where is_current order by flow_slug"
            ).fetchall()
            assert current == [("repeated", 3), ("single", 1)]
            again = conn.execute("select version, is_current from pgflow.define_flow('repeated', %s::jsonb)", (first,))
            assert again.fetchone() == (3, True), "of two equal versions, the current one is returned"
            older = conn.execute("select version, is_current from pgflow.define_flow('repeated', %s::jsonb)", (second,))
            assert older.fetchone() == (2, False)
            assert conn.execute("select pgflow.find_flow_versions('repeated', %s::jsonb)", (first,)).fetchone() == (
                [3, 1],
            )
            assert conn.execute("select flow_version from pgflow.start_run('repeated')").fetchone() == (3,)
