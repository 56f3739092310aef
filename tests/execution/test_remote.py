"""Exceptions across a process boundary (execution/remote.py), unit by unit and end to end.

The end-to-end part proves that the engine's process backend and a pipeline's process
stage survive an exception whose ``__str__`` is broken and one that can not be unpickled:
the job (or item) fails with a message that names the original exception and keeps its
traceback, and the workers go on. The Dask executor's side of the same proof is in
tests/contrib/test_dask.py (it needs that directory's cluster).
"""

from __future__ import annotations

import pickle
import re
import traceback
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobStatus, Pipeline
from godnb.execution import remote
from godnb.execution.remote import (
    BROKEN_STR,
    RemoteTraceback,
    describe,
    exception_message,
    format_traceback,
    portable,
    with_remote_traceback,
)
from tests.execution import raising
from tests.execution.raising import BrokenStr, HoldsLock, NeedsArgs

pytestmark = pytest.mark.timeout(120)


def raised(exc: BaseException) -> BaseException:
    """``exc`` after a raise, so it carries a traceback as a job's error does."""
    try:
        raise exc
    except BaseException as e:
        return e


def round_trip(exc: BaseException) -> BaseException:
    back: BaseException = pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
    return back


# -- portable ---------------------------------------------------------------------------------

def test_portable_keeps_an_exception_that_travels_well() -> None:
    exc = raised(ValueError("bad row"))
    sendable, tb = portable(exc, "job-1")
    assert sendable is exc
    assert tb.startswith("Traceback (most recent call last)") and "ValueError: bad row" in tb


@pytest.mark.parametrize(("exc", "why"), [
    (HoldsLock("locked"), r"TypeError: cannot pickle '_thread.lock' object"),
    (NeedsArgs(42, "the answer"), r"TypeError: NeedsArgs.__(new|init)__\(\) missing \d required "
                                  r"positional arguments?: "),
    (BrokenStr("hidden"), r"its __str__ raised RuntimeError: __str__ is broken"),
], ids=["unpicklable", "init-with-required-args", "broken-str"])
def test_portable_replaces_what_would_break_on_the_way(exc: BaseException, why: str) -> None:
    exc = raised(exc)
    sendable, tb = portable(exc, "job-7")
    assert type(sendable) is RuntimeError
    message = str(sendable)
    name = f"tests.execution.raising.{type(exc).__name__}"
    assert message.startswith(f"job job-7 raised {name}: {describe(exc)} (the exception "
                              f"could not be sent back from the worker process: ")
    assert re.search(why, message), message
    assert "give custom exceptions an __init__ that accepts the message alone" in message
    assert message.endswith(f"Original traceback:\n{tb}")
    assert "in raised" in tb and f"{type(exc).__name__}: " in tb
    back = round_trip(sendable)  # the replacement itself travels
    assert type(back) is RuntimeError and str(back) == message


def test_portable_without_a_job_says_only_raised() -> None:
    sendable, _ = portable(raised(NeedsArgs(1, "x")))
    assert str(sendable).startswith("raised tests.execution.raising.NeedsArgs: NeedsArgs: 1: x")


def test_exception_message_and_describe_survive_a_broken_str() -> None:
    assert exception_message(ValueError("v")) == "v"
    assert exception_message(BrokenStr()) == BROKEN_STR == "<exception str() failed>"
    assert describe(ValueError("v")) == "ValueError: v"
    assert describe(BrokenStr()) == "BrokenStr"


# -- format_traceback ---------------------------------------------------------------------------

def test_format_traceback_with_its_own_or_a_given_traceback() -> None:
    exc = raised(KeyError("k"))
    text = format_traceback(exc)
    assert text == "".join(traceback.format_exception(exc))
    assert "in raised" in text and text.endswith("KeyError: 'k'\n")
    tb = exc.__traceback__
    bare = KeyError("other")  # as Dask hands it over: the traceback comes apart
    assert "in raised" in format_traceback(bare, tb)
    assert format_traceback(KeyError("never raised")) == "KeyError: 'never raised'\n"


def test_format_traceback_never_raises_on_a_broken_str_in_the_chain() -> None:
    try:
        try:
            raise BrokenStr()
        except BrokenStr as inner:
            raise ValueError("outer") from inner
    except ValueError as e:
        text = format_traceback(e)
    assert "BrokenStr: <exception str() failed>" in text
    assert "ValueError: outer" in text


