"""The pure formatters, as strings, from hand-built snapshots (and a few real ones)."""

from __future__ import annotations

import re
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
    LaneJob,
    LaneSnapshot,
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
from godnb.views.bars import NAME_CH, NAME_EM

EVIL = "<script>alert('x')</script> & co"


def job(**kw: object) -> JobSnapshot:
    # tqdm's reference: 16 of 40 in 4.8 s -> 3.33 it/s, 7.2 s left
    base: dict[str, object] = dict(job_id="j1", name="score", status=JobStatus.RUNNING,
                                   done=16, total=40, elapsed=4.8, rate=16 / 4.8)
    base.update(kw)
    return JobSnapshot(**base)  # type: ignore[arg-type]


def no_progress(status: JobStatus, **kw: object) -> JobSnapshot:
    return job(status=status, done=0, total=None, rate=None, **kw)


def fills(html: str) -> list[tuple[str, str]]:
    """(data-status, width %) of every bar fill or segment in ``html``."""
    return re.findall(r'class="godnb-(?:fill|seg)" data-status="(\w+)"[^>]*?width:([\d.]+)%',
                      html)


# -- jobs ------------------------------------------------------------------------------------
def test_job_text_reads_like_tqdm_with_eta() -> None:
    assert format_job_text(job()) == (
        "score                 40% ████████             16/40 [00:04<00:07, 3.33it/s]")


def test_job_text_completed_is_full_and_keeps_its_message() -> None:
    text = format_job_text(job(status=JobStatus.COMPLETED, done=40, elapsed=12.1,
                               rate=40 / 12.1, message="loss 0.072"))
    assert text == ("score                100% ████████████████████ 40/40 [00:12, 3.31it/s] "
                    "completed · loss 0.072")


@pytest.mark.parametrize("status", [JobStatus.FAILED, JobStatus.CANCELLED,
                                    JobStatus.COMPLETED, JobStatus.RUNNING,
                                    JobStatus.PENDING])
def test_a_job_without_progress_shows_its_state_not_placeholders(status: JobStatus) -> None:
    s = no_progress(status, elapsed=None if status is JobStatus.PENDING else 1.5,
                    error="KeyError: 'id'" if status is JobStatus.FAILED else None)
    text, html = format_job_text(s), format_job_html(s)
    for out in (text, html):
        assert "?%" not in out and "0/?" not in out and "/?" not in out
    assert status.value in text
    if status is not JobStatus.PENDING:
        assert "[00:01]" in text  # the elapsed time
    if status.is_terminal:  # the bar full, in the state's colour
        assert fills(html) == [(status.value, "100.0")]
        assert "████████████████████" in text
    elif status is JobStatus.RUNNING:  # running, length unknown: striped
        assert fills(html) == [("unknown", "100.0")] and "linear-gradient" in html
        assert "░░░░" in text
    else:
        assert fills(html) == [("pending", "0.0")]


def test_a_failed_job_is_red_with_its_error_on_the_same_line() -> None:
    s = no_progress(JobStatus.FAILED, elapsed=0.0012, error="KeyError: 'id'")
    assert format_job_text(s) == ("parse                     ████████████████████ [00:00] "
                                  "failed · KeyError: 'id'").replace("parse", "score")
    html = format_job_html(s)
    assert 'data-status="failed"' in html and "error-color1" in html
    assert html.count("<div") == 1 and "<br" not in html  # one line
    assert 'class="godnb-error" title="KeyError: &#x27;id&#x27;"' in html
    assert "text-overflow:ellipsis" in html and "white-space:nowrap" in html
    # a job that failed part-way keeps the share it reached, in red
    partial = format_job_html(job(status=JobStatus.FAILED, error="boom"))
    assert fills(partial) == [("failed", "40.0")] and ">40%<" in partial


def test_job_html_has_percent_bar_counts_and_eta() -> None:
    html = format_job_html(job())
    assert ">40%<" in html
    assert fills(html) == [("running", "40.0")]
    assert "16/40 [00:04&lt;00:07, 3.33it/s]" in html
    ok = format_job_html(job(status=JobStatus.COMPLETED, done=40))
    assert fills(ok) == [("completed", "100.0")] and "success-color1" in ok


