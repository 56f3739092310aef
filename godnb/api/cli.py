"""The ``godnb`` command line (also ``python -m godnb``).

Each command parses its arguments, calls the public API (a store, an engine), and prints
what a pure formatter in :mod:`godnb.api.cli_format` made of the result::

    godnb submit TASK [--args JSON] [--kwargs JSON] [--priority N] [--retries N] ...
    godnb status [JOB]          godnb list [--status S] [--limit N]
    godnb result JOB [--wait S] [--unpickle]     godnb cancel JOB [--wait S]
    godnb monitor [--interval S] [--until-done]
    godnb report PATH [--limit N]   (one self-contained HTML page of the store's run)
    godnb worker [--threads N] [--processes N] [--import MODULE] [--allow PATTERN] [--grace S]
    godnb demo

Every command takes ``--db PATH`` (default ``$GODNB_DB`` or ``./godnb.db``) and, where it
prints data, ``--json``. Exit codes: 0 success; 1 the job failed, was cancelled or had
ended already (``result``, ``cancel``); 2 bad input (one line on stderr, nothing
written); 3 ``result`` of a job that has not finished; ``128 + signal`` for a worker
stopped by a second signal.

Trust: a store file can name any code, so reading one never unpickles anything (``status``,
``list``, ``monitor`` and ``result`` show pickled values as ``<pickled ..., not loaded>``;
``result --unpickle`` loads one on request), and a worker runs only the tasks it was
allowed (see ``godnb worker --help``). No command puts the current folder on the import
path: ``--path DIR`` (or ``PYTHONPATH``) does. Numbers and JSON are checked against the
bounds in :mod:`godnb.api.cli_args`; user text is printed with control characters escaped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any, NoReturn

from godnb.api import cli_format as fmt
from godnb.api.cli_args import (
    MAX_THREADS,
    bounded_int,
    max_processes,
    parse_json,
    seconds,
)
from godnb.core.tasks import check_allow, registered_tasks, resolve_task
from godnb.errors import GodnbError, StoreError, UnknownTask
from godnb.models import Job, JobStatus
from godnb.models.job import PRIORITY_MAX, PRIORITY_MIN, utcnow, validate_payload
from godnb.storage.codec import Pickled
from godnb.storage.sqlite import SQLiteStore

__all__ = ["CLIError", "build_parser", "main"]

BUILTIN_BACKENDS = ("async", "inline", "process", "thread")
_RECOVERIES_SHOWN = 5  # by `godnb status`: the latest recoveries of dead engines' jobs


class CLIError(Exception):
    """A user mistake or a refused request: printed as one line, no traceback."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (exit 2), not usage + error."""

    def error(self, message: str) -> NoReturn:
        # "argument --threads: must be ..." reads better as "--threads must be ...".
        message = re.sub(r"^argument ([^:]+): (must be )?", lambda m: f"{m[1]} {m[2]}"
                         if m[2] else f"{m[1]}: ", message)
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see '{self.prog} --help')\n")


def default_db() -> str:
    return os.environ.get("GODNB_DB") or "./godnb.db"


# -- helpers -------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return fmt.clean(" ".join(str(text).split()))


def _open_existing(path: str) -> SQLiteStore:
    """Open a store that must exist already (read commands never create one)."""
    if not os.path.lexists(path):
        raise CLIError(f"no database at {path}; pass --db PATH or set GODNB_DB "
                       f"(a database is created by 'godnb submit' or 'godnb worker')")
    return _open(path)


def _open(path: str) -> SQLiteStore:
    try:
        return SQLiteStore(path)
    except StoreError as e:
        raise CLIError(str(e)) from None


