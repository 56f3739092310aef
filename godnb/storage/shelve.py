"""A :class:`Store` in a :mod:`shelve` file, for one process (the plan's original store)."""

from __future__ import annotations

import dbm
import io
import os
import pickle
import shelve
from collections.abc import Iterable
from dataclasses import astuple
from typing import Any

from godnb.errors import StoreError
from godnb.storage.memory import RecordStore
from godnb.storage.recovery import EngineInfo

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the one-process rule is on the user
    fcntl = None  # type: ignore[assignment]

__all__ = ["ShelveStore"]

_FORMAT = "godnb-shelve"
_VERSION = 1
# Files a dbm database may use for `path`, by backend (gdbm: path; ndbm: .db/.pag/.dir;
# dbm.dumb: .dat/.dir/.bak).
_SUFFIXES = ("", ".db", ".pag", ".dat", ".dir", ".bak")


class ShelveStore(RecordStore, name="shelve"):
    """A :class:`Store` kept in a :mod:`shelve` database at ``path``.

    Limits, by design of :mod:`shelve` and :mod:`dbm`:

    * **One process, one store object.** The whole store is held in memory and written
      through to the file; a lock file (``path + ".lock"``) makes a second opening raise
      :class:`~godnb.errors.StoreError` where :mod:`fcntl` exists. To share jobs between
      a kernel, the CLI and workers use :class:`~godnb.storage.sqlite.SQLiteStore`.
      Claims are atomic because they happen under this object's lock.
    * **Backend.** :mod:`dbm` picks gdbm or ndbm when Python has them, else falls back to
      :mod:`dbm.dumb`, which is slow (it opens the data file for every read and write,
      reads every row at open) and large (space of rewritten rows is never reclaimed,
      so the ``.dat`` file only grows). Expect thousands, not millions, of jobs.
    * **Durability.** Each call writes its rows before it returns, so they survive a
      process crash; dumb's index of a row that outgrew its block is only rewritten by
      :meth:`flush` or :meth:`close`, so a crash can lose such a late state change
      (at-least-once, as in the spec). Nothing is fsynced.
    * **Trust.** :mod:`shelve` pickles every row, but this store reads them with an
      unpickler that builds only plain data (and datetimes), never code: a tampered file
      fails to open (:class:`~godnb.errors.StoreError`) rather than run anything. Pickled
      arguments and results inside rows stay bytes until asked for, as in every store.

    Files are created with mode 0600.

    Example:
        >>> with ShelveStore(tmp_path / "jobs") as store:  # doctest: +SKIP
        ...     store.add([Job(payload={"task": "math:sqrt", "args": [4]})])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.path = os.fspath(path)
        if os.path.isdir(self.path):
            raise StoreError(f"shelve store {self.path!r} is a directory; pass a file path "
                             f"such as {os.path.join(self.path, 'godnb.shelf')!r}")
        new_lock = not os.path.lexists(self.path + ".lock")
        self._lock_fd = _lock_file(self.path)
        try:
            self._shelf = _open_shelf(self.path)
            try:
                self._load_shelf()
            except BaseException:
                self._shelf.close()
                raise
        except BaseException:
            if new_lock and self._lock_fd is not None:  # ours, and held: leave no stray
                os.remove(self.path + ".lock")
            _unlock(self._lock_fd)
            raise

    def _load_shelf(self) -> None:
        shelf = self._shelf
        try:
            keys = list(shelf.keys())
            meta = shelf["meta"] if "meta" in keys else None
            if meta is None and keys:
                raise _foreign(self.path, f"it has {len(keys)} key(s) but no godnb metadata")
            if meta is None:
                shelf["meta"] = {"format": _FORMAT, "version": _VERSION}
            elif not isinstance(meta, dict) or meta.get("format") != _FORMAT:
                raise _foreign(self.path, f"its metadata is {meta!r}")
            elif meta.get("version", 0) > _VERSION:
                raise StoreError(f"shelve store {self.path!r} was written by a newer godnb "
                                 f"(format {meta['version']}); upgrade godnb to open it")
            jobs = [shelf[k] for k in keys if k.startswith("job:")]
            results = {k[7:]: shelf[k] for k in keys if k.startswith("result:")}
            engines = {o: EngineInfo(*t) for o, t in shelf.get("engines", {}).items()}
        except StoreError:
            raise
        except Exception as e:  # unpickling garbage raises nearly anything
            raise StoreError(
                f"shelve store {self.path!r} is corrupt ({type(e).__name__}: {e}); it was "
                f"left untouched. Move its files aside or pass another path") from e
        self._load(jobs, results, engines)

    def _saved(self, jobs: Iterable[str] = (), results: Iterable[str] = (),
               engines: bool = False) -> None:
        shelf = self._shelf
        for job_id in jobs:
            shelf[f"job:{job_id}"] = self._jobs[job_id]
        for job_id in results:
            shelf[f"result:{job_id}"] = self._results[job_id]
        if engines:
            shelf["engines"] = {o: astuple(info) for o, info in self._engines.items()}

    def flush(self) -> None:
        with self._locked():
            self._shelf.sync()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._shelf.close()
            finally:
                _unlock(self._lock_fd)


def _foreign(path: str, why: str) -> StoreError:
    return StoreError(f"{path!r} is a dbm database but not a godnb shelve store ({why}); "
                      f"it was left untouched. Pass another path")


def _lock_file(path: str) -> int | None:
    if fcntl is None:
        return None
    try:
        fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise StoreError(f"can not open shelve store {path!r}: {e.strerror} "
                         f"({path + '.lock'!r}); check that its directory exists and is "
                         f"writable") from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        raise StoreError(
            f"shelve store {path!r} is already open (in this or another process); a "
            f"ShelveStore serves one store object in one process: close the other one, "
            f"or use SQLiteStore to share a store between processes") from e
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock


def _open_shelf(path: str) -> shelve.Shelf[Any]:
    if dbm.whichdb(path) == "":
        raise StoreError(f"{path!r} exists but is not a dbm database, so it can not be a "
                         f"shelve store; it was left untouched. Pass another path")
    existed = {p for p in (path + s for s in _SUFFIXES) if os.path.exists(p)}
    try:
        db = dbm.open(path, "c", 0o600)  # noqa: SIM115 - the store closes it in close()
    except Exception as e:  # dbm.error, or a dumb index that does not parse
        raise StoreError(f"can not open shelve store {path!r} ({type(e).__name__}: {e}); "
                         f"it was left untouched. Move its files aside or pass another "
                         f"path") from e
    for created in (path + s for s in _SUFFIXES):
        if created not in existed and os.path.exists(created):
            os.chmod(created, 0o600)
    return _RowShelf(db, protocol=pickle.HIGHEST_PROTOCOL)  # type: ignore[arg-type]


class _RowUnpickler(pickle.Unpickler):
    """Unpickles rows: dicts, lists, tuples, strings, numbers, bytes and datetimes only.

    A shelve file is a pickle per key, and unpickling runs whatever a pickle names; rows
    never name anything but these, so any other global means the file was tampered with.
    """

    _ALLOWED = frozenset({("datetime", "datetime"), ("datetime", "timezone"),
                          ("datetime", "timedelta")})

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"a row names {module}.{name}, which a godnb shelve "
                                     f"store never writes; the file was not written by "
                                     f"godnb or was tampered with")


class _RowShelf(shelve.Shelf):  # type: ignore[type-arg]
    """A :class:`shelve.Shelf` that reads rows with :class:`_RowUnpickler`."""

    def __getitem__(self, key: str) -> Any:
        state = self.__dict__  # Shelf's own attributes (typeshed does not declare them)
        try:
            return state["cache"][key]
        except KeyError:
            pass
        data = state["dict"][key.encode(state["keyencoding"])]
        value = _RowUnpickler(io.BytesIO(data)).load()
        if state["writeback"]:
            state["cache"][key] = value
        return value
