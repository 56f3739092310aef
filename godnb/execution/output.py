"""Each job's own output: what it prints and logs goes to its buffer, not to the screen.

A thread job in a Jupyter kernel prints into whichever cell runs *now*, and
``contextlib.redirect_stdout`` or IPython's ``capture_output()`` would swap ``sys.stdout``
for the whole process and steal other cells' output. Instead one router is installed over
``sys.stdout`` and ``sys.stderr`` (:func:`install`). On each write it looks up the attempt
running in the current context (:data:`godnb.execution.context.current_run`) and asks it
for its sink (``run.output_sink()``): the host (the engine's runtime) answers with the job's
:class:`JobOutput` when that job's output is captured, else None and the text passes
through untouched. Writes outside any job pass through at the cost of one context-variable
read.

Which jobs are captured: every job of an engine made with ``Engine(capture_output=True)``;
with the default ``capture_output=None``, every job once :func:`set_capture_default` was
turned on (the notebook layer does so in a kernel); and any job whose buffer was made by
``h.capture_output()`` (``%%god submit`` does). Outside a kernel nothing is captured
unless asked, so scripts and the CLI print as before.

What is covered: ``print`` and every write to ``sys.stdout``/``sys.stderr`` made in the
job's context (thread, async and inline jobs directly, code the job runs through
``asyncio.to_thread`` or ``contextvars.copy_context().run``); log records, since
:func:`install` also points ``logging.StreamHandler``\\ s that held the old streams at the
router (handlers made later take ``sys.stderr``, the router, by themselves); process
jobs, whose worker forwards its writes over the pipe in batches (see
:mod:`godnb.concurrency.processes`). Not covered: threads a job starts itself (a new
thread starts with an empty context), writes to file descriptors 1 and 2 from C code or
subprocesses, and Dask workers (their output stays in the worker's log).

Memory: a buffer keeps at most :data:`MAX_LINES` lines and :data:`MAX_CHARS` characters;
older lines are dropped first and counted (``cut_lines``), and :meth:`JobOutput.text`
starts with ``[... N earlier lines cut]`` when any were. A buffer lives as long as its job
handle.

Example:
    >>> out = JobOutput(max_lines=2)
    >>> for i in range(4):
    ...     out.write("stdout", f"line {i}\\n")
    >>> print(out.text(), end="")
    [... 2 earlier lines cut]
    line 2
    line 3
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from godnb.execution.context import current_run

__all__ = [
    "BATCH_CHARS",
    "BATCH_INTERVAL",
    "MAX_CHARS",
    "MAX_LINES",
    "BatchedSink",
    "JobOutput",
    "OutputSink",
    "capture_current",
    "capture_default",
    "current_output",
    "install",
    "installed",
    "set_capture_default",
    "uninstall",
]

MAX_LINES = 5_000      # lines a job's buffer keeps (oldest dropped first, and counted)
MAX_CHARS = 500_000    # characters a job's buffer keeps, however long its lines are
BATCH_INTERVAL = 0.1   # seconds between the batches of a BatchedSink
BATCH_CHARS = 64 * 1024  # characters that make a BatchedSink send at once
STREAMS = ("stdout", "stderr")


class OutputSink(Protocol):
    """Where a captured job's writes go (a :class:`JobOutput`, a process worker's pipe)."""

    def write(self, name: str, text: str) -> None: ...


class JobOutput:
    """What one job printed and logged, bounded to the newest lines.

    Thread-safe. ``write(name, text)`` takes any piece of text on stream ``name``
    (``"stdout"`` or ``"stderr"``); pieces are joined into lines per stream, so two
    streams interleaving mid-line do not mix.

    Attributes:
        cut_lines: lines dropped from the front to stay under the caps.
        total_lines: lines written in all (kept and cut).
        version: bumped on every write, so a view can skip redraws.
    """

    def __init__(self, max_lines: int = MAX_LINES, max_chars: int = MAX_CHARS) -> None:
        if max_lines < 1 or max_chars < 1:
            raise ValueError(f"max_lines and max_chars must be >= 1, got {max_lines}, "
                             f"{max_chars}")
        self.max_lines = max_lines
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._lines: deque[list[str]] = deque()  # [stream, text]; text ends in "\n" unless open
        self._open: dict[str, list[str]] = {}     # per stream: its unfinished last line
        self._chars = 0
        self.cut_lines = 0
        self.total_lines = 0
        self.version = 0
        self._watchers: tuple[Callable[[], Any], ...] = ()

    def write(self, name: str, text: str) -> None:
        """Append ``text`` to stream ``name``; drops the oldest lines past the caps."""
        if not text:
            return
        with self._lock:
            pieces = text.split("\n")
            last = len(pieces) - 1
            for i, piece in enumerate(pieces):
                segment = piece if i == last else piece + "\n"
                if segment:
                    self._add(name, segment, closed=i != last)
            self._trim()
            self.version += 1
            watchers = self._watchers
        for fn in watchers:
            fn()

    def _add(self, name: str, segment: str, closed: bool) -> None:
        entry = self._open.pop(name, None)
        if entry is None:
            entry = [name, segment]
            self._lines.append(entry)
            self.total_lines += 1
        else:
            entry[1] += segment
        if not closed:
            self._open[name] = entry
        self._chars += len(segment)

    def _trim(self) -> None:
        lines = self._lines
        while len(lines) > self.max_lines or (self._chars > self.max_chars and len(lines) > 1):
            entry = lines.popleft()
            self._chars -= len(entry[1])
            self.cut_lines += 1
            if self._open.get(entry[0]) is entry:
                del self._open[entry[0]]
        if self._chars > self.max_chars:  # one line longer than the cap: keep its end
            entry = lines[0]
            entry[1] = entry[1][-self.max_chars:]
            self._chars = len(entry[1])

    def watch(self, fn: Callable[[], Any]) -> Callable[[], None]:
        """Call ``fn()`` after each write (on the writing thread); returns a remover."""
        with self._lock:
            self._watchers += (fn,)

        def remove() -> None:
            with self._lock:
                self._watchers = tuple(w for w in self._watchers if w is not fn)

        return remove

    @property
    def lines(self) -> int:
        """How many lines are kept now."""
        return len(self._lines)

    def text(self, stream: str | None = None) -> str:
        """Everything kept, or one stream's part; led by ``[... N earlier lines cut]``."""
        if stream is not None and stream not in STREAMS:
            raise ValueError(f"stream must be 'stdout', 'stderr' or None, got {stream!r}")
        with self._lock:
            kept = "".join(t for n, t in self._lines if stream is None or n == stream)
            cut = self.cut_lines
        return (cut_marker(cut) + "\n" if cut else "") + kept

    def tail(self, n: int) -> list[tuple[str, str]]:
        """The newest ``n`` lines as ``(stream, text)``, without their line ends."""
        with self._lock:
            start = max(0, len(self._lines) - n)
            return [(name, text.rstrip("\n"))
                    for name, text in list(self._lines)[start:]] if n > 0 else []

    def __repr__(self) -> str:
        return f"<JobOutput {self.lines} lines kept, {self.cut_lines} cut>"


