"""OpenID Connect login in Chromium against a real provider (oidc-provider under node, tests/auth/oidc_server.py):
an admin sets it up on the settings page, people sign in with the provider's own login and consent pages and
land in Calcifer with the role their groups map to; a tampered state, a replayed code and a wrong nonce are
refused; when SSO is required only the break-glass admin may use a password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import pytest

from calcifer.auth import oidc
from calcifer.auth import service as auth_service
from calcifer.auth.choices import Role
from tests.auth.oidc_server import Provider, running_provider
from tests.browser.conftest import Console, LiveServer, login
from tests.conftest import PASSWORD, make_user

ACCOUNTS: dict[str, dict[str, object]] = {
    "olivia": {"groups": ["ops-admins", "staff"], "name": "Olivia Operator"},
    "dan": {"groups": ["developers"]},
    "nora": {"groups": []},
}
BUTTON = "Test IdP"


@pytest.fixture
def provider(live_server: LiveServer, tmp_path: Path) -> Iterator[Provider]:
    with running_provider(tmp_path, redirect_uri=live_server("/login/oidc/callback"), accounts=ACCOUNTS) as running:
        yield running


@pytest.fixture
def quiet(console: Console) -> Console:
    # The provider's development pages load a web font from the internet (absent here), and a refused
    # sign-in is answered with a 4xx page, which Chromium reports on the console.
    console.expect(r"fonts\.googleapis|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED|ERR_CONNECTION")
    console.expect(r"status of 4\d\d")
    return console


def _set_up(page: Any, server: LiveServer, provider: Provider, *, require_sso: bool = False) -> None:
    """The admin fills Settings → Single sign-on in the browser."""
    make_user(server.ctx, "root", Role.ADMIN)
    login(page, server, "root")
    page.goto(server("/settings/sso"))
    page.check("#oidc-enabled")
    page.fill("#oidc-name", BUTTON)
    page.fill("#oidc-issuer", provider.issuer)
    page.fill("#oidc-client-id", provider.client_id)
    page.fill("#oidc-client-secret", provider.client_secret)
    page.fill("#oidc-group-roles", "ops-admins = admin\ndevelopers = editor")
    page.select_option("#oidc-default-role", "viewer")
    if require_sso:
        page.check("#oidc-require-sso")
        page.fill("#oidc-break-glass", "root")
    with page.expect_navigation():
        page.click("form[action='/settings/sso/oidc'] button[type=submit]")
    assert page.url.endswith("/settings/sso#oidc"), page.url
    page.context.clear_cookies()  # log the admin out of this browser


def _to_provider(page: Any, server: LiveServer) -> None:
    page.goto(server("/login"))
    with page.expect_navigation():
        page.click("#sso-login")
    assert not page.url.startswith(server.url), page.url  # at the provider now


def _provider_login(page: Any, username: str) -> None:
    """The provider's development login (any password) and consent pages."""
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", "anything the provider accepts")
    with page.expect_navigation():
        page.click("button[type=submit]")
    if page.locator("input[name=prompt][value=consent]").count():
        with page.expect_navigation():
            page.click("button[type=submit]")


def _sign_in(page: Any, server: LiveServer, username: str) -> None:
    _to_provider(page, server)
    _provider_login(page, username)
    page.wait_for_url(re.compile("^" + re.escape(server.url)))


def _callback_held(page: Any, server: LiveServer, provider: Provider, username: str) -> str:
    """Sign in at the provider, but keep the browser from reaching Calcifer's callback; the callback URL.

    The provider answers the consent form with a chain of redirects ending at the callback, and Playwright
    routes only a chain's first request: so the consent POST is made here (sharing the browser's cookies)
    and its redirects followed by hand up to the callback, which is not requested.
    """
    seen: list[str] = []

    def hold(route: Any) -> None:
        response = route.fetch(max_redirects=0)
        location = response.headers.get("location", "")
        while location and not location.startswith(server.url):
            response = page.context.request.get(urljoin(provider.issuer, location), max_redirects=0)
            location = response.headers.get("location", "")
        seen.append(location)
        route.fulfill(status=204, body="")

    _to_provider(page, server)
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", "anything the provider accepts")
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("input[name=prompt][value=consent]").count() == 1, "expected the consent page"
    pattern = re.compile(re.escape(provider.issuer) + r"/interaction/.*")
    page.route(pattern, hold)
    page.click("button[type=submit]")
    for _ in range(200):  # up to 10 s, polled
        if seen:
            break
        page.wait_for_timeout(50)
    page.unroute(pattern)
    assert seen and seen[0].startswith(server("/login/oidc/callback?")), seen
    return seen[0]


def _user(server: LiveServer, username: str) -> Any:
    with server.ctx.session_factory() as session:
        user = auth_service.get_user_by_username(session=session, username=username)
        session.expunge(user)
        return user


