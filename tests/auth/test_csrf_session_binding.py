"""CSRF tokens are bound to the login session (or to a server-signed pre-session before login), so a
cookie tossed in by another page on the same host buys nothing; secure cookies carry `__Host-`."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from tests.conftest import PASSWORD, browser_login, csrf_token, make_user

NEW_ADMIN = {"username": "mallory", "password": "12345678", "role": "admin"}


def _users(client: TestClient) -> str:
    return client.get("/settings/users").text


def test_a_tossed_presession_cookie_and_its_token_cannot_act_for_a_logged_in_admin(app, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    attacker = TestClient(app, follow_redirects=False)
    attacker_token = csrf_token(attacker)
    tossed = attacker.cookies["calcifer_csrf"]
    victim = TestClient(app, follow_redirects=False)
    browser_login(victim, "alice")
    victim.cookies.set("calcifer_csrf", tossed)
    response = victim.post("/settings/users", data={**NEW_ADMIN, "csrf_token": attacker_token})
    assert response.status_code == 403
    assert "mallory" not in _users(victim)


def test_a_chosen_presession_cookie_is_not_adopted(app, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    attacker = TestClient(app, follow_redirects=False)
    attacker.cookies.set("calcifer_csrf", "chosen-seed")
    page = attacker.get("/login")
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    victim = TestClient(app, follow_redirects=False)
    victim.cookies.set("calcifer_csrf", "chosen-seed")
    forced = victim.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert forced.status_code == 403
    # The server answers with a pre-session of its own, not the one it was offered.
    assert "calcifer_csrf=" in page.headers["set-cookie"] and "chosen-seed" not in page.headers["set-cookie"]


def test_the_token_changes_with_the_login_and_the_old_one_stops_working(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    before = csrf_token(client)
    after = browser_login(client, "alice")
    assert after != before
    # htmx sends the token from <body hx-headers>: the page carries the session's token.
    assert f'hx-headers=\'{{"X-CSRF-Token": "{after}"}}\'' in client.get("/").text
    assert client.post("/settings/users", data={**NEW_ADMIN, "csrf_token": before}).status_code == 403
    made = client.post("/settings/users", data={**NEW_ADMIN, "csrf_token": after})
    assert made.status_code == 303
    assert "mallory" in _users(client)


def test_login_starts_a_new_session_and_ends_the_one_the_browser_had(app, client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    token = browser_login(client, "alice")
    first = client.cookies["calcifer_session"]
    again = client.post("/login", data={"username": "alice", "password": PASSWORD, "next": "/",
                                        "csrf_token": token})
    assert again.status_code == 303
    assert client.cookies["calcifer_session"] != first
    planted = TestClient(app, follow_redirects=False, cookies={"calcifer_session": first})
    assert planted.get("/api/v1/me").status_code == 401


def test_over_https_cookies_are_host_prefixed_and_secure(app, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    browser = TestClient(app, base_url="https://testserver", follow_redirects=False)
    page = browser.get("/login")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-calcifer_csrf=")
    assert "Secure" in cookie and "Path=/" in cookie and "Domain" not in cookie
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text).group(1)  # type: ignore[union-attr]
    login = browser.post("/login", data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert login.status_code == 303
    session_cookie = next(h for h in login.headers.get_list("set-cookie") if "calcifer_session=" in h)
    assert session_cookie.startswith("__Host-calcifer_session=") and "Secure" in session_cookie
    raw = browser.cookies["__Host-calcifer_session"]
    assert browser.get("/api/v1/me").json()["username"] == "alice"
    # An unprefixed cookie (which any page on this host could set) is not read over https.
    tossed = TestClient(app, base_url="https://testserver", follow_redirects=False,
                        cookies={"calcifer_session": raw})
    assert tossed.get("/api/v1/me").status_code == 401
