"""Pipeline.map(backend="dask") on a LocalCluster."""

from __future__ import annotations

import pytest

import godnb as god

pytestmark = pytest.mark.timeout(120)


def square(x: int) -> int:
    return x * x


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_dask_map_stage_keeps_order(dask_client) -> None:  # type: ignore[no-untyped-def]
    p = god.Pipeline(range(200)).map(square, workers=2, backend="dask").filter(lambda x: x % 2)
    assert p.collect() == [x * x for x in range(200) if (x * x) % 2]
    stage = p.profile().stages[1]
    assert stage.items_in == 200 and stage.items_out == 200


def test_dask_map_unordered(dask_client) -> None:  # type: ignore[no-untyped-def]
    p = god.Pipeline(range(100)).map(square, workers=2, backend="dask", ordered=False)
    assert sorted(p.collect()) == [x * x for x in range(100)]


def test_dask_item_error_names_stage_and_index(dask_client) -> None:  # type: ignore[no-untyped-def]
    p = god.Pipeline(range(6)).map(fails_on_three, workers=2, backend="dask")
    with pytest.raises(god.PipelineError, match=r"input 3") as info:
        p.collect()
    assert isinstance(info.value.__cause__, ValueError)
    skip = god.Pipeline(range(6), on_error="skip").map(fails_on_three, workers=2,
                                                      backend="dask")
    assert skip.collect() == [0, 1, 2, 4, 5]


def test_dask_backend_is_listed() -> None:
    assert "dask" in [p.name for p in god.plugins("pipeline_backend")]
