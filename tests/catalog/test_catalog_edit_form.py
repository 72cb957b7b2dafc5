"""The service and endpoint forms without JavaScript: plain form posts that the server turns into the
spec, laid over the file as it was (comments, order and keys the form does not show survive)."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.catalog.yamlio import load_plain
from calcifer.web.context import AppContext
from tests.catalog.helpers import git, land_files, make_work_item
from tests.conftest import Cast, browser_login

VM = "name: VM 1\nslug: vm-1\nkind: vm\n"
GRAFANA = """\
# Grafana: dashboards for the homelab.
name: Grafana
slug: grafana
kind: container  # runs in docker on vm-1
description: Dashboards
host: vm-1
ports:
  # the web UI
  - number: 3000  # keep in sync with the proxy
    purpose: web
owner: ops  # the form does not show this
resources:
  cpu: 2
"""


@pytest.fixture
def editor(app: Any, cast: Cast) -> tuple[TestClient, str]:
    land_files(cast.editor, {"catalog/services/vm-1.yaml": VM, "catalog/services/grafana.yaml": GRAFANA})
    client = TestClient(app, follow_redirects=False)
    return client, browser_login(client, "eddie")


def hidden_base(page: str) -> str:
    match = re.search(r'name="base_text" value="([^"]*)"', page)
    assert match, "no base_text on the form"
    return html.unescape(match.group(1))


def on_branch(ctx: AppContext, cast: Cast, item_id: int, path: str) -> str:
    branch = cast.editor.get(f"/api/v1/work-items/{item_id}").json()["branch"]
    return git(ctx.repo_path, "show", f"{branch}:{path}")


def created_item(response: Any) -> int:
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/work/(\d+)", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def test_a_new_service_is_created_from_the_form_through_a_new_work_item(editor: tuple[TestClient, str],
                                                                          ctx: AppContext, cast: Cast) -> None:
    client, csrf = editor
    page = client.get("/catalog/edit/service").text
    assert 'id="tab-form" aria-pressed="true"' in page and 'id="f-ports-0-number"' in page
    response = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "mode": "form", "base_text": "", "operation": "save", "target": "new",
        "name": "Loki", "slug": "loki", "kind": "container", "status": "active", "description": "Logs",
        "host": "vm-1", "depends_on": ["grafana", "vm-1"], "tags": "logs, monitoring",
        "ports-0-number": "3100", "ports-0-protocol": "tcp", "ports-0-purpose": "api",
        "ports-1-number": "", "ports-1-protocol": "tcp", "ports-1-purpose": "",  # the blank row is dropped
        "links-0-label": "Docs", "links-0-url": "https://grafana.com/docs/loki/"})
    item_id = created_item(response)
    written = load_plain(on_branch(ctx, cast, item_id, "catalog/services/loki.yaml"))
    assert written == {"name": "Loki", "slug": "loki", "kind": "container", "description": "Logs",
                       "host": "vm-1", "depends_on": ["grafana", "vm-1"], "tags": ["logs", "monitoring"],
                       "ports": [{"number": 3100, "purpose": "api"}],
                       "links": [{"label": "Docs", "url": "https://grafana.com/docs/loki/"}]}
    assert cast.editor.get(f"/api/v1/work-items/{item_id}").json()["title"] == "New service loki"


def test_editing_through_the_form_keeps_comments_order_and_the_keys_it_does_not_show(
        editor: tuple[TestClient, str], ctx: AppContext, cast: Cast) -> None:
    client, csrf = editor
    page = client.get("/catalog/edit/service?slug=grafana").text
    assert "The form does not show owner, resources" in page
    base = hidden_base(page)
    assert base == GRAFANA
    item = make_work_item(cast.editor, title="Describe Grafana", action="change")
    response = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "mode": "form", "base_text": base, "operation": "save", "target": str(item["id"]),
        "original_slug": "grafana", "name": "Grafana", "slug": "grafana", "kind": "container",
        "status": "active", "description": "Dashboards for metrics and logs", "host": "vm-1", "tags": "",
        "ports-0-number": "3000", "ports-0-protocol": "tcp", "ports-0-purpose": "web"})
    assert created_item(response) == item["id"]
    text = on_branch(ctx, cast, item["id"], "catalog/services/grafana.yaml")
    assert text == GRAFANA.replace("description: Dashboards\n", "description: Dashboards for metrics and logs\n")


def test_errors_come_back_next_to_their_fields_with_the_values_typed(editor: tuple[TestClient, str],
                                                                     cast: Cast) -> None:
    client, csrf = editor
    item = make_work_item(cast.editor, title="Loki")
    response = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "mode": "form", "base_text": "", "operation": "save", "target": str(item["id"]),
        "name": "Loki", "slug": "Loki!", "kind": "container", "status": "active",
        "ports-0-number": "70000", "ports-0-protocol": "tcp", "ports-0-purpose": "api"})
    assert response.status_code == 422
    page = response.text
    number = re.search(r'<input id="f-ports-0-number"[^>]*>', page)
    assert number and 'value="70000"' in number.group(0) and 'aria-invalid="true"' in number.group(0)
    assert 'aria-describedby="f-ports-0-number-error"' in number.group(0)
    error = re.search(r'<p class="field-error" id="f-ports-0-number-error"[^>]*>([^<]*)</p>', page)
    assert error and "65535" in error.group(1)
    assert re.search(r'id="f-slug-error"[^>]*>[^<]*not a valid slug', page)
    assert 'value="Loki!"' in page
    assert cast.editor.get(f"/api/v1/work-items/{item['id']}/commits").json()["items"] == []


def test_add_endpoint_prefills_the_service_and_shows_the_options_of_its_type(
        editor: tuple[TestClient, str]) -> None:
    client, _ = editor
    page = client.get("/catalog/edit/endpoint?service=grafana").text
    assert re.search(r'<option value="grafana" selected>', page)  # the service is chosen
    assert 'id="f-slug" name="slug" type="text" value="grafana-http"' in page
    assert 'value="Grafana HTTP"' in page
    # every type's options fieldset is there; only the chosen type's is shown (and posted)
    assert re.search(r'data-options-for="http" id="options-http">', page)
    assert re.search(r'data-options-for="tcp" id="options-tcp" hidden disabled>', page)
    assert 'name="opt-http-method"' in page and 'name="opt-dns-record_type"' in page
    assert "<legend>Options of tcp checks</legend>" in page
    # something that is not a slug is not pre-filled
    odd = client.get("/catalog/edit/endpoint?service=%3Cb%3E").text
    assert 'value="my-endpoint"' in odd and "&lt;b&gt;" not in odd


def test_a_new_endpoint_is_created_from_the_form_with_its_types_options(editor: tuple[TestClient, str],
                                                                      ctx: AppContext, cast: Cast) -> None:
    client, csrf = editor
    base = hidden_base(client.get("/catalog/edit/endpoint?service=grafana").text)
    fields = {"csrf_token": csrf, "mode": "form", "base_text": base, "operation": "save", "target": "new",
              "name": "Grafana SSH", "slug": "grafana-ssh", "service": "grafana", "type": "tcp",
              "check_target": "", "port": "22", "interval": "30", "timeout": "5", "retries": "1",
              "enabled": "yes", "opt-tcp-expect_banner": "SSH-2.0"}
    refused = client.post("/catalog/edit/endpoint", data=fields)
    assert refused.status_code == 422
    assert re.search(r'id="f-target-error"[^>]*>[^<]*needs a target', refused.text)
    response = client.post("/catalog/edit/endpoint", data={**fields, "check_target": "grafana.lan"})
    item_id = created_item(response)
    written = load_plain(on_branch(ctx, cast, item_id, "catalog/endpoints/grafana-ssh.yaml"))
    assert written == {"name": "Grafana SSH", "slug": "grafana-ssh", "service": "grafana", "type": "tcp",
                       "target": "grafana.lan", "port": 22, "interval": 30, "timeout": 5, "retries": 1,
                       "options": {"expect_banner": "SSH-2.0"}}


def test_a_changed_type_drops_the_old_types_options_and_keeps_other_keys(editor: tuple[TestClient, str],
                                                                        ctx: AppContext, cast: Cast) -> None:
    client, csrf = editor
    base = ("# checked from the LAN\nname: Grafana web\nslug: grafana-web\nservice: grafana\ntype: http\n"
            "target: https://grafana.example.org\noptions:\n  method: HEAD\n")
    item = make_work_item(cast.editor, title="SSH instead")
    response = client.post("/catalog/edit/endpoint", data={
        "csrf_token": csrf, "mode": "form", "base_text": base, "operation": "save", "target": str(item["id"]),
        "name": "Grafana SSH", "slug": "grafana-web", "service": "grafana", "type": "tcp",
        "check_target": "grafana.lan", "port": "22", "interval": "", "timeout": "", "retries": "",
        "opt-tcp-expect_banner": "SSH-2.0", "opt-http-method": "POST"})
    assert created_item(response) == item["id"]
    text = on_branch(ctx, cast, item["id"], "catalog/endpoints/grafana-web.yaml")
    assert text.startswith("# checked from the LAN\n")
    assert load_plain(text) == {"name": "Grafana SSH", "slug": "grafana-web", "service": "grafana", "type": "tcp",
                                "target": "grafana.lan", "port": 22, "enabled": False,
                                "options": {"expect_banner": "SSH-2.0"}}


def test_switching_tabs_carries_what_was_typed(editor: tuple[TestClient, str]) -> None:
    client, csrf = editor
    page = client.get("/catalog/edit/service?slug=grafana").text
    to_yaml = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "mode": "form", "base_text": hidden_base(page), "operation": "to-yaml",
        "original_slug": "grafana", "name": "Grafana", "slug": "grafana", "kind": "container",
        "status": "maintenance", "description": "Dashboards", "host": "vm-1",
        "ports-0-number": "3000", "ports-0-protocol": "tcp", "ports-0-purpose": "web"})
    assert to_yaml.status_code == 200 and 'id="tab-yaml" aria-pressed="true"' in to_yaml.text
    text = html.unescape(re.search(r'<textarea id="spec-text"[^>]*>(.*?)</textarea>', to_yaml.text, re.S).group(1))
    assert "status: maintenance" in text and "# keep in sync with the proxy" in text and "owner: ops" in text
    to_form = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "mode": "yaml", "text": text.replace("Dashboards", "Graphs"), "operation": "to-form",
        "original_slug": "grafana"})
    assert to_form.status_code == 200 and 'id="tab-form" aria-pressed="true"' in to_form.text
    assert re.search(r'<option value="maintenance" selected>', to_form.text)
    assert ">\nGraphs</textarea>" in to_form.text
    broken = client.post("/catalog/edit/service", data={
        "csrf_token": csrf, "mode": "yaml", "text": "name: [x\n", "operation": "to-form"})
    assert broken.status_code == 422 and "The form cannot show this YAML" in broken.text
    assert 'id="tab-yaml" aria-pressed="true"' in broken.text


def test_the_live_check_reads_the_form_as_a_save_would(editor: tuple[TestClient, str]) -> None:
    client, csrf = editor
    answer = client.post("/catalog/edit/service/check", data={
        "csrf_token": csrf, "mode": "form", "base_text": "", "name": "Loki", "slug": "loki", "kind": "container",
        "status": "active", "depends_on": ["tempo"], "ports-0-number": "70000"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] is False
    assert {(p["field"], p["severity"]) for p in body["problems"]} == {("ports.0.number", "error")}
    assert "number: 70000" in body["text"]
    fixed = client.post("/catalog/edit/service/check", data={
        "csrf_token": csrf, "mode": "form", "base_text": "", "name": "Loki", "slug": "loki", "kind": "container",
        "status": "active", "depends_on": ["tempo"], "ports-0-number": "3100"}).json()
    assert fixed["ok"] is True
    assert [(p["field"], p["code"]) for p in fixed["problems"]] == [("depends_on", "unknown_dependency")]
