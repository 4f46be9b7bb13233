"""Least privilege (SPEC §9, docs/security.md): the roles pgflow_worker, pgflow_producer and pgflow_reader can do
exactly their job, everything else gets SQLSTATE 42501, and nothing in schema pgflow is open to PUBLIC.

Each test logs in as login roles of its own (unique names, dropped afterwards), each granted one of the three
roles or none. The pgflow_* roles themselves are never dropped: they belong to the whole cluster, and other
test databases use them at the same time.
"""

from __future__ import annotations

import importlib
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import pgflow

from . import cli_flows
from ._process_helpers import ROOT, wait_for
from .conftest import scratch_database

installer = importlib.import_module("pgflow.migrate")

WORKER, PRODUCER, READER = "pgflow_worker", "pgflow_producer", "pgflow_reader"
ROLES = (WORKER, PRODUCER, READER)

# The decision for every public function (a name without a leading "_"): the roles that may execute it. A
# function of schema pgflow missing here fails test_every_function_has_a_decision: place it (sql/095_privileges.sql
# and this table) before shipping it.
GRANTED: dict[str, set[str]] = {
    "define_flow": {WORKER},
    "poll_for_tasks": {WORKER},
    "poll_for_tasks_lean": {WORKER},
    "heartbeat": {WORKER},
    "stop_worker": {WORKER},
    "complete_task": {WORKER},
    "complete_tasks": {WORKER},
    "fail_task": {WORKER},
    "get_run_input": {WORKER},
    "worker_timeout": {WORKER, READER},
    "start_run": {PRODUCER},
    "start_flow": {PRODUCER},
    "cancel_run": {PRODUCER},
    "resume_run": {PRODUCER},
    "signal": {PRODUCER},
    "find_run": {PRODUCER, READER},
    "get_run_status": {PRODUCER, READER},
    "list_runs": {PRODUCER, READER},
    "describe_flow": {PRODUCER, READER},
    "find_flow_versions": {WORKER, PRODUCER, READER},
    "get_step_outputs": {PRODUCER, READER},
    "get_task_input": {PRODUCER, READER},
    "list_flow_versions": {PRODUCER, READER},
    "live_workers": {PRODUCER, READER},
    "max_output_size": set(ROLES),
    "schema_version": set(ROLES),
    "create_schedule": {WORKER, PRODUCER},
    "drop_schedule": {PRODUCER},
    "next_cron_tick": set(ROLES),
    # the owner's alone: definitions by other means than define_flow, and maintenance
    "create_flow": set(),
    "set_current_version": set(),
    "add_step": set(),
    "prune_runs": set(),
    "expire_tasks": set(),
    "now": set(),
}
# Public functions that run with the caller's rights: pgflow.now(), inlined into the engine's queries (a security
# definer function never is). It reads no table, and no role may execute it.
INVOKER = {"now"}
PINNED_PATH = "search_path=pg_catalog, pg_temp"

# What each role may read with SELECT: {table: None for every column, or the columns}.
READABLE: dict[str, dict[str, set[str] | None]] = {
    WORKER: {
        "step_tasks": {"run_id", "step_slug", "task_index", "status", "attempt", "error"},
        "runs": {"run_id", "status"},
    },
    PRODUCER: {"schedules": None},
    READER: dict.fromkeys(
        (
            "flows",
            "steps",
            "deps",
            "runs",
            "step_states",
            "step_tasks",
            "workers",
            "server_starts",
            "schema_migrations",
            "flow_buckets",
            "schedules",
        )
    ),
}


@contextmanager
def login_role(admin_url: str, member_of: str | None, *, options: str = "") -> Iterator[str]:
    """A LOGIN role of its own, granted ``member_of`` (or nothing); dropped, with what it owns, afterwards."""
    name = f"pgflow_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("create role {} login {}").format(sql.Identifier(name), sql.SQL(options)))
        if member_of:
            conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(member_of), sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))


@pytest.fixture
def logins(admin_url: str, database_url: str) -> Iterator[dict[str | None, str]]:
    """{pgflow role or None: the conninfo of a login role granted it} on the test database."""
    with (
        login_role(admin_url, WORKER) as w,
        login_role(admin_url, PRODUCER) as p,
        login_role(admin_url, READER) as r,
        login_role(admin_url, None) as n,
    ):
        yield {
            role: make_conninfo(database_url, user=user)
            for role, user in ((WORKER, w), (PRODUCER, p), (READER, r), (None, n))
        }
        # their sessions end before the roles are dropped
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = any(%s)", ([w, p, r, n],)
            )
            conn.execute(sql.SQL("drop owned by {}").format(sql.SQL(", ").join(map(sql.Identifier, (w, p, r, n)))))


