"""Merging work branches into main, and main into work branches."""

from __future__ import annotations

import subprocess
import sys
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


MERGE_IN_CHILD = """
import sys
from pathlib import Path
from calcifer import gitrepo

def union(base, ours, theirs):
    lines = ours.decode().splitlines()
    lines += [line for line in theirs.decode().splitlines() if line not in lines]
    return ("\\n".join(lines) + "\\n").encode()

gitrepo.merge_into_main(
    repo_path=Path(sys.argv[1]),
    branch=sys.argv[2],
    author=gitrepo.Author(name="Proc", email="proc@example.org"),
    message="Merge " + sys.argv[2],
    file_mergers={"CHANGES.md": union},
)
"""


def test_concurrent_merges_from_separate_processes_all_land(
    repo: Path, make_work, commit_file, run_git
) -> None:
    works = [make_work(f"p{i}") for i in range(3)]
    for i, work in enumerate(works):
        commit_file(work, f"docs/p{i}.md", f"{i}\n")
        commit_file(work, "CHANGES.md", _changelog(f"Added p{i}"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MERGE_IN_CHILD, str(repo), work.branch], stderr=subprocess.PIPE
        )
        for work in works
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    changelog = run_git("--git-dir", str(repo), "show", "main:CHANGES.md")
    assert all(f"Added p{i}" in changelog for i in range(len(works)))
    merges = run_git(
        "--git-dir", str(repo), "log", "--first-parent", "--merges", "--format=%H", "main"
    ).split()
    assert len(merges) == len(works)


def test_update_from_main_clean(repo: Path, make_work, commit_file, run_git) -> None:
    first, second = make_work("one"), make_work("two")
    commit_file(first, "docs/one.md", "1\n")
    commit_file(first, "catalog/services/new/deep.yaml", "deep: true\n")
    gitrepo.delete_worktree_file(worktree_path=first.path, path="docs/_templates/.gitkeep")
    gitrepo.commit_worktree(worktree_path=first.path, message="drop", author=ALICE)
    commit_file(second, "docs/two.md", "2\n")
    assert gitrepo.update_from_main(worktree_path=second.path, author=ALICE) == (None, [])  # nothing new
    main = gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="m1")
    before = gitrepo.branch_tip(repo_path=repo, branch=second.branch)
    commit, conflicts = gitrepo.update_from_main(worktree_path=second.path, author=ALICE)
    assert conflicts == [] and commit is not None
    assert _parents(run_git, repo, second.branch) == [before, main]
    assert (second.path / "docs/one.md").read_text() == "1\n"
    assert (second.path / "catalog/services/new/deep.yaml").read_text() == "deep: true\n"
    assert not (second.path / "docs/_templates/.gitkeep").exists()
    assert (second.path / "docs/two.md").read_text() == "2\n"
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
    by_hand = run_git("rev-parse", "HEAD", cwd=clone).strip()
    assert gitrepo.find_merging_commit(repo_path=repo, branch=work.branch) == by_hand


def test_find_merging_commit_and_merge_base(repo: Path, make_work, commit_file, run_git) -> None:
    first, second, idle = make_work("one"), make_work("two"), make_work("idle")
    base = gitrepo.main_head(repo_path=repo)
    tip = commit_file(first, "docs/a.md", "a\n")
    assert gitrepo.merge_base(repo_path=repo, branch=first.branch) == base
    assert gitrepo.merge_base(repo_path=repo, branch="no/such/1") is None
    assert gitrepo.find_merging_commit(repo_path=repo, branch=first.branch) is None
    assert gitrepo.find_merging_commit(repo_path=repo, branch="no/such/1") is None
    # fast-forwarded outside Calcifer: the tip itself is where it landed
    run_git("--git-dir", str(repo), "update-ref", "refs/heads/main", tip, base)
    assert gitrepo.find_merging_commit(repo_path=repo, branch=first.branch) == tip
    # a real merge, followed by more work on main
    commit_file(second, "docs/b.md", "b\n")
    merge = gitrepo.merge_into_main(repo_path=repo, branch=second.branch, author=BOB, message="m")
    third = make_work("three")
    commit_file(third, "docs/c.md", "c\n")
    gitrepo.merge_into_main(repo_path=repo, branch=third.branch, author=BOB, message="m3")
    assert gitrepo.find_merging_commit(repo_path=repo, branch=second.branch) == merge
    assert gitrepo.find_merging_commit(repo_path=repo, branch=first.branch) == tip
    assert gitrepo.merge_base(repo_path=repo, branch=second.branch) == gitrepo.branch_tip(
        repo_path=repo, branch=second.branch
    )
    # a work branch without commits of its own has not landed anywhere
    assert gitrepo.find_merging_commit(repo_path=repo, branch=idle.branch) is None