def test_names_sit_in_a_fixed_width_column() -> None:
    names = ["fit", "score", "flat_map[3]:<lambda>", "a-much-longer-task-name-than-fits"]
    texts = [format_job_text(job(name=n)) for n in names]
    bars = [t.index("█") for t in texts]
    assert len(set(bars)) == 1  # every bar starts in the same column
    assert {t[:NAME_CH] for t in texts[:2]} == {"fit".ljust(NAME_CH), "score".ljust(NAME_CH)}
    assert texts[3].startswith("a-much-longer-task-…")
    html = format_job_html(job(name=names[3]))
    assert f"width:{NAME_EM:g}em" in html and "text-overflow:ellipsis" in html
    assert f'title="{names[3]}"' in html  # the full name on hover


def test_job_html_escapes_user_text() -> None:
    html = format_job_html(job(name=EVIL, message=EVIL, status=JobStatus.FAILED, error=EVIL))
    assert "<script>" not in html
    assert html.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co") >= 3


# -- groups ----------------------------------------------------------------------------------
def group(**kw: object) -> GroupSnapshot:
    base: dict[str, object] = dict(name="square", total=100, done=45, elapsed=1.5, rate=30.0,
                                   counts={"pending": 50, "running": 5, "completed": 43,
                                           "failed": 2, "cancelled": 0})
    base.update(kw)
    return GroupSnapshot(**base)  # type: ignore[arg-type]


FINISHED = {"pending": 0, "running": 0, "completed": 96, "failed": 4, "cancelled": 0}


def test_group_text_one_bar_with_eta_and_failures_counted() -> None:
    assert format_group_text(group()) == (
        "square                45% █████████            45/100 [00:01<00:01, 30.0 jobs/s] "
        "2 failed")


def test_group_finished_status_is_the_worst_outcome() -> None:
    done = {"pending": 0, "running": 0, "completed": 100, "failed": 0, "cancelled": 0}
    assert group(done=100, counts=done).status is JobStatus.COMPLETED
    assert group(done=100, counts={**done, "failed": 1}).status is JobStatus.FAILED
    assert group(done=100, counts={**done, "cancelled": 1}).status is JobStatus.CANCELLED
    assert format_group_text(group(done=100, counts=done)).endswith("] completed")


def test_four_failures_in_a_hundred_are_a_four_percent_red_segment() -> None:
    s = group(done=100, counts=FINISHED, error="ValueError: item 24 is corrupt\nmore")
    html = format_group_html(s)
    assert fills(html) == [("completed", "96.00"), ("failed", "4.00")]
    assert 'data-status="failed"' in html  # the group's state
    text = format_group_text(s)
    assert text.endswith("96 completed · 4 failed · first error: "
                         "ValueError: item 24 is corrupt …")
    assert "\n" not in text  # the first error stays on the line
    assert 'title="ValueError: item 24 is corrupt\nmore"' in html  # the full text on hover
    running = format_group_html(group())  # while running the ok share is the working colour
    assert fills(running) == [("running", "43.00"), ("failed", "2.00")]
    cancelled = group(done=100, counts={**FINISHED, "failed": 0, "cancelled": 10,
                                        "completed": 90})
    assert fills(format_group_html(cancelled)) == [("completed", "90.00"),
                                                   ("cancelled", "10.00")]


def test_group_shares_never_exceed_what_is_done() -> None:
    lagging = group(done=10, counts={"completed": 2, "failed": 30})  # counts refresh later
    assert sum(n for *_, n in lagging.shares()) == 10


def test_group_per_task_lines_when_names_are_mixed() -> None:
    s = group(per_task=[TaskTally(name="fit", total=60, done=30, failed=2),
                        TaskTally(name="score", total=40, done=15)],
              error="ValueError: nope")
    lines = format_group_text(s).splitlines()
    assert lines[1] == f"  {'fit'.ljust(NAME_CH - 2)}  50% ██████████           30/60 (failed 2)"
    assert lines[2] == f"  {'score'.ljust(NAME_CH - 2)}  37% ███████▌             15/40"
    assert lines[0].endswith("2 failed · first error: ValueError: nope")
    html = format_group_html(s)
    assert html.count('class="godnb-bar"') == 3 and "first error: ValueError: nope" in html


def test_group_html_escapes() -> None:
    html = format_group_html(group(name=EVIL, error=EVIL,
                                   per_task=[TaskTally(name=EVIL, total=1, done=1)]))
    assert "<script>" not in html and "&lt;script&gt;" in html


# -- queue -----------------------------------------------------------------------------------
def queue() -> QueueSnapshot:
    rows = [QueueRow(job_id="a1", name="fit", priority=5, group="alice",
                     status=JobStatus.RUNNING, done=3, total=4, age=2.5, cell=3),
            QueueRow(job_id="b2", name=EVIL, priority=10, group="bob",
                     status=JobStatus.PENDING, age=125)]
    counts = {"pending": 99_999, "running": 1, "completed": 7, "failed": 0, "cancelled": 0}
    return QueueSnapshot(engine="eng", counts=counts, rows=rows, limit=20)


