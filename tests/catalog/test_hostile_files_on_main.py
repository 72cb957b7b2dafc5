"""A file on main that no parser may read (nesting that crashed libyaml) never stops Calcifer starting:
start-up reports it with file and line, loads everything else, and serves."""

from __future__ import annotations

import json

import pygit2

from calcifer.catalog.yamllimits import MAX_DEPTH
from calcifer.config import Settings
from calcifer.web.context import AppContext
from tests.child_process import run_python
from tests.conftest import Cast

DEEP = "[" * 30_000 + "]" * 30_000  # ~60 KB: overflowed the C stack of the YAML loader (SIGSEGV)


def commit_on_main(ctx: AppContext, files: dict[str, str]) -> None:
    """A commit on main made outside Calcifer, as an editor's push or `calcifer init --from` would bring."""
    repo = pygit2.Repository(str(ctx.repo_path))
    main = repo.references["refs/heads/main"].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(main.tree)
    for path, text in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(text.encode()), pygit2.GIT_FILEMODE_BLOB))
    sig = pygit2.Signature("Outside", "outside@example.org")
    repo.create_commit("refs/heads/main", sig, sig, "Hostile files", index.write_tree(repo), [main.id])


def start_in_child(settings: Settings) -> None:
    """Run start-up (what `calcifer serve` does before serving) on this data directory in a fresh process."""
    values = {"data_dir": str(settings.data_dir), "database_url": settings.resolved_database_url,
              "database_schema": settings.database_schema, "monitor_in_web": False}
    code = f"""
import json
from calcifer.app import create_app, prepare
from calcifer.config import Settings
ctx = prepare(Settings(_env_file=None, **json.loads({json.dumps(values)!r})))
create_app(ctx=ctx)
print("started")
"""
    child = run_python(code)
    assert child.returncode == 0 and "started" in child.stdout, \
        f"start-up died (rc {child.returncode}): {child.stderr[-800:]}"


def test_start_up_survives_deeply_nested_files_on_main_and_reports_them(
        ctx: AppContext, settings: Settings, cast: Cast) -> None:
    commit_on_main(ctx, {
        "catalog/services/deep.yaml": "name: Deep\nslug: deep\nkind: container\ntags: " + DEEP + "\n",
        "catalog/services/fine.yaml": "name: Fine\nslug: fine\nkind: container\n",
        "docs/deep.md": "---\ntitle: Deep\nx: " + DEEP + "\n---\n# Still readable\n\nThe body renders.\n",
    })

    start_in_child(settings)

    problems = cast.viewer.get("/api/v1/catalog/problems").json()["items"]
    deep = [p for p in problems if p["file"] == "catalog/services/deep.yaml"]
    assert [(p["severity"], p["line"]) for p in deep] == [("error", 4)]
    assert f"more than {MAX_DEPTH} levels" in deep[0]["message"]
    assert cast.viewer.get("/api/v1/services/fine").status_code == 200
    doc = cast.viewer.get("/api/v1/docs/docs/deep.md")
    assert doc.status_code == 200, doc.text
    assert "The body renders." in doc.json()["html"]
