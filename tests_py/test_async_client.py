"""`pgflow.AsyncClient` (SPEC §12): Client's methods, awaitable, with the same arguments, results and errors,
driven by real runs that a real `pgflow.Worker` (in a thread) completes; `wait` woken by the run_finished
notification well before its fallback interval, many waits at once on one client sharing one LISTEN
connection, polling behind PgBouncer in transaction mode, a caller's psycopg_pool, a lost connection.

Plain asyncio: each test runs its coroutine with `asyncio.run`."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from ._client_helpers import running_worker
from ._pgbouncer import PgBouncer

T = TypeVar("T")

UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"


def run(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    """The coroutine's result, run in a new event loop."""

    async def main() -> T:
        return await coroutine_function()

    return asyncio.run(main())


def chain(flow_slug: str) -> pgflow.Flow:
    """first -> second: ``{"v": n}`` gives ``{"second": (n + 1) * 10}``."""
    flow = pgflow.Flow(flow_slug, base_delay=0, max_attempts=1)

    @flow.step
    def first(input: Any) -> Any:
        return input.get("v", 0) + 1

    @flow.step(depends_on=[first])
    def second(deps: Any) -> Any:
        return deps["first"] * 10

    return flow


def gated(flow_slug: str, gate: threading.Event) -> pgflow.Flow:
    """One step that returns its input once ``gate`` is set."""
    flow = pgflow.Flow(flow_slug, base_delay=0, max_attempts=1)

    @flow.step
    def held(input: Any) -> Any:
        if not gate.wait(timeout=60):
            raise RuntimeError("the gate was never opened")
        return input

    return flow


def app_conninfo(database_url: str) -> tuple[str, str]:
    name = f"pgflow-async-test-{uuid.uuid4().hex[:8]}"
    return make_conninfo(database_url, application_name=name), name


