"""The engine inside a real Jupyter kernel (nbclient): it attaches to the kernel's loop,
a blocking wait on a thread job returns, one on an async job refuses at once."""

from __future__ import annotations

import nbformat
import pytest

nbclient = pytest.importorskip("nbclient")

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(180)]

CELLS = [
    "import asyncio, godnb as god\n"
    "eng = god.Engine(threads=2)\n"
    "print(eng.loop is asyncio.get_running_loop())",
    # a thread job needs no loop: a blocking result() in a cell returns
    "print(eng.submit(sum, [1, 2, 3]).result(timeout=30))",
    # an async job does: result() refuses at once with the fix, await works
    "async def co(x):\n"
    "    await asyncio.sleep(0.05)\n"
    "    return x * 2\n"
    "h = eng.submit(co, 4)\n"
    "try:\n"
    "    h.result()\n"
    "except god.LoopBlockingError as e:\n"
    "    print('refused:', 'await h' in str(e))\n"
    "print(await h)",
    # a task made in one cell keeps running after the cell ends; the next cell awaits it
    "h3 = eng.submit(co, 5)",
    "print(await h3)",
    "print(await eng.map(pow, [2, 3], [2, 2]))",
    "print([ev.kind.value async for ev in eng.submit(sum, [1]).events()])",
    "await eng.aclose()\nprint(eng.closed)",
]


def test_engine_in_a_real_kernel() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nbclient.NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    texts = ["".join(o.get("text", "") for o in c.outputs).strip() for c in nb.cells]
    assert texts == ["True", "6", "refused: True\n8", "", "10", "[4, 9]",
                     "['submitted', 'started', 'completed']", "True"]
