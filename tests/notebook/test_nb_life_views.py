"""The log panel (pure formatting and widget) and saved views (the rewrite rules), without a
kernel: display handles are fakes that record what they were given."""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from godnb import Engine
from godnb.execution import output
from godnb.notebook import rich, saved
from godnb.notebook.dashboards import QueueView
from godnb.notebook.formatters import format_job_html, format_job_text
from godnb.notebook.logpanel import format_log_html, format_log_text
from godnb.notebook.logview import LogPanel
from godnb.notebook.snapshots import OutputSnapshot, snapshot_job
from godnb.notebook.widgets import JobView
from tests.waiting import wait_until

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
pytestmark = pytest.mark.timeout(60)


@contextmanager
def routed() -> Iterator[io.StringIO]:
    saved_streams = sys.stdout, sys.stderr
    target = io.StringIO()
    sys.stdout = sys.stderr = target
    try:
        output.install()
        yield target
    finally:
        output.uninstall()
        sys.stdout, sys.stderr = saved_streams


def chatty(n: int) -> int:
    for i in range(n):
        print(f"line {i}")
    print("<oops>", file=sys.stderr)
    return n


# -- the log panel as text and HTML ------------------------------------------------------------
def test_log_text_and_html_show_the_newest_lines_and_what_was_left_out() -> None:
    o = OutputSnapshot(lines=[("stdout", f"line {i}") for i in range(8, 20)]
                       + [("stderr", "<b>err</b>")], kept=100, cut=900, total=1000)
    text = format_log_text(o, tail=3)
    assert text.splitlines() == [
        "output: 1,000 lines (newest 3 shown; 900 earlier cut); h.output_text() has all "
        "kept lines", "  | line 18", "  | line 19", "  | <b>err</b>"]
    html = format_log_html(o)
    assert html.startswith('<details class="godnb-log" open>')
    assert "output: 1,000 lines (newest 13 shown; 900 earlier cut)" in html
    assert "&lt;b&gt;err&lt;/b&gt;" in html and "<b>err</b>" not in html
    assert 'style="color:#b71c1c">&lt;b&gt;' in html  # stderr in red
    small = OutputSnapshot(lines=[("stdout", "only")], kept=1, total=1)
    assert format_log_text(small) == "output: 1 line\n  | only"


def test_a_captured_jobs_view_and_fallbacks_carry_its_log(views: list[Any]) -> None:
    with routed(), Engine(threads=1, capture_output=True, default=False) as eng:
        h = eng.submit(chatty, 30)
        assert h.result(timeout=10) == 30
        s = snapshot_job(h)
        v = JobView(h)
        views.append(v)
    assert s.output is not None and s.output.total == 31 and len(s.output.lines) == 12
    assert "line 29" in format_job_text(s) and "&lt;oops&gt;" in format_job_html(s)
    assert v.log_panel is not None and v.log_panel.layout.display == ""
    assert "line 29" in v.log_panel.box.value and "line 18" not in v.log_panel.box.value
    assert "output: 31 lines (newest 12 shown)" in v.log_panel.summary.value


def test_the_log_panel_folds_and_shows_all() -> None:
    full = "".join(f"row {i}\n" for i in range(40))
    panel = LogPanel(lambda: full)
    try:
        assert panel.layout.display == "none"  # nothing printed yet
        panel.update(None)
        assert panel.layout.display == "none"
        snap = OutputSnapshot(lines=[("stdout", f"row {i}") for i in range(28, 40)],
                              kept=40, total=40)
        panel.update(snap)
        assert panel.layout.display == "" and "row 27" not in panel.box.value
        panel.toggle.value = False
        assert panel.box.layout.display == "none" and panel.toggle.description == "show"
        panel.show_all.click()  # opens the box again, with every kept line
        assert panel.toggle.value and panel.box.layout.display == ""
        assert "row 0\n" in panel.box.value and panel.show_all.description == "newest"
        panel.update(snap)  # a later write does not resend everything
        assert "row 0\n" in panel.box.value
        assert "all kept lines, as when clicked" in panel.summary.value
        panel.show_all.click()
        assert "row 0" not in panel.box.value and panel.show_all.description == "show all"
    finally:
        panel.close()


