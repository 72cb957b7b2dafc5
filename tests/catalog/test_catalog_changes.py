"""Catalog edits through work items, end to end over the JSON API, checked with the real git CLI.

A hand-written service file lands on main through a work item; an edit of one field through
``PUT /api/v1/work-items/{id}/services/{slug}`` must touch that field's line only (comments, key order
and layout survive), with its CHANGES.md entry. Invalid specs are refused with every error, and leave
nothing behind. Endpoints are edited where they live: in their own file, or inside their service's file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from calcifer.web.context import AppContext
from tests.catalog.helpers import (
    changes_on,
    commit_count,
    error_of,
    finish_documentation,
    git,
    land_files,
    main_commit,
    make_work_item,
    merge,
    service_spec,
)
from tests.conftest import Cast, browser_login

GRAFANA_PATH = "catalog/services/grafana.yaml"

# Written by a person: a top comment, inline comments, a comment between keys, a commented list,
# a flow list and a quoted string. Calcifer must keep all of it when it edits one field.
GRAFANA_YAML = """\
# Grafana: dashboards for the homelab.
# Owned by the ops team; see docs/grafana.md before touching it.
name: Grafana
slug: grafana
kind: container  # runs in docker on vm-1
description: "Dashboards for metrics and logs"

# Where it runs and what it needs
host: vm-1
status: active
ports:
  # the web UI, behind the reverse proxy
  - number: 3000  # keep in sync with the proxy
    protocol: tcp
    purpose: web
  # metrics scraped by prometheus
  - number: 9091
    protocol: tcp
    purpose: metrics
tags: [monitoring, dashboards]
depends_on:
  - postgres   # the config database
