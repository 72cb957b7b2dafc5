from __future__ import annotations

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from tests.conftest import Cast, browser_login, make_token, make_user


def test_form_post_without_csrf_token_is_refused(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    browser_login(client, "alice")
    response = client.post("/settings/users", data={"username": "mallory", "password": "12345678",
                                                    "role": "admin"})
    assert response.status_code == 403
    assert "security token" in response.text
    wrong = client.post("/settings/users", data={"username": "mallory", "password": "12345678",
                                                 "role": "admin", "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    users = client.get("/settings/users").text
    assert "mallory" not in users


def test_json_request_with_session_needs_the_csrf_header(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    token = browser_login(client, "alice")
    body = {"title": "x", "category": "service", "action": "new"}
    assert client.post("/api/v1/work-items", json=body).status_code == 403
    assert client.post("/api/v1/work-items", json=body, headers={"X-CSRF-Token": token}).status_code == 201


def test_login_form_itself_needs_the_csrf_token(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    client.get("/login")
    response = client.post("/login", data={"username": "alice", "password": "correct horse battery"})
    assert response.status_code == 403


def test_token_is_shown_once_stored_hashed_and_revocable(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    created = cast.editor.post("/api/v1/tokens", json={"name": "deploy script"})
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("cal_")
    listed = cast.editor.get("/api/v1/tokens").json()["items"]
    assert all("token" not in t for t in listed) and raw not in str(listed)
    from sqlalchemy import select

    from calcifer.auth.models import ApiToken

    with ctx.session_factory() as session:
        hashes = list(session.scalars(select(ApiToken.token_hash)))
    assert raw not in hashes and all(len(h) == 64 for h in hashes)
    bot = TestClient(cast.editor.app, headers={"Authorization": f"Bearer {raw}"})
    assert bot.get("/api/v1/me").json()["username"] == "eddie"
    assert cast.editor.delete(f"/api/v1/tokens/{created.json()['id']}").status_code == 204
    assert bot.get("/api/v1/me").status_code == 401


def test_only_admins_create_tokens_for_others(cast: Cast) -> None:
    assert cast.editor.post("/api/v1/tokens", json={"name": "x", "username": "vera"}).status_code == 403
    made = cast.admin.post("/api/v1/tokens", json={"name": "for vera", "username": "vera"})
    assert made.status_code == 201 and made.json()["username"] == "vera"


def test_disabled_user_loses_token_access(cast: Cast) -> None:
    users = {u["username"]: u["id"] for u in cast.admin.get("/api/v1/users").json()["items"]}
    assert cast.admin.patch(f"/api/v1/users/{users['eddie']}", json={"is_active": False}).status_code == 200
    assert cast.editor.get("/api/v1/me").status_code == 401


def test_an_admins_password_reset_revokes_the_users_tokens_and_sessions(app, cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    browser = TestClient(app, follow_redirects=False)
    browser_login(browser, "eddie")
    assert cast.editor.get("/api/v1/me").status_code == 200
    users = {u["username"]: u["id"] for u in cast.admin.get("/api/v1/users").json()["items"]}
    reset = cast.admin.patch(f"/api/v1/users/{users['eddie']}", json={"password": "a brand new one"})
    assert reset.status_code == 200
    assert cast.editor.get("/api/v1/me").status_code == 401
    assert browser.get("/api/v1/me").status_code == 401
    listed = cast.admin.get("/api/v1/tokens", params={"all": True}).json()["items"]
    assert [t["revoked_at"] is not None for t in listed if t["username"] == "eddie"] == [True]
    audit = cast.admin.get("/api/v1/audit", params={"action": "user.update"}).json()["items"]
    assert audit[0]["after"]["tokens_revoked"] == 1
    # A token made after the reset works; other users' tokens were never touched.
    fresh = TestClient(app, headers={"Authorization": f"Bearer {make_token(ctx, 'eddie', 'after reset')}"})
    assert fresh.get("/api/v1/me").json()["username"] == "eddie"
    assert cast.viewer.get("/api/v1/me").status_code == 200
