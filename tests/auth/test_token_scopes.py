"""API tokens with scopes (read < write < admin) and an expiry, over HTTP and on the command line.

Every route is covered by scope and expiry in tests/auth/test_authorization_matrix.py; here the
creation rules, the messages a script's author reads, and the token list.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from calcifer.auth import service as auth_service
from calcifer.db import utcnow
from calcifer.web.context import AppContext
from tests.conftest import Cast, api_client, drop_schema, make_settings


def _token(cast_client, **body):  # type: ignore[no-untyped-def]
    return cast_client.post("/api/v1/tokens", json={"name": "script", **body})


def test_a_token_gets_what_its_role_allows_by_default(cast: Cast) -> None:
    assert _token(cast.viewer).status_code == 403  # the viewer's own token is read-only: no writes at all
    assert _token(cast.editor).json()["scopes"] == ["read", "write"]
    assert _token(cast.admin).json()["scopes"] == ["read", "write", "admin"]
    assert _token(cast.admin, scopes=["write"]).json()["scopes"] == ["read", "write"]  # write includes read


def test_asking_for_more_than_the_role_allows_is_refused_naming_the_scope(cast: Cast) -> None:
    refused = _token(cast.editor, scopes=["admin"])
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "scope_not_allowed"
    assert "admin" in error["message"] and "editor" in error["message"]
    unknown = _token(cast.editor, scopes=["root"])
    assert unknown.status_code == 422 and "'root'" in unknown.json()["error"]["message"]


def test_a_token_never_makes_a_stronger_one(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    write_only = api_client(app, _token(cast.admin, scopes=["write"]).json()["token"])
    refused = _token(write_only, scopes=["admin"])
    assert refused.status_code == 422 and "the token you are using" in refused.json()["error"]["message"]
    made = _token(write_only)  # the default is bounded by the creating token as well
    assert made.status_code == 201 and made.json()["scopes"] == ["read", "write"]
    for_other = _token(write_only, username="vera")
    assert for_other.status_code == 403
    # Nor does it see or revoke other users' tokens, as its admin user could.
    listed = write_only.get("/api/v1/tokens?all=true").json()["items"]
    assert {t["username"] for t in listed} == {"alice"}
    vera_token = next(t for t in cast.admin.get("/api/v1/tokens?all=true").json()["items"] if t["username"] == "vera")
    assert write_only.delete(f"/api/v1/tokens/{vera_token['id']}").status_code == 404
    assert cast.viewer.get("/api/v1/me").status_code == 200


def test_a_read_token_cannot_change_anything_and_says_why(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    reader = api_client(app, _token(cast.editor, scopes=["read"]).json()["token"])
    assert reader.get("/api/v1/work-items").status_code == 200
    refused = reader.post("/api/v1/work-items", json={"title": "x", "category": "service", "action": "new"})
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "insufficient_scope"
    assert "read" in error["message"] and "needs the write scope" in error["message"]
    assert cast.editor.get("/api/v1/work-items").json()["items"] == []


def test_a_write_token_cannot_use_admin_routes(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    writer = api_client(app, _token(cast.admin, scopes=["write"]).json()["token"])
    made = writer.post("/api/v1/work-items", json={"title": "Add grafana", "category": "service", "action": "new"})
    assert made.status_code == 201
    for method, path in (("GET", "/api/v1/users"), ("POST", "/api/v1/users")):
        refused = writer.request(method, path, json={"username": "x1", "password": "long enough"})
        assert refused.status_code == 403, (method, path)
        assert "needs the admin scope" in refused.json()["error"]["message"]
    assert cast.admin.get("/api/v1/users").status_code == 200


def test_an_expiry_in_the_past_is_refused(cast: Cast) -> None:
    past = (utcnow() - dt.timedelta(minutes=5)).isoformat()
    refused = _token(cast.editor, expires_at=past)
    assert refused.status_code == 422 and "in the past" in refused.json()["error"]["message"]


def test_an_expired_token_gets_401_saying_when_it_expired(app, ctx: AppContext, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    later = utcnow() + dt.timedelta(days=30)
    made = _token(cast.editor, expires_at=later.isoformat()).json()
    assert dt.datetime.fromisoformat(made["expires_at"]) == later.replace(microsecond=made_us(made))
    client = api_client(app, made["token"])
    assert client.get("/api/v1/me").status_code == 200
    when = utcnow() - dt.timedelta(seconds=1)
    with ctx.session_factory() as session:  # time passes: the token is now past its expiry
        from calcifer.auth.models import ApiToken

        token = session.get(ApiToken, made["id"])
        assert token is not None
        token.expires_at = when
        session.commit()
    for method, path in (("GET", "/api/v1/me"), ("POST", "/api/v1/work-items"), ("GET", "/")):
        expired = client.request(method, path, json={})
        assert expired.status_code == 401, (method, path)
        error = expired.json()["error"]
        assert error["code"] == "token_expired"
        assert "'script' expired at " + when.strftime("%Y-%m-%d %H:%M:%S UTC") in error["message"]


def made_us(made: dict[str, object]) -> int:
    # The database may keep microseconds (PostgreSQL) or not: compare at the precision it kept.
    return dt.datetime.fromisoformat(str(made["expires_at"])).microsecond


def test_the_token_list_shows_scopes_expiry_and_last_use(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    later = utcnow() + dt.timedelta(days=7)
    made = _token(cast.admin, scopes=["read"], expires_at=later.isoformat()).json()
    api_client(app, made["token"]).get("/api/v1/me")
    listed = {t["id"]: t for t in cast.admin.get("/api/v1/tokens").json()["items"]}[made["id"]]
    assert listed["scopes"] == ["read"]
    assert listed["expires_at"] is not None and listed["last_used_at"] is not None
    assert "token" not in listed
    page = cast.admin.get("/settings/tokens")
    assert page.status_code == 200 and "read" in page.text


def test_token_create_on_the_command_line_takes_scopes_and_an_expiry(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    env = {**os.environ, "CALCIFER_DATA_DIR": str(settings.data_dir), "PYTHONPATH": os.environ.get("PYTHONPATH", "src")}
    if settings.database_schema:
        env["CALCIFER_DATABASE_URL"] = str(settings.database_url)
        env["CALCIFER_DATABASE_SCHEMA"] = settings.database_schema
    try:
        def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "calcifer.cli", *args], input=stdin, env=env,
                                  capture_output=True, text=True, timeout=120)

        assert run("init").returncode == 0
        assert run("user", "create", "--username", "ops", "--role", "editor", "--password-stdin",
                   stdin="a long password\n").returncode == 0
        made = run("token", "create", "--user", "ops", "--name", "ci", "--scope", "read", "--expires", "30d")
        assert made.returncode == 0, made.stderr
        assert "scopes read" in made.stderr and "expires" in made.stderr
        too_much = run("token", "create", "--user", "ops", "--name", "ci", "--scope", "admin")
        assert too_much.returncode != 0 and "admin" in too_much.stderr
        unreadable = run("token", "create", "--user", "ops", "--name", "ci", "--expires", "soon")
        assert unreadable.returncode != 0 and "30d" in unreadable.stderr
    finally:
        drop_schema(settings)


def test_parse_expiry_reads_durations_and_times() -> None:
    now = utcnow()
    in_a_day = auth_service.parse_expiry("1d")
    assert dt.timedelta(hours=23) < in_a_day - now < dt.timedelta(hours=25)
    assert auth_service.parse_expiry("2027-01-31") == dt.datetime(2027, 1, 31, tzinfo=dt.UTC)
    assert auth_service.parse_expiry("2027-01-31T18:00:00Z") == dt.datetime(2027, 1, 31, 18, tzinfo=dt.UTC)
