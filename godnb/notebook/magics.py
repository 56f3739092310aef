"""``%god`` / ``%%god``: submit cells as jobs and watch them, on the default engine.

Built like ipyparallel's magics: a :class:`~IPython.core.magic.Magics` subclass around the
engine it drives, arguments parsed with argparse and handed to the public API in a few
lines, user mistakes raised as :class:`~IPython.core.error.UsageError` (one message, no
traceback). No user text is evaluated except the ``%%god submit`` cell body itself.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Generator
from html import escape
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.utils.process import arg_split

from godnb.core.engine import Engine, default_engine
from godnb.core.handles import JobHandle
from godnb.errors import GodnbError, LoopBlockingError
from godnb.execution.output import install as install_output_router
from godnb.notebook import rich
from godnb.notebook.cellinfo import cell_filename, current_cell
from godnb.notebook.cells import compile_cell, make_job
from godnb.notebook.formatters import (
    format_engine_html,
    format_engine_text,
    format_job_html,
    format_job_text,
    format_queue_html,
    format_queue_text,
)
from godnb.notebook.rich import Report
from godnb.notebook.snapshots import snapshot_engine, snapshot_job, snapshot_queue
from godnb.utils.formatting import format_bytes

__all__ = ["USAGE", "GodMagics", "Waiter"]

USAGE = """\
%god: run and watch godnb jobs on the default engine (god.default_engine(): the first
Engine made in this kernel, unless god.set_default_engine chose another).

  %%god submit [--priority N] [--retries N] [--timeout S] [--name NAME] [--group G]
               [--backend B] [--key K]
      Run the cell body as a background job; the cell returns at once and shows the
      job's live view. The job's prints go to that view; its last expression is its
      result. A cell that awaits runs on the event loop, any other in a worker thread.
      The job is named cell-N after the cell In[N] (unless --name). --key K cancels
      the unfinished job of an earlier run with key K: re-running the cell replaces it.
  %god status [JOB]        one job's state, or the engine's summary
  %god queue [--rows N]    the live queue: pending and running jobs, with cancel buttons
  %god cancel JOB          cancel a pending or running job
  %god result JOB          a finished job's result (raises its error if it failed)
  %god wait [JOB] [--timeout S] [--block]
      An awaitable that ends with JOB (giving its result) or once every job has ended:
      `w = %god wait` then `await w` (a magic can not sit inside `await`). With --block
      it waits right here instead: fine for thread and process jobs; a job that needs
      the event loop can only be awaited.
  %god profile             per-task timing table
  %god timeline            the task stream: a lane per worker, a mark per run
  %god report PATH         write the engine's run to one self-contained HTML file
  %god help                this text

JOB is a job id, a unique prefix of one (4+ characters), the name of a variable that
holds a job handle, or a job's name (--name; the newest job of that name)."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as UsageError instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%god: {message}\n\n{USAGE}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or USAGE)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _build_parser() -> _Parser:
    parser = _Parser(prog="%god", add_help=False)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, required=True)
    submit = sub.add_parser("submit", add_help=False)
    submit.add_argument("--priority", type=int, default=None)
    submit.add_argument("--retries", type=_count, default=None)
    submit.add_argument("--timeout", type=_seconds, default=None)
    submit.add_argument("--name", default=None)
    submit.add_argument("--group", default=None)
    submit.add_argument("--backend", default=None)
    submit.add_argument("--key", default=None)
    sub.add_parser("status", add_help=False).add_argument("job", nargs="?")
    sub.add_parser("queue", add_help=False).add_argument("--rows", type=_positive_int,
                                                         default=20)
    sub.add_parser("cancel", add_help=False).add_argument("job")
    sub.add_parser("result", add_help=False).add_argument("job")
    wait = sub.add_parser("wait", add_help=False)
    wait.add_argument("job", nargs="?")
    wait.add_argument("--timeout", type=_seconds, default=None)
    wait.add_argument("--block", action="store_true")
    sub.add_parser("profile", add_help=False)
    sub.add_parser("timeline", add_help=False)
    sub.add_parser("report", add_help=False).add_argument("path")
    sub.add_parser("help", add_help=False)
    return parser


