"""Workers and clients through a real PgBouncer in transaction mode (tests_py/_pgbouncer.py, two server
connections per database, so that every client's transactions share them and move between them).

- Why pgflow never prepares statements: the same statement run more than psycopg's prepare_threshold times
  fails once a transaction lands on another server connection — and pgflow's connections do not.
- `pgflow migrate` through PgBouncer, twice at once.
- A Client through PgBouncer: define, start_run, get_run_status, cancel_run, resume_run, wait.
- A diamond and a 50-element map worked by two `pgflow worker` processes through PgBouncer: outputs right,
  every task's handler called exactly once, both workers at work, server connections shared.
- A worker whose claims go through PgBouncer but whose listen_conninfo is a direct connection wakes on
  notifications; without it, it polls (and says so once).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pgflow
from pgflow import _conninfo

from . import pooler_flows
from ._pgbouncer import PgBouncer
from ._process_helpers import ROOT, wait_for
from .conftest import scratch_database


def _dbname(url: str) -> str:
    return str(conninfo_to_dict(url).get("dbname"))


class WorkerProcess:
    """`pgflow worker tests_py.pooler_flows:diamond tests_py.pooler_flows:squares`, logging to a file."""

    def __init__(
        self,
        url: str,
        suffix: str,
        markers: Path,
        log_dir: Path,
        *,
        listen_url: str | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        self.worker_id = f"pb-{uuid.uuid4().hex[:10]}"
        self.log_path = log_dir / f"{self.worker_id}.log"
        cmd = [
            sys.executable,
            "-m",
            "pgflow.cli",
            "--database-url",
            url,
            "worker",
            "tests_py.pooler_flows:diamond",
            "tests_py.pooler_flows:squares",
            "--concurrency",
            "4",
            "--poll-interval",
            str(poll_interval),
            "--worker-id",
            self.worker_id,
            "--shutdown-timeout",
            "10",
        ]
        if listen_url:
            cmd += ["--listen-url", listen_url]
        env = {**os.environ, "PGFLOW_TEST_FLOW_SUFFIX": suffix, "PGFLOW_TEST_MARKERS": str(markers)}
        for name in ("DATABASE_URL", _conninfo.LISTEN_URL_VARIABLE):
            env.pop(name, None)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then wait; the exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        return self.proc.returncode


def _registered(url: str, worker_ids: list[str]) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select count(*) from pgflow.workers where worker_id = any(%s) and stopped_at is null", (worker_ids,)
        ).fetchone()
    return bool(row and row[0] == len(worker_ids))


# ----------------------------------------------------------------------------------------------------
class Swap:
    """Three clients through PgBouncer's two server connections, moved deterministically: ``hold()`` has
    ``blocker`` hold one server connection in a transaction, so that ``client`` runs on the other; ``swap()``
    has ``third`` take that one in a transaction and ``blocker`` let its own go, so that ``client``'s next
    transactions run on the server connection it did not use before; ``third`` runs in it until ``close()``."""

    def __init__(self, url: str, client: psycopg.Connection[Any]) -> None:
        self.client = client
        self.blocker = psycopg.connect(url, autocommit=True)
        self.third = psycopg.connect(url, autocommit=True)

    def hold(self) -> None:
        self.blocker.execute("begin")
        self.blocker.execute("select 1")

    def swap(self) -> None:
        self.third.execute("begin")
        self.third.execute("select 1")
        self.blocker.execute("commit")

    def pid(self, conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("select pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])

    def close(self) -> None:
        for conn in (self.blocker, self.third):
            conn.close()


def test_pgbouncer_runs_in_transaction_mode_with_a_small_pool(pgbouncer: PgBouncer, database_url: str) -> None:
    """PgBouncer really pools transactions: a session setting stays on the server connection, where another
    client finds it, and the client that set it no longer sees it."""
    pools = [p for p in pgbouncer.show("pools") if p["database"] == _dbname(database_url)]
    assert pools and pools[0]["pool_mode"] == "transaction"
    with psycopg.connect(pgbouncer.url(), autocommit=True) as one:
        swap = Swap(pgbouncer.url(), one)
        try:
            swap.hold()
            before = swap.pid(one)
            one.execute("select set_config('pgflow_test.marker', 'set', false)")
            swap.swap()
            # the third client, on the server connection `one` used, sees `one`'s setting
            row = swap.third.execute("select current_setting('pgflow_test.marker', true)").fetchone()
            assert row is not None and row[0] == "set"
            swap.third.execute("select set_config('pgflow_test.marker', '', false)")
            assert swap.pid(one) != before
            row = one.execute("select current_setting('pgflow_test.marker', true)").fetchone()
            assert row is not None and row[0] in (None, "")
        finally:
            swap.close()


def test_prepared_statements_would_fail_and_pgflow_connections_prepare_none(
    pgbouncer: PgBouncer, database_url: str
) -> None:
    """With psycopg's default (prepare after 5 executions), a statement prepared on one server connection is
    missing when the client's next transaction runs on the other: the fix is necessary. pgflow's connections
    (``_conninfo.connect``) go through the same moves without error."""
    query = "select count(*) from pgflow.runs where flow_slug = %s"
    for connect, fails in ((psycopg.connect, True), (_conninfo.connect, False)):
        with connect(pgbouncer.url(), autocommit=True) as conn:
            swap = Swap(pgbouncer.url(), conn)
            try:
                swap.hold()
                before = swap.pid(conn)
                for _ in range(8):  # more than prepare_threshold executions, on one server connection
                    conn.execute(query, ("x",)).fetchone()
                swap.swap()
                if fails:
                    with pytest.raises(psycopg.errors.InvalidSqlStatementName, match="does not exist"):
                        conn.execute(query, ("x",)).fetchone()
                else:
                    for _ in range(8):
                        assert conn.execute(query, ("x",)).fetchone() == (0,)
                assert swap.pid(conn) != before
            finally:
                swap.close()
    with _conninfo.connect(database_url, autocommit=True) as conn:
        for _ in range(10):
            conn.execute(query, ("x",)).fetchone()
        row = conn.execute("select count(*) from pg_prepared_statements").fetchone()
    assert row is not None and row[0] == 0


def test_migrate_through_pgbouncer_twice_at_once(pgbouncer: PgBouncer, admin_url: str) -> None:
    with scratch_database(admin_url, "pgflow_pgbouncer_migrate") as direct:
        url = pgbouncer.url(_dbname(direct))
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        cmd = [sys.executable, "-m", "pgflow.cli", "--database-url", url, "migrate"]
        procs = [
            subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        with psycopg.connect(direct, autocommit=True) as conn:
            row = conn.execute("select pgflow.schema_version()").fetchone()
            assert row is not None and row[0] == pgflow.migrate(direct)
            installs = conn.execute("select count(*) from pgflow.schema_migrations").fetchone()
            assert installs is not None and installs[0] == 1


def test_client_through_pgbouncer(pgbouncer: PgBouncer, database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug, max_attempts=1)

    @flow.step
    def only(run_input: Any) -> Any:
        return {"echo": run_input}

    with pgflow.Client(pgbouncer.url()) as client:
        version = client.define(flow)
        assert version.flow_slug == flow_slug
        runs = [client.start_run(flow, {"i": i}) for i in range(8)]  # more than prepare_threshold calls
        for run in runs:
            status = client.get_run_status(run)
            assert status["status"] == "started" and status["input"] == {"i": runs.index(run)}
        again = client.start_run(flow_slug, {"i": 0}, idempotency_key="k1")
        assert client.start_run(flow_slug, {"i": 0}, idempotency_key="k1").run_id == again.run_id
        cancelled = client.cancel_run(runs[0], "through the pooler")
        assert cancelled.status == "cancelled"
        with pytest.raises(pgflow.RunCancelled):
            client.wait(runs[0], timeout=5, interval=0.05)
        assert client.resume_run(runs[0]).status == "started"
        with pytest.raises(TimeoutError):
            client.wait(runs[1], timeout=0.3, interval=0.05)
        assert {r.run_id for r in client.list_runs(flow_slug, limit=100)} == {r.run_id for r in [*runs, again]}
        # a worker through the pooler finishes them, and wait() sees it by polling
        worker = pgflow.Worker(pgbouncer.url(), [flow], concurrency=4, poll_interval=0.1)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        try:
            for i, run in enumerate(runs):
                assert client.wait(run, timeout=60, interval=0.05) == {"only": {"echo": {"i": i}}}
        finally:
            worker.stop()
            thread.join(timeout=30)
    assert not thread.is_alive()


def test_diamond_and_map_with_two_worker_processes(pgbouncer: PgBouncer, database_url: str, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:10]
    flows = pooler_flows.build(suffix)
    markers = tmp_path / "markers"
    markers.mkdir()
    workers = [WorkerProcess(pgbouncer.url(), suffix, markers, tmp_path) for _ in range(2)]
    try:
        wait_for(lambda: _registered(database_url, [w.worker_id for w in workers]), 60, "both workers to start")
        with pgflow.Client(pgbouncer.url()) as client:
            diamonds = {n: client.start_run(flows["diamond"], {"n": n}) for n in range(5)}
            squares = client.start_run(flows["squares"], list(range(50)))
            clients = [c for c in pgbouncer.show("clients") if c["database"] == _dbname(database_url)]
            servers = [s for s in pgbouncer.show("servers") if s["database"] == _dbname(database_url)]
            # the workers' connections and the client's share two server connections
            assert len(clients) >= 5 and len(servers) <= 2, (clients, servers)
            for n, run in diamonds.items():
                assert client.wait(run, timeout=120, interval=0.1) == {"d": {"sum": (n + 1) * 5}}
            assert client.wait(squares, timeout=120, interval=0.1) == {"total": sum(i * i for i in range(50))}
        with psycopg.connect(database_url, autocommit=True) as conn:
            rows = conn.execute(
                "select run_id, step_slug, task_index, status, attempt from pgflow.step_tasks where run_id = any(%s)",
                ([r.run_id for r in [*diamonds.values(), squares]],),
            ).fetchall()
        assert len(rows) == 5 * 4 + 50 + 1
        assert {(status, attempt) for _, _, _, status, attempt in rows} == {("completed", 1)}
        calls = Counter(path.name.rsplit(".", 1)[0] for path in markers.iterdir())
        expected = {f"{run_id}.{step}.{index}" for run_id, step, index, _, _ in rows}
        assert set(calls) == expected and set(calls.values()) == {1}, "every handler called exactly once"
        map_workers = {
            path.read_text() for path in markers.iterdir() if path.name.startswith(f"{squares.run_id}.square.")
        }
        assert map_workers == {w.worker_id for w in workers}, "both workers took map elements"
        for worker in workers:  # the probe of their listeners found that notifications cannot reach them
            wait_for(
                lambda: "notifications do not reach its connection" in worker.output(),
                30,
                f"worker {worker.worker_id} to find it must poll",
            )
    finally:
        codes = [w.stop() for w in workers]
    for worker, code in zip(workers, codes):
        log = worker.output()
        assert code == 0, log
        assert "prepared statement" not in log and "ERROR" not in log and "Traceback" not in log, log


def _started_within(database_url: str, run_id: Any, seconds: float) -> bool:
    """Whether the run's task was claimed within ``seconds``."""
    deadline = time.monotonic() + seconds
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "select count(*) from pgflow.step_tasks where run_id = %s and status <> 'queued'", (run_id,)
            ).fetchone()
            if row and row[0]:
                return True
            time.sleep(0.02)
    return False