# -- saved views -------------------------------------------------------------------------------
class FakeHandle:
    """Stands in for IPython's DisplayHandle: records every update."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update(self, bundle: dict[str, Any], raw: bool = False) -> None:
        assert raw
        self.updates.append(bundle)


def test_a_job_display_turns_static_once_and_is_confirmed_in_a_cell(views: list[Any]) -> None:
    with Engine(threads=1, default=False) as eng:
        gate = threading.Event()
        h = eng.submit(gate.wait, 5)
        view = JobView(h)
        fake = FakeHandle()
        entry = saved.LiveDisplay("job", h, view, fake, owned=True)
        assert not entry.settle() and fake.updates == []  # still running: stays live
        gate.set()
        assert h.result(timeout=5) is True
        assert not entry.settle()  # between cells: rewritten, not yet let go
        assert len(fake.updates) == 1 and set(fake.updates[0]) == {"text/plain", "text/html"}
        assert 'data-status="completed"' in fake.updates[0]["text/html"]
        assert not entry.settle()  # nothing new to send
        assert entry.settle(in_cell=True)  # sent again inside a cell, then done
        assert fake.updates[1] == fake.updates[0] and len(fake.updates) == 2
        assert view.bar.bar_style == "success" and view.refresher.closed  # owned: closed
        assert entry.settle(in_cell=True) and len(fake.updates) == 2


def test_an_engine_view_goes_static_when_idle_and_live_again_with_work(
        views: list[Any]) -> None:
    with Engine(threads=1, default=False) as eng:
        view = QueueView(eng, rows=3)
        views.append(view)
        fake = FakeHandle()
        entry = saved.LiveDisplay("queue", eng, view, fake, owned=False)
        assert not entry.settle(in_cell=True)  # idle: static, but an engine is never done
        assert "no pending or running jobs" in fake.updates[-1]["text/html"]
        assert WIDGET_MIME not in fake.updates[-1]
        gate = threading.Event()
        h = eng.submit(gate.wait, 5)
        wait_until(lambda: eng.stats().active, 5, "the job to be active")
        assert not entry.settle()
        assert WIDGET_MIME in fake.updates[-1]  # the live widget is back
        gate.set()
        assert h.result(timeout=5) is True and eng.wait(5)
        entry.settle(in_cell=True)
        assert WIDGET_MIME not in fake.updates[-1] and len(fake.updates) == 3
        assert not view.refresher.closed  # the user's view is not closed


def test_show_outside_a_kernel_displays_static_text_and_follows_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[tuple[dict[str, Any], bool]] = []
    monkeypatch.setattr(saved, "_display",
                        lambda bundle, tracked: shown.append((bundle, tracked)))
    with Engine(threads=1, default=False) as eng:
        gate = threading.Event()
        h = eng.submit(gate.wait, 5)
        before = len(saved.live_displays())
        saved.show(h)
        gate.set()
        h.result(timeout=5)
    assert [tracked for _, tracked in shown] == [False]
    assert set(shown[0][0]) == {"text/plain", "text/html"}
    assert len(saved.live_displays()) == before
    with pytest.raises(TypeError, match="can not display"):
        saved.show(object())


def test_show_in_a_kernel_follows_a_running_job(monkeypatch: pytest.MonkeyPatch,
                                                views: list[Any]) -> None:
    fake = FakeHandle()
    shown: list[dict[str, Any]] = []

    def display(bundle: dict[str, Any], tracked: bool) -> FakeHandle:
        assert tracked
        shown.append(bundle)
        return fake

    monkeypatch.setattr(saved, "_display", display)
    monkeypatch.setattr(rich, "in_kernel", lambda: True)
    rich.use_widgets(True)
    try:
        with Engine(threads=1, default=False) as eng:
            gate = threading.Event()
            h = eng.submit(gate.wait, 5)
            saved.show(h)
            entry = saved.live_displays()[-1]
            views.append(entry.view)
            assert entry.obj is h and WIDGET_MIME in shown[0]
            gate.set()
            h.result(timeout=5)
            saved.settle_all()  # what post_run_cell does
            assert entry not in saved.live_displays()
            assert 'data-status="completed"' in fake.updates[-1]["text/html"]
    finally:
        rich.use_widgets(None)
