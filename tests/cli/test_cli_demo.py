"""``godnb demo``: the headless tour runs to the end and exits 0."""

from __future__ import annotations

import pytest

from tests.cli.helpers import run_cli


@pytest.mark.timeout(120)
def test_demo_runs_headless_and_exits_0() -> None:
    proc = run_cli("demo", "--jobs", "40", "--plain", "--interval", "0.1", timeout=90)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "godnb demo · " in out and "all 40 jobs done" in out
    assert "demo finished in" in out and "completed 38  failed 2" in out
    assert "inference pipeline: 4000 texts classified, accuracy" in out
    assert "database: a temporary file, removed" in out
    assert "\x1b[" not in out
