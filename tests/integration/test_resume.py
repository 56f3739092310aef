"""Resume on start: an engine adopts the jobs its store holds, as ordinary handles, and
``wait()`` covers them (issue 17)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.models.events import EventKind, JobEvent
from godnb.storage.state import SQLiteStore
from tests.integration import durable_tasks  # noqa: F401  (registers "record")
from tests.integration.test_durable import lines
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def add_unowned(db: Path, jobs: Sequence[god.Job]) -> list[str]:
    """Put jobs in the store as ``godnb submit`` does: committed, owned by nobody."""
    with SQLiteStore(db) as store:
        store.add(list(jobs))
    return [j.job_id for j in jobs]


def records(log: Path, n: int, start: int = 0, **options: Any) -> list[god.Job]:
    return [god.Job(payload={"task": "record", "args": [str(log), i]}, **options)
            for i in range(start, start + n)]


def test_wait_returns_once_every_job_the_store_held_has_run(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    ids = add_unowned(db, records(log, 300))
    with Engine(threads=4, store=db) as eng:
        assert eng.wait(60)  # used to return at once, with the jobs still pending
        assert eng.store is not None
        assert eng.store.counts()["completed"] == 300
        report = eng.recovery
        assert report is not None and report.adopted == 300 and report.recovered == 0
        assert "adopted 300" in str(report)
        handles = {h.job_id: h for h in eng.jobs()}
        assert set(handles) == set(ids)  # normal handles of this engine
        assert [handles[i].result() for i in ids] == list(range(300))
    assert sorted(lines(log)) == list(range(300))


def test_wait_async_covers_adopted_jobs(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    ids = add_unowned(db, records(log, 40))

    async def main() -> list[Any]:
        async with Engine(threads=2, store=db) as eng:
            await eng.wait_async()
            assert eng.store is not None and eng.store.counts()["completed"] == 40
            got = [eng.get(i) for i in ids]
            return [await h for h in got if h is not None]

    assert asyncio.run(main()) == list(range(40))


def test_adopted_jobs_are_handles_that_cancel_and_await(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    [slow_id, quick_id] = add_unowned(db, [
        god.Job(payload={"task": "tests.core.funcs:cooperative", "args": [60]}),
        god.Job(payload={"task": "record", "args": [str(log), 7]})])
    with Engine(threads=2, store=db, allow=["tests.core.funcs"]) as eng:
        slow = wait_until(lambda: eng.get(slow_id), what="the slow job adopted")
        quick = wait_until(lambda: eng.get(quick_id), what="the quick job adopted")
        assert quick.result(timeout=30) == 7
        wait_until(lambda: slow.status is JobStatus.RUNNING, what="the slow job running")
        assert slow in eng.running()
        assert slow.cancel()
        assert eng.wait(30)
        assert eng.store is not None
        wait_until(lambda: eng.store.get_job(slow_id).status is JobStatus.CANCELLED,  # type: ignore[union-attr]
                   what="the cancel written")
    with pytest.raises(god.JobCancelled):
        slow.result()


def test_resume_false_claims_nothing_it_did_not_submit(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    add_unowned(db, records(log, 5))
    with Engine(threads=2, store=db, resume=False, poll_interval=0.05) as eng:
        own = eng.submit("record", str(log), 99)
        assert eng.wait(30) and own.result() == 99  # its own job only
        assert eng.store is not None and eng.store.counts()["pending"] == 5
        assert eng.recovery is not None and eng.recovery.adopted == 0
        assert not eng.recovery.resume and "resume off" in str(eng.recovery)
    with Engine(threads=2, store=db) as worker:  # an engine that resumes takes them
        assert worker.wait(30)
    assert sorted(lines(log)) == [0, 1, 2, 3, 4, 99]


def _interrupted_store(db: Path, log: Path) -> str:
    """A job that was running (its only attempt) when its engine vanished."""
    with SQLiteStore(db) as store:
        [job] = records(log, 1, start=5)
        store.add([job], owner="engine-that-died")  # never registered: it is gone
        job.start_attempt()
        store.update([job])
    return job.job_id


def test_retry_interrupted_reruns_jobs_with_no_retries_left(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    job_id = _interrupted_store(db, log)
    with Engine(threads=1, store=db, retry_interrupted=True) as eng:
        assert eng.wait(30)
        assert eng.store is not None
        assert eng.store.get_job(job_id).status is JobStatus.COMPLETED  # type: ignore[union-attr]
        result = eng.store.get_result(job_id)
        report = eng.recovery
    assert result is not None and [e.type for e in result.errors] == ["Interrupted"]
    assert report is not None and report.retry_interrupted
    assert (report.requeued, report.interrupted, report.failed, report.adopted) == (1, 1, 0, 1)
    assert lines(log) == [5]

    db2 = tmp_path / "k.db"
    job_id = _interrupted_store(db2, log)
    with Engine(threads=1, store=db2) as eng:  # the default: it fails, nothing runs
        assert eng.wait(30)
        assert eng.store is not None
        assert eng.store.get_job(job_id).status is JobStatus.FAILED  # type: ignore[union-attr]
        report = eng.recovery
    assert report is not None and (report.failed, report.adopted) == (1, 0)


class CountingStore(SQLiteStore):
    """Counts claims and the most jobs one claim asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claims: list[int] = []

    def claim(self, owner: str, limit: int, can_run: Callable[[str], bool] | None = None
              ) -> list[god.Job]:
        jobs = super().claim(owner, limit, can_run)
        if jobs:
            self.claims.append(len(jobs))
        return jobs


def test_claims_grow_with_the_pace_of_the_work(tmp_path: Path) -> None:
    """Quick jobs are claimed in large batches (they used to come 2 per worker per
    poll: 2,000 jobs took 250 claims and over 60 s with threads=4)."""
    db = tmp_path / "j.db"
    add_unowned(db, [god.Job(payload={"task": "math:sqrt", "args": [i]})
                     for i in range(2000)])
    store = CountingStore(db)
    try:
        with Engine(threads=4, store=store) as eng:
            assert eng.wait(60)
        assert sum(store.claims) == 2000
        assert len(store.claims) <= 60 and max(store.claims) > 100, store.claims
    finally:
        store.close()


def test_adoption_is_bounded_and_streams_the_rest_in(tmp_path: Path) -> None:
    """Never more queued than the window (here max_pending=20), whatever the store holds."""
    db, log = tmp_path / "j.db", tmp_path / "log"
    add_unowned(db, records(log, 400))
    most = [0]
    lock = threading.Lock()
    with Engine(threads=2, store=db, max_pending=20) as eng:
        def watch(ev: JobEvent) -> None:
            if ev.kind is EventKind.SUBMITTED:
                with lock:
                    most[0] = max(most[0], eng.stats().counts["pending"])

        eng.add_listener(watch)
        assert eng.wait(60)
        assert eng.store is not None and eng.store.counts()["completed"] == 400
    assert 0 < most[0] <= 20
    assert sorted(lines(log)) == list(range(400))


def test_a_job_whose_code_is_gone_fails_and_is_counted(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    job = god.Job(payload={"task": lambda: 1})
    with SQLiteStore(db) as store:
        store.add([job], owner="dead-engine")
    with Engine(store=db) as eng:
        assert eng.wait(30)
        report = eng.recovery
        assert eng.store is not None
        assert eng.store.get_job(job.job_id).status is JobStatus.FAILED  # type: ignore[union-attr]
    assert report is not None and (report.adopted, report.unrestorable) == (1, 1)
    assert "1 could not be restored" in str(report)
