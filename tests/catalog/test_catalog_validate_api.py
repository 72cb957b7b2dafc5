"""POST /api/v1/catalog/validate/{kind}: what the merge check would say about a document, before it is
written, with each problem's field and line."""

from __future__ import annotations

from typing import Any

import pytest

from tests.catalog.helpers import error_of, land_files
from tests.conftest import Cast

VM = "name: VM 1\nslug: vm-1\nkind: vm\n"
GRAFANA = "name: Grafana\nslug: grafana\nkind: container\nhost: vm-1\n"
WEB = "name: Grafana web\nslug: grafana-web\nservice: grafana\ntype: http\ntarget: https://grafana.example.org\n"


@pytest.fixture
def catalog(cast: Cast) -> Cast:
    land_files(cast.editor, {"catalog/services/vm-1.yaml": VM, "catalog/services/grafana.yaml": GRAFANA,
                             "catalog/endpoints/grafana-web.yaml": WEB})
    return cast


def validate(cast: Cast, kind: str, **body: Any) -> dict[str, Any]:
    response = cast.editor.post(f"/api/v1/catalog/validate/{kind}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_field(answer: dict[str, Any]) -> dict[str | None, tuple[str, str]]:
    return {p["field"]: (p["severity"], p["code"]) for p in answer["problems"]}


def test_a_valid_service_has_no_problem(catalog: Cast) -> None:
    answer = validate(catalog, "service", spec={"name": "Loki", "slug": "loki", "kind": "container",
                                                "host": "vm-1", "depends_on": ["grafana"]})
    assert answer == {"ok": True, "problems": []}


def test_schema_errors_and_unknown_fields_are_errors_with_their_lines(catalog: Cast) -> None:
    text = "name: Loki\nslug: loki\nkind: container\nports:\n  - number: 70000\nwarp: 9\n"
    answer = validate(catalog, "service", text=text, new=True)
    assert answer["ok"] is False
    problems = {p["field"]: p for p in answer["problems"]}
    assert problems["ports.0.number"]["severity"] == "error" and problems["ports.0.number"]["line"] == 5
    assert "65535" in problems["ports.0.number"]["message"]
    assert problems["warp"]["line"] == 6 and "unknown field" in problems["warp"]["message"]
    assert problems["warp"]["code"] == "schema"


def test_unknown_host_dependency_and_cycle_are_warnings(catalog: Cast) -> None:
    answer = validate(catalog, "service", new=True, text="name: Loki\nslug: loki\nkind: container\nhost: vm-9\n"
                                                         "depends_on:\n  - tempo\n")
    assert answer["ok"] is True  # warnings do not refuse a merge
    assert by_field(answer) == {"host": ("warning", "unknown_host"),
                                "depends_on": ("warning", "unknown_dependency")}
    lines = {p["field"]: p["line"] for p in answer["problems"]}
    assert lines == {"host": 4, "depends_on": 5}
    # vm-1 made to depend on grafana, which runs on vm-1: a cycle
    cycle = validate(catalog, "service", spec={"name": "VM 1", "slug": "vm-1", "kind": "vm",
                                               "depends_on": ["grafana"]})
    assert [(p["code"], p["severity"]) for p in cycle["problems"]] == [("cycle", "warning")]


def test_an_endpoint_of_an_unknown_service_and_its_options_are_checked(catalog: Cast) -> None:
    answer = validate(catalog, "endpoint", new=True, spec={
        "name": "Tempo", "slug": "tempo-web", "service": "tempo", "type": "http",
        "target": "https://tempo.example.org", "options": {"method": "FETCH"}})
    # a file that does not load is not checked further, as in the merge check
    assert by_field(answer) == {"options.method": ("error", "schema")}
    answer = validate(catalog, "endpoint", new=True, spec={
        "name": "Tempo", "slug": "tempo-web", "service": "tempo", "type": "http",
        "target": "https://tempo.example.org", "options": {"method": "HEAD"}})
    assert by_field(answer) == {"service": ("warning", "unknown_service")}


def test_a_new_document_may_not_take_a_slug_that_is_used(catalog: Cast) -> None:
    taken = validate(catalog, "service", new=True, text="name: Other\nslug: grafana\nkind: vm\n")
    assert taken["ok"] is False
    assert [(p["field"], p["code"], p["line"]) for p in taken["problems"]] == [("slug", "duplicate_slug", 2)]
    # the same document as an edit of grafana's own file is fine
    assert validate(catalog, "service", text="name: Other\nslug: grafana\nkind: vm\n")["ok"] is True
    # renaming vm-1 leaves grafana's host unknown: said, in grafana's file
    renamed = validate(catalog, "service", original_slug="vm-1", text="name: VM 2\nslug: vm-2\nkind: vm\n")
    assert [(p["code"], p["field"], p["line"]) for p in renamed["problems"]] == [("unknown_host", None, None)]
    assert "catalog/services/grafana.yaml" in renamed["problems"][0]["message"]


def test_broken_yaml_is_an_error_with_its_line(catalog: Cast) -> None:
    answer = validate(catalog, "endpoint", text="name: x\nslug: [x\n")
    assert answer["ok"] is False
    assert [(p["code"], p["field"]) for p in answer["problems"]] == [("yaml_syntax", None)]
    assert answer["problems"][0]["line"] >= 2


def test_bad_requests_and_roles(catalog: Cast) -> None:
    error_of(catalog.editor.post("/api/v1/catalog/validate/spaceship", json={"text": "a: 1\n"}), 422)
    error_of(catalog.editor.post("/api/v1/catalog/validate/service", json={}), 422)
    error_of(catalog.editor.post("/api/v1/catalog/validate/service", json={"text": "a: 1", "spec": {}}), 422)
    error_of(catalog.editor.post("/api/v1/catalog/validate/service", json={"txt": "a: 1"}), 422)
    error_of(catalog.viewer.post("/api/v1/catalog/validate/service", json={"text": VM}), 403)
    error_of(catalog.outsider.post("/api/v1/catalog/validate/service", json={"text": VM}), 401)
