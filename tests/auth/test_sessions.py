"""Browser sessions: people list theirs (when, from where, which browser) and end one or all others; an
admin ends a user's sessions; disabling a user ends their sessions and tokens at once."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from calcifer.web.security import CSRF_HEADER
from tests.conftest import Cast, api_client, browser_login, make_token, make_user


def _browser(app: Any, username: str, agent: str) -> TestClient:
    client = TestClient(app, follow_redirects=False, headers={"User-Agent": agent})
    client.headers[CSRF_HEADER] = browser_login(client, username)
    return client


def test_my_sessions_list_when_where_and_which_browser(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    laptop = _browser(app, "eddie", "Firefox on the laptop")
    _browser(app, "eddie", "Chromium on the phone")
    listed = laptop.get("/api/v1/me/sessions")
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert {s["user_agent"] for s in items} == {"Firefox on the laptop", "Chromium on the phone"}
    assert [s["current"] for s in items if s["user_agent"] == "Firefox on the laptop"] == [True]
    assert all(s["remote_addr"] == "testclient" and s["last_seen_at"] for s in items)
    assert "token_hash" not in listed.text
    page = laptop.get("/account").text
    assert "Chromium on the phone" in page and "this browser" in page


def test_ending_one_session_logs_that_browser_out(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    make_user(ctx, "vera", Role.VIEWER)
    laptop = _browser(app, "eddie", "laptop")
    phone = _browser(app, "eddie", "phone")
    other = _browser(app, "vera", "vera's")
    phone_id = next(s["id"] for s in laptop.get("/api/v1/me/sessions").json()["items"] if s["user_agent"] == "phone")
    vera_id = other.get("/api/v1/me/sessions").json()["items"][0]["id"]
    assert laptop.delete(f"/api/v1/me/sessions/{vera_id}").status_code == 404  # not yours
    assert laptop.delete(f"/api/v1/me/sessions/{phone_id}").status_code == 204
    assert phone.get("/api/v1/me").status_code == 401
    assert laptop.get("/api/v1/me").status_code == 200 and other.get("/api/v1/me").status_code == 200


def test_ending_all_other_sessions_from_the_account_page(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    phone = _browser(app, "eddie", "phone")
    tablet = _browser(app, "eddie", "tablet")
    laptop = _browser(app, "eddie", "laptop")
    page = laptop.get("/account").text
    assert "End all other sessions" in page
    done = laptop.post("/account/sessions/revoke-others", data={"csrf_token": laptop.headers[CSRF_HEADER]})
    assert done.status_code == 303
    assert "2 other session(s) ended" in laptop.get("/account").text
    assert phone.get("/account").status_code == 303 and tablet.get("/account").status_code == 303
    # One at a time from the page too.
    again = _browser(app, "eddie", "phone again")
    page = laptop.get("/account").text
    other_id = re.findall(r'action="/account/sessions/(\d+)/revoke"', page)
    assert len(other_id) == 1
    laptop.post(f"/account/sessions/{other_id[0]}/revoke", data={"csrf_token": laptop.headers[CSRF_HEADER]})
    assert again.get("/account").status_code == 303 and laptop.get("/account").status_code == 200


def test_an_admin_ends_a_users_sessions(app: Any, ctx: AppContext, cast: Cast) -> None:
    phone = _browser(app, "eddie", "phone")
    laptop = _browser(app, "eddie", "laptop")
    eddie_token = make_token(ctx, "eddie", "kept")
    eddie_id = cast.admin.get("/api/v1/me").json()["id"] + 1
    assert cast.editor.post(f"/api/v1/users/{eddie_id}/sessions/revoke").status_code == 403
    ended = cast.admin.post(f"/api/v1/users/{eddie_id}/sessions/revoke")
    assert ended.status_code == 200 and ended.json() == {"ended": 2, "tokens_revoked": 0}
    assert phone.get("/api/v1/me").status_code == 401 and laptop.get("/api/v1/me").status_code == 401
    assert api_client(app, eddie_token).get("/api/v1/me").status_code == 200
    with_tokens = cast.admin.post(f"/api/v1/users/{eddie_id}/sessions/revoke?tokens=true")
    assert with_tokens.json()["tokens_revoked"] == 2  # the cast's token and "kept"
    assert api_client(app, eddie_token).get("/api/v1/me").status_code == 401
    # From the users page as well.
    again = _browser(app, "eddie", "again")
    admin = _browser(app, "alice", "admin's")
    assert admin.post(f"/settings/users/{eddie_id}/sessions/revoke",
                      data={"csrf_token": admin.headers[CSRF_HEADER]}).status_code == 303
    assert again.get("/api/v1/me").status_code == 401


def test_disabling_a_user_ends_their_sessions_and_tokens_at_once(app: Any, ctx: AppContext, cast: Cast) -> None:
    browser = _browser(app, "eddie", "laptop")
    token = make_token(ctx, "eddie", "deploy")
    eddie = next(u for u in cast.admin.get("/api/v1/users").json()["items"] if u["username"] == "eddie")
    assert cast.admin.patch(f"/api/v1/users/{eddie['id']}", json={"is_active": False}).status_code == 200
    assert browser.get("/api/v1/me").status_code == 401
    assert api_client(app, token).get("/api/v1/me").status_code == 401
    # Enabling them again does not bring the old credentials back.
    assert cast.admin.patch(f"/api/v1/users/{eddie['id']}", json={"is_active": True}).status_code == 200
    assert browser.get("/api/v1/me").status_code == 401
    assert api_client(app, token).get("/api/v1/me").status_code == 401
    tokens = cast.admin.get("/api/v1/tokens?all=true").json()["items"]
    assert all(t["revoked_at"] for t in tokens if t["username"] == "eddie")
