"""Finding a PostgreSQL server for the tests, the demo and the benchmarks.

In order: $DATABASE_URL; the local server (socket, then 127.0.0.1:5432); a throwaway cluster started
under the repository (``.pgdata/``) with the PostgreSQL binaries on this machine, stopped on exit.
``scratch_database()`` then creates a fresh database on that server and drops it afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[pgflow] {message}", file=sys.stderr, flush=True)


def reachable(conninfo: str) -> bool:
    try:
        with psycopg.connect(conninfo, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except psycopg.Error:
        return False


def _bindir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a private cluster under .pgdata/ and yield a superuser conninfo; stop it afterwards."""
    bindir = _bindir()
    if bindir is None:
        raise SystemExit(
            "no PostgreSQL server is reachable and no PostgreSQL binaries (initdb) were found: install "
            "postgresql (Debian: apt-get install postgresql) or set DATABASE_URL"
        )
    base = ROOT / ".pgdata"
    data = base / "data"
    sock = Path(tempfile.mkdtemp(prefix="pgflow-sock-"))
    port = _free_port()
    as_user: list[str] = []
    user = pwd.getpwuid(os.getuid()).pw_name
    if os.getuid() == 0:  # initdb refuses to run as root: run the cluster as the postgres user
        user = "postgres"
        as_user = ["runuser", "-u", "postgres", "--"]
    if base.exists():
        shutil.rmtree(base)
    base.mkdir()
    if as_user:
        shutil.chown(base, user)
        shutil.chown(sock, user)
    log(f"starting a throwaway PostgreSQL cluster ({bindir}) in {data}, port {port}")
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {sock} -c listen_addresses='' -c fsync=off -c max_connections=200",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield make_conninfo(host=str(sock), port=str(port), user=user, dbname="postgres")
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(sock, ignore_errors=True)


@contextlib.contextmanager
def server() -> Iterator[str]:
    """Yield a conninfo for a server where we may create databases."""
    url = os.environ.get("DATABASE_URL")
    if url:
        if not reachable(url):
            raise SystemExit(f"DATABASE_URL is set but the database cannot be reached: {url}")
        log("using the server of DATABASE_URL")
        yield url
        return
    for candidate in ("dbname=postgres", "host=127.0.0.1 port=5432 dbname=postgres"):
        if reachable(candidate):
            log(f"using the local PostgreSQL server ({candidate})")
            yield candidate
            return
    with throwaway_cluster() as conninfo:
        yield conninfo


@contextlib.contextmanager
def scratch_database(admin: str, prefix: str = "pgflow_test") -> Iterator[str]:
    """Create a fresh database on the server of ``admin``, yield its conninfo, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    log(f"created database {name}")
    try:
        yield make_conninfo(admin, dbname=name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        log(f"dropped database {name}")
