"""Fixtures shared by the notebook layer's tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def views() -> Iterator[list[Any]]:
    """Widgets a test made (append them): closed at the end, so no refresher outlives it."""
    made: list[Any] = []
    yield made
    for v in made:
        v.close()
