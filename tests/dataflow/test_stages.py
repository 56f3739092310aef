"""Pipeline operators against plain-Python references; sources, laziness, stage plugins, errors."""

from __future__ import annotations

import doctest
import functools
import itertools
import pickle
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import godnb
import godnb.dataflow.profile
import godnb.dataflow.stages
import godnb.errors
import godnb.examples.inference
from godnb.core.pipeline import Pipeline, PipelineError
from godnb.dataflow.stages import Stage
from tests.dataflow import pipeline_funcs as pf

ints = st.lists(st.integers(-50, 50), max_size=60)
SETTINGS = settings(max_examples=60, deadline=None)


# -- references ---------------------------------------------------------------------------

def ref_batch(xs: list[Any], size: int) -> list[list[Any]]:
    return [xs[i:i + size] for i in range(0, len(xs), size)]


def ref_window(xs: list[Any], size: int, step: int, partial: bool) -> list[tuple[Any, ...]]:
    out = []
    for s in range(0, len(xs), step):
        w = tuple(xs[s:s + size])
        if len(w) == size or (partial and w):
            out.append(w)
    return out


def assert_consistent(p: Pipeline) -> None:
    """Items out of stage k equal items in of stage k+1 (the source is stage 0)."""
    rows = p.profile().stages
    for a, b in itertools.pairwise(rows):
        assert a.items_out == b.items_in, (a.name, b.name, p.profile())


# -- every operator against its reference -----------------------------------------------------

@SETTINGS
@given(ints, st.integers(-3, 3))
def test_map_matches_reference(xs: list[int], k: int) -> None:
    p = Pipeline(xs).map(lambda x: x * k + 1)
    assert p.collect() == [x * k + 1 for x in xs]
    assert_consistent(p)


@SETTINGS
@given(ints, st.integers(1, 5))
def test_filter_matches_reference(xs: list[int], m: int) -> None:
    p = Pipeline(xs).filter(lambda x: x % m == 0)
    assert p.collect() == [x for x in xs if x % m == 0]
    assert Pipeline([0, 1, "", "a", None]).filter(None).collect() == [1, "a"]


@SETTINGS
@given(ints)
def test_flat_map_matches_reference(xs: list[int]) -> None:
    p = Pipeline(xs).flat_map(lambda x: range(x % 4))
    assert p.collect() == [y for x in xs for y in range(x % 4)]
    assert_consistent(p)


@SETTINGS
@given(ints, st.integers(1, 7))
def test_batch_matches_reference(xs: list[int], size: int) -> None:
    p = Pipeline(xs).batch(size)
    assert p.collect() == ref_batch(xs, size)
    assert_consistent(p)


@SETTINGS
@given(ints, st.integers(1, 6), st.integers(1, 6), st.booleans())
def test_window_matches_reference(xs: list[int], size: int, step: int, partial: bool) -> None:
    p = Pipeline(xs).window(size, step=step, partial=partial)
    assert p.collect() == ref_window(xs, size, step, partial)
    assert_consistent(p)


def test_window_defaults_to_a_sliding_window() -> None:
    assert Pipeline(range(4)).window(2).collect() == [(0, 1), (1, 2), (2, 3)]


@SETTINGS
@given(ints, st.integers(0, 70))
def test_take_and_skip_match_slices(xs: list[int], n: int) -> None:
    assert Pipeline(xs).take(n).collect() == xs[:n]
    assert Pipeline(xs).skip(n).collect() == xs[n:]


@SETTINGS
@given(ints)
def test_tap_sees_every_item_and_changes_nothing(xs: list[int]) -> None:
    seen: list[int] = []
    assert Pipeline(xs).tap(seen.append).collect() == xs
    assert seen == xs


@SETTINGS
@given(ints, st.integers(1, 4))
def test_buffer_keeps_items_and_order(xs: list[int], n: int) -> None:
    p = Pipeline(xs).buffer(n)
    assert p.collect() == xs
    assert_consistent(p)


# -- random chains against the same chain in plain Python --------------------------------------

OPS = st.one_of(
    st.tuples(st.just("map"), st.integers(-3, 3)),
    st.tuples(st.just("filter"), st.integers(2, 4)),
    st.tuples(st.just("flat_map"), st.integers(1, 3)),
    st.tuples(st.just("batch"), st.integers(1, 4)),
    st.tuples(st.just("window"), st.integers(1, 3), st.integers(1, 3), st.booleans()),
    st.tuples(st.just("take"), st.integers(0, 40)),
    st.tuples(st.just("skip"), st.integers(0, 5)),
    st.tuples(st.just("buffer"), st.integers(1, 3)),
    st.tuples(st.just("pmap"), st.integers(2, 3)),
)


