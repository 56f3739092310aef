"""The package's architecture rules (issue 13), checked.

* ``lint-imports`` keeps every import-linter contract of pyproject.toml (the layers, the
  execution seam, IPython only in the notebook layer, no private name across subpackages),
  and those contracts do catch a violation: a copy of the package with an upward import,
  a cross-package private import and an IPython import breaks them.
* What import-linter can not see: no layer names a higher one in a string it imports by
  (``import_module("godnb.notebook")``); no module outside godnb/models writes a model's
  ``__dict__``; the backends call nothing on their host beyond ``ExecutorHost``.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
import tomllib
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from godnb.concurrency.process_pool import StandaloneHost
from godnb.concurrency.threads import ThreadExecutor
from godnb.execution.context import progress
from godnb.execution.executor import ExecutorHost

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "godnb"
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACTS = [c["name"] for c in CONFIG["contracts"]]
#: The package layers, top first: ``"godnb.api | godnb.notebook | godnb.contrib"``, ...
LAYERS: list[str] = next(c["layers"] for c in CONFIG["contracts"] if "containers" not in c)


def lint_imports(cwd: Path, pythonpath: list[str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    return subprocess.run([exe, "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def results(output: str) -> dict[str, str]:
    """``{contract name: "KEPT" | "BROKEN"}`` from lint-imports' report."""
    return dict(re.findall(r"^(.+?) (KEPT|BROKEN)$", output, re.MULTILINE))


def inherited_pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


# -- import-linter ------------------------------------------------------------------------------

def test_lint_imports_keeps_every_contract() -> None:
    # the repository first, so the checked package is this tree's even beside an install
    proc = lint_imports(ROOT, [str(ROOT), *inherited_pythonpath()])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert results(output) == dict.fromkeys(CONTRACTS, "KEPT"), output
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in output


def test_the_contracts_catch_an_upward_a_private_and_an_ipython_import(tmp_path: Path) -> None:
    copy = tmp_path / "godnb"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # the same contracts
    # Inside functions: counted by import-linter, never run (the copy is imported to
    # find its files, and an upward import at module level would be a real cycle).
    _append(copy / "models" / "job.py",
            "def _upward() -> object:\n    import godnb.core.engine\n\n"
            "    return godnb.core.engine\n")
    _append(copy / "core" / "display.py",
            "def _peek() -> object:\n    from godnb.execution.loop import _bounded\n\n"
            "    return _bounded\n")
    _append(copy / "utils" / "naming.py",
            "def _shell() -> object:\n    import IPython\n\n    return IPython\n")
    # the copy first: it is the godnb lint-imports must see; the repository gives `tools`
    proc = lint_imports(tmp_path, [str(tmp_path), str(ROOT), *inherited_pythonpath()])
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert results(output) == {
        "Subpackages import one way, downward": "BROKEN",
        "The execution seam: the job context at its bottom": "KEPT",
        "Only the notebook layer imports IPython and ipywidgets": "BROKEN",
        "No private name is imported from another subpackage": "BROKEN",
    }, output
    assert "godnb.models.job -> godnb.core.engine" in output
    assert "godnb.core.display:" in output and "imports _bounded from godnb.execution.loop" \
        in output
    assert "godnb.utils.naming -> IPython" in output
    assert str(tmp_path) in _resolved_by_the_copy(tmp_path)


def _append(path: Path, code: str) -> None:
    path.write_text(path.read_text() + "\n\n" + code)


