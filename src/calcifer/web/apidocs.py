"""OpenAPI docs at /api/docs, served from vendored Swagger UI (no CDN). Needs login like every page.

The page is written here rather than by FastAPI's ``get_swagger_ui_html``, whose inline ``<script>`` the
Content-Security-Policy (web/headers.py) would block: Swagger UI starts from static/swagger-init.js.
"""

from __future__ import annotations

from fastapi import FastAPI
from markupsafe import escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from calcifer.web.templating import _static_url

OPENAPI_URL = "/api/openapi.json"


def swagger_page(*, title: str, openapi_url: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{escape(_static_url("vendor/swagger-ui/swagger-ui.css"))}">
<title>{escape(title)}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url)}"></div>
<script src="{escape(_static_url("vendor/swagger-ui/swagger-ui-bundle.js"))}"></script>
<script src="{escape(_static_url("swagger-init.js"))}"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    @app.get("/api/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        return HTMLResponse(swagger_page(title="Calcifer API", openapi_url=OPENAPI_URL))
