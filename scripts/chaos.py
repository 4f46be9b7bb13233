"""Chaos runs: real ``pgflow worker`` processes on a private PostgreSQL cluster, while workers are killed,
their connections terminated and the server restarted or stopped, and a record of what survived.

    make chaos                                   # every scenario, about 10 minutes on 2 cores
    make chaos CHAOS_ARGS="--tasks 10000 --window 300"
    .venv/bin/python scripts/chaos.py --scenarios sigkill,outage --label "my change"
    .venv/bin/python scripts/chaos.py --render   # rewrite the docs table from the recorded results

The cluster is started by tests_py/_process_helpers.py's PrivateCluster (scripts/database.py's
throwaway_cluster() in a temporary directory, on a free port): the server on port 5432 is never touched.
Each scenario gets a fresh database, installed with ``pgflow migrate``; 4 workers
(``python -m pgflow.cli worker chaos_flows:diamond chaos_flows:fanout``, scripts/chaos_flows.py) serve
diamond runs (4 tasks) and map runs (``--map-width`` elements and a reduce step) that a producer starts at
a steady pace over ``--window`` seconds, at least ``--tasks`` tasks in all, while the scenario's faults
strike:

- ``sigkill``: kill -9 one or two random workers, start new ones 0.3-1 s later; repeatedly;
- ``terminate``: ``pg_terminate_backend`` on a random half of the workers' connections; repeatedly;
- ``restart-fast`` / ``restart-immediate``: ``pg_ctl restart -m fast`` / ``-m immediate``;
- ``outage``: ``pg_ctl stop -m fast``, ``--outage`` seconds (60) of nothing, ``pg_ctl start``, with workers
  whose ``pgflow.worker_timeout`` is much shorter (10 s) and ``max_attempts`` 1, so any attempt the engine
  wrongly gives up on fails its run.

What is counted, and from where:

- runs started (by the producer, with idempotency keys so a retry after a lost answer starts nothing new),
  completed, failed, unfinished; runs whose output differs from the one their input determines;
- tasks lost: tasks the completed flows must have (4 per diamond, width + 1 per map run) that are not
  completed;
- tasks completed twice: an audit trigger on ``pgflow.step_tasks``, installed in the chaos database only,
  records every change of a task into ``completed`` (and every change of a completed task's output) and
  every attempt that ends otherwise (retried, failed, cancelled), in the transaction that makes it; a task
  with two completion records was completed twice. Completed tasks without a record, and completions whose
  attempt has no finished handler execution, are counted too;
- handler executions: every handler appends a record of its start and end (scripts/chaos_flows.py); extra
  executions are those beyond one per task, and each is explained only when the process that ran an
  earlier attempt of that task was SIGKILLed by the harness; the same attempt executed twice is counted
  apart;
- seconds to recover: from each fault (the signal, the terminate; for restarts and the outage, the moment
  the server accepts connections again) to the first task completion after it, and until the runs in
  progress when it struck were all finished; after a SIGKILL, to the completion of the last task the killed
  process held; from the last fault to the last run finished;
- the engine's files (SQL and Python) are fingerprinted before and after each scenario: a change in between
  (someone editing the tree the package comes from) is reported, since the figures would mix two engines;
- SPEC §6's invariants (tests_py/_invariants.py) over the database at rest at the end.

Each invocation writes one JSON file to ``bench/results/chaos/`` and rewrites the table in the "Chaos runs"
section of docs/reliability.md (between its ``chaos-results`` markers) from the latest file of each label.
The exit status is 1 when a scenario broke one of its expectations.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import importlib
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
for _path in (str(ROOT), str(SCRIPTS)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import chaos_flows  # noqa: E402

import pgflow  # noqa: E402
from tests_py import _invariants  # noqa: E402
from tests_py._process_helpers import PrivateCluster  # noqa: E402

RESULTS_DIR = ROOT / "bench" / "results" / "chaos"
DOCS = ROOT / "docs" / "reliability.md"
DOCS_BEGIN = "<!-- chaos-results:begin (written by scripts/chaos.py) -->"
DOCS_END = "<!-- chaos-results:end -->"
WORKER_PREFIX = "chaos-"


def log(message: str) -> None:
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# Configuration and scenarios
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChaosConfig:
    """The knobs of a chaos run. Durations in seconds.

    - ``tasks``: at least this many tasks per scenario (diamond runs and map runs, one map run per four
      diamond runs); ``window``: the producer starts them evenly over this many seconds;
    - ``workers`` processes of ``concurrency`` handler threads each, polling every ``poll_interval`` at the
      latest; their sessions set ``pgflow.worker_timeout`` to ``worker_timeout``;
    - ``map_width``: elements of a map run; ``handler_ms``: mean handler duration (milliseconds);
    - ``step_timeout`` and ``max_attempts``: the flows' options (``outage_max_attempts`` in the outage
      scenario); ``outage``: how long the server stays down;
    - ``drain_timeout``: how long to wait for the runs once the window and the faults are over;
    - ``seed``: the faults' random choices.
    """

    tasks: int = 2000
    window: float = 90.0
    workers: int = 4
    concurrency: int = 4
    poll_interval: float = 0.5
    map_width: int = 16
    handler_ms: float = 250.0
    worker_timeout: float = 10.0
    step_timeout: float = 20.0
    max_attempts: int = 10
    outage: float = 60.0
    outage_max_attempts: int = 1
    drain_timeout: float = 180.0
    seed: int = 1


@dataclass(frozen=True)
class Scenario:
    """One kind of fault, struck ``rounds`` times at even intervals between ``first`` and ``last`` (shares of
    the window)."""

    name: str
    title: str
    rounds: int
    first: float = 0.15
    last: float = 0.8

    @property
    def kills_workers(self) -> bool:
        return self.name == "sigkill"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("sigkill", "SIGKILL storm: kill -9 of 1-2 random workers, restarted 0.3-1 s later", rounds=10),
        Scenario("terminate", "pg_terminate_backend storm on a random half of the workers' connections", rounds=15),
        Scenario("restart-fast", "pg_ctl restart -m fast", rounds=3),
        Scenario("restart-immediate", "pg_ctl restart -m immediate (crash and recovery)", rounds=3),
        Scenario("outage", "server stopped (pg_ctl stop -m fast), then started again", rounds=1, first=0.2, last=0.2),
    )
}


def scenario(name: str, rounds: int | None = None) -> Scenario:
    """The scenario of that name (KeyError for an unknown one), optionally with another number of rounds."""
    base = SCENARIOS[name]
    return base if rounds is None else dataclasses.replace(base, rounds=rounds)


# ----------------------------------------------------------------------------------------------------
# The cluster
# ----------------------------------------------------------------------------------------------------
class ChaosCluster(PrivateCluster):
    """A private cluster that can also be restarted with ``-m immediate`` and stopped and started."""

    def __enter__(self) -> ChaosCluster:
        super().__enter__()
        return self

    def _pg_ctl(self, *args: str, with_options: bool = True) -> None:
        params = conninfo_to_dict(self.url)
        base = self.home / ".pgdata"
        as_user = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        options = (
            [
                "-o",
                (f"-p {params['port']} -k {params['host']} -c listen_addresses='' -c fsync=off -c max_connections=200"),
            ]
            if with_options
            else []
        )
        cmd = [
            *as_user,
            str(self._database._bindir() / "pg_ctl"),
            "-D",
            str(base / "data"),
            "-l",
            str(base / "server.log"),
            "-w",
            "-t",
            "120",
            *args,
            *options,
        ]
        result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {result.stdout}{result.stderr}")

    def restart(self, mode: str = "fast") -> None:
        """``pg_ctl restart -m MODE`` (fast, immediate); returns once the server accepts connections."""
        self._pg_ctl("-m", mode, "restart")

    def stop(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``."""
        self._pg_ctl("-m", mode, "stop", with_options=False)

    def start(self) -> None:
        """``pg_ctl start``; returns once the server accepts connections."""
        self._pg_ctl("start")


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The environment of the pgflow commands the harness starts: ours (so a PYTHONPATH choosing another
    pgflow package is inherited), with scripts/ on the path for chaos_flows, ``extra``, and no DATABASE_URL."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(SCRIPTS)) if p)
    env.pop("DATABASE_URL", None)
    return env