def functions(conn: psycopg.Connection[Any]) -> list[tuple[str, str, list[str], bool, list[str] | None, str]]:
    """(name, signature, argument types, security definer, settings, language) of every function of pgflow."""
    rows = conn.execute(
        """select p.proname, p.oid::regprocedure::text,
                  array(select pg_catalog.format_type(t, null) from unnest(p.proargtypes) with ordinality as a (t, n)
                        order by n),
                  p.prosecdef, p.proconfig, l.lanname
           from pg_catalog.pg_proc as p
           join pg_catalog.pg_language as l on l.oid = p.prolang
           where p.pronamespace = 'pgflow'::regnamespace
           order by 2"""
    ).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def tables(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "select relname from pg_catalog.pg_class where relnamespace = 'pgflow'::regnamespace and relkind in ('r', 'p') "
        "order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def call_sql(name: str, arg_types: list[str]) -> sql.Composed:
    """``select pgflow.name(null::type, ...)`` (a polymorphic parameter gets a concrete type)."""
    concrete = {"anyarray": "text[]", "anyelement": "text", '"any"': "text", "anycompatiblearray": "text[]"}
    args = [sql.SQL("null::{}").format(sql.SQL(concrete.get(t, t))) for t in arg_types]
    return sql.SQL("select pgflow.{}({})").format(sql.Identifier(name), sql.SQL(", ").join(args))


def sqlstate_of(conn: psycopg.Connection[Any], statement: Any) -> str | None:
    """Runs the statement in a transaction rolled back afterwards; its SQLSTATE, or None when it succeeded."""
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


# ------------------------------------------------------------------------------------------------------------
# The catalog: a decision for every function, nothing for PUBLIC


def test_every_function_has_a_decision(conn: psycopg.Connection[Any]) -> None:
    undecided, wrong = [], []
    for name, signature, _types, definer, config, language in functions(conn):
        may = {
            role
            for role in (*ROLES, "public")
            if conn.execute(
                "select has_function_privilege(%s, %s::regprocedure, 'execute')", (role, signature)
            ).fetchone()[0]  # type: ignore[index]
        }
        if name.startswith("_"):
            if may:
                wrong.append(f"{signature} is internal but executable by {sorted(may)}")
            if definer:
                wrong.append(f"{signature} is internal and security definer")
        elif name not in GRANTED:
            undecided.append(signature)
        else:
            if may != GRANTED[name]:
                wrong.append(f"{signature} is executable by {sorted(may)}, not {sorted(GRANTED[name])}")
            if definer == (name in INVOKER):
                wrong.append(f"{signature}: security definer is {definer}")
        # a function with settings of its own pins search_path so that pg_temp comes last
        if (config is not None or definer or language == "plpgsql") and PINNED_PATH not in (config or []):
            wrong.append(f"{signature} does not pin {PINNED_PATH} (settings: {config})")
    assert not undecided, (
        f"public functions without a decision (make them security definer and grant them in "
        f"sql/095_privileges.sql, then list them in GRANTED here): {undecided}"
    )
    assert not wrong, "\n".join(wrong)


def test_nothing_in_the_schema_is_granted_to_public(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        """select kind, name from (
             select 'schema' as kind, n.nspname::text as name, n.nspacl as acl, n.nspowner as owner
             from pg_catalog.pg_namespace as n where n.nspname = 'pgflow'
             union all
             select 'relation', c.relname::text, c.relacl, c.relowner
             from pg_catalog.pg_class as c where c.relnamespace = 'pgflow'::regnamespace
             union all
             select 'function', p.oid::regprocedure::text, p.proacl, p.proowner
             from pg_catalog.pg_proc as p where p.pronamespace = 'pgflow'::regnamespace
             union all
             select 'type', t.typname::text, t.typacl, t.typowner
             from pg_catalog.pg_type as t
             where t.typnamespace = 'pgflow'::regnamespace and t.typrelid = 0 and t.typelem = 0
           ) as o
           where o.acl is null and o.kind <> 'relation'  -- the default: PUBLIC may use or execute
              or exists (select from aclexplode(o.acl) as a where a.grantee = 0)
              or exists (select from pg_catalog.pg_attribute as at
                         join pg_catalog.pg_class as c on c.oid = at.attrelid
                         cross join aclexplode(at.attacl) as a
                         where o.kind = 'relation' and c.relname = o.name
                           and c.relnamespace = 'pgflow'::regnamespace and a.grantee = 0)
           order by 1, 2"""
    ).fetchall()
    assert rows == []


# ------------------------------------------------------------------------------------------------------------
# Each role against every function and table


@pytest.mark.parametrize("role", [WORKER, PRODUCER, READER, None], ids=["worker", "producer", "reader", "no_role"])
def test_everything_else_is_refused_with_42501(
    conn: psycopg.Connection[Any], logins: dict[Any, str], role: str | None
) -> None:
    refused_ok = []
    with psycopg.connect(logins[role], autocommit=True) as as_role:
        for name, signature, types, _definer, _config, _language in functions(conn):
            if role in GRANTED.get(name, set()):
                continue
            state = sqlstate_of(as_role, call_sql(name, types))
            if state != "42501":
                refused_ok.append(f"{signature}: {state or 'succeeded'}")
        for table in tables(conn):
            target = sql.Identifier("pgflow", table)
            for statement in (
                sql.SQL("insert into {} default values").format(target),
                sql.SQL("update {} set {} = null where false").format(
                    target, sql.Identifier(first_column(conn, table))
                ),
                sql.SQL("delete from {} where false").format(target),
                sql.SQL("truncate {}").format(target),
                sql.SQL("select from {} for key share").format(target),
                sql.SQL("lock table {} in row exclusive mode").format(target),
            ):
                state = sqlstate_of(as_role, statement)
                if state != "42501":
                    refused_ok.append(f"{statement.as_string(as_role)}: {state or 'succeeded'}")
            readable = READABLE.get(role or "", {}).get(table, set())
            for column in columns(conn, table):
                statement = sql.SQL("select {} from {} limit 1").format(sql.Identifier(column), target)
                state = sqlstate_of(as_role, statement)
                allowed = readable is None or column in readable
                if allowed != (state is None) or (state is not None and state != "42501"):
                    refused_ok.append(f"{statement.as_string(as_role)}: {state or 'succeeded'}")
    assert not refused_ok, "\n".join(refused_ok)


def first_column(conn: psycopg.Connection[Any], table: str) -> str:
    return columns(conn, table)[0]


def columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "select attname from pg_catalog.pg_attribute where attrelid = %s::regclass and attnum > 0 "
        "and not attisdropped order by attnum",
        (f"pgflow.{table}",),
    ).fetchall()
    return [r[0] for r in rows]


