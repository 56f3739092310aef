"""Readable names for what jobs and stages run: one rule for every display.

Example:
    >>> import functools
    >>> callable_name(functools.partial(max, 0))
    'max'
    >>> callable_name("mypkg.jobs:resize")
    'mypkg.jobs:resize'
    >>> callable_repr(callable_repr)
    "'callable_repr'"
"""

from __future__ import annotations

from typing import Any

__all__ = ["callable_name", "callable_repr", "unwrap_partial"]


def unwrap_partial(fn: Any) -> Any:
    """The function under any ``functools.partial`` layers (anything with ``.func``)."""
    while hasattr(fn, "func"):
        fn = fn.func
    return fn


def callable_name(fn: Any) -> str:
    """A short name: a string as it is, else the function's ``__name__`` (through
    partials), else its type's name (a callable object)."""
    if isinstance(fn, str):
        return fn
    fn = unwrap_partial(fn)
    return getattr(fn, "__name__", None) or type(fn).__name__


def callable_repr(fn: Any) -> str:
    """How an error message quotes a callable: its ``__qualname__`` in quotes
    (``'Model.predict'``, ``'main.<locals>.f'``), else the object's repr (a partial)."""
    return repr(getattr(fn, "__qualname__", fn))
