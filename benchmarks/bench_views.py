"""The look: what recording a timeline costs a job, and what drawing it costs a kernel.

Run: python benchmarks/bench_views.py [--n 100000] [--only record,timeline,report,messages]

* ``record``: the runtime records every ended run for ``eng.timeline()``. Interleaved
  A/B: the same inline ``map`` with the real recorder (A) and with a recorder whose
  ``record`` does nothing (B); and ``TimelineRecorder.record`` alone against an empty
  method of the same signature. The difference is the cost added per job.
* ``timeline``: drawing a 100k-run timeline (SVG, HTML, text): time, size, SVG elements.
* ``report``: ``eng.report()`` of an engine that ran 100k jobs: time and file size.
* ``messages``: widget comm messages per second with a live timeline, a group bar and
  the engine view open while jobs run, counted on fake comms: the timeline must stay
  within its throttle (at most 2 redraws a second), the others within theirs (10).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table

import godnb as god
from godnb.core.timeline import TimelineRecorder
from godnb.views.timeline import format_timeline_html, format_timeline_svg, format_timeline_text


class _NoRecorder(TimelineRecorder):
    def record(self, run: Any, task: str, status: int, end: float | None = None) -> None:
        pass


def _noop(x: int) -> int:
    return x


def _inline_map(n: int, stub: bool) -> float:
    with god.Engine(threads=1, backend="inline") as eng:
        if stub:
            eng._rt.timeline = _NoRecorder()
        t = time.perf_counter()
        eng.map(_noop, range(n))
        return time.perf_counter() - t


def bench_record(n: int, pairs: int = 7) -> list[tuple[str, ...]]:
    a, b = [], []
    _inline_map(n // 4, False)  # warm up
    for i in range(pairs):  # interleaved, alternating which goes first
        if i % 2 == 0:
            a.append(_inline_map(n, stub=False))
            b.append(_inline_map(n, stub=True))
        else:
            b.append(_inline_map(n, stub=True))
            a.append(_inline_map(n, stub=False))
    per_job = [(x - y) / n * 1e6 for x, y in zip(a, b, strict=True)]
    rec = TimelineRecorder(capacity=100_000)
    stub = _NoRecorder(capacity=16)

    class Run:
        worker, backend, started = None, "thread", 1.0

    run = Run()
    loops = 200_000
    real = min(timeit.repeat(lambda: rec.record(run, "score", 0, 2.0), number=loops,
                             repeat=5))
    empty = min(timeit.repeat(lambda: stub.record(run, "score", 0, 2.0), number=loops,
                              repeat=5))
    return [
        ("inline map, real recorder (A)", f"{statistics.median(a) / n * 1e6:.2f} us/job"),
        ("inline map, no-op recorder (B)", f"{statistics.median(b) / n * 1e6:.2f} us/job"),
        ("A - B, median of pairs", f"{statistics.median(per_job):+.3f} us/job "
                                   f"(pairs: {', '.join(f'{x:+.2f}' for x in per_job)})"),
        ("record() alone", f"{real / loops * 1e9:.0f} ns"),
        ("an empty method, same call", f"{empty / loops * 1e9:.0f} ns"),
        ("record() body", f"{(real - empty) / loops * 1e9:.0f} ns per run"),
    ]


def _filled_engine(n: int) -> god.Engine:
    eng = god.Engine(threads=4, processes=2, timeline_size=max(n, 1))
    eng.map(_noop, range(n))
    eng.wait()
    return eng


def bench_timeline(n: int) -> list[tuple[str, ...]]:
    eng = _filled_engine(n)
    try:
        t = time.perf_counter()
        data = eng.timeline().snapshot()
        snap = time.perf_counter() - t
        rows = [("snapshot", f"{snap * 1e3:.0f} ms", f"{data.runs:,} runs")]
        for name, fn in (("svg", format_timeline_svg), ("html", format_timeline_html),
                         ("text", format_timeline_text)):
            t = time.perf_counter()
            out = fn(data)
            took = time.perf_counter() - t
            elements = out.count("<rect") if name != "text" else len(out.splitlines())
            rows.append((name, f"{took * 1e3:.0f} ms", f"{len(out) / 1e3:,.0f} KB, "
                         f"{elements:,} {'rects' if name != 'text' else 'lines'}"))
        return rows
    finally:
        eng.shutdown()


def bench_report(n: int) -> list[tuple[str, ...]]:
    eng = _filled_engine(n)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "run.html"
            t = time.perf_counter()
            eng.report(path)
            took = time.perf_counter() - t
            size = path.stat().st_size
        return [("eng.report()", f"{took * 1e3:.0f} ms", f"{size / 1e3:,.0f} KB")]
    finally:
        eng.shutdown()


class _Comm:
    """Stands in for a kernel comm: counts the messages a widget would send."""

    def __init__(self, counts: list[float]) -> None:
        self.counts = counts
        self.comm_id = "fake"
        self.kernel = object()  # ipywidgets sends only through a comm with a kernel

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.counts.append(time.monotonic())

    def on_msg(self, callback: Any) -> None:
        pass

    def on_close(self, callback: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass


def bench_messages(seconds: float = 3.0) -> list[tuple[str, ...]]:
    from godnb.notebook.widgets import EngineView, GroupView, TimelineView

    async def main() -> list[tuple[str, ...]]:
        async with god.Engine(threads=4) as eng:
            g = eng.map(time.sleep, [seconds / 2000] * 8000)
            views = {"timeline": TimelineView(eng.timeline()), "group": GroupView(g),
                     "engine": EngineView(eng)}
            counts: dict[str, list[float]] = {}
            for name, view in views.items():
                counts[name] = []
                for w in [view, *_all(view)]:
                    w.comm = _Comm(counts[name])
            start = time.monotonic()
            await g
            took = time.monotonic() - start
            flushes = {name: view.refresher.flushes for name, view in views.items()}
            limits = {name: 1 / view.refresher.interval for name, view in views.items()}
            limits["timeline"] = 2.0  # its throttle, whatever a slow redraw stretched it to
            for view in views.values():
                view.close()
        rows = []
        for name, ts in counts.items():
            rate = flushes[name] / took
            ok = rate <= limits[name] * 1.1 + 1 / took  # + the first draw
            rows.append((name, f"{len(ts)}", f"{len(ts) / took:.1f}/s",
                         f"{_max_per_second(ts):d}", f"{rate:.1f}/s",
                         f"{'PASS' if ok else 'MISS'} (<= {limits[name]:g}/s)"))
        return rows

    return asyncio.run(main())


def _all(box: Any) -> list[Any]:
    out = []
    for child in getattr(box, "children", ()):
        out += [child, *_all(child)]
        layout = getattr(child, "layout", None)
        if layout is not None:
            out.append(layout)
    return out


def _max_per_second(ts: list[float]) -> int:
    best = 0
    j = 0
    for i, t in enumerate(ts):
        while ts[j] < t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="jobs for the big charts")
    parser.add_argument("--record-n", type=int, default=20_000, help="jobs per A/B run")
    parser.add_argument("--only", default="record,timeline,report,messages")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "record" in only:
        print(table("timeline recording: cost per job (interleaved A/B)",
                    bench_record(args.record_n), ("what", "measured")))
    if "timeline" in only:
        print(table(f"eng.timeline() of {args.n:,} jobs", bench_timeline(args.n),
                    ("rendering", "time", "size")))
    if "report" in only:
        print(table(f"eng.report() of {args.n:,} jobs", bench_report(args.n),
                    ("what", "time", "size")))
    if "messages" in only:
        print(table("widget comm messages while 8,000 jobs run (fake comms)",
                    bench_messages(), ("view", "messages", "rate", "busiest second",
                                       "redraws", "throttle")))


if __name__ == "__main__":
    main()
