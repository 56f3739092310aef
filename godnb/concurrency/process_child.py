"""The child side of the process backend: what runs inside a worker process.

A worker process runs :func:`child_main`: it leads its own process group, dies with the
engine (``PR_SET_PDEATHSIG`` on Linux, else a watchdog thread), ignores SIGINT, and runs
one job at a time from its pipe, sending progress, output and the result or error back
over it. :mod:`godnb.concurrency.processes` (the parent side) describes the protocol.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

from godnb.execution.context import current_run
from godnb.execution.output import BatchedSink, OutputSink
from godnb.execution.output import install as install_output_router
from godnb.execution.remote import describe, format_traceback, portable

__all__ = ["LIVENESS", "PROTOCOL", "STOP", "child_main", "watch"]

PROTOCOL = pickle.HIGHEST_PROTOCOL
STOP = b""  # parent -> child: exit cleanly
LIVENESS = 1.0  # how often a waiting side checks that the other side still exists
_PROGRESS_INTERVAL = 0.05  # seconds between progress messages from one child
_PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a process gets when its parent dies
# Ask the kernel to kill children whose parent died (Linux); else a watchdog thread polls.
_USE_PDEATHSIG = sys.platform.startswith("linux")


def watch(*objs: Any) -> Callable[[float], set[int]]:
    """``wait(objs, timeout)`` as a set of ready descriptors, registered once.

    ``multiprocessing.connection.wait`` builds a selector per call (~9 us); a prepared
    ``select.poll`` costs ~1 us, and this runs twice per job.
    """
    fds = [o if isinstance(o, int) else o.fileno() for o in objs]
    if not hasattr(select, "poll"):  # pragma: no cover (not on Linux or macOS)
        by_obj = dict(zip(map(id, objs), fds, strict=True))
        return lambda timeout: {by_obj[id(o)] for o in wait(list(objs), timeout)}
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN)
    return lambda timeout: {fd for fd, _ in poller.poll(timeout * 1000)}



class _ChildRun:
    """The RunContext inside a worker process: progress and output go up the pipe,
    throttled. Every message the child sends goes through :meth:`send` (one lock: the
    output flusher thread sends too)."""

    __slots__ = ("_conn", "_last", "_out", "_out_active", "_pending", "_send_lock", "attempt",
                 "cancel_requested", "job_id")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self.job_id = ""
        self.attempt = 0
        self.cancel_requested = False  # a process job is stopped by a kill, not a flag
        self._last = -1.0
        self._pending: tuple[Any, ...] | None = None
        self._out: BatchedSink | None = None
        self._out_active = False

    def begin(self, job_id: str, attempt: int, capture: bool) -> None:
        self.job_id, self.attempt = job_id, attempt
        self._last, self._pending = -1.0, None
        if capture and self._out is None:
            self._out = BatchedSink(lambda batch: self.send(("out", batch)))
        self._out_active = capture

    def send(self, msg: tuple[Any, ...]) -> None:
        self.send_bytes(pickle.dumps(msg, PROTOCOL))

    def send_bytes(self, data: bytes) -> None:
        with self._send_lock:
            self._conn.send_bytes(data)

    def output_sink(self, create: bool | None = None) -> OutputSink | None:
        """The job's output forwarder while its output is captured (the router asks)."""
        return self._out if self._out_active else None

    def report(self, done: float, total: float | None, message: str | None) -> None:
        now = time.monotonic()
        # str(): a message object that failed to load in the parent would end the job early
        msg = ("progress", done, total, None if message is None else str(message))
        if now - self._last >= _PROGRESS_INTERVAL:
            self._last, self._pending = now, None
            self.send(msg)
        else:
            self._pending = msg  # sent by the next report after the interval, or by flush

    def flush(self) -> None:
        """Send what was withheld (output, the last progress), so the final state arrives."""
        if self._out_active and self._out is not None:
            self._out.flush()
        if self._pending is not None:
            self.send(self._pending)
            self._pending = None

    def end(self) -> None:
        self._out_active = False


def _own_group() -> None:
    """Lead a new process group (the parent also sets it, whichever runs first)."""
    try:
        os.setpgid(0, 0)
    except OSError:  # e.g. a session leader: then the parent's kill takes the child alone
        pass


def _die_with_parent(engine: int) -> None:
    """Make sure this worker process does not outlive ``engine`` (the engine's pid).

    Linux, when the engine forked us: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, then a check
    that the engine did not die before that call. Otherwise (another OS, a fork server
    between us, prctl failing): a daemon thread polls that the engine's pid still exists.
    """
    if _USE_PDEATHSIG and os.getppid() == engine:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != engine:
                    os._exit(1)  # the engine died before the request took effect
                return
        except (OSError, AttributeError):
            pass
    threading.Thread(target=_watch_engine, args=(engine,), name="godnb-engine-watch",
                     daemon=True).start()


def _watch_engine(engine: int, interval: float = LIVENESS / 4) -> None:
    while _pid_exists(engine):
        time.sleep(interval)
    _kill_own_group()


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. EPERM: it exists
        return True
    return True


def _kill_own_group() -> None:
    """SIGKILL this process and, if it leads its own group, the job's processes too."""
    me = os.getpid()
    try:
        if os.getpgid(0) == me:
            os.killpg(me, signal.SIGKILL)
    except OSError:
        pass
    os.kill(me, signal.SIGKILL)


def child_main(conn: Connection, inherited: list[Connection], engine: int = 0) -> None:
    """Entry point of a worker process: run work until told to stop or orphaned."""
    _own_group()
    parent = os.getppid()
    _die_with_parent(engine or parent)
    for c in inherited:
        c.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_output_router()  # a captured job's prints go to the parent, others as before
    ctx = _ChildRun(conn)
    ready = watch(conn)
    while True:
        try:
            while not ready(LIVENESS):
                if os.getppid() != parent:
                    return  # the parent died without telling us
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if data == STOP:
            return
        _child_run_one(conn, ctx, data)


def _child_run_one(conn: Connection, ctx: _ChildRun, data: bytes) -> None:
    try:
        fn, args, kwargs, job_id, attempt, capture = pickle.loads(data)
    except BaseException as e:  # the work could not be loaded here: tell the parent why
        stale = isinstance(e, AttributeError) and "__main__" in str(e)
        if not stale:
            e.add_note("(raised while the worker process loaded the job's function and "
                       "arguments: they must be importable there)")
        _send_error(ctx, e, "?", "stale" if stale else "err")
        return
    ctx.begin(job_id, attempt, capture)
    token = current_run.set(ctx)
    try:
        value = fn(*args, **kwargs)
    except BaseException as e:  # the job's error (SystemExit too) is data for the parent
        ctx.flush()
        ctx.end()
        if e.__traceback__ is not None:  # start the traceback at the user's function
            e.__traceback__ = e.__traceback__.tb_next
        _send_error(ctx, e, job_id)
        return
    finally:
        current_run.reset(token)
    ctx.flush()
    ctx.end()
    try:
        out = pickle.dumps(("ok", value), PROTOCOL)
    except Exception as e:
        err = TypeError(f"result of job {job_id} could not be pickled: {describe(e)}; "
                        f"return plain data (numbers, strings, lists, dicts, arrays)")
        out = pickle.dumps(("err", err, format_traceback(err)), PROTOCOL)
    ctx.send_bytes(out)


def _send_error(ctx: _ChildRun, exc: BaseException, job_id: str, kind: str = "err") -> None:
    sendable, tb = portable(exc, job_id)
    ctx.send((kind, sendable, tb))
