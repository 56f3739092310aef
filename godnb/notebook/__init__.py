"""The notebook layer: live widgets, text/HTML fallbacks and the ``%god`` magics.

The only godnb package that imports IPython or ipywidgets, and it does so lazily:
importing it installs the display renderer (pure Python); the widgets load on first
display in a kernel, the magics when an IPython shell registers them. In a kernel,
``import godnb`` calls :func:`register_in_kernel`; elsewhere ``%load_ext godnb.notebook``
(or ``%load_ext godnb``) does the same.

In a kernel it also turns on what notebook life needs: every job's prints and log
records are captured per job (:mod:`godnb.execution.output`; ``h.output_text()``, the log
panel of its view), every submit records the cell it came from (``h.cell``), and views
shown by a cell are rewritten with their final state when they end
(:mod:`godnb.notebook.saved`).

Example (a notebook cell)::

    import godnb as god
    eng = god.Engine(threads=4)
    g = eng.map(work, range(100))
    g                       # one live bar for the group
    eng.queue_view()        # the live queue
"""

from __future__ import annotations

import sys
from typing import Any

from godnb.core import display as _display
from godnb.execution import output as _output
from godnb.notebook import cellinfo as _cellinfo
from godnb.notebook import rich as _rich
from godnb.notebook import saved as _saved
from godnb.notebook import showing as _showing
from godnb.notebook.formatters import (
    format_engine_html,
    format_engine_text,
    format_group_html,
    format_group_text,
    format_job_html,
    format_job_text,
    format_pipeline_html,
    format_pipeline_text,
    format_profile_html,
    format_profile_text,
    format_queue_html,
    format_queue_text,
)
from godnb.notebook.rich import Report, render, use_widgets
from godnb.notebook.snapshots import (
    EngineSnapshot,
    GroupSnapshot,
    JobSnapshot,
    PipelineSnapshot,
    QueueSnapshot,
    snapshot_engine,
    snapshot_group,
    snapshot_job,
    snapshot_pipeline,
    snapshot_queue,
)

__all__ = [
    "EngineSnapshot",
    "GroupSnapshot",
    "JobSnapshot",
    "PipelineSnapshot",
    "QueueSnapshot",
    "Report",
    "format_engine_html",
    "format_engine_text",
    "format_group_html",
    "format_group_text",
    "format_job_html",
    "format_job_text",
    "format_pipeline_html",
    "format_pipeline_text",
    "format_profile_html",
    "format_profile_text",
    "format_queue_html",
    "format_queue_text",
    "load_ipython_extension",
    "register_in_kernel",
    "render",
    "snapshot_engine",
    "snapshot_group",
    "snapshot_job",
    "snapshot_pipeline",
    "snapshot_queue",
    "use_widgets",
]

EXTENSION_NAME = "godnb"

_rich.install()
_showing.install()
_display.set_displayer(_saved.show)


def load_ipython_extension(ip: Any) -> None:
    """Register ``%god``/``%%god`` and godnb's display formatters in ``ip`` (idempotent).

    Also: jobs record the cell that submitted them, views shown by a cell are rewritten
    static once they end, and, in a kernel, every job's output is captured.
    """
    from godnb.notebook.magics import GodMagics

    ip.register_magics(GodMagics(ip))
    _rich.register_formatters(ip)
    _cellinfo.install(ip)
    _saved.install(ip)
    if getattr(ip, "kernel", None) is not None:
        _output.set_capture_default(True)
        _output.install()


def register_in_kernel() -> bool:
    """In a running IPython (a kernel), load the extension once; False when there is none.

    Marks ``"godnb"`` as loaded in the shell's extension manager, so a later
    ``%load_ext godnb`` is a no-op. Never imports IPython itself: without it in
    ``sys.modules`` there can be no shell.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    ip = ipython.get_ipython()
    if ip is None:
        return False
    loaded = getattr(getattr(ip, "extension_manager", None), "loaded", None)
    if loaded is not None and EXTENSION_NAME in loaded:
        return True
    load_ipython_extension(ip)
    if loaded is not None:
        loaded.add(EXTENSION_NAME)
    return True
