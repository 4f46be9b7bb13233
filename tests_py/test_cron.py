"""pgflow.next_cron_tick against croniter: the next 1,000 ticks of some 55 cron expressions (every syntax form:
numbers, ranges, lists, steps */n a-b/n a/n, month and day names in any case and in ranges, day of week 7,
Vixie cron's either-day rule, the macros), each in a time zone, from a fixed start, computed on the SQL side by
one recursive statement per expression (each tick the next_cron_tick of the one before).

croniter is run with ``implement_cron_bug=True``: that is Vixie cron's day rule, which the engine follows (a day
field starting with ``*``, ``*/2`` included, counts as unrestricted); croniter's default ORs the two day fields
whenever both are other than ``*``.

Daylight saving time: croniter moves a tick that falls in the hour skipped when DST starts to the end of the gap,
and ticks twice in the hour repeated when it ends; the engine skips the first and ticks once, at the first
occurrence. So the expressions whose ticks can reach a transition hour are compared in zones without DST (UTC,
Asia/Kolkata, Asia/Tokyo), and those compared in America/New_York, Europe/Berlin or Australia/Sydney tick at
hours no transition touches (or stop before the first transition). The DST rule itself is checked by
``test_dst_rule_against_a_minute_by_minute_oracle``: every minute around each 2030 transition, read in the zone
with zoneinfo, a wall-clock time that matches the cron being a tick at its first instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import psycopg
import pytest
from croniter import croniter

import pgflow

START = dt.datetime(2030, 1, 1, 0, 0, 30, tzinfo=dt.timezone.utc)
TICKS = 1000

# (expression, time zone, how many ticks)
CASES: list[tuple[str, str, int]] = [
    # minutes
    ("* * * * *", "America/New_York", TICKS),
    ("*/5 * * * *", "Europe/Berlin", TICKS),
    ("*/7 * * * *", "UTC", TICKS),
    ("5 * * * *", "Asia/Kolkata", TICKS),
    ("0,15,30,45 * * * *", "Australia/Sydney", TICKS),
    ("10-20 * * * *", "Asia/Tokyo", TICKS),
    ("10-50/10 * * * *", "UTC", TICKS),
    ("7/15 * * * *", "UTC", TICKS),
    ("1/2 * * * *", "Europe/Berlin", TICKS),
    ("0-59/30 * * * *", "Asia/Kolkata", TICKS),
    # hours
    ("0 * * * *", "UTC", TICKS),
    ("30 */2 * * *", "Asia/Kolkata", TICKS),
    ("15 9-17 * * *", "America/New_York", TICKS),
    ("0 8-18/3 * * *", "Europe/Berlin", TICKS),
    ("0 0,12 * * *", "Australia/Sydney", TICKS),
    ("45 23 * * *", "America/New_York", TICKS),
    ("0 5/6 * * *", "UTC", TICKS),
    # days of month
    ("0 0 1 * *", "Europe/Berlin", TICKS),
    ("0 0 15 * *", "Asia/Tokyo", TICKS),
    ("0 0 31 * *", "UTC", TICKS),
    ("0 0 */10 * *", "America/New_York", TICKS),
    ("0 0 1-7 * *", "Asia/Kolkata", TICKS),
    ("0 0 28-31 * *", "UTC", TICKS),
    ("0 12 10/7 * *", "Australia/Sydney", TICKS),
    ("0 0 29 2 *", "UTC", 10),
    # months
    ("0 0 1 jan *", "Europe/Berlin", 20),
    ("0 0 1 */3 *", "UTC", TICKS),
    ("0 0 1 jan-mar,oct *", "America/New_York", TICKS),
    ("0 0 15 2-11/3 *", "Asia/Tokyo", TICKS),
    ("0 6 * JUN-aug *", "Europe/Berlin", TICKS),
    # days of week
    ("0 9 * * mon-fri", "America/New_York", TICKS),
    ("0 9 * * 1-5", "Europe/Berlin", TICKS),
    ("0 10 * * sat,sun", "Australia/Sydney", TICKS),
    ("0 10 * * 0", "UTC", TICKS),
    ("0 10 * * 7", "UTC", TICKS),
    ("0 10 * * 5-7", "Asia/Kolkata", TICKS),
    ("0 10 * * */2", "America/New_York", TICKS),
    ("0 10 * * 1/2", "Europe/Berlin", TICKS),
    ("0 0 * * MON", "UTC", TICKS),
    ("30 18 * * tue,thu", "Asia/Tokyo", TICKS),
    ("0 12 * * Thu-SAT", "UTC", TICKS),
    # both day fields: Vixie cron's rule
    ("0 0 13 * fri", "America/New_York", TICKS),
    ("0 0 1,15 * mon", "Europe/Berlin", TICKS),
    ("0 0 */2 * mon", "UTC", TICKS),
    ("0 0 1-7 * */2", "Asia/Kolkata", TICKS),
    ("0 8 1 * 1-5", "Australia/Sydney", TICKS),
    # macros
    ("@hourly", "Asia/Kolkata", TICKS),
    ("@daily", "America/New_York", TICKS),
    ("@midnight", "Europe/Berlin", TICKS),
    ("@weekly", "Australia/Sydney", TICKS),
    ("@monthly", "UTC", TICKS),
    ("@yearly", "Asia/Tokyo", 20),
    ("@annually", "UTC", 20),
    # mixed
    ("*/10 9-17 * * mon-fri", "Europe/Berlin", TICKS),
    ("0 0-23/4 1,15 * *", "UTC", TICKS),
    ("59 23 31 dec *", "America/New_York", 20),
]

SQL_TICKS = """
with recursive t (i, tick) as (
  select 1, pgflow.next_cron_tick(%(cron)s, %(start)s, %(tz)s)
  union all
  select t.i + 1, pgflow.next_cron_tick(%(cron)s, t.tick, %(tz)s) from t where t.i < %(n)s and t.tick is not null
)
select t.tick from t order by t.i
"""


@pytest.fixture(scope="module")
def cron_conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


def sql_ticks(conn: psycopg.Connection, cron: str, start: dt.datetime, tz: str, n: int) -> list[dt.datetime]:
    rows = conn.execute(SQL_TICKS, {"cron": cron, "start": start, "tz": tz, "n": n}).fetchall()
    return [row[0] for row in rows]


def croniter_ticks(cron: str, start: dt.datetime, tz: str, n: int) -> list[dt.datetime]:
    ticks = croniter(cron, start.astimezone(ZoneInfo(tz)), implement_cron_bug=True)
    return [ticks.get_next(dt.datetime) for _ in range(n)]


def test_the_cases_cover_every_syntax_form() -> None:
    crons = [cron for cron, _, _ in CASES]
    assert len(crons) >= 50 and len(set(crons)) == len(crons)
    joined = " ".join(crons)
    for form in ("*/", "-", ",", "/", "jan", "MON", "Thu-SAT", " 7", "@hourly", "@annually"):
        assert form in joined, form
    assert {tz for _, tz, _ in CASES} >= {"UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney"}


@pytest.mark.parametrize(("cron", "tz", "n"), CASES, ids=[f"{c} {z}" for c, z, _ in CASES])
def test_next_ticks_match_croniter(cron_conn: psycopg.Connection, cron: str, tz: str, n: int) -> None:
    ours = sql_ticks(cron_conn, cron, START, tz, n)
    theirs = croniter_ticks(cron, START, tz, n)
    assert len(ours) == n
    first_difference = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), None)
    assert first_difference is None, (
        f"tick {first_difference}: engine {ours[first_difference]}, croniter {theirs[first_difference]}"
    )


# Around each 2030 transition of the zone (a day before to a day after).
TRANSITIONS = {
    "America/New_York": [
        dt.datetime(2030, 3, 10, 7, tzinfo=dt.timezone.utc),
        dt.datetime(2030, 11, 3, 6, tzinfo=dt.timezone.utc),
    ],
    "Europe/Berlin": [
        dt.datetime(2030, 3, 31, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2030, 10, 27, 1, tzinfo=dt.timezone.utc),
    ],
    "Australia/Sydney": [
        dt.datetime(2030, 4, 6, 16, tzinfo=dt.timezone.utc),
        dt.datetime(2030, 10, 5, 16, tzinfo=dt.timezone.utc),
    ],
}
DST_CRONS = ["* * * * *", "*/30 * * * *", "0 * * * *", "15 2 * * *", "30 1 * * *", "*/20 1-3 * * *", "45 2,3 * * *"]


def oracle_ticks(cron: str, tz: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The rule by brute force: every UTC minute in (start, end], read as wall-clock time in tz (zoneinfo); one
    that matches the cron (its minute and hour fields as croniter expands them) and was not seen before is a
    tick (a skipped wall-clock time is never seen; a repeated one is a tick at its first instant)."""
    zone = ZoneInfo(tz)
    # (the DST crons restrict minutes and hours only: croniter's expansion of those two fields is the match)
    (minutes, hours, *days), _ = croniter.expand(cron)
    assert all(field == ["*"] for field in days), cron
    seen: set[dt.datetime] = set()
    ticks = []
    minute = start.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    while minute <= end:
        local = minute.astimezone(zone).replace(tzinfo=None)
        matches = (minutes == ["*"] or local.minute in minutes) and (hours == ["*"] or local.hour in hours)
        if matches and local not in seen:
            ticks.append(minute)
        seen.add(local)
        minute += dt.timedelta(minutes=1)
    return ticks


