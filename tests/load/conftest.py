"""The load and failure suite (marker ``load``).

CI runs the short version (a few tens of seconds on 2 cores). ``GODNB_LOAD=long`` runs the
long one by hand: more jobs, and the memory curve up to 1,000,000 queued jobs.
Measured figures are printed to the terminal even without ``-s``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def report(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], None]]:
    """``report(line)`` prints past pytest's capture, so CI logs show the numbers."""
    lines: list[str] = []
    yield lines.append
    with capsys.disabled():
        for line in lines:
            print(f"\n[load] {line}", end="")
        if lines:
            print()
