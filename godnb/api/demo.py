"""``godnb demo``: a headless tour for machines without a browser.

One engine on a SQLite file in a temporary folder runs a few hundred jobs of mixed
priority and group (short jobs with progress, retried flaky ones, CPU work on processes,
two that fail on purpose) and the inference pipeline of
:mod:`godnb.examples.inference`, while the live terminal view of ``godnb monitor`` shows
the store. It ends with a summary; the whole run takes a few seconds.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from typing import IO, Any

from godnb.api.cli_format import format_counts, to_json
from godnb.api.monitor import LiveView, take_snapshot, watch
from godnb.core.engine import Engine
from godnb.core.handles import JobHandle

__all__ = ["run_demo", "submit_demo_jobs"]

_GROUPS = ("alice", "bob", "nightly")
_PRIORITIES = (0, 0, 0, 1, 5, 10)


def submit_demo_jobs(engine: Engine, jobs: int, seed: int = 0) -> dict[str, Any]:
    """Queue about ``jobs`` demo jobs; returns the handles worth reporting on."""
    import godnb.examples.demo_tasks  # noqa: F401  (registers the demo.* tasks)

    rng = random.Random(seed)
    n_crunch = max(1, jobs // 15)
    n_flaky = max(1, jobs // 12)
    n_broken = 2 if jobs >= 20 else 0
    n_resize = max(0, jobs - n_crunch - n_flaky - n_broken - 1)
    classify = engine.submit("demo.classify", 4000, priority=3, group="ml",
                             name="inference pipeline")
    for i in range(n_resize):
        engine.submit("demo.resize", i, rng.choice((128, 256, 512)),
                      priority=rng.choice(_PRIORITIES), group=rng.choice(_GROUPS))
    engine.map("demo.crunch", [200_000 + 10_000 * k for k in range(n_crunch)], priority=1,
               group="nightly")
    engine.map("demo.flaky", range(n_flaky), group="bob")
    broken = [engine.submit("demo.broken", i, group="alice") for i in range(n_broken)]
    return {"classify": classify, "broken": broken}


def run_demo(db: str | None = None, jobs: int = 300, plain: bool = False,
             interval: float = 0.25, out: IO[str] | None = None) -> int:
    """Run the demo; returns the exit code (0, or 130 when interrupted)."""
    out = out if out is not None else sys.stdout
    tmp = None if db else tempfile.TemporaryDirectory(prefix="godnb-demo-")
    path = db or os.path.join(tmp.name, "demo.db")  # type: ignore[union-attr]
    view = LiveView(out, ansi=False if plain else None)
    started = time.monotonic()
    try:
        with Engine(threads=4, processes=2, store=path, poll_interval=0.1,
                    name="demo") as engine:
            handles = submit_demo_jobs(engine, jobs)
            try:
                watch(lambda prev: take_snapshot(engine.store, path, previous=prev,  # type: ignore[arg-type]
                                                 title="godnb demo"),
                      view, interval=interval, until_done=True)
            except KeyboardInterrupt:
                view.close()
                engine.shutdown(wait=False)
                out.write("\ndemo interrupted\n")
                return 130
            view.close()
            engine.wait()
            counts = engine.store.counts()  # type: ignore[union-attr]
            out.write(_summary(handles, counts, time.monotonic() - started, path, tmp is None))
            out.write(str(engine.profile()) + "\n")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


def _summary(handles: dict[str, Any], counts: dict[str, int], seconds: float, path: str,
             kept: bool) -> str:
    classify: JobHandle = handles["classify"]
    lines = ["", f"demo finished in {seconds:.1f} s: {format_counts(counts)}"]
    if classify.status.value == "completed":
        report = classify.result()
        lines.append(f"inference pipeline: {report['texts']} texts classified, accuracy "
                     f"{report['accuracy']:.1%}, {report['flagged']} flagged for review; "
                     f"labels {to_json(report['labels'])}")
    else:
        lines.append(f"inference pipeline: {classify.status.value} ({classify.job.error})")
    broken = handles["broken"]
    if broken:
        lines.append(f"{len(broken)} job(s) failed on purpose, e.g. {broken[0].job.error}")
    lines.append(f"database: {path}" if kept else "database: a temporary file, removed")
    return "\n".join(lines) + "\n\n"
