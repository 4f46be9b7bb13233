"""Where connection settings come from: the argument, then DATABASE_URL, then libpq's defaults."""

from __future__ import annotations

import os

import psycopg


def resolve(conninfo: str | None = None) -> str:
    """The connection string to use ('' means libpq's defaults: PGHOST, PGDATABASE, the local socket...)."""
    if conninfo:
        return conninfo
    return os.environ.get("DATABASE_URL", "")


def connect(conninfo: str | None = None, **kwargs: object) -> psycopg.Connection:
    """A new connection; the caller owns it."""
    return psycopg.connect(resolve(conninfo), **kwargs)  # type: ignore[arg-type]
