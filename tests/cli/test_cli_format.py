"""The pure formatters behind every command, tested as strings; the live view's drawing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from godnb.api.cli_format import (
    MonitorSnapshot,
    format_age,
    format_bar,
    format_counts,
    format_job,
    format_jobs,
    format_monitor,
    format_result,
    format_status,
    job_dict,
    to_json,
)
from godnb.api.monitor import LiveView, take_snapshot, watch
from godnb.models import ErrorInfo, Job, JobStatus, Progress, Result
from godnb.storage import MemoryStore
from godnb.storage.recovery import EngineInfo, RecoveryRecord

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
COUNTS = {"pending": 120, "running": 3, "completed": 300, "failed": 2, "cancelled": 1}


def job(job_id: str = "a1b2c3d4e5f60718", status: str = "pending", ago: float = 5, **kw
        ) -> Job:
    j = Job(job_id=job_id, payload={"task": kw.pop("task", "cli.add"), "args": [1, 2]},
            created_at=NOW - timedelta(seconds=ago + 1), **kw)
    path = {"pending": [], "running": ["running"], "completed": ["running", "completed"],
            "failed": ["running", "failed"], "cancelled": ["cancelled"]}[status]
    for s in path:
        j.transition(JobStatus(s), now=NOW - timedelta(seconds=ago))
    j.__dict__["attempts"] = 1 if "running" in path else 0
    return j


def running(job_id: str, done: float, total: float | None, message: str | None = None,
            name: str = "resize") -> Job:
    j = job(job_id, "running", ago=3.2, name=name)
    j.__dict__["progress"] = Progress(done=done, total=total, message=message)
    return j


def snapshot(**kw: object) -> MonitorSnapshot:
    data: dict[str, object] = {"db": "./godnb.db", "at": NOW, "counts": COUNTS, "engines": 2,
                               "rate": 35.25}
    data.update(kw)
    return MonitorSnapshot(**data)  # type: ignore[arg-type]


# -- small pieces ----------------------------------------------------------------------------
def test_age_bar_counts() -> None:
    assert [format_age(s) for s in (-1, 0.42, 9.96, 12, 185, 7800, 273600)] == [
        "0.0s", "0.4s", "10.0s", "12s", "3m05s", "2h10m", "3d04h"]
    assert format_bar(0.5, 10, ascii=True) == "#####....."
    assert format_bar(1.5, 4) == "████"
    assert format_bar(None, 3) == "░░░"
    assert format_bar(0.3, 0) == ""
    assert format_counts(COUNTS) == \
        "pending 120  running 3  completed 300  failed 2  cancelled 1"
    assert format_counts({}) == "pending 0  running 0  completed 0  failed 0  cancelled 0"


def test_to_json_and_job_dict() -> None:
    assert to_json({"at": NOW, "s": JobStatus.FAILED, "o": object}).startswith(
        '{"at": "2024-05-01T12:00:00+00:00", "s": "failed", "o": "<class')
    d = json.loads(to_json(job_dict(job(priority=7, group="alice"))))
    assert d["job_id"] == "a1b2c3d4e5f60718" and d["task"] == "cli.add"
    assert d["args"] == [1, 2] and d["priority"] == 7 and d["group"] == "alice"
    assert d["status"] == "pending" and d["updated_at"] == "2024-05-01T11:59:54+00:00"


# -- status, list, result --------------------------------------------------------------------
def test_format_status_lists_counts_and_engines() -> None:
    info = EngineInfo("host-1-ab", 4242, "host", NOW - timedelta(minutes=3),
                      NOW - timedelta(seconds=1))
    text = format_status(COUNTS, [info], "./godnb.db", NOW)
    assert text.splitlines() == [
        "db       ./godnb.db",
        "jobs     426: pending 120  running 3  completed 300  failed 2  cancelled 1",
        "engines  1",
        "  host-1-ab  pid 4242 on host  up 3m00s  seen 1.0s ago",
    ]


def test_format_status_shows_the_latest_recoveries() -> None:
    records = [RecoveryRecord(NOW - timedelta(seconds=12), "host-1-ab", ("host-1-cd",), 40,
                              2, 1, 0, 3),
               RecoveryRecord(NOW - timedelta(minutes=5), "host-1-ab", (), 1, 1, 0, 0, 0)]
    text = format_status(COUNTS, [], "./godnb.db", NOW, records)
    assert text.splitlines()[3:] == [
        "recovered  2 time(s), latest first",
        "  12s ago by host-1-ab: 40 re-queued (2 interrupted), 1 failed, 0 cancelled, 3 "
        "completed from their result; engines gone: host-1-cd",
        "  5m00s ago by host-1-ab: 1 re-queued (1 interrupted), 0 failed, 0 cancelled",
    ]


def test_format_job_shows_the_fields_that_are_set() -> None:
    j = running("j1", 3, 10, "parsing")
    j.__dict__["error"] = "ConnectionError: reset"
    text = format_job(j, None, NOW)
    lines = dict(line.split(None, 1) for line in text.splitlines())
    assert lines["job"] == "j1" and lines["name"] == "resize" and lines["status"] == "running"
    assert lines["attempts"] == "1 of 1" and lines["args"] == "[1, 2]"
    assert lines["progress"] == " 30% 3/10 parsing" .strip()
    assert lines["error"] == "ConnectionError: reset"
    assert lines["updated"] == "2024-05-01T11:59:56+00:00 (3.2s ago)"
    assert "timeout" not in lines and "run time" not in lines


def test_format_jobs_table() -> None:
    jobs = [job("aaaa", "completed", ago=12, priority=5, group="alice", name="sum"),
            job("bbbbbbbb", "failed", ago=185, retries=2)]
    lines = format_jobs(jobs, NOW).splitlines()
    assert lines == [
        "ID        NAME     STATUS     PRI  GROUP    TRIES  UPDATED",
        "aaaa      sum      completed    5  alice      1/1  12s ago",
        "bbbbbbbb  cli.add  failed       0  default    1/3  3m05s ago",
    ]
    assert format_jobs([], NOW) == "no jobs"
    long = format_jobs([job(name="x" * 60)], NOW)
    assert "x" * 27 + "…" in long and "x" * 28 not in long


def test_format_result() -> None:
    done = job("j1", "completed")
    assert format_result(done, Result(job_id="j1", status="completed",
                                      output={"a": [1, 2]})) == '{"a": [1, 2]}'
    failed = job("j2", "failed", retries=1)
    failed.__dict__["attempts"] = 2
    errors = [ErrorInfo(type="ConnectionError", message="reset", attempt=1),
              ErrorInfo(type="ValueError", message="bad", attempt=2,
                        traceback="Traceback ...\nValueError: bad\n")]
    text = format_result(failed, Result(job_id="j2", status="failed", errors=errors))
    assert text.splitlines() == [
        "job j2 (cli.add) failed after 2 attempt(s)",
        "  attempt 1: ConnectionError: reset",
        "  attempt 2: ValueError: bad",
        "",
        "Traceback ...",
        "ValueError: bad",
    ]
    assert format_result(job("j3", "cancelled"), None) == "job j3 (cli.add) was cancelled"
    assert format_result(job("j4", "running"), None) == \
        "job j4 (cli.add) is running; no result yet"


# -- the monitor -------------------------------------------------------------------------------
def test_format_monitor_full_view() -> None:
    failed = job("f1", "failed", ago=5, name="flaky")
    failed.__dict__["error"] = "ValueError: boom\nsecond line"
    failed.__dict__["attempts"] = 2
    snap = snapshot(running=[running("r1", 5, 10, "parsing"), running("r2", 0, None)],
                    failures=[failed])
    text = format_monitor(snap, 100, ascii=True)
    lines = text.splitlines()
    assert lines[0] == "godnb | 12:00:00 UTC | 2 engines | 35.2 jobs/s | ./godnb.db"
    assert lines[1] == "#" * 28 + "." * 12 + " 303/426 done  71%"
    assert lines[2] == "pending 120  running 3  completed 300  failed 2  cancelled 1"
    assert lines[4] == "running (3)"
    assert lines[5].startswith("  r1               resize           ##########..........")
    assert lines[5].endswith(".  50% 5/10 parsing          3.2s")
    assert lines[6].split()[2] == "...................."  # no total: an empty bar
    assert lines[7] == "  ... and 1 more"
    assert lines[9] == "recent failures (2)"
    assert lines[10] == ("  f1               flaky            ValueError: boom  "
                         "(attempt 2, 5.0s ago)")


@pytest.mark.parametrize("width", [20, 40, 80, 200])
def test_format_monitor_fits_the_width(width: int) -> None:
    failed = job("f" * 40, "failed", name="n" * 50)
    failed.__dict__["error"] = "E: " + "m" * 300
    snap = snapshot(running=[running("r" * 40, 1, 3, "m" * 80, name="n" * 40)],
                    failures=[failed], db="/very/long/" + "d" * 100)
    for ascii in (True, False):
        lines = format_monitor(snap, width, ascii=ascii).splitlines()
        assert max(len(line) for line in lines) <= width
        assert all(line == line.rstrip() for line in lines)


def test_format_monitor_empty_and_done() -> None:
    empty = snapshot(counts=dict.fromkeys(COUNTS, 0), rate=None, engines=1)
    assert format_monitor(empty, 80).splitlines()[:2] == [
        "godnb · 12:00:00 UTC · 1 engine · ./godnb.db", "no jobs yet"]
    done = snapshot(counts={"pending": 0, "running": 0, "completed": 9, "failed": 0,
                            "cancelled": 1})
    lines = format_monitor(done, 80).splitlines()
    assert lines[1].endswith(" all 10 jobs done") and lines[1].startswith("█" * 40)
    assert "running" not in "\n".join(lines[3:])


def test_snapshot_from_a_store_and_the_finish_rate() -> None:
    store = MemoryStore()
    store.add([job(f"p{i}") for i in range(3)])
    first = take_snapshot(store, "mem", now=NOW)
    assert first.counts["pending"] == 3 and first.rate is None and first.active == 3
    store.request_cancel("p0")
    store.request_cancel("p1")
    later = take_snapshot(store, "mem", previous=first, now=NOW + timedelta(seconds=2))
    assert later.rate == pytest.approx(1.0)  # two finished in two seconds
    assert later.finished == 2 and later.active == 1
    assert take_snapshot(store, "mem", previous=later, now=NOW + timedelta(seconds=4)).rate \
        == pytest.approx(0.5)  # smoothed toward zero


# -- drawing -----------------------------------------------------------------------------------
class Tty(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_live_view_redraws_in_place_on_a_terminal() -> None:
    out = Tty()
    view = LiveView(out)
    assert view.ansi and not view.ascii
    view.draw("one\ntwo")
    view.draw("three")
    view.close()
    text = out.getvalue()
    assert text.startswith("\x1b[?25l\x1b[2J\x1b[H")  # hide the cursor, clear, go home
    assert "one\x1b[K\ntwo\x1b[K\n\x1b[J" in text
    assert "\x1b[Hthree\x1b[K\n\x1b[J" in text
    assert text.endswith("\x1b[?25h")  # the cursor comes back


def test_live_view_plain_prints_only_frames_that_changed() -> None:
    out = io.StringIO()
    view = LiveView(out)
    assert not view.ansi
    view.draw("header 1\nbody")
    view.draw("header 2\nbody")  # only the clock moved
    view.draw("header 3\nnew body")
    view.close()
    assert out.getvalue() == "header 1\nbody\n\nheader 3\nnew body\n\n"


def test_watch_stops_when_done_and_sleeps_between_frames() -> None:
    counts = iter([{"pending": 2}, {"pending": 1, "running": 1}, {"completed": 2}])
    sleeps: list[float] = []

    def snap(prev: MonitorSnapshot | None) -> MonitorSnapshot:
        return snapshot(counts=next(counts), rate=None)

    out = io.StringIO()
    last = watch(snap, LiveView(out), interval=0.2, until_done=True, sleep=sleeps.append)
    assert last.counts == {"completed": 2}
    assert sleeps == [0.2, 0.2]
    assert out.getvalue().count("godnb · 12:00:00 UTC") == 3
