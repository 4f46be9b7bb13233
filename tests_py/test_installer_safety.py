"""The installer refuses a pgflow schema, or objects in it, owned by another role (schema squatting): a role
that may only create schemas in the database must not be able to plant functions that would later run with
the rights of whoever calls the engine (a superuser's worker, say)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from .conftest import scratch_database


@pytest.fixture
def squatter(admin_url: str) -> Iterator[str]:
    """A login role of its own (dropped afterwards, with what it owns)."""
    role = f"pgflow_squatter_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'create role "{role}" login')
    try:
        yield role
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop role if exists "{role}"')


def test_a_schema_created_first_by_another_role_is_refused(admin_url: str, squatter: str) -> None:
    with scratch_database(admin_url, "pgflow_squat") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'grant create on database {conn.info.dbname} to "{squatter}"')
        with psycopg.connect(make_conninfo(url, user=squatter), autocommit=True) as conn:
            conn.execute("create schema pgflow")
            conn.execute("create function pgflow.now() returns timestamptz language sql as $$ select now() $$")
        with pytest.raises(pgflow.PgflowError, match=f"schema pgflow belongs to role {squatter}"):
            pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            installed = conn.execute("select to_regprocedure('pgflow.schema_version()')").fetchone()
            owner = conn.execute(
                "select pg_get_userbyid(proowner) from pg_proc where oid = 'pgflow.now()'::regprocedure"
            ).fetchone()
            assert installed == (None,), "nothing was installed"
            assert owner == (squatter,), "the squatter's function was not replaced either"
            conn.execute("drop schema pgflow cascade")
            conn.execute(f'revoke create on database {conn.info.dbname} from "{squatter}"')


def test_an_object_planted_in_an_installed_schema_is_refused(admin_url: str, squatter: str) -> None:
    with scratch_database(admin_url, "pgflow_squat") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'grant usage, create on schema pgflow to "{squatter}"')
        with psycopg.connect(make_conninfo(url, user=squatter), autocommit=True) as conn:
            conn.execute(
                "create function pgflow.start_run(flow_slug varchar) returns void language sql as $$ select $$"
            )
        with pytest.raises(pgflow.PgflowError, match=r"holds objects that belong to other roles.*start_run"):
            pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop function pgflow.start_run(varchar)")
            conn.execute(f'revoke usage, create on schema pgflow from "{squatter}"')
        assert pgflow.migrate(url) == pgflow.__version__, "once the object is gone, migrate goes on"


def test_a_schema_others_may_create_in_is_refused(admin_url: str, squatter: str) -> None:
    """Even with no object of theirs in it yet, a role allowed to create in schema pgflow could add a function
    that the engine's callers would pick up: the installer refuses until that right is revoked."""
    with scratch_database(admin_url, "pgflow_squat") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'grant create on schema pgflow to "{squatter}"')
        with pytest.raises(pgflow.PgflowError, match=f"may create objects in schema pgflow \\({squatter}\\)"):
            pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'revoke create on schema pgflow from "{squatter}"')
        assert pgflow.migrate(url) == pgflow.__version__


def test_a_collation_planted_in_the_schema_is_refused(admin_url: str, squatter: str) -> None:
    """Objects of every kind count, not only tables, functions, types and operators."""
    with scratch_database(admin_url, "pgflow_squat") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'grant usage, create on schema pgflow to "{squatter}"')
        with psycopg.connect(make_conninfo(url, user=squatter), autocommit=True) as conn:
            conn.execute('create collation pgflow.planted (provider = icu, locale = "und")')
        with pytest.raises(pgflow.PgflowError, match=r"holds objects that belong to other roles.*collation planted"):
            pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop collation pgflow.planted")
            conn.execute(f'revoke usage, create on schema pgflow from "{squatter}"')
