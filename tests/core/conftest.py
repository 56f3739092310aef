"""Fixtures of the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from godnb.core.runtime import Runtime
from tests.core.fakes import runtime


@pytest.fixture
def rt() -> Iterator[Runtime]:
    """A Runtime driven by hand (see tests/core/fakes.py), closed after the test."""
    with runtime() as r:
        yield r
