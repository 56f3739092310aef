"""Compiling cell bodies into job functions (what ``%%god submit`` runs)."""

from __future__ import annotations

import pytest

from godnb.notebook.cells import compile_cell, make_job

pytestmark = pytest.mark.timeout(60)


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
