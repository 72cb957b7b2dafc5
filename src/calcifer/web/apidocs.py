"""OpenAPI docs at /api/docs, served from vendored Swagger UI (no CDN). Needs login like every page.

The page is written here rather than by FastAPI's ``get_swagger_ui_html``, whose inline ``<script>`` the
Content-Security-Policy (web/headers.py) would block: Swagger UI starts from static/swagger-init.js.
It follows the app's theme (static/theme.js sets data-theme; static/swagger-theme.css darkens Swagger UI)
and has a link back to the app.
"""

from __future__ import annotations

from fastapi import FastAPI
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from calcifer.deps import CurrentUser
from calcifer.web.templating import _static_url

OPENAPI_URL = "/api/openapi.json"
# The same icon as every page (base.html), inline so the browser does not ask for /favicon.ico.
FAVICON = ("data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24'%3E%3Cpath fill='%23"
           "ea580c' d='M12 1.5c.6 3.4 4.8 5.9 6.3 9.6 1.9 4.6-1 10.4-6.3 10.4S3.8 17 5.2 12.5c.8-2.5 2.6-3.9 3.4"
           "-6 .9 1.7 1 3.2.6 4.7 2-1.4 3.5-4.9 2.8-9.7z'/%3E%3C/svg%3E")


def swagger_page(*, title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<script src="{escape(_static_url("theme.js"))}"></script>
<link rel="stylesheet" href="{escape(_static_url("vendor/swagger-ui/swagger-ui.css"))}">
<link rel="stylesheet" href="{escape(_static_url("swagger-theme.css"))}">
<link rel="icon" href="{escape(FAVICON)}">
<title>{escape(title)}</title>
</head>
<body class="apidocs">
<header class="apidocs-bar"><a class="apidocs-back" href="/">← back to Calcifer</a>
<span class="apidocs-title">{escape(title)}</span></header>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{escape(_static_url("vendor/swagger-ui/swagger-ui-bundle.js"))}"></script>
<script src="{escape(_static_url("swagger-init.js"))}"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    @app.get("/api/docs", include_in_schema=False)
    # The middleware already demands a login; declaring it lets the authorization matrix classify the route.
    def api_docs(request: Request, user: CurrentUser) -> HTMLResponse:
        return HTMLResponse(swagger_page(title="Calcifer API", openapi_url=OPENAPI_URL))
