"""Print routing to jobs, and compiling cell bodies into job functions."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import godnb as god
from godnb import Engine
from godnb.notebook import streams
from godnb.notebook.cells import compile_cell, make_job

pytestmark = pytest.mark.timeout(60)


@contextmanager
def routed() -> Iterator[io.StringIO]:
    """Routers over a StringIO (inside the test body: pytest swaps streams between phases)."""
    saved = sys.stdout, sys.stderr
    target = io.StringIO()
    sys.stdout = sys.stderr = target
    try:
        streams.install()
        streams.install()  # idempotent: no router around a router
        assert streams.installed() and sys.stdout._target is target  # type: ignore[attr-defined]
        yield target
        streams.uninstall()
        assert sys.stdout is target and sys.stderr is target
    finally:
        sys.stdout, sys.stderr = saved


def test_captured_jobs_print_to_their_buffer_others_pass_through() -> None:
    def chatty(tag: str) -> str:
        job_id = god.execution.context.current_job_id()
        if tag == "captured":
            assert job_id is not None
            streams.capture(job_id)
        print(f"{tag} out")
        print(f"{tag} err", file=sys.stderr)
        return tag

    with routed() as target, Engine(threads=2) as eng:
        a = eng.submit(chatty, "captured")
        b = eng.submit(chatty, "free")
        assert a.result(timeout=10) == "captured" and b.result(timeout=10) == "free"
        print("outside")
        assert sys.stdout.encoding == target.encoding  # other attributes pass through
    out = streams.job_output(a.job_id)
    assert out is not None
    assert out.text("stdout") == "captured out\n" and out.text("stderr") == "captured err\n"
    assert out.outputs() == ({"output_type": "stream", "name": "stdout", "text": "captured out\n"},
                             {"output_type": "stream", "name": "stderr", "text": "captured err\n"})
    assert streams.job_output(b.job_id) is None
    assert target.getvalue() == "free out\nfree err\noutside\n"


def test_buffer_is_bounded_and_watchers_are_told() -> None:
    out = streams.JobOutput(limit=10)
    seen: list[int] = []
    remove = out.watch(lambda: seen.append(out.version))
    for _ in range(5):
        out.write("stdout", "abcd")
    remove()
    out.write("stdout", "")  # nothing written, nobody told
    out.write("stdout", "zz")
    assert seen == [1, 2, 3, 4, 5]
    assert out.text() == "abcdabcdzz" and out.dropped == 12  # the last 10 characters
    first = out.outputs()[0]
    assert first["name"] == "stderr" and "12 earlier characters dropped" in first["text"]


def test_outputs_tail_keeps_the_last_characters() -> None:
    out = streams.JobOutput()
    for i in range(10):
        out.write("stdout" if i % 2 else "stderr", f"line {i}\n")
    tail = out.outputs(tail=10)
    assert tail[0]["text"] == "[... 60 earlier characters dropped]\n"
    assert [(o["name"], o["text"]) for o in tail[1:]] == [("stderr", " 8\n"),
                                                          ("stdout", "line 9\n")]
    assert len(out.outputs()) == 10 and len(out.outputs(tail=1000)) == 10


def test_compile_cell_splits_the_last_expression() -> None:
    cell = compile_cell("a = 20\nb = a + 1\nb * 2")
    assert not cell.is_async and cell.last is not None
    ns: dict[str, object] = {}
    assert make_job(cell, ns)() == 42 and ns["b"] == 21
    no_value = compile_cell("c = 1\nif c:\n    d = 2")
    assert no_value.last is None and make_job(no_value, ns)() is None and ns["d"] == 2
    assert compile_cell("import asyncio\nawait asyncio.sleep(0)").is_async
    assert compile_cell("import asyncio\nawait asyncio.sleep(0, 'v')").is_async
    assert compile_cell("x = 1\nx").is_async is False
    with pytest.raises(SyntaxError):
        compile_cell("x = (")


def test_async_cell_function_and_its_thread_variant() -> None:
    import asyncio
    import inspect

    cell = compile_cell("import asyncio\nawait asyncio.sleep(0)\nv = 5\nawait asyncio.sleep(0, v)")
    ns: dict[str, object] = {}
    on_loop = make_job(cell, ns, name="cell-9")
    assert inspect.iscoroutinefunction(on_loop) and on_loop.__name__ == "cell-9"
    assert asyncio.run(on_loop()) == 5
    in_thread = make_job(cell, ns, on_loop=False)
    assert not inspect.iscoroutinefunction(in_thread) and in_thread() == 5
