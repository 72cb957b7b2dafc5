"""Work branches and their linked worktrees: create, remove, repair, archive, history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.errors import Conflict, Invalid, NotFound


def _worktree_list(run_git, repo: Path) -> dict[str, str]:
    """git worktree list --porcelain as {path: branch ref}."""
    result: dict[str, str] = {}
    path = ""
    for line in run_git("--git-dir", str(repo), "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            path = line.split(" ", 1)[1]
            result[path] = ""
        elif line.startswith("branch "):
            result[path] = line.split(" ", 1)[1]
    return result


def test_create_work_branch_adds_branch_and_linked_worktree(repo: Path, tmp_path: Path, run_git) -> None:
    path = tmp_path / "deep" / "worktrees" / "wi-1"
    base = gitrepo.create_work_branch(
        repo_path=repo, branch="change/add/1-proxy", worktree_path=path, worktree_name="wi-1"
    )
    assert base == gitrepo.main_head(repo_path=repo)
    assert gitrepo.branch_tip(repo_path=repo, branch="change/add/1-proxy") == base
    assert _worktree_list(run_git, repo)[str(path)] == "refs/heads/change/add/1-proxy"
    assert (path / "CHANGES.md").read_text() == "# Changelog\n"
    assert run_git("status", "--porcelain", cwd=path) == ""
    assert gitrepo.list_worktrees(repo_path=repo) == {"wi-1": path}
    assert gitrepo.list_branches(repo_path=repo) == ["change/add/1-proxy", "main"]


def test_create_refuses_existing_branch_or_worktree_without_side_effects(
    repo: Path, make_work, tmp_path
) -> None:
    work = make_work()
    with pytest.raises(Conflict) as err:
        gitrepo.create_work_branch(
            repo_path=repo, branch=work.branch, worktree_path=tmp_path / "other", worktree_name="other"
        )
    assert err.value.code == "branch_exists"
    with pytest.raises(Conflict) as err:
        gitrepo.create_work_branch(
            repo_path=repo, branch="x/y/2-z", worktree_path=tmp_path / "other", worktree_name=work.name
        )
    assert err.value.code == "worktree_exists"
    assert not (tmp_path / "other").exists()
    assert not gitrepo.branch_exists(repo_path=repo, branch="x/y/2-z")


def test_create_refuses_a_non_empty_target_folder(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "file").write_text("mine")
    with pytest.raises(Conflict) as err:
        gitrepo.create_work_branch(
            repo_path=repo, branch="a/b/1-c", worktree_path=target, worktree_name="wi-1"
        )
    assert err.value.code == "worktree_path_exists"
    assert (target / "file").read_text() == "mine"
    assert not gitrepo.branch_exists(repo_path=repo, branch="a/b/1-c")


def test_a_failed_create_leaves_no_half_state(repo: Path, tmp_path: Path, run_git) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(Invalid):
        gitrepo.create_work_branch(
            repo_path=repo, branch="a/b/1-c", worktree_path=blocker / "wt", worktree_name="wi-1"
        )
    assert not gitrepo.branch_exists(repo_path=repo, branch="a/b/1-c")
    assert gitrepo.list_worktrees(repo_path=repo) == {}
    assert not (repo / "worktrees" / "wi-1").exists()
    # and the same names work afterwards
    gitrepo.create_work_branch(
        repo_path=repo, branch="a/b/1-c", worktree_path=tmp_path / "ok" / "wt", worktree_name="wi-1"
    )
    assert len(_worktree_list(run_git, repo)) == 2


@pytest.mark.parametrize(
    ("branch", "name"),
    [
        ("-evil", "wi-1"),
        ("a/-b", "wi-1"),
        ("a..b", "wi-1"),
        ("a b", "wi-1"),
        ("ok/1", "../x"),
        ("ok/1", "-x"),
    ],
)
def test_bad_branch_or_worktree_names_are_refused(repo: Path, tmp_path: Path, branch: str, name: str) -> None:
    with pytest.raises(Invalid):
        gitrepo.create_work_branch(
            repo_path=repo, branch=branch, worktree_path=tmp_path / "w", worktree_name=name
        )


def test_a_worktree_folder_containing_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(Invalid):
        gitrepo.remove_work_branch(repo_path=repo, branch="a/1", worktree_name="wi-1", worktree_path=tmp_path)
    assert repo.exists()


def test_remove_work_branch_removes_folder_record_and_branch(repo: Path, make_work, run_git) -> None:
    work = make_work()
    gitrepo.remove_work_branch(
        repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path
    )
    assert not work.path.exists()
    assert list(_worktree_list(run_git, repo)) == [str(repo)]
    assert not gitrepo.branch_exists(repo_path=repo, branch=work.branch)
    # idempotent
    gitrepo.remove_work_branch(
        repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path
    )


def test_remove_can_keep_the_branch(repo: Path, make_work) -> None:
    work = make_work()
    gitrepo.remove_work_branch(
        repo_path=repo,
        branch=work.branch,
        worktree_name=work.name,
        worktree_path=work.path,
        delete_branch=False,
    )
    assert gitrepo.branch_exists(repo_path=repo, branch=work.branch)
    assert gitrepo.list_worktrees(repo_path=repo) == {}


def test_ensure_worktree_is_a_no_op_for_a_sound_worktree(repo: Path, make_work) -> None:
    work = make_work()
    assert not gitrepo.ensure_worktree(
        repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path
    )


def test_ensure_worktree_recreates_a_deleted_folder(repo: Path, make_work, commit_file, run_git) -> None:
    work = make_work()
    commit_file(work, "docs/a.md", "committed\n")
    shutil.rmtree(work.path)
    assert gitrepo.ensure_worktree(
        repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path
    )
    assert (work.path / "docs/a.md").read_text() == "committed\n"
    assert _worktree_list(run_git, repo)[str(work.path)] == f"refs/heads/{work.branch}"
    assert run_git("status", "--porcelain", cwd=work.path) == ""


def test_ensure_worktree_repairs_a_lost_record_and_keeps_uncommitted_edits(
    repo: Path, make_work, run_git
) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/draft.md", content="draft\n")
    shutil.rmtree(repo / "worktrees" / work.name)  # e.g. restored data dir without the record
    assert gitrepo.ensure_worktree(
        repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path
    )
    assert (work.path / "docs/draft.md").read_text() == "draft\n"
    assert [c.path for c in gitrepo.worktree_changes(worktree_path=work.path)] == ["docs/draft.md"]
    assert not list(work.path.parent.glob("*.stale-*"))
    assert _worktree_list(run_git, repo)[str(work.path)] == f"refs/heads/{work.branch}"


def test_ensure_worktree_for_a_missing_branch_is_not_found(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        gitrepo.ensure_worktree(
            repo_path=repo, branch="no/such/1", worktree_name="wi-9", worktree_path=tmp_path / "w"
        )


def test_archive_tag_keeps_commits_reachable_after_branch_deletion(
    repo: Path, make_work, commit_file, run_git
) -> None:
    work = make_work()
    commit_id = commit_file(work, "docs/keep.md", "keep me\n")
    assert gitrepo.archive_branch(repo_path=repo, branch=work.branch) == f"archive/{work.branch}"
    assert gitrepo.archive_branch(repo_path=repo, branch=work.branch) == f"archive/{work.branch}-2"
    gitrepo.remove_work_branch(
        repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path
    )
    assert gitrepo.archive_branch(repo_path=repo, branch=work.branch) is None
    tag_target = run_git("--git-dir", str(repo), "rev-parse", f"refs/tags/archive/{work.branch}").strip()
    assert tag_target == commit_id
    run_git("--git-dir", str(repo), "prune", "--expire=now")
    assert run_git("--git-dir", str(repo), "cat-file", "-t", commit_id).strip() == "commit"


def test_commits_ahead_lists_branch_commits_newest_first(repo: Path, make_work, commit_file) -> None:
    work = make_work()
    first = commit_file(work, "a.md", "1\n", message="First change")
    second = commit_file(work, "b.md", "2\n", message="Second change\n\nWork-Item: 1")
    commits = gitrepo.commits_ahead(repo_path=repo, branch=work.branch)
    assert [c.id for c in commits] == [second, first]
    assert commits[0].summary == "Second change"
    assert commits[0].parents == [first]
    assert commits[0].author_name == "Alice Admin"
    assert commits[0].time.tzinfo is not None
    assert commits[0].short_id == second[:7]
    assert len(gitrepo.commits_ahead(repo_path=repo, branch=work.branch, limit=1)) == 1
    with pytest.raises(NotFound):
        gitrepo.commits_ahead(repo_path=repo, branch="no/such/1")


def test_find_commit_with_trailer_on_main(repo: Path, make_work, commit_file) -> None:
    work = make_work()
    commit_file(work, "a.md", "1\n")
    merge = gitrepo.merge_into_main(
        repo_path=repo,
        branch=work.branch,
        author=gitrepo.Author(name="A", email="a@x"),
        message="Merge change 12\n\nWork-Item: 12",
    )
    assert gitrepo.find_commit_with_trailer(repo_path=repo, trailer="Work-Item: 12") == merge
    assert gitrepo.find_commit_with_trailer(repo_path=repo, trailer="Work-Item: 1") is None


def test_file_history_lists_commits_touching_a_path(repo: Path, make_work, commit_file) -> None:
    work = make_work()
    first = commit_file(work, "docs/x.md", "1\n")
    commit_file(work, "docs/y.md", "other\n")
    third = commit_file(work, "docs/x.md", "2\n")
    history = gitrepo.file_history(repo_path=repo, path="docs/x.md", ref=work.branch)
    assert [c.id for c in history] == [third, first]
    assert [c.id for c in gitrepo.file_history(repo_path=repo, path="CHANGES.md")] == [
        gitrepo.main_head(repo_path=repo)
    ]


def test_file_history_matches_git_log_across_merges(repo: Path, make_work, commit_file, run_git) -> None:
    for round_ in range(3):
        a, b = make_work(f"a{round_}"), make_work(f"b{round_}")
        commit_file(a, "docs/shared.md", f"round {round_} from a\n")
        commit_file(b, "docs/other.md", f"round {round_} from b\n")
        commit_file(b, "docs/shared/nested.md", f"nested {round_}\n")
        gitrepo.merge_into_main(
            repo_path=repo, branch=a.branch, author=gitrepo.Author(name="A", email="a@x"), message="a"
        )
        gitrepo.merge_into_main(
            repo_path=repo, branch=b.branch, author=gitrepo.Author(name="B", email="b@x"), message="b"
        )
    for path in ("docs/shared.md", "docs/other.md", "docs/shared/nested.md", "docs", "CHANGES.md"):
        expected = run_git("--git-dir", str(repo), "log", "--format=%H", "main", "--", path).split()
        history = gitrepo.file_history(repo_path=repo, path=path)
        # same commits; the order of commits made within one second is not defined
        assert sorted(c.id for c in history) == sorted(expected), path
        assert [c.time for c in history] == sorted((c.time for c in history), reverse=True)


def test_worktrees_honour_gitattributes(repo: Path, make_work, commit_file, run_git) -> None:
    setup = make_work("attributes")
    commit_file(setup, ".gitattributes", "*.txt text eol=crlf\n")
    commit_file(setup, "notes.txt", "one\ntwo\n")
    gitrepo.merge_into_main(
        repo_path=repo, branch=setup.branch, author=gitrepo.Author(name="A", email="a@x"), message="m"
    )
    work = make_work("after")
    assert (work.path / "notes.txt").read_bytes() == b"one\r\ntwo\r\n"
    assert run_git("status", "--porcelain", cwd=work.path) == ""
    assert gitrepo.worktree_changes(worktree_path=work.path) == []


def test_ensure_worktree_refuses_a_branch_checked_out_elsewhere(
    repo: Path, make_work, tmp_path: Path
) -> None:
    work = make_work()
    with pytest.raises(Conflict) as err:
        gitrepo.ensure_worktree(
            repo_path=repo, branch=work.branch, worktree_name="other", worktree_path=tmp_path / "other"
        )
    assert err.value.code == "branch_checked_out"
    assert not (tmp_path / "other").exists()
    assert list(gitrepo.list_worktrees(repo_path=repo)) == [work.name]


def test_no_placeholder_branches_are_left_behind(repo: Path, make_work) -> None:
    make_work()
    make_work()
    assert all(not b.startswith("calcifer-tmp/") for b in gitrepo.list_branches(repo_path=repo))
