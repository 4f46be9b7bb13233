"""Stateful property-based tests of the SQL API: Hypothesis drives ``PgflowMachine`` (tests_py/_props_machine.py)
through random flows and random sequences of valid calls with fake time, and checks SPEC §6's invariants,
the error contract and a small model after every call.

Two modes, one test:

* Under ``make test`` (plain pytest) it runs a bounded, derandomized search (profile ``pgflow-ci``: the same
  examples on every run; ``PGFLOW_PROPS_EXAMPLES`` and ``PGFLOW_PROPS_STEPS`` change its size).
* With ``PGFLOW_FUZZ_SECONDS=N`` (``make fuzz FUZZ_SECONDS=N``) it searches with fresh random seeds for about
  N seconds, keeps failing examples in Hypothesis's database under ``.hypothesis/`` (replayed first next
  time), prints every distinct failure with its shortest call sequence as it finds it, and fails at the end
  if it found any. A failure already found is not searched for again in the same session, so one frequent
  bug does not hide the others; ``PGFLOW_FUZZ_KNOWN`` (signatures separated by ``|``) names failures to
  leave aside from the start.

``PGFLOW_PROPS_API=0.1`` points the machine at the released 0.1 engine (``PYTHONPATH`` of a 0.1 client), whose
``fail_task`` has no ``retry`` parameter: the machine then never passes it.

The database is created for this module and dropped after it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.stateful import run_state_machine_as_test

import pgflow

from ._props_machine import PgflowMachine, PropertyViolation
from .conftest import scratch_database

ROOT = Path(__file__).resolve().parents[1]

# no "explain" phase: it replays a failure many more times to point at lines, which the signatures do better
_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)

settings.register_profile(
    "pgflow-ci",
    max_examples=int(os.environ.get("PGFLOW_PROPS_EXAMPLES", "150")),
    stateful_step_count=int(os.environ.get("PGFLOW_PROPS_STEPS", "40")),
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    phases=_PHASES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "pgflow-fuzz",
    max_examples=25,
    stateful_step_count=int(os.environ.get("PGFLOW_PROPS_STEPS", "40")),
    deadline=None,
    derandomize=False,
    print_blob=False,
    phases=_PHASES,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def machine_connection(admin_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit superuser connection to a fresh database with the pgflow schema, dropped afterwards."""
    with scratch_database(admin_url, "pgflow_props") as url:
        pgflow.migrate(url)
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn


def test_sql_api_state_machine(machine_connection: psycopg.Connection[Any]) -> None:
    """Random flows and call sequences keep SPEC §6's invariants, the PF error contract and the model."""
    PgflowMachine.conn = machine_connection
    PgflowMachine.known_signatures = set()
    try:
        seconds = float(os.environ.get("PGFLOW_FUZZ_SECONDS", "0"))
        if seconds > 0:
            fuzz(seconds)
        else:
            run_state_machine_as_test(PgflowMachine, settings=settings.get_profile("pgflow-ci"))
    finally:
        PgflowMachine.conn = None
        PgflowMachine.known_signatures = set()


def _leaves(exc: BaseException) -> list[BaseException]:
    """The exceptions inside an exception group (Hypothesis reports several distinct failures as one)."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple):
        return [leaf for e in inner for leaf in _leaves(e)]
    return [exc]


def fuzz(seconds: float) -> None:
    """Searches for about ``seconds`` (whole rounds of 25 examples, each failure shrunk), printing each
    distinct failure when found; fails with all of them at the end."""
    directory = ROOT / ".hypothesis"
    directory.mkdir(exist_ok=True)
    (directory / ".gitignore").write_text("*\n")  # nothing of the example database goes to git
    fuzz_settings = settings(
        settings.get_profile("pgflow-fuzz"), database=DirectoryBasedExampleDatabase(directory / "examples")
    )
    known = {s for s in os.environ.get("PGFLOW_FUZZ_KNOWN", "").split("|") if s}
    PgflowMachine.known_signatures = set(known)
    found: dict[str, str] = {}
    started = time.monotonic()
    rounds = 0
    while time.monotonic() - started < seconds:
        rounds += 1
        try:
            run_state_machine_as_test(PgflowMachine, settings=fuzz_settings)
        except BaseException as exc:  # every failure is reported below, then the search goes on
            for leaf in _leaves(exc):
                if isinstance(leaf, PropertyViolation):
                    signature = leaf.signature
                elif isinstance(leaf, Flaky):
                    signature = f"flaky: {str(leaf).splitlines()[0]}"
                else:
                    raise
                text = "\n".join([str(leaf), *getattr(leaf, "__notes__", [])])
                found.setdefault(signature, text)
                PgflowMachine.known_signatures.add(signature)
                print(f"\n=== found after {time.monotonic() - started:.0f} s: {signature}\n{text}\n", flush=True)
    summary = "\n".join(f"- {s}" for s in found)
    print(
        f"\nfuzzed {rounds} rounds in {time.monotonic() - started:.0f} s; {len(found)} distinct failure(s)\n{summary}"
    )
    assert not found, f"{len(found)} distinct failure(s):\n{summary}"
