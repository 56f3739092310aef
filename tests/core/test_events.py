from __future__ import annotations

import asyncio
import logging

import pytest

from godnb.core.events import EventHub
from godnb.models import EventKind, JobEvent, JobStatus, Progress


def ev(job: str, kind: EventKind, done: float = 0) -> JobEvent:
    status = JobStatus.COMPLETED if kind is EventKind.COMPLETED else JobStatus.RUNNING
    return JobEvent(job_id=job, kind=kind, status=status, progress=Progress(done=done))


def test_slow_consumer_gets_coalesced_progress_and_every_status_change() -> None:
    async def main() -> list[JobEvent]:
        hub = EventHub()
        sub = hub.subscribe(None)
        hub.emit(ev("a", EventKind.STARTED))
        for i in range(1000):  # the consumer is not reading: progress coalesces
            hub.emit(ev("a", EventKind.PROGRESS, i))
        hub.emit(ev("a", EventKind.COMPLETED))
        out = []
        for _ in range(3):
            out.append(await sub.get())
        hub.close()
        return out

    events = asyncio.run(main())
    assert [e.kind for e in events] == [EventKind.STARTED, EventKind.PROGRESS,
                                        EventKind.COMPLETED]
    assert events[1].progress.done == 999


def test_buffer_is_bounded_for_progress_but_keeps_status_events() -> None:
    async def main() -> tuple[int, int]:
        hub = EventHub()
        sub = hub.subscribe(None, limit=10)
        for i in range(50):  # alternate jobs so progress can not coalesce
            hub.emit(ev(f"j{i}", EventKind.STARTED))
            hub.emit(ev(f"j{i}", EventKind.PROGRESS, 1))
        kinds = []
        while sub._buf:
            kinds.append((await sub.get()).kind)
        return kinds.count(EventKind.STARTED), sub.dropped

    started, dropped = asyncio.run(main())
    assert started == 50
    assert dropped > 0


def test_per_job_subscription_only_sees_its_job() -> None:
    async def main() -> list[str]:
        hub = EventHub()
        sub = hub.subscribe("a")
        hub.emit(ev("b", EventKind.STARTED))
        hub.emit(ev("a", EventKind.STARTED))
        hub.emit(ev("a", EventKind.COMPLETED))
        return [e.job_id async for e in sub.stream(until_final=True)]

    assert asyncio.run(main()) == ["a", "a"]


def test_hub_is_inactive_without_listeners() -> None:
    hub = EventHub()
    assert not hub.active
    remove = hub.add_listener(lambda e: None)
    assert hub.active
    remove()
    assert not hub.active


def test_a_failing_listener_does_not_break_emit(caplog: pytest.LogCaptureFixture) -> None:
    hub = EventHub()
    seen = []
    hub.add_listener(lambda e: 1 / 0)
    hub.add_listener(seen.append)
    with caplog.at_level(logging.ERROR):
        hub.emit(ev("a", EventKind.STARTED))
    assert len(seen) == 1
    assert "event listener failed" in caplog.text
