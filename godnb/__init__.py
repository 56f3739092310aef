"""godnb: a job-orchestration and data-pipeline engine that lives inside a Jupyter kernel.

Example:
    >>> import godnb as god
    >>> with god.Engine() as eng:
    ...     eng.submit(sum, [1, 2, 3]).result()
    6
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from godnb import registry as _registry
from godnb.core import display as _display
from godnb.core.engine import Engine, EngineStats, JobBuilder, default_engine, set_default_engine
from godnb.core.handles import JobGroup, JobHandle
from godnb.core.pipeline import Pipeline
from godnb.core.resume import RecoveryStats
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
    TaskNotAllowed,
    UnknownTask,
    ValidationError,
    WorkerDied,
)
from godnb.execution.context import cancelled, check_cancelled, progress
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
    "RecoveryStats",
    "Result",
    "RetryPolicy",
    "RetryableError",
    "SQLiteStore",
    "ShelveStore",
    "Store",
    "StoreError",
    "TaskNotAllowed",
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


# -- wiring: the layers below never name the ones above; this package joins them ----------
def _load_notebook() -> Any:
    return importlib.import_module("godnb.notebook")


def _autoload_notebook() -> bool:
    """Inside IPython (a kernel), load ``godnb.notebook`` and register ``%god``.

    Cheap and import-free elsewhere: IPython is only looked up in ``sys.modules``, so a
    script that never imported IPython does not import it (nor ipywidgets) through godnb.
    """
    if "IPython" not in sys.modules:
        return False
    return bool(_load_notebook().register_in_kernel())


_registry.add_builtin_modules(
    "godnb.concurrency.threads",
    "godnb.concurrency.async_tasks",
    "godnb.concurrency.processes",
    "godnb.concurrency.inline",
    "godnb.storage.state",
    "godnb.dataflow.stages",
    "godnb.dataflow.parallel",
)
_display.set_view_loader(_load_notebook)
_autoload_notebook()
