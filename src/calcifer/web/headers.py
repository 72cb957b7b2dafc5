"""Security headers on every response, set in this one place: a strict Content-Security-Policy, nosniff,
Referrer-Policy, no framing.

The policy lets a page run only the scripts and styles served from /static/: no inline <script>, no
inline event handler, no eval (htmx is configured with allowEval=false in base.html), no <style>
element or style="" attribute. So text that reaches a page unescaped (a sanitiser's miss, a template's
mistake) cannot run, and a link it adds cannot post a form to another site. The few things that need
more say so here:
- img-src data: — the favicon and Swagger UI's icons are data: images (an image cannot run script).
- frame-src — pages embedding Grafana panels allow exactly the configured Grafana origins
  (``policy_with_frames``, set by those pages; CALCIFER_GRAFANA_ORIGINS).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
])



def policy_with_frames(origins: list[str]) -> str:
    """The policy of a page that embeds frames from ``origins`` (Grafana panels): the same policy plus a
    ``frame-src`` allowing exactly those origins."""
    return CONTENT_SECURITY_POLICY + "; frame-src " + (" ".join(origins) if origins else "'none'")


def grafana_frames(response: Response, dashboards: list[Any], origins: list[str]) -> Response:
    """``response`` with a policy allowing frames from ``origins`` when it embeds a Grafana panel."""
    if any(d.panels for d in dashboards):
        allowed = sorted({o.strip().rstrip("/").lower() for o in origins if o.strip()})
        response.headers["Content-Security-Policy"] = policy_with_frames(allowed)
    return response


SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Wrap ``app`` so every response carries the headers, error pages and static files included."""
    # Outside Starlette's ServerErrorMiddleware (which add_middleware cannot reach), so the page of an
    # unexpected error is covered too.
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
