"""A worker starts, or fails fast, and stops when told (SPEC §8, issue list of the CLI): `pgflow worker` that cannot
reach its database or finds no pgflow schema (or another version of it) exits with status 1 and one line naming
the problem (and `pgflow migrate` when the schema is missing or older) within its start-up timeout; a second
SIGINT exits at once with status 130; an idle worker returns within 0.5 s of SIGINT or stop().

A wrong password cannot be shown here: the test server trusts local connections and ignores passwords. A role that
does not exist takes the same path (the server refuses the connection) and is tested instead.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from . import handler_flows
from ._client_helpers import wait_until
from .conftest import scratch_database

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(url: str, *extra: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """`pgflow worker tests_py.handler_flows:quick_flow` with ``url``: the finished process and its duration."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGPASSWORD")}
    cmd = [sys.executable, "-m", "pgflow.cli", "--database-url", url, "worker", "tests_py.handler_flows:quick_flow",
           *extra]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, lines)
    assert len(lines) == 1, lines
    assert lines[0].startswith("pgflow: "), lines
    return lines[0]


def test_no_server_exits_1_with_one_line_within_the_startup_timeout() -> None:
    url = f"postgresql://127.0.0.1:{_closed_port()}/db"
    proc, took = _worker(url, "--startup-timeout", "3")
    line = _one_line(proc)
    assert "cannot reach the database within 3 s" in line and "Connection refused" in line, line
    # it kept trying for up to 3 s, not forever (the interpreter's start counts too: generous bound)
    assert took < 3 + 10, took


def test_an_unknown_host_exits_1_with_one_line() -> None:
    proc, _ = _worker("postgresql://no-such-host.invalid/db", "--startup-timeout", "2")
    line = _one_line(proc)
    assert "cannot reach the database" in line and "no-such-host.invalid" in line, line


def test_a_malformed_url_exits_1_with_one_line() -> None:
    proc, _ = _worker("postgres:/alice@127.0.0.1/db")
    line = _one_line(proc)
    assert "the database URL is not a valid connection string" in line, line


def test_a_database_or_role_that_does_not_exist_exits_1_at_once(database_url: str) -> None:
    """The server answered and refused: no point waiting for the start-up timeout (60 s here)."""
    for url, what in [
        (make_conninfo(database_url, dbname=f"no_such_db_{uuid.uuid4().hex[:8]}"), "does not exist"),
        (make_conninfo(database_url, user=f"no_such_role_{uuid.uuid4().hex[:8]}"), "does not exist"),
    ]:
        proc, took = _worker(url, "--startup-timeout", "60")
        line = _one_line(proc)
        assert "the database refused the connection" in line and what in line, line
        assert took < 30, took


def test_a_database_without_the_schema_exits_1_naming_pgflow_migrate(admin_url: str) -> None:
    with scratch_database(admin_url, "pgflow_noschema") as url:
        proc, _ = _worker(url, "--startup-timeout", "5")
        line = _one_line(proc)
        assert "the pgflow schema is not installed" in line and "pgflow migrate" in line, line


@pytest.mark.parametrize(("version", "says"), [("0.0.1", "older"), ("99.0.0", "newer")])
def test_another_schema_version_exits_1_and_says_what_to_do(admin_url: str, version: str, says: str) -> None:
    with scratch_database(admin_url, "pgflow_version") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create schema pgflow")
            conn.execute(
                f"create function pgflow.schema_version() returns text language sql as $$ select '{version}' $$"
            )
        proc, _ = _worker(url, "--startup-timeout", "5")
        line = _one_line(proc)
        assert f"pgflow schema {version}, {says} than this worker's {pgflow.__version__}" in line, line
        if says == "older":
            assert "pgflow migrate" in line, line
        else:
            assert "upgrade the pgflow package" in line, line


