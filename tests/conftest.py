"""The usual cast (admin, editor, viewer, outsider) and a fresh Calcifer per test.

Each test gets its own data directory (managed git repository, worktrees) and its own database:
a SQLite file there, or, when CALCIFER_TEST_DATABASE_URL names a PostgreSQL server, a schema of
its own on it (dropped afterwards), so parallel runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import text

from calcifer.app import create_app, prepare
from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role
from calcifer.auth.schemas import UserCreate
from calcifer.config import Settings
from calcifer.db import make_engine
from calcifer.web.context import AppContext

PASSWORD = "correct horse battery"

# Still argon2id, with the cheapest parameters: the production cost (~0.15 s a hash) would dominate a
# suite that creates a few users per test.
auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TEST_DATABASE_URL = os.environ.get("CALCIFER_TEST_DATABASE_URL")


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    # The monitoring scheduler starts only in the tests that ask for it (monitor_in_web=True).
    values: dict[str, object] = {"data_dir": data_dir, "monitor_in_web": False}
    if TEST_DATABASE_URL:
        values["database_url"] = TEST_DATABASE_URL
        values["database_schema"] = "t_" + uuid.uuid4().hex[:16]
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def drop_schema(settings: Settings) -> None:
    if settings.database_schema:
        engine = make_engine(settings.resolved_database_url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.database_schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    value = make_settings(tmp_path / "data")
    yield value
    drop_schema(value)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[AppContext]:
    context = prepare(settings)
    yield context
    context.engine.dispose()


@pytest.fixture
def app(ctx: AppContext):  # type: ignore[no-untyped-def]
    return create_app(ctx=ctx)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def make_user(ctx: AppContext, username: str, role: Role, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    with ctx.session_factory() as session:
        return auth_service.create_user(session=session, actor=None,
                                        data=UserCreate(username=username, password=password, role=role))


def make_token(ctx: AppContext, username: str, name: str = "tests") -> str:
    with ctx.session_factory() as session:
        owner = auth_service.get_user_by_username(session=session, username=username)
        _, raw = auth_service.create_token(session=session, actor=owner, owner=owner, name=name)
    return raw


@dataclass
class Cast:
    admin: TestClient
    editor: TestClient
    viewer: TestClient
    outsider: TestClient


def api_client(app, token: str | None) -> TestClient:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return TestClient(app, headers=headers, follow_redirects=False)


@pytest.fixture
def cast(app, ctx: AppContext) -> Cast:  # type: ignore[no-untyped-def]
    """API clients authenticated by bearer token as each role, and one with no credentials."""
    for name, role in (("alice", Role.ADMIN), ("eddie", Role.EDITOR), ("vera", Role.VIEWER)):
        make_user(ctx, name, role)
    return Cast(admin=api_client(app, make_token(ctx, "alice")), editor=api_client(app, make_token(ctx, "eddie")),
                viewer=api_client(app, make_token(ctx, "vera")), outsider=api_client(app, None))


def csrf_token(client: TestClient) -> str:
    """The CSRF token the pages of this browser-like client carry (fetches a page to get the cookie)."""
    import re

    for path in ("/login", "/setup", "/settings/tokens"):
        match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get(path).text)
        if match:
            return match.group(1)
    raise AssertionError("no CSRF token on any page")


def browser_login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log the client in through the login form; returns the CSRF token of its new session."""
    response = client.post("/login", data={"username": username, "password": password, "next": "/",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 303, response.text
    return csrf_token(client)  # bound to the session, so it changed with the login
