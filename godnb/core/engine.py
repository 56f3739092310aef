"""The :class:`Engine`: submit jobs, watch them, wait for them.

Example:
    >>> import godnb as god
    >>> with god.Engine(threads=4) as eng:
    ...     h = eng.submit(pow, 2, 10, priority=5)
    ...     h.result()
    1024
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from godnb.concurrency.async_tasks import AsyncExecutor
from godnb.concurrency.inline import InlineExecutor
from godnb.concurrency.threads import ThreadExecutor
from godnb.core.durability import Durability
from godnb.core.handles import JobGroup, JobHandle
from godnb.core.runtime import Runtime
from godnb.core.tasks import TaskSpec, resolve_task
from godnb.core.timeline import Timeline
from godnb.errors import ValidationError
from godnb.execution.executor import Executor, ExecutorInfo
from godnb.execution.loop import EngineLoop
from godnb.models.events import JobEvent
from godnb.models.job import JSON_SCALAR_TYPES, Job, JobStatus, validate_payload
from godnb.utils.cache import Cache, make_key
from godnb.utils.naming import callable_name
from godnb.utils.profile import ProfileTable
from godnb.utils.retry import RetryPolicy
from godnb.utils.timing import finite_or_none

__all__ = ["Engine", "EngineStats", "JobBuilder", "default_engine", "set_default_engine"]

OPTION_NAMES = frozenset({"priority", "retries", "timeout", "backend", "group", "name",
                          "tags", "cache"})
_engine_ids = itertools.count(1)


class EngineStats(BaseModel):
    """A frozen snapshot of an engine: counts, depth, throughput and latency."""

    model_config = ConfigDict(frozen=True)

    counts: dict[str, int]
    queue_depth: int
    submitted: int
    retried: int
    throughput: float          # finished jobs per second since the engine started
    latency_p50: float | None  # submit-to-start, seconds
    latency_p99: float | None
    workers: dict[str, dict[str, int]]
    uptime: float
    at: datetime

    @property
    def active(self) -> int:
        return self.counts["pending"] + self.counts["running"]

    def __str__(self) -> str:
        counts = " ".join(f"{k}={v}" for k, v in self.counts.items())
        p99 = "-" if self.latency_p99 is None else f"{self.latency_p99 * 1e3:.2f} ms"
        return (f"{counts} depth={self.queue_depth} throughput={self.throughput:.1f}/s "
                f"p99 start latency={p99}")


class Engine:
    """Runs jobs on threads, processes, asyncio tasks (and plugins), fairly by priority.

    Args:
        threads: thread workers (default ``min(32, cpus + 4)``).
        processes: process workers (default: cpu count); started on the first process job.
        async_limit: how many async jobs run at once.
        backend: where plain functions run by default (coroutines always go to "async").
        store: a :class:`godnb.SQLiteStore` (or a path to one), ShelveStore or MemoryStore;
            jobs then survive a restart and other processes on the file share the work.
        cache: a :class:`godnb.Cache` for ``submit(..., cache=True)``.
        executors: extra or replacement backends by name.
        max_pending: bound on queued jobs; ``on_full="block"`` waits, ``"reject"`` raises
            :class:`godnb.QueueFull`.
        keep_finished: finished jobs kept for ``jobs()`` and lookups (handles you hold live on).
        timeline_size: ended runs kept for ``timeline()`` and ``report()`` (the most
            recent; 100,000 by default, about 21 bytes each).
    """

    def __init__(self, threads: int | None = None, processes: int | None = None, *,
                 async_limit: int = 1000, backend: str = "thread", store: Any = None,
                 cache: Cache | None = None, executors: dict[str, Executor] | None = None,
                 max_pending: int | None = None, on_full: str = "block",
                 keep_finished: int = 10_000, mp_context: str | None = None,
                 name: str | None = None, poll_interval: float = 0.25,
                 timeline_size: int | None = None) -> None:
        if on_full not in ("block", "reject"):
            raise ValueError(f"on_full must be 'block' or 'reject', got {on_full!r}")
        if max_pending is not None and max_pending < 1:
            raise ValueError(f"max_pending must be >= 1 or None, got {max_pending}")
        self.name = name or f"engine-{next(_engine_ids)}"
        self.id = f"{os.uname().nodename}-{os.getpid()}-{os.urandom(4).hex()}"
        pool = self._executors(threads, processes, async_limit, mp_context, executors or {})
        if backend not in pool:
            raise ValueError(f"unknown backend {backend!r}; valid backends: {sorted(pool)}")
        self.default_backend = backend
        self.cache = cache
        self._templates: dict[tuple[Any, ...], Job] = {}
        self._closed = False
        self._loop = EngineLoop()
        self._rt = Runtime(pool, loop=self._loop, max_pending=max_pending, on_full=on_full,
                           keep_finished=keep_finished, timeline_size=timeline_size)
        self._rt.on_final.append(self._remember)
        self.store = None
        self._durable: Durability | None = None
        if store is not None:
            self._durable = Durability(self._rt, store, owner=self.id,
                                       default_backend=backend, poll_interval=poll_interval)
            self.store = self._durable.store
        _live_engines.add(self)

    @staticmethod
    def _executors(threads: int | None, processes: int | None, async_limit: int,
                   mp_context: str | None, extra: dict[str, Executor]) -> dict[str, Executor]:
        from godnb.concurrency.processes import ProcessExecutor

        pool: dict[str, Executor] = {
            "thread": ThreadExecutor(threads),
            "process": ProcessExecutor(processes, mp_context=mp_context),
            "async": AsyncExecutor(async_limit),
            "inline": InlineExecutor(),
        }
        for name, executor in extra.items():
            if not isinstance(executor, Executor):
                raise TypeError(f"executors[{name!r}] must be an Executor instance, got "
                                f"{type(executor).__name__}")
            pool[name] = executor
        return pool

    # -- submitting ------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any] | str, /, *args: Any, priority: int | None = None,
               retries: int | RetryPolicy | None = None, timeout: float | None = None,
               backend: str | None = None, group: str | None = None, name: str | None = None,
               tags: Iterable[str] | None = None, cache: bool | None = None,
               **kwargs: Any) -> JobHandle:
        """Run ``fn(*args, **kwargs)`` as a job; returns its handle at once.

        ``fn`` is a callable, a registered task name or ``"module:function"``. The reserved
        keywords set job options; every other keyword goes to ``fn``.
        """
        options = dict(priority=priority, retries=retries, timeout=timeout, backend=backend,
                       group=group, name=name, tags=tags, cache=cache)
        return self._submit(fn, [(args, kwargs)], options)[0]

    def job(self, fn: Callable[..., Any] | str, /, *args: Any, **kwargs: Any) -> JobBuilder:
        """A fluent builder: every keyword goes to ``fn``; options go through methods.

        Example:
            >>> eng.job(fetch, url).priority(5).retries(3, backoff=0.5).timeout(2).submit()
            ... # doctest: +SKIP
        """
        return JobBuilder(self, fn, args, kwargs)

    def map(self, fn: Callable[..., Any] | str, /, *iterables: Iterable[Any],
            priority: int | None = None, retries: int | RetryPolicy | None = None,
            timeout: float | None = None, backend: str | None = None,
            group: str | None = None, name: str | None = None,
            tags: Iterable[str] | None = None, cache: bool | None = None) -> JobGroup:
        """One job per item (``fn(item)``, or ``fn(a, b)`` over several iterables).

        The whole batch is queued (and, with a store, committed) at once.
        """
        if not iterables:
            raise TypeError("map() needs at least one iterable of arguments")
        options = dict(priority=priority, retries=retries, timeout=timeout, backend=backend,
                       group=group, name=name, tags=tags, cache=cache)
        jobs = JobGroup(name=name or callable_name(fn))
        with gc_paused():
            calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
                (tuple(args), {}) for args in zip(*iterables, strict=False)]
            self._submit(fn, calls, options, jobs)
        return jobs

    def _submit(self, fn: Callable[..., Any] | str,
                calls: list[tuple[tuple[Any, ...], dict[str, Any]]],
                options: dict[str, Any], group: JobGroup | None = None) -> list[JobHandle]:
        if self._closed:
            raise RuntimeError("engine is shut down; create a new Engine to submit jobs")
        spec = resolve_task(fn)
        opts = _merge_options(spec, options)
        backend = self._pick_backend(spec, opts.pop("backend"))
        policy = opts.pop("retries")
        retries = policy.max_retries if isinstance(policy, RetryPolicy) else (policy or 0)
        use_cache = bool(opts.pop("cache"))
        task = fn if isinstance(fn, str) else spec.fn
        now = datetime.now(UTC)
        mono = time.monotonic()
        handles: list[JobHandle] = []  # every job, in call order
        queued: list[JobHandle] = []
        cached: list[tuple[JobHandle, Any]] = []
        template = self._template(task, calls[0], opts, retries, policy, backend, use_cache)
        # A big map of a live callable starts running while the rest is still being built:
        # its payloads can not fail validation halfway. Named tasks (JSON checks), cached
        # and durable batches are built whole first, so bad input queues nothing.
        stream = callable(task) and not use_cache and self._durable is None
        for args, kwargs in calls:
            job = template.derive(_payload(task, args, kwargs), now)
            h = JobHandle(self._rt, job, spec.fn, args, kwargs, mono)
            if isinstance(policy, RetryPolicy):
                h.policy = policy
            handles.append(h)
            if not (use_cache and self._cache_hit(h, spec, cached)):
                queued.append(h)
                if stream and len(queued) >= _CHUNK:
                    self._queue(queued, backend, group)
                    queued = []
        if self._durable is not None and queued:
            self._durable.add(queued)
        self._queue(queued, backend, group)
        if group is not None and cached:
            group._attach([h for h, _ in cached])
        for h, value in cached:
            self._rt.complete_cached(h, value)
        if group is not None:
            group.handles = handles  # input order, cache hits included
        return handles

    def _queue(self, handles: list[JobHandle], backend: str, group: JobGroup | None) -> None:
        if group is not None:
            group._attach(handles)
        if handles:
            self._rt.enqueue(handles, backend)

    def _template(self, task: Any, first: tuple[tuple[Any, ...], dict[str, Any]],
                  opts: dict[str, Any], retries: int, policy: Any, backend: str,
                  use_cache: bool) -> Job:
        """A validated Job with these options, reused across submits (jobs derive from it).

        Validating every field of every job costs ~10 us; the options of repeated submits
        are usually identical, so they are validated once per distinct set.
        """
        backoff = policy.backoff if isinstance(policy, RetryPolicy) else 0.0
        key = (task if isinstance(task, str) else id(task), retries, backoff, backend,
               use_cache, opts["priority"], opts["group"], opts["name"], opts["timeout"],
               tuple(opts["tags"]))
        template = self._templates.get(key)
        if template is None or (not isinstance(task, str) and template.task is not task):
            args, kwargs = first
            template = Job(payload={"task": task, "args": args, "kwargs": kwargs},
                           retries=retries, backoff=backoff, backend=backend, cache=use_cache,
                           **opts)
            if len(self._templates) >= 256:
                self._templates.clear()
            self._templates[key] = template
        return template

    def _cache_hit(self, h: JobHandle, spec: TaskSpec,
                   cached: list[tuple[JobHandle, Any]]) -> bool:
        cache = self.cache
        if cache is None:
            cache = self.cache = Cache(maxsize=10_000)
        h.cache_key = make_key(spec.name, h.args, h.kwargs)
        hit = cache.get(h.cache_key, _MISS)
        if hit is _MISS:
            return False
        cached.append((h, hit))
        return True

    def _remember(self, h: JobHandle) -> None:
        if h.cache_key is not None and not h.cached and h.job.status is JobStatus.COMPLETED:
            assert self.cache is not None
            self.cache.set(h.cache_key, h.output)

    def _pick_backend(self, spec: TaskSpec, backend: str | None) -> str:
        if backend is None:
            backend = "async" if spec.is_async else self.default_backend
        if backend not in self._rt.executors:
            raise ValueError(f"unknown backend {backend!r}; valid backends: "
                             f"{sorted(self._rt.executors)}")
        return backend

    # -- looking -----------------------------------------------------------------------
    def get(self, job_id: str) -> JobHandle | None:
        """The handle of a job this engine knows (active or recently finished)."""
        return self._rt.get(job_id)

    def jobs(self, status: JobStatus | str | None = None) -> list[JobHandle]:
        """Handles of active and recently finished jobs, optionally of one status."""
        handles = self._rt.handles()
        if status is None:
            return handles
        wanted = JobStatus(status)
        return [h for h in handles if h.job.status is wanted]

    def running(self) -> list[JobHandle]:
        """Handles of the jobs running now."""
        with self._rt.lock:
            return list(self._rt.running.values())

    def pending(self, n: int = 20) -> list[JobHandle]:
        """The next ``n`` queued jobs, in the order they will start (across backends)."""
        with self._rt.lock:
            return self._rt.top_pending(n)

    def cancel(self, job_id: str) -> bool:
        """Cancel a job by id; False if it ended already or is unknown."""
        if self._rt.cancel(job_id):
            return True
        return self._durable is not None and self._durable.cancel_elsewhere(job_id)

    def release(self, job_ids: Iterable[str]) -> list[str]:
        """Give unfinished jobs back to the store, unowned and pending, for another engine.

        Each is stopped here as if cancelled (a process job is killed, a thread job
        flagged), but the store keeps it pending. A job that ends meanwhile keeps its
        outcome. Returns the ids released. For a worker's graceful shutdown.

        Raises:
            ValueError: the engine has no store.
        """
        return self._need_store("release()").release(job_ids)

    def stop_claiming(self) -> None:
        """Take no more jobs from the store; returns once no claim is in flight."""
        self._need_store("stop_claiming()").stop_polling()

    def _need_store(self, what: str) -> Durability:
        if self._durable is None:
            raise ValueError(f"{what} needs an engine with a store: Engine(store=path)")
        return self._durable

    def stats(self) -> EngineStats:
        """Counts by status, queue depth, throughput and submit-to-start latency."""
        rt = self._rt
        with rt.lock:
            counts = {s.value: n for s, n in rt.counts.items()}
        uptime = max(time.monotonic() - rt.started_at, 1e-9)
        finished = counts["completed"] + counts["failed"] + counts["cancelled"]
        return EngineStats(
            counts=counts,
            queue_depth=sum(len(s) for s in rt.schedulers.values()),
            submitted=rt.submitted, retried=rt.retried, throughput=finished / uptime,
            latency_p50=finite_or_none(rt.latency.percentile(50)),
            latency_p99=finite_or_none(rt.latency.percentile(99)),
            workers={n: _info_dict(e.info()) for n, e in rt.executors.items()},
            uptime=uptime, at=datetime.now(UTC))

    def profile(self) -> ProfileTable:
        """Per task: count, ok, failed, retried, cache hits, run-time percentiles."""
        return self._rt.profile.table()

    def timeline(self) -> Timeline:
        """The task stream: one lane per worker, one mark per run, coloured by task.

        Live in a notebook (redrawn at most twice a second while jobs run), SVG in the
        HTML fallback, a text strip per lane in ``str()``; ``.snapshot()`` is the data.
        """
        return Timeline(self)

    def report(self, path: str | os.PathLike[str] = "godnb-report.html") -> Path:
        """Write this engine's run to one self-contained HTML file; returns its path.

        Summary, outcomes, the timeline, the profile table and the first failures, with
        no script, stylesheet or font from the network: open it anywhere, send it.

        Example:
            >>> eng.report("run.html")        # doctest: +SKIP
            PosixPath('run.html')
        """
        from godnb.core.reporting import engine_report, write_report

        return write_report(engine_report(self), path)

    def events(self) -> AsyncIterator[JobEvent]:
        """Every job's events as they happen: ``async for ev in eng.events()``."""
        return self._rt.all_events()

    def add_listener(self, listener: Callable[[JobEvent], Any]) -> Callable[[], None]:
        """Call ``listener(event)`` for every event (on the emitting thread); returns a remover."""
        return self._rt.hub.add_listener(listener)

    def queue_view(self, **kwargs: Any) -> Any:
        """The live queue widget (needs ``godnb[notebook]``)."""
        from godnb.core.display import view

        return view("queue", self, **kwargs)

    @property
    def executors(self) -> dict[str, Executor]:
        return dict(self._rt.executors)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop.loop

    # -- waiting and closing -------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Block until every job this engine knows of has ended (True) or timeout (False)."""
        return self._rt.wait_idle(timeout)

    async def wait_async(self) -> None:
        """Wait, without blocking the loop, until every known job has ended."""
        await self._rt.wait_idle_async()

    def shutdown(self, wait: bool = True, timeout: float | None = None, *,
                 release: bool = False) -> None:
        """Stop the engine. ``wait=True`` lets every job finish; ``wait=False`` cancels them.

        ``release=True`` (an engine with a store): jobs that have not ended (with
        ``wait=True``, those still running after ``timeout``) are not cancelled in the store
        but left pending there, for the next engine on it: a later session, or a
        ``godnb worker``. Here they stop as if cancelled (a process job is killed, a thread
        job flagged), and each runs again from the start where it is picked up.
        """
        if self._closed:
            return
        if release and self._durable is None:
            raise ValueError("release=True keeps unfinished jobs in the engine's store, and "
                             "this engine has none; pass store=... to Engine, or drop "
                             "release=True")
        if wait:
            self.wait(timeout)
        if self._durable is not None:
            self._durable.stop_polling()
            if release:
                with self._rt.lock:
                    unfinished = list(self._rt.active)
                self._durable.release(unfinished)
        self._closed = True
        self._rt.cancel_all()
        self._rt.stop(wait=wait, timeout=timeout)
        if self._durable is not None:
            self._durable.close()
        self._loop.close()
        _live_engines.discard(self)
        if _default[0] is self:
            _default[0] = None

    close = shutdown

    async def aclose(self) -> None:
        """Await every job, then shut down (the async twin of ``close``)."""
        if not self._closed:
            await self.wait_async()
            await asyncio.to_thread(self.shutdown, True)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown(wait=exc[0] is None)

    async def __aenter__(self) -> Engine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            await self.aclose()
        else:
            self.shutdown(wait=False)

    def __repr__(self) -> str:
        c = self._rt.counts
        return (f"<Engine {self.name} pending={c[JobStatus.PENDING]} "
                f"running={c[JobStatus.RUNNING]} completed={c[JobStatus.COMPLETED]} "
                f"failed={c[JobStatus.FAILED]} cancelled={c[JobStatus.CANCELLED]}>")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        from godnb.core.display import mimebundle

        return mimebundle(self)