@pytest.mark.parametrize("tz", sorted(TRANSITIONS))
@pytest.mark.parametrize("cron", DST_CRONS)
def test_dst_rule_against_a_minute_by_minute_oracle(cron_conn: psycopg.Connection, cron: str, tz: str) -> None:
    for transition in TRANSITIONS[tz]:
        start, end = transition - dt.timedelta(days=1), transition + dt.timedelta(days=1)
        # the oracle reads wall-clock times of the local day before start too: begin it a day earlier, keep the window
        expected = [t for t in oracle_ticks(cron, tz, start - dt.timedelta(days=1), end) if t > start]
        rows = cron_conn.execute(
            """
            with recursive t (tick) as (
              select pgflow.next_cron_tick(%(cron)s, %(start)s, %(tz)s)
              union all
              select pgflow.next_cron_tick(%(cron)s, t.tick, %(tz)s) from t where t.tick <= %(end)s
            )
            select t.tick from t where t.tick <= %(end)s order by t.tick
            """,
            {"cron": cron, "start": start, "end": end, "tz": tz},
        ).fetchall()
        ours = [row[0] for row in rows]
        assert ours == expected, (cron, tz, transition)
        assert expected, (cron, tz, transition)


def test_the_oracle_differs_from_croniter_where_the_rule_does() -> None:
    """The repeated 01:30 of 2030-11-03 in New York: croniter ticks at both instants, the rule at the first."""
    start = dt.datetime(2030, 11, 3, 4, tzinfo=dt.timezone.utc)
    theirs = croniter_ticks("30 1 * * *", start, "America/New_York", 2)
    ours = oracle_ticks("30 1 * * *", "America/New_York", start, start + dt.timedelta(days=1, hours=3))
    utc = dt.timezone.utc
    assert theirs[1].astimezone(utc) - theirs[0].astimezone(utc) == dt.timedelta(hours=1)
    assert ours == [
        dt.datetime(2030, 11, 3, 5, 30, tzinfo=dt.timezone.utc),
        dt.datetime(2030, 11, 4, 6, 30, tzinfo=dt.timezone.utc),
    ]


def test_client_next_cron_tick(database_url: str) -> None:
    with pgflow.Client(database_url) as client:
        tick = client.next_cron_tick("0 9 * * mon-fri", START, timezone="Europe/Berlin")
        assert tick == dt.datetime(2030, 1, 1, 8, tzinfo=dt.timezone.utc)
        assert client.next_cron_tick("0 0 30 2 *", START) is None
        with pytest.raises(pgflow.InvalidDefinition, match="cron field minute: 60 is out of range 0-59"):
            client.next_cron_tick("60 * * * *", START)
        with pytest.raises(pgflow.InvalidInput, match="after must be a datetime with a time zone"):
            client.next_cron_tick("* * * * *", dt.datetime(2030, 1, 1))
