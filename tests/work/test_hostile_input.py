"""Hostile titles, paths and file names never reach a shell or a git option."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Cast
from tests.work.helpers import git, make_work_item

BRANCH_RE = re.compile(r"^[a-z-]+/[a-z]+/\d+-[a-z0-9]+(?:-[a-z0-9]+)*$")


@pytest.mark.parametrize("title", ["--upload-pack=x", "../../etc", "$(reboot)", "`rm -rf /`; echo",
                                   "refs/heads/main", "-", "..", "main.lock", "ça marche ✓", "@{-1}",
                                   "a\\b:c?d*e[f]~^g", "🔥" * 100])
def test_hostile_titles_become_safe_branch_slugs(cast: Cast, ctx, title: str) -> None:  # type: ignore[no-untyped-def]
    item = make_work_item(cast.editor, title=title)
    assert BRANCH_RE.match(item["branch"]), item["branch"]
    assert item["title"] == " ".join(title.split())
    assert item["branch"] in git(ctx.repo_path, "branch", "--list", "--format=%(refname:short)")
    assert str(ctx.settings.worktrees_dir) in item["worktree"]


def test_a_title_of_5000_emoji_is_a_clear_422(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    before = git(ctx.repo_path, "branch", "--list")
    response = cast.editor.post("/api/v1/work-items", json={"title": "🔥" * 5000, "category": "service",
                                                             "action": "new"})
    assert response.status_code == 422
    assert "at most 200 characters" in response.json()["error"]["message"]
    assert git(ctx.repo_path, "branch", "--list") == before
    assert cast.editor.get("/api/v1/work-items").json()["items"] == []


@pytest.mark.parametrize("body", [
    {"title": "", "category": "service", "action": "new"},
    {"title": "x", "category": "--exec=sh", "action": "new"},
    {"title": "x", "category": "service", "action": "destroy"},
    {"title": "x", "category": "service", "action": "new", "service": "../../etc"},
    {"title": "nul\x00byte", "category": "service", "action": "new"},
])
def test_bad_create_bodies_are_refused_with_a_message(cast: Cast, body: dict) -> None:  # type: ignore[type-arg]
    response = cast.editor.post("/api/v1/work-items", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"]
    assert cast.editor.get("/api/v1/work-items").json()["items"] == []


@pytest.mark.parametrize("path", ["../outside.txt", "a/../../outside.txt", ".git/config", "..%2F..%2Fx",
                                  "x" * 300, "dir/" + "y" * 250 + ".md"])
def test_hostile_file_paths_are_refused_and_nothing_written(cast: Cast, ctx, path: str) -> None:  # type: ignore[no-untyped-def]
    item = make_work_item(cast.editor)
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/files/{path}", json={"content": "pwned"})
    assert response.status_code in (404, 422), (path, response.status_code)
    if response.status_code == 422:
        assert response.json()["error"]["message"]
    assert not (ctx.settings.worktrees_dir / "outside.txt").exists()
    assert not (ctx.settings.resolved_data_dir / "outside.txt").exists()
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/changes").json()["items"] == []


def test_a_symlink_in_the_worktree_pointing_outside_is_not_followed(cast: Cast, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    item = make_work_item(cast.editor)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    (Path(item["worktree"]) / "link").symlink_to(outside)
    read = cast.editor.get(f"/api/v1/work-items/{item['id']}/files/link")
    assert read.status_code == 422
    write = cast.editor.put(f"/api/v1/work-items/{item['id']}/files/link", json={"content": "changed"})
    assert write.status_code == 422
    assert outside.read_text() == "secret\n"


def test_binary_files_are_refused_by_the_editor(cast: Cast) -> None:
    from pathlib import Path

    item = make_work_item(cast.editor)
    (Path(item["worktree"]) / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    response = cast.editor.get(f"/api/v1/work-items/{item['id']}/files/logo.png")
    assert response.status_code == 422 and "binary" in response.json()["error"]["message"].lower()


def test_changelog_text_with_a_newline_is_refused(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    cast.editor.put(f"/api/v1/work-items/{item['id']}/files/a.txt", json={"content": "a"})
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/commits", json={
        "message": "m", "changelog": {"type": "Added", "text": "line one\n## 2020-01-01"}})
    assert response.status_code == 422
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/commits").json()["items"] == []
