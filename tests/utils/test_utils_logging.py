"""configure_logging, the JSON and text formatters, get_logger and log_event."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from godnb.utils.logging import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    get_logger,
    log_event,
    reset_logging,
)

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(autouse=True)
def _restore_godnb_logger() -> Iterator[None]:
    yield
    reset_logging()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def record(msg: str = "hello", **extra: Any) -> logging.LogRecord:
    rec = logging.LogRecord("godnb.test", logging.WARNING, __file__, 1, msg, (), None)
    rec.created = 1714564800.25  # 2024-05-01T12:00:00.250Z
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_the_standard_keys_and_extras() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log_event("engine", "job finished", job_id="j1", status="completed", attempt=2,
              elapsed=0.42, queue="gpu")
    (line,) = lines(out)
    assert list(line) == ["ts", "level", "logger", "event", "job_id", "status", "attempt",
                          "elapsed", "queue"]
    assert ISO_UTC.match(line["ts"])
    assert line["level"] == "INFO"
    assert line["logger"] == "godnb.engine"
    assert line["event"] == "job finished"
    assert (line["job_id"], line["status"], line["attempt"], line["elapsed"]) == (
        "j1", "completed", 2, 0.42)
    assert line["queue"] == "gpu"


def test_the_json_timestamp_is_utc() -> None:
    line = json.loads(JsonFormatter().format(record()))
    assert line["ts"] == "2024-05-01T12:00:00.250Z"


def test_plain_logger_calls_with_extra_work_too() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    logging.getLogger("godnb.core").warning("queue %s is full", "gpu", extra={"job_id": "j9"})
    (line,) = lines(out)
    assert (line["event"], line["job_id"], line["level"]) == ("queue gpu is full", "j9",
                                                               "WARNING")


def test_exceptions_are_written_as_exc_text() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    try:
        raise ValueError("bad input")
    except ValueError:
        log_event("engine", "job failed", level=logging.ERROR, exc_info=True, job_id="j1")
    (line,) = lines(out)
    assert line["exc"].startswith("Traceback (most recent call last)")
    assert "ValueError: bad input" in line["exc"]


def test_values_json_can_not_hold_are_written_as_text() -> None:
    line = json.loads(JsonFormatter().format(record(payload={1, 2}.__class__, obj=object)))
    assert line["payload"] == "<class 'set'>"


def test_fields_that_clash_are_renamed_not_lost() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log_event("engine", "odd fields", name="my-job", process="etl", level_="x")
    log_event("engine", "core clash", ts="yesterday")
    first, second = lines(out)
    assert (first["name_"], first["process_"], first["level"]) == ("my-job", "etl", "INFO")
    assert second["ts_"] == "yesterday"
    assert ISO_UTC.match(second["ts"])


def test_calling_configure_twice_replaces_its_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    root_handlers = list(logging.getLogger().handlers)
    configure_logging(stream=first)
    handler = configure_logging(stream=second, level="debug")
    godnb_logger = logging.getLogger("godnb")
    assert godnb_logger.handlers == [handler]
    assert logging.getLogger().handlers == root_handlers
    get_logger("x").debug("only once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1


def test_a_foreign_handler_on_the_godnb_logger_is_left_alone() -> None:
    godnb_logger = logging.getLogger("godnb")
    theirs = logging.NullHandler()
    godnb_logger.addHandler(theirs)
    try:
        configure_logging(stream=io.StringIO())
        configure_logging(stream=io.StringIO())
        assert theirs in godnb_logger.handlers
        assert len(godnb_logger.handlers) == 2
        reset_logging()
        assert godnb_logger.handlers == [theirs]
    finally:
        godnb_logger.removeHandler(theirs)


def test_propagation_is_off_unless_asked_for(caplog: pytest.LogCaptureFixture) -> None:
    configure_logging(stream=io.StringIO())
    log_event("engine", "private")
    assert "private" not in caplog.text
    configure_logging(stream=io.StringIO(), propagate=True)
    with caplog.at_level(logging.INFO, logger="godnb"):
        log_event("engine", "shared")
    assert "shared" in caplog.text


def test_reset_restores_the_logger() -> None:
    configure_logging(level="ERROR", stream=io.StringIO())
    reset_logging()
    godnb_logger = logging.getLogger("godnb")
    assert (godnb_logger.handlers, godnb_logger.level, godnb_logger.propagate) == (
        [], logging.NOTSET, True)


def test_levels_below_the_threshold_are_dropped_early() -> None:
    out = io.StringIO()
    configure_logging(level=logging.WARNING, stream=out)
    log_event("engine", "noise", level=logging.DEBUG)
    log_event("engine", "signal", level=logging.WARNING)
    assert [line["event"] for line in lines(out)] == ["signal"]


def test_an_unknown_level_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"^unknown log level 'LOUD'; use one of NOTSET, DEBUG, "
                                         r"INFO, WARNING, ERROR, CRITICAL or an int$"):
        configure_logging(level="LOUD")
    assert logging.getLogger("godnb").handlers == []


def test_text_format_is_one_readable_line() -> None:
    out = io.StringIO()
    configure_logging(json=False, stream=out)
    log_event("engine", "job started", job_id="j1", attempt=1, note="two words")
    text = out.getvalue()
    assert re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+Z INFO  godnb\.engine: job started "
                    r"job_id=j1 attempt=1 note='two words'\n$", text)


def test_text_formatter_shows_floats_short_and_tracebacks() -> None:
    try:
        raise KeyError("k")
    except KeyError:
        rec = record("failed", elapsed=0.123456789)
        rec.exc_info = sys.exc_info()
    text = TextFormatter().format(rec)
    first, *rest = text.splitlines()
    assert first == "2024-05-01T12:00:00.250Z WARNING godnb.test: failed elapsed=0.123457"
    assert rest[-1] == "KeyError: 'k'"


def test_get_logger_keeps_names_under_godnb() -> None:
    assert get_logger().name == "godnb"
    assert get_logger("engine").name == "godnb.engine"
    assert get_logger("godnb.core.engine").name == "godnb.core.engine"
    assert get_logger("godnbx").name == "godnb.godnbx"


def test_log_event_accepts_a_logger_object() -> None:
    out = io.StringIO()
    configure_logging(stream=out)
    log_event(logging.getLogger("godnb.store"), "flushed", rows=3)
    assert lines(out)[0]["logger"] == "godnb.store"


IMPORT_SNIPPET = """
import logging
import godnb
import godnb.utils.retry, godnb.utils.cache, godnb.utils.timing, godnb.utils.logging
print(len(logging.getLogger().handlers), len(logging.getLogger("godnb").handlers),
      logging.getLogger().level)
"""


def test_importing_godnb_configures_no_logging() -> None:
    out = subprocess.run([sys.executable, "-c", IMPORT_SNIPPET], capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ["0", "0", str(logging.WARNING)]
