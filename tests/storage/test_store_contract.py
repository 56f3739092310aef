"""The one contract every store keeps, run against MemoryStore, ShelveStore and SQLiteStore."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from godnb.errors import StoreError, UnknownTask
from godnb.models import ErrorInfo, Job, JobStatus, Progress, Result
from godnb.models.job import task_reference
from godnb.storage import EngineInfo, LostCallable, NotStored, ShelveStore, SQLiteStore, Store
from godnb.storage.codec import Pickled, stored_arguments
from godnb.storage.recovery import RecoveryRecord

from .conftest import T0
from .store_writer import STEPS

ROOT = Path(__file__).resolve().parents[2]

P, R, C, F, X = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.COMPLETED,
                 JobStatus.FAILED, JobStatus.CANCELLED)


def add_one(x: Any) -> Any:
    return x + 1


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def job(job_id: str, task: Any = "math:sqrt", **kw: Any) -> Job:
    kw.setdefault("created_at", T0)
    return Job(job_id=job_id, payload={"task": task, "args": kw.pop("args", [])}, **kw)


def ids(jobs: list[Job]) -> list[str]:
    return [j.job_id for j in jobs]


def run(store: Store, job_id: str, owner: str = "e1", attempts: int = 1) -> Job:
    """Claim-free helper: mark a stored job running as its engine would."""
    j = store.get_job(job_id)
    assert j is not None
    j.status = R
    j.attempts = attempts
    store.update([j])
    return j


def finish(store: Store, job_id: str, status: JobStatus = C, output: Any = None,
           errors: list[ErrorInfo] | None = None) -> Result:
    j = store.get_job(job_id)
    assert j is not None
    j.transition(status, now=T0 + timedelta(seconds=5))
    result = Result(job_id=job_id, status=status, output=output, errors=errors or [],
                    execution_time=1.5, attempts=j.attempts, finished_at=j.updated_at)
    store.update([j], [result])
    return result


# -- add, get, list, counts ---------------------------------------------------------------


def test_job_round_trips_every_field(store: Store) -> None:
    original = Job(
        job_id="j1", name="nightly", group="alice", priority=7, retries=3, backoff=0.5,
        timeout=2.5, backend="process", attempts=2, tags=["a", "b"], cache=True,
        progress=Progress(done=3, total=10, message="working"), error="earlier failure",
        payload={"task": "math:pow", "args": [2, {"deep": [1.5, None, True]}],
                 "kwargs": {"mod": 7}},
        created_at=T0, updated_at=T0 + timedelta(microseconds=1),
    )
    store.add([original])
    stored = store.get_job("j1")
    assert stored is not None and stored is not original
    assert stored.model_dump() == original.model_dump()
    assert stored.durable and stored.created_at.tzinfo is not None


def test_missing_job_and_result_are_none(store: Store) -> None:
    assert store.get_job("nope") is None
    assert store.get_result("nope") is None
    store.add([job("a")])
    assert store.get_result("a") is None  # not ended yet


def test_add_is_all_or_nothing_on_a_repeated_id(store: Store) -> None:
    store.add([job("a")])
    with pytest.raises(ValueError, match=r"'a' are already in the store.*nothing was added"):
        store.add([job("b"), job("a")])
    with pytest.raises(ValueError, match=r"'c'.*repeated in the batch"):
        store.add([job("c"), job("c")])
    assert ids(store.list_jobs()) == ["a"]


def test_a_live_callable_is_stored_as_its_reference(store: Store) -> None:
    args = [Fraction(1, 3), (1, 2)]
    store.add([Job(job_id="f", payload={"task": add_one, "args": args,
                                        "kwargs": {"k": {1, 2}}})])
    stored = store.get_job("f")
    assert stored is not None
    assert isinstance(stored.task, LostCallable) and not stored.durable
    assert task_reference(stored.task) == task_reference(add_one)
    assert stored.task.args_saved
    # pickled arguments stay pickled until a trusted run loads them
    [pickled] = stored.payload["args"]
    assert isinstance(pickled, Pickled) and "not loaded" in repr(pickled)
    assert stored_arguments(stored) == (args, {"k": {1, 2}})
    assert stored.task_name == "add_one"
    with pytest.raises(UnknownTask, match="importable module"):
        stored.task(1)


def test_arguments_that_can_not_be_pickled_are_reported(store: Store) -> None:
    store.add([Job(job_id="f", payload={"task": add_one, "args": [threading.Lock()]})])
    stored = store.get_job("f")
    assert stored is not None and isinstance(stored.task, LostCallable)
    assert not stored.task.args_saved and stored.payload["args"] == []
    with pytest.raises(UnknownTask, match=r"arguments were not saved.*pickle"):
        stored.task()


def test_list_jobs_orders_filters_and_limits(store: Store) -> None:
    store.add([job("a"), job("b"), job("c")])
    run(store, "b")
    assert ids(store.list_jobs()) == ["c", "b", "a"]
    assert ids(store.list_jobs(newest_first=False)) == ["a", "b", "c"]
    assert ids(store.list_jobs(limit=2)) == ["c", "b"]
    assert ids(store.list_jobs(status="pending")) == ["c", "a"]
    assert ids(store.list_jobs(status=R)) == ["b"]
    assert store.list_jobs(limit=0) == []
    with pytest.raises(ValueError, match="unknown job status 'done'; valid statuses: 'pending'"):
        store.list_jobs(status="done")


def test_counts_has_every_status_and_len(store: Store) -> None:
    assert store.counts() == dict.fromkeys(["pending", "running", "completed", "failed",
                                            "cancelled"], 0)
    assert len(store) == 0
    store.add([job("a"), job("b"), job("c")])
    run(store, "a")
    finish(store, "b", C)
    assert store.counts() == {"pending": 1, "running": 1, "completed": 1, "failed": 0,
                              "cancelled": 0}
    assert len(store) == 3


# -- update and results -----------------------------------------------------------------


def test_update_writes_state_and_results(store: Store) -> None:
    store.add([job("a")], owner="e1")
    j = store.get_job("a")
    assert j is not None
    j.transition(R, now=T0 + timedelta(seconds=1))
    j.attempts, j.progress, j.error = 1, Progress(done=1, total=4), "oops"
    store.update([j])
    assert store.get_job("a") == j
    errors = [ErrorInfo(type="ValueError", message="bad", traceback="tb", attempt=1, at=T0)]
    result = finish(store, "a", C, output={"rows": [1, 2], "ok": True}, errors=errors)
    assert store.get_result("a") == result
    assert store.get_job("a").status is C  # type: ignore[union-attr]


def test_get_results_reads_many_at_once(store: Store) -> None:
    ids = [f"j{i}" for i in range(1203)]  # more than one chunk of ids
    store.add([job(i) for i in ids])
    store.update(results=[Result(job_id=i, status=C, output=n) for n, i in enumerate(ids)
                          if n % 2 == 0])
    found = store.get_results([*ids, "missing"])
    assert set(found) == {i for n, i in enumerate(ids) if n % 2 == 0}
    assert found["j1202"] == store.get_result("j1202") and found["j4"].output == 4
    assert store.get_results([]) == {}


@pytest.mark.parametrize("output", [
    (1, 2), {1, 2}, Fraction(2, 3), Point(1, 2), {"k": (1,)}, {1: "int key"}, 2**80, "text",
    [1.5, None, {"x": ["y"]}],
], ids=repr)
def test_outputs_round_trip_as_json_or_pickle(store: Store, output: Any) -> None:
    store.add([job("a")])
    finish(store, "a", C, output=output)
    stored = store.get_result("a")
    assert stored is not None
    value = stored.output.load() if isinstance(stored.output, Pickled) else stored.output
    assert value == output and type(value) is type(output)


def test_an_output_that_can_not_be_pickled_is_kept_as_not_stored(store: Store) -> None:
    store.add([job("a"), job("b")])
    store.update(results=[Result(job_id="a", status=C, output=threading.Lock()),
                          Result(job_id="b", status=C, output=1)])
    stored = store.get_result("a")
    assert stored is not None and isinstance(stored.output, NotStored)
    assert "could not be pickled" in stored.output.reason
    assert store.get_result("b").output == 1  # type: ignore[union-attr]


def test_ended_jobs_are_final_and_the_first_result_wins(store: Store) -> None:
    store.add([job("a")], owner="e1")
    run(store, "a")
    first = finish(store, "a", C, output="first")
    late = Job.restore({**store.get_job("a").model_dump(), "status": "running"})  # type: ignore[union-attr]
    store.update([late], [Result(job_id="a", status=F, output="late")])
    assert store.get_job("a").status is C  # type: ignore[union-attr]
    assert store.get_result("a") == first


def test_update_skips_unknown_jobs(store: Store) -> None:
    store.update([job("ghost")])
    store.update()
    assert len(store) == 0


# -- claims ---------------------------------------------------------------------------


def test_claim_takes_priority_then_insertion_order(store: Store) -> None:
    store.add([job("low1", priority=0), job("high1", priority=5), job("mid", priority=1)])
    store.add([job("high2", priority=5), job("low2", priority=0), job("neg", priority=-3)])
    store.add([job("owned", priority=99)], owner="e2")
    first = store.claim("e1", 2)
    assert ids(first) == ["high1", "high2"]
    assert all(j.status is P for j in first)
    assert ids(store.claim("e1", 10)) == ["mid", "low1", "low2", "neg"]
    assert store.claim("e1", 10) == []
    assert store.claim("e1", 0) == []


def test_claim_only_takes_tasks_that_can_run(store: Store) -> None:
    store.add([job("a1", "mod:a"), job("b1", "mod:b", priority=1), job("a2", "mod:a"),
               job("f1", add_one)])
    asked: list[str] = []

    def can_run(task: str) -> bool:
        asked.append(task)
        return task == "mod:a"

    assert ids(store.claim("e1", 10, can_run)) == ["a1", "a2"]
    assert set(asked) <= {"mod:a", "mod:b", task_reference(add_one)}
    assert ids(store.claim("e2", 10, lambda t: t == task_reference(add_one))) == ["f1"]
    assert ids(store.claim("e2", 10)) == ["b1"]


def test_claim_filters_by_task_whatever_the_mix(store: Store) -> None:
    # few rejected tasks, then more distinct tasks than one SQL statement lists
    store.add([job("x1", "m:x"), job("y1", "m:y", priority=2), job("z1", "m:z", priority=1)])
    assert ids(store.claim("e1", 10, lambda t: t != "m:y")) == ["z1", "x1"]
    store.add([job(f"t{i}", f"m:t{i}", priority=i % 7) for i in range(1200)])
    even = store.claim("e1", 1000, lambda t: int(t[3:]) % 2 == 0 if t[2] == "t" else True)
    queue = [(-2, -1, "y1")] + [(-(i % 7), i, f"t{i}") for i in range(0, 1200, 2)]
    assert ids(even) == [job_id for _, _, job_id in sorted(queue)]


def test_claims_from_many_threads_never_overlap(store: Store) -> None:
    store.add([job(f"j{i}", priority=i % 3) for i in range(300)])
    claimed: list[list[str]] = [[] for _ in range(6)]

    def worker(n: int) -> None:
        while batch := store.claim(f"e{n}", 7):
            claimed[n] += ids(batch)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for c in claimed for i in c]
    assert sorted(every) == sorted(f"j{i}" for i in range(300))


# -- release and cancel --------------------------------------------------------------------


def test_release_gives_owned_active_jobs_back_in_their_place(store: Store) -> None:
    store.add([job("a", priority=1), job("b"), job("c"), job("d")])
    assert ids(store.claim("e1", 4)) == ["a", "b", "c", "d"]
    run(store, "b")
    finish(store, "d")
    assert store.release(["a", "b", "d", "missing"], "e2") == 0  # not e2's
    assert store.release(["b", "a", "d", "missing", "a"], "e1") == 2
    assert store.get_job("b").status is P  # type: ignore[union-attr]
    assert store.get_job("d").status is C  # type: ignore[union-attr]
    assert ids(store.claim("e2", 10)) == ["a", "b"]
    assert store.get_job("b").attempts == 1  # type: ignore[union-attr]


def test_release_cancels_a_job_whose_cancel_was_requested(store: Store) -> None:
    store.add([job("a")], owner="e1")
    assert store.request_cancel("a") is P
    assert store.release(["a"], "e1", now=T0) == 1
    assert store.get_job("a").status is X  # type: ignore[union-attr]
    assert store.get_result("a").status is X  # type: ignore[union-attr]


def test_request_cancel_in_each_state(store: Store) -> None:
    store.add([job("free"), job("done")])
    store.add([job("owned"), job("busy")], owner="e1")
    run(store, "busy")
    finish(store, "done", C)
    assert store.request_cancel("missing") is None
    assert store.request_cancel("free", now=T0) is X
    assert store.get_job("free").status is X  # type: ignore[union-attr]
    result = store.get_result("free")
    assert result is not None and result.status is X and result.finished_at == T0
    assert store.request_cancel("done") is C
    assert store.get_job("done").status is C  # type: ignore[union-attr]
    assert store.request_cancel("owned") is P
    assert store.request_cancel("busy") is R
    assert store.get_job("owned").status is P  # type: ignore[union-attr]
    assert sorted(store.cancel_requests("e1")) == ["busy", "owned"]
    assert store.cancel_requests("e2") == []
    assert store.claim("e2", 10) == []
    store.clear_cancel(["owned"])
    assert store.cancel_requests("e1") == ["busy"]
    finish(store, "busy", X)
    assert store.cancel_requests("e1") == []


# -- engines and recovery -----------------------------------------------------------------


def test_engine_registration_and_heartbeats(store: Store) -> None:
    store.register_engine("e1", pid=123, host="h1", now=T0)
    store.register_engine("e2", now=T0 + timedelta(seconds=1))
    assert store.engines()[0] == EngineInfo("e1", 123, "h1", T0, T0)
    assert [e.owner for e in store.engines()] == ["e1", "e2"]
    assert store.heartbeat("e1", now=T0 + timedelta(seconds=9))
    assert store.engines()[0].last_seen == T0 + timedelta(seconds=9)
    assert store.engines()[0].started_at == T0
    assert not store.heartbeat("ghost")
    store.unregister_engine("e1")
    store.unregister_engine("ghost")
    assert [e.owner for e in store.engines()] == ["e2"]


def _recovery_scene(store: Store) -> None:
    for owner in ("me", "alive", "dead"):
        store.register_engine(owner, pid=1, host="h", now=T0)
    store.add([job("dead-pending", priority=2), job("dead-running", retries=1),
               job("dead-last-try", retries=1), job("dead-cancel")], owner="dead")
    store.add([job("alive-running")], owner="alive")
    store.add([job("mine-running")], owner="me")
    store.add([job("gone-running", add_one, retries=1)], owner="unregistered")
    store.add([job("orphan-running", retries=2), job("free-pending"), job("dead-done")])
    for job_id in ("dead-running", "alive-running", "mine-running", "gone-running",
                   "dead-cancel", "orphan-running"):
        run(store, job_id)
    run(store, "dead-last-try", attempts=2)
    store.request_cancel("dead-cancel")
    finish(store, "dead-done", C)


def test_recover_takes_back_only_dead_engines_jobs(store: Store) -> None:
    _recovery_scene(store)
    now = T0 + timedelta(seconds=10)
    report = store.recover("me", is_dead=lambda e: e.owner in ("dead", "me"), now=now)
    assert sorted(report.requeued) == ["dead-pending", "dead-running", "gone-running",
                                       "orphan-running"]
    assert report.failed == ["dead-last-try"]
    assert report.cancelled == ["dead-cancel"]
    assert report.interrupted == 4
    assert "4 interrupted" in str(report)
    assert [e.owner for e in store.engines()] == ["alive", "me"]  # same start: by name
    # requeued: unowned pending, claimable in dequeue order; untouched jobs stay put
    assert ids(store.claim("me", 10)) == ["dead-pending", "dead-running", "gone-running",
                                          "orphan-running", "free-pending"]
    assert store.get_job("alive-running").status is R  # type: ignore[union-attr]
    assert store.get_job("mine-running").status is R  # type: ignore[union-attr]
    assert store.get_job("dead-done").status is C  # type: ignore[union-attr]
    again = store.recover("me", is_dead=lambda e: False, now=now)
    assert not again and again.requeued == [] and again.interrupted == 0


def test_an_interrupted_job_gets_a_note_and_keeps_it_in_its_result(store: Store) -> None:
    _recovery_scene(store)
    store.recover("me", is_dead=lambda e: e.owner == "dead", now=T0)
    requeued = store.get_job("dead-running")
    assert requeued is not None and requeued.status is P and requeued.attempts == 1
    assert requeued.error is not None and requeued.error.startswith("Interrupted: the process")
    assert "engine dead, pid 1 on h" in requeued.error
    assert store.get_job("gone-running").durable is False  # type: ignore[union-attr]
    # a new engine runs it to the end; the stored result keeps the note first
    own = ErrorInfo(type="ValueError", message="bad", attempt=2, at=T0)
    finish(store, "dead-running", F, errors=[own])
    result = store.get_result("dead-running")
    assert result is not None
    assert [(e.type, e.attempt) for e in result.errors] == [("Interrupted", 1),
                                                           ("ValueError", 2)]


def test_an_interrupted_job_without_retries_left_fails(store: Store) -> None:
    _recovery_scene(store)
    store.recover("me", is_dead=lambda e: e.owner == "dead", now=T0 + timedelta(seconds=3))
    failed = store.get_job("dead-last-try")
    result = store.get_result("dead-last-try")
    assert failed is not None and failed.status is F
    assert result is not None and result.status is F and result.attempts == 2
    assert result.finished_at == T0 + timedelta(seconds=3)
    assert [e.type for e in result.errors] == ["Interrupted"]
    assert result.errors[0].message.startswith("the process running this job died")
    assert "no retries left" in result.errors[0].message
    cancelled = store.get_result("dead-cancel")
    assert cancelled is not None and cancelled.status is X


def test_a_job_whose_result_was_stored_is_completed_not_run_again(store: Store) -> None:
    """The engine died after writing a job's result and before writing its status."""
    store.register_engine("dead", pid=1, host="h", now=T0)
    store.add([job("done-running"), job("failed-pending"), job("plain-running")],
              owner="dead")
    for job_id in ("done-running", "plain-running"):
        run(store, job_id)
    stale = store.get_job("done-running")
    assert stale is not None and stale.status is R
    store.update([stale])  # a result goes with its job's final state in one batch, so
    # the inconsistent file of an older godnb (or another writer) is made in two writes
    store.update([], [Result(job_id="done-running", status=C, output=7, attempts=1,
                             finished_at=T0)])
    pending = store.get_job("failed-pending")
    store.update([], [Result(job_id="failed-pending", status=F, attempts=1, finished_at=T0)])
    assert pending is not None and store.get_job("done-running").status is R  # type: ignore[union-attr]
    report = store.recover("me", is_dead=lambda e: e.owner == "dead", now=T0)
    assert sorted(report.completed) == ["done-running", "failed-pending"]
    assert report.requeued == [] and report.failed == ["plain-running"]
    assert report.interrupted == 1  # the job without a result only
    assert "completed 2 from their stored result" in str(report)
    assert store.get_job("done-running").status is C  # type: ignore[union-attr]
    assert store.get_job("failed-pending").status is F  # type: ignore[union-attr]
    assert store.get_result("done-running").output == 7  # type: ignore[union-attr]
    assert store.get_result("done-running").errors == []  # type: ignore[union-attr]
    assert store.claim("me", 10) == []  # nothing to run again