def _create_database(cluster: ChaosCluster, name: str) -> str:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    return make_conninfo(cluster.url, dbname=name)


def _drop_database(cluster: ChaosCluster, name: str) -> None:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


# The audit of task changes: what the engine committed, one row per completion or ended attempt. It lives in
# the chaos database only and writes nothing but its own table.
AUDIT_SQL = """
create schema chaos_audit;
create table chaos_audit.task_events (
  id bigserial primary key,
  run_id uuid not null,
  step_slug text not null,
  task_index int not null,
  attempt int not null,
  status text not null,
  error text,
  recorded_at timestamptz not null default clock_timestamp()
);
create function chaos_audit.record_task_event() returns trigger
language plpgsql
as $$
begin
  insert into chaos_audit.task_events (run_id, step_slug, task_index, attempt, status, error)
  values (new.run_id, new.step_slug, new.task_index, new.attempt, new.status, new.error);
  return null;
end;
$$;
create trigger chaos_audit_task_events
after update on pgflow.step_tasks
for each row
when (
  (new.status = 'completed' and (old.status <> 'completed' or old.output is distinct from new.output))
  or (old.status = 'started' and new.status <> 'started')
)
execute function chaos_audit.record_task_event();
"""


# ----------------------------------------------------------------------------------------------------
# Worker processes
# ----------------------------------------------------------------------------------------------------
@dataclass
class WorkerProc:
    """One ``pgflow worker`` process."""

    worker_id: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    killed_at: float | None = None  # epoch seconds of our SIGKILL


class WorkerPool:
    """The scenario's worker processes: ``slots`` of them alive at any time (a killed one is replaced)."""

    def __init__(self, url: str, config: ChaosConfig, env: dict[str, str], log_dir: Path) -> None:
        self.url = url
        self.config = config
        self.env = env
        self.log_dir = log_dir
        self.live: dict[int, WorkerProc] = {}
        self.all: list[WorkerProc] = []
        self._generation = 0
        self._lock = threading.Lock()

    def spawn(self, slot: int) -> WorkerProc:
        with self._lock:
            self._generation += 1
            worker_id = f"{WORKER_PREFIX}{slot}-{self._generation}"
        conninfo = make_conninfo(
            self.url,
            application_name=worker_id,
            options=f"-c pgflow.worker_timeout={self.config.worker_timeout:g}s",
        )
        log_path = self.log_dir / f"{worker_id}.log"
        cmd = [
            sys.executable,
            "-m",
            "pgflow.cli",
            "--database-url",
            conninfo,
            "worker",
            "chaos_flows:diamond",
            "chaos_flows:fanout",
            "--concurrency",
            str(self.config.concurrency),
            "--worker-id",
            worker_id,
            "--poll-interval",
            str(self.config.poll_interval),
            "--shutdown-timeout",
            "10",
        ]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        worker = WorkerProc(worker_id, proc, log_path)
        with self._lock:
            self.live[slot] = worker
            self.all.append(worker)
        return worker

    def start(self) -> None:
        for slot in range(self.config.workers):
            self.spawn(slot)

    def kill(self, slot: int) -> WorkerProc:
        """SIGKILL the worker of that slot and wait for it; the slot is empty until ``spawn``."""
        with self._lock:
            worker = self.live.pop(slot)
        worker.killed_at = time.time()
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=30)
        return worker

    def killed_pids(self) -> dict[int, float]:
        """{pid: epoch of our SIGKILL} of the processes the harness killed."""
        return {w.proc.pid: w.killed_at for w in self.all if w.killed_at is not None}

    def stop(self) -> None:
        """SIGTERM every live worker, wait for it (SIGKILL after 30 s). A worker just started gets up to 30 s to
        log that it is starting (its signal handlers are installed by then), so the SIGTERM stops it cleanly."""
        with self._lock:
            live = list(self.live.values())
        deadline = time.monotonic() + 30
        for worker in live:
            while (
                worker.proc.poll() is None
                and " starting" not in worker.log_path.read_text(errors="replace")
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
        for worker in live:
            if worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)
        for worker in live:
            try:
                worker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait(timeout=10)

    def unexpected_exits(self) -> list[str]:
        """Workers that ended otherwise than by our SIGKILL or with status 0 after our SIGTERM."""
        found = []
        for worker in self.all:
            code = worker.proc.poll()
            if worker.killed_at is not None or code in (0, None):
                continue
            tail = worker.log_path.read_text(errors="replace").splitlines()[-5:]
            found.append(f"worker {worker.worker_id} exited with status {code}: {' | '.join(tail)}")
        return found

    def log_lines(self) -> Iterator[str]:
        for worker in self.all:
            yield from worker.log_path.read_text(errors="replace").splitlines()


