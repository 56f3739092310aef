"""Durable state across processes: kill -9 recovery, shared files, cross-process cancel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.storage.codec import Pickled
from godnb.storage.state import MemoryStore, ShelveStore, SQLiteStore
from tests.integration import durable_tasks  # noqa: F401  (registers "record")
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = [sys.executable, "-m", "tests.integration.durable_tasks"]
WAIT = 60.0  # seconds: these tests start processes and share SQLite files


def lines(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("make_store", [
    lambda p: SQLiteStore(p / "s.db"), lambda p: ShelveStore(p / "s.shelf"),
    lambda p: MemoryStore()])
def test_every_store_keeps_jobs_and_results(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path)
    with Engine(store=store) as eng:
        g = eng.map("math:sqrt", [4, 9])
        assert g.results(timeout=30) == [2.0, 3.0]
        failed = eng.submit("math:sqrt", "x")
        assert failed.wait(30)
        eng.wait(30)
        eng._durable.flush()
        assert store.counts()["completed"] == 2
        assert store.counts()["failed"] == 1
        assert store.get_result(g[1].job_id).output == 3.0
        assert store.get_result(failed.job_id).errors[0].type == "TypeError"


class _Opaque:
    """An output JSON can not hold: it is stored pickled."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Opaque) and other.n == self.n


def _flaky_then_opaque(n: int) -> _Opaque:
    from godnb.execution.context import current

    run = current()
    if run is not None and run.attempt == 1:
        raise ConnectionError("first attempt fails")
    return _Opaque(n)


@pytest.mark.parametrize("make_store", [
    lambda p: SQLiteStore(p / "s.db"), lambda p: ShelveStore(p / "s.shelf"),
    lambda p: MemoryStore()])
def test_stored_results_equal_the_engines_outcomes(tmp_path: Path, make_store) -> None:  # type: ignore[no-untyped-def]
    """The write-behind thread writes result rows straight from the handles: each stored
    Result must equal ``h.outcome`` field for field (output kinds, errors, attempts)."""
    store = make_store(tmp_path)
    gate = __import__("threading").Event()
    with Engine(threads=2, store=store) as eng:
        handles = [
            eng.submit("math:sqrt", 16),                       # JSON output
            eng.submit("math:sqrt", "x"),                      # failed, one error
            eng.submit(_flaky_then_opaque, 3, retries=2),      # retried, pickled output
            eng.submit(gate.wait, 30),                         # cancelled while running
            *eng.map("math:pow", [2, 3], [10, 2]),
        ]
        wait_until(lambda: handles[3].status is JobStatus.RUNNING, WAIT, "job 4 running")
        handles[3].cancel()
        gate.set()
        for h in handles:
            assert h.wait(30)
        eng._durable.flush()
        retried = handles[2].outcome
        assert retried is not None and retried.attempts == 2 and len(retried.errors) == 1
        for h in handles:
            stored, outcome = store.get_result(h.job_id), h.outcome
            assert stored is not None and outcome is not None
            if isinstance(stored.output, Pickled):  # reading never unpickles: load it
                stored = stored.model_copy(update={"output": stored.output.load()})
            assert stored.model_dump() == outcome.model_dump(), h.name
        assert [store.get_result(h.job_id).status for h in handles] == [  # type: ignore[union-attr]
            JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.COMPLETED, JobStatus.CANCELLED,
            JobStatus.COMPLETED, JobStatus.COMPLETED]


