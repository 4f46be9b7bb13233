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
from .types import (
    ChildRunStatus,
    FlowDescription,
    FlowVersionRow,
    ParentTask,
    RunStatus,
    ScheduleRow,
    StepDescription,
    StepOutputs,
    StepStatus,
)
from .worker import Task, Worker

# The package and its schema share one version, written only in sql/090_schema_version.sql.
__version__: str = _shipped_version()

__all__ = [
    "AsyncClient",
    "ChildRunStatus",
    "Client",
    "Context",
    "CycleDetected",
    "DatabaseUnreachable",
    "Flow",
    "FlowDescription",
    "FlowNotFound",
    "FlowVersion",
    "FlowVersionRow",
    "InvalidDefinition",
    "InvalidInput",
    "InvalidState",
    "NonRetryableError",
    "ParentTask",
    "PermissionDenied",
    "PgflowError",
    "RateLimit",
    "Run",
    "RunCancelled",
    "RunFailed",
    "RunNotFound",
    "RunStatus",
    "Schedule",
    "ScheduleRow",
    "SchemaNotInstalled",
    "Step",
    "StepDescription",
    "StepOutputs",
    "StepStatus",
    "Task",
    "TaskNotFound",
    "UnknownDependency",
    "Worker",
    "execute",
    "migrate",
]