def test_queue_text_counts_and_right_aligned_numbers() -> None:
    lines = format_queue_text(queue()).splitlines()
    assert lines[0] == ("queue eng: pending 99,999, running 1, completed 7, failed 0, "
                        "cancelled 0 (showing 2 of 100,000 active)")
    assert lines[1].split() == ["job", "name", "cell", "priority", "group", "status",
                                "progress", "age"]
    assert lines[2].split() == ["a1", "fit", "In[3]", "5", "alice", "running", "75%", "3/4",
                                "2.50", "s"]
    assert lines[3][lines[1].index("cell")] == "-"  # not from a cell
    assert lines[3].endswith(" -  2m 05s")
    # numbers and their headers end in the same column; the cell column is text, left
    for header in ("priority", "progress", "age"):
        end = lines[1].index(header) + len(header)
        assert lines[2][end - 1] != " " and lines[3][end - 1] != " "
    assert lines[2].index("In[3]") == lines[1].index("cell")


def test_queue_html_rows_alignment_and_escaping() -> None:
    html = format_queue_html(queue())
    assert html.count('<tr style="height:28px">') == 3  # header + 2 rows
    assert re.search(r'<th [^>]*text-align:right[^>]*>priority</th>', html)
    assert re.search(r'<td [^>]*text-align:right[^>]*>10</td>', html)
    assert "<script>" not in html and "&lt;script&gt;" in html
    empty = QueueSnapshot(engine="e", counts={"pending": 0, "running": 0}, rows=[], limit=5)
    assert "no pending or running jobs" in format_queue_html(empty)
    assert "no pending or running jobs" in format_queue_text(empty)


# -- engine ----------------------------------------------------------------------------------
def test_engine_text_html_and_worker_lanes() -> None:
    s = EngineSnapshot(name="main", counts={"pending": 3, "running": 2, "completed": 12_000,
                                            "failed": 1, "cancelled": 0},
                       queue_depth=3, submitted=12_006, throughput=12.34, latency_p50=0.0012,
                       latency_p99=0.0034, uptime=65,
                       workers={"thread": WorkerSnapshot(workers=2, busy=2, started=True),
                                "process": WorkerSnapshot(workers=2, busy=0, started=False)},
                       lanes=[LaneSnapshot(name="thread-1", backend="thread",
                                           running=[LaneJob(job_id="abcdef0123456789",
                                                            name="fit", elapsed=65.2,
                                                            fraction=0.4)]),
                              LaneSnapshot(name="thread-2", backend="thread"),
                              LaneSnapshot(name="async", backend="async",
                                           running=[LaneJob(job_id="1", name="fetch"),
                                                    LaneJob(job_id="2", name="fetch")])])
    text = format_engine_text(s)
    assert "jobs           pending 3, running 2, completed 12,000, failed 1, cancelled 0" in text
    assert "workers        thread 2/2 busy, process 2 (not started)" in text
    assert "throughput     12.3 jobs/s over 1m 05s" in text
    assert "start latency  p50 1.2 ms, p99 3.4 ms" in text
    lanes = text.splitlines()[-4:]
    assert lanes[0].split() == ["lane", "now", "for", "progress"]
    assert lanes[1].split() == ["thread-1", "fit", "(abcdef01)", "01:05", "40%"]
    assert lanes[2].split() == ["thread-2", "idle"]
    assert lanes[3].split()[:4] == ["async", "2", "running:", "2"]
    html = format_engine_html(s.model_copy(update={"name": EVIL}))
    assert "<script>" not in html and "p99 3.4 ms" in html
    assert "godnb-engine-lanes" in html and "thread-1" in html and "fit (abcdef01)" in html
    assert "recovery" not in text  # an engine with nothing recovered says nothing of it


def test_engine_view_shows_what_the_store_recovered(tmp_path: Path) -> None:
    from godnb import Job
    from godnb.storage import SQLiteStore

    db = tmp_path / "j.db"
    with SQLiteStore(db) as store:
        store.add([Job(payload={"task": "math:sqrt", "args": [4]})], owner="gone-engine")
    with Engine(threads=1, store=db) as eng:
        assert eng.wait(30)
        assert eng.submit(abs, -1).result(timeout=30) == 1  # a worker lane to show
        text = format_engine_text(snapshot_engine(eng))
        html = format_engine_html(snapshot_engine(eng))
    lines = text.splitlines()
    line = next(x for x in lines if x.startswith("recovery"))
    assert "recovered 1 job(s) (0 interrupted)" in line and "adopted 1" in line
    assert "adopted 1" in html
    # the recovery row and the worker lanes, both: the summary first, then the lanes
    assert lines.index(line) < next(i for i, x in enumerate(lines) if x.split()[:1] == ["lane"])
    assert any(x.split()[:2] == ["thread-1", "idle"] for x in lines)
    assert "godnb-engine-lanes" in html and html.index("adopted 1") < html.index("thread-1")