def _get_job(store: SQLiteStore, job_id: str, db: str) -> Job:
    job = store.get_job(job_id)
    if job is None:
        raise CLIError(f"no job {job_id!r} in {db}; see the job ids with 'godnb list "
                       f"--db {db}'")
    return job


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def import_modules(names: Sequence[str], paths: Sequence[str] = ()) -> None:
    """Import task modules (``--import``) after putting ``paths`` (``--path``) first on
    the import path; a missing one is a CLIError. The current folder is never added by
    itself: a store names tasks, and a worker must not import a stray ``./x.py`` for one.
    """
    for path in reversed(paths):
        if not os.path.isdir(path):
            raise CLIError(f"--path {path!r} is not a folder; give the folder that holds "
                           f"your task modules (e.g. --path .)")
        folder = os.path.abspath(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise CLIError(f"can not import module {name!r} given with --import: {e}; "
                           f"check the name and that it is on PYTHONPATH") from None


def _json_arg(text: str, option: str, kind: type, example: str) -> Any:
    try:
        value = parse_json(text, option)
    except ValueError as e:
        raise CLIError(f"{e}; e.g. {option} '{example}'") from None
    if not isinstance(value, kind):
        what = "a JSON list" if kind is list else "a JSON object"
        raise CLIError(f"{option} must be {what}, got {type(value).__name__}; "
                       f"e.g. {option} '{example}'")
    return value


def _wait_until_ended(store: SQLiteStore, job_id: str, seconds: float) -> Job:
    deadline = time.monotonic() + seconds
    while True:
        job = store.get_job(job_id)
        assert job is not None
        if job.status.is_terminal or time.monotonic() >= deadline:
            return job
        time.sleep(0.05)


# -- submit ----------------------------------------------------------------------------------
def _check_task(task: str, defer: bool) -> dict[str, Any]:
    """Fail on a task that can not be found here; return its registered default options.

    A registered name must be registered by a module given with --import; a
    ``module:function`` is imported. ``defer`` (``--defer``) skips the check, for a task
    only the worker that will run it can resolve.
    """
    if defer:
        spec = registered_tasks().get(task)
        return dict(spec.options) if spec is not None else {}
    try:
        spec = resolve_task(task)
    except UnknownTask as e:
        raise CLIError(f"unknown task: {e}; or pass --defer to queue it anyway, for a "
                       f"worker that can run it") from None
    return dict(spec.options)


def _backend_names() -> list[str]:
    plugins = metadata.entry_points(group="godnb.plugins").names
    return sorted(set(BUILTIN_BACKENDS) | set(plugins))


def _build_job(a: argparse.Namespace) -> Job:
    import_modules(a.imports, a.paths)
    args = _json_arg(a.args, "--args", list, "[1, 2]")
    kwargs = _json_arg(a.kwargs, "--kwargs", dict, '{"size": 3}')
    try:
        validate_payload({"task": a.task}, check_json=False)  # its spelling, first
    except ValueError as e:
        raise CLIError(f"invalid Job: {e}") from None
    defaults = _check_task(a.task, defer=a.defer)
    if a.backend is not None and a.backend not in _backend_names():
        raise CLIError(f"unknown backend {a.backend!r}; valid backends: "
                       f"{', '.join(_backend_names())}")
    options = {"priority": a.priority, "retries": a.retries, "timeout": a.timeout,
               "group": a.group, "backend": a.backend}
    options = {k: v if v is not None else defaults.get(k) for k, v in options.items()}
    options = {k: v for k, v in options.items() if v is not None}
    try:
        return Job(payload={"task": a.task, "args": args, "kwargs": kwargs}, name=a.name,
                   tags=a.tags, **options)
    except GodnbError as e:  # a ValidationError naming the field
        raise CLIError(str(e)) from None


def cmd_submit(a: argparse.Namespace) -> int:
    job = _build_job(a)  # everything is checked before the store is opened or created
    with _open(a.db) as store:
        try:
            store.add([job], owner=None)  # unowned: any engine on the file claims it
        except StoreError as e:
            raise CLIError(str(e)) from None
    _print(fmt.to_json({"job_id": job.job_id}) if a.json else job.job_id)
    return 0


# -- reading ---------------------------------------------------------------------------------
def cmd_status(a: argparse.Namespace) -> int:
    with _open_existing(a.db) as store:
        if a.job is not None:
            job = _get_job(store, a.job, a.db)
            result = store.get_result(a.job)
            if a.json:
                _print(fmt.to_json({"job": fmt.job_dict(job),
                                    "result": result and fmt.result_dict(result)}, indent=2))
            else:
                _print(fmt.format_job(job, result, utcnow()))
            return 0
        counts, engines = store.counts(), store.engines()
        recoveries = store.recoveries(limit=_RECOVERIES_SHOWN)
    if a.json:
        _print(fmt.to_json({"db": a.db, "counts": counts, "total": sum(counts.values()),
                            "engines": [fmt.engine_dict(e) for e in engines],
                            "recoveries": [fmt.recovery_dict(r) for r in recoveries]},
                           indent=2))
    else:
        _print(fmt.format_status(counts, engines, a.db, utcnow(), recoveries))
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    if a.limit < 0:
        raise CLIError(f"--limit must be >= 0 (0 means all), got {a.limit}")
    with _open_existing(a.db) as store:
        jobs = store.list_jobs(a.status, limit=a.limit or None)
    if a.json:
        _print(fmt.to_json([fmt.job_dict(j) for j in jobs], indent=2))
    else:
        _print(fmt.format_jobs(jobs, utcnow()))
    return 0


def cmd_result(a: argparse.Namespace) -> int:
    with _open_existing(a.db) as store:
        job = _get_job(store, a.job, a.db)
        if a.wait and not job.status.is_terminal:
            job = _wait_until_ended(store, a.job, a.wait)
        result = store.get_result(a.job) if job.status.is_terminal else None
    code = _result_code(job)
    if result is not None and a.unpickle and isinstance(result.output, Pickled):
        result = result.model_copy(update={"output": _unpickle(result.output)})
    if a.json:
        data = fmt.result_dict(result) if result is not None else \
            {"job_id": job.job_id, "status": job.status.value, "output": None, "errors": []}
        _print(fmt.to_json(data, indent=2))
    elif code == 3:  # no result to print: a note on stderr, so `x=$(...)` stays clean
        sys.stderr.write(fmt.format_result(job, result) + "\n")
    else:  # the output, or the errors of a failed job (exit code 1)
        _print(fmt.format_result(job, result))
    return code


def _unpickle(value: Pickled) -> Any:
    """Load a pickled output on request (``--unpickle``): it may run code the store names."""
    try:
        return value.load()
    except Exception as e:  # a class this process can not import, a broken pickle...
        raise CLIError(f"the pickled output could not be loaded ({type(e).__name__}: "
                       f"{e}); import the module that defines it (e.g. run from the "
                       f"project with PYTHONPATH set)", code=1) from None


def _result_code(job: Job) -> int:
    if job.status is JobStatus.COMPLETED:
        return 0
    return 1 if job.status.is_terminal else 3


# -- cancel ----------------------------------------------------------------------------------
def cmd_cancel(a: argparse.Namespace) -> int:
    with _open_existing(a.db) as store:
        job = _get_job(store, a.job, a.db)
        before = job.status
        status = store.request_cancel(a.job)
        if status is None:
            raise CLIError(f"no job {a.job!r} in {a.db}")
        if a.wait and not status.is_terminal:
            status = _wait_until_ended(store, a.job, a.wait).status
    ended_before = before.is_terminal
    job_id = fmt.clean(a.job)
    if a.json:
        _print(fmt.to_json({"job_id": a.job, "status": status.value,
                            "requested": not ended_before}))
    elif ended_before:
        sys.stderr.write(f"job {job_id} had already ended ({before.value}); nothing to "
                         f"cancel\n")
    elif status is JobStatus.CANCELLED:
        _print(f"job {job_id} cancelled")
    elif status.is_terminal:
        _print(f"job {job_id} ended {status.value} before the cancel reached it")
    else:
        _print(f"cancel requested for job {job_id} ({status.value}); the engine running it "
               f"stops it within about a second")
    return 1 if ended_before or (status.is_terminal and status is not JobStatus.CANCELLED) \
        else 0


# -- live commands -----------------------------------------------------------------------------
def cmd_monitor(a: argparse.Namespace) -> int:
    from godnb.api.monitor import LiveView, take_snapshot, watch

    store = _open_existing(a.db)
    view = LiveView(ansi=False if a.plain else None)
    try:
        watch(lambda prev: take_snapshot(store, a.db, previous=prev, running_limit=a.rows),
              view, interval=a.interval, until_done=a.until_done)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live view is closed: not an error
    finally:
        view.close()
        store.close()
    return 0


def cmd_worker(a: argparse.Namespace) -> int:
    from godnb.api.worker import Worker
    from godnb.core.engine import Engine
    from godnb.utils.logging import configure_logging, reset_logging

    try:
        allow = check_allow([*a.allow, *(p for m in a.imports for p in (m, m + ".*"))])
    except (TypeError, ValueError) as e:
        raise CLIError(f"--allow: {e}") from None
    import_modules(a.imports, a.paths)
    configure_logging(a.log_level, json=a.log_format == "json")
    try:
        try:
            engine = Engine(threads=a.threads, processes=a.processes, backend=a.backend,
                            store=a.db, poll_interval=a.poll, name=a.name, allow=allow)
        except (GodnbError, ValueError) as e:
            raise CLIError(str(e)) from None
        try:
            return Worker(engine, grace=a.grace, until_done=a.until_done).run()
        finally:
            engine.shutdown(wait=False)  # a no-op after a clean stop; else no leaks
    finally:
        reset_logging()  # main() may run in-process (tests, embedding): leave no handler


def cmd_report(a: argparse.Namespace) -> int:
    from godnb.api.report import store_report
    from godnb.core.reporting import godnb_version
    from godnb.utils.formatting import format_bytes
    from godnb.views.report import format_report_html

    folder = os.path.dirname(os.path.abspath(a.path))
    if not os.path.isdir(folder):
        raise CLIError(f"can not write {a.path}: no folder {folder}")
    store = _open_existing(a.db)
    try:
        page = format_report_html(store_report(store, a.db, utcnow(), limit=a.limit,
                                               version=godnb_version()))
    finally:
        store.close()
    try:
        with open(a.path, "w", encoding="utf-8") as f:
            f.write(page)
    except OSError as e:
        raise CLIError(f"can not write {a.path}: {e.strerror or e}") from None
    _print(f"wrote {fmt.clean(a.path)} ({format_bytes(len(page.encode()))}): summary, "
           f"timeline, profile and failures of {fmt.clean(a.db)}, viewable offline")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from godnb.api.demo import run_demo

    return run_demo(db=a.db, jobs=a.jobs, plain=a.plain, interval=a.interval)


# -- the parser --------------------------------------------------------------------------------
def _common(json_output: bool, db_default: Callable[[], str | None] = default_db
            ) -> argparse.ArgumentParser:
    p = _Parser(add_help=False)
    p.add_argument("--db", metavar="PATH", default=db_default(),
                   help="the SQLite store (default: $GODNB_DB or ./godnb.db)")
    if json_output:
        p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _add_submit(sub: Any) -> None:
    p = sub.add_parser("submit", parents=[_common(True)], help="queue a job by task name",
                       description="Queue a job; any engine on the database (a worker, a "
                       "notebook's engine) runs it. Prints the job id.")
    p.add_argument("task", metavar="TASK", help="a registered name or 'module:function'")
    p.add_argument("--args", default="[]", metavar="JSON", help="positional args (a list)")
    p.add_argument("--kwargs", default="{}", metavar="JSON", help="keyword args (an object)")
    p.add_argument("--priority", type=bounded_int(PRIORITY_MIN, PRIORITY_MAX), metavar="N",
                   help="higher runs first (default 0)")
    p.add_argument("--retries", type=bounded_int(0, 1000), metavar="N",
                   help="attempts after the first (0 to 1000)")
    p.add_argument("--timeout", type=seconds(zero=False), metavar="S",
                   help="seconds per attempt (> 0)")
    p.add_argument("--group", metavar="G", help="the submitter, for fair turns")
    p.add_argument("--name", metavar="NAME", help="a label for lists and logs")
    p.add_argument("--backend", metavar="B", help="thread, process, async, ...")
    p.add_argument("--tag", dest="tags", action="append", default=[], metavar="T")
    p.add_argument("--import", dest="imports", action="append", default=[],
                   metavar="MODULE", help="import a module that registers tasks first")
    p.add_argument("--path", dest="paths", action="append", default=[], metavar="DIR",
                   help="put DIR first on the import path (e.g. --path . for modules in "
                   "this folder; the current folder is not searched by itself)")
    p.add_argument("--defer", action="store_true",
                   help="queue the task without checking that it can be found here (for a "
                   "task only the worker that runs it can import)")
    p.set_defaults(func=cmd_submit)


def _add_readers(sub: Any) -> None:
    p = sub.add_parser("status", parents=[_common(True)],
                       help="counts, engines and recent recoveries, or a job")
    p.add_argument("job", nargs="?", metavar="JOB")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("list", parents=[_common(True)], help="a table of jobs, newest first")
    p.add_argument("--status", choices=[s.value for s in JobStatus])
    p.add_argument("--limit", type=bounded_int(0, 10_000_000), default=50, metavar="N",
                   help="rows (0: all)")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("result", parents=[_common(True)], help="a job's output or errors",
                       description="Print a job's output, or its errors. An output that "
                       "was stored pickled is shown as <pickled result, N bytes, not "
                       "loaded>: loading it runs code the store names, so it is loaded "
                       "only with --unpickle.")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--wait", type=seconds(zero=True), default=0.0, metavar="S",
                   help="wait up to S seconds for the job to end")
    p.add_argument("--unpickle", action="store_true",
                   help="load a pickled output (only for a store you trust like code)")
    p.set_defaults(func=cmd_result)
    p = sub.add_parser("cancel", parents=[_common(True)], help="cancel a job, wherever it runs")
    p.add_argument("job", metavar="JOB")
    p.add_argument("--wait", type=seconds(zero=True), default=0.0, metavar="S",
                   help="wait up to S seconds for the job to end")
    p.set_defaults(func=cmd_cancel)


