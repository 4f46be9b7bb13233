"""The test command behind `make test`.

Finds a server (scripts/database.py), creates a fresh database, installs the schema with
`pgflow migrate`, then runs: the lint stage (sqlfluff over the SQL, `ruff check` and `ruff format --check`
over the Python, `mypy` strict over python_client/pgflow; settings in pyproject.toml), pg_prove over
tests_sql/ (including the plpgsql_check pass over every function), and pytest over tests_py/. Drops the
database at the end.

    python scripts/run_tests.py              # everything
    python scripts/run_tests.py sql py       # a subset: lint, sql, py
    python scripts/run_tests.py py -- -k map # extra arguments after -- go to pytest
    python scripts/run_tests.py sql -- tests_sql/start_delay  # only the pgTAP files under these paths
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import database
from psycopg.conninfo import conninfo_to_dict

ROOT = database.ROOT
BIN = Path(sys.executable).parent
STAGES = ("lint", "sql", "py")


def run(name: str, cmd: list[str], env: dict[str, str] | None = None) -> bool:
    database.log(f"{name}: {' '.join(cmd)}")
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **(env or {})})
    database.log(f"{name}: {'ok' if result.returncode == 0 else 'FAILED'} in {time.monotonic() - started:.1f} s")
    return result.returncode == 0


def sql_test_files() -> list[str]:
    files = (ROOT / "tests_sql").glob("*/*.sql")
    return sorted(str(p.relative_to(ROOT)) for p in files if p.parent.name != "helpers")


def libpq_env(conninfo: str) -> dict[str, str]:
    """PG* variables for tools that take no connection string (pg_prove)."""
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "dbname": "PGDATABASE", "password": "PGPASSWORD"}
    params = conninfo_to_dict(conninfo)
    return {env: str(params[key]) for key, env in names.items() if params.get(key)}


def sql_setup_files() -> list[str]:
    helpers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests_sql" / "helpers").glob("*.sql"))
    return ["tests_sql/setup.sql", *helpers]


def main(argv: list[str]) -> int:
    extra: list[str] = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1 :]
        argv = argv[: argv.index("--")]
    stages = argv or list(STAGES)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        print(f"unknown stage(s) {unknown}; choose from {STAGES}", file=sys.stderr)
        return 2

    results: dict[str, bool] = {}
    if "lint" in stages:
        results["sqlfluff"] = run("sqlfluff", [str(BIN / "sqlfluff"), "lint", "sql", "tests_sql"])
        results["ruff check"] = run("ruff check", [str(BIN / "ruff"), "check", "."])
        results["ruff format"] = run("ruff format", [str(BIN / "ruff"), "format", "--check", "."])
        # strict, on the package (pyproject.toml [tool.mypy])
        results["mypy"] = run("mypy", [str(BIN / "mypy")])

    if "sql" in stages or "py" in stages:
        with database.server() as admin, database.scratch_database(admin) as url:
            if not run("migrate", [str(BIN / "pgflow"), "--database-url", url, "migrate"]):
                return 1
            if "sql" in stages:
                setup = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url]
                for path in sql_setup_files():
                    setup += ["-f", path]
                results["setup"] = run("pgTAP setup", setup)
                # `sql -- tests_sql/<topic> ...`: only the test files under those paths
                chosen = [f for f in sql_test_files() if not extra or any(f.startswith(a.rstrip("/")) for a in extra)]
                results["pg_prove"] = results["setup"] and run(
                    "pg_prove", ["pg_prove", "--failures", "--comments", *chosen], env=libpq_env(url)
                )
            if "py" in stages:
                targets = [] if any(not arg.startswith("-") for arg in extra) else ["tests_py"]
                results["pytest"] = run(
                    "pytest",
                    [str(BIN / "python"), "-m", "pytest", *targets, *extra],
                    env={"PGFLOW_TEST_DATABASE_URL": url, "PGFLOW_TEST_ADMIN_URL": admin},
                )

    for name, ok in results.items():
        database.log(f"{name:11} {'ok' if ok else 'FAILED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