# -- profile and pipeline ----------------------------------------------------------------
def test_profile_reuses_profile_table() -> None:
    table = ProfileTable(rows=[TaskProfile(task=EVIL, count=2, ok=2, mean=1.5, p50=1.5,
                                           p95=1.9, total_time=3.0)],
                         generated_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert format_profile_text(table) == table.to_text()
    assert format_profile_html(table) == table.to_html()
    assert "<script>" not in format_profile_html(table)


class Pipeline:
    """Stands in for a pipeline: only ``.profile()`` (and ``.source``) matter."""

    name = "etl"
    source = list(range(4000))

    def __init__(self, done: bool = True) -> None:
        self.done = done

    def profile(self) -> SimpleNamespace:
        n = 4000 if self.done else 2000
        stages = [SimpleNamespace(name="source", items_in=0, items_out=n, busy=None),
                  SimpleNamespace(name="batch[0]", items_in=n, items_out=n // 64),
                  SimpleNamespace(name=EVIL, items_in=n // 64, items_out=n // 64, busy=0.5,
                                  rate=n // 64 / 0.5, p50=0.001, p95=0.002,
                                  max_queue_depth=4)]
        return SimpleNamespace(stages=stages, running=not self.done, elapsed=0.15)


def test_each_stage_bar_is_scaled_to_its_own_input() -> None:
    s = snapshot_pipeline(Pipeline())
    assert s.state == "finished" and s.total == 4000
    assert [st.fraction for st in s.stages] == [1.0, 1.0, 1.0]  # batch: 4000 in -> 62 out
    html = format_pipeline_html(s)
    assert fills(html) == [("completed", "100.0")] * 3
    half = snapshot_pipeline(Pipeline(done=False))
    assert half.state == "running"
    assert [st.fraction for st in half.stages] == [0.5, 0.5, 0.5]
    text = format_pipeline_text(s)
    assert text.splitlines()[0].startswith("etl: 3 stages, finished, 62 items out in 150.0 ms")
    assert "4,000 in → 62 out" in html  # each stage: in -> out, its own rate
    assert "busy 500.0 ms (124 items/s)" in html
    assert "<script>" not in html


def test_a_pipeline_never_run_says_not_started() -> None:
    from godnb.core.pipeline import Pipeline as RealPipeline

    p = RealPipeline(range(10)).map(abs).batch(3)
    s = snapshot_pipeline(p)
    assert (s.state, s.started, s.finished) == ("not started", False, False)
    assert format_pipeline_text(s).splitlines()[0] == "pipeline: 3 stages, not started"
    html = format_pipeline_html(s)
    assert "not started" in html and "running" not in html
    assert all(w == "0.0" for _, w in fills(html))
    p.collect()
    done = snapshot_pipeline(p)
    assert done.state == "finished" and [st.fraction for st in done.stages] == [1.0] * 3


def test_pipeline_from_a_dict() -> None:
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
        assert s.elapsed is not None and s.rate is not None and s.eta is None
        bad = snapshot_job(eng.submit(int, "x"))
        assert bad.status is JobStatus.FAILED and bad.error is not None
        assert bad.error.startswith("ValueError: invalid literal")
        assert bad.rate is None  # never reported progress: no rate
        g = eng.map(abs, range(-3, 3))
        gs = snapshot_group(g)
        assert (gs.total, gs.done, gs.counts["completed"], gs.per_task) == (6, 6, 6, [])
        assert gs.elapsed is not None and gs.shares() == [("completed", 1.0, 6)]
        es = snapshot_engine(eng)
        assert es.counts["completed"] == 7 and es.counts["failed"] == 1
        assert "inline" in es.workers
        assert [lane.name for lane in es.lanes] == ["inline"]  # one shared lane, idle now
        assert es.lanes[0].running == []
        q = snapshot_queue(eng, 5)
        assert q.rows == [] and q.active == 0
        with pytest.raises(ValueError, match="limit must be >= 0"):
            snapshot_queue(eng, -1)
