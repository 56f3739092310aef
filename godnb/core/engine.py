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
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from godnb.concurrency.async_tasks import AsyncExecutor
from godnb.concurrency.inline import InlineExecutor
from godnb.concurrency.threads import ThreadExecutor
from godnb.core import defaults, origin
from godnb.core.builder import JobBuilder
from godnb.core.defaults import default_engine, set_default_engine
from godnb.core.durability import DEFAULT_MAX_LAG, Durability
from godnb.core.handles import INTERRUPTED, JobGroup, JobHandle, wait_interruptibly
from godnb.core.options import check_job_options, check_store_options
from godnb.core.resume import RecoveryStats
from godnb.core.runs import InFlight, KeyedRuns
from godnb.core.runtime import Runtime
from godnb.core.submission import (
    CHUNK,
    gc_paused,
    make_payload,
    merge_options,
    task_ref,
    template_task,
)
from godnb.core.tasks import TaskSpec, check_allow, resolve_task
from godnb.core.timeline import Timeline
from godnb.execution.executor import Executor, ExecutorInfo
from godnb.execution.loop import EngineLoop
from godnb.execution.output import install as install_output_router
from godnb.models.events import JobEvent
from godnb.models.job import Job, JobStatus
from godnb.utils.cache import Cache, make_key
from godnb.utils.naming import callable_name
from godnb.utils.profile import ProfileTable
from godnb.utils.retry import RetryPolicy
from godnb.utils.timing import finite_or_none

if TYPE_CHECKING:
    from godnb.core.futures import JobExecutor

__all__ = ["Engine", "EngineStats", "JobBuilder", "default_engine", "set_default_engine"]

