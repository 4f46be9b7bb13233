"""The measures of bench/common.py that the benchmark's "Where the time goes" figures rest on: CPU of a
process tree (children that exited included), peak resident memory, the server's CPU and WAL; and the
rewriting of both generated blocks of bench/README.md."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import common, run  # noqa: E402

SPIN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


def test_tree_cpu_counts_children_that_exited() -> None:
    # a parent that starts a child spinning 0.6 s of CPU, waits for it, then sleeps: the child's time is in
    # the parent's children times once it has been waited for
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {SPIN.format(seconds=0.6)!r}])\n"
            "time.sleep(30)\n",
        ]
    )
    try:
        before = common.tree_cpu([parent.pid])
        deadline = time.monotonic() + 20
        while common.tree_cpu([parent.pid]) - before < 0.5:
            assert time.monotonic() < deadline, "the child's CPU never showed in its parent's tree"
            time.sleep(0.1)
        time.sleep(1.0)  # the child has exited and been waited for by now
        assert common.tree_cpu([parent.pid]) - before >= 0.5
        assert len(common._descendants([parent.pid], common._processes())) == 1  # the child is gone
    finally:
        parent.kill()
        parent.wait()


def test_peak_rss_reads_vmhwm_of_each_process() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nb = bytearray(150 * 2**20)\nb[::4096] = b'x' * len(b[::4096])\n"
            "del b\nprint('ready', flush=True)\ntime.sleep(30)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        peaks = common.peak_rss_mib([child.pid])
        assert len(peaks) == 1
        assert peaks[0] >= 150  # the peak, though the memory was freed
    finally:
        child.kill()
        child.wait()


def test_usage_counts_server_cpu_and_wal(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        if common.postmaster_pid(conn) is None:
            pytest.skip("the PostgreSQL server does not run on this machine")
        usage = common.Usage(conn, []).start()
        conn.execute("create temp table bench_usage_probe (x text)")
        conn.execute("insert into bench_usage_probe select repeat('x', 100) from generate_series(1, 200000)")
        conn.execute("create table bench_usage_wal as select i from generate_series(1, 100000) as i")
        conn.execute("drop table bench_usage_wal")
        used = usage.stop(100)
    assert used["postgres_cpu_s"] > 0.05
    assert used["wal_bytes"] > 1_000_000  # 100,000 logged rows
    assert used["wal_bytes_per_task"] == pytest.approx(used["wal_bytes"] / 100, rel=0.01)
    assert used["client_cpu_s"] == 0


def test_readme_blocks_are_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        f"head\n{run.START}\nold table\n{run.END}\nmiddle\n{run.TIME_START}\nold time\n{run.TIME_END}\ntail\n"
    )
    monkeypatch.setattr(run, "README", readme)
    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    usage = {"postgres_cpu_ms_per_task": 0.5, "client_cpu_ms_per_task": 0.25, "wal_bytes_per_task": 1234.0}
    side = {
        "elements": 100000,
        "tasks_per_s": 2000.0,
        "seconds": 50.0,
        "start_run_seconds": 1.0,
        "usage": usage,
        "worker_peak_rss_mib": [60.0, 70.0],
        "worker_peak_rss_max_mib": 70.0,
        "worker_peak_rss_sum_mib": 130.0,
    }

    def pair(base: str, ratio: float, **extra: object) -> dict[str, object]:
        return {
            base: [{}],
            "pgflow": [extra],
            f"{base}_tasks_per_s": 1000.0,
            "tasks_per_s": 1000.0 * ratio,
            "ratio": ratio,
            f"{base}_usage": usage,
            "usage": usage,
        }

    results = {
        "started_at": "2026-01-01T00:00:00+00:00",
        "scenarios": {
            "big_map": side,
            "sql": {"batched": pair("floor", 0.7, connections=4), "per_task": pair("floor", 0.4, connections=4)},
            "flow_control": pair("uncapped", 0.85),
        },
    }
    run.write(results, update_readme=True)
    text = readme.read_text()
    assert "old table" not in text and "old time" not in text
    assert text.startswith("head\n") and "\nmiddle\n" in text and text.endswith("tail\n")
    assert "| 10 big map | 100,000 elements + reduce, 4 workers |" in text
    assert "max 70 MiB, sum 130 MiB over 2 processes" in text
    assert "| 10 big map (100,000) | pgflow | 2,000 | 0.500 | 0.250 | 0.750 | 1,234 |" in text
    assert "one complete_tasks per claim | 700 tasks/s | 70% of the floor (1,000 tasks/s) | met (≥ 60%" in text
    assert "40% of the floor committing once per job (1,000 tasks/s) | **missed** (≥ 50%" in text
    assert "85% of the same without cap and priorities (1,000 tasks/s) | met (≥ 80%)" in text
    assert "| 11 flow control | capped, priorities | 850 |" in text
