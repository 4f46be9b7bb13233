"""Where connection settings come from: the argument, then DATABASE_URL, then libpq's defaults. Every
connection pgflow opens goes through ``connect()``, whose errors never carry a password — not even when
libpq cannot parse the connection string and quotes pieces of it back (``_redact.redact_conninfo_error``)."""

from __future__ import annotations

import os
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from . import _redact


def resolve(conninfo: str | None = None) -> str:
    """The connection string to use ('' means libpq's defaults: PGHOST, PGDATABASE, the local socket...).
    Its password is remembered, parseable or not, so that no log line or error shows it."""
    resolved = conninfo if conninfo else os.environ.get("DATABASE_URL", "")
    _redact.remember(resolved)
    return resolved


def check(conninfo: str | None = None) -> str | None:
    """None when the conninfo (resolved as ``resolve`` does) can be parsed, else why not, redacted. Connects
    to nothing."""
    target = resolve(conninfo)
    try:
        conninfo_to_dict(target)
    except psycopg.Error as exc:
        return _redact.redact_conninfo_error(str(exc).strip(), target)
    return None


def connect(conninfo: str | None = None, **kwargs: Any) -> psycopg.Connection[Any]:
    """A new connection; the caller owns it. A failure raises the exception psycopg raised (same class), its
    message redacted and without the original attached (``__cause__`` and ``__context__`` are None), so that
    no traceback shows the password."""
    target = resolve(conninfo)
    try:
        return psycopg.connect(target, **kwargs)
    except psycopg.Error as exc:
        message = str(exc)
        safe = _redact.redact_conninfo_error(message, target)
        if safe == message:
            raise
        replacement = type(exc)(safe)
    # raised outside the except block: the original is not even kept as the implicit context
    raise replacement
