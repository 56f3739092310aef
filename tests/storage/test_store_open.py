"""open_store(), the plugin registry entries, the liveness rule and the codec's stand-ins."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from godnb.models.job import task_reference
from godnb.registry import get_plugin
from godnb.storage import (
    EngineInfo,
    LostCallable,
    MemoryStore,
    NotStored,
    ShelveStore,
    SQLiteStore,
    Store,
    engine_is_dead,
    open_store,
)
from godnb.storage.codec import from_us, to_us

from .conftest import T0


def test_open_store_accepts_a_store_a_path_or_none(tmp_path: Path) -> None:
    assert open_store(None) is None
    memory = MemoryStore()
    assert open_store(memory) is memory
    assert isinstance(open_store(":memory:"), MemoryStore)
    for spec in (str(tmp_path / "a.db"), tmp_path / "b.db"):
        store = open_store(spec)
        assert isinstance(store, SQLiteStore) and store.path == os.fspath(spec)
        store.close()
    with pytest.raises(ValueError, match="store path is empty"):
        open_store("")
    with pytest.raises(TypeError, match="store must be a Store, a file path or None, got int"):
        open_store(3)  # type: ignore[arg-type]


def test_stores_are_registered_plugins() -> None:
    assert get_plugin("store", "sqlite") is SQLiteStore
    assert get_plugin("store", "shelve") is ShelveStore
    assert get_plugin("store", "memory") is MemoryStore
    assert issubclass(MemoryStore, Store)
    with pytest.raises(ValueError, match=r"unknown store 'redis'.*'memory'"):
        get_plugin("store", "redis")


def _info(pid: int, host: str, seen_ago: float) -> EngineInfo:
    return EngineInfo("e", pid, host, T0, T0 - timedelta(seconds=seen_ago))


def test_engine_is_dead_by_heartbeat_age_or_missing_pid() -> None:
    here = socket.gethostname()
    assert not engine_is_dead(_info(os.getpid(), here, 59), now=T0)
    assert engine_is_dead(_info(os.getpid(), here, 61), now=T0)
    assert engine_is_dead(_info(os.getpid(), here, 11), now=T0, stale_after=10)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid no longer exists
    assert engine_is_dead(_info(gone.pid, here, 0), now=T0)
    # another host's pid can not be checked from here: only its heartbeat counts
    assert not engine_is_dead(_info(gone.pid, "elsewhere", 0), now=T0)


def test_times_are_exact_integer_microseconds() -> None:
    t = T0 + timedelta(days=400, microseconds=123_457)
    assert from_us(to_us(t)) == t and isinstance(to_us(t), int)
    assert to_us(T0) < to_us(T0 + timedelta(microseconds=1))


def test_stand_ins_explain_themselves_and_pickle() -> None:
    lost = LostCallable("mymod:Outer.run")
    assert (lost.__module__, lost.__qualname__, lost.__name__) == ("mymod", "Outer.run", "run")
    assert task_reference(lost) == "mymod:Outer.run"
    assert pickle.loads(pickle.dumps(lost)) == lost
    assert "was a live callable" in lost.message and "'module:function'" in lost.message
    assert repr(NotStored("why")) == "<value not stored: why>"
    assert pickle.loads(pickle.dumps(NotStored("why"))) == NotStored("why")


def test_job_runs_equal_job_values_for_runs_and_mixed_jobs() -> None:
    """job_runs() reuses the encoded columns a job shares with the one before: its runs
    must hold exactly job_values() of each job, however the jobs alternate."""
    from godnb.models import Job, JobStatus
    from godnb.storage.codec import OWN_COLUMNS, LostCallable, job_runs, job_values

    template = Job(payload={"task": "math:sqrt", "args": [0]}, priority=2, tags=("a",),
                   timeout=3.0)
    derived = [template.derive({"task": "math:sqrt", "args": (i,), "kwargs": {}})
               for i in range(4)]
    other_task = template.derive({"task": "math:pow", "args": (2, 3), "kwargs": {}})
    running = derived[0].model_copy(update={"status": JobStatus.RUNNING, "job_id": "r"})
    lost = Job(payload={"task": LostCallable("nb:<lambda>", "a lambda"), "args": [],
                        "kwargs": {}})
    jobs = [*derived, other_task, derived[1], running, Job(payload={"task": "t"}), lost,
            lost.model_copy(update={"job_id": "lost2"}), derived[2]]
    runs = job_runs(jobs, "me")
    assert [own + shared for shared, owns in runs for own in owns] == [
        job_values(j, "me") for j in jobs]
    assert [len(owns) for _, owns in runs] == [4, 1, 1, 1, 1, 1, 1, 1]
    assert all(len(own) == OWN_COLUMNS for _, owns in runs for own in owns)
