"""A saved notebook reopened in JupyterLab (headless Chromium) shows godnb's final views.

A notebook is executed by nbclient (its jobs awaited in a later cell), saved, and signed
(trusted, as a notebook the user saved in Lab is: Lab then prefers the widget MIME type
over HTML). It is opened in JupyterLab and *not* run. Every godnb output must show its
final state as HTML: completed bars, counts, tables, the job's log panel; no "Error
displaying widget: model not found". A control notebook whose output keeps a widget view
without widget state shows what happens otherwise: that very error. Screenshots of both go
to the test's tmp dir (the path is printed).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import chromium_page, serve_lab
from tests.notebook.kernels import WIDGET_MIME, execute_notebook

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.timeout(300)]

CELLS = [
    "import asyncio, time\nimport godnb as god\neng = god.Engine(threads=2, name='lab')\n"
    "def train(n):\n"
    "    for i in range(n):\n"
    "        print(f'epoch {i} loss {1 / (i + 1):.3f}')\n"
    "        god.progress(i + 1, total=n)\n"
    "        time.sleep(0.03)\n"
    "    return n\n",
    "h = eng.submit(train, 30)\nh",
    "g = eng.map(train, [3, 4, 5])\ng",
    "q = eng.queue_view(rows=4)\nq",
    "await h\nawait g\nawait eng.wait_async()",
    "eng.profile()",
]
MODEL_NOT_FOUND = "model not found"


def _control_notebook(path: Path) -> None:
    """One output with a widget view whose model no kernel knows, plus its HTML."""
    nbformat = pytest.importorskip("nbformat")
    cell = nbformat.v4.new_code_cell("w")
    cell.execution_count = 1
    cell.outputs = [nbformat.v4.new_output(
        "display_data",
        data={WIDGET_MIME: {"model_id": "0123456789abcdef0123456789abcdef",
                            "version_major": 2, "version_minor": 0},
              "text/html": "<b>the html fallback</b>", "text/plain": "fallback"})]
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def saved_root(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    nbformat = pytest.importorskip("nbformat")
    sign = pytest.importorskip("nbformat.sign")
    root, data = tmp_path / "root", tmp_path / "data"
    root.mkdir()
    data.mkdir()
    nb = execute_notebook(CELLS)
    nbformat.write(nb, root / "life.ipynb")
    _control_notebook(root / "control.ipynb")
    notary = sign.NotebookNotary(data_dir=str(data))
    for name in ("life.ipynb", "control.ipynb"):
        saved = nbformat.read(root / name, as_version=4)
        notary.sign(saved)
        assert notary.check_signature(saved)
    yield root, data


@pytest.fixture
def lab(tmp_path: Path, saved_root: tuple[Path, Path]) -> Iterator[str]:
    root, data = saved_root
    # JUPYTER_DATA_DIR: where the notebooks were signed, so Lab trusts them
    with serve_lab(root, tmp_path / "state", tmp_path / "lab.log",
                   env={"JUPYTER_DATA_DIR": str(data)}) as base:
        yield base


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium_page(height=1400) as pg:
        yield pg


def _open(page: Any, url: str, ready: str) -> None:
    last: Exception | None = None
    for _ in range(3):
        try:
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_selector(ready, timeout=60_000)
            return
        except Exception as e:  # a slow first load: try again
            last = e
    raise AssertionError(f"{url} did not render {ready}: {last}")


def _outputs_text(page: Any) -> str:
    return "\n".join(page.locator(".jp-OutputArea-output").all_inner_texts())


def test_a_saved_notebook_reopened_in_lab_shows_final_views(lab: str, page: Any,
                                                            tmp_path: Path) -> None:
    # The control first: a widget view without its state is what Lab cannot show.
    _open(page, f"{lab}/lab/tree/control.ipynb?reset", ".jp-OutputArea-output")
    page.wait_for_function(
        "() => document.body.innerText.includes('Error displaying widget')", timeout=30_000)
    page.screenshot(path=str(tmp_path / "lab-control-widget-without-state.png"))
    assert MODEL_NOT_FOUND in _outputs_text(page)

    _open(page, f"{lab}/lab/tree/life.ipynb?reset", ".godnb-job")
    page.wait_for_selector(".godnb-queue", timeout=30_000)
    time.sleep(1.0)  # let every output area settle before reading and shooting
    text = _outputs_text(page)
    page.locator(".godnb-job").first.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "lab-saved-views.png"), full_page=True)
    print(f"\nscreenshots: {tmp_path}")
    assert MODEL_NOT_FOUND not in text and "Error displaying widget" not in text
    assert page.locator(".jp-OutputArea-output .jupyter-widgets").count() == 0
    job = page.locator('.godnb-job[data-status="completed"]')
    assert job.count() == 1 and "30/30" in job.inner_text()
    assert "epoch 29 loss" in page.locator(".godnb-log").inner_text()
    assert page.locator('.godnb-group[data-status="completed"]').count() == 1
    assert "3/3" in text  # the group of three jobs ended
    assert "no pending or running jobs" in page.locator(".godnb-queue").inner_text()
    assert page.locator('[data-status="running"]').count() == 0
