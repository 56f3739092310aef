"""Running the real ``godnb`` CLI in subprocesses, and reading what it left in the db."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
TASKS = "tests.cli.cli_tasks"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("GODNB_DB", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(*args: Any, timeout: float = 60, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """``python -m godnb ARGS`` from the repo root; output captured as text."""
    return subprocess.run([sys.executable, "-m", "godnb", *map(str, args)], cwd=ROOT,
                          env=env or cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def cli(*args: Any) -> tuple[int, str, str]:
    """``main(ARGS)`` in this process (the code the console script runs, without the
    interpreter start-up): exit code, stdout, stderr."""
    from godnb.api.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors and --help
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


def ok(*args: Any) -> str:
    """Run the CLI, require exit 0, return stdout."""
    proc = run_cli(*args)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    return proc.stdout


def row(db: Path, job_id: str) -> dict[str, Any]:
    """The job's raw row, read with plain sqlite3 (not through godnb)."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return dict(found) if found else {}
    finally:
        conn.close()


def engines(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM engines").fetchone()[0])
    finally:
        conn.close()


class Worker:
    """A ``godnb worker`` subprocess whose stderr (JSON log lines) goes to a file."""

    def __init__(self, db: Path, log: Path, *args: Any, ready: bool = True) -> None:
        self.log = log
        self._err = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "godnb", "worker", "--db", str(db), "--import", TASKS,
             "--poll", "0.05", *map(str, args)],
            cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=self._err, text=True)
        if ready:  # its signal handlers are installed once it says so
            wait_until(lambda: "worker started" in self.text() or self.proc.poll() is not None,
                     what="worker start")
            assert "worker started" in self.text(), f"worker failed to start: {self.text()}"

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        import json

        return [json.loads(line) for line in self.text().splitlines()
                if line.startswith("{")]

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:  # two signals: re-queue and exit at once
            self.proc.send_signal(signal.SIGTERM)
            time.sleep(0.1)
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._err.close()


@contextmanager
def worker(db: Path, log: Path, *args: Any, ready: bool = True) -> Iterator[Worker]:
    w = Worker(db, log, *args, ready=ready)
    try:
        yield w
    finally:
        w.stop()
