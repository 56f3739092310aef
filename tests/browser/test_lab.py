"""The quickstart in a real JupyterLab, driven by headless Chromium through playwright.

Starts ``jupyter lab`` on a free port of 127.0.0.1 in a temporary root holding a copy of
``notebooks/01-quickstart.ipynb`` (outputs cleared, so everything checked was drawn by this
run), opens it, runs every cell from the Run menu, and checks what a user would see: the
job's live progress bar and the live queue view with its cancel buttons rendered while the
jobs ran (seen by a MutationObserver), and once they ended each output was rewritten in
place with its final state (a green bar at 25/25, an empty queue) after its cell had
returned (updates from the kernel reach the page); the failed job's bar is red.
Screenshots go to ``tests/browser/screenshots/``.

Needs Debian's ``chromium`` at /usr/bin/chromium and the ``playwright`` Python package
(never ``playwright install``: the system browser is used); skipped without them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import chromium_page, get, serve_lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01-quickstart.ipynb"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
JOB_CELL = "h = eng.submit(train, 25)"   # the cell whose bar must go live to green
QUEUE_CELL = "jobs = [eng.submit(train"  # the live queue view, shown while jobs run
ALL_RUN_JS = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
    return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""
KERNEL_IDLE = ".jp-Notebook-ExecutionIndicator[data-status='idle']"
# Records whether the job cell ever showed a live progress bar and the queue cell live
# cancel buttons (they are replaced by the final HTML once the jobs end).
WATCH_LIVE_JS = """([jobSrc, queueSrc]) => {
    window.__godnbSeen = {bar: false, buttons: false};
    const cell = (src) => [...document.querySelectorAll('.jp-CodeCell')]
        .find(c => c.innerText.includes(src));
    const look = () => {
        const job = cell(jobSrc), queue = cell(queueSrc);
        if (job && job.querySelector('.widget-hprogress')) window.__godnbSeen.bar = true;
        if (queue && queue.querySelector('.widget-button')) window.__godnbSeen.buttons = true;
    };
    new MutationObserver(look).observe(document.body, {childList: true, subtree: true});
}"""
# True once the cell holding ``src`` shows ``selector`` containing ``text``, and no widget.
FINAL_JS = """([src, selector, text]) => {
    const cell = [...document.querySelectorAll('.jp-CodeCell')]
        .find(c => c.innerText.includes(src));
    const el = cell && cell.querySelector(selector);
    return !!el && el.innerText.includes(text) && !cell.querySelector('.jupyter-widgets');
}"""


def _copy_notebook_without_outputs(dest: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, dest / NOTEBOOK.name)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab server serving a temporary root; yields its base URL."""
    root = tmp_path / "root"
    root.mkdir()
    _copy_notebook_without_outputs(root)
    with serve_lab(root, tmp_path / "state", tmp_path / "lab.log") as base:
        yield base


@pytest.fixture
def page() -> Iterator[Any]:
    """A headless Chromium page (the system browser, not a playwright download)."""
    with chromium_page() as pg:
        yield pg


def _open_notebook(page: Any, url: str) -> None:
    """Open the notebook and wait for its kernel; retried, the first load can be slow."""
    last: Exception | None = None
    for _ in range(3):
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=60_000)
            page.wait_for_selector(KERNEL_IDLE, timeout=60_000)
            return
        except Exception as e:  # a timeout or a navigation error: load it again
            last = e
    raise AssertionError(f"the notebook did not open with an idle kernel: {last}")


def _kernel_ready(base: str) -> bool:
    import json

    kernels = json.loads(get(f"{base}/api/kernels"))
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def _run_all(page: Any) -> None:
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")


def _wait_all_run(page: Any, timeout: float) -> bool:
    """True once every code cell has run; False if the kernel sat idle with cells unrun."""
    deadline = time.monotonic() + timeout
    idle_since: float | None = None
    while time.monotonic() < deadline:
        if page.evaluate(ALL_RUN_JS):
            return True
        now = time.monotonic()
        if page.locator(KERNEL_IDLE).count():
            idle_since = idle_since or now
            if now - idle_since > 8:
                return False
        else:
            idle_since = None
        time.sleep(0.25)
    return False


def _errors(page: Any) -> str:
    texts = page.locator(".jp-OutputArea-output[data-mime-type="
                         "'application/vnd.jupyter.stderr']").all_inner_texts()
    return "\n".join(texts)[-3000:]


def _cell(page: Any, source: str) -> Any:
    cell = page.locator(".jp-CodeCell", has_text=source).first
    assert cell.count() == 1, f"no code cell containing {source!r}"
    return cell


def test_quickstart_runs_in_jupyterlab_with_live_widgets(lab: str, page: Any) -> None:
    start = time.monotonic()
    _open_notebook(page, f"{lab}/lab/tree/{NOTEBOOK.name}?reset")
    deadline = time.monotonic() + 30
    while not _kernel_ready(lab) and time.monotonic() < deadline:
        time.sleep(0.2)

    page.evaluate(WATCH_LIVE_JS, [JOB_CELL, QUEUE_CELL])
    for _attempt in range(2):  # a Run All sent while the kernel was settling may stall
        _run_all(page)
        if _wait_all_run(page, timeout=120):
            break
    else:
        raise AssertionError(f"Run All did not run every cell; errors:\n{_errors(page)}")
    page.wait_for_selector(KERNEL_IDLE, timeout=60_000)

    # While the jobs ran, the job's bar and the queue's cancel buttons were live widgets.
    seen = page.evaluate("() => window.__godnbSeen")
    assert seen["bar"], "the job's live progress bar never rendered"
    assert seen["buttons"], "the live queue view's cancel buttons never rendered"
    # Once they ended, each output was rewritten with its final state, without a widget.
    page.wait_for_function(FINAL_JS, arg=[JOB_CELL, '.godnb-job[data-status="completed"]',
                                          "25/25"], timeout=20_000)
    page.wait_for_function(FINAL_JS, arg=[QUEUE_CELL, ".godnb-queue",
                                          "no pending or running jobs"], timeout=20_000)
    assert "queue quickstart:" in _cell(page, QUEUE_CELL).locator(".godnb-queue").inner_text()
    red = page.locator('.godnb-job[data-status="failed"]')
    assert red.count() == 1, "the failed job's bar is not red"

    SCREENSHOTS.mkdir(exist_ok=True)
    _cell(page, JOB_CELL).scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "lab-quickstart-job.png"))
    _cell(page, QUEUE_CELL).scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "lab-quickstart-queue.png"))
    print(f"\nJupyterLab round trip: {time.monotonic() - start:.1f} s; screenshots in "
          f"{SCREENSHOTS}")
