"""Cron schedules across connections and processes: 8 pollers racing at each tick start one run per tick;
schedules through the Client, declared on a Flow (defined by Client.define and by a Worker at start, whose polls
then start the due ticks), and the `pgflow schedules` / `pgflow schedule create|drop` commands.

Time is the engine's fake clock: each racing session sets pgflow.fake_now (the test role is a superuser)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

import pgflow

from ._client_helpers import running_worker, wait_until
from .test_cli import ROOT, describe

POLLERS = 8
UTC = dt.timezone.utc


@pytest.fixture
def schedule_flow(database_url: str, flow_slug: str) -> Iterator[str]:
    """A one-step flow defined under ``flow_slug`` (a task's timeout of a day: the claimed tasks of earlier ticks
    do not come back as retries while the test's clock moves by minutes); its schedules are dropped afterwards."""
    flow = pgflow.Flow(flow_slug, timeout=86400)
    flow.step(slug="tick")(lambda input: input)
    with pgflow.Client(database_url) as client:
        client.define(flow)
    yield flow_slug
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("delete from pgflow.schedules where flow_slug = %s", (flow_slug,))


def key(slug: str, tick: dt.datetime) -> str:
    return f"schedule:{slug}:{tick.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def race_polls(database_url: str, flow_slug: str, at: dt.datetime) -> list[int]:
    """POLLERS sessions, each with pgflow.fake_now = at, released together by a barrier, each polling once for
    the flow's tasks; how many tasks each claimed."""
    barrier = threading.Barrier(POLLERS)
    claimed: list[int] = [0] * POLLERS
    failures: list[BaseException] = []

    def poll(index: int) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("select pg_catalog.set_config('pgflow.fake_now', %s, false)", (at.isoformat(),))
                barrier.wait(timeout=30)
                rows = conn.execute(
                    "select * from pgflow.poll_for_tasks(%s, array[%s], 100)", (f"racer-{index}", flow_slug)
                ).fetchall()
                claimed[index] = len(rows)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(POLLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return claimed


def test_racing_pollers_start_each_tick_once(database_url: str, schedule_flow: str) -> None:
    slugs = [f"{schedule_flow}_s{i}" for i in range(3)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set pgflow.fake_now = '2030-01-01 00:00:30+00'")
        for slug in slugs:
            conn.execute(
                "select pgflow.create_schedule(%s, %s, '*/5 * * * *', %s)",
                (slug, schedule_flow, json.dumps({"s": slug})),
            )
        ticks = [
            dt.datetime(2030, 1, 1, 0, 5, tzinfo=UTC),
            dt.datetime(2030, 1, 1, 0, 10, tzinfo=UTC),
            dt.datetime(2030, 1, 1, 0, 15, 20, tzinfo=UTC),
        ]
        for number, at in enumerate(ticks, start=1):
            claimed = race_polls(database_url, schedule_flow, at)
            # each tick started one run per schedule, and each run's one task was claimed by one poller
            assert sum(claimed) == len(slugs), claimed
            tick = at.replace(second=0)
            rows = conn.execute(
                "select idempotency_key, schedule_slug, schedule_tick from pgflow.runs where flow_slug = %s "
                "and schedule_tick = %s order by schedule_slug",
                (schedule_flow, tick),
            ).fetchall()
            assert rows == [(key(slug, tick), slug, tick) for slug in slugs]
            total = conn.execute("select count(*) from pgflow.runs where flow_slug = %s", (schedule_flow,)).fetchone()
            assert total == (number * len(slugs),)
        next_ticks = conn.execute(
            "select distinct next_tick from pgflow.schedules where flow_slug = %s", (schedule_flow,)
        ).fetchall()
        assert next_ticks == [(dt.datetime(2030, 1, 1, 0, 20, tzinfo=UTC),)]


def test_racing_pollers_after_missed_ticks_start_the_latest_once(database_url: str, schedule_flow: str) -> None:
    slug = f"{schedule_flow}_minutely"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set pgflow.fake_now = '2030-01-01 00:00:00+00'")
        conn.execute("select pgflow.create_schedule(%s, %s, '* * * * *')", (slug, schedule_flow))
        at = dt.datetime(2030, 1, 3, 7, 8, 9, tzinfo=UTC)
        assert sum(race_polls(database_url, schedule_flow, at)) == 1
        rows = conn.execute("select idempotency_key from pgflow.runs where flow_slug = %s", (schedule_flow,)).fetchall()
        assert rows == [(key(slug, at.replace(second=0)),)]


def test_client_creates_lists_and_drops_schedules(database_url: str, schedule_flow: str) -> None:
    slug = f"{schedule_flow}_nightly"
    with pgflow.Client(database_url) as client:
        row = client.create_schedule(slug, schedule_flow, "0 3 * * *", {"report": "daily"}, timezone="Europe/Berlin")
        assert row["schedule_slug"] == slug and row["flow_slug"] == schedule_flow
        assert row["input"] == {"report": "daily"} and row["timezone"] == "Europe/Berlin"
        assert row["next_tick"].astimezone(ZoneInfo("Europe/Berlin")).time() == dt.time(3, 0)
        again = client.create_schedule(slug, schedule_flow, "0 3 * * *", {"report": "daily"}, timezone="Europe/Berlin")
        assert again == row

        listed = client.list_schedules(schedule_flow)
        assert [s["schedule_slug"] for s in listed] == [slug]
        assert {"next_tick", "last_tick", "last_run_id", "last_error"} <= set(listed[0])
        assert listed[0]["last_run_id"] is None
        assert any(s["schedule_slug"] == slug for s in client.list_schedules())
        assert client.list_schedules(f"{schedule_flow}_other") == []

        with pytest.raises(pgflow.InvalidDefinition, match="cron has 4 fields"):
            client.create_schedule(slug, schedule_flow, "0 3 * *")
        with pytest.raises(pgflow.FlowNotFound):
            client.create_schedule(slug, f"{schedule_flow}_missing", "0 3 * * *")
        with pytest.raises(pgflow.InvalidInput, match="input is not storable JSON"):
            client.create_schedule(slug, schedule_flow, "0 3 * * *", {"bad": float("nan")})

        assert client.drop_schedule(slug) is True
        assert client.drop_schedule(slug) is False
        assert client.list_schedules(schedule_flow) == []


def test_a_flows_schedules_are_defined_with_it_and_not_part_of_its_definition(
    database_url: str, flow_slug: str
) -> None:
    slug = f"{flow_slug}_hourly"
    flow = pgflow.Flow(flow_slug, schedules=[pgflow.Schedule(slug, "0 * * * *", {"n": 1})])
    flow.step(slug="only")(lambda input: input)
    assert flow.schedules == (pgflow.Schedule(slug, "0 * * * *", {"n": 1}),)
    with pgflow.Client(database_url) as client:
        first = client.define(flow)
        [row] = client.list_schedules(flow)
        assert (row["cron"], row["input"], row["timezone"]) == ("0 * * * *", {"n": 1}, "UTC")

        changed = pgflow.Flow(flow_slug, schedules=[pgflow.Schedule(slug, "30 * * * *", {"n": 2})])
        changed.step(slug="only")(lambda input: input)
        second = client.define(changed)
        assert second.version == first.version  # a schedule is not part of the flow's definition
        [row] = client.list_schedules(flow)
        assert (row["cron"], row["input"]) == ("30 * * * *", {"n": 2})
        client.drop_schedule(slug)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bad-slug", "* * * * *"), "not a valid slug"),
        (("ok", ""), "cron must be a non-empty string"),
        (("ok", "* * * * *", None, ""), "timezone must be a time zone name"),
    ],
)
def test_schedule_checks_what_it_cheaply_can(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(pgflow.InvalidDefinition, match=message):
        pgflow.Schedule(*args)


def test_a_flow_refuses_two_schedules_with_one_slug() -> None:
    with pytest.raises(pgflow.InvalidDefinition, match="two schedules have the slug 'same'"):
        pgflow.Flow("f", schedules=[pgflow.Schedule("same", "@daily"), pgflow.Schedule("same", "@hourly")])


def test_a_worker_defines_its_flows_schedules_and_its_polls_start_them(database_url: str, flow_slug: str) -> None:
    slug = f"{flow_slug}_yearly"
    flow = pgflow.Flow(flow_slug, schedules=[pgflow.Schedule(slug, "@yearly", {"from": "schedule"})])
    seen: list[Any] = []
    flow.step(slug="record")(lambda input: seen.append(input) or "done")
    with psycopg.connect(database_url, autocommit=True) as conn:
        with running_worker(database_url, flow):
            row = wait_until(
                lambda: conn.execute(
                    "select next_tick from pgflow.schedules where schedule_slug = %s", (slug,)
                ).fetchone(),
                what="the worker to define the schedule",
            )
            assert row[0].month == 1 and row[0].day == 1
            # the tick comes: its next poll starts the run, and the worker runs it
            conn.execute(
                "update pgflow.schedules set next_tick = pg_catalog.now() - interval '1 second' "
                "where schedule_slug = %s",
                (slug,),
            )
            status = wait_until(
                lambda: conn.execute(
                    "select status from pgflow.runs where schedule_slug = %s and status = 'completed'", (slug,)
                ).fetchone(),
                timeout=20,
                what="the scheduled run to complete",
            )
            assert status == ("completed",)
        assert seen == [{"from": "schedule"}]
        conn.execute("delete from pgflow.schedules where schedule_slug = %s", (slug,))


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGFLOW_DEBUG")}
    return subprocess.run(
        [sys.executable, "-m", "pgflow.cli", *args, "--database-url", database_url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_schedules(database_url: str, schedule_flow: str) -> None:
    slug = f"{schedule_flow}_cli"
    created = cli(
        database_url,
        "schedule",
        "create",
        slug,
        schedule_flow,
        "15 6 * * mon-fri",
        "--input",
        '{"a": 1}',
        "--timezone",
        "America/New_York",
    )
    assert created.returncode == 0, describe(created)
    assert created.stdout.startswith(f"schedule {slug}: flow {schedule_flow}, cron '15 6 * * mon-fri'")

    listed = cli(database_url, "schedules", "--flow", schedule_flow)
    assert listed.returncode == 0, describe(listed)
    header, line = listed.stdout.splitlines()
    assert header.split() == [
        "SCHEDULE",
        "FLOW",
        "CRON",
        "TIMEZONE",
        "NEXT",
        "TICK",
        "LAST",
        "TICK",
        "LAST",
        "RUN",
        "LAST",
        "ERROR",
    ]
    assert line.split()[:2] == [slug, schedule_flow] and "America/New_York" in line

    as_json = cli(database_url, "schedules", "--flow", schedule_flow, "--json")
    assert as_json.returncode == 0, describe(as_json)
    [row] = json.loads(as_json.stdout)
    assert row["input"] == {"a": 1} and row["last_run_id"] is None

    bad = cli(database_url, "schedule", "create", slug, schedule_flow, "15 6 * *")
    assert bad.returncode == 1 and "cron has 4 fields" in bad.stderr, describe(bad)
    unknown = cli(database_url, "schedule", "create", slug, f"{schedule_flow}_nope", "@daily")
    assert unknown.returncode == 1 and "does not exist" in unknown.stderr, describe(unknown)
    usage = cli(database_url, "schedule", "create", slug, schedule_flow, "@daily", "--input", "{bad")
    assert usage.returncode == 2 and "--input is not valid JSON" in usage.stderr, describe(usage)

    dropped = cli(database_url, "schedule", "drop", slug)
    assert dropped.returncode == 0 and dropped.stdout.strip() == f"schedule {slug} dropped", describe(dropped)
    again = cli(database_url, "schedule", "drop", slug)
    assert again.returncode == 1, describe(again)
    assert again.stderr.strip() == f"pgflow: schedule {slug} does not exist", describe(again)
    empty = cli(database_url, "schedules", "--flow", schedule_flow)
    assert empty.returncode == 0 and empty.stdout.strip() == f"no schedules for flow {schedule_flow}"


def test_a_run_started_with_a_ticks_key_is_that_ticks_run(database_url: str, schedule_flow: str) -> None:
    """A run started by hand with a tick's key is the tick's run: the poll records the schedule on it and starts
    no other."""
    slug = f"{schedule_flow}_keyed"
    tick = dt.datetime(2030, 1, 1, 1, 0, tzinfo=UTC)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("set pgflow.fake_now = '2030-01-01 00:30:00+00'")
        conn.execute("select pgflow.create_schedule(%s, %s, '0 * * * *')", (slug, schedule_flow))
        run_id = uuid.uuid4()
        conn.execute("select pgflow.start_run(%s, '{}', %s, %s)", (schedule_flow, run_id, key(slug, tick)))
        conn.execute("set pgflow.fake_now = '2030-01-01 01:00:00+00'")
        conn.execute("select pgflow.expire_tasks()")
        rows = conn.execute(
            "select run_id, schedule_slug, schedule_tick from pgflow.runs where flow_slug = %s", (schedule_flow,)
        ).fetchall()
        assert rows == [(run_id, slug, tick)]
        last = conn.execute("select last_run_id from pgflow.schedules where schedule_slug = %s", (slug,)).fetchone()
        assert last == (run_id,)
