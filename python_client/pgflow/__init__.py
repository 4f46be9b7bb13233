"""pgflow: a DAG workflow engine that lives inside PostgreSQL, with a thin Python client."""

from .errors import (
    CycleDetected,
    FlowNotFound,
    InvalidDefinition,
    InvalidInput,
    InvalidState,
    PgflowError,
    RunCancelled,
    RunFailed,
    RunNotFound,
    TaskNotFound,
    UnknownDependency,
)
from .migrate import migrate

__version__ = "0.1.0"

__all__ = [
    "CycleDetected",
    "FlowNotFound",
    "InvalidDefinition",
    "InvalidInput",
    "InvalidState",
    "PgflowError",
    "RunCancelled",
    "RunFailed",
    "RunNotFound",
    "TaskNotFound",
    "UnknownDependency",
    "migrate",
]
