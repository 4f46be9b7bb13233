"""Bad arguments to every public SQL function (SPEC §6, last bullet): each gets the PF SQLSTATE that fits, with
a sentence naming the argument, and writes nothing.

Every case runs in autocommit on a database prepared with a few flows, runs, tasks and a worker; a fingerprint of
every pgflow table is taken before and after the call and must not change. The table of cases is also rendered,
as Markdown, into docs/reliability.md (``python -m tests_py.test_bad_inputs`` prints it; a test checks that the
document holds the current table).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

import pgflow

from .conftest import scratch_database

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
TABLES = ("flows", "steps", "deps", "runs", "step_states", "step_tasks", "workers", "server_starts", "schedules")


@dataclass(frozen=True)
class Case:
    """One bad call: ``sql`` (with {run}, {done}, {unknown} standing for a started run, a completed run and an
    unknown run id), the SQLSTATE it must raise, and a text the message must contain (naming the argument).
    ``setting`` is a (name, value) session setting made before the call."""

    name: str
    sql: str
    sqlstate: str
    names: str
    setting: tuple[str, str] | None = None


BIG = "pg_catalog.to_jsonb(repeat('x', pgflow.max_output_size()::int))"

CASES: list[Case] = [
    # define_flow: the definition (PF001-PF003)
    Case("flow slug null", 'select pgflow.define_flow(null, \'[{"slug": "a"}]\')', "PF001", "flow null"),
    Case(
        "flow slug with a space", "select pgflow.define_flow('bad slug', '[{\"slug\": \"a\"}]')", "PF001", "'bad slug'"
    ),
    Case(
        "flow slug of 129 characters",
        "select pgflow.define_flow(repeat('a', 129), '[{\"slug\": \"a\"}]')",
        "PF001",
        "not a valid slug",
    ),
    Case("steps null", "select pgflow.define_flow('x', null)", "PF001", "steps must be"),
    Case("steps an object", "select pgflow.define_flow('x', '{\"slug\": \"a\"}')", "PF001", "steps must be"),
    Case("steps empty", "select pgflow.define_flow('x', '[]')", "PF001", "steps must be a non-empty"),
    Case("step not an object", "select pgflow.define_flow('x', '[5]')", "PF001", "step #1"),
    Case("step without slug", "select pgflow.define_flow('x', '[{\"type\": \"map\"}]')", "PF001", '"slug"'),
    Case("step slug starting with a digit", "select pgflow.define_flow('x', '[{\"slug\": \"1a\"}]')", "PF001", "'1a'"),
    Case("unknown step key", 'select pgflow.define_flow(\'x\', \'[{"slug": "a", "retries": 3}]\')', "PF001", "retries"),
    Case("unknown step type", 'select pgflow.define_flow(\'x\', \'[{"slug": "a", "type": "loop"}]\')', "PF001", "type"),
    Case("step type a number", 'select pgflow.define_flow(\'x\', \'[{"slug": "a", "type": 5}]\')', "PF001", "type"),
    Case(
        "max_attempts 0",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "max_attempts": 0}]\')',
        "PF001",
        "max_attempts",
    ),
    Case(
        "max_attempts 2.0",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "max_attempts": 2.0}]\')',
        "PF001",
        "max_attempts must be an integer",
    ),
    Case(
        "max_attempts 1.5",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "max_attempts": 1.5}]\')',
        "PF001",
        "max_attempts",
    ),
    Case(
        "max_attempts a string",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "max_attempts": "3"}]\')',
        "PF001",
        "max_attempts",
    ),
    Case(
        "max_attempts over int",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "max_attempts": 1e10}]\')',
        "PF001",
        "max_attempts",
    ),
    Case("timeout 0", 'select pgflow.define_flow(\'x\', \'[{"slug": "a", "timeout": 0}]\')', "PF001", "timeout"),
    Case(
        "timeout 1e-30",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "timeout": 1e-30}]\')',
        "PF001",
        "timeout must be a number of seconds from 0.1",
    ),
    Case(
        "timeout negative", 'select pgflow.define_flow(\'x\', \'[{"slug": "a", "timeout": -5}]\')', "PF001", "timeout"
    ),
    Case(
        "timeout over 100 years",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "timeout": 1e12}]\')',
        "PF001",
        "timeout",
    ),
    Case(
        "base_delay negative",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "base_delay": -1}]\')',
        "PF001",
        "base_delay",
    ),
    Case(
        "max_delay a string",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "max_delay": "x"}]\')',
        "PF001",
        "max_delay",
    ),
    Case(
        "start_delay 1e400",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "start_delay": 1e400}]\')',
        "PF001",
        "start_delay",
    ),
    Case(
        "depends_on a string",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "depends_on": "b"}]\')',
        "PF001",
        "depends_on",
    ),
    Case(
        "depends_on a number",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "depends_on": [1]}]\')',
        "PF001",
        "depends_on",
    ),
    Case(
        "if a number on a dependent step",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a"}, {"slug": "b", "if": 5}]\')',
        "PF001",
        "condition",
    ),
    Case(
        "if_not keyed by no dependency",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a"}, {"slug": "b", "if_not": {"A": 1}}]\')',
        "PF001",
        "'A'",
    ),
    Case(
        "if an object on a map step",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "type": "map", "if": {"k": 1}}]\')',
        "PF001",
        "map step",
    ),
    Case(
        "when_unmet unknown",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "when_unmet": "never"}]\')',
        "PF001",
        "when_unmet",
    ),
    Case(
        "when_exhausted unknown",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "when_exhausted": "retry"}]\')',
        "PF001",
        "when_exhausted",
    ),
    Case(
        "duplicate step",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a"}, {"slug": "a"}]\')',
        "PF001",
        "more than once",
    ),
    Case(
        "unknown dependency",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "depends_on": ["zz"]}]\')',
        "PF002",
        "zz",
    ),
    Case(
        "cycle",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "depends_on": ["b"]}, '
        '{"slug": "b", "depends_on": ["a"]}]\')',
        "PF003",
        "cycle",
    ),
    Case(
        "self dependency",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "depends_on": ["a"]}]\')',
        "PF003",
        "a -> a",
    ),
    Case(
        "map with two dependencies",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "depends_on": []}, '
        '{"slug": "b", "depends_on": []}, {"slug": "m", "type": "map", "depends_on": ["a", "b"]}]\')',
        "PF001",
        "map step",
    ),
    Case("options an array", "select pgflow.define_flow('x', '[{\"slug\": \"a\"}]', '[]')", "PF001", "options"),
    Case(
        "unknown flow option",
        "select pgflow.define_flow('x', '[{\"slug\": \"a\"}]', '{\"retries\": 1}')",
        "PF001",
        "retries",
    ),
    Case(
        "flow timeout 0",
        "select pgflow.define_flow('x', '[{\"slug\": \"a\"}]', '{\"timeout\": 0}')",
        "PF001",
        "timeout",
    ),
    # create_flow / add_step (the incremental API)
    Case("create_flow slug null", "select pgflow.create_flow(null)", "PF001", "flow null"),
    Case("create_flow max_attempts -1", "select pgflow.create_flow('x', max_attempts => -1)", "PF001", "max_attempts"),
    Case("create_flow timeout negative", "select pgflow.create_flow('x', timeout => -1)", "PF001", "timeout"),
    Case("add_step flow null", "select pgflow.add_step(null, 'a')", "PF001", "flow null"),
    Case("add_step unknown flow", "select pgflow.add_step('nope', 'a')", "PF004", "'nope'"),
    Case("add_step slug null", "select pgflow.add_step('chain', null)", "PF001", "slug"),
    Case("add_step unknown dependency", "select pgflow.add_step('chain', 'c', array['missing'])", "PF002", "missing"),
    Case(
        "add_step null dependency", "select pgflow.add_step('chain', 'c', array[null]::text[])", "PF001", "depends_on"
    ),
    Case("add_step unknown type", "select pgflow.add_step('chain', 'c', step_type => 'loop')", "PF001", "type"),
    Case("add_step timeout 0", "select pgflow.add_step('chain', 'c', timeout => 0)", "PF001", "timeout"),
    Case(
        "add_step pattern an array",
        "select pgflow.add_step('chain', 'c', required_input_pattern => '[1]')",
        "PF001",
        "required_input_pattern",
    ),
    Case(
        "add_step when_unmet misspelt",
        "select pgflow.add_step('chain', 'c', when_unmet => 'skip_cascade')",
        "PF001",
        "when_unmet",
    ),
    Case(
        "add_step when_exhausted unknown",
        "select pgflow.add_step('chain', 'c', when_exhausted => 'retry')",
        "PF001",
        "when_exhausted",
    ),
    # start_run
    Case("start_run flow null", "select pgflow.start_run(null)", "PF005", "flow_slug must not be null"),
    Case("start_run unknown flow", "select pgflow.start_run('nope')", "PF004", "'nope'"),
    Case("root map given an object", "select pgflow.start_run('fan', '{}')", "PF005", "JSON array"),
    Case(
        "idempotency_key of 10 kB",
        "select pgflow.start_run('chain', '{}', idempotency_key => repeat('k', 10000))",
        "PF005",
        "idempotency_key",
    ),
    Case(
        "idempotency_key empty",
        "select pgflow.start_run('chain', '{}', idempotency_key => '')",
        "PF005",
        "idempotency_key",
    ),
    Case("input over the size limit", f"select pgflow.start_run('chain', {BIG})", "PF005", "input is"),
    Case("run_id that exists", "select pgflow.start_run('chain', '{}', run_id => '{run}')", "PF008", "already exists"),
    Case("start_flow flow null", "select pgflow.start_flow(null, '{}')", "PF005", "flow_slug"),
    # poll_for_tasks
    Case("poll worker_id null", "select pgflow.poll_for_tasks(null)", "PF005", "worker_id"),
    Case("poll worker_id empty", "select pgflow.poll_for_tasks('')", "PF005", "worker_id"),
    Case("poll worker_id of 10 kB", "select pgflow.poll_for_tasks(repeat('w', 10000))", "PF005", "worker_id"),
    Case(
        "poll flow_slugs with a null", "select pgflow.poll_for_tasks('w', array[null]::text[])", "PF005", "flow_slugs"
    ),
    Case("poll max_tasks negative", "select pgflow.poll_for_tasks('w', null, -1)", "PF005", "max_tasks"),
    Case("poll max_tasks null", "select pgflow.poll_for_tasks('w', null, null)", "PF005", "max_tasks"),
    Case("poll max_tasks huge", "select pgflow.poll_for_tasks('w', null, 1000000)", "PF005", "max_tasks"),
    Case("lean poll worker_id null", "select pgflow.poll_for_tasks_lean(null)", "PF005", "worker_id"),
    Case("poll flow_versions an array", "select pgflow.poll_for_tasks('w', null, 10, '[1]')", "PF005", "flow_versions"),
    Case(
        "poll flow_versions version 0",
        "select pgflow.poll_for_tasks('w', null, 10, '{\"f\": [0]}')",
        "PF005",
        "flow_versions",
    ),
    Case("set_current_version version null", "select pgflow.set_current_version('x', null)", "PF005", "version"),
    Case(
        "set_current_version unknown", "select pgflow.set_current_version('no_such_flow', 1)", "PF004", "no_such_flow"
    ),
    Case("get_step_outputs run_id null", "select pgflow.get_step_outputs(null)", "PF005", "run_id"),
    # complete_task / complete_tasks / fail_task
    Case("complete run_id null", "select pgflow.complete_task(null, 'a', 0, '1')", "PF005", "run_id"),
    Case("complete step null", "select pgflow.complete_task('{run}', null, 0, '1')", "PF005", "step_slug"),
    Case("complete task_index null", "select pgflow.complete_task('{run}', 'a', null, '1')", "PF005", "task_index"),
    Case("complete attempt 0", "select pgflow.complete_task('{run}', 'a', 0, '1', 0)", "PF005", "attempt"),
    Case("complete unknown step", "select pgflow.complete_task('{run}', 'nope', 0, '1')", "PF007", "'nope'"),
    Case("complete unknown run", "select pgflow.complete_task('{unknown}', 'a', 0, '1')", "PF007", "{unknown}"),
    Case(
        "complete_tasks arrays of different lengths",
        "select pgflow.complete_tasks(array['{run}']::uuid[], array['a', 'b'], array[0], array['1']::jsonb[])",
        "PF005",
        "same length",
    ),
    Case(
        "complete_tasks a null run_id",
        "select pgflow.complete_tasks(array[null]::uuid[], array['a'], array[0], array['1']::jsonb[])",
        "PF005",
        "run_id",
    ),
    Case("fail run_id null", "select pgflow.fail_task(null, 'a', 0, 'e')", "PF005", "run_id"),
    Case("fail error null", "select pgflow.fail_task('{run}', 'a', 0, null)", "PF005", "error"),
    Case("fail retry null", "select pgflow.fail_task('{run}', 'a', 0, 'e', retry => null)", "PF005", "retry"),
    Case("fail attempt negative", "select pgflow.fail_task('{run}', 'a', 0, 'e', -1)", "PF005", "attempt"),
    Case("fail unknown task", "select pgflow.fail_task('{run}', 'a', 99, 'e')", "PF007", "task 99"),
    # cancel_run / resume_run / prune_runs
    Case("cancel run_id null", "select pgflow.cancel_run(null)", "PF005", "run_id must not be null"),
    Case("cancel unknown run", "select pgflow.cancel_run('{unknown}')", "PF006", "{unknown}"),
    Case("cancel a completed run", "select pgflow.cancel_run('{done}')", "PF008", "completed"),
    Case("resume run_id null", "select pgflow.resume_run(null)", "PF005", "run_id"),
    Case("resume a started run", "select pgflow.resume_run('{run}')", "PF008", "started"),
    Case("resume unknown run", "select pgflow.resume_run('{unknown}')", "PF006", "{unknown}"),
    # signal / find_run (wait steps)
    Case("signal run_id null", "select pgflow.signal(null, 'a')", "PF005", "run_id must not be null"),
    Case("signal step_slug null", "select pgflow.signal('{run}', null)", "PF005", "step_slug must not be null"),
    Case("signal unknown run", "select pgflow.signal('{unknown}', 'a')", "PF006", "{unknown}"),
    Case("signal unknown step", "select pgflow.signal('{run}', 'zz')", "PF008", "no step 'zz'"),
    Case("signal a step that is not a wait step", "select pgflow.signal('{run}', 'a')", "PF008", "not a wait step"),
    Case("signal a payload over the limit", f"select pgflow.signal('{{run}}', 'a', {BIG})", "PF005", "payload"),
    Case("find_run flow_slug null", "select pgflow.find_run(null, 'k')", "PF005", "flow_slug"),
    Case("find_run idempotency_key empty", "select pgflow.find_run('chain', '')", "PF005", "idempotency_key"),
    Case("find_run unknown key", "select pgflow.find_run('chain', 'nope')", "PF006", "'nope'"),
    Case(
        "wait step with max_attempts",
        'select pgflow.define_flow(\'x\', \'[{"slug": "a", "type": "wait", "max_attempts": 2}]\')',
        "PF001",
        "max_attempts",
    ),
    # schedules and cron
    Case(
        "create_schedule slug null", "select pgflow.create_schedule(null, 'chain', '@daily')", "PF001", "schedule_slug"
    ),
    Case(
        "create_schedule slug not a slug",
        "select pgflow.create_schedule('a b', 'chain', '@daily')",
        "PF001",
        "schedule_slug 'a b'",
    ),
    Case("create_schedule unknown flow", "select pgflow.create_schedule('s', 'nope', '@daily')", "PF004", "'nope'"),
    Case("create_schedule cron null", "select pgflow.create_schedule('s', 'chain', null)", "PF001", "cron"),
    Case(
        "create_schedule cron of 4 fields",
        "select pgflow.create_schedule('s', 'chain', '0 3 * *')",
        "PF001",
        "cron has 4 fields",
    ),
    Case(
        "create_schedule cron out of range",
        "select pgflow.create_schedule('s', 'chain', '0 24 * * *')",
        "PF001",
        "field hour",
    ),
    Case(
        "create_schedule cron that never ticks",
        "select pgflow.create_schedule('s', 'chain', '0 0 30 2 *')",
        "PF001",
        "never ticks",
    ),
    Case(
        "create_schedule cron of a megabyte",
        "select pgflow.create_schedule('s', 'chain', repeat('1', 1000000))",
        "PF001",
        "(1000000 characters)",
    ),
    Case(
        "create_schedule unknown time zone",
        "select pgflow.create_schedule('s', 'chain', '@daily', '{}', 'Mars/Base')",
        "PF001",
        "timezone 'Mars/Base'",
    ),
    Case("create_schedule input null", "select pgflow.create_schedule('s', 'chain', '@daily', null)", "PF005", "input"),
    Case(
        "create_schedule object input of a root map",
        "select pgflow.create_schedule('s', 'fan', '@daily', '{}')",
        "PF005",
        "must be a JSON array",
    ),
    Case("drop_schedule slug null", "select pgflow.drop_schedule(null)", "PF001", "schedule_slug"),
    Case("next_cron_tick after null", "select pgflow.next_cron_tick('@daily', null)", "PF005", "after"),
    Case("next_cron_tick step 0", "select pgflow.next_cron_tick('*/0 * * * *', now())", "PF001", "step"),
    Case("next_cron_tick timezone null", "select pgflow.next_cron_tick('@daily', now(), null)", "PF001", "timezone"),
    Case("prune null", "select pgflow.prune_runs(null)", "PF005", "older_than"),
    Case("prune -1 day", "select pgflow.prune_runs('-1 day')", "PF005", "older_than"),
    Case("prune a million years", "select pgflow.prune_runs('1000000 years')", "PF005", "older_than"),
    Case("prune a negative mix", "select pgflow.prune_runs('1 day -25 hours')", "PF005", "older_than"),
    # reading
    Case("status run_id null", "select pgflow.get_run_status(null)", "PF005", "run_id"),
    Case("status unknown run", "select pgflow.get_run_status('{unknown}')", "PF006", "{unknown}"),
    Case("list_runs unknown status", "select pgflow.list_runs(status => 'bogus')", "PF005", "status"),
    Case("list_runs max_runs negative", "select pgflow.list_runs(max_runs => -1)", "PF005", "max_runs"),
    Case("describe_flow null", "select pgflow.describe_flow(null)", "PF005", "flow_slug"),
    Case("describe_flow unknown", "select pgflow.describe_flow('nope')", "PF004", "'nope'"),
    Case("describe_flow version 0", "select pgflow.describe_flow('chain', 0)", "PF004", "version 0"),
    Case("get_run_input null", "select pgflow.get_run_input(null)", "PF005", "run_id"),
    # workers
    Case("heartbeat worker_id null", "select pgflow.heartbeat(null)", "PF005", "worker_id"),
    Case("heartbeat worker_id empty", "select pgflow.heartbeat('')", "PF005", "worker_id"),
    Case("heartbeat worker_id of 10 kB", "select pgflow.heartbeat(repeat('w', 10000))", "PF005", "worker_id"),
    Case(
        "heartbeat flow_slugs with a null", "select pgflow.heartbeat('w', array[null]::text[])", "PF005", "flow_slugs"
    ),
    Case(
        "heartbeat with a garbage worker_timeout",
        "select pgflow.heartbeat('w')",
        "PF005",
        "pgflow.worker_timeout",
        ("pgflow.worker_timeout", "garbage"),
    ),
    Case(
        "heartbeat with a negative worker_timeout",
        "select pgflow.heartbeat('w')",
        "PF005",
        "pgflow.worker_timeout",
        ("pgflow.worker_timeout", "-1 s"),
    ),
    Case(
        "heartbeat with a two-day worker_timeout",
        "select pgflow.heartbeat('w')",
        "PF005",
        "pgflow.worker_timeout",
        ("pgflow.worker_timeout", "2 days"),
    ),
    Case(
        "worker_timeout() with garbage",
        "select pgflow.worker_timeout()",
        "PF005",
        "pgflow.worker_timeout",
        ("pgflow.worker_timeout", "soon"),
    ),
    Case("stop_worker null", "select pgflow.stop_worker(null)", "PF005", "worker_id"),
    # intervals of mixed units are judged by the time they give, not by interval comparison (a year as 360 days)
    Case(
        "prune a year less 360 days (a future time)",
        "select pgflow.prune_runs('-1 year +360 days')",
        "PF005",
        "older_than",
    ),
    Case(
        "prune past the end of time", "select pgflow.prune_runs('-300000 years 108000000 days')", "PF005", "older_than"
    ),
    Case(
        "heartbeat with a worker_timeout of a year less 360 days",
        "select pgflow.heartbeat('w')",
        "PF005",
        "pgflow.worker_timeout",
        ("pgflow.worker_timeout", "1 year -360 days 00:00:05"),
    ),
    # arrays are lists: one dimension, indexed from 1
    Case(
        "poll flow_slugs of two dimensions",
        "select pgflow.poll_for_tasks('w', array[['a'], ['b']])",
        "PF005",
        "flow_slugs",
    ),
    Case("poll flow_slugs not slugs", "select pgflow.poll_for_tasks('w', array['bad slug'])", "PF005", "flow_slugs"),
    Case(
        "heartbeat flow_slugs of two dimensions",
        "select pgflow.heartbeat('w', array[['a'], ['b']])",
        "PF005",
        "flow_slugs",
    ),
    Case(
        "heartbeat with 2,000 flow_slugs",
        "select pgflow.heartbeat('w', array_fill('f'::text, array[2000]))",
        "PF005",
        "flow_slugs",
    ),
    Case(
        "complete_tasks arrays indexed from 0",
        "select pgflow.complete_tasks(array_fill('{run}'::uuid, array[1], array[0]), array_fill('a'::text, array[1], "
        "array[0]), array_fill(0, array[1], array[0]), array_fill('1'::jsonb, array[1], array[0]))",
        "PF005",
        "run_ids must be a one-dimensional array indexed from 1",
    ),
    Case(
        "complete_tasks run_ids of two dimensions",
        "select pgflow.complete_tasks(array[['{run}']]::uuid[], array['a'], array[0], array['1']::jsonb[])",
        "PF005",
        "run_ids",
    ),
    Case(
        "add_step dependencies of two dimensions",
        "select pgflow.add_step('chain', 'c', array[['a']])",
        "PF005",
        "deps_slugs",
    ),
    # messages stay short whatever they quote
    Case(
        "start_run of a flow slug of a megabyte",
        "select pgflow.start_run(repeat('x', 1000000))",
        "PF004",
        "(1000000 characters) does not exist",
    ),
    Case(
        "define_flow with a flow slug of a megabyte",
        "select pgflow.define_flow(repeat('x', 1000000), '[]')",
        "PF001",
        "(1000000 characters)",
    ),
    Case(
        "a step given as a string of a megabyte",
        "select pgflow.define_flow('x', jsonb_build_array(repeat('s', 1000000)))",
        "PF001",
        "step #1",
    ),
    Case(
        "an unknown dependency named by a megabyte",
        "select pgflow.define_flow('x', jsonb_build_array(jsonb_build_object('slug', 'a', 'depends_on', "
        "jsonb_build_array(repeat('d', 1000000)))))",
        "PF002",
        "characters) (needed by a)",
    ),
    Case(
        "20,000 unknown dependencies (with 10 MB of temporary files at most)",
        "select pgflow.define_flow('x', jsonb_build_array(jsonb_build_object('slug', 'a', 'depends_on', "
        "(select jsonb_agg('d' || g) from generate_series(1, 20000) as g))))",
        "PF002",
        "and 19990 more",
        ("temp_file_limit", "10MB"),
    ),
    Case(
        "complete_task of a step named by a megabyte",
        "select pgflow.complete_task('{run}', repeat('s', 1000000), 0, '1')",
        "PF007",
        "(1000000 characters)",
    ),
]


UNKNOWN = uuid.UUID(int=42)


def fill(text: str, **values: str) -> str:
    """``text`` with each ``{name}`` replaced by its value (JSON braces stay as they are)."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


