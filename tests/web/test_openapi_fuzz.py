"""A property-based run of the whole OpenAPI document against the live app, as an admin and as a viewer.

Every operation the app publishes is called with a few generated requests (valid and invalid); no answer
may be a 5xx, and every answer must match what the document says that operation returns (status, body).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from calcifer.app import create_app, prepare
from calcifer.auth.choices import Role
from calcifer.web.context import AppContext
from tests.conftest import drop_schema, make_settings, make_token, make_user

# Operations not fuzzed, each with its reason; everything else in the document is.
SKIPPED: dict[tuple[str, str], str] = {
    # Revoking a token could revoke the one this run authenticates with, ending the run mid-way.
    ("DELETE", "/api/v1/tokens/{token_id}"): "could revoke the run's own bearer token",
    # Deleting or demoting users could remove the viewer (or the admin) this run acts as.
    ("DELETE", "/api/v1/users/{user_id}"): "could delete the run's own users",
    ("PATCH", "/api/v1/users/{user_id}"): "could demote or disable the run's own users",
    # A backup archives the whole data directory in the background; covered by tests/backup.
    ("POST", "/api/v1/backups"): "long-running backup, covered by tests/backup",
    # Connects to whatever server a fuzzed target names (an S3 target without endpoint is AWS itself).
    ("POST", "/api/v1/backups/targets/{target_id}/test"): "connects to the target's server, covered by "
                                                          "tests/backup against moto and sshd on 127.0.0.1",
}


CONFIG = schemathesis.Config.from_dict({
    "seed": 14,
    "generation": {"max-examples": 5},
    # The coverage phase sends every boundary of every parameter: hundreds of requests an operation.
    "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
})


def _document() -> dict[str, Any]:
    # The document depends only on the routes, so an app that never serves a request (no context) gives it
    # at collection time; the requests go to a real, prepared app below.
    return create_app(ctx=cast(AppContext, SimpleNamespace())).openapi()


schema = schemathesis.openapi.from_dict(_document(), config=CONFIG)


def _seed(admin: TestClient) -> None:
    """One of each kind of thing, so the lists answer items that their schemas must describe."""
    answers = [
        admin.post("/api/v1/standard-changes", json={
            "operation": "create", "kind": "service", "slug": "grafana", "summary": "Add Grafana",
            "spec": {"name": "Grafana", "slug": "grafana", "kind": "container", "description": "Dashboards",
                     "ports": [{"number": 3000, "purpose": "web"}], "tags": ["monitoring"]}}),
        admin.post("/api/v1/standard-changes", json={
            "operation": "create", "kind": "endpoint", "slug": "grafana-web", "summary": "Watch Grafana",
            "spec": {"name": "Grafana web", "slug": "grafana-web", "service": "grafana", "type": "http",
                     "target": "http://127.0.0.1:9/"}}),
        admin.post("/api/v1/standard-changes/docs", json={
            "operation": "save", "path": "docs/wifi.md", "summary": "Document the guest Wi-Fi",
            "content": "# Wi-Fi\n\nGuest password rotates monthly; see [Grafana](service:grafana).\n"}),
        admin.post("/api/v1/work-items", json={"title": "Upgrade Grafana", "category": "service",
                                               "action": "change", "service": "grafana"}),
        admin.post("/api/v1/maintenance-windows", json={"title": "Patch night", "services": ["grafana"],
                                                        "starts_at": "2030-01-01T00:00:00Z",
                                                        "ends_at": "2030-01-01T02:00:00Z"}),
    ]
    assert [a.status_code for a in answers] == [201] * len(answers), [a.text for a in answers]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict[str, str]]]:
    """A prepared app with an admin and a viewer, and each one's bearer token."""
    settings_ = make_settings(Path(tmp_path_factory.mktemp("fuzz")) / "data")
    context = prepare(settings_)
    make_user(context, "alice", Role.ADMIN)
    make_user(context, "vera", Role.VIEWER)
    tokens = {"admin": make_token(context, "alice"), "viewer": make_token(context, "vera")}
    app = create_app(ctx=context)
    _seed(TestClient(app, headers={"Authorization": f"Bearer {tokens['admin']}"}))
    yield app, tokens
    # The in-process client keeps each app's lifespan (its background services) running until told.
    asgi.shutdown_lifespans()
    context.engine.dispose()
    drop_schema(settings_)


FUZZ_SETTINGS = settings(max_examples=5, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.filter_too_much])


def _call_and_validate(case: Any, app: FastAPI, token: str) -> None:
    reason = SKIPPED.get((case.method.upper(), case.path))
    if reason:
        pytest.skip(reason)
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {token}"},
                           checks=[not_a_server_error, status_code_conformance, response_schema_conformance])


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_an_admin_with_a_server_error_or_off_its_schema(
        case: Any, live: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = live
    _call_and_validate(case, app, tokens["admin"])


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_a_viewer_with_a_server_error_or_off_its_schema(
        case: Any, live: tuple[FastAPI, dict[str, str]]) -> None:
    app, tokens = live
    _call_and_validate(case, app, tokens["viewer"])


def test_every_skipped_operation_exists_in_the_document() -> None:
    paths = _document()["paths"]
    missing = [f"{method} {path}" for method, path in SKIPPED if method.lower() not in paths.get(path, {})]
    assert missing == []
