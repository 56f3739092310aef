"""RetryPolicy, classify and @retry: delays, classification rules and attempt history."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import math
import random

import pytest

from godnb.errors import FatalError, JobCancelled, JobTimeout, RetryableError, WorkerDied
from godnb.utils.retry import TRANSIENT_ERRNOS, RetryPolicy, classify, retry


class Flaky:
    """Raises the given errors in turn, then returns "ok"; counts its calls."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class SleepLog(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# --- delay ---------------------------------------------------------------------------

def test_delay_grows_by_factor_and_is_capped() -> None:
    policy = RetryPolicy(max_retries=6, backoff=0.5, factor=2.0, max_delay=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_delay_with_factor_one_is_constant() -> None:
    assert {RetryPolicy(backoff=0.25, factor=1.0).delay(n) for n in range(1, 10)} == {0.25}


def test_delay_of_a_huge_attempt_is_the_cap_not_an_overflow() -> None:
    assert RetryPolicy(backoff=1.0, factor=10.0, max_delay=7.0).delay(100_000) == 7.0


@pytest.mark.parametrize("attempt", [0, -1, 1.5, True])
def test_delay_counts_attempts_from_one(attempt: object) -> None:
    with pytest.raises(ValueError, match="attempt counts from 1"):
        RetryPolicy(backoff=1.0).delay(attempt)  # type: ignore[arg-type]


def test_seeded_jitter_is_reproducible_and_bounded() -> None:
    first = RetryPolicy(backoff=1.0, factor=2.0, max_delay=100.0, jitter=0.5, seed=42)
    second = RetryPolicy(backoff=1.0, factor=2.0, max_delay=100.0, jitter=0.5, seed=42)
    delays = [first.delay(n) for n in range(1, 7)]
    assert delays == [second.delay(n) for n in range(1, 7)]
    for n, wait in enumerate(delays, start=1):
        base = 2.0 ** (n - 1)
        assert 0.5 * base <= wait <= 1.5 * base
    assert len(set(delays)) == len(delays)  # jitter really moved them


def test_jitter_draws_from_the_injected_rng() -> None:
    class Fixed(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b  # the largest allowed push

    policy = RetryPolicy(backoff=2.0, jitter=0.25, rng=Fixed())
    assert policy.delay(1) == 2.5


def test_jitter_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(backoff=10.0, max_delay=10.0, jitter=1.0, seed=3)
    assert all(0.0 <= policy.delay(n) <= 10.0 for n in range(1, 200))


def test_next_attempt_at_reads_the_injected_clock() -> None:
    policy = RetryPolicy(backoff=1.5, clock=lambda: 1000.0)
    assert policy.next_attempt_at(2) == 1003.0


# --- validation ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"backoff": -1.0}, ValueError, r"backoff must be >= 0\.0, got -1\.0"),
        ({"backoff": math.nan}, ValueError, "backoff must be >= 0.0, got nan"),
        ({"backoff": "1"}, TypeError, "backoff must be a number, got str"),
        ({"factor": 0.5}, ValueError, r"factor must be >= 1\.0, got 0\.5"),
        ({"max_delay": -2}, ValueError, "max_delay must be >= 0.0"),
        ({"jitter": 1.5}, ValueError, r"jitter must be between 0\.0 and 1\.0, got 1\.5"),
        ({"max_retries": -1}, ValueError, r"max_retries must be >= 0 \(0 = no retries\)"),
        ({"max_retries": 2.0}, TypeError, "max_retries must be an int"),
        ({"max_retries": True}, TypeError, "max_retries must be an int"),
        ({"retry_on": "ValueError"}, TypeError, "retry_on must be an exception type"),
        ({"give_up_on": (ValueError, 3)}, TypeError, "give_up_on must be an exception type"),
        ({"clock": 5}, TypeError, "clock must be a callable"),
        ({"rng": object()}, TypeError, r"rng must have a uniform\(a, b\) method"),
        ({"rng": random.Random(), "seed": 1}, ValueError, "pass rng= or seed=, not both"),
    ],
)
def test_bad_settings_say_what_is_wrong(
    kwargs: dict[str, object], error: type[Exception], message: str,
) -> None:
    with pytest.raises(error, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen_and_replace_keeps_the_seed() -> None:
    policy = RetryPolicy(max_retries=1, backoff=1.0, jitter=0.5, seed=9)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 5  # type: ignore[misc]
    more = dataclasses.replace(policy, max_retries=5)
    assert more.max_retries == 5
    assert more.delay(1) == RetryPolicy(backoff=1.0, jitter=0.5, seed=9).delay(1)


def test_policies_with_equal_settings_are_equal() -> None:
    assert RetryPolicy(max_retries=2, seed=1) == RetryPolicy(max_retries=2, seed=1)


# --- classification ------------------------------------------------------------------

class CustomError(Exception):
    pass


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (RetryableError("again"), True),
        (FatalError("stop"), False),
        (TimeoutError(), True),
        (JobTimeout("slow", job_id="j", attempt=1), True),
        (ConnectionError(), True),
        (ConnectionResetError(errno.ECONNRESET, "reset"), True),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), True),
        (BrokenPipeError(errno.EPIPE, "pipe"), True),
        (BlockingIOError(errno.EAGAIN, "again"), True),
        (InterruptedError(errno.EINTR, "eintr"), True),
        (OSError(errno.EBUSY, "busy"), True),
        (OSError(errno.ETIMEDOUT, "timed out"), True),
        (OSError("no errno: judged like any exception"), True),
        (FileNotFoundError(errno.ENOENT, "missing"), False),
        (PermissionError(errno.EACCES, "denied"), False),
        (WorkerDied("worker died (SIGKILL)", job_id="j"), True),
        (JobCancelled("cancelled", job_id="j"), False),
        (KeyboardInterrupt(), False),
        (SystemExit(1), False),
        (asyncio.CancelledError(), False),
        (TypeError(), False),
        (NameError(), False),
        (AttributeError(), False),
        (ImportError(), False),
        (ModuleNotFoundError(), False),
        (SyntaxError(), False),
        (AssertionError(), False),
        (KeyError("k"), False),
        (IndexError(), False),
        (ValueError(), False),
        (ZeroDivisionError(), False),
        (NotImplementedError(), False),
        (RecursionError(), False),
        (RuntimeError("flaky service"), True),
        (Exception("anything else"), True),
        (CustomError(), True),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_default_classification(exc: BaseException, retryable: bool) -> None:
    assert classify(exc) is retryable