@dataclass(frozen=True)
class World:
    url: str
    run: uuid.UUID
    done: uuid.UUID


@pytest.fixture(scope="module")
def world(admin_url: str) -> Iterator[World]:
    """A database of its own with: flow chain (a -> b) and a started run of it whose task a is claimed; a
    completed run; root map flow fan; a registered worker."""
    with scratch_database(admin_url, "pgflow_bad_inputs") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("select pgflow.heartbeat('w0')")
            conn.execute("select pgflow.define_flow('chain', %s)", [Jsonb([{"slug": "a"}, {"slug": "b"}])])
            conn.execute("select pgflow.define_flow('fan', %s)", [Jsonb([{"slug": "m", "type": "map"}])])
            done = conn.execute("select run_id from pgflow.start_run('chain')").fetchone()[0]  # type: ignore[index]
            for step in ("a", "b"):
                conn.execute("select count(*) from pgflow.poll_for_tasks('w0', array['chain'])")
                conn.execute("select pgflow.complete_task(%s, %s, 0, '1')", [done, step])
            run = conn.execute("select run_id from pgflow.start_run('chain')").fetchone()[0]  # type: ignore[index]
            conn.execute("select count(*) from pgflow.poll_for_tasks('w0', array['chain'])")
        yield World(url, run, done)


