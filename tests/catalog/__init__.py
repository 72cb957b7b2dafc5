"""Catalog tests. ``commit_files`` writes files onto main of a real bare repository with pygit2."""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import FileMode

SIGNATURE = pygit2.Signature("Tester", "tester@example.org")


def _write_tree(repo: pygit2.Repository, base: pygit2.Tree | None, changes: dict[str, bytes | None]) -> pygit2.Oid:
    """``base`` with ``changes`` (relative path → bytes, or None to delete) applied, one folder at a time."""
    builder = repo.TreeBuilder(base) if base is not None else repo.TreeBuilder()
    folders: dict[str, dict[str, bytes | None]] = {}
    for path, data in changes.items():
        head, _, rest = path.partition("/")
        if rest:
            folders.setdefault(head, {})[rest] = data
        elif data is None:
            if builder.get(head) is not None:
                builder.remove(head)
        else:
            builder.insert(head, repo.create_blob(data), FileMode.BLOB)
    for name, sub in folders.items():
        existing = builder.get(name)
        subtree = repo[existing.id] if existing is not None else None
        tree = subtree if isinstance(subtree, pygit2.Tree) else None
        builder.insert(name, _write_tree(repo, tree, sub), FileMode.TREE)
    return builder.write()


def commit_files(repo_path: Path, files: dict[str, str | bytes | None], message: str = "Edit catalog") -> str:
    """Commit ``files`` (path → text, bytes, or None to delete) on top of main; returns the commit id."""
    repo = pygit2.Repository(str(repo_path))
    parent = repo.references["refs/heads/main"].peel(pygit2.Commit)
    changes = {path: content.encode() if isinstance(content, str) else content for path, content in files.items()}
    tree = _write_tree(repo, parent.tree, changes)
    oid = repo.create_commit("refs/heads/main", SIGNATURE, SIGNATURE, message, tree, [parent.id])
    return str(oid)


def service_yaml(slug: str, *, kind: str = "container", host: str | None = None,
                 depends_on: list[str] | None = None, tags: list[str] | None = None, extra: str = "") -> str:
    """A small valid service file."""
    lines = [f"name: {slug.title()}", f"slug: {slug}", f"kind: {kind}"]
    if host:
        lines.append(f"host: {host}")
    if depends_on:
        lines.append(f"depends_on: [{', '.join(depends_on)}]")
    if tags:
        lines.append(f"tags: [{', '.join(tags)}]")
    return "\n".join(lines) + "\n" + extra
