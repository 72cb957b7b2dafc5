"""Concurrent merges, main moving under a merge, and a crash between git and the database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calcifer.app import prepare
from calcifer.work import service as work_service
from tests.conftest import Cast
from tests.work.helpers import git, make_work_item, ready_item


def test_concurrent_merge_requests_on_one_item_exactly_one_wins(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    item = ready_item(cast.editor, "Add grafana", "grafana.yaml", "x: 1\n", "Added grafana")
    main_before = git(ctx.repo_path, "rev-parse", "main").strip()
    results: list[int] = []
    barrier = threading.Barrier(4)

    def merge() -> None:
        barrier.wait()
        results.append(cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code)

    threads = [threading.Thread(target=merge) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409, 409, 409]
    # Exactly one merge commit landed on main.
    assert git(ctx.repo_path, "rev-list", "--count", f"{main_before}..main", "--first-parent").strip() == "1"


def test_parallel_merges_of_different_items_lose_nothing(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    items = [ready_item(cast.editor, f"Item {n}", f"f{n}.txt", f"{n}\n", f"Entry {n}") for n in range(4)]
    results: list[int] = []
    barrier = threading.Barrier(len(items))

    def merge(item_id: int) -> None:
        barrier.wait()
        results.append(cast.editor.post(f"/api/v1/work-items/{item_id}/merge").status_code)

    threads = [threading.Thread(target=merge, args=(i["id"],)) for i in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 4
    files = git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main").split()
    changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    for n in range(4):
        assert f"f{n}.txt" in files and f"Entry {n}" in changelog


def test_crash_between_git_merge_and_database_is_repaired_at_start(
        cast: Cast, ctx, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    item = ready_item(cast.editor, "Add grafana", "grafana.yaml", "x: 1\n", "Added grafana")

    # Fault injection at the one seam between the git merge and the database update.
    def crash(*_args: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(work_service, "_after_git_merge", crash)
    server = TestClient(cast.editor.app, headers=cast.editor.headers, raise_server_exceptions=False)
    response = server.post(f"/api/v1/work-items/{item['id']}/merge")
    assert response.status_code == 500
    assert "power cut" not in response.text  # no internals leak
    merge_commit = git(ctx.repo_path, "rev-parse", "main").strip()
    assert f"Work-Item: {item['id']}" in git(ctx.repo_path, "log", "-1", "--format=%B", "main")
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}").json()["status"] != "complete"
    monkeypatch.undo()

    # Restart: reconciliation completes the item with the merge that is on main, and tidies git.
    restarted = prepare(ctx.settings)
    with restarted.session_factory() as session:
        repairs = work_service.recent_repairs(session=session)
    assert any(f"#{item['id']}" in r.message and "complete" in r.message for r in repairs)
    after = cast.editor.get(f"/api/v1/work-items/{item['id']}").json()
    assert after["status"] == "complete" and after["merge_commit"] == merge_commit
    assert not Path(item["worktree"]).exists()
    assert item["branch"] not in git(ctx.repo_path, "branch", "--list", "--format=%(refname:short)")
    # Nothing is merged twice.
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 409
    restarted.engine.dispose()


def test_a_worktree_deleted_by_hand_is_recreated_at_start(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    import shutil

    item = make_work_item(cast.editor)
    cast.editor.put(f"/api/v1/work-items/{item['id']}/files/a.txt", json={"content": "a\n"})
    cast.editor.post(f"/api/v1/work-items/{item['id']}/commits",
                     json={"message": "a", "changelog": {"type": "Added", "text": "Added a"}})
    shutil.rmtree(item["worktree"])
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert "worktree_missing" in {p["code"] for p in check["problems"]}
    restarted = prepare(ctx.settings)
    assert (Path(item["worktree"]) / "a.txt").read_text() == "a\n"
    restarted.engine.dispose()


def test_a_branch_deleted_by_hand_cancels_the_item_at_start(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    import shutil

    item = make_work_item(cast.editor)
    shutil.rmtree(item["worktree"])
    git(ctx.repo_path, "worktree", "prune")
    git(ctx.repo_path, "branch", "-D", item["branch"])
    restarted = prepare(ctx.settings)
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}").json()["status"] == "cancelled"
    restarted.engine.dispose()


def test_a_branch_merged_outside_calcifer_is_recognised(cast: Cast, ctx, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    item = ready_item(cast.editor, "Outside", "outside.txt", "o\n", "Added outside")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ctx.repo_path), str(clone)], check=True)
    run = {"cwd": clone, "check": True, "capture_output": True}
    subprocess.run(["git", "-c", "user.name=ops", "-c", "user.email=ops@x", "merge", "-q", "--no-ff", "-m",
                    "merged by hand", f"origin/{item['branch']}"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], **run)  # type: ignore[call-overload]
    branch = cast.editor.get(f"/api/v1/work-items/{item['id']}/branch").json()
    assert branch["merged"] is True
    check = cast.editor.get(f"/api/v1/work-items/{item['id']}/merge-check").json()
    assert check == {"ready": True, "problems": [], "warnings": [], "on_main": []}
    done = cast.editor.post(f"/api/v1/work-items/{item['id']}/merge")
    assert done.status_code == 200, done.text
    assert done.json()["merge_commit"] == git(ctx.repo_path, "rev-parse", "main").strip()
