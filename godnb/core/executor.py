"""Backends by name: the engine's view of the executor registry.

The executor interface itself (:class:`~godnb.execution.executor.Executor`, ``Run``, the
host protocol) lives in :mod:`godnb.execution.executor`, below the backends that
implement it; this module looks backends up by the name they registered.

Example:
    >>> "thread" in executor_names()
    True
"""

from __future__ import annotations

from godnb.execution.executor import Executor, ExecutorHost, ExecutorInfo, Run
from godnb.registry import get_plugin, plugin_names

__all__ = ["Executor", "ExecutorHost", "ExecutorInfo", "Run", "create_executor",
           "executor_names"]


def executor_names() -> list[str]:
    """The registered backend names."""
    return plugin_names("executor")


def create_executor(name: str, workers: int | None = None) -> Executor:
    """A new executor registered as ``name``; ValueError listing valid names if unknown."""
    cls = get_plugin("executor", name)
    return cls(workers) if workers is not None else cls()  # type: ignore[no-any-return]
