"""Unit-testing flows: run a flow's handlers in-process against a throwaway database, in a few lines.

>>> from pgflow.testing import FlowTester
>>> def test_order_flow():
...     with FlowTester(order_flow) as t:
...         assert t.run({"order_id": 1}) == {"receipt": {"total": 3}}

``FlowTester(flow)`` creates a database (``database()``), installs the pgflow schema, defines the flow (and the
child flows of its sub-flow steps), and works its runs with a ``pgflow.Worker`` on a thread of this process
while the ``with`` block lasts; on exit it stops the worker and drops the database. Handlers run in this
process, so a test can patch what they call. Give ``conninfo`` to use a database of your own instead (it is
migrated, and kept).

``database()`` alone is the context manager behind it, for a pytest fixture of your own::

    @pytest.fixture(scope="session")
    def pgflow_db():
        with pgflow.testing.database() as conninfo:
            yield conninfo

The server is the one ``admin_conninfo`` names, else ``PGFLOW_TEST_ADMIN_URL``, else ``DATABASE_URL``, else
libpq's defaults; its role needs the right to create databases. Nothing here sleeps: runs end when the worker
reports their last task, and waits wake on notifications.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from .client import Client, Run
from .errors import InvalidInput
from .flow import Flow
from .migrate import migrate
from .types import RunStatus
from .worker import Worker

__all__ = ["FlowTester", "database"]


def _admin_conninfo(admin_conninfo: str | None) -> str:
    return admin_conninfo or os.environ.get("PGFLOW_TEST_ADMIN_URL") or os.environ.get("DATABASE_URL") or ""


class database:
    """Context manager: a conninfo of a database with the pgflow schema installed.

    Without ``conninfo``: a new database named ``<prefix>_<random>`` on the server of ``admin_conninfo`` (see
    the module), dropped on exit (``with (force)``: connections left open do not keep it). With ``conninfo``:
    that database, migrated (``pgflow.migrate``, idempotent), never dropped."""

    def __init__(
        self, conninfo: str | None = None, *, admin_conninfo: str | None = None, prefix: str = "pgflow_test"
    ) -> None:
        self.conninfo = conninfo
        self.admin = _admin_conninfo(admin_conninfo)
        self.name: str | None = None if conninfo is not None else f"{prefix}_{uuid.uuid4().hex[:12]}"

    def __enter__(self) -> str:
        if self.name is None:
            assert self.conninfo is not None
            migrate(self.conninfo)
            return self.conninfo
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(self.name)))
        url = make_conninfo(self.admin, dbname=self.name)
        try:
            migrate(url)
        except BaseException:
            self._drop()
            raise
        return url

    def __exit__(self, *exc: object) -> None:
        if self.name is not None:
            self._drop()

    def _drop(self) -> None:
        assert self.name is not None
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(self.name)))


class FlowTester:
    """Runs of ``flow`` worked in-process while the ``with`` block lasts (see the module).

    ``conninfo``: a database of your own (default: a throwaway one, ``database()``); ``admin_conninfo``: the
    server of the throwaway one. ``concurrency``: handlers at once (default 4). ``flows``: more flows to serve
    (a flow whose sub-flow steps name a child by slug). Inside the block: ``run``, ``start``, ``wait``,
    ``status``, ``outputs``, ``signal``, ``cancel``, and ``client`` (a ``pgflow.Client``) and ``conninfo``."""

    def __init__(
        self,
        flow: Flow,
        conninfo: str | None = None,
        *,
        admin_conninfo: str | None = None,
        concurrency: int = 4,
        flows: tuple[Flow, ...] | list[Flow] = (),
    ) -> None:
        if not isinstance(flow, Flow):
            raise InvalidInput(f"FlowTester takes a pgflow.Flow, got {type(flow).__name__}")
        self.flow = flow
        self._database = database(conninfo, admin_conninfo=admin_conninfo)
        self._flows = [flow, *flows]
        self._concurrency = concurrency
        self.conninfo: str = ""
        self._client: Client | None = None
        self._worker: Worker | None = None
        self._thread: threading.Thread | None = None
        self._crashed: list[BaseException] = []

    @property
    def client(self) -> Client:
        """The ``pgflow.Client`` of the block's database; RuntimeError outside the block."""
        if self._client is None:
            raise RuntimeError("FlowTester is used inside a with block")
        return self._client

    @property
    def worker(self) -> Worker:
        """The in-process worker; RuntimeError outside the block."""
        if self._worker is None:
            raise RuntimeError("FlowTester is used inside a with block")
        return self._worker

    def __enter__(self) -> FlowTester:
        self.conninfo = self._database.__enter__()
        try:
            self._client = Client(self.conninfo)
            for flow in self._flows:
                self._client.define(flow)
            self._worker = Worker(
                self.conninfo,
                self._flows,
                concurrency=self._concurrency,
                poll_interval=0.2,
                worker_id=f"flowtester-{uuid.uuid4().hex[:8]}",
            )
            self._thread = threading.Thread(target=self._work, name="pgflow-flowtester", daemon=True)
            self._thread.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _work(self) -> None:
        assert self._worker is not None
        try:
            self._worker.run()
        except BaseException as exc:  # re-raised by the calls of the block and on exit
            self._crashed.append(exc)

    def _check_worker(self) -> None:
        if self._crashed:
            raise RuntimeError(f"the FlowTester's worker stopped: {self._crashed[0]!r}") from self._crashed[0]

    def __exit__(self, *exc: object) -> None:
        try:
            if self._worker is not None:
                self._worker.stop()
            if self._thread is not None:
                self._thread.join(timeout=60)
            if self._client is not None:
                self._client.close()
        finally:
            self._worker = self._client = self._thread = None
            self._database.__exit__(None, None, None)
        if self._crashed and exc[0] is None:
            crashed = self._crashed[0]
            raise RuntimeError(f"the FlowTester's worker stopped: {crashed!r}") from crashed

    # ------------------------------------------------------------------------------------------------
    def start(self, input: Any = None, *, flow: Flow | str | None = None, idempotency_key: str | None = None) -> Run:
        """Start a run of the flow (or of ``flow``) with ``input`` (None: ``{}``); the worker takes it."""
        self._check_worker()
        return self.client.start_run(flow or self.flow, {} if input is None else input, idempotency_key=idempotency_key)

    def wait(self, run: Run | uuid.UUID | str, timeout: float = 60) -> Any:
        """The run's output once it completes; ``pgflow.RunFailed`` / ``RunCancelled`` / ``TimeoutError``."""
        self._check_worker()
        return self.client.wait(run, timeout=timeout)

    def run(self, input: Any = None, *, timeout: float = 60, flow: Flow | str | None = None) -> Any:
        """Start a run and wait for it: its output (``RunFailed`` with the engine's error when it fails)."""
        return self.wait(self.start(input, flow=flow), timeout=timeout)

    def status(self, run: Run | uuid.UUID | str) -> RunStatus:
        """``pgflow.get_run_status``: the run and each step's status, tasks and errors."""
        return self.client.get_run_status(run)

    def outputs(self, run: Run | uuid.UUID | str) -> dict[str, Any]:
        """What each step of the run returned (``pgflow.get_step_outputs``)."""
        return self.client.get_step_outputs(run)

    def signal(self, run: Run | uuid.UUID | str, step_slug: str, payload: Any = None) -> bool:
        """Signal a wait step of the run (``pgflow.signal``)."""
        return self.client.signal(run, step_slug, payload)

    def cancel(self, run: Run | uuid.UUID | str, reason: str | None = None) -> Run:
        """Cancel the run (``pgflow.cancel_run``)."""
        return self.client.cancel_run(run, reason)
