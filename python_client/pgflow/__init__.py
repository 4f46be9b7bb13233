"""pgflow: a DAG workflow engine that lives inside PostgreSQL, with a thin Python client."""

from .client import Client, FlowVersion, Run
from .context import Context
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
from .execute import execute
from .flow import Flow, Step
from .migrate import migrate
from .worker import Task, Worker

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Context",
    "Flow",
    "FlowVersion",
    "Run",
    "Step",
    "Task",
    "Worker",
    "execute",
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
