"""The merge check validates the branch's catalog as main's index will read it ("main is always valid").

A service file that would not load refuses the merge with its file and line; what only looks wrong is a
warning that never refuses; problems main already had are shown apart and never refuse.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml
from tests.catalog.helpers import error_of, land_files, main_commit
from tests.conftest import Cast
from tests.work.helpers import finish_documentation, make_work_item, write_and_commit

S = "catalog/services/"
E = "catalog/endpoints/"


def check(client: TestClient, item: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/api/v1/work-items/{item['id']}/merge-check")
    assert response.status_code == 200, response.text
    return dict(response.json())


def ready_with(client: TestClient, files: dict[str, str], title: str = "Change the catalog") -> dict[str, Any]:
    item = make_work_item(client, title=title)
    for path, content in files.items():
        write_and_commit(client, item, path, content, entry=f"Changed {path}")
    finish_documentation(client, item)
    return item


def test_a_service_file_with_an_unknown_field_refuses_the_merge_with_its_file_and_line(
        ctx: AppContext, cast: Cast) -> None:
    land_files(cast.editor, {S + "grafana.yaml": service_yaml("grafana"),
                             E + "grafana-web.yaml": "name: Web\nslug: grafana-web\nservice: grafana\n"
                                                     "type: http\ntarget: http://127.0.0.1:3000\n"})
    before = main_commit(ctx.repo_path)
    item = ready_with(cast.editor, {S + "grafana.yaml": service_yaml("grafana") + "colour: blue\nport: 3000\n"})

    result = check(cast.editor, item)
    assert result["ready"] is False
    schema = [p for p in result["problems"] if p["code"] == "catalog_schema"]
    assert schema, result
    assert {p["path"] for p in schema} == {S + "grafana.yaml"}
    assert {p["line"] for p in schema} == {4, 5}  # colour: on line 4, port: on line 5
    assert any("colour" in p["message"] for p in schema) and any("port" in p["message"] for p in schema)

    refused = error_of(cast.editor.post(f"/api/v1/work-items/{item['id']}/merge"), 409)
    codes = {p["code"] for p in refused["details"]["problems"]}
    assert "catalog_schema" in codes
    assert main_commit(ctx.repo_path) == before
    # The service stays in the catalog and keeps its endpoint.
    assert cast.viewer.get("/api/v1/services/grafana").status_code == 200
    assert cast.viewer.get("/api/v1/endpoints/grafana-web").json()["service"] == "grafana"


def test_yaml_that_does_not_parse_and_a_duplicate_slug_each_refuse_the_merge(cast: Cast) -> None:
    land_files(cast.editor, {S + "grafana.yaml": service_yaml("grafana")})
    item = ready_with(cast.editor, {S + "broken.yaml": "name: Broken\nslug: broken\nkind: [vm\n",
                                    S + "grafana-copy.yaml": service_yaml("grafana")})
    result = check(cast.editor, item)
    assert result["ready"] is False
    by_path = {p["path"]: p for p in result["problems"] if p["path"]}
    assert by_path[S + "broken.yaml"]["code"] == "catalog_yaml_syntax"
    assert by_path[S + "grafana-copy.yaml"]["code"] == "catalog_duplicate_slug"
    assert by_path[S + "grafana-copy.yaml"]["line"] == 2


def test_an_unknown_dependency_the_branch_adds_is_a_warning_that_does_not_block(ctx: AppContext, cast: Cast) -> None:
    item = ready_with(cast.editor, {S + "grafana.yaml": service_yaml("grafana", depends_on=["db"])})
    result = check(cast.editor, item)
    assert result["ready"] is True, result
    assert result["problems"] == []
    assert [(p["code"], p["path"], p["line"]) for p in result["warnings"]] == [
        ("catalog_unknown_dependency", S + "grafana.yaml", 4)]
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200


def test_deleting_a_service_others_need_warns_at_the_files_that_need_it(cast: Cast) -> None:
    land_files(cast.editor, {S + "db.yaml": service_yaml("db"),
                             S + "grafana.yaml": service_yaml("grafana", depends_on=["db"])})
    item = make_work_item(cast.editor, title="Remove db")
    assert cast.editor.delete(f"/api/v1/work-items/{item['id']}/files/{S}db.yaml").status_code in (200, 204)
    commit = cast.editor.post(f"/api/v1/work-items/{item['id']}/commits",
                              json={"message": "Remove db", "changelog": {"type": "Removed", "text": "Removed db"}})
    assert commit.status_code == 201, commit.text
    finish_documentation(cast.editor, item)
    warnings = check(cast.editor, item)["warnings"]
    assert [(p["code"], p["path"]) for p in warnings] == [("catalog_unknown_dependency", S + "grafana.yaml")]


def test_problems_already_on_main_are_shown_apart_and_never_block(ctx: AppContext, cast: Cast) -> None:
    # Someone committed a broken file straight onto main, outside Calcifer.
    commit_files(ctx.repo_path, {S + "legacy.yaml": service_yaml("legacy") + "colour: blue\n",
                                 S + "other.yaml": "name: Other\nslug: other\nkind: spaceship\n"})
    # A branch that edits the broken file without fixing it (and touches nothing else broken).
    item = ready_with(cast.editor, {S + "legacy.yaml": "# still to be fixed\n" + service_yaml("legacy")
                                    + "colour: blue\n"})
    result = check(cast.editor, item)
    assert result["ready"] is True, result
    assert result["problems"] == [] and result["warnings"] == []
    assert [(p["code"], p["path"], p["line"]) for p in result["on_main"]] == [
        ("catalog_schema", S + "legacy.yaml", 5)]
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200


def test_a_branch_that_fixes_a_broken_file_on_main_is_ready(ctx: AppContext, cast: Cast) -> None:
    commit_files(ctx.repo_path, {S + "legacy.yaml": service_yaml("legacy") + "colour: blue\n"})
    item = ready_with(cast.editor, {S + "legacy.yaml": service_yaml("legacy")})
    result = check(cast.editor, item)
    assert result == {"ready": True, "problems": [], "warnings": [], "on_main": []}


def test_the_work_item_page_lists_the_refusing_file_and_line(cast: Cast) -> None:
    item = ready_with(cast.editor, {S + "grafana.yaml": service_yaml("grafana") + "colour: blue\n"})
    page = cast.editor.get(f"/work/{item['id']}")
    assert page.status_code == 200
    assert 'data-code="catalog_schema"' in page.text
    assert f"{S}grafana.yaml:4" in page.text


def test_after_an_update_with_conflicts_the_check_only_asks_to_resolve_them(ctx: AppContext, cast: Cast) -> None:
    a = ready_with(cast.editor, {S + "grafana.yaml": service_yaml("grafana", tags=["a"])}, title="Tag a")
    b = ready_with(cast.editor, {S + "grafana.yaml": service_yaml("grafana", tags=["b"])}, title="Tag b")
    assert cast.editor.post(f"/api/v1/work-items/{a['id']}/merge").status_code == 200
    update = cast.editor.post(f"/api/v1/work-items/{b['id']}/update-from-main").json()
    assert update["conflicts"] == [S + "grafana.yaml"]
    problems = check(cast.editor, b)["problems"]
    codes = [p["code"] for p in problems]
    assert "unresolved_conflicts" in codes
    assert "merge_conflict" not in codes
    assert not any("Update from main" in p["message"] for p in problems)


def test_a_doc_whose_front_matter_does_not_read_refuses_the_merge_with_its_line(cast: Cast) -> None:
    item = ready_with(cast.editor, {
        "docs/runbooks/backup.md": "---\ntitle: Backup\ntags: [nightly\n---\n# Backup\n",
        "docs/runbooks/list.md": "---\n- just a list\n---\nText\n",
        "docs/runbooks/fine.md": "---\ntitle: Fine\n---\n# Fine\n\n---\n\nA thematic break above.\n",
        "docs/notes.md": "---\nnot front matter: no closing line, a thematic break\n",
    })
    result = check(cast.editor, item)
    assert result["ready"] is False
    docs = sorted((p["path"], p["line"]) for p in result["problems"] if p["code"] == "docs_front_matter")
    assert docs[0][0] == "docs/runbooks/backup.md" and docs[0][1] in (3, 4)
    assert docs[1:] == [("docs/runbooks/list.md", 2)]
    assert "mapping" in next(p["message"] for p in result["problems"] if p["path"] == "docs/runbooks/list.md")
