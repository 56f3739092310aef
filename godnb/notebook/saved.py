"""Views that survive save, reopen and export: live while running, static once done.

A live widget is only a reference to state in the kernel: a notebook saved and reopened
without that state shows "Error displaying widget: model not found" in JupyterLab (which
prefers the widget MIME type in a trusted notebook), and nbconvert shows nothing. So
godnb shows a job, group, pipeline, queue, engine, profile or timeline view under a
*display id* (``_ipython_display_``), live, and once it reaches its final state rewrites
that output in place with a plain bundle: ``text/plain`` and ``text/html`` of the final
state, no widget (``update_display``). What the notebook saves, what nbconvert exports and what
Lab shows without a kernel is then the outcome, never a frozen "running".

When the rewrite happens:

* a job or group: right as it ends (a done callback hands the rewrite to the kernel
  loop; it runs before a cell awaiting that job resumes);
* a queue, engine, timeline or profile view following an engine: whenever the engine
  goes idle, and back to the live widget when work arrives again; a pipeline: when it
  finished;
* and after every cell (IPython's ``post_run_cell``), for anything that ended meanwhile
  (a blocking ``h.result()`` keeps the loop from running the rewrite earlier).

The rewrite is sent from a fresh context, so ipykernel stamps it with the cell running
*now* (its process-wide parent), not with the cell that displayed the view: a headless
run (nbclient, papermill) keeps only the messages of the cell it is executing and drops
the rest, and JupyterLab routes a display update to the output that carries its id
whichever cell sent it. A rewrite sent between two cells reaches JupyterLab but not a
headless run, so the next cell's ``post_run_cell`` sends the final bundle once more
(the same content: a no-op on screen) before the output is let go. An object that has
already ended is shown static from the start.

The same :class:`LiveDisplay` serves library code that shows a view while it blocks the
cell (:func:`godnb.core.display.show`, answered by :mod:`godnb.notebook.showing`: joblib's
bar): that caller keeps it current with :meth:`LiveDisplay.tick` and ends it with
:meth:`LiveDisplay.close`, which leaves the static final state in the output too.
"""

from __future__ import annotations

import contextvars
import logging
import time
from typing import Any

from godnb.execution.loop import running_loop
from godnb.notebook import rich
from godnb.notebook.live import view_loop
from godnb.notebook.rich import finality

__all__ = ["LiveDisplay", "install", "live_displays", "settle_all", "show", "show_view",
           "with_hint"]

log = logging.getLogger("godnb.notebook")
MAX_TRACKED = 500  # displays followed at once; the oldest is let go past this

_tracked: dict[int, LiveDisplay] = {}


