"""A :class:`Store` in one SQLite file, shared by any number of engines and processes."""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache, partial
from itertools import chain
from typing import Any

from godnb.errors import StoreError
from godnb.models import Job, JobStatus, Result
from godnb.models.job import utcnow
from godnb.storage.base import Store, duplicate_ids, parse_status, zero_counts
from godnb.storage.codec import (
    JOB_COLUMNS,
    OWN_COLUMNS,
    RESULT_COLUMNS,
    UPDATE_COLUMNS,
    Outcome,
    encode_batch,
    from_us,
    job_from_row,
    job_runs,
    merge_notes,
    result_from_row,
    to_us,
)
from godnb.storage.recovery import (
    KEEP_RECOVERIES,
    Change,
    EngineInfo,
    RecoveryRecord,
    RecoveryReport,
    cancel_change,
    dead_engines,
    engine_is_dead,
    plan_recovery,
    release_change,
)

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SQLiteStore"]

log = logging.getLogger("godnb.storage")

#: ``PRAGMA application_id`` of a godnb store ("gdnb"): how a foreign database is told apart.
APPLICATION_ID = 0x67646E62
#: ``PRAGMA user_version``: the schema below.
SCHEMA_VERSION = 1
_HEADER = b"SQLite format 3\x00"
_CHUNK = 500  # ids per IN (...) list, well under every SQLite's variable limit
_ACTIVE = "status IN ('pending', 'running')"
_CLAIMABLE = "status = 'pending' AND owner IS NULL"

