"""Interop overhead against the tools it stands in for, side by side in one run.

* ``eng.executor().map`` vs ``ThreadPoolExecutor.map``: the same no-op calls, the same
  number of threads, results consumed in order.
* joblib's ``"godnb"`` backend vs joblib's default ``loky`` backend: the same
  ``Parallel(n_jobs)`` call of small pure-Python tasks, automatic batching on both (each
  backend warmed up first: loky starts its worker processes, godnb its workers), once on
  godnb's threads (the default: they share the GIL, loky's processes do not) and once on
  its processes (``on="process"``).

Run: python benchmarks/bench_interop.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, table, verdict

import godnb as god

WORKERS = 4


def noop(x: object = None) -> object:
    return x


def work(x: int) -> int:
    """A small task (tens of microseconds), the size joblib batches automatically."""
    return sum(range(x % 100 + 100))


def tpe_map(n: int) -> float:
    with ThreadPoolExecutor(WORKERS) as ex:
        list(ex.map(noop, range(100)))
        t = time.perf_counter()
        list(ex.map(noop, range(n)))
        return time.perf_counter() - t


def executor_map(n: int) -> float:
    with god.Engine(threads=WORKERS) as eng, eng.executor() as ex:
        list(ex.map(noop, range(100)))
        t = time.perf_counter()
        list(ex.map(noop, range(n)))
        return time.perf_counter() - t


def joblib_run(backend: str, n: int, **config: object) -> float:
    import joblib

    def once() -> float:
        t = time.perf_counter()
        out = joblib.Parallel(n_jobs=WORKERS)(joblib.delayed(work)(i) for i in range(n))
        assert len(out) == n
        return time.perf_counter() - t

    with joblib.parallel_config(backend=backend, **config):
        once()  # warm up: workers started
        return once()


def joblib_godnb(n: int, on: str) -> float:
    import godnb.contrib.joblib  # noqa: F401  registers "godnb"

    with god.Engine(threads=WORKERS, processes=WORKERS) as eng:
        return joblib_run("godnb", n, engine=eng, on=on)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    n_map = 2_000 if args.quick else 100_000
    n_joblib = 2_000 if args.quick else 50_000
    repeat = 1 if args.quick else args.repeat

    rows: list[tuple[str, ...]] = []
    base = best_of(lambda: tpe_map(n_map), repeat)
    ours = best_of(lambda: executor_map(n_map), repeat)
    ratio = base / ours
    rows.append((f"executor().map, {WORKERS} threads, {n_map:,} no-op",
                 f"{n_map / base:,.0f}/s (ThreadPoolExecutor.map)", f"{n_map / ours:,.0f}/s",
                 f"{ratio:.2f}x", verdict(ratio, 0.5)))
    try:
        import joblib  # noqa: F401
    except ImportError:
        rows.append(("joblib backend", "skipped: pip install 'godnb[joblib]'", "", "", ""))
    else:
        base = best_of(lambda: joblib_run("loky", n_joblib), repeat)
        for on in ("thread", "process"):
            ours = best_of(lambda on=on: joblib_godnb(n_joblib, on), repeat)
            ratio = base / ours
            rows.append((f"joblib Parallel(n_jobs={WORKERS}), {n_joblib:,} small tasks, "
                         f"on={on}", f"{n_joblib / base:,.0f}/s (loky)",
                         f"{n_joblib / ours:,.0f}/s", f"{ratio:.2f}x", verdict(ratio, 0.7)))
    print(table("interop: godnb behind standard interfaces", rows,
                ("benchmark", "baseline", "godnb", "ratio", "verdict")))


if __name__ == "__main__":
    main()
