"""Structured logs: one JSON object per line, carrying the correlation id of the request being served.

Nothing here may carry a subject identifier or free text from a request. The access line
names the route template, never the path or query; an exception is logged by its type and
where it was raised, never by its text (a database error's text quotes the SQL parameters).
"""

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from app import correlation

# The attributes every LogRecord has; anything else came through `extra=` (uvicorn's color_message repeats the message).
STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName", "color_message"}
# Libraries that log SQL parameters or request details below WARNING.
QUIET_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore", "python_multipart", "multipart", "uvicorn.access")
STACK_FRAMES = 12


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, correlation_id, the record's extra fields, and an exception's type and stack."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation.current(),
        }
        entry.update((key, value) for key, value in vars(record).items() if key not in STANDARD_ATTRIBUTES)
        if record.exc_info and record.exc_info[1] is not None:
            entry.update(exception_summary(record.exc_info[1]))
        return json.dumps(entry, default=str, ensure_ascii=False)


def exception_summary(error: BaseException) -> dict[str, Any]:
    """The exception's type, the types of its causes, and its innermost frames; never its message."""
    causes = []
    cause = error.__cause__ or error.__context__
    while cause is not None and len(causes) < 5:
        causes.append(_type_name(cause))
        cause = cause.__cause__ or cause.__context__
    frames = traceback.extract_tb(error.__traceback__)[-STACK_FRAMES:]
    return {"exception": _type_name(error), "caused_by": causes, "stack": [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames]}


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def configure(level: str = "info", *, stream: TextIO | None = None) -> None:
    """Send every log record, ours and the libraries', as JSON lines to standard error (or `stream`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
