"""Writes to a store forever, printing each call it saw return; killed by the kill -9 test.

``python -m tests.storage.store_writer sqlite|shelve PATH``: for job ``j<i>`` it adds it,
claims it, marks it running and finishes it with a result, a call each, and prints
``<step> <i>`` after each call returned (the acknowledgement the test checks against).
Rows grow and shrink from step to step (a progress message comes and goes), so a store
that rewrote rows in place would tear them.
"""

from __future__ import annotations

import sys

from godnb.models import Job, JobStatus, Progress, Result
from godnb.storage import ShelveStore, SQLiteStore, Store

STEPS = ("added", "claimed", "started", "finished")


def say(step: str, i: int) -> None:
    sys.stdout.write(f"{step} {i}\n")
    sys.stdout.flush()


def main(kind: str, path: str) -> None:
    store: Store = SQLiteStore(path) if kind == "sqlite" else ShelveStore(path)
    store.register_engine("writer")
    i = 0
    while True:
        store.add([Job(job_id=f"j{i}", payload={"task": "math:sqrt", "args": [i]})])
        say("added", i)
        [job] = store.claim("writer", 1)
        assert job.job_id == f"j{i}", job.job_id
        say("claimed", i)
        job.start_attempt()
        job.report(Progress(done=1, total=2, message="x" * (i * 97 % 1500)))
        store.update([job])
        say("started", i)
        job.report(None)
        job.end(JobStatus.COMPLETED)
        store.update([job], [Result(job_id=job.job_id, status=JobStatus.COMPLETED,
                                    output=i, attempts=1)])
        say("finished", i)
        i += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
