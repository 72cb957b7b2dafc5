"""Standard changes end to end: one call creates, commits, documents and merges a real work item.

Checked with the real git CLI (merge commit on main, the file, the CHANGES.md entry), the index, the
work-item API and the audit log. Refusals (switched off, existing slug, invalid spec, missing
service, wrong role) leave no work item, no branch and no commit behind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.errors import Conflict
from calcifer.gitrepo import spares
from calcifer.web.context import AppContext
from calcifer.work import service as work_service
from tests.catalog.helpers import changes_on, commit_count, error_of, git, main_commit, service_spec
from tests.conftest import Cast

GRAFANA_PATH = "catalog/services/grafana.yaml"
GRAFANA = {"name": "Grafana", "slug": "grafana", "kind": "container", "description": "Dashboards",
           "ports": [{"number": 3000, "purpose": "web"}], "tags": ["monitoring"]}


def standard(client: TestClient, operation: str, slug: str = "grafana", spec: dict[str, Any] | None = None,
             summary: str = "Add Grafana", kind: str = "service") -> Any:
    body: dict[str, Any] = {"operation": operation, "kind": kind, "slug": slug, "summary": summary}
    if spec is not None:
        body["spec"] = spec
    return client.post("/api/v1/standard-changes", json=body)


def applied(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    item = dict(response.json())
    assert item["status"] == "complete", item
    assert re.fullmatch(r"[0-9a-f]{40}", item["merge_commit"] or ""), item
    return item


def work_item_ids(client: TestClient) -> list[int]:
    return [i["id"] for i in client.get("/api/v1/work-items", params={"limit": 200}).json()["items"]]


def branches(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/").split()


def audit_actions(admin: TestClient, item_id: int) -> list[dict[str, Any]]:
    response = admin.get("/api/v1/audit", params={"object_type": "work_item", "object_id": str(item_id),
                                                  "limit": 500})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def assert_nothing_happened(ctx: AppContext, cast: Cast, main_before: str, items_before: list[int]) -> None:
    assert main_commit(ctx.repo_path) == main_before
    assert work_item_ids(cast.editor) == items_before
    assert branches(ctx.repo_path) == ["refs/heads/main"]
    worktrees = ctx.settings.worktrees_dir
    # (the pool of spare worktrees, kept from earlier merges for reuse, holds no work item's worktree)
    left = [path for path in worktrees.iterdir() if path.name != spares.POOL] if worktrees.exists() else []
    assert left == [], left


# ------------------------------------------------------------------------------------------- the flow

def test_create_is_a_merged_documented_work_item_on_main(ctx: AppContext, cast: Cast) -> None:
    repo = ctx.repo_path
    main_before = main_commit(repo)
    item = applied(standard(cast.editor, "create", spec=GRAFANA))
    assert item["title"] == "Add Grafana" and item["notes"] == "Add Grafana"
    assert item["category"] == "standard" and item["action"] == "new" and item["service"] == "grafana"
    assert item["author"] == "eddie"
    assert item["checklist"] and all(entry["done"] for entry in item["checklist"]), item["checklist"]
    # A viewer reads the same item, without the worktree's server path.
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}").json() == {**item, "worktree": None}

    # git: a merge commit on main whose first parent is the old main and whose second is the branch
    merge = item["merge_commit"]
    assert main_commit(repo) == merge
    first, second = git(repo, "log", "-1", "--format=%P", merge).split()
    assert first == main_before
    assert git(repo, "log", "-1", "--format=%B", merge).strip().endswith(f"Work-Item: {item['id']}")
    files = set(git(repo, "diff", "--name-only", first, merge).split())
    # the service file and its changelog entry (plus any docs generated for a new service)
    assert {"CHANGES.md", GRAFANA_PATH} <= files, files
    assert all(f.startswith("docs/") for f in files - {"CHANGES.md", GRAFANA_PATH}), files
    assert git(repo, "rev-list", "--count", f"{first}..{second}").strip() == "1"
    assert git(repo, "log", "-1", "--format=%an", second).strip() == "eddie"
    text = git(repo, "show", f"main:{GRAFANA_PATH}")
    assert text == ("name: Grafana\nslug: grafana\nkind: container\ndescription: Dashboards\nports:\n"
                    "  - number: 3000\n    purpose: web\ntags:\n  - monitoring\n"), text
    changes = changes_on(repo, "main")
    assert re.search(rf"^### Added\n+- Added service grafana \(.*#{item['id']}\b", changes, re.M), changes
    # the branch and worktree are cleaned up
    assert branches(repo) == ["refs/heads/main"]
    assert not Path(item["worktree"]).exists()

    # the index has it, without a manual sync
    body = cast.viewer.get("/api/v1/services/grafana").json()
    assert body["name"] == "Grafana" and body["commit_id"] == merge and body["tags"] == ["monitoring"]

    # the audit log tells the story
    actions = [entry["action"] for entry in audit_actions(cast.admin, item["id"])]
    for action in ("work_item.create", "work_item.commit", "work_item.merge"):
        assert action in actions, actions
    assert all(entry["actor"] == "eddie" for entry in audit_actions(cast.admin, item["id"]))
    commit_entry = next(e for e in audit_actions(cast.admin, item["id"]) if e["action"] == "work_item.commit")
    assert commit_entry["after"]["commit"] == second and commit_entry["after"]["files"][0] == GRAFANA_PATH


def test_update_then_delete(ctx: AppContext, cast: Cast) -> None:
    repo = ctx.repo_path
    created = applied(standard(cast.editor, "create", spec=GRAFANA))
    spec = dict(GRAFANA, description="Dashboards and alerts")
    updated = applied(standard(cast.editor, "update", spec=spec, summary="Describe Grafana's alerts"))
    assert updated["id"] != created["id"] and updated["action"] == "change" and updated["category"] == "standard"
    assert main_commit(repo) == updated["merge_commit"]
    diff = git(repo, "diff", created["merge_commit"], updated["merge_commit"], "--", GRAFANA_PATH)
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == [
        "-description: Dashboards", "+description: Dashboards and alerts"], diff
    assert re.search(rf"^- Changed service grafana \(.*#{updated['id']}\b", changes_on(repo, "main"), re.M)
    assert cast.viewer.get("/api/v1/services/grafana").json()["description"] == "Dashboards and alerts"

    deleted = applied(standard(cast.editor, "delete", summary="Grafana is replaced by Perses"))
    assert deleted["action"] == "remove"
    assert main_commit(repo) == deleted["merge_commit"]
    assert GRAFANA_PATH not in git(repo, "ls-tree", "-r", "--name-only", "main")
    changes = changes_on(repo, "main")
    assert re.search(rf"^### Removed\n+- Removed service grafana \(.*#{deleted['id']}\b", changes, re.M), changes
    # all three entries are there, each once
    for verb in ("Added", "Changed", "Removed"):
        assert changes.count(f"- {verb} service grafana") == 1, changes
    error_of(cast.viewer.get("/api/v1/services/grafana"), 404)
    assert branches(repo) == ["refs/heads/main"]


def test_a_standard_change_to_an_endpoint(ctx: AppContext, cast: Cast) -> None:
    repo = ctx.repo_path
    applied(standard(cast.editor, "create", spec=GRAFANA))
    endpoint = {"name": "Grafana web", "slug": "grafana-web", "service": "grafana", "type": "http",
                "target": "https://grafana.example.org/api/health"}
    item = applied(standard(cast.editor, "create", kind="endpoint", slug="grafana-web", spec=endpoint,
                            summary="Watch Grafana"))
    assert item["service"] == "grafana"
    assert "catalog/endpoints/grafana-web.yaml" in git(repo, "ls-tree", "-r", "--name-only", "main")
    assert "- Added endpoint grafana-web" in changes_on(repo, "main")
    assert cast.viewer.get("/api/v1/endpoints/grafana-web").json()["service"] == "grafana"
    error = error_of(standard(cast.editor, "create", kind="endpoint", slug="grafana-web", spec=endpoint), 409)
    assert error["code"] == "exists"
    applied(standard(cast.editor, "delete", kind="endpoint", slug="grafana-web", summary="Stop watching"))
    error_of(cast.viewer.get("/api/v1/endpoints/grafana-web"), 404)


# -------------------------------------------------------------------------------------------- refusals

def test_switched_off_by_an_admin_it_is_refused_and_nothing_is_created(ctx: AppContext, cast: Cast) -> None:
    main_before = main_commit(ctx.repo_path)
    error_of(cast.editor.put("/api/v1/preferences/standard_changes_enabled", json={"value": False}), 403)
    response = cast.admin.put("/api/v1/preferences/standard_changes_enabled", json={"value": False})
    assert response.status_code == 200, response.text
    assert cast.viewer.get("/api/v1/preferences").json()["standard_changes_enabled"] is False
    error = error_of(standard(cast.editor, "create", spec=GRAFANA), 409)
    assert error["code"] == "standard_changes_disabled" and "work item" in error["message"], error
    assert_nothing_happened(ctx, cast, main_before, [])
    error_of(cast.viewer.get("/api/v1/services/grafana"), 404)
    # the edit page no longer offers it either
    assert 'value="standard"' not in cast.editor.get("/catalog/edit/service").text

    assert cast.admin.put("/api/v1/preferences/standard_changes_enabled", json={"value": True}).status_code == 200
    assert 'value="standard"' in cast.editor.get("/catalog/edit/service").text
    applied(standard(cast.editor, "create", spec=GRAFANA))


def test_creating_an_existing_slug_is_a_conflict(ctx: AppContext, cast: Cast) -> None:
    applied(standard(cast.editor, "create", spec=GRAFANA))
    main_before, items_before = main_commit(ctx.repo_path), work_item_ids(cast.editor)
    error = error_of(standard(cast.editor, "create", spec=dict(GRAFANA, description="Again")), 409)
    assert error["code"] == "exists" and "update" in error["message"], error
    assert_nothing_happened(ctx, cast, main_before, items_before)


def test_an_invalid_spec_is_refused_before_any_work_item_exists(ctx: AppContext, cast: Cast) -> None:
    main_before = main_commit(ctx.repo_path)
    spec = service_spec("grafana", kind="spaceship", ports=[{"number": 70000}], colour="orange")
    error = error_of(standard(cast.editor, "create", spec=spec), 422)
    assert sorted(d["path"] for d in error["details"]) == ["colour", "kind", "ports.0.number"], error
    error = error_of(standard(cast.editor, "create", spec=service_spec("loki")), 422)  # slug differs
    assert [d["path"] for d in error["details"]] == ["slug"], error
    error_of(standard(cast.editor, "create"), 422)  # no spec at all
    assert_nothing_happened(ctx, cast, main_before, [])
    error_of(cast.viewer.get("/api/v1/services/grafana"), 404)


@pytest.mark.parametrize("body, status", [
    ({"operation": "rename", "kind": "service", "slug": "grafana", "summary": "x"}, 422),
    ({"operation": "create", "kind": "spaceship", "slug": "grafana", "summary": "x"}, 422),
    ({"operation": "create", "kind": "service", "slug": "grafana", "spec": GRAFANA, "summary": "   "}, 422),
    ({"operation": "create", "kind": "service", "slug": "grafana", "spec": GRAFANA}, 422),
    ({"operation": "create", "kind": "service", "slug": "grafana", "spec": GRAFANA, "summary": "x" * 201}, 422),
    ({"operation": "create", "kind": "service", "slug": "grafana", "spec": GRAFANA, "summary": "x", "y": 1}, 422),
    ({"operation": "create", "kind": "service", "slug": "grafana", "spec": [1], "summary": "x"}, 422),
    ({"operation": "update", "kind": "service", "slug": "grafana", "spec": GRAFANA, "summary": "x"}, 404),
    ({"operation": "delete", "kind": "service", "slug": "grafana", "summary": "x"}, 404),
    ({"operation": "delete", "kind": "endpoint", "slug": "nothing", "summary": "x"}, 404),
    ({"operation": "delete", "kind": "service", "slug": "../../etc", "summary": "x"}, 404),
])
def test_bad_requests_are_refused_and_leave_nothing(ctx: AppContext, cast: Cast, body: dict[str, Any],
                                                    status: int) -> None:
    main_before = main_commit(ctx.repo_path)
    error_of(cast.editor.post("/api/v1/standard-changes", json=body), status)
    assert_nothing_happened(ctx, cast, main_before, [])


def test_viewers_and_strangers_cannot(ctx: AppContext, cast: Cast) -> None:
    main_before = main_commit(ctx.repo_path)
    error_of(standard(cast.viewer, "create", spec=GRAFANA), 403)
    error_of(standard(cast.outsider, "create", spec=GRAFANA), 401)
    assert_nothing_happened(ctx, cast, main_before, [])
    applied(standard(cast.admin, "create", spec=GRAFANA))  # admins may


def test_an_update_that_changes_nothing_merges_nothing(ctx: AppContext, cast: Cast) -> None:
    applied(standard(cast.editor, "create", spec=GRAFANA))
    main_before, items_before = main_commit(ctx.repo_path), work_item_ids(cast.editor)
    response = standard(cast.editor, "update", spec=GRAFANA, summary="Touch Grafana")
    # There is no change to make: merging a work item whose only commit adds "Changed service
    # grafana" to CHANGES.md would record a change that never happened.
    assert response.status_code in (409, 422), response.text
    assert main_commit(ctx.repo_path) == main_before
    assert changes_on(ctx.repo_path, "main").count("service grafana") == 1
    assert work_item_ids(cast.editor) == items_before


def test_a_failure_after_the_commit_cancels_the_work_item_and_leaves_main_alone(
        ctx: AppContext, cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = ctx.repo_path
    main_before, count_before = main_commit(repo), commit_count(repo)

    def refuse(**kwargs: Any) -> None:
        raise Conflict("The merge was refused for this test.", code="merge_refused")

    monkeypatch.setattr(work_service, "merge_and_complete", refuse)
    error = error_of(standard(cast.editor, "create", spec=GRAFANA), 409)
    assert error["code"] == "merge_refused"
    assert main_commit(repo) == main_before and commit_count(repo) == count_before
    items = cast.editor.get("/api/v1/work-items").json()["items"]
    assert len(items) == 1 and items[0]["status"] == "cancelled", items
    tag = items[0]["archive_tag"]
    assert tag and git(repo, "show", f"{tag}:{GRAFANA_PATH}").startswith("name: Grafana\n")
    assert branches(repo) == ["refs/heads/main"]
    error_of(cast.viewer.get("/api/v1/services/grafana"), 404)
    monkeypatch.undo()
    applied(standard(cast.editor, "create", spec=GRAFANA))  # and it can be done again


def test_a_standard_change_to_an_endpoint_listed_inside_its_service_file(ctx: AppContext, cast: Cast) -> None:
    repo = ctx.repo_path
    web = {"name": "Grafana web", "slug": "grafana-web", "type": "http", "target": "https://grafana.lan/login"}
    applied(standard(cast.editor, "create", spec=dict(GRAFANA, endpoints=[web])))
    assert cast.viewer.get("/api/v1/endpoints/grafana-web").json()["file"] == GRAFANA_PATH
    before = main_commit(repo)
    item = applied(standard(cast.editor, "update", kind="endpoint", slug="grafana-web",
                            spec=dict(web, interval=300), summary="Check Grafana every 5 minutes"))
    files = git(repo, "diff", "--name-only", before, item["merge_commit"]).split()
    assert [f for f in files if not f.startswith("docs/")] == ["CHANGES.md", GRAFANA_PATH], files
    assert "    interval: 300\n" in git(repo, "show", f"main:{GRAFANA_PATH}")
    assert "catalog/endpoints/grafana-web.yaml" not in git(repo, "ls-tree", "-r", "--name-only", "main")
    assert cast.viewer.get("/api/v1/endpoints/grafana-web").json()["interval"] == 300
    error = error_of(standard(cast.editor, "create", kind="endpoint", slug="grafana-web", spec=web), 409)
    assert error["code"] == "exists"
    applied(standard(cast.editor, "delete", kind="endpoint", slug="grafana-web", summary="Stop checking"))
    assert "endpoints:" not in git(repo, "show", f"main:{GRAFANA_PATH}")
    error_of(cast.viewer.get("/api/v1/endpoints/grafana-web"), 404)
    assert cast.viewer.get("/api/v1/services/grafana").status_code == 200
