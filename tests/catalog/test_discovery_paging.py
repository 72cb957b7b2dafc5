"""Discovery's answer pages by cursor: new, drifted, missing, unchanged and problems, each entry once."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.app import create_app, prepare
from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import api_client, drop_schema, make_settings, make_token, make_user
from tests.corpus import COMPOSE_CORPUS
from tests.paging import assert_bad_cursor_refused

SAMPLES = Path(__file__).parent / "compose_samples"
DISCOVERY = "/api/v1/catalog/discovery"
GROUPS = ("new", "drifted", "missing", "unchanged", "problems")


@pytest.fixture
def viewer(tmp_path: Path) -> Iterator[TestClient]:
    stacks = tmp_path / "stacks"
    shutil.copytree(SAMPLES / "monitoring", stacks / "monitoring")
    shutil.copytree(COMPOSE_CORPUS / "prometheus-grafana", stacks / "prometheus-grafana")
    for name in ("broken", "also-broken"):  # two problems, so they page too
        (stacks / name).mkdir()
        (stacks / name / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    ports: [\n")
    settings = make_settings(tmp_path / "data", compose_dirs=[stacks])
    ctx: AppContext = prepare(settings)
    make_user(ctx, "vera", Role.VIEWER)
    yield api_client(create_app(ctx=ctx), make_token(ctx, "vera"))
    ctx.engine.dispose()
    drop_schema(settings)


def test_walking_the_pages_gives_every_entry_once_in_order(viewer: TestClient) -> None:
    whole = viewer.get(DISCOVERY, params={"limit": 500}).json()
    assert whole["next_cursor"] is None
    assert whole["counts"]["new"] > 5 and whole["counts"]["problems"] == 2, whole["counts"]
    walked: dict[str, list[Any]] = {group: [] for group in GROUPS}
    cursor, pages = None, 0
    while True:
        body = viewer.get(DISCOVERY, params={"limit": 3} | ({"cursor": cursor} if cursor else {})).json()
        pages += 1
        assert body["counts"] == whole["counts"] and body["commit"] == whole["commit"]
        assert sum(len(body[group]) for group in GROUPS) == (3 if body["next_cursor"] else
                                                             sum(whole["counts"].values()) - 3 * (pages - 1))
        for group in GROUPS:
            walked[group] += body[group]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 50
    assert walked == {group: whole[group] for group in GROUPS}
    assert [p["slug"] for p in walked["new"]] == sorted(p["slug"] for p in walked["new"])
    assert_bad_cursor_refused(viewer, DISCOVERY)
