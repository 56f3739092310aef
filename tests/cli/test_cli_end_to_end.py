"""The CLI as a user runs it: real subprocesses on a real SQLite file.

The steps that matter run as real processes (``python -m godnb``, the ``godnb`` script);
extra looks at the same database go through ``main()`` in-process, which is the same
code without another interpreter start-up.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from godnb.models import Job
from godnb.storage.sqlite import SQLiteStore
from tests.cli.helpers import ROOT, TASKS, cli, cli_env, ok, row, run_cli, worker
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def submit(db: Path, task: str, *args: object) -> str:
    """Submit in-process (the subprocess path is pinned by the first test)."""
    code, out, err = cli("submit", task, "--db", db, "--import", TASKS, "--json", *args)
    assert code == 0, err
    return str(json.loads(out)["job_id"])


def inproc(*args: object) -> str:
    code, out, err = cli(*args)
    assert code == 0, err
    return out


def test_submit_worker_status_result(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    add = json.loads(ok("submit", "cli.add", "--db", db, "--import", TASKS, "--json",
                        "--args", "[2, 3]", "--priority", "5", "--group", "alice",
                        "--name", "sum"))["job_id"]
    by_path = ok("submit", "math:sqrt", "--db", db, "--args", "[16]").strip()
    kw = submit(db, "cli.add", "--kwargs", '{"a": 1, "b": 0.5}')
    bad = submit(db, "cli.fail", "--args", '["no id field"]', "--retries", "1")
    assert inproc("list", "--db", db, "--status", "pending").count("pending") == 4
    with worker(db, tmp_path / "w.log", "--until-done", "--allow", "math") as w:
        assert w.wait(60) == 0
        events = w.events()
    assert {"worker started", "job claimed", "job started", "job finished",
            "worker drained", "worker stopped"} <= {e["event"] for e in events}
    finished = [e for e in events if e["event"] == "job finished"]
    assert {e["job_id"] for e in finished} == {add, kw, bad, by_path}
    assert all({"status", "attempt", "elapsed"} <= e.keys() for e in finished)

    assert ok("result", add, "--db", db).strip() == "5"
    failed = run_cli("result", bad, "--db", db)
    assert failed.returncode == 1
    assert "failed after 1 attempt(s)" in failed.stdout  # ValueError: not retried
    assert "ValueError: no id field" in failed.stdout
    status = json.loads(ok("status", "--db", db, "--json"))
    assert status["counts"]["completed"] == 3 and status["counts"]["failed"] == 1
    assert status["engines"] == []  # the worker unregistered on the way out

    assert inproc("result", kw, "--db", db).strip() == "1.5"
    assert inproc("result", by_path, "--db", db).strip() == "4.0"
    assert json.loads(inproc("result", add, "--db", db, "--json"))["output"] == 5
    one = json.loads(inproc("status", add, "--db", db, "--json"))
    assert one["job"]["name"] == "sum" and one["job"]["priority"] == 5
    assert one["job"]["group"] == "alice" and one["result"]["output"] == 5
    text = inproc("status", add, "--db", db)
    assert "completed" in text and "alice" in text
    assert "jobs     4: pending 0" in inproc("status", "--db", db)
    table = inproc("list", "--db", db)
    assert table.splitlines()[0].split() == ["ID", "NAME", "STATUS", "PRI", "GROUP", "TRIES",
                                             "UPDATED"]
    assert len(table.splitlines()) == 5
    assert len(inproc("list", "--db", db, "--limit", "2").splitlines()) == 3
    listed = json.loads(inproc("list", "--db", db, "--json", "--status", "failed"))
    assert [j["job_id"] for j in listed] == [bad]


def test_result_of_an_unfinished_job(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    job = submit(db, "cli.add", "--args", "[1, 1]")
    code, out, err = cli("result", job, "--db", db, "--wait", "0.1")
    assert (code, out) == (3, "")
    assert "is pending; no result yet" in err


def test_cancel_a_pending_job(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    job = submit(db, "cli.add", "--args", "[1, 1]")
    assert f"job {job} cancelled" in ok("cancel", job, "--db", db)
    assert row(db, job)["status"] == "cancelled"
    code, _, err = cli("cancel", job, "--db", db)
    assert code == 1 and "already ended (cancelled)" in err
    code, out, _ = cli("result", job, "--db", db)
    assert code == 1 and "was cancelled" in out


def test_cancel_running_thread_and_process_jobs(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    t_started, saw = tmp_path / "t.started", tmp_path / "t.saw_cancel"
    p_started = tmp_path / "p.started"
    with worker(db, tmp_path / "w.log", "--processes", "1"):
        thread_job = submit(db, "cli.cooperative", "--args",
                            json.dumps([60, str(t_started), str(saw)]))
        proc_job = submit(db, "cli.proc_sleep", "--args", json.dumps([60, str(p_started)]))
        wait_until(t_started.exists, what="thread job start")
        wait_until(lambda: p_started.exists() and p_started.read_text(), what="process start")
        child = int(p_started.read_text())
        proc = run_cli("cancel", thread_job, "--db", db, "--wait", "10", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == {"job_id": thread_job, "status": "cancelled",
                                           "requested": True}
        code, out, err = cli("cancel", proc_job, "--db", db)
        assert code == 0, err
        assert out.startswith(f"cancel requested for job {proc_job}")
        assert saw.exists(), "god.cancelled() turned true in the thread job"
        wait_until(lambda: not _alive(child), timeout=10, what="the process job killed")
        wait_until(lambda: row(db, proc_job)["status"] == "cancelled", timeout=10,
                 what="process job cancelled")
    assert row(db, thread_job)["status"] == "cancelled"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie is dead, just not reaped
    except FileNotFoundError:
        return False


def test_monitor_until_done_exits_when_the_queue_drains(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with SQLiteStore(db) as store:  # what `godnb submit` does, seven times at once
        store.add([Job(payload={"task": "cli.progress", "args": [5, 0.05]}) for _ in range(6)]
                  + [Job(payload={"task": "cli.fail"})], owner=None)
    screen = tmp_path / "monitor.out"
    with open(screen, "w") as stdout:
        monitor = subprocess.Popen(
            [sys.executable, "-m", "godnb", "monitor", "--db", str(db), "--until-done",
             "--interval", "0.1", "--plain"], cwd=ROOT, env=cli_env(), stdout=stdout,
            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: "pending 7" in screen.read_text(), what="the first frame")
        with worker(db, tmp_path / "w.log", "--threads", "2"):
            _, err = monitor.communicate(timeout=60)
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.communicate()
    assert monitor.returncode == 0, err
    out = screen.read_text()
    frames = re.split(r"^godnb · ", out, flags=re.M)[1:]
    assert "pending 7" in frames[0]
    assert "all 7 jobs done" in frames[-1]
    assert "completed 6" in frames[-1] and "failed 1" in frames[-1]
    assert "recent failures (1)" in frames[-1] and "ValueError: bad record" in frames[-1]
    assert "\x1b[" not in out  # --plain: no escapes


def test_monitor_until_done_on_a_finished_queue_exits_at_once(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    job = submit(db, "cli.add", "--args", "[1, 2]")
    inproc("cancel", job, "--db", db)
    assert "all 1 jobs done" in inproc("monitor", "--db", db, "--until-done", "--plain")


def test_console_script_and_env_db(tmp_path: Path) -> None:
    script = shutil.which("godnb")
    if script is None:
        pytest.skip("the godnb console script is not installed")
    env = cli_env() | {"GODNB_DB": str(tmp_path / "env.db")}
    proc = subprocess.run([script, "submit", "math:sqrt", "--args", "[9]"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert row(tmp_path / "env.db", proc.stdout.strip())["status"] == "pending"


def test_status_shows_what_a_worker_recovered(tmp_path: Path) -> None:
    """Jobs of an engine that died: the worker recovers and runs them, and ``godnb status``
    says so (issue 17: ``eng.recovery`` shown by the CLI)."""
    db = tmp_path / "jobs.db"
    with SQLiteStore(db) as store:
        store.register_engine("engine-that-died", pid=2**22 + 7, host="elsewhere")
        jobs = [Job(payload={"task": "cli.add", "args": [i, 1]}, retries=1) for i in range(3)]
        store.add(jobs, owner="engine-that-died")
        jobs[0].start_attempt()
        store.update([jobs[0]])
        store.unregister_engine("engine-that-died")  # gone without a word
    with worker(db, tmp_path / "w.log", "--until-done") as w:
        assert w.wait(60) == 0
    text = inproc("status", "--db", db)
    assert "recovered  1 time(s), latest first" in text
    assert "3 re-queued (1 interrupted), 0 failed, 0 cancelled" in text
    data = json.loads(inproc("status", "--db", db, "--json"))
    [rec] = data["recoveries"]
    assert (rec["requeued"], rec["interrupted"], rec["failed"]) == (3, 1, 0)
    assert data["counts"]["completed"] == 3