def test_a_fresh_work_branch_is_neither_merged_nor_mergeable(
    repo: Path, make_work, commit_file, run_git
) -> None:
    fresh, other = make_work("fresh"), make_work("other")
    assert gitrepo.branch_status(repo_path=repo, branch=fresh.branch) == gitrepo.BranchStatus(
        exists=True, merged=False, ahead=0, behind=0, conflicts=[]
    )
    commit_file(other, "docs/o.md", "o\n")
    gitrepo.merge_into_main(repo_path=repo, branch=other.branch, author=BOB, message="m")
    status = gitrepo.branch_status(repo_path=repo, branch=fresh.branch)
    assert (status.merged, status.ahead, status.behind) == (False, 0, 2)
    with pytest.raises(Conflict) as err:
        gitrepo.merge_into_main(repo_path=repo, branch=fresh.branch, author=BOB, message="m")
    assert err.value.code == "no_commits"
    # the recorded start goes away with the branch
    gitrepo.remove_work_branch(
        repo_path=repo, branch=fresh.branch, worktree_name=fresh.name, worktree_path=fresh.path
    )
    assert run_git("--git-dir", str(repo), "for-each-ref", f"refs/calcifer/base/{fresh.branch}") == ""


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


def _apply(work, edits: dict[str, str | None]) -> None:
    for path, content in edits.items():
        if content is None:
            gitrepo.delete_worktree_file(worktree_path=work.path, path=path)
        else:
            gitrepo.write_worktree_file(worktree_path=work.path, path=path, content=content)
    gitrepo.commit_worktree(worktree_path=work.path, message="edit", author=ALICE)


CLEAN_CASES = {
    "different files in one folder": (
        {"docs/a.md": "a\n", "docs/_templates/t.md": "t\n"},
        {"docs/b.md": "b\n"},
    ),
    "both add the same file": ({"docs/same.md": "same\n"}, {"docs/same.md": "same\n", "docs/x.md": "x\n"}),
    "a folder emptied from both sides": (
        {"catalog/services/.gitkeep": None},
        {"catalog/endpoints/.gitkeep": None},
    ),
    "a deletion beside an addition": ({"docs/.gitkeep": None}, {"docs/new.md": "new\n"}),
    "an edit in a file the branch renamed": (
        {"docs/guide.md": "line 1\nline 2 changed on main\nline 3\nline 4\nline 5\nline 6\n"},
        {"docs/guide.md": None, "docs/handbook.md": "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n"},
    ),
    "the same line changed in a different region": (
        {"docs/guide.md": "line 1 on main\nline 2\nline 3\nline 4\nline 5\nline 6\n"},
        {"docs/guide.md": "line 1\nline 2\nline 3\nline 4\nline 5\nline 6 on branch\n"},
    ),
}


@pytest.mark.parametrize("case", sorted(CLEAN_CASES))
def test_merge_result_matches_git_merge_tree(repo: Path, make_work, commit_file, run_git, case: str) -> None:
    setup = make_work("setup")
    commit_file(setup, "docs/guide.md", "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n")
    gitrepo.merge_into_main(repo_path=repo, branch=setup.branch, author=BOB, message="setup")
    on_main, on_branch = CLEAN_CASES[case]
    first, second = make_work("main-side"), make_work("branch-side")
    _apply(first, on_main)
    _apply(second, on_branch)
    gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="first")
    expected = run_git("--git-dir", str(repo), "merge-tree", "--write-tree", "main", second.branch).split()[0]
    assert gitrepo.branch_status(repo_path=repo, branch=second.branch).conflicts == []
    gitrepo.merge_into_main(repo_path=repo, branch=second.branch, author=BOB, message="second")
    assert run_git("--git-dir", str(repo), "rev-parse", "main^{tree}").strip() == expected


CONFLICT_CASES = {
    "both edit the same line": (
        {"CHANGES.md": "# Changelog\nmain\n"},
        {"CHANGES.md": "# Changelog\nbranch\n"},
    ),
    "edit against deletion": ({"docs/.gitkeep": "kept\n"}, {"docs/.gitkeep": None}),
    "file against folder": ({"docs/x": "file\n"}, {"docs/x/y.md": "inside\n"}),
    "both add different files": ({"docs/n.md": "one\n"}, {"docs/n.md": "two\n"}),
}


@pytest.mark.parametrize("case", sorted(CONFLICT_CASES))
def test_conflicts_are_found_like_git_merge_tree(repo: Path, make_work, run_git, case: str) -> None:
    on_main, on_branch = CONFLICT_CASES[case]
    first, second = make_work("main-side"), make_work("branch-side")
    _apply(first, on_main)
    _apply(second, on_branch)
    gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=BOB, message="first")
    head = gitrepo.main_head(repo_path=repo)
    with pytest.raises(subprocess.CalledProcessError):  # git merge-tree exits 1 on conflicts
        run_git("--git-dir", str(repo), "merge-tree", "--write-tree", "main", second.branch)
    assert gitrepo.branch_status(repo_path=repo, branch=second.branch).conflicts
    with pytest.raises(Conflict) as err:
        gitrepo.merge_into_main(repo_path=repo, branch=second.branch, author=BOB, message="second")
    assert err.value.code == "merge_conflict"
    assert gitrepo.main_head(repo_path=repo) == head
