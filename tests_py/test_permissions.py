"""A missing privilege is said in one line (docs/security.md): SQLSTATE 42501 becomes ``pgflow.PermissionDenied``,
whose message keeps PostgreSQL's text, names the connected role and the pgflow role that grants what was refused;
the CLI exits 1 with it. A worker whose role may not call every function it needs fails at start-up, naming them
and ``grant pgflow_worker to <role>``. Real LOGIN roles (unique names, dropped afterwards), real processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import pgflow
from pgflow import errors, worker

from .test_roles import PRODUCER, READER, WORKER, login_role

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60


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
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity where usename = any(%s)", ([w, p, r, n],)
            )
            conn.execute(sql.SQL("drop owned by {}").format(sql.SQL(", ").join(map(sql.Identifier, (w, p, r, n)))))


def user_of(url: str) -> str:
    return str(conninfo_to_dict(url)["user"])


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PGFLOW_DEBUG", "PGPASSWORD")}
    return subprocess.run(
        [sys.executable, "-m", "pgflow.cli", "--database-url", url, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert proc.returncode == 1, (proc.returncode, lines)
    assert len(lines) == 1 and lines[0].startswith("pgflow: "), lines
    return lines[0]


# ----------------------------------------------------------------------------------------------------
# The table of grants cannot drift from the catalog
# ----------------------------------------------------------------------------------------------------
def test_the_grants_table_is_what_the_installed_catalog_grants(conn: psycopg.Connection[Any]) -> None:
    """errors.FUNCTION_GRANTS and TABLE_GRANTS say, for every public function and table of schema pgflow, exactly
    which of the three roles may execute or read it in a database installed by `pgflow migrate`."""
    roles = (WORKER, PRODUCER, READER)
    rows = conn.execute(
        """
        select p.proname, array_agg(distinct r.rolname order by r.rolname) filter (
                 where has_function_privilege(r.oid, p.oid, 'execute'))
        from pg_proc as p cross join pg_roles as r
        where p.pronamespace = 'pgflow'::regnamespace and p.proname !~ '^_' and r.rolname = any(%s)
        group by p.proname
        """,
        (list(roles),),
    ).fetchall()
    catalog = {name: set(granted or []) for name, granted in rows}
    assert catalog == {name: set(granted) for name, granted in errors.FUNCTION_GRANTS.items()}
    rows = conn.execute(
        """
        select c.relname, array_agg(r.rolname order by r.rolname) filter (
                 where has_table_privilege(r.oid, c.oid, 'select'))
        from pg_class as c cross join pg_roles as r
        where c.relnamespace = 'pgflow'::regnamespace and c.relkind in ('r', 'p', 'v') and r.rolname = any(%s)
        group by c.relname
        """,
        (list(roles),),
    ).fetchall()
    assert {name: set(granted or []) for name, granted in rows} == {
        name: set(granted) for name, granted in errors.TABLE_GRANTS.items()
    }


def test_the_worker_checks_every_function_it_calls() -> None:
    """Every pgflow function worker.py calls is in WORKER_FUNCTIONS or DEFINE_FUNCTIONS (its start-up check),
    and all of them are pgflow_worker's."""
    source = Path(worker.__file__).read_text()
    called = set(re.findall(r"\bpgflow\.([a-z_]+)\(", source)) - {"now", "migrate"}  # in comments and docstrings
    checked = set(worker.WORKER_FUNCTIONS) | set(worker.DEFINE_FUNCTIONS)
    assert called <= checked, called - checked
    assert all(WORKER in errors.FUNCTION_GRANTS[name] for name in checked)


# ----------------------------------------------------------------------------------------------------
# The CLI and the Client
# ----------------------------------------------------------------------------------------------------
def test_a_producer_listing_workers_is_told_which_role_reads_them(logins: dict[Any, str]) -> None:
    url = logins[PRODUCER]
    line = one_error_line(cli(url, "workers"))
    assert line.startswith("pgflow: permission denied for table workers"), line
    assert f"role {user_of(url)}" in line and "pgflow_reader" in line and "docs/security.md" in line, line
    assert f"grant pgflow_reader to {user_of(url)}" in line, line


@pytest.mark.parametrize("role", [PRODUCER, WORKER, READER])
def test_setting_the_current_version_is_told_only_the_owner_may(
    database_url: str, logins: dict[Any, str], flow_slug: str, role: str
) -> None:
    """Whatever the role may read first (a worker may not list versions), the refusal is set_current_version's."""
    flow = pgflow.Flow(flow_slug)
    flow.step(slug="a")(lambda x: x)
    with pgflow.Client(database_url) as client:
        client.define(flow)
    url = logins[role]
    line = one_error_line(cli(url, "set-version", flow_slug, "1"))
    assert line.startswith("pgflow: permission denied for function set_current_version"), line
    assert f"role {user_of(url)}" in line and "only the owner of schema pgflow" in line, line
    assert "docs/security.md" in line, line


