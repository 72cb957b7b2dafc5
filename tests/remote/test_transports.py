"""The same sync over the network transports: `git daemon` (git://) on 127.0.0.1, and `git http-backend`
behind an HTTPS server with basic auth and a self-signed certificate that libgit2 is told to trust.
Wrong credentials give a clear error on the settings page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.instance import AppContext
from tests.conftest import Cast
from tests.remote.servers import Laptop, git_daemon, https_forge, remote_main
from tests.remote.test_sync_file import connect, main_of, merge_item


@pytest.fixture
def daemon(remote: Path) -> Iterator[str]:
    with git_daemon(remote.parent) as base:
        yield f"{base}/{remote.name}"


@pytest.fixture
def forge(remote: Path, tmp_path: Path) -> Iterator[str]:
    with https_forge(remote.parent, tmp_path, user="deploy", password="right-token") as (base, cert):
        gitrepo.trust_ca_file(cert)
        yield f"{base}/{remote.name}"


def _push_merge_fetch(cast: Cast, ctx: AppContext, remote: Path, laptop_url: str, tmp_path: Path) -> None:
    merge_item(cast, "Networked change", "net.txt", "n\n", "Networked change")
    pushed = cast.admin.post("/api/v1/repository/push").json()
    assert pushed["error"] is None, pushed
    assert remote_main(remote) == main_of(ctx)
    outside = Laptop(remote, tmp_path / "laptop").commit({"from-forge.txt": "f\n"}, "Edited on the forge")
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "fast_forward" and main_of(ctx) == outside
    assert laptop_url  # the laptop writes to the same bare repository the server exports


def test_push_and_fetch_over_git_daemon(cast: Cast, ctx: AppContext, remote: Path, daemon: str,
                                        tmp_path: Path) -> None:
    connect(cast, daemon)
    _push_merge_fetch(cast, ctx, remote, daemon, tmp_path)


def test_push_and_fetch_over_https_with_basic_auth(cast: Cast, ctx: AppContext, remote: Path, forge: str,
                                                   tmp_path: Path) -> None:
    state = connect(cast, forge, auth="token", username="deploy", token="right-token")
    assert state["has_token"]
    _push_merge_fetch(cast, ctx, remote, forge, tmp_path)


def test_wrong_credentials_are_a_clear_error_on_the_settings_page(cast: Cast, ctx: AppContext, remote: Path,
                                                                  forge: str) -> None:
    connect(cast, forge, auth="token", username="deploy", token="wrong-token")
    pushed = cast.admin.post("/api/v1/repository/push").json()
    assert pushed["pushed"] is None and "credentials" in pushed["error"]
    assert remote_main(remote) is None
    page = cast.admin.get("/settings/repository").text
    assert "The last push failed" in page and "refused the credentials" in page
    fetched = cast.editor.post("/api/v1/repository/fetch")
    assert fetched.status_code == 409 and "credentials" in fetched.json()["error"]["message"]
    # Fixing the token: the push catches up.
    connect(cast, forge, auth="token", username="deploy", token="right-token")
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    assert remote_main(remote) == main_of(ctx)
