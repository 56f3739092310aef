"""Where a submit comes from: a hook the notebook layer installs, core only calls.

Every job records the notebook cell that submitted it (``h.cell``, its In[n] number, and
``h.cell_id`` when the front end sends one). Core does not know what a cell is: the
notebook layer installs a function that answers "which cell is running now?", and
``submit``/``map`` call it once per call (not per job of a ``map``), only when one is
installed. The answer goes into the job's options, so the jobs of one call share it at
no cost per job.

Example:
    >>> set_origin_hook(lambda: (10, "cell-abc"))
    >>> current_origin()
    (10, 'cell-abc')
    >>> set_origin_hook(None)
    >>> current_origin() is None
    True
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Origin", "current_origin", "hook_slot", "set_origin_hook"]

#: ``(cell number, cell id)``; either may be None.
Origin = tuple[int | None, str | None]

#: The installed hook, in a one-item list so ``submit`` reads it without a call.
hook_slot: list[Callable[[], Origin | None] | None] = [None]


def set_origin_hook(hook: Callable[[], Origin | None] | None) -> None:
    """Install (or remove, with None) the function asked at each submit."""
    hook_slot[0] = hook


def current_origin() -> Origin | None:
    """The running cell as ``(number, id)``, or None (no hook, or no cell running).

    A failing hook is not the submitter's problem: it counts as no origin.
    """
    hook = hook_slot[0]
    if hook is None:
        return None
    try:
        return hook()
    except Exception:
        return None
