"""Durable throughput (SQLite vs memory vs SqliteHuey) and memory that scales with active jobs.

Run: python benchmarks/bench_store.py [--n 100000] [--rss-jobs 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, verdict

import godnb as god


@god.task(name="bench.noop")
def noop(x: object = None) -> object:
    return x


def durable_map(store: god.Store, n: int) -> float:
    """Seconds from the first submit until the store records every job completed."""
    # The engines and stores of earlier runs sit in reference cycles until a full
    # collection: collect them now, so no run pays for walking the previous runs' rows.
    gc.collect()
    with god.Engine(threads=4, store=store) as eng:
        t = time.perf_counter()
        eng.map("bench.noop", range(n)).wait()
        eng.shutdown()  # final flush: every result is in the store when this returns
        elapsed = time.perf_counter() - t
        assert store.counts()["completed"] >= n, store.counts()
    return elapsed


def huey_run(path: str, n: int) -> float | None:
    try:
        from huey import SqliteHuey
        from huey.consumer import Consumer
    except ImportError:
        return None
    gc.collect()  # as in durable_map: start from the same clean heap
    huey = SqliteHuey(filename=path)

    @huey.task()
    def hnoop(x: object = None) -> object:
        return x

    consumer = Consumer(huey, workers=4, worker_type="thread", periodic=False,
                        initial_delay=0.001, max_delay=0.01, check_worker_health=False)
    consumer._set_signal_handlers = lambda: None  # signals need the main thread
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    t = time.perf_counter()
    results = [hnoop(i) for i in range(n)]
    for r in results:
        r.get(blocking=True, timeout=120)
    elapsed = time.perf_counter() - t
    consumer.stop(graceful=True)
    return elapsed


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_scaling(total: int, batch: int = 10_000) -> tuple[float, float]:
    """RSS (MB) after the first ``batch`` durable jobs and after ``total`` of them."""
    with tempfile.TemporaryDirectory() as d, \
            god.Engine(threads=4, store=os.path.join(d, "rss.db")) as eng:
        first = last = 0.0
        for k in range(0, total, batch):
            eng.map("bench.noop", range(batch)).wait()
            if k == 0:
                gc.collect()
                first = rss_mb()
        eng.wait()
        eng._durable.flush()
        gc.collect()
        last = rss_mb()
    return first, last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--huey-n", type=int, default=5_000)
    parser.add_argument("--rss-jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each throughput measurement; the median is kept")
    args = parser.parse_args()
    runs = itertools.count()
    with tempfile.TemporaryDirectory() as d:
        def sqlite_map(n: int) -> float:
            return durable_map(god.SQLiteStore(os.path.join(d, f"{next(runs)}.db")), n)

        def median(fn: Callable[[], float | None]) -> float | None:
            times = [fn() for _ in range(args.repeat)]
            return None if None in times else statistics.median(times)  # type: ignore[type-var]

        mem = median(lambda: durable_map(god.MemoryStore(), args.n))
        sql = median(lambda: sqlite_map(args.n))
        ours_small = median(lambda: sqlite_map(args.huey_n))
        huey = median(lambda: huey_run(os.path.join(d, f"huey{next(runs)}.db"), args.huey_n))
        assert mem is not None and sql is not None and ours_small is not None
    rows = [
        ("map(), MemoryStore", f"{args.n:,}", f"{args.n / mem:,.0f}/s", "", ""),
        ("map(), SQLiteStore (WAL, NORMAL)", f"{args.n:,}", f"{args.n / sql:,.0f}/s",
         f"{mem / sql:.2f}x of memory",
         "PASS (goal >= 20,000/s)" if args.n / sql >= 20_000 else "MISS (goal >= 20,000/s)"),
    ]
    if huey is not None:
        ratio = huey / ours_small
        rows.append(("vs SqliteHuey, 4 thread workers", f"{args.huey_n:,}",
                     f"{args.huey_n / huey:,.0f}/s (huey)",
                     f"{ratio:.1f}x ({args.huey_n / ours_small:,.0f}/s godnb)",
                     verdict(ratio, 5.0)))
    print(table("Durable no-op jobs, end to end (submit -> result in the store)", rows,
                ("what", "jobs", "throughput", "ratio", "verdict")))
    if args.rss_jobs:
        first, last = rss_scaling(args.rss_jobs)
        grow = last - first
        print(table("Memory scales with active jobs, not finished ones", [
            ("RSS after the first 10,000 durable jobs", f"{first:,.0f} MB", ""),
            (f"RSS after {args.rss_jobs:,} durable jobs", f"{last:,.0f} MB",
             f"{'PASS' if grow <= 100 else 'MISS'} ({grow:+,.0f} MB; goal within 100 MB)"),
        ], ("when", "RSS", "verdict")))


if __name__ == "__main__":
    main()
