"""The :class:`Job` model, its status machine and payload validation.

A job names what to run in ``payload``::

    {"task": "math:sqrt", "args": [4], "kwargs": {}}

``task`` is a registered task name, an importable ``"module:function"`` path, or (for
in-notebook work) a live callable. String tasks take JSON-compatible arguments, so the job
can be stored and run by another process; a live callable is never persisted as code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_serializer, field_validator

from godnb.errors import InvalidTransition
from godnb.models.base import GodnbModel, convert_validation_error, set_fields_set, utcnow
from godnb.utils.naming import callable_name

__all__ = [
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "TERMINAL",
    "Job",
    "JobStatus",
    "Progress",
    "check_transition",
    "convert_validation_error",
    "new_job_id",
    "task_reference",
    "utcnow",
]

PRIORITY_MIN = -1_000_000
PRIORITY_MAX = 1_000_000
_TASK_NAME = re.compile(r"^[A-Za-z_][\w.\-]*(:[A-Za-z_][\w.]*)?$")
_PAYLOAD_KEYS = frozenset({"task", "args", "kwargs"})
_JSON_SCALARS = (str, int, float, bool, type(None))
_trusted: ContextVar[bool] = ContextVar("godnb_trusted_payload", default=False)
# Task names seen valid before: skips the regex on the hot path of repeated submits.
_known_names: set[str] = set()


def new_job_id() -> str:
    """A fresh 64-bit random job id as 16 hex digits (collisions: ~1e-8 at a billion jobs).

    Drawn from the OS a few hundred at a time (one ``getrandom`` call per id cost a third
    of building a queued job). A forked child drops the parent's unused ids.
    """
    try:
        return _spare_ids.pop()  # atomic: two threads never get the same id
    except IndexError:
        digits = os.urandom(8 * _IDS_PER_DRAW).hex()
        _spare_ids.extend([digits[i:i + 16] for i in range(16, len(digits), 16)])
        return digits[:16]


_IDS_PER_DRAW = 256
_spare_ids: list[str] = []
os.register_at_fork(after_in_child=_spare_ids.clear)


class JobStatus(StrEnum):
    """Where a job is in its life. ``completed``, ``failed`` and ``cancelled`` are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})

# The one place status changes are decided. running -> pending is a retry or a re-queue
# after a crash; pending -> completed is a cache hit; pending -> failed is a job whose code
# could not be restored after a restart.
_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset(
        {JobStatus.RUNNING, JobStatus.CANCELLED, JobStatus.FAILED, JobStatus.COMPLETED}
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.PENDING}
    ),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def check_transition(old: JobStatus, new: JobStatus, job_id: str = "?") -> None:
    """Raise :class:`InvalidTransition` unless ``old -> new`` is allowed."""
    if new is old or new in _ALLOWED[old]:
        return
    if old in TERMINAL:
        hint = f"a {old.value} job is final; submit a new job to run it again"
    else:
        hint = f"allowed from {old.value}: {sorted(s.value for s in _ALLOWED[old])}"
    raise InvalidTransition(f"job {job_id}: can not go from {old.value} to {new.value}; {hint}")


