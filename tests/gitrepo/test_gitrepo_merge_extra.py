"""merge_into_main(extra_files=...): files written into the merge commit itself (e.g. a work-log entry)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.errors import Invalid

BOB = gitrepo.Author(name="Bob Builder", email="bob@example.org")


def _ls(run_git, repo: Path, rev: str) -> list[str]:
    return run_git("--git-dir", str(repo), "ls-tree", "-r", "--name-only", rev).split()


def test_extra_files_land_in_the_merge_commit_only(repo: Path, make_work, commit_file, run_git) -> None:
    work = make_work()
    tip = commit_file(work, "docs/a.md", "a\n")
    merge = gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="Merge",
                                    extra_files={"docs/work-log/2024/1-change.md": b"# log\n",
                                                 "docs/a.md": b"replaced\n", "top.txt": b"top\n"})
    assert run_git("--git-dir", str(repo), "show", "main:docs/work-log/2024/1-change.md") == "# log\n"
    assert run_git("--git-dir", str(repo), "show", "main:docs/a.md") == "replaced\n"
    assert run_git("--git-dir", str(repo), "show", "main:top.txt") == "top\n"
    assert "docs/work-log/2024/1-change.md" in run_git("--git-dir", str(repo), "show", "--stat=300", "--format=", merge)
    assert run_git("--git-dir", str(repo), "log", "-1", "--format=%P", merge).split()[1] == tip
    assert "docs/work-log/2024/1-change.md" not in _ls(run_git, repo, tip)
    # Everything the initial commit had is still there.
    for path in gitrepo.INITIAL_FILES:
        assert path in _ls(run_git, repo, "main")
    assert run_git("--git-dir", str(repo), "fsck", "--strict") == ""


@pytest.mark.parametrize("path", ["../x.md", "/abs.md", ".git/config", "a//b.md", "docs/./x.md", "", "a\\b",
                                  "docs/\x01.md"])
def test_bad_extra_file_paths_are_refused_and_main_stays(repo: Path, make_work, commit_file, path: str) -> None:
    work = make_work()
    commit_file(work, "docs/a.md", "a\n")
    head = gitrepo.main_head(repo_path=repo)
    with pytest.raises(Invalid):
        gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="Merge",
                                extra_files={path: b"x"})
    assert gitrepo.main_head(repo_path=repo) == head


@pytest.mark.parametrize("extra", [{"docs": b"file over a folder"}, {"CHANGES.md/x.md": b"folder over a file"},
                                   {"a": b"1", "a/b": b"2"}])
def test_extra_files_never_turn_a_file_into_a_folder_or_back(repo: Path, make_work, commit_file,
                                                              extra: dict[str, bytes]) -> None:
    work = make_work()
    commit_file(work, "docs/a.md", "a\n")
    head = gitrepo.main_head(repo_path=repo)
    with pytest.raises(Invalid):
        gitrepo.merge_into_main(repo_path=repo, branch=work.branch, author=BOB, message="Merge", extra_files=extra)
    assert gitrepo.main_head(repo_path=repo) == head


def test_concurrent_merges_with_extra_files_keep_every_file(repo: Path, make_work, commit_file, run_git) -> None:
    works = [make_work(f"w{n}") for n in range(4)]
    for n, work in enumerate(works):
        commit_file(work, f"docs/{n}.md", f"{n}\n")
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            gitrepo.merge_into_main(repo_path=repo, branch=works[n].branch, author=BOB, message=f"Merge {n}",
                                    extra_files={f"docs/work-log/{n}.md": f"log {n}\n".encode()})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    files = _ls(run_git, repo, "main")
    for n in range(4):
        assert f"docs/{n}.md" in files and f"docs/work-log/{n}.md" in files
