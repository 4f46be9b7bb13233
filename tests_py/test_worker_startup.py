"""A worker starts, or fails fast, and stops when told (SPEC §8, issue list of the CLI): `pgflow worker` that cannot
reach its database or finds no pgflow schema (or another version of it) exits with status 1 and one line naming
the problem (and `pgflow migrate` when the schema is missing or older) within its start-up timeout; a second
SIGINT exits at once with status 130; an idle worker returns at once on SIGINT or stop().

No timing threshold here is absolute (the machine is shared and loaded): a bound is a fraction of a configured
interval that a wrong implementation would wait out (a start-up timeout, a grace period, poll and heartbeat
intervals of LONG s). The target of 0.5 s for an idle worker is measured by bench/worker_timing.py.

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
LONG = 60.0  # seconds: the poll and heartbeat intervals of the idle workers, a grace period, a handler's sleep


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _worker(url: str, *extra: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """`pgflow worker tests_py.handler_flows:quick_flow` with ``url``: the finished process and its duration."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGPASSWORD")}
    cmd = [
        sys.executable,
        "-m",
        "pgflow.cli",
        "--database-url",
        url,
        "worker",
        "tests_py.handler_flows:quick_flow",
        *extra,
    ]
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
    # the interpreter's start and the imports, timed in this run: a worker that fails before connecting
    _, baseline = _worker("postgres:/alice@127.0.0.1/db")
    url = f"postgresql://127.0.0.1:{_closed_port()}/db"
    proc, took = _worker(url, "--startup-timeout", "3")
    line = _one_line(proc)
    assert "cannot reach the database within 3 s" in line and "Connection refused" in line, line
    # it kept trying for up to its 3 s, not forever nor the default 15 s: beyond its start, well under 15 s
    assert took - baseline < 3 * 3, (took, baseline)


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
        proc, took = _worker(url, "--startup-timeout", str(LONG))
        line = _one_line(proc)
        assert "the database refused the connection" in line and what in line, line
        assert took < LONG / 2, took  # not the start-up timeout waited out


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
def _start_worker(
    url: str,
    suffix: str,
    tmp: Path,
    *names: str,
    shutdown_timeout: float = LONG,
    poll_interval: float = 5,
    heartbeat_interval: float = 5,
) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = tmp / f"worker-{uuid.uuid4().hex[:6]}.log"
    env = {**os.environ, "PGFLOW_TEST_FLOW_SUFFIX": suffix, "PGFLOW_TEST_MARKERS": str(tmp)}
    env.pop("DATABASE_URL", None)
    # a worker timeout of three heartbeats at least, so that the heartbeat interval given is the one used
    cmd = [
        sys.executable,
        "-m",
        "pgflow.cli",
        "--database-url",
        url,
        "worker",
        *[f"tests_py.handler_flows:{n}" for n in names],
        "--shutdown-timeout",
        str(shutdown_timeout),
        "--poll-interval",
        str(poll_interval),
        "--heartbeat-interval",
        str(heartbeat_interval),
        "--worker-timeout",
        str(max(30.0, 3 * heartbeat_interval)),
    ]
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
            run = client.start_run(flows["sleeper"], {"sleep": LONG})
            wait_until(lambda: (tmp_path / f"{run.run_id}.sleep.0.1.start").exists(), 30, what="the handler")
            proc.send_signal(signal.SIGINT)
            wait_until(lambda: "SIGINT received" in log_path.read_text(), 15, what="the first SIGINT logged")
            time.sleep(0.5)
            assert proc.poll() is None, "the first SIGINT waits for the task in hand (grace period LONG s)"
            at = time.monotonic()
            proc.send_signal(signal.SIGINT)
            status = proc.wait(timeout=20)
            took = time.monotonic() - at
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert status == 130, (status, log_path.read_text())
    assert took < LONG / 10, took  # at once: nothing waited for (the handler's LONG s, the grace period of LONG s)


def test_an_idle_worker_returns_at_once_on_sigint(database_url: str, tmp_path: Path) -> None:
    """Measured from SIGINT to the process's exit (the interpreter's exit included), three times; the median is
    printed. Its poll and heartbeat intervals are LONG s: a worker that waited for either to come round would
    take up to that; one that returns at once takes well under a tenth of it, however loaded the machine. (The
    target, 0.5 s, is measured by bench/worker_timing.py.)"""
    suffix = uuid.uuid4().hex[:8]
    times = []
    for _ in range(3):
        proc, log_path = _start_worker(
            database_url,
            suffix,
            tmp_path,
            "quick_flow",
            shutdown_timeout=30,
            poll_interval=LONG,
            heartbeat_interval=LONG,
        )
        try:
            wait_until(lambda: "starting" in log_path.read_text(), 30, what="the worker's start")
            time.sleep(0.5)  # its threads are up and it sits idle (next poll and heartbeat LONG s away)
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
    assert statistics.median(times) < LONG / 10, times


def test_an_idle_worker_run_returns_at_once_on_stop(database_url: str) -> None:
    """As above, in-process: stop() to run() returning, poll and heartbeat intervals of LONG s."""
    flow = handler_flows.build(uuid.uuid4().hex[:8])["quick"]
    times = []
    for _ in range(3):
        worker = pgflow.Worker(
            database_url, flow, concurrency=2, poll_interval=LONG, heartbeat_interval=LONG, worker_timeout=3 * LONG
        )
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        with psycopg.connect(database_url, autocommit=True) as conn:
            wait_until(
                lambda: conn.execute(
                    "select 1 from pgflow.workers where worker_id = %s and stopped_at is null", (worker.worker_id,)
                ).fetchone(),
                30,
                what="the first heartbeat",
            )
        time.sleep(0.3)
        at = time.monotonic()
        worker.stop()
        thread.join(timeout=20)
        times.append(time.monotonic() - at)
        assert not thread.is_alive()
    print(
        f"\nidle worker: stop() -> run() returns: median {statistics.median(times):.3f} s of "
        f"{[round(t, 3) for t in times]}"
    )
    assert statistics.median(times) < LONG / 10, times
