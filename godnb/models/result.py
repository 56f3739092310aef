"""The :class:`Result` of a job: its output, or every attempt's error."""

from __future__ import annotations

import traceback as tb
from datetime import datetime
from typing import Any

from pydantic import Field

from godnb.models.base import GodnbModel, utcnow
from godnb.models.job import JobStatus

__all__ = ["ErrorInfo", "Result"]


class ErrorInfo(GodnbModel):
    """One failed attempt: exception type, message and formatted traceback."""

    type: str
    message: str
    traceback: str = ""
    attempt: int = 0
    at: datetime = Field(default_factory=utcnow)

    @classmethod
    def from_exception(cls, exc: BaseException, attempt: int = 0, traceback: str | None = None
                       ) -> ErrorInfo:
        """Record ``exc``; ``traceback`` defaults to the exception's own."""
        if traceback is None:
            traceback = "".join(tb.format_exception(exc))
        return cls(type=type(exc).__name__, message=str(exc), traceback=traceback,
                   attempt=attempt)

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


class Result(GodnbModel):
    """What a job produced.

    ``errors`` holds one entry per failed attempt, so a job that failed twice and then
    succeeded has an ``output`` and two errors.
    """

    job_id: str
    status: JobStatus
    output: Any = None
    errors: list[ErrorInfo] = Field(default_factory=list)
    execution_time: float = Field(default=0.0, ge=0.0)
    attempts: int = Field(default=0, ge=0)
    cached: bool = False
    finished_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def trusted(cls, job_id: str, status: JobStatus, output: Any, errors: list[ErrorInfo],
                execution_time: float, attempts: int, cached: bool, finished_at: datetime
                ) -> Result:
        """A Result from values the engine already holds valid, without re-validating them.

        The engine's path (a durable job's result is built once per job); anything else
        should call ``Result(...)``, which checks every field.
        """
        new: Result = cls.assemble({
            "job_id": job_id, "status": status, "output": output, "errors": errors,
            "execution_time": execution_time, "attempts": attempts, "cached": cached,
            "finished_at": finished_at}, set(_ALL_FIELDS))
        return new

    @property
    def ok(self) -> bool:
        return self.status is JobStatus.COMPLETED

    @property
    def error(self) -> ErrorInfo | None:
        """The last attempt's error, if any."""
        return self.errors[-1] if self.errors else None


_ALL_FIELDS = frozenset(Result.model_fields)
