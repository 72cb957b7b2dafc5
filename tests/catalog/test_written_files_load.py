"""Whatever Calcifer writes into the catalog itself loads again: compose accept of every real Compose
file we have, over hand-written files in block and in flow style.

A file that would not load is never committed: the writer reads its own output back with the index's
parser and refuses (a clear error) when it does not read as what was meant.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from calcifer.catalog import yamlio
from calcifer.catalog.yamlio import apply_spec, load_plain
from calcifer.errors import Invalid
from calcifer.web.context import AppContext
from tests.catalog.test_discovery import ACCEPT, SAMPLES, by_slug, onto_main, sample_files, scan
from tests.conftest import Cast
from tests.corpus import COMPOSE_CORPUS
from tests.work.helpers import git

S = "catalog/services/"


def errors_on_main(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/api/v1/catalog/problems", params={"severity": "error"})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_compose_tag_added_to_a_flow_list_is_quoted_and_reads_back() -> None:
    text = "name: Prometheus\nslug: prometheus\nkind: container\ntags: [monitoring]\nnotes:\n  - one\n"
    spec = {"name": "Prometheus", "slug": "prometheus", "kind": "container",
            "tags": ["monitoring", "compose:prometheus-grafana"], "notes": ["one", "see:runbook"]}
    written = apply_spec(text, spec)
    assert "tags: [monitoring, 'compose:prometheus-grafana']\n" in written
    assert written.endswith("notes:\n  - one\n  - see:runbook\n")  # a block list needs no quotes
    assert load_plain(written) == spec


def test_colons_in_a_flow_mapping_and_nested_flow_lists_are_quoted_too() -> None:
    text = "name: A\nslug: a\nkind: container\ndeployment: {type: manual, notes: [one]}\n"
    spec = {"name": "A", "slug": "a", "kind": "container",
            "deployment": {"type": "manual", "notes": ["one", "see:runbook"], "image": "nginx:1.27"}}
    written = apply_spec(text, spec)
    assert load_plain(written) == spec
    assert written.count("{") == 1  # still the person's flow mapping


def test_text_that_would_not_read_back_is_refused_and_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    # The writer's own safety net: were the quoting ever wrong again, the caller gets a clear error.
    monkeypatch.setattr(yamlio, "_quote_in_flow", lambda value, *, in_flow: value, raising=False)
    with pytest.raises(Invalid) as raised:
        apply_spec("name: A\nslug: a\ntags: [x]\n", {"name": "A", "slug": "a", "tags": ["x", "compose:y"]})
    assert raised.value.code == "unwritable_yaml"
    assert "nothing was written" in raised.value.message


def every_compose_file() -> dict[str, str]:
    assert COMPOSE_CORPUS.is_dir(), f"the shared Compose corpus is missing: expected it at {COMPOSE_CORPUS}"
    files = {}
    for folder in sorted(p for p in COMPOSE_CORPUS.iterdir() if p.is_dir()):
        files.update(sample_files(folder, f"corpus/{folder.name}"))
    for folder in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        files.update(sample_files(folder, f"samples/{folder.name}"))
    return files


def test_the_whole_compose_corpus_accepted_over_hand_written_files_loads_without_an_error(
        cast: Cast, ctx: AppContext) -> None:
    onto_main(cast.editor, every_compose_file(), "Add every compose stack", "Added every compose stack")
    new = by_slug(scan(cast.viewer)["new"])
    assert len(new) >= 40
    # Two services already described by hand, one in flow style and one in block style.
    flow, block = "cadvisor", "alertmanager"
    assert {flow, block} <= set(new)
    hand_written = {
        S + f"{flow}.yaml": (f"name: cAdvisor  # container metrics\nslug: {flow}\nkind: vm\ntags: [monitoring, web]\n"
                             "depends_on: [ldap]\nports: [{number: 8080, protocol: tcp, purpose: web UI}]\n"
                             "deployment: {type: manual}\n"),
        S + f"{block}.yaml": (f"# Alerts\nname: Alertmanager\nslug: {block}\nkind: container\ntags:\n"
                              "  - monitoring\nports:\n  - number: 9093\n    protocol: tcp\n"),
    }
    onto_main(cast.editor, hand_written, "Describe cadvisor and alertmanager", "Described two services")
    found = scan(cast.viewer)
    drifted = set(by_slug(found["drifted"]))
    assert {flow, block} <= drifted
    slugs = sorted(set(by_slug(found["new"])) | drifted)

    response = cast.editor.post(ACCEPT, json={"slugs": slugs, "apply_now": True, "title": "Import everything"})
    assert response.status_code == 201, response.text
    assert response.json()["merged"] is True

    assert errors_on_main(cast.viewer) == []
    listed = cast.viewer.get("/api/v1/services", params={"limit": 500}).json()["items"]
    assert {row["slug"] for row in listed} >= set(slugs)
    flow_text = git(ctx.repo_path, "show", f"main:{S}{flow}.yaml")
    assert flow_text.startswith("name: cAdvisor  # container metrics\n")
    assert load_plain(flow_text)["tags"] == ["monitoring", "web", "compose:homemonitoring"]
    assert "deployment: {type: compose," in flow_text  # the person's flow style kept
    block_text = git(ctx.repo_path, "show", f"main:{S}{block}.yaml")
    assert block_text.startswith("# Alerts\n") and "  - compose:homemonitoring\n" in block_text
