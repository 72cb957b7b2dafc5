"""A commit's tree is HEAD's tree plus the index's differences: the same tree ``Index.write_tree`` writes."""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode

from calcifer.gitrepo.changes import _tree_of_index


def _repo(tmp_path: Path, files: dict[str, bytes]) -> pygit2.Repository:
    repo = pygit2.init_repository(str(tmp_path / "wt"), bare=False)
    for path, data in files.items():
        target = tmp_path / "wt" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        repo.index.add(path)
    repo.index.write()
    sig = pygit2.Signature("T", "t@example.org")
    repo.create_commit("HEAD", sig, sig, "start", repo.index.write_tree(), [])
    return repo


START = {"a.txt": b"a\n", "docs/x.md": b"x\n", "docs/sub/y.md": b"y\n", "solo/only.txt": b"o\n",
         "bin/run": b"#!/bin/sh\n", "CHANGES.md": b"# Changelog\n"}


def _edit(repo: pygit2.Repository, root: Path, case: str) -> None:
    index = repo.index
    if case == "modify":
        (root / "docs/x.md").write_bytes(b"x changed\n")
        index.add("docs/x.md")
    elif case == "add_deep":
        (root / "new/deeper/z.md").parent.mkdir(parents=True)
        (root / "new/deeper/z.md").write_bytes(b"z\n")
        index.add("new/deeper/z.md")
    elif case == "remove_last_in_folder":
        index.remove("solo/only.txt")
    elif case == "remove_nested_folder":
        index.remove("docs/sub/y.md")
    elif case == "file_becomes_folder":
        index.remove("a.txt")
        index.add(pygit2.IndexEntry("a.txt/inside.md", repo.create_blob(b"in\n"), FileMode.BLOB))
    elif case == "folder_becomes_file":
        index.remove("solo/only.txt")
        index.add(pygit2.IndexEntry("solo", repo.create_blob(b"now a file\n"), FileMode.BLOB))
    elif case == "executable":
        index.add(pygit2.IndexEntry("bin/run", index["bin/run"].id, FileMode.BLOB_EXECUTABLE))
    elif case == "symlink":
        index.add(pygit2.IndexEntry("docs/x.md", repo.create_blob(b"../a.txt"), FileMode.LINK))
    elif case == "everything_removed":
        for path in list(START):
            index.remove(path)
    elif case == "nothing":
        pass
    elif case == "many":
        for n in range(50):
            index.add(pygit2.IndexEntry(f"docs/area-{n % 5}/p{n}.md", repo.create_blob(f"{n}\n".encode()),
                                        FileMode.BLOB))
        index.remove("CHANGES.md")


@pytest.mark.parametrize("case", ["modify", "add_deep", "remove_last_in_folder", "remove_nested_folder",
                                  "file_becomes_folder", "folder_becomes_file", "executable", "symlink",
                                  "everything_removed", "nothing", "many"])
def test_the_tree_from_the_index_differences_equals_the_index_written_whole(tmp_path: Path, case: str) -> None:
    repo = _repo(tmp_path, START)
    os.chmod(tmp_path / "wt" / "bin/run", 0o755)
    _edit(repo, tmp_path / "wt", case)
    index = repo.index
    head = repo.head.peel(pygit2.Commit).tree
    assert _tree_of_index(repo, index, head) == index.write_tree()
