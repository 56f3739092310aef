"""Events a job emits as it moves: streamed by ``h.events()`` and ``eng.events()``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from godnb.models.base import GodnbModel, utcnow
from godnb.models.job import JobStatus, Progress

__all__ = ["EventKind", "JobEvent"]


class EventKind(StrEnum):
    """What happened to a job."""

    SUBMITTED = "submitted"
    STARTED = "started"
    PROGRESS = "progress"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobEvent(GodnbModel):
    """One thing that happened to a job, at a time.

    ``kind`` is what happened; ``status`` is the job's status after it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    kind: EventKind
    status: JobStatus
    progress: Progress | None = None
    message: str | None = None
    attempt: int = 0
    at: datetime = Field(default_factory=utcnow)

    @property
    def is_final(self) -> bool:
        return self.status.is_terminal and self.kind is not EventKind.PROGRESS
