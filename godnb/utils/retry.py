"""Retry policies, error classification and the ``@retry`` decorator.

A :class:`RetryPolicy` answers two questions for the engine: *should this failure be
retried?* (:meth:`RetryPolicy.should_retry`) and *how long to wait first?*
(:meth:`RetryPolicy.delay`). :func:`classify` holds the rules that decide whether an
exception is worth another attempt at all; :func:`retry` wraps a plain function (sync or
async) with the same policy, for use outside the engine.

Attempts are counted from 1: after the first run fails, ``should_retry(exc, 1)`` decides
and ``delay(1)`` is the wait before the first retry.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import inspect
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeAlias, TypeVar, overload

from godnb.errors import FatalError, JobCancelled, RetryableError, WorkerDied

__all__ = [
    "TRANSIENT_ERRNOS",
    "ExceptionMatcher",
    "RetryPolicy",
    "classify",
    "retry",
]

P = ParamSpec("P")
R = TypeVar("R")

ExceptionMatcher: TypeAlias = (
    type[BaseException]
    | tuple[type[BaseException], ...]
    | Callable[[BaseException], bool]
    | None
)
"""What ``retry_on`` / ``give_up_on`` accept: a type, a tuple of types or a predicate."""

TRANSIENT_ERRNOS: frozenset[int] = frozenset(
    getattr(errno, name)
    for name in (
        "EAGAIN", "EWOULDBLOCK", "EINTR", "EBUSY", "ETIMEDOUT", "ECONNRESET",
        "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ENETDOWN", "ENETUNREACH", "ENETRESET",
        "EHOSTDOWN", "EHOSTUNREACH", "EINPROGRESS", "EALREADY", "ENOBUFS", "ESTALE",
        "EDEADLK", "ETXTBSY",
    )
    if hasattr(errno, name)  # Windows lacks a few of these names.
)
"""``OSError.errno`` values that describe a passing condition, so a retry can succeed."""

# Deterministic failures: running the same code on the same input fails the same way.
_PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError, NameError, AttributeError, ImportError, SyntaxError, AssertionError,
    LookupError, ValueError, ArithmeticError, NotImplementedError, RecursionError,
    MemoryError,
)
_ALWAYS_TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError, ConnectionError, BlockingIOError, InterruptedError, WorkerDied,
)
_log = logging.getLogger("godnb.retry")


def classify(
    exc: BaseException,
    *,
    retry_on: ExceptionMatcher = None,
    give_up_on: ExceptionMatcher = None,
) -> bool:
    """Whether ``exc`` is worth another attempt (True) or final (False).

    The rules, first match wins:

    1. :class:`~godnb.errors.FatalError` never retries and
       :class:`~godnb.errors.RetryableError` always does: the code that raised them knows
       best, so they beat every other rule.
    2. ``give_up_on`` matches: no retry.
    3. ``retry_on`` is given: retry exactly when it matches. It *replaces* the default
       rules, as in tenacity or Celery's ``autoretry_for``.
    4. Defaults:

       - ``BaseException`` that is not an ``Exception`` (``KeyboardInterrupt``,
         ``SystemExit``, ``asyncio.CancelledError``) and
         :class:`~godnb.errors.JobCancelled`: no retry, they are requests to stop.
       - ``TimeoutError`` (so :class:`~godnb.errors.JobTimeout` too), ``ConnectionError``,
         :class:`~godnb.errors.WorkerDied`: retry.
       - ``OSError`` with an ``errno`` in :data:`TRANSIENT_ERRNOS` (EAGAIN, EINTR, EBUSY,
         ETIMEDOUT, ECONNRESET, ...): retry; with any other errno (ENOENT, EACCES, ...):
         no retry, the same call would fail the same way.
       - Programming errors (``TypeError``, ``NameError``, ``AttributeError``,
         ``ImportError``, ``SyntaxError``, ``AssertionError``, ``KeyError``,
         ``IndexError``, ``ValueError``, ``ZeroDivisionError``, ...): no retry.
       - **Any other ``Exception``** (``RuntimeError``, ``Exception``, your own error
         classes): retry. Whoever wrote ``retries=3`` asked for retries, and a failure we
         can not prove deterministic may well pass next time.

    Args:
        exc: The exception an attempt raised.
        retry_on: Exception types or a predicate; when given, only matches retry.
        give_up_on: Exception types or a predicate; matches never retry.

    Returns:
        True when another attempt may succeed.

    Example:
        >>> classify(ConnectionResetError()), classify(KeyError("x"))
        (True, False)
        >>> classify(KeyError("x"), retry_on=KeyError)
        True
    """
    if isinstance(exc, FatalError):
        return False
    if isinstance(exc, RetryableError):
        return True
    if _matches(give_up_on, exc):
        return False
    if retry_on is not None:
        return _matches(retry_on, exc)
    return _default_classification(exc)


def _default_classification(exc: BaseException) -> bool:
    if not isinstance(exc, Exception) or isinstance(exc, JobCancelled):
        return False
    if isinstance(exc, _ALWAYS_TRANSIENT):
        return True
    if isinstance(exc, OSError) and exc.errno is not None:
        return exc.errno in TRANSIENT_ERRNOS
    return not isinstance(exc, _PROGRAMMING_ERRORS)


def _matches(matcher: ExceptionMatcher, exc: BaseException) -> bool:
    if matcher is None:
        return False
    if isinstance(matcher, type | tuple):
        return isinstance(exc, matcher)
    return bool(matcher(exc))


def _check_matcher(name: str, matcher: object) -> None:
    if matcher is None or _is_exception_type(matcher):
        return
    if isinstance(matcher, tuple):
        if all(_is_exception_type(item) for item in matcher):
            return
    elif callable(matcher):
        return
    raise TypeError(
        f"{name} must be an exception type, a tuple of exception types or a predicate "
        f"callable(exc) -> bool, got {matcher!r}; e.g. {name}=(ConnectionError, TimeoutError)"
    )


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _check_number(name: str, value: object, *, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if math.isnan(value) or not low <= value <= high:
        bound = f"between {low} and {high}" if high != math.inf else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how soon to retry a failing call.

    The wait before retry ``n`` is ``backoff * factor ** (n - 1)``, capped at
    ``max_delay``, then moved by up to ``±jitter`` of itself (never above ``max_delay``
    nor below 0). Jitter draws from ``rng``, or from ``random.Random(seed)``, so a seeded
    policy waits the same way on every run.

    Args:
        max_retries: Attempts allowed after the first (0 = never retry).
        backoff: Seconds to wait before the first retry.
        factor: Growth of the wait per retry (>= 1; 1 keeps it constant).
        max_delay: Ceiling on any single wait, in seconds.
        jitter: Fraction 0..1 of random spread, so many clients do not retry in step.
        retry_on: When given, only matching errors retry (see :func:`classify`).
        give_up_on: Matching errors never retry.
        clock: Monotonic clock in seconds, for :meth:`next_attempt_at`.
        rng: Source of jitter; must have ``uniform(a, b)``.
        seed: Seed for a private ``random.Random`` when no ``rng`` is given.

    Example:
        >>> policy = RetryPolicy(max_retries=3, backoff=0.5, max_delay=1.5)
        >>> [policy.delay(n) for n in (1, 2, 3)]
        [0.5, 1.0, 1.5]
        >>> policy.should_retry(ConnectionError(), 3), policy.should_retry(ConnectionError(), 4)
        (True, False)
    """

    max_retries: int = 0
    backoff: float = 0.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.0
    retry_on: ExceptionMatcher = None
    give_up_on: ExceptionMatcher = None
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)
    rng: random.Random | None = field(default=None, compare=False, repr=False)
    seed: int | None = None
    _rng: random.Random = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0 (0 = no retries), got {self.max_retries}")
        _check_number("backoff", self.backoff, low=0.0)
        _check_number("factor", self.factor, low=1.0)
        _check_number("max_delay", self.max_delay, low=0.0)
        _check_number("jitter", self.jitter, low=0.0, high=1.0)
        _check_matcher("retry_on", self.retry_on)
        _check_matcher("give_up_on", self.give_up_on)
        if not callable(self.clock):
            raise TypeError(f"clock must be a callable returning seconds, got {self.clock!r}")
        object.__setattr__(self, "_rng", self._make_rng())

    def _make_rng(self) -> random.Random:
        if self.rng is not None and self.seed is not None:
            raise ValueError("pass rng= or seed=, not both: seed only seeds a fresh random.Random")
        if self.rng is not None:
            if not callable(getattr(self.rng, "uniform", None)):
                raise TypeError(f"rng must have a uniform(a, b) method, got {self.rng!r}")
            return self.rng
        return random.Random(self.seed)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = the first retry).

        Example:
            >>> RetryPolicy(backoff=1.0, factor=3.0).delay(3)
            9.0
        """
        if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
            raise ValueError(f"attempt counts from 1 (the first retry), got {attempt!r}")
        try:
            base = min(self.backoff * self.factor ** (attempt - 1), self.max_delay)
        except OverflowError:  # factor ** attempt past float range: certainly past the cap
            base = self.max_delay
        if not self.jitter or not base:
            return float(base)
        spread = self.jitter * base
        return min(max(base + self._rng.uniform(-spread, spread), 0.0), self.max_delay)

    def classify(self, exc: BaseException) -> bool:
        """:func:`classify` with this policy's ``retry_on`` and ``give_up_on``.

        Example:
            >>> RetryPolicy(give_up_on=ConnectionError).classify(ConnectionError())
            False
        """
        return classify(exc, retry_on=self.retry_on, give_up_on=self.give_up_on)

    def should_retry(self, exc: BaseException, attempt: int) -> bool:
        """Whether to retry after attempt number ``attempt`` (1 = the first run) raised ``exc``.

        Example:
            >>> RetryPolicy(max_retries=1).should_retry(TimeoutError(), 1)
            True
        """
        return attempt <= self.max_retries and self.classify(exc)

    def next_attempt_at(self, attempt: int) -> float:
        """The ``clock`` time at which retry number ``attempt`` may start.

        Example:
            >>> RetryPolicy(backoff=2.0, clock=lambda: 100.0).next_attempt_at(1)
            102.0
        """
        return self.clock() + self.delay(attempt)


# --- the decorator -------------------------------------------------------------------

@overload
def retry(func: Callable[P, R], /) -> Callable[P, R]: ...
@overload
def retry(
    func: None = None, /, *, max_retries: int | None = ..., backoff: float | None = ...,
    factor: float | None = ..., max_delay: float | None = ..., jitter: float | None = ...,
    retry_on: ExceptionMatcher = ..., give_up_on: ExceptionMatcher = ...,
    seed: int | None = ..., rng: random.Random | None = ..., policy: RetryPolicy | None = ...,
    sleep: Callable[[float], Any] | None = ...,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def retry(
    func: Callable[P, R] | None = None, /, *, max_retries: int | None = None,
    backoff: float | None = None, factor: float | None = None,
    max_delay: float | None = None, jitter: float | None = None,
    retry_on: ExceptionMatcher = None, give_up_on: ExceptionMatcher = None,
    seed: int | None = None, rng: random.Random | None = None,
    policy: RetryPolicy | None = None, sleep: Callable[[float], Any] | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Retry a sync or async function on failure, following a :class:`RetryPolicy`.

    Pass either ``policy=`` or the policy's settings (``max_retries`` defaults to 3 here).
    Async functions wait with ``asyncio.sleep``, sync ones with ``time.sleep``; ``sleep=``
    replaces either (it may return an awaitable), so tests need not wait.

    When the last attempt fails, its exception is raised with the history attached:
    ``exc.attempt_errors`` lists every attempt's exception in order (the raised one last),
    and one ``exc.__notes__`` line per earlier attempt shows up in the traceback. Errors
    that :func:`classify` calls final are raised at once, history included.

    Example:
        >>> calls = []
        >>> @retry(max_retries=2, sleep=lambda s: None)
        ... def flaky():
        ...     calls.append(1)
        ...     if len(calls) < 3:
        ...         raise ConnectionError("try again")
        ...     return "ok"
        >>> flaky(), len(calls)
        ('ok', 3)
    """
    settings: dict[str, Any] = {
        "max_retries": max_retries, "backoff": backoff, "factor": factor,
        "max_delay": max_delay, "jitter": jitter, "retry_on": retry_on,
        "give_up_on": give_up_on, "seed": seed, "rng": rng,
    }
    given = {name: value for name, value in settings.items() if value is not None}
    if policy is not None and given:
        raise TypeError(
            f"pass either policy= or the settings ({', '.join(sorted(given))}), not both; "
            f"use dataclasses.replace(policy, ...) to adjust a policy"
        )
    if policy is None:
        policy = RetryPolicy(**{"max_retries": 3, **given})
    elif not isinstance(policy, RetryPolicy):
        raise TypeError(f"policy must be a RetryPolicy, got {type(policy).__name__}")
    decorate = functools.partial(_decorate, policy=policy, sleep=sleep)
    return decorate(func) if func is not None else decorate


