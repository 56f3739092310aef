"""A thread-safe LRU cache with per-entry TTL and tags, ``@cached``, and stable keys.

:class:`Cache` is what ``god.Engine(cache=...)`` memoizes results in; :func:`make_key`
turns a task identity plus its arguments into a key that is the same in every process
and on every run, so a cache shared through a store stays valid across restarts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import hashlib
import heapq
import inspect
import json
import math
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import PurePath
from typing import Any, Final, ParamSpec, TypeVar, overload

from pydantic import BaseModel, ConfigDict, computed_field

__all__ = ["Cache", "CacheStats", "cached", "make_key"]

P = ParamSpec("P")
R = TypeVar("R")


class _Missing(enum.Enum):
    MISSING = enum.auto()


# A private sentinel, so that None (or any user value) can be cached and found.
_MISSING: Final = _Missing.MISSING


class CacheStats(BaseModel):
    """A frozen snapshot of a :class:`Cache`'s counters.

    ``evictions`` counts entries pushed out by ``maxsize``; ``expirations`` counts entries
    dropped because their TTL ran out. Removals by ``delete``/``invalidate``/``clear``
    count in neither.

    Example:
        >>> CacheStats(hits=3, misses=1, evictions=0, expirations=0, size=2, maxsize=8).hit_rate
        0.75
    """

    model_config = ConfigDict(frozen=True)

    hits: int
    misses: int
    evictions: int
    expirations: int
    size: int
    maxsize: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def hit_rate(self) -> float:
        """Hits over lookups, 0.0 before the first lookup."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


@dataclasses.dataclass(slots=True)
class _Entry:
    value: Any
    expires_at: float | None
    tags: frozenset[str]
    version: int  # matches the heap item pushed for this entry; older items are stale


