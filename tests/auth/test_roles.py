"""A viewer reads but cannot change anything; editors change work; only admins manage users."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Cast, browser_login


def test_viewer_cannot_change_anything_through_the_api(cast: Cast) -> None:
    item = cast.editor.post("/api/v1/work-items", json={"title": "Add grafana", "category": "service",
                                                         "action": "new"}).json()
    attempts = [
        ("POST", "/api/v1/work-items", {"title": "x", "category": "service", "action": "new"}),
        ("PATCH", f"/api/v1/work-items/{item['id']}", {"notes": "hi"}),
        ("PUT", f"/api/v1/work-items/{item['id']}/checklist/0", {"done": True}),
        ("PUT", f"/api/v1/work-items/{item['id']}/files/a.txt", {"content": "x"}),
        ("DELETE", f"/api/v1/work-items/{item['id']}/files/CHANGES.md", None),
        ("POST", f"/api/v1/work-items/{item['id']}/commits", {"message": "m"}),
        ("POST", f"/api/v1/work-items/{item['id']}/merge", None),
        ("POST", f"/api/v1/work-items/{item['id']}/update-from-main", None),
        ("PUT", f"/api/v1/work-items/{item['id']}/conflicts/docs/a.md", {"take": "ours"}),
        ("POST", f"/api/v1/work-items/{item['id']}/conflicts/resolve", None),
        ("DELETE", f"/api/v1/work-items/{item['id']}", None),
        ("POST", "/api/v1/users", {"username": "x", "password": "12345678"}),
        ("PATCH", "/api/v1/users/1", {"role": "viewer"}),
        ("DELETE", "/api/v1/users/1", None),
        ("PUT", "/api/v1/checklist-templates/service/new", {"items": ["x"]}),
    ]
    for method, path, body in attempts:
        response = cast.viewer.request(method, path, json=body)
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json()["error"]["code"] == "forbidden"
    after = cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()
    assert after["notes"] == "" and not after["checklist"][0]["done"]
    assert [u["username"] for u in cast.admin.get("/api/v1/users").json()["items"]] == ["alice", "eddie", "vera"]


def test_viewer_can_read(cast: Cast) -> None:
    assert cast.viewer.get("/api/v1/work-items").status_code == 200
    assert cast.viewer.get("/api/v1/me").json()["role"] == "viewer"
    assert cast.viewer.get("/api/v1/changelog").status_code == 200


def test_viewer_cannot_change_anything_through_the_pages(app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    item = cast.editor.post("/api/v1/work-items", json={"title": "Add grafana", "category": "service",
                                                         "action": "new"}).json()
    browser = TestClient(app, follow_redirects=False)
    token = browser_login(browser, "vera")
    posts = [
        ("/work", {"title": "x", "category": "service", "action": "new"}),
        (f"/work/{item['id']}/notes", {"notes": "sneaky"}),
        (f"/work/{item['id']}/checklist/0/toggle", {"done": "true"}),
        (f"/work/{item['id']}/file", {"path": "a.txt", "content": "x"}),
        (f"/work/{item['id']}/commit", {"message": "m"}),
        (f"/work/{item['id']}/merge", {}),
        (f"/work/{item['id']}/cancel", {"confirm": "yes"}),
        ("/settings/users", {"username": "mallory", "password": "12345678", "role": "admin"}),
        ("/settings/checklists", {"category": "service", "action": "new", "items": "x"}),
    ]
    for path, data in posts:
        response = browser.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 403, (path, response.status_code)
        assert "Not allowed" in response.text
    detail = browser.get(f"/work/{item['id']}")
    assert detail.status_code == 200
    assert "Merge and complete" not in detail.text or 'id="merge-button"' not in detail.text
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()["notes"] == ""


def test_editor_cannot_manage_users(cast: Cast) -> None:
    response = cast.editor.post("/api/v1/users", json={"username": "x1", "password": "12345678"})
    assert response.status_code == 403
    assert "admin" in response.json()["error"]["message"]


def test_admin_manages_users_and_cannot_remove_the_last_admin(cast: Cast) -> None:
    created = cast.admin.post("/api/v1/users", json={"username": "newbie", "password": "long enough",
                                                     "role": "editor"})
    assert created.status_code == 201 and created.json()["role"] == "editor"
    assert "password" not in created.text
    dup = cast.admin.post("/api/v1/users", json={"username": "NEWBIE", "password": "long enough"})
    assert dup.status_code == 409
    me = cast.admin.get("/api/v1/me").json()
    demote = cast.admin.patch(f"/api/v1/users/{me['id']}", json={"role": "viewer"})
    assert demote.status_code == 409 and "last active admin" in demote.json()["error"]["message"]
    bad = cast.admin.post("/api/v1/users", json={"username": "../etc", "password": "long enough"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]


def test_every_role_check_goes_through_the_one_function() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "src" / "calcifer"
    # auth/roles.py holds has_role itself; auth/service.py the last-admin rules (the stored role of a target).
    allowed = {root / "auth" / "roles.py", root / "auth" / "service.py", root / "auth" / "choices.py"}
    pattern = re.compile(r"\.role\s*[!=]=|Role\([^()]*\.role\)|\.allows\(")
    offenders = [f"{path.relative_to(root)}:{number}: {line.strip()}"
                 for path in sorted(root.rglob("*")) if path.suffix in {".py", ".html"} and path not in allowed
                 for number, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == [], "route these through auth.roles.has_role / deps.require_role"
