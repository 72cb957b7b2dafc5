"""Whether a save through the catalog is an addition or a change is judged against main: a service that
main does not have yet is Added, however it first reached the work item's branch."""

from __future__ import annotations

from typing import Any

from calcifer.web.context import AppContext
from tests.catalog.helpers import changes_on, git, make_work_item
from tests.conftest import Cast, browser_login

GRAFANA = "name: Grafana\nslug: grafana\nkind: container\n"


def _branch(cast: Cast, item: dict[str, Any]) -> str:
    return str(cast.editor.get(f"/api/v1/work-items/{item['id']}").json()["branch"])


def test_a_service_written_with_the_file_api_then_saved_in_the_editor_is_added(app: Any, ctx: AppContext,
                                                                                cast: Cast) -> None:
    from fastapi.testclient import TestClient

    item = make_work_item(cast.editor, title="Add Grafana")
    written = cast.editor.put(f"/api/v1/work-items/{item['id']}/files/catalog/services/grafana.yaml",
                              json={"content": GRAFANA})
    assert written.status_code in (200, 201), written.text
    client = TestClient(app, follow_redirects=False)
    csrf = browser_login(client, "eddie")
    saved = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "text": GRAFANA + "description: Dashboards\n", "target": str(item["id"]),
        "operation": "save"})
    assert saved.status_code == 303, saved.text
    changes = changes_on(ctx.repo_path, _branch(cast, item))
    assert "- Added service grafana" in changes and "Changed service grafana" not in changes


def test_saving_a_new_service_twice_before_the_merge_keeps_one_added_entry(ctx: AppContext, cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Add Grafana")
    url = f"/api/v1/work-items/{item['id']}/services/grafana"
    spec = {"name": "Grafana", "slug": "grafana", "kind": "container"}
    assert cast.editor.put(url, json=spec).status_code == 201
    assert cast.editor.put(url, json={**spec, "description": "Dashboards"}).status_code == 200
    branch = _branch(cast, item)
    changes = changes_on(ctx.repo_path, branch)
    assert changes.count("Added service grafana") == 1 and "Changed service grafana" not in changes
    assert "description: Dashboards" in git(ctx.repo_path, "show", f"{branch}:catalog/services/grafana.yaml")
