"""``godnb.core.display.show``: views that library code shows and keeps current (joblib's
bar); the live case in a real kernel is in tests/contrib/test_joblib.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from godnb import Engine, JobGroup
from godnb.core import display
from godnb.core.futures import JobExecutor
from godnb.notebook import saved
from godnb.notebook.showing import LiveDisplay
from godnb.notebook.widgets import GroupView

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class Handle:
    """Stands for IPython's DisplayHandle: records what the output was rewritten to."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update(self, obj: dict[str, Any], raw: bool = False) -> None:
        assert raw
        self.updates.append(obj)


@pytest.fixture
def inline() -> Iterator[Engine]:
    with Engine(threads=1, backend="inline") as eng:
        yield eng


def growing_group(eng: Engine, n: int) -> JobGroup:
    group = JobGroup("grow")
    ex = JobExecutor(eng, jobs=group)
    for i in range(n):
        ex.submit(abs, -i)
    return group


def test_show_outside_a_kernel_shows_nothing(inline: Engine) -> None:
    assert display.show(growing_group(inline, 1)) is None


def test_live_display_ends_as_static_output(inline: Engine) -> None:
    group = growing_group(inline, 2)
    view = GroupView(group)
    handle = Handle()
    shown = LiveDisplay("group", group, view, handle, owned=True)
    more = JobExecutor(inline, jobs=group)
    more.submit(abs, -5)
    view.flush()
    # the bar follows a group that grows: all of its one stacked bar is the 3 completed
    assert view.segments == {"completed": (1.0, 3)} and "3/3" in view.label.value
    shown.tick()
    shown.close()
    assert len(handle.updates) == 1
    final = handle.updates[0]
    assert WIDGET_MIME not in final and "3/3" in final["text/plain"]
    assert view.refresher.closed
    shown.close()  # idempotent
    shown.tick()   # a no-op once closed
    assert len(handle.updates) == 1
    assert shown not in saved.live_displays()  # its caller ends it, nothing follows it


def test_one_live_display_class_serves_saved_views_and_library_code() -> None:
    assert LiveDisplay is saved.LiveDisplay


def test_static_display_is_rewritten_at_most_once_per_interval(inline: Engine) -> None:
    group = growing_group(inline, 1)
    handle = Handle()
    shown = LiveDisplay("group", group, None, handle, owned=True, interval=3600)
    shown.tick()
    assert handle.updates == []  # within the interval
    shown.close()
    assert len(handle.updates) == 1 and "1/1" in handle.updates[0]["text/plain"]
    shown.tick()
    assert len(handle.updates) == 1
