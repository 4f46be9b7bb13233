"""docs/reference.md is generated from the catalog (scripts/reference.py) and must match it: a comment changed
in sql/ without regenerating the file fails here, with the command that regenerates it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgflow_reference_script", ROOT / "scripts" / "reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


reference = _reference()


def test_committed_reference_is_current(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        generated = reference.generate(conn)
    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert generated == committed, (
        "docs/reference.md is stale (a comment, signature or column in sql/ changed): regenerate it with "
        f"`{reference.REGENERATE}` and commit it"
    )


def test_every_public_function_is_documented(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(reference.FUNCTIONS).fetchall()
        text = reference.generate(conn)
    assert len(rows) > 20
    missing = sorted(f"{name}({identity})" for name, _, _, _, comment, identity in rows if not comment)
    assert missing == [], f"public functions without a `comment on`: {missing}"
    for name, *_ in rows:
        assert f"### pgflow.{name}\n" in text
    assert "### pgflow._" not in text, "internal functions stay out of the reference"
    assert "### pgflow.step_tasks\n" in text and "| `visible_at` |" in text


def test_check_exits_1_on_a_stale_file_and_0_on_a_current_one(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "reference.md"
    stale.write_text("# an old reference\n", encoding="utf-8")
    assert reference.main(["--database-url", database_url, "--output", str(stale), "--check"]) == 1
    assert "scripts/reference.py" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "# an old reference\n", "--check writes nothing"

    assert reference.main(["--database-url", database_url, "--output", str(stale)]) == 0
    assert reference.main(["--database-url", database_url, "--output", str(stale), "--check"]) == 0


def test_a_database_that_cannot_be_reached_exits_2(tmp_path: Path) -> None:
    assert reference.main(["--database-url", "host=127.0.0.1 port=1 connect_timeout=2", "--check"]) == 2