def test_retry_interrupted_requeues_jobs_without_retries_left(store: Store) -> None:
    _recovery_scene(store)
    report = store.recover("me", is_dead=lambda e: e.owner == "dead", now=T0,
                           retry_interrupted=True)
    assert report.failed == [] and "dead-last-try" in report.requeued
    job_ = store.get_job("dead-last-try")
    assert job_ is not None and job_.status is P and job_.attempts == 2
    assert job_.error is not None and "re-queued to run again (retry_interrupted=True)" \
        in job_.error
    assert "dead-last-try" in ids(store.claim("me", 10))


def test_recoveries_are_remembered_newest_first(store: Store) -> None:
    assert not store.recover("me", now=T0)  # nothing to recover: not recorded
    assert store.recoveries() == []
    _recovery_scene(store)
    store.recover("me", is_dead=lambda e: e.owner == "dead", now=T0 + timedelta(seconds=1))
    store.register_engine("later", pid=2, host="h", now=T0)
    store.add([job("later-pending")], owner="later")
    store.recover("me", is_dead=lambda e: e.owner == "later",
                  now=T0 + timedelta(seconds=2))
    newest, first = store.recoveries()
    assert newest == RecoveryRecord(T0 + timedelta(seconds=2), "me", ("later",), 1, 0, 0, 0,
                                    0)
    assert first.dead == ("dead",) and first.owner == "me"
    # dead-pending, dead-running, gone-running, orphan-running; dead-last-try failed
    assert (first.requeued, first.interrupted, first.failed, first.cancelled) == (4, 4, 1, 1)
    assert str(first) == "4 re-queued (4 interrupted), 1 failed, 1 cancelled"
    assert store.recoveries(limit=1) == [newest]


