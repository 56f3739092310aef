"""The Pipeline builder (core/pipeline.py): immutable templates, composition, and
``Pipeline.submit``, which runs a whole pipeline as one engine job.

The stages, the parallel map, profiles and the async bridge it builds on are tested in
tests/dataflow.
"""

from __future__ import annotations

import doctest
import functools
import itertools

import pytest

import godnb.core.pipeline
from godnb import Engine, JobStatus
from godnb.core.pipeline import Pipeline
from tests.dataflow import pipeline_funcs as pf
from tests.waiting import wait_until

# -- templates: immutable, reusable, composable -------------------------------------------------

def test_operators_return_new_pipelines_and_leave_the_original_alone() -> None:
    base = Pipeline([1, 2, 3])
    doubled = base.map(pf.double)
    assert base.stages == ()
    assert base.collect() == [1, 2, 3]
    assert doubled.collect() == [2, 4, 6]
    assert doubled.collect() == [2, 4, 6]  # a list source: every iteration starts over


def test_then_and_pipe_operator_compose_fragments() -> None:
    double = Pipeline().map(pf.double)
    odd = Pipeline().filter(pf.is_odd)
    assert Pipeline(range(5)).then(double).collect() == [0, 2, 4, 6, 8]
    assert (Pipeline(range(5)) | odd | double).collect() == [2, 6]
    assert (Pipeline(range(3)) | pf.inc).collect() == [1, 2, 3]
    assert double.over([5]).collect() == [10]
    with pytest.raises(ValueError, match="without a source"):
        Pipeline([1]).then(Pipeline([2]))
    with pytest.raises(TypeError, match="has no source"):
        iter(double)


def test_repr_lists_the_stages() -> None:
    p = Pipeline(range(3)).map(pf.double, workers=2).batch(2, timeout=1).take(1)
    assert repr(p) == ("Pipeline(range[3]) | map(double, workers=2, backend='thread') | "
                       "batch(2, timeout=1) | take(1)")



def test_docstring_examples() -> None:
    result = doctest.testmod(godnb.core.pipeline, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# -- as an engine job ---------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_submit_runs_the_pipeline_as_one_job_with_progress() -> None:
    p = Pipeline(range(50), name="squares").map(lambda x: x * x, workers=2).filter(pf.is_odd)
    with Engine(threads=2) as eng:
        h = p.submit(eng, priority=3)
        assert h.result(timeout=30) == [x * x for x in range(50) if x % 2]
        assert h.job.name == "squares"
        assert h.progress.done == 50 and h.progress.total == 50
        assert "25 out" in (h.progress.message or "")


@pytest.mark.timeout(60)
def test_cancelling_a_pipeline_job_stops_an_infinite_pipeline() -> None:
    p = Pipeline(itertools.count()).map(functools.partial(pf.sleepy, 0.001), workers=2)
    with Engine(threads=2) as eng:
        h = p.submit(eng)
        wait_until(lambda: p.profile().items_out >= 20 and h.status is JobStatus.RUNNING,
                   10, "the pipeline job to run 20 items")
        assert h.cancel()
        h.wait(timeout=10)
        assert h.status is JobStatus.CANCELLED
        # the job saw the flag and closed the pipeline
        wait_until(lambda: not p.profile().running, 5, "the cancelled pipeline to close")


def test_submit_rejects_another_backend() -> None:
    with pytest.raises(ValueError, match="runs on the 'thread' backend"):
        Pipeline([1]).submit(None, backend="process")