def test_transient_errnos_hold_the_documented_ones() -> None:
    for name in ("EAGAIN", "EINTR", "EBUSY", "ETIMEDOUT", "ECONNRESET", "ECONNREFUSED", "EPIPE"):
        assert getattr(errno, name) in TRANSIENT_ERRNOS
    assert errno.ENOENT not in TRANSIENT_ERRNOS


def test_retry_on_replaces_the_defaults() -> None:
    assert classify(KeyError("k"), retry_on=KeyError) is True
    assert classify(RuntimeError(), retry_on=KeyError) is False
    assert classify(ConnectionError(), retry_on=(KeyError, IndexError)) is False
    assert classify(IndexError(), retry_on=(KeyError, IndexError)) is True


def test_predicates_match_on_the_exception() -> None:
    def is_503(exc: BaseException) -> bool:
        return "503" in str(exc)

    assert classify(ValueError("HTTP 503"), retry_on=is_503) is True
    assert classify(RuntimeError("HTTP 404"), retry_on=is_503) is False
    assert classify(RuntimeError("HTTP 503"), give_up_on=is_503) is False


def test_give_up_on_beats_retry_on_and_defaults() -> None:
    assert classify(TimeoutError(), give_up_on=TimeoutError) is False
    assert classify(KeyError(), retry_on=LookupError, give_up_on=KeyError) is False


def test_the_markers_beat_every_override() -> None:
    assert classify(FatalError(), retry_on=FatalError) is False
    assert classify(RetryableError(), give_up_on=RetryableError) is True


def test_should_retry_combines_attempts_and_classification() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry(ConnectionError(), 1)
    assert policy.should_retry(ConnectionError(), 2)
    assert not policy.should_retry(ConnectionError(), 3)
    assert not policy.should_retry(TypeError(), 1)
    assert not RetryPolicy().should_retry(RetryableError(), 1)  # max_retries=0


def test_policy_classify_uses_its_overrides() -> None:
    policy = RetryPolicy(max_retries=3, retry_on=ValueError, give_up_on=UnicodeError)
    assert policy.should_retry(ValueError(), 1)
    assert not policy.should_retry(UnicodeDecodeError("utf-8", b"", 0, 1, "bad"), 1)


# --- @retry on sync functions --------------------------------------------------------

def test_retry_returns_once_an_attempt_succeeds_and_sleeps_the_policy_delays() -> None:
    sleeps = SleepLog()
    flaky = Flaky(ConnectionError("1"), TimeoutError("2"))
    wrapped = retry(max_retries=3, backoff=0.5, factor=3.0, sleep=sleeps)(flaky)
    assert wrapped() == "ok"
    assert flaky.calls == 3
    assert sleeps == [0.5, 1.5]


