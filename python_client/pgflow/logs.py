"""Worker logs as JSON: one object per line (``Worker(log_format="json")``, ``pgflow worker --log-format json``).

Each line holds ``time`` (ISO 8601, UTC, microseconds), ``level`` (``INFO``, ``ERROR``, ...), ``logger``,
``message`` (the formatted message, the traceback of a logged exception under ``exception``), ``worker_id``,
and for a record about a task its structured fields ``run_id``, ``flow_slug``, ``step_slug``, ``task_index`` and
``attempt`` (the worker passes them as ``extra=`` to every record about a task). Other attributes given with
``extra=`` that JSON can hold are kept too. Records pass the redacting filter first (no password reaches a log).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

from . import _redact

__all__ = ["TASK_FIELDS", "JsonFormatter", "json_handler"]

#: the structured fields of a record about a task
TASK_FIELDS = ("run_id", "flow_slug", "step_slug", "task_index", "attempt")

#: attributes every LogRecord has: never copied as extra fields
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (see the module). ``worker_id``: written into every line (None:
    the record's own ``worker_id`` attribute, if any)."""

    def __init__(self, worker_id: str | None = None) -> None:
        super().__init__()
        self.worker_id = worker_id

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "worker_id": getattr(record, "worker_id", None) or self.worker_id,
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key in data or key.startswith("_"):
                continue
            data[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


def json_handler(worker_id: str | None = None, stream: Any = None) -> logging.Handler:
    """A handler writing JSON lines to ``stream`` (default stderr), with the redacting filter installed."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(worker_id))
    _redact.install(handler)
    return handler