def apply_op(p: Pipeline, xs: list[int], op: tuple[Any, ...]) -> tuple[Pipeline, list[int]]:
    name, *a = op
    if name == "map":
        return p.map(functools.partial(_affine, a[0])), [_affine(a[0], x) for x in xs]
    if name == "pmap":
        return (p.map(functools.partial(_affine, 2), workers=a[0]),
                [_affine(2, x) for x in xs])
    if name == "filter":
        return p.filter(lambda x, m=a[0]: x % m), [x for x in xs if x % a[0]]
    if name == "flat_map":
        return (p.flat_map(lambda x, m=a[0]: range(x % m)),
                [y for x in xs for y in range(x % a[0])])
    if name == "batch":
        return p.batch(a[0]).map(sum), [sum(b) for b in ref_batch(xs, a[0])]
    if name == "window":
        return (p.window(a[0], step=a[1], partial=a[2]).map(sum),
                [sum(w) for w in ref_window(xs, *a)])
    if name == "take":
        return p.take(a[0]), xs[:a[0]]
    if name == "skip":
        return p.skip(a[0]), xs[a[0]:]
    assert name == "buffer"
    return p.buffer(a[0]), xs


def _affine(k: int, x: int) -> int:
    return k * x + 1


@settings(max_examples=150, deadline=None)
@given(ints, st.lists(OPS, max_size=6), st.booleans())
def test_random_chains_match_plain_python(xs: list[int], ops: list[Any], profile: bool
                                          ) -> None:
    p, ref = Pipeline(xs, profile=profile), list(xs)
    for op in ops:
        p, ref = apply_op(p, ref, op)
    assert p.collect() == ref
    assert_consistent(p)
    assert p.profile().items_out == len(ref)


# -- sources, laziness, named stages ----------------------------------------------------------

def test_partial_stages_work_and_are_named_after_their_function() -> None:
    p = Pipeline(range(4)).map(functools.partial(pf.fail_on, 99))
    assert p.collect() == [0, 2, 4, 6]
    assert p.profile().stages[1].name == "map[0]:fail_on"


def test_sources_generator_is_consumed_once_and_factories_restart() -> None:
    gen = (x for x in range(3))
    p = Pipeline(gen).map(pf.inc)
    assert p.collect() == [1, 2, 3]
    assert p.collect() == []
    q = Pipeline(lambda: (x for x in range(3))).map(pf.inc)
    assert q.collect() == q.collect() == [1, 2, 3]
    assert Pipeline(Pipeline(range(3)).map(pf.inc)).map(pf.double).collect() == [2, 4, 6]
    with pytest.raises(TypeError, match="takes an iterable"):
        Pipeline(42)


def test_async_iterable_source_in_a_sync_iteration() -> None:
    async def agen() -> Any:
        for i in range(4):
            yield i

    assert Pipeline(agen()).map(pf.double).collect() == [0, 2, 4, 6]
    assert Pipeline(agen).take(2).collect() == [0, 1]


def test_nothing_runs_until_iterated_and_pulls_are_bounded() -> None:
    pulled: list[int] = []

    def source() -> Iterator[int]:
        for i in itertools.count():
            pulled.append(i)
            yield i

    p = Pipeline(source()).map(pf.double).filter(lambda x: True).take(5)
    assert pulled == []
    it = iter(p)
    assert pulled == []
    assert next(it) == 0
    assert pulled == [0]
    assert list(it) == [2, 4, 6, 8]
    assert pulled == [0, 1, 2, 3, 4]  # take(5) never asked for a sixth item


def test_pipe_by_registered_name_and_custom_stage_plugins() -> None:
    class Negate(Stage, name="test-negate"):
        def build(self, upstream: Iterator[Any], ctx: Any) -> Iterator[Any]:
            return (-x for x in upstream)

    assert Pipeline([1, 2]).pipe("test-negate").pipe("map", pf.inc).collect() == [0, -1]
    assert (Pipeline([1]) | Negate()).collect() == [-1]
    names = {p.name for p in godnb.plugins("stage")}
    assert {"map", "filter", "flat_map", "batch", "window", "take", "skip", "tap",
            "buffer"} <= names
    with pytest.raises(ValueError, match=r"valid names: .*'map'"):
        Pipeline([1]).pipe("no-such-stage")


