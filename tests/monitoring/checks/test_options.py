"""Every check type's options are validated through the catalog's EndpointSpec, errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from calcifer.catalog import index_parse
from calcifer.catalog.schemas import EndpointSpec, spec_errors
from calcifer.errors import Invalid
from calcifer.monitoring import checks
from calcifer.monitoring.checks.base import CheckType

BUILT_IN = {"icmp", "tcp", "http", "dns", "push"}
BASE = {
    "icmp": {"target": "10.0.0.1"},
    "tcp": {"target": "10.0.0.1", "port": 22},
    "http": {"target": "https://grafana.example.org/api/health"},
    "dns": {"target": "grafana.example.org"},
    "push": {},
}
GOOD = {
    "icmp": {"packets": 3},
    "tcp": {"expect_banner": "SSH-2.0"},
    "http": {"method": "post", "headers": {"X-Probe": "1"}, "body": "{}", "accepted_status": ["200-299", 301],
             "keyword": "ok", "keyword_absent": "error", "json_path": "$.data.items[0].state",
             "json_equals": "green", "max_response_ms": 500, "follow_redirects": False, "verify_tls": False,
             "cert_warn_days": 21},
    "dns": {"record_type": "mx", "resolver": "127.0.0.1:5353", "expected": ["10 mail.example.org"]},
    "push": {"grace": 120},
}
BAD = {  # one wrong option each, and the field path the error must name
    "icmp": ({"packets": 11}, "options.packets"),
    "tcp": ({"expect_banner": ""}, "options.expect_banner"),
    "http": ({"accepted_status": ["abc"]}, "options.accepted_status"),
    "dns": ({"record_type": "AXFR"}, "options.record_type"),
    "push": ({"grace": -1}, "options.grace"),
}


def _spec(kind: str, options: dict[str, Any]) -> EndpointSpec:
    return EndpointSpec.model_validate({"name": "Probe", "slug": "probe", "type": kind, **BASE[kind],
                                        "options": options})


def _errors(kind: str, options: dict[str, Any]) -> list[dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        _spec(kind, options)
    return spec_errors(caught.value)


def test_the_five_built_in_types_register_through_their_entry_points() -> None:
    registry = checks.load()
    assert BUILT_IN <= set(registry)
    assert all(checks.option_validator(kind) is not None for kind in BUILT_IN)
    for kind in BUILT_IN:
        check_type = checks.get(kind)
        assert isinstance(check_type, CheckType) and check_type.kind == kind
        assert check_type.summary
        assert issubclass(check_type.Options, BaseModel)
        assert check_type.Options.model_config.get("extra") == "forbid"
        for name, field in check_type.Options.model_fields.items():
            assert field.description, f"{kind}.{name} has no description"


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_good_options_are_accepted_and_kept_as_written(kind: str) -> None:
    spec = _spec(kind, GOOD[kind])
    assert set(spec.options) == set(GOOD[kind])  # no defaults added to the file


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_a_bad_option_is_refused_naming_its_field(kind: str) -> None:
    options, path = BAD[kind]
    errors = _errors(kind, options)
    assert [error["path"] for error in errors] == [path], errors


@pytest.mark.parametrize("kind", sorted(BUILT_IN))
def test_an_unknown_option_is_refused(kind: str) -> None:
    errors = _errors(kind, {"colour": "blue"})
    assert errors == [{"path": "options.colour", "message": "unknown field: remove it or check its spelling"}]


def test_options_are_normalised_when_validated() -> None:
    spec = _spec("http", {"method": "post", "accepted_status": ["200", "300 - 302"], "body": "x"})
    assert spec.options == {"method": "POST", "accepted_status": [200, "300-302"], "body": "x"}
    assert _spec("dns", {"record_type": "txt"}).options == {"record_type": "TXT"}


@pytest.mark.parametrize(("options", "says"), [
    ({"accepted_status": [700]}, "700 is not an HTTP status code"),
    ({"accepted_status": ["299-200"]}, "ends before it starts"),
    ({"json_equals": "green"}, "need a json_path"),
    ({"json_path": "data..["}, "cannot read the JSON path"),
    ({"headers": {"Bad Header": "x"}}, "not a valid header name"),
    ({"headers": {"X-Ok": "a\r\nInjected: yes"}}, "must be one line"),
    ({"method": "TRACE"}, "GET"),
])
def test_http_option_errors_say_what_to_fix(options: dict[str, Any], says: str) -> None:
    errors = _errors("http", options)
    assert any(says in error["message"] for error in errors), errors
    assert all(error["path"].startswith("options") for error in errors)


def test_a_resolver_must_be_an_address() -> None:
    [error] = _errors("dns", {"resolver": "dns.example.org"})
    assert error["path"] == "options.resolver"
    assert "not a resolver address" in error["message"]


def test_an_endpoint_file_with_a_bad_accepted_status_is_refused_by_the_catalog() -> None:
    text = ("name: Grafana health\nslug: grafana-health\ntype: http\n"
            "target: https://grafana.example.org/api/health\n"
            "options:\n  accepted_status: [\"abc\"]\n")
    with pytest.raises(Invalid) as caught:
        index_parse.validate_endpoint_text(text, path="catalog/endpoints/grafana-health.yaml")
    assert "options.accepted_status" in str(caught.value.details)
    assert "'abc' is not a status code or range" in caught.value.message
