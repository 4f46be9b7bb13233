"""Reports that cannot be stored, and errors that must not be retried (SPEC §7), through a real pgflow.Worker:

- a handler result PostgreSQL cannot store (NaN, ±Infinity, a NUL character in a string or a key, a lone
  surrogate, a value json cannot encode) or larger than pgflow.max_output_size() fails its own task at its
  first attempt, without retry, with "output of <flow>.<step> is not storable JSON: <path> <what>"; the
  other tasks of the same map complete exactly once;
- a batch of results the database refuses as a whole is reported again one by one: the result it still
  refuses fails its task without retry, with the database's message, and every other result is recorded;
- pgflow.NonRetryableError fails its task at attempt 1 whatever max_attempts says;
- error texts reach the engine without NUL characters or lone surrogates, and cut at 64 KiB.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import pgflow

from ._client_helpers import running_worker, wait_until
from .conftest import scratch_database

ELEMENTS = 16
BAD = 11  # the element whose handler misbehaves


class Opaque:
    """A value json cannot encode."""


class BrokenDict(dict):  # type: ignore[type-arg]
    """A dict whose items cannot be read: encoding it raises an exception json does not expect."""

    def items(self) -> Any:
        raise KeyError("boom")


#: result of the bad element -> what the error must say after "is not storable JSON: "
UNSTORABLE: dict[str, tuple[Callable[[], Any], str]] = {
    "nan": (lambda: {"items": [1, 2, 3, {"price": float("nan")}]}, "$.items[3].price is a float nan"),
    "infinity": (lambda: [0, float("inf")], "$[1] is a float inf"),
    "minus_infinity": (lambda: {"low": float("-inf")}, "$.low is a float -inf"),
    "nul_in_string": (lambda: {"name": "before\x00after"}, "$.name is a str containing a NUL character"),
    "nul_in_key": (lambda: {"rows": [{"a\x00b": 1}]}, '$.rows[0] has a key "a\\u0000b" containing a NUL character'),
    "lone_surrogate": (lambda: {"text": "x\udc80y"}, "$.text is a str containing a lone surrogate (\\udc80)"),
    "datetime": (lambda: {"when": dt.datetime(2024, 1, 1)}, "$.when is a datetime.datetime, which json cannot"),
    "set": (lambda: {"tags": {1, 2}}, "$.tags is a set, which json cannot encode"),
    "decimal": (lambda: [decimal.Decimal("1.5")], "$[0] is a decimal.Decimal, which json cannot encode"),
    "bytes": (lambda: {"raw": b"\x00\x01"}, "$.raw is a bytes, which json cannot encode"),
    "object": (lambda: {"obj": Opaque()}, f"$.obj is a {__name__}.Opaque, which json cannot encode"),
    "key_with_space": (lambda: {"a b": float("nan")}, '$["a b"] is a float nan'),
    "items_raise": (
        lambda: {"rows": [BrokenDict(a=1)]},
        f"$.rows[0] is a {__name__}.BrokenDict whose items could not be read: KeyError: 'boom'",
    ),
    "dict_subclass_at_the_top": (
        lambda: BrokenDict(a=1),
        f"$ is a {__name__}.BrokenDict whose items could not be read: KeyError: 'boom'",
    ),
}


def _tasks(conn: psycopg.Connection, run_id: Any, step: str) -> list[tuple[Any, ...]]:
    return conn.execute(
        "select task_index, status, attempt, error, output from pgflow.step_tasks "
        "where run_id = %s and step_slug = %s order by task_index",
        (run_id, step),
    ).fetchall()


def _completed_count(database_url: str, run_id: Any) -> int:
    with psycopg.connect(database_url, autocommit=True) as c:
        row = c.execute(
            "select count(*) from pgflow.step_tasks where run_id = %s and status = 'completed'", (run_id,)
        ).fetchone()
    return int(row[0]) if row else 0


def _map_with_one_bad_element(
    database_url: str,
    slug: str,
    bad: Callable[[], Any],
    calls: Counter[int],
    *,
    max_attempts: int = 3,
    raise_it: bool = False,
) -> pgflow.Flow:
    """A map over range(16): element BAD waits until the 15 others are completed, then returns ``bad()`` (or
    raises it); the others return x * 10. Every call is counted in ``calls``."""
    flow = pgflow.Flow(slug)
    lock = threading.Lock()

    @flow.map(max_attempts=max_attempts, base_delay=0, timeout=10)
    def element(x: int, ctx: pgflow.Context) -> Any:
        with lock:
            calls[x] += 1
        if x != BAD:
            return x * 10
        wait_until(lambda: _completed_count(database_url, ctx.run_id) == ELEMENTS - 1, 20, what="the 15 others")
        if raise_it:
            raise bad()
        return bad()

    return flow


# ----------------------------------------------------------------------------------------------------
# Results PostgreSQL cannot store
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", sorted(UNSTORABLE))
def test_an_unstorable_result_fails_only_its_task_at_its_first_attempt(
    database_url: str, conn: psycopg.Connection, flow_slug: str, variant: str
) -> None:
    bad, expected = UNSTORABLE[variant]
    calls: Counter[int] = Counter()
    flow = _map_with_one_bad_element(database_url, flow_slug, bad, calls)
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, list(range(ELEMENTS)))
        with running_worker(database_url, flow, concurrency=ELEMENTS), pytest.raises(pgflow.RunFailed) as info:
            client.wait(run.run_id, timeout=40)

    prefix = f"output of {flow_slug}.element is not storable JSON: "
    for task_index, status, attempt, error, output in _tasks(conn, run.run_id, "element"):
        if task_index == BAD:
            assert (status, attempt) == ("failed", 1), (status, attempt, error)
            assert error.startswith(prefix + expected), error
        else:
            assert (status, attempt, output, error) == ("completed", 1, task_index * 10, None), task_index
    assert calls == Counter(range(ELEMENTS)), calls  # every handler ran exactly once
    assert prefix in (info.value.error or ""), info.value.error


def test_a_result_larger_than_max_output_size_fails_without_retry(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    row = conn.execute("select pgflow.max_output_size()").fetchone()
    assert row is not None
    limit = int(row[0])
    calls: Counter[str] = Counter()
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=3, base_delay=0, timeout=30)
    def big(input: Any) -> Any:
        calls["big"] += 1
        return "x" * limit  # limit + 2 bytes of JSON with its quotes

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        with running_worker(database_url, flow, concurrency=1), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=60)
    [(_, status, attempt, error, output)] = _tasks(conn, run.run_id, "big")
    assert (status, attempt, output) == ("failed", 1, None)
    assert error == (
        f"output of {flow_slug}.big is not storable JSON: $ is {limit + 2} bytes of JSON, over the limit of "
        f"{limit} bytes (pgflow.max_output_size())"
    )
    assert calls["big"] == 1


# ----------------------------------------------------------------------------------------------------
# Error texts
# ----------------------------------------------------------------------------------------------------
def test_an_exception_with_a_nul_character_fails_only_its_task_with_the_nul_written_out(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    calls: Counter[int] = Counter()
    flow = _map_with_one_bad_element(
        database_url, flow_slug, lambda: ValueError("bad\x00byte"), calls, max_attempts=1, raise_it=True
    )
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, list(range(ELEMENTS)))
        with running_worker(database_url, flow, concurrency=ELEMENTS), pytest.raises(pgflow.RunFailed) as info:
            client.wait(run.run_id, timeout=40)
    for task_index, status, attempt, error, output in _tasks(conn, run.run_id, "element"):
        if task_index == BAD:
            assert (status, attempt, error) == ("failed", 1, "ValueError: bad\\x00byte")
        else:
            assert (status, attempt, output) == ("completed", 1, task_index * 10), task_index
    assert calls == Counter(range(ELEMENTS))
    assert "ValueError: bad\\x00byte" in (info.value.error or "")


def test_an_exception_with_a_lone_surrogate_is_recorded_escaped(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    flow = pgflow.Flow(flow_slug)

    @flow.step(max_attempts=1)
    def odd(input: Any) -> Any:
        raise ValueError("bad \udc80 text")

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        with running_worker(database_url, flow, concurrency=1), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=20)
    [(_, status, attempt, error, _)] = _tasks(conn, run.run_id, "odd")
    assert (status, attempt, error) == ("failed", 1, "ValueError: bad \\udc80 text")


def test_a_huge_error_text_is_cut_at_64_kib(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    flow = pgflow.Flow(flow_slug)
    message = "é" * 100_000  # 200,000 bytes of UTF-8

    @flow.step(max_attempts=1)
    def loud(input: Any) -> Any:
        raise ValueError(message)

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        with running_worker(database_url, flow, concurrency=1), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=20)
    [(_, status, attempt, error, _)] = _tasks(conn, run.run_id, "loud")
    assert (status, attempt) == ("failed", 1)
    assert len(error.encode()) <= 64 * 1024
    assert len(error.encode()) > 60 * 1024  # cut near the cap, not much shorter
    assert error.startswith("ValueError: éééé")
    assert error.endswith(f"[... truncated: {len(('ValueError: ' + message).encode())} bytes in all]"), error[-80:]


# ----------------------------------------------------------------------------------------------------
# NonRetryableError
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("subclass", [False, True], ids=["NonRetryableError", "a_subclass"])
def test_non_retryable_error_fails_at_attempt_1_although_max_attempts_is_3(
    database_url: str, conn: psycopg.Connection, flow_slug: str, subclass: bool
) -> None:
    error_class: type[Exception] = pgflow.NonRetryableError
    if subclass:
        error_class = type("PaymentDeclined", (pgflow.NonRetryableError,), {})
    calls: Counter[str] = Counter()
    flow = pgflow.Flow(flow_slug, max_attempts=3, base_delay=0)

    @flow.step
    def charge(input: Any) -> Any:
        calls["charge"] += 1
        raise error_class("card 4242 declined")

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        with running_worker(database_url, flow, concurrency=1), pytest.raises(pgflow.RunFailed) as info:
            client.wait(run.run_id, timeout=20)
    [(_, status, attempt, error, _)] = _tasks(conn, run.run_id, "charge")
    assert (status, attempt, error) == ("failed", 1, f"{error_class.__name__}: card 4242 declined")
    assert calls["charge"] == 1
    assert "card 4242 declined" in (info.value.error or "")


def test_an_ordinary_exception_is_still_retried(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    """The control of the test above: the same flow with a plain exception uses its three attempts."""
    calls: Counter[str] = Counter()
    flow = pgflow.Flow(flow_slug, max_attempts=3, base_delay=0)

    @flow.step
    def charge(input: Any) -> Any:
        calls["charge"] += 1
        raise RuntimeError("card 4242 declined")

    with pgflow.Client(database_url) as client:
        run = client.start_run(flow, {})
        with running_worker(database_url, flow, concurrency=1), pytest.raises(pgflow.RunFailed):
            client.wait(run.run_id, timeout=20)
    [(_, status, attempt, _, _)] = _tasks(conn, run.run_id, "charge")
    assert (status, attempt) == ("failed", 3)
    assert calls["charge"] == 3


# ----------------------------------------------------------------------------------------------------
# A batch the database refuses as a whole
# ----------------------------------------------------------------------------------------------------
REFUSED = "refuse me"
REFUSE_TRIGGER = """
create function public.refuse_marked_output() returns trigger language plpgsql as $$
begin
  if new.output = '"refuse me"'::jsonb then
    raise exception using errcode = '23514', message = 'this output is refused by a trigger';
  end if;
  return new;
