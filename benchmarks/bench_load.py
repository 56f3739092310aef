"""Load figures: memory per queued job, stats() latency under load, mixed-run throughput.

Run: python benchmarks/bench_load.py [--quick] [--no-dask]

1. RSS per queued job at 10k / 100k / 1M jobs (``--quick``: up to 100k), each level in a
   fresh process: a paused engine (one thread worker blocked on an Event) queues ``eng.map``
   jobs. Baseline: the same number of bare ``Job`` models (what a queued job must hold at
   least), built the same way in the same kind of fresh process.
2. ``eng.stats()`` latency while 4 thread workers run short jobs and 100k more are queued.
   Goal: p99 under 50 ms.
3. A 2,000-job mixed run on thread, process and async backends with injected exceptions,
   retries, timeouts, cancels and killed process workers, against the same 2,000 jobs with
   no failures injected (the baseline, same run). Timeouts (0.1 s), cancels and worker
   restarts cost wall time on purpose: the ratio says what failure handling costs.
4. (unless ``--no-dask``) The ``"dask"`` backend against raw ``client.submit`` +
   ``result()`` on the same LocalCluster(processes=True, 2 workers x 1 thread).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table

import godnb as god
from godnb.execution.context import current

STATS_GOAL = 0.050  # seconds


# -- job functions (module level: process workers and Dask workers import them) -----------

def noop(x: Any = None) -> Any:
    return x


def nap(seconds: float) -> None:
    time.sleep(seconds)


def boom(i: int) -> None:
    raise ValueError(f"injected {i}")


def flaky(i: int) -> int:
    ctx = current()
    if ctx is not None and ctx.attempt == 1:
        raise ConnectionError(f"transient {i}")
    return i


def linger(cap: float) -> None:
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline and not god.cancelled():
        time.sleep(0.002)


def die(i: int) -> None:
    os._exit(3)


def die_first(i: int) -> int:
    ctx = current()
    if ctx is not None and ctx.attempt == 1:
        os._exit(3)
    return i


async def anoop(x: Any = None) -> Any:
    return x


async def aboom(i: int) -> None:
    raise ValueError(f"injected {i}")


async def aflaky(i: int) -> int:
    return flaky(i)


async def alinger(cap: float) -> None:
    await asyncio.sleep(cap)


# -- 1. RSS per queued job -----------------------------------------------------------------

def rss() -> int:
    import psutil

    gc.collect()
    return int(psutil.Process().memory_info().rss)


def rss_child(kind: str, n: int) -> dict[str, float]:
    """In a fresh process: bytes of RSS per queued job (or per bare Job model)."""
    if kind == "models":
        template = god.Job(payload={"task": noop, "args": [0]})
        base = rss()
        t = time.perf_counter()
        jobs = [template.derive({"task": noop, "args": (i,), "kwargs": {}}) for i in range(n)]
        build = time.perf_counter() - t
        per = (rss() - base) / n
        del jobs
        return {"per_job": per, "submit_us": build / n * 1e6}
    release = threading.Event()
    with god.Engine(threads=1, keep_finished=1000) as eng:
        blocker = eng.submit(release.wait)
        while blocker.status is not god.JobStatus.RUNNING:
            time.sleep(0.001)
        base = rss()
        t = time.perf_counter()
        group = eng.map(noop, range(n))
        submit = time.perf_counter() - t
        peak = rss() - base
        t = time.perf_counter()
        release.set()
        eng.wait()
        drain = time.perf_counter() - t
        del group
        after = rss() - base
    return {"per_job": peak / n, "submit_us": submit / n * 1e6, "drain_us": drain / n * 1e6,
            "kept": after / peak}


def run_child(kind: str, n: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--rss-child", kind, str(n)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench_rss(levels: list[int]) -> str:
    rows = []
    for n in levels:
        ours, base = run_child("engine", n), run_child("models", n)
        ratio = ours["per_job"] / base["per_job"]
        rows.append((f"{n:,}", f"{base['per_job']:,.0f} B", f"{ours['per_job']:,.0f} B",
                     f"{ratio:.2f}x", f"{ours['submit_us']:.1f} us", f"{ours['drain_us']:.1f} us",
                     f"{ours['kept']:.0%}"))
    return table("RSS per queued job (ratio = engine / bare Job models; lower is better)", rows,
                 ("queued", "bare Job", "engine", "ratio", "submit/job", "drain/job",
                  "kept after drain"))


# -- 2. stats() under load -----------------------------------------------------------------

def bench_stats(queued: int, samples: int = 1000) -> str:
    lat: list[float] = []
    with god.Engine(threads=4) as eng:
        eng.map(nap, [0.0005] * queued)
        for _ in range(samples):
            t = time.perf_counter()
            eng.stats()
            lat.append(time.perf_counter() - t)
            time.sleep(0.001)
        left = eng.stats().counts["pending"]
        eng.shutdown(wait=False)
    lat.sort()
    p50, p99, worst = lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], lat[-1]
    return table(f"eng.stats() latency: 4 busy threads, {queued:,} jobs queued "
                 f"({left:,} still queued at the end)", [
                     ("p50", f"{p50 * 1e3:.3f} ms", ""),
                     ("p99", f"{p99 * 1e3:.3f} ms",
                      f"{'PASS' if p99 < STATS_GOAL else 'MISS'} (goal < {STATS_GOAL * 1e3:g} ms)"),
                     ("max", f"{worst * 1e3:.3f} ms", "")],
                 ("percentile", "latency", "verdict"))


# -- 3. the mixed run ----------------------------------------------------------------------

MIX = [("ok", 0.55), ("raise", 0.10), ("flaky", 0.10), ("timeout", 0.06),
       ("cancel", 0.09), ("die", 0.05), ("die_first", 0.05)]


def mixed_run(n: int, inject: bool, seed: int = 7) -> float:
    rng = random.Random(seed)
    kinds = [k for k, share in MIX for _ in range(round(share * n))]
    kinds = (kinds + ["ok"] * n)[:n] if inject else ["ok"] * n
    rng.shuffle(kinds)
    backends = ("thread", "process", "async")
    with god.Engine(threads=8, processes=2, keep_finished=n) as eng:
        eng.map(noop, range(20), backend="process").wait()  # warm the process pool
        t = time.perf_counter()
        cancel = []
        for i, kind in enumerate(kinds):
            backend = "process" if kind.startswith("die") else backends[i % 3]
            aio = backend == "async"
            if kind == "ok":
                eng.submit(anoop if aio else noop, i, backend=backend)
            elif kind == "raise":
                eng.submit(aboom if aio else boom, i, backend=backend)
            elif kind == "flaky":
                eng.submit(aflaky if aio else flaky, i, backend=backend, retries=1)
            elif kind == "timeout":
                eng.submit(alinger if aio else linger, 20, backend=backend, timeout=0.1)
            elif kind == "cancel":
                cancel.append(eng.submit(alinger if aio else linger, 20, backend=backend,
                                         priority=-1))
            elif kind == "die":
                eng.submit(die, i, backend="process")
            else:
                eng.submit(die_first, i, backend="process", retries=1)
        for h in cancel:
            h.cancel()
        eng.wait()
        elapsed = time.perf_counter() - t
        assert eng.stats().counts["pending"] == eng.stats().counts["running"] == 0
    return elapsed


def bench_mixed(n: int) -> str:
    clean, mixed = mixed_run(n, inject=False), mixed_run(n, inject=True)
    return table(f"{n:,}-job mixed run on thread/process/async (ratio = with failures / "
                 f"without; higher is better)", [
                     ("no failures (baseline)", f"{clean:.2f} s", f"{n / clean:,.0f}/s", ""),
                     ("exceptions, retries, timeouts, cancels, killed workers",
                      f"{mixed:.2f} s", f"{n / mixed:,.0f}/s", f"{clean / mixed:.2f}x")],
                 ("run", "wall", "throughput", "ratio"))


# -- 4. the dask backend -------------------------------------------------------------------

def bench_dask(n: int) -> str | None:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    import logging

    from godnb.contrib.dask import DaskExecutor

    with LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        [f.result() for f in [client.submit(noop, i, pure=False) for i in range(50)]]
        t = time.perf_counter()
        futures = [client.submit(noop, i, pure=False) for i in range(n)]
        [f.result() for f in futures]
        raw = time.perf_counter() - t
        del futures
        with god.Engine(threads=1, executors={"dask": DaskExecutor(client)}) as eng:
            eng.map(noop, range(50), backend="dask").results()
            t = time.perf_counter()
            eng.map(noop, range(n), backend="dask").results()
            ours = time.perf_counter() - t
    # No goal: godnb keeps at most ``workers`` jobs in Dask (so priorities stay godnb's)
    # and fetches each result from its done callback; raw Dask pipelines everything.
    return table("Dask backend vs raw client.submit + result (2 process workers x 1 thread; "
                 "ratio = raw / godnb time)", [
                     (f"{n:,}", f"{raw / n * 1e3:.2f} ms", f"{ours / n * 1e3:.2f} ms",
                      f"{raw / ours:.2f}x", "(for scale)")],
                 ("jobs", "raw dask/task", "godnb dask/job", "ratio", "verdict"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="RSS up to 100k, smaller runs")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask comparison")
    parser.add_argument("--rss-child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        print(json.dumps(rss_child(args.rss_child[0], int(args.rss_child[1]))))
        return
    levels = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    print(bench_rss(levels))
    print(bench_stats(100_000))
    print(bench_mixed(2_000))
    if not args.no_dask:
        out = bench_dask(500 if args.quick else 2_000)
        if out is not None:
            print(out)


if __name__ == "__main__":
    main()