def _decorate(
    func: Callable[P, R], *, policy: RetryPolicy, sleep: Callable[[float], Any] | None,
) -> Callable[P, R]:
    if not callable(func):
        raise TypeError(f"@retry decorates a function, got {func!r}")
    # `is None`, not `or`: a sleep object may be falsy (an empty list-like recorder).
    if inspect.iscoroutinefunction(func):
        chosen = asyncio.sleep if sleep is None else sleep
        return _async_wrapper(func, policy, chosen)  # type: ignore[return-value]
    return _sync_wrapper(func, policy, time.sleep if sleep is None else sleep)


def _sync_wrapper(
    func: Callable[P, R], policy: RetryPolicy, sleep: Callable[[float], Any],
) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        errors: list[BaseException] = []
        while True:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                wait = _after_failure(func, policy, errors, exc)
            sleep(wait)

    return wrapper


def _async_wrapper(
    func: Callable[P, Awaitable[R]], policy: RetryPolicy, sleep: Callable[[float], Any],
) -> Callable[P, Awaitable[R]]:
    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        errors: list[BaseException] = []
        while True:
            try:
                return await func(*args, **kwargs)
            except BaseException as exc:
                wait = _after_failure(func, policy, errors, exc)
            pending = sleep(wait)
            if inspect.isawaitable(pending):
                await pending

    return wrapper


