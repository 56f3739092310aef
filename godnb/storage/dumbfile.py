"""A :mod:`dbm.dumb` file that survives ``kill -9``: what :class:`ShelveStore` writes.

:mod:`shelve` falls back to :mod:`dbm.dumb` when Python has neither gdbm nor ndbm (the
case on the machines godnb is tested on), and dumb is not safe against a crash:

* it rewrites a value in place when the new one fits the old one's blocks, while the
  index on disk still records the old length: after a crash the value reads wrongly;
* a value that outgrew its blocks moves, and its index entry is written only by
  ``sync()`` / ``close()``; until then a crash loses the change;
* ``sync()`` renames the index away and writes a new one: a crash in between leaves no
  index at all.

:class:`DumbFile` keeps dumb's format (``dbm.whichdb`` and ``dbm.dumb`` still read its
files; values start on dumb's 512-byte blocks) but only ever appends:

* ``.dat`` holds the values, each written after the last, never over one;
* ``.dir`` holds one ``'key', (pos, size)`` line per write, appended; a later line for a
  key replaces an earlier one, as ``dbm.dumb`` reads it.

Writes wait in memory until :meth:`DumbFile.commit`, which appends them to ``.dat`` in
one write, then their index lines and a marker line to ``.dir`` in one write. A crash
leaves either the whole commit or a tail after the last marker that the next opening
drops, so a commit is all or nothing. Nothing is fsynced: a commit survives the process
(``kill -9``, an exception, a kernel restart), not a power cut.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator, MutableMapping

from godnb.errors import StoreError

__all__ = ["DumbFile"]

_BLOCK = 512  # dbm.dumb's block: its in-place rewrites assume values start on one
_MARK_KEY = b"\x00godnb-commit"
_MARK = b"'\\x00godnb-commit', (0, 0)\n"
_LINE = re.compile(rb"'([^'\\]*)', \((\d+), (\d+)\)\n")  # the usual line, parsed fast


class DumbFile(MutableMapping[bytes, bytes]):
    """The files ``path.dat`` and ``path.dir`` as a mapping of bytes to bytes.

    Reads see the latest writes; writes reach the files at :meth:`commit` (``sync`` is
    its alias, which :class:`shelve.Shelf` calls). Keys are never deleted.

    Raises:
        StoreError: the files can not be opened for writing (the message names the file
            and the fix), or the index does not parse.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._dat_path, self._dir_path = path + ".dat", path + ".dir"
        _rescue_index(path)
        self._index, self._dir_end, self._marked = _read_index(self._dir_path)
        self._pending: dict[bytes, bytes] = {}
        self._dat = _open_rw(self._dat_path, path)
        try:
            self._dir = _open_rw(self._dir_path, path, append=True)
        except BaseException:
            os.close(self._dat)
            raise
        self._end = os.fstat(self._dat).st_size
        self._closed = False

    # -- the mapping ---------------------------------------------------------------------
    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            return self._pending[key]
        pos, size = self._index[key]
        return os.pread(self._dat, size, pos)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._check_open()
        self._pending[key] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        raise TypeError("a DumbFile keeps every key: the dbm.dumb format has no deletions "
                        "a reader could replay")

    def __contains__(self, key: object) -> bool:
        return key in self._pending or key in self._index

    def __iter__(self) -> Iterator[bytes]:
        yield from self._index
        yield from (k for k in self._pending if k not in self._index)

    def __len__(self) -> int:
        return len(self._index) + sum(1 for k in self._pending if k not in self._index)

    # -- writing -------------------------------------------------------------------------
    def commit(self) -> None:
        """Append every pending write to the files, all or nothing (see the module doc).

        On an error the writes stay pending, and the next commit tries them again.
        """
        self._check_open()
        if not self._pending:
            return
        data, places, end = bytearray(), {}, self._end
        for key, value in self._pending.items():
            pad = -end % _BLOCK
            data += b"\0" * pad
            places[key] = (end + pad, len(value))
            data += value
            end += pad + len(value)
        lines = [_entry(key, pos, size) for key, (pos, size) in places.items()]
        # An unmarked file (new, or written by dbm.dumb) gets a marker first, so that a
        # crash in this write leaves a tail the next opening can tell apart and drop.
        index = b"".join(lines) + _MARK
        if not self._marked:
            index = _MARK + index
        try:
            _write_all(self._dat, data, self._end)
            if os.fstat(self._dir).st_size != self._dir_end:
                os.ftruncate(self._dir, self._dir_end)  # drop a torn tail before appending
            _write_all(self._dir, index, None)
        except OSError as e:
            raise StoreError(f"shelve store {self.path!r}: could not write "
                             f"{len(self._pending)} change(s) ({e.strerror}); they are "
                             f"kept and written with the next change") from e
        self._index.update(places)
        self._end = end
        self._dir_end += len(index)
        self._marked = True
        self._pending.clear()

    sync = commit

    def close(self) -> None:
        """Commit, then close the files (closing twice is a no-op)."""
        if self._closed:
            return
        try:
            self.commit()
        finally:
            self._closed = True
            os.close(self._dat)
            os.close(self._dir)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"shelve store {self.path!r} is closed; open a new one")