end;
$$;
create trigger refuse_marked_output before update on pgflow.step_tasks
for each row execute function public.refuse_marked_output();
"""


def test_a_batch_refused_as_a_whole_records_every_result_but_the_refused_one(
    admin_url: str, flow_slug: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Sixteen results: ten are reported while the test holds the map step's row (so the reporter waits on
    it), the other six — five good ones and one the database refuses (a trigger standing for any refusal:
    a constraint, a value the server cannot convert) — queue up meanwhile and reach complete_tasks together.
    The database refuses that batch; the worker reports its results one by one: five are recorded, the
    refused one fails its task without retry, with the database's message."""
    late = {2, 5, 8, 13, 15, BAD}
    calls: Counter[int] = Counter()
    returned: set[int] = set()
    lock = threading.Lock()
    first_go, late_go = threading.Event(), threading.Event()
    flow = pgflow.Flow(flow_slug)

    @flow.map(max_attempts=3, base_delay=0, timeout=30)
    def element(x: int) -> Any:
        with lock:
            calls[x] += 1
        (late_go if x in late else first_go).wait(30)
        with lock:
            returned.add(x)
        return REFUSED if x == BAD else x * 10

    caplog.set_level(logging.INFO, logger="pgflow.worker")
    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn, pgflow.Client(url) as client:
            conn.execute(REFUSE_TRIGGER)
            run = client.start_run(flow, list(range(ELEMENTS)))
            with running_worker(url, flow, concurrency=ELEMENTS):
                wait_until(lambda: len(calls) == ELEMENTS, 20, what="every handler to start")
                with psycopg.connect(url) as holder:
                    holder.execute(
                        "select 1 from pgflow.step_states where run_id = %s and step_slug = 'element' for update",
                        (run.run_id,),
                    )
                    first_go.set()
                    wait_until(
                        lambda: (
                            conn.execute(
                                "select count(*) from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
                                (holder.info.backend_pid,),
                            ).fetchone()
                            == (1,)
                        ),
                        20,
                        what="the reporter to wait on the step's row",
                    )
                    late_go.set()
                    wait_until(lambda: returned >= late, 20, what="the late handlers to return")
                    time.sleep(0.3)  # their results reach the reporter's queue
                    holder.rollback()
                with pytest.raises(pgflow.RunFailed) as info:
                    client.wait(run.run_id, timeout=30)
            tasks = _tasks(conn, run.run_id, "element")

    expected_error = (
        f"output of {flow_slug}.element was refused by the database: this output is refused by a trigger "
        f"(SQLSTATE 23514)"
    )
    for task_index, status, attempt, error, output in tasks:
        if task_index == BAD:
            assert (status, attempt, error) == ("failed", 1, expected_error)
        else:
            assert (status, attempt, output) == ("completed", 1, task_index * 10), (task_index, status, error)
    assert calls == Counter(range(ELEMENTS))
    assert expected_error in (info.value.error or "")
    batches = [
        int(m.group(1))
        for r in caplog.records
        if (m := re.search(r"refused a batch of (\d+) result\(s\) as a whole", r.getMessage()))
    ]
    assert batches and max(batches) >= 2, [r.getMessage() for r in caplog.records]
    # what was logged about the run is what happened: no line blames a timeout
    about_run = [r.getMessage() for r in caplog.records if str(run.run_id) in r.getMessage()]
    assert not [m for m in about_run if "timed out" in m], about_run


