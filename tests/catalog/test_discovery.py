"""Compose discovery end to end: compose files on main (put there through work items) and in extra
folders are proposed as catalog services (new, drifted, missing) and accepted through a work item."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.app import create_app, prepare
from calcifer.auth.choices import Role
from calcifer.catalog import discovery
from calcifer.config import Settings
from calcifer.errors import Invalid
from calcifer.web.context import AppContext
from calcifer.work.routes import workspace_of
from tests.conftest import Cast, api_client, browser_login, drop_schema, make_settings, make_token, make_user
from tests.corpus import COMPOSE_CORPUS
from tests.work.helpers import finish_documentation, git, make_work_item

SAMPLES = Path(__file__).parent / "compose_samples"
CORPUS = COMPOSE_CORPUS
MONITORING = "infra/monitoring"
WEBAPP = "infra/webapp"  # docker/awesome-compose's nginx-golang-postgres
DISCOVERY = "/api/v1/catalog/discovery"
ACCEPT = "/api/v1/catalog/discovery/accept"
MONITORING_SLUGS = ["config-check", "prometheus", "alertmanager", "grafana", "node-exporter", "cadvisor", "netshoot"]


def sample_files(source: Path, target: str) -> dict[str, str]:
    """Every file under ``source`` as ``{target/relative path: text}``."""
    return {f"{target}/{path.relative_to(source).as_posix()}": path.read_text()
            for path in sorted(source.rglob("*")) if path.is_file()}


def onto_main(client: TestClient, files: dict[str, str | None], title: str, entry: str) -> dict[str, Any]:
    """Write (or delete, for None) ``files`` through a new work item, document it and merge it."""
    item = make_work_item(client, title=title, category="platform", action="change")
    for path, content in files.items():
        url = f"/api/v1/work-items/{item['id']}/files/{path}"
        response = client.delete(url) if content is None else client.put(url, json={"content": content})
        assert response.status_code in (200, 201, 204), response.text
    response = client.post(f"/api/v1/work-items/{item['id']}/commits", json={
        "message": title, "changelog": {"type": "Changed", "text": entry}})
    assert response.status_code == 201, response.text
    finish_documentation(client, item)
    merged = client.post(f"/api/v1/work-items/{item['id']}/merge")
    assert merged.status_code == 200, merged.text
    return merged.json()


def scan(client: TestClient) -> dict[str, Any]:
    """The whole scan: every page of the discovery list, the five lists joined."""
    found: dict[str, Any] = {}
    cursor = None
    while True:
        response = client.get(DISCOVERY, params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        for group in ("new", "drifted", "missing", "unchanged", "problems"):
            page[group] = found.get(group, []) + page[group]
        found = page
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def by_slug(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["slug"]: item for item in items}


def ports(spec: dict[str, Any]) -> list[tuple[int, str]]:
    return [(p["number"], p["protocol"]) for p in spec["ports"]]


def changelog_lines(client: TestClient, item_id: int) -> list[str]:
    text = client.get(f"/api/v1/work-items/{item_id}/files/CHANGES.md").json()["content"]
    return [line for line in text.splitlines() if "from compose" in line]


@pytest.fixture
def stacks_on_main(cast: Cast) -> None:
    files: dict[str, str | None] = {**sample_files(SAMPLES / "monitoring", MONITORING)}
    files[f"{WEBAPP}/compose.yaml"] = (CORPUS / "nginx-golang-postgres" / "compose.yaml").read_text()
    onto_main(cast.editor, files, "Add the compose stacks", "Added the monitoring and webapp stacks")


def test_every_compose_service_on_main_is_proposed_with_its_ports_and_dependencies(
        cast: Cast, stacks_on_main: None) -> None:
    found = scan(cast.viewer)
    assert found["counts"] == {"new": 10, "drifted": 0, "missing": 0, "unchanged": 0, "problems": 0}
    assert found["problems"] == [] and found["drifted"] == [] and found["missing"] == []
    assert found["scanned"]["compose_files"] == [f"{MONITORING}/compose.yaml", f"{WEBAPP}/compose.yaml"]
    new = by_slug(found["new"])
    assert sorted(new) == sorted([*MONITORING_SLUGS, "backend", "db", "proxy"])

    prometheus = new["prometheus"]["spec"]
    assert ports(prometheus) == [(9090, "tcp"), (9091, "tcp")]  # the override adds 9091
    assert {p["purpose"] for p in prometheus["ports"]} == {"compose"}
    assert prometheus["depends_on"] == ["config-check", "node-exporter", "cadvisor"]
    assert prometheus["kind"] == "container" and prometheus["name"] == "prometheus"
    assert prometheus["description"] == "prom/prometheus:v2.53.0"
    assert prometheus["tags"] == ["compose:homemonitoring"]
    assert prometheus["deployment"] == {"type": "compose", "compose_file": f"{MONITORING}/compose.yaml",
                                        "compose_project": "homemonitoring", "compose_service": "prometheus",
                                        "image": "prom/prometheus:v2.53.0"}
    assert "host" not in prometheus

    grafana = new["grafana"]
    assert ports(grafana["spec"]) == [(3000, "tcp")]
    assert grafana["spec"]["depends_on"] == ["prometheus", "alertmanager"]
    assert grafana["image"] == "grafana/grafana:11.2.0"  # from compose.override.yaml
    assert ports(new["cadvisor"]["spec"]) == [(8081, "tcp")]  # the published port, not the container's
    assert new["netshoot"]["spec"]["depends_on"] == ["prometheus"]  # network_mode: service:prometheus
    assert new["netshoot"]["profiles"] == ["debug"]
    assert new["node-exporter"]["spec"]["ports"] == []

    assert ports(new["proxy"]["spec"]) == [(80, "tcp")] and new["proxy"]["spec"]["depends_on"] == ["backend"]
    assert new["backend"]["spec"]["depends_on"] == ["db"]
    assert new["backend"]["spec"]["description"] == "Built from backend"
    assert new["db"]["spec"]["ports"] == []  # `expose` publishes nothing
    assert new["db"]["spec"]["tags"] == ["compose:webapp"]
    assert all(item["errors"] == [] for item in found["new"])


def test_accepted_services_are_committed_once_then_merged_then_drift_and_disappear(
        cast: Cast, ctx: AppContext, stacks_on_main: None) -> None:
    chosen = ["prometheus", "grafana", "alertmanager", "proxy", "backend", "db"]
    response = cast.editor.post(ACCEPT, json={"slugs": chosen, "work_item_id": None,
                                              "title": "Import the stacks from compose"})
    assert response.status_code == 201, response.text
    result = response.json()
    item_id = result["work_item_id"]
    assert result["merged"] is False and sorted(result["added"]) == sorted(chosen)
    assert result["changelog"] == ("Added 6 services from compose: prometheus, grafana, alertmanager, proxy, "
                                   "backend, db")
    # prometheus needs services that were not accepted: said so, not refused.
    assert any(w.startswith("prometheus depends on config-check, node-exporter, cadvisor")
               for w in result["warnings"])

    item = cast.editor.get(f"/api/v1/work-items/{item_id}").json()
    assert item["title"] == "Import the stacks from compose" and item["status"] == "in_progress"
    commits = cast.editor.get(f"/api/v1/work-items/{item_id}/commits").json()["items"]
    assert len(commits) == 1 and commits[0]["id"] == result["commit"]
    changed = git(ctx.repo_path, "show", "--name-only", "--format=", result["commit"]).split()
    assert sorted(changed) == sorted(["CHANGES.md", *(f"catalog/services/{s}.yaml" for s in chosen)])
    assert changelog_lines(cast.editor, item_id) == [f"- {result['changelog']} ([#{item_id}](/work/{item_id}))"]
    grafana_file = cast.editor.get(f"/api/v1/work-items/{item_id}/files/catalog/services/grafana.yaml").json()
    assert "compose_file: infra/monitoring/compose.yaml" in grafana_file["content"]

    # Not merged yet: still proposed as new.
    assert set(chosen) <= set(by_slug(scan(cast.viewer)["new"]))
    finish_documentation(cast.editor, item)
    assert cast.editor.post(f"/api/v1/work-items/{item_id}/merge").status_code == 200

    found = scan(cast.viewer)
    assert sorted(by_slug(found["new"])) == ["cadvisor", "config-check", "netshoot", "node-exporter"]
    assert sorted(found["unchanged"]) == sorted(chosen)
    assert found["drifted"] == [] and found["missing"] == []
    grafana = cast.viewer.get("/api/v1/services/grafana").json()
    assert grafana["depends_on"] == ["prometheus", "alertmanager"] and grafana["kind"] == "container"
    assert grafana["spec"]["ports"] == [{"number": 3000, "protocol": "tcp", "purpose": "compose"}]

    # A port changed on main: grafana drifted, field by field.
    compose_path = f"{MONITORING}/compose.yaml"
    original = (SAMPLES / "monitoring" / "compose.yaml").read_text()
    moved = original.replace('"3000:3000"', '"3001:3000"')
    assert moved != original
    onto_main(cast.editor, {compose_path: moved}, "Move grafana to 3001", "Moved grafana to port 3001")
    found = scan(cast.viewer)
    drifted = by_slug(found["drifted"])
    assert list(drifted) == ["grafana"]
    assert drifted["grafana"]["changes"] == [{"field": "ports", "catalog": ["3000/tcp"], "compose": ["3001/tcp"]}]
    assert found["missing"] == []

    # alertmanager removed from the compose file: missing (and grafana no longer depends on it).
    start = moved.index("  alertmanager:\n")
    without = moved[:start] + moved[moved.index("  grafana:\n"):]
    without = without.replace("      alertmanager:\n        condition: service_started\n", "")
    onto_main(cast.editor, {compose_path: without}, "Drop alertmanager", "Removed alertmanager")
    found = scan(cast.viewer)
    assert [m["slug"] for m in found["missing"]] == ["alertmanager"]
    assert found["missing"][0]["compose_file"] == compose_path
    assert found["missing"][0]["reason"] == f"{compose_path} no longer declares 'alertmanager'"
    changes = {c["field"]: c for c in by_slug(found["drifted"])["grafana"]["changes"]}
    assert changes["depends_on"] == {"field": "depends_on", "catalog": ["prometheus", "alertmanager"],
                                     "compose": ["prometheus"]}
    assert set(changes) == {"ports", "depends_on"}

    # Accepting the drift and the disappearance: one commit, grafana updated, alertmanager retired.
    response = cast.editor.post(ACCEPT, json={"slugs": ["grafana", "alertmanager"], "title": "Follow compose"})
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["changed"] == ["grafana"] and second["retired"] == ["alertmanager"]
    assert second["changelog"] == "Updated 2 services from compose (1 updated, 1 retired): grafana, alertmanager"
    item = cast.editor.get(f"/api/v1/work-items/{second['work_item_id']}").json()
    finish_documentation(cast.editor, item)
    assert cast.editor.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200
    found = scan(cast.viewer)
    assert found["drifted"] == [] and found["missing"] == []
    assert cast.viewer.get("/api/v1/services/alertmanager").json()["status"] == "retired"
    assert cast.viewer.get("/api/v1/services/grafana").json()["spec"]["ports"][0]["number"] == 3001


def test_drift_keeps_what_a_person_wrote(cast: Cast, stacks_on_main: None) -> None:
    hand_written = ("# Grafana: dashboards for everyone\nname: Grafana\nslug: grafana\nkind: vm\n"
                    "description: Dashboards.\nhost: docker-1\nports:\n  - number: 3000\n    protocol: tcp\n"
                    "    purpose: web UI\ndepends_on: [prometheus, ldap]\ntags: [monitoring]\n")
    onto_main(cast.editor, {"catalog/services/grafana.yaml": hand_written}, "Add grafana", "Added grafana")
    drifted = by_slug(scan(cast.viewer)["drifted"])["grafana"]
    fields = [c["field"] for c in drifted["changes"]]
    assert fields == ["kind", "depends_on", "deployment.type", "deployment.compose_file",
                      "deployment.compose_project", "deployment.compose_service", "deployment.image", "tags"]
    depends = next(c for c in drifted["changes"] if c["field"] == "depends_on")
    assert depends["compose"] == ["prometheus", "ldap", "alertmanager"]  # ldap is not compose's to drop

    result = cast.editor.post(ACCEPT, json={"slugs": ["grafana"]}).json()
    text = cast.editor.get(f"/api/v1/work-items/{result['work_item_id']}/files/catalog/services/grafana.yaml"
                           ).json()["content"]
    assert text.startswith("# Grafana: dashboards for everyone\nname: Grafana\n")
    assert "description: Dashboards." in text and "host: docker-1" in text and "purpose: web UI" in text
    # Quoted: libyaml, which the index reads with, refuses a plain ``a:b`` inside a flow list.
    assert "kind: container" in text and "tags: [monitoring, 'compose:homemonitoring']" in text
    assert result["changelog"] == "Updated 1 service from compose: grafana"


def test_accepting_an_unknown_slug_is_refused_with_every_reason_and_writes_nothing(
        cast: Cast, stacks_on_main: None) -> None:
    before = cast.editor.get("/api/v1/work-items").json()["items"]
    response = cast.editor.post(ACCEPT, json={"slugs": ["grafana", "no-such-service", "ghost"]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "not_proposed"
    assert [d["slug"] for d in error["details"]] == ["no-such-service", "ghost"]
    assert cast.editor.post(ACCEPT, json={"slugs": []}).status_code == 422
    assert cast.editor.get("/api/v1/work-items").json()["items"] == before


def test_a_viewer_may_look_but_not_accept(cast: Cast, stacks_on_main: None) -> None:
    assert cast.viewer.get(DISCOVERY).status_code == 200
    response = cast.viewer.post(ACCEPT, json={"slugs": ["grafana"]})
    assert response.status_code == 403
    assert cast.outsider.get(DISCOVERY).status_code == 401


def test_accepting_into_an_open_work_item_and_as_a_standard_change(cast: Cast, stacks_on_main: None) -> None:
    item = make_work_item(cast.editor, title="Monitoring overhaul")
    result = cast.editor.post(ACCEPT, json={"slugs": ["cadvisor", "node-exporter"], "work_item_id": item["id"]})
    assert result.status_code == 201, result.text
    assert result.json()["work_item_id"] == item["id"]
    assert len(changelog_lines(cast.editor, item["id"])) == 1

    applied = cast.editor.post(ACCEPT, json={"slugs": ["db"], "apply_now": True}).json()
    assert applied["merged"] is True and applied["merge_commit"]
    assert cast.viewer.get("/api/v1/services/db").json()["kind"] == "container"
    assert "db" in scan(cast.viewer)["unchanged"]

    done = cast.editor.get(f"/api/v1/work-items/{applied['work_item_id']}").json()
    conflict = cast.editor.post(ACCEPT, json={"slugs": ["backend"], "work_item_id": done["id"]})
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "not_open"


def test_put_services_validates_everything_before_writing_anything(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor, title="Bad batch")
    with ctx.session_factory() as session:
        from calcifer.auth import service as auth_service

        eddie = auth_service.get_user_by_username(session=session, username="eddie")
        with pytest.raises(Invalid) as raised:
            discovery.put_services(session=session, actor=eddie, item_id=item["id"], workspace=workspace_of(ctx),
                                   specs=[("ok", {"name": "ok", "kind": "container"}),
                                          ("bad-one", {"name": "x", "kind": "spaceship"}),
                                          ("bad-two", {"name": "y", "kind": "vm", "ports": [{"number": 0}]})])
    paths = {(d["slug"], d["path"]) for d in raised.value.details}
    assert paths == {("bad-one", "kind"), ("bad-two", "ports.0.number")}
    assert not (Path(item["worktree"]) / "catalog" / "services" / "ok.yaml").exists()
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/changes").json()["items"] == []


def test_the_changelog_entry_lists_a_long_selection_within_its_limit() -> None:
    slugs = [f"service-number-{n}" for n in range(40)]
    kind, text = discovery.changelog_entry(slugs, [], [])
    assert kind == "Added" and len(text) <= 300
    assert text.startswith("Added 40 services from compose: service-number-0, ") and text.endswith(" more")


def test_the_same_service_name_in_two_projects_is_prefixed_with_the_project() -> None:
    def found(name: str, project: str, file: str) -> discovery.Found:
        from calcifer.catalog.compose import ComposeService

        service = ComposeService(name=name, project=project, compose_file=file, image=None, build=None, ports=[],
                                 depends_on=[], depends_on_conditions={}, labels={}, networks=[], volumes=[],
                                 environment_keys=[], profiles=[], restart=None, container_name=None, command=None)
        return discovery.Found(service, project, file, "repo")

    items = [found("grafana", "media", "media/compose.yaml"), found("Jelly_Fin", "media", "media/compose.yaml"),
             found("grafana", "monitoring", "mon/compose.yaml"), found("grafana", "media", "media2/compose.yaml")]
    assert discovery.assign_slugs(items, {}) == ["media-grafana", "jelly-fin", "monitoring-grafana",
                                                 "media-grafana-2"]
    # A catalog service deployed from that file and service keeps its slug.
    assert discovery.assign_slugs(items, {("mon/compose.yaml", "grafana"): "grafana"})[2] == "grafana"


# -- extra folders from settings ------------------------------------------------------------------------------


@pytest.fixture
def stacks_dir(tmp_path: Path) -> Path:
    stacks = tmp_path / "stacks"
    shutil.copytree(SAMPLES / "monitoring", stacks / "monitoring")
    shutil.copytree(CORPUS / "prometheus-grafana", stacks / "prometheus-grafana")
    (stacks / "broken").mkdir()
    (stacks / "broken" / "compose.yaml").write_text("services:\n  web:\n    image: nginx\n    ports: [\n")
    return stacks


@pytest.fixture
def dir_ctx(tmp_path: Path, stacks_dir: Path) -> Iterator[AppContext]:
    settings: Settings = make_settings(tmp_path / "data", compose_dirs=[stacks_dir, tmp_path / "not-there"])
    context = prepare(settings)
    yield context
    context.engine.dispose()
    drop_schema(settings)


def test_extra_folders_from_settings_are_scanned_with_absolute_paths(dir_ctx: AppContext, stacks_dir: Path) -> None:
    app = create_app(ctx=dir_ctx)
    make_user(dir_ctx, "eddie", Role.EDITOR)
    client = api_client(app, make_token(dir_ctx, "eddie"))
    found = scan(client)
    root = stacks_dir.resolve()
    assert found["scanned"]["compose_dirs"] == [str(root)]
    new = by_slug(found["new"])
    # prometheus and grafana are in both projects: both prefixed; the others keep their name.
    assert {"homemonitoring-prometheus", "prometheus-grafana-prometheus", "homemonitoring-grafana",
            "prometheus-grafana-grafana", "alertmanager", "cadvisor"} <= set(new)
    assert "grafana" not in new and "prometheus" not in new
    assert new["prometheus-grafana-grafana"]["compose_file"] == f"{root}/prometheus-grafana/compose.yaml"
    assert new["prometheus-grafana-grafana"]["spec"]["deployment"]["compose_file"] == (
        f"{root}/prometheus-grafana/compose.yaml")
    assert new["homemonitoring-grafana"]["spec"]["depends_on"] == ["homemonitoring-prometheus", "alertmanager"]
    assert new["alertmanager"]["source"] == "dir"

    problems = found["problems"]
    broken = [p for p in problems if p["file"] == f"{root}/broken/compose.yaml"]
    assert len(broken) == 1 and broken[0]["line"] == 5 and "YAML" in broken[0]["message"]
    assert any(p["file"].endswith("not-there") and "does not exist" in p["message"] for p in problems)

    # Accepted, merged, then the folder's project is removed: its services are missing.
    accepted = client.post(ACCEPT, json={"slugs": ["prometheus-grafana-grafana"]}).json()
    item = client.get(f"/api/v1/work-items/{accepted['work_item_id']}").json()
    finish_documentation(client, item)
    assert client.post(f"/api/v1/work-items/{item['id']}/merge").status_code == 200
    assert "prometheus-grafana-grafana" in scan(client)["unchanged"]
    shutil.rmtree(stacks_dir / "prometheus-grafana")
    found = scan(client)
    assert [(m["slug"], m["reason"]) for m in found["missing"]] == [
        ("prometheus-grafana-grafana", f"{root}/prometheus-grafana/compose.yaml no longer exists")]
    # With the other grafana gone, the monitoring one is plain `grafana` again.
    assert "grafana" in by_slug(found["new"])


# -- pages ----------------------------------------------------------------------------------------------------


def test_the_page_lists_the_groups_and_an_editor_accepts_through_the_form(
        client: TestClient, ctx: AppContext, cast: Cast, stacks_on_main: None) -> None:
    browser_login(client, "vera")
    page = client.get("/catalog/discovery")
    assert page.status_code == 200
    assert 'data-count="new">10<' in page.text and 'data-slug="grafana"' in page.text
    assert "Accept selected" not in page.text and 'name="slugs"' not in page.text
    assert "Discover from compose" not in client.get("/services").text
    client.cookies.clear()
    token = browser_login(client, "eddie")
    assert 'href="/catalog/discovery"' in client.get("/services").text
    page = client.get("/catalog/discovery")
    assert "Accept selected" in page.text and 'value="grafana"' in page.text
    refused = client.post("/catalog/discovery", data={"csrf_token": token, "slugs": ["nope"], "target": "new"})
    assert refused.status_code == 422 and "not proposed by compose discovery" in refused.text
    response = client.post("/catalog/discovery", data={"csrf_token": token, "slugs": ["grafana", "prometheus"],
                                                       "target": "new", "title": "From the page"})
    assert response.status_code == 303 and response.headers["location"].startswith("/work/")
    item_id = int(response.headers["location"].rsplit("/", 1)[1])
    assert cast.editor.get(f"/api/v1/work-items/{item_id}").json()["title"] == "From the page"
    assert changelog_lines(cast.editor, item_id) == [
        f"- Added 2 services from compose: grafana, prometheus ([#{item_id}](/work/{item_id}))"]
