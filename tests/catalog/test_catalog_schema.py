from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from calcifer.catalog import schemas
from calcifer.catalog.choices import EndpointType, ServiceKind
from calcifer.catalog.schemas import (
    EndpointSpec,
    ServiceSpec,
    endpoint_json_schema,
    service_json_schema,
    spec_document,
    spec_errors,
)
from calcifer.monitoring import checks

FULL_SERVICE: dict[str, Any] = {
    "name": "Grafana",
    "slug": "grafana",
    "kind": "container",
    "host": "docker-vm-1",
    "description": "Dashboards.",
    "status": "maintenance",
    "urls": ["https://grafana.example.org"],
    "ports": [{"number": 3000, "protocol": "tcp", "purpose": "web ui"}, {"number": 161, "protocol": "udp"}],
    "resources": {"cpu": 2, "memory": "2 GiB", "disk": 10.5},
    "deployment": {"type": "compose", "compose_file": "stacks/grafana/compose.yaml", "compose_service": "grafana"},
    "repository": "git@example.org:ops/stacks.git",
    "owner": "ops team",
    "tags": ["monitoring", "prod"],
    "links": [{"label": "Runbook", "url": "https://wiki.example.org/grafana"}],
    "depends_on": ["prometheus", "postgres"],
    "notes": "Upgrade in the maintenance window.\nSecond line.",
    "endpoints": [{"name": "Web", "slug": "grafana-web", "type": "http", "target": "https://grafana.example.org"}],
}


