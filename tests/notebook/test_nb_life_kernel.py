"""Everyday notebook life in a real kernel: each job's output is its own, re-runs replace,
the magics drive the user's engine, cells are labelled right, tracebacks show the user's
code, and interrupts can cancel what a cell waited for."""

from __future__ import annotations

import json
import time

import pytest

from tests.notebook.kernels import (
    WIDGET_MIME,
    error_text,
    everything,
    execute_notebook,
    kernel,
    stream_text,
)

pytestmark = [pytest.mark.kernel, pytest.mark.timeout(240)]

SETUP = """\
import asyncio, logging, sys, time
import godnb as god
eng = god.Engine(threads=2, processes=1, name="mine")

def chatty(n, tag="line"):
    for i in range(n):
        print(f"{tag} {i}")
        time.sleep(0.002)
    return n

async def achatty(n):
    for i in range(n):
        print(f"async {i}")
        await asyncio.sleep(0.002)
    return n

logging.basicConfig(format="%(levelname)s %(message)s")
log = logging.getLogger("nb")

def noisy():
    log.warning("a record from inside the job")
    print("to stderr", file=sys.stderr)
    return 1
"""


def test_each_jobs_output_stays_with_the_job() -> None:
    nb = execute_notebook([
        SETUP,
        "h = eng.submit(chatty, 200)",
        "await asyncio.sleep(1)",
        "hp = eng.submit(chatty, 200, 'proc', backend='process')\n"
        "ha = eng.submit(achatty, 200)\nhn = eng.submit(noisy)",
        "await asyncio.sleep(1.5)",
        "import json\nprint(json.dumps({k: v.output_text() for k, v in "
        "dict(h=h, hp=hp, ha=ha, hn=hn).items()}))",
        "print('plain cell output still shows')",
    ])
    for i in (1, 2, 3, 4):
        text = everything(nb.cells[i])
        assert "line " not in text and "proc " not in text and "async " not in text, \
            f"cell {i} got a job's output: {text[:300]}"
        assert "a record from inside" not in text and "to stderr" not in text
    texts = json.loads(stream_text(nb.cells[5], "stdout"))
    assert texts["h"].splitlines() == [f"line {i}" for i in range(200)]
    assert texts["hp"].splitlines() == [f"proc {i}" for i in range(200)]
    assert texts["ha"].splitlines() == [f"async {i}" for i in range(200)]
    assert texts["hn"] == "WARNING a record from inside the job\nto stderr\n"
    assert stream_text(nb.cells[6]) == "plain cell output still shows\n"


def test_reruns_with_a_key_replace_the_earlier_job() -> None:
    nb = execute_notebook([
        SETUP,
        "%%god submit --key train --name fit\ntime.sleep(30)\n'first'",
        "first = _\n",
        "%%god submit --key train --name fit\n'second'",
        "second = _\nawait second\n"
        "print(first.status.value, '|', first.exception())\n"
        "print(second.result(), second.key)",
    ])
    out = stream_text(nb.cells[4], "stdout").splitlines()
    assert out[0].startswith("cancelled | job ") and "(fit) was cancelled: replaced by job" \
        in out[0] and out[0].endswith("(key 'train')")
    assert out[1] == "second train"


def test_the_magics_drive_the_users_engine_and_cells_are_labelled() -> None:
    nb = execute_notebook([
        SETUP,                                              # In[1]
        "%god status",                                      # In[2]
        "%%god submit\nprint('hello')\n40 + 2",             # In[3]
        "fit = _\nw = %god wait\nawait w\n"
        "print(fit.name, fit.cell, fit.result(), fit.output_text().strip())",   # In[4]
        "hs = [eng.submit(time.sleep, 5) for _ in range(3)]\n"
        "q = eng.queue_view()\nprint(q.text())",           # In[5]
        "%%god submit --name broken\nx = 1\ny = {}['id']",  # In[6]
        "w = %god wait broken\nawait w",                     # In[7]
        "for h in hs:\n    h.cancel()",
    ], allow_errors=True)
    status = nb.cells[1].outputs[0].data["text/plain"]
    assert status.startswith("engine         mine")  # not a new, empty "default" engine
    assert stream_text(nb.cells[3], "stdout").split() == ["cell-3", "3", "42", "hello"]
    queue = stream_text(nb.cells[4], "stdout")
    assert "cell" in queue.splitlines()[1].split() and queue.count("In[5]") == 3
    tb = error_text(nb.cells[6])
    assert "Cell In[6], line 3" in tb and "y = {}['id']" in tb  # the cell's own line


