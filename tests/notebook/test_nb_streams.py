"""Compiling cell bodies into job functions, and the old capture names (now thin)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

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


def test_the_compatibility_names_find_jobs_on_live_engines() -> None:
    import threading

    def chatty(tag: str, gate: threading.Event | None = None) -> str:
        if gate is not None:
            gate.wait(5)
        print(f"{tag} out")
        print(f"{tag} err", file=sys.stderr)
        return tag

    with routed() as target, Engine(threads=2, default=False) as eng:
        a = eng.submit(chatty, "free")
        assert a.result(timeout=10) == "free"
        assert streams.job_output(a.job_id) is None  # not captured: it printed through
        gate = threading.Event()
        b = eng.submit(chatty, "kept", gate)
        buf = streams.capture(b.job_id)  # before it prints: captured from now on
        gate.set()
        assert b.result(timeout=10) == "kept" and streams.job_output(b.job_id) is buf
        with pytest.raises(KeyError, match="no live engine knows job"):
            streams.capture("0000")
    assert target.getvalue() == "free out\nfree err\n"
    assert b.output_text() == "kept out\nkept err\n"


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
