from __future__ import annotations

import math
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest

import godnb as god
from godnb.models import ErrorInfo, EventKind, Job, JobEvent, JobStatus, Progress, Result


def test_minimal_job_has_spec_defaults() -> None:
    job = Job(payload={"task": "math:sqrt", "args": [4]})
    assert job.priority == 0
    assert job.group == "default"
    assert job.retries == 0
    assert job.status is JobStatus.PENDING
    assert job.created_at.tzinfo is UTC and job.updated_at.tzinfo is UTC
    assert len(job.job_id) >= 16
    assert job.payload == {"task": "math:sqrt", "args": [4], "kwargs": {}}


def test_job_ids_are_unique() -> None:
    assert len({Job(payload={"task": "t"}).job_id for _ in range(10_000)}) == 10_000


def test_job_ids_are_unique_across_threads_and_16_hex_digits() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from godnb.models.job import new_job_id

    with ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(lambda _: [new_job_id() for _ in range(5_000)], range(4)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == 20_000
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_the_parents_spare_ids() -> None:
    from godnb.models.job import new_job_id

    new_job_id()  # the parent now holds spare ids drawn from the OS
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next ids and leave at once
        os.write(write, " ".join(new_job_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    child_ids = set(os.read(read, 4096).decode().split())
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child_ids) == 10
    assert child_ids.isdisjoint(new_job_id() for _ in range(10))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (3, r"payload must be a dict"),
        ({}, r"payload\.task is missing"),
        ({"task": "x", "extra": 1}, r"unknown key\(s\) \['extra'\]"),
        ({"task": 42}, r"payload\.task must be a registered task name.*got int"),
        ({"task": "not a name!"}, r"payload\.task 'not a name!' is not a task name"),
        ({"task": "x", "args": 5}, r"payload\.args must be a list.*wrap a single argument"),
        ({"task": "x", "kwargs": {1: 2}}, r"payload\.kwargs must be a dict with string keys"),
        ({"task": "x", "args": [{1, 2}]}, r"payload\.args\[0\] has type set.*JSON-compatible"),
        ({"task": "x", "kwargs": {"a": [object()]}},
         r"payload\.kwargs\['a'\]\[0\] has type object.*submit the callable itself"),
    ],
)
def test_invalid_payloads_name_the_field_and_fix(payload: object, match: str) -> None:
    with pytest.raises(god.ValidationError, match=match) as info:
        Job(payload=payload)
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is not None


def test_callable_payload_accepts_live_arguments() -> None:
    lock = object()
    job = Job(payload={"task": print, "args": [lock]})
    assert job.task is print
    assert not job.durable
    assert job.task_name == "print"


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("priority", 10**7, r"priority: .*less than or equal to 1000000"),
        ("retries", -1, r"retries: .*greater than or equal to 0"),
        ("timeout", 0, r"timeout: .*greater than 0"),
        ("created_at", datetime(2024, 1, 1), r"created_at: .*timezone-aware"),
        ("bogus", 1, r"bogus: Extra inputs are not permitted"),
    ],
)
def test_invalid_fields(field: str, value: object, match: str) -> None:
    with pytest.raises(god.ValidationError, match=match):
        Job(payload={"task": "t"}, **{field: value})


def test_other_timezones_are_normalised_to_utc() -> None:
    t = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert Job(payload={"task": "t"}, created_at=t).created_at == t.astimezone(UTC)


@pytest.mark.parametrize("model", [
    Job(payload={"task": "math:sqrt", "args": [4]}, priority=3, tags=["a"],
        progress=Progress(done=1, total=2, message="half")),
    Result(job_id="abc", status=JobStatus.FAILED, output={"x": [1, 2]},
           errors=[ErrorInfo(type="ValueError", message="bad", attempt=1)],
           execution_time=0.5, attempts=2),
    JobEvent(job_id="abc", kind=EventKind.PROGRESS, status=JobStatus.RUNNING,
             progress=Progress(done=1)),
    Progress(done=3, total=4),
    ErrorInfo.from_exception(ValueError("nope"), attempt=2),
])
def test_json_round_trip(model: object) -> None:
    cls = type(model)
    assert cls.model_validate_json(model.model_dump_json()) == model  # type: ignore[attr-defined]


def test_callable_task_serialises_as_a_reference() -> None:
    job = Job(payload={"task": math.sqrt, "args": [4]})
    assert '"task":"math:sqrt"' in job.model_dump_json()


def test_model_validate_raises_godnb_validation_error() -> None:
    with pytest.raises(god.ValidationError, match=r"invalid Job: payload must be a dict"):
        Job.model_validate_json('{"payload": 3}')
    with pytest.raises(god.ValidationError, match=r"invalid Result: .*status: Field required"):
        Result.model_validate({"job_id": "x"})


@pytest.mark.parametrize("final", [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_final_states_are_final(final: JobStatus) -> None:
    job = Job(payload={"task": "t"})
    job.status = JobStatus.RUNNING
    job.status = final
    for status in JobStatus:
        if status is not final:
            with pytest.raises(god.InvalidTransition, match=rf"from {final.value} to"):
                job.status = status


def test_derived_jobs_copy_with_updates_and_keep_the_template_intact() -> None:
    template = Job(payload={"task": "t"}, priority=3)
    job = template.derive({"task": "t", "args": (1,), "kwargs": {}})
    copy = job.model_copy(update={"status": JobStatus.RUNNING, "name": "c"})
    assert copy.status is JobStatus.RUNNING and copy.name == "c" and copy.priority == 3
    assert {"status", "name"} <= copy.model_fields_set
    assert "status" not in job.model_fields_set and job.status is JobStatus.PENDING
    assert "status" not in template.model_fields_set
    sibling = template.derive({"task": "t", "args": (2,), "kwargs": {}})
    assert sibling.model_copy(deep=True) == sibling


def test_allowed_transitions() -> None:
    job = Job(payload={"task": "t"})
    job.transition(JobStatus.RUNNING)
    job.transition(JobStatus.PENDING)  # a retry
    job.transition(JobStatus.RUNNING)
    job.transition(JobStatus.COMPLETED)
    assert job.status.is_terminal


def test_completed_job_can_not_run_again_message() -> None:
    job = Job(payload={"task": "t"}, status=JobStatus.COMPLETED)
    with pytest.raises(god.InvalidTransition, match="submit a new job to run it again"):
        job.transition(JobStatus.RUNNING)


def test_progress_fraction() -> None:
    assert Progress(done=5, total=10).fraction == 0.5
    assert Progress(done=5).fraction is None
    assert Progress(done=50, total=10).fraction == 1.0


def test_restore_accepts_pickled_arguments() -> None:
    job = Job.restore({"payload": {"task": "m:f", "args": [object()]}})
    assert job.task == "m:f"


def test_derive_copies_options_with_fresh_id() -> None:
    base = Job(payload={"task": "t", "args": [1]}, priority=4, tags=["x"])
    child = base.derive({"task": "t", "args": [2], "kwargs": {}})
    assert child.job_id != base.job_id
    assert (child.priority, child.payload["args"], child.tags) == (4, [2], ("x",))
    child.priority = 7  # a shared, frozen fields-set is thawed on assignment
    assert base.priority == 4 and "priority" in child.model_fields_set
