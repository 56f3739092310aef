"""Which notebook cell is running: its In[n] number and, when the front end sends it, id.

The number is read from the ExecutionResult IPython keeps for the running cell
(``shell.displayhook.exec_result.execution_count``), not from ``shell.execution_count``:
IPython 9 increments that counter *before* it runs the cell (In[10] reads 11 while it
runs), IPython 8 after (it reads 10). The result object holds the number the cell is
shown and stored under in both. The cell id is what JupyterLab and Notebook 7 send in the
execute request's metadata (``cellId``); ipykernel hands it to IPython, which keeps it as
``result.info.cell_id``. nbclient sends none.

:func:`install` makes this the origin hook of core (:mod:`godnb.core.origin`): every
``submit``/``map`` made on the kernel's main thread while a cell runs records that cell
(``h.cell``, ``h.cell_id``). Submits from worker threads (a job that submits jobs) record
none: the cell running at that moment did not make them.
"""

from __future__ import annotations

import threading
from typing import Any

from godnb.core.origin import Origin, set_origin_hook
from godnb.execution.remote import set_file_labeller

__all__ = ["cell_filename", "cell_label", "current_cell", "install"]


def current_cell(shell: Any) -> Origin | None:
    """``(number, cell id)`` of the cell ``shell`` runs now, or None when none runs."""
    result = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    if result is None:
        return None
    number = getattr(result, "execution_count", None)
    cell_id = getattr(getattr(result, "info", None), "cell_id", None)
    if number is None and cell_id is None:
        return None
    return number, cell_id


def install(shell: Any) -> None:
    """Make core ask ``shell`` for the running cell at each submit (main thread only),
    and label cell files in process jobs' tracebacks as IPython does (``Cell In[5]``)."""
    main = threading.main_thread()

    def origin() -> Origin | None:
        if threading.current_thread() is not main:
            return None
        return current_cell(shell)

    set_origin_hook(origin)
    set_file_labeller(lambda filename: cell_label(shell, filename))


def cell_label(shell: Any, filename: str) -> str | None:
    """``Cell In[5]`` for a file IPython compiled cell 5 into; None for any other file."""
    format_code_name = getattr(getattr(shell, "compile", None), "format_code_name", None)
    if format_code_name is None:
        return None
    label = format_code_name(filename)
    return None if label is None else " ".join(label)


def cell_filename(shell: Any, source: str, number: int | None) -> str | None:
    """Register ``source`` as the text of cell ``number`` with IPython's compiler cache.

    Returns the file name to compile with: linecache then has the lines, and IPython
    labels frames from it ``Cell In[number], line N``. None when the shell can not.
    """
    compiler: Any = getattr(shell, "compile", None)
    if compiler is None or number is None:
        return None
    try:
        return str(compiler.cache(source, number))
    except Exception:  # an older IPython: tracebacks just lack the cell's lines
        return None
