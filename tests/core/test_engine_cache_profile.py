from __future__ import annotations

import pytest

import godnb as god
from godnb import Engine
from tests.core import funcs

calls: list[int] = []


def counted(x: int) -> int:
    calls.append(x)
    return x * 10


def test_submit_cache_memoises_by_task_and_arguments() -> None:
    calls.clear()
    with Engine(cache=god.Cache(maxsize=100)) as eng:
        first = eng.submit(counted, 1, cache=True)
        assert first.result(timeout=30) == 10
        again = eng.submit(counted, 1, cache=True)
        assert again.result(timeout=30) == 10
        assert again.outcome.cached and not first.outcome.cached
        other = eng.submit(counted, 2, cache=True)
        assert other.result(timeout=30) == 20
        assert calls == [1, 2]
        row = next(r for r in eng.profile().rows if r.task == "counted")
        assert row.cache_hits == 1
        assert row.count == 3


def test_cache_hits_in_map_keep_input_order() -> None:
    with Engine() as eng:
        assert eng.map(funcs.double, [1, 2], cache=True).results(timeout=30) == [2, 4]
        g = eng.map(funcs.double, [3, 1, 2, 4], cache=True)
        assert g.results(timeout=30) == [6, 2, 4, 8]
        assert [h.outcome.cached for h in g] == [False, True, True, False]


def test_failures_are_not_cached() -> None:
    with Engine() as eng:
        h = eng.submit(funcs.boom, cache=True)
        with pytest.raises(god.JobFailed):
            h.result(timeout=30)
        again = eng.submit(funcs.boom, cache=True)
        with pytest.raises(god.JobFailed):
            again.result(timeout=30)
        assert not again.outcome.cached


def test_unhashable_arguments_get_a_clear_message() -> None:
    with Engine() as eng, pytest.raises(TypeError, match=r"cache key.*cache=False"):
        eng.submit(funcs.double, object(), cache=True)


def test_profile_counts_ok_failed_retried(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with Engine() as eng:
        eng.map(funcs.double, range(5)).results(timeout=30)
        eng.submit(funcs.boom).wait(30)
        eng.submit(funcs.fail_until, str(tmp_path / "n"), 2, retries=1).result(timeout=30)
        table = eng.profile()
    rows = {r.task: r for r in table.rows}
    assert (rows["double"].count, rows["double"].ok) == (5, 5)
    assert rows["boom"].failed == 1
    assert rows["fail_until"].retried == 1
    text = str(table)
    assert "double" in text and "boom" in text
    assert "<table" in table._repr_html_()