_WORKER_HELP = """\
Run jobs submitted to the database until SIGINT/SIGTERM. Graceful: running jobs get
--grace seconds, the rest are re-queued; a second signal exits at once.

Trust: a database file can name any code. The worker runs only tasks registered with
@god.task by the modules it imports (--import), or whose module matches an --allow
pattern (--import MODULE also allows MODULE and MODULE.*). A job naming anything else
fails, with the reason, and nothing is imported for it; pickled arguments are loaded
only for jobs it runs.

The worker never adds the current folder to the import path (`python -m godnb` has it,
as python -m always does). For modules in a folder use --path DIR or PYTHONPATH:
  godnb worker --path . --import mytasks
"""


def _add_live(sub: Any) -> None:
    p = sub.add_parser("monitor", parents=[_common(False)], help="a live view of the queue")
    p.add_argument("--interval", type=seconds(zero=False, high=3600), default=0.5,
                   metavar="S", help="seconds between redraws (default 0.5)")
    p.add_argument("--until-done", action="store_true",
                   help="exit 0 once no job is pending or running")
    p.add_argument("--rows", type=bounded_int(0, 1000), default=8, metavar="N",
                   help="running jobs shown")
    p.add_argument("--plain", action="store_true", help="no ANSI: print changed frames")
    p.set_defaults(func=cmd_monitor)

    p = sub.add_parser(
        "worker", parents=[_common(False)], help="run jobs from the database",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_WORKER_HELP)
    p.add_argument("--threads", type=bounded_int(1, MAX_THREADS), metavar="N",
                   help=f"thread workers (1 to {MAX_THREADS})")
    p.add_argument("--processes", type=bounded_int(1, max_processes), metavar="N",
                   help=f"process workers (1 to {max_processes()}: 4 per CPU core)")
    p.add_argument("--backend", default="thread", choices=["thread", "process"],
                   help="for jobs that name none (default thread)")
    p.add_argument("--import", dest="imports", action="append", default=[],
                   metavar="MODULE", help="import a task module and allow its tasks "
                   "(repeatable)")
    p.add_argument("--allow", action="append", default=[], metavar="PATTERN",
                   help="also run tasks of modules matching PATTERN, e.g. 'mypkg.*' or "
                   "'math' (repeatable; '*' trusts the database like code)")
    p.add_argument("--path", dest="paths", action="append", default=[], metavar="DIR",
                   help="put DIR first on the import path (repeatable)")
    p.add_argument("--grace", type=seconds(zero=True), default=30.0, metavar="S",
                   help="seconds running jobs get to finish on SIGINT/SIGTERM (default 30)")
    p.add_argument("--poll", type=seconds(zero=False, high=60), default=0.25, metavar="S",
                   help="how often to look for new jobs and cancel requests (up to 60)")
    p.add_argument("--until-done", action="store_true",
                   help="exit 0 once the database has no pending or running job (a job "
                   "no engine can run keeps it waiting)")
    p.add_argument("--name", metavar="NAME", help="the engine's name")
    p.add_argument("--log-level", default="INFO", type=str.upper,
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.add_argument("--log-format", default="json", choices=["json", "text"])
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("report", parents=[_common(False)],
                       help="write the store's run to one self-contained HTML file",
                       description="Summary, an approximate timeline (from each job's "
                       "finish time and run time), the profile table and the first "
                       "failures, on one page that needs no network and no kernel.")
    p.add_argument("path", metavar="PATH", help="the HTML file to write")
    p.add_argument("--limit", type=bounded_int(1, 10_000_000), default=100_000, metavar="N",
                   help="read the newest N jobs (default 100,000)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", parents=[_common(False, lambda: None)],
                       help="a headless demo run with the live view",
                       description="Runs a few hundred jobs of mixed priority and the "
                       "inference pipeline on a database in a temporary folder.")
    p.add_argument("--jobs", type=bounded_int(1, 100_000), default=300, metavar="N")
    p.add_argument("--interval", type=seconds(zero=False, high=3600), default=0.25,
                   metavar="S")
    p.add_argument("--plain", action="store_true", help="no ANSI: print changed frames")
    p.set_defaults(func=cmd_demo)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="godnb", description="Run and watch godnb jobs from a terminal.")
    parser.add_argument("--version", action="version",
                        version=f"godnb {metadata.version('godnb')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_submit(sub)
    _add_readers(sub)
    _add_live(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CLIError as e:
        sys.stderr.write(f"godnb {args.command}: error: {_one_line(str(e))}\n")
        return e.code
    except (StoreError, GodnbError) as e:  # e.g. the file went bad while we read it
        sys.stderr.write(f"godnb {args.command}: error: {_one_line(str(e))}\n")
        return 2
    except BrokenPipeError:  # `godnb list | head`: the reader left, fine
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
