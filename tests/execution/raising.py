"""Exceptions that are hard to send between processes, and module-level functions that
raise them (importable, so process workers and Dask workers can run them)."""

from __future__ import annotations

import threading
from typing import Any


class BrokenStr(Exception):
    """Pickles fine, but ``str()`` of it raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


class NeedsArgs(Exception):
    """Pickles, but can not be rebuilt from its args: it wants two.

    ``__new__`` wants them too, so tblib's exception pickling (which Dask installs
    process-wide, and which rebuilds with ``__new__`` alone) can not rebuild it either.
    """

    def __new__(cls, code: int, detail: str) -> NeedsArgs:
        return super().__new__(cls, code, detail)

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class HoldsLock(Exception):
    """Can not be pickled at all: it holds a lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def raise_broken_str(_: Any = None) -> None:
    raise BrokenStr("hidden")


def raise_needs_args(_: Any = None) -> None:
    raise NeedsArgs(42, "the answer")


def identity(x: Any) -> Any:
    return x


RAISERS = {"broken __str__": raise_broken_str, "can not be unpickled": raise_needs_args}
#: What each failure's text must still name, whichever way it crossed.
NAMES = {"broken __str__": "BrokenStr", "can not be unpickled": "NeedsArgs"}
