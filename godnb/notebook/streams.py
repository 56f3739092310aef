"""Route a job's prints to that job, not to whichever cell happens to run.

A thread in a kernel prints into the cell running *now*; ``capture_output()`` would swap
``sys.stdout`` for the whole process and steal other cells' output. Instead one proxy is
installed over ``sys.stdout``/``sys.stderr``: on each write it looks up the job running in
the current context (:func:`godnb.execution.context.current_job_id`). If that job has an output
buffer (``capture(job_id)``, done by ``%%god submit``), the text goes there and the job's
view shows it; everything else passes through untouched.

Process jobs print in their worker process: their output is not captured.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, TextIO

from godnb.execution.context import current_job_id

__all__ = ["JobOutput", "capture", "install", "installed", "job_output", "uninstall"]

MAX_JOBS = 1000        # buffers kept (oldest dropped first)
MAX_CHARS = 200_000    # per job: older text is dropped past this


class JobOutput:
    """What one job printed, bounded to the last ``limit`` characters."""

    def __init__(self, limit: int = MAX_CHARS) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._pieces: deque[tuple[str, str]] = deque()  # (stream name, text)
        self._size = 0
        self.dropped = 0   # characters dropped from the front
        self.version = 0   # bumped on every write: views compare it to skip redraws
        self._watchers: tuple[Callable[[], Any], ...] = ()

    def write(self, name: str, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._pieces.append((name, text))
            self._size += len(text)
            while self._size > self.limit and len(self._pieces) > 1:
                _, old = self._pieces.popleft()
                self._size -= len(old)
                self.dropped += len(old)
            self.version += 1
            watchers = self._watchers
        for fn in watchers:
            fn()

    def watch(self, fn: Callable[[], Any]) -> Callable[[], None]:
        """Call ``fn()`` after each write (on the writing thread); returns a remover."""
        with self._lock:
            self._watchers += (fn,)

        def remove() -> None:
            with self._lock:
                self._watchers = tuple(w for w in self._watchers if w is not fn)

        return remove

    def text(self, name: str | None = None) -> str:
        """Everything kept, or one stream's part (``"stdout"`` / ``"stderr"``)."""
        with self._lock:
            return "".join(t for n, t in self._pieces if name is None or n == name)

    def outputs(self, tail: int | None = None) -> tuple[dict[str, str], ...]:
        """nbformat stream outputs (consecutive writes merged), for an ``Output`` widget.

        ``tail`` keeps only about the last ``tail`` characters: a widget re-sends its whole
        output list on every change, so a view shows a tail, not the full buffer.
        """
        with self._lock:
            pieces = list(self._pieces)
            dropped = self.dropped
        if tail is not None:
            pieces, cut = _tail(pieces, tail)
            dropped += cut
        runs: list[tuple[str, list[str]]] = []
        for name, text in pieces:
            if runs and runs[-1][0] == name:
                runs[-1][1].append(text)
            else:
                runs.append((name, [text]))
        merged = [{"output_type": "stream", "name": name, "text": "".join(texts)}
                  for name, texts in runs]
        if dropped:
            merged.insert(0, {"output_type": "stream", "name": "stderr",
                              "text": f"[... {dropped} earlier characters dropped]\n"})
        return tuple(merged)


def _tail(pieces: list[tuple[str, str]], limit: int) -> tuple[list[tuple[str, str]], int]:
    """The last ``limit`` characters of ``pieces``, and how many were cut."""
    kept = 0
    for i in range(len(pieces) - 1, -1, -1):
        name, text = pieces[i]
        if kept + len(text) > limit:
            room = limit - kept
            cut = sum(len(t) for _, t in pieces[:i]) + len(text) - room
            head = [(name, text[len(text) - room:])] if room > 0 else []
            return head + pieces[i + 1:], cut
        kept += len(text)
    return pieces, 0


_lock = threading.Lock()
_outputs: OrderedDict[str, JobOutput] = OrderedDict()


def capture(job_id: str) -> JobOutput:
    """The output buffer of ``job_id``, made on first call: its prints go there from now on."""
    out = _outputs.get(job_id)
    if out is not None:
        return out
    with _lock:
        out = _outputs.get(job_id)
        if out is None:
            out = _outputs[job_id] = JobOutput()
            while len(_outputs) > MAX_JOBS:
                _outputs.popitem(last=False)
    return out


def job_output(job_id: str) -> JobOutput | None:
    """The buffer of a captured job, or None."""
    return _outputs.get(job_id)


class _Router:
    """Stands in for ``sys.stdout``/``sys.stderr``; sends a captured job's text to its buffer."""

    def __init__(self, name: str, target: TextIO) -> None:
        self._name = name
        self._target = target

    def write(self, text: str) -> int:
        job_id = current_job_id()
        if job_id is not None:
            out = _outputs.get(job_id)
            if out is not None:
                out.write(self._name, text)
                return len(text)
        return self._target.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if current_job_id() is None or current_job_id() not in _outputs:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ipykernel's extras
        return getattr(self._target, name)


def installed() -> bool:
    return isinstance(sys.stdout, _Router) and isinstance(sys.stderr, _Router)


def install() -> None:
    """Put the routers over the current ``sys.stdout``/``sys.stderr`` (idempotent).

    Safe to call again after someone swapped the streams (pytest, ``%%capture``): the
    router then wraps whatever stream is current.
    """
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if not isinstance(current, _Router):
            setattr(sys, name, _Router(name, current))


def uninstall() -> None:
    """Restore the streams the routers wrap (only where a router is still installed)."""
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if isinstance(current, _Router):
            setattr(sys, name, current._target)
