"""The catalog's read API and pages over a real managed repository.

Files reach main the two ways they do in life: merged through a work item (the index follows by
itself), or committed straight onto main by someone else (then ``POST /api/v1/catalog/sync``). Bad
files are reported with file, line and message, never stop the rest from loading, and never make
a page or an API answer fail.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from tests.catalog import commit_files
from tests.catalog.helpers import error_of, land_files, main_commit
from tests.conftest import Cast

S = "catalog/services/"
E = "catalog/endpoints/"

# A small homelab: hw-1 (hardware) ← vm-1 ← db, grafana, loki, proxy; nas on hw-1.
# grafana and loki need db; proxy needs grafana.
HOMELAB = {
    S + "hw-1.yaml": "name: Rack server\nslug: hw-1\nkind: bare_metal\ntags: [hardware]\n",
    S + "vm-1.yaml": "name: Docker VM\nslug: vm-1\nkind: vm\nhost: hw-1\ntags: [infra]\n",
    S + "nas.yaml": "name: NAS\nslug: nas\nkind: storage\nhost: hw-1\ntags: [data]\n",
    S + "db.yaml": "name: PostgreSQL\nslug: db\nkind: container\nhost: vm-1\nstatus: maintenance\n"
                   "tags: [data]\n",
    S + "grafana.yaml": "name: Grafana\nslug: grafana\nkind: container\nhost: vm-1\ndepends_on: [db]\n"
                        "tags: [monitoring, web]\ndescription: Dashboards\n",
    S + "loki.yaml": "name: Loki\nslug: loki\nkind: container\nhost: vm-1\ndepends_on: [db]\n"
                     "tags: [monitoring]\nstatus: retired\n",
    S + "proxy.yaml": "name: Caddy\nslug: proxy\nkind: container\nhost: vm-1\ndepends_on: [grafana]\n"
                      "tags: [web]\ndescription: The reverse proxy in front of grafana\n",
}
BY_NAME = ["proxy", "vm-1", "grafana", "loki", "nas", "db", "hw-1"]  # Caddy, Docker VM, Grafana, ...


def slugs(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/api/v1/services", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [row["slug"] for row in response.json()["items"]]


@pytest.fixture
def homelab(ctx: AppContext, cast: Cast) -> Cast:
    land_files(cast.editor, HOMELAB, title="Describe the homelab", entry="Added the homelab's services")
    return cast


# ------------------------------------------------------------------------------------------- the index

def test_a_merge_that_adds_a_service_updates_the_index_without_a_sync(ctx: AppContext, cast: Cast) -> None:
    assert slugs(cast.viewer) == []
    merged = land_files(cast.editor, {S + "grafana.yaml": "name: Grafana\nslug: grafana\nkind: container\n"})
    assert slugs(cast.viewer) == ["grafana"]
    body = cast.viewer.get("/api/v1/services/grafana").json()
    assert body["file"] == S + "grafana.yaml" and body["commit_id"] == merged["merge_commit"]
    land_files(cast.editor, {S + "loki.yaml": "name: Loki\nslug: loki\nkind: container\n"}, title="Add Loki")
    assert slugs(cast.viewer) == ["grafana", "loki"]
    # grafana's file did not change, so it keeps the commit that last changed it
    assert cast.viewer.get("/api/v1/services/grafana").json()["commit_id"] == merged["merge_commit"]
    page = cast.viewer.get("/services")
    assert page.status_code == 200
    assert main_commit(ctx.repo_path)[:10] in page.text and "2 on main" in page.text


def test_a_commit_made_outside_calcifer_is_indexed_by_a_sync(ctx: AppContext, cast: Cast) -> None:
    commit = commit_files(ctx.repo_path, {S + "grafana.yaml": "name: Grafana\nslug: grafana\nkind: container\n"})
    assert slugs(cast.viewer) == []  # nobody told the index yet
    error_of(cast.viewer.post("/api/v1/catalog/sync"), 403)
    error_of(cast.outsider.post("/api/v1/catalog/sync"), 401)
    response = cast.editor.post("/api/v1/catalog/sync")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["commit"] == commit and result["services"] == 1 and result["problems"] == 0
    assert isinstance(result["duration_ms"], int)
    assert slugs(cast.viewer) == ["grafana"]


# ------------------------------------------------------------------------------------------- bad files

BAD_FILES = {
    S + "hw-1.yaml": "name: Rack server\nslug: hw-1\nkind: bare_metal\n",
    S + "db.yaml": "name: PostgreSQL\nslug: db\nkind: container\nhost: hw-1\n",
    # YAML syntax error: the flow list is never closed (line 3)
    S + "broken.yaml": "name: Broken\nslug: broken\nkind: [vm\nhost: hw-1\n",
    # schema errors: a port out of range (line 6) and an unknown kind (line 3)
    S + "wrong.yaml": "name: Wrong\nslug: wrong\nkind: spaceship\nhost: hw-1\nports:\n  - number: 70000\n",
    # a dependency cycle a → b → a (reported at a's depends_on, line 4)
    S + "a.yaml": "name: A\nslug: a\nkind: container\ndepends_on: [b]\n",
    S + "b.yaml": "name: B\nslug: b\nkind: container\ndepends_on: [a]\n",
    # an unknown host (line 5)
    S + "orphan.yaml": "# nobody knows where this runs\nname: Orphan\nslug: orphan\nkind: container\nhost: nowhere\n",
    # two endpoints checking the same URL: the second is flagged at its target (line 5)
    E + "db-web.yaml": "name: DB admin\nslug: db-web\nservice: db\ntype: http\ntarget: https://db.lan/\n",
    E + "db-web2.yaml": "name: DB admin again\nslug: db-web2\nservice: db\ntype: http\ntarget: https://db.lan\n",
}
VALID = ["a", "b", "db", "hw-1", "orphan"]


def land_bad_files(how: str, ctx: AppContext, cast: Cast) -> None:
    if how == "work item":
        # Files that would not load never pass the merge check: what loads (warnings and all) comes through a
        # work item, the two broken files only reach main committed outside Calcifer.
        broken = (S + "broken.yaml", S + "wrong.yaml")
        land_files(cast.editor, {path: text for path, text in BAD_FILES.items() if path not in broken},
                   title="Import messy files", entry="Imported the old catalog")
        commit_files(ctx.repo_path, {path: BAD_FILES[path] for path in broken})
        assert cast.editor.post("/api/v1/catalog/sync").status_code == 200
    else:
        commit_files(ctx.repo_path, BAD_FILES)
        assert cast.editor.post("/api/v1/catalog/sync").status_code == 200


def test_problems_page_by_cursor_in_the_order_of_the_whole_list(ctx: AppContext, cast: Cast) -> None:
    land_bad_files("direct commit and sync", ctx, cast)
    whole = cast.viewer.get("/api/v1/catalog/problems").json()
    assert whole["next_cursor"] is None and len(whole["items"]) == 6, whole
    seen, cursor = [], None
    for _ in range(4):
        page = cast.viewer.get("/api/v1/catalog/problems",
                               params={"limit": 2} | ({"cursor": cursor} if cursor else {})).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == whole["items"]
    error_of(cast.viewer.get("/api/v1/catalog/problems", params={"cursor": "WyJhIl0"}), 422)


@pytest.mark.parametrize("how", ["work item", "direct commit and sync"])
def test_bad_files_on_main_are_reported_and_the_rest_loads(how: str, ctx: AppContext, cast: Cast) -> None:
    land_bad_files(how, ctx, cast)
    response = cast.viewer.get("/api/v1/catalog/problems")
    assert response.status_code == 200, response.text
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for problem in response.json()["items"]:
        assert set(problem) == {"file", "line", "severity", "code", "message"}, problem
        found.setdefault((problem["file"], problem["code"]), []).append(problem)

    def one(file: str, code: str) -> dict[str, Any]:
        assert len(found.get((file, code), [])) == 1, (file, code, found)
        return found[(file, code)][0]

    syntax = one(S + "broken.yaml", "yaml_syntax")
    assert syntax["severity"] == "error" and syntax["line"] in (3, 4) and "YAML" in syntax["message"], syntax
    schema = {p["message"].split(":")[0]: p for p in found[(S + "wrong.yaml", "schema")]}
    assert set(schema) == {"kind", "ports.0.number"}, found[(S + "wrong.yaml", "schema")]
    assert schema["kind"]["line"] == 3 and schema["ports.0.number"]["line"] == 6, schema
    assert "65535" in schema["ports.0.number"]["message"]
    cycle = one(S + "a.yaml", "cycle")
    assert cycle["line"] == 4 and "a → b → a" in cycle["message"], cycle
    host = one(S + "orphan.yaml", "unknown_host")
    assert host["line"] == 5 and "nowhere" in host["message"] and host["severity"] == "warning", host
    target = one(E + "db-web2.yaml", "duplicate_target")
    assert target["line"] == 5 and "db-web" in target["message"], target
    assert len(response.json()["items"]) == 6, response.json()
    errors = cast.viewer.get("/api/v1/catalog/problems", params={"severity": "error"}).json()["items"]
    assert {p["file"] for p in errors} == {S + "broken.yaml", S + "wrong.yaml"}

    # every valid file loaded (warnings do not stop a file from loading)
    assert sorted(slugs(cast.viewer)) == VALID
    assert sorted(e["slug"] for e in cast.viewer.get("/api/v1/endpoints").json()["items"]) == ["db-web", "db-web2"]

    # the services page shows the problems table, one row per problem
    page = cast.viewer.get("/services")
    assert page.status_code == 200
    table = page.text.split('id="catalog-problems"')[1].split("</section>")[0]
    assert "3 error(s), 3 warning(s)" in table
    rows = re.findall(r'<tr data-code="([a-z_]+)"><td>.*?</td><td class="mono break-all">([^<]+)</td>'
                      r'<td class="num">(\d+)</td><td>(.*?)</td></tr>', table, re.S)
    assert sorted((code, file, int(line)) for code, file, line, _ in rows) == sorted(
        (p["code"], p["file"], p["line"]) for p in response.json()["items"]), rows
    assert any("a → b → a" in html.unescape(message) for *_, message in rows)


@pytest.mark.parametrize("how", ["work item", "direct commit and sync"])
def test_no_page_or_answer_fails_on_a_messy_catalog(how: str, ctx: AppContext, cast: Cast) -> None:
    land_bad_files(how, ctx, cast)
    # TestClient re-raises any unhandled server exception, so a 500 cannot hide here.
    for path in ("/services", "/services/a", "/services/orphan", "/services/db", "/endpoints",
                 "/monitoring/endpoints/db-web2", "/catalog/graph", "/catalog/graph?center=a",
                 "/catalog/edit/service?slug=broken",
                 "/catalog/edit/service?slug=wrong", "/catalog/edit/service?slug=a",
                 "/catalog/edit/endpoint?slug=db-web2", "/api/v1/services", "/api/v1/services/a",
                 "/api/v1/services/a/impact", "/api/v1/services/orphan", "/api/v1/catalog/graph",
                 "/api/v1/catalog/graph?center=b&depth=10", "/api/v1/catalog/problems", "/api/v1/endpoints",
                 "/api/v1/services?sort=-updated", "/api/v1/services?host=nowhere", "/api/v1/catalog/graph/health",
                 "/api/v1/endpoints/db-web2"):
        response = cast.editor.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    for path in ("/services/broken", "/services/wrong", "/api/v1/services/broken", "/api/v1/services/wrong/impact",
                 "/api/v1/catalog/graph?center=broken"):
        response = cast.editor.get(path)
        assert response.status_code == 404, (path, response.status_code)
    # a cycle does not send the graph walks round and round
    body = cast.viewer.get("/api/v1/services/a").json()
    assert body["upstream"] == ["b"] and body["downstream"] == ["b"] and body["host_chain"] == []
    assert cast.viewer.get("/api/v1/services/a/impact").json() == {"slug": "a", "direct": ["b"], "transitive": [],
                                                                   "count": 1}
    # the edit page of a broken file still shows the file as it is on main
    edit = cast.editor.get("/catalog/edit/service?slug=broken").text
    assert "kind: [vm" in html.unescape(edit)


# ---------------------------------------------------------------------------------- lists and filters

def test_services_filter_by_kind_host_tag_status_and_text(homelab: Cast) -> None:
    viewer = homelab.viewer
    assert slugs(viewer) == BY_NAME
    assert slugs(viewer, kind="container") == ["proxy", "grafana", "loki", "db"]
    assert slugs(viewer, kind="storage") == ["nas"]
    assert slugs(viewer, host="vm-1") == ["proxy", "grafana", "loki", "db"]
    assert slugs(viewer, host="hw-1") == ["vm-1", "nas"]
    assert slugs(viewer, tag="monitoring") == ["grafana", "loki"]
    assert slugs(viewer, tag="data") == ["nas", "db"]
    assert slugs(viewer, status="retired") == ["loki"]
    assert slugs(viewer, status="maintenance") == ["db"]
    assert slugs(viewer, q="grafana") == ["proxy", "grafana"]  # by name, and by proxy's description
    assert slugs(viewer, q="POSTGRES") == ["db"]  # case-insensitive
    assert slugs(viewer, q="100%_") == []  # LIKE wildcards are plain text
    assert slugs(viewer, kind="container", tag="monitoring", status="active") == ["grafana"]
    assert slugs(viewer, tag="nothing-has-this") == []
    row = viewer.get("/api/v1/services", params={"q": "grafana", "kind": "container"}).json()["items"][-1]
    assert row["slug"] == "grafana" and row["tags"] == ["monitoring", "web"] and row["depends_on"] == ["db"]
    assert "spec" not in row  # the list is a summary


def test_services_sort_by_each_key_both_ways(homelab: Cast) -> None:
    viewer = homelab.viewer
    assert slugs(viewer, sort="-name") == list(reversed(BY_NAME))
    kinds = [row["kind"] for row in viewer.get("/api/v1/services", params={"sort": "kind"}).json()["items"]]
    assert kinds == sorted(kinds) and kinds[0] == "bare_metal"
    assert slugs(viewer, sort="kind") == ["hw-1", "db", "grafana", "loki", "proxy", "nas", "vm-1"]
    assert slugs(viewer, sort="host") == ["hw-1", "nas", "vm-1", "db", "grafana", "loki", "proxy"]
    assert slugs(viewer, sort="-host") == ["proxy", "loki", "grafana", "db", "vm-1", "nas", "hw-1"]
    assert slugs(viewer, sort="-status") == ["loki", "db", "vm-1", "proxy", "nas", "hw-1", "grafana"]
    assert sorted(slugs(viewer, sort="-updated")) == sorted(BY_NAME)
    error = error_of(viewer.get("/api/v1/services", params={"sort": "colour"}), 422)
    assert error["code"] == "bad_sort" and "name" in error["message"]


@pytest.mark.parametrize("sort", ["name", "-name", "kind", "host", "-status", "updated", "-updated"])
def test_pages_follow_the_cursor_without_gaps_or_repeats(homelab: Cast, sort: str) -> None:
    viewer = homelab.viewer
    everything = slugs(viewer, sort=sort)
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 2, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        body = viewer.get("/api/v1/services", params=params).json()
        assert len(body["items"]) <= 2
        seen += [row["slug"] for row in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    # a filtered list pages too
    first = viewer.get("/api/v1/services", params={"limit": 3, "host": "vm-1", "sort": sort}).json()
    rest = viewer.get("/api/v1/services", params={"limit": 3, "host": "vm-1", "sort": sort,
                                                  "cursor": first["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    assert sorted(r["slug"] for r in first["items"] + rest["items"]) == ["db", "grafana", "loki", "proxy"]


def test_bad_list_parameters_are_clear_4xx(homelab: Cast) -> None:
    viewer = homelab.viewer
    for cursor in ("not-a-cursor", "W10", "!!!"):
        error = error_of(viewer.get("/api/v1/services", params={"cursor": cursor}), 422)
        assert error["code"] == "bad_cursor", error
    error_of(viewer.get("/api/v1/endpoints", params={"cursor": "W10"}), 422)
    error_of(viewer.get("/api/v1/services", params={"limit": 0}), 422)
    error_of(viewer.get("/api/v1/services", params={"limit": 501}), 422)
    error_of(viewer.get("/api/v1/catalog/graph", params={"depth": 0}), 422)
    assert homelab.editor.get("/services?sort=colour").status_code == 422
    assert homelab.editor.get("/services?cursor=nonsense").status_code == 422


def test_catalog_reads_need_a_login(homelab: Cast) -> None:
    for path in ("/api/v1/services", "/api/v1/services/grafana", "/api/v1/services/grafana/impact",
                 "/api/v1/endpoints", "/api/v1/catalog/problems", "/api/v1/catalog/graph"):
        error_of(homelab.outsider.get(path), 401)
        assert homelab.viewer.get(path).status_code == 200, path
    assert homelab.outsider.get("/services").status_code == 303  # to the login page


# ---------------------------------------------------------------------------------------- relations

def test_a_service_answer_has_its_host_chain_upstream_and_downstream(homelab: Cast) -> None:
    body = homelab.viewer.get("/api/v1/services/grafana").json()
    assert body["host_chain"] == ["vm-1", "hw-1"]
    assert body["upstream"] == ["db", "vm-1", "hw-1"]  # nearest first
    assert body["downstream"] == ["proxy"]
    assert body["spec"]["tags"] == ["monitoring", "web"] and body["spec"]["kind"] == "container"
    assert body["endpoints"] == []
    vm = homelab.viewer.get("/api/v1/services/vm-1").json()
    assert vm["host_chain"] == ["hw-1"] and vm["upstream"] == ["hw-1"]
    assert vm["downstream"] == ["db", "grafana", "loki", "proxy"]
    hw = homelab.viewer.get("/api/v1/services/hw-1").json()
    assert hw["host_chain"] == [] and hw["upstream"] == []
    error_of(homelab.viewer.get("/api/v1/services/nope"), 404)


def test_impact_counts_transitive_dependents_including_hosted_services(homelab: Cast) -> None:
    def impact(slug: str) -> dict[str, Any]:
        response = homelab.viewer.get(f"/api/v1/services/{slug}/impact")
        assert response.status_code == 200, response.text
        return dict(response.json())

    assert impact("hw-1") == {"slug": "hw-1", "direct": ["nas", "vm-1"],
                              "transitive": ["db", "grafana", "loki", "proxy"], "count": 6}
    assert impact("vm-1") == {"slug": "vm-1", "direct": ["db", "grafana", "loki", "proxy"], "transitive": [],
                              "count": 4}
    assert impact("db") == {"slug": "db", "direct": ["grafana", "loki"], "transitive": ["proxy"], "count": 3}
    assert impact("proxy")["count"] == 0
    error_of(homelab.viewer.get("/api/v1/services/nope/impact"), 404)
    page = homelab.viewer.get("/services/db").text
    impact_card = page.split('id="impact"')[1].split("</section>")[0]
    assert "If db goes down, 3 services are affected." in impact_card


def test_the_graph_has_every_service_and_both_kinds_of_edges(homelab: Cast) -> None:
    body = homelab.viewer.get("/api/v1/catalog/graph").json()
    assert [n["id"] for n in body["nodes"]] == BY_NAME and body["truncated"] is False
    node = next(n for n in body["nodes"] if n["id"] == "grafana")
    assert node == {"id": "grafana", "label": "Grafana", "kind": "container", "status": "active", "host": "vm-1"}
    edges = {(e["source"], e["target"], e["kind"]) for e in body["edges"]}
    assert edges == {("vm-1", "hw-1", "host"), ("nas", "hw-1", "host"), ("db", "vm-1", "host"),
                     ("grafana", "vm-1", "host"), ("loki", "vm-1", "host"), ("proxy", "vm-1", "host"),
                     ("grafana", "db", "depends_on"), ("loki", "db", "depends_on"),
                     ("proxy", "grafana", "depends_on")}
    around = homelab.viewer.get("/api/v1/catalog/graph", params={"center": "grafana", "depth": 1}).json()
    assert [n["id"] for n in around["nodes"]][0] == "grafana"
    assert sorted(n["id"] for n in around["nodes"]) == ["db", "grafana", "proxy", "vm-1"]
    tagged = homelab.viewer.get("/api/v1/catalog/graph", params={"tag": "monitoring"}).json()
    assert [n["id"] for n in tagged["nodes"]] == ["grafana", "loki"] and tagged["edges"] == []
    hosted = homelab.viewer.get("/api/v1/catalog/graph", params={"host": "vm-1"}).json()
    assert sorted(n["id"] for n in hosted["nodes"]) == ["db", "grafana", "loki", "proxy", "vm-1"]
    small = homelab.viewer.get("/api/v1/catalog/graph", params={"limit": 2}).json()
    assert len(small["nodes"]) == 2 and small["truncated"] is True
    assert all(e["source"] in {"proxy", "vm-1"} and e["target"] in {"proxy", "vm-1"} for e in small["edges"])
    error_of(homelab.viewer.get("/api/v1/catalog/graph", params={"center": "nope"}), 404)


def test_service_and_graph_pages_render_the_catalog(homelab: Cast) -> None:
    page = homelab.viewer.get("/services/grafana")
    assert page.status_code == 200
    text = page.text
    assert "<h1>Grafana</h1>" in text
    assert 'href="/services/vm-1"' in text and 'href="/services/hw-1"' in text  # the host chain
    assert "If grafana goes down, 1 service is affected." in text
    assert "/catalog/edit/service?slug=grafana" not in text  # viewers do not get the edit button
    assert "/catalog/edit/service?slug=grafana" in homelab.editor.get("/services/grafana").text
    listing = homelab.viewer.get("/services?tag=monitoring").text
    table = listing.split('id="services-table"')[1]
    assert re.findall(r'<tr>\s*<td><a href="/services/([a-z0-9-]+)">', table) == ["grafana", "loki"]
    assert 'id="catalog-problems"' not in listing
    graph = homelab.viewer.get("/catalog/graph?center=grafana").text
    assert 'id="graph"' in graph and 'data-center="grafana"' in graph and 'id="graph-status"' in graph
    assert homelab.viewer.get("/services/nope").status_code == 404


# ------------------------------------------------------------------------------------------ JSON Schema

def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = schema["$defs"][name]
    return node


def test_the_json_schemas_are_public_and_describe_the_files(cast: Cast) -> None:
    response = cast.outsider.get("/api/v1/schema/service")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Service" and schema["type"] == "object"
    assert set(schema["required"]) == {"name", "slug", "kind"}
    assert schema["additionalProperties"] is False
    props = schema["properties"]
    assert set(resolve(schema, props["kind"])["enum"]) == {"container", "vm", "lxc", "bare_metal",
                                                            "network_device", "storage", "saas", "other"}
    assert set(resolve(schema, props["status"])["enum"]) == {"active", "maintenance", "retired"}
    assert props["slug"]["pattern"] == r"^[a-z0-9][a-z0-9-]{0,62}$"
    port = resolve(schema, props["ports"]["items"])
    assert port["properties"]["number"]["maximum"] == 65535 and port["properties"]["number"]["minimum"] == 1
    for name in ("host", "depends_on", "tags", "endpoints", "deployment", "urls", "links", "owner"):
        assert name in props, name

    response = cast.outsider.get("/api/v1/schema/endpoint")
    assert response.status_code == 200, response.text
    endpoint = response.json()
    assert endpoint["title"] == "Endpoint" and set(endpoint["required"]) == {"name", "slug", "type"}
    assert set(resolve(endpoint, endpoint["properties"]["type"])["enum"]) == {
        "icmp", "tcp", "http", "dns", "push", "snmp", "postgres", "redis", "mqtt", "smtp", "grpc"}
    assert endpoint["properties"]["interval"]["maximum"] == 86_400
    # the same document for a logged-in client
    assert cast.viewer.get("/api/v1/schema/service").json() == schema