def _after_failure(
    func: Callable[..., Any], policy: RetryPolicy, errors: list[BaseException],
    exc: BaseException,
) -> float:
    """Record ``exc``; return the wait before the next attempt, or re-raise ``exc``."""
    errors.append(exc)
    attempt = len(errors)
    if attempt > policy.max_retries:
        _attach_history(exc, errors, f"no retries left (max_retries={policy.max_retries})")
        raise exc
    if not policy.classify(exc):
        _attach_history(exc, errors, f"{type(exc).__name__} is not retryable (see classify)")
        raise exc
    wait = policy.delay(attempt)
    _log.debug(
        "retrying %s in %.3fs after attempt %d failed: %r",
        getattr(func, "__qualname__", func), wait, attempt, exc,
        extra={"attempt": attempt, "retry_in": wait},
    )
    return wait


def _attach_history(exc: BaseException, errors: list[BaseException], reason: str) -> None:
    # Notes show in every traceback; the attribute is for code. Some C exception types
    # refuse new attributes: the notes still carry the history then.
    for number, earlier in enumerate(errors[:-1], start=1):
        exc.add_note(f"attempt {number} failed: {type(earlier).__name__}: {earlier}")
    if len(errors) > 1:
        exc.add_note(f"attempt {len(errors)} failed with the error above; {reason}")
    try:
        exc.attempt_errors = list(errors)  # type: ignore[attr-defined]
    except AttributeError:
        pass
