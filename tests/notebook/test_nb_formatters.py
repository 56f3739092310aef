"""The pure formatters, as strings, from hand-built snapshots (and a few real ones)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from godnb import Engine, JobStatus
from godnb.notebook.formatters import (
    format_engine_html,
    format_engine_text,
    format_group_html,
    format_group_text,
    format_job_html,
    format_job_text,
    format_pipeline_html,
    format_pipeline_text,
    format_profile_html,
    format_profile_text,
    format_queue_html,
    format_queue_text,
)
from godnb.notebook.snapshots import (
    EngineSnapshot,
    GroupSnapshot,
    JobSnapshot,
    QueueRow,
    QueueSnapshot,
    TaskTally,
    WorkerSnapshot,
    snapshot_engine,
    snapshot_group,
    snapshot_job,
    snapshot_pipeline,
    snapshot_queue,
)
from godnb.utils.profile import ProfileTable, TaskProfile

EVIL = "<script>alert('x')</script> & co"


def job(**kw: object) -> JobSnapshot:
    base: dict[str, object] = dict(job_id="j1", name="train", status=JobStatus.RUNNING,
                                   done=4, total=10, elapsed=1.2, rate=4 / 1.2)
    base.update(kw)
    return JobSnapshot(**base)  # type: ignore[arg-type]


# -- jobs ------------------------------------------------------------------------------------
def test_job_text_running_line() -> None:
    assert format_job_text(job()) == \
        "train:  40%|████████            | 4/10 [1.20 s, 3.33 it/s] running"


def test_job_text_completed_is_full_and_unknown_total_reads_question_mark() -> None:
    assert format_job_text(job(status=JobStatus.COMPLETED, done=10)).startswith(
        "train: 100%|████████████████████| 10/10")
    text = format_job_text(job(total=None, rate=None, elapsed=None, status=JobStatus.PENDING))
    assert text == "train:   ?%|                    | 4/? [-, - it/s] pending"


def test_job_text_failure_carries_the_error_and_message() -> None:
    text = format_job_text(job(status=JobStatus.FAILED, error="ValueError: bad row 3",
                               message="parsing"))
    assert "running" not in text
    assert "] failed - parsing" in text
    assert text.endswith("\n  error: ValueError: bad row 3")


def test_job_html_colours_by_status() -> None:
    ok = format_job_html(job(status=JobStatus.COMPLETED, done=10))
    assert 'data-status="completed"' in ok and "#2e7d32" in ok and "width:100.0%" in ok
    bad = format_job_html(job(status=JobStatus.FAILED, error="boom"))
    assert 'data-status="failed"' in bad and "#c62828" in bad and "godnb-error" in bad
    assert "width:40.0%" in format_job_html(job())


def test_job_html_escapes_user_text() -> None:
    html = format_job_html(job(name=EVIL, message=EVIL, status=JobStatus.FAILED, error=EVIL))
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co") == 3


# -- groups ----------------------------------------------------------------------------------
def group(**kw: object) -> GroupSnapshot:
    base: dict[str, object] = dict(name="square", total=100, done=45, elapsed=1.5, rate=30.0,
                                   counts={"pending": 50, "running": 5, "completed": 43,
                                           "failed": 2, "cancelled": 0})
    base.update(kw)
    return GroupSnapshot(**base)  # type: ignore[arg-type]


def test_group_text_one_bar_with_failures_counted() -> None:
    assert format_group_text(group()) == (
        "square:  45%|█████████           | 45/100 [1.50 s, 30.0 jobs/s] running (failed 2)")


def test_group_finished_status_is_the_worst_outcome() -> None:
    done = {"pending": 0, "running": 0, "completed": 100, "failed": 0, "cancelled": 0}
    assert group(done=100, counts=done).status is JobStatus.COMPLETED
    assert group(done=100, counts={**done, "failed": 1}).status is JobStatus.FAILED
    assert group(done=100, counts={**done, "cancelled": 1}).status is JobStatus.CANCELLED
    assert "] completed" in format_group_text(group(done=100, counts=done))


def test_group_per_task_lines_when_names_are_mixed() -> None:
    s = group(per_task=[TaskTally(name="fit", total=60, done=30, failed=2),
                        TaskTally(name="score", total=40, done=15)],
              error="ValueError: nope")
    lines = format_group_text(s).splitlines()
    assert lines[1] == "  fit    50%|█████     | 30/60 (failed 2)"
    assert lines[2] == "  score  38%|████      | 15/40"
    assert lines[3] == "  first error: ValueError: nope"
    html = format_group_html(s)
    assert html.count("godnb-bar") == 3 and "first error: ValueError: nope" in html


def test_group_html_escapes() -> None:
    html = format_group_html(group(name=EVIL, error=EVIL,
                                   per_task=[TaskTally(name=EVIL, total=1, done=1)]))
    assert "<script>" not in html and "&lt;script&gt;" in html


# -- queue -----------------------------------------------------------------------------------
def queue() -> QueueSnapshot:
    rows = [QueueRow(job_id="a1", name="fit", priority=5, group="alice",
                     status=JobStatus.RUNNING, done=3, total=4, age=2.5),
            QueueRow(job_id="b2", name=EVIL, priority=0, group="bob",
                     status=JobStatus.PENDING, age=125)]
    counts = {"pending": 99_999, "running": 1, "completed": 7, "failed": 0, "cancelled": 0}
    return QueueSnapshot(engine="eng", counts=counts, rows=rows, limit=20)


def test_queue_text_counts_and_aligned_rows() -> None:
    lines = format_queue_text(queue()).splitlines()
    assert lines[0] == ("queue eng: pending 99999, running 1, completed 7, failed 0, "
                        "cancelled 0 (showing 2 of 100000 active)")
    assert lines[1].split() == ["job", "name", "priority", "group", "status", "progress", "age"]
    assert lines[2].split() == ["a1", "fit", "5", "alice", "running", "3/4", "2.50", "s"]
    assert lines[3].startswith("b2") and lines[3].endswith("2m 05s")


def test_queue_html_rows_and_escaping() -> None:
    html = format_queue_html(queue())
    assert html.count("<tr style=\"height:28px\">") == 3  # header + 2 rows
    assert "<script>" not in html and "&lt;script&gt;" in html
    empty = QueueSnapshot(engine="e", counts={"pending": 0, "running": 0}, rows=[], limit=5)
    assert "no pending or running jobs" in format_queue_html(empty)
    assert "no pending or running jobs" in format_queue_text(empty)


# -- engine ----------------------------------------------------------------------------------
def test_engine_text_and_html() -> None:
    s = EngineSnapshot(name="main", counts={"pending": 3, "running": 2, "completed": 10,
                                            "failed": 1, "cancelled": 0},
                       queue_depth=3, submitted=16, throughput=12.34, latency_p50=0.0012,
                       latency_p99=0.0034, uptime=65,
                       workers={"thread": WorkerSnapshot(workers=8, busy=2, started=True),
                                "process": WorkerSnapshot(workers=2, busy=0, started=False)})
    text = format_engine_text(s)
    assert "jobs           pending 3, running 2, completed 10, failed 1, cancelled 0" in text
    assert "workers        thread 2/8 busy, process 2 (idle, not started)" in text
    assert "throughput     12.3 jobs/s over 1m 05s" in text
    assert "start latency  p50 1.2 ms, p99 3.4 ms" in text
    html = format_engine_html(s.model_copy(update={"name": EVIL}))
    assert "<script>" not in html and "p99 3.4 ms" in html
    assert "recovery" not in text  # an engine with nothing recovered says nothing of it


def test_engine_view_shows_what_the_store_recovered(tmp_path: Path) -> None:
    from godnb import Job
    from godnb.storage import SQLiteStore

    db = tmp_path / "j.db"
    with SQLiteStore(db) as store:
        store.add([Job(payload={"task": "math:sqrt", "args": [4]})], owner="gone-engine")
    with Engine(threads=1, store=db) as eng:
        assert eng.wait(30)
        text = format_engine_text(snapshot_engine(eng))
        html = format_engine_html(snapshot_engine(eng))
    line = next(x for x in text.splitlines() if x.startswith("recovery"))
    assert "recovered 1 job(s) (0 interrupted)" in line and "adopted 1" in line
    assert "adopted 1" in html


# -- profile and pipeline ----------------------------------------------------------------
def test_profile_reuses_profile_table() -> None:
    table = ProfileTable(rows=[TaskProfile(task=EVIL, count=2, ok=2, mean=1.5, p50=1.5,
                                           p95=1.9, total_time=3.0)],
                         generated_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert format_profile_text(table) == table.to_text()
    assert format_profile_html(table) == table.to_html()
    assert "<script>" not in format_profile_html(table)


class Pipeline:
    """Stands in for godnb's pipeline (written elsewhere): only ``.profile()`` matters."""

    name = "etl"

    def profile(self) -> SimpleNamespace:
        stages = [SimpleNamespace(name="read", items_in=100, items_out=100, busy=0.5,
                                  throughput=200.0, p50=0.001, p95=0.002, max_queue_depth=4),
                  SimpleNamespace(name=EVIL, items_in=100, items_out=40, busy=None,
                                  throughput=None)]
        return SimpleNamespace(stages=stages, finished=False)


