"""Fetching a branch from a repository on this machine (a ``file://`` remote) by copying only what is missing.

libgit2's local transport packs what the other side lacks by first marking every object of every commit
this side already has as uninteresting: on a 10,000-file repository that walk of whole trees costs about
100 ms per fetch, however few commits are new. Here the new commits are those reachable from the remote's
branch and not from this repository's branches, oldest first; each brings what differs from its first
parent, found folder by folder (a folder whose id did not change is not opened, and of a changed folder
only the part between the bytes both versions share at their start and end is parsed). The objects are
written as one pack (``packfile``), each successive version of a folder as a delta against the one
before, and each object hashed on the way in. A fetch of 100 commits then costs about what they hold.

Anything this path does not expect (not a repository, a shallow remote, a ref name libgit2 will not
read, an object that does not match its id) answers ``None``, having changed nothing: the caller fetches
through the transport instead, which reports what is wrong in its own words.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import pygit2
from pygit2.enums import RepositoryOpenFlag, SortMode

from ._repo import MAIN_REF, ref_target
from .packfile import PackError, PackObject, common_ends, write_pack


@dataclass(frozen=True)
class LocalFetch:
    tip: pygit2.Oid | None  # where the remote's ref points; None when it has no such ref
    refs: list[str]         # the remote's ref names (what a transport would advertise)


def local_path(url: str) -> Path | None:
    """The folder a ``file://`` URL names, or None for any other URL."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parts.path))


def fetch_ref(repo: pygit2.Repository, remote_path: Path, *, ref: str = MAIN_REF, into: str,
              message: str) -> LocalFetch | None:
    """Copy the objects of the repository at ``remote_path``'s ``ref`` that ``repo`` lacks into ``repo``
    and point ``into`` at that commit. ``None`` when this path cannot be taken (nothing was changed then)."""
    try:
        remote = pygit2.Repository(str(remote_path), RepositoryOpenFlag.NO_SEARCH)
        if remote.is_shallow:
            return None
        refs = list(remote.references)
        if ref not in refs:
            return LocalFetch(tip=None, refs=refs)
        tip = remote.references[ref].resolve().target
        if not isinstance(tip, pygit2.Oid) or not isinstance(remote[tip], pygit2.Commit):
            return None
        if not repo.odb.exists(tip):
            _copy(repo, _missing(remote, repo, tip))
        repo.create_reference_direct(into, tip, True, message=message)
    except (pygit2.GitError, KeyError, ValueError, OSError, PackError):
        return None
    return LocalFetch(tip=tip, refs=refs)


# A tree entry: "<mode> <name>\0" and the 20-byte id. The whole entry is one token, so that comparing two
# versions of a folder is a set difference.
_ENTRY = re.compile(rb"[0-7]+ [^\x00]+\x00.{20}", re.S)
_TREE_MODE = b"40000 "
_SUBMODULE_MODE = b"160000 "


class _Listing(NamedTuple):
    """A tree's raw content and its entries in order (each entry one token)."""

    data: bytes
    tokens: list[bytes]


def _parse(data: bytes) -> list[bytes]:
    tokens = _ENTRY.findall(data)
    if sum(map(len, tokens)) != len(data):
        raise ValueError("a tree that does not parse")
    return tokens


def _changes(old: _Listing, data: bytes) -> tuple[_Listing, set[bytes], set[bytes], tuple[int, int]]:
    """``data``'s listing, its entries ``old`` lacks, ``old``'s entries it lacks, and the bytes both share at
    their start and end (``packfile.common_ends``, which a delta between them is made of). Only the part between
    the bytes both share at their start and at their end is parsed: the entries before and after it are
    ``old``'s own (a folder that gained one file costs one entry, not the whole folder)."""
    prefix, suffix = common_ends(old.data, data)
    ends = list(accumulate(map(len, old.tokens)))
    first = bisect_right(ends, prefix)  # entries wholly within the shared start
    start = ends[first - 1] if first else 0
    shared_from = len(old.data) - suffix  # entries starting there or later are wholly within the shared end
    after = max(min(bisect_left(ends, shared_from) + 1, len(ends)) if shared_from > 0 else 0, first)
    old_end = ends[after - 1] if after > first else start
    window = data[start:old_end + len(data) - len(old.data)]
    middle = _ENTRY.findall(window)
    if sum(map(len, middle)) != len(window):  # the shared end does not start on an entry here
        tokens = _parse(data)
        return (_Listing(data, tokens), set(tokens) - set(old.tokens), set(old.tokens) - set(tokens),
                (prefix, suffix))
    before = old.tokens[first:after]
    return (_Listing(data, old.tokens[:first] + middle + old.tokens[after:]),
            set(middle) - set(before), set(before) - set(middle), (prefix, suffix))