def test_the_python_api_raises_the_start_up_errors(admin_url: str) -> None:
    flow = handler_flows.build(uuid.uuid4().hex[:8])["quick"]
    worker = pgflow.Worker(f"postgresql://127.0.0.1:{_closed_port()}/db", flow, startup_timeout=1)
    with pytest.raises(pgflow.DatabaseUnreachable):
        worker.run()
    with scratch_database(admin_url, "pgflow_noschema") as url:
        with pytest.raises(pgflow.SchemaNotInstalled, match="pgflow migrate"):
            pgflow.Worker(url, flow, startup_timeout=5).run()


# ----------------------------------------------------------------------------------------------------
# Signals
# ----------------------------------------------------------------------------------------------------
def _start_worker(url: str, suffix: str, tmp: Path, *names: str, shutdown_timeout: float = 60) -> tuple[
    subprocess.Popen[bytes], Path
]:
    log_path = tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
    env = {**os.environ, "PGFLOW_TEST_FLOW_SUFFIX": suffix, "PGFLOW_TEST_MARKERS": str(tmp)}
    env.pop("DATABASE_URL", None)
    cmd = [sys.executable, "-m", "pgflow.cli", "--database-url", url, "worker",
           *[f"tests_py.handler_flows:{n}" for n in names], "--shutdown-timeout", str(shutdown_timeout),
           "--poll-interval", "5"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log_path


def test_a_second_sigint_exits_at_once_with_status_130(database_url: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    flows = handler_flows.build(suffix)
    with pgflow.Client(database_url) as client:
        client.define(flows["sleeper"])
        proc, log_path = _start_worker(database_url, suffix, tmp_path, "sleeper")
        try:
            run = client.start_run(flows["sleeper"], {"sleep": 60})
            wait_until(lambda: (tmp_path / f"{run.run_id}.sleep.0.1.start").exists(), 30, what="the handler")
            proc.send_signal(signal.SIGINT)
            wait_until(lambda: "SIGINT received" in log_path.read_text(), 15, what="the first SIGINT logged")
            time.sleep(0.5)
            assert proc.poll() is None, "the first SIGINT waits for the task in hand (grace period 60 s)"
            at = time.monotonic()
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=20)
            took = time.monotonic() - at
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert status == 130, (status, log_path.read_text())
    assert took < 5, took  # at once: nothing waited for (the 60 s handler, the grace period)


def test_an_idle_worker_returns_within_half_a_second_of_sigint(database_url: str, tmp_path: Path) -> None:
    """Measured from SIGINT to the process's exit (the interpreter's exit included), three times; the median is
    printed. The bound asserted is generous (2 s): timings on a shared machine are noisy."""
    suffix = uuid.uuid4().hex[:8]
    times = []
    for _ in range(3):
        proc, log_path = _start_worker(database_url, suffix, tmp_path, "quick_flow", shutdown_timeout=30)
        try:
            wait_until(lambda: "starting" in log_path.read_text(), 30, what="the worker's start")
            time.sleep(0.5)  # its threads are up and it sits idle (fallback poll every 5 s)
            at = time.monotonic()
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=20)
            times.append(time.monotonic() - at)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        assert status == 0, log_path.read_text()
    print(f"\nidle worker: SIGINT -> exit: median {statistics.median(times):.3f} s of {[round(t, 3) for t in times]}")
    assert statistics.median(times) < 2.0, times


def test_an_idle_worker_run_returns_within_half_a_second_of_stop(database_url: str) -> None:
    flow = handler_flows.build(uuid.uuid4().hex[:8])["quick"]
    times = []
    for _ in range(3):
        worker = pgflow.Worker(database_url, flow, concurrency=2, poll_interval=5)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        with psycopg.connect(database_url, autocommit=True) as conn:
            wait_until(
                lambda: conn.execute(
                    "select 1 from pgflow.workers where worker_id = %s and stopped_at is null", (worker.worker_id,)
                ).fetchone(),
                30, what="the first heartbeat",
            )
        time.sleep(0.3)
        at = time.monotonic()
        worker.stop()
        thread.join(timeout=20)
        times.append(time.monotonic() - at)
        assert not thread.is_alive()
    print(f"\nidle worker: stop() -> run() returns: median {statistics.median(times):.3f} s of "
          f"{[round(t, 3) for t in times]}")
    assert statistics.median(times) < 2.0, times
