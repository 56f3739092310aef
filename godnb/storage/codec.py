"""One row format for every store: how jobs and results are written down and read back.

A job becomes a flat ``dict`` whose keys are the SQLite column names (:data:`JOB_COLUMNS`);
the memory and shelve stores keep the same dicts, so all three stores decode through the
same two functions, :func:`job_from_row` and :func:`result_from_row`.

Values that are not plain JSON (job arguments of a notebook callable, a result that is a
DataFrame) are pickled, and the row records which (:data:`JSON`, :data:`PICKLE`, ...).
Unpickling runs whatever code the pickle names, so **reading never unpickles**: a pickled
value comes back as a :class:`Pickled` stand-in that describes it. Only an explicit
:meth:`Pickled.load` unpickles: the engine calls it for the arguments of a job it is about
to run and trusts (its task is registered or allowed, see :mod:`godnb.core.tasks`), a user
for a result they asked for. Timestamps are integer microseconds since the Unix epoch
(UTC), exact and sortable.
"""

from __future__ import annotations

import json
import operator
import pickle
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from godnb.errors import StoreError, UnknownTask
from godnb.models import ErrorInfo, Job, JobStatus, Progress, Result
from godnb.models.job import JSON_SCALAR_TYPES as _SCALARS
from godnb.models.job import task_reference

__all__ = [
    "JOB_COLUMNS",
    "JSON",
    "LOST",
    "NONE",
    "OWN_COLUMNS",
    "PICKLE",
    "RESULT_COLUMNS",
    "UPDATE_COLUMNS",
    "LostCallable",
    "NotStored",
    "Pickled",
    "decode_value",
    "encode_value",
    "from_us",
    "job_from_row",
    "job_row",
    "job_update",
    "job_update_values",
    "job_runs",
    "job_values",
    "merge_notes",
    "note_json",
    "outcome_values",
    "result_from_row",
    "result_row",
    "result_values",
    "stored_arguments",
    "to_us",
]

# How a value column was written. LOST: it could not be pickled; the column holds why.
NONE, JSON, PICKLE, LOST = 0, 1, 2, 3

# The first OWN_COLUMNS differ from job to job; in a batch from one map() every other
# column is usually the same (the SQLite store writes those once per batch).
JOB_COLUMNS = (
    "job_id", "params_kind", "params",
    "status", "priority", "owner", "cancel_requested", "task", "durable", "name",
    "job_group", "retries", "backoff", "timeout", "backend", "attempts", "tags", "cache",
    "progress", "error", "notes", "created_at", "updated_at",
)
OWN_COLUMNS = 3
#: What a state change rewrites (:meth:`Store.update`); ``job_id`` last, for the WHERE.
UPDATE_COLUMNS = ("status", "attempts", "progress", "error", "updated_at", "job_id")
RESULT_COLUMNS = (
    "job_id", "status", "output_kind", "output", "errors", "execution_time", "attempts",
    "cached", "finished_at",
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_STATUS = {s: s.value for s in JobStatus}  # faster than the enum's .value property
_MAKE_DURABLE = (
    "define the function in an importable module and submit it as 'module:function' "
    "(or register it with @god.task) so any process can run it"
)


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default arguments, minus the per-call setup.

    ``json.dumps`` builds a new C encoder on every call; this one is built once (about a
    microsecond saved on each of the two values every durable job writes). Without a
    circular-reference check: a self-containing list fails with RecursionError, which the
    callers treat like any value JSON refuses.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return json.dumps

    def refuse(value: Any) -> Any:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    encode = make(None, refuse, json.encoder.encode_basestring_ascii, None, ": ", ", ",
                  False, False, True)
    return lambda value: "".join(encode(value, 0))


_dumps = _json_encoder()


def to_us(dt: datetime) -> int:
    """Microseconds since the Unix epoch: exact, and integers sort like the times."""
    return (dt - EPOCH) // _US


def from_us(us: int) -> datetime:
    """The timezone-aware UTC datetime of :func:`to_us`."""
    return EPOCH + timedelta(microseconds=us)


def _plain_json(value: Any) -> bool:
    # Exact types only: a tuple, an int subclass or a non-str key would come back changed
    # from JSON, so those values are pickled instead and round-trip unchanged. Loops, not
    # all(): this runs for every job added.
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is list:
        for item in value:  # noqa: SIM110 - all() with a generator is slower here
            if type(item) not in _SCALARS and not _plain_json(item):
                return False
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _SCALARS and not _plain_json(item)):
                return False
        return True
    return False


