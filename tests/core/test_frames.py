"""``to_pandas()``: the jobs of an engine, a profile table and a pipeline profile as
DataFrames, their columns and dtypes, and the error without pandas."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.core.frames import JOB_COLUMNS
from godnb.dataflow.profile import PipelineProfile, StageProfile
from godnb.utils.profile import ProfileTable, TaskProfile
from tests.waiting import wait_until

pd = pytest.importorskip("pandas")
pytestmark = pytest.mark.timeout(60)

TIME = "datetime64[ns, UTC]"
JOB_DTYPES = {"id": "string", "name": "string", "task": "string", "status": "category",
              "priority": "int64", "group": "string", "backend": "category",
              "attempts": "int64", "cell": "string", "submitted": TIME, "started": TIME,
              "finished": TIME, "wait": "float64", "run": "float64", "error": "string"}


@pytest.fixture
def eng() -> Iterator[Engine]:
    with Engine(threads=1) as e:
        yield e


def dtypes(df: object) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in df.dtypes.items()}  # type: ignore[attr-defined]


def test_jobs_frame_columns_and_dtypes(eng: Engine) -> None:
    gate = threading.Event()
    done = eng.submit(time.sleep, 0.02, name="nap", group="alice", priority=3)
    done.result()
    failed = eng.submit(divmod, 1, 0)
    failed.exception()
    running = eng.submit(gate.wait, 30)
    wait_until(lambda: running.status is JobStatus.RUNNING, what="the job to run")
    pending = eng.submit(abs, -1)
    cancelled = eng.submit(abs, -2)
    cancelled.cancel()
    df = eng.to_pandas()
    gate.set()
    assert tuple(df.columns) == JOB_COLUMNS
    assert dtypes(df) == JOB_DTYPES
    assert list(df["status"].cat.categories) == [s.value for s in JobStatus]
    assert {"thread", "process", "async", "inline"} <= set(df["backend"].cat.categories)
    assert list(df["id"]) == [h.job_id for h in (done, failed, running, pending, cancelled)]
    rows = df.set_index("id")

    row = rows.loc[done.job_id]
    assert (row["name"], row["task"], row["status"], row["priority"], row["group"],
            row["backend"], row["attempts"]) == \
        ("nap", "time:sleep", "completed", 3, "alice", "thread", 1)
    assert row["submitted"] <= row["started"] <= row["finished"]
    assert row["run"] >= 0.02 and row["wait"] >= 0
    assert pd.isna(row["cell"]) and pd.isna(row["error"])

    assert rows.loc[failed.job_id, "error"].startswith("ZeroDivisionError: ")
    assert rows.loc[failed.job_id, "task"] == "builtins:divmod"

    row = rows.loc[running.job_id]
    assert row["status"] == "running" and pd.isna(row["finished"])
    assert row["started"] >= row["submitted"] and row["run"] >= 0

    for h in (pending, cancelled):  # never ran
        row = rows.loc[h.job_id]
        assert row["attempts"] == 0 and pd.isna(row["started"]) and pd.isna(row["run"])
        assert row["wait"] >= 0
    assert pd.isna(rows.loc[pending.job_id, "finished"])
    assert rows.loc[cancelled.job_id, "status"] == "cancelled"
    assert not pd.isna(rows.loc[cancelled.job_id, "finished"])
    assert df["submitted"].dt.tz is not None


def test_jobs_frame_of_an_empty_engine(eng: Engine) -> None:
    df = eng.to_pandas()
    assert len(df) == 0
    assert tuple(df.columns) == JOB_COLUMNS
    assert dtypes(df) == JOB_DTYPES


def test_cell_column_reads_what_handles_record(eng: Engine,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # Handles do not record their cell yet; once they do, the column shows it.
    monkeypatch.setattr(god.JobHandle, "cell", property(lambda h: 12), raising=False)
    eng.submit(abs, -1).result()
    assert list(eng.to_pandas()["cell"]) == ["12"]


def test_profile_table_frame() -> None:
    table = ProfileTable(rows=[
        TaskProfile(task="fit", count=3, ok=2, failed=1, retried=1, mean=1.5, p50=1.0,
                    p95=2.0, total_time=4.5),
        TaskProfile(task="cached", count=2, ok=2, cache_hits=2),
    ])
    df = table.to_pandas()
    assert list(df.columns) == list(TaskProfile.model_fields)
    assert dtypes(df) == {"task": "string", "count": "int64", "ok": "int64",
                          "failed": "int64", "retried": "int64", "cancelled": "int64",
                          "cache_hits": "int64", "mean": "float64", "p50": "float64",
                          "p95": "float64", "total_time": "float64"}
    assert df.loc[0, "p95"] == 2.0 and pd.isna(df.loc[1, "mean"])
    assert df.attrs["generated_at"] == table.generated_at
    empty = ProfileTable().to_pandas()
    assert len(empty) == 0 and dtypes(empty) == dtypes(df)


def test_engine_profile_frame(eng: Engine) -> None:
    eng.map(abs, [-1, -2]).results()
    df = eng.profile().to_pandas()
    assert df.set_index("task").loc["abs", "count"] == 2


def test_pipeline_profile_frame() -> None:
    p = god.Pipeline(range(10)).map(abs).batch(4)
    assert len(p.collect()) == 3
    df = p.profile().to_pandas()
    assert list(df.columns) == list(StageProfile.model_fields)
    assert dtypes(df) == {"name": "string", "kind": "string", "backend": "string",
                          "workers": "int64", "items_in": "int64", "items_out": "int64",
                          "errors": "int64", "busy": "float64", "p50": "float64",
                          "p95": "float64", "throughput": "float64",
                          "max_queue_depth": "Int64", "rate": "float64"}
    assert list(df["kind"]) == ["source", "map", "batch"]
    assert list(df["items_out"]) == [10, 10, 3]
    assert pd.isna(df.loc[0, "max_queue_depth"])
    assert set(df.attrs) == {"elapsed", "running", "profiled"}
    empty = PipelineProfile().to_pandas()
    assert len(empty) == 0 and dtypes(empty) == dtypes(df)


def test_without_pandas_the_error_says_how_to_install(
        eng: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # `import pandas` now fails
    hint = r'needs pandas, which is not installed: pip install "godnb\[pandas\]"'
    with pytest.raises(ImportError, match=r"eng.to_pandas\(\) " + hint):
        eng.to_pandas()
    with pytest.raises(ImportError, match=hint):
        eng.profile().to_pandas()
    with pytest.raises(ImportError, match=hint):
        PipelineProfile().to_pandas()
