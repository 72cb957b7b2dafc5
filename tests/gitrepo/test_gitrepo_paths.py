"""User-supplied paths in a worktree: hostile ones are refused; files are read and written safely."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from calcifer import gitrepo
from calcifer.errors import Invalid, NotFound

HOSTILE = [
    "",
    "   ",
    "../x",
    "/etc/passwd",
    "a/../../x",
    "a/./b",
    "docs//x.md",
    "docs/",
    "x\x00.md",
    "line\nbreak",
    ".git/config",
    "sub/.git/hooks/pre-commit",
    ".GIT/config",
    "..\\x",
    "docs\\..\\..\\x",
    "C:/windows",
    "a" * 300,
    "d/" + "b" * 201,
    "/".join(["abcdefghij"] * 30),
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(Invalid):
        gitrepo.safe_path(root=tmp_path, path=path)


def test_plain_paths_resolve_inside_the_root(tmp_path: Path) -> None:
    assert gitrepo.safe_path(root=tmp_path, path="docs/setup.md") == tmp_path.resolve() / "docs" / "setup.md"
    assert gitrepo.safe_path(root=tmp_path, path=".gitignore") == tmp_path.resolve() / ".gitignore"
    assert gitrepo.safe_path(root=tmp_path, path="a..b/..c") == tmp_path.resolve() / "a..b" / "..c"


def test_a_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "wt"
    root.mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_text("s3cret")
    os.symlink(outside, root / "link")
    os.symlink("/etc/passwd", root / "passwd")
    for path in ("link/key", "link", "passwd", "link/new-file"):
        with pytest.raises(Invalid, match="outside"):
            gitrepo.safe_path(root=root, path=path)
    with pytest.raises(Invalid):
        gitrepo.read_worktree_file(worktree_path=root, path="link/key")
    with pytest.raises(Invalid):
        gitrepo.write_worktree_file(worktree_path=root, path="link/key", content="pwned")
    assert (outside / "key").read_text() == "s3cret"


def test_a_symlink_into_dot_git_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "wt"
    (root / ".git").mkdir(parents=True)
    os.symlink(".git", root / "innocent")
    with pytest.raises(Invalid, match=".git"):
        gitrepo.safe_path(root=root, path="innocent/config")


def test_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    with pytest.raises(Invalid):
        gitrepo.safe_path(root=tmp_path, path="a/x")


def test_read_refuses_binary_non_utf8_folders_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "docs").mkdir()
    (tmp_path / "ok.md").write_text("héllo\n", encoding="utf-8")
    with pytest.raises(Invalid, match="binary"):
        gitrepo.read_worktree_file(worktree_path=tmp_path, path="img.png")
    with pytest.raises(Invalid, match="binary"):
        gitrepo.read_worktree_file(worktree_path=tmp_path, path="latin1.txt")
    with pytest.raises(Invalid, match="folder"):
        gitrepo.read_worktree_file(worktree_path=tmp_path, path="docs")
    with pytest.raises(NotFound):
        gitrepo.read_worktree_file(worktree_path=tmp_path, path="missing.md")
    assert gitrepo.read_worktree_file(worktree_path=tmp_path, path="ok.md") == "héllo\n"


def test_write_creates_parents_atomically_and_reports_creation(tmp_path: Path) -> None:
    assert gitrepo.write_worktree_file(worktree_path=tmp_path, path="docs/a/b.md", content="one\n") is True
    assert gitrepo.write_worktree_file(worktree_path=tmp_path, path="docs/a/b.md", content="two\n") is False
    assert (tmp_path / "docs/a/b.md").read_text() == "two\n"
    assert [p.name for p in (tmp_path / "docs/a").iterdir()] == ["b.md"]  # no temp files left


def test_write_keeps_the_file_mode(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    gitrepo.write_worktree_file(worktree_path=tmp_path, path="run.sh", content="#!/bin/sh\necho hi\n")
    assert script.stat().st_mode & 0o777 == 0o755


def test_write_refuses_folders_oversized_content_and_file_parents(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(Invalid, match="folder"):
        gitrepo.write_worktree_file(worktree_path=tmp_path, path="docs", content="x")
    with pytest.raises(Invalid, match="1 MiB"):
        gitrepo.write_worktree_file(worktree_path=tmp_path, path="big.txt", content="x" * (1024 * 1024 + 1))
    with pytest.raises(Invalid):
        gitrepo.write_worktree_file(worktree_path=tmp_path, path="file.txt/inner.md", content="x")
    assert not (tmp_path / "big.txt").exists()


def test_write_through_an_inside_symlink_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "real.md").write_text("old")
    os.symlink("real.md", tmp_path / "alias.md")
    gitrepo.write_worktree_file(worktree_path=tmp_path, path="alias.md", content="new")
    assert (tmp_path / "alias.md").is_symlink()
    assert (tmp_path / "real.md").read_text() == "new"


def test_delete_removes_the_file_and_empty_parents(tmp_path: Path) -> None:
    gitrepo.write_worktree_file(worktree_path=tmp_path, path="a/b/c.md", content="x")
    (tmp_path / "a" / "keep.md").write_text("k")
    gitrepo.delete_worktree_file(worktree_path=tmp_path, path="a/b/c.md")
    assert not (tmp_path / "a" / "b").exists()
    assert (tmp_path / "a" / "keep.md").exists()
    with pytest.raises(NotFound):
        gitrepo.delete_worktree_file(worktree_path=tmp_path, path="a/b/c.md")
    with pytest.raises(Invalid):
        gitrepo.delete_worktree_file(worktree_path=tmp_path, path="a")
    with pytest.raises(Invalid):
        gitrepo.delete_worktree_file(worktree_path=tmp_path, path="../outside")


def test_operations_on_a_missing_worktree_are_not_found(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(NotFound):
        gitrepo.read_worktree_file(worktree_path=gone, path="a.md")
    with pytest.raises(NotFound):
        gitrepo.write_worktree_file(worktree_path=gone, path="a.md", content="x")
    assert not gone.exists()
