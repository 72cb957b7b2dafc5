"""Pull requests on GitHub, GitLab and Gitea/Forgejo.

No forge server can run here: each forge is a small HTTP server on 127.0.0.1 answering the recorded shapes
of its REST API (tests/pulls/forges.py), a stand-in at that one seam. The git side is real: a bare
repository over file:// as the remote, and the forge's merge is a real `git merge --no-ff` of the pushed
branch, pushed to that bare repository, exactly what a forge does on "Merge pull request".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.instance import AppContext
from tests.conftest import Cast
from tests.pulls import forges
from tests.remote.servers import Laptop, bare_remote, run_git
from tests.work.helpers import finish_documentation, make_work_item, ready_item, write_and_commit

REPOSITORIES = {"github": "infra/calcifer", "gitlab": "ops/infra/calcifer", "gitea": "infra/calcifer"}


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return bare_remote(tmp_path / "forge" / "infra.git")


@pytest.fixture(params=["github", "gitlab", "gitea"])
def forge(request: pytest.FixtureRequest) -> Iterator[forges.FakeForge]:
    server = forges.start(request.param, REPOSITORIES[request.param])
    yield server
    forges.stop(server)


@pytest.fixture
def gitea() -> Iterator[forges.FakeForge]:
    server = forges.start("gitea", REPOSITORIES["gitea"])
    yield server
    forges.stop(server)


def connect(cast: Cast, remote: Path, forge: forges.FakeForge, token: str = forges.TOKEN) -> None:
    response = cast.admin.put("/api/v1/repository/remote", json={"url": remote.as_uri()})
    assert response.status_code == 200, response.text
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    response = cast.admin.put("/api/v1/repository/forge", json={
        "kind": forge.kind, "api_url": forge.api_url, "repository": forge.repository, "token": token})
    assert response.status_code == 200, response.text


def forge_merge(remote: Path, tmp_path: Path, branch: str, number: int) -> str:
    """What the forge's merge button does: a merge commit of the branch on main, on the remote."""
    laptop = Laptop(remote, tmp_path / "forge-merge")
    run_git("fetch", "-q", "origin", cwd=laptop.path)
    run_git("merge", "-q", "--no-ff", "-m", f"Merge pull request #{number} from {branch}", f"origin/{branch}",
            cwd=laptop.path)
    run_git("push", "-q", "origin", "HEAD:main", cwd=laptop.path)
    return run_git("rev-parse", "HEAD", cwd=laptop.path).strip()


def remote_branch(remote: Path, branch: str) -> str | None:
    try:
        return run_git("--git-dir", str(remote), "rev-parse", "--verify", "-q", f"refs/heads/{branch}").strip()
    except AssertionError:
        return None


def test_a_pull_request_is_opened_merged_on_the_forge_and_completes_the_work_item_at_the_next_fetch(
        cast: Cast, ctx: AppContext, remote: Path, forge: forges.FakeForge, tmp_path: Path) -> None:
    connect(cast, remote, forge)
    item = ready_item(cast.editor, "Add grafana", "catalog/notes.txt", "grafana\n", "Added Grafana")
    cast.editor.patch(f"/api/v1/work-items/{item['id']}", json={"notes": "Grafana runs on host b; roll back "
                                                                   "by reverting."})
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request")
    assert response.status_code == 200, response.text
    pr = response.json()
    assert pr["number"] == 1 and pr["state"] == "open" and pr["url"].startswith("https://")
    branch = item["branch"]
    assert remote_branch(remote, branch) == gitrepo.branch_tip(repo_path=ctx.repo_path, branch=branch)

    created = [r for r in forge.requests if r.method == "POST"][-1]
    assert created.body is not None
    body = created.body["description" if forge.kind == "gitlab" else "body"]
    assert "Grafana runs on host b" in body                     # the notes
    assert "- [x] " in body                                     # the checklist, ticked
    assert "Added: Added Grafana" in body                       # the changelog entry
    head = created.body["source_branch" if forge.kind == "gitlab" else "head"]
    assert head == branch
    header = {"github": ("authorization", f"Bearer {forges.TOKEN}"), "gitlab": ("private-token", forges.TOKEN),
              "gitea": ("authorization", f"token {forges.TOKEN}")}[forge.kind]
    assert created.headers[header[0]] == header[1]

    panel = cast.viewer.get(f"/work/{item['id']}/pull-request/panel").text
    assert pr["url"] in panel and 'data-state="open"' in panel and "Open pull request" not in panel

    merge_commit = forge_merge(remote, tmp_path, branch, pr["number"])
    forge.merge(pr["number"], merge_commit)
    fetched = cast.editor.post("/api/v1/repository/fetch")
    assert fetched.status_code == 200, fetched.text
    assert gitrepo.main_head(repo_path=ctx.repo_path) == merge_commit
    done = cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()
    assert done["status"] == "complete" and done["merge_commit"] == merge_commit
    # The forge's merge commit is the work item's doing, not an outside change to adopt.
    assert fetched.json()["outside_changes"] == []
    assert cast.viewer.get("/api/v1/repository/outside-changes").json()["items"] == []
    state = cast.viewer.get(f"/api/v1/work-items/{item['id']}/pull-request").json()
    assert state["state"] == "merged"
    assert 'data-state="merged"' in cast.viewer.get(f"/work/{item['id']}/pull-request/panel").text