# ----------------------------------------------------------------------------------------------------
# Runs: the plan and the producer
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedRun:
    """A run the producer starts: its flow, its input, and the idempotency key that makes a retry safe."""

    index: int
    flow_slug: str
    input: Any
    key: str


def plan_runs(config: ChaosConfig, scenario_name: str) -> list[PlannedRun]:
    """One map run then four diamond runs, repeated until there are at least ``config.tasks`` tasks."""
    runs: list[PlannedRun] = []
    tasks = 0
    n = 0
    while tasks < config.tasks:
        for position in range(5):
            run_input: Any
            if position == 0:
                slug, run_input = chaos_flows.FANOUT, chaos_flows.fanout_input(n, config.map_width)
            else:
                slug, run_input = chaos_flows.DIAMOND, chaos_flows.diamond_input(n)
            runs.append(PlannedRun(len(runs), slug, run_input, f"{scenario_name}-{len(runs)}"))
            tasks += chaos_flows.expected_tasks(slug, run_input)
            n += 1
    return runs


def backoff(failures: int) -> float:
    return min(2.0, 0.05 * 2**failures) * random.uniform(0.5, 1.0)


class Producer(threading.Thread):
    """Starts the planned runs evenly over the window; retries each until the database answers."""

    def __init__(self, url: str, plan: list[PlannedRun], window: float, stop: threading.Event) -> None:
        super().__init__(name="chaos-producer", daemon=True)
        self.url = url
        self.plan = plan
        self.window = window
        self.stop_event = stop
        self.started: dict[str, uuid.UUID] = {}  # idempotency key -> run_id
        self.retries = 0
        self.errors: list[str] = []

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        t0 = time.monotonic()
        try:
            for planned in self.plan:
                due = t0 + self.window * planned.index / max(len(self.plan), 1)
                if self.stop_event.wait(max(0.0, due - time.monotonic())):
                    return
                failures = 0
                while not self.stop_event.is_set():
                    try:
                        if conn is None or conn.closed:
                            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=3)
                        row = conn.execute(
                            "select run_id from pgflow.start_run(flow_slug => %s, input => %s, idempotency_key => %s)",
                            (planned.flow_slug, Jsonb(planned.input), planned.key),
                        ).fetchone()
                        assert row is not None
                        self.started[planned.key] = row[0]
                        break
                    except psycopg.OperationalError:
                        failures += 1
                        self.retries += 1
                        if conn is not None:
                            conn.close()
                            conn = None
                        self.stop_event.wait(backoff(failures))
                    except psycopg.Error as exc:
                        self.errors.append(f"start_run of {planned.key}: {type(exc).__name__}: {exc}")
                        break
        finally:
            if conn is not None:
                conn.close()


# ----------------------------------------------------------------------------------------------------
# Faults
# ----------------------------------------------------------------------------------------------------
@dataclass
class FaultEvent:
    """One fault: ``at`` when it struck and ``recover_from`` when recovery could begin (epoch seconds; the
    same for kills and terminations, the moment the server accepted connections again for restarts and
    outages); what it hit (``detail``); the measures filled in by the analysis."""

    kind: str
    at: float
    recover_from: float
    detail: str
    hits: int  # workers killed, connections terminated, servers restarted or stopped
    pids: list[int] = field(default_factory=list)
    runs_in_progress: int = 0  # runs started and not finished when it struck
    runs_in_progress_done_s: float | None = None  # until the last of them finished (None: one never did)
    executions_in_hand: int = 0  # handler executions started and not finished when it struck
    first_completion_s: float | None = None


def _query_retrying(url: str, sql: str, params: tuple[Any, ...] = (), timeout: float = 300) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection, retrying while the server is away (up to ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    failures = 0
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
                return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]
        except psycopg.OperationalError:
            failures += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(backoff(failures))


