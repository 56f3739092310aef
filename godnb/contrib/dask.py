"""The ``"dask"`` backend: godnb jobs as tasks on a Dask cluster.

Example:
    >>> from distributed import Client, LocalCluster         # doctest: +SKIP
    >>> from godnb.contrib.dask import DaskExecutor
    >>> client = Client(LocalCluster(processes=True))         # doctest: +SKIP
    >>> with god.Engine(executors={"dask": DaskExecutor(client)}) as eng:  # doctest: +SKIP
    ...     h = eng.submit(simulate, 42, backend="dask", priority=5, retries=2, timeout=60)
    ...     h.result()

How godnb's semantics map onto Dask:

- **Scheduling.** The executor pulls from godnb like the async one does: on ``wake()`` it
  takes up to ``workers`` attempts (default: twice the cluster's threads) from godnb's
  scheduler and hands them to ``client.submit``; each completion frees a slot and pulls the
  next. The rest of the queue stays in godnb, ordered by priority and fair across groups.
- **Priority.** ``job.priority`` becomes ``client.submit(priority=...)``; both say "higher
  runs first". Dask orders only the tasks it already holds (at most ``workers``).
- **Retries** are godnb's (its backoff and error classification); Dask's own ``retries=``
  is not used.
- **Timeouts and cancels** are decided by godnb; :meth:`DaskExecutor.interrupt` cancels the
  Dask future. A timeout counts from when godnb handed the job to Dask.
- **Progress.** ``god.progress()`` inside the task logs an event on a topic private to
  this executor (``Worker.log_event``); the scheduler forwards it to the client, which
  subscribed with ``Client.subscribe_topic``. It rides on connections Dask already has,
  so it works with worker processes (``LocalCluster(processes=True)``) and remote workers
  alike, and needs no polling thread. Reports are throttled to 20 per second per task and
  best effort: one that arrives after the job ended is dropped.

What Dask can not do, and what godnb does instead:

- **A running task can not be interrupted.** Cancelling the future of a task that is
  already running on a worker thread stops nothing: the thread runs the function to its
  end and Dask drops the result. godnb reports the job cancelled (or timed out) at once
  and ignores that late result. Inside the task ``god.cancelled()`` turns true (it reads
  the worker's state for the task), so a long loop can stop cooperatively with
  ``god.check_cancelled()``. For hard stops use ``backend="process"``, which kills the
  worker process.
- **A killed worker** (segfault, OOM, ``os._exit``) is Dask's business first: the scheduler
  re-runs the task on another worker, up to ``distributed.scheduler.allowed-failures``
  deaths (default 3), all inside one godnb attempt. When Dask gives up it raises
  ``KilledWorker``; godnb reports :class:`~godnb.errors.WorkerDied` for the attempt (retried
  by godnb if the job has retries left).
- **Code must travel.** Functions and arguments are pickled with cloudpickle (lambdas and
  notebook functions work); modules they import must be installed on the workers.
- ``workers`` is fixed when the engine starts: a cluster that scales later keeps the same
  number of tasks in flight unless you pass ``workers=`` yourself.
- **Output is not captured.** What a Dask task prints or logs stays with its worker (the
  worker's stdout and logs; with an in-process ``LocalCluster(processes=False)``, the
  kernel's streams, so in a notebook whichever cell runs). ``h.output_text()`` of a Dask
  job is empty; send results back, or log to a file, to keep them.

For parallel pipeline stages, ``Pipeline.map(fn, backend="dask")`` runs chunks on the
current client (:class:`DaskPipelineBackend`); :func:`dask_map_chunks` maps a function
over chunks of items on the cluster with a bounded number of chunks in flight, and
:func:`submit_chunk` starts one chunk.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from godnb.dataflow.parallel import PipelineBackend, run_chunk_remote
from godnb.errors import JobCancelled, WorkerDied
from godnb.execution.context import current_run
from godnb.execution.executor import Executor, ExecutorHost, ExecutorInfo, Run
from godnb.execution.remote import (
    describe,
    format_traceback,
    portable,
    with_remote_traceback,
)
from godnb.utils.naming import callable_repr

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["ChunkResult", "DaskExecutor", "DaskPipelineBackend", "dask_map_chunks",
           "submit_chunk"]

log = logging.getLogger("godnb.dask")

_PROGRESS_INTERVAL = 0.05  # seconds between progress events from one task
_ENDED_STATES = frozenset({"cancelled", "released", "forgotten"})  # worker-side task states

ChunkResult = tuple[int, list[Any], dict[int, BaseException] | None]
"""``(chunk_index, values, errors)``: ``errors`` maps a position in the chunk to the
exception its item raised (its value is None), or is None when every item succeeded."""


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as e:  # pragma: no cover (dask is installed for the tests)
        raise ImportError("the dask backend needs dask.distributed: "
                          "pip install 'godnb[dask]'") from e
    return distributed


# --------------------------------------------------------------------------------------
# The worker side
# --------------------------------------------------------------------------------------

class _DaskTaskContext:
    """The RunContext inside a Dask task: progress becomes worker events, throttled."""

    __slots__ = ("_key", "_last", "_pending", "_topic", "_worker", "attempt", "job_id")

    def __init__(self, worker: Any, topic: str, job_id: str, attempt: int) -> None:
        self._worker = worker
        self._topic = topic
        self._key = worker.get_current_task()
        self.job_id = job_id
        self.attempt = attempt
        self._last = -1.0
        self._pending: list[Any] | None = None

    @property
    def cancel_requested(self) -> bool:
        # A cancelled future moves the worker's task out of "executing"; the thread runs on.
        try:
            ts = self._worker.state.tasks.get(self._key)
        except Exception:  # a Dask without WorkerState: no cooperative cancel
            return False
        return ts is None or ts.state in _ENDED_STATES

    def report(self, done: float, total: float | None, message: str | None) -> None:
        msg = [self.job_id, self.attempt, done, total,
               None if message is None else str(message)]
        now = time.monotonic()
        if now - self._last < _PROGRESS_INTERVAL:
            self._pending = msg
            return
        self._send(msg, now)

    def flush(self) -> None:
        if self._pending is not None:
            self._send(self._pending, time.monotonic())

    def _send(self, msg: list[Any], now: float) -> None:
        self._last, self._pending = now, None
        try:
            self._worker.log_event(self._topic, msg)
        except Exception as e:  # progress is best effort; the job goes on
            log.debug("progress event for job %s not sent: %s", self.job_id, e)


def _run_in_worker(topic: str, job_id: str, attempt: int, fn: Callable[..., Any],
                   args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What each Dask task runs: the job's function with godnb's job context set."""
    from distributed import get_worker

    ctx = _DaskTaskContext(get_worker(), topic, job_id, attempt)
    token = current_run.set(ctx)  # type: ignore[arg-type]  # cancel_requested is read-only here
    try:
        return fn(*args, **kwargs)
    except BaseException as e:
        sendable, _ = portable(e, job_id)  # Dask pickles it back to the client
        if sendable is e:
            raise
        raise sendable from None
    finally:
        current_run.reset(token)
        ctx.flush()