def test_unmet_rules_after_the_forge_merged_are_posted_once_and_the_work_item_stays_open(
        cast: Cast, ctx: AppContext, remote: Path, gitea: forges.FakeForge, tmp_path: Path) -> None:
    connect(cast, remote, gitea)
    item = make_work_item(cast.editor, title="Tune DNS")
    write_and_commit(cast.editor, item, "dns.txt", "ttl 60\n", entry="Changed the DNS TTL", entry_type="Changed")
    assert item["checklist"], "the work item needs a checklist item to leave undone"
    pr = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request").json()
    merge_commit = forge_merge(remote, tmp_path, item["branch"], pr["number"])
    gitea.merge(pr["number"], merge_commit)

    assert cast.editor.post("/api/v1/repository/fetch").status_code == 200
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()["status"] != "complete"
    comments = gitea.comments[pr["number"]]
    assert len(comments) == 1
    assert "checklist item(s) not done" in comments[0] and "notes are empty" in comments[0]
    assert cast.viewer.get("/api/v1/repository/outside-changes").json()["items"] == []
    panel = cast.editor.get(f"/work/{item['id']}/pull-request/panel").text
    assert 'data-state="merged"' in panel and "Open pull request" not in panel
    again = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_merged"

    assert cast.editor.post("/api/v1/repository/fetch").status_code == 200  # the same problems: no new comment
    assert len(gitea.comments[pr["number"]]) == 1

    finish_documentation(cast.editor, item)
    assert cast.editor.post("/api/v1/repository/fetch").status_code == 200
    done = cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()
    assert done["status"] == "complete" and done["merge_commit"] == merge_commit
    assert len(gitea.comments[pr["number"]]) == 1


