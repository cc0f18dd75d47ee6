"""The public data uses register as a page (Caldicott principle 8, transparency): `GET /register`, for anyone, with no
sign-in. The same entries as `GET /v1/register`, from the same service function and paged by the same cursor, in
words rather than codes; and `GET /register.csv`, the API's CSV of the same page, for a browser, which cannot ask for
CSV by its Accept header.

Only what an entry holds is shown (coded values, the organisation's registered name, a count or its band): never an
identifier or a free text, since the service never puts one in an entry (app/services/reports/register.py).
"""

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from markupsafe import Markup, escape

from app.errors import ProblemError
from app.http.dependencies import PageCursor, PageLimit, SettingsDep
from app.http.session import SessionDep
from app.models.register import RegisterEntry
from app.services.notices.render import texts
from app.services.reports import register

from .pages import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50  # entries a page shows unless `limit` says otherwise (up to the API's 200)
HEAD = ["Decided", "Shared with", "Purpose", "Information", "People", "Legal basis", "Agreement", "Outcome"]


def words(group: str, code: str) -> str:
    """A code in the plain words decision notices use for it (app/templates/notice/texts.yaml), else the code."""
    said = str(texts()[group].get(code, code.replace("_", " ")))
    return said[:1].upper() + said[1:]


def lines(*parts: str | None) -> Markup:
    """Several escaped lines in one table cell."""
    return Markup("<br>").join(escape(part) for part in parts if part)


def row(entry: RegisterEntry) -> list[dict[str, Any]]:
    """One entry as a row of the NHS.UK table."""
    decided = date.fromisoformat(entry.decided_on)
    basis = entry.legal_basis
    people = entry.people
    return [
        {"text": f"{decided.day} {decided:%B %Y}"},
        {"html": lines(entry.organisation.name, entry.organisation.code)},
        {"text": words("purposes", entry.purpose)},
        {"html": lines(*(f"{words('categories', item.category)} ({item.form.value})" for item in entry.data))},
        {"text": str(people.count) if people.count is not None else people.band, "format": "numeric"},
        {
            "html": lines(
                words("article_6", basis.article_6),
                words("article_9", basis.article_9) if basis.article_9 else None,
                words("confidentiality", basis.confidentiality),
            )
        },
        {"text": entry.agreement or "None named"},
        {"text": words("outcomes", entry.outcome)},
    ]


def page_query(cursor: str | None, limit: int) -> str:
    """The query string of a page: its cursor (none on the first page) and its size."""
    return "?" + urlencode({"cursor": cursor, "limit": limit} if cursor else {"limit": limit})


def links(cursor: str | None, limit: int) -> dict[str, str]:
    """The same page from the API as JSON, and as CSV."""
    return {
        "json_href": f"/v1/register{page_query(cursor, limit)}",
        "csv_href": f"/register.csv{page_query(cursor, limit)}",
    }


@router.get("/register")
async def register_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    cursor: PageCursor = None,
    limit: PageLimit = PAGE_SIZE,
) -> Response:
    """The register's page: what it is, the entries, the pages after it, and the same page as JSON and CSV."""
    try:
        entries, next_cursor = await register.register_page(
            session=session, threshold=settings.register_min_count, cursor=cursor, limit=limit
        )
    except ProblemError as error:  # a cursor this service never issued: said on the page, with the way back
        return render(
            request,
            "register.jinja",
            status_code=error.status_code,
            error=error,
            threshold=settings.register_min_count,
            **links(None, limit),
        )
    return render(
        request,
        "register.jinja",
        threshold=settings.register_min_count,
        head=[{"text": text} | ({"format": "numeric"} if text == "People" else {}) for text in HEAD],
        rows=[row(entry) for entry in entries],
        next_href=f"/register{page_query(next_cursor, limit)}" if next_cursor else None,
        first_href="/register" if cursor else None,
        **links(cursor, limit),
    )


@router.get("/register.csv")
async def register_csv(
    session: SessionDep, settings: SettingsDep, cursor: PageCursor = None, limit: PageLimit = PAGE_SIZE
) -> Response:
    """The same page as CSV, as `GET /v1/register` with `Accept: text/csv` gives it."""
    entries, _ = await register.register_page(
        session=session, threshold=settings.register_min_count, cursor=cursor, limit=limit
    )
    headers = {"Content-Disposition": 'attachment; filename="data-uses-register.csv"'}
    return Response(register.register_csv(entries), media_type="text/csv; charset=utf-8", headers=headers)