# ------------------------------------------------------------------------------------------------------------
# Each role does its job


def test_a_worker_role_runs_flows_a_producer_role_starts_cancels_and_resumes(
    database_url: str, logins: dict[Any, str], tmp_path: Any
) -> None:
    prefix = f"r{uuid.uuid4().hex[:10]}"
    flows = cli_flows.build(prefix)
    diamond, second = flows["diamond"].slug, flows["second"].slug

    # the producer cannot define flows: the worker does when it starts; here the owner defines "second"
    with pgflow.Client(logins[PRODUCER]) as producer:
        with pytest.raises(pgflow.PermissionDenied, match=r"^permission denied for function"):
            producer.define(flows["second"])
    with pgflow.Client(database_url) as owner:
        owner.define(flows["second"])

    with pgflow.Client(logins[PRODUCER]) as producer:
        cancelled = producer.start_run(second, {"x": 1})
        assert producer.cancel_run(cancelled, "not now").status == "cancelled"
        with pytest.raises(pgflow.RunCancelled):
            producer.wait(cancelled, timeout=5)
        assert producer.resume_run(cancelled).status == "started"
        assert producer.describe_flow(second)["flow_slug"] == second
        assert [r.run_id for r in producer.list_runs(second)] == [cancelled.run_id]
        with pytest.raises(pgflow.PermissionDenied, match=r"^permission denied for function"):
            producer.prune_runs("1 day")

        log_path = tmp_path / "worker.log"
        env = {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, cli_flows.PREFIX_VARIABLE: prefix}
        url = make_conninfo(logins[WORKER], options="-c pgflow.worker_timeout=5s")
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pgflow.cli",
                    "--database-url",
                    url,
                    "worker",
                    "tests_py.cli_flows:diamond",
                    "tests_py.cli_flows:second",
                    "--concurrency",
                    "2",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                with psycopg.connect(database_url, autocommit=True) as conn:
                    wait_for(
                        lambda: (
                            conn.execute(
                                "select count(*) from pgflow.flows where flow_slug = %s", (diamond,)
                            ).fetchone()
                            == (1,)
                            or proc.poll() is not None
                        ),
                        30,
                        "the worker to define its flows",
                    )
                runs = [producer.start_run(diamond, {"n": n}) for n in (1, 2, 3)]
                outputs = [producer.wait(run, timeout=60) for run in runs]
                assert outputs == [cli_flows.diamond_output(n) for n in (1, 2, 3)]
                # the resumed run is done by the same worker
                assert producer.wait(cancelled, timeout=60) == {"echo": {"echo": {"x": 1}}}
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        output = log_path.read_text(errors="replace")
        assert proc.returncode == 0, output
        assert "permission denied" not in output and "Traceback" not in output, output
    # the worker defined its flows itself, with the owner's rights
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert conn.execute("select count(*) from pgflow.flows where flow_slug = %s", (diamond,)).fetchone() == (1,)