class Cache:
    """Thread-safe LRU cache with an optional time-to-live per entry, and tags.

    Args:
        maxsize: Most entries kept; the least recently used goes first (>= 1).
        ttl: Default seconds an entry lives, or None to keep entries until evicted.
        clock: Monotonic clock in seconds; pass a fake one in tests.

    Expired entries are dropped lazily: on lookup, and on every ``set``, ``len()`` and
    ``stats()``, in expiry order, so a full cache sheds dead entries before live ones.

    Example:
        >>> cache = Cache(maxsize=2)
        >>> cache.set("a", 1); cache.set("b", None, tags=["model"])
        >>> cache.get("b", default="missing") is None   # None is a value, not a miss
        True
        >>> cache.invalidate(tag="model"), "b" in cache
        (1, False)
    """

    def __init__(
        self, maxsize: int = 1024, ttl: float | None = None,
        clock: Callable[[], float] | None = time.monotonic,
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"maxsize must be an int, got {type(maxsize).__name__} {maxsize!r}")
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}; use cache=False to disable "
                             f"caching instead of an empty cache")
        _check_ttl(ttl)
        if clock is None:  # SPEC spells the default clock=None
            clock = time.monotonic
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self.maxsize = maxsize
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._by_tag: dict[str, set[Hashable]] = {}
        self._expiry_heap: list[tuple[float, int, Hashable]] = []
        self._version = 0
        self._lock = threading.Lock()
        self._hits = self._misses = self._evictions = self._expirations = 0

    def __repr__(self) -> str:
        return f"Cache(maxsize={self.maxsize}, ttl={self.ttl}, size={len(self._data)})"

    def __len__(self) -> int:
        with self._lock:
            self._purge_expired(self._clock())
            return len(self._data)

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` holds a live entry; counts no hit or miss, keeps LRU order."""
        with self._lock:
            return self._live_entry(key) is not None

    def keys(self) -> list[Hashable]:
        """The live keys, least recently used first (the next to be evicted leads).

        A read-only look: it counts no hit or miss and drops nothing.

        Example:
            >>> cache = Cache(); cache.set("a", 1); cache.set("b", 2); cache.get("a")
            1
            >>> cache.keys()
            ['b', 'a']
        """
        with self._lock:
            now = self._clock()
            return [key for key, entry in self._data.items()
                    if entry.expires_at is None or now < entry.expires_at]

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value under ``key``, or ``default`` when it is missing or expired.

        Example:
            >>> Cache().get("nope", default=0)
            0
        """
        with self._lock:
            entry = self._live_entry(key)
            if entry is None:
                self._misses += 1
                return default
            self._hits += 1
            self._data.move_to_end(key)
            return entry.value

    def set(
        self, key: Hashable, value: Any, ttl: float | None = None, tags: Iterable[str] = (),
    ) -> None:
        """Store ``value`` under ``key`` as the most recently used entry.

        Args:
            key: Any hashable key.
            value: Anything, None included.
            ttl: Seconds this entry lives; None uses the cache's ``ttl``; ``math.inf``
                keeps it until evicted even when the cache has a default ``ttl``.
            tags: Labels for :meth:`invalidate` (``tag=...``).

        Example:
            >>> cache = Cache(ttl=60)
            >>> cache.set("config", {"a": 1}, ttl=math.inf, tags=["config"])
        """
        _check_ttl(ttl)
        tag_set = _check_tags(tags)
        with self._lock:
            now = self._clock()
            self._purge_expired(now)
            self._remove(key)
            self._insert(key, value, self._expiry(now, ttl), tag_set)
            while len(self._data) > self.maxsize:
                self._remove(next(iter(self._data)))
                self._evictions += 1

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True when a live entry was there.

        Example:
            >>> Cache().delete("nope")
            False
        """
        with self._lock:
            found = self._live_entry(key) is not None
            self._remove(key)
            return found

    def invalidate(
        self, key_or_predicate: Hashable | Callable[[Any], bool] = _MISSING, *,
        tag: str | None = None,
    ) -> int:
        """Remove one key, every key a predicate accepts, or every entry with ``tag``.

        A callable argument is always taken as a predicate ``callable(key) -> bool``; to
        remove a key that is itself callable, use :meth:`delete`. The predicate runs
        outside the lock, so it may use the cache.

        Returns:
            How many live entries were removed.

        Example:
            >>> cache = Cache()
            >>> for name in ("train:1", "train:2", "eval:1"):
            ...     cache.set(name, 0)
            >>> cache.invalidate(lambda key: key.startswith("train:"))
            2
        """
        if (key_or_predicate is _MISSING) == (tag is None):
            raise TypeError("invalidate() takes a key, a predicate or tag=..., exactly one "
                            "of them; use clear() to empty the cache")
        if tag is not None:
            with self._lock:
                return self._remove_live(list(self._by_tag.get(tag, ())))
        if callable(key_or_predicate):
            with self._lock:
                keys = list(self._data)
            matched = [key for key in keys if key_or_predicate(key)]
            with self._lock:
                return self._remove_live(matched)
        return int(self.delete(key_or_predicate))

    def clear(self) -> None:
        """Remove every entry; the counters in :meth:`stats` keep their values."""
        with self._lock:
            self._data.clear()
            self._by_tag.clear()
            self._expiry_heap.clear()

    def stats(self) -> CacheStats:
        """A frozen snapshot of the counters and the current size.

        Example:
            >>> Cache(maxsize=4).stats().maxsize
            4
        """
        with self._lock:
            self._purge_expired(self._clock())
            return CacheStats(
                hits=self._hits, misses=self._misses, evictions=self._evictions,
                expirations=self._expirations, size=len(self._data), maxsize=self.maxsize,
            )

    # --- internals; every one runs with the lock held ---------------------------------

    def _expiry(self, now: float, ttl: float | None) -> float | None:
        ttl = self.ttl if ttl is None else ttl
        return None if ttl is None or ttl == math.inf else now + ttl

    def _insert(
        self, key: Hashable, value: Any, expires_at: float | None, tags: frozenset[str],
    ) -> None:
        self._version += 1
        self._data[key] = _Entry(value, expires_at, tags, self._version)
        for tag in tags:
            self._by_tag.setdefault(tag, set()).add(key)
        if expires_at is not None:
            heapq.heappush(self._expiry_heap, (expires_at, self._version, key))
            self._compact_heap()

    def _remove(self, key: Hashable) -> _Entry | None:
        entry = self._data.pop(key, None)
        if entry is not None:
            for tag in entry.tags:
                keys = self._by_tag[tag]
                keys.discard(key)
                if not keys:
                    del self._by_tag[tag]
        return entry

    def _remove_live(self, keys: Iterable[Hashable]) -> int:
        removed = 0
        for key in keys:
            if self._live_entry(key) is not None:
                self._remove(key)
                removed += 1
        return removed

    def _live_entry(self, key: Hashable) -> _Entry | None:
        """The entry under ``key``, dropping it (an expiration) when its time is up."""
        entry = self._data.get(key)
        if entry is None or entry.expires_at is None or self._clock() < entry.expires_at:
            return entry
        self._remove(key)
        self._expirations += 1
        return None

    def _purge_expired(self, now: float) -> None:
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            _, version, key = heapq.heappop(heap)
            entry = self._data.get(key)
            if entry is not None and entry.version == version:
                self._remove(key)
                self._expirations += 1

    def _compact_heap(self) -> None:
        # Overwritten and deleted entries leave stale heap items until their time comes;
        # rebuild when they dominate, so churn under a long TTL can not grow the heap.
        if len(self._expiry_heap) <= 2 * len(self._data) + 64:
            return
        self._expiry_heap = [
            (entry.expires_at, entry.version, key) for key, entry in self._data.items()
            if entry.expires_at is not None
        ]
        heapq.heapify(self._expiry_heap)


def _check_ttl(ttl: float | None) -> None:
    if ttl is None:
        return
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise TypeError(f"ttl must be seconds (a number) or None, got {type(ttl).__name__}")
    if math.isnan(ttl) or ttl <= 0:
        raise ValueError(f"ttl must be > 0 seconds (or None for no expiry), got {ttl!r}")


def _check_tags(tags: Iterable[str]) -> frozenset[str]:
    if isinstance(tags, str):
        raise TypeError(f"tags must be a collection of strings, got the string {tags!r}; "
                        f"write tags=[{tags!r}]")
    tag_set = frozenset(tags)
    for tag in tag_set:
        if not isinstance(tag, str):
            raise TypeError(f"tags must be strings, got {type(tag).__name__} {tag!r}")
    return tag_set


# --- stable keys ---------------------------------------------------------------------

class _Unkeyable(Exception):
    """Internal: a value with no stable encoding; ``path`` grows as it unwinds."""

    def __init__(self, value: object, reason: str = "") -> None:
        super().__init__()
        self.value = value
        self.reason = reason
        self.path = ""


_INT_DIGITS_SAFE = 4000  # int <-> str conversion refuses > 4300 digits since 3.11


def _encode(value: Any) -> Any:
    """A JSON-able, type-tagged canonical form of ``value``.

    Containers are tagged (``["l", ...]`` for a list, ``["t", ...]`` for a tuple) so that
    ``[1]``, ``(1,)`` and ``{1}`` never share a key; scalars stay bare because JSON already
    tells ``1``, ``1.0``, ``"1"`` and ``true`` apart. Sets and dicts are sorted by the JSON
    of their encoded items, not by ``hash()``, which varies between processes for strings.
    """
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if value.bit_length() < _INT_DIGITS_SAFE else ["int", hex(value)]
    if type(value) is float:
        return value if math.isfinite(value) else ["float", repr(value)]
    if isinstance(value, enum.Enum):
        return ["enum", _type_name(value), _encode(value.value)]
    if type(value) in (list, tuple):
        return ["l" if type(value) is list else "t", _encode_items(value)]
    if isinstance(value, dict):
        return ["d", _sorted_pairs(value)]
    if isinstance(value, set | frozenset):
        return ["s", sorted(_encode_items(value), key=_dumps)]
    return _encode_other(value)


def _encode_other(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return ["b", bytes(value).hex()]
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple
        return ["nt", _type_name(value), _encode_items(value)]
    if isinstance(value, Decimal | Fraction | complex | uuid.UUID | PurePath):
        return [type(value).__name__, str(value)]
    if isinstance(value, dt.date | dt.time | dt.timedelta):
        return [type(value).__name__, str(value)]
    if isinstance(value, BaseModel):
        return ["model", _type_name(value), _encode(value.model_dump(mode="python"))]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return ["dc", _type_name(value), _encode(fields)]
    for base in (int, float, str):  # subclasses: keep the class in the key
        if isinstance(value, base):
            return ["sub", _type_name(value), _encode(base(value))]
    raise _Unkeyable(value)


def _encode_items(items: Iterable[Any]) -> list[Any]:
    encoded = []
    for index, item in enumerate(items):
        try:
            encoded.append(_encode(item))
        except _Unkeyable as exc:
            exc.path = f"[{index}]{exc.path}"
            raise
    return encoded


def _sorted_pairs(mapping: Mapping[Any, Any]) -> list[Any]:
    pairs = []
    for key, item in mapping.items():
        try:
            pairs.append([_encode(key), _encode(item)])
        except _Unkeyable as exc:
            exc.path = f"[{key!r}]{exc.path}"
            raise
    return sorted(pairs, key=lambda pair: _dumps(pair[0]))


def _type_name(value: object) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _dumps(encoded: Any) -> str:
    return json.dumps(encoded, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _describe(value: object) -> str:
    name = type(value).__name__
    return f"an {name} object" if name[:1].lower() in "aeiou" else f"a {name} object"


def make_key(task_identity: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """A cache key for calling ``task_identity`` with ``args`` and ``kwargs``.

    The key is the same in every process and on every run: it is
    ``"<task_identity>:<sha256 hex>"`` over a canonical, type-tagged JSON form of the
    arguments (dict keys and set members sorted, never ``hash()``-ordered). JSON data,
    tuples, sets, bytes, numbers (int, float, Decimal, Fraction, complex), enums, dates,
    UUIDs, paths, dataclasses and pydantic models can be keyed. Because the task comes
    first, ``cache.invalidate(lambda k: k.startswith("mytask:"))`` drops one task's
    entries. ``args`` may be a list or a tuple: both give the same key.

    Raises:
        TypeError: An argument (or something inside it) has no stable form, such as a
            file, a lock or an object with only an identity.

    Example:
        >>> make_key("math:sqrt", [4], {}) == make_key("math:sqrt", (4,), {})
        True
        >>> make_key("math:sqrt", [4], {}).startswith("math:sqrt:")
        True
    """
    if not isinstance(task_identity, str):
        raise TypeError(f"task_identity must be a str, got {type(task_identity).__name__}")
    parts = ["godnb-key/1", task_identity,
             [_encode_argument(f"argument {i}", a) for i, a in enumerate(args)],
             [[name, _encode_argument(f"keyword argument {name!r}", kwargs[name])]
              for name in sorted(kwargs)]]
    digest = hashlib.sha256(_dumps(parts).encode("ascii")).hexdigest()
    return f"{task_identity}:{digest}"


def _encode_argument(label: str, value: Any) -> Any:
    try:
        return _encode(value)
    except _Unkeyable as exc:
        inner = f" holds {_describe(exc.value)} at {exc.path} and" if exc.path else ""
        what = "" if exc.path else f" ({_describe(value)})"
        raise TypeError(
            f"{label}{what}{inner} can not be used as a cache key: it has no stable value "
            f"across processes; pass JSON data (str, int, float, bool, None, list, dict) "
            f"instead, or set cache=False for this call"
        ) from None
    except RecursionError:
        raise TypeError(f"{label} is nested too deeply or contains itself, so it can not "
                        f"be used as a cache key; set cache=False for this call") from None


# --- the decorator -------------------------------------------------------------------

KeyFunc = Callable[..., Hashable]


@overload
def cached(cache: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def cached(
    cache: Cache | None = None, /, *, maxsize: int | None = ..., ttl: float | None = ...,
    key: KeyFunc | None = ...,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def cached(
    cache: Cache | Callable[P, R] | None = None, /, *, maxsize: int | None = None,
    ttl: float | None = None, key: KeyFunc | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Memoize a sync or async function in a :class:`Cache`.

    Args:
        cache: A cache to share; by default each function gets its own
            ``Cache(maxsize, ttl)`` with maxsize 1024 unless given.
        maxsize: Size of the function's own cache (not with ``cache=``).
        ttl: Seconds a result lives (with ``cache=``, per entry; else the cache default).
        key: ``key(*args, **kwargs) -> hashable``; by default :func:`make_key` over the
            function's module and qualname, falling back to a hashable tuple of the
            arguments for objects that are hashable but have no stable form.

    Async functions cache the awaited result, never the coroutine. Exceptions are not
    cached. Two threads that miss on the same key at once both call the function (the
    cache never blocks a caller on another's work). The wrapper exposes ``.cache``.

    Example:
        >>> @cached(maxsize=128)
        ... def square(x):
        ...     return x * x
        >>> square(3), square(3), square.cache.stats().hits
        (9, 9, 1)
    """
    if callable(cache) and not isinstance(cache, Cache):
        return cached()(cache)
    if cache is not None and maxsize is not None:
        raise TypeError("pass cache= or maxsize=, not both: maxsize sizes a new cache")
    if cache is not None and not isinstance(cache, Cache):
        raise TypeError(f"cache must be a godnb Cache, got {type(cache).__name__}")
    _check_ttl(ttl)
    store = cache if cache is not None else Cache(1024 if maxsize is None else maxsize, ttl)
    entry_ttl = ttl if cache is not None else None
    return functools.partial(_decorate, store=store, ttl=entry_ttl, key=key)


def _decorate(
    func: Callable[P, R], *, store: Cache, ttl: float | None, key: KeyFunc | None,
) -> Callable[P, R]:
    identity = f"{func.__module__}.{func.__qualname__}"
    make = functools.partial(_default_key, identity) if key is None else key
    if inspect.iscoroutinefunction(func):
        return _async_cached(func, store, ttl, make)  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        cache_key = make(*args, **kwargs)
        value = store.get(cache_key, _MISSING)
        if value is _MISSING:
            value = func(*args, **kwargs)
            store.set(cache_key, value, ttl=ttl)
        return value  # type: ignore[no-any-return]

    wrapper.cache = store  # type: ignore[attr-defined]
    return wrapper


def _async_cached(
    func: Callable[P, Any], store: Cache, ttl: float | None, make: KeyFunc,
) -> Callable[P, Any]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        cache_key = make(*args, **kwargs)
        value = store.get(cache_key, _MISSING)
        if value is _MISSING:
            value = await func(*args, **kwargs)
            store.set(cache_key, value, ttl=ttl)
        return value

    wrapper.cache = store  # type: ignore[attr-defined]
    return wrapper


def _default_key(identity: str, *args: Any, **kwargs: Any) -> Hashable:
    try:
        return make_key(identity, args, kwargs)
    except TypeError as exc:
        fallback = (identity, args, tuple(sorted(kwargs.items())))
        try:
            hash(fallback)
        except TypeError:
            exc.add_note("@cached: or pass key=callable(*args, **kwargs) -> hashable")
            raise exc from None
        return fallback
