"""Compatibility names for per-job output capture, which now lives below this layer.

The router over ``sys.stdout``/``sys.stderr`` and the per-job buffer are
:mod:`godnb.execution.output`; a job's buffer hangs on its handle (``h.captured``) and
``h.output_text()`` reads it. In a kernel every job is captured (the notebook layer turns
capture on when it loads). These helpers find a job by id on the live engines.
"""

from __future__ import annotations

from godnb.core.engine import live_engines
from godnb.core.handles import JobHandle
from godnb.execution.output import JobOutput, install, installed, uninstall

__all__ = ["JobOutput", "capture", "install", "installed", "job_output", "uninstall"]


def _find(job_id: str) -> JobHandle | None:
    for engine in live_engines():
        handle = engine.get(job_id)
        if handle is not None:
            return handle
    return None


def capture(job_id: str) -> JobOutput:
    """Capture the output of job ``job_id`` from now on; its buffer.

    Raises:
        KeyError: no live engine knows the job.
    """
    handle = _find(job_id)
    if handle is None:
        raise KeyError(f"no live engine knows job {job_id!r}")
    install()
    return handle.capture_output()


def job_output(job_id: str) -> JobOutput | None:
    """The buffer of a captured job, or None (prefer ``h.output_text()``)."""
    handle = _find(job_id)
    return None if handle is None else handle.captured