def test_recover_by_default_rule_uses_heartbeat_age(store: Store) -> None:
    import os
    import socket

    store.register_engine("old", pid=os.getpid(), host=socket.gethostname(), now=T0)
    store.add([job("a")], owner="old")
    assert not store.recover("me", now=T0 + timedelta(seconds=30))  # pid alive, recent
    report = store.recover("me", now=T0 + timedelta(seconds=61))
    assert report.requeued == ["a"] and store.engines() == []


# -- lifetime ---------------------------------------------------------------------------


def test_a_closed_store_says_so(store: Store) -> None:
    store.add([job("a")])
    store.flush()
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.add([job("b")])
    with pytest.raises(StoreError, match="closed"):
        store.get_job("a")


def test_context_manager_closes(reopen: Callable[[], Store]) -> None:
    with reopen() as store:
        store.add([job("a")])
    with pytest.raises(StoreError, match="closed"):
        len(store)


def test_file_stores_keep_everything_across_reopen(file_store: Callable[[], Store]) -> None:
    store = file_store()
    store.register_engine("e1", pid=5, host="h", now=T0)
    store.add([job("a", priority=1), job("b"), job("c", priority=1), job("d")])
    assert ids(store.claim("e1", 1)) == ["a"]
    store.request_cancel("a")
    finish(store, "b", C, output=Point(3, 4))
    store.close()
    store = file_store()
    assert ids(store.list_jobs()) == ["d", "c", "b", "a"]
    assert store.get_result("b").output.load() == Point(3, 4)  # type: ignore[union-attr]
    assert store.cancel_requests("e1") == ["a"]
    assert store.engines() == [EngineInfo("e1", 5, "h", T0, T0)]
    assert ids(store.claim("e2", 10)) == ["c", "d"]
    store.add([job("e")])
    assert ids(store.list_jobs(limit=1)) == ["e"]


