"""The examples in the utils docstrings run and say what they show."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import godnb.utils.cache
import godnb.utils.formatting
import godnb.utils.logging
import godnb.utils.profile
import godnb.utils.retry
import godnb.utils.timing


@pytest.mark.parametrize(
    "module",
    [godnb.utils.retry, godnb.utils.cache, godnb.utils.formatting, godnb.utils.timing,
     godnb.utils.profile, godnb.utils.logging],
    ids=lambda module: module.__name__,
)
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