def test_a_wrong_token_is_refused_on_the_api_and_the_settings_page_and_nothing_is_saved(
        cast: Cast, gitea: forges.FakeForge) -> None:
    response = cast.admin.put("/api/v1/repository/forge", json={
        "kind": "gitea", "api_url": gitea.api_url, "repository": gitea.repository, "token": "wrong"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "forge_refused" and "refused the token" in error["message"]
    assert "user does not exist" in error["message"]  # the forge's own words
    assert cast.admin.get("/api/v1/repository/forge").status_code == 404

    page = cast.admin.post("/settings/repository/forge", data={
        "kind": "gitea", "api_url": gitea.api_url, "repository": gitea.repository, "token": "wrong"},
        follow_redirects=True)
    assert page.status_code == 200
    assert "Pull requests not saved" in page.text and "refused the token" in page.text
    assert cast.admin.get("/api/v1/repository/forge").status_code == 404
    missing = cast.admin.put("/api/v1/repository/forge", json={
        "kind": "gitea", "api_url": gitea.api_url, "repository": "nobody/nothing", "token": forges.TOKEN})
    assert missing.status_code == 422 and "nobody/nothing" in missing.json()["error"]["message"]


def test_the_token_is_sealed_and_never_shown_back(cast: Cast, ctx: AppContext, remote: Path,
                                                  gitea: forges.FakeForge) -> None:
    connect(cast, remote, gitea)
    shown = cast.admin.get("/api/v1/repository/forge").json()
    assert shown == {"kind": "gitea", "api_url": gitea.api_url, "repository": gitea.repository, "has_token": True}
    assert forges.TOKEN not in cast.admin.get("/settings/repository/forge").text
    assert forges.TOKEN not in cast.admin.get("/api/v1/audit").text
    # A change without a token keeps the stored one (checked with the forge again).
    kept = cast.admin.put("/api/v1/repository/forge", json={
        "kind": "gitea", "api_url": gitea.api_url + "/", "repository": gitea.repository})
    assert kept.status_code == 200 and kept.json()["has_token"]
    assert cast.viewer.get("/api/v1/repository/forge").status_code == 403


def test_an_unreachable_forge_is_a_clear_error_and_nothing_is_half_done(
        cast: Cast, ctx: AppContext, remote: Path, gitea: forges.FakeForge) -> None:
    connect(cast, remote, gitea)
    item = ready_item(cast.editor, "Add loki", "loki.txt", "loki\n", "Added Loki")
    forges.stop(gitea)
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "forge_unreachable" and "could not be reached" in error["message"]
    assert remote_branch(remote, item["branch"]) is None           # nothing pushed
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}/pull-request").status_code == 404
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()["status"] != "complete"
    # The page form says the same, and the work item can still be merged here.
    page = cast.editor.post(f"/work/{item['id']}/pull-request", follow_redirects=True)
    assert "could not be reached" in page.text
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200
    # Setting the forge while it is away is refused too, and the stored settings stay.
    again = cast.admin.put("/api/v1/repository/forge", json={
        "kind": "gitea", "api_url": gitea.api_url, "repository": "infra/other", "token": forges.TOKEN})
    assert again.status_code == 409 and again.json()["error"]["code"] == "forge_unreachable"
    assert cast.admin.get("/api/v1/repository/forge").json()["repository"] == gitea.repository


def test_without_a_forge_there_is_no_pull_request_button_and_the_api_says_what_to_set(
        cast: Cast, remote: Path) -> None:
    item = ready_item(cast.editor, "Add tempo", "tempo.txt", "tempo\n", "Added Tempo")
    assert "Open pull request" not in cast.editor.get(f"/work/{item['id']}/pull-request/panel").text
    response = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request")
    assert response.status_code == 404 and response.json()["error"]["code"] in ("no_remote", "no_forge")
    assert cast.viewer.post(f"/api/v1/work-items/{item['id']}/pull-request").status_code == 403


def test_a_pull_request_closed_on_the_forge_shows_closed_and_a_new_one_can_be_opened(
        cast: Cast, ctx: AppContext, remote: Path, gitea: forges.FakeForge) -> None:
    connect(cast, remote, gitea)
    empty = make_work_item(cast.editor, title="Nothing yet")
    refused = cast.editor.post(f"/api/v1/work-items/{empty['id']}/pull-request")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "no_commits"
    item = ready_item(cast.editor, "Add mimir", "mimir.txt", "mimir\n", "Added Mimir")
    first = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request").json()
    again = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request").json()
    assert again["number"] == first["number"]  # still open: the branch is pushed again, no second one
    gitea.close(first["number"])
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}/pull-request").json()["state"] == "closed"
    panel = cast.editor.get(f"/work/{item['id']}/pull-request/panel").text
    assert 'data-state="closed"' in panel and "Open pull request" in panel
    second = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request")
    assert second.status_code == 200 and second.json()["number"] == first["number"] + 1
    assert second.json()["state"] == "open"
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()["status"] != "complete"


def forge_squash(remote: Path, tmp_path: Path, branch: str, number: int, *, merge_commit: bool) -> tuple[str, str]:
    """The forge's squash merge: the branch's changes as one new commit on main (GitHub, Gitea); GitLab
    (its default merge method) also puts a merge commit over it. Returns (merge_commit_sha, squash commit)."""
    laptop = Laptop(remote, tmp_path / "forge-squash")
    run_git("fetch", "-q", "origin", cwd=laptop.path)
    if merge_commit:
        base = run_git("merge-base", "origin/main", f"origin/{branch}", cwd=laptop.path).strip()
        run_git("checkout", "-q", "-b", "squashed", base, cwd=laptop.path)
    run_git("merge", "-q", "--squash", f"origin/{branch}", cwd=laptop.path)
    run_git("commit", "-q", "-m", f"Squashed pull request #{number}", cwd=laptop.path)
    squash = run_git("rev-parse", "HEAD", cwd=laptop.path).strip()
    if merge_commit:
        run_git("checkout", "-q", "main", cwd=laptop.path)
        run_git("merge", "-q", "--no-ff", "-m", f"Merge branch '{branch}' into 'main'", squash, cwd=laptop.path)
    run_git("push", "-q", "origin", "HEAD:main", cwd=laptop.path)
    return run_git("rev-parse", "HEAD", cwd=laptop.path).strip(), squash


