"""Log lines: one JSON object each, or one readable line each for people,
carrying the request's correlation id and trace id.

JSON unless the stream is a terminal, or as CALDICOTT_LOG_FORMAT says (`json`, `console`, `auto`).

Nothing here may carry a subject identifier or free text from a request. The access line
names the route template, never the path or query; an exception is logged by its type and
where it was raised, never by its text (a database error's text quotes the SQL parameters).
"""

import json
import logging
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from app.platform import tracing
from app.platform.config import LogFormat, get_settings

# The correlation id of the work being done: an HTTP request's (set by app/http/correlation.py), None in the CLI.
_correlation: ContextVar[str | None] = ContextVar("correlation_id", default=None)


def correlation_id() -> str | None:
    """The correlation id of the request being served, or None outside a request (the CLI)."""
    return _correlation.get()


@contextmanager
def correlated(value: str) -> Iterator[None]:
    """Log lines and audit events within carry `value` as their correlation id."""
    token = _correlation.set(value)
    try:
        yield
    finally:
        _correlation.reset(token)


# The attributes every LogRecord has; anything else came through `extra=` (uvicorn's color_message repeats the message).
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
# Libraries that log SQL parameters or request details below WARNING.
QUIET_LOGGERS = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "httpx",
    "httpcore",
    "python_multipart",
    "multipart",
    "uvicorn.access",
)
STACK_FRAMES = 12
PLAIN_VALUE = re.compile(r"[^\s\"=]+")  # written bare after `key=`; anything else is quoted


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, correlation_id, the record's extra fields, and an exception's type and stack."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id(),
            **tracing.log_fields(),
        }
        entry.update(_extra(record))
        if record.exc_info and record.exc_info[1] is not None:
            entry.update(exception_summary(record.exc_info[1]))
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """One line for people: time, level, logger, message, then key=value for the ids,
    the extra fields and an exception's type and origin."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"correlation_id": correlation_id(), **tracing.log_fields(), **_extra(record)}
        if record.exc_info and record.exc_info[1] is not None:
            summary = exception_summary(record.exc_info[1])
            fields.update(
                exception=summary["exception"],
                raised_at=summary["stack"][-1] if summary["stack"] else None,
                caused_by=summary["caused_by"] or None,
            )
        message = record.getMessage().replace("\n", "\\n")  # one line per record, whatever the message holds
        pairs = " ".join(f"{key}={_console_value(value)}" for key, value in fields.items() if value is not None)
        return f"{_time(record)} {record.levelname:<7} {record.name}: {message}" + (f"  {pairs}" if pairs else "")


def _time(record: logging.LogRecord) -> str:
    """When the record was made: UTC, to the millisecond."""
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    """The fields that came through `extra=`."""
    return {key: value for key, value in vars(record).items() if key not in STANDARD_ATTRIBUTES}


def _console_value(value: Any) -> str:
    """A value as it follows `key=`: bare when it is one plain word, else quoted as JSON (so it stays on the line)."""
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    return text if PLAIN_VALUE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def exception_summary(error: BaseException) -> dict[str, Any]:
    """The exception's type, the types of its causes, and its innermost frames; never its message."""
    causes = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(_type_name(cause))
        cause = cause.__cause__ or cause.__context__
    frames = traceback.extract_tb(error.__traceback__)[-STACK_FRAMES:]
    return {
        "exception": _type_name(error),
        "caused_by": causes,
        "stack": [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames],
    }


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def formatter(stream: TextIO | None = None, log_format: LogFormat | None = None) -> logging.Formatter:
    """The formatter for lines written to `stream` (standard error):
    console for a terminal or when asked, JSON otherwise."""
    chosen = log_format or configured_format()
    if chosen == LogFormat.AUTO:
        chosen = LogFormat.CONSOLE if _is_terminal(stream or sys.stderr) else LogFormat.JSON
    return ConsoleFormatter() if chosen == LogFormat.CONSOLE else JsonFormatter()


def configured_format() -> LogFormat:
    """CALDICOTT_LOG_FORMAT; `auto` while the settings cannot be read (the command that reads them says why)."""
    try:
        return get_settings().log_format
    except ValueError:
        return LogFormat.AUTO


def _is_terminal(stream: TextIO) -> bool:
    """Whether a person is likely reading the stream as it is written."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def configure(level: str = "info", *, stream: TextIO | None = None, log_format: LogFormat | None = None) -> None:
    """Send every log record, ours and the libraries', to standard error (or `stream`),
    in the format `formatter` chooses."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(stream, log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