class Waiter:
    """What ``%god wait`` returns: ``await w`` ends with the job (its result) or the engine.

    Nothing runs until it is awaited (or ``result()`` is called), so an unused waiter
    leaves no never-awaited coroutine behind.
    """

    def __init__(self, engine: Engine, handle: JobHandle | None = None,
                 timeout: float | None = None) -> None:
        self.engine = engine
        self.handle = handle
        self.timeout = timeout

    async def _wait(self) -> Any:
        __tracebackhide__ = True
        if self.handle is not None:
            return await self.handle
        await self.engine.wait_async()
        return None

    def __await__(self) -> Generator[Any, None, Any]:
        __tracebackhide__ = True
        if self.timeout is None:
            return self._wait().__await__()
        return asyncio.wait_for(self._wait(), self.timeout).__await__()

    def result(self, timeout: float | None = None) -> Any:
        """Block until done: the job's result, or None once every job has ended."""
        __tracebackhide__ = True
        timeout = self.timeout if timeout is None else timeout
        if self.handle is not None:
            return self.handle.result(timeout)
        if not self.engine.wait(timeout):
            raise TimeoutError(f"jobs still active on engine {self.engine.name} after "
                               f"{timeout} s")
        return None

    def __repr__(self) -> str:
        what = f"job {self.handle.job_id}" if self.handle is not None else \
            f"every job on engine {self.engine.name}"
        return f"<godnb wait for {what}: `await` this object>"


