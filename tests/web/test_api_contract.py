"""The JSON API's shared contract: documented answers, one pagination style, strict filters, readable 422s."""

from __future__ import annotations

import pytest

from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import Cast, make_token, make_user
from tests.paging import walk_pages
from tests.work.helpers import make_work_item

# Operations whose success answer is not a JSON object with named fields, and why.
NOT_JSON_OBJECTS = {
    ("get", "/api/v1/schema/service"): "answers a JSON Schema document",
    ("get", "/api/v1/schema/endpoint"): "answers a JSON Schema document",
    ("get", "/api/v1/backups/files/{name}"): "answers a gzip archive",
}


def test_every_api_operation_documents_its_answer_and_the_house_error_body(client) -> None:  # type: ignore[no-untyped-def]
    document = client.app.openapi()
    undocumented, no_errors = [], []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status, response in responses.items():
                if not status.startswith("2") or status == "204" or (method, path) in NOT_JSON_OBJECTS:
                    continue
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                if "$ref" not in schema:
                    undocumented.append(f"{method.upper()} {path} {status}")
            errors = [responses.get(code, {}).get("content", {}).get("application/json", {}).get("schema", {})
                      for code in ("401", "403", "404", "422")]
            if any(e.get("$ref") != "#/components/schemas/ErrorBody" for e in errors):
                no_errors.append(f"{method.upper()} {path}")
    assert undocumented == []
    assert no_errors == []


@pytest.mark.parametrize(("path", "allowed"), [
    ("/api/v1/services?kind=spaceship", "'container'"),
    ("/api/v1/services?status=haunted", "'retired'"),
    ("/api/v1/catalog/problems?severity=mild", "'warning'"),
    ("/api/v1/work-items?status=dreaming", "'in_progress'"),
    ("/api/v1/incidents?status=ongoing", "'resolved'"),
    ("/api/v1/endpoints?type=carrier-pigeon", "'http'"),
])
def test_an_unknown_filter_value_is_a_422_naming_the_allowed_ones(cast: Cast, path: str, allowed: str) -> None:
    response = cast.viewer.get(path)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in ("invalid", "bad_type") and allowed in error["message"], error


def test_validation_messages_are_sentences_without_pydantic_prefixes(cast: Cast) -> None:
    response = cast.admin.post("/api/v1/users", json={"username": "bad name!", "password": "short",
                                                      "role": "viewer"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "Value error" not in response.text
    assert error["message"].startswith("Please fix the input.")
    fields = {d["field"]: d["message"] for d in error["details"]}
    assert fields["password"] == "Use at least 8 characters.", fields
    assert fields["username"].startswith("Use 1-64 letters") and fields["username"].endswith("."), fields
    bad_limit = cast.viewer.get("/api/v1/work-items", params={"limit": 0}).json()["error"]
    assert [d["field"] for d in bad_limit["details"]] == ["limit"], bad_limit
    item = make_work_item(cast.editor)
    no_path = cast.editor.post(f"/api/v1/work-items/{item['id']}/docs-rename", json={"new_path": "docs/b.md"})
    assert no_path.status_code == 422, no_path.text
    assert no_path.json()["error"]["details"] == [{"field": "path", "message": "Field required."}]


def test_maintenance_windows_page_by_cursor(cast: Cast) -> None:
    ids = []
    for n in range(5):
        created = cast.editor.post("/api/v1/maintenance-windows", json={
            "title": f"Window {n}", "starts_at": "2030-01-01T00:00:00Z",
            "ends_at": "2030-01-01T01:00:00Z"})
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    pages = walk_pages(cast.viewer, "/api/v1/maintenance-windows", limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [w["id"] for page in pages for w in page] == ids[::-1]


def test_tokens_audit_users_and_the_changelog_page_by_cursor(ctx: AppContext, cast: Cast) -> None:
    for n in range(3):
        make_token(ctx, "eddie", name=f"script {n}")
    token_pages = walk_pages(cast.editor, "/api/v1/tokens", limit=2)
    assert [t["name"] for page in token_pages for t in page] == ["script 2", "script 1", "script 0", "tests"]
    for name in ("ursula", "umberto"):
        make_user(ctx, name, Role.VIEWER)
    user_pages = walk_pages(cast.admin, "/api/v1/users", limit=2)
    assert len(user_pages) == 3
    assert [u["username"] for page in user_pages for u in page] == ["alice", "eddie", "vera", "ursula", "umberto"]
    audit_pages = walk_pages(cast.admin, "/api/v1/audit", limit=3)
    everything = cast.admin.get("/api/v1/audit", params={"limit": 500}).json()["items"]
    assert [e["id"] for page in audit_pages for e in page] == [e["id"] for e in everything]
    assert walk_pages(cast.viewer, "/api/v1/changelog", limit=5) == [[]]


def test_a_bare_id_from_before_the_opaque_cursors_still_pages(cast: Cast) -> None:
    items = [make_work_item(cast.editor, title=f"Item {n}") for n in range(3)]
    rest = cast.viewer.get("/api/v1/work-items", params={"cursor": str(items[1]["id"])}).json()
    assert [i["id"] for i in rest["items"]] == [items[0]["id"]]
    bad = cast.viewer.get("/api/v1/work-items", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_cursor"


def test_an_id_beyond_what_the_database_stores_is_a_404(cast: Cast) -> None:
    for path in ("/api/v1/incidents/9223372036854775808", "/api/v1/work-items/99999999999999999999",
                 "/api/v1/maintenance-windows/9223372036854775808"):
        response = cast.viewer.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"


def test_the_catalog_edit_routes_take_the_spec_like_a_standard_change(cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Add Grafana")
    spec = {"name": "Grafana", "kind": "container", "description": "Dashboards"}
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/services/grafana", json={"spec": spec})
    assert response.status_code == 201, response.text
    assert response.json()["path"] == "catalog/services/grafana.yaml"
    bare = cast.editor.put(f"/api/v1/work-items/{item['id']}/services/grafana", json={**spec, "owner": "ops"})
    assert bare.status_code == 200, bare.text


def test_a_number_too_large_to_store_is_a_422_and_nothing_is_kept(cast: Cast) -> None:
    response = cast.editor.post("/api/v1/maintenance-windows", json={
        "title": "Too far", "kind": "work_item", "work_item_id": 2**70})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unstorable_value"
    assert cast.viewer.get("/api/v1/maintenance-windows").json()["items"] == []
