"""The account page: people change their own password (ending their other sessions) and see their sessions
and tokens."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import PASSWORD, browser_login, csrf_token, make_token, make_user

NEW_PASSWORD = "a brand new passphrase"


def _logged_in(app: Any, username: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    return client, browser_login(client, username)


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    here, csrf = _logged_in(app, "eddie")
    elsewhere, _ = _logged_in(app, "eddie")
    assert elsewhere.get("/account").status_code == 200
    page = here.get("/account").text
    sessions = page.split('id="account-sessions"', 1)[1].split("</section>", 1)[0]
    assert sessions.count('id="session-') == 2 and "this browser" in sessions

    done = here.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                 "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert here.get("/account").status_code == 200                      # still logged in here
    assert elsewhere.get("/account").status_code in (302, 303, 401)      # logged out there
    fresh = TestClient(app, follow_redirects=False)
    assert browser_login(fresh, "eddie", NEW_PASSWORD)                  # the new password works
    old = TestClient(app, follow_redirects=False)
    refused = old.post("/login", data={"username": "eddie", "password": PASSWORD, "next": "/",
                                       "csrf_token": csrf_token(old)})
    assert refused.status_code == 422                                    # the old one does not


def test_a_wrong_current_password_changes_nothing_and_says_every_problem(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "vera", Role.VIEWER)
    client, csrf = _logged_in(app, "vera")
    other, _ = _logged_in(app, "vera")
    refused = client.post("/account/password", data={"csrf_token": csrf, "current_password": "not it at all",
                                                      "new_password": "short", "new_password_again": "other"})
    assert refused.status_code == 422 and "Traceback" not in refused.text
    for words in ("is not your current password", "8 to 1024 characters", "differs from the new password"):
        assert words in refused.text
    assert other.get("/account").status_code == 200   # nobody logged out
    again = TestClient(app, follow_redirects=False)
    assert browser_login(again, "vera", PASSWORD)    # the old password still works


def test_the_account_page_lists_only_ones_own_tokens(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    make_user(ctx, "alice", Role.ADMIN)
    make_token(ctx, "eddie", name="deploy script")
    make_token(ctx, "alice", name="admin secret job")
    client, _ = _logged_in(app, "eddie")
    tokens = client.get("/account").text.split('id="account-tokens"', 1)[1]
    assert "deploy script" in tokens and "admin secret job" not in tokens