def test_people_sign_in_through_the_provider_with_the_role_of_their_groups(
        page: Any, live_server: LiveServer, provider: Provider, quiet: Console) -> None:
    _set_up(page, live_server, provider)
    page.goto(live_server("/login"))
    assert page.locator("#sso-login").inner_text().strip() == f"Sign in with {BUTTON}"
    for username, role in (("olivia", Role.ADMIN), ("dan", Role.EDITOR), ("nora", Role.VIEWER)):
        _sign_in(page, live_server, username)
        assert page.url == live_server("/"), page.url
        assert page.locator(".user-menu .user-name").inner_text().strip() == username
        user = _user(live_server, username)
        assert (user.role, user.auth_source) == (role.value, "oidc")
        page.context.clear_cookies()
    assert _user(live_server, "olivia").display_name == "Olivia Operator"
    # The role is set from the groups again at the next login: developers now map to viewer.
    with live_server.ctx.session_factory() as session:
        from calcifer.auth import sso
        from calcifer.auth.choices import ProviderKind

        current = sso.provider_settings(session=session, kind=ProviderKind.OIDC)
        config = current.config.model_copy(update={"group_roles": {"ops-admins": Role.ADMIN,
                                                                   "developers": Role.VIEWER}})
        sso.save_provider(session=session, actor=auth_service.get_user_by_username(session=session, username="root"),
                          kind=ProviderKind.OIDC, enabled=True, config=config, secret=None,
                          secret_key=live_server.settings.secret_key)
    _sign_in(page, live_server, "dan")
    assert page.url == live_server("/")
    assert _user(live_server, "dan").role == Role.VIEWER.value


def test_a_tampered_state_is_refused(page: Any, live_server: LiveServer, provider: Provider, quiet: Console) -> None:
    _set_up(page, live_server, provider)
    callback = _callback_held(page, live_server, provider, "olivia")
    parts = urlsplit(callback)
    query = dict(parse_qsl(parts.query))
    query["state"] = query["state"][:-2] + ("aa" if not query["state"].endswith("aa") else "bb")
    page.goto(live_server(parts.path + "?" + urlencode(query)))
    assert "does not belong to the sign-in this browser started" in page.locator("[role=alert]").inner_text()
    assert page.locator(".user-menu").count() == 0
    with pytest.raises(Exception, match="No user named"):
        _user(live_server, "olivia")


def test_a_replayed_code_is_refused(page: Any, live_server: LiveServer, provider: Provider, quiet: Console,
                                    new_context: Any) -> None:
    _set_up(page, live_server, provider)
    callback = _callback_held(page, live_server, provider, "olivia")
    name = "calcifer_oidc"
    pending = next(c for c in page.context.cookies() if c["name"] == name)
    page.goto(callback)  # the real sign-in: it works once
    assert page.url == live_server("/"), page.url
    # Someone who copied the whole answer and this browser's sign-in cookie plays it again elsewhere.
    other = new_context().new_page()
    other.context.add_cookies([{k: pending[k] for k in ("name", "value", "domain", "path")}])
    other.goto(callback)
    message = other.locator("[role=alert]").inner_text()
    assert "refused the sign-in code" in message and "invalid_grant" in message
    assert other.locator(".user-menu").count() == 0


def test_an_id_token_with_another_nonce_is_refused(page: Any, live_server: LiveServer, provider: Provider,
                                                   quiet: Console) -> None:
    _set_up(page, live_server, provider)
    callback = _callback_held(page, live_server, provider, "olivia")
    name = "calcifer_oidc"
    cookie = next(c for c in page.context.cookies() if c["name"] == name)
    key = live_server.settings.secret_key
    pending = oidc.read_pending(secret_key=key, value=cookie["value"])
    # This browser's sign-in expects another nonce than the one the provider put in the ID token.
    forged = oidc.seal_pending(secret_key=key, pending=oidc.Pending(
        state=pending.state, nonce="another-nonce", verifier=pending.verifier, next_url="/", issuer=pending.issuer))
    page.context.add_cookies([{**{k: cookie[k] for k in ("name", "domain", "path")}, "value": forged}])
    page.goto(callback)
    message = page.locator("[role=alert]").inner_text()
    assert "ID token was refused" in message and "nonce" in message
    assert page.locator(".user-menu").count() == 0


def test_when_sso_is_required_only_the_break_glass_admin_uses_a_password(
        page: Any, live_server: LiveServer, provider: Provider, quiet: Console) -> None:
    make_user(live_server.ctx, "eve", Role.EDITOR)
    _set_up(page, live_server, provider, require_sso=True)
    page.goto(live_server("/login"))
    page.fill("#f-username", "eve")
    page.fill("#f-password", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert f"use “Sign in with {BUTTON}”" in page.locator("[role=alert]").inner_text()
    assert page.locator(".user-menu").count() == 0
    login(page, live_server, "root")  # the break-glass admin still can

