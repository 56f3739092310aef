"""The ``"process"`` backend: a small pool of worker processes that can kill one job.

``concurrent.futures.ProcessPoolExecutor`` can not stop one running task, so godnb keeps
its own pool: one manager thread per slot in the parent (``godnb-proc-N``) owns one child
process and a duplex pipe. Per attempt the manager pickles the work once, sends it, and
waits on the pipe and the child's sentinel together, so a child that dies (``os._exit``,
a segfault, the OOM killer, or our own ``kill()`` on a timeout or cancel) is noticed at once
and replaced, and only its job fails (:class:`~godnb.errors.WorkerDied`).

Children are forked by default on Linux, so functions defined in a notebook (``__main__``)
run. A fork is a snapshot: a function defined or redefined in ``__main__`` after it is
unknown or stale in the child, so the manager re-forks its child (which copies the current
``__main__``) before sending such work, and once more if the child still can not load it.

Each child runs in its own process group, so a timeout or cancel kills the job's own
children and grandchildren with it (``killpg``), not just the worker. That also keeps
children out of the kernel's group: interrupting a Jupyter kernel signals its whole process
group, and that must stop the cell, not background jobs (cancel those with ``h.cancel()``);
children ignore SIGINT besides. A child dies with the engine's process: on Linux the
kernel kills it when its parent dies (``PR_SET_PDEATHSIG``), elsewhere a watchdog thread
notices within ``LIVENESS`` seconds and kills its group. (On Linux, processes a job
started are left running when the *engine* is killed, as with any orphan; kill their
group with ``kill -- -PGID``.)

Output: when the parent captures a job's output (always in a kernel; see
:mod:`godnb.execution.output`), the child routes what the job prints and logs to the
parent over the same pipe in batches (a :class:`~godnb.execution.output.BatchedSink`:
64 KiB, or 0.1 s after the previous batch, a flusher thread sending what a quiet job
printed last), and always before the result. A chatty job costs a message per batch, not
per print. A job killed by a timeout or cancel loses what it printed since its last batch.

Errors come back with the child's traceback text, attached to the re-raised exception
as a :class:`~godnb.execution.remote.RemoteTraceback` ``__cause__`` so the user's own
lines print under it; the child's own frame that called the job is left out of it.

Outside an engine, :class:`~godnb.concurrency.process_pool.ProcessPool` gives a small
futures API around a :class:`ProcessExecutor`; the pipeline uses it for chunks.
"""

from __future__ import annotations

import atexit
import logging
import os
import pickle
import signal
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.connection import Connection
from typing import Any

from godnb.concurrency.process_child import LIVENESS, PROTOCOL, STOP, child_main, watch
from godnb.errors import WorkerDied
from godnb.execution.executor import Executor, ExecutorInfo, Run
from godnb.execution.output import OutputSink
from godnb.execution.remote import describe, format_traceback, with_remote_traceback
from godnb.utils.naming import callable_repr

__all__ = ["ProcessExecutor"]

log = logging.getLogger("godnb.process")


# Parent ends of every live pipe, so a forked child can close the ones it inherited (a pipe
# end held open by a sibling would hide EOFs and leak descriptors into user jobs).
_parent_ends: set[Connection] = set()
_spawn_lock = threading.Lock()
_live: weakref.WeakSet[ProcessExecutor] = weakref.WeakSet()  # pools with manager threads


def _reset_after_fork() -> None:
    # A fork copies these in whatever state another thread left them (the lock possibly
    # held); a child that builds its own pool must start clean.
    global _spawn_lock
    _spawn_lock = threading.Lock()
    _parent_ends.clear()
    _live.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


# --------------------------------------------------------------------------------------
# The parent side: one slot = one manager thread + one child process
# --------------------------------------------------------------------------------------

