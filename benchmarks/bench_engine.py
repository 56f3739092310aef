"""Engine throughput and latency against the standard library, side by side in one run.

Run: python benchmarks/bench_engine.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table, verdict

import godnb as god

WORKERS = 4


def noop(x: object = None) -> object:
    return x


async def anoop(x: object = None) -> object:
    return x


def tpe_submit(n: int) -> float:
    with ThreadPoolExecutor(WORKERS) as ex:
        t = time.perf_counter()
        wait([ex.submit(noop, i) for i in range(n)])
        return time.perf_counter() - t


def eng_map(n: int) -> float:
    with god.Engine(threads=WORKERS) as eng:
        eng.map(noop, range(100)).results()
        t = time.perf_counter()
        eng.map(noop, range(n)).results()
        return time.perf_counter() - t


def eng_submit(n: int) -> float:
    with god.Engine(threads=WORKERS) as eng:
        eng.submit(noop).result()
        t = time.perf_counter()
        for i in range(n):
            eng.submit(noop, i)
        eng.wait()
        return time.perf_counter() - t


def ppe_submit(n: int) -> float:
    with ProcessPoolExecutor(2) as ex:
        wait([ex.submit(noop, i) for i in range(100)])
        t = time.perf_counter()
        wait([ex.submit(noop, i) for i in range(n)])
        return time.perf_counter() - t


def eng_process(n: int) -> float:
    with god.Engine(processes=2) as eng:
        eng.map(noop, range(100), backend="process").results()
        t = time.perf_counter()
        eng.map(noop, range(n), backend="process").results()
        return time.perf_counter() - t


def gather(n: int) -> float:
    async def main() -> float:
        t = time.perf_counter()
        await asyncio.gather(*(anoop(i) for i in range(n)))
        return time.perf_counter() - t

    return asyncio.run(main())


def eng_async(n: int) -> float:
    async def main() -> float:
        async with god.Engine(async_limit=10_000) as eng:
            t = time.perf_counter()
            await eng.map(anoop, range(n))
            return time.perf_counter() - t

    return asyncio.run(main())


def latency(waiting: int, samples: int = 200) -> tuple[list[float], int]:
    """Submit-to-start of a high-priority job while ``waiting`` lower-priority jobs queue.

    The backlog is queued while the one worker is held, then released: the worker drains
    no-op jobs while each probe is submitted at a higher priority and must start as soon
    as the worker is free again, ahead of the whole backlog. Returns the latencies and the
    smallest backlog any probe saw.
    """
    starts: list[float] = []
    gate = threading.Event()
    least = waiting
    with god.Engine(threads=1) as eng:
        eng.submit(gate.wait, priority=10**6)
        eng.map(noop, range(waiting * 4), priority=-1)  # the worker drains some meanwhile
        gate.set()
        for _ in range(samples):
            t0 = time.perf_counter()
            h = eng.submit(time.perf_counter, priority=100)
            started = h.result(timeout=10)
            starts.append(started - t0)
            # Read after the probe (the backlog only shrinks, so this is a lower bound of
            # it during the probe): stats() takes the engine's lock, and called just
            # before t0 it would absorb waits that belong to the submit.
            least = min(least, eng.stats().queue_depth)
            time.sleep(0.001)
        eng.shutdown(wait=False)
    return starts, least


def dask_map(n: int) -> float | None:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        return None
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=WORKERS,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(noop, range(100), pure=False))
        t = time.perf_counter()
        client.gather(client.map(noop, range(n), pure=False))
        return time.perf_counter() - t


def ratio_row(label: str, n: int, base: float, ours: float, goal: float) -> tuple[str, ...]:
    r = base / ours
    return (label, f"{n:,}", f"{n / base:,.0f}/s", f"{n / ours:,.0f}/s", f"{r:.2f}x",
            verdict(r, goal))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10x fewer jobs")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    k = 10 if args.quick else 1
    med = lambda f, n: statistics.median(f(n) for _ in range(args.repeat))  # noqa: E731
    rows = []
    n = 100_000 // k
    rows.append(ratio_row(f"eng.map thread x{WORKERS} vs ThreadPoolExecutor", n,
                          med(tpe_submit, n), med(eng_map, n), 0.7))
    rows.append(ratio_row("eng.submit loop vs ThreadPoolExecutor", n,
                          med(tpe_submit, n), med(eng_submit, n), 0.5))
    m = 10_000 // k
    rows.append(ratio_row("process map x2 vs ProcessPoolExecutor(2)", m,
                          med(ppe_submit, m), med(eng_process, m), 0.7))
    rows.append(ratio_row("async map vs asyncio.gather", n, med(gather, n), med(eng_async, n),
                          0.5))
    d = dask_map(10_000 // k)
    if d is not None:
        ours = med(eng_map, 10_000 // k)
        rows.append(("eng.map vs dask LocalCluster(processes=False)", f"{10_000 // k:,}",
                     f"{10_000 // k / d:,.0f}/s", f"{10_000 // k / ours:,.0f}/s",
                     f"{d / ours:.2f}x", "(for scale)"))
    print(table("Engine throughput (ratio = godnb / baseline; higher is better)", rows,
                ("what", "jobs", "baseline", "godnb", "ratio", "verdict")))
    lat, least = latency(100_000 // k)
    lat.sort()
    p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1]
    print(table(f"Submit-to-start latency: one worker draining lower-priority jobs, at least "
                f"{least:,} of them queued at every probe", [
                    ("p50", f"{p50 * 1e3:.3f} ms", ""),
                    ("p99", f"{p99 * 1e3:.3f} ms",
                     "PASS (goal < 1 ms)" if p99 < 1e-3 else "MISS (goal < 1 ms)")],
                ("percentile", "latency", "verdict")))


if __name__ == "__main__":
    main()
