"""Every route needs a login or a token, except an explicit allow-list."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from calcifer.app import ROUTERS
from calcifer.auth.choices import Role
from tests.conftest import make_user

# Public by design: the login and first-run pages, the health check and static files.
# The catalog's JSON Schemas are public (editors validate files with them).
# `/api/docs` and `/api/openapi.json` need a login (the API's shape is not for strangers).
# `/login/oidc/callback` is where the identity provider sends the browser back (checked by state and PKCE).
ALLOW_LIST = {"/login", "/login/code", "/login/oidc", "/login/oidc/callback", "/setup", "/healthz",
              "/api/v1/schema/service", "/api/v1/schema/endpoint",
              "/api/v1/repository/webhook",  # signed by the forge (tests/remote/)
              "/unsubscribe"}  # a notification mail's link: its signed token is the key (tests/inbox/)
# Push heartbeats authenticate with the secret token in their path (tested in tests/monitoring/).
PUBLIC_PREFIXES = ("/api/v1/push/",)


def _public(path: str) -> bool:
    return path in ALLOW_LIST or path.startswith(PUBLIC_PREFIXES)


def _concrete(path: str) -> str:
    path = re.sub(r"\{[^}]+:path\}", "docs/x.md", path)
    return re.sub(r"\{[^}]+\}", "1", path)


def _routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    # The app's own routes plus every slice router's (FastAPI nests included routers).
    found = []
    for route in [*app.routes, *(r for router in ROUTERS for r in router.routes)]:
        if isinstance(route, APIRoute | Route) and not isinstance(route, Mount):
            for method in sorted(route.methods or []):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def test_every_route_refuses_anonymous_requests(app, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)  # once a user exists, /setup is gone too
    client = TestClient(app, follow_redirects=False)
    routes = _routes(app)
    assert len(routes) > 40, "route enumeration found too few routes"
    checked = 0
    for method, path in routes:
        if _public(path):
            continue
        response = client.request(method, _concrete(path))
        if path.startswith("/api/") or path == "/metrics":  # scrapers get a 401, not a login page
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json()["error"]["code"] == "not_authenticated"
        else:
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/login?next="), (method, path)
        checked += 1
    assert checked > 40


def test_a_bad_token_is_refused_on_every_api_route(app, ctx) -> None:  # type: ignore[no-untyped-def]
    client = TestClient(app, headers={"Authorization": "Bearer cal_not-a-real-token"})
    for method, path in _routes(app):
        if path.startswith("/api/") and not _public(path):
            response = client.request(method, _concrete(path))
            assert response.status_code == 401, (method, path)


def test_allow_listed_routes_answer_without_login(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/login").status_code in (200, 303)
    assert client.get("/setup").status_code == 200  # no user yet
    assert client.get("/static/app.css").status_code == 200


def test_setup_is_gone_once_a_user_exists(client, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={"username": "mallory", "password": "x" * 12}).status_code in (403, 404)
