"""The ``"inline"`` backend: each attempt runs in the thread that queued it, at once."""

from __future__ import annotations

from godnb.execution.executor import Executor
from godnb.execution.remote import format_traceback

__all__ = ["InlineExecutor"]


class InlineExecutor(Executor, name="inline"):
    """Runs each attempt in the thread that queued it, at once (tests and debugging).

    Priorities and fairness do not apply: there is never more than one job waiting.
    """

    def wake(self) -> None:
        __tracebackhide__ = True  # IPython: a job's traceback starts at the user's function
        host = self.host
        assert host is not None
        while (run := host.next_run(self.name, 0)) is not None:
            try:
                value = run.call()
            except BaseException as e:  # the job's error is data, reported to the host
                host.finish(run, error=e, tb=format_traceback(e))
            else:
                host.finish(run, value=value)