def forge_rebase(remote: Path, tmp_path: Path, branch: str) -> str:
    """The forge's rebase merge: the branch's commits written again on main's tip (new commits, also when
    main did not move), main moved to the last one. Returns that commit (the forge's merge_commit_sha)."""
    laptop = Laptop(remote, tmp_path / "forge-rebase")
    run_git("fetch", "-q", "origin", cwd=laptop.path)
    run_git("checkout", "-q", "-b", "rebased", f"origin/{branch}", cwd=laptop.path)
    run_git("rebase", "-q", "--force-rebase", "origin/main", cwd=laptop.path)
    run_git("push", "-q", "origin", "HEAD:main", cwd=laptop.path)
    return run_git("rev-parse", "HEAD", cwd=laptop.path).strip()


@pytest.mark.parametrize(("kind", "method"), [("github", "squash"), ("github", "rebase"), ("gitlab", "squash"),
                                              ("gitea", "squash"), ("gitea", "rebase")])
def test_a_squash_or_rebase_merge_on_the_forge_completes_the_work_item_and_is_no_outside_change(
        cast: Cast, ctx: AppContext, remote: Path, tmp_path: Path, kind: str, method: str) -> None:
    server = forges.start(kind, REPOSITORIES[kind])
    try:
        connect(cast, remote, server)
        item = ready_item(cast.editor, "Add vector", "vector.txt", "vector\n", "Added Vector")
        write_and_commit(cast.editor, item, "vector.toml", "[sources]\n", entry=None)
        branch = item["branch"]
        pr = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request").json()
        # Someone pushes to main from a laptop meanwhile: that one stays an outside change.
        laptop = Laptop(remote, tmp_path / "laptop").commit({"laptop.txt": "edited elsewhere\n"}, "Laptop edit")
        if method == "squash":
            merged, squash = forge_squash(remote, tmp_path, branch, pr["number"], merge_commit=kind == "gitlab")
            server.merge(pr["number"], merged, squash if kind == "gitlab" else None)
        else:
            merged = forge_rebase(remote, tmp_path, branch)
            server.merge(pr["number"], merged)
        fetched = cast.editor.post("/api/v1/repository/fetch")
        assert fetched.status_code == 200, fetched.text
        assert gitrepo.main_head(repo_path=ctx.repo_path) == merged
        done = cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()
        assert done["status"] == "complete", done
        assert done["merge_commit"] == merged
        assert fetched.json()["outside_changes"] == [laptop]
        listed = cast.viewer.get("/api/v1/repository/outside-changes").json()["items"]
        assert [change["sha"] for change in listed] == [laptop]
        assert cast.viewer.get(f"/api/v1/work-items/{item['id']}/pull-request").json()["state"] == "merged"
        assert gitrepo.read_file_at(repo_path=ctx.repo_path, path="vector.toml", ref="main") == b"[sources]\n"
    finally:
        forges.stop(server)


def test_a_squash_that_lacks_the_branch_s_changes_does_not_complete_the_work_item(
        cast: Cast, ctx: AppContext, remote: Path, gitea: forges.FakeForge, tmp_path: Path) -> None:
    connect(cast, remote, gitea)
    item = ready_item(cast.editor, "Add tempo", "tempo.txt", "tempo\n", "Added Tempo")
    pr = cast.editor.post(f"/api/v1/work-items/{item['id']}/pull-request").json()
    # The forge says merged, but names a commit whose files are not the branch's.
    other = Laptop(remote, tmp_path / "laptop").commit({"other.txt": "other\n"}, "Something else")
    gitea.merge(pr["number"], other)
    assert cast.editor.post("/api/v1/repository/fetch").status_code == 200
    assert cast.viewer.get(f"/api/v1/work-items/{item['id']}").json()["status"] != "complete"
    listed = cast.viewer.get("/api/v1/repository/outside-changes").json()["items"]
    assert [change["sha"] for change in listed] == [other]
    state = cast.viewer.get(f"/api/v1/work-items/{item['id']}/pull-request").json()
    assert "lack the branch's changes" in (state["last_error"] or "")
