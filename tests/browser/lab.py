"""What every browser test needs: a JupyterLab server on a folder, a headless Chromium page.

The tests (test_lab, test_lab_saved, test_look) differ in the notebooks they serve and in
what they check; starting Lab, waiting for it and stopping it, and launching the system's
Chromium (not a playwright download) are the same for all of them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# User settings for this run only: no news or update toasts over the page, and every cell
# attached to the DOM (the default windowing may leave off-screen outputs unrendered).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
        '{"fetchNews": "false", "checkForUpdates": false}',
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
        '{"windowingMode": "none"}',
}
READY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return bytes(response.read())


def write_settings(settings_dir: Path) -> None:
    for name, text in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@contextmanager
def serve_lab(root: Path, state: Path, log_path: Path,
              env: Mapping[str, str] | None = None) -> Iterator[str]:
    """JupyterLab serving ``root`` (its settings, runtime and workspaces under ``state``);
    yields its base URL once it answers, and stops it (and its kernels) afterwards."""
    pytest.importorskip("jupyterlab", reason="jupyterlab is not installed")
    write_settings(state / "settings")
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", "--allow-root", "--IdentityProvider.token=",
           "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           f"--LabApp.user_settings_dir={state / 'settings'}",
           f"--LabApp.workspaces_dir={state / 'workspaces'}"]
    full_env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(state / "runtime"), **(env or {})}
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                cwd=root)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n"
                        f"{log_path.read_text()[-3000:]}")
        try:
            get(f"{base}/api/status")
        except OSError:
            return False
        return True

    try:
        wait_until(answers, READY_SECONDS,
                   lambda: f"jupyter lab to answer:\n{log_path.read_text()[-3000:]}",
                   interval=0.2)
        yield base
    finally:
        proc.terminate()  # SIGTERM: the server shuts its kernels down, then exits
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def chromium_page(width: int = 1280, height: int = 1100) -> Iterator[Any]:
    """A headless Chromium page (the system browser), 30 s default timeout."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            yield page
        finally:
            browser.close()