def test_submit_is_committed_before_it_returns(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    gate = __import__("threading").Event()
    with Engine(threads=1, store=db) as eng:
        eng.submit(gate.wait, 10)
        h = eng.submit("math:sqrt", 4)
        other = SQLiteStore(db)  # a second connection sees it at once
        assert other.get_job(h.job_id) is not None
        other.close()
        gate.set()


def test_shutdown_with_release_leaves_unfinished_jobs_for_the_next_engine(
        tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    eng = Engine(threads=1, store=db)
    slow = eng.submit("record", str(log), -1, 0.5)  # still running at shutdown
    queued = eng.map("record", [str(log)] * 5, range(5))
    wait_until(lambda: slow.status is JobStatus.RUNNING, WAIT, "the slow job to run")
    eng.shutdown(wait=False, release=True)
    assert slow.status is JobStatus.CANCELLED  # stopped here ...
    store = SQLiteStore(db)
    assert store.counts()["pending"] == 6  # ... but kept for the next engine
    assert store.get_job(slow.job_id).status is JobStatus.PENDING
    store.close()
    with Engine(threads=2, store=db, poll_interval=0.05) as nxt:
        wait_until(lambda: nxt.store.counts()["completed"] == 6, WAIT, "6 completed jobs")
        assert [nxt.store.get_result(h.job_id).output for h in [slow, *queued]] == \
            [-1, 0, 1, 2, 3, 4]


def test_release_needs_a_store() -> None:
    eng = Engine(threads=1)
    with pytest.raises(ValueError, match="has none; pass store="):
        eng.shutdown(release=True)
    assert not eng.closed  # the bad call changed nothing
    eng.shutdown()


def test_kill_9_loses_no_acknowledged_job(tmp_path: Path) -> None:
    db, log, ready = tmp_path / "j.db", tmp_path / "log", tmp_path / "ready"
    n = 5000
    proc = subprocess.Popen([*SCRIPT, "submit_and_run", str(db), str(log), str(n), str(ready)],
                            cwd=ROOT)
    wait_until(ready.exists, WAIT, "the child to be ready")
    wait_until(lambda: len(lines(log)) > 300, WAIT, "300 jobs to run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = lines(log)
    assert 0 < len(before) < n, "the kill should land mid-run"

    with Engine(threads=4, store=db) as eng:
        assert eng.wait(timeout=120), "wait() returns once the store is drained"
        report = eng.recovery
        counts = eng.store.counts()
    assert report is not None and report.requeued > 0 and report.failed == 0
    assert report.adopted == report.requeued  # every recovered job, and nothing else
    seen = Counter(lines(log))
    assert set(seen) == set(range(n)), "every acknowledged job ran"
    reruns = sum(c - 1 for c in seen.values())
    print(f"\nkill -9 after {len(before)} of {n} jobs: {reruns} job(s) ran twice; {report}; "
          f"counts={counts}")
    # re-runs are limited to jobs that were running or had just finished (write-behind)
    assert reruns <= 200
    assert counts == {"pending": 0, "running": 0, "completed": n, "failed": 0,
                      "cancelled": 0}


@pytest.mark.parametrize("kind", ["sqlite", "shelve"])
def test_kill_9_after_jobs_finished_loses_none_of_them(tmp_path: Path, kind: str) -> None:
    """Issue 17, case 2: ShelveStore kept no progress until a clean close (300 finished
    jobs came back pending and ran again)."""
    path, log, done = tmp_path / "store", tmp_path / "log", tmp_path / "done"
    proc = subprocess.Popen([*SCRIPT, "finish_then_wait", kind, str(path), str(log), "300",
                             str(done)], cwd=ROOT)
    wait_until(done.exists, what="the jobs to finish")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = ShelveStore(path) if kind == "shelve" else SQLiteStore(path)
    try:
        with Engine(threads=2, store=store) as eng:
            assert eng.wait(30)
            report = eng.recovery
        counts = store.counts()
    finally:
        store.close()
    assert counts["completed"] == 300 and counts["pending"] == counts["running"] == 0
    assert report is not None and report.recovered == 0 and report.adopted == 0
    assert sorted(lines(log)) == list(range(300)), "no job ran twice"


def test_two_processes_share_one_file_and_run_each_job_once(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    SQLiteStore(db).close()
    procs = [subprocess.Popen([*SCRIPT, "drain", str(db), str(log), "2000", str(k * 10_000)],
                              cwd=ROOT) for k in range(2)]
    for p in procs:
        assert p.wait(timeout=150) == 0
    seen = Counter(lines(log))
    assert len(seen) == 4000
    assert max(seen.values()) == 1
    store = SQLiteStore(db)
    assert store.counts()["completed"] == 4000
    store.close()


def test_unowned_jobs_are_claimed_by_an_engine(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    store = SQLiteStore(db)
    jobs = [god.Job(payload={"task": "record", "args": [str(log), i]}) for i in range(20)]
    store.add(jobs)  # as the CLI does: no owner
    store.close()
    with Engine(store=db, poll_interval=0.05) as eng:
        wait_until(lambda: eng.store.counts()["completed"] == 20, WAIT, "20 completed jobs")
    assert sorted(lines(log)) == list(range(20))


def test_lambda_job_fails_after_restart_with_a_fix(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    store = SQLiteStore(db)
    job = god.Job(payload={"task": lambda: 1})
    store.add([job], owner="dead-engine")
    store.close()
    with Engine(store=db, poll_interval=0.05) as eng:
        wait_until(lambda: eng.store.counts()["failed"] == 1, WAIT, "the job to fail")
        result = eng.store.get_result(job.job_id)
    assert "importable module" in result.errors[-1].message
    assert "@god.task" in result.errors[-1].message


def test_cancel_from_another_process_reaches_a_running_job(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    with Engine(store=db, poll_interval=0.05) as eng:
        from tests.core import funcs

        h = eng.submit(funcs.cooperative, 60)
        wait_until(lambda: h.status is JobStatus.RUNNING, WAIT, "the job to run")
        other = SQLiteStore(db)
        # write-behind: the store may not have seen "running" yet
        assert other.request_cancel(h.job_id) in (JobStatus.PENDING, JobStatus.RUNNING)
        other.close()
        wait_until(lambda: h.status is JobStatus.CANCELLED, 30, "the job to be cancelled")
        eng.wait(10)
        eng._durable.flush()
        assert eng.store.get_job(h.job_id).status is JobStatus.CANCELLED
