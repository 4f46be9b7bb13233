"""Bad arguments of the Python API (SPEC §6, last bullet, in Python terms): each is refused with
pgflow.InvalidInput (PF005, also a ValueError) — or InvalidDefinition (PF001) for a flow definition — with
a sentence naming the argument (and the path of a bad JSON value), before anything is sent or started, and
writes nothing. No psycopg error escapes."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import threading
import traceback
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from .conftest import scratch_database

UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"


def _flow(slug: str) -> pgflow.Flow:
    flow = pgflow.Flow(slug)

    @flow.step
    def only(input: Any) -> Any:
        return input

    return flow


def _runs_of(conn: psycopg.Connection, slug: str) -> int:
    row = conn.execute("select count(*) from pgflow.runs where flow_slug = %s", (slug,)).fetchone()
    return int(row[0]) if row else 0


def _versions_of(conn: psycopg.Connection, slug: str) -> int:
    row = conn.execute("select count(*) from pgflow.flows where flow_slug = %s", (slug,)).fetchone()
    return int(row[0]) if row else 0


def _refused(call: Callable[[], Any], cls: type[pgflow.PgflowError] = pgflow.InvalidInput) -> str:
    """Call, expecting ``cls`` and no psycopg error anywhere; the message."""
    with pytest.raises(cls) as info:
        call()
    assert not isinstance(info.value, psycopg.Error)
    assert isinstance(info.value, pgflow.PgflowError)
    return str(info.value)


# ----------------------------------------------------------------------------------------------------
# JSON arguments
# ----------------------------------------------------------------------------------------------------
BAD_INPUTS: dict[str, tuple[Any, str]] = {
    "nan": ({"a": float("nan")}, "$.a is a float nan"),
    "infinity": ([1, 2, float("inf")], "$[2] is a float inf"),
    "minus_infinity": ({"x": {"y": -math.inf}}, "$.x.y is a float -inf"),
    "nul_in_string": ({"name": "a\x00b"}, "$.name is a str containing a NUL character"),
    "nul_in_key": ({"k\x00": 1}, '$ has a key "k\\u0000" containing a NUL character'),
    "lone_surrogate": (["\ud800"], "$[0] is a str containing a lone surrogate"),
    "datetime": ({"at": dt.datetime(2024, 5, 1)}, "$.at is a datetime.datetime, which json cannot encode"),
    "date": ([dt.date(2024, 5, 1)], "$[0] is a datetime.date"),
    "set": ({"s": {1}}, "$.s is a set"),
    "decimal": ({"price": decimal.Decimal("9.99")}, "$.price is a decimal.Decimal"),
    "bytes": (b"raw", "$ is a bytes"),
    "object": ({"o": object()}, "$.o is an object"),
    "uuid": ({"id": uuid.UUID(int=1)}, "$.id is a uuid.UUID"),
    "tuple_key": ({(1, 2): "x"}, "$ has a key of type tuple"),
    "deep_path": ({"items": [{}, {}, {}, {"price": float("nan")}]}, "$.items[3].price is a float nan"),
    "odd_key": ({"a key": {"b-c": math.nan}}, '$["a key"]["b-c"] is a float nan'),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_start_run_refuses_a_run_input_postgresql_cannot_store(
    database_url: str, conn: psycopg.Connection, flow_slug: str, case: str
) -> None:
    value, expected = BAD_INPUTS[case]
    with pgflow.Client(database_url) as client:
        client.define(_flow(flow_slug))
        message = _refused(lambda: client.start_run(flow_slug, value))
    assert message.startswith(f"input is not storable JSON: {expected}"), message
    assert _runs_of(conn, flow_slug) == 0


def test_a_bad_run_input_is_also_a_value_error(database_url: str, flow_slug: str) -> None:
    with pgflow.Client(database_url) as client, pytest.raises(ValueError):
        client.start_run(flow_slug, {"a": float("nan")})


def test_start_run_with_a_flow_checks_the_input_before_defining_the_flow(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    with pgflow.Client(database_url) as client:
        _refused(lambda: client.start_run(_flow(flow_slug), {"a": float("nan")}))
    assert _versions_of(conn, flow_slug) == 0


def test_a_cyclic_input_is_refused(database_url: str, flow_slug: str) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pgflow.Client(database_url) as client:
        message = _refused(lambda: client.start_run(flow_slug, {"loop": loop}))
    assert "$.loop[0] is a list that contains itself" in message


@pytest.mark.parametrize(
    ("flow_options", "step_options", "expected"),
    [
        ({"timeout": float("nan")}, {}, "the options of flow {slug} is not storable JSON: $.timeout is a float nan"),
        ({"base_delay": math.inf}, {}, "the options of flow {slug} is not storable JSON: $.base_delay is a float inf"),
        ({}, {"if_": {"x": math.nan}}, "the steps of flow {slug} is not storable JSON: $[0].if.x is a float nan"),
        ({}, {"if_not": {"when": dt.date(2024, 1, 1)}}, "$[0].if_not.when is a datetime.date"),
        ({}, {"max_delay": decimal.Decimal(3)}, "$[0].max_delay is a decimal.Decimal"),
    ],
)
def test_define_refuses_a_definition_that_cannot_be_stored(
    database_url: str,
    conn: psycopg.Connection,
    flow_slug: str,
    flow_options: dict[str, Any],
    step_options: dict[str, Any],
    expected: str,
) -> None:
    flow = pgflow.Flow(flow_slug, **flow_options)

    @flow.step(**step_options)
    def only(input: Any) -> Any:
        return input

    with pgflow.Client(database_url) as client:
        message = _refused(lambda: client.define(flow), pgflow.InvalidDefinition)
    assert expected.format(slug=flow_slug) in message, message
    assert _versions_of(conn, flow_slug) == 0


def test_a_worker_refuses_a_flow_whose_definition_cannot_be_stored_before_connecting() -> None:
    flow = pgflow.Flow("never_defined", timeout=float("nan"))

    @flow.step
    def only(input: Any) -> Any:
        return input

    with pytest.raises(pgflow.InvalidDefinition, match=r"\$\.timeout is a float nan"):
        pgflow.Worker(UNREACHABLE, flow)


# ----------------------------------------------------------------------------------------------------
# Text, ids and numbers
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda c, slug: c.start_run("a\x00b", {}), "flow_or_slug"),
        (lambda c, slug: c.start_run(42, {}), "flow_or_slug"),
        (lambda c, slug: c.start_run(slug, {}, idempotency_key="k\x00"), "idempotency_key"),
        (lambda c, slug: c.start_run(slug, {}, idempotency_key="k" * 256), "idempotency_key"),
        (lambda c, slug: c.start_run(slug, {}, idempotency_key=""), "idempotency_key"),
        (lambda c, slug: c.start_run(slug, {}, idempotency_key=7), "idempotency_key"),
        (lambda c, slug: c.start_run(slug, {}, run_id="not-a-uuid"), "run_id"),
        (lambda c, slug: c.get_run_status("garbage"), "run"),
        (lambda c, slug: c.get_run_status(12), "run"),
        (lambda c, slug: c.cancel_run("garbage"), "run"),
        (lambda c, slug: c.cancel_run(uuid.uuid4(), "why\x00"), "reason"),
        (lambda c, slug: c.resume_run(None), "run"),
        (lambda c, slug: c.wait("garbage"), "run"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout=-1), "timeout"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout=float("nan")), "timeout"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout="5"), "timeout"),
        (lambda c, slug: c.wait(uuid.uuid4(), interval=0), "interval"),
        (lambda c, slug: list(c.watch(uuid.uuid4(), interval=-1)), "interval"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout=1e300), "timeout"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout=366 * 86400), "timeout"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout=10**5000), "timeout"),
        (lambda c, slug: c.wait(uuid.uuid4(), timeout=0.5, interval=1e300), "interval"),
        (lambda c, slug: c.wait(uuid.uuid4(), interval=0.001), "interval"),
        (lambda c, slug: list(c.watch(uuid.uuid4(), interval=1e300)), "interval"),
        (lambda c, slug: list(c.watch(uuid.uuid4(), interval=1e-300)), "interval"),
        (lambda c, slug: c.list_runs(limit=-1), "limit"),
        (lambda c, slug: c.list_runs(limit=2**40), "limit"),
        (lambda c, slug: c.list_runs(limit=10_001), "limit"),
        (lambda c, slug: c.list_runs(limit=2**31 - 1), "limit"),
        (lambda c, slug: c.list_runs(limit=True), "limit"),
        (lambda c, slug: c.list_runs(status="bogus"), "status"),
        (lambda c, slug: c.list_runs(flow_slug="x\x00"), "flow_slug"),
        (lambda c, slug: c.describe_flow("x\x00"), "flow_slug"),
        (lambda c, slug: c.describe_flow(slug, version=0), "version"),
        (lambda c, slug: c.describe_flow(slug, version=2**40), "version"),
    ],
)
def test_client_arguments_are_checked_before_anything_is_sent(
    database_url: str, conn: psycopg.Connection, flow_slug: str, call: Callable[..., Any], name: str
) -> None:
    with pgflow.Client(database_url) as client:
        client.define(_flow(flow_slug))
        message = _refused(lambda: call(client, flow_slug))
    assert name in message, message
    assert _runs_of(conn, flow_slug) == 0


def test_client_arguments_are_checked_without_a_database() -> None:
    """Checked before connecting: an unreachable database is never reached for a bad argument."""
    with pgflow.Client(UNREACHABLE) as client:
        assert "input" in _refused(lambda: client.start_run("some_flow", {"a": math.nan}))
        assert "run" in _refused(lambda: client.get_run_status("garbage"))
        assert "older_than" in _refused(lambda: client.prune_runs(dt.timedelta(days=-1)))


# ----------------------------------------------------------------------------------------------------
# prune_runs
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def finished_run(database_url: str, conn: psycopg.Connection, flow_slug: str) -> uuid.UUID:
    """A run of a fresh flow, cancelled (finished) just now."""
    with pgflow.Client(database_url) as client:
        run = client.start_run(_flow(flow_slug), {})
        client.cancel_run(run.run_id)
    return run.run_id


@pytest.mark.parametrize(
    ("older_than", "expected"),
    [
        ("garbage", "older_than 'garbage' is not an interval"),
        ("-1 day", "older_than must not be negative"),
        ("1 day ago", "older_than must not be negative"),
        (dt.timedelta(seconds=-1), "older_than must not be negative"),
        ("1000000 years", "older_than"),
        (dt.timedelta.max, "older_than"),
        (7, "older_than must be a datetime.timedelta or an interval"),
        (None, "older_than must be a datetime.timedelta or an interval"),
        ("", "older_than must not be empty"),
        ("1 day\x00", "older_than contains a NUL character"),
    ],
)
def test_prune_runs_refuses_a_bad_older_than_and_deletes_nothing(
    database_url: str, conn: psycopg.Connection, finished_run: uuid.UUID, older_than: Any, expected: str
) -> None:
    with pgflow.Client(database_url) as client:
        message = _refused(lambda: client.prune_runs(older_than))
    assert expected in message, message
    row = conn.execute("select status from pgflow.runs where run_id = %s", (finished_run,)).fetchone()
    assert row == ("cancelled",)


def test_prune_runs_still_takes_good_durations(
    database_url: str, conn: psycopg.Connection, finished_run: uuid.UUID
) -> None:
    with pgflow.Client(database_url) as client:
        assert client.prune_runs("1 day") >= 0
        assert client.prune_runs(dt.timedelta(hours=1)) >= 0
        assert conn.execute("select count(*) from pgflow.runs where run_id = %s", (finished_run,)).fetchone() == (1,)
        assert client.prune_runs("0 seconds") >= 1
    assert conn.execute("select count(*) from pgflow.runs where run_id = %s", (finished_run,)).fetchone() == (0,)


# ----------------------------------------------------------------------------------------------------
# execute
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"timeout": -1}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": float("inf")}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": 1e300}, "timeout"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"input": {"a": float("nan")}}, "input"),
    ],
)
def test_execute_checks_its_arguments_before_defining_or_starting_anything(
    database_url: str, conn: psycopg.Connection, flow_slug: str, kwargs: dict[str, Any], name: str
) -> None:
    ran = threading.Event()
    flow = pgflow.Flow(flow_slug)

    @flow.step
    def only(input: Any) -> Any:
        ran.set()
        return 1

    run_input = kwargs.pop("input", {})
    message = _refused(lambda: pgflow.execute(flow, run_input, database_url, **kwargs))
    assert name in message, message
    assert _versions_of(conn, flow_slug) == 0
    assert _runs_of(conn, flow_slug) == 0
    assert not ran.is_set()


# ----------------------------------------------------------------------------------------------------
# Worker options
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": -3}, "concurrency"),
        ({"concurrency": 1.5}, "concurrency"),
        ({"concurrency": "4"}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"heartbeat_interval": 0}, "heartbeat_interval"),
        ({"heartbeat_interval": float("inf")}, "heartbeat_interval"),
        ({"shutdown_timeout": -1}, "shutdown_timeout"),
        ({"shutdown_timeout": float("nan")}, "shutdown_timeout"),
        ({"poll_interval": 1e300}, "poll_interval"),
        ({"poll_interval": 3600.5}, "poll_interval"),
        ({"poll_interval": 0.001}, "poll_interval"),
        ({"heartbeat_interval": 1e-300}, "heartbeat_interval"),
        ({"heartbeat_interval": 0.05}, "heartbeat_interval"),
        ({"heartbeat_interval": 1e300}, "heartbeat_interval"),
        ({"shutdown_timeout": 1e300}, "shutdown_timeout"),
        ({"shutdown_timeout": 86400.5}, "shutdown_timeout"),
        ({"shutdown_timeout": 10**5000}, "shutdown_timeout"),
        ({"worker_id": ""}, "worker_id"),
        ({"worker_id": "w" * 256}, "worker_id"),
        ({"worker_id": "w\x00"}, "worker_id"),
        ({"worker_id": 5}, "worker_id"),
        ({"on_report": "not callable"}, "on_report"),
    ],
)
def test_worker_options_are_checked_before_connecting(kwargs: dict[str, Any], name: str) -> None:
    message = _refused(lambda: pgflow.Worker(UNREACHABLE, _flow("never_defined"), **kwargs))
    assert name in message, message


def test_worker_flows_are_checked_before_connecting() -> None:
    with pytest.raises(pgflow.InvalidInput, match="at least one flow"):
        pgflow.Worker(UNREACHABLE, [])
    with pytest.raises(pgflow.InvalidInput, match=r"pgflow.Flow"):
        pgflow.Worker(UNREACHABLE, [object()])  # type: ignore[list-item]
    with pytest.raises(pgflow.InvalidInput, match="two different flows with the slug 'same'"):
        pgflow.Worker(UNREACHABLE, [_flow("same"), _flow("same")])
    with pytest.raises(ValueError, match="conninfo is not a valid connection string"):
        pgflow.Worker("host=127.0.0.1 port", _flow("never_defined"))


def test_a_good_worker_configuration_still_constructs_without_connecting() -> None:
    worker = pgflow.Worker(UNREACHABLE, _flow("never_defined"), concurrency=3, poll_interval=0.5, shutdown_timeout=0)
    assert (worker.concurrency, worker.poll_interval, worker.shutdown_timeout) == (3, 0.5, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poll_interval": 1e300}, "poll_interval must be at least 0.01 s and at most 1 h, got 1e+300"),
        ({"heartbeat_interval": 1e-300}, "heartbeat_interval must be at least 0.1 s and at most 1 h, got 1e-300"),
        ({"shutdown_timeout": 1e300}, "shutdown_timeout must be at least 0 s and at most 1 day, got 1e+300"),
    ],
)
def test_worker_durations_out_of_range_name_the_range(kwargs: dict[str, Any], message: str) -> None:
    assert _refused(lambda: pgflow.Worker(UNREACHABLE, _flow("never_defined"), **kwargs)) == message


def test_worker_durations_take_the_ends_of_their_ranges() -> None:
    low = pgflow.Worker(
        UNREACHABLE, _flow("never_defined"), poll_interval=0.01, heartbeat_interval=0.1, shutdown_timeout=0
    )
    high = pgflow.Worker(
        UNREACHABLE, _flow("never_defined"), poll_interval=3600, heartbeat_interval=3600, shutdown_timeout=86400
    )
    assert (low.poll_interval, low.heartbeat_interval, low.shutdown_timeout) == (0.01, 0.1, 0.0)
    assert (high.poll_interval, high.heartbeat_interval, high.shutdown_timeout) == (3600.0, 3600.0, 86400.0)


def test_list_runs_takes_the_engines_largest_limit(database_url: str) -> None:
    with pgflow.Client(database_url) as client:
        assert isinstance(client.list_runs(limit=10_000), list)
        assert client.list_runs(limit=0) == []


# ----------------------------------------------------------------------------------------------------
# Server errors that are not about the caller's arguments
# ----------------------------------------------------------------------------------------------------
#: start_run's insert of a run meets a trigger raising what the test sets in public.raise_on_run
RAISE_ON_RUN = """
create table public.raise_on_run (sqlstate text, message text);
create function public.raise_on_run() returns trigger language plpgsql as $$
declare
  v record;