@magics_class
class GodMagics(Magics):
    """The ``%god`` line and ``%%god`` cell magic. See :data:`USAGE`.

    Args:
        shell: the IPython shell.
        engine: the engine to drive; default: ``god.default_engine()`` at each call.
    """

    def __init__(self, shell: Any = None, engine: Engine | None = None) -> None:
        super().__init__(shell)
        self._engine = engine
        self._parser = _build_parser()
        self.last_job: JobHandle | None = None

    @property
    def engine(self) -> Engine:
        eng = self._engine
        return eng if eng is not None and not eng.closed else default_engine()

    @line_cell_magic
    def god(self, line: str, cell: str | None = None) -> Any:
        """Run and watch godnb jobs; ``%god help`` for the commands."""
        try:
            argv = arg_split(line, posix=True)
        except ValueError as e:  # unbalanced quotes
            raise UsageError(f"%god: {e}\n\n{USAGE}") from None
        if not argv or argv[0] in ("help", "-h", "--help"):
            print(USAGE)
            return None
        args = self._parser.parse_args(argv)
        args.line = line
        if cell is not None and args.command != "submit":
            raise UsageError(f"only `%%god submit` takes a cell body; use `%god {args.command}`"
                             f" on one line\n\n{USAGE}")
        if args.command == "submit" and cell is None:
            raise UsageError("`submit` runs a cell body: start the cell with "
                             f"`%%god submit`\n\n{USAGE}")
        return getattr(self, f"_cmd_{args.command}")(args, cell)

    # -- commands ------------------------------------------------------------------------
    def _cmd_submit(self, args: argparse.Namespace, cell: str) -> JobHandle:
        eng = self.engine
        shell = self.shell
        source = shell.transform_cell(cell) if shell is not None else cell
        origin = current_cell(shell)
        number = origin[0] if origin is not None else None
        # The cell as the user sees it, so a traceback's lines are the cell's own lines.
        filename = cell_filename(shell, f"%%god {args.line}\n{cell}", number)
        try:
            code = compile_cell(source, filename or "<god-cell>", first_line=2)
        except SyntaxError as e:
            raise UsageError(f"the cell body has a syntax error on line {e.lineno}: "
                             f"{e.msg}") from None
        backend = args.backend or ("async" if code.is_async else "thread")
        executor = eng.executors.get(backend)
        if executor is None:
            raise UsageError(f"unknown backend {backend!r}; valid backends: "
                             f"{sorted(eng.executors)}")
        if executor.needs_pickle:
            raise UsageError(f"a cell body can not run on {backend!r}: it lives in this "
                             f"kernel and can not be sent to another process; use "
                             f"--backend thread or async, or submit a module function")
        name = args.name or (f"cell-{number}" if number is not None else "cell")
        namespace: dict[str, Any] = shell.user_ns if shell is not None else {}
        fn = make_job(code, namespace, name=name, on_loop=executor.needs_loop)
        install_output_router()  # the job's prints go to it, in a kernel or not
        try:
            handle = eng.submit(fn, priority=args.priority, retries=args.retries,
                                timeout=args.timeout, backend=backend, group=args.group,
                                name=name, key=args.key)
        except (ValueError, TypeError, GodnbError) as e:
            raise UsageError(f"%god submit: {e}") from None
        handle.capture_output()
        self.last_job = handle
        return handle

    def _cmd_status(self, args: argparse.Namespace, cell: None) -> Report:
        if args.job is None:
            s = snapshot_engine(self.engine)
            return Report(format_engine_text(s), format_engine_html(s))
        j = snapshot_job(self._find(args.job))
        return Report(format_job_text(j), format_job_html(j))

    def _cmd_queue(self, args: argparse.Namespace, cell: None) -> Any:
        if rich.widgets_enabled():
            return self.engine.queue_view(rows=args.rows)
        s = snapshot_queue(self.engine, args.rows)
        return Report(format_queue_text(s), format_queue_html(s))

    def _cmd_cancel(self, args: argparse.Namespace, cell: None) -> None:
        handle = self._find(args.job)
        if handle.cancel():
            print(f"cancelled job {handle.job_id} ({handle.name})")
        else:
            print(f"job {handle.job_id} ({handle.name}) had already ended: "
                  f"{handle.status.value}")

    def _cmd_result(self, args: argparse.Namespace, cell: None) -> Any:
        handle = self._find(args.job)
        if not handle.done():
            raise UsageError(f"job {handle.job_id} ({handle.name}) is still "
                             f"{handle.status.value}; wait for it first: "
                             f"`w = %god wait {args.job}` then `await w`")
        return handle.result()

    def _cmd_wait(self, args: argparse.Namespace, cell: None) -> Any:
        handle = None if args.job is None else self._find(args.job)
        waiter = Waiter(self.engine, handle, args.timeout)
        if not args.block:
            return waiter
        try:
            return waiter.result()
        except LoopBlockingError as e:
            raise UsageError(f"{e}\nUse `w = %god wait` then `await w` instead.") from None

    def _cmd_profile(self, args: argparse.Namespace, cell: None) -> Report:
        table = self.engine.profile()
        return Report(table.to_text(), table.to_html())

    def _cmd_timeline(self, args: argparse.Namespace, cell: None) -> Any:
        return self.engine.timeline()

    def _cmd_report(self, args: argparse.Namespace, cell: None) -> Report:
        try:
            path = self.engine.report(args.path)
        except OSError as e:
            raise UsageError(f"%god report: can not write {args.path!r}: {e.strerror or e}"
                             ) from None
        size = format_bytes(path.stat().st_size)
        text = f"wrote {path} ({size}): summary, timeline, profile and failures, offline"
        link = escape(str(path))
        return Report(text, f'wrote <a href="{link}" target="_blank">{link}</a> ({size}): '
                            f"summary, timeline, profile and failures, offline")

    def _cmd_help(self, args: argparse.Namespace, cell: None) -> None:
        print(USAGE)

    # -- helpers -------------------------------------------------------------------------
    def _find(self, ref: str) -> JobHandle:
        """A handle by variable name, job id, unique id prefix or job name (no evaluation).

        A name given to several jobs (``%%god submit --name train`` run twice) means the
        newest of them.
        """
        shell = self.shell
        if ref.isidentifier() and shell is not None:
            value = shell.user_ns.get(ref)
            if isinstance(value, JobHandle):
                return value
        eng = self.engine
        handle = eng.get(ref)
        if handle is not None:
            return handle
        handles = eng.jobs()
        if len(ref) >= 4:
            matches = [h for h in handles if h.job_id.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UsageError(f"job prefix {ref!r} matches {len(matches)} jobs; give "
                                 f"more of the id")
        named = [h for h in handles if h.job.name == ref]
        if named:
            return max(named, key=lambda h: h.submitted)
        raise UsageError(f"no job {ref!r} on engine {eng.name}: give a job id, a unique "
                         f"prefix of one, a job name, or a variable holding a handle "
                         f"(`%god queue` lists active jobs)")