def test_pipeline_from_profile_object_and_from_dict() -> None:
    s = snapshot_pipeline(Pipeline())
    assert s.name == "etl" and [st.items_out for st in s.stages] == [100, 40]
    text = format_pipeline_text(s)
    assert text.splitlines()[0] == "etl: 2 stages, running"
    assert "read" in text and "200 items/s" in text and "- items/s" in text
    html = format_pipeline_html(s)
    assert "<script>" not in html and "width:40.0%" in html
    from_dict = snapshot_pipeline({"name": "d", "stages": [{"name": "x", "items_in": 3,
                                                            "items_out": 3}],
                                   "finished": True})
    assert format_pipeline_text(from_dict).startswith("d: 1 stage, finished")
    assert snapshot_pipeline(object()).stages == []


# -- snapshots from a real engine (inline: deterministic) ------------------------------------
def test_snapshots_of_real_objects() -> None:
    with Engine(threads=1, backend="inline") as eng:
        def work(n: int) -> int:
            import godnb as god

            for i in range(n):
                god.progress(i + 1, total=n)
            return n

        h = eng.submit(work, 4)
        s = snapshot_job(h)
        assert (s.status, s.done, s.total, s.fraction) == (JobStatus.COMPLETED, 4, 4, 1.0)
        assert s.elapsed is not None and s.rate is not None
        bad = snapshot_job(eng.submit(int, "x"))
        assert bad.status is JobStatus.FAILED and bad.error is not None
        assert bad.error.startswith("ValueError: invalid literal")
        assert bad.rate is None  # never reported progress: no rate
        g = eng.map(abs, range(-3, 3))
        gs = snapshot_group(g)
        assert (gs.total, gs.done, gs.counts["completed"], gs.per_task) == (6, 6, 6, [])
        assert gs.elapsed is not None
        es = snapshot_engine(eng)
        assert es.counts["completed"] == 7 and es.counts["failed"] == 1
        assert "inline" in es.workers
        q = snapshot_queue(eng, 5)
        assert q.rows == [] and q.active == 0
        with pytest.raises(ValueError, match="limit must be >= 0"):
            snapshot_queue(eng, -1)
