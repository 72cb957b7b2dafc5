"""Two-factor login (TOTP): enrolment on the account page, the code step after the password, recovery
codes, a reused code refused, throttling of wrong codes, and the admin setting that requires it per role."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from calcifer.auth.choices import Role
from calcifer.auth.models import RecoveryCode, TotpFactor
from calcifer.web.context import AppContext
from calcifer.web.security import CSRF_HEADER
from tests.conftest import PASSWORD, api_client, browser_login, csrf_token, make_token, make_user


def _browser(app: Any, username: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    client.headers[CSRF_HEADER] = browser_login(client, username)
    return client


def _form(client: TestClient, path: str, **data: str) -> Any:
    return client.post(path, data={"csrf_token": client.headers.get(CSRF_HEADER) or csrf_token(client), **data})


def _code(secret: str, steps_ahead: int = 0) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + steps_ahead * totp.interval)


def enrol(app: Any, username: str) -> tuple[TestClient, str, list[str]]:
    """Turn two-factor on for `username` through the pages; returns (browser, secret, recovery codes).
    The code that confirms it is the current step's; logins in the tests use the next step's (a code is
    accepted once, and one step of clock drift either way)."""
    browser = _browser(app, username)
    page = browser.get("/account/two-factor")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'src="/account/two-factor/qr.svg"' in page.text
    qr = browser.get("/account/two-factor/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.text.startswith("<svg") and "<script" not in qr.text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert secret is not None
    wrong = _form(browser, "/account/two-factor/confirm", code="000000" if _code(secret[1]) != "000000" else "111111")
    assert wrong.status_code == 422 and "not right" in wrong.text
    done = _form(browser, "/account/two-factor/confirm", code=_code(secret[1]))
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", done.text)
    assert len(codes) == 10 and len(set(codes)) == 10
    return browser, secret[1], codes


def _password_step(app: Any, username: str) -> tuple[TestClient, Any]:
    client = TestClient(app, follow_redirects=False)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/work",
                                           "csrf_token": csrf_token(client)})
    return client, response


def test_enrolment_stores_the_secret_sealed_and_the_recovery_codes_hashed(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    browser, secret, codes = enrol(app, "eddie")
    with ctx.session_factory() as session:
        factor = session.scalars(select(TotpFactor)).one()
        assert factor.confirmed_at is not None and secret not in factor.secret_sealed
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
        assert len(hashes) == 10 and not set(codes) & set(hashes)
    account = browser.get("/account").text
    assert "10 unused recovery code(s) left" in account and secret not in account
    assert all(code not in account for code in codes)


def test_login_asks_for_the_code_after_the_password(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    _, secret, _ = enrol(app, "eddie")
    client, first = _password_step(app, "eddie")
    assert first.status_code == 303 and first.headers["location"] == "/login/code"
    assert client.get("/account").status_code == 303  # not logged in yet
    form = client.get("/login/code")
    assert form.status_code == 200 and "authenticator app" in form.text
    token = csrf_token(client)
    done = client.post("/login/code", data={"code": _code(secret, 1), "csrf_token": token})
    assert done.status_code == 303 and done.headers["location"] == "/work"
    assert client.get("/account").status_code == 200
    # The same code again, in another login: refused (same time step).
    other, _ = _password_step(app, "eddie")
    reused = other.post("/login/code", data={"code": _code(secret, 1), "csrf_token": csrf_token(other)})
    assert reused.status_code == 422 and "used already" in reused.text
    assert other.get("/account").status_code == 303


def test_a_recovery_code_works_once(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    _, _, codes = enrol(app, "eddie")
    client, _ = _password_step(app, "eddie")
    done = client.post("/login/code", data={"code": codes[3].upper(), "csrf_token": csrf_token(client)})
    assert done.status_code == 303 and client.get("/account").status_code == 200
    assert "9 unused recovery code(s) left" in client.get("/account").text
    again, _ = _password_step(app, "eddie")
    refused = again.post("/login/code", data={"code": codes[3], "csrf_token": csrf_token(again)})
    assert refused.status_code == 422


def test_the_code_step_needs_the_password_step_first(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    _, secret, _ = enrol(app, "eddie")
    stranger = TestClient(app, follow_redirects=False)
    assert stranger.get("/login/code").headers["location"] == "/login"
    stranger.cookies.set("calcifer_pending_login", "not-sealed-by-us")
    forged = stranger.post("/login/code", data={"code": _code(secret, 1), "csrf_token": csrf_token(stranger)})
    assert forged.status_code == 303 and forged.headers["location"] == "/login"
    assert stranger.get("/account").status_code == 303


def test_wrong_codes_are_throttled_per_user(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "eddie", Role.EDITOR)
    _, secret, _ = enrol(app, "eddie")
    statuses = []
    for _ in range(7):
        # A new password step each time: it must not reset the count of wrong codes.
        client, _ = _password_step(app, "eddie")
        wrong = "123456" if _code(secret) != "123456" else "654321"
        statuses.append(client.post("/login/code", data={"code": wrong, "csrf_token": csrf_token(client)}))
    assert [r.status_code for r in statuses[:5]] == [422] * 5
    assert statuses[5].status_code == 429 and "Too many failed logins" in statuses[5].text
    # Even the right code waits now.
    client, _ = _password_step(app, "eddie")
    assert client.post("/login/code", data={"code": _code(secret, 1), "csrf_token": csrf_token(client)}
                       ).status_code == 429


def test_a_role_that_requires_it_is_sent_to_enrolment(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    make_user(ctx, "eddie", Role.EDITOR)
    make_user(ctx, "vera", Role.VIEWER)
    token = make_token(ctx, "eddie")
    admin = _browser(app, "alice")
    saved = _form(admin, "/settings/two-factor-roles", roles="editor")
    assert saved.status_code == 303
    assert "checked" in admin.get("/settings/users").text.split('id="totp-role-editor"', 1)[1][:40]
    client, response = _password_step(app, "eddie")
    assert response.headers["location"] == "/account/two-factor"
    assert client.get("/work").headers["location"] == "/account/two-factor"
    assert client.get("/api/v1/me").json()["error"]["code"] == "two_factor_required"
    assert client.get("/account/two-factor").status_code == 200
    assert api_client(app, token).get("/api/v1/me").status_code == 200  # tokens are not affected
    assert _browser(app, "vera").get("/work").status_code == 200         # other roles neither
    # Once set up, the person moves on; they cannot turn it off while their role requires it.
    page = client.get("/account/two-factor").text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert secret is not None and csrf is not None
    client.headers[CSRF_HEADER] = csrf[1]
    assert _form(client, "/account/two-factor/confirm", code=_code(secret[1])).status_code == 200
    assert client.get("/work").status_code == 200
    refused = _form(client, "/account/two-factor/disable", password=PASSWORD)
    assert refused.status_code == 409 and "must use two-factor" in refused.text


def test_turning_it_off_and_an_admin_reset(app: Any, ctx: AppContext) -> None:
    make_user(ctx, "alice", Role.ADMIN)
    make_user(ctx, "eddie", Role.EDITOR)
    browser, _, _ = enrol(app, "eddie")
    assert _form(browser, "/account/two-factor/disable", password="wrong password").status_code == 422
    assert _form(browser, "/account/two-factor/disable", password=PASSWORD).status_code == 303
    assert _password_step(app, "eddie")[1].headers["location"] == "/work"  # no code asked
    enrol(app, "eddie")
    admin = _browser(app, "alice")
    eddie_id = 2
    assert _form(admin, f"/settings/users/{eddie_id}/two-factor/reset").status_code == 303
    assert _password_step(app, "eddie")[1].headers["location"] == "/work"


def test_the_command_line_resets_a_lost_second_factor(app: Any, ctx: AppContext, tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    make_user(ctx, "alice", Role.ADMIN)
    enrol(app, "alice")
    settings = ctx.settings
    env = {**os.environ, "CALCIFER_DATA_DIR": str(settings.data_dir)}
    if settings.database_schema:
        env["CALCIFER_DATABASE_URL"] = str(settings.database_url)
        env["CALCIFER_DATABASE_SCHEMA"] = settings.database_schema
    done = subprocess.run([sys.executable, "-m", "calcifer.cli", "user", "reset-two-factor", "alice"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert _password_step(app, "alice")[1].headers["location"] == "/work"  # the password alone again


def test_an_export_without_secrets_leaves_the_second_factor_out(app: Any, ctx: AppContext) -> None:
    from calcifer.backup import export

    make_user(ctx, "eddie", Role.EDITOR)
    enrol(app, "eddie")
    with ctx.session_factory() as session:
        sealed = session.scalars(select(TotpFactor.secret_sealed)).one()
        hashes = list(session.scalars(select(RecoveryCode.code_hash)))
    plain = export.export_text(engine=ctx.engine)
    assert sealed not in plain and not any(h in plain for h in hashes)
    assert sealed in export.export_text(engine=ctx.engine, include_secrets=True)
