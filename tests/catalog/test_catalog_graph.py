from __future__ import annotations

import pytest
from sqlalchemy import insert

from calcifer.catalog import graph, index
from calcifer.catalog.models import CatalogEdge, CatalogService
from calcifer.db import utcnow
from calcifer.errors import NotFound
from calcifer.web.context import AppContext
from tests.catalog import commit_files, service_yaml

S = "catalog/services/"

# server-1 (hardware) ─ hosts ─ vm-1 ─ hosts ─ grafana, postgres;  vm-2 on server-1 hosts nginx.
# grafana depends on postgres; nginx depends on grafana; backup depends on postgres (runs nowhere known).
# loop-a → loop-b → loop-a is a dependency cycle (reported by the index, walked safely here).
HOMELAB = {
    "server-1": service_yaml("server-1", kind="bare_metal", tags=["rack"]),
    "vm-1": service_yaml("vm-1", kind="vm", host="server-1", tags=["rack"]),
    "vm-2": service_yaml("vm-2", kind="vm", host="server-1"),
    "grafana": service_yaml("grafana", host="vm-1", depends_on=["postgres"], tags=["monitoring"]),
    "postgres": service_yaml("postgres", host="vm-1"),
    "nginx": service_yaml("nginx", host="vm-2", depends_on=["grafana"]),
    "backup": service_yaml("backup", kind="other", depends_on=["postgres", "offsite"]),
    "loop-a": service_yaml("loop-a", depends_on=["loop-b"], host="vm-2"),
    "loop-b": service_yaml("loop-b", depends_on=["loop-a"]),
}


@pytest.fixture
def homelab(ctx: AppContext) -> AppContext:
    commit_files(ctx.repo_path, {f"{S}{slug}.yaml": text for slug, text in HOMELAB.items()})
    with ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=ctx.repo_path)
    return ctx


def test_host_chain_goes_from_the_container_to_the_hardware(homelab: AppContext) -> None:
    with homelab.session_factory() as session:
        assert graph.host_chain(session, "grafana") == ["vm-1", "server-1"]
        assert graph.host_chain(session, "vm-1") == ["server-1"]
        assert graph.host_chain(session, "server-1") == []
        assert graph.host_chain(session=session, slug="backup") == []
        with pytest.raises(NotFound):
            graph.host_chain(session, "nope")


def test_host_chain_stops_at_a_host_cycle(ctx: AppContext) -> None:
    commit_files(ctx.repo_path, {f"{S}x.yaml": service_yaml("x", host="y"), f"{S}y.yaml": service_yaml("y", host="z"),
                                 f"{S}z.yaml": service_yaml("z", host="x")})
    with ctx.session_factory() as session:
        index.sync_from_git(session=session, repo_path=ctx.repo_path)
        assert graph.host_chain(session, "x") == ["y", "z"]
        assert graph.upstream(session, "x") == ["y", "z"]
        assert graph.impact(session, "x") == {"direct": ["z"], "transitive": ["y"], "count": 2}
        problems = index.list_problems(session=session)
        assert [(p.code, p.message) for p in problems] == [("cycle", "cycle: x → y → z → x")]


def test_upstream_is_everything_a_service_needs_including_hosts(homelab: AppContext) -> None:
    with homelab.session_factory() as session:
        assert graph.upstream(session, "nginx") == ["grafana", "vm-2", "postgres", "server-1", "vm-1"]
        assert graph.upstream(session, "backup") == ["postgres", "vm-1", "server-1"]  # offsite is unknown
        assert graph.upstream(session, "server-1") == []


def test_downstream_and_impact_count_dependents_and_hosted_services(homelab: AppContext) -> None:
    with homelab.session_factory() as session:
        assert graph.downstream(session, "postgres") == ["backup", "grafana", "nginx"]
        assert graph.impact(session, "postgres") == {"direct": ["backup", "grafana"], "transitive": ["nginx"],
                                                     "count": 3}
        # The hardware takes everything on it down, and what depends on that.
        assert graph.impact(session, "server-1") == {
            "direct": ["vm-1", "vm-2"],
            "transitive": ["backup", "grafana", "loop-a", "loop-b", "nginx", "postgres"],
            "count": 8,
        }
        assert graph.impact(session, "nginx") == {"direct": [], "transitive": [], "count": 0}
        with pytest.raises(NotFound):
            graph.impact(session, "offsite")


