"""Outages of the database server longer than the workers' timeout, on a private cluster the tests stop and
start themselves: liveness is judged only on time the database was up to hear the workers, so work whose
handlers succeeded during the outage is recorded once the workers come back, whatever the outage's length.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from . import worker_flows
from ._process_helpers import Markers, PrivateCluster, WorkerProcess


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with PrivateCluster() as private:
        with psycopg.connect(private.url, autocommit=True) as conn:
            conn.execute("create database pgflow")
        private.url = make_conninfo(private.url, dbname="pgflow")
        pgflow.migrate(private.url)
        yield private


def test_a_10_s_outage_with_a_6_s_worker_timeout_fails_no_run_whose_handlers_succeeded(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    """Two workers with a worker timeout of 6 s run four single-attempt runs whose handlers take 3 s; the server
    stops for 10 s while the handlers run. Every run completes, each at its first attempt."""
    suffix = uuid.uuid4().hex[:10]
    flow = worker_flows.build(suffix)["once"]
    markers = Markers(tmp_path / "markers")
    markers.directory.mkdir()
    workers = [
        WorkerProcess(
            cluster.url,
            ["once"],
            suffix=suffix,
            markers=markers.directory,
            log_dir=tmp_path,
            concurrency=2,
            worker_timeout="6s",
            poll_interval=0.5,
        )
        for _ in range(2)
    ]
    try:
        with pgflow.Client(cluster.url) as client:
            client.define(flow)
            runs = [client.start_run(flow.slug, {"sleep": 3}).run_id for _ in range(4)]
        for run_id in runs:
            markers.wait(run_id, "nap", 0, 1, "start", timeout=30)

        cluster.stop()
        time.sleep(10)
        cluster.start()

        with pgflow.Client(cluster.url) as client:
            outcomes = {}
            for run_id in runs:
                try:
                    outcomes[run_id] = client.wait(run_id, timeout=60)
                except pgflow.RunFailed as exc:
                    outcomes[run_id] = exc.error
        logs = "\n".join(f"--- {w.worker_id}\n{w.output()}" for w in workers)
        assert all(isinstance(o, dict) and o["nap"]["attempt"] == 1 for o in outcomes.values()), (outcomes, logs)
        with psycopg.connect(cluster.url) as conn:
            credit = conn.execute(
                "select credit from pgflow.server_starts where server_started_at = pg_postmaster_start_time()"
            ).fetchone()
        assert credit is not None and credit[0] >= dt.timedelta(seconds=10), credit
    finally:
        for w in workers:
            w.stop()


def test_a_real_restart_credits_ten_minutes_of_fake_time(cluster: PrivateCluster) -> None:
    """The same with the server really restarted and 10 minutes passing on the tests' clock: the attempt of a
    worker that comes back within its own timeout and reports is recorded; one that stays silent past its
    (credited) timeout is still taken back."""
    t0 = dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone.utc)

    def session(at: dt.datetime) -> psycopg.Connection:
        conn = psycopg.connect(cluster.url, autocommit=True, options="-c pgflow.worker_timeout=6s")
        conn.execute("select set_config('pgflow.fake_now', %s, false)", [at.isoformat()])
        return conn

    with session(t0) as conn:
        conn.execute('select pgflow.define_flow(\'outage\', \'[{"slug": "a", "max_attempts": 1}]\')')
        run_id = conn.execute("select run_id from pgflow.start_run('outage')").fetchone()[0]  # type: ignore[index]
        conn.execute("select pgflow.heartbeat('back')")
        [attempt] = conn.execute("select attempt from pgflow.poll_for_tasks('back', array['outage'])").fetchone()
        assert attempt == 1

    cluster.restart()

    with session(t0 + dt.timedelta(minutes=10)) as other:
        claimed = other.execute("select count(*) from pgflow.poll_for_tasks('other', array['outage'])").fetchone()
        assert claimed == (0,)
    with session(t0 + dt.timedelta(minutes=10, seconds=2)) as back:
        assert back.execute("select pgflow.complete_task(%s, 'a', 0, '1', 1)", [run_id]).fetchone() == (True,)
        assert back.execute("select status from pgflow.runs where run_id = %s", [run_id]).fetchone() == ("completed",)

        run2 = back.execute("select run_id from pgflow.start_run('outage')").fetchone()[0]  # type: ignore[index]
        back.execute("select count(*) from pgflow.poll_for_tasks('back', array['outage'])")
    with session(t0 + dt.timedelta(minutes=10, seconds=10)) as other:
        other.execute("select count(*) from pgflow.poll_for_tasks('other', array['outage'])")
        row = other.execute("select status, error from pgflow.runs where run_id = %s", [run2]).fetchone()
    assert row is not None and row[0] == "failed" and "sent no heartbeat" in row[1], row
