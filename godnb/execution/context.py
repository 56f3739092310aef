"""What a running job can ask about itself: progress reports and cancellation.

The engine sets a context variable around every attempt (thread, async and inline jobs
directly; process jobs through a stand-in in the worker process), so these functions work
from anywhere inside a job's call stack::

    def work(items):
        for i, item in enumerate(items):
            god.check_cancelled()
            handle(item)
            god.progress(i + 1, total=len(items))
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Protocol

from godnb.errors import JobCancelled

__all__ = ["RunContext", "cancelled", "check_cancelled", "current", "current_job_id",
           "current_run",
           "progress"]


class RunContext(Protocol):
    """What an attempt exposes to the code it runs."""

    job_id: str
    attempt: int
    cancel_requested: bool

    def report(self, done: float, total: float | None, message: str | None) -> None: ...


#: The attempt running in this context. Backends set it around each attempt
#: (``token = current_run.set(run)`` ... ``current_run.reset(token)``); code inside a job
#: reads it through :func:`current`, :func:`progress` and :func:`cancelled`.
current_run: ContextVar[RunContext | None] = ContextVar("godnb_current_run", default=None)


def current() -> RunContext | None:
    """The attempt running in this context, or None outside a job."""
    return current_run.get()


def current_job_id() -> str | None:
    """The id of the job running in this context, or None outside a job."""
    ctx = current_run.get()
    return ctx.job_id if ctx is not None else None


def progress(done: float, total: float | None = None, message: str | None = None) -> None:
    """Report how far the current job got. Outside a job it does nothing.

    Example:
        >>> progress(3, total=10, message="parsing")  # no-op outside a job
    """
    ctx = current_run.get()
    if ctx is not None:
        ctx.report(float(done), None if total is None else float(total), message)


def cancelled() -> bool:
    """True once the current job was asked to stop (cancel or timeout).

    Thread jobs can only stop cooperatively: poll this in long loops.
    """
    ctx = current_run.get()
    return bool(ctx is not None and ctx.cancel_requested)


def check_cancelled() -> None:
    """Raise :class:`JobCancelled` if the current job was asked to stop."""
    ctx = current_run.get()
    if ctx is not None and ctx.cancel_requested:
        raise JobCancelled(f"job {ctx.job_id} was cancelled", job_id=ctx.job_id,
                           attempt=ctx.attempt)
