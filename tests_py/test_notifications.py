"""Notifications on the `pgflow` channel, as another connection receives them (SPEC §3.6):
tasks_ready when tasks become claimable, at most once per flow per transaction, nothing for delayed
tasks, and run_finished with the final status of a run."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ._workload import WIDE_MAP, Listener, complete, define, fail, only_ours, poll, start_run

CHAIN = [{"slug": "first"}, {"slug": "second"}]


@pytest.fixture
def listener(database_url: str, conn: psycopg.Connection) -> Iterator[Listener]:
    with Listener(database_url) as lis:
        lis.collect(conn)  # drain anything sent before the test
        yield lis


def ready(flow_slug: str) -> dict[str, str]:
    return {"type": "tasks_ready", "flow_slug": flow_slug}


def finished(run_id: object, status: str) -> dict[str, str]:
    return {"type": "run_finished", "run_id": str(run_id), "status": status}


def claim_one(conn: psycopg.Connection, flow_slug: str, step_slug: str) -> tuple[object, ...]:
    tasks = poll(conn, "notifications-test", [flow_slug], 1)
    assert [t[1] for t in tasks] == [step_slug]
    return tasks[0]


def test_start_run_sends_tasks_ready(conn: psycopg.Connection, listener: Listener, flow_slug: str) -> None:
    define(conn, flow_slug, CHAIN, {})
    run_id = start_run(conn, flow_slug, {})
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [ready(flow_slug)]


def test_a_step_whose_tasks_become_claimable_sends_tasks_ready(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, CHAIN, {})
    run_id = start_run(conn, flow_slug, {})
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "first")
    listener.collect(conn)
    assert complete(conn, (run, "first", index), {"x": 1}, attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [ready(flow_slug)]


def test_completing_the_last_step_sends_run_finished_completed(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, CHAIN, {})
    run_id = start_run(conn, flow_slug, {})
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "first")
    assert complete(conn, (run, "first", index), 1, attempt)
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "second")
    listener.collect(conn)
    assert complete(conn, (run, "second", index), 2, attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [finished(run_id, "completed")]


def test_exhausting_a_task_sends_run_finished_failed(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, CHAIN, {"max_attempts": 1})
    run_id = start_run(conn, flow_slug, {})
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "first")
    listener.collect(conn)
    assert fail(conn, (run, "first", index), "boom", attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [finished(run_id, "failed")]


def test_cancel_run_sends_run_finished_cancelled_once(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, CHAIN, {})
    run_id = start_run(conn, flow_slug, {})
    listener.collect(conn)
    conn.execute("select pgflow.cancel_run(%s, 'no longer needed')", [run_id])
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [finished(run_id, "cancelled")]
    # cancelling a cancelled run returns it unchanged: it finishes only once
    conn.execute("select pgflow.cancel_run(%s)", [run_id])
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == []


def test_fifty_runs_started_in_one_transaction_send_one_tasks_ready(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, CHAIN, {})
    with conn.transaction():
        run_ids = [start_run(conn, flow_slug, {"i": i}) for i in range(50)]
    assert only_ours(listener.collect(conn), [flow_slug], run_ids) == [ready(flow_slug)]
    row = conn.execute(
        "select count(*) from pgflow.step_tasks where run_id = any(%s) and status = 'queued'", [run_ids]
    ).fetchone()
    assert row == (50,)


def test_two_flows_started_in_one_transaction_send_one_tasks_ready_each(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    flows = [f"{flow_slug}_one", f"{flow_slug}_two"]
    for slug in flows:
        define(conn, slug, CHAIN, {})
    with conn.transaction():
        run_ids = [start_run(conn, slug, {"i": i}) for i in range(10) for slug in flows]
    notes = only_ours(listener.collect(conn), flows, run_ids)
    assert sorted(notes, key=lambda n: n["flow_slug"]) == [ready(flows[0]), ready(flows[1])]


def test_a_thousand_task_map_step_starting_sends_one_tasks_ready(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, [{"slug": "list"}, {"slug": "each", "type": "map", "depends_on": ["list"]}], {})
    run_id = start_run(conn, flow_slug, {})
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "list")
    listener.collect(conn)
    assert complete(conn, (run, "list", index), list(range(1000)), attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [ready(flow_slug)]
    row = conn.execute(
        "select count(*) from pgflow.step_tasks where run_id = %s and step_slug = 'each' and status = 'queued'",
        [run_id],
    ).fetchone()
    assert row == (1000,)


def test_completing_a_task_that_does_not_finish_its_step_sends_nothing(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, WIDE_MAP, {})
    run_id = start_run(conn, flow_slug, [1, 2, 3])
    run, _, index, attempt, _ = poll(conn, "notifications-test", [flow_slug], 1)[0]
    listener.collect(conn)
    assert complete(conn, (run, "m", index), 2, attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == []


def test_a_retry_with_a_delay_sends_nothing(conn: psycopg.Connection, listener: Listener, flow_slug: str) -> None:
    define(conn, flow_slug, CHAIN, {"base_delay": 5})
    run_id = start_run(conn, flow_slug, {})
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "first")
    listener.collect(conn)
    assert fail(conn, (run, "first", index), "try again later", attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == []
    row = conn.execute(
        "select status, visible_at > now() from pgflow.step_tasks where run_id = %s and step_slug = 'first'", [run_id]
    ).fetchone()
    assert row == ("queued", True)


def test_a_retry_without_delay_sends_tasks_ready(conn: psycopg.Connection, listener: Listener, flow_slug: str) -> None:
    define(conn, flow_slug, CHAIN, {"base_delay": 0})
    run_id = start_run(conn, flow_slug, {})
    run, _, index, attempt, _ = claim_one(conn, flow_slug, "first")
    listener.collect(conn)
    assert fail(conn, (run, "first", index), "try again now", attempt)
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == [ready(flow_slug)]


def test_a_step_with_a_start_delay_sends_nothing_when_it_starts(
    conn: psycopg.Connection, listener: Listener, flow_slug: str
) -> None:
    define(conn, flow_slug, [{"slug": "later", "start_delay": 30}], {})
    run_id = start_run(conn, flow_slug, {})
    assert only_ours(listener.collect(conn), [flow_slug], [run_id]) == []


def test_a_rolled_back_start_sends_nothing(conn: psycopg.Connection, listener: Listener, flow_slug: str) -> None:
    define(conn, flow_slug, CHAIN, {})
    with pytest.raises(psycopg.errors.DivisionByZero):
        with conn.transaction():
            start_run(conn, flow_slug, {})
            conn.execute("select 1 / 0")
    assert only_ours(listener.collect(conn), [flow_slug]) == []
    assert conn.execute("select count(*) from pgflow.runs where flow_slug = %s", [flow_slug]).fetchone() == (0,)
