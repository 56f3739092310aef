"""Data models: jobs, results and events (pydantic v2)."""

from godnb.models.events import EventKind, JobEvent
from godnb.models.job import TERMINAL, Job, JobStatus, Progress
from godnb.models.result import ErrorInfo, Result

__all__ = [
    "TERMINAL", "ErrorInfo", "EventKind", "Job", "JobEvent", "JobStatus", "Progress", "Result",
]
