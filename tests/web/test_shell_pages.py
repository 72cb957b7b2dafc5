from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from calcifer.auth.choices import Role
from tests.conftest import browser_login, make_user


def test_unknown_page_gets_a_friendly_404_and_the_api_a_json_error(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)
    browser_login(client, "alice")
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "Not found" in page.text and "Traceback" not in page.text
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


def test_an_unexpected_error_shows_no_traceback(app, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "alice", Role.ADMIN)

    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("secret internals")

    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    browser_login(client, "alice")
    response = client.get("/boom-for-test")
    assert response.status_code == 500
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "Something went wrong" in response.text


def test_healthz_is_503_when_the_repository_is_gone(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    import shutil

    assert client.get("/healthz").json() == {"status": "ok"}
    shutil.rmtree(ctx.repo_path)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"


def test_each_request_logs_one_line_with_a_request_id(client: TestClient, caplog) -> None:  # type: ignore[no-untyped-def]
    from calcifer.logging import JsonFormatter

    with caplog.at_level(logging.INFO, logger="calcifer.request"):
        response = client.get("/healthz", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    records = [r for r in caplog.records if r.name == "calcifer.request"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == "abc123" and line["path"] == "/healthz" and line["status"] == 200


def test_dashboard_and_nav_pages_render_for_a_viewer(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    make_user(ctx, "vera", Role.VIEWER)
    browser_login(client, "vera")
    for path in ("/", "/work", "/services", "/endpoints", "/docs", "/settings", "/settings/tokens",
                 "/search?q=x", "/api/docs"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert client.get("/settings/users").status_code == 403
    assert client.get("/settings/audit").status_code == 403


def test_audit_log_records_before_and_after_and_filters(client: TestClient, ctx, cast) -> None:  # type: ignore[no-untyped-def]
    users = {u["username"]: u["id"] for u in cast.admin.get("/api/v1/users").json()["items"]}
    cast.admin.patch(f"/api/v1/users/{users['vera']}", json={"role": "editor"})
    entries = cast.admin.get("/api/v1/audit", params={"action": "user.update"}).json()["items"]
    assert entries[0]["actor"] == "alice"
    assert entries[0]["before"]["role"] == "viewer" and entries[0]["after"]["role"] == "editor"
    assert "password_hash" not in json.dumps(entries)
    browser_login(client, "alice")
    page = client.get("/settings/audit", params={"action": "user.update"})
    assert page.status_code == 200 and "user.update" in page.text
    bad = client.get("/api/v1/audit", params={"since": "yesterday"},
                     headers={"Authorization": cast.admin.headers["Authorization"]})
    assert bad.status_code == 422 and "since" in bad.json()["error"]["message"]


def test_the_database_is_the_one_the_suite_asked_for(ctx) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import TEST_DATABASE_URL

    expected = "postgresql" if TEST_DATABASE_URL else "sqlite"
    assert ctx.engine.dialect.name == expected
    if expected == "sqlite":
        with ctx.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
