"""Cache, @cached and make_key: LRU order, TTL on a fake clock, tags, threads, stable keys."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import json
import math
import os
import subprocess
import sys
import threading
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from godnb.utils.cache import Cache, CacheStats, cached, make_key


class FakeClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


# --- basics --------------------------------------------------------------------------

def test_get_returns_default_on_a_miss_and_none_is_a_value() -> None:
    cache = Cache()
    assert cache.get("x") is None
    assert cache.get("x", default="miss") == "miss"
    cache.set("x", None)
    assert cache.get("x", default="miss") is None
    assert "x" in cache
    assert cache.stats().hits == 1
    assert cache.stats().misses == 2


def test_contains_counts_nothing_and_keeps_the_order() -> None:
    cache = Cache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert "a" in cache
    assert "zzz" not in cache
    cache.set("c", 3)  # "a" is still the least recently used
    assert cache.keys() == ["b", "c"]
    assert (cache.stats().hits, cache.stats().misses) == (0, 0)


def test_least_recently_used_is_evicted_first() -> None:
    cache = Cache(maxsize=3)
    for key in "abc":
        cache.set(key, key.upper())
    assert cache.get("a") == "A"  # a is now the most recent
    cache.set("d", "D")
    assert cache.keys() == ["c", "a", "d"]
    assert "b" not in cache
    assert cache.stats().evictions == 1
    assert len(cache) == 3


def test_overwriting_refreshes_recency_without_evicting() -> None:
    cache = Cache(maxsize=2)
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("a", 10)
    cache.set("c", 3)
    assert cache.keys() == ["a", "c"]
    assert cache.get("a") == 10
    assert cache.stats().evictions == 1


def test_delete_reports_whether_a_live_entry_was_there(clock: FakeClock) -> None:
    cache = Cache(clock=clock)
    cache.set("a", 1)
    cache.set("b", 2, ttl=1)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    clock.advance(1)
    assert cache.delete("b") is False  # it had expired already
    assert cache.stats().expirations == 1


def test_clear_empties_but_keeps_the_counters() -> None:
    cache = Cache()
    cache.set("a", 1, tags=["t"])
    cache.get("a")
    cache.clear()
    assert len(cache) == 0
    assert cache.invalidate(tag="t") == 0
    assert cache.stats().hits == 1


def test_repr_shows_the_settings() -> None:
    assert repr(Cache(maxsize=5, ttl=2.0)) == "Cache(maxsize=5, ttl=2.0, size=0)"


# --- TTL -----------------------------------------------------------------------------

def test_default_ttl_expires_entries_at_the_deadline(clock: FakeClock) -> None:
    cache = Cache(ttl=10, clock=clock)
    cache.set("a", 1)
    clock.advance(9.999)
    assert cache.get("a") == 1
    clock.advance(0.001)  # exactly at the deadline: gone
    assert cache.get("a") is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.expirations, stats.size) == (1, 1, 1, 0)


def test_per_entry_ttl_beats_the_default(clock: FakeClock) -> None:
    cache = Cache(ttl=10, clock=clock)
    cache.set("short", 1, ttl=1)
    cache.set("forever", 2, ttl=math.inf)
    cache.set("default", 3)
    clock.advance(5)
    assert cache.keys() == ["forever", "default"]
    clock.advance(1000)
    assert cache.keys() == ["forever"]
    assert len(cache) == 1
    assert cache.stats().expirations == 2


def test_setting_again_restarts_the_ttl(clock: FakeClock) -> None:
    cache = Cache(ttl=5, clock=clock)
    cache.set("a", 1)
    clock.advance(4)
    cache.set("a", 2)
    clock.advance(4)
    assert cache.get("a") == 2
    assert cache.stats().expirations == 0  # the stale heap item did not expire the new entry


def test_expired_entries_go_before_live_ones_are_evicted(clock: FakeClock) -> None:
    cache = Cache(maxsize=2, clock=clock)
    cache.set("live", 1)
    cache.set("dying", 2, ttl=1)
    clock.advance(1)
    cache.set("new", 3)
    assert cache.keys() == ["live", "new"]
    assert (cache.stats().evictions, cache.stats().expirations) == (0, 1)


def test_churn_under_a_long_ttl_does_not_grow_the_expiry_heap(clock: FakeClock) -> None:
    cache = Cache(maxsize=10, ttl=3600, clock=clock)
    for i in range(10_000):
        cache.set(i % 5, i)
    assert len(cache._expiry_heap) <= 2 * 5 + 65


# --- invalidation --------------------------------------------------------------------

def test_invalidate_a_key_a_predicate_or_a_tag() -> None:
    cache = Cache()
    cache.set("train:1", 1, tags=["model"])
    cache.set("train:2", 2, tags=["model", "big"])
    cache.set("eval:1", 3, tags=["big"])
    cache.set("other", 4)
    assert cache.invalidate("other") == 1
    assert cache.invalidate("other") == 0
    assert cache.invalidate(lambda key: key.startswith("train:")) == 2
    assert cache.invalidate(tag="big") == 1
    assert len(cache) == 0


def test_overwriting_moves_an_entry_to_its_new_tags() -> None:
    cache = Cache()
    cache.set("a", 1, tags=["old"])
    cache.set("a", 2, tags=["new"])
    assert cache.invalidate(tag="old") == 0
    assert cache.invalidate(tag="new") == 1


def test_invalidate_counts_only_live_entries(clock: FakeClock) -> None:
    cache = Cache(clock=clock)
    cache.set("a", 1, ttl=1, tags=["t"])
    cache.set("b", 2, tags=["t"])
    clock.advance(2)
    assert cache.invalidate(tag="t") == 1
    assert cache.stats().expirations == 1


def test_a_predicate_may_use_the_cache_without_deadlocking() -> None:
    cache = Cache()
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.invalidate(lambda key: cache.get(key) == 2) == 1
    assert cache.keys() == ["a"]


def test_invalidate_needs_exactly_one_selector() -> None:
    cache = Cache()
    message = r"exactly one of them; use clear\(\) to empty the cache"
    with pytest.raises(TypeError, match=message):
        cache.invalidate()
    with pytest.raises(TypeError, match=message):
        cache.invalidate("a", tag="t")


# --- stats and validation ------------------------------------------------------------

def test_stats_are_a_frozen_snapshot_with_a_hit_rate() -> None:
    cache = Cache(maxsize=4)
    cache.set("a", 1)
    cache.get("a")
    cache.get("a")
    cache.get("b")
    stats = cache.stats()
    assert stats == CacheStats(hits=2, misses=1, evictions=0, expirations=0, size=1, maxsize=4)
    assert stats.hit_rate == pytest.approx(2 / 3)
    assert json.loads(stats.model_dump_json())["hit_rate"] == pytest.approx(2 / 3)
    assert Cache().stats().hit_rate == 0.0
    with pytest.raises(ValidationError):
        stats.hits = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"maxsize": 0}, ValueError, r"maxsize must be >= 1, got 0; use cache=False"),
        ({"maxsize": -5}, ValueError, "maxsize must be >= 1, got -5"),
        ({"maxsize": 10.0}, TypeError, "maxsize must be an int, got float"),
        ({"maxsize": True}, TypeError, "maxsize must be an int, got bool"),
        ({"ttl": 0}, ValueError, r"ttl must be > 0 seconds \(or None for no expiry\), got 0"),
        ({"ttl": -1.5}, ValueError, "ttl must be > 0 seconds"),
        ({"ttl": math.nan}, ValueError, "ttl must be > 0 seconds"),
        ({"ttl": "60"}, TypeError, "ttl must be seconds"),
        ({"clock": 3}, TypeError, "clock must be a callable"),
    ],
)
def test_bad_settings_say_what_is_wrong(
    kwargs: dict[str, Any], error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        Cache(**kwargs)


def test_clock_none_means_the_monotonic_clock() -> None:
    cache = Cache(ttl=60, clock=None)
    cache.set("a", 1)
    assert cache.get("a") == 1


def test_set_validates_ttl_and_tags() -> None:
    cache = Cache()
    with pytest.raises(ValueError, match="ttl must be > 0"):
        cache.set("a", 1, ttl=0)
    with pytest.raises(TypeError, match=r"got the string 'abc'; write tags=\['abc'\]"):
        cache.set("a", 1, tags="abc")
    with pytest.raises(TypeError, match="tags must be strings, got int 3"):
        cache.set("a", 1, tags=[3])  # type: ignore[list-item]
    assert len(cache) == 0


# --- threads -------------------------------------------------------------------------

def test_many_threads_keep_the_cache_consistent() -> None:
    cache = Cache(maxsize=50)
    gets_per_thread = 2000
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(seed: int) -> None:
        try:
            start.wait()
            for i in range(gets_per_thread):
                key = (seed * 7 + i) % 80
                cache.set(key, i, tags=[f"t{key % 3}"])
                cache.get((key + 1) % 80)
                if i % 50 == 0:
                    cache.delete(key)
                if i % 400 == 0:
                    cache.invalidate(tag="t1")
        except BaseException as exc:  # surfaced below: a thread can not fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = cache.stats()
    assert stats.hits + stats.misses == 8 * gets_per_thread
    assert stats.size == len(cache.keys()) <= 50
    assert sum(len(keys) for keys in cache._by_tag.values()) == stats.size


# --- make_key ------------------------------------------------------------------------

class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Params(BaseModel):
    lr: float
    layers: list[int]


def test_keys_are_prefixed_by_the_task_and_sha256() -> None:
    key = make_key("pkg.mod:fit", [1], {"a": 2})
    task, digest = key.rsplit(":", 1)
    assert task == "pkg.mod:fit"
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_list_or_tuple_args_and_kwarg_order_do_not_matter() -> None:
    assert make_key("t", [1, "a"], {"x": 1, "y": 2}) == make_key("t", (1, "a"), {"y": 2, "x": 1})


def test_nested_dict_order_does_not_matter() -> None:
    assert make_key("t", [{"a": 1, "b": [2]}], {}) == make_key("t", [{"b": [2], "a": 1}], {})


@pytest.mark.parametrize(
    "values",
    [
        [1, 1.0, True, "1", None, [1], (1,), {1}, b"1", Decimal("1")],
        [{"a": 1}, {"a": 1.0}, [("a", 1)]],
        [-0.0, 0.0, math.inf, -math.inf, math.nan],
        [Color.RED, "red"],
        [Point(1, 2), (1, 2), {"x": 1, "y": 2}],
    ],
)
def test_different_values_give_different_keys(values: list[Any]) -> None:
    keys = {make_key("t", [value], {}) for value in values}
    assert len(keys) == len(values)


def test_the_task_and_the_argument_position_are_part_of_the_key() -> None:
    assert make_key("a", [1], {}) != make_key("b", [1], {})
    assert make_key("t", [1, 2], {}) != make_key("t", [2, 1], {})
    assert make_key("t", [1], {}) != make_key("t", [], {"x": 1})


def test_rich_values_can_be_keyed() -> None:
    values = [
        frozenset({"x", "y"}), {"b", "a"}, b"\x00\xff", bytearray(b"ab"), 10**5000, 1 + 2j,
        dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.UTC), dt.date(2024, 1, 2), Color.RED,
        Point(1, 2), Params(lr=0.1, layers=[3, 4]), {(1, 2): "tuple key", 3: "int key"},
    ]
    assert make_key("t", values, {}) == make_key("t", list(values), {})


STABLE_SNIPPET = """
import json, sys
from godnb.utils.cache import make_key
print(make_key("t", [frozenset({"alpha", "beta", "gamma"}), {"k": {"z", "y", "x"}}],
               {"b": 2, "a": [1.5, None]}))
