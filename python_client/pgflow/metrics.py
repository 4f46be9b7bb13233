"""Prometheus metrics of a worker: ``Worker(metrics_port=...)`` / ``pgflow worker --metrics-port N``.

Needs ``prometheus-client`` (``pip install pgflow[metrics]``), imported only when a worker is given a port.
Each worker has a registry of its own (``WorkerMetrics.registry``), so that several workers in one process
never share or clash over metrics; the HTTP endpoint serves that registry only.

Metrics (labels ``flow`` and ``step`` where they say which step):

- ``pgflow_tasks_claimed_total{flow,step}``: tasks this worker claimed;
- ``pgflow_tasks_completed_total{flow,step}``: handlers that ended with an output to report;
- ``pgflow_tasks_failed_total{flow,step,reason}``: handlers that ended with an error to report, by reason:
  ``error`` (raised, retried), ``non_retryable`` (``pgflow.NonRetryableError``), ``validation`` (a typed step's
  input or output did not validate), ``unstorable`` (an output PostgreSQL cannot store, or over the size
  limit), ``timeout`` (ended past its deadline), ``cancelled`` (its run was cancelled, or the worker shut
  down), ``unreadable`` (an input that could not be decoded);
- ``pgflow_handler_seconds{flow,step}``: a histogram of the seconds from a handler's call to its end;
- ``pgflow_tasks_in_flight``: tasks claimed and not yet reported that count against ``concurrency``;
- ``pgflow_polls_total``: claims sent to the database (polls, and claims right after a report);
- ``pgflow_report_seconds``: a histogram of the seconds from a handler's end to its report's commit.

Counts are of handler ends, as this worker saw them: whether the engine then recorded each report is what
``Worker(on_report=...)`` tells.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import InvalidInput

#: reasons a handler's end is counted as failed (label ``reason`` of pgflow_tasks_failed_total)
FAILURE_REASONS = ("error", "non_retryable", "validation", "unstorable", "timeout", "cancelled", "unreadable")

#: buckets of pgflow_handler_seconds, in seconds: 5 ms to 10 min
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
#: buckets of pgflow_report_seconds, in seconds: 0.5 ms to 10 s
REPORT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class WorkerMetrics:
    """The metrics of one worker, in a registry of their own. ``in_flight``: a function giving the worker's
    tasks in flight, read at each scrape. Raises ImportError naming the extra when prometheus-client is
    missing."""

    def __init__(self, in_flight: Callable[[], float]) -> None:
        try:
            import prometheus_client as prom
        except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
            raise ImportError(
                "Worker(metrics_port=...) needs prometheus-client: pip install 'pgflow[metrics]'"
            ) from exc
        self.registry = prom.CollectorRegistry()
        labels = ("flow", "step")
        self.claimed = prom.Counter("pgflow_tasks_claimed", "Tasks this worker claimed", labels, registry=self.registry)
        self.completed = prom.Counter(
            "pgflow_tasks_completed", "Handlers that ended with an output to report", labels, registry=self.registry
        )
        self.failed = prom.Counter(
            "pgflow_tasks_failed",
            "Handlers that ended with an error to report, by reason",
            (*labels, "reason"),
            registry=self.registry,
        )
        self.handler_seconds = prom.Histogram(
            "pgflow_handler_seconds",
            "Seconds from a handler's call to its end",
            labels,
            buckets=HANDLER_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = prom.Gauge(
            "pgflow_tasks_in_flight",
            "Tasks claimed and not yet reported, counted against concurrency",
            registry=self.registry,
        )
        self.in_flight.set_function(in_flight)
        self.polls = prom.Counter("pgflow_polls", "Claims sent to the database", registry=self.registry)
        self.report_seconds = prom.Histogram(
            "pgflow_report_seconds",
            "Seconds from a handler's end to the commit of its report",
            buckets=REPORT_BUCKETS,
            registry=self.registry,
        )
        self._server: Any = None
        self._thread: Any = None

    def ended(self, flow: str, step: str, reason: str | None, seconds: float | None) -> None:
        """A handler ended: ``reason`` None when it has an output to report, else one of FAILURE_REASONS
        (anything else counts as ``error``); ``seconds`` from its call (None: it was never called)."""
        if reason is None:
            self.completed.labels(flow, step).inc()
        else:
            self.failed.labels(flow, step, reason if reason in FAILURE_REASONS else "error").inc()
        if seconds is not None:
            self.handler_seconds.labels(flow, step).observe(max(seconds, 0.0))

    def serve(self, port: int, host: str) -> int:
        """Serve the registry over HTTP (``/metrics``, any path) on ``host:port`` in a daemon thread; the port
        bound (``port`` 0: one the system picks)."""
        import prometheus_client as prom

        try:
            self._server, self._thread = prom.start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:  # the port in use, an address that is not this machine's, a name that does not resolve
            raise InvalidInput(f"metrics_port: cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving (the metrics stay readable in ``registry``)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
