"""Exceptions that cross a process boundary, keeping the traceback of where they happened.

A worker process (godnb's own pool, a pipeline's process stage, a Dask worker) sends a
job's exception back pickled, with its traceback as text: the frames themselves do not
pickle. The parent re-raises the exception with that text attached as a
:class:`RemoteTraceback` ``__cause__``, as ``concurrent.futures`` does, so the user's own
lines print under the error.

Example:
    >>> exc, tb = portable(ValueError("bad row"))
    >>> err = with_remote_traceback(exc, "Traceback (most recent call last): ...")
    >>> type(err.__cause__).__name__
    'RemoteTraceback'
"""

from __future__ import annotations

import pickle
import re
import traceback
from collections.abc import Callable
from types import TracebackType

__all__ = ["RemoteTraceback", "describe", "exception_message", "format_traceback", "portable",
           "set_file_labeller", "with_remote_traceback"]

_FRAME = re.compile(r'^(\s*)File "([^"]+)", line (\d+)', re.MULTILINE)
_labeller: list[Callable[[str], str | None] | None] = [None]


def set_file_labeller(labeller: Callable[[str], str | None] | None) -> None:
    """Install how a remote traceback names a source file (None: as written).

    In a kernel the notebook layer labels the files IPython compiled cells into
    (``Cell In[5]``), as IPython does for local tracebacks; other files keep their path.
    """
    _labeller[0] = labeller


def _label_files(tb: str) -> str:
    labeller = _labeller[0]
    if labeller is None:
        return tb

    def label(m: re.Match[str]) -> str:
        try:
            name = labeller(m.group(2))
        except Exception:  # a label is cosmetic: never lose the traceback over it
            name = None
        return m.group(0) if name is None else f"{m.group(1)}{name}, line {m.group(3)}"

    return _FRAME.sub(label, tb)

#: What stands for the message of an exception whose ``__str__`` raises (as ``traceback``
#: prints it).
BROKEN_STR = "<exception str() failed>"


class RemoteTraceback(Exception):
    """The worker-side traceback, set as ``__cause__`` of an error raised in a process."""

    def __init__(self, tb: str) -> None:
        super().__init__(tb)
        self.tb = tb

    def __str__(self) -> str:
        return self.tb


def format_traceback(exc: BaseException, tb: TracebackType | None = None) -> str:
    """``exc`` with its traceback (``tb``, else its own) as one string.

    What ``ErrorInfo.traceback`` keeps. Never raises: an exception whose ``__str__`` is
    broken prints as its type name.
    """
    try:
        if tb is None:
            return "".join(traceback.format_exception(exc))
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:  # a broken __str__ somewhere in the chain
        return f"{describe(exc)}\n"


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, or :data:`BROKEN_STR` when the exception's ``__str__`` raises.

    For every message built from a job's exception: user code defines that ``__str__``,
    and a broken one must not take the engine (or a worker) down with it.
    """
    try:
        return str(exc)
    except Exception:
        return BROKEN_STR


def describe(exc: BaseException) -> str:
    """``"Type: message"``, or only the type when the exception's ``__str__`` is broken."""
    try:
        return f"{type(exc).__name__}: {exc}"
    except Exception:  # a broken __str__ must not hide the original problem
        return type(exc).__name__


def portable(exc: BaseException, job: str | None = None) -> tuple[BaseException, str]:
    """``exc`` ready to pickle back to the parent, and its traceback text.

    An exception that would break on the way (its ``__str__`` raises, or it does not
    survive a pickle round trip: a custom ``__init__`` with required arguments, an
    unpicklable attribute) is replaced by a :class:`RuntimeError` that names it, says why,
    and carries the original traceback.
    """
    tb = format_traceback(exc)
    problem = _unsendable(exc)
    if problem is not None:
        name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        who = f"job {job} raised" if job else "raised"
        exc = RuntimeError(
            f"{who} {name}: {describe(exc)} (the exception could not be sent back from the "
            f"worker process: {problem}; give custom exceptions an __init__ that accepts "
            f"the message alone, and a __str__ that does not raise)\n\n"
            f"Original traceback:\n{tb}")
    return exc, tb


def _unsendable(exc: BaseException) -> str | None:
    """Why ``exc`` can not be sent to another process as it is, or None."""
    try:
        str(exc)
    except Exception as e:
        return f"its __str__ raised {describe(e)}"
    try:
        pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
    except BaseException as e:
        return describe(e)
    return None


def with_remote_traceback(exc: BaseException, tb: str | None) -> BaseException:
    """Attach the worker's traceback text as ``exc.__cause__`` (unless it has a cause)."""
    if tb and exc.__cause__ is None:
        exc.__cause__ = RemoteTraceback(_label_files(tb))
    return exc
