"""After a merge the docs index is brought up to date from a diff of the docs/ trees, and ends exactly as a
full rebuild would leave it: changed, added, removed docs, their links, and services' links to docs."""

from __future__ import annotations

from typing import Any

from pygit2.enums import FileMode
from sqlalchemy import select

from calcifer.catalog import index as catalog_index
from calcifer.docs import index_sync as docs_index
from calcifer.docs.models import DocLink, DocPage
from calcifer.web.context import AppContext
from tests.docs.test_docs_reading import GRAFANA_SERVICE, commit_on_main

BLOB = int(FileMode.BLOB)


def sync(ctx: AppContext, **kwargs: Any) -> docs_index.SyncResult:
    with ctx.session_factory() as session:
        catalog_index.sync_from_git(session=session, repo_path=ctx.repo_path)
        return docs_index.sync_index(session=session, repo_path=ctx.repo_path, **kwargs)


def snapshot(ctx: AppContext) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    with ctx.session_factory() as session:
        pages = [(p.path, p.title, p.blob_id, p.is_template, p.commit_id, p.updated_at)
                 for p in session.scalars(select(DocPage).order_by(DocPage.path))]
        links = [(link.source, link.target)
                 for link in session.scalars(select(DocLink).order_by(DocLink.source, DocLink.target))]
        return pages, links


def test_the_incremental_index_equals_a_full_rebuild_after_each_change(ctx: AppContext) -> None:
    commit_on_main(ctx.repo_path, {
        "docs/runbooks/backup.md": (BLOB, b"# Backup runbook\n"),
        "docs/a.md": (BLOB, b"# A\n\n[backup](runbooks/backup.md)\n"),
        "docs/b.md": (BLOB, b"# B\n"),
        "docs/_templates/t.md": (BLOB, b"# T\n\n[a](../a.md)\n"),
    })
    sync(ctx)
    steps: list[dict[str, tuple[int, bytes] | None]] = [
        {"docs/a.md": (BLOB, b"# A changed\n\n[b](b.md)\n"), "docs/c.md": (BLOB, b"# C\n\n[a](a.md)\n")},
        {"catalog/services/grafana.yaml": (BLOB, GRAFANA_SERVICE.encode())},   # a service links a doc
        {"docs/b.md": None, "docs/new/deep/d.md": (BLOB, b"Setext title\n===\n")},
        {"README.md": (BLOB, b"nothing under docs/ or catalog/\n")},
        {"catalog/services/grafana.yaml": None, "docs/runbooks/backup.md": None},
    ]
    for files in steps:
        remove = [path for path, value in files.items() if value is None]
        commit_on_main(ctx.repo_path, {path: value for path, value in files.items() if value is not None})
        if remove:
            drop(ctx, remove)
        result = sync(ctx)
        assert not result.skipped
        incremental = snapshot(ctx)
        assert (result.docs, result.links) == (len(incremental[0]), len(incremental[1]))
        forced = sync(ctx, force=True)
        assert snapshot(ctx) == incremental
        assert (forced.docs, forced.links) == (result.docs, result.links)

    pages, links = snapshot(ctx)
    assert [p[0] for p in pages if not p[3]] == ["docs/a.md", "docs/c.md", "docs/new/deep/d.md"]
    assert "docs/_templates/t.md" in [p[0] for p in pages if p[3]]
    assert ("docs/c.md", "docs/a.md") in links and not any(s.startswith("service:") for s, _ in links)


def drop(ctx: AppContext, paths: list[str]) -> None:
    """A commit on main that removes ``paths``."""
    import pygit2

    repo = pygit2.Repository(str(ctx.repo_path))
    main = repo.references["refs/heads/main"].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(main.tree)
    for path in paths:
        index.remove(path)
    sig = pygit2.Signature("Outside", "outside@example.org")
    repo.create_commit("refs/heads/main", sig, sig, "Remove", index.write_tree(repo), [main.id])
