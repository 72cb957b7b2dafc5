"""Uncommitted changes in a worktree, and committing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.errors import Conflict, Invalid, NotFound

ALICE = gitrepo.Author(name="Alice Admin", email="alice@example.org")


def _by_path(changes: list[gitrepo.FileChange]) -> dict[str, gitrepo.FileChange]:
    return {c.path: c for c in changes}


def test_changes_list_added_modified_deleted_with_diffs(make_work) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="CHANGES.md", content="# Changelog\n\n- new\n")
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/new.md", content="hello\nworld\n")
    gitrepo.delete_worktree_file(worktree_path=work.path, path="docs/_templates/.gitkeep")
    (work.path / "logo.png").write_bytes(b"\x89PNG\x00\x00\x01")
    changes = gitrepo.worktree_changes(worktree_path=work.path)
    assert [c.path for c in changes] == sorted(c.path for c in changes)
    by_path = _by_path(changes)
    assert {p: c.status for p, c in by_path.items()} == {
        "CHANGES.md": "modified",
        "docs/new.md": "added",
        "docs/_templates/.gitkeep": "deleted",
        "logo.png": "added",
    }
    assert "+- new\n" in by_path["CHANGES.md"].diff
    assert by_path["CHANGES.md"].diff.startswith("diff --git a/CHANGES.md b/CHANGES.md")
    assert "--- /dev/null" in by_path["docs/new.md"].diff
    assert "+hello\n+world\n" in by_path["docs/new.md"].diff
    assert "+++ /dev/null" in by_path["docs/_templates/.gitkeep"].diff
    assert by_path["logo.png"].binary and by_path["logo.png"].diff == ""
    assert not by_path["CHANGES.md"].binary


def test_a_clean_worktree_has_no_changes(make_work) -> None:
    work = make_work()
    assert gitrepo.worktree_changes(worktree_path=work.path) == []


def test_files_matching_gitignore_still_count(make_work, commit_file) -> None:
    work = make_work()
    commit_file(work, ".gitignore", "*.log\nbuild/\n")
    gitrepo.write_worktree_file(worktree_path=work.path, path="notes.log", content="x\n")
    gitrepo.write_worktree_file(worktree_path=work.path, path="build/out/a.txt", content="y\n")
    assert [c.path for c in gitrepo.worktree_changes(worktree_path=work.path)] == [
        "build/out/a.txt",
        "notes.log",
    ]
    gitrepo.commit_worktree(worktree_path=work.path, message="Add ignored ones", author=ALICE)
    assert gitrepo.worktree_changes(worktree_path=work.path) == []


def test_commit_selected_files_only(repo: Path, make_work, run_git) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="a\n")
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/b.md", content="b\n")
    commit = gitrepo.commit_worktree(
        worktree_path=work.path, message="Add a\n\n\n", author=ALICE, files=["docs/a.md"]
    )
    assert gitrepo.branch_tip(repo_path=repo, branch=work.branch) == commit
    shown = run_git("--git-dir", str(repo), "show", "--name-only", "--format=%an <%ae>|%s", commit)
    assert shown.splitlines()[0] == "Alice Admin <alice@example.org>|Add a"
    assert "docs/a.md" in shown.splitlines() and "docs/b.md" not in shown
    assert [c.path for c in gitrepo.worktree_changes(worktree_path=work.path)] == ["docs/b.md"]
    assert run_git("log", "-1", "--format=%B", cwd=work.path) == "Add a\n\n"
    assert run_git("status", "--porcelain", cwd=work.path) == "?? docs/b.md\n"


def test_commit_all_changes_including_deletions(repo: Path, make_work, run_git) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="a\n")
    gitrepo.delete_worktree_file(worktree_path=work.path, path="docs/.gitkeep")
    gitrepo.commit_worktree(worktree_path=work.path, message="All", author=ALICE)
    tree = run_git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", work.branch).split()
    assert "docs/a.md" in tree and "docs/.gitkeep" not in tree
    assert run_git("status", "--porcelain", cwd=work.path) == ""


def test_a_deleted_file_listed_by_name_is_staged_as_removal(repo: Path, make_work, run_git) -> None:
    work = make_work()
    gitrepo.delete_worktree_file(worktree_path=work.path, path="docs/.gitkeep")
    gitrepo.commit_worktree(worktree_path=work.path, message="Drop", author=ALICE, files=["docs/.gitkeep"])
    assert "docs/.gitkeep" not in run_git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", work.branch)


def test_extra_files_are_written_and_committed(repo: Path, make_work, run_git) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="a\n")
    gitrepo.commit_worktree(
        worktree_path=work.path,
        message="With changelog",
        author=ALICE,
        files=["docs/a.md"],
        extra_files={"CHANGES.md": b"# Changelog\n\n- Added a\n"},
    )
    assert (
        run_git("--git-dir", str(repo), "show", f"{work.branch}:CHANGES.md") == "# Changelog\n\n- Added a\n"
    )
    assert (work.path / "CHANGES.md").read_text() == "# Changelog\n\n- Added a\n"
    assert run_git("status", "--porcelain", cwd=work.path) == ""


def test_nothing_to_commit_is_refused_and_changes_nothing(repo: Path, make_work, run_git) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="a\n")
    with pytest.raises(Conflict) as err:
        gitrepo.commit_worktree(
            worktree_path=work.path, message="Nothing", author=ALICE, files=["CHANGES.md"]
        )
    assert err.value.code == "nothing_to_commit"
    clean = make_work()
    with pytest.raises(Conflict) as err:
        gitrepo.commit_worktree(worktree_path=clean.path, message="Nothing", author=ALICE)
    assert err.value.code == "nothing_to_commit"
    assert gitrepo.branch_tip(repo_path=repo, branch=work.branch) == work.base
    assert run_git("status", "--porcelain", cwd=work.path) == "?? docs/a.md\n"


def test_a_failed_commit_stages_nothing(make_work, run_git) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="a\n")
    with pytest.raises(NotFound):
        gitrepo.commit_worktree(
            worktree_path=work.path, message="m", author=ALICE, files=["docs/a.md", "nope.md"]
        )
    assert run_git("status", "--porcelain", cwd=work.path) == "?? docs/a.md\n"


def test_a_failed_commit_leaves_nothing_staged_for_the_next_one(make_work, run_git) -> None:
    # The worktree's handle (and its index in memory) is kept between calls in a thread: what a failed
    # commit staged in memory must not ride along with the next commit.
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="a\n")
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/c.md", content="c\n")
    with pytest.raises(NotFound):
        gitrepo.commit_worktree(worktree_path=work.path, message="m", author=ALICE, files=["docs/a.md", "nope.md"])
    gitrepo.commit_worktree(worktree_path=work.path, message="c only", author=ALICE, files=["docs/c.md"])
    assert run_git("show", "--name-only", "--format=", "HEAD", cwd=work.path) == "docs/c.md\n"
    assert run_git("status", "--porcelain", cwd=work.path) == "?? docs/a.md\n"


def test_what_git_staged_outside_is_seen_and_kept(make_work, commit_file, run_git) -> None:
    work = make_work()
    commit_file(work, "docs/a.md", "1\n")  # this thread now keeps the worktree's handle
    (work.path / "docs" / "b.md").write_text("b\n")
    run_git("add", "docs/b.md", cwd=work.path)
    gitrepo.write_worktree_file(worktree_path=work.path, path="docs/a.md", content="2\n")
    gitrepo.commit_worktree(worktree_path=work.path, message="a again", author=ALICE, files=["docs/a.md"])
    # like `git commit`, the commit takes what the index holds: the file git staged goes in with it
    assert run_git("show", "--name-only", "--format=", "HEAD", cwd=work.path) == "docs/a.md\ndocs/b.md\n"
    assert run_git("status", "--porcelain", cwd=work.path) == ""


@pytest.mark.parametrize("message", ["", "   \n\n  "])
def test_an_empty_message_is_refused(make_work, message: str) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="a.md", content="a\n")
    with pytest.raises(Invalid):
        gitrepo.commit_worktree(worktree_path=work.path, message=message, author=ALICE)


def test_hostile_file_names_are_refused_when_committing(make_work) -> None:
    work = make_work()
    for bad in ("../x", ".git/config", "/etc/passwd"):
        with pytest.raises(Invalid):
            gitrepo.commit_worktree(worktree_path=work.path, message="m", author=ALICE, files=[bad])
    with pytest.raises(Invalid):
        gitrepo.commit_worktree(worktree_path=work.path, message="m", author=ALICE, extra_files={"../x": b""})


def test_a_bad_author_is_refused(make_work) -> None:
    work = make_work()
    gitrepo.write_worktree_file(worktree_path=work.path, path="a.md", content="a\n")
    with pytest.raises(Invalid):
        gitrepo.commit_worktree(
            worktree_path=work.path, message="m", author=gitrepo.Author(name="x <y>", email="a@b")
        )


def test_state_ahead_sees_what_worktree_state_sees(make_work, commit_file) -> None:
    # The merge check asks in a thread of its own: a tracked file edited in place outside Calcifer (no
    # folder of it changed) and an untracked file deep in a new folder both still count.
    work = make_work()
    commit_file(work, "docs/a.md", "a\n")
    (work.path / "docs" / "a.md").write_text("edited in place\n")
    (work.path / "deep" / "new").mkdir(parents=True)
    (work.path / "deep" / "new" / "x.txt").write_text("x\n")
    with gitrepo.worktree_state_ahead(worktree_path=work.path) as answer:
        conflicts, changes = answer()
    assert (conflicts, changes) == gitrepo.worktree_state(worktree_path=work.path)
    assert {c.path: c.status for c in changes} == {"deep/new/x.txt": "added", "docs/a.md": "modified"}


def test_state_ahead_of_a_missing_worktree_raises_when_asked(tmp_path: Path) -> None:
    with gitrepo.worktree_state_ahead(worktree_path=tmp_path / "gone") as answer, pytest.raises(NotFound):
        answer()
