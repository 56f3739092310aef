"""A joblib parallel backend, ``"godnb"``: joblib's work as godnb jobs.

Importing this module registers the backend; then ``joblib.Parallel`` and everything
built on it (scikit-learn's ``n_jobs``: cross-validation, grid search, ensembles) run on a
godnb engine, with one live bar per ``Parallel`` call in a notebook::

    import joblib
    import godnb.contrib.joblib  # registers "godnb"

    with joblib.parallel_config(backend="godnb", n_jobs=4):
        scores = cross_val_score(model, X, y, cv=5)

The engine is ``god.default_engine()`` unless one is given: ``register_godnb_backend(
engine=eng)``, or per use ``parallel_config(backend="godnb", engine=eng)``. Other
keywords: ``on="process"`` picks the godnb backend (default: the engine's default,
threads; joblib's own ``backend=`` names this joblib backend), and the job options
``priority``, ``group``, ``retries``, ``timeout``, ``tags``, ``name``. Needs ``joblib``
(``pip install "godnb[joblib]"``); ``import godnb`` alone never imports it.

How joblib's calls map onto godnb (the same as its Dask backend, except where noted):

- joblib groups the tasks of a call into batches (sized automatically to take a fraction
  of a second, as for loky and Dask) and dispatches a few ahead of the workers
  (``pre_dispatch``); every batch is one godnb job with the engine's priorities, fairness
  and timeouts. ``n_jobs=-1`` means all of the backend's workers; ``n_jobs=1`` runs in the
  caller, as with any joblib backend.
- **One bar per call.** The batches of one ``Parallel`` call share a
  :class:`~godnb.JobGroup` shown live in the running cell (it grows as joblib dispatches).
  Results are collected by the calling thread, not by a callback, so that thread keeps the
  bar current while it waits (a cell that waits blocks the kernel's loop, which would
  otherwise refresh it); once the call ends, the bar's final state stays as static output.
- **Errors and cancel.** The first failing batch (in dispatch order) raises its error in
  the caller at once, and joblib's ``abort_everything`` cancels every batch still waiting
  or running (a thread batch is flagged, a process batch killed). Cancelling the group
  (its bar's jobs) or a kernel interrupt ends the call the same way.
- ``Parallel(timeout=...)`` is enforced by the caller, per batch it waits for.
- ``return_as="generator"`` works; ``"generator_unordered"`` does not (joblib only gives
  it to backends that collect results in callbacks): use ``"generator"``.
- With ``on="process"`` the batches are pickled (functions by reference, so define
  them in a module, or use threads); ``require="sharedmem"`` then falls back to joblib's
  threads, as joblib does for any process backend.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import threading
import time
from typing import Any

import joblib
from joblib.parallel import AutoBatchingMixin, ParallelBackendBase

from godnb.core import display
from godnb.core.callbacks import callbacks
from godnb.core.engine import Engine, default_engine
from godnb.core.futures import JobExecutor, JobFuture
from godnb.core.handles import JobGroup
from godnb.utils.naming import callable_name

__all__ = ["GodnbBackend", "register_godnb_backend"]

TICK = 0.1  # seconds between refreshes of the bar while the caller waits


def run_batch(batch: Any) -> Any:
    """One godnb job: a batch of joblib calls (a module function, so nothing caches the
    batch, and with it the call's data, by identity)."""
    return batch()


class _Call:
    """One ``Parallel`` call: its jobs (a growing group), their futures, its bar."""

    def __init__(self, engine: Engine, backend: str, options: dict[str, Any]) -> None:
        self.engine = engine
        self.backend = backend
        self.options = options
        self.group: JobGroup | None = None
        self.executor: JobExecutor | None = None
        self.futures: list[JobFuture] = []
        self.failed: list[int] = []  # dispatch indexes of the batches that failed
        self.shown: display.Shown | None = None
        self.ticked = time.monotonic()

    def submit(self, batch: Any) -> JobFuture:
        if self.executor is None:  # the first batch names the group and its jobs
            items = getattr(batch, "items", None)
            name = callable_name(items[0][0]) if items else "joblib"
            self.group = JobGroup(name=name)
            options = {"name": name, **self.options}
            self.executor = JobExecutor(self.engine, self.backend, jobs=self.group, **options)
        future = self.executor.submit(run_batch, batch)
        index = len(self.futures)
        self.futures.append(future)
        future.add_done_callback(functools.partial(self._ended, index))
        if self.shown is None and index == 0:
            self.shown = display.show(self.group)
        return future

    def _ended(self, index: int, future: cf.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self.failed.append(index)

    def first_failure(self) -> JobFuture | None:
        return self.futures[min(self.failed)] if self.failed else None

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.shown is not None and (force or now - self.ticked >= TICK):
            self.ticked = now
            self.shown.tick()

    def cancel(self) -> None:
        for future in self.futures:
            future.cancel()

    def close(self) -> None:
        if self.shown is not None:
            self.shown.close()
        if self.executor is not None:
            self.executor.shutdown(wait=False)


class GodnbBackend(AutoBatchingMixin, ParallelBackendBase):
    """joblib's ``"godnb"`` backend: each batch of a ``Parallel`` call is a godnb job.

    Args:
        engine: the engine to run on (default: ``god.default_engine()`` when a call starts).
        on: the godnb backend of the jobs, ``"thread"`` or ``"process"`` (default: the
            engine's default; named like the builder's ``.on()``, as joblib's settings
            take ``backend=`` for the joblib backend).
        **job_options: ``priority``, ``group``, ``retries``, ``timeout``, ``tags``, ``name``,
            as ``eng.submit`` takes them.

    Example:
        >>> with joblib.parallel_config(backend=GodnbBackend(engine=eng), n_jobs=2):
        ...     joblib.Parallel()(joblib.delayed(abs)(-i) for i in range(3))  # doctest: +SKIP
        [0, 1, 2]
    """

    default_n_jobs = -1
    # The caller's thread collects each batch's result (see the module docs): it keeps the
    # bar live while it waits, and it raises the first failure itself.
    supports_retrieve_callback = False
    supports_timeout = True
    supports_return_generator = True  # ordered ones: configure() refuses unordered
    supports_inner_max_num_threads = False

    def __init__(self, engine: Engine | None = None, on: str | None = None, *,
                 nesting_level: int | None = None, **job_options: Any) -> None:
        super().__init__(nesting_level=nesting_level)
        if engine is not None and not isinstance(engine, Engine):
            raise TypeError(f"engine must be a godnb Engine, got {type(engine).__name__}")
        self.engine = engine
        self.on = on
        self.job_options = job_options
        threads = on in (None, "thread", "inline")
        self.uses_threads = threads
        self.supports_sharedmem = threads
        self._call: _Call | None = None
        self._lock = threading.Lock()

    def _engine(self) -> Engine:
        return self.engine if self.engine is not None else default_engine()

    def _backend(self, engine: Engine) -> str:
        name = self.on or engine.default_backend
        executor = engine.executors.get(name)
        if executor is None:
            raise ValueError(f"unknown backend {name!r}; valid backends: "
                             f"{sorted(engine.executors)}")
        if executor.needs_loop:
            raise ValueError(f"joblib runs plain functions: backend {name!r} runs coroutines "
                             f"on the event loop; use 'thread' or 'process'")
        return name

    # -- joblib's backend interface -----------------------------------------------------
    def configure(self, n_jobs: int = 1, parallel: Any = None, prefer: str | None = None,
                  require: str | None = None, **joblib_options: Any) -> int:
        """Check the call's settings; joblib's own options (memmapping) do not apply."""
        if parallel is not None and parallel.return_generator and not parallel.return_ordered:
            raise ValueError("the godnb backend does not support return_as="
                             "'generator_unordered'; use return_as='generator'")
        engine = self._engine()
        self._backend(engine)
        JobExecutor(engine, self.on, **self.job_options)  # the options, checked now
        self.parallel = parallel
        return self.effective_n_jobs(n_jobs)

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        """``n_jobs``, or for ``-k`` all of the backend's workers but ``k - 1``."""
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            n_jobs = self.default_n_jobs
        if n_jobs < 0:
            engine = self._engine()
            workers = engine.executors[self._backend(engine)].workers
            return max(workers + 1 + n_jobs, 1)
        return n_jobs

    def start_call(self) -> None:
        engine = self._engine()
        with self._lock:
            self._call = _Call(engine, self._backend(engine), dict(self.job_options))

    def stop_call(self) -> None:
        with self._lock:
            call, self._call = self._call, None
        if call is not None:
            call.close()

    def submit(self, func: Any, callback: Any = None) -> JobFuture:
        """Queue a batch as a job; ``callback`` (joblib's) runs when it ends."""
        call = self._call
        if call is None:  # a call that did not go through start_call()
            self.start_call()
            call = self._call
            assert call is not None
        future = call.submit(func)
        if callback is not None:
            # Always on godnb's callback thread, even for a batch that ended already: run
            # here, joblib's callback would dispatch the next batch from inside this
            # dispatch, and so on, one stack frame deeper per batch.
            future.add_done_callback(lambda f: callbacks.call(callback, f))
        return future

    def retrieve_result(self, out: JobFuture, timeout: float | None = None) -> Any:
        """The batch's results, waited for in the caller's thread (refreshing the bar);
        the first failure of the call raises at once, whichever batch it was."""
        call = self._call
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            step = TICK if left is None else max(0.0, min(TICK, left))
            done, _ = cf.wait([out], timeout=step)
            if done:
                if call is not None:
                    call.tick()
                return out.result()
            if call is not None:
                call.tick(force=True)
                failure = call.first_failure()
                if failure is not None:
                    return failure.result()  # raises its error
            if left is not None and left <= step:
                raise TimeoutError(f"a batch of joblib calls did not finish within "
                                   f"{timeout} s (Parallel's timeout)")

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """Cancel every batch of the call that has not ended (waiting or running)."""
        call = self._call
        if call is not None:
            call.cancel()

    def terminate(self) -> None:
        self.reset_batch_stats()

    def __repr__(self) -> str:
        engine = self.engine.name if self.engine is not None else "default engine"
        return f"<GodnbBackend {engine} on={self.on or 'default'}>"


def register_godnb_backend(engine: Engine | None = None, *, on: str | None = None,
                           name: str = "godnb", make_default: bool = False,
                           **job_options: Any) -> None:
    """Register (again) the joblib backend under ``name``, with an engine and job options.

    Importing this module has registered ``"godnb"`` on the default engine already; call
    this to bind another engine, or options, to the name.

    Example:
        >>> register_godnb_backend(engine=eng, priority=5)        # doctest: +SKIP
        >>> with joblib.parallel_config(backend="godnb"):          # doctest: +SKIP
        ...     grid.fit(X, y)
    """
    joblib.register_parallel_backend(
        name, functools.partial(GodnbBackend, engine=engine, on=on, **job_options),
        make_default=make_default)


register_godnb_backend()
