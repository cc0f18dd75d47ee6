"""uvicorn as the service runs it: the h11 protocol, with the limits on slow and greedy clients taken from the settings.

uvicorn closes a keep-alive connection left idle, but not one whose request head never finishes
arriving: a client sending a header line every few seconds holds its connection for ever, and
a few hundred such clients hold the server. So each request head here has a deadline as well.
h11, not httptools, because h11 caps the size of a request head (httptools reads any amount).

With several worker processes (`caldicott serve --workers N`, PostgreSQL only) uvicorn spawns
each one and pickles its configuration across: everything in `uvicorn_options` is picklable
(the protocol class is rebuilt in the child by `protocol_for`), each child builds the app from
the environment (`app.main:create_app`), and sets up the JSON log lines again (`worker_logging`).
"""

import copyreg
import functools
import logging
import math
import os
from pathlib import Path
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.platform import logs as log_config
from app.platform.config import Settings

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


class HeadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing the connection when a request line and
    headers take longer than `head_timeout`."""

    head_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_deadline: Any = None

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in; the request is the application's now
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._await_head()  # the next request on a kept-alive connection has as long for its head

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._stop_waiting()
        self.head_deadline = self.loop.call_later(self.head_timeout, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_too_slow(self) -> None:
        self.head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Everything `uvicorn.run` is given but the app, host, port and log level:
    our logging, proxy headers, the client limits."""
    return {
        # Logging stays ours (JSON lines); the access line comes from our middleware, so uvicorn's is off.
        "log_config": None,
        "access_log": False,
        "proxy_headers": True,
        "http": protocol_for(settings.http_header_timeout_seconds),
        "h11_max_incomplete_event_size": settings.http_max_header_bytes,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "limit_concurrency": settings.http_limit_concurrency,
        "timeout_graceful_shutdown": settings.http_graceful_shutdown_seconds,
    }


class _RebuiltInEachWorker(type):
    """The metaclass of the classes `protocol_for` makes:
    pickled as the call that makes them, since a class made at run time has no importable name."""


@functools.lru_cache
def protocol_for(head_timeout: float) -> type[HeadDeadlineProtocol]:
    """The h11 protocol with this head deadline;
    the same class for the same deadline, and picklable into a spawned worker."""
    namespace = {"head_timeout": head_timeout, "__module__": __name__}
    return _RebuiltInEachWorker("H11WithHeadDeadline", (HeadDeadlineProtocol,), namespace)


copyreg.pickle(_RebuiltInEachWorker, lambda cls: (protocol_for, (cls.head_timeout,)))


class ProcessId(logging.Filter):
    """Adds `pid` to every record, so that the lines of several server processes
    sharing one stream can be told apart."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.pid = record.process
        return True


def worker_logging(level: str) -> dict[str, Any]:
    """uvicorn's `log_config` with several workers: each spawned process sends our lines (CALDICOTT_LOG_FORMAT) to
    stderr again, each naming its `pid`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"pid": {"()": ProcessId}},
        "formatters": {"lines": {"()": log_config.formatter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "lines",
                "filters": ["pid"],
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {name: {"level": "WARNING"} for name in log_config.QUIET_LOGGERS},
    }


def available_cpus() -> int:
    """The CPUs this process may use: its affinity, lowered by a cgroup v2 CPU quota
    (a container's `--cpus`); at least 1."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, count)