# --------------------------------------------------------------------------------------
# The client side
# --------------------------------------------------------------------------------------

class DaskExecutor(Executor, name="dask"):
    """Runs jobs as tasks on a Dask cluster through a ``distributed.Client``.

    Args:
        client: a synchronous ``distributed.Client``; None uses the current default client
            (``distributed.default_client()``) when the engine starts. The executor never
            closes the client.
        workers: how many attempts may be in Dask's hands at once (default: twice the
            cluster's threads when the engine starts, at least 2).

    Example:
        >>> eng = god.Engine(executors={"dask": DaskExecutor(client)})  # doctest: +SKIP
        >>> eng.submit(fn, x, backend="dask").result()                  # doctest: +SKIP
    """

    needs_pickle = True

    def __init__(self, client: Client | None = None, workers: int | None = None) -> None:
        if isinstance(client, int) and not isinstance(client, bool):
            raise TypeError("DaskExecutor(client, workers=None) takes a distributed.Client "
                            f"first, got the int {client}; pass workers={client}")
        _import_distributed()
        super().__init__(workers)
        self._workers_given = workers is not None
        self.client = client
        self._lock = threading.Lock()
        self._in_flight = 0
        self._missed = False  # a wake() found every slot reserved: re-check on release
        self._runs: dict[str, Run] = {}  # Dask key -> the attempt it runs
        self._topic = f"godnb-progress-{uuid.uuid4().hex[:12]}"
        self._stopped = False

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, host: ExecutorHost, name: str | None = None) -> None:
        if self.host is not None and self.host is not host:
            raise RuntimeError("this DaskExecutor already serves another engine; make one "
                               "DaskExecutor per Engine (they can share a client)")
        if self.client is None:
            try:
                self.client = _import_distributed().default_client()
            except ValueError as e:
                raise ValueError("DaskExecutor() found no Dask client: create a "
                                 "distributed.Client first, or pass DaskExecutor(client)"
                                 ) from e
        super().start(host, name)
        if not self._workers_given:
            self.workers = _default_in_flight(self.client)
        self.client.subscribe_topic(self._topic, _progress_handler(self))

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            self._stopped = True
            runs, self._runs = list(self._runs.values()), {}
        for run in runs:
            self._cancel_future(run.token)
            run.token = None
        client = self.client
        if client is not None and client.status == "running":
            try:
                client.unsubscribe_topic(self._topic)
            except Exception as e:
                log.debug("unsubscribe from %s failed: %s", self._topic, e)

    def info(self) -> ExecutorInfo:
        return ExecutorInfo(self.name, self.workers, self._in_flight, self.host is not None)

    # -- pulling work ------------------------------------------------------------------
    def wake(self) -> None:
        """Hand queued attempts to Dask until ``workers`` are in flight.

        No lock is held while calling the host: a done callback of a job may submit (and
        so wake us) while the host's lock is held on that thread.
        """
        host = self.host
        assert host is not None
        while True:
            with self._lock:
                if self._stopped:
                    return
                if self._in_flight >= self.workers:
                    self._missed = True
                    return
                self._in_flight += 1  # reserve a slot before asking for a run
                self._missed = False
            run = host.next_run(self.name, 0)
            if run is None:
                with self._lock:
                    self._in_flight -= 1
                    if not self._missed:
                        return
                continue  # a wake() came while our reservation filled the last slot
            self._submit(run)

    def _submit(self, run: Run) -> None:
        key = f"godnb-{run.job_id}-{run.attempt}"
        client = self.client
        assert client is not None and self.host is not None
        with self._lock:
            self._runs[key] = run
        try:
            future = client.submit(_run_in_worker, self._topic, run.job_id, run.attempt,
                                   run.fn, run.args, run.kwargs, key=key,
                                   priority=run.job.priority, pure=False)
        except Exception as e:  # unpicklable work, a closed client
            self._release(key)
            tb = format_traceback(e)
            # The failed frames hold the half-made Dask future, which would pin its key on
            # the client for as long as anything (the job's handle, a log record) holds e.
            traceback.clear_frames(e.__traceback__)
            self.host.finish(run, error=_submit_error(run, e), tb=tb)
            return
        run.token = future
        if run.ended:  # cancelled or timed out between next_run and here
            self._cancel_future(future)
        future.add_done_callback(self._on_done)

    def _release(self, key: str) -> Run | None:
        with self._lock:
            run = self._runs.pop(key, None)
            if run is not None:
                self._in_flight -= 1
        return run

    def _on_done(self, future: Future) -> None:
        """A Dask future ended (on Dask's callback thread): pull the next, then report.

        The next attempt goes to Dask first, so it runs while this result is fetched.
        """
        run = self._release(str(future.key))
        if not self._stopped:
            self.wake()
        if run is not None:
            try:
                if not run.ended:
                    self._report(run, future)
            finally:
                run.token = None  # the future pins its result on the cluster: drop it

    def _report(self, run: Run, future: Future) -> None:
        host = self.host
        assert host is not None
        status = future.status
        if status == "finished":
            try:
                value = future.result()
            except Exception as e:  # the result could not be fetched or unpickled
                host.finish(run, error=e, tb=format_traceback(e))
            else:
                host.finish(run, value=value)
            return
        if status == "cancelled":
            err: BaseException = JobCancelled(
                f"the Dask task of job {run.job_id} was cancelled outside godnb (client.cancel,"
                f" client.restart, or a lost scheduler connection)",
                job_id=run.job_id, attempt=run.attempt)
            host.finish(run, error=err, tb="")
            return
        exc = future.exception()
        tb = format_traceback(exc, future.traceback())
        if isinstance(exc, _import_distributed().KilledWorker):
            err = WorkerDied(
                f"the Dask workers running job {run.job_id} died (attempt {run.attempt}; "
                f"Dask re-ran it on other workers up to distributed.scheduler."
                f"allowed-failures times first): {exc}",
                job_id=run.job_id, attempt=run.attempt)
            err.__cause__ = exc
            host.finish(run, error=err, tb=tb)
            return
        host.finish(run, error=with_remote_traceback(exc, tb), tb=tb)

    # -- stopping ----------------------------------------------------------------------
    def interrupt(self, run: Run, reason: str) -> None:
        """Cancel the attempt's Dask future.

        A task that a worker thread already runs goes on to its end (Dask can not stop a
        thread); its result is dropped. ``god.cancelled()`` in the task turns true.
        """
        run.cancel_requested = True
        self._cancel_future(run.token)

    def _cancel_future(self, future: Future | None) -> None:
        if future is None or future.done():
            return
        client = self.client
        try:
            # Never block: interrupt() may run under the engine's lock, and Dask's loop
            # thread takes that lock to report progress. ``asynchronous=True`` makes
            # Future.cancel return a coroutine, which the loop runs.
            client.loop.add_callback(future.cancel, asynchronous=True,  # type: ignore[union-attr]
                                     reason="cancelled by godnb")
        except Exception as e:  # a closed client: nothing left to cancel
            log.debug("could not cancel %s: %s", future.key, e)

    # -- progress ----------------------------------------------------------------------
    def _on_progress(self, msg: Sequence[Any]) -> None:
        job_id, attempt, done, total, message = msg
        run = self._runs.get(f"godnb-{job_id}-{attempt}")
        if run is not None and self.host is not None:
            self.host.progress(run, done, total, message)


