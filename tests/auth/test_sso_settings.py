"""Settings → Single sign-on: what a provider needs before it can be turned on, secrets sealed and never
shown, and requiring SSO only with a break-glass admin who can still log in."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from calcifer.auth import sso
from calcifer.auth.choices import ProviderKind, Role
from calcifer.auth.schemas import parse_group_roles
from calcifer.web.context import AppContext
from calcifer.web.security import CSRF_HEADER
from tests.conftest import PASSWORD, browser_login, csrf_token, make_user

OIDC = {"name": "Example ID", "issuer": "https://id.example.org/realms/main/", "client_id": "calcifer",
        "client_secret": "the-client-secret", "scopes": "profile email groups", "groups_claim": "groups",
        "group_roles": "ops = admin\ndevs = editor", "default_role": "viewer", "enabled": "on"}


def _admin(app, ctx: AppContext) -> TestClient:  # type: ignore[no-untyped-def]
    make_user(ctx, "root", Role.ADMIN)
    client = TestClient(app, follow_redirects=False)
    client.headers[CSRF_HEADER] = browser_login(client, "root")
    return client


def test_an_admin_turns_openid_connect_on_and_the_secret_is_sealed_and_never_shown(app, ctx: AppContext) -> None:
    client = _admin(app, ctx)
    response = client.post("/settings/sso/oidc", data=OIDC)
    assert response.status_code == 303, response.text
    with ctx.session_factory() as session:
        config = sso.oidc_config(session=session)
        assert config is not None
        assert (config.issuer, config.scopes) == ("https://id.example.org/realms/main", "openid profile email groups")
        assert config.group_roles == {"ops": Role.ADMIN, "devs": Role.EDITOR}
        row = sso._row(session, ProviderKind.OIDC)
        assert row is not None and "the-client-secret" not in row.secret_sealed
        assert sso.provider_secret(session=session, kind=ProviderKind.OIDC,
                                   secret_key=ctx.settings.secret_key) == "the-client-secret"
    page = client.get("/settings/sso").text
    assert "the-client-secret" not in page and "A secret is stored" in page
    assert "/login/oidc/callback" in page  # the redirect URI to register
    # Saving again without a secret keeps the stored one.
    assert client.post("/settings/sso/oidc", data={**OIDC, "client_secret": ""}).status_code == 303
    with ctx.session_factory() as session:
        assert sso.provider_secret(session=session, kind=ProviderKind.OIDC,
                                   secret_key=ctx.settings.secret_key) == "the-client-secret"
    anonymous = TestClient(app, follow_redirects=False)
    assert "Sign in with Example ID" in anonymous.get("/login").text


def test_turning_a_provider_on_lists_everything_it_still_needs(app, ctx: AppContext) -> None:
    client = _admin(app, ctx)
    response = client.post("/settings/sso/oidc", data={"enabled": "on", "group_roles": "ops = boss"})
    assert response.status_code == 422
    assert "write group = viewer, editor or admin" in response.text
    response = client.post("/settings/sso/oidc", data={"enabled": "on"})
    assert response.status_code == 422
    for needed in ("give the issuer URL", "give the client id", "give the client secret"):
        assert needed in response.text
    response = client.post("/settings/sso/ldap", data={"enabled": "on", "server_uri": "http://nope"})
    assert response.status_code == 422 and "ldap://host" in response.text
    response = client.post("/settings/sso/ldap", data={"enabled": "on", "server_uri": "ldap://127.0.0.1"})
    assert response.status_code == 422 and "give a bind DN template or a search base" in response.text
    with ctx.session_factory() as session:
        assert sso.oidc_config(session=session) is None and sso.ldap_config(session=session) is None


def test_requiring_sso_needs_a_local_admin_as_break_glass_and_refuses_other_passwords(app, ctx: AppContext) -> None:
    client = _admin(app, ctx)
    make_user(ctx, "eve", Role.EDITOR)
    refused = client.post("/settings/sso/oidc", data={**OIDC, "require_sso": "on", "break_glass_admin": "eve"})
    assert refused.status_code == 422 and "name an active local admin" in refused.text
    assert client.post("/settings/sso/oidc", data={**OIDC, "require_sso": "on",
                                                   "break_glass_admin": "root"}).status_code == 303
    browser = TestClient(app, follow_redirects=False)
    response = browser.post("/login", data={"username": "eve", "password": PASSWORD, "next": "/",
                                            "csrf_token": csrf_token(browser)})
    assert response.status_code == 403
    assert "Password login is turned off here" in response.text and "Sign in with Example ID" in response.text
    assert browser.post("/login", data={"username": "ROOT", "password": PASSWORD, "next": "/",
                                        "csrf_token": csrf_token(browser)}).status_code == 303


def test_sign_in_pages_answer_plainly_when_sso_is_off(app, ctx: AppContext) -> None:
    make_user(ctx, "root", Role.ADMIN)
    anonymous = TestClient(app, follow_redirects=False)
    assert anonymous.get("/login/oidc").status_code == 404
    assert anonymous.get("/login/oidc/callback?code=x&state=y").status_code == 404
    assert "Sign in with" not in anonymous.get("/login").text


def test_a_callback_without_this_browsers_sign_in_is_refused(app, ctx: AppContext) -> None:
    client = _admin(app, ctx)
    assert client.post("/settings/sso/oidc", data=OIDC).status_code == 303
    anonymous = TestClient(app, follow_redirects=False)
    response = anonymous.get("/login/oidc/callback?code=stolen&state=whatever")
    assert response.status_code == 401
    assert "did not start a sign-in" in response.text


def test_group_mappings_read_one_group_a_line() -> None:
    assert parse_group_roles("# comment\n\nops = admin\ncn=devs,ou=groups = editor\n") == {
        "ops": Role.ADMIN, "cn=devs,ou=groups": Role.EDITOR}
    assert sso.role_for_groups(["devs", "ops"], {"ops": Role.ADMIN, "devs": Role.EDITOR}, Role.VIEWER) is Role.ADMIN
    assert sso.role_for_groups(["other"], {"ops": Role.ADMIN}, Role.EDITOR) is Role.EDITOR
    assert re.search("line 1", str(_error(lambda: parse_group_roles("ops admin"))))


def _error(call):  # type: ignore[no-untyped-def]
    try:
        call()
    except ValueError as exc:
        return exc
    raise AssertionError("no error")


def test_a_provider_that_cannot_be_reached_is_said_plainly_on_the_login_page(app, ctx: AppContext) -> None:
    client = _admin(app, ctx)
    assert client.post("/settings/sso/oidc", data={**OIDC, "issuer": "http://127.0.0.1:1"}).status_code == 303
    response = TestClient(app, follow_redirects=False).get("/login/oidc?next=/work")
    assert response.status_code == 503
    assert "discovery document (http://127.0.0.1:1/.well-known/openid-configuration) cannot be read" in response.text
    assert 'name="password"' in response.text  # the password form is still there
