"""A sync after a merge rewrites only what changed, and leaves the index exactly as a full re-sync would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from calcifer.catalog import index, index_parse, index_sync
from calcifer.catalog.models import CatalogEdge, CatalogEndpoint, CatalogProblem, CatalogService, CatalogTag
from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml
from tests.catalog.test_catalog_index import BAD_CATALOG

S = "catalog/services/"
E = "catalog/endpoints/"


def sync(ctx: AppContext, **kwargs: Any) -> index.SyncResult:
    with ctx.session_factory() as session:
        return index.sync_from_git(session=session, repo_path=ctx.repo_path, **kwargs)


def snapshot(ctx: AppContext) -> dict[str, Any]:
    """Every row of the index without its surrogate id; problems in their listed order."""
    with ctx.session_factory() as session:
        def rows(model: Any, key: str) -> list[dict[str, Any]]:
            found = [{c.name: getattr(r, c.name) for c in model.__table__.columns if c.name != "id"}
                     for r in session.scalars(select(model))]
            return sorted(found, key=lambda r: str(r[key]))
        return {
            "services": rows(CatalogService, "slug"), "endpoints": rows(CatalogEndpoint, "slug"),
            "tags": sorted((t.service_slug, t.tag) for t in session.scalars(select(CatalogTag))),
            "edges": sorted((e.from_slug, e.to_slug, e.kind) for e in session.scalars(select(CatalogEdge))),
            "problems": [(p.file, p.line, p.severity, p.code, p.message, p.slug)
                         for p in index.list_problems(session=session)],
            "problem_rows": len(session.scalars(select(CatalogProblem)).all()),
        }


def test_an_incremental_sync_equals_a_full_one_through_edits_removals_and_duplicates(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, dict(BAD_CATALOG) | {
        S + "web.yaml": service_yaml("web", depends_on=["db"], tags=["front"])
        + "endpoints:\n  - name: Home\n    slug: web-home\n    type: http\n    target: https://web.example.org\n",
        E + "db-tcp.yaml": "name: DB\nslug: db-tcp\nservice: db\ntype: tcp\ntarget: db.internal\nport: 5432\n",
    })
    sync(ctx)
    steps: list[dict[str, str | bytes | None]] = [
        # an endpoint removed, a service edited, a nested endpoint added, a new service
        {E + "db-tcp.yaml": None, S + "db.yaml": service_yaml("db", host="hw-1", tags=["sql", "prod"]),
         S + "web.yaml": service_yaml("web", depends_on=["db"]) + "endpoints:\n  - name: Home\n    slug: web-home\n"
         "    type: http\n    target: https://web.example.org\n  - name: Ping\n    slug: web-ping\n    type: icmp\n"
         "    target: 10.1.1.1\n", S + "new.yaml": service_yaml("new", depends_on=["web", "gone"])},
        # the broken file fixed, the duplicate slug's winner removed (the copy wins now), a cycle broken
        {S + "broken.yaml": service_yaml("broken", host="hw-1"), S + "grafana.yaml": None,
         S + "c.yaml": service_yaml("c")},
        # a file renamed (same content, other path) and an endpoint moved into its own file
        {S + "new.yaml": None, S + "renamed.yaml": service_yaml("new", depends_on=["web", "gone"]),
         E + "web-ping.yaml": "name: Ping\nslug: web-ping\nservice: web\ntype: icmp\ntarget: 10.1.1.1\n"},
        # nothing under catalog/ changes
        {"docs/readme.md": "# Readme\n"},
    ]
    for files in steps:
        commit_files(ctx.repo_path, files)
        result = sync(ctx)
        incremental = snapshot(ctx)
        forced = sync(ctx, force=True)
        assert (forced.services, forced.endpoints, forced.errors, forced.warnings) == (
            result.services, result.endpoints, result.errors, result.warnings)
        assert snapshot(ctx) == incremental

    with ctx.session_factory() as session:
        assert {e.slug for e in index.list_endpoints(session=session, limit=500)[0]} >= {"web-home", "web-ping"}
        assert "db-tcp" not in {e.slug for e in index.list_endpoints(session=session, limit=500)[0]}
        assert index.get_service(session=session, slug="grafana").file == S + "zz-copy.yaml"


def test_an_incremental_sync_after_a_restart_reads_unchanged_specs_from_the_index(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {S + "a.yaml": service_yaml("a", tags=["x"]), S + "b.yaml": service_yaml("b")})
    sync(ctx)
    index_sync._memo = index_parse._Memo()  # what a new process knows
    commit_files(ctx.repo_path, {S + "b.yaml": service_yaml("b", depends_on=["a"])})
    sync(ctx)
    incremental = snapshot(ctx)
    sync(ctx, force=True)
    assert snapshot(ctx) == incremental
    assert [tuple(e) for e in incremental["edges"]] == [("b", "a", "depends_on")]


def test_many_incremental_syncs_in_a_row_end_where_a_full_one_does(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, dict(BAD_CATALOG))
    sync(ctx)
    for n in range(6):
        commit_files(ctx.repo_path, {
            S + f"s{n}.yaml": service_yaml(f"s{n}", depends_on=[f"s{n - 1}"] if n else ["ghost"]),
            E + f"e{n}.yaml": f"name: E{n}\nslug: e{n}\nservice: s{n}\ntype: icmp\ntarget: 10.0.0.{n}\n",
            **({S + f"s{n - 2}.yaml": None, E + f"e{n - 2}.yaml": None} if n >= 2 else {}),
            **({S + "zz-copy.yaml": None} if n == 3 else {}),
        })
        assert not sync(ctx).skipped
    incremental = snapshot(ctx)
    sync(ctx, force=True)
    assert snapshot(ctx) == incremental
