"""``godnb monitor``: read a store, format a snapshot, redraw it in place.

The text comes from the pure :func:`godnb.api.cli_format.format_monitor`; this module
only gathers the snapshot (:func:`take_snapshot`) and puts it on the terminal
(:class:`LiveView`): in place with ANSI escapes on a terminal, or as plain frames (only
when something changed) when the output is a pipe or a file.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import IO

from godnb.api.cli_format import MonitorSnapshot, format_monitor
from godnb.models.job import utcnow
from godnb.storage.base import Store

__all__ = ["LiveView", "take_snapshot", "watch"]

_HOME, _CLEAR_LINE, _CLEAR_BELOW = "\x1b[H", "\x1b[K", "\x1b[J"
_HIDE_CURSOR, _SHOW_CURSOR, _CLEAR_SCREEN = "\x1b[?25l", "\x1b[?25h", "\x1b[2J"


def take_snapshot(store: Store, db: str, *, previous: MonitorSnapshot | None = None,
                  running_limit: int = 8, failure_limit: int = 5,
                  now: datetime | None = None, title: str = "godnb") -> MonitorSnapshot:
    """What the store holds now: counts, engines, newest running jobs, recent failures.

    ``previous`` gives the finish rate (jobs per second since it was taken).
    """
    now = now or utcnow()
    counts = store.counts()
    running = store.list_jobs("running", limit=running_limit) if counts["running"] else []
    failures: list = []
    if counts["failed"]:
        recent = store.list_jobs("failed", limit=max(50, failure_limit))
        recent.sort(key=lambda j: j.updated_at, reverse=True)
        failures = recent[:failure_limit]
    snap = MonitorSnapshot(db=db, at=now, counts=counts, engines=len(store.engines()),
                           running=running, failures=failures, title=title)
    if previous is None:
        return snap
    seconds = (now - previous.at).total_seconds()
    if seconds <= 0:
        return snap.model_copy(update={"rate": previous.rate})
    rate = max(0, snap.finished - previous.finished) / seconds
    if previous.rate is not None:  # smooth: a frame every half second is jumpy
        rate = 0.5 * rate + 0.5 * previous.rate
    return snap.model_copy(update={"rate": rate})


class LiveView:
    """Draws frames of text: in place on a terminal, else each new frame once.

    ``ansi=None`` decides by whether ``out`` is a terminal.
    """

    def __init__(self, out: IO[str] | None = None, ansi: bool | None = None) -> None:
        self.out = out if out is not None else sys.stdout
        isatty = getattr(self.out, "isatty", None)
        self.ansi = bool(isatty and isatty()) if ansi is None else ansi
        self.ascii = not _can_encode(self.out, "█░·…")
        self._last_body: str | None = None
        self._started = False

    def width(self) -> int:
        return shutil.get_terminal_size((80, 24)).columns if self.ansi else 100

    def draw(self, text: str) -> None:
        if self.ansi:
            start = "" if self._started else _HIDE_CURSOR + _CLEAR_SCREEN
            self._started = True
            body = text.replace("\n", _CLEAR_LINE + "\n")
            self.out.write(f"{start}{_HOME}{body}{_CLEAR_LINE}\n{_CLEAR_BELOW}")
        else:
            body = text.partition("\n")[2]  # the header line holds the clock: ignore it
            if body == self._last_body:
                return
            self._last_body = body
            self.out.write(text + "\n\n")
        self.out.flush()

    def close(self) -> None:
        if self.ansi and self._started:
            self.out.write(_SHOW_CURSOR)
            self.out.flush()


def _can_encode(out: IO[str], text: str) -> bool:
    encoding = getattr(out, "encoding", None)
    if encoding is None:  # an in-memory text buffer holds any text
        return True
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def watch(snapshot: Callable[[MonitorSnapshot | None], MonitorSnapshot], view: LiveView, *,
          interval: float = 0.5, until_done: bool = False,
          done: Callable[[MonitorSnapshot], bool] | None = None,
          sleep: Callable[[float], None] = time.sleep) -> MonitorSnapshot:
    """Redraw ``snapshot(previous)`` every ``interval`` seconds.

    Returns the last snapshot once ``until_done`` and ``done(snap)`` (default: no pending
    or running job left); otherwise runs until interrupted (KeyboardInterrupt propagates).
    """
    done = done or (lambda s: s.active == 0)
    snap: MonitorSnapshot | None = None
    while True:
        snap = snapshot(snap)
        view.draw(format_monitor(snap, view.width(), view.ascii))
        if until_done and done(snap):
            return snap
        sleep(interval)
