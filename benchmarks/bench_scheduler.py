"""Scheduler throughput against raw heapq, and the memory of a queued job.

Run: python benchmarks/bench_scheduler.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import gc
import heapq
import itertools
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, verdict

from godnb.core.scheduler import Scheduler
from godnb.models import Job


def make_jobs(n: int, groups: int = 4, priorities: int = 8) -> list[Job]:
    base = Job(payload={"task": "math:sqrt", "args": [1]})
    jobs = []
    for i in range(n):
        job = base.derive({"task": "math:sqrt", "args": [i], "kwargs": {}})
        job.__dict__["priority"] = i % priorities
        job.__dict__["group"] = f"g{i % groups}"
        jobs.append(job)
    return jobs


def bench_heapq(jobs: list[Job]) -> float:
    heap: list[tuple[int, int, Job]] = []
    seq = itertools.count()
    t = time.perf_counter()
    for job in jobs:
        heapq.heappush(heap, (-job.priority, next(seq), job))
    while heap:
        heapq.heappop(heap)
    return time.perf_counter() - t


def bench_scheduler(jobs: list[Job]) -> float:
    s: Scheduler[Job] = Scheduler()
    t = time.perf_counter()
    for job in jobs:
        s.submit(job)
    while s.next_job() is not None:
        pass
    return time.perf_counter() - t


def bytes_per_queued_job(n: int) -> tuple[float, float]:
    """(bytes per Job object, bytes per job once queued in a Scheduler) via tracemalloc."""
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    jobs = [Job(payload={"task": "math:sqrt", "args": [i]}, group=f"g{i % 4}")
            for i in range(n)]
    built = tracemalloc.get_traced_memory()[0]
    s: Scheduler[Job] = Scheduler()
    for job in jobs:
        s.submit(job)
    queued = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (built - start) / n, (queued - start) / n


def build_cost(n: int = 50_000) -> float:
    t = time.perf_counter()
    for i in range(n):
        Job(payload={"task": "math:sqrt", "args": [i]})
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    n = parser.parse_args().n
    jobs = make_jobs(n)
    gc.collect()
    raw = min(bench_heapq(jobs) for _ in range(2))
    ours = min(bench_scheduler(jobs) for _ in range(2))
    ratio = ours / raw
    per_job, queued = bytes_per_queued_job(100_000)
    rows = [
        ("raw heapq push+pop", f"{n / raw:,.0f}/s", f"{raw / n * 1e6:.2f} us", "1.00x", ""),
        ("Scheduler submit+next_job (fair)", f"{n / ours:,.0f}/s", f"{ours / n * 1e6:.2f} us",
         f"{ratio:.2f}x", verdict(ratio, 3.0, higher_is_better=False)),
        ("build one Job (pydantic)", "", f"{build_cost() * 1e6:.2f} us", "", ""),
        ("bytes per Job", "", f"{per_job:,.0f} B", "", ""),
        ("bytes per queued job", "", f"{queued:,.0f} B", "",
         "PASS (goal < 1500 B)" if queued < 1500 else "MISS (goal < 1500 B)"),
    ]
    print(table(f"Scheduler: {n:,} jobs, 8 priorities x 4 groups", rows,
                ("what", "throughput", "per job", "cost vs heapq", "verdict")))


if __name__ == "__main__":
    main()
