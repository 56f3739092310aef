"""What only the SQLite store promises: its file, its checks, and claims across processes."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from godnb.errors import StoreError
from godnb.models import Job
from godnb.storage import SQLiteStore
from godnb.storage import sqlite as sqlite_module

ROOT = Path(__file__).resolve().parents[2]

def at(path: Path) -> str:
    """A pattern matching ``path`` as the messages quote it."""
    return re.escape(str(path))


posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _job(i: int, **kw: Any) -> Job:
    return Job(job_id=f"j{i}", payload={"task": "math:sqrt", "args": [i]}, **kw)


@posix_only
def test_new_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with SQLiteStore(path) as store:
        store.add([_job(1)])
        for name in ("jobs.db", "jobs.db-wal", "jobs.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


def test_wal_mode_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with SQLiteStore(path, busy_timeout=2.5) as store:
        conn = store._conn
        assert conn is not None
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("PRAGMA application_id").fetchone()[0] == 0x67646E62
    other.close()
    with pytest.raises(ValueError, match="synchronous must be"):
        SQLiteStore(path, synchronous="SOMETIMES")


def _bytes_and_names(path: Path) -> tuple[bytes, list[str]]:
    return path.read_bytes(), sorted(p.name for p in path.parent.iterdir())


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 50)
    before = _bytes_and_names(path)
    with pytest.raises(StoreError, match=rf"{at(path)}.* is not a SQLite database .*untouched"):
        SQLiteStore(path)
    assert _bytes_and_names(path) == before


def test_a_corrupt_sqlite_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with SQLiteStore(path) as store:
        store.add([_job(i) for i in range(200)])
    for extra in ("-wal", "-shm"):
        assert not Path(f"{path}{extra}").exists()  # checkpointed at close
    data = bytearray(path.read_bytes())
    data[100:] = b"\xde\xad\xbe\xef" * ((len(data) - 100) // 4)  # keep only the header
    path.write_bytes(bytes(data))
    before = _bytes_and_names(path)
    with pytest.raises(StoreError, match=rf"{at(path)}.*(malformed|not a database).*untouched"):
        SQLiteStore(path)
    assert _bytes_and_names(path) == before


def test_a_foreign_sqlite_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('ada')")
    conn.commit()
    conn.close()
    before = _bytes_and_names(path)
    with pytest.raises(StoreError, match=rf"{at(path)}.* is a SQLite database but not a godnb "
                                         r"store \(application_id 0x0, tables: customers\)"):
        SQLiteStore(path)
    assert _bytes_and_names(path) == before


def test_a_store_from_a_newer_godnb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {sqlite_module.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreError, match=r"newer godnb.*upgrade godnb"):
        SQLiteStore(path)


def test_a_directory_or_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=rf"{at(tmp_path)}.* is a directory; pass a file path"):
        SQLiteStore(tmp_path)
    missing = tmp_path / "no" / "such" / "jobs.db"
    with pytest.raises(StoreError, match=rf"can not create SQLite store .*{at(missing)}.*exists"):
        SQLiteStore(missing)
    assert not (tmp_path / "no").exists()


def test_an_empty_file_becomes_a_store(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    path.touch()
    with SQLiteStore(path) as store:
        store.add([_job(1)])
    with SQLiteStore(path) as store:
        assert len(store) == 1


def test_arguments_are_readable_json_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    with SQLiteStore(path) as store:
        store.add([Job(job_id="a", payload={"task": "m:f", "args": [1, "x"],
                                            "kwargs": {"n": None}})])
    conn = sqlite3.connect(path)
    params, kind = conn.execute("SELECT params, params_kind FROM jobs").fetchone()
    conn.close()
    assert kind == 1 and json.loads(params) == [[1, "x"], {"n": None}]


def test_claims_walk_the_dequeue_index(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "jobs.db") as store:
        store.add([_job(i, priority=i % 3) for i in range(50)])
        conn = store._conn
        assert conn is not None
        plan = " ".join(r[3] for r in conn.execute(
            f"EXPLAIN QUERY PLAN SELECT seq {sqlite_module._CLAIM_FROM} "
            f"ORDER BY priority DESC, seq LIMIT 5"))
        assert "INDEX jobs_claim" in plan and "TEMP B-TREE" not in plan  # no sort step


def test_add_is_one_transaction(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "jobs.db") as store:
        statements: list[str] = []
        assert store._conn is not None
        store._conn.set_trace_callback(statements.append)
        store.add([_job(i) for i in range(10_000)])
        store._conn.set_trace_callback(None)
        assert statements.count("BEGIN IMMEDIATE") == 1
        assert statements.count("COMMIT") == 1
        assert len(store) == 10_000


def test_runs_of_alike_jobs_keep_their_order_and_every_field(tmp_path: Path) -> None:
    # add() writes the columns alike jobs share once per run; shorter runs bind every
    # column. Both write many rows per statement and must store each job exactly, in
    # submit order.
    template = Job(payload={"task": "math:sqrt", "args": [0]}, priority=2, name="root",
                   group="g", retries=3, backoff=0.5, timeout=9.0, tags=("a", "b"))
    jobs = ([template.derive({"task": "math:sqrt", "args": (i,), "kwargs": {}})
             for i in range(12)]
            + [_job(100 + i, priority=i) for i in range(3)]  # each one different
            + [template.derive({"task": "math:pow", "args": (i, 2), "kwargs": {}})
               for i in range(9)]
            + [_job(200)]
            # Many rows per statement: 300 = 256 + 32 + 8 + 4 rows.
            + [template.derive({"task": "math:sqrt", "args": (i,), "kwargs": {}})
               for i in range(300)])
    with SQLiteStore(tmp_path / "jobs.db") as store:
        store.add(jobs, owner="me")
        stored = store.list_jobs(newest_first=False)
        assert [j.job_id for j in stored] == [j.job_id for j in jobs]
        for mine, theirs in zip(jobs, stored, strict=True):
            want = mine.model_dump()
            want["payload"]["args"] = list(want["payload"]["args"])
            assert theirs.model_dump() == want


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "row-by-row"])
@pytest.mark.parametrize("n", [1, 7, 300])
def test_a_batch_of_changes_and_results_lands_on_each_job(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool, n: int) -> None:
    """update() writes many rows per statement; every row must reach its own job, and a job
    that already ended must not change (first result wins)."""
    if update_from and sqlite3.sqlite_version_info < (3, 33):
        pytest.skip("UPDATE ... FROM needs SQLite 3.33")
    monkeypatch.setattr(sqlite_module, "_UPDATE_FROM", update_from)
    from godnb.models import JobStatus, Result
    from godnb.models.result import ErrorInfo

    with SQLiteStore(tmp_path / "jobs.db") as store:
        if n == 7:  # an SQLite that allows few variables: fewer rows per statement
            assert store._conn is not None
            store._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 30)
        jobs = [_job(i) for i in range(n + 1)]
        store.add(jobs, owner="me")
        done = jobs[-1].model_copy(update={"status": JobStatus.CANCELLED})
        store.update([done], [Result(job_id=done.job_id, status=JobStatus.CANCELLED)])
        changed, results = [], []
        for i, job in enumerate(jobs):
            job = job.model_copy(update={"status": JobStatus.RUNNING, "attempts": i + 1})
            job.transition(JobStatus.FAILED if i % 3 == 0 else JobStatus.COMPLETED)
            changed.append(job)
            results.append(Result(
                job_id=job.job_id, status=job.status, output={"i": i}, attempts=i + 1,
                errors=[ErrorInfo(type="E", message=f"m{i}", attempt=i + 1)] if i % 3 == 0 else []))
        store.update(changed, results)
        for i, job in enumerate(jobs[:-1]):
            stored, result = store.get_job(job.job_id), store.get_result(job.job_id)
            assert stored is not None and result is not None
            assert (stored.status, stored.attempts) == (changed[i].status, i + 1)
            assert result.output == {"i": i} and result.attempts == i + 1
            assert [e.message for e in result.errors] == ([f"m{i}"] if i % 3 == 0 else [])
        last = store.get_job(jobs[-1].job_id)
        assert last is not None and last.status is JobStatus.CANCELLED
        assert store.get_result(jobs[-1].job_id).status is JobStatus.CANCELLED  # type: ignore[union-attr]


_CLAIMER = r"""
import json, sys, time
from godnb.models import Job
from godnb.storage import SQLiteStore
from tests.waiting import wait_until

path, name, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
store = SQLiteStore(path)
store.add([Job(job_id=f"{name}-{i}", priority=i % 4, payload={"task": "math:sqrt", "args": [i]})
           for i in range(2000)])
wait_until(lambda: len(store) >= 4000, 60, "the other process's jobs")
time.sleep(max(0.0, start - time.time()))
claimed = []
while batch := store.claim(name, 5):
    claimed += [j.job_id for j in batch]
store.close()
print(json.dumps(claimed))
"""


def test_two_processes_never_claim_the_same_job(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    SQLiteStore(path).close()  # create it once, so neither process races to initialise
    start = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", _CLAIMER, str(path), name, str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=ROOT)  # the script imports tests.waiting
             for name in ("p1", "p2")]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out))
    claimed = outputs[0] + outputs[1]
    expected = {f"{name}-{i}" for name in ("p1", "p2") for i in range(2000)}
    assert len(claimed) == len(set(claimed)) == 4000 and set(claimed) == expected
    assert outputs[0] and outputs[1], "both processes should have claimed some jobs"
    with SQLiteStore(path) as store:
        owners = {j.job_id: j for j in store.claim("late", 10)}
        assert owners == {}
