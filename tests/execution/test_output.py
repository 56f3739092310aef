"""Per-job output capture below the notebook layer: the bounded buffer, the stdout/stderr
router, log records, and every backend (thread, inline, async, process)."""

from __future__ import annotations

import asyncio
import io
import logging
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from godnb import Engine
from godnb.execution import output
from godnb.execution.output import MAX_LINES, BatchedSink, JobOutput
from tests.execution import output_tasks as tasks
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


@contextmanager
def routed() -> Iterator[io.StringIO]:
    """Routers over a StringIO, inside the test body (pytest swaps streams between phases)."""
    saved = sys.stdout, sys.stderr
    target = io.StringIO()
    sys.stdout = sys.stderr = target
    try:
        output.install()
        output.install()  # idempotent: no router around a router
        assert output.installed() and sys.stdout._target is target  # type: ignore[attr-defined]
        yield target
    finally:
        output.uninstall()
        sys.stdout, sys.stderr = saved


# -- the buffer --------------------------------------------------------------------------
def test_pieces_join_into_lines_per_stream() -> None:
    out = JobOutput()
    out.write("stdout", "half ")
    out.write("stderr", "oops\n")          # another stream mid-line: its own line
    out.write("stdout", "a line\nnext")
    out.write("stdout", "\n")
    assert out.text() == "half a line\noops\nnext\n"
    assert out.text("stderr") == "oops\n" and out.lines == 3 and out.total_lines == 3
    assert out.tail(2) == [("stderr", "oops"), ("stdout", "next")]
    assert out.tail(0) == []
    with pytest.raises(ValueError, match="stream must be"):
        out.text("stdin")


def test_oldest_lines_are_cut_and_counted() -> None:
    out = JobOutput(max_lines=3)
    for i in range(10):
        out.write("stdout", f"line {i}\n")
    assert out.cut_lines == 7 and out.total_lines == 10 and out.lines == 3
    assert out.text() == "[... 7 earlier lines cut]\nline 7\nline 8\nline 9\n"
    one = JobOutput(max_lines=1)
    one.write("stdout", "a\nb\n")
    assert one.text() == "[... 1 earlier line cut]\nb\n"


def test_character_cap_drops_lines_and_cuts_one_long_line() -> None:
    out = JobOutput(max_chars=10)
    out.write("stdout", "aaaa\nbbbb\ncccc\n")
    assert out.text().endswith("bbbb\ncccc\n") and out.cut_lines == 1
    out.write("stdout", "x" * 25)  # an unfinished line longer than the cap: keep its end
    assert out.lines == 1 and out.text().endswith("x" * 10)
    out.write("stdout", "y\n")  # the open line was cut down but still takes the rest
    assert out.text() == "[... 3 earlier lines cut]\n" + "x" * 8 + "y\n"


def test_watchers_are_told_after_each_write() -> None:
    out = JobOutput()
    seen: list[int] = []
    remove = out.watch(lambda: seen.append(out.version))
    out.write("stdout", "a")
    out.write("stdout", "")  # nothing written, nobody told
    remove()
    out.write("stdout", "b")
    assert seen == [1] and out.version == 2
    with pytest.raises(ValueError, match="max_lines"):
        JobOutput(max_lines=0)