def test_file_stores_keep_recoveries_across_reopen(file_store: Callable[[], Store]) -> None:
    store = file_store()
    _recovery_scene(store)
    store.recover("me", is_dead=lambda e: e.owner == "dead", now=T0)
    kept = store.recoveries()
    store.close()
    assert file_store().recoveries() == kept and len(kept) == 1


# -- kill -9 ------------------------------------------------------------------------------


def test_kill_9_loses_no_acknowledged_change(durable_kind: str, tmp_path: Path) -> None:
    """A writer process adds, runs and finishes jobs, saying after each store call that it
    returned; ``kill -9`` lands at some point of that stream (often inside a call). The
    reopened store must hold every acknowledged change, and open cleanly."""
    path = tmp_path / ("jobs.db" if durable_kind == "sqlite" else "jobs.shelf")
    proc = subprocess.Popen([sys.executable, "-m", "tests.storage.store_writer",
                             durable_kind, str(path)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    acked: list[tuple[int, str]] = []
    for line in proc.stdout:
        step, i = line.split()
        acked.append((int(i), step))
        if len(acked) >= 600:
            break
    os.kill(proc.pid, signal.SIGKILL)
    acked += [(int(i), step) for step, i in map(str.split, proc.stdout.read().splitlines())
              if step in STEPS]  # printed before the kill landed: acknowledged too
    proc.wait()
    proc.stdout.close()
    store = SQLiteStore(path) if durable_kind == "sqlite" else ShelveStore(path)
    try:
        reached = dict(acked)  # each job's last acknowledged step
        assert len(reached) > 100
        taken = {j.job_id for j in store.claim("other", 10_000)}  # unowned pending only
        for i, step in reached.items():
            stored = store.get_job(f"j{i}")
            assert stored is not None, f"the acknowledged add of j{i} was lost"
            if step == "finished":
                result = store.get_result(f"j{i}")
                assert stored.status is C and result is not None and result.output == i
            elif step == "started":
                assert stored.status in (R, C) and stored.attempts == 1
            if step != "added":
                assert f"j{i}" not in taken, f"the acknowledged claim of j{i} was lost"
    finally:
        store.close()


def test_a_result_never_goes_with_an_older_state_of_its_job(store: Store) -> None:
    """One batch reads each job once: a result is stored with its job's final state only."""
    store.add([job("a"), job("b")])
    run(store, "a")
    running = store.get_job("a")
    assert running is not None
    late = Result(job_id="a", status=C, output=1, attempts=1, finished_at=T0)
    store.update([running], [late])  # the job's row in this batch still says running
    assert store.get_result("a") is None and store.get_job("a").status is R  # type: ignore[union-attr]
    running.end(C)
    store.update([running], [late])
    assert store.get_result("a").output == 1  # type: ignore[union-attr]
    assert store.get_job("a").status is C  # type: ignore[union-attr]
    # a result whose job is not in the batch is stored when it is final itself
    store.update([], [Result(job_id="b", status=C, output=2, attempts=1, finished_at=T0)])
    assert store.get_result("b").output == 2  # type: ignore[union-attr]