def _resolved_by_the_copy(tmp_path: Path) -> str:
    """Where ``godnb`` resolves with the copy first on the path (the check above is void
    if lint-imports looked at the repository's package)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    return subprocess.run([sys.executable, "-c", "import godnb; print(godnb.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_the_readme_layout_matches_the_contracts() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```")[1]
    rows = [line for line in block.strip().splitlines() if not line.startswith("godnb/")]
    drawn = [[part.split()[0] for part in row.split("|")] for row in rows]
    assert drawn == [[name.strip().removeprefix("godnb.") for name in layer.split("|")]
                     for layer in LAYERS]


# -- what import-linter can not see -------------------------------------------------------------

def _layer_of() -> dict[str, int]:
    """Subpackage (or top-level module) -> its layer, 0 = the top (pyproject's order)."""
    return {name.strip().removeprefix("godnb."): level
            for level, layer in enumerate(LAYERS) for name in layer.split("|")}


def _modules() -> list[tuple[Path, str]]:
    """Every module below the top, with its subpackage (or top-level module) name."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("__init__.py", "__main__.py"):
            continue  # the top: it wires the layers together
        out.append((path, rel.parts[0].removesuffix(".py")))
    return out


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are not docstrings, nor logger names."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith(
                ("getLogger", "get_logger")):
            skip.update(id(a) for a in node.args)
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in skip]


def test_no_layer_names_a_higher_package_in_a_string() -> None:
    level = _layer_of()
    found = []
    for path, sub in _modules():
        for node in _code_strings(ast.parse(path.read_text(), str(path))):
            m = re.fullmatch(r"godnb\.(\w+)(\.\w+)*(:\w+)?", node.value)
            if m and m.group(1) in level and level[m.group(1)] < level[sub] and \
                    importlib.util.find_spec(node.value.partition(":")[0]) is not None:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
    assert found == [], "a lower layer names a higher one (godnb/__init__ wires them):\n" + \
        "\n".join(found)


_MUTATORS = frozenset({"update", "setdefault", "pop", "popitem", "clear", "__setitem__",
                       "__delitem__"})


def _dict_writes(tree: ast.AST) -> list[int]:
    """Lines that write through ``x.__dict__`` (directly, or through a local alias)."""
    lines = []
    for scope in [tree, *(n for n in ast.walk(tree)
                           if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]:
        aliases = {t.id for n in ast.walk(scope) if isinstance(n, ast.Assign)
                   and isinstance(n.value, ast.Attribute) and n.value.attr == "__dict__"
                   for t in n.targets if isinstance(t, ast.Name)}
        lines += [n.lineno for n in ast.walk(scope) if _writes_dict(n, aliases)]
    return sorted(set(lines))


def _writes_dict(node: ast.AST, aliases: set[str]) -> bool:
    def is_dict(n: ast.AST) -> bool:
        return (isinstance(n, ast.Attribute) and n.attr == "__dict__") or \
            (isinstance(n, ast.Name) and n.id in aliases)

    if isinstance(node, ast.Subscript):
        return isinstance(node.ctx, ast.Store | ast.Del) and is_dict(node.value)
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
        node.func.attr in _MUTATORS and is_dict(node.func.value)


def test_only_the_models_write_a_models_dict() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}"
             for path, sub in _modules() if sub != "models"
             for line in _dict_writes(ast.parse(path.read_text(), str(path)))]
    assert found == [], ("state changes go through the model's methods (Job.start_attempt, "
                         "end, report, ...), not __dict__ writes:\n" + "\n".join(found))


def test_the_dict_write_finder_finds_writes() -> None:
    # the guard above would pass vacuously if this finder found nothing
    code = ("def f(job):\n    job.__dict__['status'] = 1\n    state = job.__dict__\n"
            "    state['error'] = None\n    state.update(a=1)\n    return state['x']\n")
    assert _dict_writes(ast.parse(code)) == [2, 4, 5]
    assert _dict_writes(ast.parse((PACKAGE / "models" / "job.py").read_text()))


# -- the executor host protocol -----------------------------------------------------------------

HOST_MEMBERS = frozenset({*(n for n in vars(ExecutorHost) if not n.startswith("_")),
                          *ExecutorHost.__annotations__})


class ExactHost:
    """A StandaloneHost seen through ExecutorHost only: any other name is an AttributeError."""

    def __init__(self, inner: StandaloneHost) -> None:
        object.__setattr__(self, "_inner", inner)

    def __getattr__(self, name: str) -> Any:
        if name not in HOST_MEMBERS:
            raise AttributeError(f"{name!r} is not part of ExecutorHost")
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in HOST_MEMBERS:
            raise AttributeError(f"{name!r} is not part of ExecutorHost")
        setattr(self._inner, name, value)


def test_the_host_protocol_declares_what_the_backends_call() -> None:
    assert {"next_run", "next_runs", "give_back", "outranked", "finish", "progress",
            "wake_workers", "queued", "loop", "closing", "submitter_waiting"} <= HOST_MEMBERS
    host = StandaloneHost(ThreadExecutor(1))
    try:
        assert all(hasattr(type(host), m) or hasattr(host, m) for m in HOST_MEMBERS)
    finally:
        host.shutdown()


def test_the_thread_backend_runs_on_a_host_that_is_exactly_an_executor_host(
        caplog: pytest.LogCaptureFixture) -> None:
    reports: list[tuple[float, float | None]] = []
    executor = ThreadExecutor(2)
    inner = StandaloneHost(executor, on_progress=lambda f, d, t, m: reports.append((d, t)))
    executor.start(ExactHost(inner))  # the workers see nothing but the protocol

    def report(n: int) -> int:
        progress(n, total=n)
        return n

    def fail() -> None:
        raise ValueError("expected")

    with caplog.at_level("ERROR"):
        try:
            # fast jobs first: the workers switch to taking batches (next_runs, outranked)
            fast: list[Future[Any]] = [inner.submit(abs, -i) for i in range(300)]
            assert [f.result(timeout=30) for f in fast] == list(range(300))
            assert inner.submit(report, 3).result(timeout=30) == 3
            with pytest.raises(ValueError, match="expected"):
                inner.submit(fail).result(timeout=30)
            assert inner.submit(threading.current_thread).result(timeout=30).name.startswith(
                "godnb-thread")
        finally:
            inner.shutdown()
    assert reports == [(3.0, 3.0)]
    assert "AttributeError" not in caplog.text, caplog.text