class JobBuilder:
    """Fluent job options: ``eng.job(fn, x).priority(5).retries(3).on("process").submit()``."""

    def __init__(self, engine: Engine, fn: Callable[..., Any] | str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self._engine = engine
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._options: dict[str, Any] = {}

    def _set(self, **options: Any) -> JobBuilder:
        self._options.update(options)
        return self

    def priority(self, priority: int) -> JobBuilder:
        """Higher runs first."""
        return self._set(priority=priority)

    def retries(self, retries: int | RetryPolicy, backoff: float | None = None,
                **policy: Any) -> JobBuilder:
        """Attempts allowed after the first; ``backoff`` seconds before the first retry,
        doubling each time (``factor=``, ``max_delay=``, ``jitter=`` also accepted)."""
        if isinstance(retries, RetryPolicy):
            return self._set(retries=retries)
        if backoff is None and not policy:
            return self._set(retries=retries)
        return self._set(retries=RetryPolicy(max_retries=retries, backoff=backoff or 0.0,
                                             **policy))

    def timeout(self, seconds: float) -> JobBuilder:
        """Fail an attempt that runs longer (kills process jobs, cancels async ones)."""
        return self._set(timeout=seconds)

    def on(self, backend: str) -> JobBuilder:
        """Run on this backend: ``"thread"``, ``"process"``, ``"async"``, ``"inline"``..."""
        return self._set(backend=backend)

    def group(self, group: str) -> JobBuilder:
        """The submitter (user, notebook, tenant) for fair turns at equal priority."""
        return self._set(group=group)

    def name(self, name: str) -> JobBuilder:
        return self._set(name=name)

    def tags(self, *tags: str) -> JobBuilder:
        return self._set(tags=tags)

    def cache(self, enabled: bool = True) -> JobBuilder:
        """Reuse the result of an earlier identical call from the engine's cache."""
        return self._set(cache=enabled)

    def submit(self) -> JobHandle:
        """Queue the job; returns its handle."""
        options = {k: self._options.get(k) for k in OPTION_NAMES}
        return self._engine._submit(self._fn, [(self._args, self._kwargs)], options)[0]

    def __repr__(self) -> str:
        return f"<JobBuilder {callable_name(self._fn)} {self._options}>"


_MISS = object()
_CHUNK = 2048  # jobs per hand-off while a big map is still being built


def _merge_options(spec: TaskSpec, options: dict[str, Any]) -> dict[str, Any]:
    merged = {k: (v if v is not None else spec.options.get(k)) for k, v in options.items()}
    merged["priority"] = merged["priority"] or 0
    merged["group"] = merged["group"] or "default"
    merged["tags"] = tuple(merged["tags"] or ())
    if merged["name"] is None:
        merged["name"] = spec.name.rpartition(":")[2] if ":" in spec.name else spec.name
    return merged


def _payload(task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    if type(args) is tuple and type(kwargs) is dict:
        # Arguments this engine packed itself, for a live callable (nothing to check) or a
        # task name its template validated, with only scalar arguments (JSON already).
        if not isinstance(task, str):
            return {"task": task, "args": args, "kwargs": kwargs}
        if not kwargs:
            for arg in args:
                if type(arg) not in JSON_SCALAR_TYPES:
                    break
            else:
                return {"task": task, "args": args, "kwargs": kwargs}
    try:
        return validate_payload({"task": task, "args": args, "kwargs": kwargs})
    except ValueError as e:
        raise ValidationError(f"invalid Job: {e}") from e


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch of jobs is built.

    A batch allocates several objects per job and keeps all of them (the queue holds
    them), so a collection during it frees nothing; yet each full collection walks every
    job built so far (a 50k async map: 5.1 us a job to build paused, 8.7 unpaused). Jobs
    already running keep running; cycles they make wait for the end of the build. A no-op
    when the collector is off already; it is turned back on only if it was on.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _info_dict(info: ExecutorInfo) -> dict[str, int]:
    return {"workers": info.workers, "busy": info.busy, "started": int(info.started)}


# -- the default engine used by god.submit / god.map and the magics ------------------------
_default: list[Engine | None] = [None]
_default_lock = threading.Lock()
_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def default_engine() -> Engine:
    """The engine used by ``god.submit``, ``god.map`` and ``%god``; made on first use."""
    with _default_lock:
        eng = _default[0]
        if eng is None or eng.closed:
            eng = _default[0] = Engine(name="default")
        return eng


def set_default_engine(engine: Engine | None) -> Engine | None:
    """Make ``engine`` the default; returns the previous one (not shut down)."""
    if engine is not None and not isinstance(engine, Engine):
        raise TypeError(f"set_default_engine() takes an Engine, got {type(engine).__name__}")
    with _default_lock:
        previous, _default[0] = _default[0], engine
    return previous


def live_engines() -> list[Engine]:
    """Engines not yet shut down (the test suite checks nothing leaks)."""
    return [e for e in list(_live_engines) if not e.closed]