def encode_value(value: Any) -> tuple[int, str | bytes | None]:
    """``(kind, data)``: JSON text when ``value`` round-trips through JSON, else a pickle.

    A value that can not be pickled is stored as :data:`LOST` with the reason, so one bad
    output never stops a batch of writes.
    """
    if value is None:
        return NONE, None
    try:
        if _plain_json(value):
            return JSON, _dumps(value)
    except RecursionError:
        pass  # too deep to check; let pickle try
    try:
        return PICKLE, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # pickle raises many types: TypeError, PicklingError, ...
        return LOST, f"it could not be pickled ({type(e).__name__}: {e})"


def _encode_durable(params: list[Any]) -> tuple[int, str | bytes | None]:
    # A task given by name was validated to take JSON arguments, so skip the exactness
    # check (as JSON has no tuple, a tuple comes back as a list); pickle what JSON refuses.
    try:
        return JSON, _dumps(params)
    except (TypeError, ValueError, RecursionError):
        return encode_value(params)


def _load(kind: int, data: Any, what: str) -> Any:
    if kind == JSON:
        return json.loads(data)
    if kind == PICKLE:
        return Pickled(bytes(data), what)
    return None


class Pickled:
    """A pickled value read from a store, not loaded: loading it runs code the pickle names.

    What a read gives for a result or arguments that were stored pickled. ``repr`` and
    ``str`` describe it without loading it; :meth:`load` unpickles it, so call it only
    for a store you trust like code (the engine does so only for the arguments of a job
    it is about to run and trusts).

    Example:
        >>> Pickled(b"\\x80\\x05K\\x01.", "result")
        <pickled result, 5 bytes, not loaded>
    """

    __slots__ = ("data", "what")

    def __init__(self, data: bytes, what: str = "value") -> None:
        self.data = data
        self.what = what

    def load(self) -> Any:
        """Unpickle the value (runs whatever the pickle names: trust the store first)."""
        return pickle.loads(self.data)

    def __repr__(self) -> str:
        return f"<pickled {self.what}, {len(self.data)} bytes, not loaded>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pickled) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.data)


def _pickled_arguments(payload: Mapping[str, Any]) -> Pickled | None:
    """The stand-in a job read back holds for its pickled arguments, if it holds one."""
    args = payload["args"]
    if len(args) == 1 and type(args[0]) is Pickled and not payload["kwargs"]:
        return args[0] if args[0].what == "arguments" else None
    return None


