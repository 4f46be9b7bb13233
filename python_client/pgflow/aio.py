"""``AsyncClient``: ``Client`` for asyncio — the same methods, awaitable, on psycopg's ``AsyncConnection``.

Every method takes the arguments of its ``Client`` namesake, checks them the same way (before anything is
sent), sends the same statements and returns the same results or raises the same errors: both clients run the
operations of ``pgflow._operations``. ``watch`` is an async iterator; ``wait`` wakes at once when the run
finishes, on the ``run_finished`` notification (SPEC §3.6).

Connections: by default the client opens its own, lazily, up to ``max_connections`` at once (1 by default:
concurrent calls then take turns on one connection); idle ones are kept for the next call until ``close()``.
Given ``pool`` (a ``psycopg_pool.AsyncConnectionPool`` the application owns, say a FastAPI app's), every call
borrows a connection of it instead, in a transaction of its own that is committed at once; the client never
opens, resizes or closes that pool.

Notifications: the first ``watch`` or ``wait`` that has to wait opens one more connection, LISTENing on
channel ``pgflow`` (on ``listen_conninfo`` when given, as ``Client`` does), shared by every watch and wait of
the client, however many run at once, and kept until ``close()``. It is used only once a probe notification
was seen to arrive on it (``_conninfo.alistener``): behind a pooler in transaction mode nothing arrives, and
watches and waits then look every ``interval`` seconds, which they also do whenever that connection is lost.

One client belongs to one event loop: use it from the loop that first used it, and close it there
(``async with`` does). It is safe for any number of concurrent tasks of that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from . import _arguments, _conninfo, _operations
from ._operations import TERMINAL, FlowVersion, Run
from .client import Client
from .errors import InvalidInput, connected_role
from .flow import Flow
from .types import FlowDescription, FlowVersionRow, RunStatus, ScheduleRow, StepOutputs

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")

#: the most connections ``AsyncClient(max_connections=...)`` takes
MAX_CONNECTIONS = 1000


class AsyncClient:
    """A handle on a pgflow database for asyncio code: ``Client``'s methods, awaitable.

    ``conninfo``: as ``Client``'s (None: ``DATABASE_URL``, else libpq's defaults). ``listen_conninfo``: as
    ``Client``'s, the direct connection used only for LISTEN. ``max_connections`` (an int from 1 to 1000,
    default 1): how many connections of its own the client uses at once for concurrent calls. ``pool``: a
    ``psycopg_pool.AsyncConnectionPool`` to borrow connections from instead (then ``max_connections`` must be
    left at 1). InvalidInput for a bad ``listen_conninfo``, ``max_connections`` or ``pool``. Nothing is
    opened by the constructor.

    Use it as ``async with AsyncClient(...) as client:``, or call ``await client.close()``."""

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        listen_conninfo: str | None = None,
        max_connections: int = 1,
        pool: AsyncConnectionPool[Any] | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.listen_conninfo = _arguments.listen_conninfo(listen_conninfo)
        _arguments.integer("max_connections", max_connections, minimum=1, maximum=MAX_CONNECTIONS)
        if pool is not None:
            if not callable(getattr(pool, "connection", None)):
                raise InvalidInput(
                    f"pool must be a psycopg_pool.AsyncConnectionPool or None, got {type(pool).__name__}"
                )
            if max_connections != 1:
                raise InvalidInput("give pool or max_connections, not both: the pool's size bounds the connections")
        self.max_connections = max_connections
        self.pool = pool
        # the client's own connections (without pool): the idle ones, and the right to hold one at once
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None
        self._notifications = _Notifications(self)
        # flows this client defined, by slug: start_run(flow) defines a flow once, not at every start
        self._defined: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------------
    async def close(self) -> None:
        """Close the client's own connections and its LISTEN connection (a ``pool`` given is left open). The
        client may be used again afterwards: it reconnects on the next call."""
        await self._notifications.close()
        idle, self._idle = self._idle, []
        self._slots = None
        for conn in idle:
            await conn.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A connection for one statement: borrowed from ``pool`` (committed, or rolled back on an error, when
        given back), or one of the client's own (autocommit; kept for the next call unless it was lost)."""
        if self.pool is not None:
            async with self.pool.connection() as borrowed:
                yield borrowed
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_connections)
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None or conn.closed:
                conn = await _conninfo.aconnect(self.conninfo, autocommit=True)
            try:
                yield conn
            finally:
                # an autocommit connection is idle between statements: one that is not (its statement was
                # interrupted by a cancelled task) is closed rather than kept
                if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    await conn.close()
                else:
                    self._idle.append(conn)

    async def _query(self, sql: str, params: tuple[Any, ...] = (), *, function: str = "") -> list[dict[str, Any]]:
        """``Client._query`` on an asyncio connection: one statement, its rows; the same errors, and a lost
        connection (or a lost race) reopened and the statement sent once more (``_operations.failure``)."""
        for attempt in (1, 2):
            async with self._connection() as conn:
                try:
                    cursor = conn.cursor(row_factory=dict_row)
                    set_json_loads(_operations.loads_json, cursor)
                    await cursor.execute(sql, params)
                    return await cursor.fetchall()
                except (psycopg.Error, UnicodeEncodeError, RecursionError) as exc:
                    _reconnect, error = _operations.failure(
                        exc,
                        broken=conn.broken,
                        last_attempt=attempt == 2,
                        function=function,
                        role=connected_role(conn),
                    )
                    if error is not None:
                        # inside the block: a pool's transaction is rolled back; no `from`: failure() chose the
                        # cause (a redacted one, or none) and `from exc` would put the original back
                        raise error  # noqa: B904
                    if self.pool is None:
                        await conn.close()
                    elif not conn.closed and not conn.autocommit:
                        with contextlib.suppress(psycopg.Error):
                            await conn.rollback()
        raise AssertionError("unreachable")

    async def _run(self, operation: _operations.Operation[T]) -> T:
        """``Client._run`` awaited: send each statement the operation asks for, give it the rows (or throw the
        refusal into it), and return its answer."""
        try:
            call = next(operation)
            while True:
                try:
                    rows = await self._query(call.sql, call.params, function=call.function)
                except Exception as exc:  # noqa: BLE001 - thrown into the operation, which decides
                    refused: Exception = exc
                else:
                    call = operation.send(rows)
                    continue
                call = operation.throw(refused)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    # ------------------------------------------------------------------------------------------------
    # Flows
    # ------------------------------------------------------------------------------------------------
    async def define(self, flow: Flow) -> FlowVersion:
        """Define (or redefine) a flow, its child flows and its schedules: ``Client.define``."""
        return await self._run(_operations.define(flow))

    async def describe_flow(self, flow_slug: str, version: int | None = None) -> FlowDescription:
        """One version of a flow (the current one by default) as JSON: ``Client.describe_flow``."""
        return await self._run(_operations.describe_flow(flow_slug, version))

    async def set_current_version(self, flow_or_slug: Flow | str, version: int) -> FlowVersion:
        """Make ``version`` of the flow the current one: ``Client.set_current_version``."""
        return await self._run(_operations.set_current_version(flow_or_slug, version))

    async def list_flow_versions(self, flow_or_slug: Flow | str | None = None) -> list[FlowVersionRow]:
        """Every version of every flow (or of one): ``Client.list_flow_versions``."""
        return await self._run(_operations.list_flow_versions(flow_or_slug))

    # ------------------------------------------------------------------------------------------------
    # Schedules
    # ------------------------------------------------------------------------------------------------
    async def create_schedule(
        self, slug: str, flow_or_slug: Flow | str, cron: str, input: Any = None, *, timezone: str = "UTC"
    ) -> ScheduleRow:
        """Create or update the schedule ``slug``: ``Client.create_schedule``."""
        return await self._run(_operations.create_schedule(slug, flow_or_slug, cron, input, timezone=timezone))

    async def drop_schedule(self, slug: str) -> bool:
        """Remove the schedule ``slug``; True when it existed: ``Client.drop_schedule``."""
        return await self._run(_operations.drop_schedule(slug))

    async def list_schedules(self, flow_or_slug: Flow | str | None = None) -> list[ScheduleRow]:
        """The schedules (of one flow, or all), by slug: ``Client.list_schedules``."""
        return await self._run(_operations.list_schedules(flow_or_slug))

    async def next_cron_tick(
        self, cron: str, after: dt.datetime | None = None, *, timezone: str = "UTC"
    ) -> dt.datetime | None:
        """The first tick of ``cron`` strictly after ``after``: ``Client.next_cron_tick``."""
        return await self._run(_operations.next_cron_tick(cron, after, timezone=timezone))

    # ------------------------------------------------------------------------------------------------
    # Runs
    # ------------------------------------------------------------------------------------------------
    async def start_run(
        self,
        flow_or_slug: Flow | str,
        input: Any = None,
        *,
        idempotency_key: str | None = None,
        run_id: uuid.UUID | str | None = None,
        priority: int = 0,
    ) -> Run:
        """Start a run of the flow's current version (defining a Flow first, once): ``Client.start_run``."""
        return await self._run(
            _operations.start_run(
                self._defined, flow_or_slug, input, idempotency_key=idempotency_key, run_id=run_id, priority=priority
            )
        )

    async def get_run(self, run: Run | uuid.UUID | str) -> Run:
        """The run's row (status, output, error...): ``Client.get_run``."""
        return await self._run(_operations.get_run(run))

    async def get_run_status(self, run: Run | uuid.UUID | str) -> RunStatus:
        """pgflow.get_run_status as a dict: ``Client.get_run_status``."""
        return await self._run(_operations.get_run_status(run))

    async def get_step_outputs(self, run: Run | uuid.UUID | str) -> StepOutputs:
        """The outputs of the run's completed steps, ``{step_slug: output}``: ``Client.get_step_outputs``."""
        return await self._run(_operations.get_step_outputs(run))

    async def list_runs(self, flow_slug: str | None = None, status: str | None = None, limit: int = 50) -> list[Run]:
        """The most recent runs, newest first: ``Client.list_runs``."""
        return await self._run(_operations.list_runs(flow_slug, status, limit))

    async def cancel_run(self, run: Run | uuid.UUID | str, reason: str | None = None) -> Run:
        """Cancel a started run: ``Client.cancel_run``."""
        return await self._run(_operations.cancel_run(run, reason))

    async def resume_run(self, run: Run | uuid.UUID | str) -> Run:
        """Start a failed or cancelled run again where it stopped: ``Client.resume_run``."""
        return await self._run(_operations.resume_run(run))

    async def signal(self, run: Run | uuid.UUID | str, step_slug: str, payload: Any = None) -> bool:
        """Signal a wait step of a started run: ``Client.signal``."""
        return await self._run(_operations.signal(run, step_slug, payload))

    async def find_run(self, flow_or_slug: Flow | str, idempotency_key: str) -> Run | None:
        """The run of the flow started with this idempotency key, or None: ``Client.find_run``."""
        return await self._run(_operations.find_run(flow_or_slug, idempotency_key))

    async def prune_runs(self, older_than: dt.timedelta | str) -> int:
        """Delete runs finished more than ``older_than`` ago; how many: ``Client.prune_runs``."""
        return await self._run(_operations.prune_runs(older_than))

    # ------------------------------------------------------------------------------------------------
    # Waiting
    # ------------------------------------------------------------------------------------------------
    async def watch(self, run: Run | uuid.UUID | str, *, interval: float = 1.0) -> AsyncGenerator[RunStatus, None]:
        """Yield the run's status now, then every ``interval`` seconds and at once when it finishes, ending with
        the terminal status: ``Client.watch``, as an async iterator (``async for status in client.watch(run)``).
        Its wake-up comes from the client's shared LISTEN connection (see the module docstring)."""
        run_id = _operations.watch_arguments(run, interval)
        key = str(run_id)
        # registered before the first look: a run finishing in between is not missed
        woken = self._notifications.subscribe(key)
        try:
            first = True
            while True:
                woken.clear()
                status = await self.get_run_status(run_id)
                yield status
                if status["status"] in TERMINAL:
                    return
                if first:
                    self._notifications.start(probe_timeout=min(_conninfo.PROBE_TIMEOUT, interval))
                    first = False
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(woken.wait(), interval)
        finally:
            self._notifications.unsubscribe(key, woken)

    async def wait(self, run: Run | uuid.UUID | str, timeout: float | None = None, *, interval: float = 1.0) -> Any:
        """Wait for the run to finish and return its output: ``Client.wait``, awaited. Wakes at once on the run's
        run_finished notification; looks every ``interval`` seconds otherwise. Raises RunFailed, RunCancelled,
        TimeoutError after ``timeout`` seconds, InvalidInput for a bad ``timeout`` or ``interval``. Any number
        of waits may run at once (``asyncio.gather``): they share one LISTEN connection."""
        plan = _operations.wait_plan(run, timeout, interval)
        async with contextlib.aclosing(self.watch(plan.run_id, interval=plan.interval)) as statuses:
            async for status in statuses:
                finished, output = plan.outcome(status)
                if finished:
                    return output
        raise AssertionError("unreachable")


