"""Admin pages: refusals shown on the page next to the user, confirmations on destructive actions, a new
token shown whole with a copy button, logins and failed logins in the audit log with links to objects."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from calcifer.auth.choices import Role
from calcifer.auth.models import User
from calcifer.web.context import AppContext
from tests.conftest import browser_login, csrf_token, make_user


def _admin(app: Any, ctx: AppContext) -> tuple[TestClient, str, int]:
    alice = make_user(ctx, "alice", Role.ADMIN)
    client = TestClient(app, follow_redirects=False)
    return client, browser_login(client, "alice"), alice.id


def _row(page: str, row_id: str) -> str:
    return page.split(f'id="{row_id}"', 1)[1].split("</tr>", 1)[0]


def test_disabling_the_last_admin_is_refused_on_the_users_page_next_to_that_user(app: Any, ctx: AppContext) -> None:
    client, csrf, alice_id = _admin(app, ctx)
    bob = make_user(ctx, "bob", Role.VIEWER)
    refused = client.post(f"/settings/users/{alice_id}", data={"csrf_token": csrf, "is_active": "false"})
    assert refused.status_code == 409
    assert "<h1>Users</h1>" in refused.text                      # the users page, not an error page
    assert "last active admin" in _row(refused.text, f"user-{alice_id}")
    alert = refused.text.split('id="refusal"', 1)[1].split("</div>", 1)[0]   # also above the table, for phones
    assert f'<a href="#user-{alice_id}">alice</a>' in alert and "last active admin" in alert
    assert "last active admin" not in _row(refused.text, f"user-{bob.id}")
    with ctx.session_factory() as session:
        assert session.scalar(select(User.is_active).where(User.id == alice_id)) is True


def test_deleting_oneself_is_refused_inline_with_the_reason(app: Any, ctx: AppContext) -> None:
    client, csrf, alice_id = _admin(app, ctx)
    make_user(ctx, "carol", Role.ADMIN)
    refused = client.post(f"/settings/users/{alice_id}/delete", data={"csrf_token": csrf})
    assert refused.status_code == 409 and "<h1>Users</h1>" in refused.text
    assert "cannot delete your own account" in _row(refused.text, f"user-{alice_id}")


def test_disable_and_delete_buttons_ask_to_confirm_first(app: Any, ctx: AppContext) -> None:
    client, _, _ = _admin(app, ctx)
    bob = make_user(ctx, "bob", Role.EDITOR)
    row = _row(client.get("/settings/users").text, f"user-{bob.id}")
    assert 'data-confirm="Disable bob?' in row and 'data-confirm="Delete bob?' in row


def test_a_new_token_is_shown_whole_with_a_copy_button(app: Any, ctx: AppContext) -> None:
    client, csrf, _ = _admin(app, ctx)
    page = client.post("/settings/tokens", data={"csrf_token": csrf, "name": "deploy script"})
    assert page.status_code == 200
    shown = re.search(r'<code class="secret" id="new-token">([^<]+)</code>', page.text)
    assert shown is not None
    raw = shown.group(1)
    assert TestClient(app, headers={"Authorization": f"Bearer {raw}"}).get("/api/v1/me").json()["username"] == "alice"
    assert 'data-copy="new-token"' in page.text
    assert 'data-confirm="Revoke deploy script?' in page.text


def test_the_audit_log_shows_logins_and_failed_logins_and_links_the_user(app: Any, ctx: AppContext) -> None:
    client, _, alice_id = _admin(app, ctx)
    stranger = TestClient(app, follow_redirects=False)
    stranger.post("/login", data={"username": "alice", "password": "not the password", "next": "/",
                                  "csrf_token": csrf_token(stranger)})
    page = client.get("/settings/audit").text
    rows = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")
    failed = next(r for r in rows if "login.failed" in r)
    login = next(r for r in rows if ">login<" in r)
    assert "wrong username or password" in failed
    assert f'href="/settings/users#user-{alice_id}"' in login


def test_audited_objects_link_to_their_pages(app: Any, ctx: AppContext) -> None:
    client, csrf, _ = _admin(app, ctx)
    bob = make_user(ctx, "bob", Role.VIEWER)
    client.post(f"/settings/users/{bob.id}", data={"csrf_token": csrf, "role": "editor"})
    client.post("/settings/tokens", data={"csrf_token": csrf, "name": "ci"})
    page = client.get("/settings/audit").text
    assert f'<a href="/settings/users#user-{bob.id}">user {bob.id}</a>' in page
    assert re.search(r'<a href="/settings/tokens#token-\d+">api_token \d+</a>', page)
    assert f'id="user-{bob.id}"' in client.get("/settings/users").text   # the anchor the link points at


def test_the_api_docs_page_follows_the_theme_and_links_back_to_the_app(app: Any, ctx: AppContext) -> None:
    client, _, _ = _admin(app, ctx)
    page = client.get("/api/docs").text
    assert re.search(r'<a class="apidocs-back" href="/">← back to Calcifer</a>', page)
    theme_js = re.search(r'<script src="(/static/theme\.js[^"]*)"', page)
    css = re.search(r'<link rel="stylesheet" href="(/static/swagger-theme\.css[^"]*)"', page)
    assert theme_js and css
    stylesheet = client.get(css.group(1).replace("&amp;", "&"))
    assert stylesheet.status_code == 200 and 'html[data-theme="dark"] #swagger-ui' in stylesheet.text
