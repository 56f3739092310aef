"""Tasks for ``godnb demo``: registered by name, so they run from a store in any engine.

* ``demo.resize`` - a short I/O-like job that reports progress;
* ``demo.flaky`` - fails its first attempt with a transient error, then succeeds;
* ``demo.crunch`` - CPU work for the process backend;
* ``demo.broken`` - always fails (so the live view has a failure to show);
* ``demo.classify`` - the inference pipeline (:mod:`godnb.examples.inference`) over a
  generated corpus, as one job with progress; returns accuracy and label counts.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from typing import Any

from godnb.core.tasks import task
from godnb.execution.context import check_cancelled, current, progress

__all__ = ["broken", "classify", "crunch", "flaky", "resize"]


def _seconds(key: str, low: float, high: float) -> float:
    """A duration between low and high, the same for the same key (no global RNG)."""
    return low + (zlib.crc32(key.encode()) % 1000) / 1000 * (high - low)


@task(name="demo.resize")
def resize(image: int, size: int = 256, steps: int = 4) -> dict[str, Any]:
    """Pretend to resize image ``image``: a few short sleeps with progress."""
    pause = _seconds(f"resize-{image}", 0.02, 0.12) / steps
    for step in range(steps):
        check_cancelled()
        time.sleep(pause)
        progress(step + 1, total=steps, message=f"{size}px")
    return {"image": image, "size": size}


@task(name="demo.flaky", retries=2, backend="thread")
def flaky(i: int) -> str:
    """A transient error on the first attempt (retried), then success."""
    ctx = current()
    attempt = ctx.attempt if ctx is not None else 1
    time.sleep(0.02)
    if attempt == 1:
        raise ConnectionError(f"upstream for item {i} timed out (attempt {attempt})")
    return f"item {i} ok on attempt {attempt}"


@task(name="demo.crunch", backend="process")
def crunch(n: int) -> int:
    """CPU-bound: a sum of squares in 10 slices, with progress."""
    total, step = 0, max(1, n // 10)
    for start in range(0, n, step):
        total += sum(k * k for k in range(start, min(n, start + step)))
        progress(min(n, start + step), total=n)
    return total


@task(name="demo.broken")
def broken(i: int) -> None:
    """Always fails: bad input that no retry fixes."""
    raise ValueError(f"record {i} has no 'id' field; fix the input file and resubmit")


@task(name="demo.classify")
def classify(n: int = 3000, seed: int = 1, workers: int = 2, batch_size: int = 64
             ) -> dict[str, Any]:
    """The inference pipeline over ``n`` generated texts; accuracy against their labels."""
    from godnb.examples.inference import build_pipeline, evaluate, generate_corpus, train_model

    model = train_model(seed=0)
    corpus = generate_corpus(n, seed=seed)
    pipeline = build_pipeline([text for text, _ in corpus], batch_size=batch_size,
                              workers=workers, backend="thread", model=model)
    predictions = []
    for k, prediction in enumerate(pipeline, 1):
        predictions.append(prediction)
        if k % batch_size == 0:
            check_cancelled()
            progress(k, total=n, message="texts classified")
    accuracy = evaluate(predictions, [label for _, label in corpus])
    return {"texts": n, "accuracy": round(accuracy, 4),
            "flagged": sum(p["review"] for p in predictions),
            "labels": dict(Counter(p["label"] for p in predictions))}
