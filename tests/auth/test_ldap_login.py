"""LDAP bind login against a real slapd the test starts (tests/auth/ldap_server.py): the login form binds as
the user, groups map to roles at every login, and wrong passwords, locked or disabled accounts are refused
like local ones, throttled the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.auth import service as auth_service
from calcifer.auth import sso
from calcifer.auth.choices import AuthSource, ProviderKind, Role
from calcifer.auth.schemas import LdapConfig, UserUpdate
from calcifer.web.context import AppContext
from tests.auth.ldap_server import ADMIN_DN, ADMIN_PASSWORD, BASE, Directory, running_slapd
from tests.conftest import PASSWORD, csrf_token, make_user

WRONG = "Wrong username or password."


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    with running_slapd(tmp_path_factory.mktemp("slapd")) as running:
        yield running


def _configure(ctx: AppContext, directory: Directory, **overrides: Any) -> None:
    values: dict[str, Any] = {"server_uri": directory.uri, "bind_dn_template": f"uid={{username}},ou=people,{BASE}",
                              "group_base": f"ou=groups,{BASE}",
                              "group_roles": {"calcifer-admins": Role.ADMIN, "ops": Role.EDITOR},
                              "default_role": Role.VIEWER}
    values.update(overrides)
    secret = values.pop("secret", None)
    with ctx.session_factory() as session:
        admin = auth_service.get_user_by_username(session=session, username="root")
        sso.save_provider(session=session, actor=admin, kind=ProviderKind.LDAP, enabled=True,
                          config=LdapConfig(**values), secret=secret, secret_key=ctx.settings.secret_key)


@pytest.fixture
def ldap_on(ctx: AppContext, directory: Directory) -> Directory:
    make_user(ctx, "root", Role.ADMIN)
    _configure(ctx, directory)
    return directory


def _login(client: TestClient, username: str, password: str) -> Any:
    return client.post("/login", data={"username": username, "password": password, "next": "/",
                                       "csrf_token": csrf_token(client)})


def _user(ctx: AppContext, username: str) -> Any:
    with ctx.session_factory() as session:
        user = auth_service.get_user_by_username(session=session, username=username)
        session.expunge(user)
        return user


def test_a_directory_user_logs_in_and_is_created_with_the_role_of_their_groups(app, ctx: AppContext,
                                                                                ldap_on: Directory) -> None:
    for username, role in (("lena", Role.ADMIN), ("ed", Role.EDITOR), ("vic", Role.VIEWER)):
        client = TestClient(app, follow_redirects=False)
        response = _login(client, username, f"{username}-pass")
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/"
        assert client.get("/").status_code == 200  # the session works
        user = _user(ctx, username)
        assert (user.role, user.auth_source) == (role.value, AuthSource.LDAP.value)
    assert _user(ctx, "lena").email == "lena@example.org"
    assert _user(ctx, "lena").display_name == "Lena Lind"


def test_the_role_follows_the_group_mapping_at_every_login(app, ctx: AppContext, ldap_on: Directory) -> None:
    client = TestClient(app, follow_redirects=False)
    assert _login(client, "ed", "ed-pass").status_code == 303
    assert _user(ctx, "ed").role == Role.EDITOR.value
    _configure(ctx, ldap_on, group_roles={"ops": Role.VIEWER}, default_role=Role.VIEWER)
    assert _login(TestClient(app, follow_redirects=False), "ed", "ed-pass").status_code == 303
    assert _user(ctx, "ed").role == Role.VIEWER.value


def test_a_wrong_password_is_refused_with_the_same_message_as_a_local_one(app, ctx: AppContext,
                                                                          ldap_on: Directory) -> None:
    client = TestClient(app, follow_redirects=False)
    directory_answer = _login(client, "lena", "not-her-password")
    local_answer = _login(client, "root", "not-the-password")
    unknown_answer = _login(client, "nobody-at-all", "whatever-it-is")
    for response in (directory_answer, local_answer, unknown_answer):
        assert response.status_code == 422
        assert WRONG in response.text
    assert _login(client, "lena", "").status_code == 422  # an empty password is never an anonymous bind


def test_an_account_the_directory_locked_is_refused(app, ldap_on: Directory) -> None:
    response = _login(TestClient(app, follow_redirects=False), "locked", "locked-pass")
    assert response.status_code == 422
    assert WRONG in response.text


def test_a_directory_user_disabled_here_is_refused(app, ctx: AppContext, ldap_on: Directory) -> None:
    assert _login(TestClient(app, follow_redirects=False), "ed", "ed-pass").status_code == 303
    with ctx.session_factory() as session:
        root = auth_service.get_user_by_username(session=session, username="root")
        auth_service.update_user(session=session, actor=root, user_id=_user(ctx, "ed").id,
                                 data=UserUpdate(is_active=False))
    response = _login(TestClient(app, follow_redirects=False), "ed", "ed-pass")
    assert response.status_code == 422
    assert WRONG in response.text


def test_a_local_user_is_never_checked_against_the_directory(app, ctx: AppContext, ldap_on: Directory) -> None:
    # The directory has an "alice" too (an admin there): the local alice keeps her own password.
    make_user(ctx, "alice", Role.VIEWER)
    client = TestClient(app, follow_redirects=False)
    assert _login(client, "alice", "alice-pass").status_code == 422
    assert _login(client, "alice", PASSWORD).status_code == 303
    assert (_user(ctx, "alice").role, _user(ctx, "alice").auth_source) == ("viewer", "local")


def test_search_mode_finds_the_user_as_the_service_account(app, ctx: AppContext, ldap_on: Directory) -> None:
    _configure(ctx, ldap_on, bind_dn_template="", search_base=f"ou=people,{BASE}", service_bind_dn=ADMIN_DN,
               secret=ADMIN_PASSWORD, user_filter="(&(objectClass=inetOrgPerson)(uid={username}))")
    assert _login(TestClient(app, follow_redirects=False), "lena", "lena-pass").status_code == 303
    assert _user(ctx, "lena").role == Role.ADMIN.value
    # The filter value is escaped: a username that is a filter cannot match someone else.
    assert _login(TestClient(app, follow_redirects=False), "*", "lena-pass").status_code == 422
    with ctx.session_factory() as session:
        row = sso._row(session, ProviderKind.LDAP)
        assert row is not None and ADMIN_PASSWORD not in row.secret_sealed  # sealed, not stored as typed


def test_directory_logins_are_throttled_per_user_and_address(tmp_path: Path, directory: Directory) -> None:
    from calcifer.app import create_app, prepare
    from tests.conftest import drop_schema, make_settings

    settings = make_settings(tmp_path / "data", login_max_failures=3, login_max_failures_per_address=50)
    ctx = prepare(settings)
    try:
        make_user(ctx, "root", Role.ADMIN)
        _configure(ctx, directory)
        client = TestClient(create_app(ctx=ctx), follow_redirects=False)
        statuses = [_login(client, "lena", "wrong-password").status_code for _ in range(4)]
        assert statuses == [422, 422, 422, 429]
        # Throttled: even the right password waits (and the directory is not asked).
        refused = _login(client, "lena", "lena-pass")
        assert refused.status_code == 429 and "Too many failed logins" in refused.text
        # Another user from the same address still gets in.
        assert _login(client, "ed", "ed-pass").status_code == 303
    finally:
        ctx.engine.dispose()
        drop_schema(settings)


def test_an_unreachable_directory_is_said_plainly(app, ctx: AppContext, ldap_on: Directory) -> None:
    _configure(ctx, ldap_on, server_uri="ldap://127.0.0.1:1")
    response = _login(TestClient(app, follow_redirects=False), "lena", "lena-pass")
    assert response.status_code == 503
    assert "cannot be reached" in response.text


def test_a_role_that_requires_two_factor_sends_a_directory_user_to_enrolment(app, ctx: AppContext,
                                                                              ldap_on: Directory) -> None:
    from calcifer.auth import totp

    with ctx.session_factory() as session:
        root = auth_service.get_user_by_username(session=session, username="root")
        totp.set_required_roles(session=session, actor=root, roles=["admin"])
    client = TestClient(app, follow_redirects=False)
    response = _login(client, "lena", "lena-pass")  # an admin through her groups
    assert response.status_code == 303 and response.headers["location"] == "/account/two-factor"
    assert client.get("/").headers["location"] == "/account/two-factor"  # nothing else until it is set up
    assert _login(TestClient(app, follow_redirects=False), "ed", "ed-pass").headers["location"] == "/"