owner: ops
"""

VM_YAML = "name: VM 1\nslug: vm-1\nkind: vm\n"
POSTGRES_YAML = "name: PostgreSQL\nslug: postgres\nkind: container\nhost: vm-1\n"


def land_grafana(client: TestClient) -> dict[str, Any]:
    return land_files(client, {GRAFANA_PATH: GRAFANA_YAML, "catalog/services/vm-1.yaml": VM_YAML,
                               "catalog/services/postgres.yaml": POSTGRES_YAML},
                      title="Add Grafana", entry="Added Grafana, its VM and its database")


def changed_lines(diff: str) -> tuple[list[str], list[str]]:
    """The removed and added lines of a unified diff (without the ---/+++ headers)."""
    removed = [line[1:] for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return removed, added


def branch_of(client: TestClient, item: dict[str, Any]) -> str:
    return str(client.get(f"/api/v1/work-items/{item['id']}").json()["branch"])


def put_service(client: TestClient, item: dict[str, Any], slug: str, spec: dict[str, Any]) -> Any:
    return client.put(f"/api/v1/work-items/{item['id']}/services/{slug}", json=spec)


# ------------------------------------------------------------------------------------------ round trip

def test_hand_written_file_lands_on_main_byte_for_byte_and_is_indexed(ctx: AppContext, cast: Cast) -> None:
    merged = land_grafana(cast.editor)
    repo = ctx.repo_path
    assert main_commit(repo) == merged["merge_commit"]
    assert git(repo, "show", f"main:{GRAFANA_PATH}") == GRAFANA_YAML
    body = cast.viewer.get("/api/v1/services/grafana").json()
    assert body["name"] == "Grafana" and body["host"] == "vm-1" and body["depends_on"] == ["postgres"]
    assert [p["number"] for p in body["spec"]["ports"]] == [3000, 9091]
    assert cast.viewer.get("/api/v1/catalog/problems").json()["items"] == []


def test_editing_one_port_through_the_api_changes_only_that_line(ctx: AppContext, cast: Cast) -> None:
    land_grafana(cast.editor)
    repo = ctx.repo_path
    main_before = main_commit(repo)
    # The way a client edits: read the service, change one field, send the whole spec back.
    spec = cast.editor.get("/api/v1/services/grafana").json()["spec"]
    spec["ports"][0]["number"] = 3001
    item = make_work_item(cast.editor, title="Move Grafana to port 3001", action="change", service="grafana")
    response = put_service(cast.editor, item, "grafana", spec)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["work_item_id"] == item["id"] and result["path"] == GRAFANA_PATH
    assert result["operation"] == "updated" and re.fullmatch(r"[0-9a-f]{40}", result["commit"])

    branch = branch_of(cast.editor, item)
    assert git(repo, "rev-parse", f"refs/heads/{branch}").strip() == result["commit"]
    assert main_commit(repo) == main_before  # main untouched until the merge
    diff = git(repo, "diff", f"main..{branch}", "--", GRAFANA_PATH)
    removed, added = changed_lines(diff)
    assert removed == ["  - number: 3000  # keep in sync with the proxy"], diff
    assert added == ["  - number: 3001  # keep in sync with the proxy"], diff
    # one commit, touching the service file and the changelog only
    assert git(repo, "diff", "--name-only", f"main..{branch}").split() == ["CHANGES.md", GRAFANA_PATH]
    assert commit_count(repo, branch) == commit_count(repo) + 1
    expected = GRAFANA_YAML.replace("number: 3000 ", "number: 3001 ")
    assert git(repo, "show", f"{branch}:{GRAFANA_PATH}") == expected
    changes = changes_on(repo, branch)
    assert re.search(rf"^- Changed service grafana \(.*#{item['id']}\b", changes, re.M), changes
    assert re.search(r"^### Changed$", changes, re.M), changes

    # merged, main holds the edited file and the index follows without a manual sync
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    assert git(repo, "show", f"main:{GRAFANA_PATH}") == expected
    ports = cast.viewer.get("/api/v1/services/grafana").json()["spec"]["ports"]
    assert [p["number"] for p in ports] == [3001, 9091]
    assert "Changed service grafana" in changes_on(repo, "main")


def test_editing_the_description_keeps_comments_order_and_quotes(ctx: AppContext, cast: Cast) -> None:
    land_grafana(cast.editor)
    repo = ctx.repo_path
    # The spec a person would send: the file's own fields, one of them changed.
    spec = {"name": "Grafana", "slug": "grafana", "kind": "container",
            "description": "Dashboards for metrics, logs and traces", "host": "vm-1", "status": "active",
            "ports": [{"number": 3000, "protocol": "tcp", "purpose": "web"},
                      {"number": 9091, "protocol": "tcp", "purpose": "metrics"}],
            "tags": ["monitoring", "dashboards"], "depends_on": ["postgres"], "owner": "ops"}
    item = make_work_item(cast.editor, title="Describe traces", action="change")
    response = put_service(cast.editor, item, "grafana", spec)
    assert response.status_code == 200, response.text
    branch = branch_of(cast.editor, item)
    diff = git(repo, "diff", f"main..{branch}", "--", GRAFANA_PATH)
    removed, added = changed_lines(diff)
    assert removed == ['description: "Dashboards for metrics and logs"'], diff
    assert added == ['description: "Dashboards for metrics, logs and traces"'], diff
    text = git(repo, "show", f"{branch}:{GRAFANA_PATH}")
    for comment in ("# Grafana: dashboards for the homelab.", "# Where it runs and what it needs",
                    "# runs in docker on vm-1", "# the web UI, behind the reverse proxy",
                    "# metrics scraped by prometheus", "# the config database"):
        assert comment in text, (comment, text)
    keys = [line.split(":")[0] for line in text.splitlines() if re.match(r"^[a-z_]+:", line)]
    assert keys == ["name", "slug", "kind", "description", "host", "status", "ports", "tags", "depends_on",
                    "owner"], keys
    assert "Changed service grafana" in changes_on(repo, branch)


def test_writing_back_an_unchanged_spec_is_refused_as_nothing_to_commit(ctx: AppContext, cast: Cast) -> None:
    land_grafana(cast.editor)
    repo = ctx.repo_path
    spec = cast.editor.get("/api/v1/services/grafana").json()["spec"]
    item = make_work_item(cast.editor, title="No-op", action="change")
    response = put_service(cast.editor, item, "grafana", spec)
    # Nothing changed, so there is nothing to commit: a commit of CHANGES.md alone would put
    # "Changed service grafana" in the changelog for a change that never happened.
    assert response.status_code in (409, 422), response.text
    error_of(response, response.status_code)
    branch = branch_of(cast.editor, item)
    assert git(repo, "rev-parse", f"refs/heads/{branch}").strip() == main_commit(repo)
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/changes").json()["items"] == []


def test_a_new_service_through_the_api_is_a_plain_file_and_an_added_entry(ctx: AppContext, cast: Cast) -> None:
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Add Uptime Kuma")
    spec = service_spec("uptime-kuma", description="Status checks\nfor the family.", tags=["monitoring"],
                        ports=[{"number": 3001}])
    response = put_service(cast.editor, item, "uptime-kuma", spec)
    assert response.status_code == 201, response.text
    assert response.json()["operation"] == "created"
    branch = branch_of(cast.editor, item)
    text = git(repo, "show", f"{branch}:catalog/services/uptime-kuma.yaml")
    assert text.startswith("name: Uptime Kuma\nslug: uptime-kuma\nkind: container\n"), text
    assert "description: |-\n  Status checks\n  for the family.\n" in text, text
    assert "status:" not in text and "protocol:" not in text  # defaults are left out
    assert "- Added service uptime-kuma" in changes_on(repo, branch)
    # the index only changes at the merge
    assert cast.viewer.get("/api/v1/services/uptime-kuma").status_code == 404
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    body = cast.viewer.get("/api/v1/services/uptime-kuma").json()
    assert body["description"] == "Status checks\nfor the family." and body["tags"] == ["monitoring"]


def test_retiring_a_service_is_a_deprecated_entry_and_delete_is_removed(ctx: AppContext, cast: Cast) -> None:
    land_grafana(cast.editor)
    repo = ctx.repo_path
    spec = cast.editor.get("/api/v1/services/postgres").json()["spec"]
    spec["status"] = "retired"
    item = make_work_item(cast.editor, title="Retire postgres", action="change")
    assert put_service(cast.editor, item, "postgres", spec).status_code == 200
    branch = branch_of(cast.editor, item)
    changes = changes_on(repo, branch)
    assert re.search(r"^### Deprecated\n+- Retired service postgres", changes, re.M), changes
    assert git(repo, "show", f"{branch}:catalog/services/postgres.yaml") == POSTGRES_YAML + "status: retired\n"

    gone = make_work_item(cast.editor, title="Remove vm", action="remove")
    response = cast.editor.delete(f"/api/v1/work-items/{gone['id']}/services/grafana")
    assert response.status_code == 200, response.text
    assert response.json()["operation"] == "deleted"
    gone_branch = branch_of(cast.editor, gone)
    assert git(repo, "diff", "--name-status", f"main..{gone_branch}").splitlines() == [
        "M\tCHANGES.md", f"D\t{GRAFANA_PATH}"]
    assert "- Removed service grafana" in changes_on(repo, gone_branch)
    finish_documentation(cast.editor, gone)
    merge(cast.editor, gone)
    assert cast.viewer.get("/api/v1/services/grafana").status_code == 404
    # deleting what the branch does not have is a 404, not a commit
    again = make_work_item(cast.editor, title="Remove again", action="remove")
    error_of(cast.editor.delete(f"/api/v1/work-items/{again['id']}/services/grafana"), 404)
    assert git(repo, "rev-parse", f"refs/heads/{branch_of(cast.editor, again)}").strip() == main_commit(repo)


# ---------------------------------------------------------------------------------------------- refusals

def test_an_invalid_spec_is_refused_with_every_error_and_nothing_is_written(ctx: AppContext, cast: Cast) -> None:
    land_grafana(cast.editor)
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Break Grafana", action="change")
    before = {"main": main_commit(repo), "branch": git(repo, "rev-parse", branch_of(cast.editor, item)).strip()}
    audit_before = len(cast.admin.get("/api/v1/audit", params={"limit": 500}).json()["items"])
    spec = service_spec("grafana", kind="spaceship", ports=[{"number": 70000}], colour="orange")
    error = error_of(put_service(cast.editor, item, "grafana", spec), 422)
    paths = sorted(d["path"] for d in error["details"])
    assert paths == ["colour", "kind", "ports.0.number"], error
    assert all(d["message"] for d in error["details"]), error
    for fragment in ("kind", "ports.0.number", "colour"):
        assert fragment in error["message"], error["message"]
    # nothing written, nothing committed, nothing audited
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/changes").json()["items"] == []
    worktree = Path(cast.editor.get(f"/api/v1/work-items/{item['id']}").json()["worktree"])
    assert (worktree / GRAFANA_PATH).read_text() == GRAFANA_YAML
    assert git(repo, "rev-parse", branch_of(cast.editor, item)).strip() == before["branch"]
    assert main_commit(repo) == before["main"]
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/commits").json()["items"] == []
    assert len(cast.admin.get("/api/v1/audit", params={"limit": 500}).json()["items"]) == audit_before


def test_an_invalid_new_service_leaves_no_file(ctx: AppContext, cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Add junk")
    spec = {"name": "", "slug": "junk", "kind": "vm", "tags": ["ok", "a b"], "urls": ["grafana.lan"],
            "ports": [{"number": 80, "protocol": "sctp"}], "links": [{"label": "Docs"}]}
    error = error_of(put_service(cast.editor, item, "junk", spec), 422)
    assert sorted(d["path"] for d in error["details"]) == [
        "links.0.url", "name", "ports.0.protocol", "tags.1", "urls.0"], error
    worktree = Path(item["worktree"])
    assert not (worktree / "catalog/services/junk.yaml").exists()
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/commits").json()["items"] == []


def test_the_spec_slug_must_match_the_address(ctx: AppContext, cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Mismatch")
    error = error_of(put_service(cast.editor, item, "grafana", service_spec("loki")), 422)
    assert [d["path"] for d in error["details"]] == ["slug"], error
    error = error_of(cast.editor.put(f"/api/v1/work-items/{item['id']}/services/grafana", json=["a"]), 422)
    assert not (Path(item["worktree"]) / GRAFANA_PATH).exists()


def test_edits_need_an_open_work_item_and_the_editor_role(ctx: AppContext, cast: Cast) -> None:
    merged = land_grafana(cast.editor)
    spec = service_spec("loki")
    error = error_of(put_service(cast.editor, merged, "loki", spec), 409)
    assert error["code"] == "not_open", error
    error_of(put_service(cast.editor, {"id": 999_999}, "loki", spec), 404)
    item = make_work_item(cast.editor, title="Add Loki")
    error_of(put_service(cast.viewer, item, "loki", spec), 403)
    error_of(put_service(cast.outsider, item, "loki", spec), 401)
    error_of(cast.viewer.delete(f"/api/v1/work-items/{item['id']}/services/grafana"), 403)
    error_of(cast.viewer.put(f"/api/v1/work-items/{item['id']}/endpoints/x", json={}), 403)
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/commits").json()["items"] == []


# --------------------------------------------------------------------------------------------- endpoints

GRAFANA_WITH_ENDPOINTS = """\
name: Grafana
slug: grafana
kind: container
endpoints:
  # the login page answers when grafana is up
  - name: Grafana web
    slug: grafana-web
    type: http
    target: https://grafana.example.org/login  # through the proxy
    interval: 30
  - name: Grafana port
    slug: grafana-port
    type: tcp
    target: 10.0.0.5
    port: 3000