class LiveDisplay:
    """One output shown under a display id: live while its object runs, static at the end.

    Followed by this module (:meth:`settle`, once its object is final), or driven by the
    library code that showed it (:meth:`tick` and :meth:`close`; see the module doc).

    Args:
        kind: the view kind (``"job"``, ``"group"``, ``"queue"``...).
        obj: what the view shows (a handle, a group, an engine, a pipeline, a table).
        view: the live widget, or None where widgets are off (the output then holds the
            static text and HTML, which :meth:`tick` rewrites at most once per
            ``interval`` seconds).
        handle: IPython's ``DisplayHandle`` of the output.
        owned: True when godnb made the view for this display (it is closed once the
            output is final for good); False for a view the user holds.
    """

    def __init__(self, kind: str, obj: Any, view: Any, handle: Any, owned: bool,
                 interval: float = 1.0) -> None:
        self.kind = kind
        self.obj = obj
        self.view = view
        self.handle = handle
        self.owned = owned
        self.interval = interval
        self.static = False  # the output holds the static bundle now
        self.confirmed = False  # ... and that bundle was sent while a cell ran
        self.done = False
        self._final_bundle: dict[str, Any] | None = None
        self.loop = view_loop(obj)
        self._settling = False
        self._ticked = time.monotonic()

    def bundle(self) -> dict[str, Any]:
        """The static bundle of the current state (the view's, when there is one)."""
        view = self.view
        if view is not None:
            return {"text/plain": view.text(), "text/html": view.html()}
        bundle = rich.static_bundle(self.obj)
        assert bundle is not None
        return bundle

    # -- driven by the code that showed it (a blocking library call) --------------------
    def tick(self) -> None:
        """Bring the output up to date: now on the kernel loop's own thread (blocked in
        the caller, so the loop can not), soon from any other thread."""
        if self.done:
            return
        view = self.view
        if view is None:
            if time.monotonic() - self._ticked >= self.interval:
                self._ticked = time.monotonic()
                _update(self.handle, with_hint(self.bundle()))
        elif running_loop() is view.refresher.loop:
            view.flush()
        else:
            view.refresher.request()

    def close(self) -> None:
        """The caller is done: the output keeps the final state, static; the view closes.

        Idempotent. The static bundle is written whatever :func:`finality` says (the
        caller knows its object ended), and nothing follows the output afterwards.
        """
        if self.done:
            return
        self.done = True
        view = self.view
        if view is not None and running_loop() is view.refresher.loop:
            view.flush()  # the widget's own traits show the end too
        _update(self.handle, self.bundle())
        self.static = self.confirmed = True
        if view is not None and self.owned:
            view.close()
        _tracked.pop(id(self), None)

    # -- followed by this module ------------------------------------------------------

    def settle(self, in_cell: bool = False) -> bool:
        """Rewrite the output if its state changed side; True once final for good.

        ``in_cell``: called while a cell runs (``post_run_cell``), so a headless client
        keeps what is sent. Runs on the kernel loop's thread (it may touch widgets).
        """
        if self.done or self._settling:
            return self.done
        self._settling = True
        try:
            final, forever = finality(self.kind, self.obj)
            if final:
                if not self.static:
                    if self.view is not None:
                        self.view.flush()  # the widget's own traits show the end too
                    self._final_bundle = self.bundle()
                    _update(self.handle, self._final_bundle)
                    self.static, self.confirmed = True, in_cell
                elif in_cell and not self.confirmed and self._final_bundle is not None:
                    _update(self.handle, self._final_bundle)
                    self.confirmed = True
                if forever and self.confirmed:
                    self.done = True
                    if self.owned and self.view is not None:
                        self.view.close()
            elif self.static and self.view is not None:
                _update(self.handle, self.view._repr_mimebundle_())  # live again
                self.static = self.confirmed = False
        finally:
            self._settling = False
        return self.done

    def settle_soon(self) -> None:
        """Settle on the kernel loop, from any thread, in a fresh context (see module)."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(_settle_fresh, self)
        except RuntimeError:  # the loop closed meanwhile
            pass


def _settle_fresh(entry: LiveDisplay) -> None:
    try:
        if contextvars.Context().run(entry.settle):
            _tracked.pop(id(entry), None)
    except Exception:  # a display problem must never break the loop or a cell
        log.exception("godnb could not rewrite a saved view")


def _update(handle: Any, bundle: dict[str, Any]) -> None:
    handle.update(bundle, raw=True)


def with_hint(bundle: dict[str, Any]) -> dict[str, Any]:
    """A live output without widgets says why (not a final one: that is the outcome)."""
    if not rich.widgets_available():
        bundle["text/html"] += rich.HINT_HTML
    return bundle


def _track(entry: LiveDisplay) -> None:
    _tracked[id(entry)] = entry
    while len(_tracked) > MAX_TRACKED:
        _tracked.pop(next(iter(_tracked)))
    obj = entry.obj
    if entry.kind in ("job", "group"):
        obj.add_done_callback(lambda _done: entry.settle_soon())
    if entry.view is not None:
        entry.view.render_hooks = (*entry.view.render_hooks, entry.settle_soon)


def live_displays() -> list[LiveDisplay]:
    """The outputs still followed (tests, and the curious)."""
    return list(_tracked.values())


def settle_all(*_args: Any) -> None:
    """Settle every followed output now (after each cell; on the kernel loop's thread)."""
    for key, entry in list(_tracked.items()):
        try:
            if contextvars.Context().run(entry.settle, True):
                _tracked.pop(key, None)
        except Exception:
            log.exception("godnb could not rewrite a saved view")
            _tracked.pop(key, None)


def _display(bundle: dict[str, Any], tracked: bool) -> Any:
    from IPython.display import display

    return display(bundle, raw=True, display_id=True if tracked else None)


def show(obj: Any) -> None:
    """The ``_ipython_display_`` of godnb objects: live view under an id, static once done.

    Outside a kernel (a terminal IPython) it prints the static text, nothing follows.
    """
    kind = rich.kind_of(obj)
    if kind is None:
        raise TypeError(f"godnb can not display {type(obj).__name__}")
    final, _ = finality(kind, obj)
    follow = not final and rich.in_kernel()
    if not follow or not rich.widgets_enabled():
        bundle = rich.static_bundle(obj)
        assert bundle is not None
        handle = _display(with_hint(bundle) if follow else bundle, follow)
        if follow:
            _track(LiveDisplay(kind, obj, None, handle, owned=True))
        return
    from godnb.notebook.widgets import make_view

    view = make_view(kind, obj)
    handle = _display(view._repr_mimebundle_(), True)
    _track(LiveDisplay(kind, obj, view, handle, owned=True))


_SUBJECT = {"JobView": ("job", "handle"), "GroupView": ("group", "group"),
            "QueueView": ("queue", "engine"), "EngineView": ("engine", "engine"),
            "ProfileView": ("profile", "source"), "PipelineView": ("pipeline", "pipeline"),
            "TimelineView": ("timeline", "timeline")}


def show_view(view: Any) -> None:
    """Show a live view the user holds (``eng.queue_view()``) the same way: under a
    display id, rewritten with its static state whenever its subject is final."""
    kind, attr = _SUBJECT.get(type(view).__name__, (None, None))
    if kind is None or attr is None:
        _display(view._repr_mimebundle_(), False)
        return
    subject = getattr(view, attr)
    follow = rich.in_kernel()
    handle = _display(view._repr_mimebundle_(), follow)
    if follow:
        entry = LiveDisplay(kind, subject, view, handle, owned=False)
        _track(entry)
        entry.settle_soon()  # shown idle: static at once (and live again on new work)


def install(shell: Any) -> None:
    """Settle followed outputs after every cell of ``shell`` (idempotent)."""
    events = getattr(shell, "events", None)
    if events is None:
        return
    callbacks = events.callbacks.get("post_run_cell", [])
    if settle_all not in callbacks:
        events.register("post_run_cell", settle_all)