def test_format_traceback_falls_back_to_describe_if_formatting_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> list[str]:
        raise RuntimeError("formatter bug")

    monkeypatch.setattr(remote.traceback, "format_exception", broken)
    assert format_traceback(ValueError("v")) == "ValueError: v\n"
    assert format_traceback(BrokenStr()) == "BrokenStr\n"


# -- with_remote_traceback ----------------------------------------------------------------------

def test_with_remote_traceback_sets_the_worker_traceback_as_the_cause() -> None:
    exc = ValueError("from the worker")
    out = with_remote_traceback(exc, "Traceback ...\n  File 'job.py'\nValueError\n")
    assert out is exc
    assert isinstance(exc.__cause__, RemoteTraceback)
    assert str(exc.__cause__) == exc.__cause__.tb == "Traceback ...\n  File 'job.py'\nValueError\n"
    printed = "".join(traceback.format_exception(exc))
    assert "File 'job.py'" in printed  # the user's lines print above the error


def test_with_remote_traceback_keeps_an_existing_cause_and_ignores_no_text() -> None:
    cause = KeyError("own")
    exc = ValueError("v")
    exc.__cause__ = cause
    with_remote_traceback(exc, "tb")
    assert exc.__cause__ is cause
    for empty in (None, ""):
        plain = ValueError("v")
        with_remote_traceback(plain, empty)
        assert plain.__cause__ is None


# -- end to end: the engine's process backend and a pipeline's process stage --------------------

@pytest.mark.parametrize("backend", ["process", "thread"])
@pytest.mark.parametrize("kind", list(raising.RAISERS))
def test_an_engine_job_fails_cleanly_and_the_backend_goes_on(kind: str, backend: str) -> None:
    with Engine(threads=1, processes=1) as eng:
        h = eng.submit(raising.RAISERS[kind], backend=backend)
        assert h.wait(30), f"the {backend} job never ended"
        assert h.status is JobStatus.FAILED
        error = h.exception()
        assert isinstance(error, god.JobFailed)
        assert raising.NAMES[kind] in str(error)
        (info,) = h.errors
        assert f"in {raising.RAISERS[kind].__name__}" in info.traceback
        # the worker that reported it is still there for the next job
        assert eng.submit(raising.identity, 5, backend=backend).result(timeout=30) == 5


@pytest.mark.parametrize("kind", list(raising.RAISERS))
def test_a_pipeline_process_stage_fails_the_item_cleanly(kind: str) -> None:
    fn = raising.RAISERS[kind]
    p = Pipeline(range(4)).map(fn, backend="process", workers=2)
    with pytest.raises(god.PipelineError, match=rf"stage map\[0\]:{fn.__name__} failed on "
                                                r"input 0: RuntimeError: ") as info:
        p.collect()
    cause = info.value.__cause__
    assert isinstance(cause, RuntimeError) and raising.NAMES[kind] in str(cause)
    assert isinstance(cause.__cause__, RemoteTraceback)
    assert f"in {fn.__name__}" in cause.__cause__.tb
    # every item fails the same way, and the pool goes on to the last one
    collected = Pipeline(range(4), on_error="collect").map(fn, backend="process", workers=2)
    assert collected.collect() == []
    assert sorted(e.index for e in collected.errors) == [0, 1, 2, 3]


# -- remote tracebacks in a notebook: cell files labelled as IPython labels them --------------
TB = ('Traceback (most recent call last):\n'
      '  File "/tmp/ipykernel_1/42.py", line 3, in parse\n'
      '    return rec["id"]\n'
      '  File "/usr/lib/helpers.py", line 9, in get\n'
      "KeyError: 'id'\n")


def test_a_cause_the_exception_has_is_kept() -> None:
    kept = ValueError("x")
    kept.__cause__ = OSError("own cause")
    assert with_remote_traceback(kept, TB).__cause__.args == ("own cause",)  # type: ignore[union-attr]
    assert with_remote_traceback(ValueError("y"), None).__cause__ is None


def test_cell_files_are_labelled_and_others_kept() -> None:
    def label(filename: str) -> str | None:
        if filename == "/usr/lib/helpers.py":
            raise RuntimeError("a broken labeller")
        return "Cell In[7]" if filename.startswith("/tmp/ipykernel_") else None

    remote.set_file_labeller(label)
    try:
        tb = str(with_remote_traceback(KeyError("id"), TB).__cause__)
    finally:
        remote.set_file_labeller(None)
    assert '  Cell In[7], line 3, in parse\n    return rec["id"]' in tb
    assert 'File "/usr/lib/helpers.py", line 9, in get' in tb  # kept as written
