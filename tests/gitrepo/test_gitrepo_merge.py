"""Merging work branches into main, and main into work branches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.errors import Conflict

ALICE = gitrepo.Author(name="Alice Admin", email="alice@example.org")
BOB = gitrepo.Author(name="Bob Builder", email="bob@example.org")


def _parents(run_git, repo: Path, rev: str) -> list[str]:
    return run_git("--git-dir", str(repo), "log", "-1", "--format=%P", rev).split()


def _changelog(entry: str) -> str:
    return f"# Changelog\n\n- {entry}\n"


def test_merge_creates_a_two_parent_commit_even_when_main_did_not_move(
    repo: Path, make_work, commit_file, run_git
) -> None:
    work = make_work()
    tip = commit_file(work, "docs/a.md", "a\n")
    base = gitrepo.main_head(repo_path=repo)
    merge = gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="Merge change 1")
    assert gitrepo.main_head(repo_path=repo) == merge
    assert _parents(run_git, repo, "main") == [base, tip]
    assert run_git("--git-dir", str(repo), "log", "-1", "--format=%an <%ae>|%s", "main") == (
        "Bob Builder <bob@example.org>|Merge change 1\n"
    )
    assert run_git("--git-dir", str(repo), "show", "main:docs/a.md") == "a\n"
    status = gitrepo.branch_status(repo_path=repo, branch=work.branch)
    assert status == gitrepo.BranchStatus(exists=True, merged=True, ahead=0, behind=1, conflicts=[])


def test_merging_twice_is_refused(repo: Path, make_work, commit_file) -> None:
    work = make_work()
    commit_file(work, "docs/a.md", "a\n")
    gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="Merge")
    with pytest.raises(Conflict) as err:
        gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="Merge")
    assert err.value.code == "already_merged"


def test_conflicting_second_merge_is_refused_naming_the_file_and_main_is_unchanged(
    repo: Path, make_work, commit_file
) -> None:
    first, second = make_work("one"), make_work("two")
    commit_file(first, "catalog/services/web.yaml", "name: web\nport: 80\n")
    commit_file(second, "catalog/services/web.yaml", "name: web\nport: 8080\n")
    gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="Merge one")
    head = gitrepo.main_head(repo_path=repo)
    status = gitrepo.branch_status(repo_path=repo, branch=second.branch)
    assert status.conflicts == ["catalog/services/web.yaml"]
    assert (status.merged, status.ahead, status.behind) == (False, 1, 2)  # commit + merge
    with pytest.raises(Conflict) as err:
        gitrepo.merge_into_main(repo_path=repo, branch=second.branch, author=BOB, message="Merge two")
    assert err.value.code == "merge_conflict"
    assert [(p.code, p.message) for p in err.value.problems] == [
        ("merge_conflict", "catalog/services/web.yaml conflicts with main")
    ]
    assert gitrepo.main_head(repo_path=repo) == head


def test_changelog_conflicts_are_merged_by_the_merger(
    repo: Path, make_work, commit_file, run_git, merger
) -> None:
    first, second = make_work("one"), make_work("two")
    commit_file(first, "CHANGES.md", _changelog("Added one"))
    commit_file(second, "CHANGES.md", _changelog("Added two"))
    mergers = {"CHANGES.md": merger}
    gitrepo.merge_into_main(
        repo_path=repo, branch=first.branch, author=BOB, message="m1", file_mergers=mergers
    )
    assert gitrepo.branch_status(repo_path=repo, branch=second.branch).conflicts == ["CHANGES.md"]
    assert gitrepo.branch_status(repo_path=repo, branch=second.branch, file_mergers=mergers).conflicts == []
    gitrepo.merge_into_main(
        repo_path=repo, branch=second.branch, author=BOB, message="m2", file_mergers=mergers
    )
    changelog = run_git("--git-dir", str(repo), "show", "main:CHANGES.md")
    assert "- Added one" in changelog and "- Added two" in changelog
    assert "<<<<<<<" not in changelog


def test_concurrent_merges_from_two_threads_both_land(
    repo: Path, make_work, commit_file, run_git, merger
) -> None:
    works = [make_work(f"t{i}") for i in range(4)]
    for i, work in enumerate(works):
        commit_file(work, f"docs/t{i}.md", f"{i}\n")
        commit_file(work, "CHANGES.md", _changelog(f"Added t{i}"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(works))

    def merge(work) -> None:
        try:
            barrier.wait()
            gitrepo.merge_into_main(
                repo_path=repo,
                branch=work.branch,
                author=BOB,
                message=f"Merge {work.branch}",
                file_mergers={"CHANGES.md": merger},
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=merge, args=(w,)) for w in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    files = run_git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main").split()
    assert {f"docs/t{i}.md" for i in range(len(works))} <= set(files)
    changelog = run_git("--git-dir", str(repo), "show", "main:CHANGES.md")
    assert all(f"Added t{i}" in changelog for i in range(len(works)))
    merges = run_git(
        "--git-dir", str(repo), "log", "--first-parent", "--merges", "--format=%H", "main"
    ).split()
    assert len(merges) == len(works)
    for work in works:
        assert gitrepo.branch_status(repo_path=repo, branch=work.branch).merged


def test_update_from_main_clean(repo: Path, make_work, commit_file, run_git) -> None:
    first, second = make_work("one"), make_work("two")
    commit_file(first, "docs/one.md", "1\n")
    commit_file(second, "docs/two.md", "2\n")
    assert gitrepo.update_from_main(worktree_path=second.path, author=ALICE) == (None, [])  # nothing new
    main = gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="m1")
    before = gitrepo.branch_tip(repo_path=repo, branch=second.branch)
    commit, conflicts = gitrepo.update_from_main(worktree_path=second.path, author=ALICE)
    assert conflicts == [] and commit is not None
    assert _parents(run_git, repo, second.branch) == [before, main]
    assert (second.path / "docs/one.md").read_text() == "1\n"
    assert run_git("status", "--porcelain", cwd=second.path) == ""
    assert gitrepo.update_from_main(worktree_path=second.path, author=ALICE) == (None, [])
    status = gitrepo.branch_status(repo_path=repo, branch=second.branch)
    assert (status.merged, status.behind, status.conflicts) == (False, 0, [])


def test_update_from_main_on_a_branch_without_commits_still_makes_a_merge_commit(
    repo: Path, make_work, commit_file
) -> None:
    first, idle = make_work("one"), make_work("idle")
    commit_file(first, "docs/one.md", "1\n")
    gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="m1")
    commit, conflicts = gitrepo.update_from_main(worktree_path=idle.path, author=ALICE)
    assert commit is not None and conflicts == []
    # a fast-forward would make the idle branch look merged
    assert not gitrepo.branch_status(repo_path=repo, branch=idle.branch).merged


def test_update_from_main_refuses_uncommitted_changes(make_work) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="draft.md", content="x\n")
    with pytest.raises(Conflict) as err:
        gitrepo.update_from_main(worktree_path=work.path, author=ALICE)
    assert err.value.code == "uncommitted_changes"


def test_conflicting_update_is_resolved_by_writing_and_committing(
    repo: Path, make_work, commit_file, run_git, merger
) -> None:
    first, second = make_work("one"), make_work("two")
    commit_file(first, "catalog/services/web.yaml", "port: 80\n")
    commit_file(first, "CHANGES.md", _changelog("one"))
    commit_file(second, "catalog/services/web.yaml", "port: 8080\n")
    commit_file(second, "CHANGES.md", _changelog("two"))
    main = gitrepo.merge_into_main(
        repo_path=repo, branch=first.branch, author=BOB, message="m1", file_mergers={"CHANGES.md": merger}
    )
    before = gitrepo.branch_tip(repo_path=repo, branch=second.branch)

    commit, conflicts = gitrepo.update_from_main(
        worktree_path=second.path, author=ALICE, file_mergers={"CHANGES.md": merger}
    )
    assert (commit, conflicts) == (None, ["catalog/services/web.yaml"])
    assert gitrepo.worktree_conflicts(worktree_path=second.path) == ["catalog/services/web.yaml"]
    text = (second.path / "catalog/services/web.yaml").read_text()
    assert "<<<<<<< HEAD" in text and ">>>>>>> main" in text
    assert "one" in (second.path / "CHANGES.md").read_text()  # merged by the merger, not conflicted
    assert run_git("rev-parse", "MERGE_HEAD", cwd=second.path).strip() == main
    statuses = {c.path: c.status for c in gitrepo.worktree_changes(worktree_path=second.path)}
    assert statuses["catalog/services/web.yaml"] == "conflicted"
    with pytest.raises(Conflict) as err:
        gitrepo.update_from_main(worktree_path=second.path, author=ALICE)
    assert err.value.code == "merge_in_progress"

    # committing without resolving is refused
    with pytest.raises(Conflict) as err:
        gitrepo.commit_worktree(worktree_path=second.path, message="Resolve", author=ALICE)
    assert err.value.code == "unresolved_conflicts"
    assert [p.message for p in err.value.problems] == ["catalog/services/web.yaml still has merge conflicts"]

    gitrepo.write_worktree_file(
        worktree_path=second.path, path="catalog/services/web.yaml", content="port: 8081\n"
    )
    resolved = gitrepo.commit_worktree(
        worktree_path=second.path, message="Merge main", author=ALICE, files=["catalog/services/web.yaml"]
    )
    assert _parents(run_git, repo, resolved) == [before, main]
    assert gitrepo.worktree_conflicts(worktree_path=second.path) == []
    assert run_git("status", "--porcelain", cwd=second.path) == ""
    assert not (Path(run_git("rev-parse", "--git-dir", cwd=second.path).strip()) / "MERGE_HEAD").exists()

    status = gitrepo.branch_status(repo_path=repo, branch=second.branch, file_mergers={"CHANGES.md": merger})
    assert (status.behind, status.conflicts) == (0, [])
    gitrepo.merge_into_main(
        repo_path=repo, branch=second.branch, author=BOB, message="m2", file_mergers={"CHANGES.md": merger}
    )
    assert run_git("--git-dir", str(repo), "show", "main:catalog/services/web.yaml") == "port: 8081\n"


def test_a_branch_merged_outside_calcifer_is_reported_merged(
    repo: Path, make_work, commit_file, run_git, tmp_path: Path
) -> None:
    work = make_work()
    commit_file(work, "docs/a.md", "a\n")
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(repo), str(clone))
    run_git("merge", "-q", "--no-ff", "-m", "Merged by hand", f"origin/{work.branch}", cwd=clone)
    run_git("push", "-q", "origin", "HEAD:main", cwd=clone)
    status = gitrepo.branch_status(repo_path=repo, branch=work.branch)
    assert status.merged and status.ahead == 0 and status.conflicts == []
    with pytest.raises(Conflict) as err:
        gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="again")
    assert err.value.code == "already_merged"


def test_main_moved_by_an_outside_writer_is_not_overwritten(
    repo: Path, make_work, commit_file, run_git
) -> None:
    first = make_work("one")
    commit_file(first, "docs/a.md", "a\n")
    # an outside commit lands on main with plumbing (as a push would)
    tree = run_git("--git-dir", str(repo), "rev-parse", "main^{tree}").strip()
    old = gitrepo.main_head(repo_path=repo)
    outside = run_git("--git-dir", str(repo), "commit-tree", tree, "-p", old, "-m", "outside").strip()
    run_git("--git-dir", str(repo), "update-ref", "refs/heads/main", outside, old)
    merge = gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="m")
    assert _parents(run_git, repo, merge)[0] == outside


def test_status_of_a_missing_branch(repo: Path) -> None:
    assert gitrepo.branch_status(repo_path=repo, branch="no/such/1") == gitrepo.BranchStatus(
        exists=False, merged=False, ahead=0, behind=0, conflicts=[]
    )
