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
from godnb.storage.dumbfile import DumbFile
from godnb.storage.memory import RecordStore
from godnb.storage.recovery import EngineInfo, RecoveryRecord

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the one-process rule is on the user
    fcntl = None  # type: ignore[assignment]

__all__ = ["ShelveStore"]

_FORMAT = "godnb-shelve"
_VERSION = 1


class ShelveStore(RecordStore, name="shelve"):
    """A :class:`Store` kept in a :mod:`shelve` database at ``path``.

    Limits, by design of :mod:`shelve` and :mod:`dbm`:

    * **One process, one store object.** The whole store is held in memory and written
      through to the file; a lock file (``path + ".lock"``) makes a second opening raise
      :class:`~godnb.errors.StoreError` where :mod:`fcntl` exists. To share jobs between
      a kernel, the CLI and workers use :class:`~godnb.storage.sqlite.SQLiteStore`.
      Claims are atomic because they happen under this object's lock.
    * **Format.** A new store is written in :mod:`dbm.dumb`'s format (``path.dat``,
      ``path.dir``) by :class:`~godnb.storage.dumbfile.DumbFile`, which only appends, so
      that a crash can not tear it; any Python reads it with :mod:`dbm.dumb`. Every
      change adds a row (at least one 512-byte block) and space is never reclaimed, so
      the ``.dat`` file only grows, and opening reads every row: expect thousands, not
      millions, of jobs. A gdbm or ndbm file made elsewhere is opened with :mod:`dbm`.
    * **Durability.** Every call that changes anything (an add, a write-behind batch, a
      claim, a cancel, a recovery) is written, all or nothing, before it returns, so a
      ``kill -9`` right after loses none of it. Nothing is fsynced: a power cut can lose
      the last calls. A gdbm or ndbm file is synced after each call, and those libraries
      do not promise all-or-nothing writes.
    * **Trust.** :mod:`shelve` pickles every row, but this store reads them with an
      unpickler that builds only plain data (and datetimes), never code: a tampered file
      fails to open (:class:`~godnb.errors.StoreError`) rather than run anything. Pickled
      arguments and results inside rows stay bytes until asked for, as in every store.

    Files are created with mode 0600. A store whose files can not be written raises
    :class:`~godnb.errors.StoreError` naming the file and the fix.

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
            recoveries = [RecoveryRecord(*t) for t in shelf.get("recoveries", [])]
        except StoreError:
            raise
        except Exception as e:  # unpickling garbage raises nearly anything
            raise StoreError(
                f"shelve store {self.path!r} is corrupt ({type(e).__name__}: {e}); it was "
                f"left untouched. Move its files aside or pass another path") from e
        self._load(jobs, results, engines, recoveries)
        self._commit()

    def _saved(self, jobs: Iterable[str] = (), results: Iterable[str] = (),
               engines: bool = False, recoveries: bool = False) -> None:
        shelf = self._shelf
        for job_id in jobs:
            shelf[f"job:{job_id}"] = self._jobs[job_id]
        for job_id in results:
            shelf[f"result:{job_id}"] = self._results[job_id]
        if engines:
            shelf["engines"] = {o: astuple(info) for o, info in self._engines.items()}
        if recoveries:
            shelf["recoveries"] = [astuple(r) for r in self._recoveries]
        self._commit()

    def _commit(self) -> None:
        """Write what this call changed before it returns (see Durability above)."""
        try:
            self._shelf.sync()
        except StoreError:
            raise
        except Exception as e:  # dbm.error from a gdbm or ndbm file
            raise StoreError(f"shelve store {self.path!r}: could not write its changes "
                             f"({type(e).__name__}: {e})") from e

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
    kind = dbm.whichdb(path)
    if kind == "":
        raise StoreError(f"{path!r} exists but is not a dbm database, so it can not be a "
                         f"shelve store; it was left untouched. Pass another path")
    if kind in (None, "dbm.dumb"):  # new stores too: the one crash-safe format here
        return _RowShelf(DumbFile(path),  # type: ignore[arg-type]
                         protocol=pickle.HIGHEST_PROTOCOL)
    try:
        db = dbm.open(path, "w")  # noqa: SIM115 - the store closes it in close()
    except PermissionError as e:
        raise StoreError(f"shelve store {path!r} is read-only ({e.strerror}); a store "
                         f"writes every state change: make its files writable, or copy "
                         f"it to a writable path and open that") from e
    except Exception as e:  # dbm.error, or a module this Python lacks
        raise StoreError(f"can not open shelve store {path!r} ({type(e).__name__}: {e}); "
                         f"it was left untouched. Move its files aside or pass another "
                         f"path") from e
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