class BatchedSink:
    """Writes collected and handed to ``send`` in batches: ``[(stream, text), ...]``.

    For output that has to travel (a process worker's pipe): consecutive writes to one
    stream are joined, and a batch goes when it holds ``batch_chars`` characters or
    ``interval`` seconds after the previous one; a flusher thread, started on the first
    write held back, sends what a quiet writer left waiting. ``flush()`` sends what is
    waiting now (call it before anything that must arrive after the output) and holds the
    lock while it sends, so batches arrive in order.
    """

    def __init__(self, send: Callable[[list[tuple[str, str]]], None],
                 interval: float = BATCH_INTERVAL, batch_chars: int = BATCH_CHARS) -> None:
        self._send = send
        self.interval = interval
        self.batch_chars = batch_chars
        self._lock = threading.Lock()
        self._pending: list[tuple[str, list[str]]] = []
        self._size = 0
        self._last = 0.0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def write(self, name: str, text: str) -> None:
        with self._lock:
            pending = self._pending
            if pending and pending[-1][0] == name:
                pending[-1][1].append(text)
            else:
                pending.append((name, [text]))
            self._size += len(text)
            due = self._size >= self.batch_chars or \
                time.monotonic() - self._last >= self.interval
        if due:
            self.flush()
        else:
            self._nudge()

    def flush(self) -> None:
        with self._lock:
            if not self._pending:
                return
            batch = [(name, "".join(texts)) for name, texts in self._pending]
            self._pending, self._size = [], 0
            self._last = time.monotonic()
            self._send(batch)

    def _nudge(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._flusher, daemon=True,
                                            name="godnb-output-flusher")
            self._thread.start()
        self._wake.set()

    def close(self) -> None:
        """Send what is waiting and stop the flusher thread (a worker process never needs
        to: it exits)."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()

    def _flusher(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            if not self._closed:
                time.sleep(self.interval)
            try:
                self.flush()
            except OSError:  # the receiving end went away (a worker's parent): stop
                return


def cut_marker(cut: int) -> str:
    """``[... N earlier lines cut]`` (what :meth:`JobOutput.text` starts with)."""
    return f"[... {cut} earlier line{'s' if cut != 1 else ''} cut]"


# -- which jobs are captured ------------------------------------------------------------
_capture_default = [False]


def set_capture_default(flag: bool) -> None:
    """Capture every job of engines made with ``capture_output=None`` (or stop)."""
    _capture_default[0] = bool(flag)


def capture_default() -> bool:
    """True once :func:`set_capture_default` turned capture on (in a kernel: always)."""
    return _capture_default[0]


def current_output() -> OutputSink | None:
    """The sink of the job running in this context, or None (not in a job, not captured)."""
    run = current_run.get()
    find = getattr(run, "output_sink", None)
    return None if find is None else find()  # type: ignore[no-any-return]


def capture_current() -> OutputSink | None:
    """Capture the output of the job running in this context from now on; its sink.

    None outside a job, or in a job whose host can not capture (a standalone pool).
    """
    run = current_run.get()
    find = getattr(run, "output_sink", None)
    return None if find is None else find(create=True)  # type: ignore[no-any-return]


# -- the router -------------------------------------------------------------------------
class _Router:
    """Stands in for ``sys.stdout``/``sys.stderr``; sends a captured job's text to its sink."""

    def __init__(self, name: str, target: TextIO) -> None:
        self._name = name
        self._target = target

    def write(self, text: str) -> int:
        run = current_run.get()
        if run is not None and type(text) is str:
            find = getattr(run, "output_sink", None)
            sink = find() if find is not None else None
            if sink is not None:
                sink.write(self._name, text)
                return len(text)
        return self._target.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if current_output() is None:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ipykernel's extras
        return getattr(self._target, name)


