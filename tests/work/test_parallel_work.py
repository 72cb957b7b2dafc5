"""Several work items at once: different files, the same file, and changelog entries from both."""

from __future__ import annotations

from tests.conftest import Cast
from tests.work.helpers import finish_documentation, git, make_work_item, ready_item, write_and_commit


def service(slug: str, port: int | None = None) -> str:
    """A service file that loads (the merge check refuses catalog files that would not)."""
    ports = f"ports:\n  - number: {port}\n" if port else ""
    return f"name: {slug.title()}\nslug: {slug}\nkind: container\n{ports}"


def test_two_items_touching_different_files_both_merge(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    a = ready_item(cast.editor, "Add grafana", "catalog/services/grafana.yaml", service("grafana"), "Added grafana")
    b = ready_item(cast.editor, "Add loki", "catalog/services/loki.yaml", service("loki"), "Added loki")
    assert cast.editor.post(f"/api/v1/work-items/{a['id']}/merge").status_code == 200
    assert cast.editor.post(f"/api/v1/work-items/{b['id']}/merge").status_code == 200
    files = git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main")
    assert "catalog/services/grafana.yaml" in files and "catalog/services/loki.yaml" in files
    changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    assert "Added grafana" in changelog and "Added loki" in changelog
    assert "<<<<<<<" not in changelog


def test_changelog_entries_from_both_items_merge_in_either_order(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    items = [ready_item(cast.editor, f"Change {n}", f"file-{n}.txt", f"{n}\n", f"Entry number {n}")
             for n in range(3)]
    for item in reversed(items):
        response = cast.editor.post(f"/api/v1/work-items/{item['id']}/merge")
        assert response.status_code == 200, response.text
    changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    for n, item in enumerate(items):
        assert f"- Entry number {n} ([#{item['id']}](/work/{item['id']}))" in changelog


def test_same_file_conflict_is_reported_by_name_and_nothing_merged(cast: Cast, ctx) -> None:  # type: ignore[no-untyped-def]
    path = "catalog/services/grafana.yaml"
    a = ready_item(cast.editor, "Port 3000", path, service("grafana", 3000), "Grafana on 3000")
    b = ready_item(cast.editor, "Port 3001", path, service("grafana", 3001), "Grafana on 3001")
    assert cast.editor.post(f"/api/v1/work-items/{a['id']}/merge").status_code == 200
    main_after_a = git(ctx.repo_path, "rev-parse", "main").strip()

    branch = cast.editor.get(f"/api/v1/work-items/{b['id']}/branch").json()
    assert branch["conflicts"] == ["catalog/services/grafana.yaml"]
    refused = cast.editor.post(f"/api/v1/work-items/{b['id']}/merge")
    assert refused.status_code == 409
    problems = refused.json()["error"]["details"]["problems"]
    assert any(p["code"] == "merge_conflict" and "catalog/services/grafana.yaml" in p["message"]
               for p in problems)
    assert git(ctx.repo_path, "rev-parse", "main").strip() == main_after_a
    assert git(ctx.repo_path, "show", "main:catalog/services/grafana.yaml") == service("grafana", 3000)

    # Update from main leaves the conflict in the worktree; the merge stays refused until resolved.
    update = cast.editor.post(f"/api/v1/work-items/{b['id']}/update-from-main").json()
    assert update["conflicts"] == ["catalog/services/grafana.yaml"]
    codes = {p["code"] for p in cast.editor.get(f"/api/v1/work-items/{b['id']}/merge-check").json()["problems"]}
    assert "unresolved_conflicts" in codes
    assert cast.editor.put(f"/api/v1/work-items/{b['id']}/files/catalog/services/grafana.yaml",
                           json={"content": service("grafana", 3001)}).status_code == 200
    resolved = cast.editor.post(f"/api/v1/work-items/{b['id']}/commits", json={"message": "Resolve port"})
    assert resolved.status_code == 201, resolved.text
    assert cast.editor.get(f"/api/v1/work-items/{b['id']}/merge-check").json()["ready"] is True
    assert cast.editor.post(f"/api/v1/work-items/{b['id']}/merge").status_code == 200
    assert git(ctx.repo_path, "show", "main:catalog/services/grafana.yaml") == service("grafana", 3001)
    changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    assert "Grafana on 3000" in changelog and "Grafana on 3001" in changelog


def test_clean_update_from_main_brings_mains_changes_into_the_worktree(cast: Cast) -> None:
    a = ready_item(cast.editor, "Add a", "a.txt", "a\n", "Added a")
    b = make_work_item(cast.editor, title="Add b")
    assert cast.editor.post(f"/api/v1/work-items/{a['id']}/merge").status_code == 200
    # Main gained a's commit and its merge commit.
    assert cast.editor.get(f"/api/v1/work-items/{b['id']}/branch").json()["behind"] == 2
    update = cast.editor.post(f"/api/v1/work-items/{b['id']}/update-from-main").json()
    assert update == {"conflicts": [], "clean": True}
    assert cast.editor.get(f"/api/v1/work-items/{b['id']}/files/a.txt").json() == {"content": "a\n"}
    # Main's entry brought in by the update is not counted as this branch's own entry.
    codes = {p["code"] for p in cast.editor.get(f"/api/v1/work-items/{b['id']}/merge-check").json()["problems"]}
    assert "no_changelog_entry" in codes
    write_and_commit(cast.editor, b, "b.txt", "b\n", entry="Added b")
    finish_documentation(cast.editor, b)
    assert cast.editor.post(f"/api/v1/work-items/{b['id']}/merge").status_code == 200
