"""The service check types (snmp, postgres, redis, mqtt, smtp, grpc) register through their entry points
like the built-in ones, and a catalog endpoint file's options are validated by each one's schema, a bad
field refused with its path and a sentence saying what to fix."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from calcifer.catalog import index_parse
from calcifer.catalog.schemas import EndpointSpec, endpoint_json_schema, spec_errors
from calcifer.errors import Invalid
from calcifer.monitoring import checks
from calcifer.monitoring.checks.base import CheckType

SERVICE_TYPES = {"snmp", "postgres", "redis", "mqtt", "smtp", "grpc"}
BASE: dict[str, dict[str, Any]] = {
    "snmp": {"target": "switch.lan"},
    "postgres": {"target": "db.lan", "port": 5432},
    "redis": {"target": "cache.lan", "port": 6379},
    "mqtt": {"target": "broker.lan"},
    "smtp": {"target": "mail.lan", "port": 587},
    "grpc": {"target": "orders.lan", "port": 50051},
}
GOOD: dict[str, dict[str, Any]] = {
    "snmp": {"version": "3", "user": "monitor", "auth_protocol": "sha256", "auth_password_env": "SNMP_AUTH",
             "priv_protocol": "aes", "priv_password_env": "SNMP_PRIV", "oid": ".1.3.6.1.2.1.1.3.0",
             "operator": "gt", "expected": 100},
    "postgres": {"user": "monitor", "database": "app", "password_env": "PG_MONITOR", "query": "SELECT 1",
                 "expected": 1},
    "redis": {"user": "monitor", "password_env": "REDIS_PASS", "database": 2, "key": "state",
              "operator": "contains", "expected": "ok"},
    "mqtt": {"username": "sensor", "password_env": "MQTT_PASS", "topic": "home/+/state", "expected": "on"},
    "smtp": {"tls": "starttls", "cert_warn_days": 21, "expect_banner": "ESMTP"},
    "grpc": {"service": "orders.v1.Orders", "tls": True, "verify_tls": False},
}
BAD: dict[str, tuple[dict[str, Any], str, str]] = {  # options, the path named, words of the sentence
    "snmp": ({"oid": "sysUpTime.0"}, "options.oid", "not a numeric OID"),
    "postgres": ({"dsn": "postgresql://monitor:hunter2@db.lan/app"}, "options.dsn", "password_env"),
    "redis": ({"database": -1}, "options.database", "greater than or equal to 0"),
    "mqtt": ({"topic": "home/#/state"}, "options.topic", "whole level"),
    "smtp": ({"tls": "ssl"}, "options.tls", "starttls"),
    "grpc": ({"service": "no spaces please"}, "options.service", "not a gRPC service name"),
}


def _spec(kind: str, options: dict[str, Any]) -> EndpointSpec:
    return EndpointSpec.model_validate({"name": "Probe", "slug": "probe", "type": kind, **BASE[kind],
                                        "options": options})


def test_the_service_types_register_through_their_entry_points() -> None:
    registry = checks.load()
    assert SERVICE_TYPES <= set(registry)
    for kind in SERVICE_TYPES:
        check_type = checks.get(kind)
        assert isinstance(check_type, CheckType) and check_type.kind == kind and check_type.summary
        assert issubclass(check_type.Options, BaseModel)
        assert check_type.Options.model_config.get("extra") == "forbid"
        for name, field in check_type.Options.model_fields.items():
            assert field.description, f"{kind}.{name} has no description"
    assert SERVICE_TYPES <= set(endpoint_json_schema()["properties"]["type"]["enum"])


@pytest.mark.parametrize("kind", sorted(SERVICE_TYPES))
def test_good_options_are_accepted_and_kept_as_written(kind: str) -> None:
    assert set(_spec(kind, GOOD[kind]).options) == set(GOOD[kind])


@pytest.mark.parametrize("kind", sorted(SERVICE_TYPES))
def test_a_bad_option_is_refused_naming_its_field(kind: str) -> None:
    options, path, words = BAD[kind]
    with pytest.raises(ValidationError) as caught:
        _spec(kind, options)
    errors = spec_errors(caught.value)
    assert [error["path"] for error in errors] == [path], errors
    assert words in errors[0]["message"]


@pytest.mark.parametrize("kind", sorted(SERVICE_TYPES))
def test_a_secret_written_into_the_file_is_refused(kind: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _spec(kind, {"password": "hunter2"})
    assert spec_errors(caught.value) == [{"path": "options.password",
                                          "message": "unknown field: remove it or check its spelling"}]


def test_a_grpc_endpoint_without_a_port_is_refused() -> None:
    with pytest.raises(ValidationError) as caught:
        EndpointSpec.model_validate({"name": "Orders", "slug": "orders", "type": "grpc", "target": "orders.lan"})
    assert "port" in str(caught.value)


def test_an_endpoint_file_with_a_bad_snmp_option_is_refused_by_the_catalog() -> None:
    text = ("name: Core switch uplink\nslug: core-uplink\ntype: snmp\ntarget: switch.lan\n"
            "options:\n  interface: 3\n  expected: up\n")
    with pytest.raises(Invalid) as caught:
        index_parse.validate_endpoint_text(text, path="catalog/endpoints/core-uplink.yaml")
    assert "interface_status" in caught.value.message
