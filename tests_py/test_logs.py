"""Worker logs as JSON: `pgflow worker --log-format json` as a real subprocess, its stderr parsed line by line.

- every line of stderr is one JSON object with time, level, logger, message and worker_id;
- every line about a task carries run_id, flow_slug, step_slug, task_index and attempt of that task;
- Worker(log_format="json") in-process writes the same lines, and undoes it when run() returns.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

import pgflow

ROOT = Path(__file__).resolve().parent.parent

# the flow the subprocess serves (tests_py.test_logs:log_flow): a map whose element "bad" fails
log_flow = pgflow.Flow("json_logs_flow", max_attempts=2, base_delay=0)


@log_flow.map(over=None)
def handle(item: Any) -> Any:
    if item == "bad":
        raise ValueError("bad item")
    return item


def task_lines(lines: list[dict[str, Any]], run_id: str) -> list[dict[str, Any]]:
    return [line for line in lines if line.get("run_id") == run_id]


def test_worker_subprocess_writes_json_lines(database_url: str) -> None:
    worker_id = f"json-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "python_client")}
    cmd = [
        sys.executable,
        "-m",
        "pgflow.cli",
        "worker",
        "tests_py.test_logs:log_flow",
        "--log-format",
        "json",
        "-v",
        "--worker-id",
        worker_id,
        "--database-url",
        database_url,
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with pgflow.Client(database_url) as client:
            client.define(log_flow)
            run = client.start_run(log_flow, ["good", "bad"])
            with pytest.raises(pgflow.RunFailed):
                client.wait(run, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    raw = [line for line in stderr.splitlines() if line.strip()]
    assert raw, "the worker wrote nothing"
    lines = []
    for line in raw:
        try:
            lines.append(json.loads(line))
        except json.JSONDecodeError:  # a traceback's lines are inside the object, never on lines of their own
            raise AssertionError(f"a line of stderr is not JSON: {line!r}\n{stderr}") from None
    for line in lines:
        assert {"time", "level", "logger", "message", "worker_id"} <= set(line), line
        assert line["worker_id"] == worker_id, line
    about_run = task_lines(lines, str(run.run_id))
    failed = [line for line in about_run if line["level"] == "ERROR"]
    assert len(failed) == 2, about_run  # the bad element's two attempts
    for attempt, line in enumerate(sorted(failed, key=lambda line: line["attempt"]), start=1):
        assert (line["flow_slug"], line["step_slug"], line["task_index"], line["attempt"]) == (
            "json_logs_flow",
            "handle",
            1,
            attempt,
        ), line
        assert "ValueError: bad item" in line["message"] and "ValueError: bad item" in line["exception"], line
    done = [line for line in about_run if line["level"] == "DEBUG" and line["task_index"] == 0]
    assert done and done[0]["attempt"] == 1 and done[0]["step_slug"] == "handle", about_run


def test_worker_log_format_json_in_process(database_url: str, flow_slug: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    flow = pgflow.Flow(flow_slug, max_attempts=1)

    @flow.step
    def fail(input: Any) -> Any:
        raise pgflow.NonRetryableError("no")

    worker = pgflow.Worker(database_url, flow, log_format="json", worker_id="inproc-json")
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        with pgflow.Client(database_url) as client:
            run = client.start_run(flow, {})
            with pytest.raises(pgflow.RunFailed):
                client.wait(run, timeout=60)
    finally:
        worker.stop()
        thread.join(30)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    about = task_lines(lines, str(run.run_id))
    assert about and about[0]["flow_slug"] == flow_slug and about[0]["step_slug"] == "fail", lines
    assert about[0]["task_index"] == 0 and about[0]["attempt"] == 1 and about[0]["worker_id"] == "inproc-json"
    assert any(line["message"].startswith("worker inproc-json stopped") for line in lines), lines
    # undone once run() returned: the pgflow logger propagates again and has no JSON handler left
    logger = logging.getLogger("pgflow")
    assert logger.propagate and not logger.handlers


def test_bad_log_format(database_url: str) -> None:
    with pytest.raises(pgflow.InvalidInput, match="log_format"):
        pgflow.Worker(database_url, log_flow, log_format="xml")
