"""The public surface: what users type. Changing this list is an API change."""

from __future__ import annotations

import subprocess
import sys

import godnb as god

PUBLIC = {
    "Cache", "Engine", "EngineStats", "ErrorInfo", "EventKind", "FatalError", "GodnbError",
    "InvalidTransition", "Job", "JobBuilder", "JobCancelled", "JobEvent", "JobFailed",
    "JobGroup", "JobHandle", "JobStatus", "JobTimeout", "LoopBlockingError", "MemoryStore",
    "Pipeline", "PipelineError", "ProfileTable", "Progress", "QueueFull", "RecoveryStats",
    "Result",
    "RetryPolicy", "RetryableError", "SQLiteStore", "ShelveStore", "Store", "StoreError",
    "TaskNotAllowed", "UnknownTask",
    "ValidationError", "WorkerDied", "__version__", "cached", "cancelled", "check_cancelled",
    "configure_logging", "default_engine", "load_ipython_extension", "map", "metrics",
    "plugins", "progress", "retry", "set_default_engine", "submit", "task", "timed",
}


def test_all_is_the_public_surface() -> None:
    assert set(god.__all__) == PUBLIC
    assert len(god.__all__) == len(set(god.__all__))
    for name in god.__all__:
        assert getattr(god, name) is not None


def test_errors_share_one_base() -> None:
    for name in ("FatalError", "InvalidTransition", "JobCancelled", "JobFailed", "JobTimeout",
                 "LoopBlockingError", "QueueFull", "RetryableError", "TaskNotAllowed",
                 "UnknownTask",
                 "ValidationError", "WorkerDied", "PipelineError"):
        assert issubclass(getattr(god, name), god.GodnbError), name
    assert issubclass(god.JobTimeout, TimeoutError)
    assert issubclass(god.ValidationError, ValueError)


def test_import_outside_a_kernel_does_not_import_widgets_or_ipython() -> None:
    code = ("import sys, godnb; "
            "print(any(m.split('.')[0] in ('ipywidgets', 'IPython') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_import_does_not_import_the_optional_interop_packages() -> None:
    code = ("import sys, godnb; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'joblib'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_import_configures_no_logging() -> None:
    code = ("import logging, godnb; "
            "print(len(logging.getLogger().handlers), len(logging.getLogger('godnb').handlers))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "0 0"
