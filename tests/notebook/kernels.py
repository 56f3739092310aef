"""Driving real Jupyter kernels from tests: a whole notebook through nbclient, or single
requests through jupyter_client (execute metadata such as a cell id, interrupts)."""

from __future__ import annotations

import queue
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute_notebook(sources: list[str], timeout: int = 120, allow_errors: bool = False,
                     store_widget_state: bool = True) -> Any:
    """A new notebook of ``sources`` executed in a fresh kernel; returns the notebook."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbclient.NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            allow_errors=allow_errors,
                            store_widget_state=store_widget_state).execute()
    return nb


def stream_text(cell: Any, name: str | None = None) -> str:
    return "".join(o.get("text", "") for o in cell.outputs
                   if o.output_type == "stream" and name in (None, o.get("name")))


def error_text(cell: Any) -> str:
    """The traceback a cell's error output shows, without colour codes."""
    return "\n".join(_ANSI.sub("", line) for o in cell.outputs if o.output_type == "error"
                     for line in o.traceback)


def everything(cell: Any) -> str:
    """Every text a cell's outputs carry (streams, text/plain, text/html, tracebacks)."""
    parts = [stream_text(cell), error_text(cell)]
    for o in cell.outputs:
        for mime in ("text/plain", "text/html"):
            parts.append(str(o.get("data", {}).get(mime, "")))
    return "\n".join(parts)


@dataclass
class Reply:
    stdout: str = ""
    errors: list[str] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)


class Kernel:
    """One kernel driven request by request (for what nbclient can not send)."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km = km
        self.kc = kc

    def run(self, code: str, metadata: dict[str, Any] | None = None,
            then: Callable[[], Any] | None = None, timeout: float = 60) -> Reply:
        """Execute ``code`` (with execute-request ``metadata``); call ``then()`` right after
        sending (e.g. an interrupt); collect this request's outputs until idle."""
        content = {"code": code, "silent": False, "store_history": True,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata or {})
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        if then is not None:
            then()
        reply = Reply()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                m = self.kc.get_iopub_msg(timeout=1)
            except queue.Empty:
                continue
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            kind, body = m["msg_type"], m["content"]
            if kind == "stream":
                reply.stdout += body["text"]
            elif kind == "error":
                reply.errors.append(body["ename"])
            elif kind in ("display_data", "execute_result"):
                reply.outputs.append(body)
            elif kind == "status" and body["execution_state"] == "idle":
                return reply
        raise AssertionError(f"no idle status within {timeout} s for {code!r}")


@contextmanager
def kernel() -> Iterator[Kernel]:
    manager = pytest.importorskip("jupyter_client.manager")
    km, kc = manager.start_new_kernel(kernel_name="python3")
    try:
        yield Kernel(km, kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
