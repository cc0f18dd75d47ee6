"""Log lines for people and for machines:
the console format, JSON, and which one a stream gets (CALDICOTT_LOG_FORMAT)."""

import io
import json
import logging
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import ValidationError

from app.platform import logs as log_config
from app.platform.config import LogFormat, get_settings
from tests.support import settings_for

# time, level (padded), logger, message, then key=value pairs.
CONSOLE_LINE = re.compile(
    r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) +(?P<logger>[\w.]+): "
    r"(?P<message>.*?)(?:  (?P<pairs>\S+=.*))?"
)
PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\[[^\]]*\]|\S+)')


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as standard error is in a shell."""

    def isatty(self) -> bool:
        return True


Capture = Callable[..., io.StringIO]


@pytest.fixture
def capture() -> Iterator[Capture]:
    """Configure logging into a buffer (a Terminal or not, a format or the settings' choice);
    the root logger is put back after."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)

    def configure(stream: io.StringIO | None = None, log_format: LogFormat | None = None) -> io.StringIO:
        buffer = stream if stream is not None else io.StringIO()
        log_config.configure("info", stream=buffer, log_format=log_format)
        return buffer

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def clean_settings() -> Iterator[None]:
    """get_settings() read afresh here and after the test, so an environment set by the test goes with it."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def console_fields(line: str) -> tuple[re.Match[str], dict[str, str]]:
    """The line's parts and its key=value pairs; a line not in the console format fails here."""
    match = CONSOLE_LINE.fullmatch(line)
    assert match, line
    return match, dict(PAIR.findall(match["pairs"] or ""))


async def test_a_request_logs_one_readable_line_with_its_correlation_id(
    client: httpx.AsyncClient, capture: Capture
) -> None:
    buffer = capture(log_format=LogFormat.CONSOLE)
    response = await client.get("/v1/sharing-requests/no-such-request", headers={"X-Request-ID": "req-console-1"})
    assert response.status_code == 401

    [line] = [line for line in buffer.getvalue().splitlines() if " caldicott.access: " in line]
    match, pairs = console_fields(line)
    assert (match["level"], match["logger"], match["message"]) == (
        "INFO",
        "caldicott.access",
        "GET /v1/sharing-requests/{request_id} 401",
    )
    assert pairs["correlation_id"] == "req-console-1"
    assert (pairs["method"], pairs["route"], pairs["status"]) == ("GET", "/v1/sharing-requests/{request_id}", "401")
    assert float(pairs["duration_ms"]) >= 0
    assert "no-such-request" not in line  # the route template, never the path


def test_a_console_line_carries_the_trace_ids_and_stays_one_line(capture: Capture) -> None:
    buffer = capture(log_format=LogFormat.CONSOLE)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        logging.getLogger("caldicott.test").warning(
            "two\nlines", extra={"reason": "a value with spaces", "count": 3, "codes": ["A", "B"]}
        )
    context = span.get_span_context()

    [line] = buffer.getvalue().splitlines()
    match, pairs = console_fields(line)
    assert (match["level"], match["logger"], match["message"]) == ("WARNING", "caldicott.test", "two\\nlines")
    assert (pairs["trace_id"], pairs["span_id"]) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
    assert (json.loads(pairs["reason"]), pairs["count"], json.loads(pairs["codes"])) == (
        "a value with spaces",
        "3",
        ["A", "B"],
    )
    assert "correlation_id" not in pairs  # outside a request: no id, and no `None` either


def test_an_exception_is_named_by_its_type_and_origin_never_its_text(capture: Capture) -> None:
    buffer = capture(log_format=LogFormat.CONSOLE)
    try:
        try:
            {}["subject 9990000018"]
        except KeyError as missing:
            raise RuntimeError("lookup of subject 9990000018 failed") from missing
    except RuntimeError:
        logging.getLogger("caldicott.test").exception("the lookup failed")

    [line] = buffer.getvalue().splitlines()
    _, pairs = console_fields(line)
    assert (pairs["exception"], json.loads(pairs["caused_by"])) == ("RuntimeError", ["KeyError"])
    assert re.fullmatch(
        r'"[^"]+test_log_format\.py:\d+ in test_an_exception_is_named_by_its_type_and_origin_never_its_text"',
        pairs["raised_at"],
    )
    assert "9990000018" not in line


@pytest.mark.parametrize(
    ("terminal", "log_format", "expected"),
    [
        (True, None, log_config.ConsoleFormatter),
        (False, None, log_config.JsonFormatter),
        (True, LogFormat.JSON, log_config.JsonFormatter),
        (False, LogFormat.CONSOLE, log_config.ConsoleFormatter),
        (True, LogFormat.AUTO, log_config.ConsoleFormatter),
    ],
)
def test_a_terminal_gets_console_lines_and_anything_else_json_unless_told(
    capture: Capture,
    clean_settings: None,
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    log_format: LogFormat | None,
    expected: type,
) -> None:
    monkeypatch.delenv("CALDICOTT_LOG_FORMAT", raising=False)
    buffer = capture(Terminal() if terminal else io.StringIO(), log_format)
    [handler] = logging.getLogger().handlers
    assert type(handler.formatter) is expected
    logging.getLogger("caldicott.test").info("hello")
    line = buffer.getvalue().strip()
    if expected is log_config.JsonFormatter:
        assert json.loads(line)["message"] == "hello"
    else:
        assert console_fields(line)[0]["message"] == "hello"


@pytest.mark.parametrize(
    ("variable", "expected"), [("console", log_config.ConsoleFormatter), ("json", log_config.JsonFormatter)]
)
def test_caldicott_log_format_forces_the_format(
    capture: Capture, clean_settings: None, monkeypatch: pytest.MonkeyPatch, variable: str, expected: type
) -> None:
    monkeypatch.setenv("CALDICOTT_LOG_FORMAT", variable)
    capture(
        Terminal() if expected is log_config.JsonFormatter else io.StringIO()
    )  # the opposite of what auto would choose
    [handler] = logging.getLogger().handlers
    assert type(handler.formatter) is expected


def test_an_unknown_log_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALDICOTT_LOG_FORMAT", "pretty")
    with pytest.raises(ValidationError, match="log_format"):
        settings_for("sqlite+aiosqlite:///unused.db")
