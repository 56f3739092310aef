"""Durable throughput (SQLite vs memory vs SqliteHuey), memory that scales with active jobs,
how far the store trails a big map (write-behind lag, against its bound), and how fast
an engine resumes a store full of pending jobs (vs the same jobs submitted live).

Run: python benchmarks/bench_store.py [--n 100000] [--rss-jobs 1000000] [--repeat 3]
     [--lag-n 50000] [--resume-n 100000]   (0 skips a part)
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
from godnb.core.resume import RESUME_WINDOW


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


def lag_run(n: int, max_lag: int | None) -> tuple[float, int, int]:
    """A durable map of n no-op jobs: (jobs/s into the store, peak lag, its bound).

    The peak is what the engine measured each time a write landed: the jobs changed but
    not yet written (the batch just written plus those changed meanwhile), which is when
    the lag is largest; nothing samples from another thread, so nothing perturbs the run.
    """
    gc.collect()
    options = {} if max_lag is None else {"max_lag": max_lag}
    with tempfile.TemporaryDirectory() as d, \
            god.Engine(threads=4, store=os.path.join(d, "lag.db"), **options) as eng:
        t = time.perf_counter()
        eng.map("bench.noop", range(n)).wait()
        eng.shutdown()
        elapsed = time.perf_counter() - t
        durable = eng._durable
        assert durable is not None
        workers = sum(e.workers for e in eng.executors.values() if not e.needs_loop
                      and e.plugin_name != "inline")
        return n / elapsed, durable.peak_lag, durable.max_lag + workers


def resume_run(n: int) -> tuple[float, float, int, float]:
    """A store holding n pending jobs; a new engine drains it.

    Returns (resumed jobs/s, live-submitted jobs/s of the same n jobs, the most jobs the
    resuming engine held at once, the RSS it grew by in MB).
    """
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "resume.db")
        with god.SQLiteStore(path) as store:
            for start in range(0, n, 10_000):
                store.add([god.Job(payload={"task": "bench.noop", "args": [i]})
                           for i in range(start, min(n, start + 10_000))])
        gc.collect()
        base = rss_mb()
        most, rss_peak = [0], [base]
        with god.Engine(threads=4, store=path, keep_finished=1_000) as eng:
            stop = threading.Event()

            def probe() -> None:  # samples every 20 ms: a little GIL, the same for all runs
                while not stop.wait(0.02):
                    most[0] = max(most[0], eng.stats().active)
                    rss_peak[0] = max(rss_peak[0], rss_mb())

            sampler = threading.Thread(target=probe, daemon=True)
            t = time.perf_counter()
            sampler.start()
            assert eng.wait()
            resumed = time.perf_counter() - t
            stop.set()
            sampler.join()
            assert eng.store is not None and eng.store.counts()["completed"] == n
        gc.collect()
        with god.Engine(threads=4, store=os.path.join(d, "live.db"),
                        keep_finished=1_000) as eng:
            t = time.perf_counter()
            eng.map("bench.noop", range(n)).wait()
            eng.shutdown()
            live = time.perf_counter() - t
    return n / resumed, n / live, most[0], rss_peak[0] - base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--huey-n", type=int, default=5_000)
    parser.add_argument("--rss-jobs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each throughput measurement; the median is kept")
    parser.add_argument("--lag-n", type=int, default=50_000,
                        help="jobs in the write-behind lag runs (0: skip)")
    parser.add_argument("--resume-n", type=int, default=100_000,
                        help="pending jobs in the resume run (0: skip)")
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


    if args.lag_n:
        rows = []
        for max_lag in (None, 1_000):
            rate, peak, bound = lag_run(args.lag_n, max_lag)
            rows.append((f"map(), SQLiteStore, max_lag={'default' if max_lag is None else max_lag}",
                         f"{args.lag_n:,}", f"{rate:,.0f}/s", f"{peak:,} jobs",
                         f"{bound:,} jobs", "PASS" if peak <= bound else "MISS"))
        print(table("How far the store trails the engine (write-behind lag; bound = max_lag "
                    "+ workers)", rows, ("what", "jobs", "throughput", "max lag", "bound",
                                         "verdict")))
    if args.resume_n:
        resumed, live, most, grew = resume_run(args.resume_n)
        print(table("Resume: a new engine drains a store of pending jobs", [
            (f"{args.resume_n:,} stored jobs, threads=4", f"{resumed:,.0f}/s",
             f"{live:,.0f}/s (submitted live)", f"{resumed / live:.2f}x",
             f"{most:,} (window {RESUME_WINDOW:,})", f"{grew:+,.0f} MB"),
        ], ("what", "resumed", "baseline", "ratio", "most held", "RSS")))


if __name__ == "__main__":
    main()