def fingerprint(conn: psycopg.Connection) -> dict[str, str]:
    """An md5 of every row of every pgflow table."""
    found = {}
    for table in TABLES:
        row = conn.execute(
            f"select count(*) || ':' || coalesce(md5(string_agg(t::text, ',' order by t::text)), '') "
            f"from pgflow.{table} as t"
        ).fetchone()
        found[table] = row[0] if row else ""
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_its_pf_code_names_the_argument_and_writes_nothing(world: World, case: Case) -> None:
    sql = fill(case.sql, run=str(world.run), done=str(world.done), unknown=str(UNKNOWN))
    with psycopg.connect(world.url, autocommit=True) as conn:
        if case.setting:
            conn.execute("select set_config(%s, %s, false)", case.setting)
        before = fingerprint(conn)
        with pytest.raises(psycopg.Error) as caught:
            conn.execute(sql.replace("%", "%%"))
        error = caught.value
        after = fingerprint(conn)
    assert error.sqlstate == case.sqlstate, f"{sql}: {error.sqlstate} {error}"
    message = error.diag.message_primary or ""
    assert fill(case.names, unknown=str(UNKNOWN)) in message, message
    assert len(message) < 1000, f"a message of {len(message)} characters"
    assert after == before, f"{sql} wrote something"


