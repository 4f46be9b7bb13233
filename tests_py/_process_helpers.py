"""Helpers of test_worker_process.py: `pgflow worker` subprocesses, the marker files their handlers write
(tests_py/worker_flows.py), and waits that always end (a bug fails a test, never hangs it)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``check`` until it returns something truthy and return that; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def worker_conninfo(url: str, application_name: str, worker_timeout: str | None = None) -> str:
    """The test database's conninfo with an application_name (to find the worker's backends) and, if given,
    a pgflow.worker_timeout for the worker's sessions."""
    extra: dict[str, Any] = {"application_name": application_name}
    if worker_timeout is not None:
        extra["options"] = f"-c pgflow.worker_timeout={worker_timeout}"
    return make_conninfo(url, **extra)


class Markers:
    """The marker files of one test's handlers: ``<run_id>.<step>.<task_index>.<attempt>.<start|end>``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def read(
        self, run_id: Any, step: str, task_index: int, attempt: int, event: str = "start"
    ) -> dict[str, Any] | None:
        path = self.directory / f"{run_id}.{step}.{task_index}.{attempt}.{event}"
        return json.loads(path.read_text()) if path.exists() else None

    def wait(
        self, run_id: Any, step: str, task_index: int, attempt: int, event: str = "start", timeout: float = 15
    ) -> dict[str, Any]:
        return wait_for(
            lambda: self.read(run_id, step, task_index, attempt, event),
            timeout,
            f"handler {event} marker of {step}[{task_index}] attempt {attempt} of run {run_id}",
        )

    def of_run(self, run_id: Any, event: str = "start") -> dict[tuple[str, int, int], dict[str, Any]]:
        """{(step, task_index, attempt): marker} for every marker of that event of the run."""
        found = {}
        for path in self.directory.glob(f"{run_id}.*.{event}"):
            _, step, task_index, attempt, _ = path.name.split(".")
            found[(step, int(task_index), int(attempt))] = json.loads(path.read_text())
        return found


class WorkerProcess:
    """`python -m pgflow.cli worker tests_py.worker_flows:FLOW...` in /work/main, logging to a file."""

    def __init__(
        self,
        url: str,
        flows: list[str],
        *,
        suffix: str,
        markers: Path,
        log_dir: Path,
        concurrency: int = 2,
        worker_timeout: str | None = None,
        shutdown_timeout: float = 10,
        poll_interval: float = 0.5,
    ) -> None:
        self.worker_id = f"wp-{uuid.uuid4().hex[:10]}"
        self.conninfo = worker_conninfo(url, self.worker_id, worker_timeout)
        self.log_path = log_dir / f"{self.worker_id}.log"
        cmd = [
            sys.executable,
            "-m",
            "pgflow.cli",
            "--database-url",
            self.conninfo,
            "worker",
            *[f"tests_py.worker_flows:{name}" for name in flows],
            "--concurrency",
            str(concurrency),
            "--shutdown-timeout",
            str(shutdown_timeout),
            "--poll-interval",
            str(poll_interval),
            "--worker-id",
            self.worker_id,
        ]
        env = {**os.environ, "PGFLOW_TEST_FLOW_SUFFIX": suffix, "PGFLOW_TEST_MARKERS": str(markers)}
        env.pop("DATABASE_URL", None)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def send(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {self.worker_id} did not exit within {timeout} s; its log:\n{self.output()}"
            ) from None

    def wait_for_log(self, text: str, timeout: float = 15) -> None:
        wait_for(lambda: text in self.output(), timeout, f"{text!r} in the log of worker {self.worker_id}")

    def stop(self) -> None:
        """Kill the process if it still runs (test cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._log.close()


class PrivateCluster:
    """A PostgreSQL cluster of the test's own, started by scripts/database.py's throwaway_cluster() in a
    temporary directory (so it never meets another cluster), that the test may restart."""

    def __init__(self) -> None:
        sys.path.insert(0, str(ROOT / "scripts"))
        try:
            import database
        finally:
            sys.path.remove(str(ROOT / "scripts"))
        self._database = database
        self.home = Path(tempfile.mkdtemp(prefix="pgflow-restart-"))
        os.chmod(self.home, 0o755)  # the cluster runs as the postgres user when we are root
        self._cluster: contextlib.AbstractContextManager[str] | None = None
        self.url = ""

    def __enter__(self) -> PrivateCluster:
        saved = self._database.ROOT
        self._database.ROOT = self.home  # throwaway_cluster() works under ROOT/.pgdata
        try:
            self._cluster = self._database.throwaway_cluster()
            self.url = self._cluster.__enter__()
        finally:
            self._database.ROOT = saved
        return self

    def _pg_ctl(self, action: str, mode: str = "fast") -> None:
        """pg_ctl ACTION (restart, stop, start) with the options throwaway_cluster() started the server with."""
        params = conninfo_to_dict(self.url)
        base = self.home / ".pgdata"
        as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        options = (
            []
            if action == "stop"
            else [
                "-o",
                f"-p {params['port']} -k {params['host']} -c listen_addresses='' -c fsync=off -c max_connections=200",
            ]
        )
        result = subprocess.run(
            [
                *as_user,
                str(self._database._bindir() / "pg_ctl"),
                "-D",
                str(base / "data"),
                "-l",
                str(base / "server.log"),
                "-m",
                mode,
                "-w",
                action,
                *options,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"pg_ctl {action} failed: {result.stdout}{result.stderr}"

    def restart(self, mode: str = "fast") -> None:
        """Restart the server (``mode``: fast or immediate shutdown)."""
        self._pg_ctl("restart", mode)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; ``start()`` brings it back."""
        self._pg_ctl("stop", mode)

    def start(self) -> None:
        self._pg_ctl("start")

    def __exit__(self, *exc: object) -> None:
        saved = self._database.ROOT
        self._database.ROOT = self.home
        try:
            if self._cluster is not None:
                self._cluster.__exit__(None, None, None)
        finally:
            self._database.ROOT = saved
            shutil.rmtree(self.home, ignore_errors=True)
