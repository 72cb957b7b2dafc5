"""Every route, every identity: generated from the app's routes, so a new route is covered without a test.

The role a route needs is read from its dependencies (RequireViewer / RequireEditor / RequireAdmin, or
CurrentUser for any logged-in user). Then, with a session cookie and with a bearer token: anonymous gets a
401 (API) or the login page (pages) unless the route is public; a role below the needed one gets a 403; the
needed role and those above get neither. Tokens narrowed by scope (read, write) get a 403 saying so on every
change (any method but GET) and every admin route their scope does not cover; an expired token gets a 401
saying it expired on every route that is not public. Path parameters carry values that name nothing (a 404 or 422 is
fine for an allowed role), so no request changes what a later one sees.
"""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route

from calcifer import deps
from calcifer.app import ROUTERS
from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role
from calcifer.auth.roles import needed_scope
from calcifer.db import utcnow
from calcifer.monitoring.probe_routes import PROBE_PATHS
from calcifer.web.context import AppContext
from calcifer.web.middleware import PUBLIC_BY_SETTING
from calcifer.web.security import CSRF_HEADER
from tests.conftest import Cast, api_client, browser_login, csrf_token
from tests.web.test_route_protection import ALLOW_LIST, PUBLIC_PREFIXES


def _dependency(alias: Any) -> Callable[..., Any]:
    dependency: Callable[..., Any] = typing.get_args(alias)[1].dependency
    return dependency


ROLE_OF_DEPENDENCY: dict[Callable[..., Any], Role] = {
    _dependency(deps.RequireViewer): Role.VIEWER,
    _dependency(deps.RequireEditor): Role.EDITOR,
    _dependency(deps.RequireAdmin): Role.ADMIN,
    deps.current_user: Role.VIEWER,  # CurrentUser: any logged-in user
}
# FastAPI serves the OpenAPI document itself (a plain route, no dependencies to read); the middleware
# demands a login for it like for every path not allow-listed.
FRAMEWORK_ROUTES = {"/api/openapi.json": Role.VIEWER}
# An admin may open these to everyone with a setting; off by default, they need a login like any page.
LOGIN_UNLESS_SETTING = {path: Role.VIEWER for path in PUBLIC_BY_SETTING}
PUBLIC = "public"
# Public routes that authenticate the caller themselves (a signature of the body): without one, a 401.
SIGNED_PUBLIC = {"/api/v1/repository/webhook"}
# Called by remote probes with their own token (`Authorization: Probe <token>`): no user identity opens them.
PROBE = "probe token"
MISSING_INT = "999999"
MISSING_NAME = "zz-matrix-none"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str        # as declared, e.g. /api/v1/work-items/{item_id}
    url: str         # with dummy values
    needs: Role | str | None  # a Role, PUBLIC, or None: not classified

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/") or self.path == "/metrics"

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _roles_in(dependant: Dependant) -> set[Role]:
    found: set[Role] = set()
    for sub in dependant.dependencies:
        if sub.call in ROLE_OF_DEPENDENCY:
            found.add(ROLE_OF_DEPENDENCY[sub.call])
        found |= _roles_in(sub)
    return found


def _public(path: str) -> bool:
    return path in ALLOW_LIST or path.startswith(PUBLIC_PREFIXES)


def _url(route: BaseRoute, path: str) -> str:
    ints = set()
    if isinstance(route, APIRoute):
        ints = {param.name for param in route.dependant.path_params if param.field_info.annotation is int}

    def fill(match: re.Match[str]) -> str:
        name, _, convertor = match.group(1).partition(":")
        if convertor == "path":
            return f"docs/{MISSING_NAME}.md"
        return MISSING_INT if name in ints or convertor == "int" else MISSING_NAME

    return re.sub(r"\{([^}]+)\}", fill, path)


def classify(routes: Iterable[BaseRoute]) -> list[Endpoint]:
    """Each (method, path) of `routes` with the role it needs, PUBLIC, or None when nothing says."""
    found: dict[tuple[str, str], Endpoint] = {}
    for route in routes:
        if not isinstance(route, APIRoute | Route) or isinstance(route, Mount):
            continue  # included-router wrappers (their routes come from ROUTERS) and /static
        needs: Role | str | None
        if route.path in PROBE_PATHS:
            needs = PROBE
        elif _public(route.path):
            needs = PUBLIC
        elif isinstance(route, APIRoute) and (roles := _roles_in(route.dependant)):
            needs = max(roles, key=lambda role: role.rank)
        else:
            needs = FRAMEWORK_ROUTES.get(route.path) or LOGIN_UNLESS_SETTING.get(route.path)
        for method in sorted(route.methods or ()):
            if method != "HEAD":
                found[(method, route.path)] = Endpoint(method, route.path, _url(route, route.path), needs)
    return list(found.values())


def _app_endpoints(app: FastAPI) -> list[Endpoint]:
    # The app's own routes plus every slice router's (FastAPI nests included routers).
    return classify([*app.routes, *(route for router in ROUTERS for route in router.routes)])


def test_every_route_is_classified_by_its_dependencies_or_the_public_list(app) -> None:  # type: ignore[no-untyped-def]
    endpoints = _app_endpoints(app)
    assert len(endpoints) > 150, "route enumeration found too few routes"
    unclassified = [str(endpoint) for endpoint in endpoints if endpoint.needs is None]
    assert unclassified == [], f"routes with no role dependency that are not public: {unclassified}"
    needs = {endpoint.needs for endpoint in endpoints}
    assert {Role.VIEWER, Role.EDITOR, Role.ADMIN, PUBLIC} <= needs


