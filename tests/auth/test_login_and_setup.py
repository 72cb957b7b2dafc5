from __future__ import annotations

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from tests.conftest import PASSWORD, browser_login, csrf_token, make_user


def test_first_visitor_creates_the_admin_then_setup_is_gone(client: TestClient) -> None:
    assert client.get("/").headers["location"].startswith("/login")
    assert client.get("/login").headers["location"] == "/setup"
    token = csrf_token(client)
    response = client.post("/setup", data={"username": "root-admin", "password": PASSWORD,
                                           "password_again": PASSWORD, "csrf_token": token})
    assert response.status_code == 303
    me = client.get("/api/v1/me", headers={"X-CSRF-Token": token})
    assert me.json()["username"] == "root-admin" and me.json()["role"] == "admin"
    assert client.get("/setup").status_code == 404


def test_setup_refuses_a_short_password_and_mismatch(client: TestClient) -> None:
    token = csrf_token(client)
    response = client.post("/setup", data={"username": "a", "password": "short", "password_again": "other",
                                           "csrf_token": token})
    assert response.status_code == 422
    assert "at least 8 characters" in response.text
    assert "differ" in response.text
    assert client.get("/setup").status_code == 200  # still no user


def test_login_sets_a_protected_session_cookie_and_logout_ends_it(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    token = csrf_token(client)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/work",
                                           "csrf_token": token})
    assert response.status_code == 303 and response.headers["location"] == "/work"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("calcifer_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert client.get("/").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf_token(client)}).status_code == 303
    assert client.get("/").status_code == 303


def test_login_never_redirects_to_another_site(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    token = csrf_token(client)
    response = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                           "next": "//evil.example/x", "csrf_token": token})
    assert response.headers["location"] == "/"


def test_wrong_password_is_refused_with_a_message(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    token = csrf_token(client)
    response = client.post("/login", data={"username": "alice", "password": "nope-nope",
                                           "csrf_token": token})
    assert response.status_code == 422
    assert "Wrong username or password" in response.text


def test_five_failures_throttle_the_user_and_are_audited(client: TestClient, ctx, cast) -> None:  # type: ignore[no-untyped-def]
    token = csrf_token(client)
    for _ in range(5):
        assert client.post("/login", data={"username": "eddie", "password": "wrong-one",
                                           "csrf_token": token}).status_code == 422
    # Even the right password is refused now, with a message saying what to do.
    response = client.post("/login", data={"username": "eddie", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 429
    assert "Too many failed logins" in response.text
    audit = cast.admin.get("/api/v1/audit", params={"action": "login.throttled"}).json()["items"]
    assert audit and audit[0]["object_id"] == "eddie"
    # Another user is not affected.
    assert browser_login(TestClient(client.app, follow_redirects=False), "vera")


def test_passwords_are_stored_as_argon2id_hashes(ctx) -> None:  # type: ignore[no-untyped-def]
    user = make_user(ctx, "alice", Role.ADMIN)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