def test_a_cell_id_sent_by_the_front_end_is_recorded() -> None:
    with kernel() as k:
        assert not k.run("import godnb as god\neng = god.Engine(threads=1)").errors
        reply = k.run("h = eng.submit(abs, -1)\nprint(h.cell, h.cell_id)",
                      metadata={"cellId": "7f3a-cell"})
        assert not reply.errors
        number, cell_id = reply.stdout.split()
        assert int(number) == 2 and cell_id == "7f3a-cell"
        assert k.run("print(eng.submit(abs, -1).cell_id)").stdout == "None\n"


def test_tracebacks_show_the_users_code_not_godnbs() -> None:
    nb = execute_notebook([
        SETUP + "\ndef parse(rec):\n    return rec['id']\n\n"
        "def work(recs):\n    return [parse(r) for r in recs]\n",
        "h = eng.submit(work, [{'x': 1}])\nh.result()",
        "hp = eng.submit(work, [{'x': 1}], backend='process')\nhp.result()",
        "ha = eng.submit(work, [{'x': 1}])\nawait ha",
    ], allow_errors=True)
    for i in (1, 2, 3):
        tb = error_text(nb.cells[i])
        assert "return rec['id']" in tb and "return [parse(r) for r in recs]" in tb, tb
        assert "KeyError: 'id'" in tb and "JobFailed" in tb
        # No godnb frame between the call and the user's function; the raise site of
        # JobFailed (handles.py, _value) is the one IPython always shows.
        for internal in ("threads.py", "executor.py", "runtime.py", "processes.py",
                         "async_tasks.py", "in result", "in wait", "_wait_async"):
            assert internal not in tb, f"{internal} in cell {i}'s traceback:\n{tb}"
    remote = error_text(nb.cells[2])
    assert "RemoteTraceback" in remote
    assert "Cell In[1], line" in remote and "ipykernel_" not in remote  # labelled as IPython


def test_an_interrupt_cancels_the_waited_job_only_when_asked() -> None:
    with kernel() as k:
        assert not k.run(SETUP + "\ndef slow():\n    while not god.cancelled():\n"
                         "        time.sleep(0.02)\n    return 'stopped'\n").errors

        def interrupt_soon() -> None:
            time.sleep(1.0)
            k.km.interrupt_kernel()

        reply = k.run("h1 = eng.submit(slow)\nh1.result(cancel_on_interrupt=True)",
                      then=interrupt_soon)
        assert reply.errors == ["KeyboardInterrupt"]
        reply = k.run("h2 = eng.submit(slow)\nh2.result()", then=interrupt_soon)
        assert reply.errors == ["KeyboardInterrupt"]
        reply = k.run("h3 = eng.submit(slow)\nawait h3.result_async(cancel_on_interrupt=True)",
                      then=interrupt_soon)
        assert reply.errors == ["CancelledError"]
        assert k.run("await asyncio.sleep(0.3)\nprint(h1.status.value, h2.status.value, "
                     "h3.status.value)").stdout == "cancelled running cancelled\n"
        assert k.run("print(h2.cancel())").stdout == "True\n"


def test_a_widget_view_is_shown_under_a_display_id() -> None:
    nb = execute_notebook([SETUP, "hs = eng.submit(time.sleep, 30)\nhs"])
    shown = nb.cells[1].outputs
    assert [o.output_type for o in shown] == ["display_data"]  # not an execute_result
    assert WIDGET_MIME in shown[0].data  # still running when the notebook ended
