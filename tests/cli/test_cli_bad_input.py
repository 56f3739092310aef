"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written.

Every case runs in-process through ``main()`` (the exact code the console script runs,
fast); a few also run as real subprocesses to pin the behaviour end to end.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from godnb.models import Job
from godnb.storage.sqlite import SQLiteStore
from tests.cli.helpers import TASKS, cli, run_cli


def assert_refused(code: int, out: str, err: str, *phrases: str) -> None:
    assert code == 2, (code, out, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in err, f"{phrase!r} not in {err!r}"


def files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


@pytest.fixture
def good_db(tmp_path: Path) -> Path:
    db = tmp_path / "good.db"
    with SQLiteStore(db) as store:
        store.add([Job(job_id="known", payload={"task": "math:sqrt", "args": [4]})])
    return db


# -- submit ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "phrases"), [
    (["nosuch_module_xyz:run"], ["unknown task", "nosuch_module_xyz"]),
    (["math:no_such_function"], ["unknown task", "no_such_function"]),
    (["cli.nope", "--import", TASKS], ["unknown task", "'cli.nope'", "cli.add"]),
    (["cli.add", "--import", "no_such_module_abc"], ["can not import module",
                                                     "no_such_module_abc"]),
    (["not a name!"], ["payload.task"]),
    (["math:sqrt", "--args", "[1,"], ["--args is not valid JSON"]),
    (["math:sqrt", "--args", '{"x": 1}'], ["--args must be a JSON list"]),
    (["math:sqrt", "--kwargs", "[1]"], ["--kwargs must be a JSON object"]),
    (["math:sqrt", "--kwargs", "{'a': 1}"], ["--kwargs is not valid JSON"]),
    (["math:sqrt", "--priority", "10000001"], ["--priority must be between -1000000 and "
                                               "1000000, got 10000001"]),
    (["math:sqrt", "--priority", "high"], ["--priority", "invalid int value"]),
    (["math:sqrt", "--retries", "-1"], ["retries"]),
    (["math:sqrt", "--timeout", "0"], ["timeout"]),
    (["math:sqrt", "--backend", "gpu"], ["unknown backend 'gpu'", "thread"]),
])
def test_submit_refuses_bad_input_and_writes_nothing(tmp_path: Path, args: list[str],
                                                     phrases: list[str]) -> None:
    db = tmp_path / "new.db"
    assert_refused(*cli("submit", *args, "--db", db), *phrases)
    assert not db.exists(), "bad input must not create the database"


def test_an_unknown_name_is_queued_only_with_defer(tmp_path: Path) -> None:
    # A registered name is only known where its module was imported: a worker may know it,
    # but the submitter has to say so (issue 17: `godnb submit no.such.task` exited 0).
    db = tmp_path / "j.db"
    assert_refused(*cli("submit", "somewhere.registered", "--db", db), "unknown task",
                   "'somewhere.registered'", "--defer")
    assert not db.exists()
    code, out, err = cli("submit", "somewhere.registered", "--db", db, "--defer")
    assert code == 0, err
    assert len(out.strip()) == 16


# -- the database itself ---------------------------------------------------------------------
READERS = [["status"], ["status", "known"], ["list"], ["result", "known"], ["cancel", "known"],
           ["monitor", "--until-done"]]


@pytest.mark.parametrize("command", READERS, ids=lambda c: c[0])
def test_read_commands_do_not_create_a_missing_db(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "missing.db"
    assert_refused(*cli(*command, "--db", db), f"no database at {db}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [*READERS, ["submit", "math:sqrt"], ["worker"]],
                         ids=lambda c: c[0])
def test_a_directory_is_not_a_db(tmp_path: Path, command: list[str]) -> None:
    assert_refused(*cli(*command, "--db", tmp_path), "is a directory")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content", [
    b"this is a text file, not a database\n" * 100,
    b"SQLite format 3\x00" + bytes(range(256)) * 16,  # the right header, then garbage
], ids=["text", "garbled-sqlite"])
@pytest.mark.parametrize("command", [*READERS, ["submit", "math:sqrt"], ["worker"]],
                         ids=lambda c: c[0])
def test_a_corrupt_db_is_left_byte_identical(tmp_path: Path, content: bytes,
                                             command: list[str]) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(content)
    before = files(tmp_path)
    code, out, err = cli(*command, "--db", db)
    assert_refused(code, out, err, str(db))
    assert files(tmp_path) == before, "the corrupt file (and its folder) must be untouched"


def test_a_foreign_sqlite_db_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    before = files(tmp_path)
    assert_refused(*cli("submit", "math:sqrt", "--db", db), "not a godnb store")
    assert files(tmp_path) == before


# -- jobs that are not there, options out of range ---------------------------------------------
@pytest.mark.parametrize("command", [["status", "nope"], ["result", "nope"], ["cancel", "nope"]],
                         ids=lambda c: c[0])
def test_a_missing_job_id(good_db: Path, command: list[str]) -> None:
    before = files(good_db.parent)
    assert_refused(*cli(*command, "--db", good_db), "no job 'nope'", "godnb list")
    assert files(good_db.parent) == before


@pytest.mark.parametrize("args", [
    ["list", "--status", "done"], ["list", "--limit", "-1"], ["monitor", "--interval", "0"],
    ["worker", "--threads", "0"], ["demo", "--jobs", "0"], ["frobnicate"], [],
], ids=lambda a: " ".join(a) or "no command")
def test_bad_options(good_db: Path, args: list[str]) -> None:
    extra = ["--db", good_db] if args and args[0] in ("list", "monitor", "worker") else []
    assert_refused(*cli(*args, *extra))


# -- the same, from a real process ---------------------------------------------------------------
@pytest.mark.timeout(120)
def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(4096))
    before = db.read_bytes()
    cases = [
        (["submit", "math:nope", "--db", tmp_path / "a.db"], "unknown task"),
        (["submit", "math:sqrt", "--args", "{", "--db", tmp_path / "a.db"], "not valid JSON"),
        (["status", "--db", db], str(db)),
        (["worker", "--db", db], str(db)),
        (["result", "x", "--db", tmp_path / "none.db"], "no database at"),
    ]
    for args, phrase in cases:
        proc = run_cli(*args)
        assert_refused(proc.returncode, proc.stdout, proc.stderr, phrase)
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.db"]
