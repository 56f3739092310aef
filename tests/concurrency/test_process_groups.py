"""Process jobs live in their own process group, and no worker outlives its engine
(issue 17 case 9): a timeout or cancel also ends what the job started, and a ``kill -9``
of the engine's process takes its pool children with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import godnb as god
from godnb import Engine
from tests.concurrency import proc_tasks
from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(60),
              pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")]
ROOT = Path(__file__).resolve().parents[2]


def gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for init to reap it counts)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def read_pid(path: Path) -> int:
    wait_until(lambda: path.exists() and path.read_text().strip(), what=f"{path.name}")
    return int(path.read_text())


@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_a_killed_process_job_takes_its_grandchildren_with_it(tmp_path: Path, how: str
                                                              ) -> None:
    pid_file = tmp_path / "grandchild"
    with Engine(processes=1) as eng:
        h = eng.submit(proc_tasks.spawn_grandchild_then_sleep, str(pid_file), 60,
                       backend="process", timeout=2.0 if how == "timeout" else None)
        grandchild = read_pid(pid_file)
        worker = eng.executors["process"]._slots[0].pid
        assert os.getpgid(grandchild) == worker != os.getpgid(0)  # the job's own group
        if how == "cancel":
            assert h.cancel()
        with pytest.raises(god.JobTimeout if how == "timeout" else god.JobCancelled):
            h.result(30)
        wait_until(lambda: gone(grandchild) and gone(worker), timeout=10,
                   what="the worker and the job's own child to die")
        assert eng.submit(proc_tasks.add, 1, 2, backend="process").result(30) == 3


def test_a_graceful_job_end_leaves_the_pool_in_place(tmp_path: Path) -> None:
    with Engine(processes=1) as eng:
        first = eng.submit(proc_tasks.getpid, backend="process").result(30)
        assert os.getpgid(first) == first  # a group leader
        assert eng.submit(proc_tasks.getpid, backend="process").result(30) == first


ENGINE_SCRIPT = textwrap.dedent("""
    import sys, time
    import godnb as god
    import godnb.concurrency.process_child as process_child
    from tests.concurrency import proc_tasks

    process_child._USE_PDEATHSIG = sys.argv[2] == "pdeathsig"
    eng = god.Engine(processes=2)
    eng.submit(proc_tasks.record_pid_then_sleep, sys.argv[1], 60, backend="process")
    eng.submit(proc_tasks.record_pid_then_sleep, sys.argv[1], 0, backend="process")
    time.sleep(60)  # killed -9 by the test long before
""")


@pytest.mark.parametrize("mechanism", ["pdeathsig", "watchdog"])
def test_pool_children_die_with_a_killed_engine(tmp_path: Path, mechanism: str) -> None:
    """One child busy in a job, one idle: after kill -9 of the engine, neither lives on."""
    pids = tmp_path / "pids"
    pids.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-c", ENGINE_SCRIPT, str(pids), mechanism],
                            cwd=ROOT, env=env)
    try:
        wait_until(lambda: len(os.listdir(pids)) == 2, what="both jobs to start")
        children = [int(p) for p in os.listdir(pids)]
        assert not any(gone(pid) for pid in children)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_until(lambda: all(gone(pid) for pid in children), timeout=5,
                   what="the pool children to die with their engine")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