def task_reference(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` for a callable (what a stored job records about it)."""
    module = getattr(fn, "__module__", None) or "__main__"
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}:{qualname}"


#: The exact types that are JSON scalars (a subclass, e.g. an IntEnum, is not one).
JSON_SCALAR_TYPES = frozenset(_JSON_SCALARS)


def _json_problem(value: Any, where: str) -> str | None:
    """Where ``value`` stops being JSON-compatible, or None."""
    if type(value) in JSON_SCALAR_TYPES or isinstance(value, _JSON_SCALARS):
        return None
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if type(item) not in JSON_SCALAR_TYPES:
                problem = _json_problem(item, f"{where}[{i}]")
                if problem:
                    return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if type(key) is not str:
                return f"{where} has a non-string key {key!r}"
            if type(item) not in JSON_SCALAR_TYPES:
                problem = _json_problem(item, f"{where}[{key!r}]")
                if problem:
                    return problem
        return None
    return f"{where} has type {type(value).__name__}"


def validate_payload(value: Any, check_json: bool = True) -> dict[str, Any]:
    """Check a payload and return it as ``{"task", "args", "kwargs"}``.

    ``check_json=False`` is for jobs read back from a store, whose arguments may have been
    pickled. Raises ValueError with a message that names the field and the fix.
    """
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValueError(
            f'payload must be a dict like {{"task": "module:function", "args": [...], '
            f'"kwargs": {{...}}}}, got {type(value).__name__}'
        )
    unknown = value.keys() - _PAYLOAD_KEYS
    if unknown:
        raise ValueError(
            f"payload has unknown key(s) {sorted(map(str, unknown))}; "
            f"allowed keys are 'task', 'args' and 'kwargs'"
        )
    if "task" not in value:
        raise ValueError(
            "payload.task is missing; give a registered task name, 'module:function' "
            "or a callable"
        )
    task = value["task"]
    args = value.get("args", ())
    kwargs = value.get("kwargs", {})
    if type(task) is str:
        if task not in _known_names:
            if not _TASK_NAME.match(task):
                raise ValueError(
                    f"payload.task {task!r} is not a task name or 'module:function' path; "
                    f"use a registered name (letters, digits, _ . -) or e.g. 'math:sqrt'"
                )
            if len(_known_names) < 10_000:
                _known_names.add(task)
    elif not callable(task):
        raise ValueError(
            f"payload.task must be a registered task name, 'module:function' or a "
            f"callable, got {type(task).__name__}"
        )
    if type(args) is not list and not isinstance(args, list | tuple):
        raise ValueError(
            f"payload.args must be a list of positional arguments, got {type(args).__name__}; "
            f"wrap a single argument as [value]"
        )
    if kwargs and (not isinstance(kwargs, Mapping) or not all(type(k) is str for k in kwargs)):
        raise ValueError("payload.kwargs must be a dict with string keys")
    # Tuples stay tuples: once their items are atomic the GC stops tracking them, which
    # matters with 100,000s of queued jobs. JSON writes both as arrays.
    if type(args) is not tuple:
        args = list(args)
    if type(kwargs) is not dict:
        kwargs = dict(kwargs)
    if check_json and isinstance(task, str) and (args or kwargs):
        problem = _json_problem(args, "payload.args") or _json_problem(kwargs, "payload.kwargs")
        if problem:
            raise ValueError(
                f"{problem}, which is not JSON-compatible; a task given by name takes "
                f"JSON data (str, int, float, bool, None, list, dict), or submit the "
                f"callable itself to pass live objects"
            )
    return {"task": task, "args": args, "kwargs": kwargs}


class Progress(GodnbModel):
    """How far a job got: ``done`` out of ``total`` (None when unknown), with a message."""

    done: float = 0.0
    total: float | None = None
    message: str | None = None

    @property
    def fraction(self) -> float | None:
        """``done / total`` clamped to [0, 1], or None without a total."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


class Job(GodnbModel):
    """One unit of work and its state.

    Example:
        >>> job = Job(payload={"task": "math:sqrt", "args": [4]})
        >>> job.status, job.priority, job.group
        (<JobStatus.PENDING: 'pending'>, 0, 'default')
    """

    # Strict: a wrong type is refused, never converted (priority="5" or True, retries="3").
    job_id: str = Field(default_factory=new_job_id, min_length=1, max_length=128, strict=True)
    name: str | None = Field(default=None, strict=True)
    group: str = Field(default="default", min_length=1, max_length=256, strict=True)
    priority: int = Field(default=0, ge=PRIORITY_MIN, le=PRIORITY_MAX, strict=True)
    payload: dict[str, Any]
    retries: int = Field(default=0, ge=0, le=1000, strict=True)
    backoff: float = Field(default=0.0, ge=0.0, strict=True, allow_inf_nan=False)
    timeout: float | None = Field(default=None, gt=0.0, strict=True, allow_inf_nan=False)
    backend: str | None = Field(default=None, strict=True)
    status: JobStatus = JobStatus.PENDING
    attempts: int = Field(default=0, ge=0, strict=True)
    tags: tuple[str, ...] = ()
    cache: bool = Field(default=False, strict=True)
    # Where a job came from and what it replaces: the notebook cell that submitted it
    # (its In[n] number and, when the front end sends one, its cell id), and the key of a
    # run the latest of which wins (``submit(..., key=...)``). Kept in memory only.
    key: str | None = Field(default=None, min_length=1, max_length=256, strict=True)
    cell: int | None = Field(default=None, strict=True)
    cell_id: str | None = Field(default=None, strict=True)
    progress: Progress | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # Shares created_at's object: one clock read and one datetime per new job.
    updated_at: datetime = Field(default_factory=lambda data: data["created_at"])

    @field_validator("payload", mode="plain")
    @classmethod
    def _check_payload(cls, value: Any) -> dict[str, Any]:
        return validate_payload(value, check_json=not _trusted.get())

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Job:
        """Rebuild a stored job; its arguments may be unpickled objects, not JSON."""
        token = _trusted.set(True)
        try:
            return cls(**data)
        finally:
            _trusted.reset(token)

    @field_validator("created_at", "updated_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is UTC:
            return value
        if value.tzinfo is None:
            raise ValueError("must be timezone-aware; use datetime.now(timezone.utc)")
        return value.astimezone(UTC)

    @field_serializer("payload")
    def _dump_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        task = payload["task"]
        if callable(task):
            payload = {**payload, "task": task_reference(task)}
        return payload

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Job:
        if type(self.__pydantic_fields_set__) is frozenset:  # shared by derive()
            # pydantic adds the updated names to the copy's set, which must be its own.
            set_fields_set(self, set(self.__pydantic_fields_set__))
        return super().model_copy(update=update, deep=deep)

    def __setattr__(self, name: str, value: Any) -> None:
        if type(self.__pydantic_fields_set__) is frozenset:  # shared by derive()
            object.__setattr__(self, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        if name == "status":
            value = JobStatus(value)
            check_transition(self.status, value, self.job_id)
        super().__setattr__(name, value)

    @property
    def task(self) -> str | Callable[..., Any]:
        """What the payload runs: a name, a ``"module:function"`` path or a callable."""
        return self.payload["task"]  # type: ignore[no-any-return]

    @property
    def task_name(self) -> str:
        """A readable name: ``name`` if set, else the task's name."""
        if self.name:
            return self.name
        return callable_name(self.task)

    @property
    def durable(self) -> bool:
        """True when the task is given by name, so another process can run it."""
        return isinstance(self.task, str)

    def derive(self, payload: dict[str, Any], now: datetime | None = None) -> Job:
        """A copy with a fresh id, another payload (and ``now`` as its timestamps).

        The engine's fast path for many jobs with the same options. ``payload`` must
        already be valid (``validate_payload``): this skips pydantic's validation of the
        fields copied from ``self``, which is already a valid job.
        """
        state = {**self.__dict__, "job_id": new_job_id(), "payload": payload}
        if now is not None:
            state["created_at"] = state["updated_at"] = now
        # Shared and frozen (one object less per job for the GC); __setattr__ thaws it.
        fields_set: Any = self.__pydantic_fields_set__
        if type(fields_set) is not frozenset:
            fields_set = frozenset(fields_set)
            set_fields_set(self, fields_set)
        new: Job = Job.assemble(state, fields_set)
        return new

    def transition(self, status: JobStatus, *, now: datetime | None = None) -> None:
        """Move to ``status`` (validated) and stamp ``updated_at``.

        The engine's path: it checks the transition like ``job.status = ...`` does, then
        writes the fields directly (pydantic's generic ``__setattr__`` costs microseconds
        per field on the hot path, and these values are already valid).
        """
        state = self.__dict__
        check_transition(state["status"], status, state["job_id"])
        state["status"] = status
        state["updated_at"] = now or utcnow()

    # -- the engine's hot path ---------------------------------------------------------
    # Each method below keeps the job's invariants itself (a checked status, attempts that
    # match the status) and writes the fields directly: pydantic's ``__setattr__`` costs
    # microseconds per field, and every value written here is valid by construction.

    def start_attempt(self, now: datetime | None = None) -> int:
        """pending -> running as one more attempt; returns the attempt number."""
        state = self.__dict__
        if state["status"] is not JobStatus.PENDING:
            check_transition(state["status"], JobStatus.RUNNING, state["job_id"])
        attempt: int = state["attempts"] + 1
        state["attempts"] = attempt
        state["status"] = JobStatus.RUNNING
        state["updated_at"] = now or utcnow()
        return attempt

    def undo_attempt(self) -> None:
        """running -> pending, taking back the attempt that was started but never ran."""
        state = self.__dict__
        check_transition(state["status"], JobStatus.PENDING, state["job_id"])
        state["attempts"] = max(0, state["attempts"] - 1)
        state["status"] = JobStatus.PENDING
        state["updated_at"] = utcnow()

    def end(self, status: JobStatus, now: datetime | None = None) -> None:
        """Move an active job to a final status (a final job raises InvalidTransition)."""
        state = self.__dict__
        old = state["status"]
        if (old is not JobStatus.PENDING and old is not JobStatus.RUNNING) or \
                status not in TERMINAL:
            check_transition(old, status, state["job_id"])
        state["status"] = status
        state["updated_at"] = now or utcnow()

    def report(self, progress: Progress | None) -> None:
        """Record the latest progress report."""
        self.__dict__["progress"] = progress

    def record_error(self, error: str | None) -> None:
        """Record the last attempt's error, as ``"Type: message"``."""
        self.__dict__["error"] = error

    def place(self, backend: str | None, timeout: float | None = None) -> None:
        """Set where a job adopted from a store runs, and its default timeout if it had none.

        Raises ValueError for a timeout that is not a positive number.
        """
        state = self.__dict__
        state["backend"] = backend
        if timeout is not None and state["timeout"] is None:
            if not timeout > 0:
                raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
            state["timeout"] = float(timeout)
