"""``execute``: run one flow to completion from this process, for scripts, tests and notebooks."""

from __future__ import annotations

import threading
from typing import Any

from . import _arguments
from .client import MAX_WAIT_TIMEOUT, PRIORITY_RANGE, Client
from .errors import InvalidState, RunCancelled
from .flow import Flow
from .worker import Worker


def execute(
    flow: Flow,
    input: Any = None,
    conninfo: str | None = None,
    *,
    timeout: float | None = 600,
    concurrency: int = 4,
    priority: int = 0,
) -> Any:
    """Define the flow, start a run, work it with an in-process worker until it finishes, and return its
    output. Independent branches and map elements run at the same time, up to ``concurrency``.

    ``timeout``: seconds, more than 0 and at most 1 year (None: no limit). ``concurrency``: an int ≥ 1.
    ``priority``: the run's priority, as ``Client.start_run`` takes it (-1000 to 1000, default 0).
    Raises ``InvalidInput`` (a ValueError) for a bad ``timeout``, ``concurrency``, ``priority``, ``conninfo`` or an
    ``input`` that is not storable JSON, and ``InvalidDefinition`` for a flow whose definition cannot be
    stored — all before any flow is defined or any run started. Raises ``SchemaNotInstalled`` (naming
    ``pgflow migrate``) when the database has no pgflow schema, or an older one. Raises ``RunFailed`` with the
    engine's error
    when the run fails, and ``TimeoutError`` (after cancelling the run) when it does not finish within
    ``timeout`` seconds. The worker also takes tasks of other runs of the same flow if there are any.
    """
    if timeout is not None:
        timeout = _arguments.number("timeout", timeout, maximum=MAX_WAIT_TIMEOUT)
    _arguments.definition(flow)
    _arguments.json_text("input", {} if input is None else input)
    _arguments.integer("priority", priority, minimum=PRIORITY_RANGE[0], maximum=PRIORITY_RANGE[1])
    worker = Worker(conninfo, [flow], concurrency=concurrency, define=False, poll_interval=0.5)
    with Client(conninfo) as client:
        client.define(flow)
        run = client.start_run(flow.slug, input, priority=priority)
        thread = threading.Thread(target=worker.run, name="pgflow-execute", daemon=True)
        thread.start()
        finished = False
        try:
            output = client.wait(run.run_id, timeout=timeout)
            finished = True
            return output
        except TimeoutError:
            try:
                client.cancel_run(run.run_id, f"execute() gave up after {timeout or 0:g} s")
            except (RunCancelled, InvalidState):
                pass
            raise
        finally:
            worker.stop()
            # after a timeout the handlers still running are not waited for: their results are fenced off
            # (the run is cancelled) and the worker's threads are daemons
            thread.join(timeout=worker.shutdown_timeout + 5 if finished else 1.0)