def stored_arguments(job: Job) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` of a job read from a store, unpickling them if they were pickled.

    A job read back holds ``[Pickled(...)]`` as its arguments when they were stored
    pickled: this loads them, which runs code the pickle names. Call it only for a job you
    trust and are about to run. Raises whatever unpickling raises.
    """
    payload = job.payload
    pickled = _pickled_arguments(payload)
    if pickled is None:
        return list(payload["args"]), dict(payload["kwargs"])
    args, kwargs = pickled.load()
    return list(args), dict(kwargs)


class NotStored:
    """Stands in for a value that could not be written to, or read back from, the store."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<value not stored: {self.reason}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NotStored) and other.reason == self.reason

    def __hash__(self) -> int:
        return hash(self.reason)


def decode_value(kind: int, data: Any, what: str = "value") -> Any:
    """The value :func:`encode_value` wrote (a :class:`Pickled` stand-in when it was
    pickled: nothing is unpickled here), or a :class:`NotStored` that says why not."""
    if kind == LOST:
        return NotStored(str(data))
    try:
        return _load(kind, data, what)
    except (ValueError, RecursionError) as e:  # JSON that does not parse, or too deep
        return NotStored(f"it could not be loaded ({type(e).__name__}: {e})")


class LostCallable:
    """Stands in for a job's live callable, whose code a store never keeps.

    A job restored from a store gets one when its task was a callable (a function defined
    in a notebook, a lambda), or when its arguments could not be saved. The job's
    ``durable`` is then False; :func:`~godnb.models.job.task_reference` still gives the
    original ``"module:qualname"`` (also in :attr:`reference`), and calling it raises
    :class:`~godnb.errors.UnknownTask` with :attr:`message`, which says how to fix it.
    """

    def __init__(self, reference: str, reason: str | None = None) -> None:
        self.reference = reference
        self.reason = reason
        module, _, qualname = reference.partition(":")
        self.__module__ = module
        self.__qualname__ = qualname or reference
        self.__name__ = self.__qualname__.rpartition(".")[2]

    @property
    def args_saved(self) -> bool:
        """False when the job's arguments were not stored (see :attr:`reason`)."""
        return self.reason is None

    @property
    def message(self) -> str:
        what = f"the task {self.reference!r}"
        if self.reason:
            return f"{what} can not run from the store: its arguments were not saved " \
                   f"because {self.reason}; pass JSON or picklable arguments and {_MAKE_DURABLE}"
        return f"{what} was a live callable (e.g. defined in a notebook), and a store keeps " \
               f"no code, so it can not run after a restart or in another process; " \
               f"{_MAKE_DURABLE}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise UnknownTask(self.message)

    def __repr__(self) -> str:
        return f"<LostCallable {self.reference}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LostCallable) and (other.reference, other.reason) == (
            self.reference, self.reason)

    def __hash__(self) -> int:
        return hash(self.reference)

    def __reduce__(self) -> tuple[Callable[..., LostCallable], tuple[str, str | None]]:
        return LostCallable, (self.reference, self.reason)


def job_values(job: Job, owner: str | None = None) -> tuple[Any, ...]:
    """The row that stores ``job``, in :data:`JOB_COLUMNS` order.

    A live callable is kept as its reference only. This runs for every job added, so it
    takes the short paths where it can.
    """
    payload = job.payload
    task = payload["task"]
    durable = type(task) is str
    params_kind, params = _params_values(payload, durable)
    if isinstance(task, LostCallable) and task.reason and params_kind == NONE:
        params_kind, params = LOST, task.reason  # re-adding a restored job keeps the why
    progress = job.progress
    created = to_us(job.created_at)
    updated = created if job.updated_at is job.created_at else to_us(job.updated_at)
    return (
        job.job_id, params_kind, params,
        _STATUS[job.status], job.priority, owner, 0, task if durable else task_reference(task),
        int(durable), job.name, job.group, job.retries, job.backoff, job.timeout, job.backend,
        job.attempts, json.dumps(job.tags) if job.tags else None, int(job.cache),
        None if progress is None else progress.model_dump_json(), job.error, None,
        created, updated,
    )


def job_runs(jobs: Iterable[Job], owner: str | None = None
             ) -> list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
    """The rows of ``jobs`` (:func:`job_values`), in order, as runs of jobs that share
    every column after :data:`OWN_COLUMNS`: ``[(shared columns, [own columns, ...]), ...]``.

    A job whose fields but id and payload equal those of the job before it (the jobs of
    one ``map()``) has only its own columns encoded: a whole row costs ~4.6 us here, its
    own columns about a third of that.
    """
    runs: list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]] = []
    own: list[tuple[Any, ...]] = []
    last: tuple[Any, ...] | None = None
    for job in jobs:
        state = job.__dict__
        task = state["payload"]["task"]
        shared = (task, *_shared_fields(state))
        if shared == last and not isinstance(task, LostCallable):
            own.append((state["job_id"], *_params_values(state["payload"], type(task) is str)))
            continue
        row = job_values(job, owner)
        own = [row[:OWN_COLUMNS]]
        runs.append((row[OWN_COLUMNS:], own))
        last = shared
    return runs


# Every Job field but job_id and payload: what the columns after OWN_COLUMNS come from.
_shared_fields = operator.itemgetter(
    *(f for f in Job.model_fields if f not in ("job_id", "payload")))


def _params_values(payload: Mapping[str, Any], durable: bool) -> tuple[int, Any]:
    args, kwargs = payload["args"], payload["kwargs"]
    if not (args or kwargs):
        return NONE, None
    if type(args) is list and args and type(args[0]) is Pickled:
        pickled = _pickled_arguments(payload)
        if pickled is not None:  # a job read back and added again: the same bytes
            return PICKLE, pickled.data
    if durable:
        return _encode_durable([args, kwargs])
    return encode_value([args, kwargs])


def job_row(job: Job, owner: str | None = None) -> dict[str, Any]:
    """:func:`job_values` as a dict keyed by column name."""
    return dict(zip(JOB_COLUMNS, job_values(job, owner), strict=True))


def job_update(job: Job) -> dict[str, Any]:
    """The columns :meth:`Store.update` writes for ``job``."""
    return dict(zip(UPDATE_COLUMNS, job_update_values(job), strict=True))


def job_update_values(job: Job) -> tuple[Any, ...]:
    """:func:`job_update` as a tuple in :data:`UPDATE_COLUMNS` order (``job_id`` last)."""
    state = job.__dict__  # plain reads: this runs for every state change written
    progress = state["progress"]
    return (_STATUS[state["status"]], state["attempts"],
            None if progress is None else progress.model_dump_json(), state["error"],
            to_us(state["updated_at"]), state["job_id"])


def _params(row: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any], str | None]:
    kind, data = row["params_kind"], row["params"]
    if kind == NONE:
        return [], {}, None
    if kind == LOST:
        return [], {}, str(data)
    if kind == PICKLE:  # kept as it is until a trusted run loads it (stored_arguments)
        pickled = [Pickled(bytes(data), "arguments")]
        if row["durable"]:  # by name: JSON arguments only (validated at submit)
            return pickled, {}, ("they were stored pickled, and a task given by name takes "
                                 "JSON arguments: godnb did not write them, so they are "
                                 "not loaded")
        return pickled, {}, None
    try:
        args, kwargs = _load(kind, data, "arguments")
        return list(args), dict(kwargs), None
    except (ValueError, TypeError, RecursionError) as e:
        return [], {}, f"they could not be loaded ({type(e).__name__}: {e})"


def job_from_row(row: Mapping[str, Any]) -> Job:
    """Rebuild the :class:`Job` that :func:`job_row` stored.

    Raises:
        StoreError: the row does not describe a valid job (a damaged or tampered file).
    """
    try:
        return _job_from_row(row)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as e:
        raise _bad_row("job", row, e) from e


def _bad_row(kind: str, row: Mapping[str, Any], error: BaseException) -> StoreError:
    try:
        job_id = repr(row["job_id"])
    except (KeyError, IndexError):
        job_id = "?"
    return StoreError(f"the stored {kind} {job_id} is not valid ({type(error).__name__}: "
                      f"{str(error).splitlines()[0] if str(error) else ''}); the store "
                      f"file is damaged or was written by something else than godnb")


def _job_from_row(row: Mapping[str, Any]) -> Job:
    args, kwargs, problem = _params(row)
    task: Any = row["task"]
    if problem or not row["durable"]:
        # Never hand back a runnable job with missing arguments: make it non-durable.
        task = LostCallable(task, problem)
    progress = row["progress"]
    tags = row["tags"]
    return Job.restore({
        "job_id": row["job_id"], "name": row["name"], "group": row["job_group"],
        "priority": row["priority"],
        "payload": {"task": task, "args": args, "kwargs": kwargs},
        "retries": row["retries"], "backoff": row["backoff"], "timeout": row["timeout"],
        "backend": row["backend"], "status": row["status"], "attempts": row["attempts"],
        "tags": json.loads(tags) if tags else [], "cache": bool(row["cache"]),
        "progress": None if progress is None else Progress.model_validate_json(progress),
        "error": row["error"],
        "created_at": from_us(row["created_at"]), "updated_at": from_us(row["updated_at"]),
    })


def _errors_json(errors: Sequence[ErrorInfo]) -> str | None:
    if not errors:
        return None
    return json.dumps([e.model_dump(mode="json") for e in errors], separators=(",", ":"))


def _errors(data: str | None) -> list[ErrorInfo]:
    return [ErrorInfo.model_validate(e) for e in json.loads(data)] if data else []


def note_json(notes: str | None, note: ErrorInfo) -> str:
    """``notes`` (a job row's error notes) with ``note`` appended."""
    return _errors_json([*_errors(notes), note]) or "[]"


def merge_notes(errors: str | None, notes: str | None) -> str | None:
    """A result's ``errors`` preceded by the job's notes that the engine did not see.

    Notes are errors the store itself recorded (an attempt interrupted by a dead process),
    so an engine in a new process can not know them; they are kept in attempt order.
    """
    if not notes:
        return errors
    own = _errors(errors)
    seen = {(e.type, e.message, e.attempt) for e in own}
    extra = [n for n in _errors(notes) if (n.type, n.message, n.attempt) not in seen]
    merged = sorted([*extra, *own], key=lambda e: e.attempt)  # stable: notes first
    return _errors_json(merged)


def result_row(result: Result, notes: str | None = None) -> dict[str, Any]:
    """The row that stores ``result``; ``notes`` are the job's, merged into its errors."""
    row = dict(zip(RESULT_COLUMNS, result_values(result), strict=True))
    if notes:
        row["errors"] = merge_notes(row["errors"], notes)
    return row


def result_values(result: Result) -> tuple[Any, ...]:
    """The row that stores ``result`` as a tuple in :data:`RESULT_COLUMNS` order."""
    state = result.__dict__
    return outcome_values(state["job_id"], state["status"], state["output"],
                          state["errors"], state["execution_time"], state["attempts"],
                          state["cached"], state["finished_at"])


def outcome_values(job_id: str, status: JobStatus, output: Any,
                   errors: Sequence[ErrorInfo], execution_time: float, attempts: int,
                   cached: bool, finished_at: datetime) -> tuple[Any, ...]:
    """:func:`result_values` from the fields of a result, without a :class:`Result`.

    The engine's write-behind path: it holds these values already, valid, and building a
    Result per finished job cost ~3 us of a ~14 us write.
    """
    output_kind, encoded = encode_value(output)
    return (job_id, _STATUS[status], output_kind, encoded, _errors_json(errors),
            execution_time, attempts, int(cached), to_us(finished_at))


def result_from_row(row: Mapping[str, Any]) -> Result:
    """Rebuild the :class:`Result` that :func:`result_row` stored.

    Raises:
        StoreError: the row does not describe a valid result (a damaged or tampered file).
    """
    try:
        return _result_from_row(row)
    except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as e:
        raise _bad_row("result", row, e) from e


def _result_from_row(row: Mapping[str, Any]) -> Result:
    return Result(
        job_id=row["job_id"], status=row["status"],
        output=decode_value(row["output_kind"], row["output"], "result"),
        errors=_errors(row["errors"]), execution_time=row["execution_time"],
        attempts=row["attempts"], cached=bool(row["cached"]),
        finished_at=from_us(row["finished_at"]),
    )
