"""The schema installer: installs or upgrades the pgflow schema from the SQL files shipped in the package.

The files under ``sql/`` are the current schema, applied in name order; ``sql/migrations/A--B.sql``
upgrades an installed version A to B. Every install runs in one transaction behind an advisory lock,
so two processes migrating at once end with one install and one no-op.

Before the SQL runs, the installer creates the three NOLOGIN roles of docs/security.md (``pgflow_worker``,
``pgflow_producer``, ``pgflow_reader``) when they are missing and the installing role may create roles;
``sql/095_privileges.sql`` grants to those that exist. When it may not, it installs anyway and logs, once,
how a DBA creates them (then ``pgflow migrate`` again grants to them).
"""

from __future__ import annotations

import hashlib
import logging
import re
from importlib import resources
from pathlib import Path

import psycopg
from psycopg import sql

from . import _conninfo
from .errors import PgflowError

log = logging.getLogger("pgflow.migrate")

_LOCK_KEY = "pgflow.migrate"
_VERSION_FILE = "090_schema_version.sql"
# Run before any install or upgrade: refuses a pgflow schema, or objects in it, owned by another role.
_PREFLIGHT_FILE = "000_preflight.sql"
# Grants the roles their privileges (and closes everything to PUBLIC); run again when a role appears.
_PRIVILEGES_FILE = "095_privileges.sql"
#: The roles of docs/security.md, created NOLOGIN by the installer where it may.
ROLES = ("pgflow_worker", "pgflow_producer", "pgflow_reader")


def sql_dir() -> Path:
    """The directory of the engine's SQL files: inside the installed package, else the source tree's ``sql/``."""
    packaged = Path(str(resources.files("pgflow"))) / "sql"
    if (packaged / _VERSION_FILE).is_file():
        return packaged
    source = Path(__file__).resolve().parents[2] / "sql"
    if (source / _VERSION_FILE).is_file():
        return source
    raise PgflowError(f"the pgflow SQL files are missing (looked in {packaged} and {source})")


def shipped_version() -> str:
    """The schema version of the SQL files in this package."""
    text = (sql_dir() / _VERSION_FILE).read_text()
    match = re.search(r"select '([0-9][0-9A-Za-z.\-]*)'::text", text)
    if not match:
        raise PgflowError(f"cannot read the schema version from {_VERSION_FILE}")
    return match.group(1)


def shipped_checksum() -> str:
    """SHA-256 of the schema's SQL files, in the order they are applied."""
    digest = hashlib.sha256()
    for script in sorted(sql_dir().glob("*.sql")):
        digest.update(script.name.encode())
        digest.update(script.read_bytes())
    return digest.hexdigest()


def installed_version(conn: psycopg.Connection) -> str | None:
    """The version installed in the connected database, or None when pgflow is not installed."""
    row = conn.execute("select to_regprocedure('pgflow.schema_version()') is not null").fetchone()
    if not row or not row[0]:
        return None
    row = conn.execute("select pgflow.schema_version()").fetchone()
    return row[0] if row else None


def _upgrade_path(start: str, target: str) -> list[Path]:
    """The migration scripts leading from start to target, following A--B.sql files."""
    steps = {}
    for path in sorted((sql_dir() / "migrations").glob("*--*.sql")):
        source, _, dest = path.stem.partition("--")
        steps[source] = (dest, path)
    path_files: list[Path] = []
    current = start
    while current != target:
        if current not in steps or len(path_files) > len(steps):
            raise PgflowError(
                f"no upgrade path from pgflow schema {start} to {target}: add sql/migrations/{current}--<next>.sql"
            )
        current, script = steps[current]
        path_files.append(script)
    return path_files


def _run_script(conn: psycopg.Connection, script: Path) -> None:
    """Run one SQL file; PgflowError naming the file (and the engine's message) when it fails."""
    try:
        conn.execute(script.read_text().encode())
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc)
        raise PgflowError(f"installing {script.name} failed: {message}") from exc


def _missing_roles(conn: psycopg.Connection) -> list[str]:
    """The roles of ROLES that do not exist in the cluster, in ROLES' order."""
    rows = conn.execute(
        "select a.r from unnest(%s::text[]) with ordinality as a (r, n) "
        "where not exists (select from pg_catalog.pg_roles as p where p.rolname = a.r) order by a.n",
        (list(ROLES),),
    ).fetchall()
    return [r[0] for r in rows]


