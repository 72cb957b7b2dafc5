"""Spare worktrees: a merged work item's worktree is reused for the next one, which must still hold
exactly its branch (checked with the git CLI), whatever the spare held."""

from __future__ import annotations

import os
import time
from pathlib import Path

from calcifer import gitrepo
from calcifer.gitrepo import spares

ALICE = gitrepo.Author(name="Alice Admin", email="alice@example.org")


def _merge_and_retire(repo: Path, work, *, retire: bool = True) -> bool:
    gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=ALICE, message=f"Merge {work.branch}")
    retired = retire and gitrepo.retire_worktree(repo_path=repo, worktree_name=work.name, worktree_path=work.path)
    gitrepo.remove_work_branch(repo_path=repo, branch=work.branch, worktree_name=work.name, worktree_path=work.path)
    return retired


def _files_on_disk(root: Path) -> set[str]:
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            if not (folder == str(root) and name == ".git"):
                found.add(str(Path(folder, name).relative_to(root)))
    return found


def _assert_exactly_main(run_git, repo: Path, work) -> None:
    """The worktree holds main's files, nothing else, and git sees nothing to commit or ignore."""
    listed = set(run_git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", "main").splitlines())
    assert _files_on_disk(work.path) == listed
    for path in listed:
        expected = run_git("--git-dir", str(repo), "show", f"main:{path}")
        assert (work.path / path).read_text() == expected, path
    assert run_git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=work.path) == ""
    assert run_git("rev-parse", "--abbrev-ref", "HEAD", cwd=work.path).strip() == work.branch
    assert run_git("rev-parse", "HEAD", cwd=work.path).strip() == gitrepo.main_head(repo_path=repo)


def test_a_merged_worktree_becomes_the_next_one_holding_exactly_its_branch(
    repo: Path, make_work, commit_file, run_git
) -> None:
    first = make_work("first")
    gitrepo.write_worktree_file(worktree_path=first.path, path=".gitignore", content="*.log\n")
    gitrepo.write_worktree_file(worktree_path=first.path, path="docs/keep.md", content="one\n")
    gitrepo.write_worktree_file(worktree_path=first.path, path="docs/gone.md", content="bye\n")
    gitrepo.commit_worktree(worktree_path=first.path, message="First", author=ALICE, files=None)
    gitrepo.merge_into_main(repo_path=repo, branch=first.branch, author=ALICE, message="Merge first")
    # main moves on after the first work item: a file changed, one deleted, one added
    second = make_work("second")
    gitrepo.write_worktree_file(worktree_path=second.path, path="docs/keep.md", content="two\n")
    gitrepo.delete_worktree_file(worktree_path=second.path, path="docs/gone.md")
    gitrepo.write_worktree_file(worktree_path=second.path, path="docs/new.md", content="new\n")
    gitrepo.commit_worktree(worktree_path=second.path, message="Second", author=ALICE, files=None)
    # the first worktree picked up litter after its merge: an ignored, an untracked and an edited file
    (first.path / "debug.log").write_text("noise\n")
    (first.path / "docs" / "stray.md").write_text("stray\n")
    (first.path / "docs" / "keep.md").write_text("edited after the check\n")
    first_inode = first.path.stat().st_ino
    assert gitrepo.retire_worktree(repo_path=repo, worktree_name=first.name, worktree_path=first.path)
    gitrepo.remove_work_branch(repo_path=repo, branch=first.branch, worktree_name=first.name, worktree_path=first.path)
    assert not first.path.exists()
    assert _merge_and_retire(repo, second, retire=False) is False

    third = make_work("third")

    assert third.path.stat().st_ino == first_inode  # the spare's folder, not a fresh checkout
    _assert_exactly_main(run_git, repo, third)
    assert (third.path / "docs" / "keep.md").read_text() == "two\n"
    assert not (third.path / "docs" / "gone.md").exists() and (third.path / "docs" / "new.md").exists()
    worktrees = run_git("--git-dir", str(repo), "worktree", "list", "--porcelain")
    assert f"worktree {third.path}\n" in worktrees and str(first.path) not in worktrees
    assert list((third.path.parent / spares.POOL).iterdir()) == []
    # and it works as a worktree: a commit there lands on its branch
    tip = commit_file(third, "docs/after.md", "after\n")
    assert gitrepo.branch_tip(repo_path=repo, branch=third.branch) == tip


def test_a_spare_that_lost_its_index_and_commit_still_gives_an_exact_worktree(
    repo: Path, make_work, commit_file, run_git
) -> None:
    first = make_work("first")
    commit_file(first, "docs/a.md", "same size A\n")
    assert _merge_and_retire(repo, first)
    (entry,) = (first.path.parent / spares.POOL).iterdir()
    (entry / "index").unlink()
    (entry / "commit").write_text("not a commit id")
    # same size, same mtime: only a full compare can see it
    target = entry / "files" / "docs" / "a.md"
    stat = target.stat()
    target.write_text("same size B\n")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    second = make_work("second")

    _assert_exactly_main(run_git, repo, second)
    assert (second.path / "docs" / "a.md").read_text() == "same size A\n"


def test_the_pool_holds_at_most_two_spares_and_each_is_claimed_once(repo: Path, make_work, commit_file) -> None:
    works = [make_work(f"w{n}") for n in range(3)]
    for n, work in enumerate(works):
        commit_file(work, f"docs/{n}.md", f"{n}\n")
    retired = [_merge_and_retire(repo, work) for work in works]
    assert retired == [True, True, False]
    assert not works[2].path.exists()  # deleted as before the pool existed
    pool = works[0].path.parent / spares.POOL
    assert len(list(pool.iterdir())) == 2
    claimed = [spares.claim(works[0].path) for _ in range(3)]
    assert claimed[2] is None
    assert claimed[0] is not None and claimed[1] is not None and claimed[0].root != claimed[1].root


def test_prune_removes_what_a_crash_left_and_keeps_what_is_in_use(tmp_path: Path) -> None:
    pool = tmp_path / spares.POOL
    for name in ("aaa", "bbb", "ccc", "x.taken", "y.tmp"):
        (pool / name / "files").mkdir(parents=True)
    # just claimed or being published: kept; a third ready spare is one too many
    assert spares.prune(tmp_path) == 1
    assert sorted(path.name for path in pool.iterdir()) == ["aaa", "bbb", "x.taken", "y.tmp"]
    # the same entries long after: a crash left them
    assert spares.prune(tmp_path, now=time.time() + spares.STALE_SECONDS + 5) == 2
    assert sorted(path.name for path in pool.iterdir()) == ["aaa", "bbb"]
