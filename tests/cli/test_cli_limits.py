"""Every CLI number has bounds, JSON has limits, and user text can not drive the terminal
(issue 17, cases 6 and 7): a bad value is one line on stderr, exit 2, nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from godnb.api.cli_args import MAX_JSON_DEPTH, MAX_THREADS, max_processes
from godnb.api.cli_format import clean
from godnb.models import Job, JobStatus, Result
from godnb.storage.sqlite import SQLiteStore
from tests.cli.helpers import cli, run_cli
from tests.cli.test_cli_bad_input import assert_refused, files

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "j.db"
    with SQLiteStore(db) as store:
        store.add([Job(job_id="known", payload={"task": "math:sqrt", "args": [4]})])
    return db


BAD_NUMBERS = [
    (["worker", "--threads", "100000"], f"--threads must be between 1 and {MAX_THREADS}"),
    (["worker", "--threads", "0"], "--threads must be between 1"),
    (["worker", "--processes", str(max_processes() + 1)], "--processes must be between 1"),
    (["worker", "--poll", "nan"], "--poll must be a finite number"),
    (["worker", "--poll", "inf"], "--poll must be a finite number"),
    (["worker", "--poll", "0"], "--poll must be > 0"),
    (["worker", "--poll", "61"], "--poll must be > 0 and at most 60"),
    (["worker", "--grace", "nan"], "--grace must be a finite number"),
    (["worker", "--grace", "-1"], "--grace must be >= 0"),
    (["worker", "--grace", "1e309"], "--grace must be a finite number"),
    (["result", "known", "--wait", "nan"], "--wait must be a finite number"),
    (["result", "known", "--wait", "inf"], "--wait must be a finite number"),
    (["result", "known", "--wait", "-1"], "--wait must be >= 0"),
    (["cancel", "known", "--wait", "NaN"], "--wait must be a finite number"),
    (["monitor", "--interval", "nan"], "--interval must be a finite number"),
    (["monitor", "--interval=-inf"], "--interval must be a finite number"),
    (["monitor", "--interval", "0"], "--interval must be > 0"),
    (["monitor", "--rows", "-1"], "--rows must be between 0 and 1000"),
    (["list", "--limit", "-1"], "--limit must be between 0"),
    (["list", "--limit", "1.5"], "--limit: invalid int value: '1.5'"),
    (["submit", "math:sqrt", "--timeout", "nan"], "--timeout must be a finite number"),
    (["submit", "math:sqrt", "--timeout", "0"], "--timeout must be > 0"),
    (["submit", "math:sqrt", "--timeout", "-3"], "--timeout must be > 0"),
    (["submit", "math:sqrt", "--retries", "1001"], "--retries must be between 0 and 1000"),
    (["submit", "math:sqrt", "--priority", "1e3"], "--priority: invalid int value: '1e3'"),
    (["demo", "--jobs", "1000000000"], "--jobs must be between 1 and 100000"),
    (["demo", "--interval", "nan"], "--interval must be a finite number"),
]


@pytest.mark.parametrize(("args", "phrase"), BAD_NUMBERS, ids=lambda a: " ".join(a)
                         if isinstance(a, list) else "")
def test_numbers_out_of_bounds_are_usage_errors(db: Path, args: list[str], phrase: str
                                                ) -> None:
    before = files(db.parent)
    target = db if args[0] != "submit" else db.parent / "new.db"
    extra = ["--db", target] if args[0] != "demo" else []
    assert_refused(*cli(*args, *extra), phrase)
    assert files(db.parent) == before  # nothing written, no new database


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(("option", "value", "phrase"), [
    ("--args", DEEP, "nested too deeply"),
    ("--args", "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), "nested too deeply"),
    ("--kwargs", '{"a": ' * 5000 + "1" + "}" * 5000, "nested too deeply"),
    ("--args", "[NaN]", "NaN is not JSON"),
    ("--args", "[Infinity]", "Infinity is not JSON"),
    ("--kwargs", '{"x": -Infinity}', "-Infinity is not JSON"),
    ("--args", "[1e400]", "too large for a number"),
    ("--args", json.dumps(["x" * 1_100_000]), "at most 1,000,000"),
], ids=["deep", "just-too-deep", "deep-kwargs", "nan", "inf", "-inf", "overflow", "huge"])
def test_json_arguments_have_limits(tmp_path: Path, option: str, value: str, phrase: str
                                    ) -> None:
    db = tmp_path / "j.db"
    assert_refused(*cli("submit", "math:sqrt", option, value, "--db", db), phrase)
    assert not db.exists()


def test_json_just_within_the_depth_limit_is_taken(tmp_path: Path) -> None:
    nested = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    code, _, err = cli("submit", "math:sqrt", "--args", f"[{nested}]", "--db",
                       tmp_path / "j.db")
    assert code == 0, err


@pytest.mark.parametrize("args", [
    ["worker", "--frobnicate"], ["worker", "--threads"], ["worker", "--backend", "gpu"],
    ["submit"], ["list", "--status"], ["status", "a", "b"], ["--no-such-flag"],
    ["monitor", "--interval", "fast"],
], ids=lambda a: " ".join(a))
def test_argparse_errors_are_one_line_and_exit_2(db: Path, args: list[str]) -> None:
    before = files(db.parent)
    code, out, err = cli(*args, "--db", db) if args[0] != "--no-such-flag" else cli(*args)
    assert_refused(code, out, err)
    assert files(db.parent) == before


def test_a_huge_thread_count_is_refused_by_a_real_worker(tmp_path: Path) -> None:
    proc = run_cli("worker", "--threads", "100000", "--db", tmp_path / "j.db", timeout=60)
    assert_refused(proc.returncode, proc.stdout, proc.stderr, "--threads must be between")
    assert list(tmp_path.iterdir()) == []


# -- terminal escapes ----------------------------------------------------------------------------
EVIL = "a\x1b]0;pwned\x07b\x1b[2J\rc\nfake line\x9b31md\u202ee\x08"
CONTROL = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\x08")


@pytest.fixture
def evil_db(tmp_path: Path) -> Path:
    """Jobs whose name, group, tags and errors carry terminal escapes (written as a
    hostile file would be: with plain sqlite3, bypassing godnb's own checks)."""
    db = tmp_path / "evil.db"
    with SQLiteStore(db) as store:
        done = Job(job_id="evil", payload={"task": "math:sqrt", "args": [EVIL]}, name="n",
                   group="g", tags=("t",))
        running = Job(job_id="runs", payload={"task": "math:sqrt"}, name="r")
        failed = Job(job_id="failed", payload={"task": "math:sqrt"}, name="f")
        store.add([done, running, failed])
        done.end(JobStatus.COMPLETED)
        running.start_attempt()
        failed.end(JobStatus.FAILED)
        failed.record_error(f"ValueError: {EVIL}")
        store.update([done, running, failed], [
            Result(job_id="evil", status="completed", output={"text": EVIL}),
            Result(job_id="failed", status="failed", errors=[{
                "type": "ValueError", "message": EVIL, "traceback": f"Traceback\n  {EVIL}",
                "attempt": 1}])])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE jobs SET name = ?, job_group = ?, tags = ?, job_id = job_id || ?",
                 (EVIL, EVIL, json.dumps([EVIL, "ok"]), ""))
    conn.commit()
    conn.close()
    return db