class FaultInjector(threading.Thread):
    """Strikes the scenario's faults at their times; the first waits until some handler has started."""

    def __init__(
        self,
        cluster: ChaosCluster,
        url: str,
        config: ChaosConfig,
        scenario: Scenario,
        pool: WorkerPool,
        records: Path,
        stop: threading.Event,
    ) -> None:
        super().__init__(name="chaos-faults", daemon=True)
        self.cluster = cluster
        self.url = url
        self.config = config
        self.scenario = scenario
        self.pool = pool
        self.records = records
        self.stop_event = stop
        self.rng = random.Random(f"{config.seed}-{scenario.name}")
        self.events: list[FaultEvent] = []
        self.errors: list[str] = []

    def offsets(self) -> list[float]:
        s, w = self.scenario, self.config.window
        if s.rounds <= 1:
            return [s.first * w] * max(s.rounds, 0)
        return [w * (s.first + (s.last - s.first) * i / (s.rounds - 1)) for i in range(s.rounds)]

    def run(self) -> None:
        t0 = time.monotonic()
        try:
            waited_until = time.monotonic() + 60
            while not any(p.stat().st_size for p in self.records.glob("*.jsonl")):
                if self.stop_event.wait(0.05) or time.monotonic() > waited_until:
                    break
            for offset in self.offsets():
                if self.stop_event.wait(max(0.0, t0 + offset - time.monotonic())):
                    return
                self.events.append(self.strike())
        except Exception as exc:  # noqa: BLE001 - reported as a problem of the scenario
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def strike(self) -> FaultEvent:
        name = self.scenario.name
        if name == "sigkill":
            slots = sorted(self.pool.live)
            chosen = self.rng.sample(slots, min(len(slots), self.rng.choice((1, 2))))
            killed = [self.pool.kill(slot) for slot in chosen]
            at = min(w.killed_at or 0.0 for w in killed)
            time.sleep(self.rng.uniform(0.3, 1.0))
            for slot in chosen:
                self.pool.spawn(slot)
            return FaultEvent(
                "sigkill",
                at,
                at,
                "killed " + ", ".join(w.worker_id for w in killed),
                len(killed),
                pids=[w.proc.pid for w in killed],
            )
        if name == "terminate":
            with psycopg.connect(self.url, autocommit=True) as conn:
                backends = conn.execute(
                    "select pid from pg_stat_activity where datname = current_database() and application_name like %s",
                    (WORKER_PREFIX + "%",),
                ).fetchall()
                chosen = [pid for (pid,) in backends if self.rng.random() < 0.5] or [
                    pid for (pid,) in self.rng.sample(backends, min(1, len(backends)))
                ]
                at = time.time()
                done = conn.execute(
                    "select count(*) filter (where pg_terminate_backend(pid)) from unnest(%s::int[]) as pid", (chosen,)
                ).fetchone()
            count = int(done[0]) if done else 0
            return FaultEvent("terminate", at, at, f"terminated {count} of {len(backends)} worker connections", count)
        if name in ("restart-fast", "restart-immediate"):
            mode = name.split("-")[1]
            at = time.time()
            self.cluster.restart(mode)
            return FaultEvent(name, at, time.time(), f"pg_ctl restart -m {mode}", 1)
        if name == "outage":
            at = time.time()
            self.cluster.stop("fast")
            time.sleep(self.config.outage)
            self.cluster.start()
            back = time.time()
            return FaultEvent("outage", at, back, f"server down {back - at:.1f} s", 1)
        raise ValueError(f"unknown scenario {name!r}")


# ----------------------------------------------------------------------------------------------------
# One scenario
# ----------------------------------------------------------------------------------------------------
@dataclass
class ScenarioResult:
    """What one scenario did and what survived. Times in seconds; ``problems`` lists every broken
    expectation (empty: the scenario passed)."""

    scenario: str
    title: str
    max_attempts: int
    faults: list[FaultEvent]
    runs_planned: int
    runs_started: int
    runs_in_database: int
    runs_completed: int
    runs_failed: int
    runs_unfinished: int
    wrong_outputs: int
    tasks_expected: int
    tasks_completed: int
    tasks_lost: int
    tasks_completed_twice: int
    completions_not_audited: int
    completions_without_execution: int
    handler_executions: int
    extra_executions: int
    extra_executions_after_sigkill: int
    unexplained_extra_executions: int
    attempts_executed_twice: int
    failed_attempts: int
    failed_attempt_reasons: dict[str, int]
    refused_reports: int
    producer_retries: int
    workers_started: int
    worker_error_lines: int
    worker_error_samples: list[str]
    first_completion_s_median: float | None
    first_completion_s_max: float | None
    runs_in_progress_done_s_median: float | None
    runs_in_progress_done_s_max: float | None
    orphans_recovered_s_max: float | None
    all_runs_done_after_last_fault_s: float | None
    duration_s: float
    invariant_violations: list[str]
    engine_fingerprint: str
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def _read_records(directory: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The handlers' execution records, and the lines that could not be read (each as file:line: text)."""
    found: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_bytes().decode("utf-8", "backslashreplace").splitlines(), 1):
            try:
                found.append(json.loads(line))
            except ValueError:
                unreadable.append(f"{path.name}:{number}: {line[:300]!r}")
    return found, unreadable


def _reason(status: str, error: str | None) -> str:
    """Why an attempt ended without a completion, without the run-, worker- and time-specific parts."""
    if status == "cancelled":
        return "cancelled with its run"
    text = error or "(no error)"
    for pattern, label in (
        (r"sent no heartbeat", "worker sent no heartbeat"),
        (r"no result by its deadline", "no result by its deadline"),
        (r"stopped without reporting", "worker stopped without reporting"),
    ):
        if re.search(pattern, text):
            return label
    return re.sub(r"[0-9a-f-]{36}|\d[\d:.+ -]*", "…", text)[:80]


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _max(values: list[float]) -> float | None:
    return round(max(values), 2) if values else None


