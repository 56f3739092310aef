"""The write-behind under injected faults: a store that refuses writes (another process
holds the SQLite lock, a store that fails batches), backpressure, and kill -9 just after
a map finished."""

from __future__ import annotations

import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from godnb import Engine, JobStatus, StoreError
from godnb.storage.state import MemoryStore, SQLiteStore
from tests.integration import durable_tasks  # noqa: F401  (registers "record")
from tests.integration.test_durable import ROOT, SCRIPT, lines
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


class HeldLock:
    """Another process holds ``BEGIN IMMEDIATE`` on a SQLite file until :meth:`release`."""

    CODE = ("import sqlite3, sys\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE')\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n"
            "c.execute('COMMIT')\n")

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE, str(db)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "held\n"

    def release(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("go\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def rows(db: Path) -> tuple[dict[str, int], int]:
    """Job counts by status and the number of results, read past any write lock."""
    with sqlite3.connect(db) as conn:
        counts = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status"))
        results = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    conn.close()
    return counts, results


def store_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "godnb.store" and r.levelno >= logging.WARNING]


def test_a_write_refused_by_a_held_lock_is_kept_and_retried_until_it_lands(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 17, case 1: the batch used to be dropped, the jobs then ran twice."""
    db, log = tmp_path / "j.db", tmp_path / "log"
    caplog.set_level(logging.DEBUG, logger="godnb.store")
    store = SQLiteStore(db, busy_timeout=0.05)  # gives up on the lock at once: many tries
    try:
        with Engine(threads=4, store=store) as eng:
            g = eng.map("record", [str(log)] * 8, range(8), [0.2] * 8)
            lock = HeldLock(db)  # taken while the jobs run
            try:
                assert g.wait(30) and all(h.status is JobStatus.COMPLETED for h in g)
                wait_until(lambda: sum("failed again" in r.getMessage()
                                       for r in caplog.records) >= 3,
                           what="the refused write to be retried a few times")
                counts, results = rows(db)
                assert results == 0 and counts.get("completed", 0) == 0
                assert eng.stats().store_lag == 8
            finally:
                lock.release()
            wait_until(lambda: rows(db) == ({"completed": 8}, 8),
                       what="the kept batch to land once the lock is free")
            assert eng.stats().store_lag == 0
        assert eng.unwritten == ()
    finally:
        store.close()
    said = store_warnings(caplog)
    assert len(said) == 2, said  # once when the failures began, once when they ended
    assert re.search(r"background write of [1-8] job\(s\) failed .*locked", said[0])
    assert "retried with backoff" in said[0]
    assert "succeeded after" in said[1]
    with Engine(threads=2, store=db) as again:  # nothing to recover, nothing runs twice
        assert again.wait(30)
        assert again.recovery is not None
        assert again.recovery.recovered == 0 and again.recovery.adopted == 0
    assert sorted(lines(log)) == list(range(8))


def test_shutdown_retries_for_flush_timeout_then_reports_what_it_could_not_write(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    store = SQLiteStore(db, busy_timeout=0.05)
    try:
        eng = Engine(threads=4, store=store, flush_timeout=0.3)
        g = eng.map("record", [str(log)] * 4, range(4), [0.5] * 4)  # end once locked
        lock = HeldLock(db)
        try:
            assert g.wait(30)
            with pytest.warns(RuntimeWarning, match=r"latest state of 4 job\(s\) could not "
                              r"be written within flush_timeout=0.3 s .*locked.*"
                              r"Engine.unwritten"):
                eng.shutdown()
            assert sorted(eng.unwritten) == sorted(h.job_id for h in g)
            assert any("could not be written" in m for m in store_warnings(caplog))
        finally:
            lock.release()
        counts, results = rows(db)  # the store keeps the older state of each job ...
        assert results == 0 and counts.get("pending", 0) + counts.get("running", 0) == 4
        # ... so the next engine recovers them (this one is taken for dead: it is gone,
        # though the test's process lives on)
        report = store.recover("next", is_dead=lambda e: True)
        assert sorted(report.requeued + report.failed) == sorted(eng.unwritten)
    finally:
        store.close()


class FlakyStore(MemoryStore):
    """A memory store whose write-behind batches fail while ``refuse`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = False
        self.refused = 0

    def update_rows(self, updates: Sequence[tuple[Any, ...]],
                    results: Sequence[tuple[Any, ...]]) -> None:
        if self.refuse:
            self.refused += 1
            raise StoreError("disk full (injected)")
        super().update_rows(updates, results)


def test_a_retried_batch_writes_each_jobs_newest_state() -> None:
    from tests.core import funcs

    store = FlakyStore()
    with Engine(threads=2, store=store) as eng:
        store.refuse = True
        h = eng.submit("tests.core.funcs:report", 40)  # reports progress 40 times
        quick = eng.submit("math:sqrt", 16)
        assert h.wait(30) and quick.wait(30)
        wait_until(lambda: store.refused >= 2, what="two refused batches")
        assert store.get_job(h.job_id).status is JobStatus.PENDING  # type: ignore[union-attr]
        store.refuse = False
        wait_until(lambda: eng.stats().store_lag == 0, what="the retry to land")
        stored = store.get_job(h.job_id)
        assert stored is not None and stored.status is JobStatus.COMPLETED
        assert stored.progress == h.job.progress  # the last report, not an older one
        assert store.get_result(h.job_id).output == funcs.report(40)  # type: ignore[union-attr]
        assert store.get_result(quick.job_id).output == 4.0  # type: ignore[union-attr]


def test_backpressure_holds_workers_while_the_store_is_max_lag_behind() -> None:
    store = FlakyStore()
    threads, max_lag = 2, 20
    with Engine(threads=threads, store=store, max_lag=max_lag) as eng:
        store.refuse = True
        g = eng.map("math:sqrt", range(300))
        wait_until(lambda: eng.stats().store_lag >= max_lag, what="the lag to reach max_lag")
        assert not g.wait(timeout=0.5)  # held back: the store takes nothing
        stats = eng.stats()
        finished = stats.counts["completed"]
        assert finished <= max_lag + threads, stats
        assert stats.store_lag is not None and stats.store_lag <= max_lag + threads, stats
        store.refuse = False
        assert g.wait(30)
        eng.wait(30)
        wait_until(lambda: store.counts()["completed"] == 300, what="every job written")
        assert eng._durable is not None and eng._durable.peak_lag <= max_lag + threads


def test_kill_9_just_after_a_map_finished(tmp_path: Path) -> None:
    """Issue 17, case 4: the store trailed by 20k jobs, recovery failed jobs whose result
    was written. Now: no job with a stored result runs again or fails, and the jobs the
    store had not heard the end of (re-run, or failed as interrupted with no retries
    left) are at most ``max_lag`` plus the workers."""
    db, log, done = tmp_path / "j.db", tmp_path / "log", tmp_path / "done"
    n, max_lag, threads = 3000, 200, 2
    proc = subprocess.Popen([*SCRIPT, "map_then_wait", str(db), str(log), str(n), str(done),
                             str(max_lag)], cwd=ROOT)
    wait_until(done.exists, timeout=90, what="the map to finish")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert set(lines(log)) == set(range(n))
    store = SQLiteStore(db)
    stored = {j.job_id for j in store.list_jobs() if store.get_result(j.job_id) is not None}
    store.close()
    with Engine(threads=4, store=db) as eng:
        assert eng.wait(60)
        report = eng.recovery
        failed = {j.job_id for j in eng.store.list_jobs("failed")}
        counts = eng.store.counts()
        ran_again = {h.job_id for h in eng.jobs()}
    assert report is not None and report.failed == len(failed) <= report.interrupted
    assert counts["completed"] + counts["failed"] == n
    assert not (ran_again | failed) & stored, "a job whose result was stored ran or failed"
    reruns = sum(Counter(lines(log)).values()) - n
    print(f"\nkill -9 after a {n}-job map: {reruns} re-run(s), {len(failed)} failed as "
          f"interrupted; {report}")
    assert reruns == len(ran_again - failed)
    assert reruns + len(failed) <= max_lag + threads