begin
  select * into v from public.raise_on_run limit 1;
  if found then
    raise exception using errcode = v.sqlstate, message = v.message;
  end if;
  return new;
end;
$$;
create trigger raise_on_run before insert on pgflow.runs for each row execute function public.raise_on_run();
"""


@pytest.mark.parametrize(
    ("sqlstate", "cls"),
    [
        ("54000", psycopg.errors.ProgramLimitExceeded),
        ("22012", psycopg.errors.DivisionByZero),
        ("57014", psycopg.errors.QueryCanceled),
        ("XX000", psycopg.errors.InternalError_),
    ],
)
def test_a_server_error_that_is_not_about_an_argument_is_not_reported_as_one(
    admin_url: str, flow_slug: str, sqlstate: str, cls: type[psycopg.Error]
) -> None:
    """An error raised inside the engine's work (a trigger stands for any: a program limit exceeded, a
    division by zero in a function, a cancelled statement) is not blamed on start_run's arguments: it is
    psycopg's error of that SQLSTATE with the server's own message, its password redacted — not
    InvalidInput."""
    password = "Pw-Narwhal-52"
    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(RAISE_ON_RUN)
            conn.execute(
                "insert into public.raise_on_run values (%s, %s)",
                (sqlstate, f"the server says no (as postgresql://app:{password}@db/x would)"),
            )
        with pgflow.Client(make_conninfo(url, password=password)) as client:
            client.define(_flow(flow_slug))
            with pytest.raises(psycopg.Error) as info:
                client.start_run(flow_slug, {})
    error = info.value
    assert not isinstance(error, pgflow.PgflowError), repr(error)
    assert isinstance(error, cls), repr(error)
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert "the server says no (as postgresql://app:***@db/x would)" in shown, shown
    assert password not in shown, shown


def test_an_argument_the_database_cannot_convert_is_still_invalid_input(database_url: str) -> None:
    """A class 22 error of a parameter's conversion (outside any function) is about the argument."""
    with pgflow.Client(database_url) as client:
        message = _refused(lambda: client.prune_runs("2147483647 days 2147483647 months 99999999999 hours"))
    assert "older_than" in message, message