class _Slot:
    """One worker slot. ``lock`` guards ``proc``/``conn``/``run``/``killed`` against
    :meth:`ProcessExecutor.interrupt`, which runs on other threads."""

    __slots__ = ("conn", "index", "killed", "lock", "main_ns", "pid", "proc", "run", "thread",
                 "watch")

    def __init__(self, index: int) -> None:
        self.index = index
        self.lock = threading.Lock()
        self.proc: Any = None
        self.conn: Connection | None = None
        self.pid = 0
        self.run: Run | None = None
        self.killed = False
        self.main_ns: dict[str, Any] | None = None  # fork: __main__ functions at fork time
        self.thread: threading.Thread | None = None
        self.watch: Callable[[float], set[int]] = watch()

    def spawn(self, ctx: Any, fork: bool) -> None:
        with _spawn_lock:  # no other fork may copy this pipe's child end before we close it
            parent, child = ctx.Pipe(duplex=True)
            inherited = [parent, *_parent_ends] if fork else []
            if fork:  # snapshot before the fork: a later change then only costs a re-fork
                main = sys.modules.get("__main__")
                items = list(vars(main).items()) if main is not None else []
                self.main_ns = {k: v for k, v in items
                                if isinstance(v, types.FunctionType | type)}
            proc = ctx.Process(target=child_main, args=(child, inherited, os.getpid()),
                               name=f"godnb-proc-{self.index}-child")
            try:
                proc.start()
            except BaseException:
                parent.close()
                raise
            finally:
                child.close()
            try:  # as the child does: whichever runs first, no kill finds it in our group
                os.setpgid(proc.pid, proc.pid)
            except OSError:  # it exec'd already (spawn) or died: it set its own group
                pass
            _parent_ends.add(parent)
        self.watch = watch(parent, proc.sentinel)
        with self.lock:
            self.proc, self.conn, self.pid, self.killed = proc, parent, proc.pid, False

    def kill(self, run: Run | None) -> None:
        """SIGKILL the child if it is running ``run`` (any run if ``run`` is None)."""
        with self.lock:
            if self.proc is not None and self.run is not None and run in (None, self.run):
                self.run.cancel_requested = True
                self.killed = True
                _kill_group(self.proc)

    def retire(self, graceful: bool = True) -> int | None:
        """Stop and reap the child; return its exit code. The slot is then empty."""
        with self.lock:
            proc, conn = self.proc, self.conn
            self.proc = self.conn = self.run = None
            self.killed = False
        if proc is None:
            return None
        assert conn is not None
        if not graceful:
            _kill_group(proc)  # before the child is reaped: its pid still names its group
        if graceful and proc.exitcode is None:
            try:
                conn.send_bytes(STOP)
            except OSError:
                pass
            proc.join(LIVENESS)
        if proc.exitcode is None:
            proc.kill()
        proc.join()
        code: int | None = proc.exitcode
        with _spawn_lock:
            _parent_ends.discard(conn)
        conn.close()
        proc.close()
        return code


def _kill_group(proc: Any) -> None:
    """SIGKILL a worker process and everything in its process group (what its job started).

    Only a group the worker leads is killed (never the engine's own); a worker that could
    not get its own group is killed alone.
    """
    pid = proc.pid
    try:
        if pid and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
            return
    except OSError:  # gone already, or its group too
        pass
    proc.kill()


def _resolve_context(mp_context: Any) -> Any:
    if mp_context is None:
        methods = get_all_start_methods()
        return get_context("fork" if sys.platform.startswith("linux") and "fork" in methods
                           else None)
    if isinstance(mp_context, str):
        methods = get_all_start_methods()
        if mp_context not in methods:
            raise ValueError(f"unknown start method {mp_context!r}; valid names: "
                             + ", ".join(repr(m) for m in methods))
        return get_context(mp_context)
    if hasattr(mp_context, "Process") and hasattr(mp_context, "Pipe"):
        return mp_context
    raise TypeError("mp_context must be None, a start method name ('fork', 'spawn', "
                    f"'forkserver') or a multiprocessing context, got {mp_context!r}")