def test_a_direct_listen_connection_wakes_a_worker_behind_pgbouncer(
    pgbouncer: PgBouncer, database_url: str, flow_slug: str
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def only(run_input: Any) -> int:
        return 1

    with pgflow.Client(pgbouncer.url()) as client:
        client.define(flow)

    def serve(listen_conninfo: str | None) -> tuple[pgflow.Worker, threading.Thread]:
        worker = pgflow.Worker(pgbouncer.url(), [flow], poll_interval=60, listen_conninfo=listen_conninfo, define=False)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        wait_for(lambda: _registered(database_url, [worker.worker_id]), 30, "the worker to start")
        return worker, thread

    # without a listen connection: the probe finds that notifications do not arrive, the worker polls
    worker, thread = serve(None)
    try:
        time.sleep(_conninfo.PROBE_TIMEOUT + 0.5)  # its probe is over, its first poll long done
        with pgflow.Client(database_url) as client:
            deaf_run = client.start_run(flow_slug, {})
        assert not _started_within(database_url, deaf_run.run_id, 3.0), "woken although nothing can reach it"
    finally:
        worker.stop()
        thread.join(timeout=30)

    # with one: claims and reports through PgBouncer, LISTEN on the direct server
    application_name = f"pb-listen-{uuid.uuid4().hex[:8]}"
    listen_url = make_conninfo(database_url, application_name=application_name)
    worker, thread = serve(listen_url)
    try:

        def listening() -> bool:
            with psycopg.connect(database_url, autocommit=True) as conn:
                row = conn.execute(
                    "select count(*) from pg_stat_activity where application_name = %s and query = 'listen \"pgflow\"'",
                    (application_name,),
                ).fetchone()
            return bool(row and row[0])

        wait_for(listening, 30, "the worker's direct LISTEN")
        # the queued run from before, and a new one, are both claimed at once (not 60 s later)
        with pgflow.Client(pgbouncer.url(), listen_conninfo=database_url) as client:
            started = time.monotonic()
            run = client.start_run(flow_slug, {})
            assert client.wait(run, timeout=20, interval=5) == {"only": 1}
            waited = time.monotonic() - started
            assert client.wait(deaf_run, timeout=20, interval=5) == {"only": 1}
        assert waited < 10
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "select count(*) from pg_stat_activity where application_name = %s and query not ilike '%%listen%%'",
                (application_name,),
            ).fetchone()
        assert row is not None and row[0] == 0, "only LISTEN goes through the listen connection"
    finally:
        worker.stop()
        thread.join(timeout=30)


def test_a_malformed_listen_conninfo_is_refused_before_anything_connects(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def only(run_input: Any) -> int:
        return 1

    bad = "host='unterminated password=s3cret-listen"
    with pytest.raises(pgflow.InvalidInput, match="listen_conninfo is not a valid connection string") as caught:
        pgflow.Worker(database_url, [flow], listen_conninfo=bad)
    assert "s3cret-listen" not in str(caught.value)
    with pytest.raises(pgflow.InvalidInput, match="listen_conninfo"):
        pgflow.Client(database_url, listen_conninfo=bad)
    with pytest.raises(pgflow.InvalidInput, match="listen_conninfo must be a connection string"):
        pgflow.Client(database_url, listen_conninfo=5)  # type: ignore[arg-type]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pgflow.cli",
            "--database-url",
            database_url,
            "status",
            str(uuid.uuid4()),
            "--listen-url",
            bad,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "--listen-url is not a valid connection string" in result.stderr and "s3cret-listen" not in result.stderr
