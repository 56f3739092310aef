"""Exceptions raised by godnb.

Every exception derives from :class:`GodnbError`, so ``except god.GodnbError`` catches
anything the library raises on purpose::

    GodnbError
    ├── ValidationError (ValueError)      bad input to a model, named field and fix
    │   └── ValidationTypeError (TypeError)   ... of the wrong type (priority="5")
    ├── InvalidTransition (ValueError)    e.g. a completed job asked to run again
    ├── UnknownTask (LookupError)         a task name or "module:function" that is not there
    │   └── TaskNotAllowed                a stored job names a task the engine does not trust
    ├── QueueFull                         Engine(max_pending=..., on_full="reject")
    ├── LoopBlockingError (RuntimeError)  a blocking call on the event loop's own thread
    ├── StoreError                        a store file that is corrupt, foreign or unusable
    ├── JobError                          carries job_id and attempt
    │   ├── JobFailed                     the job ended failed; .result, __cause__
    │   ├── JobCancelled (CancelledError) the job was cancelled (concurrent.futures')
    │   ├── JobTimeout (TimeoutError)     an attempt ran past its timeout
    │   └── WorkerDied                    the process running the attempt died
    ├── PipelineError                     an item failed in a pipeline stage; .stage, .index
    ├── RetryableError                    raise it in a task: always retried
    └── FatalError                        raise it in a task: never retried
"""

from __future__ import annotations

import functools
from concurrent.futures import CancelledError
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from godnb.models.result import Result

__all__ = [
    "FatalError",
    "GodnbError",
    "InvalidTransition",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobTimeout",
    "LoopBlockingError",
    "PipelineError",
    "QueueFull",
    "RetryableError",
    "StoreError",
    "TaskNotAllowed",
    "UnknownTask",
    "ValidationError",
    "ValidationTypeError",
    "WorkerDied",
]


class GodnbError(Exception):
    """Base class of every error godnb raises on purpose."""


class ValidationError(GodnbError, ValueError):
    """Input that does not fit a model; the message names the field and the fix.

    Raised from the underlying :class:`pydantic.ValidationError` (kept as ``__cause__``).
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self._errors = errors or []

    def errors(self) -> list[dict[str, Any]]:
        """The structured errors, as pydantic reports them."""
        return list(self._errors)


class ValidationTypeError(ValidationError, TypeError):
    """A :class:`ValidationError` about a value of the wrong type (``priority="5"``).

    Also a :class:`TypeError`, so ``except TypeError`` catches it as it would any wrong
    type; godnb refuses such values instead of converting them.
    """


class InvalidTransition(GodnbError, ValueError):
    """A job status change that the state machine forbids."""


class UnknownTask(GodnbError, LookupError):
    """A task given by name or ``"module:function"`` that can not be found."""


class TaskNotAllowed(UnknownTask):
    """A job read from a store names a task this engine may not run.

    An engine runs a stored job only if its task is registered with ``@god.task`` or its
    module is allowed (``Engine(allow=[...])``, ``godnb worker --import``/``--allow``):
    a store file can name any code. The message says how to allow it.
    """


class QueueFull(GodnbError):
    """The engine holds ``max_pending`` jobs already and ``on_full="reject"``."""

    def __init__(self, depth: int, limit: int) -> None:
        super().__init__(
            f"queue is full: {depth} jobs pending (max_pending={limit}); wait for jobs to "
            f"finish (eng.wait()), raise max_pending, or use on_full='block'"
        )
        self.depth = depth
        self.limit = limit


class LoopBlockingError(GodnbError, RuntimeError):
    """A blocking wait on the event loop's own thread for work that needs that loop."""


class StoreError(GodnbError):
    """A store file that is corrupt, foreign or can not be opened."""


class JobError(GodnbError):
    """An error about one job; carries ``job_id`` and ``attempt``."""

    def __init__(self, message: str, *, job_id: str | None = None, attempt: int = 0) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.attempt = attempt


class JobFailed(JobError):
    """The job ended ``failed``. ``result`` holds every attempt's error."""

    def __init__(
        self, message: str, *, job_id: str | None = None, attempt: int = 0,
        result: Result | None = None,
    ) -> None:
        super().__init__(message, job_id=job_id, attempt=attempt)
        self.result = result


class JobCancelled(JobError, CancelledError):
    """The job was cancelled before it could finish.

    Also a :class:`concurrent.futures.CancelledError`: what ``h.future.result()`` and an
    executor's future raise for a cancelled job, as code written for futures expects.
    """


class JobTimeout(JobError, TimeoutError):
    """An attempt ran longer than the job's timeout."""


class WorkerDied(JobError):
    """The worker process running the attempt died (exit code or signal in the message)."""


class RetryableError(GodnbError):
    """Raise from a task to ask for a retry, whatever the retry classification says."""


class FatalError(GodnbError):
    """Raise from a task to fail at once, even with retries left."""


class PipelineError(GodnbError):
    """An item failed in a pipeline stage.

    Attributes:
        stage: the stage's name, e.g. ``"map[2]:preprocess"`` (``"source"`` for the source).
        index: the failing item's input index at that stage (0-based).
        item: the input that failed (None when unknown).

    The original exception is ``__cause__``.

    Example:
        >>> err = PipelineError("boom", stage="map[0]:f", index=3)
        >>> err.stage, err.index
        ('map[0]:f', 3)
    """

    def __init__(self, message: str, *, stage: str | None = None, index: int | None = None,
                 item: Any = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.index = index
        self.item = item

    def __reduce__(self) -> Any:  # keep the attributes across a process boundary
        return (functools.partial(PipelineError, stage=self.stage, index=self.index,
                                  item=self.item), (str(self),))