def _progress_handler(executor: DaskExecutor) -> Callable[[Any], None]:
    """The topic handler (runs on the client's loop); weak, so a client that outlives
    the engine does not keep the executor alive."""
    ref = weakref.ref(executor)

    def handle(event: Any) -> None:
        ex = ref()
        if ex is None or ex._stopped:
            return
        try:
            ex._on_progress(event[1])
        except Exception:  # a malformed event must not break the client's loop
            log.exception("bad godnb progress event %r", event)

    return handle


def _default_in_flight(client: Client) -> int:
    try:
        threads = sum(client.nthreads().values())
    except Exception:  # no answer from the scheduler yet: start small
        threads = 0
    return max(2, 2 * threads)


def _submit_error(run: Run, exc: Exception) -> BaseException:
    if isinstance(exc, (pickle.PicklingError, TypeError, AttributeError)):
        err = TypeError(f"job {run.job_id} could not be sent to Dask: {describe(exc)}; the "
                        f"function and its arguments must pickle (cloudpickle)")
        err.__cause__ = exc
        return err
    return exc


# --------------------------------------------------------------------------------------
# Parallel map for pipelines
# --------------------------------------------------------------------------------------

def _apply_chunk(fn: Callable[[Any], Any], items: list[Any]
                 ) -> tuple[list[Any], dict[int, BaseException] | None]:
    """``fn`` over each item on a worker; one failing item does not stop the others."""
    values: list[Any] = []
    errors: dict[int, BaseException] | None = None
    for k, item in enumerate(items):
        try:
            values.append(fn(item))
        except Exception as e:
            values.append(None)
            if errors is None:
                errors = {}
            errors[k] = portable(e)[0]
    return values, errors


