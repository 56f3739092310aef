"""Tasks for the durability tests; runs as a script to be killed mid-run."""

from __future__ import annotations

import os
import sys
import time

import godnb as god
from tests.waiting import wait_until


@god.task(name="record")
def record(path: str, i: int, delay: float = 0.0) -> int:
    if delay:
        time.sleep(delay)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{i}\n".encode())
    finally:
        os.close(fd)
    return i


def submit_and_run(db: str, log: str, n: int, ready: str) -> None:
    """Submit n durable jobs, say so in ``ready``, then run them until killed."""
    eng = god.Engine(threads=2, store=db)
    g = eng.map("record", [log] * n, range(n), [0.002] * n, retries=1)
    with open(ready, "w") as f:
        f.write(str(len(g)))
    eng.wait()
    eng.shutdown()


def map_then_wait(db: str, log: str, n: int, done: str, max_lag: int) -> None:
    """Run a map of n quick jobs, say so in ``done`` once all ended, then idle (killed)."""
    eng = god.Engine(threads=2, store=db, max_lag=max_lag)
    g = eng.map("record", [log] * n, range(n))
    g.wait()
    with open(done, "w") as f:
        f.write("done")
    time.sleep(600)


def finish_then_wait(kind: str, path: str, log: str, n: int, done: str) -> None:
    """Run n jobs on a sqlite or shelve store; once wait() says all ended (and written),
    say so in ``done``, then idle until killed."""
    store = god.ShelveStore(path) if kind == "shelve" else god.SQLiteStore(path)
    eng = god.Engine(threads=4, store=store)
    eng.map("record", [log] * n, range(n))
    eng.wait()
    with open(done, "w") as f:
        f.write("done")
    time.sleep(600)


def resume_until_killed(db: str, max_lag: int) -> None:
    """Adopt what the store holds and run it; the test kills this process mid-way."""
    eng = god.Engine(threads=2, store=db, max_lag=max_lag)
    eng.wait()
    time.sleep(600)


def drain(db: str, log: str, n: int, prefix: int) -> None:
    """Submit n jobs and keep working until the store has no pending job left."""
    eng = god.Engine(threads=2, store=db, poll_interval=0.05)
    eng.map("record", [log] * n, [prefix + i for i in range(n)], retries=1)

    def store_idle() -> bool:  # our jobs ended, and no other process left one behind
        eng.wait(5)
        counts = eng.store.counts()
        return counts["pending"] == 0 and counts["running"] == 0

    wait_until(store_idle, 120, "no pending or running job in the store", interval=0.1)
    eng.shutdown()


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    if command == "submit_and_run":
        submit_and_run(rest[0], rest[1], int(rest[2]), rest[3])
    elif command == "map_then_wait":
        map_then_wait(rest[0], rest[1], int(rest[2]), rest[3], int(rest[4]))
    elif command == "finish_then_wait":
        finish_then_wait(rest[0], rest[1], rest[2], int(rest[3]), rest[4])
    elif command == "resume_until_killed":
        resume_until_killed(rest[0], int(rest[1]))
    elif command == "drain":
        drain(rest[0], rest[1], int(rest[2]), int(rest[3]))
