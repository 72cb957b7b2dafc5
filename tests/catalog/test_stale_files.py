"""A catalog file broken on main by a commit made outside Calcifer: the index keeps serving its last valid
version (marked stale, with the error), its endpoints stay, and the page offers to fix it in a work item."""

from __future__ import annotations

from typing import Any

import pytest

from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml
from tests.catalog.helpers import land_files
from tests.conftest import Cast

S = "catalog/services/"
E = "catalog/endpoints/"
GRAFANA = (service_yaml("grafana") + "description: Dashboards\nendpoints:\n  - name: UI\n    slug: grafana-ui\n"
           "    type: http\n    target: http://127.0.0.1:3000/\n")
GRAFANA_API = "name: API\nslug: grafana-api\nservice: grafana\ntype: http\ntarget: http://127.0.0.1:3000/api\n"


def problems(client: Any) -> list[tuple[str, str, str]]:
    items = client.get("/api/v1/catalog/problems").json()["items"]
    return sorted((p["file"], p["code"], p["severity"]) for p in items)


@pytest.fixture
def grafana_on_main(cast: Cast) -> Cast:
    land_files(cast.editor, {S + "grafana.yaml": GRAFANA, E + "grafana-api.yaml": GRAFANA_API})
    return cast


@pytest.mark.parametrize("how", ["full sync", "the next merge's sync"])
def test_a_service_file_broken_outside_calcifer_keeps_its_last_valid_version_and_endpoints(
        ctx: AppContext, grafana_on_main: Cast, how: str) -> None:
    cast = grafana_on_main
    before = cast.viewer.get("/api/v1/services/grafana").json()
    commit_files(ctx.repo_path, {S + "grafana.yaml": GRAFANA.replace("description: Dashboards\n",
                                                                     "description: New\ncolour: blue\n"),
                                 S + "loki.yaml": service_yaml("loki") + "colour: red\n"})  # never loaded
    if how == "full sync":
        assert cast.editor.post("/api/v1/catalog/sync").status_code == 200
    else:  # a merge re-indexes incrementally
        land_files(cast.editor, {"notes.txt": "unrelated\n"}, title="Unrelated change")

    served = cast.viewer.get("/api/v1/services/grafana")
    assert served.status_code == 200
    assert served.json()["description"] == "Dashboards" and served.json()["commit_id"] == before["commit_id"]
    endpoints = {e["slug"]: e for e in cast.viewer.get("/api/v1/endpoints").json()["items"]}
    assert set(endpoints) == {"grafana-ui", "grafana-api"}
    assert endpoints["grafana-api"]["service"] == "grafana" and endpoints["grafana-ui"]["enabled"] is True
    assert problems(cast.viewer) == [(S + "grafana.yaml", "schema", "error"), (S + "grafana.yaml", "stale", "warning"),
                                     (S + "loki.yaml", "schema", "error")]
    assert cast.viewer.get("/api/v1/services/loki").status_code == 404  # no earlier version to serve


def test_the_service_page_says_it_is_stale_and_offers_a_fix_in_a_work_item_until_fixed(
        ctx: AppContext, grafana_on_main: Cast) -> None:
    cast = grafana_on_main
    assert 'id="stale"' not in cast.editor.get("/services/grafana").text
    commit_files(ctx.repo_path, {S + "grafana.yaml": GRAFANA + "colour: blue\n"})
    assert cast.editor.post("/api/v1/catalog/sync").status_code == 200
    page = cast.editor.get("/services/grafana").text
    assert 'id="stale"' in page and "colour" in page
    assert 'id="fix-in-work-item" href="/catalog/edit/service?slug=grafana"' in page
    assert 'id="fix-in-work-item"' not in cast.viewer.get("/services/grafana").text
    editor = cast.editor.get("/catalog/edit/service?slug=grafana")
    assert editor.status_code == 200 and "colour: blue" in editor.text  # main's file as it is, to fix

    land_files(cast.editor, {S + "grafana.yaml": GRAFANA.replace("Dashboards", "Fixed")}, title="Fix grafana")
    assert cast.viewer.get("/api/v1/services/grafana").json()["description"] == "Fixed"
    assert problems(cast.viewer) == []
    assert 'id="stale"' not in cast.editor.get("/services/grafana").text


def test_a_broken_endpoint_file_keeps_its_last_valid_version(ctx: AppContext, grafana_on_main: Cast) -> None:
    cast = grafana_on_main
    commit_files(ctx.repo_path, {E + "grafana-api.yaml": GRAFANA_API + "interval: often\n"})
    assert cast.editor.post("/api/v1/catalog/sync").status_code == 200
    endpoint = cast.viewer.get("/api/v1/endpoints/grafana-api")
    assert endpoint.status_code == 200 and endpoint.json()["target"] == "http://127.0.0.1:3000/api"
    assert problems(cast.viewer) == [(E + "grafana-api.yaml", "schema", "error"),
                                     (E + "grafana-api.yaml", "stale", "warning")]