def test_producers_and_readers_learn_how_many_live_workers_serve_a_flow_version(
    database_url: str, logins: dict[Any, str], flow_slug: str
) -> None:
    """`pgflow start --wait` as a producer (or a reader): pgflow.live_workers counts the workers serving the run's
    version, which a producer could not read from pgflow.workers itself."""
    worker_id = f"lw-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute('select pgflow.define_flow(%s, \'[{"slug": "a"}]\')', (flow_slug,))
        owner.execute('select pgflow.define_flow(%s, \'[{"slug": "a"}, {"slug": "b"}]\')', (flow_slug,))
        owner.execute("select pgflow.heartbeat(%s, array[%s], interval '1 minute')", (worker_id, flow_slug))
        owner.execute(
            "select count(*) from pgflow.poll_for_tasks(%s, array[%s], 0, %s::jsonb)",
            (worker_id, flow_slug, f'{{"{flow_slug}": [1]}}'),
        )
    cli = importlib.import_module("pgflow.cli")
    for role in (PRODUCER, READER):
        with pgflow.Client(logins[role]) as client:
            assert cli.live_workers(client, flow_slug, 1) == 1, role
            assert cli.live_workers(client, flow_slug, 2) == 0, role  # only version 1 is served
            assert cli.live_workers(client, flow_slug) == 0, role  # the current version is 2
    with pgflow.Client(logins[WORKER]) as client:
        assert cli.live_workers(client, flow_slug, 1) is None  # not the worker's to call


