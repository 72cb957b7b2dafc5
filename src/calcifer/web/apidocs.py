"""OpenAPI docs at /api/docs, served from vendored Swagger UI (no CDN). Needs login like every page."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

from calcifer.deps import CurrentUser
from calcifer.web.templating import _static_url


def install(app: FastAPI) -> None:
    @app.get("/api/docs", include_in_schema=False)
    # The middleware already demands a login; declaring it lets the authorization matrix classify the route.
    def api_docs(request: Request, user: CurrentUser) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json", title="Calcifer API",
            swagger_js_url=_static_url("vendor/swagger-ui/swagger-ui-bundle.js"),
            swagger_css_url=_static_url("vendor/swagger-ui/swagger-ui.css"),
            swagger_favicon_url=_static_url("favicon.svg"),
        )