"""

PING_YAML = """\
# ping the VM itself
name: VM 1 ping
slug: vm-1-ping
service: vm-1
type: icmp
target: 10.0.0.4
"""


def land_endpoints(client: TestClient) -> dict[str, Any]:
    return land_files(client, {GRAFANA_PATH: GRAFANA_WITH_ENDPOINTS, "catalog/services/vm-1.yaml": VM_YAML,
                               "catalog/endpoints/vm-1-ping.yaml": PING_YAML},
                      title="Add endpoints", entry="Added Grafana's endpoints")


def test_nested_and_standalone_endpoints_are_both_listed(ctx: AppContext, cast: Cast) -> None:
    land_endpoints(cast.editor)
    items = cast.viewer.get("/api/v1/endpoints").json()["items"]
    by_slug = {e["slug"]: e for e in items}
    assert sorted(by_slug) == ["grafana-port", "grafana-web", "vm-1-ping"]
    assert by_slug["grafana-web"]["service"] == "grafana" and by_slug["grafana-web"]["file"] == GRAFANA_PATH
    assert by_slug["grafana-web"]["line"] == 6 and by_slug["grafana-port"]["line"] == 11
    assert by_slug["grafana-web"]["interval"] == 30
    assert by_slug["vm-1-ping"]["file"] == "catalog/endpoints/vm-1-ping.yaml"
    assert by_slug["vm-1-ping"]["service"] == "vm-1"
    assert [e["slug"] for e in cast.viewer.get("/api/v1/endpoints", params={"service": "grafana"})
            .json()["items"]] == ["grafana-port", "grafana-web"]
    assert [e["slug"] for e in cast.viewer.get("/api/v1/endpoints", params={"type": "icmp"})
            .json()["items"]] == ["vm-1-ping"]
    page = cast.viewer.get("/api/v1/endpoints", params={"limit": 2}).json()
    assert [e["slug"] for e in page["items"]] == ["grafana-port", "grafana-web"] and page["next_cursor"]
    rest = cast.viewer.get("/api/v1/endpoints", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [e["slug"] for e in rest["items"]] == ["vm-1-ping"] and rest["next_cursor"] is None
    service = cast.viewer.get("/api/v1/services/grafana").json()
    assert sorted(e["slug"] for e in service["endpoints"]) == ["grafana-port", "grafana-web"]
    assert cast.viewer.get("/api/v1/endpoints/vm-1-ping").json()["target"] == "10.0.0.4"
    error_of(cast.viewer.get("/api/v1/endpoints/nope"), 404)


def test_a_nested_endpoint_is_edited_inside_its_service_file(ctx: AppContext, cast: Cast) -> None:
    land_endpoints(cast.editor)
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Check grafana less often", action="change")
    spec = {"name": "Grafana web", "slug": "grafana-web", "type": "http",
            "target": "https://grafana.example.org/login", "interval": 120}
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/endpoints/grafana-web", json=spec)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == GRAFANA_PATH and response.json()["operation"] == "updated"
    branch = branch_of(cast.editor, item)
    assert git(repo, "diff", "--name-only", f"main..{branch}").split() == ["CHANGES.md", GRAFANA_PATH]
    removed, added = changed_lines(git(repo, "diff", f"main..{branch}", "--", GRAFANA_PATH))
    assert (removed, added) == (["    interval: 30"], ["    interval: 120"])
    assert "catalog/endpoints/grafana-web.yaml" not in git(repo, "ls-tree", "-r", "--name-only", branch)
    assert "- Changed endpoint grafana-web" in changes_on(repo, branch)
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    assert cast.viewer.get("/api/v1/endpoints/grafana-web").json()["interval"] == 120


def test_a_nested_endpoint_is_deleted_from_its_service_file(ctx: AppContext, cast: Cast) -> None:
    land_endpoints(cast.editor)
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Stop checking the port", action="remove")
    response = cast.editor.delete(f"/api/v1/work-items/{item['id']}/endpoints/grafana-port")
    assert response.status_code == 200, response.text
    assert response.json() | {"commit": ""} == {"work_item_id": item["id"], "commit": "", "path": GRAFANA_PATH,
                                                 "operation": "deleted"}
    branch = branch_of(cast.editor, item)
    text = git(repo, "show", f"{branch}:{GRAFANA_PATH}")
    assert text == GRAFANA_WITH_ENDPOINTS.split("  - name: Grafana port")[0], text
    assert "- Removed endpoint grafana-port" in changes_on(repo, branch)
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    assert sorted(e["slug"] for e in cast.viewer.get("/api/v1/endpoints").json()["items"]) == [
        "grafana-web", "vm-1-ping"]


def test_standalone_endpoints_are_created_edited_and_deleted_in_their_own_files(ctx: AppContext,
                                                                               cast: Cast) -> None:
    land_endpoints(cast.editor)
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Endpoints", action="change")
    new = {"name": "VM 1 SSH", "slug": "vm-1-ssh", "service": "vm-1", "type": "tcp", "target": "10.0.0.4",
           "port": 22}
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/endpoints/vm-1-ssh", json=new)
    assert response.status_code == 201, response.text
    assert response.json()["path"] == "catalog/endpoints/vm-1-ssh.yaml"
    edited = {"name": "VM 1 ping", "slug": "vm-1-ping", "service": "vm-1", "type": "icmp", "target": "10.0.0.4",
              "retries": 3}
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/endpoints/vm-1-ping", json=edited)
    assert response.status_code == 200, response.text
    branch = branch_of(cast.editor, item)
    assert git(repo, "show", f"{branch}:catalog/endpoints/vm-1-ping.yaml") == PING_YAML + "retries: 3\n"
    changes = changes_on(repo, branch)
    assert "- Added endpoint vm-1-ssh" in changes and "- Changed endpoint vm-1-ping" in changes
    error = error_of(cast.editor.put(f"/api/v1/work-items/{item['id']}/endpoints/bad",
                                     json={"name": "Bad", "slug": "bad", "type": "tcp", "target": "10.0.0.9",
                                           "interval": 0, "timeout": -1, "bogus": 1}), 422)
    assert sorted(d["path"] for d in error["details"]) == ["bogus", "interval", "timeout"], error
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    assert cast.viewer.get("/api/v1/endpoints/vm-1-ssh").json()["port"] == 22
    assert cast.viewer.get("/api/v1/endpoints/vm-1-ping").json()["retries"] == 3

    gone = make_work_item(cast.editor, title="No ssh check", action="remove")
    response = cast.editor.delete(f"/api/v1/work-items/{gone['id']}/endpoints/vm-1-ssh")
    assert response.status_code == 200, response.text
    assert git(repo, "diff", "--name-status", f"main..{branch_of(cast.editor, gone)}").splitlines() == [
        "M\tCHANGES.md", "D\tcatalog/endpoints/vm-1-ssh.yaml"]
    error_of(cast.editor.delete(f"/api/v1/work-items/{gone['id']}/endpoints/never-was"), 404)
    finish_documentation(cast.editor, gone)
    merge(cast.editor, gone)
    error_of(cast.viewer.get("/api/v1/endpoints/vm-1-ssh"), 404)


# ----------------------------------------------------------------------------------- the editor page

def page_client(app: Any, username: str) -> tuple[TestClient, str]:
    client = TestClient(app, follow_redirects=False)
    return client, browser_login(client, username)


def test_the_editor_page_writes_a_new_file_as_the_person_typed_it(app: Any, ctx: AppContext, cast: Cast) -> None:
    """edit.html promises "Your comments and key order are kept when Calcifer writes the file"."""
    land_files(cast.editor, {"catalog/services/vm-1.yaml": VM_YAML, "catalog/services/postgres.yaml": POSTGRES_YAML})
    item = make_work_item(cast.editor, title="Add Grafana by hand")
    client, csrf = page_client(app, "eddie")
    response = client.post("/catalog/edit/service", data={"csrf_token": csrf, "text": GRAFANA_YAML,
                                                          "target": str(item["id"]), "operation": "save"})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/work/{item['id']}"
    branch = branch_of(cast.editor, item)
    assert "- Added service grafana" in changes_on(ctx.repo_path, branch)
    assert git(ctx.repo_path, "show", f"{branch}:{GRAFANA_PATH}") == GRAFANA_YAML


def test_the_editor_page_edits_an_existing_file_keeping_its_comments(app: Any, ctx: AppContext,
                                                                     cast: Cast) -> None:
    land_grafana(cast.editor)
    client, csrf = page_client(app, "eddie")
    page = client.get("/catalog/edit/service?slug=grafana")
    assert page.status_code == 200 and "# the config database" in page.text  # the file as it is on main
    item = make_work_item(cast.editor, title="Port 3001", action="change")
    text = GRAFANA_YAML.replace("number: 3000 ", "number: 3001 ")
    response = client.post("/catalog/edit/service", data={"csrf_token": csrf, "text": text.replace("\n", "\r\n"),
                                                          "target": str(item["id"]), "operation": "save",
                                                          "original_slug": "grafana"})
    assert response.status_code == 303, response.text
    branch = branch_of(cast.editor, item)
    assert git(ctx.repo_path, "show", f"{branch}:{GRAFANA_PATH}") == text
    # a viewer may not even open the editor
    viewer, _ = page_client(app, "vera")
    assert viewer.get("/catalog/edit/service").status_code == 403


def test_the_editor_page_keeps_the_text_and_lists_every_error(app: Any, ctx: AppContext, cast: Cast) -> None:
    item = make_work_item(cast.editor, title="Spaceship")
    client, csrf = page_client(app, "eddie")
    text = "name: Enterprise\nslug: enterprise\nkind: spaceship\nports:\n  - number: 70000\nwarp: 9\n"
    response = client.post("/catalog/edit/service", data={"csrf_token": csrf, "text": text,
                                                          "target": str(item["id"]), "operation": "save"})
    assert response.status_code == 422
    assert ">kind</span>" in response.text and ">ports.0.number</span>" in response.text
    assert ">warp</span>" in response.text
    assert "warp: 9" in response.text  # the text is given back to fix
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/commits").json()["items"] == []
    for bad in ("- a\n- b\n", "name: [x\n", "name: No slug\nkind: vm\n"):
        response = client.post("/catalog/edit/service", data={"csrf_token": csrf, "text": bad,
                                                              "target": str(item["id"]), "operation": "save"})
        assert response.status_code == 422, (bad, response.status_code)
    response = client.post("/catalog/edit/service", data={"csrf_token": csrf, "text": GRAFANA_YAML,
                                                          "target": "not-a-number", "operation": "save"})
    assert response.status_code == 422 and "Choose a work item" in response.text
    assert client.get("/catalog/edit/spaceship").status_code == 422


def test_the_service_page_lists_the_work_items_that_touched_it(app: Any, ctx: AppContext, cast: Cast) -> None:
    # Neither work item is linked to the service (no `service` field): only git knows they touched it.
    added = land_grafana(cast.editor)
    spec = cast.editor.get("/api/v1/services/grafana").json()["spec"]
    spec["owner"] = "platform"
    item = make_work_item(cast.editor, title="Hand Grafana to platform", action="change")
    assert put_service(cast.editor, item, "grafana", spec).status_code == 200
    # while open, it is a pending change of the service
    pending = cast.viewer.get("/services/grafana").text.split('id="pending"')[1].split("</section>")[0]
    assert f'href="/work/{item["id"]}"' in pending and "changes this service" in pending, pending
    finish_documentation(cast.editor, item)
    merge(cast.editor, item)
    history = cast.viewer.get("/services/grafana").text.split('id="history"')[1].split("</section>")[0]
    assert f'href="/work/{added["id"]}"' in history, history
    assert f'href="/work/{item["id"]}"' in history, history


def test_after_an_error_the_editor_page_still_targets_the_chosen_work_item(app: Any, ctx: AppContext,
                                                                          cast: Cast) -> None:
    """Fixing the YAML and pressing Save again must commit to the same work item, not start a new one."""
    item = make_work_item(cast.editor, title="Spaceship")
    client, csrf = page_client(app, "eddie")
    response = client.post("/catalog/edit/service", data={"csrf_token": csrf, "text": "name: X\nslug: x\nkind: ufo\n",
                                                          "target": str(item["id"]), "summary": "Add X",
                                                          "operation": "save"})
    assert response.status_code == 422
    selected = re.findall(r'<option value="([^"]+)"[^>]*\bselected\b', response.text)
    assert selected == [str(item["id"])], selected
    assert 'value="Add X"' in response.text  # the summary is kept too
