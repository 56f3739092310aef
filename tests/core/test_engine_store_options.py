"""The store options of ``Engine`` are checked before anything opens (issue 17)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from godnb import Engine


@pytest.mark.parametrize(("options", "error", "match"), [
    ({"max_lag": 0}, ValueError, r"max_lag must be >= 1 \(jobs\), got 0"),
    ({"max_lag": "100"}, TypeError, r"max_lag must be an int \(jobs\), got '100'"),
    ({"max_lag": True}, TypeError, r"max_lag must be an int"),
    ({"flush_timeout": -1}, ValueError, r"flush_timeout must be a finite number .* got -1"),
    ({"flush_timeout": float("nan")}, ValueError, r"flush_timeout must be a finite number"),
    ({"flush_timeout": float("inf")}, ValueError, r"flush_timeout must be a finite number"),
    ({"flush_timeout": "5"}, TypeError, r"flush_timeout must be a number of seconds"),
    ({"resume": "no"}, TypeError, r"resume must be True or False, got 'no'"),
    ({"retry_interrupted": 1}, TypeError, r"retry_interrupted must be True or False"),
])
def test_bad_store_options_are_refused(tmp_path: Path, options: dict[str, Any],
                                       error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        Engine(threads=1, store=tmp_path / "j.db", **options)
    assert not (tmp_path / "j.db").exists()  # refused before the store was opened


def test_an_engine_without_a_store_reports_no_recovery_and_no_lag() -> None:
    with Engine(threads=1) as eng:
        assert eng.recovery is None and eng.unwritten == ()
        assert eng.stats().store_lag is None