def test_a_hundred_thousand_lines_stay_bounded() -> None:
    out = JobOutput()
    tracemalloc.start()
    try:
        for i in range(100_000):
            out.write("stdout", f"step {i} loss {i / 7:.5f}")
            out.write("stdout", "\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.lines == MAX_LINES and out.cut_lines == 100_000 - MAX_LINES
    assert out.text().splitlines()[-1] == f"step 99999 loss {99999 / 7:.5f}"
    assert peak < 5_000_000, f"peak {peak} bytes for a buffer capped at {MAX_LINES} lines"


def test_a_batched_sink_joins_writes_and_sends_big_or_late_batches() -> None:
    sent: list[list[tuple[str, str]]] = []
    sink = BatchedSink(sent.append, interval=0.05, batch_chars=10)
    sink.write("stdout", "abc")      # the first write is late enough: sent at once
    sink.write("stdout", "de")
    sink.write("stderr", "f")
    sink.write("stdout", "g")
    assert sent == [[("stdout", "abc")]]
    sink.write("stdout", "0123456789")  # big enough: the whole batch goes, joined per run
    assert sent[1] == [("stdout", "de"), ("stderr", "f"), ("stdout", "g0123456789")]
    sink.write("stdout", "quiet")
    assert len(sent) == 2
    wait_until(lambda: len(sent) == 3, 2, "the flusher thread")  # sends what was left
    assert sent[2] == [("stdout", "quiet")]
    sink.flush()  # nothing waiting: nothing sent
    assert len(sent) == 3
    sink.write("stderr", "last")
    sink.close()  # sends it, stops the flusher
    assert sent[3] == [("stderr", "last")]


# -- the router and the backends -----------------------------------------------------------
def test_each_job_keeps_its_own_output_on_every_in_process_backend() -> None:
    async def main() -> dict[str, str]:
        async def co(tag: str) -> str:
            await asyncio.sleep(0)
            print(f"{tag} async")
            return tag

        async with Engine(threads=2, capture_output=True, default=False) as eng:
            hs = {"thread": eng.submit(tasks.mixed, "t"),
                  "inline": eng.submit(tasks.mixed, "i", backend="inline"),
                  "async": eng.submit(co, "a")}
            for h in hs.values():
                await h
            return {k: h.output_text() for k, h in hs.items()}

    logger = logging.getLogger("tests.output_tasks")
    with routed() as target:
        handler = logging.StreamHandler(sys.stderr)  # made after the router: takes it
        logger.addHandler(handler)
        try:
            texts = asyncio.run(main())
            print("outside any job")
        finally:
            logger.removeHandler(handler)
    assert texts["thread"] == "t out\nt err\nt logged\n"
    assert texts["inline"] == "i out\ni err\ni logged\n"
    assert texts["async"] == "a async\n"
    assert target.getvalue() == "outside any job\n"  # nothing of any job's


def test_a_log_handler_made_before_the_router_is_captured_too() -> None:
    logger = logging.getLogger("tests.output_tasks")
    saved = sys.stdout, sys.stderr
    target = io.StringIO()
    sys.stdout = sys.stderr = target
    handler = logging.StreamHandler(target)  # holds the old stream, as in a kernel
    logger.addHandler(handler)
    try:
        output.install()
        assert handler.stream is sys.stderr or handler.stream is sys.stdout
        with Engine(threads=1, capture_output=True, default=False) as eng:
            h = eng.submit(tasks.mixed, "x")
            assert h.result(timeout=10) == "x"
        logger.warning("not in a job")
    finally:
        output.uninstall()
        logger.removeHandler(handler)
        sys.stdout, sys.stderr = saved
    assert handler.stream is target  # given back
    assert h.output_text("stderr") == "x err\nx logged\n"
    assert target.getvalue() == "not in a job\n"


def test_outside_a_kernel_output_passes_through_unless_asked() -> None:
    with routed() as target, Engine(threads=1, default=False) as eng:
        free = eng.submit(tasks.chatty, 2, "free")
        assert free.result(timeout=10) == 2
        asked = eng.submit(tasks.chatty, 0)
        buf = asked.capture_output()  # per job: captured from now on
        assert asked.result(timeout=10) == 0 and buf is asked.captured
        assert not free.capturing and asked.capturing
    assert free.output_text() == "" and free.captured is None
    assert target.getvalue() == "free 0\nfree 1\n"


def test_the_default_follows_the_process_wide_switch() -> None:
    output.set_capture_default(True)
    try:
        with routed() as target, Engine(threads=1, default=False) as on, \
                Engine(threads=1, capture_output=False, default=False) as off:
            a = on.submit(tasks.chatty, 1, "on")
            b = off.submit(tasks.chatty, 1, "off")
            assert a.result(timeout=10) == b.result(timeout=10) == 1
    finally:
        output.set_capture_default(False)
    assert a.output_text() == "on 0\n" and b.output_text() == ""
    assert target.getvalue() == "off 0\n"


def test_process_jobs_forward_their_output_in_batches() -> None:
    logger = logging.getLogger("tests.output_tasks")
    with routed() as target, Engine(threads=1, processes=1, capture_output=True,
                                    default=False) as eng:
        handler = logging.StreamHandler()  # on sys.stderr: the router (the child forks it)
        logger.addHandler(handler)
        h = eng.submit(tasks.chatty, 200, backend="process")
        assert h.result(timeout=30) == 200
        m = eng.submit(tasks.mixed, "p", backend="process")
        assert m.result(timeout=30) == "p"
        quiet = eng.submit(tasks.quiet_then_print, 3.0, backend="process")
        # The flusher thread sends what a quiet job printed without waiting for its end.
        wait_until(lambda: quiet.output_text() == "early\n", 2.5, "the early line")
        assert not quiet.done()
        assert quiet.result(timeout=30) == "done"
        logger.removeHandler(handler)
    lines = h.output_text().splitlines()
    assert lines == [f"line {i}" for i in range(200)]
    assert m.output_text() == "p out\np err\np logged\n"
    assert target.getvalue() == ""


def test_a_chatty_process_job_is_bounded_in_the_parent() -> None:
    with routed(), Engine(threads=1, processes=1, capture_output=True, default=False) as eng:
        h = eng.submit(tasks.chatty, 100_000, backend="process")
        assert h.result(timeout=60) == 100_000
    out = h.captured
    assert out is not None and out.lines == MAX_LINES
    assert out.cut_lines == 100_000 - MAX_LINES
    assert h.output_text().splitlines()[-1] == "line 99999"


def test_an_uncaptured_process_job_prints_as_before() -> None:
    with routed(), Engine(threads=1, processes=1, default=False) as eng:
        h = eng.submit(tasks.chatty, 3, backend="process")
        assert h.result(timeout=30) == 3
    assert h.captured is None  # its lines went to the worker's own stdout
