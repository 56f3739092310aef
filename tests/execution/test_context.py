"""The job context (execution/context.py): what ``god.progress``, ``god.cancelled`` and
``god.check_cancelled`` reach from inside a job, and what they do outside one."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import godnb as god
from godnb.errors import JobCancelled
from godnb.execution.context import (
    cancelled,
    check_cancelled,
    current,
    current_job_id,
    current_run,
    progress,
)
from godnb.execution.executor import Run


class FakeRun:
    """A RunContext that records its progress reports."""

    def __init__(self, job_id: str = "job-1", attempt: int = 2) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.cancel_requested = False
        self.reports: list[tuple[float, float | None, str | None]] = []

    def report(self, done: float, total: float | None, message: str | None) -> None:
        self.reports.append((done, total, message))


@pytest.fixture
def run() -> Iterator[FakeRun]:
    ctx = FakeRun()
    token = current_run.set(ctx)  # type: ignore[arg-type]
    try:
        yield ctx
    finally:
        current_run.reset(token)


def test_the_public_names_are_these_functions() -> None:
    assert (god.progress, god.cancelled, god.check_cancelled) == \
        (progress, cancelled, check_cancelled)


def test_outside_a_job_everything_is_harmless() -> None:
    assert current() is None and current_job_id() is None
    progress(3, total=10, message="ignored")
    assert cancelled() is False
    check_cancelled()  # does not raise


def test_inside_a_job_progress_reaches_the_run_as_floats(run: FakeRun) -> None:
    assert current() is run and current_job_id() == "job-1"
    progress(3, total=10, message="parsing")
    progress(4)
    assert run.reports == [(3.0, 10.0, "parsing"), (4.0, None, None)]
    assert all(type(done) is float for done, _, _ in run.reports)


def test_cancelled_follows_the_runs_flag_and_check_cancelled_raises(run: FakeRun) -> None:
    assert cancelled() is False
    check_cancelled()
    run.cancel_requested = True
    assert cancelled() is True
    with pytest.raises(JobCancelled, match="job job-1 was cancelled") as info:
        check_cancelled()
    assert (info.value.job_id, info.value.attempt) == ("job-1", 2)


def test_the_context_is_per_thread_and_copied_into_tasks(run: FakeRun) -> None:
    seen: list[Any] = []
    t = threading.Thread(target=lambda: seen.append(current()), name="plain")
    t.start()
    t.join(10)
    assert seen == [None]  # a new thread starts with an empty context

    async def in_task() -> Any:
        return current()

    assert contextvars.copy_context().run(asyncio.run, in_task()) is run


def test_run_call_sets_the_context_around_the_call_only() -> None:
    job = SimpleNamespace(job_id="job-9")
    reports: list[Any] = []
    host = SimpleNamespace(progress=lambda r, *a: reports.append((r.job_id, *a)))
    inside: list[Any] = []

    def fn(x: int) -> int:
        inside.append(current_job_id())
        progress(1, 2)
        return x * 2

    r = Run(job, fn, (21,), {}, 1, "test", 0.0, host)  # type: ignore[arg-type]
    assert r.call() == 42
    assert inside == ["job-9"] and reports == [("job-9", 1.0, 2.0, None)]
    assert current() is None

    def boom() -> None:
        raise ValueError("x")

    r = Run(job, boom, (), {}, 1, "test", 0.0, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        r.call()
    assert current() is None  # reset even when the job raised
    r.report(1, None, None)  # no host: dropped