class _Notifications:
    """The LISTEN connection of one AsyncClient, shared by its watches: each watch subscribes an event for its
    run, set when that run's run_finished notification arrives (and for all of them when the connection starts
    listening, so that a run finished just before is looked at at once)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        # notifications were seen to reach the listener once: later listeners skip the proof
        self._proven = False

    def subscribe(self, run_id: str) -> asyncio.Event:
        """An event set when the run ``run_id`` (as text) finishes, for the caller to wait on."""
        event = asyncio.Event()
        self._waiters.setdefault(run_id, set()).add(event)
        return event

    def unsubscribe(self, run_id: str, event: asyncio.Event) -> None:
        """Forget the event ``subscribe`` returned."""
        events = self._waiters.get(run_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._waiters[run_id]

    def start(self, *, probe_timeout: float) -> None:
        """Start listening, in a task of the running loop, unless it is done already (or being done)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen(probe_timeout))

    def _wake(self, run_id: str | None = None) -> None:
        for key, events in self._waiters.items():
            if run_id is None or key == run_id:
                for event in events:
                    event.set()

    async def _listen(self, probe_timeout: float) -> None:
        """Open the LISTEN connection (proving that notifications arrive, the first time) and wake the watches
        of the runs that finish, until the connection is lost or the client closes. Without one, watches
        look every interval: the next watch that has to wait tries again."""
        client = self._client
        try:
            conn = await _conninfo.alistener(
                client.conninfo, client.listen_conninfo, probe_timeout=None if self._proven else probe_timeout
            )
        except psycopg.OperationalError:
            return
        if conn is None:
            return
        self._proven = True
        try:
            self._wake()
            async for note in conn.notifies():
                finished = _operations.finished_run_id(note.payload)
                if finished is not None:
                    self._wake(finished)
        except psycopg.OperationalError:
            pass
        finally:
            await conn.close()

    async def close(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _with_client_docs() -> None:
    """Each public method's docstring followed by its ``Client`` namesake's, for ``help()``."""
    for name, method in vars(AsyncClient).items():
        original = getattr(Client, name, None)
        if name.startswith("_") or original is None or not original.__doc__ or not method.__doc__:
            continue
        own, theirs = inspect.cleandoc(method.__doc__), inspect.cleandoc(original.__doc__)
        method.__doc__ = f"{own}\n\n``Client.{name}``: {theirs}"


_with_client_docs()
