"""Fetching from a file:// remote copies exactly the objects main lacks (gitrepo.local_fetch), whatever the
history's shape: renames into new folders, a folder removed, a binary file, a merge of two lines of work,
and an unrelated history merged in. The real git CLI checks the result (fsck, rev-list)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pygit2
import pytest

from calcifer.gitrepo import local_fetch
from calcifer.gitrepo import remote as git_remote
from tests.gitrepo.conftest import git

NO_AUTH = git_remote.RemoteAuth()


def _commit(work: Path, files: dict[str, bytes | None], message: str) -> str:
    for name, content in files.items():
        target = work / name
        if content is None:
            git("rm", "-q", "-r", "--", name, cwd=work)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        git("add", "--", name, cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work).strip()


@pytest.fixture
def sides(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(laptop work tree, bare remote, Calcifer's bare repository cloned from the remote)."""
    work, remote, local = tmp_path / "laptop", tmp_path / "remote.git", tmp_path / "repo.git"
    git("init", "-q", "-b", "main", str(work))
    _commit(work, {"catalog/hosts/a.yaml": b"name: a\n", "docs/guide/setup.md": b"# Setup\n",
                   "docs/old/notes.md": b"# Old\n", "README.md": b"# Infra\n"}, "Start")
    git("init", "-q", "--bare", "-b", "main", str(remote))
    git("push", "-q", str(remote), "main:main", cwd=work)
    git("clone", "-q", "--bare", str(remote), str(local))
    return work, remote, local


def _packs(repo: Path) -> set[Path]:
    return set((repo / "objects" / "pack").glob("*.idx"))


def _show_index(idx: Path, repo: Path) -> set[str]:
    """The object ids a pack index lists, by ``git show-index``."""
    with idx.open("rb") as handle:
        out = subprocess.run(["git", "--git-dir", str(repo), "show-index"], stdin=handle, capture_output=True,
                             text=True, check=True).stdout
    return {line.split()[1] for line in out.splitlines()}


def test_a_varied_history_arrives_whole_and_little_besides_what_was_missing_is_copied(
        sides: tuple[Path, Path, Path]) -> None:
    work, remote, local = sides
    # a second line of work, merged back with a merge commit
    git("checkout", "-q", "-b", "side", cwd=work)
    _commit(work, {"catalog/hosts/b.yaml": b"name: b\n"}, "Host b")
    git("checkout", "-q", "main", cwd=work)
    (work / "docs/new/deep/er").mkdir(parents=True)
    git("mv", "docs/guide/setup.md", "docs/new/deep/er/setup.md", cwd=work)
    git("commit", "-q", "-m", "Move the guide", cwd=work)
    _commit(work, {"docs/old": None, "bin/tool.bin": bytes(range(256)) * 64}, "Drop old notes, add a binary")
    git("merge", "-q", "--no-ff", "-m", "Merge side", "side", cwd=work)
    # an unrelated history (its own root commit), merged in
    git("checkout", "-q", "--orphan", "import", cwd=work)
    git("rm", "-q", "-r", "--cached", ".", cwd=work)
    for leftover in ("catalog", "docs", "bin", "README.md"):
        git("clean", "-q", "-f", "-d", "--", leftover, cwd=work)
    _commit(work, {"imported/legacy.md": b"# Legacy\n"}, "Legacy import")
    git("checkout", "-q", "-f", "main", cwd=work)
    git("merge", "-q", "--allow-unrelated-histories", "-m", "Merge the legacy import", "import", cwd=work)
    tip = git("rev-parse", "HEAD", cwd=work).strip()
    git("push", "-q", str(remote), "main:main", cwd=work)
    missing = _missing(remote, local, tip)
    before = _packs(local)

    fetched = local_fetch.fetch_ref(pygit2.Repository(str(local)), remote, into=git_remote.REMOTE_MAIN_REF,
                                    message="fetch")

    assert fetched is not None, "the direct copy was not taken"
    assert str(fetched.tip) == tip and "refs/heads/main" in fetched.refs
    new_packs = _packs(local) - before
    assert len(new_packs) == 1
    copied = _show_index(new_packs.pop(), local)
    assert missing <= copied
    # besides, only what the repository had already: the folder moved elsewhere, and its file (harmless)
    moved = {git("--git-dir", str(local), "rev-parse", f"main:docs/guide{inside}", cwd=local).strip()
             for inside in ("", "/setup.md")}
    assert copied - missing == moved
    git("--git-dir", str(local), "fsck", "--full", "--no-dangling", cwd=local)
    assert git("--git-dir", str(local), "rev-parse", git_remote.REMOTE_MAIN_REF, cwd=local).strip() == tip
    assert git("--git-dir", str(local), "show", f"{tip}:docs/new/deep/er/setup.md", cwd=local) == "# Setup\n"
    assert git("--git-dir", str(local), "show", f"{tip}:imported/legacy.md", cwd=local) == "# Legacy\n"


