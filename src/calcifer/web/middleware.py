"""Request middleware: request id and access log, authentication, cookies.

Authentication happens here, before routing, so that every route is protected by default: a new
route is public only if its path is in PUBLIC_PATHS / PUBLIC_PREFIXES. Role checks are route
dependencies (see `calcifer.deps`).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from calcifer.auth import service as auth_service
from calcifer.auth import totp
from calcifer.auth.models import User
from calcifer.config import Settings
from calcifer.instance import AppContext, RequestGauge
from calcifer.web import ratelimit as rate_limits
from calcifer.web.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    get_cookie,
    has_presession,
    presession,
    set_cookie,
    write_flash_cookie,
)

log = logging.getLogger("calcifer.request")

# Routes anyone may reach without logging in. `/setup` answers 404 once a user exists.
PUBLIC_PATHS = frozenset({"/login", "/login/code", "/setup", "/healthz", "/favicon.ico",
                          # Single sign-on: the start, and the identity provider's redirect back (auth.oidc).
                          "/login/oidc", "/login/oidc/callback",
                          # Notification mails' unsubscribe link: its signed token is the key (inbox.service).
                          "/unsubscribe",
                          # JSON Schemas of catalog files, so editors and CI validate without a token.
                          "/api/v1/schema/service", "/api/v1/schema/endpoint",
                          # The forge's push webhook: refused unless signed with the shared secret.
                          "/api/v1/repository/webhook",
                          # Remote probes: each route authenticates the probe's own token (monitoring.probes).
                          "/api/v1/probes/assignments", "/api/v1/probes/results", "/api/v1/probes/heartbeat"})
# Push heartbeats are called by cron jobs and scripts; the secret token in the path authenticates them.
PUBLIC_PREFIXES = ("/static/", "/api/v1/push/")
# Paths an admin may open to everyone with a setting (the setting's name on `Settings`).
PUBLIC_BY_SETTING = {"/metrics": "metrics_public", "/status": "status_page_public"}


def is_public(path: str, settings: Settings | None = None) -> bool:
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return True
    setting = PUBLIC_BY_SETTING.get(path)
    return bool(setting and settings is not None and getattr(settings, setting))


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


@dataclass(frozen=True)
class _Who:
    user: User | None = None
    method: str | None = None  # "token" or "session"
    token: auth_service.TokenAuth | None = None
    enrol_two_factor: bool = False  # a browser session whose role requires a second factor not set up yet


def _resolve_user(ctx: AppContext, bearer: str | None, cookie: str | None) -> _Who:
    with ctx.session_factory() as session:
        if bearer is not None:
            found = auth_service.resolve_token(session=session, raw=bearer)
            return _Who(found.user, "token", found)
        if cookie:
            user = auth_service.user_for_session(session=session, raw=cookie)
            if user is None:
                return _Who()
            return _Who(user, "session", enrol_two_factor=totp.enrolment_due(session=session, user=user))
    return _Who()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return None


def _unauthenticated(request: Request, bearer_given: bool, token: auth_service.TokenAuth | None = None) -> Response:
    # An expired token is refused wherever it is sent: a script gets a 401 that says why.
    if token is not None and token.expired_at is not None:
        when = token.expired_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return JSONResponse({"error": {"code": "token_expired",
                                       "message": f"The API token {token.name!r} expired at {when}; create a "
                                                  "new one (Settings → API tokens, or calcifer token create).",
                                       "details": {"expired_at": token.expired_at.isoformat()}}},
                            status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    # Prometheus (and curl) scrape /metrics: a 401 tells them what is wrong; a login page would not.
    if wants_json(request) or request.url.path == "/metrics":
        message = ("The API token is invalid or revoked." if bearer_given
                   else "Log in, or send an API token as 'Authorization: Bearer <token>'.")
        return JSONResponse({"error": {"code": "not_authenticated", "message": message, "details": None}},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = "/login?next=" + quote(target, safe="")
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


# What a user who must still set up two-factor login may reach with a browser session.
ENROLMENT_PATHS = ("/account/two-factor", "/logout", "/static/", "/login", "/favicon.ico")


def _enrol_first(request: Request) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"code": "two_factor_required",
                                       "message": "Your role must log in with a second factor: set it up at "
                                                  "/account/two-factor first.", "details": None}}, status_code=403)
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": "/account/two-factor"})
    return RedirectResponse("/account/two-factor", status_code=303)


class CountRequests:
    """ASGI middleware, outside the others: a request counts in ``AppContext.requests`` until its last byte
    was handed to the server, so background services yielding to requests (instance.RequestGauge) start
    after it was answered, not while its response is still being sent."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state  # the app's: its context (and gauge) is read per request, not when the app is built

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gauge: RequestGauge = self.state.ctx.requests
        gauge.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            gauge.leave()


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def calcifer_request(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex[:16]
        request.state.request_id = request_id
        ctx: AppContext = request.app.state.ctx
        bearer = _bearer(request)
        session_cookie = get_cookie(request, SESSION_COOKIE)
        # nothing to look up without a token or a session cookie (a probe, a push, a login page): no thread hop
        who = await run_in_threadpool(_resolve_user, ctx, bearer, session_cookie) \
            if bearer is not None or session_cookie else _Who()
        user, method = who.user, who.method
        request.state.user = user
        request.state.auth_method = method
        # What the token may do (None: a browser session, bounded by the role alone); see deps.
        request.state.token_scopes = who.token.scopes if who.token is not None and user is not None else None
        # The CSRF token of a logged-in browser is bound to its session (web.security).
        request.state.session_hash = auth_service.sha256(session_cookie) if method == "session" and \
            session_cookie else None
        if user is None and who.token is not None and who.token.expired_at is not None \
                and not is_public(request.url.path, ctx.settings):
            response = _unauthenticated(request, True, who.token)
        elif (limited := rate_limits.check(request, ctx.settings, user=user, token=bearer)) is not None:
            response = limited
        elif user is None and not is_public(request.url.path, ctx.settings):
            response = _unauthenticated(request, bearer is not None)
        elif who.enrol_two_factor and not request.url.path.startswith(ENROLMENT_PATHS):
            response = _enrol_first(request)
        else:
            response = await call_next(request)
        if not bearer and not has_presession(request):
            set_cookie(request, response, CSRF_COOKIE, presession(request))
        write_flash_cookie(request, response)
        response.headers["X-Request-ID"] = request_id
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        log.info("%s %s %s", request.method, request.url.path, response.status_code,
                 extra={"request_id": request_id, "method": request.method, "path": request.url.path,
                        "status": response.status_code, "user": user.username if user else None,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        return response

    app.add_middleware(CountRequests, state=app.state)
