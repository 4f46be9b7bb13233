"""What a handler knows about the task it is running."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Context:
    """Passed as the second argument to handlers that take one."""

    run_id: uuid.UUID
    flow_slug: str
    step_slug: str
    task_index: int
    attempt: int
    flow_input: Any
    deadline: dt.datetime
    worker_id: str = ""
