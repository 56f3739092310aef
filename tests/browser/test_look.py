"""The look, as a user sees it in JupyterLab (headless Chromium): bars, timeline, report.

Runs a small notebook in a real JupyterLab and checks what is on the screen, not what the
Python side believes: a running bar shows its percentage and ETA; the bars of two cells
start at the same x although their names differ in length; a failed job that never
reported progress has a full bar in the theme's error colour (computed style); a group
with 4 failures in 100 jobs has a red segment about 4% of its bar and the rest green;
the finished bar is green; the timeline draws a lane per thread; the report written by
``eng.report()`` opens from a file with no request beyond that file.

Screenshots of each (running bar, finished bar, group, timeline, report) go to the
test's temporary folder, whose path the test prints; look at them when changing the look.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import serve_lab
from tests.browser.test_lab import (
    KERNEL_IDLE,
    _errors,
    _kernel_ready,
    _open_notebook,
    _run_all,
    _wait_all_run,
    page,  # noqa: F401 (the fixture)
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

NAME = "look.ipynb"
CELLS = [
    "import time\nimport godnb as god\n"
    "eng = god.Engine(threads=3, name='look')\n"
    "def slow(n, dt):\n"
    "    for i in range(n):\n"
    "        time.sleep(dt)\n"
    "        god.progress(i + 1, total=n)\n"
    "    return n\n"
    "def parse(record):\n    return int(record['id'])\n"
    "def check(i):\n"
    "    time.sleep(0.002)\n"
    "    if i % 25 == 24:\n        raise ValueError(f'item {i} is corrupt')\n"
    "    return i",
    "h = eng.submit(slow, 100, 0.2, name='score')\nh",
    "h2 = eng.submit(slow, 20, 0.05, name='a-much-longer-task-name-than-the-column')\nh2",
    "bad = eng.submit(parse, {'x': 1})\nbad",
    "g = eng.map(check, range(100))\ng",
    "import asyncio\nawait asyncio.to_thread(g.wait, 60)",
    "tl = eng.timeline()\ntl",
    "path = eng.report('run.html')\nstr(path)",
]
ETA = re.compile(r"\d\d:\d\d<\d\d:\d\d")
# Resolve a theme variable the way the browser does (to compare computed colours).
RESOLVE = """(name) => {
    const probe = document.createElement('div');
    probe.style.backgroundColor = `var(${name})`;
    document.body.appendChild(probe);
    const colour = getComputedStyle(probe).backgroundColor;
    probe.remove();
    return colour;
}"""
BG = "(el) => getComputedStyle(el).backgroundColor"
# A bar, live (ipywidgets' progress) or static (the output is rewritten with its final
# state once its job ended, godnb.notebook.saved): its track and its fill.
TRACK = ".widget-hprogress .progress, .godnb-bar"
FILL = ".widget-hprogress .progress-bar, .godnb-fill"
# True once the output's bar is full and in the colour of ``status`` (live or static).
FULL_JS = """([el, status]) => {
    const track = el.querySelector('.widget-hprogress .progress, .godnb-bar');
    const fill = el.querySelector('.widget-hprogress .progress-bar, .godnb-fill');
    if (!track || !fill) return false;
    const style = {completed: 'progress-bar-success', failed: 'progress-bar-danger'}[status];
    const coloured = fill.classList.contains(style) || fill.dataset.status === status;
    const full = track.getBoundingClientRect().width - fill.getBoundingClientRect().width;
    return coloured && Math.abs(full) < 1;
}"""
# WCAG contrast of an element's text colour against the notebook's background.
CONTRAST = """(el) => {
    const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
    const lum = (c) => {
        const [r, g, b] = rgb(c).map((v) => v / 255)
            .map((v) => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const page = getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor;
    const a = lum(getComputedStyle(el).color), b = lum(page);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """JupyterLab serving a folder with the look notebook; yields (URL, folder)."""
    nbformat = pytest.importorskip("nbformat")
    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, root / NAME)
    with serve_lab(root, tmp_path / "state", tmp_path / "lab.log") as base:
        yield base, root


def _output(pg: Any, source: str) -> Any:
    cell = pg.locator(".jp-CodeCell", has_text=source).first
    assert cell.count() == 1, f"no code cell containing {source!r}"
    return cell.locator(".jp-OutputArea")


def _shot(locator: Any, path: Path) -> None:
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=str(path))


def test_bars_timeline_and_report_as_a_user_sees_them(
        lab: tuple[str, Path], page: Any, tmp_path: Path) -> None:  # noqa: F811 (fixture)
    base, root = lab
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page.set_viewport_size({"width": 1280, "height": 2200})
    _open_notebook(page, f"{base}/lab/tree/{NAME}?reset")
    deadline = time.monotonic() + 30
    while not _kernel_ready(base) and time.monotonic() < deadline:
        time.sleep(0.2)
    for _attempt in range(2):  # a Run All sent while the kernel was settling may stall
        _run_all(page)
        if _wait_all_run(page, timeout=120):
            break
        page.keyboard.press("Escape")  # close whatever dialog came up meanwhile

    else:
        raise AssertionError(f"Run All did not run every cell; errors:\n{_errors(page)}")

    # -- a running bar: percentage and ETA, tqdm's layout ------------------------------
    running = _output(page, "h = eng.submit(slow, 100")
    label = running.locator(".godnb-label")
    page.wait_for_function("(el) => /\\d\\d:\\d\\d<\\d\\d:\\d\\d/.test(el.innerText)",
                           arg=label.element_handle(), timeout=20_000)
    assert ETA.search(label.inner_text()), label.inner_text()
    assert re.fullmatch(r"\d{1,2}%", running.locator(".godnb-percent").inner_text().strip())
    assert "progress-bar-success" not in running.locator(".progress-bar").get_attribute(
        "class")
    _shot(running, shots / "running-bar.png")

    # -- two bars in two cells, names of different lengths: their left edges align ------
    other = _output(page, "h2 = eng.submit(slow, 20")
    # (the short job may have ended: its output is static then, and must line up as well)
    x1 = running.locator(TRACK).first.bounding_box()["x"]
    x2 = other.locator(TRACK).first.bounding_box()["x"]
    assert abs(x1 - x2) <= 1, (x1, x2)
    name = other.locator(".godnb-name")
    assert name.get_attribute("title") == "a-much-longer-task-name-than-the-column"
    assert page.evaluate("(el) => el.scrollWidth > el.clientWidth",
                         name.element_handle())  # ellipsised, not wrapped
    group_bar = _output(page, "g = eng.map(check").locator(".godnb-bar")
    assert abs(group_bar.bounding_box()["x"] - x1) <= 2  # the group's bar lines up too

    # -- a failed job without progress: a full bar in the error colour -----------------
    error = page.evaluate(RESOLVE, "--jp-error-color1")
    success = page.evaluate(RESOLVE, "--jp-success-color1")
    failed = _output(page, "bad = eng.submit(parse")
    page.wait_for_function(FULL_JS, arg=[failed.element_handle(), "failed"], timeout=20_000)
    assert page.evaluate(BG, failed.locator(FILL).first.element_handle()) == error
    assert "?" not in _output(page, "bad = eng.submit(parse").inner_text()

    # status words read at 4.5:1 on the page (WCAG AA for text)
    ratio = page.evaluate(CONTRAST, _output(page, "bad = eng.submit(parse")
                          .locator(".godnb-status").element_handle())
    assert ratio >= 4.5, ratio

    # -- a group with 4 failures in 100: a ~4% red segment, the rest green --------------
    group = _output(page, "g = eng.map(check")
    red = group.locator(".godnb-seg[data-status='failed']")
    green = group.locator(".godnb-seg[data-status='completed']")
    page.wait_for_function("(el) => el.querySelector(\".godnb-seg[data-status='completed']\")",
                           arg=group.element_handle(), timeout=20_000)
    share = red.bounding_box()["width"] / group_bar.bounding_box()["width"]
    assert 0.03 <= share <= 0.05, share
    assert page.evaluate(BG, red.element_handle()) == error
    assert page.evaluate(BG, green.element_handle()) == success
    assert "first error: ValueError: item 24 is corrupt" in group.inner_text()
    error_span = group.locator(".godnb-error")
    assert error_span.bounding_box()["height"] < 30  # on the same line
    # cut to the cell's width with an ellipsis (CSS), the whole text in its tooltip
    page.set_viewport_size({"width": 900, "height": 2200})
    assert page.evaluate("(el) => el.scrollWidth > el.clientWidth", error_span.element_handle())
    assert page.evaluate("(el) => getComputedStyle(el).textOverflow",
                         error_span.element_handle()) == "ellipsis"
    assert error_span.get_attribute("title") == "ValueError: item 24 is corrupt"
    _shot(group, shots / "group-narrow.png")
    page.set_viewport_size({"width": 1280, "height": 2200})
    _shot(group, shots / "group.png")

    # -- the running job ends: its bar turns green and full, live ---------------------
    page.wait_for_function(FULL_JS, arg=[running.element_handle(), "completed"],
                           timeout=45_000)
    assert page.evaluate(BG, running.locator(FILL).first.element_handle()) == success
    _shot(running, shots / "finished-bar.png")

    # -- the timeline: a lane per thread, marks with titles ----------------------------
    timeline = _output(page, "tl = eng.timeline()")
    svg = timeline.locator("svg.godnb-timeline-svg").first
    page.wait_for_function("(el) => el.textContent.includes('thread-3')",
                           arg=svg.element_handle(), timeout=20_000)
    text = svg.text_content()
    assert "thread-1" in text and "thread-2" in text and "score" in text
    marks = svg.locator("rect.godnb-run")
    assert 1 <= marks.count() <= 3000
    assert "score" in (svg.locator("rect.godnb-run title").all_text_contents()[0] + text)
    _shot(timeline, shots / "timeline.png")
    page.wait_for_selector(KERNEL_IDLE, timeout=60_000)

    # -- the report: one file that asks the network for nothing -------------------------
    report = root / "run.html"
    assert report.exists()
    requests: list[str] = []
    context = page.context.browser.new_context(viewport={"width": 1200, "height": 900})
    viewer = context.new_page()
    viewer.on("request", lambda request: requests.append(request.url))
    viewer.goto(report.as_uri(), wait_until="load")
    assert set(requests) == {report.as_uri()}, requests
    assert viewer.locator("h1").inner_text().startswith("godnb run report: look")
    assert viewer.locator("svg.godnb-timeline-svg").count() == 1
    assert viewer.locator("table.godnb-profile").count() == 1
    viewer.screenshot(path=str(shots / "report.png"), full_page=True)
    context.close()
    print(f"\nscreenshots: {shots}")
