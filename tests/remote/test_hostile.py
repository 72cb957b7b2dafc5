"""Hostile content on the remote's main: a symlink out of the tree, a file over the size cap, a
.gitmodules, a submodule, a path component '..', a ref name with control characters. Each is refused (the
fetch answers 409 naming it, main untouched, nothing recorded) or neutralised (the ref is never fetched),
and nothing is written outside the repository. The remote's objects are made with git's own plumbing
(`git mktree` takes names the porcelain would never write), as a malicious forge or laptop could."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from calcifer.gitrepo import remote as git_remote
from calcifer.instance import AppContext
from tests.conftest import Cast
from tests.remote.servers import GIT_ENV, Laptop, git_daemon, remote_main
from tests.remote.test_sync_file import connect, main_of


def plumb(remote: Path, *args: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(["git", "--git-dir", str(remote), *args], input=stdin, env=GIT_ENV,
                            capture_output=True, check=True)
    return result.stdout.decode().strip()


def blob(remote: Path, data: bytes) -> str:
    return plumb(remote, "hash-object", "-w", "--stdin", stdin=data)


def plant(remote: Path, lines: list[str], message: str = "Sneaky change") -> str:
    """A commit on the remote's main whose root tree is main's plus ``lines`` (mktree format)."""
    existing = plumb(remote, "ls-tree", "main").splitlines()
    tree = plumb(remote, "mktree", stdin=("\n".join(existing + lines) + "\n").encode())
    parent = plumb(remote, "rev-parse", "main")
    commit = plumb(remote, "commit-tree", tree, "-p", parent, "-m", message)
    plumb(remote, "update-ref", "refs/heads/main", commit)
    return commit


@pytest.fixture
def synced(cast: Cast, ctx: AppContext, remote: Path) -> str:
    connect(cast, remote.as_uri())
    assert cast.admin.post("/api/v1/repository/push").json()["error"] is None
    return main_of(ctx)


def refused(cast: Cast, ctx: AppContext, before: str, *words: str) -> None:
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "remote_hostile"
    for word in words:
        assert word in error["message"]
    assert main_of(ctx) == before
    assert cast.viewer.get("/api/v1/repository/outside-changes").json()["items"] == []
    state = cast.admin.get("/api/v1/repository/remote").json()
    assert state["last_fetch_outcome"] == "hostile" and state["last_fetch_files"]


def test_a_symlink_pointing_out_of_the_tree_is_refused(cast: Cast, ctx: AppContext, remote: Path,
                                                       synced: str) -> None:
    target = blob(remote, b"../../../etc/passwd")
    inner = plumb(remote, "mktree", stdin=f"120000 blob {target}\tpasswd\n".encode())
    plant(remote, [f"040000 tree {inner}\tdocs-extra"])
    refused(cast, ctx, synced, "docs-extra/passwd", "symbolic link")


def test_an_absolute_symlink_is_refused_and_one_inside_the_tree_is_fine(cast: Cast, ctx: AppContext,
                                                                        remote: Path, synced: str) -> None:
    plant(remote, [f"120000 blob {blob(remote, b'/etc/shadow')}\tshadow"])
    refused(cast, ctx, synced, "shadow")
    plumb(remote, "update-ref", "refs/heads/main", synced)
    inside = plant(remote, [f"120000 blob {blob(remote, b'CHANGES.md')}\tchangelog-link"])
    assert cast.editor.post("/api/v1/repository/fetch").status_code == 200
    assert main_of(ctx) == inside


def test_a_file_over_the_size_cap_is_refused(cast: Cast, ctx: AppContext, remote: Path, synced: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # The cap is 50 MiB; lowered to 1 MiB here so the test writes 2 MiB instead of 51.
    monkeypatch.setattr(git_remote, "MAX_REMOTE_BLOB_BYTES", 1024 * 1024)
    plant(remote, [f"100644 blob {blob(remote, b'x' * (2 * 1024 * 1024))}\thuge.bin"])
    refused(cast, ctx, synced, "huge.bin", "MiB")


def test_a_gitmodules_and_a_submodule_are_refused(cast: Cast, ctx: AppContext, remote: Path, synced: str) -> None:
    modules = blob(remote, b'[submodule "x"]\n\tpath = x\n\turl = ../../evil\n')
    plant(remote, [f"100644 blob {modules}\t.gitmodules", f"160000 commit {synced}\tvendored"])
    refused(cast, ctx, synced, ".gitmodules", "submodule")


def test_a_path_with_dot_dot_is_refused_and_nothing_is_written_outside(cast: Cast, ctx: AppContext, remote: Path,
                                                                       synced: str, tmp_path: Path) -> None:
    escape = plumb(remote, "mktree", stdin=f"100644 blob {blob(remote, b'owned')}\tescaped.txt\n".encode())
    plant(remote, [f"040000 tree {escape}\t.."])
    refused(cast, ctx, synced, "..")
    assert not any(tmp_path.rglob("escaped.txt"))
    assert not (ctx.repo_path.parent.parent / "escaped.txt").exists()


def test_a_dot_git_folder_is_refused(cast: Cast, ctx: AppContext, remote: Path, synced: str) -> None:
    hooks = plumb(remote, "mktree", stdin=f"100755 blob {blob(remote, b'#!/bin/sh')}\tpost-checkout\n".encode())
    plant(remote, [f"040000 tree {hooks}\t.GIT"])
    refused(cast, ctx, synced, ".GIT")


def test_a_ref_with_control_characters_is_never_fetched_and_is_reported(
        cast: Cast, ctx: AppContext, remote: Path, synced: str, tmp_path: Path) -> None:
    outside = Laptop(remote, tmp_path / "laptop").commit({"fine.txt": "fine\n"}, "A fine change")
    with (remote / "packed-refs").open("a") as refs:
        refs.write(f"{outside} refs/heads/evil\x01\x1b[31mname\n")
    with git_daemon(remote.parent) as base:
        connect(cast, f"{base}/{remote.name}")
        response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "fast_forward" and main_of(ctx) == outside
    names = subprocess.run(["git", "--git-dir", str(ctx.repo_path), "for-each-ref", "--format=%(refname)"],
                           capture_output=True, text=True, check=True).stdout
    assert "evil" not in names and "\x01" not in names
    assert remote_main(remote) == outside


def test_over_file_urls_a_ref_with_control_characters_is_never_fetched_and_is_reported_escaped(
        cast: Cast, ctx: AppContext, remote: Path, synced: str, tmp_path: Path) -> None:
    # A file:// remote is read directly (gitrepo.local_fetch): main arrives as over git://, the bad name
    # is listed in the fetch's report with its control characters shown escaped, and never becomes a ref.
    outside = Laptop(remote, tmp_path / "laptop").commit({"fine.txt": "fine\n"}, "A fine change")
    with (remote / "packed-refs").open("a") as refs:
        refs.write(f"{outside} refs/heads/evil\x01name\n")
    response = cast.editor.post("/api/v1/repository/fetch")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "fast_forward" and main_of(ctx) == outside
    reported = [line for line in body["files"] if "evil" in line]
    assert reported and "\\x01" in reported[0] and "\x01" not in reported[0]
    names = subprocess.run(["git", "--git-dir", str(ctx.repo_path), "for-each-ref", "--format=%(refname)"],
                           capture_output=True, text=True, check=True).stdout
    assert "evil" not in names
