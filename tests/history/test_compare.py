"""Compare two refs (`/compare/BASE...HEAD`, `GET /api/v1/compare`): commits, renames, binary files, a
10,000-line diff loaded file by file, word-level marks and syntax colours, and bad refs refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import FileMode

from calcifer.web.context import AppContext
from tests.conftest import Cast
from tests.docs.test_docs_reading import commit_on_main, error_of

PYTHON = "def greet(name):\n    return 'hello ' + name\n\n\nprint(greet('world'))\n"
LONG = "".join(f"line {n}\n" for n in range(10_000))


def branch_with(repo_path: Path, branch: str, files: dict[str, bytes | None], message: str) -> str:
    """A branch off main with one commit: ``files`` written (bytes) or deleted (None)."""
    repo = pygit2.Repository(str(repo_path))
    ref = repo.references.get(f"refs/heads/{branch}")
    parent = (ref or repo.references["refs/heads/main"]).peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    for path, data in files.items():
        if data is None:
            index.remove(path)
        else:
            index.add(pygit2.IndexEntry(path, repo.create_blob(data), FileMode.BLOB))
    sig = pygit2.Signature("Laptop", "laptop@example.org")
    return str(repo.create_commit(f"refs/heads/{branch}", sig, sig, message, index.write_tree(repo), [parent.id]))


def setup_branch(ctx: AppContext) -> None:
    commit_on_main(ctx.repo_path, {
        "scripts/greet.py": (FileMode.BLOB, PYTHON.encode()),
        "docs/old-name.md": (FileMode.BLOB, b"# Runbook\n\n" + b"".join(b"Step %d.\n" % n for n in range(40))),
        "assets/logo.png": (FileMode.BLOB, b"\x89PNG\r\n\x1a\n\x00\x00binary"),
    }, message="Scripts, a runbook and a logo")
    branch_with(ctx.repo_path, "laptop/rework", {
        "scripts/greet.py": PYTHON.replace("'hello '", "'good morning '").encode(),
        "docs/old-name.md": None,
        "docs/runbook.md": b"# Runbook\n\n" + b"".join(b"Step %d.\n" % n for n in range(40)) + b"Done.\n",
        "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00other binary",
        "data/long.txt": LONG.encode(),
    }, message="Rework scripts and runbook")
    branch_with(ctx.repo_path, "laptop/rework", {"README.extra": b"more\n"}, message="A second commit")


def compared(cast: Cast, base: str, head: str) -> dict[str, Any]:
    response = cast.viewer.get("/api/v1/compare", params={"base": base, "head": head})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_compare_lists_the_branch_commits_and_files_with_renames_and_binaries(cast: Cast, ctx: AppContext) -> None:
    setup_branch(ctx)
    answer = compared(cast, "main", "laptop/rework")
    assert [c["summary"] for c in answer["commits"]] == ["A second commit", "Rework scripts and runbook"]
    assert answer["commits_total"] == 2 and answer["merge_base"]
    files = {f["path"]: f for f in answer["files"]}
    assert files["docs/runbook.md"]["status"] == "renamed"
    assert files["docs/runbook.md"]["old_path"] == "docs/old-name.md" and files["docs/runbook.md"]["additions"] == 1
    assert files["assets/logo.png"]["binary"] is True and files["assets/logo.png"]["diff"] == ""
    assert files["scripts/greet.py"]["additions"] == 1 and files["scripts/greet.py"]["deletions"] == 1
    assert "+    return 'good morning ' + name" in files["scripts/greet.py"]["diff"]
    assert files["data/long.txt"]["additions"] == 10_000 and files["data/long.txt"]["truncated"] is True
    assert answer["files_total"] == len(answer["files"]) == 5
    # Nothing on the other side: main has no commit the branch lacks.
    assert compared(cast, "laptop/rework", "main")["commits_total"] == 0


def test_the_compare_page_draws_small_diffs_and_loads_a_large_one_on_demand(cast: Cast, ctx: AppContext) -> None:
    setup_branch(ctx)
    page = cast.viewer.get("/compare/main...laptop/rework")
    assert page.status_code == 200, page.text
    html = page.text
    assert "docs/old-name.md → docs/runbook.md" in html
    assert '<mark class="diff-word">good morning</mark>' in html  # the changed words of the edited line
    assert 'class="nf"' in html  # greet, coloured as a Python function name
    assert "Binary file: not shown." in html
    assert "line 9999" not in html and "Load the diff (10000 lines)" in html  # not drawn in the page
    fragment = cast.viewer.get("/compare-file", params={"base": "main", "head": "laptop/rework",
                                                        "path": "data/long.txt"})
    assert fragment.status_code == 200 and "line 9999" in fragment.text
    split = cast.viewer.get("/compare/main...laptop/rework", params={"view": "split"}).text
    assert "diff-split" in split and "before on the left" in split
    assert cast.viewer.get("/compare", params={"base": "main", "head": "laptop/rework"},
                           follow_redirects=False).headers["location"] == "/compare/main...laptop/rework"


def test_commit_ids_and_tags_compare_too(cast: Cast, ctx: AppContext) -> None:
    setup_branch(ctx)
    repo = pygit2.Repository(str(ctx.repo_path))
    head = repo.references["refs/heads/laptop/rework"].target
    repo.references.create("refs/tags/v1", head)
    by_id = compared(cast, "main", str(head)[:10])
    by_tag = compared(cast, "main", "v1")
    assert by_id["head_commit"] == by_tag["head_commit"] == str(head)


def test_bad_refs_are_refused_with_what_to_fix(cast: Cast, ctx: AppContext) -> None:
    error = error_of(cast.viewer.get("/api/v1/compare", params={"base": "main", "head": "no-such-branch"}), 404)
    assert "no-such-branch" in error["message"]
    error = error_of(cast.viewer.get("/api/v1/compare", params={"base": "main", "head": "--output=/tmp/x"}), 422)
    assert "not a branch, tag or commit id" in error["message"]
    assert error_of(cast.viewer.get("/api/v1/compare", params={"base": "main", "head": "a\x01b"}), 422)
    page = cast.viewer.get("/compare/main..laptop")
    assert page.status_code == 422 and "three dots" in page.text
    fragment = cast.viewer.get("/compare-file", params={"base": "main", "head": "main", "path": "nothing.txt"})
    assert fragment.status_code == 404


def test_two_branches_compare_and_each_deferred_file_loads_alone_by_commit_id(cast: Cast, ctx: AppContext) -> None:
    """Neither side is main: a branch from the rework, compared with the rework itself. The file loaded on
    demand is the same diff as the whole comparison's, a rename included (named by its old path)."""
    setup_branch(ctx)
    branch_with(ctx.repo_path, "laptop/rework", {"docs/runbook.md": None,
                                                 "docs/manual.md": b"# Runbook\n\n" + b"".join(
                                                     b"Step %d.\n" % n for n in range(40)) + b"Done!\n",
                                                 "assets/logo.png": b"\x89PNG\r\n\x1a\n\x00\x00third",
                                                 "data/long.txt": LONG.replace("line 5000", "line five").encode()},
                message="On top of the rework")
    repo = pygit2.Repository(str(ctx.repo_path))
    rework = repo.references["refs/heads/laptop/rework"].peel(pygit2.Commit)
    repo.references.create("refs/heads/laptop/base", rework.parents[0].id)
    answer = compared(cast, "laptop/base", "laptop/rework")
    assert answer["commits_total"] == 1
    files = {f["path"]: f for f in answer["files"]}
    assert files["docs/manual.md"]["status"] == "renamed" and files["docs/manual.md"]["old_path"] == "docs/runbook.md"
    assert files["assets/logo.png"]["binary"] is True
    assert files["data/long.txt"]["additions"] == 1 and files["data/long.txt"]["deletions"] == 1

    page = cast.viewer.get("/compare/laptop/base...laptop/rework", params={"view": "split"}).text
    assert "docs/runbook.md → docs/manual.md" in page
    base_id, head_id = str(rework.parents[0].id), str(rework.id)
    renamed = cast.viewer.get("/compare-file", params={"base": base_id, "head": head_id, "path": "docs/manual.md",
                                                       "old": "docs/runbook.md", "view": "split"})
    assert renamed.status_code == 200 and "diff-split" in renamed.text
    assert '<mark class="diff-word">!</mark>' in renamed.text  # one word changed: not a whole new file
    binary = cast.viewer.get("/compare-file", params={"base": base_id, "head": head_id, "path": "assets/logo.png"})
    assert "Binary file: not shown." in binary.text
    unchanged = cast.viewer.get("/compare-file", params={"base": base_id, "head": head_id, "path": "scripts/greet.py"})
    assert unchanged.status_code == 404
    # The 10,000-line file added on main...rework loads alone with every line.
    long = cast.viewer.get("/compare-file", params={"base": "main", "head": head_id, "path": "data/long.txt"})
    assert long.status_code == 200 and "line 9999" in long.text and "line five" in long.text
