"""Strict checks of job options (``submit``/``map``/``job()`` keywords, ``@god.task``
defaults): a wrong value is refused, never coerced.

``priority="5"``, ``priority=True``, ``retries="3"``, ``tags="abc"`` (a string is not a
list of tags), ``group=""``, ``timeout=float("nan")``: each raises a
:class:`~godnb.errors.ValidationError` that names the option and the fix, and that is
also a :class:`TypeError` when the type is wrong.

The engine runs these checks where it builds its validated job template, once per
distinct set of options (see ``Engine._template``), not once per job.
"""

from __future__ import annotations

import math
from typing import Any

from godnb.errors import ValidationError, ValidationTypeError
from godnb.models.job import PRIORITY_MAX, PRIORITY_MIN
from godnb.utils.retry import RetryPolicy

__all__ = ["check_job_options", "check_store_options", "check_tags"]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wrong_type(option: str, wanted: str, value: Any, fix: str = "") -> ValidationTypeError:
    return ValidationTypeError(f"{option} must be {wanted}, got {type(value).__name__} "
                               f"{value!r}{'; ' + fix if fix else ''}")


def check_tags(tags: Any) -> tuple[str, ...]:
    """``tags`` as a tuple of strings; a lone string or a non-string tag is refused."""
    if isinstance(tags, str | bytes):
        raise _wrong_type("tags", "a list of strings", tags, f"write tags=[{tags!r}]")
    try:
        out = tuple(tags)
    except TypeError:
        raise _wrong_type("tags", "a list of strings", tags, "e.g. tags=['nightly']") from None
    for tag in out:
        if not isinstance(tag, str):
            raise _wrong_type("each tag", "a string", tag, "e.g. tags=['nightly']")
    return out


def check_job_options(*, priority: Any, retries: Any, timeout: Any, group: Any, name: Any,
                      cache: Any) -> None:
    """Refuse option values of the wrong type or out of range (see the module notes)."""
    if not _is_int(priority):
        raise _wrong_type("priority", "an int (higher runs first)", priority,
                          "e.g. priority=5")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ValidationError(f"priority must be between {PRIORITY_MIN} and {PRIORITY_MAX}, "
                              f"got {priority}")
    if not (_is_int(retries) or isinstance(retries, RetryPolicy)):
        raise _wrong_type("retries", "an int >= 0 (attempts after the first) or a "
                          "RetryPolicy", retries, "e.g. retries=3")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise _wrong_type("timeout", "a number of seconds or None", timeout,
                              "e.g. timeout=2.5")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValidationError(f"timeout must be a finite number of seconds > 0, or None "
                                  f"for no timeout; got {timeout!r}")
    if not isinstance(group, str):
        raise _wrong_type("group", "a string (the submitter, for fair turns)", group)
    if not group:
        raise ValidationError("group must not be empty; leave it out for the default "
                              "group, or name the submitter (e.g. group='alice')")
    if name is not None and not isinstance(name, str):
        raise _wrong_type("name", "a string or None", name)
    if name == "":
        raise ValidationError("name must not be empty; leave it out to use the task's name")
    if cache is not None and not isinstance(cache, bool):
        raise _wrong_type("cache", "True, False or None", cache)


def check_store_options(max_lag: int, flush_timeout: float, **flags: bool) -> None:
    """Refuse, never coerce: a wrong type is a TypeError, a wrong value a ValueError."""
    for name, flag in flags.items():
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    if not isinstance(max_lag, int) or isinstance(max_lag, bool):
        raise TypeError(f"max_lag must be an int (jobs), got {max_lag!r}")
    if max_lag < 1:
        raise ValueError(f"max_lag must be >= 1 (jobs), got {max_lag}")
    if not isinstance(flush_timeout, int | float) or isinstance(flush_timeout, bool):
        raise TypeError(f"flush_timeout must be a number of seconds, got {flush_timeout!r}")
    if not 0 <= flush_timeout < float("inf"):
        raise ValueError(f"flush_timeout must be a finite number of seconds >= 0, got "
                         f"{flush_timeout!r}")