def _missing(remote: Path, local: Path, tip: str) -> set[str]:
    """The objects reachable from ``tip`` in ``remote`` that ``local`` lacks, by the git CLI."""
    have = git("--git-dir", str(local), "for-each-ref", "--format=%(objectname)", cwd=local).split()
    listed = git("--git-dir", str(remote), "rev-list", "--objects", "--no-object-names", tip,
                 "--not", *have, cwd=remote).split()
    return set(listed)


def test_a_main_already_here_copies_nothing_and_a_folder_that_is_no_repository_says_so(
        sides: tuple[Path, Path, Path], tmp_path: Path) -> None:
    work, remote, local = sides
    tip = git("rev-parse", "HEAD", cwd=work).strip()
    before = _packs(local)
    assert git_remote.fetch(repo_path=local, url=remote.as_uri(), auth=NO_AUTH).main == tip
    assert _packs(local) == before

    nowhere = tmp_path / "not-a-repository"
    nowhere.mkdir()
    with pytest.raises(git_remote.RemoteError) as failed:
        git_remote.fetch(repo_path=local, url=nowhere.as_uri(), auth=NO_AUTH)
    assert failed.value.message


def _raw_tree(entries: dict[bytes, tuple[bytes, bytes]]) -> bytes:
    return b"".join(mode + b" " + name + b"\x00" + sha for name, (mode, sha) in sorted(entries.items()))


def test_comparing_folder_versions_by_their_changed_part_finds_what_a_full_comparison_finds() -> None:
    import random

    rnd = random.Random(11)
    modes = [b"100644", b"100755", b"40000"]
    # few names and ids, so that neighbours share tails (same content under two names) and the bytes two
    # versions share at their end often begin in the middle of an entry
    pool = [bytes([0] * 19 + [i]) for i in range(3)] + [bytes([i] + [0] * 19) for i in range(3)]

    def name() -> bytes:
        return rnd.choice([b"a", b"b", b"ab", b"ba", b"aab"]) + rnd.choice([b"", b"b", b"\x01b", b"bb"])

    for _ in range(3000):
        old = {name(): (rnd.choice(modes), rnd.choice(pool)) for _ in range(rnd.randint(0, 8))}
        new = dict(old)
        for _ in range(rnd.randint(1, 2)):
            action = rnd.random()
            if action < 0.4 or not new:
                new[name()] = (rnd.choice(modes), rnd.choice(pool))
            elif action < 0.6:
                del new[rnd.choice(sorted(new))]
            else:
                changed = rnd.choice(sorted(new))
                new[changed] = (rnd.choice(modes), rnd.choice(pool))
        old_raw, new_raw = _raw_tree(old), _raw_tree(new)
        old_listing = local_fetch._Listing(old_raw, local_fetch._parse(old_raw))
        listing, added, removed, _shared = local_fetch._changes(old_listing, new_raw)
        full_old, full_new = set(local_fetch._parse(old_raw)), local_fetch._parse(new_raw)
        assert listing.tokens == full_new
        assert added == set(full_new) - full_old and removed == full_old - set(full_new)
