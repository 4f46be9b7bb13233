"""A real PgBouncer for the tests: Debian's ``pgbouncer`` (scripts/system_deps.sh installs it) started on a
free port of 127.0.0.1 in front of the test server, in transaction mode by default, and stopped afterwards.

PgBouncer refuses to run as root ("PgBouncer should not run as root"): as root it is started with ``-u
postgres`` (it drops to that user once its socket is bound), and its directory belongs to that user. Clients
log in with ``auth_type = trust`` as the user of the test database (the auth file lists it, since trust still
needs the name there); PgBouncer logs in to the server as that user, with the password of the test conninfo
if it has one. The admin console (database ``pgbouncer``) is open to that user, so that tests can read
``SHOW POOLS`` / ``SHOW SERVERS``. A PgBouncer that cannot start raises ``PgBouncerError``: the test fails.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


class PgBouncerError(Exception):
    """PgBouncer could not be found or started; the message holds its log."""


def binary() -> str:
    """The path of the pgbouncer program; PgBouncerError when it is not installed."""
    found = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None)
    if not found:
        raise PgBouncerError("pgbouncer is not installed: run `make system-deps` (Debian package pgbouncer)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote(value: str) -> str:
    """A value of PgBouncer's [databases] connect string or auth file, in double quotes."""
    return '"' + value.replace('"', '""') + '"'


class PgBouncer:
    """Context manager: PgBouncer in front of the server of ``database_url``; ``url(dbname)`` connects through
    it, ``admin()`` to its console. ``pool_mode``: transaction (default), session or statement.
    ``pool_size``: server connections per database and user (``default_pool_size``)."""

    def __init__(
        self, database_url: str, *, pool_mode: str = "transaction", pool_size: int = 2, max_client_conn: int = 200
    ) -> None:
        self.database_url = database_url
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.max_client_conn = max_client_conn
        self.port = 0
        self.user = ""
        self.home: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------------------------------------
    def __enter__(self) -> PgBouncer:
        program = binary()
        # where the server is, as the test database's own connection says (a socket directory or a host)
        with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
            server_host, server_port = conn.info.host, conn.info.port
            row = conn.execute("select current_user").fetchone()
            assert row is not None
            self.user = str(row[0])
        password = conninfo_to_dict(self.database_url).get("password") or ""
        self.home = Path(tempfile.mkdtemp(prefix="pgflow-pgbouncer-"))
        as_root = os.getuid() == 0
        run_as: list[str] = []
        if as_root:
            run_as = ["-u", "postgres"]
            os.chmod(self.home, 0o700)
            postgres = pwd.getpwnam("postgres")
            os.chown(self.home, postgres.pw_uid, postgres.pw_gid)
        auth_file = self.home / "users.txt"
        auth_file.write_text(f"{_quote(self.user)} {_quote(str(password))}\n")
        self.port = free_port()
        ini = self.home / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={server_host} port={server_port}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {auth_file}\n"
            f"admin_users = {self.user}\n"
            f"pool_mode = {self.pool_mode}\n"
            f"default_pool_size = {self.pool_size}\n"
            "min_pool_size = 0\n"
            "reserve_pool_size = 0\n"
            f"max_client_conn = {self.max_client_conn}\n"
            "server_lifetime = 3600\n"
            "server_idle_timeout = 600\n"
            # its log (PgBouncer.output()) says who connected and why a connection closed
            "log_connections = 1\n"
            "log_disconnections = 1\n"
            "log_pooler_errors = 1\n"
        )
        if as_root:
            for path in (auth_file, ini):
                shutil.chown(path, "postgres")
        self.log_path = self.home / "pgbouncer.log"
        self._log = self.log_path.open("wb")
        # not daemonized: the process is ours to stop; it logs to stderr, our file
        self.proc = subprocess.Popen(
            [program, *run_as, str(ini)], stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                log = self.output()
                self._cleanup()
                raise PgBouncerError(f"pgbouncer exited with status {self.proc.returncode} at start:\n{log}")
            try:
                with psycopg.connect(self.url(), autocommit=True, connect_timeout=2) as conn:
                    conn.execute("select 1")
                break
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    log = self.output()
                    self.__exit__()
                    raise PgBouncerError(f"pgbouncer did not accept a connection within 20 s ({exc}):\n{log}") from None
                time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._cleanup()

    def _cleanup(self) -> None:
        if getattr(self, "_log", None) is not None:
            self._log.close()
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    # ------------------------------------------------------------------------------------------------
    def output(self) -> str:
        """PgBouncer's log so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def url(self, dbname: str | None = None, **extra: Any) -> str:
        """A conninfo through PgBouncer to ``dbname`` (default: the test database's)."""
        name = dbname or conninfo_to_dict(self.database_url).get("dbname") or self.user
        return make_conninfo(host="127.0.0.1", port=str(self.port), user=self.user, dbname=str(name), **extra)

    def admin(self) -> psycopg.Connection[Any]:
        """A connection to PgBouncer's console (SHOW POOLS, SHOW SERVERS...): statements without parameters."""
        return psycopg.connect(self.url("pgbouncer"), autocommit=True)

    def show(self, what: str) -> list[dict[str, Any]]:
        """``SHOW <what>`` on the console, as dicts."""
        with self.admin() as conn:
            cur = conn.execute(f"show {what}")  # type: ignore[arg-type,unused-ignore]
            names = [c.name for c in cur.description or []]
            return [dict(zip(names, row)) for row in cur.fetchall()]