class _Collector:
    """The objects new commits bring, oldest commit first, each tree and changed file paired with its
    previous version (the same path in the first parent) as a delta base."""

    def __init__(self, remote: pygit2.Repository) -> None:
        self._read = remote.odb.read
        self._listings: dict[bytes, _Listing] = {}
        self.objects: dict[bytes, PackObject] = {}

    def _data(self, oid: bytes) -> tuple[int, bytes]:
        kind, data = self._read(pygit2.Oid(raw=oid))[:2]
        return int(kind), bytes(data)

    def commit(self, oid: bytes, tree: bytes, parent_tree: bytes | None) -> None:
        self.objects[oid] = PackObject(oid, *self._data(oid))
        self._tree(parent_tree, tree)

    def _listing(self, oid: bytes) -> _Listing:
        listing = self._listings.get(oid)
        if listing is None:
            data = self._data(oid)[1]
            listing = self._listings[oid] = _Listing(data, _parse(data))
        return listing

    def _tree(self, old: bytes | None, new: bytes) -> None:
        if new == old or new in self.objects:
            return
        kind, data = self._data(new)
        removed: set[bytes]
        if old is None:
            tokens = _parse(data)
            listing, added, removed, shared = _Listing(data, tokens), set(tokens), set(), None
        else:
            listing, added, removed, shared = _changes(self._listing(old), data)
        self._listings[new] = listing
        self.objects[new] = PackObject(new, kind, data, old, shared) if old in self.objects \
            else PackObject(new, kind, data)
        gone = {token[token.index(b" ") + 1:-21]: token for token in removed}
        for token in added:
            sha, name = token[-20:], token[token.index(b" ") + 1:-21]
            previous = gone.get(name)
            if token.startswith(_TREE_MODE):
                self._tree(previous[-20:] if previous is not None and previous.startswith(_TREE_MODE) else None, sha)
            elif not token.startswith(_SUBMODULE_MODE) and sha not in self.objects:
                base = previous[-20:] if previous is not None else None
                self.objects[sha] = PackObject(sha, *self._data(sha), base if base in self.objects else None)


def _missing(remote: pygit2.Repository, repo: pygit2.Repository, tip: pygit2.Oid) -> list[PackObject]:
    """Every object reachable from ``tip`` in ``remote`` that ``repo`` does not have, oldest first. A commit
    ``repo`` has comes with everything it holds, so the walk hides ``repo``'s branch tips, and each new
    commit brings only what differs from its first parent."""
    walker = remote.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    hidden = 0
    for name in repo.references:
        if name.startswith("refs/heads/") or name.startswith("refs/calcifer/"):
            target = ref_target(repo, name)
            if target is not None and remote.odb.exists(target):
                walker.hide(target)
                hidden += 1
    collector = _Collector(remote)
    trees: dict[pygit2.Oid, bytes] = {}  # the new commits' trees, for their children
    for commit in walker:
        if not hidden and repo.odb.exists(commit.id):  # an unbounded walk: skip what is here already
            continue
        parents = commit.parent_ids
        parent_tree = None
        if parents:
            parent_tree = trees.get(parents[0]) or remote[parents[0]].peel(pygit2.Tree).id.raw
        trees[commit.id] = commit.tree_id.raw
        collector.commit(commit.id.raw, trees[commit.id], parent_tree)
    return list(collector.objects.values())


def _copy(repo: pygit2.Repository, objects: list[PackObject]) -> None:
    if objects:
        write_pack(Path(repo.path) / "objects" / "pack", objects)
