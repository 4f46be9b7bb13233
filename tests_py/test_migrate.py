"""The installer: `pgflow migrate` and pgflow.migrate() install the shipped schema once, record its
version, and are safe to run again and from several processes at once."""

from __future__ import annotations

import subprocess
import sys

import psycopg

import pgflow
from pgflow.migrate import shipped_version

from .conftest import scratch_database


def _migrate_cli(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pgflow.cli", "--database-url", url, "migrate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_concurrent_migrations_install_once(admin_url: str) -> None:
    with scratch_database(admin_url) as url:
        procs = [_migrate_cli(url) for _ in range(4)]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
        with psycopg.connect(url) as conn:
            assert conn.execute("select pgflow.schema_version()").fetchone() == (shipped_version(),)
            rows = conn.execute("select version from pgflow.schema_migrations").fetchall()
            assert rows == [(shipped_version(),)]


def test_migrate_is_idempotent_and_keeps_data(admin_url: str) -> None:
    with scratch_database(admin_url) as url:
        assert pgflow.migrate(url) == shipped_version()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("""select pgflow.define_flow('kept', '[{"slug": "a"}]')""")
        assert pgflow.migrate(url) == shipped_version()
        with psycopg.connect(url) as conn:
            assert conn.execute("select count(*) from pgflow.flows where flow_slug = 'kept'").fetchone() == (1,)


def test_migrate_reports_an_unreachable_database() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pgflow.cli", "--database-url", "host=127.0.0.1 port=1 connect_timeout=2", "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot reach the database" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_migrate_refuses_a_same_version_schema_from_other_files(admin_url: str) -> None:
    """A database whose installed schema has this version but came from other SQL files (a development
    build, say) is not silently left as it is."""
    with scratch_database(admin_url) as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("update pgflow.schema_migrations set checksum = 'something else'")
        proc = subprocess.run(
            [sys.executable, "-m", "pgflow.cli", "--database-url", url, "migrate"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 1
        assert "installed from other SQL files" in proc.stderr
        assert "Traceback" not in proc.stderr