def assert_no_control(text: str) -> None:
    for char in CONTROL:
        assert char not in text, f"{char!r} reached the terminal: {text!r}"


@pytest.mark.parametrize("args", [
    ["list"], ["list", "--json"], ["status", "evil"], ["status", "evil", "--json"],
    ["status", "failed"], ["result", "evil"], ["result", "evil", "--json"], ["result", "failed"],
    ["status"],
], ids=lambda a: " ".join(a))
def test_user_text_is_printed_with_control_characters_escaped(evil_db: Path,
                                                              args: list[str]) -> None:
    code, out, err = cli(*args, "--db", evil_db)
    assert code in (0, 1), err
    assert_no_control(out + err)
    if "--json" in args:
        data = json.dumps(json.loads(out))  # still valid JSON, and the text round-trips
        assert "pwned" in data
    elif args[0] == "list":
        assert len(out.splitlines()) == 4  # header + 3 jobs: no forged line
        assert "\\x1b]0;pwned\\x07" in out


def test_monitor_frames_escape_control_characters(evil_db: Path) -> None:
    from godnb.api.cli_format import format_monitor
    from godnb.api.monitor import take_snapshot

    with SQLiteStore(evil_db) as store:
        frame = format_monitor(take_snapshot(store, f"{evil_db}\x1b[2J", title="t\x9b"),
                               width=200)
    assert_no_control(frame)
    assert "\\x1b]0;pwned" in frame


def test_clean_escapes_what_a_terminal_acts_on() -> None:
    assert clean("plain text, ünïcödé ✓") == "plain text, ünïcödé ✓"
    assert clean("a\x1bb\x07c\rd\ne\tf\x9bg\x7fh\u202ei") == \
        "a\\x1bb\\x07c\\rd\\ne\\tf\\x9bg\\x7fh\\u202ei"
    assert clean("line one\nline two\x1b", keep_newlines=True) == "line one\nline two\\x1b"
