"""``godnb worker``: an engine on a store that runs what anyone submits, and stops cleanly.

The first SIGINT or SIGTERM starts a graceful shutdown:

1. stop claiming jobs from the store (cancel requests are still applied);
2. give every job this engine holds but has not started back to the store, at once, so
   another engine can take it;
3. let running jobs finish for up to ``grace`` seconds;
4. give back what is still running (a process job is killed, a thread job flagged; the
   store is never told "cancelled", so the job stays pending for another engine);
5. flush the store and exit 0.

A second signal skips the rest of the grace period: running jobs are given back at once
and the worker exits with ``128 + signal``. Jobs are given back through
``Durability.release``, which stops the write-behind flusher from ever writing them
again, so a late flush can not undo the release.

The worker logs one structured record per claim, start, retry and finish, plus its own
start and shutdown (see :mod:`godnb.utils.logging`).
"""

from __future__ import annotations

import queue
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from godnb.core.engine import Engine
from godnb.models.events import EventKind, JobEvent
from godnb.utils.logging import get_logger, log_event

__all__ = ["Worker"]

log = get_logger("godnb.worker")

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_TICK = 0.1  # seconds between looks at signals, the log queue and the store
_FINAL = {EventKind.COMPLETED, EventKind.FAILED, EventKind.CANCELLED}


class Worker:
    """Runs ``engine`` (which must have a store) until a signal, or until the store drains.

    Args:
        engine: a durable engine; the worker shuts it down when it stops.
        grace: seconds running jobs get to finish after the first signal.
        until_done: stop (exit 0) once the store has no pending or running job left.
        clock: monotonic time, injectable for tests.
    """

    def __init__(self, engine: Engine, *, grace: float = 30.0, until_done: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if engine.store is None:
            raise ValueError("the worker needs an engine with a store: Engine(store=path)")
        self.engine = engine
        self.grace = grace
        self.until_done = until_done
        self.clock = clock
        self.signals: list[int] = []
        self.released: set[str] = set()
        self._events: queue.SimpleQueue[JobEvent] = queue.SimpleQueue()
        self._remove_listener: Callable[[], None] | None = None
        self._next_drain_check = 0.0

    # -- running ---------------------------------------------------------------------
    def run(self) -> int:
        """Serve until stopped; returns the exit code (0, or 128 + signal when forced)."""
        previous = {s: signal.signal(s, self._on_signal) for s in _SIGNALS}
        self._remove_listener = self.engine.add_listener(self._on_event)
        started = self.clock()
        try:
            self._log_start()
            while not self.signals and not self._drained():
                self._drain_log()
                time.sleep(_TICK)  # a signal interrupts the sleep and runs _on_signal
            code = self._shutdown()
            log_event(log, "worker stopped", exit_code=code, released=len(self.released),
                      elapsed=round(self.clock() - started, 3))
            return code
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if self._remove_listener is not None:
                self._remove_listener()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only record it: the main loop acts, outside whatever the signal interrupted.
        self.signals.append(signum)

    def _drained(self) -> bool:
        if not self.until_done:
            return False
        now = self.clock()
        if now < self._next_drain_check:
            return False
        self._next_drain_check = now + 0.25
        if self._active_here():
            return False
        counts = self.engine.store.counts()  # type: ignore[union-attr]
        return counts["pending"] + counts["running"] == 0

    def _active_here(self) -> list[str]:
        return [h.job_id for h in self.engine.jobs("pending") + self.engine.jobs("running")]

    # -- shutting down ---------------------------------------------------------------
    def _shutdown(self) -> int:
        if not self.signals:  # drained (--until-done): nothing to give back
            log_event(log, "worker drained", reason="no pending or running jobs left")
            self.engine.stop_claiming()
            self.engine.shutdown(wait=True)
            self._drain_log()
            return 0
        name = signal.Signals(self.signals[0]).name
        log_event(log, "shutdown requested", signal=name, grace=self.grace,
                  running=len(self.engine.jobs("running")))
        self.engine.stop_claiming()
        self._release(self.engine.jobs("pending"), "not started")
        deadline = self.clock() + self.grace
        while len(self.signals) < 2 and self.clock() < deadline:
            self._release(self.engine.jobs("pending"), "not started")  # e.g. retries due
            if not self._active_here():
                break
            self.engine.wait(timeout=min(_TICK, max(0.0, deadline - self.clock())))
            self._drain_log()
        forced = len(self.signals) >= 2
        reason = "second signal" if forced else "grace period over"
        self._release(self.engine.jobs("pending") + self.engine.jobs("running"), reason)
        self.engine.shutdown(wait=False)  # flushes the store; released jobs are not written
        self._drain_log()
        if forced:
            log_event(log, "forced exit", signal=signal.Signals(self.signals[1]).name)
            return 128 + self.signals[1]
        return 0

    def _release(self, handles: list[Any], reason: str) -> None:
        ids = [h.job_id for h in handles if not h.done()]
        if not ids:
            return
        released = self.engine.release(ids)
        self.released.update(released)
        for job_id in released:
            h = self.engine.get(job_id)
            log_event(log, "job released", job_id=job_id, status="pending",
                      attempt=h.job.attempts if h is not None else None, reason=reason)

    # -- logging -----------------------------------------------------------------------
    def _log_start(self) -> None:
        eng = self.engine
        workers = {name: e.workers for name, e in eng.executors.items() if name != "inline"}
        db = getattr(eng.store, "path", str(eng.store))
        log_event(log, "worker started", engine=eng.id, db=db, workers=workers,
                  backend=eng.default_backend, grace=self.grace)

    def _on_event(self, event: JobEvent) -> None:
        # Runs under the engine's lock on the emitting thread: only hand the event over.
        if event.kind is not EventKind.PROGRESS:
            self._events.put(event)

    def _drain_log(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self._log(event)

    def _log(self, ev: JobEvent) -> None:
        h = self.engine.get(ev.job_id)
        name = h.name if h is not None else None
        if ev.kind is EventKind.SUBMITTED:
            log_event(log, "job claimed", job_id=ev.job_id, status=ev.status.value,
                      attempt=ev.attempt, task=name,
                      priority=h.priority if h is not None else None)
        elif ev.kind is EventKind.STARTED:
            log_event(log, "job started", job_id=ev.job_id, status=ev.status.value,
                      attempt=ev.attempt, task=name)
        elif ev.kind is EventKind.RETRYING:
            log_event(log, "job retrying", job_id=ev.job_id, status=ev.status.value,
                      attempt=ev.attempt, task=name, error=ev.message)
        elif ev.kind in _FINAL and ev.job_id not in self.released:
            elapsed = round(h.execution_time, 4) if h is not None else None
            fields: dict[str, Any] = {"task": name}
            if ev.kind is EventKind.FAILED:
                fields["error"] = ev.message
            log_event(log, "job finished", job_id=ev.job_id, status=ev.status.value,
                      attempt=ev.attempt, elapsed=elapsed, **fields)
