"""Cache held against a plain reference model by a hypothesis state machine.

The model is a dict of entries, a list for recency (least recent first) and expiry times
on a fake clock; every rule applies the documented semantics to the model and to the
cache, and the invariants compare what both say.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from godnb.utils.cache import Cache

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
TAGS = st.frozensets(st.sampled_from(["x", "y"]), max_size=2)
TTLS = st.sampled_from([None, 0.5, 1.0, 3.0, math.inf])
MAXSIZE = 3
DEFAULT_TTL = 2.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ModelEntry:
    value: int
    expires_at: float | None
    tags: frozenset[str]


@dataclass
class Model:
    entries: dict[str, ModelEntry] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # least recently used first
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    expirations: int = 0

    def expired(self, key: str, now: float) -> bool:
        deadline = self.entries[key].expires_at
        return deadline is not None and now >= deadline

    def remove(self, key: str) -> None:
        del self.entries[key]
        self.order.remove(key)

    def live(self, key: str, now: float) -> bool:
        """Like a lookup: an expired entry is dropped and counted."""
        if key not in self.entries:
            return False
        if self.expired(key, now):
            self.remove(key)
            self.expirations += 1
            return False
        return True

    def purge(self, now: float) -> None:
        for key in [k for k in self.order if self.expired(k, now)]:
            self.remove(key)
            self.expirations += 1


class CacheMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.cache = Cache(maxsize=MAXSIZE, ttl=DEFAULT_TTL, clock=self.clock)
        self.model = Model()
        self.counter = 0

    @rule(key=KEYS, ttl=TTLS, tags=TAGS)
    def set(self, key: str, ttl: float | None, tags: frozenset[str]) -> None:
        self.counter += 1
        self.cache.set(key, self.counter, ttl=ttl, tags=tags)
        model, now = self.model, self.clock.now
        model.purge(now)
        if key in model.entries:
            model.remove(key)
        life = DEFAULT_TTL if ttl is None else ttl
        model.entries[key] = ModelEntry(self.counter, None if life == math.inf else now + life,
                                        tags)
        model.order.append(key)
        while len(model.order) > MAXSIZE:
            model.remove(model.order[0])
            model.evictions += 1

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        model = self.model
        expected = None
        if model.live(key, self.clock.now):
            model.hits += 1
            model.order.remove(key)
            model.order.append(key)
            expected = model.entries[key].value
        else:
            model.misses += 1
        assert self.cache.get(key, default=None) == expected

    @rule(key=KEYS)
    def contains(self, key: str) -> None:
        assert (key in self.cache) == self.model.live(key, self.clock.now)

    @rule(key=KEYS)
    def delete(self, key: str) -> None:
        found = self.model.live(key, self.clock.now)
        if found:
            self.model.remove(key)
        assert self.cache.delete(key) is found

    @rule(tag=st.sampled_from(["x", "y"]))
    def invalidate_tag(self, tag: str) -> None:
        model, now = self.model, self.clock.now
        removed = 0
        for key in [k for k in model.order if tag in model.entries[k].tags]:
            if model.live(key, now):
                model.remove(key)
                removed += 1
        assert self.cache.invalidate(tag=tag) == removed

    @rule(chosen=st.frozensets(KEYS, max_size=3))
    def invalidate_predicate(self, chosen: frozenset[str]) -> None:
        model, now = self.model, self.clock.now
        removed = 0
        for key in [k for k in model.order if k in chosen]:
            if model.live(key, now):
                model.remove(key)
                removed += 1
        assert self.cache.invalidate(lambda key: key in chosen) == removed

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0, 2.0, 5.0]))
    def advance(self, seconds: float) -> None:
        self.clock.now += seconds

    @precondition(lambda self: self.model.order)
    @rule()
    def clear(self) -> None:
        self.cache.clear()
        self.model.entries.clear()
        self.model.order.clear()

    @rule()
    def length(self) -> None:
        self.model.purge(self.clock.now)
        assert len(self.cache) == len(self.model.order)

    @rule()
    def stats(self) -> None:
        self.model.purge(self.clock.now)
        stats, model = self.cache.stats(), self.model
        assert (stats.hits, stats.misses, stats.evictions, stats.expirations, stats.size) == (
            model.hits, model.misses, model.evictions, model.expirations, len(model.order))

    @invariant()
    def same_live_keys_in_lru_order(self) -> None:
        now = self.clock.now
        live = [k for k in self.model.order if not self.model.expired(k, now)]
        assert self.cache.keys() == live

    @invariant()
    def never_above_maxsize(self) -> None:
        assert len(self.cache.keys()) <= MAXSIZE


CacheMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                          deadline=None)
TestCacheAgainstModel = CacheMachine.TestCase
