"""Writes docs/reference.md, the SQL reference, from the catalog of a freshly installed database.

Every public function of schema ``pgflow`` (a name not starting with ``_``) with its arguments, its result and
its ``comment on``; every table and composite type with its comment and its columns. The output depends only on
the catalog (sorted by name, no dates), so it is the same for the same sql/ files.

    .venv/bin/python scripts/reference.py                       # rewrite docs/reference.md
    .venv/bin/python scripts/reference.py --check               # exit 1 when docs/reference.md is stale
    .venv/bin/python scripts/reference.py --database-url URL    # read an installed database instead

Without ``--database-url`` the schema is installed into a scratch database (scripts/database.py finds the
server) that is dropped afterwards. Exit status: 0 written (or up to date), 1 stale (``--check``), 2 the
database cannot be used.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "reference.md"
REGENERATE = ".venv/bin/python scripts/reference.py"

HEADER = f"""# SQL reference (schema `pgflow`)

Generated from the catalog of a freshly installed database by `scripts/reference.py`: the `comment on` of each
public function and table. Do not edit by hand; after changing a comment in `sql/`, regenerate it with
`{REGENERATE}` (`tests_py/test_reference.py` fails while it is stale).
docs/engine.md explains the rules behind these functions.
"""

FUNCTIONS = """
select p.proname, pg_catalog.pg_get_function_arguments(p.oid), pg_catalog.pg_get_function_result(p.oid),
       p.prokind::text, pg_catalog.obj_description(p.oid, 'pg_proc'),
       pg_catalog.pg_get_function_identity_arguments(p.oid)
from pg_catalog.pg_proc as p
where p.pronamespace = 'pgflow'::regnamespace and p.proname !~ '^_'
  and not exists (
    select from pg_catalog.pg_depend as d
    where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e'
  )
"""

RELATIONS = """
select c.oid, c.relname, c.relkind::text, pg_catalog.obj_description(c.oid, 'pg_class'),
       pg_catalog.obj_description(c.reltype, 'pg_type')
from pg_catalog.pg_class as c
where c.relnamespace = 'pgflow'::regnamespace and c.relkind in ('r', 'p', 'v', 'c') and c.relname !~ '^_'
"""

COLUMNS = """
select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid), pg_catalog.col_description(a.attrelid, a.attnum)
from pg_catalog.pg_attribute as a
left join pg_catalog.pg_attrdef as d on d.adrelid = a.attrelid and d.adnum = a.attnum
where a.attrelid = %s and a.attnum > 0 and not a.attisdropped
order by a.attnum
"""


def _cell(text: str | None) -> str:
    """One Markdown table cell: no line breaks, pipes escaped."""
    if not text:
        return ""
    return " ".join(text.split()).replace("|", "\\|")


def _split_arguments(arguments: str) -> list[str]:
    """pg_get_function_arguments' text split at its top-level commas (not those in quotes or parentheses)."""
    parts: list[str] = []
    depth, quoted, start = 0, False, 0
    for i, char in enumerate(arguments):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(arguments[start:i].strip())
            start = i + 1
    if arguments[start:].strip():
        parts.append(arguments[start:].strip())
    return parts


def _signature(what: str, name: str, arguments: str) -> str:
    """``function pgflow.name(arguments)`` on one line, or one argument a line when that is too long."""
    line = f"{what} pgflow.{name}({arguments})"
    if len(line) <= 100:
        return line
    inner = ",\n".join(f"  {part}" for part in _split_arguments(arguments))
    return f"{what} pgflow.{name}(\n{inner}\n)"


def _paragraph(text: str | None) -> str:
    return " ".join(text.split()) if text else "*(no comment)*"


def generate(conn: psycopg.Connection[Any]) -> str:
    """The reference as Markdown, read from the catalog of the connected database (pgflow installed)."""
    functions = sorted(conn.execute(FUNCTIONS).fetchall(), key=lambda row: (row[0], row[5]))
    relations = sorted(conn.execute(RELATIONS).fetchall(), key=lambda row: row[1])
    out = [HEADER]

    out.append("## Functions\n")
    for name in sorted({row[0] for row in functions}):
        out.append(f"- [`pgflow.{name}`](#pgflow{name.replace('_', '')})")
    out.append("")
    for name in sorted({row[0] for row in functions}):
        out.append(f"### pgflow.{name}\n")
        for _, arguments, result, kind, comment, _ in (row for row in functions if row[0] == name):
            what = "procedure" if kind == "p" else "function"
            returns = "" if kind == "p" else f"\nreturns {result}"
            out.append(f"```sql\n{_signature(what, name, arguments)}{returns}\n```\n")
            out.append(_paragraph(comment) + "\n")

    for title, kinds in (("Tables", {"r", "p"}), ("Views", {"v"}), ("Composite types", {"c"})):
        chosen = [row for row in relations if row[2] in kinds]
        if not chosen:
            continue
        out.append(f"## {title}\n")
        for oid, name, kind, comment, type_comment in chosen:
            out.append(f"### pgflow.{name}\n")
            out.append(_paragraph(type_comment if kind == "c" else comment) + "\n")
            out.append("| column | type | not null | default | comment |")
            out.append("|---|---|---|---|---|")
            for column, type_name, not_null, default, column_comment in conn.execute(COLUMNS, (oid,)):
                out.append(
                    f"| `{column}` | {_cell(type_name)} | {'yes' if not_null else ''} | "
                    f"{_cell(default) and '`' + _cell(default) + '`'} | {_cell(column_comment)} |"
                )
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _from_scratch() -> str:
    """Installs the schema into a scratch database and returns the reference read from it."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import database  # the scripts' own helper: finds a server, creates and drops databases

    import pgflow

    with database.server() as admin, database.scratch_database(admin, "pgflow_reference") as url:
        pgflow.migrate(url)
        with psycopg.connect(url) as conn:
            return generate(conn)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/reference.md from the catalog.")
    parser.add_argument("--database-url", help="read this installed database instead of a scratch one")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs, write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the file (default: docs/reference.md)")
    args = parser.parse_args(argv)
    try:
        if args.database_url:
            with psycopg.connect(args.database_url) as conn:
                text = generate(conn)
        else:
            text = _from_scratch()
    except psycopg.Error as error:
        print(f"reference: cannot read the catalog: {error}".rstrip(), file=sys.stderr)
        return 2
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current == text:
            return 0
        print(f"reference: {args.output} is stale; regenerate it with {REGENERATE}", file=sys.stderr)
        return 1
    if current != text:
        args.output.write_text(text, encoding="utf-8")
        print(f"reference: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