def _exit_text(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _pickle_error(run: Run, exc: Exception) -> TypeError:
    try:
        pickle.dumps(run.fn, PROTOCOL)
        what = "its arguments"
    except Exception:
        what = f"the function {callable_repr(run.fn)}"
    return TypeError(
        f"job {run.job_id}: {what} can not be sent to a process worker: {describe(exc)}; "
        "define the function at module level (def, not lambda) and pass picklable "
        "arguments, or use backend='thread'")


def _main_changed(slot: _Slot, fn: Any) -> bool:
    """True if ``fn`` lives in ``__main__`` and its top-level name changed since the fork."""
    if slot.main_ns is None or getattr(fn, "__module__", None) != "__main__":
        return False
    top = str(getattr(fn, "__qualname__", "")).partition(".")[0]
    main = sys.modules.get("__main__")
    return slot.main_ns.get(top) is not getattr(main, top, None)


class ProcessExecutor(Executor, name="process"):
    """Runs attempts in worker processes; a timeout or cancel kills the worker running it.

    Args:
        workers: number of worker processes (default ``os.cpu_count()``).
        mp_context: start method name (``"fork"``, the Linux default, so notebook functions
            work; ``"spawn"``; ``"forkserver"``) or a ``multiprocessing`` context.
        idle_poll: how long an idle manager waits for work before checking for shutdown.

    Functions, arguments and results cross a process boundary, so they must pickle:
    module-level ``def`` functions and plain data. Inside a job ``god.progress()`` works;
    ``god.cancelled()`` stays False (a cancelled process job is killed instead).

    Example:
        >>> ex = ProcessExecutor(workers=2)   # the engine calls ex.start(host), then wake()
    """

    needs_pickle = True

    def __init__(self, workers: int | None = None, mp_context: Any = None,
                 idle_poll: float = 0.2) -> None:
        super().__init__(workers if workers is not None else (os.cpu_count() or 1))
        if not isinstance(idle_poll, int | float) or idle_poll <= 0:
            raise ValueError(f"idle_poll must be a positive number of seconds, "
                             f"got {idle_poll!r}")
        self._ctx = _resolve_context(mp_context)
        self.start_method: str = self._ctx.get_start_method()
        self._fork = self.start_method == "fork"
        self.idle_poll = float(idle_poll)
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._started = False
        self._stopping = False
        self._killing = False

    # ---- the Executor interface ------------------------------------------------------

    def wake(self) -> None:
        """Start the manager threads on the first call; each forks its own child."""
        if self._started or self._stopping:
            return
        if self.host is None:
            raise RuntimeError("ProcessExecutor.wake() before start(host)")
        with self._lock:
            if self._started or self._stopping:
                return
            self._started = True
            _live.add(self)
            for i in range(self.workers):
                slot = _Slot(i)
                slot.thread = threading.Thread(target=self._manage, args=(slot,),
                                               name=f"godnb-proc-{i}", daemon=True)
                self._slots.append(slot)
                slot.thread.start()

    def interrupt(self, run: Run, reason: str) -> None:
        """Kill the child running ``run``; the host already ended the run."""
        run.cancel_requested = True
        slot = run.worker
        if isinstance(slot, _Slot):
            slot.kill(run)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop pulling work. With ``wait``, running attempts finish (for at most
        ``timeout`` seconds, then they are killed); without, they are killed now. Attempts
        killed here are not reported: the host ends them. Returns once every manager thread
        and child process is gone."""
        with self._lock:
            self._stopping = True
            slots = list(self._slots)
        if not wait:
            self._kill_all(slots)
        if slots and self.host is not None:
            self.host.wake_workers(self.name)  # idle managers see the stop now
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.current_thread()
        for slot in slots:
            if slot.thread is not None and slot.thread is not me:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                slot.thread.join(left)
        if any(s.thread is not None and s.thread.is_alive() and s.thread is not me
               for s in slots):
            self._kill_all(slots)
            for slot in slots:
                if slot.thread is not None and slot.thread is not me:
                    slot.thread.join()
        _live.discard(self)

    def info(self) -> ExecutorInfo:
        """Workers, how many are running an attempt, and whether the pool is up."""
        busy = sum(1 for s in self._slots if s.run is not None)
        return ExecutorInfo(self.name, self.workers, busy, self._started and not self._stopping)

    def worker_keys(self) -> list[Any]:
        """The slots (one manager thread and one child process each), by index."""
        return list(self._slots)

    # ---- the manager thread ----------------------------------------------------------

    def _kill_all(self, slots: list[_Slot]) -> None:
        self._killing = True
        for slot in slots:
            slot.kill(None)

    def _manage(self, slot: _Slot) -> None:
        host = self.host
        assert host is not None
        try:
            self._respawn(slot)
            while not self._stopping:
                run = None
                try:
                    run = host.next_run(self.name, timeout=self.idle_poll)
                    if run is None:
                        if host.closing:
                            break
                        continue
                    self._serve(slot, run)
                except Exception as e:  # a host or pool bug: fail the run, keep the slot
                    log.exception("process worker slot %d failed", slot.index)
                    slot.retire(graceful=False)
                    if run is not None and not run.ended:
                        host.finish(run, error=e, tb=format_traceback(e))
        finally:
            slot.retire()

    def _respawn(self, slot: _Slot) -> None:
        if self._stopping:
            return
        try:
            slot.spawn(self._ctx, self._fork)
        except Exception:  # retried when the next run needs a child
            log.exception("could not start a worker process for slot %d", slot.index)

    def _serve(self, slot: _Slot, run: Run) -> None:
        host = self.host
        assert host is not None
        run.worker = slot
        if self._killing:  # pulled while shutdown(wait=False) runs: the host ends it
            run.cancel_requested = True
            return
        sink = run.output_sink()  # a captured job's output comes back over the pipe
        try:
            data = pickle.dumps((run.fn, run.args, run.kwargs, run.job_id, run.attempt,
                                 sink is not None), PROTOCOL)
        except Exception as e:
            err = _pickle_error(run, e)
            host.finish(run, error=err, tb=format_traceback(err))
            return
        if self._fork and _main_changed(slot, run.fn):
            slot.retire()  # the child's __main__ has an old or no copy of the function
        stale = self._attempt(slot, run, data, sink)
        if stale is not None and self._fork:
            slot.retire()
            stale = self._attempt(slot, run, data, sink)
        if stale is not None:
            exc, tb = stale
            how = ("a fresh worker could not load it either" if self._fork else
                   f"workers started with {self.start_method!r} re-import modules and do "
                   "not see notebook code; use mp_context='fork' or move it to a module")
            exc.add_note(f"job {run.job_id}: its function or arguments refer to something "
                         f"defined in __main__ that the worker process lacks; {how}")
            host.finish(run, error=exc, tb=tb)

    def _attempt(self, slot: _Slot, run: Run, data: bytes, sink: OutputSink | None
                 ) -> tuple[Any, str] | None:
        """Send the work and relay until it ends; return (error, tb) if the child's
        ``__main__`` lacked something the work refers to."""
        host = self.host
        assert host is not None
        if slot.proc is None:
            try:
                slot.spawn(self._ctx, self._fork)
            except Exception as e:
                err = WorkerDied(f"could not start a worker process for job {run.job_id}: "
                                 f"{describe(e)}", job_id=run.job_id, attempt=run.attempt)
                host.finish(run, error=err, tb=format_traceback(err))
                return None
        with slot.lock:
            slot.run = run
        if run.cancel_requested:  # interrupted before it reached the child
            self._release(slot)
            return None
        conn = slot.conn
        assert conn is not None
        try:
            conn.send_bytes(data)
        except OSError:
            self._lost(slot, run)
            return None
        return self._relay(slot, run, conn, sink)

    def _relay(self, slot: _Slot, run: Run, conn: Connection, sink: OutputSink | None
               ) -> tuple[Any, str] | None:
        host = self.host
        assert host is not None
        proc, watch, fd = slot.proc, slot.watch, conn.fileno()
        while True:
            ready = watch(LIVENESS)
            if not ready and proc.is_alive():
                continue  # (a grandchild may hold the sentinel open after a death)
            if fd not in ready:
                self._lost(slot, run)
                return None
            try:
                msg = pickle.loads(conn.recv_bytes())
            except (EOFError, OSError):
                self._lost(slot, run)
                return None
            except Exception as e:  # the result pickled in the child but will not load here
                msg = ("err", TypeError(f"result of job {run.job_id} could not be unpickled "
                                        f"in the parent: {describe(e)}; return plain data"),
                       None)
            kind = msg[0]
            if kind == "progress":
                if not run.cancel_requested:
                    host.progress(run, msg[1], msg[2], msg[3])
                continue
            if kind == "out":
                if sink is not None:
                    for name, text in msg[1]:
                        sink.write(name, text)
                continue
            self._release(slot)
            if kind == "stale":
                return msg[1], msg[2]
            if not run.cancel_requested:
                if kind == "ok":
                    host.finish(run, value=msg[1])
                else:
                    host.finish(run, error=with_remote_traceback(msg[1], msg[2]),
                                tb=msg[2] or format_traceback(msg[1]))
            return None

    def _release(self, slot: _Slot) -> None:
        """The slot's run is over; a kill that raced with its end also retires the child."""
        with slot.lock:
            slot.run = None
            killed = slot.killed
        if killed:
            slot.retire(graceful=False)
            self._respawn(slot)

    def _lost(self, slot: _Slot, run: Run) -> None:
        """The child died while running ``run``: replace it; fail the run unless the host
        already ended it (interrupt, shutdown)."""
        pid = slot.pid
        code = slot.retire(graceful=False)
        self._respawn(slot)
        if run.cancel_requested:
            return
        err = WorkerDied(f"worker process {pid} died while running job {run.job_id} "
                         f"({_exit_text(code)}); the pool replaced it",
                         job_id=run.job_id, attempt=run.attempt)
        assert self.host is not None
        self.host.finish(run, error=err, tb=format_traceback(err))


@atexit.register
def _shutdown_all() -> None:
    # Manager threads are daemons, so a forgotten pool does not block interpreter exit;
    # kill its children here (before multiprocessing joins them, which would hang).
    for ex in list(_live):
        ex.shutdown(wait=False, timeout=2 * LIVENESS)