def test_batch_timeout_sends_a_partial_batch_when_the_source_stalls() -> None:
    first_seen = threading.Event()

    def stalling() -> Iterator[int]:
        yield from (1, 2, 3)
        assert first_seen.wait(10), "the partial batch never came out"
        yield 4

    out = []
    for b in Pipeline(stalling()).batch(10, timeout=0.05):
        out.append(b)
        first_seen.set()
    assert out == [[1, 2, 3], [4]]


# -- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("build", "error", "match"), [
    (lambda p: p.map(42), TypeError, "map\\(\\) takes a callable"),
    (lambda p: p.batch(0), ValueError, "batch size must be an int >= 1"),
    (lambda p: p.window(2, step=0), ValueError, "window step"),
    (lambda p: p.take(-1), ValueError, "take"),
    (lambda p: p.map(pf.inc, workers=0), ValueError, "workers must be"),
    (lambda p: p.map(pf.inc, timeout=0), ValueError, "timeout must be"),
    (lambda p: p.map(pf.inc, on_error="ignore"), ValueError, "on_error must be one of"),
    (lambda p: p.map(pf.inc, backend="gpu"),
     ValueError, "unknown backend 'gpu'.*valid backends: .*'async'.*'process'.*'thread'"),
    (lambda p: p.map(lambda x: x, backend="process"),
     TypeError, "needs a picklable function.*module level"),
])
def test_bad_arguments_fail_when_the_stage_is_built(build: Any, error: type, match: str
                                                    ) -> None:
    with pytest.raises(error, match=match):
        build(Pipeline([1]))


# -- errors ------------------------------------------------------------------------------------

def test_raise_names_the_stage_and_input_index_and_chains_the_cause() -> None:
    p = Pipeline(range(10)).filter(lambda x: x != 1).map(functools.partial(pf.fail_on, 5))
    with pytest.raises(PipelineError, match=r"stage map\[1\]:fail_on failed on input 4: "
                                            r"ValueError: bad item 5") as info:
        p.collect()
    err = info.value
    assert (err.stage, err.index, err.item) == ("map[1]:fail_on", 4, 5)
    assert isinstance(err.__cause__, ValueError)
    assert isinstance(err, godnb.GodnbError)
    assert p.profile().stage("map[1]").errors == 1


def test_skip_and_collect_keep_going() -> None:
    bad = functools.partial(pf.fail_on, 2)
    assert Pipeline(range(4), on_error="skip").map(bad).collect() == [0, 2, 6]
    p = Pipeline(range(4), on_error="collect").map(bad).flat_map(lambda x: [x, 1 // x])
    assert p.collect() == [2, 0, 6, 0]  # 0 fails in flat_map: 1 // 0
    # in the order they happened: item 0 reached flat_map before item 2 failed in map
    assert [(e.stage, e.index) for e in p.errors] == [("flat_map[1]:<lambda>", 0),
                                                      ("map[0]:fail_on", 2)]
    assert isinstance(p.errors[0].__cause__, ZeroDivisionError)


def test_a_stage_can_override_the_pipeline_policy() -> None:
    p = Pipeline(range(4)).map(functools.partial(pf.fail_on, 1), on_error="skip")
    assert p.collect() == [0, 4, 6]
    q = Pipeline(range(4), on_error="skip").filter(lambda x: 1 // (x - 2), on_error="raise")
    with pytest.raises(PipelineError, match="filter"):
        q.collect()


def test_a_failing_source_is_reported_as_the_source() -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk gone")

    with pytest.raises(PipelineError, match="source raised OSError: disk gone after 1 items"
                       ) as info:
        Pipeline(broken()).map(pf.inc).collect()
    assert info.value.stage == "source"
    assert isinstance(info.value.__cause__, OSError)


def test_pipeline_error_pickles_with_its_attributes() -> None:
    err = PipelineError("boom", stage="map[0]:f", index=7, item=3)
    back = pickle.loads(pickle.dumps(err))
    assert (str(back), back.stage, back.index, back.item) == ("boom", "map[0]:f", 7, 3)


def test_errors_are_per_run() -> None:
    p = Pipeline(range(3), on_error="collect").map(functools.partial(pf.fail_on, 1))
    assert p.errors == []
    p.collect()
    p.collect()
    assert len(p.errors) == 1


@pytest.mark.parametrize("module", [
    godnb.dataflow.stages, godnb.dataflow.profile, godnb.errors, godnb.examples.inference],
    ids=lambda m: m.__name__)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