def errors_of(model: type[Any], data: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return {error["path"]: error["message"] for error in spec_errors(info.value)}


def test_a_full_service_validates_and_keeps_every_field() -> None:
    spec = ServiceSpec.model_validate(FULL_SERVICE)
    assert spec.kind is ServiceKind.CONTAINER
    assert spec.ports[1].number == 161 and spec.ports[1].protocol.value == "udp"
    assert spec.resources is not None and spec.resources.disk == 10.5
    assert spec.endpoints[0].type is EndpointType.HTTP
    dumped = spec.model_dump(mode="json")
    assert dumped["deployment"]["compose_service"] == "grafana"


def test_a_minimal_service_gets_its_defaults() -> None:
    spec = ServiceSpec.model_validate({"name": "Router", "slug": "router", "kind": "network_device"})
    assert spec.status.value == "active" and spec.tags == [] and spec.host is None and spec.endpoints == []


def test_errors_name_the_field_path_and_say_what_to_fix() -> None:
    errors = errors_of(ServiceSpec, {
        "name": "X", "slug": "Bad Slug", "kind": "vmm", "ports": [{"number": 70000}],
        "links": [{"label": "a", "url": "not a url"}], "colour": "red",
    })
    assert "slug" in errors and "lowercase letters, digits and dashes" in errors["slug"]
    assert "kind" in errors and "'container'" in errors["kind"] and "'vm'" in errors["kind"]
    assert "ports.0.number" in errors and "65535" in errors["ports.0.number"]
    assert "links.0.url" in errors and "scheme" in errors["links.0.url"]
    assert errors["colour"].startswith("unknown field")


def test_missing_required_fields_are_each_reported() -> None:
    errors = errors_of(ServiceSpec, {"slug": "x"})
    assert errors == {"name": "this field is required", "kind": "this field is required"}


@pytest.mark.parametrize(("slug", "ok"), [
    ("grafana", True), ("a", True), ("0-x", True), ("a" * 63, True), ("a" * 64, False), ("-x", False),
    ("Grafana", False), ("with space", False), ("under_score", False), ("x\n", False), ("", False),
])
def test_slug_pattern(slug: str, ok: bool) -> None:
    data = {"name": "N", "slug": slug, "kind": "vm"}
    if ok:
        assert ServiceSpec.model_validate(data).slug == slug
    else:
        assert "slug" in errors_of(ServiceSpec, data)


def test_a_service_cannot_host_or_need_itself_and_lists_no_duplicates() -> None:
    errors = errors_of(ServiceSpec, {"name": "A", "slug": "a", "kind": "vm", "host": "a",
                                     "depends_on": ["b", "a", "b"], "tags": ["x", "x"]})
    assert errors["host"] == "a service cannot be its own host"
    assert errors["depends_on.1"] == "a service cannot depend on itself"
    assert errors["depends_on.2"] == "'b' is listed twice"
    assert errors["tags.1"] == "'x' is listed twice"


def test_nested_endpoints_must_belong_to_their_service() -> None:
    errors = errors_of(ServiceSpec, {"name": "A", "slug": "a", "kind": "vm", "endpoints": [
        {"name": "Ping", "slug": "a-ping", "type": "icmp", "target": "10.0.0.1", "service": "other"},
        {"name": "Ping 2", "slug": "a-ping", "type": "icmp", "target": "10.0.0.2"},
    ]})
    assert "endpoints.0.service" in errors and "leave service out" in errors["endpoints.0.service"]
    assert errors["endpoints.1.slug"] == "endpoint 'a-ping' is listed twice"


def test_endpoint_defaults() -> None:
    spec = EndpointSpec.model_validate({"name": "Ping", "slug": "gw", "type": "icmp", "target": "10.0.0.1"})
    assert (spec.interval, spec.timeout, spec.retries, spec.enabled, spec.options) == (60, 10, 1, True, {})


@pytest.mark.parametrize(("data", "path", "fragment"), [
    ({"type": "http", "target": "grafana.lan"}, "target", "http:// or https://"),
    ({"type": "http"}, "target", "needs a target URL"),
    ({"type": "tcp", "target": "db.lan"}, "port", "needs a port"),
    ({"type": "icmp"}, "target", "needs a target host"),
    ({"type": "icmp", "target": "a b"}, "target", "without spaces"),
    ({"type": "gopher", "target": "x"}, "type", "'icmp'"),  # (smtp is a check type now)
    ({"type": "icmp", "target": "x", "interval": 0}, "interval", "greater than or equal to 1"),
    ({"type": "icmp", "target": "x", "timeout": 0}, "timeout", "greater than 0"),
    ({"type": "icmp", "target": "x", "options": [1]}, "options", "dictionary"),
])
def test_endpoint_errors(data: dict[str, Any], path: str, fragment: str) -> None:
    errors = errors_of(EndpointSpec, {"name": "E", "slug": "e", **data})
    assert path in errors, errors
    assert fragment in errors[path]


def test_a_push_endpoint_needs_no_target() -> None:
    assert EndpointSpec.model_validate({"name": "Backup", "slug": "backup", "type": "push"}).target is None


@pytest.fixture
def http_options_validator(monkeypatch: pytest.MonkeyPatch) -> None:
    def validate(options: dict[str, Any]) -> dict[str, Any]:
        if "expect_status" in options and not isinstance(options["expect_status"], int):
            raise ValueError("expect_status is an HTTP status code, e.g. 200")
        return {"expect_status": 200, **options}

    # The catalog asks the check-type registry for a type's validator: answer with this one for http.
    registry_validator = checks.option_validator
    monkeypatch.setattr(checks, "option_validator",
                        lambda kind: validate if kind == "http" else registry_validator(kind))


def test_option_validators_registered_per_type_clean_and_reject_options(http_options_validator: None) -> None:
    base = {"name": "Web", "slug": "web", "type": "http", "target": "https://example.org"}
    assert EndpointSpec.model_validate(base).options == {"expect_status": 200}
    errors = errors_of(EndpointSpec, {**base, "options": {"expect_status": "ok"}})
    assert errors == {"options": "expect_status is an HTTP status code, e.g. 200"}
    # Other types keep their own validators (the check types', see tests/monitoring/checks/test_options.py).
    ping = EndpointSpec.model_validate({"name": "P", "slug": "p", "type": "icmp", "target": "h",
                                        "options": {"packets": 2}})
    assert ping.options == {"packets": 2}


def test_json_schemas_publish_required_fields_enums_and_patterns() -> None:
    service = service_json_schema()
    assert service["$schema"].startswith("https://json-schema.org/")
    assert service["type"] == "object" and service["additionalProperties"] is False
    assert service["required"] == ["name", "slug", "kind"]
    assert service["properties"]["slug"]["pattern"] == schemas.SLUG_PATTERN
    kinds = service["$defs"]["ServiceKind"]["enum"]
    assert kinds == ["container", "vm", "lxc", "bare_metal", "network_device", "storage", "saas", "other"]
    assert service["$defs"]["ServiceStatus"]["enum"] == ["active", "maintenance", "retired"]
    assert service["$defs"]["PortSpec"]["required"] == ["number"]
    assert service["$defs"]["DeploymentType"]["enum"] == ["compose", "systemd", "kubernetes", "manual"]
    endpoint = endpoint_json_schema()
    assert endpoint["required"] == ["name", "slug", "type"]
    assert endpoint["properties"]["type"]["enum"][:5] == ["icmp", "tcp", "http", "dns", "push"]
    assert endpoint["properties"]["interval"]["default"] == 60


def test_spec_document_leaves_out_defaults_unless_the_file_spelled_them_out() -> None:
    spec = ServiceSpec.model_validate({"name": "A", "slug": "a", "kind": "vm", "status": "active", "endpoints": [
        {"name": "P", "slug": "p", "type": "icmp", "target": "h", "interval": 60, "timeout": 5}]})
    assert spec_document(spec) == {"name": "A", "slug": "a", "kind": "vm", "endpoints": [
        {"name": "P", "slug": "p", "type": "icmp", "target": "h", "timeout": 5}]}
    original = {"name": "A", "slug": "a", "kind": "vm", "status": "active",
                "endpoints": [{"name": "P", "slug": "p", "interval": 60}]}
    assert spec_document(spec, original=original) == {"name": "A", "slug": "a", "kind": "vm", "status": "active",
                                                       "endpoints": [{"name": "P", "slug": "p", "type": "icmp",
                                                                      "target": "h", "interval": 60,
                                                                      "timeout": 5}]}