# `seq` is the rowid: the order jobs were added. Times are microseconds since the epoch.
_DDL = (
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY,
        job_id TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL,
        owner TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        task TEXT NOT NULL,
        durable INTEGER NOT NULL,
        params_kind INTEGER NOT NULL,
        params,
        name TEXT,
        job_group TEXT NOT NULL,
        retries INTEGER NOT NULL,
        backoff REAL NOT NULL,
        timeout REAL,
        backend TEXT,
        attempts INTEGER NOT NULL,
        tags TEXT,
        cache INTEGER NOT NULL,
        progress TEXT,
        error TEXT,
        notes TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL)""",
    # The dequeue order, over claimable jobs only (claimed jobs leave it); `task` lets
    # claims filter by task without reading the table.
    f"""CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (priority DESC, seq, task)
        WHERE {_CLAIMABLE}""",
    "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status)",
    "CREATE INDEX IF NOT EXISTS jobs_cancel ON jobs (owner) WHERE cancel_requested = 1",
    # Jobs whose row holds error notes (interrupted attempts) not yet merged into a result:
    # few, so writing a batch of results reads this small index instead of each job's row.
    "CREATE INDEX IF NOT EXISTS jobs_notes ON jobs (job_id) WHERE notes IS NOT NULL",
    """CREATE TABLE IF NOT EXISTS results (
        job_id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        output_kind INTEGER NOT NULL,
        output,
        errors TEXT,
        execution_time REAL NOT NULL,
        attempts INTEGER NOT NULL,
        cached INTEGER NOT NULL,
        finished_at INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS engines (
        owner TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL)""",
    # What recover() did, for `godnb status`; added in place to older files (old readers
    # ignore it, so the schema version stays).
    """CREATE TABLE IF NOT EXISTS recoveries (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        owner TEXT NOT NULL,
        dead TEXT NOT NULL,
        requeued INTEGER NOT NULL,
        interrupted INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        cancelled INTEGER NOT NULL,
        completed INTEGER NOT NULL)""",
)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _marks(items: Sequence[Any]) -> str:
    return ", ".join("?" * len(items))


def _insert(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    return (f"{verb} INTO {table} ({', '.join(columns)}) "
            f"VALUES ({', '.join(':' + c for c in columns)})")


# Binding costs ~0.35 us per column per row, most of an insert. A run of jobs that differ
# only in their OWN_COLUMNS (a map) binds the shared columns once, into a one-row temp
# table, and each job binds its own three (the "own" statements of _rows_sql).
_SHARED = JOB_COLUMNS[OWN_COLUMNS:]
_SHARED_TABLE = (f"CREATE TEMP TABLE IF NOT EXISTS godnb_shared "
                 f"(one INTEGER PRIMARY KEY CHECK (one = 1), {', '.join(_SHARED)})")
_SET_SHARED = f"INSERT OR REPLACE INTO temp.godnb_shared VALUES (1, {_marks(_SHARED)})"
_SHARED_MIN = 8  # shorter runs bind every column: setting the shared row costs more
# First result wins: a late write from an engine presumed dead can not replace it.
_INSERT_RESULT = _insert("results", RESULT_COLUMNS, "INSERT OR IGNORE")
_UPDATE_JOB = f"""UPDATE jobs SET status = ?, attempts = ?, progress = ?, error = ?,
    updated_at = ? WHERE job_id = ? AND {_ACTIVE}"""
# UPDATE ... FROM (SQLite 3.33+): one statement updates many jobs (see _execute_rows).
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_MAX_ROWS = 256  # rows per multi-row statement, fewer if SQLite allows fewer variables
_APPLY_CHANGE = "UPDATE jobs SET " + ", ".join(f"{c} = :{c}" for c in Change.FIELDS) + \
    " WHERE job_id = :job_id"
# INDEXED BY: the planner would rather use jobs_status and sort; this makes SQLite walk
# the claim index in dequeue order (and fail loudly if that index were missing).
_CLAIM_FROM = f"FROM jobs INDEXED BY jobs_claim WHERE {_CLAIMABLE}"


@cache
def _rows_sql(kind: str, k: int) -> str:
    """A statement over ``k`` rows of values (see :func:`_execute_rows`).

    ``kind``: "jobs" inserts whole job rows; "own" inserts each job's own columns with the
    shared ones from the temp table; "results" inserts results (first one wins); "update"
    applies state changes to jobs still active.
    """
    width = {"jobs": len(JOB_COLUMNS), "own": OWN_COLUMNS, "results": len(RESULT_COLUMNS),
             "update": len(UPDATE_COLUMNS)}[kind]
    values = "VALUES " + ", ".join([f"({_marks(range(width))})"] * k)
    if kind == "jobs":
        return f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) {values}"
    if kind == "own":
        # Rows come out of a VALUES list in order, so jobs keep their submit order (seq).
        picks = [f"v.column{i}" for i in range(1, OWN_COLUMNS + 1)] + [f"s.{c}" for c in _SHARED]
        return (f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) SELECT {', '.join(picks)} "
                f"FROM ({values}) AS v, temp.godnb_shared AS s")
    if kind == "results":
        return f"INSERT OR IGNORE INTO results ({', '.join(RESULT_COLUMNS)}) {values}"
    sets = ", ".join(f"{c} = v.column{i}" for i, c in enumerate(UPDATE_COLUMNS[:-1], 1))
    return (f"UPDATE jobs SET {sets} FROM ({values}) AS v "
            f"WHERE jobs.job_id = v.column{width} AND jobs.status IN ('pending', 'running')")


class SQLiteStore(Store, name="sqlite"):
    """A :class:`Store` in the SQLite file at ``path``: the default for ``store="path"``.

    Several engines in several processes (a kernel, CLI workers) can share one file.
    Claims run in ``BEGIN IMMEDIATE`` transactions, so a job is claimed once. The
    database runs in WAL mode with ``synchronous=NORMAL``: a committed write survives a
    process crash (``kill -9``) but a power cut may lose the last commits; pass
    ``synchronous="FULL"`` to survive that too. Writers wait up to ``busy_timeout``
    seconds for each other.

    One connection serves all threads, under a lock. A new file is created with mode 0600.
    A file that is not a SQLite database, or a SQLite database that is not a godnb store,
    raises :class:`~godnb.errors.StoreError` and is left untouched. Arguments and results
    that are not JSON are pickled, and read back as :class:`~godnb.storage.codec.Pickled`
    stand-ins that are never loaded unless asked (see the codec). Do not use a store
    across ``fork()``; open one in each process.

    Example:
        >>> with SQLiteStore(tmp_path / "jobs.db") as store:  # doctest: +SKIP
        ...     store.add([Job(payload={"task": "math:sqrt", "args": [4]})])
        ...     store.counts()["pending"]
        1
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 10.0,
                 synchronous: str = "NORMAL") -> None:
        self.path = os.fspath(path)
        if synchronous.upper() not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError(f"synchronous must be 'OFF', 'NORMAL', 'FULL' or 'EXTRA', "
                             f"got {synchronous!r}")
        self._lock = threading.RLock()
        existed = _files_of(self.path)
        try:
            self._conn: sqlite3.Connection | None = _connect(self.path, busy_timeout)
            try:
                self._setup(synchronous.upper())
            except BaseException:
                self._conn.close()
                self._conn = None
                raise
        except BaseException:
            _remove_new_files(self.path, existed)
            raise

    # -- opening ----------------------------------------------------------------------

    def _setup(self, synchronous: str) -> None:
        conn = self._conn
        assert conn is not None
        with self._db():
            self._check_or_create(conn)
        try:
            # Not inside a transaction: SQLite can not change the journal mode there.
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute(_SHARED_TABLE)  # this connection's own: never in the file
        except sqlite3.Error as e:
            raise self._error(e) from e
        if mode != "wal":  # e.g. a file system without shared memory: still correct
            log.warning("SQLite store %r runs in %s journal mode, not WAL", self.path, mode)

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
        if app_id == 0 and not names:  # a new, empty database: make it ours
            for ddl in _DDL:
                conn.execute(ddl)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif app_id != APPLICATION_ID:
            shown = ", ".join(sorted(names)[:8]) or "none"
            raise StoreError(
                f"{self.path!r} is a SQLite database but not a godnb store (application_id "
                f"{app_id:#x}, tables: {shown}); it was left untouched. Pass another path "
                f"(e.g. --db godnb.db)")
        elif version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path!r} was written by a newer godnb (schema {version}, this one "
                f"reads {SCHEMA_VERSION}); upgrade godnb to open it")
        else:
            for ddl in _DDL:  # ours: make sure every table and index is there
                conn.execute(ddl)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection, in a write transaction that commits on success."""
        with self._lock:
            conn = self._conn
            if conn is None:
                raise StoreError(f"SQLite store {self.path!r} is closed; open a new one")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as e:
                raise self._error(e) from e
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as e:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(e, sqlite3.Error):
                    raise self._error(e) from e
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads (each statement sees one consistent snapshot)."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"SQLite store {self.path!r} is closed; open a new one")
            try:
                yield self._conn
            except sqlite3.Error as e:
                raise self._error(e) from e

    def _error(self, e: sqlite3.Error) -> StoreError:
        text = str(e)
        hint = ""
        if "locked" in text or "busy" in text:
            hint = "; another process held the database lock too long, try again"
        elif "readonly" in text:
            hint = "; check that the file and its directory are writable"
        elif "malformed" in text or "not a database" in text:
            hint = ("; the file is corrupt and was left untouched: move it aside or pass "
                    "another path (e.g. --db godnb.db)")
        return StoreError(f"SQLite store {self.path!r}: {text}{hint}")

    # -- jobs and results ------------------------------------------------------------

    def add(self, jobs: Sequence[Job], owner: str | None = None) -> None:
        if not jobs:
            return
        runs = job_runs(jobs, owner)
        with self._db() as db:
            db.execute("SAVEPOINT batch")
            try:
                for shared, own in runs:
                    if len(own) >= _SHARED_MIN:
                        db.execute(_SET_SHARED, shared)
                        _execute_rows(db, "own", own)
                    else:
                        _execute_rows(db, "jobs", [row + shared for row in own])
            except sqlite3.IntegrityError as e:
                db.execute("ROLLBACK TO batch")  # so the ids this batch inserted are not blamed
                error = duplicate_ids([j.job_id for j in jobs], partial(_stored_ids, db))
                raise (error or self._error(e)) from e

    def update(self, jobs: Sequence[Job] = (), results: Sequence[Outcome] = ()) -> None:
        updates, rows = encode_batch(jobs, results)
        if not (updates or rows):
            return
        with self._db() as db:
            if _UPDATE_FROM:
                _execute_rows(db, "update", updates)
            else:
                db.executemany(_UPDATE_JOB, updates)
            if rows:
                notes = _notes(db, [r[0] for r in rows])
                if notes:
                    rows = [_with_notes(r, notes[r[0]]) if r[0] in notes else r
                            for r in rows]
                _execute_rows(db, "results", rows)
                # Merged into the result now: off the notes index, which stays small.
                db.executemany("UPDATE jobs SET notes = NULL WHERE job_id = ?",
                               [(job_id,) for job_id in notes])

    def get_job(self, job_id: str) -> Job | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    def get_result(self, job_id: str) -> Result | None:
        with self._read() as db:
            row = db.execute("SELECT * FROM results WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else result_from_row(row)

    def get_results(self, job_ids: Sequence[str]) -> dict[str, Result]:
        rows: list[Any] = []  # sqlite3.Row: a mapping by column name
        with self._read() as db:
            for chunk in _chunks(list(job_ids)):
                rows += db.execute(f"SELECT * FROM results WHERE job_id IN ({_marks(chunk)})",
                                   chunk).fetchall()
        return {row["job_id"]: result_from_row(row) for row in rows}

    def list_jobs(self, status: JobStatus | str | None = None, limit: int | None = None,
                  newest_first: bool = True) -> list[Job]:
        wanted = parse_status(status)
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        sql = "SELECT * FROM jobs" + (" WHERE status = ?" if wanted else "")
        sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
        params = ([wanted.value] if wanted else []) + [-1 if limit is None else limit]
        with self._read() as db:
            rows = db.execute(sql, params).fetchall()
        return [job_from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._read() as db:
            found = db.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        return zero_counts() | {status: n for status, n in found}

    def __len__(self) -> int:
        with self._read() as db:
            return int(db.execute("SELECT count(*) FROM jobs").fetchone()[0])

    # -- claims and cancellation ----------------------------------------------------

    def claim(self, owner: str, limit: int, can_run: Callable[[str], bool] | None = None
              ) -> list[Job]:
        if limit <= 0:
            return []
        with self._db() as db:
            seqs = _claimable(db, limit, can_run)
            rows = []
            for chunk in _chunks(seqs):
                db.execute(f"UPDATE jobs SET owner = ? WHERE seq IN ({_marks(chunk)}) "
                           f"AND {_CLAIMABLE}", [owner, *chunk])
                # Under BEGIN IMMEDIATE nobody else can write, so owner = ? is exactly
                # the rows this claim took.
                rows += db.execute(f"SELECT * FROM jobs WHERE seq IN ({_marks(chunk)}) "
                                   f"AND owner = ?", [*chunk, owner]).fetchall()
        rows.sort(key=lambda r: (-r["priority"], r["seq"]))
        return [job_from_row(r) for r in rows]  # decoded after the lock is released

    def release(self, job_ids: Sequence[str], owner: str, now: datetime | None = None
                ) -> int:
        now = now or utcnow()
        ids = list(dict.fromkeys(job_ids))
        with self._db() as db:
            rows = []
            for chunk in _chunks(ids):
                rows += db.execute(f"SELECT * FROM jobs WHERE job_id IN ({_marks(chunk)}) "
                                   f"AND owner = ? AND {_ACTIVE}", [*chunk, owner]).fetchall()
            _apply(db, [release_change(r, now) for r in rows])
        return len(rows)

    def request_cancel(self, job_id: str, now: datetime | None = None) -> JobStatus | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            status = JobStatus(row["status"])
            if status.is_terminal:
                return status
            if status is JobStatus.PENDING and row["owner"] is None:
                _apply(db, [cancel_change(row, now or utcnow())])
                return JobStatus.CANCELLED
            db.execute("UPDATE jobs SET cancel_requested = 1 WHERE job_id = ?", (job_id,))
            return status

    def cancel_requests(self, owner: str) -> list[str]:
        with self._read() as db:
            rows = db.execute(f"SELECT job_id FROM jobs WHERE owner = ? AND "
                              f"cancel_requested = 1 AND {_ACTIVE}", (owner,)).fetchall()
        return [r[0] for r in rows]

    def clear_cancel(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        with self._db() as db:
            db.executemany("UPDATE jobs SET cancel_requested = 0 WHERE job_id = ? AND "
                           "cancel_requested = 1", [(i,) for i in job_ids])

    # -- engines and recovery ---------------------------------------------------------

    def register_engine(self, owner: str, pid: int | None = None, host: str | None = None,
                        now: datetime | None = None) -> None:
        at = to_us(now or utcnow())
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO engines VALUES (?, ?, ?, ?, ?)",
                       (owner, os.getpid() if pid is None else pid,
                        host or socket.gethostname(), at, at))

    def heartbeat(self, owner: str, now: datetime | None = None) -> bool:
        with self._db() as db:
            cur = db.execute("UPDATE engines SET last_seen = ? WHERE owner = ?",
                             (to_us(now or utcnow()), owner))
            return cur.rowcount > 0

    def unregister_engine(self, owner: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM engines WHERE owner = ?", (owner,))

    def engines(self) -> list[EngineInfo]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM engines ORDER BY started_at, owner").fetchall()
        return [_engine(r) for r in rows]

    def recover(self, owner: str, is_dead: Callable[[EngineInfo], bool] | None = None,
                now: datetime | None = None, *, retry_interrupted: bool = False
                ) -> RecoveryReport:
        now = now or utcnow()
        is_dead = is_dead or partial(engine_is_dead, now=now)
        with self._db() as db:
            engines = {r["owner"]: _engine(r) for r in db.execute("SELECT * FROM engines")}
            dead = sorted(dead_engines(engines, owner, is_dead))
            # Only rows that may need recovery: live engines' jobs stay out of Python.
            rows = db.execute(
                f"SELECT *, (SELECT status FROM results r WHERE r.job_id = jobs.job_id) "
                f"AS ended FROM jobs WHERE {_ACTIVE} AND ("
                f"(owner IS NULL AND status = 'running') OR (owner != ? AND ("
                f"owner NOT IN (SELECT owner FROM engines) OR owner IN ({_marks(dead)}))))",
                [owner, *dead]).fetchall()
            ended = {r["job_id"]: r["ended"] for r in rows if r["ended"] is not None}
            changes, report = plan_recovery(rows, engines, owner, set(dead), now,
                                            retry_interrupted=retry_interrupted, ended=ended)
            _apply(db, changes)
            db.executemany("DELETE FROM engines WHERE owner = ?", [(o,) for o in dead])
            if report:
                _remember(db, RecoveryRecord.of(report, owner, dead, now))
        return report

    def recoveries(self, limit: int = 10) -> list[RecoveryRecord]:
        with self._read() as db:
            rows = db.execute("SELECT * FROM recoveries ORDER BY seq DESC LIMIT ?",
                              (limit,)).fetchall()
        return [RecoveryRecord(from_us(r["at"]), r["owner"], tuple(json.loads(r["dead"])),
                               r["requeued"], r["interrupted"], r["failed"], r["cancelled"],
                               r["completed"]) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _engine(row: sqlite3.Row) -> EngineInfo:
    return EngineInfo(row["owner"], row["pid"], row["host"], from_us(row["started_at"]),
                      from_us(row["last_seen"]))


def _remember(db: sqlite3.Connection, record: RecoveryRecord) -> None:
    db.execute("INSERT INTO recoveries (at, owner, dead, requeued, interrupted, failed, "
               "cancelled, completed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (to_us(record.at), record.owner, json.dumps(record.dead), record.requeued,
                record.interrupted, record.failed, record.cancelled, record.completed))
    db.execute("DELETE FROM recoveries WHERE seq <= (SELECT max(seq) FROM recoveries) - ?",
               (KEEP_RECOVERIES,))


def _apply(db: sqlite3.Connection, changes: Sequence[Change]) -> None:
    db.executemany(_APPLY_CHANGE, [c.values for c in changes])
    results: dict[str, dict[str, Any]] = {}
    for c in changes:
        if c.result is not None:
            results.setdefault(c.job_id, c.result)  # as INSERT OR IGNORE: the first wins
    db.executemany(_INSERT_RESULT, list(results.values()))
    # The result holds the notes now (see update()).
    db.executemany("UPDATE jobs SET notes = NULL WHERE job_id = ? AND notes IS NOT NULL",
                   [(job_id,) for job_id in results])


def _execute_rows(db: sqlite3.Connection, kind: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Write ``rows`` with :func:`_rows_sql` statements of many rows each.

    Not one row per statement (``executemany``): every ``sqlite3_step`` lets go of the
    GIL, and while worker threads are busy a thread that wants it back waits out CPython's
    switch interval (5 ms). Measured with 4 busy threads: 250-320 us a row at one row a
    statement, 6-9 us at 100. Chunks are powers of two, so a connection compiles only a
    few statements of each kind.
    """
    if not rows:
        return
    width = len(rows[0])
    fit = max(1, min(_MAX_ROWS, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
    size = 1 << (fit.bit_length() - 1)
    start, n = 0, len(rows)
    while start < n:
        while size > n - start:
            size >>= 1
        stop = start + (n - start) // size * size
        db.executemany(_rows_sql(kind, size), [
            list(chain.from_iterable(rows[i:i + size])) for i in range(start, stop, size)])
        start = stop


def _stored_ids(db: sqlite3.Connection, ids: Sequence[str]) -> list[str]:
    found: list[str] = []
    for chunk in _chunks(ids):
        found += (r[0] for r in db.execute(
            f"SELECT job_id FROM jobs WHERE job_id IN ({_marks(chunk)})", chunk))
    return found


def _notes(db: sqlite3.Connection, ids: Sequence[str]) -> dict[str, str]:
    """The error notes of those of ``ids`` that have any.

    Reads the jobs_notes index whole: it holds only jobs with notes not yet merged into a
    result (update() clears them), usually none, which beats looking up every id.
    """
    wanted = set(ids)
    return {job_id: notes for job_id, notes in db.execute(
        "SELECT job_id, notes FROM jobs INDEXED BY jobs_notes WHERE notes IS NOT NULL")
        if job_id in wanted}


def _with_notes(row: tuple[Any, ...], notes: str) -> tuple[Any, ...]:
    errors = RESULT_COLUMNS.index("errors")
    return (*row[:errors], merge_notes(row[errors], notes), *row[errors + 1:])


def _claimable(db: sqlite3.Connection, limit: int, can_run: Callable[[str], bool] | None
               ) -> list[int]:
    """The seqs of the first ``limit`` claimable jobs whose task ``can_run`` accepts."""
    where, params = "", []
    if can_run is not None:
        # The usual case first: the next `limit` jobs are all runnable here. This reads
        # only those index entries; listing the distinct tasks reads the whole backlog
        # (~10 ms per 100,000 jobs), too much for every claim of a large resume.
        head = db.execute(f"SELECT seq, task {_CLAIM_FROM} ORDER BY priority DESC, seq "
                          f"LIMIT ?", (limit,)).fetchall()
        if all(can_run(t) for t in {task for _, task in head}):
            return [seq for seq, _ in head]
        # Ask can_run once per distinct task, then let SQLite filter the index walk.
        tasks = [r[0] for r in db.execute(f"SELECT DISTINCT task {_CLAIM_FROM}")]
        verdicts = {t: bool(can_run(t)) for t in tasks}
        accepted = [t for t in tasks if verdicts[t]]
        rejected = [t for t in tasks if not verdicts[t]]
        if not accepted:
            return []
        if rejected:
            keep = len(accepted) <= len(rejected)
            params = accepted if keep else rejected
            if len(params) > _CHUNK:  # beyond old SQLites' variable limit: filter here
                return _claimable_slowly(db, limit, set(accepted))
            where = f" AND task {'' if keep else 'NOT '}IN ({_marks(params)})"
    sql = f"SELECT seq {_CLAIM_FROM}{where} ORDER BY priority DESC, seq LIMIT ?"
    return [r[0] for r in db.execute(sql, [*params, limit])]


def _claimable_slowly(db: sqlite3.Connection, limit: int, accepted: set[str]) -> list[int]:
    seqs: list[int] = []
    cur = db.execute(f"SELECT seq, task {_CLAIM_FROM} ORDER BY priority DESC, seq")
    try:
        while len(seqs) < limit and (batch := cur.fetchmany(256)):
            seqs += [seq for seq, task in batch if task in accepted]
    finally:
        cur.close()
    return seqs[:limit]


_SIDECARS = ("-wal", "-shm", "-journal")


def _files_of(path: str) -> set[str]:
    """Which of the database file and its sidecar files exist now."""
    return {p for p in (path, *(path + s for s in _SIDECARS)) if os.path.lexists(p)}


def _remove_new_files(path: str, existed: set[str]) -> None:
    """After a failed open: remove the files that open created (the database file if it
    made a new one, and -wal/-shm/-journal that were not there). Files that existed are
    never touched; a failed open of an existing store creates none in use by others (it
    had none of them, so no other connection was open on the file)."""
    for created in _files_of(path) - existed:
        try:
            os.remove(created)
        except OSError:
            pass


def _check_writable(path: str) -> None:
    """Refuse a store this process can not write, before SQLite creates anything.

    SQLite would open it read-only, make -wal/-shm files it then leaves behind, and fail
    at the first write.
    """
    if not os.path.exists(path):
        return
    if not os.access(path, os.W_OK):
        raise StoreError(f"SQLite store {path!r} is read-only for this user; check that "
                         f"the file and its directory are writable")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK) and not all(
            os.access(path + s, os.W_OK) for s in ("-wal", "-shm")):
        raise StoreError(f"the folder of SQLite store {path!r} is not writable, and SQLite "
                         f"needs to create {os.path.basename(path)}-wal and -shm beside it; "
                         f"check the folder's permissions or move the file")


def _connect(path: str, busy_timeout: float) -> sqlite3.Connection:
    """Open ``path`` after checking it is a new file or looks like a SQLite database."""
    if os.path.isdir(path):
        raise StoreError(f"SQLite store {path!r} is a directory; pass a file path such as "
                         f"{os.path.join(path, 'godnb.db')!r}")
    _check_writable(path)
    _create_private(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_HEADER))
    except OSError as e:
        raise StoreError(f"can not read SQLite store {path!r}: {e.strerror}; check its "
                         f"permissions") from e
    if head and head != _HEADER:
        raise StoreError(f"{path!r} is not a SQLite database (it starts with {head!r}); it "
                         f"was left untouched. Move it aside or pass another path "
                         f"(e.g. --db godnb.db)")
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return conn


def _create_private(path: str) -> None:
    """Create ``path`` with mode 0600 unless it exists (SQLite gives -wal/-shm the same)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as e:
        raise StoreError(f"can not create SQLite store {path!r}: {e.strerror}; check that "
                         f"its directory exists and is writable") from e
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask
    finally:
        os.close(fd)
