"""Doc templates: shipped in a new repository, listed, filled safely (never evaluated), and used for the
doc generated when a service or endpoint is added through a work item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from calcifer import gitrepo
from calcifer.docs import doc_templates
from calcifer.web.context import AppContext
from tests.catalog.helpers import error_of, land_files, service_spec
from tests.conftest import Cast
from tests.paging import assert_bad_cursor_refused, walk_pages
from tests.work.helpers import git, make_work_item

SIX = ["container-service", "vm", "network-device", "runbook", "post-mortem", "decision-record"]


def show(repo: Path, ref: str, path: str) -> str:
    return git(repo, "show", f"{ref}:{path}")


def tree(repo: Path, ref: str) -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref).split()


def from_template(client: Any, item: dict[str, Any], **body: Any) -> Any:
    return client.post(f"/api/v1/work-items/{item['id']}/docs-from-template", json=body)


# -- the defaults -----------------------------------------------------------------------------------------------

def test_a_new_repository_has_the_six_default_templates(ctx: AppContext) -> None:
    files = tree(ctx.repo_path, "main")
    for name in SIX:
        assert f"docs/_templates/{name}.md" in files, name
    assert git(ctx.repo_path, "rev-list", "--count", "main").strip() == "1"  # all in the first commit
    for name in SIX:
        text = show(ctx.repo_path, "main", f"docs/_templates/{name}.md")
        assert text.startswith("---\ntemplate_title: ") and "\n# " in text, name


def test_the_templates_api_lists_names_titles_and_placeholders(cast: Cast) -> None:
    response = cast.viewer.get("/api/v1/templates")
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "main" and body["message"] == ""
    by_name = {t["name"]: t for t in body["items"]}
    assert set(SIX) <= set(by_name)
    container = by_name["container-service"]
    assert container["path"] == "docs/_templates/container-service.md"
    assert container["title"] == "Container service" and container["source"] == "main"
    assert {"service.name", "service.slug", "service.kind", "service.host", "service.description", "date",
            "user"} <= set(container["placeholders"])
    assert "title" in by_name["runbook"]["placeholders"]
    one = cast.viewer.get("/api/v1/templates/runbook").json()
    assert one["text"].startswith("---\ntemplate_title: Runbook")
    assert error_of(cast.viewer.get("/api/v1/templates/nope"), 404)
    assert error_of(cast.viewer.get("/api/v1/templates/..evil"), 422)


def test_the_templates_page_by_name_each_once(cast: Cast) -> None:
    whole = [t["name"] for t in cast.viewer.get("/api/v1/templates", params={"limit": 500}).json()["items"]]
    pages = walk_pages(cast.viewer, "/api/v1/templates", limit=3)
    assert len(pages) == -(-len(whole) // 3) > 2
    names = [t["name"] for page in pages for t in page]
    assert names == whole == sorted(set(whole)) and set(SIX) <= set(names)
    assert_bad_cursor_refused(cast.viewer, "/api/v1/templates")


def test_a_repository_without_templates_falls_back_to_the_shipped_ones_and_says_so(tmp_path: Path) -> None:
    repo = tmp_path / "adopted.git"
    gitrepo.init_repository(path=repo, initial_files={"README.md": b"# Mine\n"})
    found = doc_templates.list_templates(repo_path=repo)
    assert found.source == "default" and "built-in" in found.message
    assert set(SIX) <= {t.name for t in found.items}
    assert doc_templates.get_template(repo_path=repo, name="runbook").source == "default"


def test_main_templates_win_over_the_shipped_ones(cast: Cast, ctx: AppContext) -> None:
    land_files(cast.editor, {"docs/_templates/runbook.md": "# Our runbook: {{ title }}\n",
                             "docs/_templates/checklist.md": "# Checklist for {{ user }}\n"})
    items = {t["name"]: t for t in cast.viewer.get("/api/v1/templates").json()["items"]}
    assert items["checklist"]["title"] == "Checklist for {{ user }}"
    assert doc_templates.get_template(repo_path=ctx.repo_path, name="runbook").text == "# Our runbook: {{ title }}\n"


# -- filling ----------------------------------------------------------------------------------------------------

def test_new_doc_from_template_fills_the_placeholders_from_the_service(cast: Cast, ctx: AppContext) -> None:
    spec = service_spec("grafana", name="Grafana", host="docker01", description="Dashboards for the homelab.",
                        ports=[{"number": 3000, "purpose": "web"}], deployment={"type": "compose",
                                                                                "image": "grafana/grafana:11"})
    land_files(cast.editor, {"catalog/services/docker01.yaml": "name: Docker 01\nslug: docker01\nkind: vm\n"})
    adder = make_work_item(cast.editor, title="Add grafana")
    assert cast.editor.put(f"/api/v1/work-items/{adder['id']}/services/grafana", json=spec).status_code == 201
    # A second work item on the same branch state would not see it: use the adding item itself.
    response = from_template(cast.editor, adder, template="runbook", path="docs/runbooks/grafana-restart.md",
                             service="grafana", title="Restart Grafana")
    assert response.status_code == 201, response.text
    text = show(ctx.repo_path, adder["branch"], "docs/runbooks/grafana-restart.md")
    assert text.startswith("# Runbook: Restart Grafana\n")
    assert "| Applies to | Grafana |" in text and "eddie" in text
    assert "template_title" not in text and "{{" not in text
    assert response.json()["unfilled_placeholders"] == []
    container = from_template(cast.editor, adder, template="container-service", path="docs/grafana-2.md",
                              service="grafana")
    assert container.status_code == 201, container.text
    text = show(ctx.repo_path, adder["branch"], "docs/grafana-2.md")
    assert "# Grafana\n\nDashboards for the homelab." in text
    assert "| Runs on | docker01 |" in text and "| Image | grafana/grafana:11 |" in text
    assert "| Ports | 3000/tcp (web) |" in text and "| Kind | container |" in text


def test_placeholders_without_a_value_stay_and_are_reported(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    response = from_template(cast.editor, item, template="post-mortem", path="docs/incidents/2024-power.md")
    assert response.status_code == 201, response.text
    assert response.json()["unfilled_placeholders"] == ["service.name"]
    text = show(ctx.repo_path, item["branch"], "docs/incidents/2024-power.md")
    assert text.startswith("# Post-mortem: 2024 power\n") and "{{ service.name }}" in text


def test_a_template_is_never_evaluated(cast: Cast, ctx: AppContext) -> None:
    hostile = ("# {{ title }}\n\n{{ ''.__class__ }} {{ ''.__class__.__mro__[1].__subclasses__() }}\n"
               "{% import os %}{{ os.system('touch /tmp/pwned') }}\n{{ title.__class__ }} {{ self }}\n"
               "{{ config }} {{ cycler.__init__.__globals__ }} {{7*7}} {#- comment -#}\n")
    land_files(cast.editor, {"docs/_templates/evil.md": hostile})
    item = make_work_item(cast.editor)
    response = from_template(cast.editor, item, template="evil", path="docs/evil.md", title="Safe")
    assert response.status_code == 201, response.text
    text = show(ctx.repo_path, item["branch"], "docs/evil.md")
    assert text == hostile.replace("# {{ title }}", "# Safe")
    assert "49" not in text and "<class" not in text


def test_a_value_holding_a_placeholder_is_not_expanded_again() -> None:
    filled = doc_templates.fill("# {{ title }} on {{ date }}\n", {"title": "{{ date }}", "date": "2024-05-01"})
    assert filled.text == "# {{ date }} on 2024-05-01\n"


@pytest.mark.parametrize("text, expected", [
    ("{{service.name}}|{{  service.name  }}|{{ service . name }}|{{ service.name }", "G|G|{{ service . name }}|"
                                                                                      "{{ service.name }"),
    ("{{ Service.Name }}", "{{ Service.Name }}"),
    ("{{\nservice.name\n}}", "{{\nservice.name\n}}"),
])
def test_only_plain_dotted_names_are_placeholders(text: str, expected: str) -> None:
    assert doc_templates.fill(text, {"service.name": "G"}).text == expected


def test_template_meta_is_dropped_but_other_front_matter_stays() -> None:
    text = "---\ntemplate_title: T\ntitle: {{ title }}\n---\n# Body\n"
    assert doc_templates.fill(text, {"title": "Hi"}).text == "---\ntitle: Hi\n---\n# Body\n"
    assert doc_templates.fill("---\ntemplate_title: T\n---\n\n# Body\n", {}).text == "# Body\n"


def test_bad_template_names_are_refused(cast: Cast) -> None:
    item = make_work_item(cast.editor)
    for name in ("../CHANGES", "Runbook!", "", "a" * 150):
        error_of(from_template(cast.editor, item, template=name, path="docs/x.md"), 422)
    error_of(from_template(cast.editor, item, template="missing", path="docs/x.md"), 404)


# -- generated docs ----------------------------------------------------------------------------------------------

def test_adding_a_service_writes_its_doc_in_the_same_commit_filled_from_the_spec(cast: Cast, ctx: AppContext) -> None:
    repo = ctx.repo_path
    item = make_work_item(cast.editor, title="Add grafana")
    spec = service_spec("grafana", name="Grafana", description="Dashboards.", host="docker01",
                        urls=["https://grafana.lan"], tags=["monitoring"])
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/services/grafana", json=spec)
    assert response.status_code == 201, response.text
    commit = response.json()["commit"]
    files = git(repo, "diff-tree", "--no-commit-id", "--name-only", "-r", f"{commit}^1", commit).split()
    assert sorted(files) == ["CHANGES.md", "catalog/services/grafana.yaml", "docs/services/grafana.md"]
    doc = show(repo, item["branch"], "docs/services/grafana.md")
    assert doc.startswith("# Grafana\n\nDashboards.\n")
    assert "| Catalog entry | [grafana](/services/grafana) |" in doc and "| Runs on | docker01 |" in doc
    assert "| URLs | https://grafana.lan |" in doc and "## Deploy and update" in doc  # the container template
    assert "{{" not in doc


@pytest.mark.parametrize("kind, marker", [("vm", "## Operating system"), ("lxc", "## Operating system"),
                                          ("network_device", "## Addresses and VLANs"),
                                          ("saas", "## Access and accounts")])
def test_the_generated_doc_uses_the_template_for_the_kind(cast: Cast, ctx: AppContext, kind: str,
                                                          marker: str) -> None:
    item = make_work_item(cast.editor)
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/services/thing",
                               json=service_spec("thing", kind=kind))
    assert response.status_code == 201, response.text
    doc = show(ctx.repo_path, item["branch"], "docs/services/thing.md")
    assert marker in doc and f"| Kind | {kind} |" in doc


def test_an_existing_service_doc_is_never_overwritten(cast: Cast, ctx: AppContext) -> None:
    land_files(cast.editor, {"docs/services/grafana.md": "# Our own Grafana notes\n"})
    item = make_work_item(cast.editor)
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/services/grafana", json=service_spec("grafana"))
    assert response.status_code == 201, response.text
    assert show(ctx.repo_path, item["branch"], "docs/services/grafana.md") == "# Our own Grafana notes\n"
    commit = response.json()["commit"]
    files = git(ctx.repo_path, "diff-tree", "--no-commit-id", "--name-only", "-r", f"{commit}^1", commit).split()
    assert "docs/services/grafana.md" not in files


def test_changing_a_service_does_not_generate_a_doc(cast: Cast, ctx: AppContext) -> None:
    land_files(cast.editor, {"catalog/services/grafana.yaml": "name: Grafana\nslug: grafana\nkind: container\n"})
    item = make_work_item(cast.editor, action="change")
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/services/grafana",
                               json=service_spec("grafana", description="Changed."))
    assert response.status_code == 200, response.text
    assert "docs/services/grafana.md" not in tree(ctx.repo_path, item["branch"])


def test_adding_an_endpoint_writes_a_small_endpoint_doc(cast: Cast, ctx: AppContext) -> None:
    item = make_work_item(cast.editor)
    spec = {"name": "Grafana health", "slug": "grafana-health", "service": "grafana", "type": "http",
            "target": "https://grafana.lan/api/health", "interval": 30}
    response = cast.editor.put(f"/api/v1/work-items/{item['id']}/endpoints/grafana-health", json=spec)
    assert response.status_code in (200, 201), response.text
    doc = show(ctx.repo_path, item["branch"], "docs/endpoints/grafana-health.md")
    assert doc.startswith("# Endpoint: Grafana health\n")
    assert "| Check | http https://grafana.lan/api/health |" in doc and "| Every | 30 seconds |" in doc
    assert "[grafana](../services/grafana.md)" in doc


def test_a_standard_change_adding_a_service_also_lands_its_doc(cast: Cast, ctx: AppContext) -> None:
    response = cast.editor.post("/api/v1/standard-changes", json={
        "operation": "create", "kind": "service", "slug": "pihole", "summary": "Add Pi-hole",
        "spec": service_spec("pihole", name="Pi-hole")})
    assert response.status_code == 201, response.text
    assert show(ctx.repo_path, "main", "docs/services/pihole.md").startswith("# Pi-hole\n")
