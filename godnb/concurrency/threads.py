"""The ``"thread"`` backend: a fixed set of worker threads pulling from the scheduler.

Workers start on the first job. A thread can not be killed: on a timeout or a cancel the
job's flag is set (``god.cancelled()`` turns true), the job is reported ended at once, and a
replacement worker starts so the pool keeps its size; the old thread leaves when the
function returns.
"""

from __future__ import annotations

import os
import threading
import time

from godnb.execution.executor import Executor, ExecutorHost, ExecutorInfo, Run
from godnb.execution.remote import format_traceback

__all__ = ["ThreadExecutor"]

_FAST = 100e-6  # jobs shorter than this on average are taken in batches
_BATCH = 16
# How long a worker sleeps when a submitter is blocked on the engine's lock: long enough
# for that thread to wake and take the GIL (else it waits out the 5 ms switch interval).
_GIVE_WAY = 50e-6


class ThreadExecutor(Executor, name="thread"):
    """Runs attempts on ``workers`` threads (default: ``min(32, cpu_count + 4)``)."""

    idle_poll = 0.5  # seconds an idle worker waits before re-checking for shutdown

    def __init__(self, workers: int | None = None) -> None:
        super().__init__(workers or min(32, (os.cpu_count() or 1) + 4))
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._retiring: set[threading.Thread] = set()
        self._running: dict[threading.Thread, Run | None] = {}
        self._started = False
        self._stop = False
        self._count = 0
        self._mean_run = 1.0  # seconds; starts "slow" so nothing is batched until measured

    def wake(self) -> None:
        if self._started:
            return
        with self._lock:
            if self._started or self._stop:
                return
            self._started = True
            for _ in range(self.workers):
                self._spawn()

    def _spawn(self) -> None:
        self._count += 1
        thread = threading.Thread(target=self._work, name=f"godnb-{self.name}-{self._count}",
                                  daemon=True)
        self._threads.add(thread)
        thread.start()

    def _work(self) -> None:
        host = self.host
        assert host is not None
        me = threading.current_thread()
        name = self.name
        try:
            while not self._stop:
                # Fast jobs are taken a few at a time (one lock round-trip for the batch);
                # slow ones one by one, so a new high-priority job waits for one job at most.
                if self._mean_run < _FAST:
                    runs = host.next_runs(name, self.idle_poll, _BATCH)
                else:
                    run = host.next_run(name, self.idle_poll)
                    runs = [run] if run is not None else []
                for i, run in enumerate(runs):
                    # The rest of a batch goes back in line when a job overran (this thread
                    # retires) or a higher-priority job arrived meanwhile (it goes first).
                    if i and (me in self._retiring or host.outranked(name, run.job.priority)):
                        host.give_back(runs[i:])
                        break
                    if not run.ended:  # else cancelled while it waited in this batch
                        self._execute(host, run, me)
                    if host.submitter_waiting:
                        host.submitter_waiting = False
                        time.sleep(_GIVE_WAY)  # let go of the GIL: the submitter goes first
                if me in self._retiring:
                    return  # a replacement took this slot while a job overran
        finally:
            with self._lock:
                self._threads.discard(me)
                self._retiring.discard(me)
                self._running.pop(me, None)

    def _execute(self, host: ExecutorHost, run: Run, me: threading.Thread) -> None:
        __tracebackhide__ = True  # IPython: a job's traceback starts at the user's function
        run.worker = me
        self._running[me] = run  # each thread writes only its own key: no lock needed
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            value = run.call()
        except BaseException as e:  # the job's error is data for the host
            error, value = e, None
        # not busy any more before anyone waiting on the job is woken
        self._running[me] = None
        self._mean_run += (time.perf_counter() - started - self._mean_run) * 0.05
        if error is None:
            host.finish(run, value=value)
        else:
            host.finish(run, error=error, tb=format_traceback(error))

    def interrupt(self, run: Run, reason: str) -> None:
        run.cancel_requested = True
        worker = run.worker
        with self._lock:
            if worker is None or worker in self._retiring or self._stop:
                return
            self._retiring.add(worker)
            self._spawn()

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        with self._lock:
            self._stop = True
            threads = [t for t in self._threads if t not in self._retiring]
        if self.host is not None:
            self.host.wake_workers(self.name)
        if wait:
            for t in threads:
                if t is not threading.current_thread():
                    t.join(timeout)

    def info(self) -> ExecutorInfo:
        busy = sum(1 for run in list(self._running.values()) if run is not None)
        return ExecutorInfo(self.name, self.workers, busy, self._started)

    def worker_keys(self) -> list[threading.Thread]:
        """The worker threads now, oldest first (a retiring one while its job overruns)."""
        with self._lock:
            threads = list(self._threads)
        return sorted(threads, key=lambda t: int(t.name.rpartition("-")[2] or 0))
