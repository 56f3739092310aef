"""A store file written by someone else runs nothing when opened (issue 17, case 5).

The hostile file is written with plain sqlite3: a pending job ``os:system``, pickled
arguments and a pickled result whose ``__reduce__`` would create a marker file, and a task
``evilmod:f`` with an ``evilmod.py`` in the current folder. Opening it in an engine, a
``godnb worker``, ``list``, ``monitor``, ``status`` and ``result`` must create no marker;
the jobs an engine may not run fail with a reason that says how to allow them.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import godnb as god
from godnb import Engine, JobStatus
from godnb.errors import TaskNotAllowed
from godnb.models.job import utcnow
from godnb.storage import ShelveStore, SQLiteStore
from godnb.storage.codec import Pickled, job_row, to_us
from tests.cli.helpers import cli, cli_env
from tests.integration import durable_tasks  # noqa: F401  (registers "record")
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


class Touch:
    """Unpickling this runs ``touch PATH`` (a stand-in for any code a pickle can run)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return os.system, (f"touch {self.path}",)


def _insert(conn: sqlite3.Connection, job_id: str, task: str, *, status: str = "pending",
            params: tuple[int, Any] = (0, None), durable: int = 1) -> None:
    row = job_row(god.Job(job_id=job_id, payload={"task": "math:sqrt"}))
    row.update(task=task, status=status, params_kind=params[0], params=params[1],
               durable=durable, owner=None)
    conn.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES "
                 f"({', '.join('?' * len(row))})", list(row.values()))


def write_hostile_store(db: Path, markers: Path) -> dict[str, str]:
    """A valid godnb store, then rows that would run code if anything trusted them."""
    SQLiteStore(db).close()
    conn = sqlite3.connect(db)
    _insert(conn, "system", "os:system", params=(1, f'[["touch {markers / "system"}"], {{}}]'))
    _insert(conn, "pickled-args", "math:sqrt",
            params=(2, pickle.dumps([[Touch(markers / "args")], {}])))
    _insert(conn, "pickled-args-callable", "tests.nowhere:fn", durable=0,
            params=(2, pickle.dumps([[Touch(markers / "callable-args")], {}])))
    _insert(conn, "running", "math:sqrt", status="running",
            params=(2, pickle.dumps([[Touch(markers / "running-args")], {}])))
    _insert(conn, "evil-module", "evilmod:f")
    _insert(conn, "done", "math:sqrt", status="completed")
    conn.execute("INSERT INTO results VALUES (?, 'completed', 2, ?, NULL, 0.1, 1, 0, ?)",
                 ("done", pickle.dumps(Touch(markers / "result")), to_us(utcnow())))
    conn.commit()
    conn.close()
    return {"system": "os:system", "pickled-args": "math:sqrt", "evil-module": "evilmod:f"}


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(db, markers folder, a working folder holding evilmod.py)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "evilmod.py").write_text(
        f"open({str(markers / 'evilmod-imported')!r}, 'w').close()\n"
        f"def f(*args):\n    open({str(markers / 'evilmod-ran')!r}, 'w').close()\n")
    db = tmp_path / "hostile.db"
    write_hostile_store(db, markers)
    return db, markers, work


def no_markers(markers: Path) -> None:
    assert sorted(os.listdir(markers)) == [], "something in the store ran"


def godnb_cli(*args: Any, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "godnb", *map(str, args)], cwd=cwd,
                          env=cli_env(), capture_output=True, text=True, timeout=timeout)


def test_read_only_commands_unpickle_nothing(hostile: tuple[Path, Path, Path]) -> None:
    db, markers, work = hostile
    for args in (["list"], ["list", "--json"], ["status"], ["status", "done"],
                 ["status", "pickled-args"], ["status", "running", "--json"],
                 ["result", "done"], ["result", "done", "--json"]):
        proc = godnb_cli(*args, "--db", db, cwd=work)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr
    no_markers(markers)
    shown = godnb_cli("result", "done", "--db", db, cwd=work).stdout
    assert "pickled result" in shown and "not loaded" in shown
    assert "pickled arguments" in godnb_cli("status", "pickled-args", "--db", db,
                                            cwd=work).stdout


