"""The dashboard in a real headless browser (Debian's chromium + chromium-driver, driven by Selenium): the runs
page, a run whose steps change colour as a real worker completes them (no reload), and a cancel through the
button and its confirmation. A missing browser fails the test, naming scripts/system_deps.sh."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import pgflow

from ._browser import chrome, dashboard, missing_browser

#: how long the browser may take to show a change, in seconds (a bound for waiting, not a measured threshold)
PATIENCE = 30


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    with chrome() as driver:
        yield driver


def node_status(driver: Any, step: str) -> str:
    return str(driver.find_element("css selector", f'g.node[data-step="{step}"]').get_attribute("data-status"))


def test_a_run_recolours_live_and_is_cancelled_from_the_page(browser: Any, database_url: str, flow_slug: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    gates = {"fetch": threading.Event(), "store": threading.Event()}
    flow = pgflow.Flow(flow_slug, timeout=120)

    @flow.step
    def fetch(input: Any) -> Any:
        gates["fetch"].wait(PATIENCE)
        return {"rows": 3}

    @flow.step(depends_on=[fetch])
    def store(deps: Any) -> Any:
        gates["store"].wait(PATIENCE)
        return "stored"

    worker = pgflow.Worker(database_url, [flow], concurrency=2, poll_interval=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    with pgflow.Client(database_url) as client:
        client.define(flow)
        run = client.start_run(flow, {"source": "browser"})
    thread.start()
    try:
        with dashboard(database_url) as base:
            browser.get(base + "/runs?flow=" + flow_slug)
            link = browser.find_element("css selector", f'a.run-link[href="/runs/{run.run_id}"]')
            link.click()
            wait = WebDriverWait(browser, PATIENCE)
            wait.until(lambda d: node_status(d, "fetch") == "started")
            assert node_status(browser, "store") == "created"
            browser.execute_script("window.__same_page = true")

            gates["fetch"].set()
            wait.until(lambda d: node_status(d, "fetch") == "completed" and node_status(d, "store") == "started")
            assert browser.execute_script("return window.__same_page === true"), "the page was reloaded"
            badge = browser.find_element("css selector", "#step-fetch .step-status .badge")
            assert badge.text == "completed"
            # the completed colour of dashboard.css (--completed-bg), once its 0.3 s transition is over
            wait.until(
                lambda d: (
                    d.execute_script(
                        "return getComputedStyle(document.querySelector('g.node[data-step=\"fetch\"] rect')).fill"
                    )
                    == "rgb(220, 245, 228)"
                )
            )

            browser.find_element("id", "cancel-run").click()
            alert = wait.until(lambda d: d.switch_to.alert)
            assert "Cancel this run" in alert.text
            alert.accept()
            wait.until(lambda d: d.find_element("css selector", "#run-status .badge").text == "cancelled")
            assert "run cancelled" in browser.find_element("id", "message").text
            assert node_status(browser, "store") == "cancelled"
        with psycopg.connect(database_url) as conn:
            row = conn.execute("select status from pgflow.runs where run_id = %s", (run.run_id,)).fetchone()
        assert row == ("cancelled",)
    finally:
        for gate in gates.values():
            gate.set()
        worker.stop()
        thread.join(PATIENCE)


def test_dismissing_the_confirmation_cancels_nothing(browser: Any, database_url: str, flow_slug: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute('select pgflow.define_flow(%s, \'[{"slug": "only"}]\')', (flow_slug,))
        run_id = conn.execute("select run_id from pgflow.start_run(%s)", (flow_slug,)).fetchone()[0]  # type: ignore[index]
        with dashboard(database_url) as base:
            browser.get(f"{base}/runs/{run_id}")
            browser.find_element("id", "cancel-run").click()
            WebDriverWait(browser, PATIENCE).until(lambda d: d.switch_to.alert).dismiss()
            assert browser.current_url == f"{base}/runs/{run_id}"
        assert conn.execute("select status from pgflow.runs where run_id = %s", (run_id,)).fetchone() == ("started",)
