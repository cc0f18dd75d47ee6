"""How a notice is given: its four forms (negotiated at the edge, app/routers/notices.py),
the plain-English texts, and the templates."""

from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined

from app.models.base import LONDON
from app.models.notice import DecisionNotice, NoticeAudience, NoticeFormat

TEMPLATE_PACKAGE, TEMPLATE_DIR = "app", "templates/notice"
# The server's preference when the Accept header likes several equally: the structured form first.
OFFERED = (NoticeFormat.JSON, NoticeFormat.HTML, NoticeFormat.MARKDOWN, NoticeFormat.PLAIN)
MEDIA_TYPES = {
    NoticeFormat.JSON: "application/json",
    NoticeFormat.HTML: "text/html; charset=utf-8",
    NoticeFormat.MARKDOWN: "text/markdown; charset=utf-8; variant=CommonMark",
    NoticeFormat.PLAIN: "text/plain; charset=utf-8",
}
TEMPLATES = {NoticeFormat.HTML: "notice.html", NoticeFormat.MARKDOWN: "notice.md", NoticeFormat.PLAIN: "notice.txt"}


# Texts and templates


@cache
def texts() -> dict[str, Any]:
    """The plain-English texts kept beside the templates (texts.yaml), read once."""
    source = files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_DIR, "texts.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(source)


def _text(group: str, key: object, fallback: str | None = None) -> str:
    return str(texts()[group].get(key, fallback if fallback is not None else key))


# CommonMark lets any ASCII punctuation be escaped; these are the characters that could start markup inside a line.
_MARKDOWN_SPECIAL = str.maketrans({char: "\\" + char for char in "\\`*_{}[]<>#|!~"})


def markdown_text(value: object) -> object:
    """Every value put into the Markdown notice:
    free text cannot open a link, an image, emphasis or raw HTML, or break a line."""
    if isinstance(value, str):
        return " ".join(value.split()).translate(_MARKDOWN_SPECIAL)
    return value


def london_date(moment: datetime) -> str:
    """26 November 2026, in the UK's calendar."""
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%B %Y}"


def london_time(moment: datetime) -> str:
    """14:05 on 26 November 2026 (UK time)."""
    local = moment.astimezone(LONDON)
    return f"{local:%H:%M} on {london_date(moment)} (UK time)"


@cache
def environment(fmt: NoticeFormat) -> Environment:
    """The template environment of one form:
    HTML autoescaped, Markdown with every value escaped, plain text as it is."""
    environment = Environment(
        loader=PackageLoader(TEMPLATE_PACKAGE, TEMPLATE_DIR),
        autoescape=fmt == NoticeFormat.HTML,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=markdown_text if fmt == NoticeFormat.MARKDOWN else None,
    )
    environment.filters.update(london_date=london_date, london_time=london_time)
    return environment


def render(notice: DecisionNotice, fmt: NoticeFormat) -> str:
    """The notice in one of its forms."""
    if fmt == NoticeFormat.JSON:
        return notice.model_dump_json()
    return (
        environment(fmt)
        .get_template(TEMPLATES[fmt])
        .render(n=notice, subject=notice.audience != NoticeAudience.REQUESTER)
    )
