"""Flow control from Python and the command line (SPEC §10): the step options ``concurrency``,
``concurrency_key`` and ``rate_limit`` checked when a step is declared and sent in the definition, a run's
``priority`` from ``Client.start_run``, ``execute`` and ``pgflow start --priority``, and a real Worker whose
handlers never run more than a step's cap at once.

The engine enforces all of it inside the claim; these tests show that the Python side says it right and
reports what the engine does."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import psycopg
import pytest

import pgflow
from pgflow import graph

from ._client_helpers import Recorder, worker_thread
from .test_cli import Cli, assert_clean_error, describe, parse_run_id

UNREACHABLE = "host=127.0.0.1 port=1 connect_timeout=2"


def _flow(slug: str = "fc") -> pgflow.Flow:
    return pgflow.Flow(slug)


def _step_json(flow: pgflow.Flow, slug: str) -> dict[str, Any]:
    steps, _options = flow.definition()
    return next(s for s in steps if s["slug"] == slug)


# ----------------------------------------------------------------------------------------------------
# The options, checked and normalized when a step is declared (no database)
# ----------------------------------------------------------------------------------------------------
def test_options_reach_the_definition_json_normalized() -> None:
    flow = _flow()

    @flow.step(concurrency=2, concurrency_key="tenant")
    def a(input: Any) -> Any:
        return input

    @flow.map(over=a, rate_limit=pgflow.RateLimit(10, 0.5, key=["org", "id"]), concurrency_key=("org", "id"))
    def b(item: Any) -> Any:
        return item

    @flow.step(depends_on=[a], rate_limit={"limit": 3, "per": 60}, concurrency=1)
    def c(deps: Any) -> Any:
        return deps

    assert _step_json(flow, "a") == {"slug": "a", "depends_on": [], "concurrency": 2, "concurrency_key": ["tenant"]}
    assert _step_json(flow, "b") == {
        "slug": "b",
        "depends_on": ["a"],
        "type": "map",
        "concurrency_key": ["org", "id"],
        "rate_limit": {"limit": 10, "per": 0.5, "key": ["org", "id"]},
    }
    assert _step_json(flow, "c") == {
        "slug": "c",
        "depends_on": ["a"],
        "rate_limit": {"limit": 3, "per": 60},
        "concurrency": 1,
    }
    # the definition is JSON as define_flow takes it
    json.dumps(flow.definition())


def test_from_steps_takes_the_options_too() -> None:
    flow = pgflow.Flow.from_steps(
        "fc_tuples",
        [
            ("a", lambda i: i, {"concurrency": 3, "concurrency_key": "t"}),
            ("b", lambda i: i, {"rate_limit": pgflow.RateLimit(1, 2)}),
        ],
    )
    assert _step_json(flow, "a")["concurrency_key"] == ["t"]
    assert _step_json(flow, "b")["rate_limit"] == {"limit": 1, "per": 2}


def test_rate_limit_is_a_frozen_value() -> None:
    rate = pgflow.RateLimit(5, 1.5, key="tenant")
    assert rate.key == ("tenant",)
    assert rate == pgflow.RateLimit(5, 1.5, key=["tenant"])
    assert hash(rate) == hash(pgflow.RateLimit(5, 1.5, key=("tenant",)))
    assert rate.to_json() == {"limit": 5, "per": 1.5, "key": ["tenant"]}
    assert pgflow.RateLimit(1, 1).to_json() == {"limit": 1, "per": 1}
    with pytest.raises(AttributeError):
        rate.limit = 6  # type: ignore[misc]
    assert "RateLimit" in pgflow.__all__


@pytest.mark.parametrize(
    ("options", "mentions"),
    [
        ({"concurrency": 0}, ["concurrency of step fc.b", "from 1 to 2,147,483,647", "got 0"]),
        ({"concurrency": -3}, ["concurrency of step fc.b", "got -3"]),
        ({"concurrency": 2**31}, ["concurrency of step fc.b", "2147483648"]),
        ({"concurrency": 2.0}, ["concurrency of step fc.b", "(float)"]),
        ({"concurrency": True}, ["concurrency of step fc.b", "(bool)"]),
        ({"concurrency": "2"}, ["concurrency of step fc.b", "(str)"]),
        ({"concurrency_key": "tenant"}, ["concurrency_key of step fc.b", "without concurrency or rate_limit"]),
        ({"concurrency": 1, "concurrency_key": []}, ["concurrency_key of step fc.b", "1 to 16 keys"]),
        ({"concurrency": 1, "concurrency_key": ["a", 0]}, ["concurrency_key of step fc.b", "['a', 0]"]),
        ({"concurrency": 1, "concurrency_key": {"a": 1}}, ["concurrency_key of step fc.b", "path"]),
        ({"concurrency": 1, "concurrency_key": ["k"] * 17}, ["concurrency_key of step fc.b", "1 to 16 keys"]),
        ({"rate_limit": 5}, ["rate_limit of step fc.b", "pgflow.RateLimit", "got 5"]),
        ({"rate_limit": {"limit": 5}}, ["rate_limit of step fc.b", "needs both limit", "per"]),
        ({"rate_limit": {"limit": 5, "per": 1, "burst": 2}}, ["rate_limit of step fc.b", "unknown key(s) burst"]),
        ({"rate_limit": {"limit": 0, "per": 1}}, ["rate_limit.limit of step fc.b", "got 0"]),
        ({"rate_limit": {"limit": 1.5, "per": 1}}, ["rate_limit.limit of step fc.b", "(float)"]),
        ({"rate_limit": {"limit": 1, "per": 0}}, ["rate_limit.per of step fc.b", "from 0.001", "got 0"]),
        ({"rate_limit": {"limit": 1, "per": -1}}, ["rate_limit.per of step fc.b", "got -1"]),
        ({"rate_limit": {"limit": 1, "per": 0.0009}}, ["rate_limit.per of step fc.b", "got 0.0009"]),
        ({"rate_limit": {"limit": 1, "per": 3_153_600_001}}, ["rate_limit.per of step fc.b", "3,153,600,000"]),
        ({"rate_limit": {"limit": 1, "per": float("nan")}}, ["rate_limit.per of step fc.b", "nan"]),
        ({"rate_limit": {"limit": 1, "per": float("inf")}}, ["rate_limit.per of step fc.b", "inf"]),
        ({"rate_limit": {"limit": 1, "per": "1s"}}, ["rate_limit.per of step fc.b", "'1s'"]),
        ({"rate_limit": {"limit": 1, "per": 1, "key": 7}}, ["rate_limit.key of step fc.b", "path"]),
        ({"rate_limit": pgflow.RateLimit(0, 1)}, ["rate_limit.limit of step fc.b", "got 0"]),
        (
            {"concurrency": 2, "concurrency_key": "a", "rate_limit": pgflow.RateLimit(1, 1, key="b")},
            ["concurrency_key and rate_limit.key of step fc.b", "same path", "['a']", "['b']"],
        ),
    ],
)
@pytest.mark.parametrize("kind", ["step", "map"])
def test_a_bad_flow_control_option_is_refused_naming_it(
    options: dict[str, Any], mentions: list[str], kind: str
) -> None:
    flow = _flow()

    @flow.step
    def a(input: Any) -> Any:
        return input

    declare = flow.step if kind == "step" else flow.map
    with pytest.raises(pgflow.InvalidDefinition) as raised:
        declare(slug="b", **options)(lambda x: x)
    assert raised.value.sqlstate == "PF001"
    for text in mentions:
        assert text in str(raised.value), str(raised.value)
    assert [s.slug for s in flow.steps] == ["a"], "the refused step was added"


def test_the_same_path_for_both_and_the_bounds_are_taken() -> None:
    flow = _flow()
    flow.step(
        slug="a", concurrency=1, concurrency_key=["t", "0"], rate_limit={"limit": 2, "per": 1, "key": ["t", "0"]}
    )(lambda x: x)
    flow.step(slug="b", concurrency=2**31 - 1, rate_limit=pgflow.RateLimit(2**31 - 1, 3_153_600_000))(lambda x: x)
    flow.step(slug="c", rate_limit={"limit": 1, "per": 0.001}, concurrency_key="tenant")(lambda x: x)
    flow.step(slug="d", concurrency=1, concurrency_key=[str(i) for i in range(16)])(lambda x: x)
    assert _step_json(flow, "c")["concurrency_key"] == ["tenant"]


@pytest.mark.parametrize("priority", [1001, -1001, True, 1.0, "5", None])
def test_a_bad_priority_is_refused_before_anything_is_sent(priority: Any) -> None:
    """The client is pointed at no database at all: the check comes first."""
    with pgflow.Client(UNREACHABLE) as client:
        with pytest.raises(pgflow.InvalidInput) as raised:
            client.start_run("some_flow", {}, priority=priority)
    assert "priority" in str(raised.value)
    flow = _flow()
    flow.step(slug="a")(lambda x: x)
    with pytest.raises(pgflow.InvalidInput, match="priority"):
        pgflow.execute(flow, {}, UNREACHABLE, priority=priority)


# ----------------------------------------------------------------------------------------------------
# The engine takes them
# ----------------------------------------------------------------------------------------------------
def test_describe_flow_shows_the_options_and_a_change_is_a_new_version(database_url: str, flow_slug: str) -> None:
    def build(cap: int) -> pgflow.Flow:
        flow = pgflow.Flow(flow_slug)
        flow.step(slug="a", concurrency=cap, concurrency_key="tenant")(lambda x: x)
        flow.map(slug="b", over="a", rate_limit=pgflow.RateLimit(5, 2.5, key=["tenant"]))(lambda x: x)
        flow.step(slug="c", depends_on=["b"])(lambda x: x)
        return flow

    with pgflow.Client(database_url) as client:
        assert client.define(build(2)).version == 1
        assert client.define(build(2)).version == 1, "an unchanged definition made a new version"
        steps = {s["step_slug"]: s for s in client.describe_flow(flow_slug)["steps"]}
        assert steps["a"]["concurrency"] == 2
        assert steps["a"]["concurrency_key"] == ["tenant"]
        assert steps["a"]["rate_limit"] is None
        assert steps["b"]["concurrency"] is None
        assert steps["b"]["rate_limit"] == {"limit": 5, "per": 2.5, "key": ["tenant"]}
        assert steps["c"]["concurrency"] is None and steps["c"]["rate_limit"] is None
        assert client.define(build(3)).version == 2
        assert {s["step_slug"]: s for s in client.describe_flow(flow_slug)["steps"]}["a"]["concurrency"] == 3


def test_graphs_show_the_flow_control_of_a_module_flow_and_of_the_same_flow_in_the_database(
    database_url: str, flow_slug: str, cli: Cli
) -> None:
    flow = pgflow.Flow(flow_slug)
    flow.step(slug="a", concurrency=2, concurrency_key="tenant")(lambda x: x)
    flow.map(slug="b", over="a", rate_limit=pgflow.RateLimit(100, 60, key=["org", "id"]))(lambda x: x)
    flow.step(slug="c", depends_on=["b"], concurrency=1, rate_limit={"limit": 5, "per": 0.5})(lambda x: x)
    flow.step(slug="d", depends_on=["c"])(lambda x: x)
    expected = {
        "a": ["concurrency 2 per tenant"],
        "b": ["rate 100 per 60 s per org.id"],
        "c": ["concurrency 1", "rate 5 per 0.5 s"],
        "d": [],
    }
    with pgflow.Client(database_url) as client:
        client.define(flow)
        described = client.describe_flow(flow_slug)["steps"]
    for steps in (graph.steps_of_flow(flow), described):
        assert {s["step_slug"]: graph.flow_control(s) for s in steps} == expected
        dot = graph.to_dot(flow_slug, steps)
        assert '"c" [label="c\\nconcurrency 1\\nrate 5 per 0.5 s"];' in dot, dot
        assert "b (map)<br/>rate 100 per 60 s per org.id" in graph.to_mermaid(flow_slug, steps)
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow_slug, {"tenant": "t"})
    for args in (("graph", flow_slug), ("graph", flow_slug, "--run", str(run.run_id))):
        out = cli.ok(*args)
        assert "a: started<br/>concurrency 2 per tenant" in out or "a<br/>concurrency 2 per tenant" in out, out
        assert "rate 5 per 0.5 s" in out, out


def _one_step_flow(slug: str) -> pgflow.Flow:
    flow = pgflow.Flow(slug)
    flow.step(slug="only")(lambda x: x)
    return flow


def test_start_run_priority_is_kept_and_the_higher_one_is_claimed_first(
    database_url: str, conn: psycopg.Connection, flow_slug: str
) -> None:
    with pgflow.Client(database_url) as client:
        flow = _one_step_flow(flow_slug)
        low = client.start_run(flow, {"n": "low"})
        normal = client.start_run(flow, {"n": "normal"}, priority=0)
        high = client.start_run(flow, {"n": "high"}, priority=7)
        below = client.start_run(flow, {"n": "below"}, priority=-5)
        assert (low.priority, normal.priority, high.priority, below.priority) == (0, 0, 7, -5)
        assert client.get_run_status(high)["priority"] == 7
        assert client.get_run(below).priority == -5
        listed = {r.run_id: r.priority for r in client.list_runs(flow_slug)}
        assert listed == {low.run_id: 0, normal.run_id: 0, high.run_id: 7, below.run_id: -5}
    claimed = []
    for _ in range(4):
        rows = conn.execute("select run_id from pgflow.poll_for_tasks('fc-test', %s, 1)", [[flow_slug]]).fetchall()
        assert len(rows) == 1, rows
        claimed.append(rows[0][0])
    # highest priority first; equal priorities oldest first; the negative one last
    assert claimed == [high.run_id, low.run_id, normal.run_id, below.run_id]


def test_execute_passes_the_priority(database_url: str, conn: psycopg.Connection, flow_slug: str) -> None:
    assert pgflow.execute(_one_step_flow(flow_slug), {"x": 1}, database_url, priority=3, timeout=30) == {
        "only": {"x": 1}
    }
    assert conn.execute("select priority from pgflow.runs where flow_slug = %s", [flow_slug]).fetchall() == [(3,)]


# ----------------------------------------------------------------------------------------------------
# A real worker: its handlers never run more than the cap at once
# ----------------------------------------------------------------------------------------------------
def test_a_worker_with_eight_slots_runs_a_capped_step_two_at_a_time(database_url: str, flow_slug: str) -> None:
    recorder = Recorder()
    flow = pgflow.Flow(flow_slug, max_attempts=1, timeout=30)

    @flow.map(concurrency=2)
    def work(item: int) -> int:
        return recorder.timed(item, 0.3, item * 10)  # type: ignore[no-any-return]

    worker = pgflow.Worker(database_url, [flow], concurrency=8, poll_interval=0.05, worker_id=f"fc-{flow_slug}")
    with pgflow.Client(database_url) as client, worker_thread(worker):
        run = client.start_run(flow, list(range(6)))
        assert client.wait(run, timeout=60, interval=0.05) == {"work": [0, 10, 20, 30, 40, 50]}
    assert len(recorder.intervals) == 6
    assert recorder.peak == 2, f"at most 2 handlers at once, and 2 reached: peak {recorder.peak}"


def test_a_cap_per_key_holds_per_tenant_while_tenants_run_side_by_side(database_url: str, flow_slug: str) -> None:
    lock = threading.Lock()
    running: dict[str, int] = {}
    peaks: dict[str, int] = {}
    overall = Recorder()
    flow = pgflow.Flow(flow_slug, max_attempts=1, timeout=30)

    @flow.step
    def items(input: Any) -> Any:
        return [{"tenant": input["tenant"], "i": i} for i in range(3)]

    @flow.map(over=items, concurrency=1, concurrency_key="tenant")
    def work(item: dict[str, Any]) -> int:
        tenant = item["tenant"]
        with lock:
            running[tenant] = running.get(tenant, 0) + 1
            peaks[tenant] = max(peaks.get(tenant, 0), running[tenant])
        try:
            overall.timed((tenant, item["i"]), 0.3)
        finally:
            with lock:
                running[tenant] -= 1
        return int(item["i"])

    worker = pgflow.Worker(database_url, [flow], concurrency=8, poll_interval=0.05, worker_id=f"fc-{flow_slug}")
    with pgflow.Client(database_url) as client, worker_thread(worker):
        runs = [client.start_run(flow, {"tenant": t}) for t in ("a", "b")]
        for run in runs:
            assert client.wait(run, timeout=60, interval=0.05)["work"] == [0, 1, 2]
    assert peaks == {"a": 1, "b": 1}
    assert overall.peak == 2, f"the two tenants should run side by side: peak {overall.peak}"


# ----------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------
@pytest.fixture
def cli(database_url: str) -> Cli:
    return Cli(database_url)


def test_cli_start_priority_is_the_runs_priority_and_shown(cli: Cli, database_url: str) -> None:
    cli.define("diamond")
    slug = cli.slug("diamond")
    high = parse_run_id(cli.ok("start", slug, "--input", '{"n": 1}', "--priority", "9"))
    below = parse_run_id(cli.ok("start", "tests_py.cli_flows:diamond", "--input", '{"n": 2}', "--priority", "-4"))
    plain = parse_run_id(cli.ok("start", slug, "--input", '{"n": 3}'))
    with pgflow.Client(database_url) as client:
        assert [client.get_run_status(r)["priority"] for r in (high, below, plain)] == [9, -4, 0]

    header = cli.ok("status", str(high)).splitlines()[0]
    assert "priority 9" in header, header
    assert "priority" not in cli.ok("status", str(plain)).splitlines()[0]
    assert json.loads(cli.ok("status", str(below), "--json"))["priority"] == -4

    out = cli.ok("runs", "--flow", slug)
    assert re.search(r"\bpriority\b", out.splitlines()[0]), out
    for run_id, priority in ((high, 9), (below, -4), (plain, 0)):
        line = next(line for line in out.splitlines() if str(run_id) in line)
        assert re.search(rf"\sstarted\s+{priority}\s", line), line


@pytest.mark.parametrize("value", ["1001", "-1001", "99999999999"])
def test_cli_priority_out_of_range_is_bad_usage(cli: Cli, conn: psycopg.Connection, value: str) -> None:
    proc = cli.run("start", "some_flow", "--priority", value)
    line = assert_clean_error(proc)
    assert proc.returncode == 2, describe(proc)
    assert "--priority" in line and "-1,000 and 1,000" in line, line
    assert conn.execute("select count(*) from pgflow.runs where flow_slug = 'some_flow'").fetchone() == (0,)


def test_cli_priority_not_an_integer_is_bad_usage(cli: Cli) -> None:
    proc = cli.run("start", "some_flow", "--priority", "high")
    assert proc.returncode == 2, describe(proc)
    assert "--priority" in proc.stderr and "Traceback" not in proc.stderr, describe(proc)


def test_cli_help_of_start_names_priority(cli: Cli) -> None:
    assert "--priority" in cli.ok("start", "--help")
