"""pgflow: a DAG workflow engine that lives inside PostgreSQL, with a thin Python client."""

from .aio import AsyncClient
from .client import Client, FlowVersion, Run
from .context import Context
from .errors import (
    CycleDetected,
    DatabaseUnreachable,
    FlowNotFound,
    InvalidDefinition,
    InvalidInput,
    InvalidState,
    NonRetryableError,
    PermissionDenied,
    PgflowError,
    RunCancelled,
    RunFailed,
    RunNotFound,
    SchemaNotInstalled,
    TaskNotFound,
    UnknownDependency,
)
from .execute import execute
from .flow import Flow, RateLimit, Schedule, Step
from .migrate import migrate
from .migrate import shipped_version as _shipped_version
from .worker import Task, Worker

# The package and its schema share one version, written only in sql/090_schema_version.sql.
__version__: str = _shipped_version()

__all__ = [
    "AsyncClient",
    "Client",
    "Context",
    "CycleDetected",
    "DatabaseUnreachable",
    "Flow",
    "FlowNotFound",
    "FlowVersion",
    "InvalidDefinition",
    "InvalidInput",
    "InvalidState",
    "NonRetryableError",
    "PermissionDenied",
    "PgflowError",
    "RateLimit",
    "Run",
    "RunCancelled",
    "RunFailed",
    "RunNotFound",
    "Schedule",
    "SchemaNotInstalled",
    "Step",
    "Task",
    "TaskNotFound",
    "UnknownDependency",
    "Worker",
    "execute",
    "migrate",
]