"""


def test_keys_are_the_same_in_other_processes_with_other_hash_seeds() -> None:
    keys = set()
    for seed in ("1", "2", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", STABLE_SNIPPET], env=env, check=True,
                             capture_output=True, text=True, timeout=60)
        keys.add(out.stdout.strip())
    local = make_key("t", [frozenset({"alpha", "beta", "gamma"}), {"k": {"z", "y", "x"}}],
                     {"b": 2, "a": [1.5, None]})
    assert keys == {local}


class Opaque:
    pass


def test_an_unkeyable_argument_is_named_with_a_fix() -> None:
    with pytest.raises(
        TypeError,
        match=r"^argument 1 \(an Opaque object\) can not be used as a cache key: .*pass JSON "
              r"data .* or set cache=False for this call$",
    ):
        make_key("t", [1, Opaque()], {})


def test_an_unkeyable_nested_value_is_located() -> None:
    with pytest.raises(
        TypeError, match=r"^keyword argument 'opts' holds an Opaque object at \[1\]\['k'\] and "
                         r"can not be used as a cache key",
    ):
        make_key("t", [], {"opts": [1, {"k": Opaque()}]})


def test_a_lock_or_a_function_can_not_be_keyed() -> None:
    with pytest.raises(TypeError, match=r"argument 0 \(a lock object\)"):
        make_key("t", [threading.Lock()], {})
    with pytest.raises(TypeError, match=r"argument 0 \(a function object\)"):
        make_key("t", [lambda: 1], {})


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="argument 0 is nested too deeply or contains itself"):
        make_key("t", [loop], {})


def test_the_task_identity_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="task_identity must be a str, got int"):
        make_key(3, [], {})  # type: ignore[arg-type]


# --- @cached -------------------------------------------------------------------------

def test_cached_calls_the_function_once_per_key() -> None:
    calls: list[int] = []

    @cached
    def square(x: int) -> int:
        calls.append(x)
        return x * x

    assert [square(3), square(3), square(4), square(x=3)] == [9, 9, 16, 9]
    assert calls == [3, 4, 3]  # x=3 as a keyword is a different call signature
    assert square.__name__ == "square"
    assert square.cache.stats().hits == 1  # type: ignore[attr-defined]


def test_cached_caches_none_but_not_exceptions() -> None:
    calls = 0

    @cached(maxsize=4)
    def flaky(fail: bool) -> None:
        nonlocal calls
        calls += 1
        if fail:
            raise RuntimeError("no")

    assert flaky(False) is None
    assert flaky(False) is None
    for _ in range(2):
        with pytest.raises(RuntimeError):
            flaky(True)
    assert calls == 3


def test_cached_async_functions_cache_the_awaited_value() -> None:
    calls = 0

    @cached
    async def fetch(x: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return {"x": x}

    async def main() -> list[dict[str, int]]:
        return [await fetch(1), await fetch(1), await fetch(2)]

    assert asyncio.run(main()) == [{"x": 1}, {"x": 1}, {"x": 2}]
    assert calls == 2
    assert asyncio.iscoroutinefunction(fetch)
    values = [entry.value for entry in fetch.cache._data.values()]  # type: ignore[attr-defined]
    assert values == [{"x": 1}, {"x": 2}]


def test_cached_shares_a_cache_with_a_ttl(clock: FakeClock) -> None:
    shared = Cache(clock=clock)
    calls: list[str] = []

    @cached(shared, ttl=5)
    def a(x: int) -> str:
        calls.append("a")
        return f"a{x}"

    @cached(shared)
    def b(x: int) -> str:
        calls.append("b")
        return f"b{x}"

    assert (a(1), b(1), a(1), b(1)) == ("a1", "b1", "a1", "b1")
    clock.advance(5)
    assert (a(1), b(1)) == ("a1", "b1")
    assert calls == ["a", "b", "a"]
    assert len(shared) == 2


def test_cached_uses_a_custom_key() -> None:
    @cached(key=lambda user, **_: user["id"])
    def profile(user: dict[str, Any], verbose: bool = False) -> str:
        return user["name"]

    assert profile({"id": 1, "name": "ann"}) == "ann"
    assert profile({"id": 1, "name": "changed"}, verbose=True) == "ann"


def test_cached_falls_back_to_hashable_objects() -> None:
    token = Opaque()

    @cached
    def describe(obj: object) -> int:
        return id(obj)

    assert describe(token) == describe(token) == id(token)


def test_cached_explains_unkeyable_unhashable_arguments() -> None:
    @cached
    def size(items: list[Any]) -> int:
        return len(items)

    with pytest.raises(TypeError, match=r"argument 0 holds an Opaque object at \[0\]") as info:
        size([Opaque()])
    assert "pass key=callable" in info.value.__notes__[-1]


def test_cached_refuses_a_cache_and_a_maxsize() -> None:
    with pytest.raises(TypeError, match="pass cache= or maxsize=, not both"):
        cached(Cache(), maxsize=3)
    with pytest.raises(TypeError, match="cache must be a godnb Cache, got dict"):
        cached({})  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        cached(maxsize=0)
    with pytest.raises(ValueError, match="ttl must be > 0"):
        cached(ttl=-1)