def submit_chunk(client: Client, fn: Callable[[Any], Any], items: Iterable[Any], *,
                 priority: int = 0) -> Future:
    """Start ``fn`` over ``items`` as one Dask task.

    The future's result is ``(values, errors)``: values in input order (None where an item
    failed) and ``{position: exception}`` or None. A dead worker surfaces as the future's
    ``KilledWorker`` error.
    """
    return client.submit(_apply_chunk, fn, list(items), priority=priority, pure=False,
                         key=f"godnb-chunk-{uuid.uuid4().hex}")


def dask_map_chunks(client: Client, fn: Callable[[Any], Any],
                    chunks: Iterable[Sequence[Any]], *, ordered: bool = True,
                    max_in_flight: int | None = None, priority: int = 0
                    ) -> Iterator[ChunkResult]:
    """Map ``fn`` over chunks of items on a Dask cluster, a bounded number at a time.

    Yields ``(chunk_index, values, errors)`` per chunk, in input order (``ordered=True``)
    or as chunks complete. ``chunks`` is read lazily: at most ``max_in_flight`` chunks
    (default: twice the cluster's threads) are on the cluster or waiting to be yielded,
    so an endless source runs in bounded memory. An item's exception is data (in
    ``errors``); a chunk whose worker died raises :class:`~godnb.errors.WorkerDied`.
    Closing the iterator early cancels the chunks in flight.

    Example:
        >>> for i, values, errors in dask_map_chunks(client, str.upper, [["a", "b"], ["c"]]):
        ...     print(i, values)                       # doctest: +SKIP
        0 ['A', 'B']
        1 ['C']
    """
    distributed = _import_distributed()
    limit = max_in_flight or _default_in_flight(client)
    if limit < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    source = enumerate(chunks)
    index_of: dict[Any, int] = {}
    done = distributed.as_completed()
    held: dict[int, tuple[list[Any], dict[int, BaseException] | None]] = {}
    next_out = 0

    def top_up() -> None:
        while len(index_of) + len(held) < limit:
            nxt = next(source, None)
            if nxt is None:
                return
            fut = submit_chunk(client, fn, nxt[1], priority=priority)
            index_of[fut] = nxt[0]
            done.add(fut)

    try:
        top_up()
        while index_of:
            fut = next(done)
            i = index_of.pop(fut)
            values, errors = _chunk_result(fut, i)
            if not ordered:
                top_up()
                yield i, values, errors
                continue
            held[i] = (values, errors)
            while next_out in held:
                values, errors = held.pop(next_out)
                top_up()
                yield next_out, values, errors
                next_out += 1
            top_up()
    finally:
        if index_of:
            client.cancel(list(index_of))


