"""The plugin registry: registration by subclassing, listing with sources, lookups by name,
entry points, and broken plugins that are reported without breaking ``import godnb``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import godnb as god
from godnb import registry
from godnb.core.executor import Executor, create_executor, executor_names
from godnb.registry import Plugin, PluginInfo, get_plugin, plugin_names


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Restore the registry afterwards: these tests register throwaway plugins."""
    registry.load_entry_points()  # the real ones first, so a test can reload on purpose
    saved = dict(registry._registry)
    yield
    with registry._lock:
        registry._registry.clear()
        registry._registry.update(saved)
    registry._entry_points_loaded = True


class _FakeEntryPoint:
    """Quacks like importlib.metadata.EntryPoint; ``load`` returns or raises ``target``."""

    def __init__(self, name: str, value: str, target: Any) -> None:
        self.name = name
        self.value = value
        self.group = registry.ENTRY_POINT_GROUP
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, BaseException):
            raise self._target
        return self._target


def _fake_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: _FakeEntryPoint) -> None:
    def entry_points(**params: Any) -> list[_FakeEntryPoint]:
        assert params == {"group": registry.ENTRY_POINT_GROUP}
        return list(eps)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._entry_points_loaded = False  # load again, through the fake


def test_subclassing_registers_with_kind_name_and_source(clean_registry: None) -> None:
    class Shouty(Executor, name="shouty-test"):
        pass

    assert get_plugin("executor", "shouty-test") is Shouty
    info = next(p for p in god.plugins("executor") if p.name == "shouty-test")
    assert info == PluginInfo("executor", "shouty-test", Shouty,
                              f"{__name__}.{Shouty.__qualname__}")
    assert info.ok
    assert "shouty-test" in executor_names()
    assert isinstance(create_executor("shouty-test"), Shouty)
    assert Shouty.plugin_kind == "executor"


def test_a_new_kind_of_plugin(clean_registry: None) -> None:
    class Widget(Plugin, kind="widget-test"):
        pass

    class Knob(Widget, name="knob"):
        pass

    class Dial(Widget, name="dial"):
        pass

    assert [p.name for p in god.plugins("widget-test")] == ["dial", "knob"]
    assert plugin_names("widget-test") == ["dial", "knob"]
    assert get_plugin("widget-test", "knob") is Knob
    assert Widget.plugin_name == ""  # the family base itself is not registered


def test_a_name_without_a_kind_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a named plugin needs a kind"):
        class Orphan(Plugin, name="orphan"):
            pass


def test_listing_covers_every_builtin_and_is_sorted() -> None:
    listed = god.plugins()
    assert listed == sorted(listed, key=lambda p: (p.kind, p.name))
    names = {(p.kind, p.name) for p in listed}
    for kind, name in [("executor", "thread"), ("executor", "process"), ("executor", "async"),
                       ("executor", "inline"), ("executor", "dask"), ("store", "sqlite"),
                       ("store", "shelve"), ("store", "memory")]:
        assert (kind, name) in names
    thread = next(p for p in listed if p.name == "thread" and p.kind == "executor")
    assert thread.source == "godnb.concurrency.threads.ThreadExecutor"


def test_the_dask_entry_point_is_listed_with_its_source() -> None:
    dask = next(p for p in god.plugins("executor") if p.name == "dask")
    assert dask.ok
    assert dask.source in ("entry point godnb.contrib.dask:DaskExecutor",
                           "godnb.contrib.dask.DaskExecutor")
    assert dask.cls is not None and dask.cls.__name__ == "DaskExecutor"


def test_unknown_name_is_a_value_error_listing_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown executor 'nope'; valid names: .*'async'.*"
                                         r"'inline'.*'process'.*'thread'"):
        get_plugin("executor", "nope")
    with pytest.raises(ValueError, match=r"unknown executor 'nope'; valid names"):
        create_executor("nope")


def test_broken_entry_point_is_listed_with_its_error(
        clean_registry: None, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    class Good(Executor):  # no name=: only the entry point registers it
        pass

    _fake_entry_points(
        monkeypatch,
        _FakeEntryPoint("broken", "missing_pkg.plugin:Thing",
                        ModuleNotFoundError("No module named 'missing_pkg'")),
        _FakeEntryPoint("exploding", "boom:Thing", RuntimeError("plugin import failed")),
        _FakeEntryPoint("good", "somewhere:Good", Good),
    )
    listed = {p.name: p for p in god.plugins()}

    broken = listed["broken"]
    assert not broken.ok and broken.cls is None
    assert broken.source == "entry point missing_pkg.plugin:Thing"
    assert broken.error == "ModuleNotFoundError: No module named 'missing_pkg'"
    assert listed["exploding"].error == "RuntimeError: plugin import failed"
    assert "plugin 'broken' (entry point missing_pkg.plugin:Thing) failed to load" in caplog.text

    good = listed["good"]  # a class without a name takes the entry point's
    assert good.ok and good.cls is Good and good.kind == "executor"
    assert get_plugin("executor", "good") is Good
    assert "broken" not in executor_names()
    # Broken plugins show whatever kind is asked for: their kind is unknown.
    assert "broken" in [p.name for p in god.plugins("executor")]
    with pytest.raises(ValueError, match=r"unknown executor 'exploding' \(the plugin "
                                         r"'exploding' from entry point boom:Thing failed to "
                                         r"load: RuntimeError: plugin import failed\)"):
        get_plugin("executor", "exploding")


def test_unreadable_entry_point_metadata_is_not_fatal(
        clean_registry: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def entry_points(**params: Any) -> Any:
        raise OSError("corrupt METADATA")

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry._entry_points_loaded = False
    assert "thread" in plugin_names("executor")


def test_import_godnb_survives_a_broken_installed_plugin(tmp_path: Path) -> None:
    """A real (fake) distribution on sys.path with an entry point that can not import."""
    dist = tmp_path / "broken_godnb_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-godnb-plugin\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[godnb.plugins]\nbroken = broken_godnb_plugin_module:Executor\n")
    (tmp_path / "broken_godnb_plugin_module.py").write_text(
        "raise RuntimeError('this plugin is broken on purpose')\n")
    code = textwrap.dedent("""
        import godnb as god
        with god.Engine(threads=1) as eng:
            assert eng.submit(sum, [1, 2]).result() == 3
        (p,) = [p for p in god.plugins() if p.name == "broken"]
        print(p.source, "|", p.error)
        print("thread" in [p.name for p in god.plugins("executor") if p.ok])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, env=_env_with_path(tmp_path), check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines == ["entry point broken_godnb_plugin_module:Executor | "
                     "RuntimeError: this plugin is broken on purpose", "True"]
    assert "failed to load" in out.stderr  # a warning on the godnb.plugins logger


def _env_with_path(path: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(path), env.get("PYTHONPATH")]))
    return env
