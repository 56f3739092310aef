"""``godnb worker`` shutdown with real signals: finish within the grace, re-queue the rest."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.cli.helpers import TASKS, cli, engines, row, worker
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def submit(db: Path, task: str, args: list[object], *extra: object) -> str:
    code, out, err = cli("submit", task, "--db", db, "--import", TASKS, "--json",
                         "--args", json.dumps(args), *extra)
    assert code == 0, err
    return str(json.loads(out)["job_id"])


def test_sigterm_finishes_short_jobs_and_requeues_long_and_unstarted_ones(tmp_path: Path
                                                                          ) -> None:
    db = tmp_path / "jobs.db"
    short_started, short_done = tmp_path / "short.started", tmp_path / "short.done"
    long_started = tmp_path / "long.started"
    short = submit(db, "cli.nap", [1.5, str(short_started), str(short_done)], "--priority", "9")
    long = submit(db, "cli.nap", [120, str(long_started)], "--priority", "8")
    queued = [submit(db, "cli.add", [i, i]) for i in range(3)]  # no thread left for these
    with worker(db, tmp_path / "w.log", "--threads", "2", "--grace", "3") as w:
        wait_until(lambda: short_started.exists() and long_started.exists(), what="both started")
        wait_until(lambda: all(row(db, j)["owner"] for j in queued), what="the adds claimed")
        t0 = time.monotonic()
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0
        took = time.monotonic() - t0
        events = w.events()
    assert 1.0 < took < 10, f"the grace period is about 3 s, took {took:.1f} s"
    assert short_done.exists(), "a job that fits in the grace period finishes"
    assert row(db, short)["status"] == "completed"
    for job in [long, *queued]:  # given back: pending and unowned, never marked cancelled
        r = row(db, job)
        assert (r["status"], r["owner"]) == ("pending", None), (job, r)
    assert row(db, long)["attempts"] == 1
    assert engines(db) == 0
    names = [e["event"] for e in events]
    assert names.index("shutdown requested") < names.index("worker stopped")
    shutdown = next(e for e in events if e["event"] == "shutdown requested")
    assert shutdown["signal"] == "SIGTERM" and shutdown["grace"] == 3
    released = {e["job_id"]: e["reason"] for e in events if e["event"] == "job released"}
    assert released == {long: "grace period over"} | dict.fromkeys(queued, "not started")
    assert not any(e["event"] == "job finished" and e["job_id"] in released for e in events)
    stopped = next(e for e in events if e["event"] == "worker stopped")
    assert stopped["exit_code"] == 0 and stopped["released"] == 4

    # Another worker picks the re-queued jobs up.
    assert cli("cancel", long, "--db", db)[0] == 0  # no need to wait two minutes for it
    with worker(db, tmp_path / "w2.log", "--until-done") as w2:
        assert w2.wait(60) == 0
    assert [row(db, j)["status"] for j in queued] == ["completed"] * 3


def test_sigint_twice_exits_at_once_and_requeues_the_running_job(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    started = tmp_path / "started"
    job = submit(db, "cli.nap", [120, str(started)])
    with worker(db, tmp_path / "w.log", "--grace", "60") as w:
        wait_until(started.exists, what="job start")
        w.signal(signal.SIGINT)
        wait_until(lambda: "shutdown requested" in w.text(), what="first signal seen")
        time.sleep(0.3)
        assert w.proc.poll() is None, "still in its 60 s grace period"
        t0 = time.monotonic()
        w.signal(signal.SIGINT)
        assert w.wait(15) == 128 + signal.SIGINT
        assert time.monotonic() - t0 < 10
        events = w.events()
    r = row(db, job)
    assert (r["status"], r["owner"]) == ("pending", None)
    assert engines(db) == 0
    assert any(e["event"] == "forced exit" for e in events)
    assert any(e["event"] == "job released" and e["job_id"] == job for e in events)


def test_sigterm_on_a_process_job_kills_it_and_requeues_it(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    started = tmp_path / "started"
    job = submit(db, "cli.proc_sleep", [120, str(started)])
    with worker(db, tmp_path / "w.log", "--processes", "1", "--grace", "0.5") as w:
        wait_until(lambda: started.exists() and started.read_text(), what="process job start")
        w.signal(signal.SIGTERM)
        assert w.wait(30) == 0
    r = row(db, job)
    assert (r["status"], r["owner"]) == ("pending", None)
    pid = int(started.read_text())
    wait_until(lambda: not Path(f"/proc/{pid}").exists() or
             Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z",
             timeout=10, what="the job's process gone")


def test_text_logs_and_levels(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    submit(db, "cli.add", [1, 2])
    with worker(db, tmp_path / "w.log", "--until-done", "--log-format", "text") as w:
        assert w.wait(60) == 0
        text = w.text()
    assert "INFO  godnb.worker: job finished job_id=" in text
    assert "status=completed attempt=1 elapsed=" in text
    with worker(db, tmp_path / "quiet.log", "--until-done", "--log-level", "warning",
                ready=False) as w:
        assert w.wait(60) == 0
        assert "job finished" not in w.text()
