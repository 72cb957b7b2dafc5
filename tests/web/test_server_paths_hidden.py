"""Server paths (data directory, managed repository, worktrees) are shown to admins, never to viewers."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Cast, browser_login


def _paths(ctx) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(ctx.settings.resolved_data_dir), str(ctx.repo_path), str(ctx.settings.worktrees_dir)]


def test_settings_shows_server_paths_to_admins_only(app, ctx, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    viewer = TestClient(app, follow_redirects=False)
    browser_login(viewer, "vera")
    page = viewer.get("/settings")
    assert page.status_code == 200
    for path in _paths(ctx):
        assert path not in page.text
    admin = TestClient(app, follow_redirects=False)
    browser_login(admin, "alice")
    shown = admin.get("/settings").text
    assert all(path in shown for path in _paths(ctx))


def test_a_viewer_never_sees_a_work_items_worktree_path(app, ctx, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    made = cast.editor.post("/api/v1/work-items", json={"title": "Add grafana", "category": "service",
                                                        "action": "new"})
    assert made.status_code == 201
    item_id, worktree = made.json()["id"], made.json()["worktree"]
    assert worktree.startswith(str(ctx.settings.worktrees_dir))  # the editor works in it
    assert cast.viewer.get(f"/api/v1/work-items/{item_id}").json()["worktree"] is None
    listed = cast.viewer.get("/api/v1/work-items").json()["items"]
    assert listed and all(item["worktree"] is None for item in listed)
    viewer = TestClient(app, follow_redirects=False)
    browser_login(viewer, "vera")
    page = viewer.get(f"/work/{item_id}")
    assert page.status_code == 200 and "Add grafana" in page.text
    assert str(ctx.settings.worktrees_dir) not in page.text and str(ctx.settings.resolved_data_dir) not in page.text