@pytest.mark.parametrize("role", [WORKER, PRODUCER, READER])
def test_migrate_by_another_role_on_a_current_schema_has_nothing_to_do(logins: dict[Any, str], role: str) -> None:
    """`pgflow migrate && pgflow worker` under a least-privilege login: the schema, current and the owner's,
    is left alone, and the command succeeds."""
    proc = cli(logins[role], "migrate")
    assert proc.returncode == 0, proc.stderr
    assert "already installed: nothing to do" in proc.stdout, proc.stdout


def test_a_reader_starting_a_run_is_told_to_grant_pgflow_producer(
    database_url: str, logins: dict[Any, str], flow_slug: str
) -> None:
    flow = pgflow.Flow(flow_slug)
    flow.step(slug="a")(lambda x: x)
    with pgflow.Client(database_url) as client:
        client.define(flow)
    url = logins[READER]
    line = one_error_line(cli(url, "start", flow_slug))
    assert line.startswith("pgflow: permission denied for function start_run"), line
    assert f"grant pgflow_producer to {user_of(url)}" in line and "docs/security.md" in line, line
    with pgflow.Client(url) as reader, pytest.raises(pgflow.PermissionDenied) as caught:
        reader.start_run(flow_slug, {})
    assert caught.value.sqlstate == "42501"
    assert caught.value.role == user_of(url) and caught.value.granted_by == (PRODUCER,)
    assert isinstance(caught.value, pgflow.PgflowError)


def test_a_role_without_any_pgflow_role_is_told_the_three(logins: dict[Any, str]) -> None:
    url = logins[None]
    with pgflow.Client(url) as nobody, pytest.raises(pgflow.PermissionDenied) as caught:
        nobody.list_runs()
    message = str(caught.value)
    assert message.startswith("permission denied for schema pgflow"), message
    assert all(role in message for role in (WORKER, PRODUCER, READER)) and user_of(url) in message, message


def test_a_password_is_never_in_the_message(logins: dict[Any, str]) -> None:
    secret = f"Pw-{uuid.uuid4().hex[:12]}"
    url = make_conninfo(logins[READER], password=secret)  # trust auth: ignored by the server
    proc = cli(url, "start", "anything")
    line = one_error_line(proc)
    assert "permission denied" in line and secret not in proc.stdout + proc.stderr, line


# ----------------------------------------------------------------------------------------------------
# Worker start-up
# ----------------------------------------------------------------------------------------------------
def _worker(url: str) -> subprocess.CompletedProcess[str]:
    return cli(url, "worker", "tests_py.handler_flows:quick_flow", "--startup-timeout", "10")


@pytest.mark.parametrize("role", [None, PRODUCER])
def test_a_worker_whose_role_may_not_poll_fails_at_start_up(logins: dict[Any, str], role: str | None) -> None:
    url = logins[role]
    proc = _worker(url)
    line = one_error_line(proc)
    user = user_of(url)
    assert f"grant pgflow_worker to {user}" in line, line
    for name in (
        "poll_for_tasks_lean",
        "heartbeat",
        "complete_tasks",
        "fail_task",
        "get_run_input",
        "stop_worker",
        "define_flow",
    ):
        assert name in line, (name, line)
    if role == PRODUCER:
        # what a producer may call is not named
        assert "find_flow_versions" not in line and "schema pgflow" not in line, line
    else:
        assert "schema pgflow" in line, line
    assert "serves flow" not in proc.stdout + proc.stderr


def test_an_in_process_worker_raises_permission_denied_naming_the_functions(logins: dict[Any, str]) -> None:
    from . import handler_flows

    url = logins[PRODUCER]
    runner = pgflow.Worker(url, handler_flows.quick_flow, define=False, startup_timeout=10)
    with pytest.raises(pgflow.PermissionDenied) as caught:
        runner.run()
    message = str(caught.value)
    assert "define_flow" not in message and "poll_for_tasks_lean" in message, message
    assert caught.value.role == user_of(url) and caught.value.granted_by == (WORKER,)


def test_a_worker_role_starts(logins: dict[Any, str]) -> None:
    """The check passes for pgflow_worker (the worker then runs until SIGTERM)."""
    from . import handler_flows

    runner = pgflow.Worker(logins[WORKER], handler_flows.quick_flow, startup_timeout=10)
    with psycopg.connect(logins[WORKER], autocommit=True) as conn:
        runner._check_privileges(conn)  # raises nothing
    assert runner._role == user_of(logins[WORKER])
