"""Kuma's service monitors (postgres, redis, mqtt, snmp, smtp, grpc-keyword) map onto the check types of the
same names; what cannot be mapped, and every credential left out of git, is listed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from calcifer.backup import kuma, kuma_db
from tests.backup.test_kuma2_import import build_kuma_db

BASE = {"interval": 60, "maxretries": 1, "timeout": 20, "active": 1}
MONITORS: list[dict[str, Any]] = [
    {"id": 1, "name": "App DB", "type": "postgres",
     "databaseConnectionString": "postgres://monitor:hunter2@db.lan:5433/app?sslmode=require",
     "databaseQuery": "SELECT 1"},
    {"id": 2, "name": "Cache", "type": "redis", "databaseConnectionString": "rediss://default:s3cret@cache.lan:6380/2",
     "ignoreTls": True},
    {"id": 3, "name": "Zigbee", "type": "mqtt", "hostname": "mqtts://broker.lan", "port": 8883,
     "mqttTopic": "zigbee2mqtt/bridge/state", "mqttSuccessMessage": "online", "mqttUsername": "kuma",
     "mqttPassword": "pw"},
    {"id": 4, "name": "Uplink", "type": "snmp", "hostname": "switch.lan", "port": 161, "snmpVersion": "2c",
     "snmpOid": "1.3.6.1.2.1.2.2.1.8.3", "jsonPathOperator": "==", "expectedValue": "1",
     "radiusPassword": "private-community"},
    {"id": 5, "name": "UPS load", "type": "snmp", "hostname": "ups.lan", "snmpVersion": "1",
     "snmpOid": "1.3.6.1.4.1.318.1.1.1.4.2.3.0", "jsonPathOperator": "<=", "expectedValue": "80",
     "radiusPassword": "public"},
    {"id": 6, "name": "Mail", "type": "smtp", "hostname": "mail.lan", "port": 587, "smtpSecurity": "starttls"},
    {"id": 7, "name": "Mail relay", "type": "smtp", "hostname": "relay.lan", "port": 25},
    {"id": 8, "name": "Orders health", "type": "grpc-keyword", "grpcUrl": "orders.lan:50051",
     "grpcServiceName": "grpc.health.v1.Health", "grpcMethod": "Check", "grpcBody": '{"service": "orders.v1"}',
     "keyword": "SERVING", "grpcEnableTls": True},
    # not mappable
    {"id": 9, "name": "Orders list", "type": "grpc-keyword", "grpcUrl": "orders.lan:50051",
     "grpcServiceName": "orders.v1.Orders", "grpcMethod": "List", "keyword": "items"},
    {"id": 10, "name": "Web MQTT", "type": "mqtt", "hostname": "wss://broker.lan/mqtt", "mqttTopic": "t"},
    {"id": 11, "name": "Temperature", "type": "snmp", "hostname": "sensor.lan", "snmpOid": "1.3.6.1.4.1.1.0",
     "jsonPathOperator": ">=", "expectedValue": "20.5"},
    {"id": 12, "name": "Broken DB", "type": "postgres", "databaseConnectionString": ""},
]


def _plan(monitors: list[dict[str, Any]]) -> kuma.KumaReport:
    return kuma.plan(data={"version": "1.23.16", "monitorList": [{**BASE, **m} for m in monitors]}, taken=set())


def test_each_service_monitor_becomes_an_endpoint_of_its_check_type() -> None:
    report = _plan(MONITORS)
    specs = {e.kuma_name: e.spec for e in report.endpoints}
    notes = {e.kuma_name: e.notes for e in report.endpoints}
    assert {name: spec["type"] for name, spec in specs.items()} == {
        "App DB": "postgres", "Cache": "redis", "Zigbee": "mqtt", "Uplink": "snmp", "UPS load": "snmp",
        "Mail": "smtp", "Mail relay": "smtp", "Orders health": "grpc"}
    assert (specs["App DB"]["target"], specs["App DB"]["port"]) == ("db.lan", 5433)
    assert specs["App DB"]["options"] == {"user": "monitor", "database": "app", "dsn": "postgresql://?sslmode=require",
                                          "query": "SELECT 1"}
    assert specs["Cache"]["options"] == {"tls": True, "verify_tls": False, "database": 2}
    assert (specs["Zigbee"]["target"], specs["Zigbee"]["port"]) == ("broker.lan", 8883)
    assert specs["Zigbee"]["options"] == {"tls": True, "username": "kuma", "topic": "zigbee2mqtt/bridge/state",
                                          "operator": "contains", "expected": "online"}
    assert specs["Uplink"]["options"] == {"oid": "1.3.6.1.2.1.2.2.1.8.3", "expected": 1}
    assert specs["UPS load"]["options"] == {"version": "1", "oid": "1.3.6.1.4.1.318.1.1.1.4.2.3.0",
                                            "operator": "lt", "expected": 81}
    assert any("<= 80 written as lt 81" in note for note in notes["UPS load"])
    assert specs["Mail"]["options"] == {"tls": "starttls"} and specs["Mail"]["port"] == 587
    assert "options" not in specs["Mail relay"] and any("STARTTLS" in n for n in notes["Mail relay"])
    assert (specs["Orders health"]["target"], specs["Orders health"]["port"]) == ("orders.lan", 50051)
    assert specs["Orders health"]["options"] == {"service": "orders.v1", "tls": True}


def test_credentials_are_listed_never_written() -> None:
    report = _plan(MONITORS)
    notes = {e.kuma_name: " ".join(e.notes) for e in report.endpoints}
    for name, option in (("App DB", "password_env"), ("Cache", "password_env"), ("Zigbee", "password_env"),
                         ("Uplink", "community_env")):
        assert "never written into git" in notes[name] and f"options.{option}" in notes[name], name
    written = repr([e.spec for e in report.endpoints])
    for secret in ("hunter2", "s3cret", "private-community"):
        assert secret not in written
    assert "community" not in notes["UPS load"]  # "public" is the default, not a secret


def test_what_cannot_be_mapped_is_listed_with_the_reason() -> None:
    report = _plan(MONITORS)
    skipped = {s.name: s.reason for s in report.skipped}
    assert set(skipped) == {"Orders list", "Web MQTT", "Temperature", "Broken DB"}
    assert "asks only the standard health service" in skipped["Orders list"]
    assert "websockets" in skipped["Web MQTT"]
    assert "'>=' with '20.5' has no equivalent" in skipped["Temperature"]
    assert "connection string" in skipped["Broken DB"]
    # each monitor in exactly one list
    assert len(report.endpoints) + len(report.skipped) == len(MONITORS)


def test_a_kuma_2_database_maps_its_service_monitors(tmp_path: Path) -> None:
    """Through kuma.db's snake_case columns (Kuma's schema as vendored under tests/backup/samples/kuma2)."""
    path = build_kuma_db(tmp_path / "kuma.db")
    rows = [
        {"id": 101, "name": "Kuma2 DB", "type": "postgres",
         "database_connection_string": "postgres://monitor@db.lan:5432/app", "database_query": "SELECT 2"},
        {"id": 102, "name": "Kuma2 broker", "type": "mqtt", "hostname": "broker.lan", "port": 1883,
         "mqtt_topic": "plant/state", "mqtt_success_message": "ok"},
        {"id": 103, "name": "Kuma2 switch", "type": "snmp", "hostname": "switch.lan", "port": 161,
         "snmp_oid": "1.3.6.1.2.1.1.3.0", "snmp_version": "2c", "json_path_operator": ">",
         "expected_value": "100"},
        {"id": 104, "name": "Kuma2 grpc", "type": "grpc-keyword", "grpc_url": "api.lan:9000",
         "grpc_service_name": "grpc.health.v1.Health", "grpc_method": "Check", "keyword": "SERVING"},
    ]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for row in rows:
            row = {**row, "user_id": 1, "interval": 60}
            conn.execute(f"INSERT INTO monitor ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         list(row.values()))
    finally:
        conn.close()
    report = kuma.plan(data=kuma_db.read_db(path), taken=set())
    specs = {e.kuma_name: e.spec for e in report.endpoints}
    assert specs["Kuma2 DB"]["type"] == "postgres"
    assert specs["Kuma2 DB"]["options"] == {"user": "monitor", "database": "app", "query": "SELECT 2"}
    assert specs["Kuma2 broker"]["options"] == {"topic": "plant/state", "operator": "contains", "expected": "ok"}
    assert specs["Kuma2 switch"]["options"] == {"oid": "1.3.6.1.2.1.1.3.0", "operator": "gt", "expected": 100}
    assert (specs["Kuma2 grpc"]["type"], specs["Kuma2 grpc"]["port"]) == ("grpc", 9000)
