"""The executor interface: how an attempt gets run on a backend.

An executor is handed a host (the engine's runtime) at ``start``. Work flows by pull:
workers ask the host for the next attempt of their backend (``host.next_run``), run it, and
report back with ``host.finish``. Pulling keeps priorities honest: a job stays in the
scheduler until a worker is free to run it. Push-style backends (asyncio, Dask) pull from
``wake()``, which the host calls whenever work for the backend was queued.

Interruption is the host's decision: on a timeout or a cancel it marks the attempt ended and
calls ``interrupt(run, reason)``; the executor then stops the attempt as well as its
backend allows (kill a process, cancel a task, set a thread's flag) and any late
``finish`` for that attempt is ignored by the host.

Backends register by name through the plugin registry::

    class MyExecutor(Executor, name="mine"): ...

    Engine(executors={"mine": MyExecutor()})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from godnb.execution.context import current_run
from godnb.registry import Plugin

if TYPE_CHECKING:
    import asyncio

    from godnb.execution.output import OutputSink
    from godnb.models.job import Job

__all__ = ["Executor", "ExecutorHost", "ExecutorInfo", "Run"]


class Run:
    """One attempt of one job: what to call, and the flags the host and job share.

    ``cancel_requested`` is a plain attribute (reads and writes of one attribute are atomic
    in CPython), so a thread job can poll it at no cost through ``god.cancelled()``.
    """

    __slots__ = ("args", "attempt", "backend", "cancel_requested", "ended", "fn", "host",
                 "job", "job_id", "kwargs", "reason", "started", "timer", "token", "worker")

    def __init__(self, job: Job, fn: Callable[..., Any], args: tuple[Any, ...],
                 kwargs: dict[str, Any], attempt: int, backend: str, started: float,
                 host: ExecutorHost | None = None) -> None:
        self.host = host
        self.job = job
        self.job_id = job.job_id
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.attempt = attempt
        self.backend = backend
        self.started = started
        self.cancel_requested = False
        self.ended = False  # set once by the host, under its lock
        self.reason: str | None = None  # "timeout" | "cancel" when interrupted
        self.timer: Any = None  # the host's timeout timer, if any
        self.token: Any = None  # the executor's own handle (a task, a future, a worker)
        self.worker: Any = None


    # RunContext: what god.progress() / god.cancelled() reach inside the job.
    def report(self, done: float, total: float | None, message: str | None) -> None:
        if self.host is not None:
            self.host.progress(self, done, total, message)

    def call(self) -> Any:
        """Run the function here, with this attempt as the current job context."""
        __tracebackhide__ = True  # IPython: a job's traceback starts at the user's function
        token = current_run.set(self)
        try:
            return self.fn(*self.args, **self.kwargs)
        finally:
            current_run.reset(token)

    def output_sink(self, create: bool | None = None) -> OutputSink | None:
        """Where this attempt's prints go when its job's output is captured, else None.

        ``create=True`` starts capturing the job's output now; None follows the host's
        setting (see :mod:`godnb.execution.output`). Asked by the stdout/stderr router on
        each write made inside the job, never by the engine's own paths.
        """
        host = self.host
        return None if host is None else host.output_for(self, create)

    def __repr__(self) -> str:
        return f"<Run {self.job_id} attempt={self.attempt} backend={self.backend}>"


class ExecutorHost(Protocol):
    """What the engine (or a :class:`~godnb.concurrency.process_pool.StandaloneHost`)
    offers its executors: everything a backend may call, and nothing else."""

    #: True once the host is shutting down: idle workers exit instead of waiting.
    closing: bool
    #: Set by a submitter that found the host busy (a hint, read and cleared without a
    #: lock): a worker between jobs then lets go of the GIL briefly so the submitter runs.
    submitter_waiting: bool

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    def next_run(self, backend: str, timeout: float | None = None) -> Run | None:
        """The next attempt for ``backend``, marked running; None if none within timeout."""

    def next_runs(self, backend: str, timeout: float | None, limit: int) -> list[Run]:
        """Up to ``limit`` attempts at once (at least one, or none within ``timeout``)."""

    def give_back(self, runs: list[Run]) -> None:
        """Return attempts that were taken but never started to the queue, as pending."""

    def outranked(self, backend: str, priority: int) -> bool:
        """True when a job of higher priority than ``priority`` waits (a cheap hint)."""

    def finish(self, run: Run, value: Any = None, error: BaseException | None = None,
               tb: str | None = None) -> None:
        """Report how an attempt ended; ignored if the host already ended it."""

    def progress(self, run: Run, done: float, total: float | None,
                 message: str | None) -> None:
        """Report progress of a running attempt (any thread)."""

    def wake_workers(self, backend: str) -> None:
        """Wake workers blocked in ``next_run(backend)``, e.g. so they see a shutdown."""

    def queued(self, backend: str) -> int:
        """How many jobs wait in ``backend``'s queue (for backends that size a pool)."""

    def output_for(self, run: Run, create: bool | None = None) -> OutputSink | None:
        """The sink of ``run``'s job if its output is captured (``create=True``: start
        capturing it), else None. Called on each print inside a job: must be quick."""


@dataclass(frozen=True)
class ExecutorInfo:
    """A snapshot of one backend: its workers and how many are busy."""

    name: str
    workers: int
    busy: int
    started: bool


class Executor(Plugin, kind="executor"):
    """Base class of the backends. Subclass with ``name=`` to register one.

    Class attributes tell the engine how to treat the backend:
    ``needs_loop``: attempts run on the engine's event loop (blocking waits for them on
    the loop thread would deadlock); ``needs_pickle``: work crosses a process boundary.
    """

    needs_loop: ClassVar[bool] = False
    needs_pickle: ClassVar[bool] = False

    def __init__(self, workers: int | None = None) -> None:
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise ValueError(f"workers must be a positive int, got {workers!r}")
        self.workers = workers or 1
        self.host: ExecutorHost | None = None
        self.name = self.plugin_name

    def start(self, host: ExecutorHost, name: str | None = None) -> None:
        """Attach to the engine. Workers may start lazily on the first ``wake``."""
        self.host = host
        if name:
            self.name = name

    def wake(self) -> None:
        """Work for this backend was queued. Pull-by-thread backends need not react."""

    def interrupt(self, run: Run, reason: str) -> None:
        """Stop a running attempt as well as the backend allows (default: set its flag)."""
        run.cancel_requested = True

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the workers; with ``wait``, let running attempts end first."""

    def info(self) -> ExecutorInfo:
        return ExecutorInfo(self.name, self.workers, 0, self.host is not None)

    def worker_keys(self) -> list[Any]:
        """This backend's workers, as ``Run.worker`` names them while one runs an attempt
        (a thread, a process slot), for per-worker views. Empty for backends whose runs
        have no worker of their own (async tasks, Dask): they share one lane."""
        return []
