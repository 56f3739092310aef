"""Checked argument types for the CLI: every number has bounds, every JSON has limits.

Each checker is an ``argparse`` ``type=``: a bad value is a usage error (one line on
stderr, exit code 2) before anything is opened or written. The bounds:

* worker threads: 1 to :data:`MAX_THREADS`; processes: 1 to :func:`max_processes`
  (4 per CPU core, at least 8): more only thrash the machine and slow a stop;
* durations (``--wait``, ``--poll``, ``--grace``, ``--interval``, ``--timeout``): finite
  seconds (no NaN or infinity), at most :data:`MAX_SECONDS`; zero only where it means
  "do not wait";
* JSON (``--args``, ``--kwargs``): at most :data:`MAX_JSON_CHARS` characters and
  :data:`MAX_JSON_DEPTH` levels of nesting; ``NaN`` and ``Infinity`` are refused (they
  are not JSON, and no other language reads them back).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_JSON_CHARS",
    "MAX_JSON_DEPTH",
    "MAX_SECONDS",
    "MAX_THREADS",
    "bounded_int",
    "max_processes",
    "parse_json",
    "seconds",
]

MAX_THREADS = 1024
MAX_SECONDS = 10_000_000.0  # about 16 weeks: past this, a wait or timeout is a typo
MAX_JSON_CHARS = 1_000_000
MAX_JSON_DEPTH = 64


def max_processes() -> int:
    """The most worker processes a worker may ask for: 4 per CPU core, at least 8."""
    return max(8, 4 * (os.cpu_count() or 1))


def bounded_int(low: int, high: int | Callable[[], int] | None = None,
                what: str = "a whole number") -> Callable[[str], int]:
    """An argparse type: an int from ``low`` to ``high`` (``None``: no upper bound)."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r} (expected "
                                             f"{what})") from None
        top = high() if callable(high) else high
        if value < low or (top is not None and value > top):
            bound = f"between {low} and {top}" if top is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def seconds(*, zero: bool, high: float = MAX_SECONDS) -> Callable[[str], float]:
    """An argparse type: finite seconds, > 0 (``zero=False``) or >= 0, at most ``high``."""
    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number of seconds, got "
                                             f"{text.strip()!r}")
        if value < 0 or (value == 0 and not zero) or value > high:
            low = ">= 0" if zero else "> 0"
            raise argparse.ArgumentTypeError(f"must be {low} and at most {high:g} seconds, "
                                             f"got {value:g}")
        return value

    parse.__name__ = "seconds"
    return parse


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (use null, or a string)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, list | dict):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                  else item))
    return deepest


def parse_json(text: str, option: str) -> Any:
    """``text`` as JSON, or ValueError with one line saying what is wrong.

    Refuses text over :data:`MAX_JSON_CHARS`, nesting deeper than :data:`MAX_JSON_DEPTH`
    the non-JSON constants ``NaN``, ``Infinity`` and ``-Infinity``, and numbers too large
    for a float (``1e400``).
    """
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(f"{option} is {len(text):,} characters of JSON; at most "
                         f"{MAX_JSON_CHARS:,} are taken (pass big data by reference, e.g. "
                         f"a file path)")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"{option} is nested too deeply (at most {MAX_JSON_DEPTH} "
                         f"levels)") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{option} is not valid JSON ({e})") from None
    except ValueError as e:  # NaN / Infinity
        raise ValueError(f"{option} is not valid JSON: {e}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"{option} is nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    return value
