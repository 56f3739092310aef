"""``%god`` / ``%%god`` through a real IPython ``InteractiveShell``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

import godnb as god
from godnb import Engine, JobHandle, JobStatus
from godnb.core.origin import set_origin_hook
from godnb.execution import output
from godnb.execution.remote import set_file_labeller
from godnb.notebook import load_ipython_extension, register_in_kernel
from godnb.notebook.magics import GodMagics, Waiter
from godnb.notebook.rich import Report

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def ip() -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance()
    load_ipython_extension(shell)
    yield shell
    output.uninstall()  # give pytest its own capture streams back
    set_origin_hook(None)  # other tests submit from the main thread too
    set_file_labeller(None)


@pytest.fixture
def eng() -> Iterator[Engine]:
    engine = Engine(threads=2, name="magic")
    previous = god.set_default_engine(engine)
    try:
        yield engine
    finally:
        god.set_default_engine(previous)
        engine.shutdown(wait=False)


def submit(ip: InteractiveShell, line: str, body: str) -> JobHandle:
    handle = ip.run_cell_magic("god", f"submit {line}".strip(), body)
    assert isinstance(handle, JobHandle)
    return handle


def test_submit_runs_the_cell_as_a_thread_job(ip: InteractiveShell, eng: Engine) -> None:
    h = submit(ip, "--name answer --priority 3 --group alice",
               "print('hello from the job')\nx_magic = 40\nx_magic + 2\n")
    assert h.result(timeout=10) == 42
    assert (h.name, h.job.priority, h.job.group, h.job.backend) == \
        ("answer", 3, "alice", "thread")
    assert ip.user_ns["x_magic"] == 40  # ran against the user namespace
    assert h.output_text() == "hello from the job\n"  # went to the job


def test_a_cell_job_is_named_after_its_cell_and_fails_at_its_own_line(
        ip: InteractiveShell, eng: Engine) -> None:
    import traceback

    result = ip.run_cell("%%god submit\nx_cell = 1\ny_cell = {}['id']", store_history=True)
    h = result.result
    assert isinstance(h, JobHandle) and result.execution_count is not None
    assert h.name == f"cell-{result.execution_count}" and h.cell == result.execution_count
    with pytest.raises(god.JobFailed) as info:
        h.result(timeout=10)
    tb = "".join(traceback.format_exception(info.value.__cause__))
    assert "line 3" in tb and "y_cell = {}['id']" in tb  # the cell's own line and text


def test_a_cell_rerun_with_a_key_replaces_the_unfinished_job(ip: InteractiveShell,
                                                             eng: Engine) -> None:
    first = submit(ip, "--key fit", "import time, godnb\nfor _ in range(500):\n"
                                     "    time.sleep(0.01)\n    godnb.check_cancelled()")
    second = submit(ip, "--key fit", "'again'")
    assert second.result(timeout=10) == "again" and first.wait(10)
    assert first.status is JobStatus.CANCELLED and first.key == second.key == "fit"
    with pytest.raises(god.JobCancelled, match=f"replaced by job {second.job_id}"):
        first.result()


def test_submit_an_awaiting_cell_runs_on_the_loop(ip: InteractiveShell, eng: Engine) -> None:
    h = submit(ip, "", "import asyncio\nawait asyncio.sleep(0.01)\nprint('async hi')\n'done'")
    assert h.job.backend == "async"
    assert h.wait(10) and h.result() == "done"
    assert h.output_text() == "async hi\n"
    h2 = submit(ip, "--backend thread", "import asyncio\nawait asyncio.sleep(0)\n7")
    assert h2.result(timeout=10) == 7  # an awaiting cell on a thread gets its own loop


def test_submit_options_retries_and_timeout(ip: InteractiveShell, eng: Engine) -> None:
    ip.user_ns["tries_magic"] = []
    h = submit(ip, "--retries 2 --timeout 5",
               "tries_magic.append(1)\nif len(tries_magic) < 2:\n"
               "    raise ConnectionError('flaky')\nlen(tries_magic)")
    assert h.result(timeout=10) == 2 and h.job.timeout == 5
    bad = submit(ip, "", "1 / 0")
    with pytest.raises(god.JobFailed, match="ZeroDivisionError"):
        bad.result(timeout=10)


def test_status_queue_result_profile(ip: InteractiveShell, eng: Engine) -> None:
    h = submit(ip, "--name st", "21 * 2")
    assert h.result(timeout=10) == 42
    status = ip.run_line_magic("god", f"status {h.job_id}")
    assert isinstance(status, Report) and str(status).startswith("st ")
    assert "100%" in str(status)
    assert "completed" in status._repr_html_()
    summary = ip.run_line_magic("god", "status")
    assert "engine         magic" in str(summary) and "completed 1" in str(summary)
    queue = ip.run_line_magic("god", "queue --rows 5")
    assert str(queue).startswith("queue magic: pending 0")
    assert ip.run_line_magic("god", f"result {h.job_id}") == 42
    assert ip.run_line_magic("god", f"result {h.job_id[:6]}") == 42  # a unique prefix
    ip.user_ns["handle_magic"] = h
    assert ip.run_line_magic("god", "result handle_magic") == 42  # a variable, not eval
    assert "st" in str(ip.run_line_magic("god", "profile"))


def test_jobs_can_be_named_in_every_command(ip: InteractiveShell, eng: Engine) -> None:
    first = submit(ip, "--name nightly", "1")
    assert first.result(timeout=10) == 1
    second = submit(ip, "--name nightly", "2")  # the same name again: the newest counts
    assert second.result(timeout=10) == 2
    assert ip.run_line_magic("god", "result nightly") == 2
    assert str(ip.run_line_magic("god", "status nightly")).startswith("nightly    ")
    with pytest.raises(UsageError, match="a job name"):
        ip.run_line_magic("god", "result no-such-job")


def test_cancel_a_running_job(ip: InteractiveShell, eng: Engine,
                              capsys: pytest.CaptureFixture[str]) -> None:
    h = submit(ip, "", "import time, godnb\nfor _ in range(500):\n    time.sleep(0.01)\n"
                       "    godnb.check_cancelled()\n")
    ip.run_line_magic("god", f"cancel {h.job_id}")
    assert h.wait(10) and h.status is JobStatus.CANCELLED
    ip.run_line_magic("god", f"cancel {h.job_id}")
    out = capsys.readouterr().out
    assert f"cancelled job {h.job_id}" in out and "had already ended: cancelled" in out
    with pytest.raises(god.JobCancelled):
        ip.run_line_magic("god", f"result {h.job_id}")


def test_wait_returns_an_awaitable_or_blocks(ip: InteractiveShell, eng: Engine) -> None:
    h = submit(ip, "", "import time\ntime.sleep(0.05)\n'slow'")
    w = ip.run_line_magic("god", "wait")
    assert isinstance(w, Waiter) and "await" in repr(w)
    ip.user_ns["w_magic"] = w
    result = ip.run_cell("await w_magic")  # top-level await, as in a notebook
    assert result.success and h.done()
    h2 = submit(ip, "", "'again'")
    ip.user_ns["w_magic"] = ip.run_line_magic("god", f"wait {h2.job_id}")
    assert ip.run_cell("await w_magic").result == "again"
    h3 = submit(ip, "", "import time\ntime.sleep(0.05)\n3")
    assert ip.run_line_magic("god", f"wait {h3.job_id} --block") == 3
    assert ip.run_line_magic("god", "wait --block --timeout 5") is None


@pytest.mark.parametrize(("line", "cell", "message"), [
    ("bogus", None, "invalid choice: 'bogus'"),
    ("cancel", None, "the following arguments are required: job"),
    ("status 12345678nope", None, "no job '12345678nope' on engine magic"),
    ("submit", None, "start the cell with `%%god submit`"),
    ("status", "x = 1", "only `%%god submit` takes a cell body"),
    ("submit --priority x", "1", "argument --priority: invalid int value: 'x'"),
    ("submit --retries -1", "1", "argument --retries: must be >= 0"),
    ("submit --timeout 0", "1", "argument --timeout: must be a positive number"),
    ("submit --backend nope", "1", r"unknown backend 'nope'; valid backends: \['async'"),
    ("submit --backend process", "1", "can not run on 'process'"),
    ("submit --priority 99999999", "1", "priority"),
    ("submit", "x = (", "syntax error on line 1"),
    ("queue --rows 0", None, "argument --rows: must be >= 1"),
    ("status 'unbalanced", None, "No closing quotation"),
])
def test_bad_arguments_are_usage_errors(ip: InteractiveShell, eng: Engine, line: str,
                                        cell: str | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        if cell is None:
            ip.run_line_magic("god", line)
        else:
            ip.run_cell_magic("god", line, cell)


def test_usage_error_in_a_cell_shows_no_traceback(ip: InteractiveShell, eng: Engine,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    result = ip.run_cell("%god bogus")
    assert isinstance(result.error_in_exec, UsageError)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "UsageError" in text and "Traceback" not in text
    assert "%%god submit [--priority N]" in text  # the usage text comes with it


def test_help_prints_usage(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    for line in ("help", "", "--help"):
        assert ip.run_line_magic("god", line) is None
        assert "%god wait [JOB]" in capsys.readouterr().out


def test_register_in_kernel_marks_the_extension_loaded(ip: InteractiveShell) -> None:
    loaded: set[str] = ip.extension_manager.loaded
    loaded.discard("godnb")
    try:
        assert register_in_kernel() is True
        assert "godnb" in loaded
        assert "god" in ip.magics_manager.magics["line"]
        assert "god" in ip.magics_manager.magics["cell"]
        assert register_in_kernel() is True  # idempotent
    finally:
        loaded.discard("godnb")


def test_magics_drive_the_engine_they_were_given(ip: InteractiveShell) -> None:
    with Engine(threads=1, name="own") as own:
        magics: Any = GodMagics(ip, engine=own)
        assert magics.engine is own
        h = magics.god("submit --name mine", "5")
        assert h.result(timeout=10) == 5 and own.get(h.job_id) is h