def test_a_route_without_a_role_dependency_is_reported_unclassified() -> None:
    router = APIRouter()

    @router.get("/api/v1/forgotten/{thing_id}")
    def forgotten(session: deps.SessionDep, thing_id: int) -> None: ...

    @router.post("/api/v1/guarded/{slug}")
    def guarded(user: deps.CurrentUser, admin: deps.RequireAdmin, slug: str) -> None: ...

    by_path = {endpoint.path: endpoint for endpoint in classify(router.routes)}
    assert by_path["/api/v1/forgotten/{thing_id}"].needs is None
    assert by_path["/api/v1/forgotten/{thing_id}"].url == f"/api/v1/forgotten/{MISSING_INT}"
    assert by_path["/api/v1/guarded/{slug}"].needs is Role.ADMIN  # the strongest requirement wins
    assert by_path["/api/v1/guarded/{slug}"].url == f"/api/v1/guarded/{MISSING_NAME}"


def _session_client(app: FastAPI, username: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    client.headers[CSRF_HEADER] = browser_login(client, username)
    return client


def _order(endpoint: Endpoint) -> tuple[int, str, str]:
    # Reads first, then changes; logging out and ending one's other sessions last, since they end the
    # sessions the later requests use (a token's "other sessions" are all of its user's).
    return (2 if endpoint.path in SESSION_ENDERS else 0 if endpoint.method == "GET" else 1, endpoint.path,
            endpoint.method)


SESSION_ENDERS = {"/logout", "/account/sessions/revoke-others"}


def _says(response: Any, code: str, phrase: str) -> bool:
    """The error answer carries `code` (JSON) or, as a page, a message with `phrase`."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return bool(response.json()["error"]["code"] == code)
    return phrase in response.text


def _problem(endpoint: Endpoint, role: Role | None, status: int, response: Any,
             scopes: tuple[str, ...] | None = None, expired: bool = False) -> str | None:
    """What is wrong with `response` to `role` (None: anonymous) on `endpoint` with a token of `scopes`
    (None: all the role allows, or a session), or None."""
    if endpoint.needs == PROBE:
        return None if status == 401 else "a probe route answered without a probe token: expected 401"
    if expired and endpoint.needs != PUBLIC:
        return None if status == 401 and _says(response, "token_expired", "expired at") else \
            "expired token: expected 401 token_expired"
    if endpoint.needs == PUBLIC:
        location = response.headers.get("location", "")
        if endpoint.path in SIGNED_PUBLIC:
            return None if status == 401 else "a signed public route: expected 401 without a signature"
        if status in (401, 403) or location.startswith("/login?next="):
            return "a public route refused"
        return None
    assert isinstance(endpoint.needs, Role)
    if role is None:
        if endpoint.is_api:
            return None if status == 401 else "anonymous: expected 401"
        location = response.headers.get("location", "")
        return None if status == 303 and location.startswith("/login?next=") else "anonymous: expected login"
    if not role.allows(endpoint.needs):
        return None if status == 403 else f"{role.value} is below {endpoint.needs.value}: expected 403"
    if scopes is not None and needed_scope(endpoint.method, endpoint.needs, endpoint.path).value not in scopes:
        return None if status == 403 and _says(response, "insufficient_scope", "needs the") else \
            f"a token of scopes {scopes}: expected 403 insufficient_scope"
    if status in (401, 403):
        return f"{role.value} may use it (needs {endpoint.needs.value}): expected no 401/403"
    return None


def test_every_route_answers_each_identity_as_its_role_requires(app, ctx: AppContext, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    anonymous = TestClient(app, follow_redirects=False)
    # Public forms (login, setup) check CSRF like any other: an anonymous browser has its token too.
    anonymous.headers[CSRF_HEADER] = csrf_token(anonymous)
    def scoped(username: str, scopes: list[str] | None, expires: dt.datetime | None = None) -> TestClient:
        with ctx.session_factory() as session:
            owner = auth_service.get_user_by_username(session=session, username=username)
            token, raw = auth_service.create_token(session=session, actor=owner, owner=owner, name="matrix",
                                                   scopes=scopes)
            if expires is not None:  # made valid, then past its expiry (creation refuses a past one)
                token.expires_at = expires
                session.commit()
        return api_client(app, raw)

    read, write = ("read",), ("read", "write")
    identities: list[tuple[str, Role | None, TestClient, tuple[str, ...] | None, bool]] = [
        ("anonymous", None, anonymous, None, False),
        ("viewer token", Role.VIEWER, cast.viewer, read, False),
        ("editor token", Role.EDITOR, cast.editor, write, False),
        ("admin token", Role.ADMIN, cast.admin, None, False),
        ("admin read token", Role.ADMIN, scoped("alice", ["read"]), read, False),
        ("admin write token", Role.ADMIN, scoped("alice", ["write"]), write, False),
        ("editor read token", Role.EDITOR, scoped("eddie", ["read"]), read, False),
        ("expired admin token", Role.ADMIN, scoped("alice", None, utcnow() - dt.timedelta(seconds=1)), None, True),
        ("viewer session", Role.VIEWER, _session_client(app, "vera"), None, False),
        ("editor session", Role.EDITOR, _session_client(app, "eddie"), None, False),
        ("admin session", Role.ADMIN, _session_client(app, "alice"), None, False),
    ]
    endpoints = sorted(_app_endpoints(app), key=_order)
    failures: list[str] = []
    for endpoint in endpoints:
        for name, role, client, scopes, expired in identities:
            response = client.request(endpoint.method, endpoint.url)
            problem = _problem(endpoint, role, response.status_code, response, scopes, expired)
            if problem is not None:
                failures.append(f"{endpoint} as {name}: {problem}, got {response.status_code}")
    assert failures == [], "\n".join(failures)
