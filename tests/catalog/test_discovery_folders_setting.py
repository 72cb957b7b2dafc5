"""Admins choose the folders compose discovery scans under Settings → Preferences, without a restart;
until they do, the server's CALCIFER_COMPOSE_DIRS applies. A folder that cannot be scanned is named."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.app import create_app, prepare
from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import api_client, browser_login, drop_schema, make_settings, make_token, make_user

COMPOSE = "services:\n  {name}:\n    image: nginx:1.27\n    ports: ['8080:80']\n"


def stacks(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).mkdir(parents=True)
        (root / name / "compose.yaml").write_text(COMPOSE.format(name=name))
    return root


def scanned(client: TestClient) -> tuple[list[str], set[str]]:
    response = client.get("/api/v1/catalog/discovery")
    assert response.status_code == 200, response.text
    body = response.json()
    return body["scanned"]["compose_dirs"], {item["slug"] for item in body["new"]}


def save_folders(client: TestClient, csrf: str, **form: str) -> Any:
    return client.post("/settings/preferences/compose-dirs", data={"csrf_token": csrf, **form})


@pytest.fixture
def server_stacks(tmp_path: Path) -> Path:
    return stacks(tmp_path / "server-stacks", "wiki")


@pytest.fixture
def env_ctx(tmp_path: Path, server_stacks: Path) -> Iterator[AppContext]:
    """An instance whose server setting (CALCIFER_COMPOSE_DIRS) names one folder."""
    settings = make_settings(tmp_path / "data", compose_dirs=[server_stacks])
    context = prepare(settings)
    yield context
    context.engine.dispose()
    drop_schema(settings)


@pytest.fixture
def admin(env_ctx: AppContext) -> Iterator[tuple[TestClient, str]]:
    make_user(env_ctx, "alice", Role.ADMIN)
    with TestClient(create_app(ctx=env_ctx), follow_redirects=False) as client:
        yield client, browser_login(client, "alice")


def test_folders_set_under_settings_are_scanned_at_once_and_the_server_setting_is_the_fallback(
        tmp_path: Path, server_stacks: Path, admin: tuple[TestClient, str]) -> None:
    client, csrf = admin
    assert scanned(client) == ([str(server_stacks.resolve())], {"wiki"})
    page = client.get("/settings/preferences").text
    assert 'id="compose-dirs"' in page and "one absolute path a line" in page
    assert str(server_stacks) in page.split('id="compose-dirs-now"')[1].split("</p>")[0]

    mine = stacks(tmp_path / "my-stacks", "gitea", "vault")
    response = save_folders(client, csrf, folders=f"{mine}\n\n{mine}\n")
    assert response.status_code == 303, response.text
    assert scanned(client) == ([str(mine.resolve())], {"gitea", "vault"})  # no restart
    assert "1 extra folder(s)" in client.get("/catalog/discovery").text
    assert "gitea" in client.get("/catalog/discovery").text

    assert save_folders(client, csrf, folders="").status_code == 303
    assert scanned(client) == ([], set())  # main only, whatever the server says

    assert save_folders(client, csrf, reset="1").status_code == 303
    assert scanned(client) == ([str(server_stacks.resolve())], {"wiki"})


def test_a_folder_that_cannot_be_scanned_is_named_and_nothing_is_saved(
        tmp_path: Path, server_stacks: Path, admin: tuple[TestClient, str]) -> None:
    client, csrf = admin
    mine = stacks(tmp_path / "my-stacks", "gitea")
    a_file = mine / "gitea" / "compose.yaml"
    missing = tmp_path / "not-there"
    response = save_folders(client, csrf, folders=f"{mine}\n{missing}\n{a_file}\nrelative/stacks\n")
    assert response.status_code == 422
    error = html.unescape(response.text.split('id="compose-dirs-error"')[1].split("</div>")[0])
    assert f"{missing} does not exist on the server" in error
    assert f"{a_file} is a file, not a folder" in error
    assert "relative/stacks: write the absolute path" in error
    assert error.count("<li>") == 3  # the good folder is not named
    # What was typed stays in the form, and the scan still reads the server's folder.
    assert str(missing) in response.text.split('id="compose-dirs-folders"')[1].split("</textarea>")[0]
    assert scanned(client) == ([str(server_stacks.resolve())], {"wiki"})


def test_only_admins_set_the_folders_and_viewers_never_see_server_paths(
        tmp_path: Path, env_ctx: AppContext, server_stacks: Path) -> None:
    app = create_app(ctx=env_ctx)
    make_user(env_ctx, "eddie", Role.EDITOR)
    make_user(env_ctx, "alice", Role.ADMIN)
    editor = api_client(app, make_token(env_ctx, "eddie"))
    admin = api_client(app, make_token(env_ctx, "alice"))
    assert editor.get("/settings/preferences").status_code == 403
    assert editor.post("/settings/preferences/compose-dirs", data={"folders": str(tmp_path)}).status_code == 403
    assert editor.put("/api/v1/preferences/compose_dirs", json={"value": [str(tmp_path)]}).status_code == 403
    assert "compose_dirs" not in editor.get("/api/v1/preferences").json()
    # The API takes a list; errors name the folder.
    refused = admin.put("/api/v1/preferences/compose_dirs", json={"value": [str(tmp_path / "gone")]})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["folder"] == str(tmp_path / "gone")
    saved = admin.put("/api/v1/preferences/compose_dirs", json={"value": [str(server_stacks)]})
    assert saved.status_code == 200 and saved.json() == {"compose_dirs": [str(server_stacks)]}
    assert admin.put("/api/v1/preferences/compose_dirs", json={"value": None}).json() == {"compose_dirs": None}