_install_lock = threading.Lock()
# Stream handlers this module pointed at a router, with the stream each held before.
_retargeted: list[tuple[logging.StreamHandler[Any], Any]] = []


def installed() -> bool:
    """True while the routers stand over ``sys.stdout`` and ``sys.stderr``."""
    return isinstance(sys.stdout, _Router) and isinstance(sys.stderr, _Router)


def install() -> None:
    """Put the routers over the current ``sys.stdout``/``sys.stderr`` (idempotent).

    Also points every ``logging.StreamHandler`` that writes to one of the replaced
    streams at its router, so a job's log records are captured with its prints. Safe to
    call again after someone swapped the streams (pytest, ``%%capture``): the router then
    wraps whatever stream is current.
    """
    with _install_lock:
        swapped: dict[int, _Router] = {}
        for name in STREAMS:
            current = getattr(sys, name)
            if current is not None and not isinstance(current, _Router):
                router = _Router(name, current)
                setattr(sys, name, router)
                swapped[id(current)] = router
        if swapped:
            _retarget_handlers(swapped)


def _retarget_handlers(swapped: dict[int, _Router]) -> None:
    for handler in _stream_handlers():
        router = swapped.get(id(handler.stream))
        if router is not None:
            _retargeted.append((handler, handler.stream))
            handler.setStream(router)  # type: ignore[arg-type]


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[Any] = [logging.getLogger(),
                          *logging.Logger.manager.loggerDict.values()]
    found: dict[int, logging.StreamHandler[Any]] = {}
    for lg in loggers:
        for handler in getattr(lg, "handlers", ()):
            if isinstance(handler, logging.StreamHandler) and \
                    not isinstance(handler, logging.FileHandler):
                found[id(handler)] = handler
    return list(found.values())


def uninstall() -> None:
    """Restore the streams the routers wrap (only where a router is still installed)."""
    with _install_lock:
        for name in STREAMS:
            current = getattr(sys, name)
            if isinstance(current, _Router):
                setattr(sys, name, current._target)
        while _retargeted:
            handler, stream = _retargeted.pop()
            if isinstance(handler.stream, _Router):
                handler.setStream(stream)