def test_a_long_cycle_is_shown_briefly_with_the_whole_path_in_the_detail(world: World) -> None:
    """A 10,000-step cycle: the message shows the start of it and stays short; the DETAIL has every step."""
    n = 10_000
    steps = [{"slug": f"s{i}", "depends_on": [f"s{(i - 1) % n}"]} for i in range(n)]
    with psycopg.connect(world.url, autocommit=True) as conn:
        before = fingerprint(conn)
        with pytest.raises(psycopg.Error) as caught:
            conn.execute("select pgflow.define_flow('ring', %s)", [Jsonb(steps)])
        after = fingerprint(conn)
    error = caught.value
    assert error.sqlstate == "PF003"
    message = error.diag.message_primary or ""
    assert len(message) < 400, message
    assert re.search(r"cycle of 10000 steps: s\d+ -> s\d+", message), message
    cycle = json.loads(error.diag.message_detail or "{}")["cycle"]
    assert len(cycle) == n + 1 and cycle[0] == cycle[-1] and len(set(cycle)) == n
    assert after == before


def markdown_table() -> str:
    """The cases as a Markdown table (the bad-input table of docs/reliability.md)."""
    lines = ["| # | bad input | call | SQLSTATE | the message names |", "|---|---|---|---|---|"]
    for i, case in enumerate(CASES, 1):
        sql = fill(case.sql, run="<started run>", done="<completed run>", unknown="<unknown run id>")
        sql = sql.replace("|", "\\|")
        if len(sql) > 110:
            sql = sql[:107] + "..."
        setting = f" (with `{case.setting[0]} = '{case.setting[1]}'`)" if case.setting else ""
        names = fill(case.names, unknown="<the run id>").replace("|", "\\|")
        lines.append(f"| {i} | {case.name}{setting} | `{sql}` | {case.sqlstate} | `{names}` |")
    return "\n".join(lines) + "\n"


def test_docs_hold_the_current_table() -> None:
    """docs/reliability.md shows this file's table as it is (regenerate with python -m tests_py.test_bad_inputs)."""
    assert markdown_table() in DOC.read_text(), "docs/reliability.md's bad-input table is stale"


if __name__ == "__main__":
    print(markdown_table(), end="")
