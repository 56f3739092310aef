"""Resume under load: an engine drains a large backlog it finds in its store, in bounded
memory, and a second one finishes the job after the first is killed mid-way.

Short version: 20,000 jobs (``GODNB_LOAD=long``: 200,000). The figures printed are
jobs/s and the most handles held; the assertions are on behaviour: every job ran, at
most ``max_lag`` plus the workers ran twice, and the engine never held more than its
resume window.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import godnb as god
from godnb import Engine
from godnb.core.resume import RESUME_WINDOW
from godnb.storage.state import SQLiteStore
from tests.integration import durable_tasks  # noqa: F401  (registers "record")
from tests.integration.test_durable import ROOT, SCRIPT, lines
from tests.load.probes import LONG
from tests.waiting import wait_until

pytestmark = [pytest.mark.load, pytest.mark.timeout(900 if LONG else 180)]

N = 200_000 if LONG else 20_000


def backlog(db: Path, log: Path | None, n: int) -> None:
    """n unowned pending jobs, as the CLI or a released engine would leave them."""
    with SQLiteStore(db) as store:
        for start in range(0, n, 10_000):
            store.add([god.Job(payload={"task": "record", "args": [str(log), i]})
                       if log is not None else
                       god.Job(payload={"task": "tests.load.load_tasks:ok", "args": [i]})
                       for i in range(start, min(n, start + 10_000))])


class HeldProbe:
    """Samples how many jobs the engine holds (pending + running), from another thread."""

    def __init__(self, eng: Engine) -> None:
        self.eng, self.most, self._stop = eng, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.most = max(self.most, self.eng.stats().active)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.most


def test_an_engine_drains_a_large_backlog_in_bounded_memory(
        tmp_path: Path, report: Callable[[str], None]) -> None:
    db = tmp_path / "j.db"
    backlog(db, None, N)
    with Engine(threads=4, store=db, keep_finished=1_000, allow=["tests.load.load_tasks"]) as eng:
        t0 = time.perf_counter()
        probe = HeldProbe(eng)
        assert eng.wait(timeout=600)
        elapsed = time.perf_counter() - t0
        most = probe.stop()
        assert eng.store is not None
        counts = eng.store.counts()
        adopted = eng.recovery.adopted if eng.recovery else 0
    assert counts["completed"] == N and adopted == N
    assert most <= RESUME_WINDOW + 4
    report(f"resume: {N:,} stored jobs drained at {N / elapsed:,.0f} jobs/s, at most "
           f"{most:,} held at once (window {RESUME_WINDOW:,})")


def test_a_second_engine_finishes_what_a_killed_one_left(
        tmp_path: Path, report: Callable[[str], None]) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    n, max_lag = N // 4, 500
    backlog(db, log, n)
    proc = subprocess.Popen([*SCRIPT, "resume_until_killed", str(db), str(max_lag)],
                            cwd=ROOT)
    try:
        wait_until(lambda: len(lines(log)) >= n // 3, timeout=120,
                   what="the first engine to be a third of the way through")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    first = len(lines(log))
    with Engine(threads=4, store=db) as eng:
        assert eng.wait(timeout=300)
        rec = eng.recovery
        assert eng.store is not None
        counts = eng.store.counts()
    ran = Counter(lines(log))
    assert set(ran) == set(range(n)), "no job lost"
    twice = sum(c - 1 for c in ran.values())
    assert rec is not None and rec.failed + twice <= max_lag + 2
    assert counts["completed"] + counts["failed"] == n
    report(f"resume after kill -9: first engine ran {first:,} of {n:,}; the second "
           f"recovered {rec.requeued:,} ({rec.interrupted} interrupted), adopted "
           f"{rec.adopted:,}; {twice} ran twice, {rec.failed} failed as interrupted")
