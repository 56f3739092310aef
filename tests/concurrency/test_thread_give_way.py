"""A submit that finds the engine's lock taken asks the thread workers to give way."""

from __future__ import annotations

import threading

import pytest

from godnb import Engine
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(60)


def test_a_blocked_submit_raises_the_flag_and_a_worker_answers_it() -> None:
    gate = threading.Event()
    with Engine(threads=1) as eng:
        rt = eng._rt
        first = eng.submit(gate.wait, 30)
        taken, done = threading.Event(), threading.Event()

        def hold_the_lock() -> None:
            with rt.lock:
                taken.set()
                done.wait(30)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        taken.wait(30)
        submitted: list[object] = []
        submitter = threading.Thread(target=lambda: submitted.append(eng.submit(abs, -3)))
        submitter.start()
        wait_until(lambda: rt.submitter_waiting, 30, "the submit to find the lock taken",
                   interval=0.001)
        done.set()
        holder.join(30)
        submitter.join(30)
        gate.set()  # the worker finishes its job, sees the flag and clears it
        assert first.result(timeout=30) is True
        assert submitted[0].result(timeout=30) == 3  # type: ignore[attr-defined]
        eng.wait(30)
        assert rt.submitter_waiting is False
