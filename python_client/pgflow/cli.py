"""The ``pgflow`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg

from . import errors
from .migrate import migrate


def _cmd_migrate(args: argparse.Namespace) -> int:
    version = migrate(args.database_url)
    print(f"pgflow schema {version} installed")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgflow", description="pgflow: DAG workflows inside PostgreSQL")
    parser.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL connection string (default: $DATABASE_URL, then libpq's defaults)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("migrate", help="install or upgrade the pgflow schema")
    p.set_defaults(func=_cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except errors.PgflowError as exc:
        print(f"pgflow: {exc}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        print(f"pgflow: cannot reach the database: {message}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"pgflow: {errors.translate(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
