"""A store that fails to open leaves no file it created behind (issue 17 case 9: stray
-wal/-shm/.lock files after a failed open)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from godnb.errors import StoreError
from godnb.storage import ShelveStore, SQLiteStore

ROOT = Path(__file__).resolve().parents[2]


def files(folder: Path) -> set[str]:
    return set(os.listdir(folder))


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder anyone may write to (for opening as another user when tests run as root)."""
    folder = Path(tempfile.mkdtemp(prefix="godnb-open-"))
    folder.chmod(0o777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


OPEN_AS_NOBODY = textwrap.dedent("""
    import os, sys
    from godnb.errors import StoreError
    from godnb.storage import SQLiteStore
    import godnb
    import godnb.concurrency.processes, godnb.core.engine  # all imports done before setuid
    if os.geteuid() == 0:
        os.setgid(65534)
        os.setuid(65534)
    try:
        if sys.argv[2] == "engine":
            godnb.Engine(store=sys.argv[1]).shutdown()
        else:
            SQLiteStore(sys.argv[1]).close()
    except StoreError as e:
        print("StoreError:", e)
    else:
        print("opened")
""")


@pytest.mark.parametrize("how", ["store", "engine"])
def test_a_store_this_user_can_not_write_is_refused_and_nothing_is_created(
        shared_dir: Path, how: str) -> None:
    db = shared_dir / "jobs.db"
    SQLiteStore(db).close()  # a WAL store, cleanly closed: only the file is left
    db.chmod(0o444 if os.geteuid() != 0 else 0o644)  # (root: owned by root, opened by nobody)
    before = files(shared_dir)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", OPEN_AS_NOBODY, str(db), how], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert "StoreError:" in out.stdout and "read-only" in out.stdout, out.stdout + out.stderr
    assert files(shared_dir) == before  # no -wal/-shm left by a read-only connection


def test_a_new_store_that_fails_to_set_up_is_removed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    real_setup = SQLiteStore._setup

    def setup_then_fail(self: SQLiteStore, synchronous: str) -> None:
        real_setup(self, synchronous)
        self.register_engine("e")  # a write: the file, -wal and -shm all exist now
        assert {"new.db", "new.db-wal", "new.db-shm"} <= files(tmp_path)
        raise StoreError("injected failure at the end of the set-up")

    monkeypatch.setattr(SQLiteStore, "_setup", setup_then_fail)
    with pytest.raises(StoreError, match="injected"):
        SQLiteStore(tmp_path / "new.db")
    assert files(tmp_path) == set()


def test_a_failed_open_of_an_existing_file_leaves_it_alone(tmp_path: Path) -> None:
    db = tmp_path / "foreign.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE mine (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a godnb store"):
        SQLiteStore(db)
    assert files(tmp_path) == {"foreign.db"}


def test_a_locked_store_that_can_not_be_opened_leaves_the_holders_files(tmp_path: Path
                                                                        ) -> None:
    db = tmp_path / "j.db"
    SQLiteStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        held = files(tmp_path)
        with pytest.raises(StoreError, match="locked"):
            SQLiteStore(db, busy_timeout=0.05)
        assert files(tmp_path) == held
    finally:
        holder.close()


def test_a_failed_shelve_open_leaves_no_lock_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-shelf"
    path.write_text("hello")
    with pytest.raises(StoreError, match="not a dbm database"):
        ShelveStore(path)
    assert files(tmp_path) == {"not-a-shelf"}


def test_a_shelve_store_open_elsewhere_keeps_its_lock_file(tmp_path: Path) -> None:
    with ShelveStore(tmp_path / "s") as first:
        with pytest.raises(StoreError, match="already open"):
            ShelveStore(tmp_path / "s")
        assert "s.lock" in files(tmp_path)
        first.add([])