def test_walks_are_cycle_safe(homelab: AppContext) -> None:
    with homelab.session_factory() as session:
        assert graph.upstream(session, "loop-a") == ["loop-b", "vm-2", "server-1"]
        assert graph.downstream(session, "loop-a") == ["loop-b"]
        assert graph.impact(session, "loop-b") == {"direct": ["loop-a"], "transitive": [], "count": 1}


def test_graph_data_around_a_center_by_depth(homelab: AppContext) -> None:
    with homelab.session_factory() as session:
        data = graph.graph_data(session=session, center="grafana", depth=1)
        assert [n["id"] for n in data["nodes"]] == ["grafana", "nginx", "postgres", "vm-1"]
        assert data["nodes"][0] == {"id": "grafana", "label": "Grafana", "kind": "container", "status": "active",
                                    "host": "vm-1"}
        assert sorted((e["source"], e["target"], e["kind"]) for e in data["edges"]) == [
            ("grafana", "postgres", "depends_on"), ("grafana", "vm-1", "host"), ("nginx", "grafana", "depends_on"),
            ("postgres", "vm-1", "host")]
        assert data["truncated"] is False
        wide = graph.graph_data(session=session, center="grafana", depth=5)
        assert len(wide["nodes"]) == 9
        small = graph.graph_data(session=session, center="grafana", depth=5, limit=3)
        assert [n["id"] for n in small["nodes"]][0] == "grafana" and small["truncated"] is True
        with pytest.raises(NotFound):
            graph.graph_data(session=session, center="nope")


def test_graph_data_filters_by_tag_and_host(homelab: AppContext) -> None:
    with homelab.session_factory() as session:
        everything = graph.graph_data(session=session)
        assert len(everything["nodes"]) == 9 and len(everything["edges"]) == 11
        assert [n["id"] for n in graph.graph_data(session=session, tag="rack")["nodes"]] == ["server-1", "vm-1"]
        on_vm = graph.graph_data(session=session, host="vm-1")
        assert sorted(n["id"] for n in on_vm["nodes"]) == ["grafana", "postgres", "vm-1"]
        assert len(on_vm["edges"]) == 3
        on_server = graph.graph_data(session=session, host="server-1", tag="rack")
        assert sorted(n["id"] for n in on_server["nodes"]) == ["server-1", "vm-1"]
        assert graph.graph_data(session=session, host="unknown") == {"nodes": [], "edges": [], "truncated": False}


def test_graph_walks_stay_linear_at_five_thousand_services(ctx: AppContext) -> None:
    # Index rows written directly (parsing is the index tests' business): a hardware host, 50 VMs on
    # it, and 4,950 apps spread over the VMs, each depending on the one before (a 4,950-long chain).
    services = [{"slug": "hw", "host": None, "kind": "bare_metal"}]
    services += [{"slug": f"vm-{n}", "host": "hw", "kind": "vm"} for n in range(50)]
    services += [{"slug": f"app-{n}", "host": f"vm-{n % 50}", "kind": "container"} for n in range(4950)]
    edges = [{"from_slug": s["slug"], "to_slug": s["host"], "kind": "host"} for s in services if s["host"]]
    edges += [{"from_slug": f"app-{n}", "to_slug": f"app-{n - 1}", "kind": "depends_on"} for n in range(1, 4950)]
    now = utcnow()
    with ctx.session_factory() as session:
        session.execute(insert(CatalogService), [
            {**s, "name": s["slug"].title(), "status": "active", "description": "", "owner": None, "tags": [],
             "depends_on": [], "spec": {}, "file": f"{S}{s['slug']}.yaml", "line": 1, "blob_id": "0" * 40,
             "commit_id": "0" * 40, "updated_at": now} for s in services])
        session.execute(insert(CatalogEdge), edges)
        session.commit()
        assert graph.impact(session, "hw")["count"] == 5000
        assert graph.impact(session, "app-0") == {"direct": ["app-1"], "transitive": [f"app-{n}" for n in
                                                  sorted(range(2, 4950), key=str)], "count": 4949}
        assert len(graph.upstream(session, "app-4949")) == 4949 + 50 + 1  # earlier apps, every VM, hw
        assert graph.host_chain(session, "app-7") == ["vm-7", "hw"]
        data = graph.graph_data(session=session, limit=5000)
        assert len(data["nodes"]) == 5000 and data["truncated"] is True
        assert len(graph.graph_data(session=session, center="vm-3", depth=1)["nodes"]) == 1 + 1 + 99
