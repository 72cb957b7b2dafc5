"""Shared cast for the git layer tests: a fresh bare repository, work branches, and the real git CLI."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from calcifer import gitrepo

ALICE = gitrepo.Author(name="Alice Admin", email="alice@example.org")
BOB = gitrepo.Author(name="Bob Builder", email="bob@example.org")


def git(*args: str, cwd: Path | None = None) -> str:
    """Run the real git CLI (argument list, never a shell) and return its stdout."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Outside",
        "GIT_AUTHOR_EMAIL": "outside@example.org",
        "GIT_COMMITTER_NAME": "Outside",
        "GIT_COMMITTER_EMAIL": "outside@example.org",
    }
    result = subprocess.run(
        ["git", "-c", "safe.directory=*", "-c", "init.defaultBranch=master", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def union_merger(base: bytes | None, ours: bytes, theirs: bytes) -> bytes:
    """A test merger: keep every line of ours, then add the lines of theirs that ours lacks."""
    lines = ours.decode().splitlines()
    for line in theirs.decode().splitlines():
        if line not in lines:
            lines.append(line)
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Work:
    branch: str
    name: str
    path: Path
    base: str


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo.git"
    assert gitrepo.init_repository(path=path) is True
    return path


@pytest.fixture
def make_work(repo: Path, tmp_path: Path) -> Callable[..., Work]:
    counter = iter(range(1, 1000))

    def make(slug: str = "change") -> Work:
        n = next(counter)
        branch = f"change/update/{n}-{slug}"
        name = f"wi-{n}"
        path = tmp_path / "worktrees" / name
        base = gitrepo.create_work_branch(
            repo_path=repo, branch=branch, worktree_path=path, worktree_name=name
        )
        return Work(branch=branch, name=name, path=path, base=base)

    return make


@pytest.fixture
def commit_file() -> Callable[..., str]:
    """Write one file in a work item's worktree and commit just that file."""

    def commit(
        work: Work, path: str, content: str, message: str = "Edit", author: gitrepo.Author = ALICE
    ) -> str:
        gitrepo.write_worktree_file(worktree_path=work.path, path=path, content=content)
        return gitrepo.commit_worktree(worktree_path=work.path, message=message, author=author, files=[path])

    return commit


@pytest.fixture
def run_git() -> Callable[..., str]:
    return git


@pytest.fixture
def merger() -> gitrepo.FileMerger:
    return union_merger
