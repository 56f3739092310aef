"""Tasks by name: ``@god.task`` registers a function with defaults; names resolve to code.

A task is found by a registered name (``"resize"``) or an importable path
(``"mypkg.jobs:resize"``). Registered functions keep working as plain functions.

**Trust.** A name you pass to ``submit`` yourself is trusted: resolving it may import its
module. A name read from a store is not: anyone who can write the file chose it. An engine
runs a stored job only if :func:`is_allowed` says so: its task is registered with
``@god.task`` in this process, or its module matches one of the engine's ``allow``
patterns (``Engine(allow=["mypkg.*"])``, ``godnb worker --import mypkg`` or ``--allow``).
Checking never imports anything.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import FunctionType, MethodType
from typing import Any, TypeVar, overload

from godnb.errors import UnknownTask
from godnb.models.job import task_reference
from godnb.utils.naming import unwrap_partial

__all__ = ["TaskSpec", "check_allow", "is_allowed", "is_async_callable", "not_allowed_message",
           "registered_tasks", "resolve_task", "task"]

F = TypeVar("F", bound=Callable[..., Any])

_OPTION_NAMES = ("retries", "timeout", "backend", "priority", "group", "cache")


@dataclass(frozen=True)
class TaskSpec:
    """A registered task: its name, its function and its default job options."""

    name: str
    fn: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    is_async: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_async", is_async_callable(self.fn))


_tasks: dict[str, TaskSpec] = {}
_lock = threading.Lock()
# Specs of plain callables seen lately: submit() in a loop resolves the same function
# again and again, and inspecting it costs microseconds. Bounded, so lambdas made in a
# loop can not pile up.
_callable_specs: dict[Any, TaskSpec] = {}
_CALLABLE_CACHE_SIZE = 1024


@overload
def task(fn: F, /) -> F: ...
@overload
def task(*, name: str | None = None, **options: Any) -> Callable[[F], F]: ...


def task(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
         **options: Any) -> Any:
    """Register a function as a task, by name, with default job options.

    Options: ``retries``, ``timeout``, ``backend``, ``priority``, ``group``, ``cache``.

    Example:
        >>> @task(name="double", retries=2)
        ... def double(x):
        ...     return 2 * x
        >>> resolve_task("double").options
        {'retries': 2}
    """
    unknown = set(options) - set(_OPTION_NAMES)
    if unknown:
        raise TypeError(f"task() got unknown option(s) {sorted(unknown)}; "
                        f"valid options: {', '.join(_OPTION_NAMES)}")

    def register(f: F) -> F:
        if not callable(f):
            raise TypeError(f"@task decorates a function, got {type(f).__name__}")
        spec = TaskSpec(name or f.__name__, f, dict(options))
        with _lock:
            _tasks[spec.name] = spec
            _callable_specs.pop(f, None)
        f.__godnb_task__ = spec  # type: ignore[attr-defined]
        return f

    return register(fn) if fn is not None else register


def registered_tasks() -> dict[str, TaskSpec]:
    """A copy of the registry: name -> TaskSpec."""
    with _lock:
        return dict(_tasks)


def resolve_task(task: str | Callable[..., Any]) -> TaskSpec:
    """The TaskSpec for a name, a ``"module:function"`` path or a callable.

    Raises :class:`UnknownTask` naming what was looked for and how to fix it.
    """
    if callable(task):
        code = _stateful_code(task)
        if code is not None:
            return _stateful_spec(task, code)
        try:
            cached = _callable_specs.get(task)
        except TypeError:  # unhashable callable object
            cached = None
        if cached is not None:
            return cached
        spec = getattr(task, "__godnb_task__", None)
        if not (isinstance(spec, TaskSpec) and spec.fn is task):
            spec = TaskSpec(task_reference(task), task)
        try:
            if len(_callable_specs) >= _CALLABLE_CACHE_SIZE:
                _callable_specs.clear()
            _callable_specs[task] = spec
        except TypeError:
            pass
        return spec
    spec = _tasks.get(task)
    if spec is not None:
        return spec
    if ":" in task:
        return TaskSpec(task, _import_path(task))
    known = ", ".join(sorted(_tasks)) or "none yet"
    raise UnknownTask(
        f"task {task!r} is not registered (registered: {known}); register it with "
        f"@god.task, import the module that does, or give an importable 'module:function'"
    )


def _stateful_code(task: Callable[..., Any]) -> Any:
    """The long-lived code behind a callable that carries state, else None.

    A bound method holds its object and a closure its cells; each call of ``o.method``
    makes a new one. Cached by itself, such a callable (and the object it holds) would stay
    alive after its job ended: the cache keys these on their function or code instead,
    and never holds the callable.
    """
    if type(task) is MethodType:
        return task.__func__
    if type(task) is FunctionType and task.__closure__ is not None:
        return task.__code__
    return None


# Name and is_async (what costs microseconds to work out) by that code.
_stateful_facts: dict[Any, tuple[str, bool]] = {}


def _stateful_spec(task: Callable[..., Any], code: Any) -> TaskSpec:
    facts = _stateful_facts.get(code)
    if facts is None:
        facts = (task_reference(task), is_async_callable(task))
        if len(_stateful_facts) >= _CALLABLE_CACHE_SIZE:
            _stateful_facts.clear()
        _stateful_facts[code] = facts
    spec = object.__new__(TaskSpec)  # the dataclass's __init__ would inspect it again
    for name, value in (("name", facts[0]), ("fn", task), ("options", {}),
                        ("is_async", facts[1])):
        object.__setattr__(spec, name, value)
    return spec


def _import_path(path: str) -> Callable[..., Any]:
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise UnknownTask(f"task {path!r}: can not import module {module_name!r} ({e}); "
                          f"check the spelling and that it is on sys.path") from e
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise UnknownTask(f"task {path!r}: module {module_name!r} has no attribute "
                              f"{attr!r}; check the function name") from None
    if not callable(obj):
        raise UnknownTask(f"task {path!r} is a {type(obj).__name__}, not a function")
    return obj  # type: ignore[no-any-return]


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """True for coroutine functions, including partials and callables wrapping them."""
    fn = unwrap_partial(fn)
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


# -- trust: which stored tasks an engine may run ---------------------------------------------
def check_allow(patterns: Iterable[str] | None) -> tuple[str, ...]:
    """Validate ``allow`` patterns (``Engine(allow=...)``): an iterable of module patterns.

    A pattern is a module name (``"mypkg.jobs"``), a ``*`` wildcard pattern
    (``"mypkg.*"`` also covers ``mypkg`` itself), or a full ``"module:function"``
    reference; ``"*"`` allows everything (trust the store like code).

    Raises:
        TypeError: ``patterns`` is a single string, or holds something else than strings.
        ValueError: an empty pattern.
    """
    if patterns is None:
        return ()
    if isinstance(patterns, str | bytes):
        raise TypeError(f"allow takes a list of module patterns, got the string "
                        f"{patterns!r}; write allow=[{patterns!r}]")
    if not isinstance(patterns, Iterable):
        raise TypeError(f"allow takes a list of module patterns like ['mypkg.*'], got "
                        f"{type(patterns).__name__} {patterns!r}")
    out = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"allow patterns must be strings like 'mypkg.*', got "
                            f"{type(pattern).__name__} {pattern!r}")
        if not pattern.strip():
            raise ValueError("an allow pattern is empty; give a module name or pattern "
                             "such as 'mypkg.jobs' or 'mypkg.*'")
        out.append(pattern.strip())
    return tuple(out)


def _matches(task: str, allow: Sequence[str]) -> bool:
    from fnmatch import fnmatchcase

    module = task.partition(":")[0]
    for pattern in allow:
        if fnmatchcase(module, pattern) or fnmatchcase(task, pattern):
            return True
        if pattern.endswith(".*") and module == pattern[:-2]:
            return True
    return False


def _registered_function(path: str) -> bool:
    """True if ``"module:attr"`` names a @task-registered function of a module that is
    imported already (looked up without importing anything)."""
    module_name, _, attr = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    if obj is None or not attr:
        return False
    for part in attr.split("."):
        obj = inspect.getattr_static(obj, part, None)
        if obj is None:
            return False
    spec = getattr(obj, "__godnb_task__", None)
    return isinstance(spec, TaskSpec) and spec.fn is obj and _tasks.get(spec.name) is spec


def is_allowed(task: str, allow: Sequence[str] = ()) -> bool:
    """May an engine with these ``allow`` patterns run a stored job naming ``task``?

    Yes when ``task`` is a name registered with ``@god.task`` in this process, the
    ``"module:function"`` path of such a function, or a path whose module matches a
    pattern (see :func:`check_allow`). Never imports anything.

    Example:
        >>> is_allowed("os:system")
        False
        >>> is_allowed("mypkg.jobs:resize", ["mypkg.*"])
        True
    """
    if task in _tasks:
        return True
    if ":" not in task:
        return False
    return _matches(task, allow) or _registered_function(task)


def not_allowed_message(task: str, allow: Sequence[str] = ()) -> str:
    """Why a stored job naming ``task`` does not run here, and how to allow it."""
    module = task.partition(":")[0] if ":" in task else task
    shown = ", ".join(repr(p) for p in allow) or "none"
    how = (f"register it with @god.task in a module the engine imports, or allow its "
           f"module: Engine(..., allow=[{module!r}]), or `godnb worker --import {module}` "
           f"(or --allow {module!r})") if ":" in task else (
           "register it with @god.task in a module the engine imports (`godnb worker "
           "--import MODULE`)")
    return (f"task {task!r} is not allowed here: an engine runs a job read from its store "
            f"only if the task is registered with @god.task or its module is allowed "
            f"(allowed: {shown}), since a store file can name any code; to run it, {how}")