def test_results_of_other_runs_in_a_refused_batch_are_recorded(admin_url: str, flow_slug: str) -> None:
    """The same kind across runs: one run's refused result never costs another run its result."""
    flow = pgflow.Flow(flow_slug)
    go = threading.Event()

    @flow.step(max_attempts=1, timeout=30)
    def single(input: Any) -> Any:
        go.wait(30)
        return REFUSED if input["refuse"] else input["n"]

    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn, pgflow.Client(url) as client:
            conn.execute(REFUSE_TRIGGER)
            runs = [client.start_run(flow, {"n": n, "refuse": n == 3}) for n in range(6)]
            with running_worker(url, flow, concurrency=6):
                wait_until(
                    lambda: (
                        conn.execute(
                            "select count(*) from pgflow.step_tasks where run_id = any(%s) and status = 'started'",
                            ([r.run_id for r in runs],),
                        ).fetchone()
                        == (6,)
                    ),
                    20,
                    what="the six tasks to be claimed",
                )
                go.set()
                outcomes = {}
                for n, run in enumerate(runs):
                    try:
                        outcomes[n] = client.wait(run.run_id, timeout=30)
                    except pgflow.RunFailed as exc:
                        outcomes[n] = exc.error
    assert {n: o for n, o in outcomes.items() if n != 3} == {n: {"single": n} for n in range(6) if n != 3}
    assert "was refused by the database: this output is refused by a trigger" in str(outcomes[3])