def test_monitor_unpickles_nothing(hostile: tuple[Path, Path, Path]) -> None:
    db, markers, work = hostile
    monitor = subprocess.Popen([sys.executable, "-m", "godnb", "monitor", "--plain",
                                "--interval", "0.1", "--db", str(db)], cwd=work,
                               env=cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert monitor.stdout is not None
        first = monitor.stdout.readline()  # the header of the first frame
        assert "godnb" in first
        time.sleep(0.3)  # a few more frames
    finally:
        monitor.terminate()
        monitor.wait(10)
    no_markers(markers)


def test_an_engine_opening_it_runs_nothing_and_fails_what_it_may_not_run(
        hostile: tuple[Path, Path, Path]) -> None:
    db, markers, _ = hostile
    with Engine(store=db, poll_interval=0.05) as eng:
        wait_until(lambda: eng.store.counts()["pending"] + eng.store.counts()["running"] == 0,
                   what="the hostile jobs to end")
        for job_id, task in [("system", "os:system"), ("pickled-args", "math:sqrt"),
                             ("evil-module", "evilmod:f"), ("running", "math:sqrt")]:
            job = eng.store.get_job(job_id)
            assert job is not None and job.status is JobStatus.FAILED, job_id
            result = eng.store.get_result(job_id)
            assert result is not None
            error = result.errors[-1]
            assert error.type == TaskNotAllowed.__name__
            assert f"task {task!r} is not allowed" in error.message
            assert "allow=[" in error.message and "@god.task" in error.message
        callable_job = eng.store.get_result("pickled-args-callable")
        assert callable_job is not None and "live callable" in callable_job.errors[-1].message
    no_markers(markers)
    assert "evilmod" not in sys.modules


def test_a_worker_runs_nothing_and_does_not_import_from_the_current_folder(
        hostile: tuple[Path, Path, Path]) -> None:
    db, markers, work = hostile
    proc = godnb_cli("worker", "--db", db, "--until-done", "--poll", "0.05", cwd=work,
                     timeout=90)
    assert proc.returncode == 0, proc.stderr
    no_markers(markers)
    shown = godnb_cli("status", "evil-module", "--db", db, cwd=work).stdout
    assert "failed" in shown and "TaskNotAllowed" in shown and "not allowed" in shown
    result = godnb_cli("result", "system", "--db", db, cwd=work)
    assert result.returncode == 1 and "--allow" in result.stdout


def test_result_unpickle_loads_on_request(tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    with SQLiteStore(db) as store:
        job = god.Job(job_id="j", payload={"task": "math:sqrt"})
        store.add([job])
        job.end(JobStatus.COMPLETED)
        store.update([job], [god.Result(job_id="j", status="completed",
                                        output={1, 2})])  # a set: stored pickled
    code, out, _ = cli("result", "j", "--db", db)
    assert code == 0 and "<pickled result" in out
    code, out, _ = cli("result", "j", "--db", db, "--unpickle")
    assert code == 0 and out.strip() == "[1, 2]"
    with SQLiteStore(db) as store:
        output = store.get_result("j").output  # type: ignore[union-attr]
        assert isinstance(output, Pickled) and output.load() == {1, 2}


def test_a_tampered_shelve_store_is_refused_without_running_it(tmp_path: Path) -> None:
    from godnb.storage.dumbfile import DumbFile

    path, marker = tmp_path / "s", tmp_path / "marker"
    ShelveStore(path).close()
    rows = DumbFile(str(path))  # the store's own file format: a committed row
    rows[b"job:evil"] = pickle.dumps(Touch(marker))
    rows.commit()
    rows.close()
    with pytest.raises(god.StoreError, match=r"names posix\.system.*tampered"):
        ShelveStore(path)
    assert not marker.exists()


# -- what an engine does run --------------------------------------------------------------------
def test_registered_allowed_and_own_tasks_run_from_the_store(tmp_path: Path) -> None:
    db, log = tmp_path / "j.db", tmp_path / "log"
    with SQLiteStore(db) as store:  # as `godnb submit` does: unowned
        store.add([god.Job(job_id="registered", payload={"task": "record",
                                                         "args": [str(log), 1]}),
                   god.Job(job_id="allowed", payload={"task": "math:sqrt", "args": [9]}),
                   god.Job(job_id="pow", payload={"task": "math:pow", "args": [2, 3]}),
                   god.Job(job_id="other", payload={"task": "operator:add", "args": [1, 2]})])
    with Engine(store=db, poll_interval=0.05, allow=["math"]) as eng:
        wait_until(lambda: eng.store.counts()["pending"] == 0, what="the jobs to end")
        eng.wait(30)
        # a name this engine's user submitted by hand is trusted here
        assert eng.submit("operator:sub", 5, 2).result(30) == 3
        eng._durable.flush()
        status = {i: eng.store.get_job(i).status for i in ("registered", "allowed", "pow",  # type: ignore[union-attr]
                                                           "other")}
    assert status == {"registered": JobStatus.COMPLETED, "allowed": JobStatus.COMPLETED,
                      "pow": JobStatus.COMPLETED, "other": JobStatus.FAILED}
    assert log.read_text().split() == ["1"]


@pytest.mark.parametrize("bad", ["math.*", 3, [""]])
def test_allow_is_checked(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="allow"):
        Engine(allow=bad)


@pytest.mark.parametrize(("column", "value"), [
    ("tags", "[not json"), ("progress", '{"done": "x"}'), ("status", "exploded"),
    ("timeout", "soon"), ("priority", "high"), ("tags", "[" * 100_000),
], ids=lambda v: str(v)[:20])
def test_a_malformed_row_is_one_clear_error_not_a_traceback(tmp_path: Path, column: str,
                                                             value: str) -> None:
    db = tmp_path / "j.db"
    with SQLiteStore(db) as store:
        store.add([god.Job(job_id="bad", payload={"task": "math:sqrt"})])
    conn = sqlite3.connect(db)
    conn.execute(f"UPDATE jobs SET {column} = ?", (value,))
    conn.commit()
    conn.close()
    for command in (["list"], ["status", "bad"]):
        code, out, err = cli(*command, "--db", db)
        assert code == 2 and out == "" and err.count("\n") == 1, (command, err)
        assert "stored job 'bad' is not valid" in err and "Traceback" not in err


def test_pickled_arguments_of_a_trusted_task_given_by_name_are_never_loaded(
        tmp_path: Path) -> None:
    """A task given by name takes JSON arguments; a pickle in their place was not written
    by godnb: even an engine that trusts the task ("record" is registered) refuses it."""
    db, marker = tmp_path / "j.db", tmp_path / "marker"
    SQLiteStore(db).close()
    conn = sqlite3.connect(db)
    _insert(conn, "sneaky", "record", params=(2, pickle.dumps([[Touch(marker)], {}])))
    conn.commit()
    conn.close()
    with Engine(store=db, poll_interval=0.05) as eng:
        wait_until(lambda: eng.store.counts()["failed"] == 1, what="the job to fail")
        message = eng.store.get_result("sneaky").errors[-1].message  # type: ignore[union-attr]
    assert "stored pickled" in message and "JSON arguments" in message
    assert not marker.exists()