def run_scenario(
    cluster: ChaosCluster, config: ChaosConfig, scenario: Scenario, workdir: Path, *, keep_database: bool = False
) -> ScenarioResult:
    """Run one scenario on a fresh database of ``cluster`` and return what it found. ``workdir`` receives
    the workers' logs and the handlers' records. Raises RuntimeError when the database cannot be set up."""
    name = f"chaos_{scenario.name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    fingerprint = engine_fingerprint()
    url = _create_database(cluster, name)
    records = workdir / "records"
    logs = workdir / "logs"
    records.mkdir(parents=True)
    logs.mkdir(parents=True)
    max_attempts = config.outage_max_attempts if scenario.name == "outage" else config.max_attempts
    options = chaos_flows.FlowOptions(max_attempts, config.step_timeout, config.handler_ms)
    env = worker_env({**options.to_env(), "PGFLOW_CHAOS_RECORDS": str(records)})
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "pgflow.cli", "--database-url", url, "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"pgflow migrate failed: {migrate.stdout}{migrate.stderr}")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(AUDIT_SQL)  # type: ignore[arg-type]
        with pgflow.Client(url) as client:
            for flow in chaos_flows.build(options).values():
                client.define(flow)

        plan = plan_runs(config, scenario.name)
        pool = WorkerPool(url, config, env, logs)
        stop = threading.Event()
        producer = Producer(url, plan, config.window, stop)
        injector = FaultInjector(cluster, url, config, scenario, pool, records, stop)
        started = time.monotonic()
        log(
            f"{scenario.name}: {len(plan)} runs over {config.window:g} s, {scenario.rounds} fault(s), "
            f"{config.workers} workers"
        )
        try:
            pool.start()
            ids = [w.worker_id for w in pool.all]
            deadline = time.monotonic() + 60
            while _query_retrying(url, "select count(*) from pgflow.workers where worker_id = any(%s)", (ids,))[0][
                0
            ] < len(ids):
                exited = pool.unexpected_exits()
                if exited or time.monotonic() > deadline:
                    raise RuntimeError(f"the workers did not register within 60 s: {exited}")
                time.sleep(0.1)
            producer.start()
            injector.start()
            producer.join(config.window + config.outage + config.drain_timeout + 600)
            injector.join(config.window + config.outage * scenario.rounds + 600)
            deadline = time.monotonic() + config.drain_timeout
            while time.monotonic() < deadline:
                left = _query_retrying(url, "select count(*) from pgflow.runs where status = 'started'")[0][0]
                if left == 0:
                    break
                time.sleep(0.25)
        finally:
            stop.set()
            pool.stop()
        elapsed = time.monotonic() - started
        with psycopg.connect(url, autocommit=True) as conn:
            result = _analyse(conn, config, scenario, max_attempts, plan, producer, injector, pool, records, elapsed)
        result.engine_fingerprint = fingerprint
        if engine_fingerprint() != fingerprint:
            result.problems.append("the engine's files changed during the scenario: its figures mix two engines")
        log(f"{scenario.name}: {'ok' if result.ok else 'PROBLEMS: ' + '; '.join(result.problems)}")
        return result
    finally:
        if not keep_database:
            _drop_database(cluster, name)


