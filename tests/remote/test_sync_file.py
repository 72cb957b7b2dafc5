"""Remote sync against a real bare repository over file://: push after merge (by the background service),
outside commits integrated (fast-forward or merge) and adopted, conflicts and invalid content refused
with main untouched, an unreachable remote never blocking merges, the webhook's signature."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from calcifer import gitrepo
from calcifer.instance import AppContext
from tests.conftest import Cast
from tests.remote.conftest import laptop
from tests.remote.servers import bare_remote, remote_main, wait_until
from tests.work.helpers import git, ready_item


def connect(cast: Cast, url: str, **extra: object) -> dict:  # type: ignore[type-arg]
    response = cast.admin.put("/api/v1/repository/remote", json={"url": url, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def main_of(ctx: AppContext) -> str:
    return gitrepo.main_head(repo_path=ctx.repo_path)


def merge_item(cast: Cast, title: str, path: str, content: str, entry: str) -> None:
    item = ready_item(cast.editor, title, path, content, entry)
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/merge")
    assert response.status_code == 200, response.text


def test_a_merge_is_pushed_to_the_remote_by_the_background_service(cast: Cast, ctx: AppContext, remote: Path,
                                                                   sync: None) -> None:
    connect(cast, remote.as_uri())
    wait_until(lambda: remote_main(remote) == main_of(ctx))  # the first push creates the remote's main
    merge_item(cast, "Add notes", "notes/a.txt", "a\n", "Added notes")
    merged = main_of(ctx)
    wait_until(lambda: remote_main(remote) == merged)
    state = cast.admin.get("/api/v1/repository/remote").json()
    assert state["unpushed_commits"] == 0 and state["last_push_error"] is None
    assert state["last_push_commit"] == merged


def test_an_outside_commit_fast_forwards_main_and_is_adopted_into_a_work_item(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    outside = laptop(remote, tmp_path).commit({"notes/from-laptop.txt": "edited on a laptop\n"},
                                              "Add a note from the laptop")
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "fast_forward"
    assert main_of(ctx) == outside
    listed = cast.viewer.get("/api/v1/repository/outside-changes").json()
    assert [c["sha"] for c in listed["items"]] == [outside]
    assert listed["items"][0]["author_name"] == "Laptop Person" and listed["items"][0]["work_item_id"] is None
    panel = cast.viewer.get("/repository/outside-changes/panel").text
    assert outside[:10] in panel and "Adopt into a work item" not in panel  # viewers see it, cannot adopt
    assert "Adopt into a work item" in cast.editor.get("/repository/outside-changes/panel").text

    adopted = cast.editor.post(f"/api/v1/repository/outside-changes/{outside}/adopt",
                               json={"entry_text": "Noted the laptop's change"})
    assert adopted.status_code == 200, adopted.text
    item_id = adopted.json()["work_item_id"]
    item = cast.viewer.get(f"/api/v1/work-items/{item_id}").json()
    assert item["status"] == "complete" and outside in item["notes"]
    changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    assert "Noted the laptop's change" in changelog and f"#{item_id}" in changelog
    assert cast.editor.post(f"/api/v1/repository/outside-changes/{outside}/adopt").status_code == 409
    assert cast.viewer.get("/api/v1/repository/outside-changes?pending=true").json()["items"] == []


def test_both_sides_changed_different_files_merge_with_both_changelog_entries(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    person = laptop(remote, tmp_path)
    changelog = (person.path / "CHANGES.md").read_text()
    person.commit({"laptop.txt": "laptop\n",
                   "CHANGES.md": changelog.rstrip("\n") + "\n\n## 2026-01-02\n\n### Added\n\n- Laptop entry\n"},
                  "Laptop change")
    merge_item(cast, "Local change", "local.txt", "local\n", "Local entry")
    local = main_of(ctx)
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "merged"
    files = git(ctx.repo_path, "ls-tree", "-r", "--name-only", "main")
    assert "laptop.txt" in files and "local.txt" in files
    merged_changelog = git(ctx.repo_path, "show", "main:CHANGES.md")
    assert "Laptop entry" in merged_changelog and "Local entry" in merged_changelog
    assert "<<<<<<<" not in merged_changelog
    assert local in git(ctx.repo_path, "rev-list", "main")  # nothing of main was rewritten


def test_both_sides_changing_one_file_is_refused_with_the_file_and_main_untouched(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    connect(cast, remote.as_uri())
    merge_item(cast, "Write shared", "shared.txt", "one\n", "Shared file")
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    theirs = laptop(remote, tmp_path).commit({"shared.txt": "laptop\n"}, "Laptop edits shared.txt")
    merge_item(cast, "Edit shared", "shared.txt", "server\n", "Shared edited")
    before = main_of(ctx)
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "remote_conflict" and "shared.txt" in error["message"]
    assert main_of(ctx) == before
    state = cast.admin.get("/api/v1/repository/remote").json()
    assert state["last_fetch_outcome"] == "conflict" and state["last_fetch_files"] == ["shared.txt"]
    assert "shared.txt" in cast.admin.get("/settings/repository").text
    # The push is refused too (never forced): the remote keeps the laptop's commit.
    refused = cast.admin.post("/api/v1/repository/push").json()
    assert refused["pushed"] is None and refused["error"]
    assert remote_main(remote) == theirs
    assert git(ctx.repo_path, "show", "main:shared.txt") == "server\n"


def test_outside_commits_that_break_the_catalog_are_refused_with_the_problem(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    before = main_of(ctx)
    laptop(remote, tmp_path).commit({"catalog/services/broken.yaml": "slug: broken\nname: [unclosed\n"},
                                    "Broken service file")
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "remote_invalid"
    assert any(p.get("path") == "catalog/services/broken.yaml" for p in error["details"]["problems"])
    assert main_of(ctx) == before
    assert cast.viewer.get("/api/v1/repository/outside-changes").json()["items"] == []


def test_an_unreachable_remote_never_blocks_a_merge_and_the_push_catches_up(
        cast: Cast, ctx: AppContext, tmp_path: Path) -> None:
    later = tmp_path / "later" / "infra.git"
    connect(cast, later.as_uri())
    merge_item(cast, "Offline change", "offline.txt", "x\n", "Offline change")
    pushed = cast.admin.post("/api/v1/repository/push").json()
    assert pushed["pushed"] is None and pushed["error"]
    state = cast.admin.get("/api/v1/repository/remote").json()
    assert state["last_push_error"] and state["next_push_at"] is not None
    page = cast.admin.get("/settings/repository").text
    assert "The last push failed" in page
    bare_remote(later)
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    assert remote_main(later) == main_of(ctx)
    state = cast.admin.get("/api/v1/repository/remote").json()
    assert state["last_push_error"] is None and state["unpushed_commits"] == 0


def test_the_webhook_needs_a_valid_signature_then_fetches(cast: Cast, ctx: AppContext, remote: Path,
                                                          tmp_path: Path) -> None:
    connect(cast, remote.as_uri(), webhook_secret="s3cret-hook")
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    outside = laptop(remote, tmp_path).commit({"hooked.txt": "x\n"}, "Pushed to the forge")
    body = b'{"ref": "refs/heads/main"}'
    assert cast.outsider.post("/api/v1/repository/webhook", content=body).status_code == 401
    wrong = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    assert cast.outsider.post("/api/v1/repository/webhook", content=body,
                               headers={"X-Hub-Signature-256": wrong}).status_code == 401
    assert main_of(ctx) != outside
    good = "sha256=" + hmac.new(b"s3cret-hook", body, hashlib.sha256).hexdigest()
    response = cast.outsider.post("/api/v1/repository/webhook", content=body,
                                   headers={"X-Hub-Signature-256": good})
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "fast_forward" and main_of(ctx) == outside


def test_secrets_are_never_shown_back_and_an_ssh_key_shows_its_public_half(
        cast: Cast, ctx: AppContext, remote: Path) -> None:
    state = connect(cast, "https://git.example.org/infra.git", auth="token", username="calcifer",
                    token="tok-VERY-SECRET", webhook_secret="hook-VERY-SECRET")
    assert state["has_token"] and state["has_webhook_secret"]
    for text in (str(state), cast.admin.get("/api/v1/repository/remote").text,
                 cast.admin.get("/settings/repository").text, cast.admin.get("/api/v1/audit").text):
        assert "VERY-SECRET" not in text
    ssh = connect(cast, "git@git.example.org:ops/infra.git", auth="ssh")
    assert ssh["public_key"].startswith("ssh-ed25519 ") and not ssh["has_token"]
    again = connect(cast, "git@git.example.org:ops/infra.git", auth="ssh")
    assert again["public_key"] == ssh["public_key"]  # kept until a new one is asked for
    renewed = connect(cast, "git@git.example.org:ops/infra.git", auth="ssh", new_ssh_key=True)
    assert renewed["public_key"] != ssh["public_key"]
    assert "PRIVATE KEY" not in cast.admin.get("/api/v1/repository/remote").text


def test_bad_remote_urls_are_refused_with_a_sentence(cast: Cast) -> None:
    for url in ("--upload-pack=touch /tmp/x", "ext::sh -c touch% /tmp/x", "http://plain.example.org/r.git",
                "https://user:pw@example.org/r.git", "file://relative/path", "https://exa mple.org/r",
                "a@-oProxyCommand:x", "ssh://-oProxyCommand=touch/y", "git@host:-upload"):
        response = cast.admin.put("/api/v1/repository/remote", json={"url": url})
        assert response.status_code in (400, 422), url
        assert response.json()["error"]["message"]
    assert cast.editor.put("/api/v1/repository/remote", json={"url": "file:///srv/x.git"}).status_code == 403
    assert cast.admin.get("/api/v1/repository/remote").status_code == 404


def test_the_background_round_fetches_on_schedule_and_waits_out_a_failed_pushs_backoff(
        cast: Cast, ctx: AppContext, tmp_path: Path) -> None:
    import datetime as dt

    from calcifer.remote import service as remote_service
    from calcifer.remote import sync as remote_sync

    later = tmp_path / "later" / "infra.git"
    connect(cast, later.as_uri())
    remote_sync.run_once(ctx, fetch=False, wanted=True)  # the remote is not there yet: the push fails
    with ctx.session_factory() as session:
        config = remote_service.require_config(session=session)
        assert config.push_failures == 1 and config.next_push_at is not None
        waiting_until = config.next_push_at
        assert not remote_service.push_due(session=session, repo_path=ctx.repo_path, wanted=True)
        assert remote_service.push_due(session=session, repo_path=ctx.repo_path, wanted=False,
                                       now=waiting_until + dt.timedelta(seconds=1))
    bare_remote(later)
    with ctx.session_factory() as session:  # the backoff is over
        remote_service.require_config(session=session).next_push_at = dt.datetime.now(dt.UTC)
        session.commit()
    remote_sync.run_once(ctx, fetch=False, wanted=False)
    assert remote_main(later) == main_of(ctx)
    outside = laptop(later, tmp_path).commit({"scheduled.txt": "s\n"}, "Picked up by the schedule")
    remote_sync.run_once(ctx, fetch=True, wanted=False)
    assert main_of(ctx) == outside
    assert cast.admin.get("/api/v1/repository/remote").json()["last_fetch_outcome"] == "fast_forward"


def test_main_and_work_pushes_the_open_work_items_branches_too(cast: Cast, ctx: AppContext, remote: Path) -> None:
    from tests.work.helpers import make_work_item, write_and_commit

    item = make_work_item(cast.editor, title="Work in the open")
    write_and_commit(cast.editor, item, "open.txt", "o\n", entry="Open work")
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    branches = git(remote, "for-each-ref", "--format=%(refname)", "refs/heads/")
    assert branches.split() == ["refs/heads/main"]  # main only by default
    connect(cast, remote.as_uri(), push_scope="main_and_work")
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    assert git(remote, "rev-parse", f"refs/heads/{item['branch']}").strip() == \
        git(ctx.repo_path, "rev-parse", f"refs/heads/{item['branch']}").strip()


def test_a_work_branch_merged_on_the_forge_is_not_an_outside_change_but_the_forges_merge_is(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path) -> None:
    from tests.remote.servers import run_git
    from tests.work.helpers import make_work_item, write_and_commit

    item = make_work_item(cast.editor, title="Reviewed on the forge")
    branch_commit = write_and_commit(cast.editor, item, "reviewed.txt", "r\n", entry="Reviewed change")
    connect(cast, remote.as_uri(), push_scope="main_and_work")
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    person = laptop(remote, tmp_path)
    run_git("fetch", "-q", "origin", item["branch"], cwd=person.path)
    run_git("merge", "-q", "--no-ff", "-m", "Merge pull request #7", "FETCH_HEAD", cwd=person.path)
    run_git("push", "-q", "origin", "HEAD:main", cwd=person.path)
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 200, response.text
    recorded = response.json()["outside_changes"]
    assert len(recorded) == 1 and branch_commit not in recorded
