"""What a handler knows about the task it is running."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Context:
    """Passed as the second argument to handlers that take one.

    ``cancelled``: a ``threading.Event`` the worker sets when the attempt's ``deadline`` passes, when its run is
    cancelled (or fails: its other tasks are then cancelled by the engine), and when the worker is shutting down
    past its grace period. A handler that loops should check it (``if ctx.cancelled.is_set(): ...``) or wait on
    it (``ctx.cancelled.wait(seconds)``) and return or raise soon after it is set: its result is no longer
    wanted. ``deadline``: when the attempt times out (a timezone-aware datetime, the database's clock)."""

    run_id: uuid.UUID
    flow_slug: str
    step_slug: str
    task_index: int
    attempt: int
    flow_input: Any
    deadline: dt.datetime
    worker_id: str = ""
    cancelled: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
