"""Pipeline profiles: the model, the live view while iterating, the text and HTML tables."""

from __future__ import annotations

import functools
import itertools

import pytest

from godnb.core.pipeline import Pipeline
from godnb.dataflow.profile import (
    STAGE_COLUMNS,
    PipelineProfile,
    StageProfile,
    format_pipeline_html,
    format_pipeline_text,
    format_stage_table,
)
from tests.dataflow import pipeline_funcs as pf


def test_profile_counts_and_times_every_stage() -> None:
    p = (Pipeline(range(100)).map(pf.double).filter(lambda x: x % 3)
         .map(functools.partial(pf.sleepy, 0.001), workers=2).batch(10))
    p.collect()
    prof = p.profile()
    assert [s.name for s in prof.stages] == ["source", "map[0]:double", "filter[1]:<lambda>",
                                             "map[2]:sleepy", "batch[3]"]
    assert [(s.items_in, s.items_out) for s in prof.stages] == [
        (0, 100), (100, 100), (100, 66), (66, 66), (66, 7)]
    sleepy = prof.stage("map[2]")
    assert (sleepy.backend, sleepy.workers, sleepy.errors) == ("thread", 2, 0)
    assert 0.066 <= sleepy.busy < 2.0  # 66 items of >= 1 ms, over both workers
    assert 0.001 <= sleepy.p50 <= sleepy.p95
    assert 1 <= sleepy.max_queue_depth <= 4  # the default window: 2 * workers
    assert prof.stage("batch[3]").busy is None  # no function of its own
    assert prof.stage("map[0]").busy is not None
    assert not prof.running and prof.elapsed > 0 and prof.items_out == 7
    assert all(s.throughput is not None and s.throughput > 0 for s in prof.stages)
    # each stage's own speed: items in per second of its own busy time
    assert sleepy.rate == pytest.approx(66 / sleepy.busy)
    assert prof.stage("map[0]").rate > sleepy.rate  # doubling beats sleeping 1 ms
    assert prof.stage("batch[3]").rate is None and prof.stage("source").rate is None


def test_busy_time_is_measured_for_slow_functions_and_estimated_for_fast_ones() -> None:
    slow = Pipeline(range(20)).map(functools.partial(pf.sleepy, 0.002))
    slow.collect()
    assert 0.04 <= slow.profile().stage("map[0]").busy < 1.0
    fast = Pipeline(range(5000)).map(pf.double)
    fast.collect()
    busy = fast.profile().stage("map[0]").busy
    assert busy is not None and 0 < busy < 0.5


def test_profile_off_keeps_counts_only() -> None:
    p = Pipeline(range(10), profile=False).map(pf.double).filter(pf.is_odd)
    p.collect()
    prof = p.profile()
    assert not prof.profiled
    assert [(s.items_in, s.items_out) for s in prof.stages[1:]] == [(10, 10), (10, 0)]
    assert all(s.busy is None and s.p50 is None for s in prof.stages)
    assert "profiling off" in str(prof)


def test_profile_before_a_run_lists_the_stages_with_zero_counts() -> None:
    prof = Pipeline([1]).map(pf.inc).batch(2).profile()
    assert [(s.name, s.items_in, s.items_out) for s in prof.stages] == [
        ("source", 0, 0), ("map[0]:inc", 0, 0), ("batch[1]", 0, 0)]
    assert not prof.started and prof.state == "not started"
    assert str(prof).startswith("pipeline not started: 2 stages")


def test_profile_is_live_while_iterating_and_describes_the_last_run() -> None:
    p = Pipeline(itertools.count).map(pf.double).take(1000)  # a factory: restarts
    it = iter(p)
    for _ in range(300):
        next(it)
    live = p.profile()
    assert live.running
    assert 250 <= live.stage("map[0]").items_in <= 300  # published every few items
    assert live.stage("take[1]").items_out == 300
    it.close()
    assert not p.profile().running
    assert p.take(5).collect() == [0, 2, 4, 6, 8]
    assert p.profile().stage("take[1]").items_out == 300  # p's own last run


def test_text_table_is_aligned_and_names_every_stage() -> None:
    p = Pipeline(range(3)).map(pf.double, workers=2)
    p.collect()
    text = format_pipeline_text(p.profile())
    lines = text.splitlines()
    assert lines[0].startswith("pipeline finished: 1 stages, 3 items out, 0 errors in ")
    assert lines[1].split() == ["stage", "in", "out", "errors", "items/s", "busy", "p50",
                                "p95", "max", "queue"]
    # numeric headers end where their column ends (right-aligned like the numbers)
    assert lines[1].endswith("max queue") and lines[3].endswith("-")
    assert set(lines[2]) <= {"-", " "}
    assert lines[3].split()[:4] == ["source", "-", "3", "0"]
    assert lines[4].startswith("map[0]:double (thread x2)")
    assert lines[4].split()[3:6] == ["3", "3", "0"]  # in, out, errors
    assert len({len(line) for line in lines[1:3]}) == 1
    assert str(p.profile()) == text


def test_the_notebook_view_shows_the_same_stage_table() -> None:
    from godnb.notebook.formatters import format_pipeline_text as notebook_text
    from godnb.notebook.snapshots import snapshot_pipeline

    p = Pipeline(range(30), name="etl").map(pf.double).filter(pf.is_odd).batch(4)
    p.collect()
    ours = format_pipeline_text(p.profile()).splitlines()
    theirs = notebook_text(snapshot_pipeline(p)).splitlines()
    assert theirs[0].startswith("etl: 4 stages, finished, 0 items out in ")
    assert ours[1:] == format_stage_table(p.profile().stages) == theirs[1:]
    assert ours[1].split()[:3] == [c.name for c in STAGE_COLUMNS[:3]]


def test_html_table_escapes_stage_names() -> None:
    prof = PipelineProfile(stages=[
        StageProfile(name="source", kind="source", items_out=1),
        StageProfile(name="map[0]:<lambda>", kind="map", items_in=1, items_out=1, busy=0.5)])
    html = format_pipeline_html(prof)
    assert "map[0]:&lt;lambda&gt;" in html and "<lambda>" not in html
    assert html.startswith('<table class="godnb-pipeline-profile"')
    assert html.count("<tr>") == 3
    assert prof._repr_html_() == html
    assert "500.0 ms" in html


def test_profile_models_are_frozen_and_round_trip() -> None:
    p = Pipeline(range(3)).map(pf.inc)
    p.collect()
    prof = p.profile()
    assert PipelineProfile.model_validate_json(prof.model_dump_json()) == prof
    with pytest.raises(Exception, match="frozen"):
        prof.stages[0].items_out = 5  # type: ignore[misc]
    with pytest.raises(KeyError, match="no stage 'map\\[9\\]'"):
        prof.stage("map[9]")