def _entry(key: bytes, pos: int, size: int) -> bytes:
    return f"{key.decode('latin-1')!r}, ({pos}, {size})\n".encode("latin-1")


def _parse(line: bytes) -> tuple[bytes, tuple[int, int]]:
    match = _LINE.fullmatch(line)
    if match:
        return match[1], (int(match[2]), int(match[3]))
    key, (pos, size) = ast.literal_eval(line.decode("latin-1"))  # as dbm.dumb reads it
    if not (isinstance(key, str) and isinstance(pos, int) and isinstance(size, int)):
        raise ValueError(f"not an index line: {line!r}")
    return key.encode("latin-1"), (pos, size)


def _read_index(path: str) -> tuple[dict[bytes, tuple[int, int]], int, bool]:
    """The index in ``path``, how many bytes of it are committed, and whether it has a
    marker (else every complete line counts: a file ``dbm.dumb`` wrote, or a new one)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}, 0, False
    except OSError as e:
        raise StoreError(f"can not read the index {path!r} of a shelve store: "
                         f"{e.strerror}; check its permissions") from e
    marked = raw.rfind(_MARK)
    # Without a marker every complete line counts: a last one without its newline is torn.
    committed = marked + len(_MARK) if marked >= 0 else raw.rfind(b"\n") + 1
    index: dict[bytes, tuple[int, int]] = {}
    try:
        for line in raw[:committed].splitlines(keepends=True):
            key, where = _parse(line)
            index[key] = where
    except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
        raise StoreError(f"can not open shelve store {path[:-4]!r} (its index does not "
                         f"parse: {type(e).__name__}); it was left untouched. Move its "
                         f"files aside or pass another path") from e
    index.pop(_MARK_KEY, None)
    return index, committed, marked >= 0


def _rescue_index(path: str) -> None:
    """Put back the index that ``dbm.dumb`` renamed to ``.bak`` when it died in ``sync``."""
    dat, dir_, bak = path + ".dat", path + ".dir", path + ".bak"
    if os.path.exists(dir_):
        return
    if os.path.exists(bak):
        os.replace(bak, dir_)
    elif os.path.exists(dat) and os.path.getsize(dat):
        raise StoreError(f"shelve store {path!r} has data ({dat!r}) but no index "
                         f"({dir_!r}); it was left untouched. Restore the index, or move "
                         f"the files aside and pass another path")


def _open_rw(file: str, store: str, append: bool = False) -> int:
    flags = os.O_RDWR | os.O_CREAT | (os.O_APPEND if append else 0)
    try:
        fd = os.open(file, flags, 0o600)
    except PermissionError as e:
        raise StoreError(
            f"shelve store {store!r} is read-only: {file!r} can not be opened for writing "
            f"({e.strerror}). A store writes every state change: make its files and "
            f"folder writable (e.g. chmod u+w {store}.*), or copy it to a writable path "
            f"and open that") from e
    except OSError as e:
        raise StoreError(f"can not open shelve store {store!r}: {file!r}: {e.strerror}; "
                         f"check that its folder exists and is writable") from e
    return fd


def _write_all(fd: int, data: bytes | bytearray, at: int | None) -> None:
    """Write all of ``data`` at offset ``at`` (None: append)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if at is None else os.pwrite(fd, view, at)
        view = view[n:]
        if at is not None:
            at += n
