"""Views survive save, reopen and export: a notebook executed by nbclient, its jobs awaited
in later cells, then saved, holds each godnb output's final state as text and HTML (no
widget-only output, no frozen "running"), and nbconvert's HTML shows it offline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.notebook.kernels import WIDGET_MIME, execute_notebook

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(240)]

CELLS = [
    # 0
    "import asyncio, time\nimport godnb as god\neng = god.Engine(threads=2, name='saved')\n"
    "def train(n):\n"
    "    for i in range(n):\n"
    "        print(f'epoch {i}')\n"
    "        god.progress(i + 1, total=n)\n"
    "        time.sleep(0.05)\n"
    "    return n\n"
    "def check(i):\n    time.sleep(0.02)\n    return i\n",
    "h = eng.submit(train, 12)\nh",                                  # 1: a job, live
    "g = eng.map(check, range(20))\ng",                               # 2: a group, live
    "q = eng.queue_view(rows=5)\nq",                                  # 3: the queue, busy
    "p = god.Pipeline(range(50)).map(check, workers=2)\np",          # 4: a pipeline, unrun
    "eng",                                                            # 5: the engine summary
    "%%god submit --name fit\nfor i in range(3):\n    print('step', i)\n    time.sleep(0.1)\n"
    "'fitted'",                                                       # 6: a cell job
    "await h\nawait g\nout = p.collect()\nw = %god wait\nawait w",    # 7: everything ends
    "eng.profile()",                                                  # 8: a profile table
    "hb = eng.submit(train, 3)\nhb.result()\nhb",                     # 9: ended when shown
]
GODNB_CELLS = {1: "godnb-job", 2: "godnb-group", 3: "godnb-queue", 4: "godnb-pipeline",
               5: "godnb-engine", 6: "godnb-job", 8: "<table", 9: "godnb-job"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    nbformat = pytest.importorskip("nbformat")
    nb = execute_notebook(CELLS)
    path = tmp_path_factory.mktemp("saved") / "life.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4), path


def _display(cell: Any) -> dict[str, Any]:
    shown = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")]
    assert len(shown) == 1, [o.output_type for o in cell.outputs]
    return dict(shown[0].data)


def test_every_saved_view_holds_its_final_state(saved: tuple[Any, Path]) -> None:
    nb, _ = saved
    for index, marker in GODNB_CELLS.items():
        data = _display(nb.cells[index])
        assert WIDGET_MIME not in data, f"cell {index} saved a widget view"
        assert marker in data["text/html"], f"cell {index}: {data['text/html'][:200]}"
        assert 'data-status="running"' not in data["text/html"]
        assert 'data-status="pending"' not in data["text/html"]
    job = _display(nb.cells[1])
    assert job["text/plain"].startswith("train                100% ")
    assert "12/12" in job["text/plain"]
    assert job["text/plain"].splitlines()[0].endswith("completed")
    assert 'data-status="completed"' in job["text/html"]
    assert "epoch 11" in job["text/html"] and "output: 12 lines" in job["text/plain"]
    group = _display(nb.cells[2])
    assert "20/20" in group["text/plain"] and "completed" in group["text/plain"]
    assert "no pending or running jobs" in _display(nb.cells[3])["text/html"]
    assert "finished" in _display(nb.cells[4])["text/plain"]
    assert re.search(r"completed \d+", _display(nb.cells[5])["text/plain"])
    fit = _display(nb.cells[6])
    assert fit["text/plain"].startswith("fit                  100% ")
    assert "step 2" in fit["text/html"]


def test_nbconvert_html_shows_the_final_state_offline(saved: tuple[Any, Path]) -> None:
    nbconvert = pytest.importorskip("nbconvert")
    nb, _ = saved
    body, _resources = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert body.count('class="godnb godnb-job" data-status="completed"') == 3
    assert 'class="godnb godnb-group" data-status="completed"' in body
    assert "no pending or running jobs" in body and "godnb-pipeline" in body
    assert 'data-status="running"' not in body and "epoch 11" in body
    # no widget to embed, which would render blank offline
    assert f'<script type="{WIDGET_MIME}">' not in body
