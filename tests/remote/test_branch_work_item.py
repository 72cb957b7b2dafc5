"""A branch someone pushed to the remote becomes a work item's branch: fetched, checked like outside
changes, then documented and merged like any work item."""

from __future__ import annotations

from pathlib import Path

from calcifer.instance import AppContext
from tests.conftest import Cast
from tests.remote.conftest import laptop
from tests.remote.servers import run_git
from tests.remote.test_hostile import blob, plumb
from tests.remote.test_sync_file import connect
from tests.work.helpers import finish_documentation, git, write_and_commit

NEW = {"title": "Fix DNS from the laptop", "category": "service", "action": "fix"}


def push_branch(person_path: Path, branch: str, files: dict[str, str], message: str) -> str:
    run_git("checkout", "-q", "-b", branch, cwd=person_path)
    for name, content in files.items():
        (person_path / name).parent.mkdir(parents=True, exist_ok=True)
        (person_path / name).write_text(content)
        run_git("add", "--", name, cwd=person_path)
    run_git("commit", "-q", "-m", message, cwd=person_path)
    run_git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=person_path)
    return run_git("rev-parse", "HEAD", cwd=person_path).strip()


def test_a_pushed_branch_becomes_a_work_item_and_merges_like_one(cast: Cast, ctx: AppContext, remote: Path,
                                                                 tmp_path: Path) -> None:
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    person = laptop(remote, tmp_path)
    tip = push_branch(person.path, "laptop/fix-dns", {"dns/zone.txt": "ns1\n"}, "Fix the zone")
    response = cast.editor.post("/api/v1/repository/branches/work-item", json={**NEW, "branch": "laptop/fix-dns"})
    assert response.status_code == 201, response.text
    item_id, branch = response.json()["work_item_id"], response.json()["branch"]
    assert git(ctx.repo_path, "rev-parse", f"refs/heads/{branch}").strip() == tip
    item = cast.editor.get(f"/api/v1/work-items/{item_id}").json()
    assert cast.editor.get(f"/api/v1/work-items/{item_id}/files/dns/zone.txt").json()["content"] == "ns1\n"
    write_and_commit(cast.editor, item, "dns/README.md", "zone notes\n", entry="Fixed the DNS zone")
    finish_documentation(cast.editor, item)
    merged = cast.editor.post(f"/api/v1/work-items/{item_id}/merge")
    assert merged.status_code == 200, merged.text
    assert git(ctx.repo_path, "show", "main:dns/zone.txt") == "ns1\n"
    assert "Fixed the DNS zone" in git(ctx.repo_path, "show", "main:CHANGES.md")


def test_a_branch_that_is_missing_empty_or_hostile_is_refused_and_no_work_item_is_left(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    before = cast.viewer.get("/api/v1/work-items").json()["items"]
    missing = cast.editor.post("/api/v1/repository/branches/work-item", json={**NEW, "branch": "nope"})
    assert missing.status_code == 409 and "no branch nope" in missing.json()["error"]["message"]
    main = plumb(remote, "rev-parse", "main")
    plumb(remote, "update-ref", "refs/heads/same-as-main", main)
    empty = cast.editor.post("/api/v1/repository/branches/work-item", json={**NEW, "branch": "same-as-main"})
    assert empty.status_code == 409 and "no commits that main lacks" in empty.json()["error"]["message"]
    existing = plumb(remote, "ls-tree", "main").splitlines()
    link = f"120000 blob {blob(remote, b'../../../../etc/passwd')}\tpasswd"
    tree = plumb(remote, "mktree", stdin=("\n".join([*existing, link]) + "\n").encode())
    plumb(remote, "update-ref", "refs/heads/sneaky", plumb(remote, "commit-tree", tree, "-p", main, "-m", "x"))
    hostile = cast.editor.post("/api/v1/repository/branches/work-item", json={**NEW, "branch": "sneaky"})
    assert hostile.status_code == 409 and "symbolic link" in hostile.json()["error"]["message"]
    bad_name = cast.editor.post("/api/v1/repository/branches/work-item", json={**NEW, "branch": "-x"})
    assert bad_name.status_code in (400, 422)
    assert cast.viewer.get("/api/v1/work-items").json()["items"] == before
    assert cast.viewer.post("/api/v1/repository/branches/work-item", json={**NEW, "branch": "x"}).status_code == 403
