"""``godnb report --db FILE PATH``: a store's run on one offline page, and its timeline."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import godnb as god
from godnb.api.report import APPROXIMATE, store_report, store_timeline
from godnb.models import Job, JobStatus, Result
from godnb.models.result import ErrorInfo
from godnb.views.timeline import COMPLETED, FAILED, RUNNING
from tests.cli.helpers import cli, run_cli

pytestmark = pytest.mark.timeout(120)
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _job(name: str, status: JobStatus, backend: str = "thread", attempts: int = 1) -> Job:
    job = Job(payload={"task": "math:sqrt", "args": [4]}, name=name, backend=backend)
    values = {"status": status, "attempts": attempts, "updated_at": NOW - timedelta(seconds=1)}
    return job.model_copy(update=values)


def test_store_timeline_is_approximate_and_says_so() -> None:
    ok, bad = _job("fit", JobStatus.COMPLETED), _job("fit", JobStatus.FAILED, "process", 2)
    running, pending = _job("load", JobStatus.RUNNING), _job("load", JobStatus.PENDING)
    results = {
        ok.job_id: Result(job_id=ok.job_id, status="completed", execution_time=2.0,
                          finished_at=NOW - timedelta(seconds=3)),
        bad.job_id: Result(job_id=bad.job_id, status="failed", execution_time=0.5,
                           finished_at=NOW - timedelta(seconds=1),
                           errors=[ErrorInfo(type="ValueError", message="x")]),
    }
    data = store_timeline([ok, bad, running, pending], results, NOW)
    assert data.lanes == ("thread", "process") and data.packed == frozenset({0, 1})
    assert list(data.status) == [COMPLETED, FAILED, RUNNING]  # the pending job did not run
    assert data.end[0] - data.start[0] == pytest.approx(2.0)
    assert data.end[0] == pytest.approx((NOW - timedelta(seconds=3)).timestamp())
    assert data.end[2] == pytest.approx(NOW.timestamp())  # running: until now
    assert data.note == APPROXIMATE


def test_store_report_from_a_durable_engine(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with god.Engine(threads=2, store=str(db)) as eng:
        eng.map("math:sqrt", [1, 4, -1])
        eng.wait()
    store = god.SQLiteStore(str(db))
    try:
        report = store_report(store, str(db), NOW)
    finally:
        store.close()
    assert report.counts["completed"] == 2 and report.counts["failed"] == 1
    assert report.timeline is not None and report.timeline.runs == 3
    assert report.profile is not None and report.profile.rows[0].task == "sqrt"
    assert report.failures[0][0] == "sqrt" and "ValueError" in report.failures[0][2]


def test_cli_report_writes_an_offline_page(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with god.Engine(threads=2, store=str(db)) as eng:
        eng.map("math:sqrt", range(20))
        eng.submit("math:sqrt", -1)
        eng.wait()
    out = tmp_path / "run.html"
    proc = run_cli("report", "--db", db, out)  # the real command, without IPython
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote {out} (") and "offline" in proc.stdout
    html = out.read_text()
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?\s*(?:https?:)?//", html)
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "<svg" in html and "approximate timeline" in html
    assert "<h2>Failures (1)</h2>" in html and "math domain error" in html
    assert ">20</b>" in html or ">20<" in html  # completed count


def test_cli_report_bad_input(tmp_path: Path) -> None:
    code, _, err = cli("report", "--db", tmp_path / "missing.db", tmp_path / "r.html")
    assert code == 2 and "no database at" in err
    db = tmp_path / "jobs.db"
    with god.Engine(threads=1, store=str(db)):
        pass
    code, _, err = cli("report", "--db", db, tmp_path / "no" / "dir" / "r.html")
    assert code == 2 and "can not write" in err
    code, _, err = cli("report", "--db", db, tmp_path / "r.html", "--limit", "0")
    assert code == 2 and "--limit must be between 1 and" in err
    assert not (tmp_path / "r.html").exists()
