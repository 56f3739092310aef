"""Tasks by name: ``@god.task`` registers a function with defaults; names resolve to code.

A task is found by a registered name (``"resize"``) or an importable path
(``"mypkg.jobs:resize"``). Registered functions keep working as plain functions.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FunctionType, MethodType
from typing import Any, TypeVar, overload

from godnb.errors import UnknownTask
from godnb.models.job import task_reference
from godnb.utils.naming import unwrap_partial

__all__ = ["TaskSpec", "is_async_callable", "registered_tasks", "resolve_task", "task"]

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
