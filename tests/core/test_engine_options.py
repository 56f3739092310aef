"""Job options are refused, not coerced (issue 17, case 9): ``priority="5"`` or ``True``,
``retries="3"``, ``tags="abc"`` (which became ``('a', 'b', 'c')``), ``group=""`` (which
became "default"), NaN or infinite timeouts..."""

from __future__ import annotations

from typing import Any

import pytest

import godnb as god
from godnb import Engine, Job
from godnb.errors import ValidationError, ValidationTypeError

BAD = [
    ("priority", "5", TypeError), ("priority", True, TypeError), ("priority", 5.0, TypeError),
    ("priority", 10**7, ValueError),
    ("retries", "3", TypeError), ("retries", True, TypeError), ("retries", 2.0, TypeError),
    ("retries", -1, ValueError),
    ("tags", "abc", TypeError), ("tags", b"abc", TypeError), ("tags", ["ok", 1], TypeError),
    ("tags", 7, TypeError),
    ("group", "", ValueError), ("group", 5, TypeError),
    ("timeout", "1", TypeError), ("timeout", True, TypeError),
    ("timeout", float("nan"), ValueError), ("timeout", float("inf"), ValueError),
    ("timeout", 0, ValueError), ("timeout", -1.5, ValueError),
    ("name", 3, TypeError), ("name", "", ValueError),
    ("cache", "yes", TypeError), ("cache", 1, TypeError),
]


def _ids(case: Any) -> str:
    return repr(case)


@pytest.mark.parametrize(("option", "value", "kind"), BAD, ids=_ids)
def test_submit_refuses_instead_of_coercing(option: str, value: Any, kind: type) -> None:
    with Engine(threads=1) as eng:
        eng.submit(abs, -1, priority=1, retries=1, timeout=1, cache=False).result(10)
        before = eng.stats().submitted
        with pytest.raises(kind, match=option) as caught:
            eng.submit(abs, -1, **{option: value})
        assert isinstance(caught.value, ValidationError)  # a godnb error, either way
        with pytest.raises(kind, match=option):
            eng.map(abs, [1, 2], **{option: value})
        with pytest.raises(kind, match=option):
            eng.submit("math:sqrt", 4, **{option: value})
        assert eng.stats().submitted == before  # nothing queued


@pytest.mark.parametrize(("method", "value"), [
    ("priority", "5"), ("priority", True), ("retries", "3"), ("timeout", float("nan")),
    ("group", ""), ("name", 3)])
def test_the_builder_refuses_too(method: str, value: Any) -> None:
    with Engine(threads=1) as eng:
        with pytest.raises(ValidationError, match=method):
            getattr(eng.job(abs, -1), method)(value).submit()
        with pytest.raises(ValidationTypeError, match="tags"):
            eng.job(abs, -1).tags(1).submit()  # type: ignore[arg-type]


def test_bad_task_defaults_are_refused_at_submit() -> None:
    @god.task(name="test_options.bad_default", retries="3")
    def bad_default() -> int:
        return 1

    with Engine(threads=1) as eng, pytest.raises(TypeError, match="retries"):
        eng.submit("test_options.bad_default")


def test_messages_name_the_option_and_the_fix() -> None:
    with Engine(threads=1) as eng:
        with pytest.raises(TypeError, match=r"tags must be a list of strings, got str 'abc'; "
                                            r"write tags=\['abc'\]"):
            eng.submit(abs, 1, tags="abc")
        with pytest.raises(ValueError, match="group must not be empty"):
            eng.submit(abs, 1, group="")
        with pytest.raises(TypeError, match=r"priority must be an int.*got str '5'.*"
                                            r"priority=5"):
            eng.submit(abs, 1, priority="5")


def test_good_values_still_pass_and_keep_their_meaning() -> None:
    with Engine(threads=1) as eng:
        h = eng.submit(abs, -3, priority=2, retries=1, timeout=5, tags=("a", "b"),
                       group="alice", name="x", cache=False)
        assert h.result(10) == 3
        assert (h.job.priority, h.job.retries, h.job.timeout, h.job.tags, h.job.group) == \
            (2, 1, 5.0, ("a", "b"), "alice")
        assert eng.submit(abs, -1, tags=["t"]).job.tags == ("t",)
        assert eng.submit(abs, -1, retries=god.RetryPolicy(2)).job.retries == 2


@pytest.mark.parametrize(("field", "value"), [
    ("priority", "5"), ("priority", True), ("retries", "3"), ("timeout", "1"),
    ("timeout", float("inf")), ("cache", "yes"), ("attempts", 1.0), ("backoff", "1")])
def test_the_job_model_is_strict(field: str, value: Any) -> None:
    with pytest.raises(ValidationError, match=field):
        Job(payload={"task": "math:sqrt"}, **{field: value})


def test_a_wrong_type_is_also_a_type_error() -> None:
    with pytest.raises(TypeError):
        Job(payload={"task": "math:sqrt"}, priority="5")
    with pytest.raises(ValueError):
        Job(payload={"task": "math:sqrt"}, priority="5")
