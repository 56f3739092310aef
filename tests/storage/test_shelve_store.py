"""What only the shelve store promises: one owner at a time, private files, refusals."""

from __future__ import annotations

import dbm
import dbm.dumb
import os
import pickle
import re
import shelve
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


def test_a_read_only_store_is_refused_with_the_file_and_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "jobs"
    with ShelveStore(path) as store:
        store.add([Job(job_id="a", payload={"task": "m:f"})])
    real_open = os.open

    def read_only(file: str, flags: int, *args: int) -> int:  # as on a read-only mount
        if str(file).startswith(str(path)) and flags & os.O_RDWR and \
                not str(file).endswith(".lock"):
            raise PermissionError(13, "Permission denied", file)
        return real_open(file, flags, *args)

    monkeypatch.setattr("godnb.storage.dumbfile.os.open", read_only)
    with pytest.raises(StoreError, match=rf"shelve store '{at(path)}' is read-only: "
                       rf"'{at(path)}\.dat' can not be opened for writing .*chmod u\+w"):
        ShelveStore(path)
    monkeypatch.undo()
    with ShelveStore(path) as store:  # refused cleanly: nothing stayed open or locked
        assert store.get_job("a") is not None


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="POSIX file modes; root writes read-only files anyway")
def test_read_only_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "jobs"
    ShelveStore(path).close()
    for file in tmp_path.glob("jobs.d*"):
        file.chmod(0o400)
    with pytest.raises(StoreError, match=r"is read-only: .*chmod u\+w"):
        ShelveStore(path)


def test_its_files_are_plain_dbm_dumb_files(tmp_path: Path) -> None:
    """Any Python reads them; a commit marker is the only foreign key."""
    path = tmp_path / "jobs"
    with ShelveStore(path) as store:
        store.add([Job(job_id="a", payload={"task": "m:f"})])
        store.update([Job(job_id="a", payload={"task": "m:f"}, status="running",
                          attempts=1)])
    assert dbm.whichdb(str(path)) == "dbm.dumb"
    with dbm.dumb.open(str(path), "r") as db:
        assert {b"meta", b"engines", b"job:a", b"\x00godnb-commit"} >= set(db.keys())
        assert pickle.loads(db[b"job:a"])["status"] == "running"


def test_a_torn_last_write_is_dropped_whole(tmp_path: Path) -> None:
    path = tmp_path / "jobs"
    with ShelveStore(path) as store:
        store.add([Job(job_id="a", payload={"task": "m:f"})])
    index = tmp_path / "jobs.dir"
    kept = index.read_bytes()
    # a commit that died half-way: a complete line for a new job, then a torn one
    with index.open("ab") as f:
        f.write(b"'job:b', (0, 52)\n'job:c', (51")
    with ShelveStore(path) as store:
        assert [j.job_id for j in store.list_jobs()] == ["a"]
        store.add([Job(job_id="d", payload={"task": "m:f"})])
    assert index.read_bytes().startswith(kept) and b"job:b" not in index.read_bytes()
    with ShelveStore(path) as store:
        assert [j.job_id for j in store.list_jobs()] == ["d", "a"]


def test_a_store_dbm_dumb_wrote_is_read_and_kept_safely(tmp_path: Path) -> None:
    """An older godnb wrote its stores through dbm.dumb itself, which can also die in
    sync() after renaming the index to .bak: that index is put back."""
    path = str(tmp_path / "jobs")
    row_store = ShelveStore(tmp_path / "model")
    row_store.add([Job(job_id="a", payload={"task": "m:f"})])
    rows = {k: row_store._shelf[k] for k in row_store._shelf}
    row_store.close()
    with shelve.Shelf(dbm.dumb.open(path, "c")) as old:  # type: ignore[arg-type]
        for key, value in rows.items():
            old[key] = value
    os.replace(path + ".dir", path + ".bak")  # dbm.dumb's sync() died here
    with ShelveStore(path) as store:
        assert store.get_job("a") is not None
        store.add([Job(job_id="b", payload={"task": "m:f"})])
    with ShelveStore(path) as store:
        assert sorted(j.job_id for j in store.list_jobs()) == ["a", "b"]


def test_data_without_any_index_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "jobs.dat").write_bytes(b"\x80\x05data")
    with pytest.raises(StoreError, match=r"has data .* but no index.*left untouched"):
        ShelveStore(tmp_path / "jobs")
    assert not (tmp_path / "jobs.dir").exists()


def test_any_job_id_round_trips_through_the_index(tmp_path: Path) -> None:
    odd = ["it's", 'say "hi"', "naïve-ü", "back\\slash", "tab\there"]
    with ShelveStore(tmp_path / "jobs") as store:
        store.add([Job(job_id=i, payload={"task": "m:f"}) for i in odd])
    with ShelveStore(tmp_path / "jobs") as store:
        assert sorted(j.job_id for j in store.list_jobs()) == sorted(odd)
