"""Structured logging for godnb, opt-in.

The library only creates loggers under ``"godnb"``; nothing is configured on import, the
root logger is never touched. An application (or a notebook) that wants godnb's records
calls :func:`configure_logging`, which installs one handler on the ``godnb`` logger::

    {"ts": "2024-05-01T12:00:00.123Z", "level": "INFO", "logger": "godnb.engine",
     "event": "job finished", "job_id": "9f2c...", "status": "completed", "attempt": 1,
     "elapsed": 0.42}
"""

from __future__ import annotations

import json as _json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "get_logger",
    "log_event",
    "reset_logging",
]

ROOT_LOGGER: Final = "godnb"
# Fields every job record may carry; formatters put them first, in this order.
STANDARD_FIELDS: Final = ("job_id", "status", "attempt", "elapsed")
_CORE_KEYS: Final = frozenset({"ts", "level", "logger", "event", "exc", "stack"})
# Attributes every LogRecord has: anything else on a record came in through extra=.
_RECORD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None))
) | {"message", "asctime", "taskName"}
_HANDLER_MARK: Final = "_godnb_configured"


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of ``record``: the standard ones first, the rest sorted."""
    found = {key: value for key, value in vars(record).items() if key not in _RECORD_ATTRS}
    ordered: dict[str, Any] = {k: found.pop(k) for k in STANDARD_FIELDS if k in found}
    ordered.update(sorted(found.items()))
    return ordered


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    Keys: ``ts`` (ISO-8601 UTC), ``level``, ``logger``, ``event`` (the message), then
    ``job_id``/``status``/``attempt``/``elapsed`` and any other ``extra=`` fields, and
    ``exc`` (the formatted traceback) when the record carries an exception. An extra
    field named like a core key gets a trailing underscore (``level_``) rather than
    replacing it. Values JSON can not hold are written with ``str()``.

    Example:
        >>> record = logging.LogRecord("godnb.x", logging.INFO, "", 0, "hi", (), None)
        >>> record.created = 0.0
        >>> JsonFormatter().format(record)
        '{"ts": "1970-01-01T00:00:00.000Z", "level": "INFO", "logger": "godnb.x", "event": "hi"}'
    """

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": _timestamp(record), "level": record.levelname, "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            data[f"{key}_" if key in _CORE_KEYS else key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exc"] = record.exc_text
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return _json.dumps(data, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable single-line records: time, level, logger, event, then ``key=value`` fields.

    Example:
        >>> record = logging.LogRecord("godnb.x", logging.INFO, "", 0, "started", (), None)
        >>> record.created, record.job_id = 0.0, "j1"
        >>> TextFormatter().format(record)
        '1970-01-01T00:00:00.000Z INFO  godnb.x: started job_id=j1'
    """

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{key}={_text_value(value)}"
                          for key, value in _extra_fields(record).items())
        line = f"{_timestamp(record)} {record.levelname:<5} {record.name}: {record.getMessage()}"
        if fields:
            line = f"{line} {fields}"
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line


def _text_value(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return repr(text) if not text or any(c.isspace() or c in "='\"" for c in text) else text


def _resolve_level(level: int | str) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    names = logging.getLevelNamesMapping()
    if isinstance(level, str) and level.upper() in names:
        return names[level.upper()]
    # One name per level: getLevelName gives WARNING for 30, not its alias WARN.
    valid = ", ".join(logging.getLevelName(number) for number in sorted(set(names.values())))
    raise ValueError(f"unknown log level {level!r}; use one of {valid} or an int")


def configure_logging(
    level: int | str = "INFO", json: bool = True, stream: IO[str] | None = None,
    logger: str = ROOT_LOGGER, *, propagate: bool = False,
) -> logging.Handler:
    """Send godnb's records to ``stream`` (stderr by default), as JSON lines or text.

    Installs one handler on ``logger`` (``"godnb"``), never on the root logger. Calling
    it again replaces the handler it installed before instead of adding a second one.
    ``propagate=False`` (the default) keeps records from also reaching the root logger's
    handlers, which would print each of them twice.

    Args:
        level: Lowest level to emit, by name (``"DEBUG"``) or number.
        json: One JSON object per line (True) or readable text (False).
        stream: Where to write; ``sys.stderr`` when None.
        logger: The logger to configure.
        propagate: Whether records also go on to ancestor loggers.

    Returns:
        The installed handler.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> handler = configure_logging("DEBUG", stream=out)
        >>> log_event("godnb.doc", "hello", job_id="j1")
        >>> '"job_id": "j1"' in out.getvalue()
        True
        >>> reset_logging()
    """
    numeric = _resolve_level(level)
    target = logging.getLogger(logger)
    reset_logging(logger)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    setattr(handler, _HANDLER_MARK, True)
    target.addHandler(handler)
    target.setLevel(numeric)
    target.propagate = propagate
    return handler


def reset_logging(logger: str = ROOT_LOGGER) -> None:
    """Undo :func:`configure_logging`: remove its handler, restore level and propagation.

    Example:
        >>> reset_logging()
    """
    target = logging.getLogger(logger)
    for handler in list(target.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            target.removeHandler(handler)
            handler.close()  # a StreamHandler leaves its stream open
    target.setLevel(logging.NOTSET)
    target.propagate = True


def get_logger(name: str = ROOT_LOGGER) -> logging.Logger:
    """A logger under the ``godnb`` namespace: ``"engine"`` becomes ``"godnb.engine"``.

    Example:
        >>> get_logger("engine").name, get_logger("godnb.core.engine").name
        ('godnb.engine', 'godnb.core.engine')
    """
    if name == ROOT_LOGGER or name.startswith(ROOT_LOGGER + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{ROOT_LOGGER}.{name}")


def log_event(
    logger: logging.Logger | str, event: str, *, level: int = logging.INFO,
    exc_info: Any = None, **fields: Any,
) -> None:
    """Log ``event`` with ``fields`` attached as ``extra=`` (so formatters see them).

    A field that a ``LogRecord`` already has (``name``, ``module``, ``process``, ...)
    would make ``logging`` raise, so it is renamed with a trailing underscore.

    Args:
        logger: A logger, or a name for :func:`get_logger`.
        event: What happened, a short fixed phrase (keep data in the fields).
        level: The record's level.
        exc_info: As for ``Logger.log``; True attaches the exception being handled.
        **fields: Structured data: ``job_id``, ``status``, ``attempt``, ``elapsed``, ...

    Example:
        >>> log_event("engine", "job started", job_id="j1", attempt=1)
    """
    target = get_logger(logger) if isinstance(logger, str) else logger
    if not target.isEnabledFor(level):
        return
    target.log(level, event, exc_info=exc_info, extra=_safe_extra(fields), stacklevel=2)


def _safe_extra(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {f"{key}_" if key in _RECORD_ATTRS else key: value for key, value in fields.items()}
