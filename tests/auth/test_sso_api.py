"""The single sign-on settings in the JSON API (`/api/v1/settings/sso`): admins only, with an admin-scoped
token; the same checks as the settings page; secrets written, never answered; and a real sign-in through
the provider (oidc-provider under node) after the settings were put, reading its discovery document and
keys once for several sign-ins until the settings change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from calcifer.audit import service as audit_service
from calcifer.auth import oidc, sso
from calcifer.auth import service as auth_service
from calcifer.auth.choices import ProviderKind
from calcifer.web.context import AppContext
from tests.auth.oidc_server import Provider, running_provider, sign_in_at_provider
from tests.conftest import Cast, api_client, browser_login
from tests.web.test_route_protection import ALLOW_LIST

URL = "/api/v1/settings/sso"
SECRET = "the-client-secret-Zq81"
BIND_PASSWORD = "the-bind-password-Lx42"
OIDC = {"enabled": True, "name": "Example ID", "issuer": "https://id.example.org/realms/main/",
        "client_id": "calcifer", "client_secret": SECRET, "scopes": "profile email groups",
        "group_roles": {"ops": "admin", "devs": "editor"}, "default_role": "viewer"}
LDAP = {"enabled": True, "server_uri": "ldap://127.0.0.1:3890",
        "bind_dn_template": "uid={username},ou=people,dc=example,dc=org", "service_bind_password": BIND_PASSWORD}
REDIRECT_URI = "http://testserver/login/oidc/callback"


def _token(ctx: AppContext, username: str, scopes: list[str]) -> str:
    with ctx.session_factory() as session:
        owner = auth_service.get_user_by_username(session=session, username=username)
        _, raw = auth_service.create_token(session=session, actor=owner, owner=owner, name="-".join(scopes),
                                           scopes=scopes)
    return raw


def _secret(ctx: AppContext, kind: ProviderKind) -> str:
    with ctx.session_factory() as session:
        return sso.provider_secret(session=session, kind=kind, secret_key=ctx.settings.secret_key)


def test_an_admin_reads_and_puts_the_settings_and_the_secrets_are_never_answered(cast: Cast,
                                                                                 ctx: AppContext) -> None:
    empty = cast.admin.get(URL)
    assert empty.status_code == 200, empty.text
    assert empty.json()["oidc"]["enabled"] is False and empty.json()["oidc"]["client_secret_set"] is False
    assert empty.json()["redirect_uri"] == REDIRECT_URI
    answers = [cast.admin.put(URL, json={"oidc": OIDC, "ldap": LDAP})]
    assert answers[0].status_code == 200, answers[0].text
    body = answers[0].json()
    assert body["oidc"] | {"client_secret_set": None} == {
        "enabled": True, "name": "Example ID", "issuer": "https://id.example.org/realms/main", "client_id": "calcifer",
        "scopes": "openid profile email groups", "groups_claim": "groups", "group_roles": {"ops": "admin",
                                                                                          "devs": "editor"},
        "default_role": "viewer", "require_sso": False, "break_glass_admin": "", "client_secret_set": None}
    assert body["oidc"]["client_secret_set"] is True and body["ldap"]["service_bind_password_set"] is True
    assert body["ldap"]["enabled"] is True and body["ldap"]["server_uri"] == LDAP["server_uri"]
    assert (_secret(ctx, ProviderKind.OIDC), _secret(ctx, ProviderKind.LDAP)) == (SECRET, BIND_PASSWORD)
    # The page and the login page see what the API put.
    browser = TestClient(cast.admin.app, follow_redirects=False)
    browser_login(browser, "alice")
    assert "Example ID" in browser.get("/settings/sso").text
    assert "Sign in with Example ID" in TestClient(cast.admin.app).get("/login").text
    # A PUT without the secret keeps the stored one; the other login, left out, is left as it is.
    renamed = {key: value for key, value in OIDC.items() if key != "client_secret"} | {"name": "Corp ID"}
    answers.append(cast.admin.put(URL, json={"oidc": renamed}))
    assert answers[-1].status_code == 200, answers[-1].text
    assert answers[-1].json()["oidc"]["name"] == "Corp ID" and answers[-1].json()["oidc"]["client_secret_set"]
    assert answers[-1].json()["ldap"]["enabled"] is True
    assert _secret(ctx, ProviderKind.OIDC) == SECRET
    # "" removes a secret (then the login cannot stay on).
    answers.append(cast.admin.put(URL, json={"ldap": LDAP | {"enabled": False, "service_bind_password": ""}}))
    assert answers[-1].json()["ldap"]["service_bind_password_set"] is False
    answers.append(cast.admin.get(URL))
    for answer in answers:
        assert SECRET not in answer.text and BIND_PASSWORD not in answer.text
    # Each change is audited, without the secrets.
    with ctx.session_factory() as session:
        entries = audit_service.list_entries(session=session, filters=audit_service.AuditFilter(action="sso.update"))
    assert len(entries) == 4
    assert all(SECRET not in str(vars(e)) and BIND_PASSWORD not in str(vars(e)) for e in entries)


def test_only_admins_with_an_admin_scoped_token_reach_the_settings(app: Any, ctx: AppContext, cast: Cast) -> None:
    for client in (cast.viewer, cast.editor):
        for response in (client.get(URL), client.put(URL, json={"oidc": OIDC})):
            assert response.status_code == 403, response.text
    assert cast.outsider.get(URL).status_code == 401
    for scopes in (["read"], ["write"]):
        narrow = api_client(app, _token(ctx, "alice", scopes))
        response = narrow.put(URL, json={"oidc": OIDC})
        assert response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"
        assert "admin scope" in response.json()["error"]["message"]
    assert api_client(app, _token(ctx, "alice", ["admin"])).put(URL, json={"oidc": OIDC}).status_code == 200
    # An editor's browser session is refused too; an admin's (with the CSRF header) is let through.
    editor = TestClient(app, follow_redirects=False)
    editor.headers["X-CSRF-Token"] = browser_login(editor, "eddie")
    assert editor.put(URL, json={"oidc": OIDC}).status_code == 403
    assert URL not in ALLOW_LIST


@pytest.mark.parametrize(("body", "field", "phrase"), [
    ({"oidc": OIDC | {"issuer": "id.example.org?x=1"}}, "oidc.issuer", "Give the issuer URL"),
    ({"oidc": OIDC | {"group_roles": {"ops": "boss"}}}, "oidc.group_roles.ops", "viewer"),
    ({"oidc": OIDC | {"colour": "red"}}, "oidc.colour", "Extra inputs are not permitted"),
    ({"ldap": LDAP | {"server_uri": "http://nope"}}, "ldap.server_uri", "ldap://host"),
    ({"oidc": {"enabled": True, "issuer": "https://id.example.org"}}, "oidc.client_id", "give the client id"),
    ({"oidc": {"enabled": True, "issuer": "https://id.example.org", "client_id": "c"}}, "oidc.client_secret",
     "give the client secret"),
    ({"oidc": OIDC | {"require_sso": True, "break_glass_admin": "eddie"}}, "oidc.break_glass_admin",
     "active local admin"),
    ({"ldap": None}, "oidc", "oidc, ldap or both"),
])
def test_a_bad_setting_is_a_422_naming_the_field_and_nothing_is_kept(cast: Cast, ctx: AppContext, body: dict[str, Any],
                                                                     field: str, phrase: str) -> None:
    response = cast.admin.put(URL, json={"ldap": LDAP, **body})  # the LDAP part alone would be fine, but not kept
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert phrase in error["message"], error
    assert field in [detail["field"] for detail in error["details"]], error
    assert SECRET not in response.text
    with ctx.session_factory() as session:  # all or nothing
        assert sso.oidc_config(session=session) is None and sso.ldap_config(session=session) is None


def test_the_settings_are_in_the_openapi_document_with_their_types(cast: Cast) -> None:
    document = cast.admin.get("/api/openapi.json").json()
    operations = document["paths"][URL]
    assert set(operations) == {"get", "put"}
    schemas = document["components"]["schemas"]
    answer = operations["put"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    public = schemas[answer.rsplit("/", 1)[1]]
    oidc_public = schemas[public["properties"]["oidc"]["$ref"].rsplit("/", 1)[1]]
    assert "client_secret_set" in oidc_public["properties"] and "client_secret" not in oidc_public["properties"]
    request = operations["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    update = schemas[request.rsplit("/", 1)[1]]
    assert {"oidc", "ldap"} <= set(update["properties"])


# -- a real provider ---------------------------------------------------------------------------------------------

@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    accounts: dict[str, dict[str, object]] = {"olivia": {"groups": ["ops-admins"]}, "dan": {"groups": ["developers"]}}
    with running_provider(tmp_path, redirect_uri=REDIRECT_URI, accounts=accounts) as running:
        yield running


def _sign_in(app: Any, provider: Provider, login: str) -> TestClient:
    browser = TestClient(app, follow_redirects=False)
    started = browser.get("/login/oidc")
    assert started.status_code == 303, started.text
    callback = urlsplit(sign_in_at_provider(started.headers["location"], login=login, redirect_uri=REDIRECT_URI))
    finished = browser.get(f"{callback.path}?{callback.query}")
    assert finished.status_code == 303 and finished.headers["location"] == "/", finished.text
    return browser


def test_after_a_put_people_sign_in_and_the_provider_is_read_once_until_the_settings_change(
        app: Any, ctx: AppContext, cast: Cast, provider: Provider) -> None:
    oidc.forget()
    settings = {"enabled": True, "name": "Test IdP", "issuer": provider.issuer, "client_id": provider.client_id,
                "client_secret": provider.client_secret, "group_roles": {"ops-admins": "admin", "developers": "editor"}}
    assert cast.admin.put(URL, json={"oidc": settings}).status_code == 200
    olivia = _sign_in(app, provider, "olivia")
    assert olivia.get("/api/v1/me").json()["role"] == "admin"
    _sign_in(app, provider, "dan")
    discovery, keys = "/.well-known/openid-configuration", "/jwks"
    assert (provider.requests_to(discovery), provider.requests_to(keys)) == (1, 1)
    # Saving the settings (without the secret) drops what was kept: the next sign-in reads both again.
    settings.pop("client_secret")
    assert cast.admin.put(URL, json={"oidc": settings | {"group_roles": {"developers": "viewer"}}}).status_code == 200
    dan = _sign_in(app, provider, "dan")
    assert dan.get("/api/v1/me").json()["role"] == "viewer"
    assert (provider.requests_to(discovery), provider.requests_to(keys)) == (2, 2)
    # Saving on the settings page drops it too.
    admin = TestClient(app, follow_redirects=False)
    csrf = browser_login(admin, "alice")
    form = {"enabled": "on", "name": "Test IdP", "issuer": provider.issuer, "client_id": provider.client_id,
            "scopes": "openid profile groups", "group_roles": "developers = editor", "csrf_token": csrf}
    saved = admin.post("/settings/sso/oidc", data=form)
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/sso#oidc", saved.headers
    assert _sign_in(app, provider, "dan").get("/api/v1/me").json()["role"] == "editor"
    assert (provider.requests_to(discovery), provider.requests_to(keys)) == (3, 3)