_MISS = object()
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
    store_lag: int | None = None  # jobs changed but not yet written (None: no store)

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
            recent; 100,000 by default, about 40 bytes each).
        resume: with a store, adopt the jobs it holds that this engine can run: recovered
            ones, and ones submitted elsewhere (the CLI, another process) or released;
            ``wait()`` then also waits for those. ``False`` claims nothing this engine did
            not submit (a ``godnb worker`` on the file runs the rest).
        retry_interrupted: with a store, re-queue jobs that were running when their
            engine died even when they have no retries left (for idempotent work); by
            default those fail.
        max_lag: with a store, how many jobs the store may trail the engine by (plus the
            jobs running) before workers wait for the write-behind to catch up.
        flush_timeout: seconds ``shutdown()`` keeps retrying writes the store refused
            (an attempt itself may wait up to the store's own lock timeout, 10 s for
            SQLite); what is still unwritten then is warned about and listed in
            :attr:`unwritten`.
        capture_output: keep what each job prints and logs for ``h.output_text()`` instead
            of letting it reach the screen. None (default): only where the notebook layer
            turned capture on, i.e. in a Jupyter kernel (see :mod:`godnb.execution.output`).
        default: become the default engine (``god.default_engine()``, what ``god.submit``
            and the ``%god`` magics use). None (default): only if no live default was set
            yet, so the first engine made in a session drives the magics;
            ``god.set_default_engine`` still overrides. True: always; False: never.
        allow: module patterns (``["mypkg.*"]``) whose jobs this engine may run when it
            reads them from its store. A store file can name any code, so a stored job
            runs only if its task is registered with ``@god.task``, was submitted by name
            to this engine, or its module matches; others fail with the reason (see
            :func:`godnb.core.tasks.is_allowed`). ``["*"]`` trusts the store like code.

    Keyed runs: ``submit(..., key="sweep")`` (and ``map``, ``.key()``) cancels this
    engine's unfinished jobs of an earlier run with the same key, so re-running a cell
    replaces its jobs instead of doubling them ("the latest run wins"). Single flight: a
    ``cache=True`` job identical to one still pending or running does not run; it ends
    with that job's result or error (a cache hit in ``eng.profile()``).
    """

    def __init__(self, threads: int | None = None, processes: int | None = None, *,
                 async_limit: int = 1000, backend: str = "thread", store: Any = None,
                 cache: Cache | None = None, executors: dict[str, Executor] | None = None,
                 max_pending: int | None = None, on_full: str = "block",
                 keep_finished: int = 10_000, mp_context: str | None = None,
                 name: str | None = None, poll_interval: float = 0.25,
                 resume: bool = True, retry_interrupted: bool = False,
                 max_lag: int = DEFAULT_MAX_LAG, flush_timeout: float = 30.0,
                 capture_output: bool | None = None, default: bool | None = None,
                 allow: Iterable[str] | None = None,
                 timeline_size: int | None = None) -> None:
        if on_full not in ("block", "reject"):
            raise ValueError(f"on_full must be 'block' or 'reject', got {on_full!r}")
        if max_pending is not None and max_pending < 1:
            raise ValueError(f"max_pending must be >= 1 or None, got {max_pending}")
        check_store_options(max_lag, flush_timeout, resume=resume,
                            retry_interrupted=retry_interrupted)
        allowed = check_allow(allow)
        self.name = name or f"engine-{next(_engine_ids)}"
        self.id = f"{os.uname().nodename}-{os.getpid()}-{os.urandom(4).hex()}"
        pool = self._executors(threads, processes, async_limit, mp_context, executors or {})
        if backend not in pool:
            raise ValueError(f"unknown backend {backend!r}; valid backends: {sorted(pool)}")
        self.default_backend = backend
        self.cache = cache
        self._templates: dict[tuple[Any, ...], tuple[Job, Callable[[], Any]]] = {}
        self._closed = False
        self._loop = EngineLoop()
        self._rt = Runtime(pool, loop=self._loop, max_pending=max_pending, on_full=on_full,
                           keep_finished=keep_finished, timeline_size=timeline_size)
        self._rt.on_final.append(self._remember)
        self._rt.capture_output = capture_output
        if capture_output:
            install_output_router()
        self._keyed = KeyedRuns()  # key -> the latest run's jobs
        self._inflight = InFlight()  # cache key -> the job computing it (single flight)
        self.store = None
        self._durable: Durability | None = None
        if store is not None:
            self._durable = Durability(self._rt, store, owner=self.id,
                                       default_backend=backend, poll_interval=poll_interval,
                                       max_lag=max_lag, flush_timeout=flush_timeout,
                                       resume=resume, retry_interrupted=retry_interrupted,
                                       allow=allowed)
            self.store = self._durable.store
        defaults.register(self)
        if default is not False:
            defaults.offer_default(self, force=bool(default))

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
               key: str | None = None, **kwargs: Any) -> JobHandle:
        """Run ``fn(*args, **kwargs)`` as a job; returns its handle at once.

        ``fn`` is a callable, a registered task name or ``"module:function"``. The reserved
        keywords set job options; every other keyword goes to ``fn``. ``key``: cancel this
        engine's unfinished jobs submitted earlier with the same key (they end cancelled,
        "replaced by job X (key 'k')"); ``cache=True``: reuse an earlier identical call's
        result, or share the one still running.
        """
        options = dict(priority=priority, retries=retries, timeout=timeout, backend=backend,
                       group=group, name=name, tags=tags, cache=cache, key=key)
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
            tags: Iterable[str] | None = None, cache: bool | None = None,
            key: str | None = None) -> JobGroup:
        """One job per item (``fn(item)``, or ``fn(a, b)`` over several iterables).

        The whole batch is queued (and, with a store, committed) at once. With ``key``,
        the unfinished jobs of an earlier run with that key are cancelled.
        """
        if not iterables:
            raise TypeError("map() needs at least one iterable of arguments")
        options = dict(priority=priority, retries=retries, timeout=timeout, backend=backend,
                       group=group, name=name, tags=tags, cache=cache, key=key)
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
        opts = merge_options(spec, options)
        key = opts["key"]
        hook = origin.hook_slot[0]  # once per call, never per job of a map
        cell = origin.current_origin() if hook is not None else None
        opts["cell"], opts["cell_id"] = cell if cell is not None else (None, None)
        backend = self._pick_backend(spec, opts.pop("backend"))
        policy = opts.pop("retries")
        retries = policy.max_retries if isinstance(policy, RetryPolicy) else \
            (0 if policy is None else policy)
        cache_option = opts.pop("cache")
        use_cache = bool(cache_option)
        if not calls:
            return []
        task = fn if isinstance(fn, str) else spec.fn
        now = datetime.now(UTC)
        mono = time.monotonic()
        handles: list[JobHandle] = []  # every job, in call order
        queued: list[JobHandle] = []
        cached: list[tuple[JobHandle, Any]] = []
        start = len(group.handles) if group is not None else 0  # a group may grow
        followers: list[tuple[JobHandle, JobHandle]] = []  # (job, identical one in flight)
        template = self._template(task, calls[0], opts, retries, policy, backend, use_cache,
                                  cache_option)
        # A big map of a live callable starts running while the rest is still being built:
        # its payloads can not fail validation halfway. Named tasks (JSON checks), cached
        # and durable batches are built whole first, so bad input queues nothing.
        stream = callable(task) and not use_cache and self._durable is None
        for args, kwargs in calls:
            job = template.derive(make_payload(task, args, kwargs), now)
            h = JobHandle(self._rt, job, spec.fn, args, kwargs, mono)
            if isinstance(policy, RetryPolicy):
                h.policy = policy
            handles.append(h)
            if not (use_cache and self._cache_hit(h, spec, cached, followers, key)):
                queued.append(h)
                if stream and len(queued) >= CHUNK:
                    self._queue(queued, backend, group)
                    queued = []
        if self._durable is not None and queued:
            self._durable.add(queued)
        if key is not None:
            self._keyed.replace(key, handles, self._rt.cancel)
        self._queue(queued, backend, group)
        if group is not None and (cached or followers):
            group._attach([h for h, _ in cached] + [h for h, _ in followers])
        for h, value in cached:
            self._rt.complete_cached(h, value)
        for h, leader in followers:
            self._rt.follow(h, leader, backend)
        if group is not None:  # input order, cache hits included
            if start:
                group.handles[start:] = handles  # a group that grows (an executor's)
            else:
                group.handles = handles
        return handles

    def _queue(self, handles: list[JobHandle], backend: str, group: JobGroup | None) -> None:
        if group is not None:
            group._attach(handles)
        if handles:
            self._rt.enqueue(handles, backend)

    def _template(self, task: Any, first: tuple[tuple[Any, ...], dict[str, Any]],
                  opts: dict[str, Any], retries: int, policy: Any, backend: str,
                  use_cache: bool, cache_option: Any = None) -> Job:
        """A validated Job with these options, reused across submits (jobs derive from it).

        Validating every field of every job costs ~10 us; the options of repeated submits
        are usually identical, so they are validated once per distinct set: strictly,
        wrong types refused (``check_job_options``). The key holds the types of the
        numbers, as ``True == 1`` and ``1.0 == 1`` would otherwise share a template.
        """
        backoff = policy.backoff if isinstance(policy, RetryPolicy) else 0.0
        priority, timeout = opts["priority"], opts["timeout"]
        key = (task if isinstance(task, str) else id(task), retries, backoff, backend,
               cache_option, priority, opts["group"], opts["name"], timeout, opts["tags"],
               opts["key"], opts["cell"], opts["cell_id"],
               type(retries), type(priority), type(timeout), type(cache_option))
        entry = self._templates.get(key)
        if entry is not None and (isinstance(task, str) or entry[1]() is task):
            return entry[0]
        check_job_options(priority=priority, retries=policy if policy is not None else 0,
                          timeout=timeout, group=opts["group"], name=opts["name"],
                          cache=cache_option)
        args, kwargs = first
        template = Job(payload={"task": task, "args": args, "kwargs": kwargs},
                       retries=retries, backoff=backoff, backend=backend, cache=use_cache,
                       **opts)
        # Kept without the first call's arguments, and holding the callable weakly where it
        # allows: a template outlives its jobs and must not pin their data (a bound method
        # pins its object; a concurrent.futures user expects a finished call to be freed).
        template = template.derive({"task": task if isinstance(task, str) else template_task,
                                    "args": (), "kwargs": {}})
        if len(self._templates) >= 256:
            self._templates.clear()
        self._templates[key] = (template, task_ref(task))
        if isinstance(task, str) and self._durable is not None:
            self._durable.trusted.add(task)  # typed here: its stored jobs may run here
        return template

    def _cache_hit(self, h: JobHandle, spec: TaskSpec, cached: list[tuple[JobHandle, Any]],
                   followers: list[tuple[JobHandle, JobHandle]], key: str | None) -> bool:
        """True if ``h`` need not run: its result is cached, or an identical job is in
        flight (single flight: ``h`` will end with that job's outcome)."""
        cache = self.cache
        if cache is None:
            cache = self.cache = Cache(maxsize=10_000)
        h.cache_key = cache_key = make_key(spec.name, h.args, h.kwargs)
        hit = cache.get(cache_key, _MISS)
        if hit is not _MISS:
            cached.append((h, hit))
            return True
        if self._durable is not None:  # a follower would not be in the store: just run
            return False
        leader = self._inflight.leader(cache_key, key)
        if leader is not None:
            followers.append((h, leader))
            return True
        self._inflight.lead(cache_key, h)
        return False

    def _remember(self, h: JobHandle) -> None:
        cache_key = h.cache_key
        if cache_key is None:
            return
        self._inflight.ended(h)
        if not h.cached and h.job.status is JobStatus.COMPLETED:
            assert self.cache is not None
            self.cache.set(cache_key, h.output)

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

    def cancel(self, job_id: str, reason: str | None = None) -> bool:
        """Cancel a job by id; False if it ended already or is unknown."""
        if self._rt.cancel(job_id, reason):
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
            uptime=uptime, at=datetime.now(UTC),
            store_lag=None if self._durable is None else self._durable.lag)

    def profile(self) -> ProfileTable:
        """Per task: count, ok, failed, retried, cache hits, run-time percentiles."""
        return self._rt.profile.table()

    def executor(self, backend: str | None = None, **job_options: Any) -> JobExecutor:
        """A :class:`concurrent.futures.Executor` whose calls run as this engine's jobs.

        ``job_options`` (priority, retries, timeout, group, name, tags, cache) apply to
        every call, checked now as ``submit`` checks them; ``max_workers=N`` caps how many
        of its calls are in the engine at once. ``shutdown()`` stops that executor, not
        the engine. See :class:`godnb.core.futures.JobExecutor`.

        Example:
            >>> with eng.executor(priority=5) as ex:                 # doctest: +SKIP
            ...     list(ex.map(pow, [2, 3], [10, 2]))
            [1024, 9]
            >>> await loop.run_in_executor(eng.executor(), fn, x)    # doctest: +SKIP
        """
        from godnb.core.futures import JobExecutor

        return JobExecutor(self, backend, **job_options)

    def to_pandas(self) -> Any:
        """A :class:`pandas.DataFrame` of the jobs this engine knows, one row per job.

        Active jobs and the last ``keep_finished`` finished ones; the columns are
        documented in :func:`godnb.core.frames.jobs_frame`. Needs pandas
        (``pip install "godnb[pandas]"``).

        Example:
            >>> df = eng.to_pandas()                                  # doctest: +SKIP
            >>> df.groupby("status", observed=True)["run"].describe()  # doctest: +SKIP
        """
        from godnb.core.frames import jobs_frame

        return jobs_frame(self)

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

    @property
    def recovery(self) -> RecoveryStats | None:
        """What the store's recovery did and what this engine adopted (None: no store)."""
        return None if self._durable is None else self._durable.recovery

    @property
    def unwritten(self) -> tuple[str, ...]:
        """Ids of jobs whose latest state ``shutdown()`` could not write to the store."""
        return () if self._durable is None else self._durable.unwritten

    # -- waiting and closing -------------------------------------------------------------
    def wait(self, timeout: float | None = None, *, cancel_on_interrupt: bool = False) -> bool:
        """Block until every job this engine knows of has ended (True) or timeout (False).

        With a store (and ``resume``), also until the store holds no job this engine can
        run: jobs are claimed from it meanwhile, and each adopted job is waited for too.
        ``cancel_on_interrupt=True``: a KeyboardInterrupt (Ctrl-C, a kernel interrupt)
        while waiting cancels every unfinished job, then propagates. Without it the wait
        stops and the jobs keep running.
        """
        __tracebackhide__ = True
        try:
            if self._durable is not None:
                return self._durable.wait(timeout)
            return self._rt.wait_idle(timeout)
        except KeyboardInterrupt:
            if cancel_on_interrupt:
                self._cancel_unfinished()
            raise

    async def wait_async(self, *, cancel_on_interrupt: bool = False) -> None:
        """Wait, without blocking the loop, as :meth:`wait` does.

        In a notebook an interrupt cancels the awaiting cell's task (when the loop next
        wakes); the jobs keep running unless ``cancel_on_interrupt=True``, which keeps the
        loop waking so the interrupt lands at once, and cancels every unfinished job.
        """
        waiting = (self._durable.wait_async() if self._durable is not None
                   else self._rt.wait_idle_async())
        if not cancel_on_interrupt:
            await waiting
            return
        await wait_interruptibly(waiting, self._cancel_unfinished)

    def _cancel_unfinished(self) -> int:
        with self._rt.lock:
            ids = list(self._rt.active)
        return sum(1 for job_id in ids if self._rt.cancel(job_id, INTERRUPTED))

    def shutdown(self, wait: bool = True, timeout: float | None = None, *,
                 release: bool = False) -> None:
        """Stop the engine. ``wait=True`` lets every job finish; ``wait=False`` cancels them.

        ``release=True`` (an engine with a store): jobs that have not ended (with
        ``wait=True``, those still running after ``timeout``) are not cancelled in the store
        but left pending there, for the next engine on it: a later session, or a
        ``godnb worker``. Here they stop as if cancelled (a process job is killed, a thread
        job flagged), and each runs again from the start where it is picked up.

        With a store, shutdown stops claiming jobs from it first, and last writes every
        state change still unwritten, retrying for up to ``flush_timeout`` seconds if the
        store refuses (e.g. another process holds its lock); whatever it could not write
        is warned about (a ``RuntimeWarning`` and a log record) and listed in
        :attr:`unwritten`.
        """
        if self._closed:
            return
        if release and self._durable is None:
            raise ValueError("release=True keeps unfinished jobs in the engine's store, and "
                             "this engine has none; pass store=... to Engine, or drop "
                             "release=True")
        if self._durable is not None:
            self._durable.stop_polling()  # first: the jobs held now are all there is
        if wait:
            self.wait(timeout)
        if self._durable is not None and release:
            with self._rt.lock:
                unfinished = list(self._rt.active)
            self._durable.release(unfinished)
        self._closed = True
        self._rt.cancel_all()
        self._rt.stop(wait=wait, timeout=timeout)
        if self._durable is not None:
            self._durable.close()
        self._loop.close()
        defaults.unregister(self)

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

    def _ipython_display_(self) -> None:
        from godnb.core.display import ipython_display

        ipython_display(self)


def _info_dict(info: ExecutorInfo) -> dict[str, int]:
    return {"workers": info.workers, "busy": info.busy, "started": int(info.started)}


