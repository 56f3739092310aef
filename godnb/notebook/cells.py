"""Turn a cell body into a job function that runs against the user's namespace.

The body is compiled with top-level ``await`` allowed and split at the AST level: the
statements run first, then a final expression (if the cell ends with one) is evaluated
and becomes the job's result, as ``Out[n]`` would. If either part is a coroutine code
object (``CO_COROUTINE``: the cell awaits something) the job is an ``async def`` that runs
on the event loop; otherwise it is a plain function for a worker thread, run inside a
copy of the submitting cell's context (so ipykernel's per-cell state follows it) with the
job's own context variables added, so ``god.progress()`` and print capture still work.

The wrappers carry IPython's ``__tracebackhide__``, so a failing cell's traceback shows
the cell's own lines (compiled under a file name IPython maps to the cell, see
:func:`compile_cell`), not godnb's.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType
from typing import Any

from godnb.execution.output import capture_current

__all__ = ["CellCode", "compile_cell", "make_job"]

FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


@dataclass(frozen=True)
class CellCode:
    """A compiled cell body: its statements and its final expression (may be None)."""

    body: CodeType
    last: CodeType | None
    source: str

    @property
    def is_async(self) -> bool:
        """True if the cell awaits (it must then run on the event loop)."""
        return any(code.co_flags & inspect.CO_COROUTINE
                   for code in (self.body, self.last) if code is not None)


def compile_cell(source: str, filename: str = "<god-cell>", first_line: int = 1) -> CellCode:
    """Compile ``source``; the last statement, if an expression, becomes the result.

    ``first_line``: the line of the cell ``source`` starts on (2 under a ``%%god`` line),
    so tracebacks count lines as the cell shows them.

    Raises:
        SyntaxError: the body does not parse.
    """
    tree = ast.parse(source, filename, "exec")
    if first_line != 1:
        ast.increment_lineno(tree, first_line - 1)
    last = None
    final = tree.body[-1] if tree.body else None
    if isinstance(final, ast.Expr):
        tree.body.pop()
        expr = ast.Expression(final.value)
        last = compile(ast.fix_missing_locations(expr), filename, "eval", flags=FLAGS)
    body = compile(ast.fix_missing_locations(tree), filename, "exec", flags=FLAGS)
    return CellCode(body=body, last=last, source=source)


def _adopt(values: contextvars.Context) -> None:
    for var, value in values.items():
        var.set(value)


def make_job(cell: CellCode, namespace: dict[str, Any], name: str = "cell",
             on_loop: bool = True) -> Callable[..., Any]:
    """A job function running ``cell`` in ``namespace`` and returning its last value.

    An awaiting cell gives a coroutine function (for the ``"async"`` backend); with
    ``on_loop=False`` it gives a plain function that runs the cell on a private loop
    (``asyncio.run``) in its worker thread instead. Prints go to the job's output buffer
    (:func:`godnb.execution.output.capture_current`), in a kernel or not.
    """
    cell_context = contextvars.copy_context()
    if cell.is_async:
        async def run_cell_async() -> Any:
            __tracebackhide__ = True
            capture_current()
            result = eval(cell.body, namespace)  # the user's own cell, by design
            if inspect.isawaitable(result):
                await result
            if cell.last is None:
                return None
            value = eval(cell.last, namespace)
            return await value if inspect.isawaitable(value) else value

        run_cell_async.__name__ = run_cell_async.__qualname__ = name
        if on_loop:
            return run_cell_async

    def run_cell() -> Any:
        __tracebackhide__ = True
        # Here we are in the worker's context, which holds the job's RunContext; the
        # cell's context holds ipykernel's. Run in the cell's, plus the job's variables.
        context = cell_context.copy()
        context.run(_adopt, contextvars.copy_context())
        if cell.is_async:
            return context.run(asyncio.run, run_cell_async())
        return context.run(_run_sync, cell, namespace)

    run_cell.__name__ = run_cell.__qualname__ = name
    return run_cell


def _run_sync(cell: CellCode, namespace: dict[str, Any]) -> Any:
    __tracebackhide__ = True
    capture_current()
    eval(cell.body, namespace)  # the user's own cell, by design
    return None if cell.last is None else eval(cell.last, namespace)