def test_a_reader_reads_and_writes_nothing(database_url: str, logins: dict[Any, str], flow_slug: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute('select pgflow.define_flow(%s, \'[{"slug": "a"}]\')', (flow_slug,))
    with pgflow.Client(database_url) as client:
        run = client.start_run(flow_slug, {"k": 1})
    with pgflow.Client(logins[READER]) as reader:
        assert reader.get_run_status(run)["status"] == "started"
        assert [r.run_id for r in reader.list_runs(flow_slug)] == [run.run_id]
        with pytest.raises(pgflow.PermissionDenied, match=r"^permission denied for function"):
            reader.start_run(flow_slug, {})
        with pytest.raises(pgflow.PermissionDenied, match=r"^permission denied for function"):
            reader.cancel_run(run)
    with psycopg.connect(logins[READER], autocommit=True) as conn:
        row = conn.execute("select input from pgflow.runs where run_id = %s", (run.run_id,)).fetchone()
        assert row == ({"k": 1},)
        assert sqlstate_of(conn, "select from pgflow.runs for share") == "42501"


# ------------------------------------------------------------------------------------------------------------
# What a caller cannot do to the functions that run with the owner's rights


def test_a_worker_cannot_fake_time_to_expire_others_tasks(
    database_url: str, logins: dict[Any, str], flow_slug: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute('select pgflow.define_flow(%s, \'[{"slug": "a", "timeout": 60}]\')', (flow_slug,))
        run_id = owner.execute("select run_id from pgflow.start_run(%s)", (flow_slug,)).fetchone()[0]  # type: ignore[index]
        owner.execute("select pgflow.heartbeat('honest', array[%s])", (flow_slug,))
        assert (
            len(owner.execute("select * from pgflow.poll_for_tasks('honest', array[%s])", (flow_slug,)).fetchall()) == 1
        )
    with psycopg.connect(logins[WORKER], autocommit=True) as thief:
        thief.execute("select set_config('pgflow.fake_now', (now() + interval '1 day')::text, false)")
        thief.execute("select pgflow.heartbeat('thief', array[%s])", (flow_slug,))
        claimed = thief.execute("select * from pgflow.poll_for_tasks('thief', array[%s])", (flow_slug,)).fetchall()
        assert claimed == []
    with psycopg.connect(database_url, autocommit=True) as owner:
        row = owner.execute("select attempt, status, worker_id from pgflow.step_tasks where run_id = %s", (run_id,))
        assert row.fetchone() == (1, "started", "honest")
        owner.execute("select pgflow.stop_worker('honest')")


def test_the_callers_search_path_and_temporary_objects_are_not_used(
    admin_url: str, database_url: str, logins: dict[Any, str], flow_slug: str
) -> None:
    """A security definer function runs as the owner: were it to find the caller's objects (a type of the
    caller's temporary schema, which PostgreSQL searches first for types unless told otherwise; a function or
    operator of a schema the caller puts first), the caller's code would run with the owner's rights."""
    with psycopg.connect(database_url, autocommit=True) as owner:
        owner.execute(
            'select pgflow.define_flow(%s, \'[{"slug": "a"}, {"slug": "b", "depends_on": ["a"]}]\')', (flow_slug,)
        )
        dbname = owner.info.dbname
        user = psycopg.conninfo.conninfo_to_dict(logins[WORKER])["user"]
        owner.execute(
            sql.SQL("grant create on database {} to {}").format(sql.Identifier(dbname), sql.Identifier(str(user)))
        )
    try:
        with psycopg.connect(logins[WORKER], autocommit=True) as caller:
            trap = "begin raise exception 'hijacked: running as %', current_user; end"
            caller.execute(
                "create function pg_temp.trap(pg_catalog.text) returns pg_catalog.bool"
                f" language plpgsql as $$ {trap} $$"
            )
            for type_name in ("text", "jsonb", "int4", "integer", "uuid", "timestamptz", "boolean", "bool"):
                caller.execute(
                    sql.SQL("create domain pg_temp.{} as pg_catalog.text check (pg_temp.trap(value))").format(
                        sql.Identifier(type_name)
                    )
                )
            caller.execute("create schema trap")
            caller.execute(
                "create function trap.trap_text(pg_catalog.text, pg_catalog.text) returns pg_catalog.text"
                f" language plpgsql as $$ {trap} $$"
            )
            caller.execute(
                "create operator trap.|| "
                "(leftarg = pg_catalog.text, rightarg = pg_catalog.text, function = trap.trap_text)"
            )
            caller.execute(
                f"create function trap.now() returns pg_catalog.timestamptz language plpgsql as $$ {trap} $$"
            )
            caller.execute(
                "create function trap.jsonb_build_object(variadic pg_catalog.text[]) returns pg_catalog.jsonb"
                f" language plpgsql as $$ {trap} $$"
            )
            caller.execute("set search_path = trap, pg_catalog, pg_temp")
            # the traps are armed: in the caller's own statements they fire
            with pytest.raises(psycopg.errors.RaiseException, match="hijacked"):
                caller.execute("select 'a'::pg_temp.text")
            with pytest.raises(psycopg.errors.RaiseException, match="hijacked"):
                caller.execute("select 'a'::pg_catalog.text || 'b'::pg_catalog.text")
            # ...and never in the engine's
            caller.execute(
                'select pgflow.define_flow(%s, \'[{"slug": "a"}, {"slug": "b", "depends_on": ["a"]}]\')', (flow_slug,)
            )
            caller.execute("select pgflow.heartbeat('trapped', array[%s])", (flow_slug,))
            with psycopg.connect(logins[PRODUCER], autocommit=True) as producer:
                run_id = producer.execute(
                    "select run_id from pgflow.start_run(%s, '{\"n\": 1}')", (flow_slug,)
                ).fetchone()[0]  # type: ignore[index]
            for step in ("a", "b"):
                (task,) = caller.execute(
                    "select run_id, step_slug, task_index, attempt from pgflow.poll_for_tasks('trapped', array[%s])",
                    (flow_slug,),
                ).fetchall()
                assert task[1] == step
                assert caller.execute(
                    "select pgflow.complete_task(%s, %s, %s, '{\"ok\": true}', %s)", task
                ).fetchone() == (True,)
            caller.execute("select pgflow.stop_worker('trapped')")
            with psycopg.connect(logins[PRODUCER], autocommit=True) as producer:
                status = producer.execute("select pgflow.get_run_status(%s)", (run_id,)).fetchone()[0]  # type: ignore[index]
            assert status["status"] == "completed"
            caller.execute("drop schema trap cascade")
    finally:
        with psycopg.connect(database_url, autocommit=True) as owner:
            owner.execute(
                sql.SQL("revoke create on database {} from {}").format(
                    sql.Identifier(dbname), sql.Identifier(str(user))
                )
            )


# ------------------------------------------------------------------------------------------------------------
# The installer and the roles


def test_a_dedicated_owner_installs_and_the_roles_get_their_grants(admin_url: str) -> None:
    """An owner that is neither superuser nor CREATEROLE installs (the roles already exist in this cluster), and
    grants the roles their privileges."""
    with login_role(admin_url, None) as owner, scratch_database(admin_url, "pgflow_roles") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("grant create on database {} to {}").format(
                    sql.Identifier(conn.info.dbname), sql.Identifier(owner)
                )
            )
        owner_url = make_conninfo(url, user=owner)
        assert pgflow.migrate(owner_url) == pgflow.__version__
        with psycopg.connect(url, autocommit=True) as conn:
            for role in ROLES:
                assert conn.execute("select has_schema_privilege(%s, 'pgflow', 'usage')", (role,)).fetchone() == (True,)
            assert conn.execute(
                "select has_function_privilege('pgflow_worker', 'pgflow.complete_task'::regproc, 'execute')"
            ).fetchone() == (True,)


def test_roles_are_created_where_the_installer_may_and_named_where_it_may_not(
    admin_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With role names of its own (the real ones exist in this cluster and must stay): an installer without
    CREATEROLE installs and says once how to create them; one with CREATEROLE creates them; two installers of
    two databases creating them at the same moment both succeed."""
    names = tuple(f"pgflow_test_{uuid.uuid4().hex[:8]}_{kind}" for kind in ("worker", "producer", "reader"))
    monkeypatch.setattr(installer, "ROLES", names)
    try:
        with login_role(admin_url, None) as plain, scratch_database(admin_url, "pgflow_roles") as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("grant create on database {} to {}").format(
                        sql.Identifier(conn.info.dbname), sql.Identifier(plain)
                    )
                )
            with caplog.at_level(logging.WARNING, logger="pgflow.migrate"):
                assert pgflow.migrate(make_conninfo(url, user=plain)) == pgflow.__version__
            warnings = [r.getMessage() for r in caplog.records if r.name == "pgflow.migrate"]
            assert len(warnings) == 1 and all(f"create role {n} nologin;" in warnings[0] for n in names), warnings
            with psycopg.connect(url, autocommit=True) as conn:
                assert conn.execute(
                    "select count(*) from pg_roles where rolname = any(%s)", (list(names),)
                ).fetchone() == (0,)
                assert conn.execute("select pgflow.schema_version()").fetchone() == (pgflow.__version__,)

        # two databases, two installers allowed to create roles, let go at the same moment
        with scratch_database(admin_url, "pgflow_roles") as url1, scratch_database(admin_url, "pgflow_roles") as url2:
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def install(url: str) -> None:
                try:
                    with psycopg.connect(url) as conn, conn.transaction():
                        barrier.wait(timeout=30)
                        installer._create_roles(conn)
                        time.sleep(0.2)  # hold the new roles uncommitted a moment
                    assert pgflow.migrate(url) == pgflow.__version__
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=install, args=(u,)) for u in (url1, url2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            assert errors == []
            with psycopg.connect(url1, autocommit=True) as conn:
                rows = conn.execute(
                    "select rolname, rolcanlogin from pg_roles where rolname = any(%s) order by 1", (list(names),)
                ).fetchall()
            assert rows == sorted((n, False) for n in names)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(name)))
