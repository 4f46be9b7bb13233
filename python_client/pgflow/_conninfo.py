"""Where connection settings come from: the argument, then DATABASE_URL, then libpq's defaults. Every
connection pgflow opens goes through ``connect()``, whose errors never carry a password — not even when
libpq cannot parse the connection string and quotes pieces of it back (``_redact.redact_conninfo_error``).

Every connection works through a connection pooler in transaction mode (PgBouncer's ``pool_mode =
transaction``), where each transaction may run on another server connection: ``connect()`` never lets psycopg
prepare statements on the server (``prepare_threshold=None``: a statement prepared in one transaction would
be missing in the next, "prepared statement _pg3_0 does not exist"), and pgflow keeps no session state
(no SET, no session advisory lock, no temporary table). LISTEN is the exception: through such a pooler it
seems to work but nothing ever arrives, so ``listener()`` proves that notifications arrive before relying on
them, and ``listen_target()`` gives the direct connection meant for LISTEN alone (``PGFLOW_LISTEN_URL``).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql
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
    """A new connection; the caller owns it. Statements are never prepared on the server (unless the caller
    passes ``prepare_threshold``): what psycopg would save by preparing pgflow's statements is within the
    noise of one call (bench/prepared.py), and a prepared statement does not survive the transaction behind
    a pooler in transaction mode. A failure raises the exception psycopg raised (same class), its
    message redacted and without the original attached (``__cause__`` and ``__context__`` are None), so that
    no traceback shows the password."""
    target = resolve(conninfo)
    kwargs.setdefault("prepare_threshold", None)
    try:
        return psycopg.connect(target, **kwargs)
    except psycopg.Error as exc:
        replacement = _redacted_connect_error(exc, target)
        if replacement is None:
            raise
    # raised outside the except block: the original is not even kept as the implicit context
    raise replacement


async def aconnect(conninfo: str | None = None, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    """``connect()`` for asyncio: a new ``psycopg.AsyncConnection``, with the same settings and errors."""
    target = resolve(conninfo)
    kwargs.setdefault("prepare_threshold", None)
    try:
        return await psycopg.AsyncConnection.connect(target, **kwargs)
    except psycopg.Error as exc:
        replacement = _redacted_connect_error(exc, target)
        if replacement is None:
            raise
    raise replacement


def _redacted_connect_error(error: psycopg.Error, target: str) -> psycopg.Error | None:
    """The error to raise in place of ``error`` (of the same class, its text redacted), or None when its text
    shows nothing of ``target``'s password."""
    message = str(error)
    safe = _redact.redact_conninfo_error(message, target)
    if safe == message:
        return None
    return type(error)(safe)


#: the environment variable of the direct connection used only for LISTEN (``listen_target``)
LISTEN_URL_VARIABLE = "PGFLOW_LISTEN_URL"
#: how long ``listener()`` waits for its probe notification, in seconds
PROBE_TIMEOUT = 2.0


def listen_target(listen_conninfo: str | None = None) -> str | None:
    """The connection string meant for LISTEN alone: the argument, then ``PGFLOW_LISTEN_URL``; None when
    neither is set (LISTEN then goes through the main connection string). Its password is remembered like
    ``resolve``'s."""
    target = listen_conninfo if listen_conninfo else os.environ.get(LISTEN_URL_VARIABLE) or None
    if target:
        _redact.remember(target)
    return target


def listener(
    conninfo: str | None,
    listen_conninfo: str | None = None,
    channel: str = "pgflow",
    *,
    stop: threading.Event | None = None,
    probe_timeout: float | None = PROBE_TIMEOUT,
) -> psycopg.Connection[Any] | None:
    """A new autocommit connection LISTENing on ``channel``, opened on ``listen_target(listen_conninfo)`` (or,
    without one, on ``conninfo``), once it is proven that notifications reach it: it listens on a channel of
    its own, a NOTIFY is sent there through ``conninfo`` (the way the engine's notifications are sent), and
    it must arrive within ``probe_timeout`` seconds. Returns None when it does not — behind a pooler in
    transaction mode, LISTEN succeeds but no notification ever reaches the client — or when ``stop`` is set
    meanwhile: the caller then polls. ``probe_timeout=None``: no proof (it was given before). Raises psycopg's
    (redacted) error when a connection fails."""
    target = listen_target(listen_conninfo)
    conn = connect(target if target is not None else conninfo, autocommit=True)
    if probe_timeout is None:
        try:
            conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
        except BaseException:
            conn.close()
            raise
        return conn
    try:
        probe = f"pgflow_probe_{uuid.uuid4().hex}"
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(probe)))
        with connect(conninfo, autocommit=True) as sender:
            sender.execute("select pg_notify(%s, '')", (probe,))
        arrived = False
        deadline = time.monotonic() + probe_timeout
        while not arrived and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            arrived = any(note.channel == probe for note in conn.notifies(timeout=0.1, stop_after=1))
        # behind a transaction pooler this lands on any server connection: harmless there, tidy elsewhere
        conn.execute(sql.SQL("unlisten {}").format(sql.Identifier(probe)))
        if not arrived:
            conn.close()
            return None
        conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
        return conn
    except BaseException:
        conn.close()
        raise


async def alistener(
    conninfo: str | None,
    listen_conninfo: str | None = None,
    channel: str = "pgflow",
    *,
    probe_timeout: float | None = PROBE_TIMEOUT,
) -> psycopg.AsyncConnection[Any] | None:
    """``listener()`` for asyncio: a new autocommit ``psycopg.AsyncConnection`` LISTENing on ``channel`` once a
    probe notification sent through ``conninfo`` was seen to arrive within ``probe_timeout`` seconds (None: no
    proof), else None. Raises psycopg's (redacted) error when a connection fails."""
    target = listen_target(listen_conninfo)
    conn = await aconnect(target if target is not None else conninfo, autocommit=True)
    try:
        if probe_timeout is not None:
            probe = f"pgflow_probe_{uuid.uuid4().hex}"
            await conn.execute(sql.SQL("listen {}").format(sql.Identifier(probe)))
            sender = await aconnect(conninfo, autocommit=True)
            try:
                await sender.execute("select pg_notify(%s, '')", (probe,))
            finally:
                await sender.close()
            arrived = False
            async for note in conn.notifies(timeout=probe_timeout, stop_after=1):
                arrived = note.channel == probe
            await conn.execute(sql.SQL("unlisten {}").format(sql.Identifier(probe)))
            if not arrived:
                await conn.close()
                return None
        await conn.execute(sql.SQL("listen {}").format(sql.Identifier(channel)))
        return conn
    except BaseException:
        await conn.close()
        raise