def _analyse(
    conn: psycopg.Connection[Any],
    config: ChaosConfig,
    scenario: Scenario,
    max_attempts: int,
    plan: list[PlannedRun],
    producer: Producer,
    injector: FaultInjector,
    pool: WorkerPool,
    records_dir: Path,
    elapsed: float,
) -> ScenarioResult:
    problems: list[str] = []
    by_key = {p.key: p for p in plan}
    started_runs = {run_id: by_key[key] for key, run_id in producer.started.items()}

    runs = {
        row[0]: row
        for row in conn.execute(
            "select run_id, status, output, extract(epoch from started_at)::float8, "
            "extract(epoch from finished_at)::float8 from pgflow.runs"
        ).fetchall()
    }
    tasks = {
        (row[0], row[1], row[2]): row
        for row in conn.execute(
            "select run_id, step_slug, task_index, status, attempt from pgflow.step_tasks"
        ).fetchall()
    }
    events = conn.execute(
        "select run_id, step_slug, task_index, attempt, status, error, extract(epoch from recorded_at)::float8 "
        "from chaos_audit.task_events order by id"
    ).fetchall()
    violations = _invariants.violations(conn)

    # runs
    statuses = Counter(runs[r][1] if r in runs else "missing" for r in started_runs)
    wrong_outputs = sum(
        1
        for run_id, planned in started_runs.items()
        if run_id in runs
        and runs[run_id][1] == "completed"
        and runs[run_id][2] != chaos_flows.expected_output(planned.flow_slug, planned.input)
    )

    # tasks and completions
    tasks_expected = sum(chaos_flows.expected_tasks(p.flow_slug, p.input) for p in started_runs.values())
    completed = {k: row[4] for k, row in tasks.items() if row[3] == "completed" and k[0] in started_runs}
    completions: Counter[tuple[Any, ...]] = Counter()
    completion_at: dict[tuple[Any, ...], float] = {}
    failed_attempts: list[tuple[Any, ...]] = []
    for run_id, step, index, attempt, status, error, at in events:
        key = (run_id, step, index)
        if status == "completed":
            completions[key] += 1
            completion_at[key] = at
        else:
            failed_attempts.append((key, attempt, status, error))
    completion_times = sorted(completion_at.values())

    # handler executions
    records, unreadable = _read_records(records_dir)
    if unreadable:
        problems.append(f"{len(unreadable)} execution record(s) could not be read: {'; '.join(unreadable[:3])}")
    executions: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    ended: dict[tuple[Any, ...], float] = {}
    for rec in records:
        key = (uuid.UUID(rec["run_id"]), rec["step_slug"], rec["task_index"])
        if rec["event"] == "start":
            executions[key].append(rec)
        else:
            ended[(*key, rec["attempt"])] = rec["time"]
    killed = pool.killed_pids()
    extra = explained = executed_twice = 0
    orphan_recovery: list[float] = []
    for key, runs_of_task in executions.items():
        extra += len(runs_of_task) - 1
        attempts = Counter(r["attempt"] for r in runs_of_task)
        executed_twice += sum(n - 1 for n in attempts.values() if n > 1)
        final = completed.get(key)
        by_killed = [r for r in runs_of_task if r["pid"] in killed and r["attempt"] != final]
        explained += min(len(runs_of_task) - 1, len(by_killed))
        if by_killed and key in completion_at:
            orphan_recovery += [completion_at[key] - killed[r["pid"]] for r in by_killed]
    without_execution = sum(1 for key, attempt in completed.items() if (*key, attempt) not in ended)

    # faults: work in progress when they struck, the first completion after each, the end of the runs hit
    for event in injector.events:
        hit = [
            runs[run_id][4]
            for run_id in started_runs
            if run_id in runs
            and runs[run_id][3] <= event.at
            and (runs[run_id][4] is None or runs[run_id][4] > event.at)
        ]
        event.runs_in_progress = len(hit)
        if hit and None not in hit:
            event.runs_in_progress_done_s = round(max(hit) - event.recover_from, 3)
        event.executions_in_hand = sum(
            1
            for key, runs_of_task in executions.items()
            for r in runs_of_task
            if r["time"] <= event.at and ended.get((*key, r["attempt"]), killed.get(r["pid"], float("inf"))) > event.at
        )
        after = next((t for t in completion_times if t > event.recover_from), None)
        event.first_completion_s = None if after is None else round(after - event.recover_from, 3)
    finished = [runs[r][4] for r in started_runs if r in runs and runs[r][4] is not None]
    last_fault = max((e.recover_from for e in injector.events), default=None)
    all_done = (
        round(max(finished) - last_fault, 2)
        if finished and last_fault is not None and statuses["started"] == 0 and statuses["missing"] == 0
        else None
    )
    firsts = [e.first_completion_s for e in injector.events if e.first_completion_s is not None]
    hit_done = [e.runs_in_progress_done_s for e in injector.events if e.runs_in_progress_done_s is not None]

    log_lines = list(pool.log_lines())
    error_lines = [line for line in log_lines if " ERROR " in line or line.startswith("Traceback")]

    result = ScenarioResult(
        scenario=scenario.name,
        title=scenario.title,
        max_attempts=max_attempts,
        faults=injector.events,
        runs_planned=len(plan),
        runs_started=len(started_runs),
        runs_in_database=len(runs),
        runs_completed=statuses["completed"],
        runs_failed=statuses["failed"] + statuses["cancelled"],
        runs_unfinished=statuses["started"] + statuses["missing"],
        wrong_outputs=wrong_outputs,
        tasks_expected=tasks_expected,
        tasks_completed=len(completed),
        tasks_lost=tasks_expected - len(completed),
        tasks_completed_twice=sum(1 for n in completions.values() if n > 1),
        completions_not_audited=sum(1 for key in completed if key not in completions),
        completions_without_execution=without_execution,
        handler_executions=sum(len(v) for v in executions.values()),
        extra_executions=extra,
        extra_executions_after_sigkill=explained,
        unexplained_extra_executions=extra - explained,
        attempts_executed_twice=executed_twice,
        failed_attempts=len(failed_attempts),
        failed_attempt_reasons=dict(Counter(_reason(f[2], f[3]) for f in failed_attempts).most_common()),
        refused_reports=sum(1 for line in log_lines if "was not recorded" in line),
        producer_retries=producer.retries,
        workers_started=len(pool.all),
        worker_error_lines=len(error_lines),
        worker_error_samples=error_lines[:5],
        first_completion_s_median=_median(firsts),
        first_completion_s_max=_max(firsts),
        runs_in_progress_done_s_median=_median(hit_done),
        runs_in_progress_done_s_max=_max(hit_done),
        orphans_recovered_s_max=_max(orphan_recovery),
        all_runs_done_after_last_fault_s=all_done,
        duration_s=round(elapsed, 1),
        invariant_violations=violations[:20],
        engine_fingerprint="",
        problems=problems,
    )

    expect = problems.append
    if result.runs_started < result.runs_planned:
        expect(f"only {result.runs_started} of {result.runs_planned} runs could be started: {producer.errors[:3]}")
    if result.runs_in_database != result.runs_started:
        expect(f"{result.runs_in_database} runs in the database for {result.runs_started} started")
    if result.runs_completed != result.runs_started:
        expect(
            f"{result.runs_completed} of {result.runs_started} runs completed "
            f"({result.runs_failed} failed, {result.runs_unfinished} unfinished)"
        )
    if result.wrong_outputs:
        expect(f"{result.wrong_outputs} completed run(s) with a wrong output")
    if result.tasks_lost:
        expect(f"{result.tasks_lost} task(s) lost")
    if result.tasks_completed_twice:
        expect(f"{result.tasks_completed_twice} task(s) completed twice")
    if result.completions_not_audited:
        expect(f"{result.completions_not_audited} completed task(s) without a completion record")
    if result.completions_without_execution:
        expect(f"{result.completions_without_execution} completion(s) of an attempt no handler finished")
    if result.attempts_executed_twice:
        expect(f"{result.attempts_executed_twice} attempt(s) executed twice")
    if result.unexplained_extra_executions:
        expect(f"{result.unexplained_extra_executions} extra handler execution(s) not caused by a SIGKILL")
    if not injector.events:
        expect("no fault was struck")
    elif not any(e.runs_in_progress for e in injector.events):
        expect("no fault struck while runs were in progress")
    problems.extend(f"fault injection: {e}" for e in injector.errors)
    problems.extend(f"invariant: {v}" for v in violations[:20])
    problems.extend(pool.unexpected_exits())
    return result


