"""What only the shelve store promises: one owner at a time, private files, refusals."""

from __future__ import annotations

import dbm.dumb
import os
import re
import stat
from pathlib import Path

import pytest

from godnb.errors import StoreError
from godnb.models import Job
from godnb.storage import ShelveStore


def at(path: Path) -> str:
    """A pattern matching ``path`` as the messages quote it."""
    return re.escape(str(path))


def test_a_second_opening_is_refused_until_the_first_closes(tmp_path: Path) -> None:
    path = tmp_path / "jobs"
    first = ShelveStore(path)
    with pytest.raises(StoreError, match=r"already open.*use SQLiteStore to share"):
        ShelveStore(path)
    first.close()
    ShelveStore(path).close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_files_are_private(tmp_path: Path) -> None:
    with ShelveStore(tmp_path / "jobs") as store:
        store.add([Job(payload={"task": "m:f"})])
        store.flush()
    files = list(tmp_path.iterdir())
    assert files
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


def test_a_plain_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes"
    path.write_text("not a database")
    with pytest.raises(StoreError, match=rf"{at(path)}.* is not a dbm database.*untouched"):
        ShelveStore(path)
    assert path.read_text() == "not a database"


def test_a_foreign_dbm_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "other")
    with dbm.dumb.open(path, "c") as db:
        db[b"customer"] = b"ada"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(StoreError, match=r"not a godnb shelve store \(it has 1 key"):
        ShelveStore(path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix != ".lock"}
    assert after == before


def test_a_corrupt_index_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "jobs"
    ShelveStore(path).close()
    (tmp_path / "jobs.dir").write_text("'meta', (0, garbage\n")
    with pytest.raises(StoreError, match=r"can not open shelve store .*jobs.*untouched"):
        ShelveStore(path)
    assert (tmp_path / "jobs.dir").read_text() == "'meta', (0, garbage\n"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory; pass a file path"):
        ShelveStore(tmp_path)
