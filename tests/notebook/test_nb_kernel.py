"""In a real kernel (nbclient), and the import-weight guarantee in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# Until ``import godnb`` registers %god by itself in a kernel, the notebooks ask for it;
# afterwards this line is a no-op (the extension is already marked loaded).
SETUP = ("import godnb as god\nfrom godnb.notebook import register_in_kernel\n"
         "_ = register_in_kernel()")


def test_import_godnb_does_not_import_ipython_or_ipywidgets() -> None:
    code = ("import sys, godnb, godnb.notebook\n"
            "with godnb.Engine(threads=1) as eng:\n"
            "    assert eng.submit(abs, -3).result() == 3\n"
            "    repr(eng.submit(abs, -1)); eng.map(abs, [1, 2]).results()\n"
            "heavy = ('IPython', 'ipywidgets', 'ipykernel')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def run_notebook(sources: list[str], timeout: int = 120) -> list[Any]:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3").execute()
    return list(nb.cells)


def stream_text(cell: Any, name: str | None = None) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and name in (None, o.get("name")))


@pytest.mark.kernel
@pytest.mark.timeout(180)
def test_submit_a_cell_then_await_it_in_a_real_kernel() -> None:
    cells = run_notebook([
        SETUP,
        "%%god submit --name answer\nprint('hello from the job')\n40 + 2",
        "print('next cell')",
        "w = %god wait",
        "await w",
        # A live view of the job (the cell's own was replaced by its final state).
        "import json\nfrom godnb.notebook.widgets import JobView\n"
        "h = Out[2]\nv = JobView(h)\n"
        "print(json.dumps({'result': h.result(), 'status': h.status.value,\n"
        "    'bar_style': v.bar.bar_style, 'log': v.log_panel.box.value,\n"
        "    'text': h.output_text()}))\nv.close()",
    ])
    submit = cells[1]
    assert [o.output_type for o in submit.outputs] == ["display_data"]  # under a display id
    data = submit.outputs[0].data
    assert WIDGET_MIME not in data  # rewritten with its final state once the job ended
    assert data["text/plain"].startswith("answer ") and "100%" in data["text/plain"]
    assert 'class="godnb godnb-job" data-status="completed"' in data["text/html"]
    assert "hello from the job" in data["text/html"]  # in its log panel
    assert stream_text(cells[2]) == "next cell\n"  # the job's print did not land here
    assert cells[3].outputs == [] and cells[4].outputs == []
    facts = json.loads(stream_text(cells[5], "stdout"))
    assert facts["result"] == 42 and facts["status"] == "completed"
    assert facts["bar_style"] == "success" and facts["text"] == "hello from the job\n"
    assert "hello from the job" in facts["log"]
    everything = "".join(stream_text(c) for c in cells[:5])
    assert "hello from the job" not in everything


@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_100k_jobs_with_group_bar_and_queue_view_send_few_comm_messages() -> None:
    # Counted kernel-side: every widget message goes through the kernel Comm class's
    # publish_msg (ipykernel's Comm), so wrapping it counts exactly what the kernel sent,
    # including messages sent after a cell ended, which nbclient would drop.
    started = time.perf_counter()
    cells = run_notebook([
        SETUP + "\nimport asyncio, time, ipywidgets\ncounts = {}\n"
        "probe = ipywidgets.IntProgress()\nCommClass = type(probe.comm)\n"
        "_publish = CommClass.publish_msg\n"
        "def _counting(self, msg_type, *args, **kwargs):\n"
        "    counts[msg_type] = counts.get(msg_type, 0) + 1\n"
        "    return _publish(self, msg_type, *args, **kwargs)\n"
        "CommClass.publish_msg = _counting\nprobe.close()\n"
        "def noop(x):\n    return x",
        "counts.clear()\nt0 = time.perf_counter()\neng = god.Engine(threads=2)\n"
        "g = eng.map(noop, range(100_000))\ndisplay(g)\nq = eng.queue_view()\ndisplay(q)\n"
        "import warnings\nfrom godnb.notebook.widgets import GroupView\n"
        "with warnings.catch_warnings():  # Widget.widgets is deprecated, not gone\n"
        "    warnings.simplefilter('ignore', DeprecationWarning)\n"
        "    gv = [x for x in ipywidgets.Widget.widgets.values()\n"
        "          if isinstance(x, GroupView)][0]",
        "results = await g",
        "await asyncio.sleep(0.6)\nelapsed = time.perf_counter() - t0\n"
        "import json\n"
        "print(json.dumps({'comm_msg': counts.get('comm_msg', 0),\n"
        "    'comm_open': counts.get('comm_open', 0), 'elapsed': elapsed,\n"
        "    'results': len(results), 'bar': gv.segments,\n"
        "    'queue': q.table.value, 'rows': q.row_ids}))\neng.shutdown()",
    ], timeout=240)
    shown = cells[1].outputs
    assert [o.output_type for o in shown] == ["display_data", "display_data"]
    # Both were live while the jobs ran; once they ended, each output was rewritten with
    # its final state, without the widget (what a saved notebook then shows).
    assert not any(WIDGET_MIME in o.data for o in shown)
    assert shown[0].data["text/plain"].startswith("noop ") and "100%" in shown[0].data["text/plain"]
    assert "no pending or running jobs" in shown[1].data["text/html"]
    facts = json.loads(stream_text(cells[3], "stdout"))
    print(f"\n100k jobs, group bar + queue view: {facts['comm_msg']} comm_msg "
          f"(+{facts['comm_open']} comm_open) over {facts['elapsed']:.1f} s in the kernel; "
          f"test took {time.perf_counter() - started:.1f} s")
    assert facts["results"] == 100_000
    assert facts["bar"] == {"completed": [1.0, 100_000]}  # the final state was flushed
    assert "completed 100,000" in facts["queue"] and facts["rows"] == []
    # <= 10 redraws/s of the group's two widgets, <= 4/s of the queue's table, + setup.
    assert facts["comm_msg"] <= 25 * facts["elapsed"] + 100
    assert facts["comm_msg"] < 1000  # versus ~100,000 unthrottled