def test_final_failure_raises_the_last_error_with_every_attempt_attached() -> None:
    errors = [RuntimeError("first"), RuntimeError("second"), RuntimeError("third")]
    flaky = Flaky(*errors)
    wrapped = retry(max_retries=2, sleep=SleepLog())(flaky)
    with pytest.raises(RuntimeError, match="third") as info:
        wrapped()
    assert info.value is errors[2]
    assert info.value.attempt_errors == errors  # type: ignore[attr-defined]
    assert info.value.__notes__ == [
        "attempt 1 failed: RuntimeError: first",
        "attempt 2 failed: RuntimeError: second",
        "attempt 3 failed with the error above; no retries left (max_retries=2)",
    ]
    assert flaky.calls == 3


def test_a_final_error_is_raised_at_once_with_its_history() -> None:
    flaky = Flaky(ConnectionError("blip"), KeyError("missing"))
    sleeps = SleepLog()
    with pytest.raises(KeyError) as info:
        retry(max_retries=5, sleep=sleeps)(flaky)()
    assert flaky.calls == 2
    assert len(sleeps) == 1
    assert info.value.__notes__[-1].endswith("KeyError is not retryable (see classify)")
    assert [type(e) for e in info.value.attempt_errors] == [ConnectionError, KeyError]  # type: ignore[attr-defined]


def test_a_first_attempt_error_that_is_final_gets_no_notes() -> None:
    with pytest.raises(TypeError) as info:
        retry(sleep=SleepLog())(Flaky(TypeError("bad arg")))()
    assert not getattr(info.value, "__notes__", [])
    assert info.value.attempt_errors == [info.value]  # type: ignore[attr-defined]


def test_keyboard_interrupt_is_never_retried() -> None:
    flaky = Flaky(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        retry(max_retries=3, sleep=SleepLog())(flaky)()
    assert flaky.calls == 1


def test_bare_decorator_keeps_the_function_name_and_defaults_to_three_retries() -> None:
    @retry
    def fetch(x: int) -> int:
        """Docs."""
        return x * 2

    assert fetch(4) == 8
    assert fetch.__name__ == "fetch"
    assert fetch.__doc__ == "Docs."


def test_decorator_default_is_three_retries() -> None:
    flaky = Flaky(*[ConnectionError()] * 10)
    with pytest.raises(ConnectionError):
        retry(sleep=SleepLog())(flaky)()
    assert flaky.calls == 4


def test_decorator_accepts_a_policy() -> None:
    sleeps = SleepLog()
    policy = RetryPolicy(max_retries=1, backoff=2.0)
    assert retry(policy=policy, sleep=sleeps)(Flaky(ConnectionError()))() == "ok"
    assert sleeps == [2.0]


def test_policy_and_settings_together_are_refused() -> None:
    with pytest.raises(TypeError, match=r"pass either policy= or the settings \(backoff"):
        retry(policy=RetryPolicy(), backoff=1.0)


def test_policy_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError, match="policy must be a RetryPolicy, got dict"):
        retry(policy={"max_retries": 2})  # type: ignore[arg-type]


def test_decorator_settings_are_validated_at_decoration() -> None:
    with pytest.raises(ValueError, match="backoff must be >= 0"):
        retry(backoff=-1.0)


# --- @retry on async functions -------------------------------------------------------

def test_async_functions_retry_with_an_awaitable_sleep() -> None:
    slept: list[float] = []
    calls = 0

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    @retry(max_retries=2, backoff=1.0, sleep=fake_sleep)
    async def fetch() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("down")
        return "data"

    assert asyncio.run(fetch()) == "data"
    assert slept == [1.0, 2.0]
    assert asyncio.iscoroutinefunction(fetch)


def test_async_functions_accept_a_plain_sleep_and_keep_history() -> None:
    sleeps = SleepLog()

    @retry(max_retries=1, sleep=sleeps)
    async def broken() -> None:
        raise RuntimeError(f"attempt {len(sleeps) + 1}")

    with pytest.raises(RuntimeError, match="attempt 2") as info:
        asyncio.run(broken())
    assert [str(e) for e in info.value.attempt_errors] == ["attempt 1", "attempt 2"]  # type: ignore[attr-defined]
    assert sleeps == [0.0]


def test_async_default_sleep_is_asyncio_sleep() -> None:
    calls = 0

    @retry(max_retries=1)  # backoff 0: asyncio.sleep(0) only yields to the loop
    async def once_flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError
        return calls

    assert asyncio.run(once_flaky()) == 2
