"""``Durability.release``: how the worker gives jobs back without a late write undoing it."""

from __future__ import annotations

from pathlib import Path

import pytest

from godnb import Engine, JobStatus
from tests.cli import cli_tasks  # noqa: F401  (registers cli.*)
from tests.cli.helpers import row
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_release_requeues_running_and_pending_jobs_and_the_final_flush_keeps_it(
        tmp_path: Path) -> None:
    db = tmp_path / "j.db"
    with Engine(threads=1, store=db, poll_interval=0.05) as eng:
        done = eng.submit("cli.add", 3, 4)
        assert done.result(10) == 7
        running = eng.submit("tests.core.funcs:cooperative", 60)
        waiting = eng.submit("cli.add", 1, 2)  # one thread: this one waits
        wait_until(lambda: running.status is JobStatus.RUNNING, what="running")
        eng._durable.flush()
        assert row(db, running.job_id)["status"] == "running"
        eng._durable.stop_polling()

        released = eng._durable.release([running.job_id, waiting.job_id, done.job_id])

        assert sorted(released) == sorted([running.job_id, waiting.job_id])  # `done` ended
        assert running.status is JobStatus.CANCELLED  # locally: the thread was flagged
        assert waiting.status is JobStatus.CANCELLED
        for h in (running, waiting):
            r = row(db, h.job_id)
            assert (r["status"], r["owner"]) == ("pending", None)
        assert not eng.jobs("running") and not eng.jobs("pending")
    # shutdown flushed the store: the local cancels were never written over the release
    for h in (running, waiting):
        assert row(db, h.job_id)["status"] == "pending"
    assert row(db, done.job_id)["status"] == "completed"


def test_release_of_unknown_or_finished_ids_is_a_no_op(tmp_path: Path) -> None:
    with Engine(threads=1, store=tmp_path / "j.db") as eng:
        h = eng.submit("cli.add", 1, 1)
        assert h.result(10) == 2
        assert eng._durable.release([h.job_id, "no-such-job"]) == []
    assert row(tmp_path / "j.db", h.job_id)["status"] == "completed"