# ----------------------------------------------------------------------------------------------------
# The record: machine, engine, results file, docs table
# ----------------------------------------------------------------------------------------------------
def _proc_field(path: str, name: str) -> str | None:
    """The value of the first ``name: value`` line of a /proc file, or None."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(name)), None)


def machine() -> dict[str, Any]:
    """The machine a chaos run ran on: CPU model, cores, memory (GiB), OS, Python and psycopg versions."""
    mem_kib = (_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0]
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kib) / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "psycopg": psycopg.__version__,
    }


def engine(cluster_url: str) -> dict[str, Any]:
    """Which engine ran: the pgflow package's directory, the commit (``+changes`` when its sql/ or python_client/
    differ from it) and branch of its git tree, or the commit given to ``--engine-from``, and the PostgreSQL
    server's version."""
    package = Path(pgflow.__file__).resolve().parent
    info: dict[str, Any] = {"package": str(package)}
    if os.environ.get("PGFLOW_CHAOS_ENGINE_FROM"):
        info["commit"] = os.environ["PGFLOW_CHAOS_ENGINE_FROM"]
        info["branch"] = "git archive of"
    else:
        info.update(_git_source(package.parents[1]))
    with psycopg.connect(cluster_url, autocommit=True) as conn:
        row = conn.execute("select current_setting('server_version')").fetchone()
        info["postgresql"] = row[0] if row else None
    return info