def _create_roles(conn: psycopg.Connection) -> tuple[list[str], list[str]]:
    """Creates the missing roles NOLOGIN when the connected role may (superuser or CREATEROLE). Returns (the
    roles created, the roles still missing). Roles belong to the whole cluster: an installer of another
    database may create one at the same moment, which then counts as there (its error is caught under a
    savepoint, the transaction goes on)."""
    missing = _missing_roles(conn)
    if not missing:
        return [], []
    row = conn.execute(
        "select rolsuper or rolcreaterole from pg_catalog.pg_roles where rolname = current_user"
    ).fetchone()
    if not row or not row[0]:
        return [], missing
    created = []
    for role in missing:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
            created.append(role)
        except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
            pass  # created by another installer since
    return created, []


def _roles_lack_grants(conn: psycopg.Connection) -> bool:
    """Whether a role of ROLES exists without its USAGE on schema pgflow (created after the install)."""
    row = conn.execute(
        "select exists (select from pg_catalog.pg_roles where rolname = any(%s::text[]) "
        "and not pg_catalog.has_schema_privilege(oid, 'pgflow', 'usage'))",
        (list(ROLES),),
    ).fetchone()
    return bool(row and row[0])


def _say_how_to_create(missing: list[str]) -> None:
    names = ", ".join(missing)
    statements = " ".join(f"create role {role} nologin;" for role in missing)
    log.warning(
        "pgflow installed without the role(s) %s: this role may not create roles. A DBA creates them with "
        "`%s`, then runs `pgflow migrate` again to grant them their privileges (docs/security.md)",
        names,
        statements,
    )


def _current_for_someone_else(conn: psycopg.Connection, target: str) -> bool:
    """Whether the schema is installed at ``target`` and belongs to another role than the connected one."""
    row = conn.execute(
        "select pg_catalog.pg_get_userbyid(nspowner) <> current_user from pg_catalog.pg_namespace"
        " where nspname = 'pgflow'"
    ).fetchone()
    return bool(row and row[0]) and installed_version(conn) == target


def migrate(conninfo: str | None = None) -> str:
    """Install or upgrade the pgflow schema; returns the version now installed. Idempotent and concurrency-safe.

    Refuses (PgflowError) a ``pgflow`` schema, or objects in it, owned by another role than the connected one
    (sql/000_preflight.sql): checked at every call by the schema's owner, also when the schema is already
    current, and before anything is installed or upgraded. Another role (a worker's or producer's login
    running ``pgflow migrate`` before it starts) finding the schema current has nothing to do: it returns the
    version and writes nothing.

    Creates the roles of :data:`ROLES` where the connected role may (else logs once how a DBA creates them),
    and grants them their privileges; on a current schema, grants again only when a role lacks them."""
    target = shipped_version()
    with _conninfo.connect(conninfo) as conn:
        with conn.transaction():
            if _current_for_someone_else(conn, target):
                return target
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (_LOCK_KEY,))
            _run_script(conn, sql_dir() / _PREFLIGHT_FILE)
            current = installed_version(conn)
            created, missing = _create_roles(conn)
            if current == target:
                row = conn.execute(
                    "select checksum from pgflow.schema_migrations where version = %s", (target,)
                ).fetchone()
                if row and row[0] and row[0] != shipped_checksum():
                    raise PgflowError(
                        f"this database has pgflow schema {target} installed from other SQL files than this "
                        f"package's: install into a new database, or ship the change as a new version with an "
                        f"upgrade script in sql/migrations/"
                    )
                if created or _roles_lack_grants(conn):
                    _run_script(conn, sql_dir() / _PRIVILEGES_FILE)
            else:
                if current is None:
                    scripts = sorted(sql_dir().glob("*.sql"))
                else:
                    scripts = _upgrade_path(current, target)
                for script in scripts:
                    _run_script(conn, script)
                conn.execute(
                    "insert into pgflow.schema_migrations (version, checksum) values (%s, %s) on conflict do nothing",
                    (target, shipped_checksum()),
                )
    if missing:
        _say_how_to_create(missing)
    return target
