"""godnb: a job-orchestration and data-pipeline engine that lives inside a Jupyter kernel.

Example:
    >>> import godnb as god
    >>> with god.Engine() as eng:
    ...     eng.submit(sum, [1, 2, 3]).result()
    6
"""

from __future__ import annotations

from typing import Any

from godnb.core.context import cancelled, check_cancelled, progress
from godnb.core.engine import Engine, EngineStats, JobBuilder, default_engine, set_default_engine
from godnb.core.handles import JobGroup, JobHandle
from godnb.core.pipeline import Pipeline
from godnb.core.tasks import task
from godnb.errors import (
    FatalError,
    GodnbError,
    InvalidTransition,
    JobCancelled,
    JobFailed,
    JobTimeout,
    LoopBlockingError,
    PipelineError,
    QueueFull,
    RetryableError,
    StoreError,
    UnknownTask,
    ValidationError,
    WorkerDied,
)
from godnb.models import ErrorInfo, EventKind, Job, JobEvent, JobStatus, Progress, Result
from godnb.registry import plugins
from godnb.storage.state import MemoryStore, ShelveStore, SQLiteStore, Store
from godnb.utils.cache import Cache, cached
from godnb.utils.logging import configure_logging
from godnb.utils.profile import ProfileTable
from godnb.utils.retry import RetryPolicy, retry
from godnb.utils.timing import metrics, timed

__version__ = "0.1.0"

__all__ = [
    "Cache",
    "Engine",
    "EngineStats",
    "ErrorInfo",
    "EventKind",
    "FatalError",
    "GodnbError",
    "InvalidTransition",
    "Job",
    "JobBuilder",
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobGroup",
    "JobHandle",
    "JobStatus",
    "JobTimeout",
    "LoopBlockingError",
    "MemoryStore",
    "Pipeline",
    "PipelineError",
    "ProfileTable",
    "Progress",
    "QueueFull",
    "Result",
    "RetryPolicy",
    "RetryableError",
    "SQLiteStore",
    "ShelveStore",
    "Store",
    "StoreError",
    "UnknownTask",
    "ValidationError",
    "WorkerDied",
    "__version__",
    "cached",
    "cancelled",
    "check_cancelled",
    "configure_logging",
    "default_engine",
    "load_ipython_extension",
    "map",
    "metrics",
    "plugins",
    "progress",
    "retry",
    "set_default_engine",
    "submit",
    "task",
    "timed",
]


def submit(fn: Any, /, *args: Any, **kwargs: Any) -> JobHandle:
    """``default_engine().submit(...)``: submit from anywhere without making an engine."""
    return default_engine().submit(fn, *args, **kwargs)


def map(fn: Any, /, *iterables: Any, **options: Any) -> JobGroup:
    """``default_engine().map(...)``: one job per item on the default engine."""
    return default_engine().map(fn, *iterables, **options)


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext godnb``: register ``%god`` / ``%%god`` (see :mod:`godnb.notebook`)."""
    from godnb.notebook import load_ipython_extension as load

    load(ip)


# In a kernel (IPython already imported), register %god; elsewhere this imports nothing.
from godnb.core.display import autoload_notebook as _autoload  # noqa: E402

_autoload()
