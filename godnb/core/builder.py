"""The fluent job builder: ``eng.job(fn, x).priority(5).retries(3).on("process").submit()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from godnb.core.submission import OPTION_NAMES
from godnb.utils.naming import callable_name
from godnb.utils.retry import RetryPolicy

if TYPE_CHECKING:
    from godnb.core.engine import Engine
    from godnb.core.handles import JobHandle

__all__ = ["JobBuilder"]


class JobBuilder:
    """Fluent job options: ``eng.job(fn, x).priority(5).retries(3).on("process").submit()``."""

    def __init__(self, engine: Engine, fn: Callable[..., Any] | str, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
        self._engine = engine
        self._fn = fn
        self._args = args
        self._kwargs = kwargs
        self._options: dict[str, Any] = {}

    def _set(self, **options: Any) -> JobBuilder:
        self._options.update(options)
        return self

    def priority(self, priority: int) -> JobBuilder:
        """Higher runs first."""
        return self._set(priority=priority)

    def retries(self, retries: int | RetryPolicy, backoff: float | None = None,
                **policy: Any) -> JobBuilder:
        """Attempts allowed after the first; ``backoff`` seconds before the first retry,
        doubling each time (``factor=``, ``max_delay=``, ``jitter=`` also accepted)."""
        if isinstance(retries, RetryPolicy):
            return self._set(retries=retries)
        if backoff is None and not policy:
            return self._set(retries=retries)
        return self._set(retries=RetryPolicy(max_retries=retries, backoff=backoff or 0.0,
                                             **policy))

    def timeout(self, seconds: float) -> JobBuilder:
        """Fail an attempt that runs longer (kills process jobs, cancels async ones)."""
        return self._set(timeout=seconds)

    def on(self, backend: str) -> JobBuilder:
        """Run on this backend: ``"thread"``, ``"process"``, ``"async"``, ``"inline"``..."""
        return self._set(backend=backend)

    def group(self, group: str) -> JobBuilder:
        """The submitter (user, notebook, tenant) for fair turns at equal priority."""
        return self._set(group=group)

    def name(self, name: str) -> JobBuilder:
        return self._set(name=name)

    def tags(self, *tags: str) -> JobBuilder:
        return self._set(tags=tags)

    def cache(self, enabled: bool = True) -> JobBuilder:
        """Reuse the result of an earlier identical call from the engine's cache."""
        return self._set(cache=enabled)

    def key(self, key: str) -> JobBuilder:
        """Replace the unfinished jobs of an earlier run with this key (the latest wins)."""
        return self._set(key=key)

    def submit(self) -> JobHandle:
        """Queue the job; returns its handle."""
        options = {k: self._options.get(k) for k in OPTION_NAMES}
        return self._engine._submit(self._fn, [(self._args, self._kwargs)], options)[0]

    def __repr__(self) -> str:
        return f"<JobBuilder {callable_name(self._fn)} {self._options}>"