def backends(database_url: str, application_name: str) -> list[str]:
    """The last statement of each backend of ``application_name``."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "select query from pg_stat_activity where application_name = %s", (application_name,)
        ).fetchall()
    return [r[0] for r in rows]


# ----------------------------------------------------------------------------------------------------
# The surface
# ----------------------------------------------------------------------------------------------------
def test_every_public_method_of_client_is_on_async_client_with_the_same_parameters() -> None:
    public = {n for n, v in vars(pgflow.Client).items() if not n.startswith("_") and callable(v)}
    assert public >= {"define", "start_run", "wait", "watch", "signal", "create_schedule", "close"}
    for name in sorted(public):
        method = getattr(pgflow.AsyncClient, name, None)
        assert method is not None, f"AsyncClient has no {name}"
        if name == "watch":
            assert inspect.isasyncgenfunction(method)
        else:
            assert inspect.iscoroutinefunction(method), name
        sync = inspect.signature(getattr(pgflow.Client, name))
        awaited = inspect.signature(method)
        assert [(p.name, p.kind, p.default) for p in sync.parameters.values()] == [
            (p.name, p.kind, p.default) for p in awaited.parameters.values()
        ], name
        assert sync.return_annotation == awaited.return_annotation or name == "watch", name
        assert method.__doc__ and f"Client.{name}" in method.__doc__


def test_the_constructor_opens_nothing_and_checks_its_options() -> None:
    pgflow.AsyncClient(UNREACHABLE)  # nothing opened: no error
    with pytest.raises(pgflow.InvalidInput, match="max_connections"):
        pgflow.AsyncClient(UNREACHABLE, max_connections=0)
    with pytest.raises(pgflow.InvalidInput, match="pool"):
        pgflow.AsyncClient(UNREACHABLE, pool="not a pool")  # type: ignore[arg-type]
    with pytest.raises(pgflow.InvalidInput, match="listen_conninfo"):
        pgflow.AsyncClient(UNREACHABLE, listen_conninfo="host='")


# ----------------------------------------------------------------------------------------------------
# Real runs
# ----------------------------------------------------------------------------------------------------
def test_a_run_from_start_to_output(database_url: str, flow_slug: str) -> None:
    flow = chain(flow_slug)

    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            version = await client.define(flow)
            assert isinstance(version, pgflow.FlowVersion) and version.version == 1 and version.flow_slug == flow_slug
            described = await client.describe_flow(flow_slug)
            assert [s["step_slug"] for s in described["steps"]] == ["first", "second"]
            versions = await client.list_flow_versions(flow_slug)
            assert [(v["version"], v["is_current"]) for v in versions] == [(1, True)]
            started = await client.start_run(flow_slug, {"v": 4}, idempotency_key="order-4", priority=5)
            assert isinstance(started, pgflow.Run) and started.status == "started" and started.priority == 5
            assert await client.wait(started, timeout=30) == {"second": 50}
            run_row = await client.get_run(started.run_id)
            assert (run_row.status, run_row.output, run_row.input) == ("completed", {"second": 50}, {"v": 4})
            status = await client.get_run_status(str(started.run_id))
            assert status["status"] == "completed" and status["completed_steps"] == 2
            assert await client.get_step_outputs(started) == {"first": 5, "second": 50}
            assert [r.run_id for r in await client.list_runs(flow_slug)] == [started.run_id]
            assert await client.list_runs(flow_slug, status="failed") == []
            found = await client.find_run(flow_slug, "order-4")
            assert found is not None and found.run_id == started.run_id
            assert await client.find_run(flow_slug, "order-5") is None
            # the same key again: the same run
            assert (await client.start_run(flow_slug, {"v": 9}, idempotency_key="order-4")).run_id == started.run_id
            statuses = [s["status"] async for s in client.watch(started)]
            assert statuses == ["completed"]

    with running_worker(database_url, flow):
        run(main)


def test_start_run_given_a_flow_defines_it_once_and_a_failed_run_raises_run_failed(
    database_url: str, flow_slug: str
) -> None:
    flow = pgflow.Flow(flow_slug, max_attempts=1)

    @flow.step
    def boom(input: Any) -> Any:
        raise ValueError(f"no {input['what']}")

    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            started = await client.start_run(flow, {"what": "luck"})
            assert flow_slug in client._defined
            with pytest.raises(pgflow.RunFailed, match="no luck") as failed:
                await client.wait(started, timeout=30)
            assert failed.value.run_id == started.run_id

    with running_worker(database_url, flow):
        run(main)


def test_cancel_resume_and_wait_raising_run_cancelled(database_url: str, flow_slug: str) -> None:
    flow = chain(flow_slug)

    async def main() -> uuid.UUID:
        async with pgflow.AsyncClient(database_url) as client:
            await client.define(flow)
            started = await client.start_run(flow_slug, {"v": 1})
            cancelled = await client.cancel_run(started, "changed my mind")
            assert cancelled.status == "cancelled"
            with pytest.raises(pgflow.RunCancelled, match="changed my mind"):
                await client.wait(started, timeout=5)
            assert (await client.resume_run(started)).status == "started"
            with pytest.raises(TimeoutError):
                await client.wait(started, timeout=0)  # no worker yet: looked at once
            return started.run_id

    run_id = run(main)

    async def finish() -> Any:
        async with pgflow.AsyncClient(database_url) as client:
            return await client.wait(run_id, timeout=30)

    with running_worker(database_url, flow):
        assert run(finish) == {"second": 20}


def test_set_current_version(database_url: str, flow_slug: str) -> None:
    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            await client.define(chain(flow_slug))
            two = pgflow.Flow(flow_slug)

            @two.step
            def only(input: Any) -> Any:
                return 1

            assert (await client.define(two)).version == 2
            back = await client.set_current_version(flow_slug, 1)
            assert (back.version, back.is_current) == (1, True)
            assert (await client.start_run(flow_slug)).flow_version == 1
            with pytest.raises(pgflow.FlowNotFound):
                await client.set_current_version(flow_slug, 3)

    run(main)


def test_signal_completes_a_wait_step(database_url: str, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug, max_attempts=1)

    @flow.step
    def order(input: Any) -> Any:
        return input["id"]

    approval = flow.wait("approval", depends_on=[order])

    @flow.step(depends_on=[order, approval])
    def ship(deps: Any) -> Any:
        return {"shipped": deps["order"], "by": deps["approval"]["by"]}

    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            started = await client.start_run(flow, {"id": 7})
            assert await client.signal(started, "approval", {"by": "ann"}) is True
            assert await client.signal(started, "approval", {"by": "bob"}) is False
            assert await client.wait(started, timeout=30) == {"ship": {"shipped": 7, "by": "ann"}}
            with pytest.raises(pgflow.InvalidState):
                await client.signal(started, "order", 1)

    with running_worker(database_url, flow):
        run(main)


def test_schedules(database_url: str, flow_slug: str) -> None:
    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            await client.define(chain(flow_slug))
            slug = f"s_{uuid.uuid4().hex[:10]}"
            created = await client.create_schedule(slug, flow_slug, "0 3 * * *", {"v": 2}, timezone="Europe/Paris")
            assert (created["schedule_slug"], created["cron"], created["input"]) == (slug, "0 3 * * *", {"v": 2})
            listed = await client.list_schedules(flow_slug)
            assert [s["schedule_slug"] for s in listed] == [slug]
            after = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
            tick = await client.next_cron_tick("0 3 * * *", after, timezone="Europe/Paris")
            assert tick == dt.datetime(2026, 1, 1, 2, 0, tzinfo=dt.timezone.utc)
            assert await client.drop_schedule(slug) is True
            assert await client.drop_schedule(slug) is False
            with pytest.raises(pgflow.InvalidDefinition):
                await client.create_schedule(slug, flow_slug, "not a cron")

    run(main)


def test_prune_runs(database_url: str, flow_slug: str) -> None:
    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            assert isinstance(await client.prune_runs(dt.timedelta(days=36_500)), int)
            assert isinstance(await client.prune_runs("100 years"), int)
            with pytest.raises(pgflow.InvalidInput, match="not an interval"):
                await client.prune_runs("garbage")
            with pytest.raises(pgflow.InvalidInput, match="negative"):
                await client.prune_runs("-1 day")

    run(main)


# ----------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------
def test_an_unknown_run_raises_run_not_found_from_every_method(database_url: str) -> None:
    unknown = uuid.uuid4()

    async def main() -> None:
        async with pgflow.AsyncClient(database_url) as client:
            for call in (
                client.get_run(unknown),
                client.get_run_status(unknown),
                client.get_step_outputs(unknown),
                client.cancel_run(unknown),
                client.resume_run(unknown),
                client.wait(unknown, timeout=1),
                client.signal(unknown, "approval"),
            ):
                with pytest.raises(pgflow.RunNotFound):
                    await call
            with pytest.raises(pgflow.RunNotFound):
                async for _ in client.watch(unknown):
                    pass
            with pytest.raises(pgflow.FlowNotFound):
                await client.start_run(f"missing_{uuid.uuid4().hex[:8]}")
            # the connection is still good after the refusals
            assert await client.list_runs(limit=0) == []

    run(main)


def test_bad_arguments_raise_invalid_input_before_anything_is_sent() -> None:
    """The client points at nothing that listens: an argument error can only come from the checks."""

    async def main() -> None:
        client = pgflow.AsyncClient(UNREACHABLE)
        for call in (
            client.get_run_status("not-a-uuid"),
            client.start_run("f", {"x": float("nan")}),
            client.start_run("f", priority=5000),
            client.start_run("f", idempotency_key=""),
            client.list_runs(status="done"),
            client.list_runs(limit=-1),
            client.describe_flow("f", version=0),
            client.wait(uuid.uuid4(), timeout=-1),
            client.wait(uuid.uuid4(), interval=0),
            client.signal(uuid.uuid4(), "", None),
            client.prune_runs(dt.timedelta(days=-1)),
            client.next_cron_tick("@daily", dt.datetime(2026, 1, 1)),
            client.create_schedule("s", "f", "@daily", {"bad": {1, 2}}),
        ):
            with pytest.raises(pgflow.InvalidInput):
                await call
        with pytest.raises(pgflow.InvalidInput, match="interval"):
            async for _ in client.watch(uuid.uuid4(), interval=10_000):
                pass
        with pytest.raises(pgflow.InvalidDefinition):
            await client.define("not a flow")  # type: ignore[arg-type]
        # a good argument does try to connect, and fails as Client would
        with pytest.raises(psycopg.OperationalError):
            await client.get_run_status(uuid.uuid4())
        await client.close()

    run(main)


def test_a_database_without_the_schema_raises_schema_not_installed(admin_url: str) -> None:
    from .conftest import scratch_database

    with scratch_database(admin_url) as url:

        async def main() -> None:
            async with pgflow.AsyncClient(url) as client:
                with pytest.raises(pgflow.SchemaNotInstalled, match="pgflow migrate"):
                    await client.list_runs()

        run(main)


def test_a_lost_connection_is_reopened(database_url: str) -> None:
    conninfo, name = app_conninfo(database_url)

    async def main() -> None:
        async with pgflow.AsyncClient(conninfo) as client:
            assert await client.list_runs(limit=0) == []
            with psycopg.connect(database_url, autocommit=True) as admin:
                admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity where application_name = %s", (name,)
                )
            assert await client.list_runs(limit=0) == []

    run(main)


def test_a_call_cancelled_midway_leaves_the_client_usable(database_url: str) -> None:
    """A task cancelled while its statement runs (a request whose client went away) does not leave a
    connection in the middle of a statement for the next call."""
    conninfo, name = app_conninfo(database_url)

    async def main() -> None:
        async with pgflow.AsyncClient(conninfo) as client:
            slow = asyncio.create_task(client._query("select pg_sleep(3)"))
            await asyncio.sleep(0.3)
            slow.cancel()
            with pytest.raises(asyncio.CancelledError):
                await slow
            assert await client.list_runs(limit=0) == []
            assert len(await asyncio.to_thread(backends, database_url, name)) <= 1

    run(main)


# ----------------------------------------------------------------------------------------------------
# Waiting on notifications
# ----------------------------------------------------------------------------------------------------
def test_wait_wakes_on_the_notification_well_before_its_interval(database_url: str, flow_slug: str) -> None:
    """A run completed by the worker's connection wakes wait at once: with a 60 s interval between looks, it
    returns within a small part of it after the gate opens."""
    gate = threading.Event()
    flow = gated(flow_slug, gate)
    interval = 60.0

    async def main() -> tuple[Any, float]:
        async with pgflow.AsyncClient(database_url) as client:
            started = await client.start_run(flow, {"n": 1})
            waiting = asyncio.create_task(client.wait(started, interval=interval))
            # wait has looked once and is listening (its listener is proven: the first look is long done)
            deadline = time.monotonic() + 20
            while client._notifications._task is None or not client._notifications._proven:
                assert time.monotonic() < deadline and not waiting.done()
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
            assert not waiting.done()
            opened = time.monotonic()
            gate.set()
            output = await asyncio.wait_for(waiting, timeout=interval / 2)
            return output, time.monotonic() - opened

    with running_worker(database_url, flow):
        output, elapsed = run(main)
    assert output == {"held": {"n": 1}}
    assert elapsed < interval / 10


def test_many_waits_at_once_share_one_listen_connection(database_url: str, flow_slug: str) -> None:
    """An asyncio app: 30 tasks each start a run and wait for it, at once, on one client; every wait gets its
    own run's output, all within a small part of the 60 s interval, with the client holding at most
    max_connections + 1 (the LISTEN) connections."""
    gate = threading.Event()
    flow = gated(flow_slug, gate)
    conninfo, name = app_conninfo(database_url)
    interval = 60.0

    async def main() -> tuple[list[Any], float, list[str]]:
        async with pgflow.AsyncClient(conninfo, max_connections=3) as client:
            await client.define(flow)

            async def one(n: int) -> Any:
                run_ = await client.start_run(flow_slug, {"n": n})
                return await client.wait(run_, interval=interval)

            waits = asyncio.gather(*(one(n) for n in range(30)))
            deadline = time.monotonic() + 20
            while not client._notifications._proven or len(client._notifications._waiters) < 30:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
            seen = await asyncio.to_thread(backends, database_url, name)
            opened = time.monotonic()
            gate.set()
            outputs = await asyncio.wait_for(waits, timeout=interval / 2)
            return outputs, time.monotonic() - opened, seen

    with running_worker(database_url, flow, concurrency=8):
        outputs, elapsed, seen = run(main)
    assert outputs == [{"held": {"n": n}} for n in range(30)]
    assert elapsed < interval / 5
    assert 2 <= len(seen) <= 4, seen
    assert sum(1 for q in seen if q.strip().lower().startswith("listen")) == 1, seen


def test_wait_polls_behind_pgbouncer_in_transaction_mode(
    pgbouncer: PgBouncer, database_url: str, flow_slug: str
) -> None:
    """Through a pooler in transaction mode no notification arrives: the probe says so, and wait looks every
    interval instead."""
    flow = chain(flow_slug)

    async def main() -> Any:
        async with pgflow.AsyncClient(pgbouncer.url()) as client:
            started = await client.start_run(flow, {"v": 2})
            output = await client.wait(started, timeout=30, interval=0.1)
            assert client._notifications._proven is False
            return output

    with running_worker(database_url, flow):
        assert run(main) == {"second": 30}


def test_a_caller_pool(database_url: str, flow_slug: str) -> None:
    """AsyncClient(pool=...) borrows the application's psycopg_pool connections, gives them back after each
    call (rolled back after a refusal), and leaves the pool open."""
    from psycopg_pool import AsyncConnectionPool

    flow = chain(flow_slug)

    async def main() -> None:
        async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
            async with pgflow.AsyncClient(database_url, pool=pool) as client:
                runs = await asyncio.gather(*(client.start_run(flow, {"v": n}) for n in range(5)))
                results = await asyncio.gather(*(client.wait(r, timeout=30) for r in runs))
                assert results == [{"second": (n + 1) * 10} for n in range(5)]
                with pytest.raises(pgflow.RunNotFound):
                    await client.get_run(uuid.uuid4())
                assert len(await client.list_runs(flow_slug)) == 5
            assert not pool.closed
            async with pool.connection() as conn:
                assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    with running_worker(database_url, flow):
        run(main)


def test_close_and_use_again(database_url: str) -> None:
    client = pgflow.AsyncClient(database_url)

    async def use() -> int:
        runs = await client.list_runs(limit=1)
        await client.close()
        return len(runs)

    assert run(use) <= 1
    assert run(use) <= 1  # another event loop, after close: reconnects
