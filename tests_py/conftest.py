"""Shared fixtures: a real PostgreSQL database with the pgflow schema installed.

Under `make test` the database comes from PGFLOW_TEST_DATABASE_URL (created and dropped by
scripts/run_tests.py). Run alone, pytest creates its own database on the server of
PGFLOW_TEST_ADMIN_URL, DATABASE_URL or the local socket, and drops it afterwards. A database that
cannot be reached is an error, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import pgflow

from ._pgbouncer import PgBouncer


def _admin_url() -> str:
    return os.environ.get("PGFLOW_TEST_ADMIN_URL") or os.environ.get("DATABASE_URL") or "dbname=postgres"


@pytest.fixture(scope="session")
def admin_url() -> str:
    """A conninfo on the test server with the right to create databases."""
    return _admin_url()


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """A database with the pgflow schema installed."""
    url = os.environ.get("PGFLOW_TEST_DATABASE_URL")
    if url:
        pgflow.migrate(url)
        yield url
        return
    with scratch_database(admin_url, "pgflow_pytest") as url:
        pgflow.migrate(url)
        yield url


class scratch_database:
    """Context manager: a fresh, empty database on the server of ``admin``, dropped on exit."""

    def __init__(self, admin: str, prefix: str = "pgflow_scratch") -> None:
        self.admin = admin
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> str:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'create database "{self.name}"')
        return make_conninfo(self.admin, dbname=self.name)

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.name}" with (force)')


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the test database."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def flow_slug() -> str:
    """A flow slug no other test uses, so tests sharing the database never see each other's work."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def pgbouncer(database_url: str) -> Iterator[PgBouncer]:
    """A real PgBouncer (tests_py/_pgbouncer.py) in transaction mode, two server connections per database,
    in front of the test server; stopped after the module. One that cannot start fails the test."""
    with PgBouncer(database_url, pool_mode="transaction", pool_size=2) as bouncer:
        yield bouncer
