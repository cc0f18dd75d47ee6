"""The API's interactive documentation, `/docs`: Swagger UI from the copy vendored under /console/static/swagger-ui/
(scripts/vendor-frontend), never from a CDN, started by a file of our own so the page needs no inline script, under
a strict Content Security Policy. Served unless CALDICOTT_API_DOCS turns it off, by default everywhere but
production; off, `/docs` is a 404. The contract itself, `/openapi.json`, is served either way.
"""

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse

from app.console.pages import SECURITY_HEADERS, STATIC_PATH
from app.platform.config import Settings

PATH = "/docs"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}: API documentation</title>
<link rel="icon" href="{static}/nhsuk/assets/images/favicon.ico" sizes="48x48">
<link rel="stylesheet" href="{static}/swagger-ui/swagger-ui.css">
</head>
<body>
<noscript><p>This page needs JavaScript. The contract it shows is <a href="{contract}">{contract}</a>.</p></noscript>
<div id="swagger-ui" data-openapi-url="{contract}"></div>
<script src="{static}/swagger-ui/swagger-ui-bundle.js"></script>
<script src="{static}/api-docs.js"></script>
</body>
</html>
"""


def install(app: FastAPI, settings: Settings) -> None:
    """Serve `/docs` when the settings say so (the app is made with FastAPI's own /docs and /redoc off)."""
    if not settings.api_docs_served:
        return

    async def api_docs(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a path prefix, the page's links carry the prefix back (as FastAPI's own /docs).
        root = request.scope.get("root_path", "").rstrip("/")
        static, contract = escape(f"{root}{STATIC_PATH}"), escape(f"{root}{app.openapi_url}")
        page = PAGE.format(title=escape(app.title), static=static, contract=contract)
        # The console's own policy: Swagger UI reads the contract from this site and loads nothing from elsewhere (the
        # swagger.io validator badge, its one call to another site, is turned off in api-docs.js).
        return HTMLResponse(page, headers=SECURITY_HEADERS)

    app.add_api_route(PATH, api_docs, methods=["GET"], include_in_schema=False)
