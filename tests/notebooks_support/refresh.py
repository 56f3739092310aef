"""Re-execute the tutorials and store their outputs the way nbval and readers need them.

    python tests/notebooks_support/refresh.py                  # every notebooks/*.ipynb
    python tests/notebooks_support/refresh.py notebooks/02-*.ipynb

Each notebook runs top to bottom in a fresh kernel (from the notebooks/ folder), then:

* the widget-view MIME type is dropped from every output and ``metadata.widgets`` is
  removed: without the saved widget state JupyterLab would show "Error displaying widget:
  model not found" where the output was; without the widget MIME it shows the static
  ``text/html`` fallback every godnb display carries (so does GitHub). nbval never compares
  the widget MIME type, so the check is the same;
* nbclient's per-cell timing metadata is not recorded, so a refresh changes only what the
  outputs changed.

Then check the result with ``python -m pytest notebooks`` (nbval, with
``notebooks/sanitize.cfg``), a few times in a row: a cell whose output changes between
runs must be fixed (await before showing) or marked ``# NBVAL_IGNORE_OUTPUT``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbclient
import nbformat

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"


def strip_widgets(nb: nbformat.NotebookNode) -> int:
    """Drop widget views and widget state from ``nb``; returns how many views were dropped."""
    nb.metadata.pop("widgets", None)
    dropped = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and WIDGET_MIME in data:
                del data[WIDGET_MIME]
                dropped += 1
        cell.metadata.pop("execution", None)
    return dropped


def refresh(path: Path, timeout: int = 120) -> float:
    """Execute ``path`` in place; returns its run time in seconds."""
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        store_widget_state=False, resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    strip_widgets(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="notebooks to refresh (default: notebooks/*.ipynb)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    total = 0.0
    for path in paths:
        elapsed = refresh(path.resolve(), args.timeout)
        total += elapsed
        print(f"{path.name}: {elapsed:.1f} s")
    print(f"total: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
