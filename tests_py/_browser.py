"""The real browser of the dashboard's tests and screenshots: Debian's chromium and chromium-driver driven by
Selenium, and the dashboard served by uvicorn in a thread on a free port of 127.0.0.1.

Used by tests_py/test_dashboard_browser.py and scripts/screenshots.py. A missing browser is an error naming how
to install it (scripts/system_deps.sh, which `make test` runs), never a skip.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

CHROMIUM = os.environ.get("PGFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PGFLOW_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing_browser() -> str | None:
    """Why the browser cannot start (a sentence naming make test and scripts/system_deps.sh), or None."""
    absent = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not absent:
        return None
    return (
        f"the dashboard's browser tests need Debian's chromium and chromium-driver ({', '.join(absent)} missing): "
        "`make test` installs them through scripts/system_deps.sh (as root), or apt-get install chromium "
        "chromium-driver"
    )


@contextmanager
def chrome(width: int = 1360, height: int = 900) -> Iterator[Any]:
    """A headless Chromium driven by Selenium; RuntimeError (missing_browser) when it is not installed."""
    problem = missing_browser()
    if problem:
        raise RuntimeError(problem)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        "--force-device-scale-factor=1",
        "--lang=en-US",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def dashboard(conninfo: str, token: str | None = None) -> Iterator[str]:
    """The dashboard of ``conninfo`` served on 127.0.0.1 and a free port, in a thread; yields its base URL."""
    import uvicorn

    from pgflow.dashboard.app import create_app

    config = uvicorn.Config(create_app(conninfo, token=token), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


# ------------------------------------------------------------------------------------------------ sample data
ANALYZE = [
    {"slug": "fetch"},
    {"slug": "sentiment", "depends_on": ["fetch"]},
    {"slug": "topics", "depends_on": ["fetch"]},
    {"slug": "score", "type": "map", "depends_on": ["topics"]},
    {"slug": "merge", "depends_on": ["sentiment", "score"]},
]


def output_of(step: str, task_input: Any) -> Any:
    """What the sample flow's handlers return."""
    if step == "fetch":
        return {"text": "PostgreSQL runs the workflow engine; Python runs the handlers.", "bytes": 1834}
    if step == "sentiment":
        return "positive"
    if step == "topics":
        return ["postgres", "workflows", "python"]
    if step == "score":
        return len(str(task_input))
    return {"sentiment": "positive", "scores": [8, 9, 6]}


def drive(
    conn: psycopg.Connection[Any],
    flow: str,
    worker: str,
    *,
    stop_after: int | None = None,
    fail: str | None = None,
) -> int:
    """Claims and completes the tasks of ``flow`` as a worker would (``fail``: that step's tasks fail without
    retry), until none is left or ``stop_after`` tasks were completed (the rest claimed stay started).
    Returns the number completed."""
    done = 0
    while True:
        tasks = conn.execute(
            "select t.run_id, t.step_slug, t.task_index, t.attempt, t.input "
            "from pgflow.poll_for_tasks(%s, array[%s], 10) as t",
            (worker, flow),
        ).fetchall()
        if not tasks:
            return done
        for run_id, step, index, attempt, task_input in tasks:
            if stop_after is not None and done >= stop_after:
                continue
            if step == fail:
                conn.execute(
                    "select pgflow.fail_task(%s, %s, %s, %s, %s, retry => false)",
                    (run_id, step, index, "ValueError: the page had no text to score", attempt),
                )
                continue
            conn.execute(
                "select pgflow.complete_task(%s, %s, %s, %s, %s)",
                (run_id, step, index, json.dumps(output_of(step, task_input)), attempt),
            )
            done += 1
        if stop_after is not None and done >= stop_after:
            return done