def _chunk_result(fut: Future, index: int
                  ) -> tuple[list[Any], dict[int, BaseException] | None]:
    try:
        return fut.result()  # type: ignore[no-any-return]
    except _import_distributed().KilledWorker as e:
        raise WorkerDied(f"the Dask workers running chunk {index} died: {e}") from e



class DaskPipelineBackend(PipelineBackend, name="dask"):
    """``Pipeline.map(fn, workers=N, backend="dask")``: chunks of items as Dask tasks.

    Uses the current Dask client (the last ``distributed.Client`` made, or the one in a
    ``with client:`` block). Each chunk runs the pipeline's own chunk runner on a worker,
    so per-item errors, timings and ordering behave as on the process backend. A chunk
    past its timeout is cancelled; like any running Dask task it can not be interrupted,
    so its worker finishes the call and the result is dropped.
    """

    adaptive_chunks = True
    timeout_note = ("its Dask task was cancelled (a running Dask task can not be "
                    "interrupted; its result is dropped)")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        distributed = _import_distributed()
        try:
            self._client = distributed.default_client()
        except ValueError as e:
            raise ValueError("map(backend='dask') needs a Dask client: create one first, "
                             "e.g. distributed.Client(LocalCluster())") from e
        self._killed = distributed.KilledWorker
        self._live: set[Any] = set()

    @classmethod
    def check_fn(cls, fn: Callable[[Any], Any]) -> None:
        import cloudpickle

        try:
            cloudpickle.dumps(fn)
        except Exception as e:
            raise TypeError(f"map(backend='dask') needs a function cloudpickle can send, and "
                            f"{callable_repr(fn)} is not ({describe(e)})") from e

    def submit(self, unit: Any) -> None:
        unit.started = time.perf_counter()  # Dask does not say when a worker starts it
        fut = self._client.submit(run_chunk_remote, self.fn, unit.items, self.stride,
                                  pure=False, key=f"godnb-pipe-{uuid.uuid4().hex}")
        unit.handle = fut
        self._live.add(fut)
        fut.add_done_callback(lambda f, unit=unit: self._finish(unit, f))

    def _finish(self, unit: Any, fut: Any) -> None:
        self._live.discard(fut)
        try:
            unit.values, errors, unit.busy, unit.samples = fut.result()
        except self._killed as e:
            unit.failure = WorkerDied(f"the Dask worker running a chunk of "
                                      f"{len(unit.items)} item(s) died: {e}")
        except BaseException as e:  # a cancelled chunk, or one that could not be sent
            unit.failure = e
        else:
            if errors:
                unit.errors = {k: with_remote_traceback(exc, tb) for k, (exc, tb) in errors.items()}
        self.done.put(unit)

    def abort(self, unit: Any) -> bool:
        fut = unit.handle
        if fut is None or fut.done():
            return False
        fut.cancel()
        return True

    def close(self, graceful: bool) -> None:
        for fut in list(self._live):
            fut.cancel()
        self._live.clear()
