"""2,000 concurrent jobs on thread, process and async backends with injected failures.

Exceptions, retries, timeouts, cancels (pending and running) and killed process workers
all at once. Every job must end in exactly one terminal state, announced by exactly one
final event; the engine's counters must match the handles; nothing may stay behind.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import godnb as god
from godnb import Engine, EventKind, JobStatus
from tests.load import load_tasks as T
from tests.load.probes import LONG, StatsProbe
from tests.waiting import wait_until

pytestmark = [pytest.mark.load, pytest.mark.timeout(600 if LONG else 120)]

N_JOBS = 20_000 if LONG else 2_000
CAP = 20.0  # the longest a lingering job could run if nobody stopped it

# kind -> (share of the jobs, expected final status)
MIX: dict[str, tuple[float, JobStatus]] = {
    "ok": (0.55, JobStatus.COMPLETED),
    "raise": (0.10, JobStatus.FAILED),
    "flaky": (0.10, JobStatus.COMPLETED),
    "timeout": (0.06, JobStatus.FAILED),
    "cancel_pending": (0.07, JobStatus.CANCELLED),
    "cancel_running": (0.02, JobStatus.CANCELLED),
    "die": (0.05, JobStatus.FAILED),
    "die_first": (0.05, JobStatus.COMPLETED),
}
BACKENDS = ("thread", "process", "async")


@dataclass
class Planned:
    i: int
    kind: str
    backend: str
    handle: Any = None


def plan(n: int, seed: int = 2024) -> list[Planned]:
    rng = random.Random(seed)
    kinds = [k for k, (share, _) in MIX.items() for _ in range(round(share * n))]
    kinds += ["ok"] * (n - len(kinds))
    rng.shuffle(kinds)
    jobs = []
    for i, kind in enumerate(kinds):
        backend = "process" if kind.startswith("die") else BACKENDS[i % 3]
        jobs.append(Planned(i, kind, backend))
    return jobs


def submit(eng: Engine, p: Planned) -> Any:
    aio = p.backend == "async"
    kind, i = p.kind, p.i
    if kind == "ok":
        return eng.submit(T.aok if aio else T.ok, i, backend=p.backend)
    if kind == "raise":
        return eng.submit(T.aboom if aio else T.boom, i, backend=p.backend, retries=2)
    if kind == "flaky":
        return eng.submit(T.aflaky if aio else T.flaky, i, backend=p.backend, retries=1)
    if kind == "timeout":
        return eng.submit(T.alinger if aio else T.linger, CAP, backend=p.backend, timeout=0.1)
    if kind == "cancel_pending":  # lowest priority: still queued when the test cancels
        return eng.submit(T.alinger if aio else T.linger, CAP, backend=p.backend, priority=-5)
    if kind == "cancel_running":  # highest priority: starts first, cancelled once running
        return eng.submit(T.alinger if aio else T.linger, CAP, backend=p.backend, priority=9)
    if kind == "die":
        return eng.submit(T.die, 7, backend="process")
    assert kind == "die_first"
    return eng.submit(T.die_first, i, backend="process", retries=1)


def check_outcome(p: Planned) -> None:
    h, kind = p.handle, p.kind
    expected = MIX[kind][1]
    assert h.status is expected, (kind, p.backend, h.status, h.job.error)
    if kind in ("ok", "flaky", "die_first"):
        assert h.result() == 2 * p.i
        assert h.job.attempts == (1 if kind == "ok" else 2)
    elif kind == "raise":
        assert isinstance(h.exception().__cause__, ValueError)
        assert h.job.attempts == 1  # ValueError is not retried, whatever retries says
    elif kind == "timeout":
        assert isinstance(h.exception(), god.JobTimeout)
    elif kind == "die":
        assert isinstance(h.exception().__cause__, god.WorkerDied)
    else:
        assert isinstance(h.exception(), god.JobCancelled)


def wait_started(p: Planned, probe: StatsProbe, timeout: float = 60.0) -> None:
    # stats() is timed meanwhile: the engine is at its busiest now
    probe.wait_for(lambda: p.handle.status is not JobStatus.PENDING,
                   f"job {p.i} ({p.backend}) to start", timeout)


def test_mixed_failures_every_job_ends_once(report: Callable[[str], None]) -> None:
    jobs = plan(N_JOBS)
    finals: Counter[str] = Counter()
    kinds: Counter[EventKind] = Counter()

    def listen(ev: god.JobEvent) -> None:  # runs under the engine's lock: keep it tiny
        kinds[ev.kind] += 1
        if ev.is_final:
            finals[ev.job_id] += 1

    with Engine(threads=8, processes=2, keep_finished=N_JOBS) as eng:
        eng.add_listener(listen)
        probe = StatsProbe(eng)
        t0 = time.perf_counter()
        for p in jobs:
            p.handle = submit(eng, p)
            if p.i % 100 == 0:
                probe()
        submitted = time.perf_counter() - t0
        for p in jobs:
            if p.kind == "cancel_pending":
                assert p.handle.cancel(), p
        for p in jobs:
            if p.kind == "cancel_running":
                wait_started(p, probe)
                assert p.handle.cancel(), p
        probe.wait_for(lambda: eng.wait(timeout=0.05), "every job to end", interval=0)
        elapsed = time.perf_counter() - t0
        stats = eng.stats()
        rt = eng._rt

        # Every job ended once, and the engine's books agree with the handles.
        handles = [p.handle for p in jobs]
        assert len(finals) == N_JOBS and set(finals.values()) == {1}
        assert set(finals) == {h.job_id for h in handles}
        assert kinds[EventKind.SUBMITTED] == N_JOBS
        by_status = Counter(h.status.value for h in handles)
        assert {k: v for k, v in stats.counts.items() if v} == dict(by_status)
        assert stats.submitted == N_JOBS
        expected = Counter()
        for p in jobs:
            expected[MIX[p.kind][1].value] += 1
        assert by_status == expected
        for p in jobs:
            check_outcome(p)
        assert sum(1 for p in jobs if p.kind.startswith("die")) >= 0.09 * N_JOBS
        assert stats.retried == sum(1 for p in jobs if p.kind in ("flaky", "die_first"))
        assert kinds[EventKind.RETRYING] == stats.retried
        # Nothing left inside the engine.
        assert not rt.active and stats.queue_depth == 0
        assert all(len(s) == 0 for s in rt.schedulers.values())
        wait_until(lambda: all(w["busy"] == 0 for w in eng.stats().workers.values()), 10,
                   "every worker to be idle")

    report(f"mixed run: {N_JOBS} jobs ({dict(by_status)}) in {elapsed:.2f} s = "
           f"{N_JOBS / elapsed:.0f} jobs/s (submit {submitted:.2f} s)")
    report(probe.summary())
    assert probe.worst < 0.5, probe.summary()