def _git_source(tree: Path) -> dict[str, Any]:
    """The commit and branch of the git tree holding the package (None, None outside one)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(tree), "status", "--porcelain", "--", "sql", "python_client"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        branch = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--abbrev-ref", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "branch": None}
    return {"commit": commit + ("+changes" if changes else ""), "branch": branch}


def engine_fingerprint() -> str:
    """A digest (16 hex digits) of the engine's SQL files and the pgflow package's Python files, names and
    contents: equal before and after a scenario when nothing changed them in between."""
    migrate = importlib.import_module("pgflow.migrate")
    package = Path(pgflow.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted([*migrate.sql_dir().rglob("*.sql"), *package.glob("*.py")]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _schema_version(cluster: ChaosCluster, env: dict[str, str]) -> str:
    name = f"chaos_version_{uuid.uuid4().hex[:8]}"
    url = _create_database(cluster, name)
    try:
        subprocess.run(
            [sys.executable, "-m", "pgflow.cli", "--database-url", url, "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            check=True,
            timeout=120,
        )
        with psycopg.connect(url) as conn:
            row = conn.execute("select pgflow.schema_version()").fetchone()
            return str(row[0]) if row else "unknown"
    finally:
        _drop_database(cluster, name)


def reproduce_command(argv: list[str]) -> str:
    """The command line that reproduces this invocation."""
    pythonpath = os.environ.get("PYTHONPATH")
    # --engine-from puts the extracted engine on PYTHONPATH itself: the argv says it all
    prefix = (
        f"PYTHONPATH={shlex.quote(pythonpath)} "
        if pythonpath and not os.environ.get("PGFLOW_CHAOS_ENGINE_FROM")
        else ""
    )
    if not argv:
        return prefix + "make chaos"
    joined = shlex.join(argv)
    quoted = f'"{joined}"' if not any(c in joined for c in '"$`\\') else shlex.quote(joined)
    return f"{prefix}make chaos CHAOS_ARGS={quoted}"


def _cell(value: Any) -> str:
    return "–" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def render(results: list[dict[str, Any]]) -> str:
    """The Markdown of the docs' chaos table: one block per recorded chaos run."""
    if not results:
        return "No chaos run is recorded yet: run `make chaos`.\n"
    out: list[str] = []
    for doc in results:
        eng = doc["engine"]
        mach = doc["machine"]
        cfg = doc["config"]
        out += [
            f"### {doc['label']} — {doc['started_at'][:16].replace('T', ' ')} UTC",
            "",
            (
                f"Engine: schema {eng['schema_version']}, from "
                + (f"{eng.get('branch')} {eng['commit']}" if eng.get("commit") else f"{eng['package']} (no git tree)")
                + f", fingerprint {eng.get('fingerprint')}, "
                f"PostgreSQL {eng['postgresql']}. Machine: {mach['cpu']}, {mach['cores']} cores, "
                f"{mach['memory_gib']} GiB, {mach['os']}, Python {mach['python']}."
            ),
            "",
            (
                f"Reproduce: `{doc['command']}` — {cfg['workers']} workers × concurrency {cfg['concurrency']}, "
                f"at least {cfg['tasks']} tasks per scenario started over {cfg['window']:g} s, handlers of "
                f"{cfg['handler_ms']:g} ms on average, `pgflow.worker_timeout` {cfg['worker_timeout']:g} s, step "
                f"timeout {cfg['step_timeout']:g} s, `max_attempts` {cfg['max_attempts']} "
                f"({cfg['outage_max_attempts']} in the outage), outage {cfg['outage']:g} s. "
                f"Results: `{doc['file']}`."
            ),
            "",
            (
                "| scenario | faults | runs completed / started | tasks completed / expected | lost | completed twice "
                "| extra executions (after SIGKILL) | failed attempts | first completion after a fault, s (median / "
                "max) | runs in progress at a fault done after, s (median / max) | last run done after the last "
                "fault, s | result |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in doc["scenarios"]:
            reasons = ", ".join(f"{n} {why}" for why, n in r["failed_attempt_reasons"].items())
            failed = f"{r['failed_attempts']}" + (f" ({reasons})" if reasons else "")
            first = f"{_cell(r['first_completion_s_median'])} / {_cell(r['first_completion_s_max'])}"
            hit = f"{_cell(r['runs_in_progress_done_s_median'])} / {_cell(r['runs_in_progress_done_s_max'])}"
            if r["orphans_recovered_s_max"] is not None:
                hit += f"; the killed workers' tasks: {_cell(r['orphans_recovered_s_max'])}"
            verdict = "ok" if not r["problems"] else "**FAILED**: " + "; ".join(r["problems"][:3])
            runs = f"{r['runs_completed']} / {r['runs_started']}"
            if r["runs_failed"]:
                runs += f" ({r['runs_failed']} failed)"
            out.append(
                f"| {r['scenario']} | {len(r['faults'])} | {runs} | {r['tasks_completed']} / {r['tasks_expected']} | "
                f"{r['tasks_lost']} | {r['tasks_completed_twice']} | {r['extra_executions']} "
                f"({r['extra_executions_after_sigkill']}) | {failed} | {first} | {hit} | "
                f"{_cell(r['all_runs_done_after_last_fault_s'])} | {verdict} |"
            )
        out.append("")
    return "\n".join(out)


def latest_per_label(directory: Path = RESULTS_DIR) -> list[dict[str, Any]]:
    """The newest recorded chaos run of each label, oldest label first."""
    newest: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        doc = json.loads(path.read_text())
        doc["file"] = str(path.relative_to(ROOT))
        newest[doc["label"]] = doc  # sorted by time: the last one wins
    return sorted(newest.values(), key=lambda d: d["started_at"])


def update_docs(results: list[dict[str, Any]], docs: Path = DOCS) -> None:
    """Rewrite the text between the chaos markers of ``docs`` (ValueError when the markers are missing)."""
    text = docs.read_text()
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < begin:
        raise ValueError(f"{docs} has no {DOCS_BEGIN} ... {DOCS_END} markers")
    docs.write_text(text[: begin + len(DOCS_BEGIN)] + "\n\n" + render(results) + "\n" + text[end:])


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    defaults = ChaosConfig()
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated, from {', '.join(SCENARIOS)}")
    p.add_argument("--rounds", type=int, default=None, help="faults per scenario (default: the scenario's own)")
    p.add_argument("--label", default=None, help="this run's name in the docs (default: schema version and commit)")
    p.add_argument(
        "--engine-from",
        default=None,
        metavar="COMMIT",
        help="test the engine (sql/ and python_client/) of this commit of the repository, e.g. a release's",
    )
    p.add_argument("--no-docs", action="store_true", help="do not rewrite docs/reliability.md")
    p.add_argument("--no-record", action="store_true", help="write no results file (and leave the docs alone)")
    p.add_argument("--render", action="store_true", help="only rewrite the docs table from the recorded results")
    for f in dataclasses.fields(ChaosConfig):
        p.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(getattr(defaults, f.name)),
            default=getattr(defaults, f.name),
            help=f"default {getattr(defaults, f.name)}",
        )
    args = p.parse_args(argv)
    unknown = [s for s in args.scenarios.split(",") if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {unknown}; choose from {', '.join(SCENARIOS)}")
    return args


def run_engine_from(commit: str, argv: list[str]) -> None:
    """Re-runs this harness with the engine of ``commit`` (``git archive`` of its sql/ and python_client/ into
    a temporary directory, first on PYTHONPATH); the harness itself stays the current one. Does not return."""
    try:
        full = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except subprocess.CalledProcessError:
        raise SystemExit(f"--engine-from: {commit!r} is not a commit of {ROOT}") from None
    target = Path(tempfile.mkdtemp(prefix=f"pgflow-{full[:7]}-"))
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", full, "sql", "python_client"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target / "python_client"), env.get("PYTHONPATH")) if p)
    env["PGFLOW_CHAOS_ENGINE_FROM"] = full[:7]
    env["PGFLOW_CHAOS_ENGINE_DIR"] = str(target)
    log(f"engine of commit {full[:7]}, extracted to {target}")
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.engine_from and not os.environ.get("PGFLOW_CHAOS_ENGINE_FROM"):
        run_engine_from(args.engine_from, argv)
    try:
        return _main(args, argv)
    finally:
        if os.environ.get("PGFLOW_CHAOS_ENGINE_DIR"):
            shutil.rmtree(os.environ["PGFLOW_CHAOS_ENGINE_DIR"], ignore_errors=True)


def _main(args: argparse.Namespace, argv: list[str]) -> int:
    if args.render:
        update_docs(latest_per_label())
        log(f"rewrote the chaos table of {DOCS.relative_to(ROOT)}")
        return 0
    config = ChaosConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ChaosConfig)})
    started_at = dt.datetime.now(dt.timezone.utc)
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="pgflow-chaos-") as tmp, ChaosCluster() as cluster:
        env = worker_env({})
        info = engine(cluster.url)
        info["schema_version"] = _schema_version(cluster, env)
        info["fingerprint"] = engine_fingerprint()
        log(f"engine: schema {info['schema_version']} from {info['package']} ({info['commit']})")
        for name in args.scenarios.split(","):
            result = run_scenario(cluster, config, scenario(name, args.rounds), Path(tmp) / name)
            if result.engine_fingerprint != info["fingerprint"]:
                result.problems.append("the engine's files changed since the chaos run began")
            results.append(result)
    source = f"{info['branch']} {info['commit']}" if info["commit"] else "no git tree"
    doc = {
        "label": args.label or f"pgflow {info['schema_version']}, {source}",
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": reproduce_command(argv),
        "machine": machine(),
        "engine": info,
        "config": dataclasses.asdict(config),
        "scenarios": [{**dataclasses.asdict(r), "ok": r.ok} for r in results],
    }
    print(json.dumps({r.scenario: {"ok": r.ok, "problems": r.problems} for r in results}, indent=2))
    if not args.no_record:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{started_at.strftime('%Y-%m-%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
        log(f"results written to {path.relative_to(ROOT)}")
        if not args.no_docs:
            update_docs(latest_per_label())
            log(f"rewrote the chaos table of {DOCS.relative_to(ROOT)}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
